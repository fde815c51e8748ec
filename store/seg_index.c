/* Persisted SEG indexes beside store and cache objects (see seg_index.h). Design
 * note: which directory an object lives in decides where its index goes, so the
 * path is matched against the store's instances/ and the cache's objects/ and
 * nothing else; the bytes are the decoder's business (decoder/seg_index_io.c). */
#include "store/seg_index.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "store/store_internal.h"

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !memcmp(s + n - k, suffix, k);
}

/* path's .dcm replaced by .idx, when path is <store>/instances/.../<sop>.dcm. */
static bool store_side(const struct store *s, const char *path, char *out, size_t outsz)
{
    char prefix[PATH_MAX + 16];
    int n = snprintf(prefix, sizeof prefix, "%s/instances/", s->dir);
    if (n < 0 || (size_t)n >= sizeof prefix || strncmp(path, prefix, (size_t)n) || !ends_with(path, ".dcm") ||
        strstr(path + n, "/../") || strlen(path) >= outsz)
        return false;
    snprintf(out, outsz, "%.*s.idx", (int)(strlen(path) - 4), path);
    return true;
}

/* The cache key of path when path is <cache>/objects/<key>.dcm. */
static bool cache_key(struct store_cache *c, const char *path, char *key, size_t keysz)
{
    const char *base = strrchr(path, '/');
    if (!base || !ends_with(path, ".dcm"))
        return false;
    base++;
    size_t klen = strlen(base) - 4;
    if (klen >= keysz)
        return false;
    memcpy(key, base, klen);
    key[klen] = 0;
    char side[PATH_MAX];
    struct err e = ERR_INIT;
    if (!store_cache_side_path(c, key, "idx", side, sizeof side, &e))
        return false;
    /* the same directory: side differs from path only in the suffix */
    return strlen(side) == strlen(path) && !strncmp(side, path, strlen(path) - 4);
}

/* Writes idx into a fresh temp file (closed); tmp receives its name. */
static bool write_tmp(const struct seg_index *idx, bool (*mk)(void *, char *, size_t, int *, struct err *),
                      void *arg, char *tmp, size_t tmpsz, struct err *e)
{
    int fd;
    if (!mk(arg, tmp, tmpsz, &fd, e))
        return false;
    bool ok = decoder_seg_index_write(idx, fd, e);
    if (close(fd) != 0 && ok)
        ok = err_set(e, ERR_IO, "close %s: %s", tmp, strerror(errno));
    if (!ok)
        unlink(tmp);
    return ok;
}

static bool mk_store(void *s, char *p, size_t n, int *fd, struct err *e) { return store_tmp_create(s, p, n, fd, e); }
static bool mk_cache(void *c, char *p, size_t n, int *fd, struct err *e) { return store_cache_tmp(c, p, n, fd, e); }

bool store_seg_index_save(struct store *s, struct store_cache *c, const char *path, const struct seg_index *idx,
                          struct err *e)
{
    char side[PATH_MAX], key[STORE_UID_MAX + 1], tmp[PATH_MAX];
    if (s && store_side(s, path, side, sizeof side)) {
        if (!write_tmp(idx, mk_store, s, tmp, sizeof tmp, e))
            return false;
        /* under the store's lock: not beside an object a DELETE has just removed */
        pthread_mutex_lock(&s->mu);
        bool ok = access(path, F_OK) == 0 ? rename(tmp, side) == 0 || err_set(e, ERR_IO, "rename %s: %s", side,
                                                                                strerror(errno))
                                          : err_set(e, ERR_NOT_FOUND, "%s is no longer stored", path);
        pthread_mutex_unlock(&s->mu);
        if (!ok)
            unlink(tmp);
        return ok;
    }
    if (c && cache_key(c, path, key, sizeof key))
        return write_tmp(idx, mk_cache, c, tmp, sizeof tmp, e) && store_cache_side_put(c, key, "idx", tmp, e);
    return err_set(e, ERR_INVALID, "%s is not an object of the store or the cache", path);
}

struct seg_index *store_seg_index_open(struct store *s, struct store_cache *c, const char *path,
                                       const struct seg_limits *limits, enum store_index_how *how,
                                       struct err *e)
{
    char side[PATH_MAX], key[STORE_UID_MAX + 1];
    bool persisted = (s && store_side(s, path, side, sizeof side)) ||
                     (c && cache_key(c, path, key, sizeof key) &&
                      store_cache_side_path(c, key, "idx", side, sizeof side, NULL));
    if (how)
        *how = STORE_INDEX_PARSED;
    if (persisted) {
        struct err le = ERR_INIT;
        struct seg_index *idx = decoder_seg_index_load(side, path, limits, &le);
        if (idx) {
            if (how)
                *how = STORE_INDEX_LOADED;
            return idx;
        }
        if (le.code == ERR_LIMIT) { /* valid, but over the limits now in force */
            *e = le;
            return NULL;
        }
    }
    struct seg_index *idx = decoder_seg_open(path, limits, e);
    if (idx && persisted) {
        struct err se = ERR_INIT;
        if (store_seg_index_save(s, c, path, idx, &se) && how)
            *how = STORE_INDEX_PERSISTED;
    }
    return idx;
}
