"""Hardening suite: the real `segweb serve` under bad input, limits, authentication,
slow and vanishing clients.

  - test_mutated_objects: >= 200 objects mutated from the corpus at test time
    (truncation, bit flips, odd/huge lengths, wrong VRs, lying NumberOfFrames / Rows /
    Columns / BitsAllocated, deep and undefined-length sequences, broken encapsulation,
    transfer syntax swaps), each served through /files/: every answer is 200 with a
    valid JSON / PNG body or a designed 4xx with a JSON error message; the server stays
    up, and the good objects read before still read back identically (frame hashes
    against ../shared/testdata/expected).
  - limits (each named in the 413 message), --auth-token / --auth-token-file,
    slow-loris (connection timeout and count), and 10,000 clients that disconnect
    mid-request (file descriptors and RSS steady).

Env: SEGWEB_BIN, SEGWEB_TESTDATA; SEGWEB_HARDENING_QUICK=1 runs 2,000 disconnects
instead of 10,000 (for slow sanitizer builds); SEGWEB_HARDENING_RSS_CHECK=0 skips the RSS
bound (ThreadSanitizer builds); SEGWEB_HARDENING_REPORT=FILE appends
the figures (status counts, fd / RSS) as JSON lines.
"""
import io
import json
import os
import random
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import zlib

import pytest
from PIL import Image

from conftest import (BIN, NAMES, QUICK, SegwebProcess, expected, needs_binary, needs_corpus, png_hash,
                      proc_value, read_seg, report, seg_path)

pytestmark = [needs_corpus, needs_binary]

# Statuses a bad object may produce (docs/HTTP.md): 404 frame out of range, 413 over a
# limit, 415 unsupported, 422 not DICOM / inconsistent. 5xx never.
DESIGNED_4XX = {404, 413, 415, 422}


class Server(SegwebProcess):
    def __init__(self, args, files_root=None, env_extra=None):
        super().__init__(BIN, args, env_extra, prefix="segweb-hard-", files_root=files_root)

    def fds(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def rss_kb(self):
        return proc_value(self.proc.pid, "status", "VmRSS")


# ---------------------------------------------------------------- mutations

def meta_end(data):
    """Offset of the first byte after the file meta group (Part 10 files)."""
    if data[128:132] != b"DICM":
        return 0
    # (0002,0000) UL group length: value at 132+8
    glen = struct.unpack_from("<I", data, 140)[0]
    return 144 + glen


def walk(data, explicit):
    """Top-level element headers of a little-endian dataset: list of
    (offset, tag, vr, len_offset, len_size, length). Stops at the first element it
    cannot step over (undefined length)."""
    out = []
    pos = meta_end(data)
    n = len(data)
    while pos + 8 <= n:
        group, elem = struct.unpack_from("<HH", data, pos)
        tag = (group << 16) | elem
        if explicit:
            vr = data[pos + 4:pos + 6]
            if vr in (b"OB", b"OW", b"OF", b"SQ", b"UT", b"UN", b"OD", b"OL", b"OV", b"UC", b"UR"):
                if pos + 12 > n:
                    break
                length = struct.unpack_from("<I", data, pos + 8)[0]
                out.append((pos, tag, vr, pos + 8, 4, length))
                hdr = 12
            else:
                length = struct.unpack_from("<H", data, pos + 6)[0]
                out.append((pos, tag, vr, pos + 6, 2, length))
                hdr = 8
        else:
            length = struct.unpack_from("<I", data, pos + 4)[0]
            out.append((pos, tag, b"", pos + 4, 4, length))
            hdr = 8
        if length == 0xFFFFFFFF:
            break
        pos += hdr + length
    return out


def is_explicit_le(name):
    import pydicom
    ts = str(pydicom.dcmread(seg_path(name), stop_before_pixels=True).file_meta.TransferSyntaxUID)
    return ts not in ("1.2.840.10008.1.2", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99")


def set_len(data, el, value):
    b = bytearray(data)
    _, _, _, lo, ls, _ = el
    if ls == 2:
        struct.pack_into("<H", b, lo, value & 0xFFFF)
    else:
        struct.pack_into("<I", b, lo, value & 0xFFFFFFFF)
    return bytes(b)


def pyd_mutate(name, fn):
    import pydicom
    from pydicom._uid_dict import UID_dictionary
    # pydicom 2.3 does not know Deflated Image Frame Compression yet (it will not write it)
    UID_dictionary.setdefault("1.2.840.10008.1.2.8.1", ("Deflated Image Frame Compression", "Transfer Syntax",
                                                        "", "", "DeflatedImageFrameCompression"))
    ds = pydicom.dcmread(seg_path(name))
    fn(ds)
    buf = io.BytesIO()
    ds.save_as(buf, write_like_original=True)
    return buf.getvalue()


def deep_sequence(depth, explicit, undefined):
    """A private sequence (0009,1002) nested depth levels deep, little endian, with
    undefined lengths and delimiters, or with defined lengths."""
    creator = b"\x09\x00\x10\x00" + (b"LO\x0c\x00" if explicit else b"\x0c\x00\x00\x00") + b"SEGWEB_FUZZ "

    def sq_header(length):
        return b"\x09\x00\x02\x10" + (b"SQ\x00\x00" if explicit else b"") + struct.pack("<I", length)

    body = b""
    for _ in range(depth):
        if undefined:
            item = b"\xfe\xff\x00\xe0\xff\xff\xff\xff" + sq_header(0xFFFFFFFF) + body + \
                b"\xfe\xff\xdd\xe0\x00\x00\x00\x00" + b"\xfe\xff\x0d\xe0\x00\x00\x00\x00"
            body = item
        else:
            inner = sq_header(len(body)) + body
            body = b"\xfe\xff\x00\xe0" + struct.pack("<I", len(inner)) + inner
    return creator + sq_header(0xFFFFFFFF if undefined else len(body)) + body + \
        (b"\xfe\xff\xdd\xe0\x00\x00\x00\x00" if undefined else b"")


def swap_ts(data, uid):
    """The file with another Transfer Syntax UID in its meta group (the data set untouched)."""
    end = meta_end(data)
    pos, out = 132, []
    while pos < end:
        tag = data[pos:pos + 4]
        vr = data[pos + 4:pos + 6]
        if vr in (b"OB", b"OW", b"UN", b"SQ", b"UT"):
            length = struct.unpack_from("<I", data, pos + 8)[0]
            hdr = 12
        else:
            length = struct.unpack_from("<H", data, pos + 6)[0]
            hdr = 8
        value = data[pos + hdr:pos + hdr + length]
        if tag == b"\x02\x00\x10\x00":
            value = uid.encode() + (b"\x00" if len(uid) % 2 else b"")
            out.append(tag + b"UI" + struct.pack("<H", len(value)) + value)
        elif tag != b"\x02\x00\x00\x00":
            out.append(data[pos:pos + hdr] + value)
        pos += hdr + length
    group = b"".join(out)
    return data[:132] + b"\x02\x00\x00\x00UL\x04\x00" + struct.pack("<I", len(group)) + group + data[end:]


def pixel_data_offset(data):
    i = data.rfind(b"\xe0\x7f\x10\x00")
    return i


ENCAPSULATED = ["pyd_liver_rle", "pyd_liver_nonbyte_aligned_rle", "dcmtk_rle_hd_sm_control_labelmap_palette",
                "pyd_liver_j2k", "pyd_liver_nonbyte_aligned_j2k", "dcmtk_jpls_hd_sm_control_labelmap",
                "pyd_liver_deflate_frames", "pyd_liver_nonbyte_aligned_deflate_frames"]
ENCAPSULATED = [n for n in ENCAPSULATED if n in NAMES]


def items_of(data):
    """(offset of each item tag, its length) inside the encapsulated Pixel Data."""
    pd = pixel_data_offset(data)
    pos = pd + 12
    out = []
    while pos + 8 <= len(data):
        tag = data[pos:pos + 4]
        length = struct.unpack_from("<I", data, pos + 4)[0]
        out.append((pos, tag, length))
        if tag != b"\xfe\xff\x00\xe0":
            break
        pos += 8 + length
    return out


def mutations():
    """Yields (label, bytes): deterministic (seeded), at least 200."""
    rnd = random.Random(20261125)
    small = [n for n in NAMES if len(read_seg(n)) < 120000]
    # 1. truncation
    for name in small[:10]:
        data = read_seg(name)
        for frac in (0.02, 0.2, 0.5, 0.9):
            cut = max(1, int(len(data) * frac) + rnd.randrange(-7, 8))
            yield f"trunc-{name}-{cut}", data[:cut]
    # 2. bit flips: header region mostly (pixel flips are harmless)
    for name in small[:12]:
        data = read_seg(name)
        end = min(len(data), (pixel_data_offset(data) if pixel_data_offset(data) > 0 else len(data)) + 64)
        for k in range(4):
            b = bytearray(data)
            for _ in range(rnd.choice((1, 2, 8, 32))):
                i = rnd.randrange(132, end)
                b[i] ^= 1 << rnd.randrange(8)
            yield f"flip-{name}-{k}", bytes(b)
    # 3. huge and odd lengths on top-level elements
    for name in small[:10]:
        data = read_seg(name)
        els = walk(data, is_explicit_le(name))
        if not els:
            continue
        for k, value in enumerate((0xFFFFFFFF, 0xFFFFFFF0, None, 0x7FFFFFFF)):
            el = rnd.choice(els)
            v = el[5] + 1 if value is None else value  # None: odd length (one more)
            yield f"len-{name}-{k}-{el[1]:08x}", set_len(data, el, v)
    # 4. wrong VRs (explicit VR files)
    explicit = [n for n in small if is_explicit_le(n)]
    for name in explicit[:7]:
        data = read_seg(name)
        els = [e for e in walk(data, True) if e[1] >> 16 != 0x7FE0]
        for k, vr in enumerate((b"SQ", b"UN", b"AT", b"ZZ")):
            el = rnd.choice(els)
            b = bytearray(data)
            b[el[0] + 4:el[0] + 6] = vr
            yield f"vr-{name}-{k}-{el[1]:08x}-{vr.decode()}", bytes(b)
    # 5. lying geometry
    lies = [
        ("NumberOfFrames", 0), ("NumberOfFrames", 2147483647), ("NumberOfFrames", "+1"), ("NumberOfFrames", "x10"),
        ("Rows", 0), ("Rows", 65535), ("Rows", "+1"), ("Columns", 1), ("Columns", "+3"),
        ("BitsAllocated", 0), ("BitsAllocated", 12), ("BitsAllocated", 64),
    ]
    for name in ["dcmqi_38x23_odd", "hd_ct_binary", "pyd_liver_rle", "dcmtk_jpls_hd_sm_control_labelmap",
                 "derived_labelmap16_renumbered", "pyd_liver_deflate_frames"]:
        if name not in NAMES:
            continue
        for attr, v in lies:
            def fn(ds, attr=attr, v=v):
                cur = int(getattr(ds, attr, 1) or 1)
                if isinstance(v, str):
                    v = cur + int(v[1:]) if v[0] == "+" else cur * int(v[1:])
                setattr(ds, attr, v)
            yield f"lie-{name}-{attr}-{v}", pyd_mutate(name, fn)
    # 6. deep and undefined-length sequences (written raw: pydicom is slow at depth)
    for name in ["dcmqi_38x24", "hd_ct_binary"]:
        data = read_seg(name)
        explicit = is_explicit_le(name)
        at = next(e[0] for e in walk(data, explicit) if e[1] >> 16 > 0x0009)
        for depth in (40, 400, 5000):
            for undefined in (True, False):
                seq = deep_sequence(depth, explicit, undefined)
                yield f"deep-{name}-{depth}-{'undef' if undefined else 'defined'}", data[:at] + seq + data[at:]
        seq = deep_sequence(30, explicit, True)
        yield f"undelimited-{name}", data[:at] + seq[:-16]
        yield f"undelimited-eof-{name}", data[:at] + seq[:len(seq) // 2]
        yield f"delimiter-only-{name}", data[:at] + b"\xfe\xff\xdd\xe0\x00\x00\x00\x00" + data[at:]
    # 7. broken encapsulation
    for name in ENCAPSULATED:
        data = read_seg(name)
        its = items_of(data)
        if len(its) < 2:
            continue
        pd = pixel_data_offset(data)

        def with_u32(d, at, v):
            b = bytearray(d)
            struct.pack_into("<I", b, at, v & 0xFFFFFFFF)
            return bytes(b)
        bot, first = its[0], its[1]
        yield f"encap-bot-huge-{name}", with_u32(data, bot[0] + 4, 0xFFFFFF00)
        yield f"encap-bot-odd-{name}", with_u32(data, bot[0] + 4, bot[2] + 3)
        yield f"encap-frag-huge-{name}", with_u32(data, first[0] + 4, 0x7FFFFFFF)
        yield f"encap-frag-zero-{name}", with_u32(data, first[0] + 4, 0)
        b = bytearray(data)
        b[first[0]:first[0] + 4] = b"\xfe\xff\x0d\xe0"
        yield f"encap-item-tag-{name}", bytes(b)
        yield f"encap-no-delimiter-{name}", data[:its[-1][0]]
        yield f"encap-defined-length-{name}", with_u32(data, pd + 8, len(data) - pd - 12)
        if len(its) > 3:
            # drop the last fragment: fewer fragments than frames
            last = its[-2]
            yield f"encap-missing-frag-{name}", data[:last[0]] + data[last[0] + 8 + last[2]:]
        # corrupt the payload of the first frame (codec sees garbage)
        b = bytearray(data)
        for i in range(first[0] + 8, min(first[0] + 8 + first[2], first[0] + 8 + 64)):
            b[i] = rnd.randrange(256)
        yield f"encap-garbage-{name}", bytes(b)
    # 8. transfer syntax that does not match the data
    swaps = [("dcmqi_38x23_odd", "1.2.840.10008.1.2.5"), ("dcmqi_38x23_odd", "1.2.840.10008.1.2.4.90"),
             ("pyd_liver_rle", "1.2.840.10008.1.2.1"), ("pyd_liver_j2k", "1.2.840.10008.1.2.4.80"),
             ("hd_ct_binary", "1.2.840.10008.1.2.1"), ("dcmqi_38x24", "1.2.840.10008.1.2.1.99"),
             ("pyd_liver_deflate_frames", "1.2.840.10008.1.2.5"), ("dcmqi_38x24", "1.2.840.10008.1.2.4.50")]
    for name, ts in swaps:
        if name in NAMES:
            yield f"ts-{name}-{ts}", swap_ts(read_seg(name), ts)
    # 9. deflate bomb: a Deflated Image Frame Compression frame that inflates to 64 MiB
    if "pyd_liver_deflate_frames" in NAMES:
        import pydicom
        from pydicom.encaps import encapsulate
        pyd_mutate("dcmqi_38x24", lambda ds: None)  # registers the deflate-frame UID
        ds = pydicom.dcmread(seg_path("pyd_liver_deflate_frames"))
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        bomb = c.compress(b"\xff" * (64 << 20)) + c.flush()
        frames = [bomb] + [bytes(f) for f in pydicom.encaps.generate_pixel_data_frame(ds.PixelData, 3)][1:]
        ds.PixelData = encapsulate(frames)
        buf = io.BytesIO()
        ds.save_as(buf, write_like_original=True)
        yield "bomb-deflate-frame", buf.getvalue()


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def root():
    base = tempfile.mkdtemp(prefix="segweb-hard-files-")
    for n in NAMES:
        shutil.copy(seg_path(n), os.path.join(base, n + ".dcm"))
    yield base
    shutil.rmtree(base, ignore_errors=True)


GOOD = [n for n in ("dcmqi_liver", "dcmqi_38x23_odd", "pyd_liver_rle", "pyd_liver_j2k", "hd_sm_dots_tiled_full",
                    "derived_labelmap16_renumbered", "dcmtk_jpls_hd_sm_control_labelmap", "pyd_liver_deflate_frames")
        if n in NAMES]


def read_good(s):
    """Every frame (up to 40) of the GOOD objects: name -> list of hashes, checked."""
    out = {}
    for name in GOOD:
        exp = expected(name)
        hashes = []
        for i, h in enumerate(exp["frame_sha256"][:40]):
            st, _, body = s.get(f"/files/{name}.dcm/frames/{i + 1}/rendered")
            assert st == 200, (name, i + 1, st, body[:200])
            got = png_hash(body, exp["frame_hash_dtype"])
            assert got == h, f"{name} frame {i + 1}: hash differs from expected"
            hashes.append(got)
        out[name] = hashes
    return out


def check_error(label, target, st, body):
    assert st in DESIGNED_4XX, f"{label}: {target} -> {st} {body[:300]!r}"
    doc = json.loads(body)
    assert doc["error"]["status"] == st and doc["error"]["message"], f"{label}: {doc}"


# ---------------------------------------------------------------- tests

def test_mutated_objects(root):
    muts = list(mutations())
    assert len(muts) >= 200, len(muts)
    mdir = os.path.join(root, "mut")
    os.makedirs(mdir, exist_ok=True)
    for i, (label, data) in enumerate(muts):
        with open(os.path.join(mdir, f"m{i:03d}.dcm"), "wb") as f:
            f.write(data)
    s = Server(["--workers", "2", "--max-frame-bytes", str(16 << 20)], files_root=root,
               )
    counts = {}
    try:
        before = read_good(s)
        for i, (label, _) in enumerate(muts):
            base = f"/files/mut/m{i:03d}.dcm"
            st, hdrs, body = s.get(base + "/segments")
            counts[st] = counts.get(st, 0) + 1
            targets = [base + "/frames/1/rendered"]
            if st == 200:
                doc = json.loads(body)
                assert isinstance(doc.get("segments"), list), label
                n = int(doc.get("number_of_frames") or 1)
                targets += [base + f"/frames/{n}/rendered", base + "/frames/1/rendered?style=color"]
                for seg in doc["segments"][:2]:
                    targets.append(base + f"/segments/{seg['number']}")
            else:
                check_error(label, base + "/segments", st, body)
            for t in targets:
                st2, hdrs2, body2 = s.get(t)
                counts[st2] = counts.get(st2, 0) + 1
                if st2 == 200:
                    if "/rendered" in t:
                        assert hdrs2.get("content-type") == "image/png", (label, t)
                        Image.open(io.BytesIO(body2)).load()
                    else:
                        json.loads(body2)
                else:
                    check_error(label, t, st2, body2)
            assert s.alive(), f"server died on {label}:\n" + s.read_log()[-4000:]
        after = read_good(s)
        assert after == before
        assert s.get("/healthz")[0] == 200
        print(f"{len(muts)} mutated objects; statuses {sorted(counts.items())}; rss {s.rss_kb()} kB")
        report("mutated_objects", objects=len(muts), statuses=counts, rss_kb=s.rss_kb(), fds=s.fds())
    finally:
        assert s.stop() == 0


def test_limits_named(root):
    s = Server(["--max-frame-pixels", "1000", "--max-json-bytes", "1024", "--max-body", "100"], files_root=root)
    try:
        st, _, body = s.get("/files/dcmqi_liver.dcm/segments")
        assert st == 413 and b"max-frame-pixels" in body, body
        st, _, body = s.get("/files/dcmqi_liver.dcm/frames/1/rendered")
        assert st == 413 and b"max-frame-pixels" in body, body
        st, _, body = s.get("/files/hd_sm_control_labelmap.dcm/segments")
        assert st == 413 and b"max-json-bytes" in body, body
        st, _, body = s.get("/files/hd_ct_binary.dcm/segments", method="POST", body=b"x" * 1000)
        assert st == 413 and b"max-body" in body, body
    finally:
        assert s.stop() == 0
    # a Deflated Explicit VR LE object whose data set inflates to 16 MiB of zeros (~16 kB on disk)
    import pydicom
    ds = pydicom.dcmread(seg_path("dcmtk_deflated_dcmqi_38x23_odd"))
    ds.PixelData = bytes(16 << 20)
    ds.save_as(os.path.join(root, "inflate-bomb.dcm"), write_like_original=False)
    assert os.path.getsize(os.path.join(root, "inflate-bomb.dcm")) < 100000
    s = Server(["--max-frames", "10", "--max-frame-bytes", "100", "--max-inflated-bytes", str(8 << 20)],
               files_root=root)
    try:
        st, _, body = s.get("/files/inflate-bomb.dcm/segments")
        assert st == 413 and b"max-inflated-bytes" in body, body
        st, _, body = s.get("/files/dcmtk_deflated_dcmqi_38x23_odd.dcm/segments")
        assert st == 200
        st, _, body = s.get("/files/hd_sm_dots_tiled_full.dcm/segments")
        assert st == 413 and b"max-frames" in body, body
        st, _, body = s.get("/files/dcmqi_38x23_odd.dcm/frames/1/rendered")  # 38x23 1-bit: 110 bytes
        assert st == 413 and b"max-frame-bytes" in body, body
        st, _, body = s.get("/files/hd_ct_binary.dcm/frames/1/rendered")  # 16x16 1-bit: 32 bytes
        assert st == 200
        st, _, body = s.get("/files/hd_ct_binary_fractional.dcm/frames/1/rendered")  # 256 bytes
        assert st == 413 and b"max-frame-bytes" in body, body
        doc = json.loads(body)
        assert doc["error"]["status"] == 413
    finally:
        assert s.stop() == 0


def test_help_names_every_limit():
    out = subprocess.run([BIN, "serve", "--help"], capture_output=True, text=True, check=True).stdout
    for flag in ("--max-body", "--max-frame-pixels", "--max-frames", "--max-frame-bytes", "--max-inflated-bytes",
                 "--max-json-bytes", "--max-parts",
                 "--max-connections", "--connection-timeout", "--queue", "--auth-token", "--auth-token-file"):
        assert flag in out, flag


def test_auth_token(root, tmp_path):
    token = "Zm9vYmFy-s3cret.token_~+/="
    tf = tmp_path / "token"
    tf.write_text(token + "\n")
    for args in (["--auth-token", token], ["--auth-token-file", str(tf)]):
        s = Server(args, files_root=root)
        try:
            assert token not in s.read_log()
            st, hdrs, body = s.get("/healthz")
            assert st == 200
            st, hdrs, body = s.get("/readyz")
            assert st == 200
            for t in ("/files/hd_ct_binary.dcm/segments", "/metrics", "/files/hd_ct_binary.dcm/frames/1/rendered",
                      "/nope"):
                st, hdrs, body = s.get(t)
                assert st == 401 and hdrs.get("www-authenticate", "").startswith("Bearer"), (t, st, hdrs)
                assert json.loads(body)["error"]["status"] == 401
                st, hdrs, body = s.get(t, {"Authorization": "Bearer " + token[:-1]})
                assert st == 401 and "invalid_token" in hdrs.get("www-authenticate", ""), (t, st)
                st, hdrs, body = s.get(t, {"Authorization": "Basic " + token})
                assert st == 401
            st, hdrs, body = s.get("/files/hd_ct_binary.dcm/segments", {"Authorization": "Bearer " + token})
            assert st == 200 and json.loads(body)["rows"] == 16
            st, hdrs, body = s.get("/files/hd_ct_binary.dcm/frames/1/rendered", {"Authorization": "bearer  " + token})
            assert st == 200
            # a body is never read without the token
            st, hdrs, body = s.get("/files/hd_ct_binary.dcm/segments", method="POST", body=b"x" * 50)
            assert st == 401
            st, _, _ = s.get("/files/hd_ct_binary.dcm/segments", method="OPTIONS")
            assert st == 204
            assert token not in s.read_log()
        finally:
            assert s.stop() == 0
    bad = tmp_path / "bad"
    bad.write_text("two words\n")
    r = subprocess.run([BIN, "serve", "--auth-token-file", str(bad)], capture_output=True, text=True)
    assert r.returncode == 2 and "auth-token" in r.stderr
    r = subprocess.run([BIN, "serve", "--auth-token-file", str(tmp_path / "missing")], capture_output=True, text=True)
    assert r.returncode == 2 and "auth-token-file" in r.stderr


def test_slow_loris_dropped(root):
    s = Server(["--connection-timeout", "2", "--max-connections", "8", "--io-threads", "1"], files_root=root)
    try:
        # idle and trickling clients are dropped after the timeout
        socks = []
        for i in range(8):
            c = socket.create_connection(("127.0.0.1", s.port))
            c.sendall(b"GET /files/hd_ct_binary.dcm/segments HTTP/1.1\r\nHost: x\r\n")  # never finishes
            socks.append(c)
        time.sleep(0.3)
        # the limit: a ninth connection is not served while the eight hold their slots
        # (libmicrohttpd stops accepting; it waits in the listen backlog)
        extra = socket.create_connection(("127.0.0.1", s.port))
        extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        extra.settimeout(1.0)
        with pytest.raises(socket.timeout):
            extra.recv(100)
        # the eight are dropped after --connection-timeout, without an answer
        t0 = time.time()
        for c in socks:
            c.settimeout(10)
            try:
                got = c.recv(100)
            except ConnectionResetError:
                got = b""
            assert got == b"", got
            c.close()
        waited = time.time() - t0
        assert waited < 8, waited
        # and then the ninth is served
        extra.settimeout(10)
        assert extra.recv(100).startswith(b"HTTP/1.1 200")
        extra.close()
        report("slow_loris", connections=8, timeout_s=2, dropped_after_s=round(waited + 1.3, 1))
        time.sleep(0.5)
        assert s.get("/healthz")[0] == 200  # slots are free again
    finally:
        assert s.stop() == 0


def test_disconnects_leak_nothing(root):
    n = 2000 if QUICK else 10000
    s = Server(["--workers", "4", "--connection-timeout", "5"], files_root=root,
               env_extra={
                          "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=8"})
    kinds = [
        b"GET /files/dcmqi_liver.dcm/frames/1/rendered HTTP/1.1\r\nHost: x\r\n",  # mid-headers
        b"GET /files/dcmqi_liver.dcm/frames/2/rendered HTTP/1.1\r\nHost: x\r\n\r\n",  # queued, then gone
        b"GET /files/pyd_liver_rle.dcm/segments HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /files/hd_ct_binary.dcm/segments HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" + b"x" * 700,
        b"GE",
    ]

    def burst(count):
        for i in range(count):
            c = socket.create_connection(("127.0.0.1", s.port))
            c.sendall(kinds[i % len(kinds)])
            if i % 7 == 0:
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
            c.close()

    def settle():
        deadline = time.time() + 20
        while time.time() < deadline:
            st, _, body = s.get("/metrics")
            m = re.search(rb"segweb_requests_in_flight (\d+)", body)
            if st == 200 and m and int(m.group(1)) <= 1:
                break
            time.sleep(0.2)
        time.sleep(0.5)

    try:
        burst(1000 if QUICK else 3000)  # warm-up: caches, allocator arenas, thread stacks
        settle()
        fd0, rss0 = s.fds(), s.rss_kb()
        burst(n)
        settle()
        fd1, rss1 = s.fds(), s.rss_kb()
        st, _, body = s.get("/files/dcmqi_liver.dcm/frames/1/rendered")
        assert st == 200
        print(f"{n} disconnects: fds {fd0} -> {fd1}, rss {rss0} -> {rss1} kB")
        report("disconnects", count=n, fds_before=fd0, fds_after=fd1, rss_kb_before=rss0, rss_kb_after=rss1)
        assert fd1 <= fd0 + 2, (fd0, fd1)
        if os.environ.get("SEGWEB_HARDENING_RSS_CHECK", "1") == "1":  # TSan's shadow memory grows on its own
            assert rss1 - rss0 < 48 * 1024, (rss0, rss1)
    finally:
        assert s.stop() == 0
