"""A scripted DICOMweb "archive" on loopback that misbehaves on purpose, for the
bad-upstream tests: every instance-level QIDO says the instance is a SEG, and the
retrieve of instance {sop} answers according to MODES[sop]."""
import http.server
import os
import socketserver
import threading
import time

SEG_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _send(self, status, ctype, body, extra=None):
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        srv = self.server.fake
        srv.hits.append(self.path)
        path, _, query = self.path.partition("?")
        parts = path.strip("/").split("/")
        if parts[-1] == "instances" and "SOPInstanceUID=" in query:
            sop = query.split("SOPInstanceUID=")[1].split("&")[0]
            study = parts[1] if len(parts) > 1 else ""
            body = ('[{"0020000D":{"vr":"UI","Value":["%s"]},"00080018":{"vr":"UI","Value":["%s"]},'
                    '"00080016":{"vr":"UI","Value":["%s"]}}]' % (study, sop, SEG_CLASS)).encode()
            return self._send(200, "application/dicom+json", body)
        if path.endswith("/studies") or path.endswith("/series") or path.endswith("/instances"):
            return self._send(200, "application/dicom+json", b"[]")
        if len(parts) >= 6 and parts[-2] == "instances":
            return srv.retrieve(self, parts[-1])
        return self._send(404, "application/json", b'{"error":"no"}')


class FakeUpstream:
    """MODES: sop -> one of garbage, truncated, wrongtype, otheruids, redirectloop, huge,
    error500, slow, ok (serves self.objects[sop] as a proper multipart)."""

    def __init__(self):
        self.modes, self.objects, self.hits = {}, {}, []
        self.boundary = "fake-" + "b" * 80  # longer than RFC 2046's 70, as Orthanc's
        handler = _Handler

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.httpd = Server(("127.0.0.1", 0), handler)
        self.httpd.fake = self
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/dicom-web"

    def multipart(self, data):
        b = self.boundary
        return (f"--{b}\r\nContent-Type: application/dicom\r\n\r\n".encode() + data + f"\r\n--{b}--\r\n".encode())

    def retrieve(self, h, sop):
        mode = self.modes.get(sop, "missing")
        ctype = f'multipart/related; type="application/dicom"; boundary={self.boundary}'
        data = self.objects.get(sop, b"")
        if mode == "ok":
            return h._send(200, ctype, self.multipart(data))
        if mode == "missing":
            return h._send(404, "application/json", b"{}")
        if mode == "garbage":
            return h._send(200, ctype, os.urandom(3000))
        if mode == "truncated":
            body = self.multipart(data)
            return self._truncated(h, ctype, body)
        if mode == "wrongtype":
            return h._send(200, "text/html", b"<html>login</html>")
        if mode == "otheruids":
            return h._send(200, ctype, self.multipart(data))
        if mode == "redirectloop":
            return h._send(302, None, b"", {"Location": h.path})
        if mode == "huge":
            h.send_response(200)
            h.send_header("Content-Type", ctype)
            h.send_header("Content-Length", str(10 * 1024 ** 3))
            h.end_headers()
            try:
                h.wfile.write(f"--{self.boundary}\r\n\r\n".encode() + b"\0" * 65536)
            except OSError:
                pass
            h.close_connection = True
            return
        if mode == "error500":
            return h._send(500, "text/plain", b"internal error")
        if mode == "slow":
            time.sleep(4)
            return h._send(200, ctype, self.multipart(data))
        return h._send(400, "text/plain", b"unknown mode")

    def _truncated(self, h, ctype, body):
        h.send_response(200)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body[: len(body) // 2])
        h.wfile.flush()
        h.close_connection = True

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
