/* store/seg_index: a stored and a cached SEG get their index persisted on first
 * open and loaded (without DCMTK) on the next; a truncated index is ignored and
 * rewritten; DELETE, overwrite and cache removal take the index with the object;
 * a file outside the store and the cache is never given one. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/seg_index.h"
#include "tests/unit/check.h"

#define SEG "dcmqi_liver.dcm"

static bool copy_to_fd(const char *from, int fd)
{
    FILE *f = fopen(from, "rb");
    char b[65536];
    size_t n;
    bool ok = f != NULL;
    while (ok && (n = fread(b, 1, sizeof b, f)) > 0)
        ok = write(fd, b, n) == (ssize_t)n;
    if (f)
        fclose(f);
    return ok;
}

static void side_of(const char *path, char *side, size_t n)
{
    snprintf(side, n, "%.*s.idx", (int)(strlen(path) - 4), path);
}

static uint64_t parses(void)
{
    struct seg_index_counts c;
    decoder_seg_index_counts(&c);
    return c.parsed;
}

/* Opens path twice: persisted first, then loaded without a parse. */
static void open_twice(struct store *s, struct store_cache *c, const char *path, const char *what)
{
    struct err e = ERR_INIT;
    enum store_index_how how;
    struct seg_index *idx = store_seg_index_open(s, c, path, NULL, &how, &e);
    CHECK(idx && how == STORE_INDEX_PERSISTED, "%s: first open persists (%d, %s)", what, (int)how, e.msg);
    decoder_seg_free(idx);
    char side[PATH_MAX];
    side_of(path, side, sizeof side);
    CHECK(access(side, F_OK) == 0, "%s: %s exists", what, side);
    uint64_t before = parses();
    idx = store_seg_index_open(s, c, path, NULL, &how, &e);
    CHECK(idx && how == STORE_INDEX_LOADED && parses() == before, "%s: second open loads without a parse", what);
    CHECK(idx && idx->fd >= 0 && idx->number_of_frames > 0, "%s: a usable index", what);
    decoder_seg_free(idx);
}

static void in_store(const char *testdata, const char *tmpdir)
{
    char dir[PATH_MAX], src[PATH_MAX], tmp[PATH_MAX], path[PATH_MAX], side[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/store", tmpdir);
    snprintf(src, sizeof src, "%s/seg/%s", testdata, SEG);
    struct err e = ERR_INIT;
    struct store *s = store_open(dir, true, NULL, NULL, NULL, &e);
    CHECK(s != NULL, "store_open: %s", e.msg);
    if (!s)
        return;
    struct seg_index *idx = decoder_seg_open(src, NULL, &e);
    CHECK(idx != NULL, "open: %s", e.msg);
    if (!idx)
        return;
    struct store_attrs a = {0};
    snprintf(a.study_uid, sizeof a.study_uid, "%s", idx->study_uid);
    snprintf(a.series_uid, sizeof a.series_uid, "%s", idx->series_uid);
    snprintf(a.sop_uid, sizeof a.sop_uid, "%s", idx->sop_instance_uid);
    decoder_seg_free(idx);

    int fd;
    enum store_put_result r;
    CHECK(store_tmp_create(s, tmp, sizeof tmp, &fd, &e) && copy_to_fd(src, fd), "tmp: %s", e.msg);
    close(fd);
    /* as STOW does: index the upload, put it, persist the index beside the stored file */
    idx = decoder_seg_open(tmp, NULL, &e);
    CHECK(idx && store_instance_put(s, tmp, &a, &r, &e) && r == STORE_PUT_STORED, "put: %s", e.msg);
    CHECK(store_instance_path(s, a.study_uid, a.series_uid, a.sop_uid, path, sizeof path, &e), "path: %s", e.msg);
    CHECK(idx && store_seg_index_save(s, NULL, path, idx, &e), "save after put: %s", e.msg);
    decoder_seg_free(idx);
    side_of(path, side, sizeof side);
    uint64_t before = parses();
    enum store_index_how how;
    idx = store_seg_index_open(s, NULL, path, NULL, &how, &e);
    CHECK(idx && how == STORE_INDEX_LOADED && parses() == before, "the index saved at STOW is loaded");
    decoder_seg_free(idx);

    truncate(side, 100);
    open_twice(s, NULL, path, "store, after truncation");

    /* overwrite with the same UIDs: the old index goes (it names the old inode) */
    CHECK(store_tmp_create(s, tmp, sizeof tmp, &fd, &e) && copy_to_fd(src, fd) && write(fd, "", 1) == 1,
          "tmp: %s", e.msg);
    close(fd);
    CHECK(store_instance_put(s, tmp, &a, &r, &e) && r == STORE_PUT_STORED, "overwrite: %s", e.msg);
    CHECK(access(side, F_OK) != 0, "overwrite removes the old index");

    open_twice(s, NULL, path, "store, after overwrite");
    size_t n = 0;
    CHECK(store_delete(s, a.study_uid, NULL, NULL, &n, &e) && n == 1, "delete: %s", e.msg);
    CHECK(access(side, F_OK) != 0 && access(path, F_OK) != 0, "DELETE removes the object and its index");

    /* a file outside the store: parsed, nothing written beside it */
    idx = store_seg_index_open(s, NULL, src, NULL, &how, &e);
    side_of(src, side, sizeof side);
    CHECK(idx && how == STORE_INDEX_PARSED && access(side, F_OK) != 0, "files outside are never persisted");
    struct err se = ERR_INIT;
    CHECK(idx && !store_seg_index_save(s, NULL, src, idx, &se) && se.code == ERR_INVALID, "save refuses: %s",
          se.msg);
    decoder_seg_free(idx);
    store_close(s);
}

struct fill_arg {
    const char *src;
};

static bool fill(void *arg, int fd, const char *tmp, uint64_t max, struct err *e)
{
    (void)tmp;
    (void)max;
    struct fill_arg *f = arg;
    return copy_to_fd(f->src, fd) || err_set(e, ERR_IO, "copy");
}

static void in_cache(const char *testdata, const char *tmpdir)
{
    char dir[PATH_MAX], path[PATH_MAX], side[PATH_MAX];
    struct fill_arg f;
    char src[PATH_MAX];
    snprintf(src, sizeof src, "%s/seg/%s", testdata, SEG);
    f.src = src;
    snprintf(dir, sizeof dir, "%s/cache", tmpdir);
    struct err e = ERR_INIT;
    struct store_cache *c = store_cache_open(dir, 64u << 20, &e);
    CHECK(c != NULL, "cache open: %s", e.msg);
    if (!c)
        return;
    CHECK(store_cache_get(c, "1.2.3.4", fill, &f, path, sizeof path, NULL, &e), "get: %s", e.msg);
    open_twice(NULL, c, path, "cache");
    struct store_cache_stats st;
    store_cache_stats_get(c, &st);
    struct stat obj, idx;
    side_of(path, side, sizeof side);
    stat(path, &obj);
    stat(side, &idx);
    CHECK(st.bytes == (uint64_t)(obj.st_size + idx.st_size), "the side file is counted (%llu)",
          (unsigned long long)st.bytes);
    store_cache_release(c, "1.2.3.4");
    store_cache_remove(c, "1.2.3.4");
    CHECK(access(side, F_OK) != 0, "removal takes the index");
    store_cache_close(c);
}

int main(void)
{
    const char *testdata = check_corpus();
    char tmp[256];
    check_tmpdir("store-seg-index", tmp, sizeof tmp);
    in_store(testdata, tmp);
    in_cache(testdata, tmp);
    check_rmtree(tmp);
    return check_done();
}
