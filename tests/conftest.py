"""What every Python suite shares (tests/corpus, tests/e2e, tests/dicomweb, tests/bench)
and bench/bench.py: the segweb binary and the shared corpus, the `segweb serve` process,
PNG hashing, expected files, free ports and multipart bodies.

Suites import it by name (`from conftest import BIN, SegwebProcess, ...`): pytest has
imported it already (tests/pytest.ini makes tests/ the root); bench/bench.py puts tests/
on sys.path first. Keep it the one conftest.py below tests/: pytest replaces a module
named `conftest` when it loads another one.

Environment:
  SEGWEB_BIN       the segweb binary (default <repo>/build/server/segweb)
  SEGWEB_TESTDATA  the shared corpus (default <repo>/../shared/testdata: seg/, expected/,
                   source/); a suite that needs it is skipped, with the reason, when it
                   is missing (mark the module `pytestmark = needs_corpus`)
  SEGWEB_HARDENING_QUICK=1, SEGWEB_HARDENING_REPORT=FILE: see report() and QUICK
"""
import glob
import hashlib
import http.client
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

try:
    import pytest
except ImportError:  # bench/bench.py runs without pytest
    pytest = None

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("SEGWEB_BIN") or os.path.join(REPO, "build", "server", "segweb")
TESTDATA = os.environ.get("SEGWEB_TESTDATA") or os.path.join(REPO, "..", "shared", "testdata")
SHARED = os.path.dirname(os.path.abspath(TESTDATA))  # ../shared: testdata/, tools/
SEG_DIR = os.path.join(TESTDATA, "seg")
EXP_DIR = os.path.join(TESTDATA, "expected")
SOURCE_DIR = os.path.join(TESTDATA, "source")
SEG_FILES = sorted(glob.glob(os.path.join(SEG_DIR, "*.dcm")))
NAMES = [os.path.basename(p)[:-4] for p in SEG_FILES]  # corpus names, sorted
QUICK = os.environ.get("SEGWEB_HARDENING_QUICK") == "1"
REPORT = os.environ.get("SEGWEB_HARDENING_REPORT")
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "runtime error:", "UndefinedBehaviorSanitizer")

if pytest:
    needs_corpus = pytest.mark.skipif(
        not NAMES or not os.path.isdir(EXP_DIR),
        reason=f"the shared corpus is missing: no {SEG_DIR}/*.dcm or {EXP_DIR} (set SEGWEB_TESTDATA)")
    needs_binary = pytest.mark.skipif(not os.access(BIN, os.X_OK),
                                      reason=f"no segweb binary at {BIN} (set SEGWEB_BIN)")


# ---------------------------------------------------------------- the corpus

def seg_path(name):
    return os.path.join(SEG_DIR, name + ".dcm")


def read_seg(name):
    with open(seg_path(name), "rb") as f:
        return f.read()


def expected(name):
    """../shared/testdata/expected/NAME.json: the corpus's own oracle (pydicom + numpy)."""
    path = os.path.join(EXP_DIR, name + ".json")
    assert os.path.exists(path), f"no expected file {path}"
    with open(path) as f:
        return json.load(f)


def png_hash(body, dtype):
    """sha256 of a PNG's stored values cast like expected/*.json's frame_sha256
    (dtype "uint8" or "uint16le"); 1-bit PNGs count as 0/1."""
    import numpy as np
    from PIL import Image
    img = Image.open(io.BytesIO(body))
    arr = np.array(img)
    if img.mode == "1":
        arr = arr.astype(np.uint8)
    dt = np.uint8 if dtype == "uint8" else np.dtype("<u2")
    return hashlib.sha256(np.ascontiguousarray(arr.astype(dt)).tobytes()).hexdigest()


def report(kind, **fields):
    """Appends a figure as a JSON line to SEGWEB_HARDENING_REPORT (when set)."""
    if REPORT:
        with open(REPORT, "a") as f:
            f.write(json.dumps({"test": kind, **fields}) + "\n")


# ---------------------------------------------------------------- the CLI

def run_segweb(*args, timeout=600):
    """Runs segweb with args; the CompletedProcess has bytes stdout / stderr."""
    return subprocess.run([BIN, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout)


def describe(proc):
    """The command, its exit status, the start of stdout and (the ends of) stderr."""
    err = proc.stderr.decode("utf-8", "replace")
    if len(err) > 4000:
        err = err[:2000] + "\n...\n" + err[-2000:]
    return (f'`{" ".join(map(str, proc.args))}` exited {proc.returncode}; '
            f"stdout[:200]={proc.stdout[:200]!r}; stderr:\n{err}")


def no_sanitizer_report(proc):
    err = proc.stderr.decode("utf-8", "replace")
    assert not any(m in err for m in SANITIZER_MARKS), describe(proc)
    assert proc.returncode >= 0, "killed by signal " + describe(proc)


# ---------------------------------------------------------------- HTTP

def free_port():
    """A loopback port free right now (for servers that cannot take port 0)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def multipart(parts, boundary="segweb-test-boundary-7c1e", ctype="application/dicom"):
    """A multipart/related body: each part is bytes (of type ctype) or (type, bytes)."""
    out = io.BytesIO()
    for p in parts:
        ct, data = p if isinstance(p, tuple) else (ctype, p)
        out.write(multipart_head(boundary, ct))
        out.write(data)
        out.write(b"\r\n")
    out.write(multipart_tail(boundary))
    return out.getvalue()


def multipart_head(boundary, ctype="application/dicom"):
    """The delimiter and headers in front of one part's bytes."""
    return b"--" + boundary.encode() + b"\r\nContent-Type: " + ctype.encode() + b"\r\n\r\n"


def multipart_tail(boundary):
    """The close delimiter (after the last part's CRLF)."""
    return b"--" + boundary.encode() + b"--\r\n"


def stow_content_type(boundary, quoted=True):
    b = f'"{boundary}"' if quoted else boundary
    return f'multipart/related; type="application/dicom"; boundary={b}'


def parse_multipart(body, content_type):
    """[(headers, bytes)] of a multipart answer; checks each Content-Length given."""
    m = re.search(r'boundary="?([^";]+)"?', content_type)
    assert m, content_type
    delim = b"--" + m.group(1).encode()
    parts = []
    chunks = body.split(b"\r\n" + delim)
    first = chunks[0]
    assert first.startswith(delim + b"\r\n"), first[:80]
    chunks[0] = first[len(delim):]
    for c in chunks:
        if c.startswith(b"--"):
            break
        assert c.startswith(b"\r\n"), c[:40]
        head, _, data = c[2:].partition(b"\r\n\r\n")
        hdrs = {}
        for line in head.split(b"\r\n"):
            k, _, v = line.decode().partition(":")
            hdrs[k.strip().lower()] = v.strip()
        if "content-length" in hdrs:
            assert int(hdrs["content-length"]) == len(data)
        parts.append((hdrs, data))
    return parts


def proc_value(pid, name, key):
    """The number after `key:` in /proc/PID/NAME (0 when absent)."""
    with open(f"/proc/{pid}/{name}") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def rchar(pid):
    """Bytes a process has read so far."""
    return proc_value(pid, "io", "rchar")


def metric(text, name):
    """The value of an unlabelled metric in a /metrics text, or None."""
    m = re.search(r"^" + re.escape(name) + r" ([0-9.e+-]+)$", text, re.M)
    return float(m.group(1)) if m else None


class SegwebProcess:
    """A `segweb serve` process for end-to-end tests: started on a free loopback port
    (--listen 127.0.0.1:0; the port is read from its log), waited for until /readyz
    answers 200, stopped with SIGTERM (returning its exit status) or SIGKILL. The
    request helpers return (status, {lower-case header: value}, body)."""

    def __init__(self, bin_path, args, env_extra=None, prefix="segweb-e2e-", timeout=60, own_store=True,
                 files_root=None, preexec_fn=None):
        """bin_path: the binary (None: BIN). own_store: put the store in this process's
        temporary directory (args may still name another --store; the last one given
        wins). files_root: --files-root. preexec_fn: run in the child before exec
        (e.g. a lower RLIMIT_NOFILE)."""
        self.tmp = tempfile.mkdtemp(prefix=prefix)
        args = (["--files-root", files_root] if files_root else []) + list(args)
        if own_store:
            args = ["--store", os.path.join(self.tmp, "store")] + args
        self.log = os.path.join(self.tmp, "stderr.log")
        env = dict(os.environ)
        env.update(env_extra or {})
        self.logf = open(self.log, "wb")
        self.proc = subprocess.Popen([bin_path or BIN, "serve", "--listen", "127.0.0.1:0"] + args,
                                     stdout=subprocess.DEVNULL, stderr=self.logf, env=env, preexec_fn=preexec_fn)
        self.port = None
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = re.search(r"\(port (\d+)\)", self.read_log())
            if m:
                self.port = int(m.group(1))
                break
            assert self.proc.poll() is None, "segweb exited early:\n" + self.read_log()
            time.sleep(0.05)
        assert self.port, "no port in log:\n" + self.read_log()
        while time.time() < deadline:
            if self._ready():
                break
            time.sleep(0.05)

    def _ready(self):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            c.request("GET", "/readyz")
            r = c.getresponse()
            r.read()
            return r.status == 200
        except OSError:
            return False
        finally:
            c.close()

    def conn(self, timeout=60):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def get(self, target, headers=None, conn=None, method="GET", body=None, timeout=60):
        """A request with exactly the headers given (no Accept-Encoding added); on conn
        (kept open) or a new connection."""
        c = conn or self.conn(timeout)
        try:
            c.putrequest(method, target, skip_accept_encoding=True)
            for k, v in (headers or {}).items():
                c.putheader(k, v)
            if body is not None:
                c.putheader("Content-Length", str(len(body)))
            c.endheaders(body)
            r = c.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            if conn is None:
                c.close()

    def request(self, method, target, body=None, headers=None, chunked=False, timeout=120):
        """http.client's request(): Content-Length, or chunks of 7777 bytes when chunked."""
        c = self.conn(timeout)
        try:
            if chunked:
                def gen():
                    for i in range(0, len(body), 7777):
                        yield body[i:i + 7777]
                c.request(method, target, body=gen(), headers=dict(headers or {}), encode_chunked=True)
            else:
                c.request(method, target, body=body, headers=dict(headers or {}))
            r = c.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            c.close()

    def stow(self, parts, target="/studies", boundary="segweb-test-boundary-7c1e", quoted=True,
             chunked=False):
        """POSTs parts (see multipart()) as one STOW-RS upload."""
        return self.request("POST", target, multipart(parts, boundary),
                            {"Content-Type": stow_content_type(boundary, quoted)}, chunked=chunked)

    def metrics(self):
        return self.get("/metrics")[2].decode()

    def read_log(self):
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def alive(self):
        return self.proc.poll() is None

    def stop(self, wait=60):
        """SIGTERM; returns the exit status (0 expected; sanitizer reports make it non-zero)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(wait)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()
        rc = self.proc.returncode
        if rc != 0:
            print(self.read_log()[-6000:])
        shutil.rmtree(self.tmp, ignore_errors=True)
        return rc

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.logf.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
