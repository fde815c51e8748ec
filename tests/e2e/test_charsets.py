"""Character sets: every string segweb hands out is UTF-8, converted from the object's
Specific Character Set (0008,0005), in `segweb info`, R/segments (path and store),
WADO-RS /metadata (which then says ISO_IR 192) and QIDO-RS. Bytes that are not valid in
the declared set become U+FFFD: never dropped, never a 5xx.

The objects are made here with pydicom from one corpus file (dcmqi_38x23_odd): the same
texts written in Latin-1, Latin-2, Greek, ISO 2022 IR 87 (Japanese) and UTF-8, plus
objects with invalid bytes written raw (bytes values bypass pydicom's encoder).

Env: SEGWEB_BIN, SEGWEB_TESTDATA.
"""
import json
import os
import shutil
import subprocess
import tempfile
import urllib.parse

import pydicom
import pytest
from pydicom.uid import generate_uid

from conftest import BIN, SegwebProcess, needs_binary, seg_path

BASE = seg_path("dcmqi_38x23_odd")

pytestmark = [needs_binary,
              pytest.mark.skipif(not os.path.exists(BASE), reason=f"the shared corpus is missing: no {BASE}")]

# name -> (Specific Character Set, label (LO), description (ST), patient name (PN),
#          series description (LO), code meaning (LO))
TEXTS = {
    "latin1": ("ISO_IR 100", "Leber Läsion", "Größe über 5 cm", "Müller^Jürgen",
               "Leber Serie ä", "Läsion"),
    "latin2": ("ISO_IR 101", "Játra léze Łódź", "Žluťoučký kůň", "Dvořák^Antonín",
               "Série jater č", "Léze"),
    "greek": ("ISO_IR 126", "Ήπαρ βλάβη", "Βλάβη μεγέθους", "Παπαδόπουλος^Γιώργος",
              "Σειρά ήπατος", "Βλάβη"),
    "japanese": (["", "ISO 2022 IR 87"], "肝臓病変", "病変の説明です", "Yamada^Tarou=山田^太郎=やまだ^たろう",
                 "肝臓シリーズ", "病変"),
    "utf8": ("ISO_IR 192", "Leber Läsion 肝臓 ✓", "Größe ≥ 5 cm — 病変", "Müller^Jürgen=山田^太郎",
             "Série ✓", "Läsion ✓"),
}

# name -> (Specific Character Set or None, raw label bytes, expected label text)
INVALID = {
    # 0xFF is not assigned in ISO 8859-7
    "greek_bad": ("ISO_IR 126", b"\xc7\xf0\xe1\xf1 \xff", "Ηπαρ \ufffd"),
    # a lone Latin-1 byte in UTF-8
    "utf8_bad": ("ISO_IR 192", b"Leber L\xe4sion", "Leber L\ufffdsion"),
    # no Specific Character Set: the default repertoire is ASCII
    "ascii_bad": (None, b"Leber L\xe4sion", "Leber L\ufffdsion"),
    # a term DCMTK does not know: the bytes are taken as UTF-8 where valid
    "unknown_set": ("ISO_IR 999", b"L\xc3\xa4sion \xff", "Läsion \ufffd"),
    # ISO 2022: a JIS X 0208 run with a byte outside it, then ASCII again
    "jis_bad": (["", "ISO 2022 IR 87"], b"\x1b$B4N\x19\x1b(B ok", None),
}

# Written raw, valid: the person name examples of PS3.5 annex H (Japanese with half-width
# katakana in G1, JIS X 0208 in G0) and annex I (Korean, KS X 1001 in G1).
RAW = {
    "japanese_kana": (["ISO 2022 IR 13", "ISO 2022 IR 87"],
                      bytes.fromhex("d4cfc0de5ec0dbb33d1b24423b3345441b284a5e1b244242404f3a1b284a3d"
                                    "1b24422464245e24401b284a5e1b2442243f246d24261b284a"),
                      "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう"),
    "korean": (["", "ISO 2022 IR 149"],
               bytes.fromhex("486f6e675e47696c646f6e673d1b242943fbf35e1b242943d1ced4d73d"
                             "1b242943c8ab5e1b242943b1e6b5bf"),
               "Hong^Gildong=洪^吉洞=홍^길동"),
}


def make(path, charset, label, description, patient_name, series_description, meaning):
    ds = pydicom.dcmread(BASE)
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    if charset is None:
        if "SpecificCharacterSet" in ds:
            del ds.SpecificCharacterSet
    else:
        ds.SpecificCharacterSet = charset
    seg = ds.SegmentSequence[0]
    seg.SegmentLabel = label
    if description is not None:
        seg.SegmentDescription = description
    if meaning is not None:
        seg.SegmentedPropertyTypeCodeSequence[0].CodeMeaning = meaning
    if patient_name is not None:
        ds.PatientName = patient_name
    if series_description is not None:
        ds.SeriesDescription = series_description
    ds.save_as(path, write_like_original=False)
    return ds


@pytest.fixture(scope="module")
def objects():
    tmp = tempfile.mkdtemp(prefix="segweb-charsets-")
    made = {}
    for name, (cs, label, desc, pn, sd, meaning) in TEXTS.items():
        p = os.path.join(tmp, name + ".dcm")
        made[name] = (p, make(p, cs, label, desc, pn, sd, meaning))
        # pydicom reads back what it wrote (guards the test's own encoding)
        back = pydicom.dcmread(p)
        assert back.SegmentSequence[0].SegmentLabel == label, name
        assert str(back.PatientName) == pn, name
    for name, (cs, raw, _) in INVALID.items():
        p = os.path.join(tmp, name + ".dcm")
        made[name] = (p, make(p, cs, raw, None, None, None, None))
    for name, (cs, raw, _) in RAW.items():
        p = os.path.join(tmp, name + ".dcm")
        made[name] = (p, make(p, cs, raw, None, raw, None, None))
    # A Transfer Syntax UID with non-ASCII bytes (same length: the meta group stays valid)
    src = made["latin1"][0]
    with open(src, "rb") as f:
        data = f.read()
    ts = b"1.2.840.10008.1.2.1\x00"
    at = data.find(ts, 0, 400)
    assert at > 0
    p = os.path.join(tmp, "ts_garbage.dcm")
    with open(p, "wb") as f:
        f.write(data[:at] + b"1.2.840.10008.1.2\xff\xfe\x00" + data[at + len(ts):])
    made["ts_garbage"] = (p, None)
    yield tmp, made
    shutil.rmtree(tmp, ignore_errors=True)


def strict_json(data):
    """Parse JSON only if it is valid UTF-8 (json.loads on str would hide bad bytes)."""
    return json.loads(data.decode("utf-8", "strict"))


def info(path):
    p = subprocess.run([BIN, "info", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    assert p.returncode == 0, p.stderr
    return strict_json(p.stdout)


def check_index(doc, name):
    cs, label, desc, pn, sd, meaning = TEXTS[name]
    s = doc["segments"][0]
    assert s["label"] == label
    assert s["description"] == desc
    assert s["type"]["meaning"] == meaning


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_info_converts(objects, name):
    check_index(info(objects[1][name][0]), name)


@pytest.mark.parametrize("name", sorted(RAW))
def test_info_iso2022_examples(objects, name):
    assert info(objects[1][name][0])["segments"][0]["label"] == RAW[name][2]


@pytest.mark.parametrize("name", sorted(INVALID))
def test_info_replaces_invalid_bytes(objects, name):
    doc = info(objects[1][name][0])
    want = INVALID[name][2]
    label = doc["segments"][0]["label"]
    if want is None:
        assert "\ufffd" in label and label.endswith(" ok"), label
    else:
        assert label == want


@pytest.fixture(scope="module")
def server(objects):
    tmp, made = objects
    srv = SegwebProcess(BIN, ["--files-root", tmp])
    parts = []
    for name in list(TEXTS) + list(INVALID) + list(RAW):
        with open(made[name][0], "rb") as f:
            parts.append(f.read())
    st, _, out = srv.stow(parts, boundary="charset-boundary-1", quoted=False)
    assert st == 200, out[:500]
    yield srv, made
    assert srv.stop() == 0


def url(ds):
    return f"/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_segments_path_and_store(server, name):
    srv, made = server
    for r in (f"/files/{name}.dcm", url(made[name][1])):
        st, h, body = srv.request("GET", r + "/segments")
        assert st == 200, (r, body[:300])
        check_index(strict_json(body), name)


@pytest.mark.parametrize("name", sorted(INVALID) + ["ts_garbage"])
def test_segments_invalid_bytes_not_5xx(server, name):
    srv, made = server
    st, _, body = srv.request("GET", f"/files/{name}.dcm/segments")
    assert st < 500, body[:300]
    doc = strict_json(body)
    if st == 200 and name in INVALID and INVALID[name][2]:
        assert doc["segments"][0]["label"] == INVALID[name][2]
    if st == 200 and name == "ts_garbage":
        assert "\ufffd" in doc["transfer_syntax_uid"]
    st, _, body = srv.request("GET", f"/files/{name}.dcm/segments/1")
    assert st < 500, body[:300]
    strict_json(body)


def pn_alphabetic_etc(v):
    parts = [v.get(k, "") for k in ("Alphabetic", "Ideographic", "Phonetic")]
    while parts and not parts[-1]:
        parts.pop()
    return "=".join(parts)


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_metadata_is_utf8(server, name):
    srv, made = server
    cs, label, desc, pn, sd, meaning = TEXTS[name]
    st, _, body = srv.request("GET", url(made[name][1]) + "/metadata")
    assert st == 200, body[:300]
    doc = strict_json(body)[0]
    assert doc["00080005"]["Value"] == ["ISO_IR 192"]
    assert pn_alphabetic_etc(doc["00100010"]["Value"][0]) == pn
    assert doc["0008103E"]["Value"] == [sd]
    seg = doc["00620002"]["Value"][0]
    assert seg["00620005"]["Value"] == [label]
    assert seg["00620006"]["Value"] == [desc]
    # the JSON round-trips through pydicom as the same text
    back = pydicom.Dataset.from_json(doc, lambda *a: b"")
    assert back.SegmentSequence[0].SegmentLabel == label


@pytest.mark.parametrize("name", sorted(INVALID))
def test_metadata_invalid_bytes(server, name):
    srv, made = server
    st, _, body = srv.request("GET", url(made[name][1]) + "/metadata")
    assert st == 200, body[:300]
    doc = strict_json(body)[0]
    label = doc["00620002"]["Value"][0]["00620005"]["Value"][0]
    want = INVALID[name][2]
    assert label == want if want else "\ufffd" in label
    assert doc["00080005"]["Value"] == ["ISO_IR 192"]


def q(srv, target):
    st, _, body = srv.request("GET", target, headers={"Accept": "application/dicom+json"})
    assert st == 200, (target, body[:300])
    return strict_json(body)


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_qido_returns_and_matches_unicode(server, name):
    srv, made = server
    cs, label, desc, pn, sd, meaning = TEXTS[name]
    ds = made[name][1]
    res = q(srv, f"/studies?StudyInstanceUID={ds.StudyInstanceUID}")
    assert len(res) == 1
    assert pn_alphabetic_etc(res[0]["00100010"]["Value"][0]) == pn
    series = q(srv, f"/studies/{ds.StudyInstanceUID}/series")
    assert series[0]["0008103E"]["Value"] == [sd]
    # matching on the converted text (the query is UTF-8 on the wire)
    res = q(srv, "/series?SeriesDescription=" + urllib.parse.quote(sd))
    assert [r["0020000E"]["Value"][0] for r in res] == [ds.SeriesInstanceUID]
    res = q(srv, "/studies?PatientName=" + urllib.parse.quote(pn[:3]) + "*")
    assert ds.StudyInstanceUID in [r["0020000D"]["Value"][0] for r in res]


@pytest.mark.parametrize("name", sorted(RAW))
def test_iso2022_examples_metadata_and_qido(server, name):
    srv, made = server
    cs, raw, text = RAW[name]
    ds = made[name][1]
    st, _, body = srv.request("GET", url(ds) + "/metadata")
    assert st == 200, body[:300]
    doc = strict_json(body)[0]
    assert pn_alphabetic_etc(doc["00100010"]["Value"][0]) == text
    assert doc["00620002"]["Value"][0]["00620005"]["Value"] == [text]
    res = q(srv, f"/studies?StudyInstanceUID={ds.StudyInstanceUID}")
    assert pn_alphabetic_etc(res[0]["00100010"]["Value"][0]) == text


def test_error_messages_quoting_bytes_are_utf8(server):
    """A message that quotes request bytes (a path, a UID) is JSON with U+FFFD, not a
    500 "out of memory" because jansson refused it."""
    srv, _ = server
    for target, status in (("/files/%fe.dcm/segments", 404), ("/studies/1.2.3%ff/metadata", 400),
                           ("/files/ts_garbage.dcm/frames/1/rendered", 415)):
        st, _, body = srv.request("GET", target)
        assert st == status, (target, st, body[:200])
        assert "\ufffd" in strict_json(body)["error"]["message"], body
    # a STOW part whose Content-Type has non-UTF-8 bytes: the Error Comment says so
    b = "charset-boundary-2"
    body = (f"--{b}\r\nContent-Type: application/x-\xff\r\n\r\nxx\r\n--{b}--\r\n").encode("latin-1")
    st, _, out = srv.request("POST", "/studies", body,
                         {"Content-Type": f'multipart/related; type="application/dicom"; boundary={b}'})
    assert st == 409, out[:300]
    item = strict_json(out)["00081198"]["Value"][0]
    assert "\ufffd" in item["00000902"]["Value"][0]


def test_qido_all_valid_utf8(server):
    srv, _ = server
    for level in ("/studies", "/series", "/instances"):
        q(srv, level + "?includefield=all")
