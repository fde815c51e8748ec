"""Pull-through from an upstream archive (segweb --upstream): Debian's Orthanc with its
DICOMweb plugin holds the corpus and its source images; segweb's store is empty.

  test_seg_pulled_like_stored    SEG routes through the upstream answer byte for byte
                                 what a segweb with the same objects in its store answers,
                                 with the same ETags; one pull per distinct SEG (metrics),
                                 concurrent first requests pulled once (single flight)
  test_non_seg_proxied           a CT: retrieve, metadata (URLs rebased onto segweb) and
                                 frames from the upstream; SEG routes on it answer 415
  test_qido_merged               QIDO answers merge the store's and the upstream's studies
  test_restart_and_upstream_down a restarted replica serves its cache without pulling;
                                 with Orthanc gone: cached objects still served, others
                                 502 with a JSON error, /readyz says the upstream is down
  test_orthanc_pushes_and_pulls  Orthanc's own DICOMweb client pushes a study to segweb
                                 (STOW, its 73-character boundary) and retrieves it back
  test_bad_upstream              a misbehaving archive: garbage, truncated multipart, wrong
                                 Content-Type, UIDs that differ from the URL, a redirect
                                 loop, a 10 GB body, 500s, a stall: 502/504 with a JSON
                                 error, nothing cached
"""
import concurrent.futures
import contextlib
import glob
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from conftest import BIN, SEG_DIR, SOURCE_DIR, TESTDATA, SegwebProcess  # noqa: E402
from fake_upstream import FakeUpstream  # noqa: E402
from scaleout_harness import (Orthanc, corpus_sources as sources, distinct_segs, http_request,  # noqa: E402
                              instance_urls as seg_urls, metric, stow, uids)


class Segweb(SegwebProcess):
    def __init__(self, args=(), **kw):
        super().__init__(BIN, ["--workers", "2", "--io-threads", "1"] + list(args), prefix="segweb-pt-", **kw)

    def get(self, path, headers=None, timeout=60):
        return http_request(self.port, "GET", path, headers=headers, timeout=timeout)


@contextlib.contextmanager
def pulling(o, *args):
    """A segweb pulling through from the archive o into its own cache directory:
    (segweb, cache dir); then stopped (exit status 0 asserted) and the cache removed."""
    cache = tempfile.mkdtemp(prefix="segweb-pt-cache-")
    s = Segweb(["--upstream", o.dicomweb, "--cache-dir", cache, "--cache-max-bytes", "64M", *args])
    try:
        yield s, cache
    finally:
        assert s.stop() == 0
        shutil.rmtree(cache, ignore_errors=True)


@pytest.fixture(scope="module")
def archive():
    o = Orthanc()
    segs = distinct_segs()
    for p in segs + sources():
        o.upload(p)
    yield o, segs
    o.stop()


@pytest.fixture(scope="module")
def local():
    """A segweb with the same objects in its store: the reference answers."""
    s = Segweb()
    stow(s.port, distinct_segs() + sources())
    yield s
    s.stop()


def test_seg_pulled_like_stored(archive, local):
    o, segs = archive
    with pulling(o) as (s, cache):
        # concurrent first requests for one SEG: one pull
        first = seg_urls(segs[0])[0]
        with concurrent.futures.ThreadPoolExecutor(6) as ex:
            got = list(ex.map(lambda _: s.get(first), range(6)))
        assert all(g[0] == 200 for g in got), [g[0] for g in got]
        assert metric(s.port, "segweb_upstream_pulls_total") == 1
        n = 0
        for p in segs:
            for url in seg_urls(p):
                a = s.get(url)
                b = local.get(url)
                assert a[0] == b[0], (url, a[0], b[0], a[2][:300])
                if b[0] != 200:
                    continue
                n += 1
                assert a[2] == b[2], url
                assert a[1].get("etag") == b[1].get("etag"), url
        assert n > 2 * len(segs) // 2
        pulls = metric(s.port, "segweb_upstream_pulls_total")
        assert pulls == len(segs), (pulls, len(segs))
        # all of it again: from the cache
        for p in segs:
            assert s.get(seg_urls(p)[0])[0] == 200
        assert metric(s.port, "segweb_upstream_pulls_total") == pulls
        assert len(glob.glob(os.path.join(cache, "objects", "*.dcm"))) == len(segs)


def ct_instance():
    p = sorted(glob.glob(os.path.join(SOURCE_DIR, "dcmqi_ct3slice", "*.dcm")))[0]
    return p, uids(p)


def test_non_seg_proxied(archive):
    o, _ = archive
    with pulling(o) as (s, cache):
        path, (st_uid, se_uid, sop) = ct_instance()
        base = f"/studies/{st_uid}/series/{se_uid}/instances/{sop}"
        st, h, body = s.get(base, {"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'})
        assert st == 200 and h["content-type"].startswith("multipart/related")
        with open(path, "rb") as f:
            assert f.read() in body
        st, h, body = s.get(base + "/metadata")
        assert st == 200
        meta = json.loads(body)
        assert meta[0]["00080018"]["Value"] == [sop]
        text = body.decode()
        assert f"127.0.0.1:{o.port}" not in text, "URLs must point at segweb, not the archive"
        st, h, body = s.get(base + "/frames/1", {"Accept": 'multipart/related; type="application/octet-stream"'})
        assert st == 200 and h["content-type"].startswith("multipart/related"), (st, body[:200])
        st, h, body = s.get(base + "/segments")
        assert st == 415 and json.loads(body)["error"]["status"] == 415
        st, h, body = s.get(f"/studies/{st_uid}/series/{se_uid}/metadata")
        assert st == 200 and len(json.loads(body)) >= 1
        assert not glob.glob(os.path.join(cache, "objects", "*.dcm")), "non-SEG objects are not cached"


def test_qido_merged(archive):
    o, segs = archive
    with pulling(o) as (s, cache):
        stow(s.port, [segs[0]])  # one study also local
        st, _, body = s.get("/studies")
        assert st == 200
        got = [x["0020000D"]["Value"][0] for x in json.loads(body)]
        want = {uids(p)[0] for p in distinct_segs() + sources()}
        assert set(got) == want and len(got) == len(set(got)), "merged, one entry per study"
        s_uid = uids(segs[0])[0]
        st, _, body = s.get(f"/studies/{s_uid}/series")
        assert st == 200 and len(json.loads(body)) >= 1


def test_restart_and_upstream_down(archive):
    o, segs = archive
    cache = tempfile.mkdtemp(prefix="segweb-pt-cache-")
    args = ["--upstream", o.dicomweb, "--cache-dir", cache, "--cache-max-bytes", "64M",
            "--upstream-retries", "0", "--upstream-timeout-ms", "1000"]
    s = Segweb(args)
    try:
        url = seg_urls(segs[0])[1]
        a = s.get(url)
        assert a[0] == 200
    finally:
        assert s.stop() == 0
    s = Segweb(args)
    try:
        b = s.get(url)
        assert b[0] == 200 and b[2] == a[2] and b[1]["etag"] == a[1]["etag"]
        assert metric(s.port, "segweb_upstream_pulls_total") == 0
        assert metric(s.port, "segweb_upstream_cache_hits_total") >= 1
        # the archive goes away
        o._stop()
        try:
            assert s.get(url)[0] == 200, "a cached SEG is served without the upstream"
            st, h, body = s.get(seg_urls(segs[1])[0])
            assert st in (502, 504), st
            err = json.loads(body)["error"]
            assert err["status"] == st and "upstream" in err["message"]
            st, _, body = s.get("/readyz")
            assert json.loads(body).get("upstream") == "down", body
            assert not os.path.exists(os.path.join(cache, "objects", uids(segs[1])[2] + ".dcm"))
        finally:
            o._start(60)
    finally:
        assert s.stop() == 0
        shutil.rmtree(cache, ignore_errors=True)


def test_orthanc_pushes_and_pulls(archive):
    o, segs = archive
    s = Segweb()
    try:
        o.add_dicomweb_server("segweb", f"http://127.0.0.1:{s.port}/")
        path = segs[0]
        st_uid = uids(path)[0]
        c = http.client.HTTPConnection("127.0.0.1", o.port, timeout=60)
        c.request("POST", "/tools/lookup", body=st_uid)
        look = json.loads(c.getresponse().read())
        c.close()
        orthanc_id = [x["ID"] for x in look if x["Type"] == "Study"][0]
        st, _, body = http_request(o.port, "POST", "/dicom-web/servers/segweb/stow",
                                   body=json.dumps({"Resources": [orthanc_id]}), timeout=120)
        assert st == 200, body[:500]
        st, _, body = s.get(f"/studies/{st_uid}/series")
        assert st == 200 and json.loads(body), "the pushed study is in segweb's store"
        # delete it from Orthanc, then have Orthanc retrieve it from segweb
        st, _, _ = http_request(o.port, "DELETE", f"/studies/{orthanc_id}")
        assert st == 200
        st, _, body = http_request(o.port, "POST", "/dicom-web/servers/segweb/retrieve",
                                   body=json.dumps({"Resources": [{"Study": st_uid}]}), timeout=120)
        assert st == 200, body[:500]
        st, _, body = o.get(f"/dicom-web/studies?StudyInstanceUID={st_uid}")
        assert st == 200 and json.loads(body), "Orthanc has the study back"
    finally:
        assert s.stop() == 0


BAD_MODES = ["garbage", "truncated", "wrongtype", "otheruids", "redirectloop", "huge", "error500", "slow"]


def test_bad_upstream():
    fake = FakeUpstream()
    cache = tempfile.mkdtemp(prefix="segweb-pt-cache-")
    segs = distinct_segs()
    s = Segweb(["--upstream", fake.url, "--cache-dir", cache, "--cache-max-bytes", "1M",
                "--upstream-retries", "1", "--upstream-read-timeout-ms", "1500"])
    try:
        for k, mode in enumerate(BAD_MODES):
            study, series, sop = uids(segs[k % len(segs)])
            sop = f"{sop}.{k}"[:64] if len(sop) < 62 else sop
            fake.modes[sop] = mode
            with open(segs[(k + 1) % len(segs)] if mode == "otheruids" else segs[k % len(segs)], "rb") as f:
                fake.objects[sop] = f.read()
            t0 = time.time()
            st, h, body = s.get(f"/studies/{study}/series/{series}/instances/{sop}/segments", timeout=60)
            assert st in (502, 504), (mode, st, body[:200])
            if mode == "slow":
                assert st == 504, mode
            err = json.loads(body)["error"]
            assert err["status"] == st and err["message"], (mode, err)
            assert time.time() - t0 < 30, mode
            assert not glob.glob(os.path.join(cache, "objects", "*")), (mode, os.listdir(os.path.join(cache, "objects")))
            assert not [f for f in os.listdir(os.path.join(cache, "tmp"))], mode
        assert s.get("/studies")[0] == 200
    finally:
        assert s.stop() == 0
        fake.stop()
        shutil.rmtree(cache, ignore_errors=True)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_dicomweb_client_through_upstream(archive):
    """dicomweb-client (npm) opens a study whose images are only in Orthanc, through
    segweb --upstream --base-path /dicom-web: study list, CT metadata and frame, SEG frames."""
    o, _ = archive
    here = os.path.dirname(os.path.abspath(__file__))
    dw = os.path.join(here, "..", "dicomweb")
    if not os.path.isdir(os.path.join(dw, "node_modules", "dicomweb-client")):
        npm = shutil.which("npm")
        assert npm, "npm is needed to install tests/dicomweb (npm ci)"
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=dw, check=True, timeout=600)
    seg = os.path.join(SEG_DIR, "dcmqi_liver.dcm")
    study, seg_series, seg_sop = uids(seg)
    ct = sorted(glob.glob(os.path.join(SOURCE_DIR, "dcmqi_ct3slice", "*.dcm")))[0]
    ct_series = uids(ct)[1]
    with pulling(o, "--base-path", "/dicom-web") as (s, cache):
        url = f"http://127.0.0.1:{s.port}/dicom-web"
        env = dict(os.environ, SEGWEB_URL=url, STUDY=study, CT_SERIES=ct_series, SEG_SERIES=seg_series,
                   SEG_SOP=seg_sop, SEG_NAME="dcmqi_liver", SEGWEB_TESTDATA=TESTDATA)
        p = subprocess.run(["node", "--test", "pullthrough.test.mjs"], cwd=here, capture_output=True, text=True,
                           timeout=300, env=env)
        print(p.stdout[-6000:])
        print(p.stderr[-3000:])
        assert p.returncode == 0, "node --test failed (see output above)"
        # the base path is the only root of the routes
        assert s.get("/studies")[0] == 404
        assert s.get("/dicom-web/studies")[0] == 200
        assert s.get("/readyz")[0] == 200
