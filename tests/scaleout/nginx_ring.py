"""nginx's `hash $key consistent` ring, modelled in Python, to choose replica ports
whose ring splits a small working set evenly.

Why: with a handful of instances, which replica gets which one depends on the
replicas' addresses, and random ports give a split where one replica's share
exceeds its cache most of the time (about 9 tries in 10 for the corpus with caches
of W/2.5). A test that retried random ports until the split was even skipped about
half of its runs. Here the ports are picked first; callers still check the split
nginx actually makes (probe requests), so a model that drifted from nginx shows as a
failure, never as a wrong figure.

The model is ngx_http_upstream_hash_module.c (ngx_http_upstream_update_chash,
ngx_http_upstream_get_chash_peer): 160 points per server of weight 1, point j =
crc32(host "\\0" port prev_point) with prev_point little-endian (0 for j = 0), points
sorted (equal hashes kept once); a key goes to the first point >= crc32(key),
wrapping around."""
import bisect
import struct
import zlib

from conftest import free_port


def ring(servers):
    """Sorted (hash, server) points for servers given as 'host:port'."""
    points = []
    for s in servers:
        host, port = s.rsplit(":", 1)
        base = host.encode() + b"\0" + port.encode()
        prev = 0
        for _ in range(160):
            prev = zlib.crc32(base + struct.pack("<I", prev))
            points.append((prev, s))
    points.sort()
    out = []
    for h, s in points:
        if not out or out[-1][0] != h:
            out.append((h, s))
    return out


def route(points, key):
    """The server of `key` on the ring."""
    i = bisect.bisect_left(points, (zlib.crc32(key.encode()), ""))
    return points[i % len(points)][1]


def shares(servers, keys):
    """{server: sum of sizes} for keys given as (key, size)."""
    points = ring(servers)
    out = {s: 0 for s in servers}
    for k, size in keys:
        out[route(points, k)] += size
    return out


def balanced_ports(keys, n, limit, tries=5000):
    """n free loopback ports whose ring gives every replica a share <= limit (keys are
    (routing key, size)); None if no such set turned up in `tries` draws."""
    for _ in range(tries):
        ports = sorted({free_port() for _ in range(n)})
        if len(ports) < n:
            continue
        sh = shares([f"127.0.0.1:{p}" for p in ports], keys)
        if max(sh.values()) <= limit:
            return ports
    return None
