"""A `segweb serve` process for end-to-end tests: started on a free loopback port
(--listen 127.0.0.1:0; the port is read from its log), waited for until /readyz
answers 200, stopped with SIGTERM (returning its exit status) or SIGKILL.
The suites' Server/Store classes add their own request helpers on top."""
import http.client
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time


class SegwebProcess:
    def __init__(self, bin_path, args, env_extra=None, prefix="segweb-e2e-", timeout=60, own_store=True):
        """own_store: put the store in this process's temporary directory
        (args may still name another --store; the last one given wins)."""
        self.tmp = tempfile.mkdtemp(prefix=prefix)
        if own_store:
            args = ["--store", os.path.join(self.tmp, "store")] + list(args)
        self.log = os.path.join(self.tmp, "stderr.log")
        env = dict(os.environ)
        env.update(env_extra or {})
        self.logf = open(self.log, "wb")
        self.proc = subprocess.Popen([bin_path, "serve", "--listen", "127.0.0.1:0"] + list(args),
                                     stdout=subprocess.DEVNULL, stderr=self.logf, env=env)
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
