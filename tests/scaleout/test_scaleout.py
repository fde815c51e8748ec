"""Scale-out: segweb replicas behind Debian's nginx running docker/nginx/ verbatim,
and Debian's Orthanc (DICOMweb plugin) as the upstream archive. Loopback only.

  test_k8s_copies_match          the nginx files embedded in docker/k8s/ are docker/nginx/'s
  test_orthanc_archive           the archive harness: the corpus and its source images
                                 uploaded; a SEG pulled whole with transfer-syntax=* is
                                 byte-identical to the file (what the pull-through relies on)
  test_routing_by_instance       three replicas, nginx in front: every URL of an instance
                                 reaches one replica, instances spread over all three; one
                                 replica killed mid-run: zero failed client requests
  test_replicas_pull_through     the issue's replay: three replicas with empty stores pull
                                 through from Orthanc, each cache W/2.5 (W: the distinct SEGs'
                                 bytes); after a warm-up, 4 rounds over every SEG's segments,
                                 frame PNG and metadata: upstream fetches per distinct SEG =
                                 1.00, cache hit ratio >= 95 %; answers through nginx
                                 byte-identical (with the same ETag) to a segweb that has the
                                 objects in its store; the same ETag from every replica; one
                                 replica killed mid-run: zero failed client requests
"""
import http.client
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from conftest import BIN, SEG_DIR, SegwebProcess  # noqa: E402
import nginx_ring  # noqa: E402
from scaleout_harness import (ROOT, Nginx, Orthanc, corpus_segs, corpus_sources, distinct_segs,  # noqa: E402
                              http_request, instance_urls, metric, stored_uids, stow, uids)


# ---------------------------------------------------------------------------


def test_k8s_copies_match():
    """docker/k8s/ embeds the nginx files (a ConfigMap cannot include them): same text."""
    with open(os.path.join(ROOT, "docker", "nginx", "segweb-key.conf")) as f:
        key_map = f.read()
    body = key_map[key_map.index("map $uri"):].strip()
    for name in ("nginx-configmap.yaml", "ingress.yaml"):
        with open(os.path.join(ROOT, "docker", "k8s", name)) as f:
            text = f.read()
        norm = "\n".join(line.strip() for line in text.splitlines())
        assert "\n".join(line.strip() for line in body.splitlines()) in norm, name
    with open(os.path.join(ROOT, "docker", "nginx", "segweb-proxy.conf")) as f:
        proxy = [line.strip() for line in f if line.strip() and not line.strip().startswith("#")]
    with open(os.path.join(ROOT, "docker", "k8s", "nginx-configmap.yaml")) as f:
        cm = [line.strip() for line in f]
    for line in proxy:
        if line.startswith(("proxy_set_header X-Forwarded", "proxy_read_timeout", "proxy_send_timeout",
                            "proxy_next_upstream_timeout")):
            continue  # tuned per deployment
        assert line in cm, line


@pytest.fixture(scope="module")
def orthanc():
    o = Orthanc()
    yield o
    o.stop()


def test_orthanc_archive(orthanc):
    paths = corpus_segs() + corpus_sources()
    for p in paths:
        orthanc.upload(p)
    st, _, body = orthanc.get("/dicom-web/studies", {"Accept": "application/dicom+json"})
    assert st == 200
    studies = {uids(p)[0] for p in paths}
    got = {s["0020000D"]["Value"][0] for s in json.loads(body)}
    assert got == studies
    # a SEG pulled whole, transfer-syntax=*: the part is the file, byte for byte
    path = os.path.join(SEG_DIR, "hd_ct_binary.dcm")  # Implicit VR LE: a transcoding would show
    s, se, i = uids(path)
    st, h, body = orthanc.get(f"/dicom-web/studies/{s}/series/{se}/instances/{i}",
                              {"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'})
    assert st == 200 and h["content-type"].startswith("multipart/related")
    b = re.search(r'boundary="?([^";]+)', h["content-type"]).group(1)
    part = body.split(f"--{b}".encode())[1]
    data = part.split(b"\r\n\r\n", 1)[1][:-2]
    with open(path, "rb") as f:
        assert data == f.read()


# ---------------------------------------------------------------------------


class Replica(SegwebProcess):
    def __init__(self, args=()):
        super().__init__(BIN, ["--workers", "2", "--io-threads", "1"] + list(args), prefix="segweb-replica-")


def test_routing_by_instance():
    replicas = [Replica() for _ in range(3)]
    nginx = None
    try:
        # every replica holds the corpus (until pull-through: the same store contents)
        stored = None
        for r in replicas:
            got = stored_uids(stow(r.port, corpus_segs(), timeout=120))
            stored = got if stored is None else stored & got
        assert len(stored) >= 10
        instances = [u for u in map(uids, corpus_segs()) if u[2] in stored]
        instances = list({u[2]: u for u in instances}.values())
        nginx = Nginx([r.port for r in replicas])
        by_port = {f"127.0.0.1:{r.port}": r for r in replicas}

        # every URL of one instance reaches the same replica
        where = {}
        for s, se, i in instances:
            base = f"/studies/{s}/series/{se}/instances/{i}"
            seen = set()
            for tail in ("/metadata", "/segments", "/frames/1/rendered", "/frames/1", ""):
                st, h, _ = nginx.request("GET", base + tail, headers={"Accept": "*/*"})
                assert st in (200, 406), (base + tail, st)
                assert h["x-segweb-key"] == base
                seen.add(h["x-segweb-replica"])
            assert len(seen) == 1, (base, seen)
            where[i] = seen.pop()
        assert set(where.values()) <= set(by_port)
        assert len(set(where.values())) == 3, "instances should spread over every replica"

        # replay while one replica is killed: zero failed client requests
        urls = [f"/studies/{s}/series/{se}/instances/{i}/frames/1/rendered" for s, se, i in instances]
        failures, done = [], [0]
        stop = threading.Event()

        def client():
            conn = http.client.HTTPConnection("127.0.0.1", nginx.port, timeout=30)
            k = 0
            while not stop.is_set():
                url = urls[k % len(urls)]
                k += 1
                try:
                    conn.request("GET", url)
                    r = conn.getresponse()
                    r.read()
                    if r.status != 200:
                        failures.append((url, r.status))
                except (OSError, http.client.HTTPException) as e:
                    failures.append((url, repr(e)))
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", nginx.port, timeout=30)
                done[0] += 1
            conn.close()

        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        victim = by_port[where[instances[0][2]]]
        victim.kill9()
        replicas.remove(victim)
        time.sleep(2.0)
        stop.set()
        for t in threads:
            t.join()
        assert done[0] > 50
        assert not failures, failures[:10]
        # the victim's instances moved to other replicas
        s, se, i = instances[0]
        st, h, _ = nginx.request("GET", f"/studies/{s}/series/{se}/instances/{i}/segments")
        assert st == 200 and h["x-segweb-replica"] != where[i]
        log = nginx.read_log()
        assert "connect() failed" in log or "upstream" in log
    finally:
        if nginx:
            nginx.stop()
        rcs = [r.stop() for r in replicas]
    assert all(rc == 0 for rc in rcs), rcs


# ---------------------------------------------------------------------------
# Replicas pulling through from the archive: the replay.


def cached_bytes(segs):
    """What each SEG takes in a replica's object cache, which --cache-max-bytes bounds: the
    object and its persisted index (<sop>.idx beside it, store/seg_index.c), the index's
    size read from a segweb that stored them (the same file format in store and cache)."""
    local = Replica()
    try:
        assert {uids(p)[2] for p in segs} <= stored_uids(stow(local.port, segs, timeout=120))
        out = {}
        for p in segs:
            idx = os.path.join(local.tmp, "store", "instances", *uids(p)) + ".idx"
            assert os.path.exists(idx), ("STOW persists the index", idx)
            out[p] = os.path.getsize(p) + os.path.getsize(idx)
        return out
    finally:
        local.stop()


def start_balanced(o, segs, cache_bytes, sizes, tries=3):
    """Three replicas + nginx whose hash ring gives no replica more SEG bytes than its
    cache holds: the ports are chosen on a model of nginx's ring (nginx_ring.py), then
    the split nginx makes is checked with a URL of each instance that routes like the
    instance but answers 404 cheaply."""
    keys = [("/studies/%s/series/%s/instances/%s" % uids(p), sizes[p]) for p in segs]
    for _ in range(tries):
        ports = nginx_ring.balanced_ports(keys, 3, cache_bytes)
        assert ports, "no ports give a balanced ring"
        caches = [tempfile.mkdtemp(prefix="segweb-scale-cache-") for _ in range(3)]
        reps = []
        try:
            for c, port in zip(caches, ports):
                reps.append(Replica(["--upstream", o.dicomweb, "--cache-dir", c, "--cache-max-bytes",
                                     str(cache_bytes), "--listen", f"127.0.0.1:{port}"]))
            break
        except AssertionError:  # a port was taken meanwhile: others
            for r in reps:
                r.stop()
            for c in caches:
                shutil.rmtree(c, ignore_errors=True)
    else:
        raise AssertionError("replicas did not start on free ports in %d tries" % tries)
    nginx = Nginx(ports)
    share = {}
    for k, size in keys:
        st, h, _ = nginx.request("GET", k + "/probe-routing")
        assert st == 404
        share[h["x-segweb-replica"]] = share.get(h["x-segweb-replica"], 0) + size
    model = nginx_ring.shares([f"127.0.0.1:{p}" for p in ports], keys)
    assert share == {s: v for s, v in model.items() if v}, ("nginx splits unlike nginx_ring's model", share, model)
    assert len(share) == 3 and max(share.values()) <= cache_bytes, share
    return reps, caches, nginx, share


def test_replicas_pull_through(orthanc):
    segs = distinct_segs()
    for p in segs:  # test_orthanc_archive may have run first: uploading again is a no-op
        orthanc.upload(p)
    sizes = cached_bytes(segs)
    work = sum(sizes.values())
    cache_bytes = int(work / 2.5)  # the working set is 2.5x one replica's cache
    reps, caches, nginx, share = start_balanced(orthanc, segs, cache_bytes, sizes)
    try:
        urls = []
        for p in segs:
            urls += instance_urls(p)
        # warm-up: every SEG once
        for u in urls[::3]:
            st, _, body = nginx.request("GET", u)
            assert st == 200, (u, st, body[:300])
        warm = [(metric(r.port, "segweb_upstream_cache_hits_total", 0.0),
                 metric(r.port, "segweb_upstream_cache_misses_total", 0.0)) for r in reps]
        # replay: 4 rounds over every URL
        failures = []
        for _ in range(4):
            for u in urls:
                st, _, _ = nginx.request("GET", u)
                if st != 200:
                    failures.append((u, st))
        assert not failures, failures[:5]
        pulls = sum(metric(r.port, "segweb_upstream_pulls_total", 0.0) for r in reps)
        assert pulls / len(segs) == 1.0, f"upstream fetches per distinct SEG: {pulls / len(segs):.2f}"
        hits = sum(metric(r.port, "segweb_upstream_cache_hits_total", 0.0) - w[0] for r, w in zip(reps, warm))
        misses = sum(metric(r.port, "segweb_upstream_cache_misses_total", 0.0) - w[1] for r, w in zip(reps, warm))
        assert hits / (hits + misses) >= 0.95, (hits, misses)
        print(f"scaleout: {len(segs)} SEGs, {work} bytes, cache {cache_bytes} per replica, shares {sorted(share.values())}, "
              f"fetches/SEG {pulls / len(segs):.2f}, hit ratio {hits / (hits + misses):.3f}")

        # answers through nginx byte-identical to a segweb with the same objects in its
        # store (the oracle of the pull-through: the stored object's own answers), with
        # its ETags; and the same ETag from every replica (each pulls the SEG itself)
        local = Replica()
        try:
            assert {uids(p)[2] for p in segs} <= stored_uids(stow(local.port, segs, timeout=120))
            for u in urls:
                st, h, body = nginx.request("GET", u)
                lst, lh, lbody = http_request(local.port, "GET", u)
                assert (st, body) == (lst, lbody), (u, st, lst)
                assert h.get("etag") == lh.get("etag"), (u, h.get("etag"), lh.get("etag"))
                assert lh.get("etag") or u.endswith("/metadata"), u  # metadata: no-cache, no ETag
            for u in [u for u in urls if not u.endswith("/metadata")][::3]:
                tags = {http_request(r.port, "GET", u)[1].get("etag") for r in reps}
                assert tags == {http_request(local.port, "GET", u)[1].get("etag")}, (u, tags)
        finally:
            assert local.stop() == 0

        # one replica killed mid-run: zero failed client requests
        stop = threading.Event()
        errors, count = [], [0]

        def client(k):
            j = k
            while not stop.is_set():
                u = urls[j % len(urls)]
                j += 7
                try:
                    st, _, _ = nginx.request("GET", u, timeout=30)
                    if st != 200:
                        errors.append((u, st))
                except OSError as e:
                    errors.append((u, repr(e)))
                count[0] += 1

        threads = [threading.Thread(target=client, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        victim = reps.pop(0)
        victim.kill9()
        time.sleep(2.5)
        stop.set()
        for t in threads:
            t.join()
        assert count[0] > 30 and not errors, (count[0], errors[:5])
    finally:
        nginx.stop()
        rcs = [r.stop() for r in reps]
        for c in caches:
            shutil.rmtree(c, ignore_errors=True)
    assert all(rc == 0 for rc in rcs), rcs
