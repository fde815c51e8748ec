"""Descriptor exhaustion (issue 13 item 5).

- Under RLIMIT_NOFILE 64 (soft and hard, so segweb cannot raise it), more than 200
  distinct /files SEGs and 200 distinct stored SEGs are all answered correctly (frame
  PNG equal to expected/): the index cache keeps at most half the limit open and
  reopens the rest on a hit. (Before the descriptor budget, every cached index kept its
  file open and the 60th or so file got "Too many open files".)
- A forced EMFILE (an LD_PRELOAD shim making open/fopen fail with EMFILE while a flag
  file exists) gives 503 + Retry-After and a JSON error on a frame request and on STOW
  (not 4xx blaming the file, not 409), and the same requests succeed once it is gone."""
import io
import json
import os
import resource
import shutil
import subprocess
import tempfile

import pydicom
import pytest

from conftest import SegwebProcess, expected, metric, multipart, needs_binary, needs_corpus, png_hash, seg_path

pytestmark = [needs_corpus, needs_binary]

NAME = "hd_cr_binary"
N = 210


def low_nofile():
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))


def variant(i):
    """The corpus SEG under new SOP Instance UIDs (distinct stored instances)."""
    ds = pydicom.dcmread(seg_path(NAME))
    uid = f"1.2.826.0.1.3680043.8.498.77.{i + 1}"
    ds.SOPInstanceUID = uid
    ds.file_meta.MediaStorageSOPInstanceUID = uid
    b = io.BytesIO()
    ds.save_as(b, write_like_original=False)
    return ds, b.getvalue()


def test_many_distinct_files_under_a_low_descriptor_limit():
    exp = expected(NAME)
    want, dtype = exp["frame_sha256"][0], exp["frame_hash_dtype"]
    root = tempfile.mkdtemp(prefix="segweb-fds-")
    try:
        for i in range(N):
            shutil.copy(seg_path(NAME), os.path.join(root, f"f{i:03d}.dcm"))
        s = SegwebProcess(None, ["--workers", "2"], files_root=root, preexec_fn=low_nofile)
        try:
            variants = [variant(i) for i in range(N)]
            for k in range(0, N, 30):
                st, _, body = s.stow([b for _, b in variants[k:k + 30]])
                assert st == 200, body[:300]
            for i in list(range(N)) + list(range(20)):  # then again: closed indexes reopen
                st, h, body = s.get(f"/files/f{i:03d}.dcm/frames/1/rendered")
                assert st == 200, (i, st, body[:300])
                assert png_hash(body, dtype) == want, i
            for ds, _ in variants + variants[:20]:
                st, h, body = s.get(f"/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
                                    f"/instances/{ds.SOPInstanceUID}/frames/1/rendered")
                assert st == 200, (ds.SOPInstanceUID, st, body[:300])
                assert png_hash(body, dtype) == want
            m = s.metrics()
            assert metric(m, "segweb_cache_open_files") <= metric(m, "segweb_cache_open_files_budget") == 32
            assert metric(m, "segweb_cache_file_reopens_total") >= 40
            assert len(os.listdir(f"/proc/{s.proc.pid}/fd")) < 64
        finally:
            assert s.stop() == 0
    finally:
        shutil.rmtree(root, ignore_errors=True)


SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* EMFILE for opens below $EMFILE_PREFIX or of /proc/self/fd/N while $EMFILE_FLAG exists. */
static int trip(const char *p)
{
    const char *flag = getenv("EMFILE_FLAG"), *pfx = getenv("EMFILE_PREFIX");
    if (!flag || !p || access(flag, F_OK) != 0)
        return 0;
    if ((pfx && !strncmp(p, pfx, strlen(pfx))) || !strncmp(p, "/proc/self/fd/", 14)) {
        errno = EMFILE;
        return 1;
    }
    return 0;
}

#define OPEN(name, ...)                                                        \
    int name(__VA_ARGS__, int flags, ...)                                      \
    {                                                                          \
        va_list ap;                                                            \
        va_start(ap, flags);                                                   \
        mode_t m = (mode_t)va_arg(ap, int);                                    \
        va_end(ap);
OPEN(open, const char *p)
    if (trip(p)) return -1;
    int (*real)(const char *, int, ...) = dlsym(RTLD_NEXT, "open");
    return real(p, flags, m);
}
OPEN(open64, const char *p)
    if (trip(p)) return -1;
    int (*real)(const char *, int, ...) = dlsym(RTLD_NEXT, "open64");
    return real(p, flags, m);
}
OPEN(openat, int d, const char *p)
    if (trip(p)) return -1;
    int (*real)(int, const char *, int, ...) = dlsym(RTLD_NEXT, "openat");
    return real(d, p, flags, m);
}
FILE *fopen(const char *p, const char *mode)
{
    if (trip(p)) return NULL;
    FILE *(*real)(const char *, const char *) = dlsym(RTLD_NEXT, "fopen");
    return real(p, mode);
}
FILE *fopen64(const char *p, const char *mode)
{
    if (trip(p)) return NULL;
    FILE *(*real)(const char *, const char *) = dlsym(RTLD_NEXT, "fopen64");
    return real(p, mode);
}
"""


def build_shim(d):
    src, so = os.path.join(d, "emfile.c"), os.path.join(d, "emfile.so")
    with open(src, "w") as f:
        f.write(SHIM)
    r = subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-o", so, src, "-ldl"], capture_output=True, text=True)
    if r.returncode:
        pytest.skip("cannot build the EMFILE shim: " + r.stderr[-300:])
    return so


def test_forced_emfile_is_503_with_retry_after():
    d = tempfile.mkdtemp(prefix="segweb-emfile-")
    try:
        so = build_shim(d)
        root = os.path.join(d, "files")
        os.mkdir(root)
        shutil.copy(seg_path(NAME), os.path.join(root, "a.dcm"))
        store = os.path.join(d, "store")
        flag = os.path.join(d, "flag")
        env = {"LD_PRELOAD": so, "EMFILE_FLAG": flag, "EMFILE_PREFIX": d,
               "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"}
        s = SegwebProcess(None, ["--store", store], own_store=False, files_root=root, env_extra=env)
        try:
            open(flag, "w").close()
            st, h, body = s.get("/files/a.dcm/frames/1/rendered")
            assert st == 503 and h.get("retry-after") == "1", (st, h, body[:300])
            err = json.loads(body)["error"]
            assert err["status"] == 503 and "Too many open files" in err["message"], err
            _, data = variant(0)
            st, h, body = s.stow([data])
            assert st == 503 and h.get("retry-after") == "1", (st, body[:500])
            json.loads(body)  # the Store Instances Response, naming the part and why
            assert b"Too many open files" in body

            os.unlink(flag)
            st, _, body = s.get("/files/a.dcm/frames/1/rendered")
            assert st == 200, body[:300]
            assert s.stow([data])[0] == 200
        finally:
            assert s.stop() == 0
    finally:
        shutil.rmtree(d, ignore_errors=True)
