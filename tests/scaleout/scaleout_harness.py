"""Processes for the scale-out tests, all on loopback with their own temporary
directories:

  Orthanc   Debian's Orthanc with its DICOMweb plugin as the upstream archive
            (generated configuration, RemoteAccessAllowed false, no DICOM port,
            its own storage directory)
  Nginx     Debian's nginx running docker/nginx/segweb-key.conf and
            docker/nginx/segweb-proxy.conf verbatim; only the upstream block
            (the replicas' loopback ports) and the listen port are generated.
            Each answer names the replica that gave it (X-Segweb-Replica).

Both are skipped (pytest.skip) when the package is not installed.

And what both scale-out suites (test_scaleout.py, test_pullthrough.py) do with the corpus
and a segweb: corpus_segs / distinct_segs / corpus_sources, uids, instance_urls, stow,
metric."""
import glob
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid

import pytest

import pydicom

from conftest import SEG_DIR, SOURCE_DIR, free_port, multipart, stow_content_type
from conftest import metric as metric_in

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ORTHANC_BIN = "/usr/sbin/Orthanc"
ORTHANC_DICOMWEB = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"
NGINX_BIN = shutil.which("nginx") or "/usr/sbin/nginx"


def http_request(port, method, path, body=None, headers=None, timeout=30):
    """(status, headers dict with lower-case names, body bytes)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        c.close()


def corpus_segs():
    return sorted(glob.glob(os.path.join(SEG_DIR, "*.dcm")))


def distinct_segs():
    """The corpus SEGs with distinct SOP Instance UIDs (re-encodings of one object share them)."""
    seen, out = set(), []
    for p in corpus_segs():
        u = uids(p)
        if u[2] not in seen:
            seen.add(u[2])
            out.append(p)
    return out


def corpus_sources():
    return sorted(p for p in glob.glob(os.path.join(SOURCE_DIR, "**", "*"), recursive=True) if os.path.isfile(p))


def uids(path):
    """(Study, Series, SOP Instance UID) of a DICOM file."""
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    return str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)


def instance_urls(path):
    """Three SEG routes of the instance at path: segments, the first rendered frame, metadata."""
    s, se, i = uids(path)
    base = f"/studies/{s}/series/{se}/instances/{i}"
    return [base + "/segments", base + "/frames/1/rendered", base + "/metadata"]


def stow(port, paths, timeout=180):
    """STOW-RS of paths to the segweb on port (200, 202 or 409 asserted): the response body."""
    bodies = []
    for p in paths:
        with open(p, "rb") as f:
            bodies.append(f.read())
    b = "segweb-scaleout-" + uuid.uuid4().hex
    st, _, resp = http_request(port, "POST", "/studies", body=multipart(bodies, b), timeout=timeout,
                               headers={"Content-Type": stow_content_type(b, quoted=False),
                                        "Accept": "application/dicom+json"})
    assert st in (200, 202, 409), (st, resp[:500])
    return resp


def stored_uids(resp):
    """The SOP Instance UIDs a STOW-RS response (DICOM JSON) lists as stored."""
    doc = json.loads(resp)
    return {x["00081155"]["Value"][0] for x in doc.get("00081199", {}).get("Value", [])}


def metric(port, name, missing=None):
    """An unlabelled metric of the segweb on port; missing when it is not there."""
    st, _, body = http_request(port, "GET", "/metrics")
    assert st == 200
    v = metric_in(body.decode(), name)
    return missing if v is None else v


class Orthanc:
    def __init__(self, timeout=60):
        if not (os.access(ORTHANC_BIN, os.X_OK) and os.path.exists(ORTHANC_DICOMWEB)):
            pytest.skip("Orthanc or its DICOMweb plugin is not installed (orthanc, orthanc-dicomweb)")
        self.tmp = tempfile.mkdtemp(prefix="segweb-orthanc-")
        self.port = free_port()
        cfg = {
            "Name": "segweb-scaleout",
            "StorageDirectory": os.path.join(self.tmp, "db"),
            "IndexDirectory": os.path.join(self.tmp, "db"),
            "HttpPort": self.port,
            "DicomServerEnabled": False,
            "DicomPort": free_port(),
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "HttpDescribeErrors": True,
            "KeepAlive": True,
            "Plugins": [ORTHANC_DICOMWEB],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "StudiesMetadata": "Full",
                         "SeriesMetadata": "Full", "Servers": {}},
        }
        cfg = {k: v for k, v in cfg.items() if v is not None}
        self.cfg_path = os.path.join(self.tmp, "orthanc.json")
        self.cfg = cfg
        self._write_cfg()
        self.log = os.path.join(self.tmp, "orthanc.log")
        self._start(timeout)

    def _write_cfg(self):
        with open(self.cfg_path, "w") as f:
            json.dump(self.cfg, f, indent=1)

    def _start(self, timeout):
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen([ORTHANC_BIN, self.cfg_path], stdout=self.logf, stderr=self.logf,
                                     cwd=self.tmp)
        deadline = time.time() + timeout
        while time.time() < deadline:
            assert self.proc.poll() is None, "Orthanc exited early:\n" + self.read_log()
            try:
                if http_request(self.port, "GET", "/system", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError("Orthanc did not start:\n" + self.read_log())

    def add_dicomweb_server(self, name, url):
        """Registers a DICOMweb server for Orthanc's own DICOMweb client (restarts Orthanc)."""
        self.cfg["DicomWeb"]["Servers"][name] = [url]
        self._write_cfg()
        self._stop()
        self._start(60)

    @property
    def dicomweb(self):
        return f"http://127.0.0.1:{self.port}/dicom-web"

    def read_log(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")[-6000:]
        except OSError:
            return ""

    def upload(self, path):
        """POST /instances (Orthanc's REST API); returns Orthanc's JSON answer."""
        with open(path, "rb") as f:
            st, _, body = http_request(self.port, "POST", "/instances", body=f.read(),
                                       headers={"Content-Type": "application/dicom"})
        assert st == 200, f"Orthanc refused {path}: {st} {body[:300]!r}"
        return json.loads(body)

    def get(self, path, headers=None):
        return http_request(self.port, "GET", path, headers=headers)

    def _stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()

    def stop(self):
        self._stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


NGINX_CONF = """\
worker_processes 1;
daemon off;
master_process on;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;

    include {root}/docker/nginx/segweb-key.conf;

    upstream segweb {{
        hash $segweb_key consistent;
{servers}
        keepalive 16;
    }}

    server {{
        listen 127.0.0.1:{port};
        location / {{
            include {root}/docker/nginx/segweb-proxy.conf;
            add_header X-Segweb-Replica $upstream_addr always;
            add_header X-Segweb-Key $segweb_key always;
        }}
    }}
}}
"""


class Nginx:
    def __init__(self, replica_ports, timeout=30):
        if not os.access(NGINX_BIN, os.X_OK):
            pytest.skip("nginx is not installed")
        self.tmp = tempfile.mkdtemp(prefix="segweb-nginx-")
        os.chmod(self.tmp, 0o755)
        for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            os.mkdir(os.path.join(self.tmp, d))
            os.chmod(os.path.join(self.tmp, d), 0o777)  # workers may run as nobody
        self.port = free_port()
        servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;" for p in replica_ports)
        self.conf = os.path.join(self.tmp, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(NGINX_CONF.format(tmp=self.tmp, root=ROOT, servers=servers, port=self.port))
        t = subprocess.run([NGINX_BIN, "-t", "-q", "-c", self.conf, "-p", self.tmp], capture_output=True, text=True)
        assert t.returncode == 0, "nginx -t:\n" + t.stderr
        self.proc = subprocess.Popen([NGINX_BIN, "-c", self.conf, "-p", self.tmp],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + timeout
        while time.time() < deadline:
            assert self.proc.poll() is None, "nginx exited early:\n" + self.read_log()
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("nginx did not start:\n" + self.read_log())

    def read_log(self):
        try:
            with open(os.path.join(self.tmp, "error.log"), "rb") as f:
                return f.read().decode("utf-8", "replace")[-6000:]
        except OSError:
            return ""

    def request(self, method, path, body=None, headers=None, timeout=30):
        return http_request(self.port, method, path, body=body, headers=headers, timeout=timeout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)
