/* The upstream object cache: whole objects pulled from the upstream archive,
 * kept on disk in a directory of their own (never the store), bounded by bytes,
 * least recently used first out, surviving restarts.
 *
 *   <dir>/objects/<key>.dcm    one object, byte for byte as pulled
 *   <dir>/objects/<key>.idx    an optional side file of the same entry (e.g. a
 *                              persisted index), counted and evicted with it
 *   <dir>/tmp/                 fills in progress (emptied at open)
 *
 * Keys are SOP Instance UIDs (digits and dots, at most 64 characters).
 *
 * Recency is each .dcm file's access time, set explicitly on a hit (the
 * modification time, which readers may use to notice a changed file, is left
 * alone), so the LRU order survives a restart: open() scans objects/ and sorts.
 *
 * Single flight: concurrent store_cache_get() calls for one missing key run
 * one fill; the others wait for it and share its result, success or error.
 *
 * Pinning: a successful get pins the entry; it is not evicted (its file not
 * unlinked) until store_cache_release(). While everything is pinned the cache
 * may go over its budget; the next fill or release evicts it back under.
 *
 * Thread safety: every function may be called from any thread. */
#ifndef SEGWEB_STORE_CACHE_OBJECTS_H
#define SEGWEB_STORE_CACHE_OBJECTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct store_cache;

struct store_cache_stats {
    uint64_t hits, misses; /* gets answered from disk / that ran or waited for a fill */
    uint64_t fills, fill_errors, shared; /* fills run, failed, gets that waited for another's fill */
    uint64_t evictions;
    uint64_t bytes, entries, budget;
};

/* Opens (creating) the cache at dir with a budget of max_bytes (> 0). Files
 * already there are taken in (oldest access first out) and the cache is
 * evicted down to the budget. NULL with e set on failure. */
struct store_cache *store_cache_open(const char *dir, uint64_t max_bytes, struct err *e);
/* NULL is fine. Nothing may be pinned or filling. */
void store_cache_close(struct store_cache *c);

/* Writes the object for a miss into fd (an empty temp file at tmp_path, which
 * the cache owns, closes and renames or unlinks); at most max_bytes. Returns
 * false with e set when the object cannot be had or fails a check: nothing is
 * then cached. */
typedef bool (*store_cache_fill_fn)(void *arg, int fd, const char *tmp_path, uint64_t max_bytes,
                                    struct err *e);

enum store_cache_how {
    STORE_CACHE_HIT,    /* was on disk */
    STORE_CACHE_FILLED, /* this call ran the fill */
    STORE_CACHE_SHARED, /* another call's fill, waited for */
};

/* The file of key in path, pinned (release it with store_cache_release). On a
 * miss runs fill (single flight); fill NULL: a miss is ERR_NOT_FOUND. how may
 * be NULL. False with e set: ERR_INVALID for a bad key, the fill's error (also
 * for the callers that shared it), ERR_LIMIT when the object is larger than
 * the whole budget, ERR_IO. */
bool store_cache_get(struct store_cache *c, const char *key, store_cache_fill_fn fill, void *arg,
                     char *path, size_t pathsz, enum store_cache_how *how, struct err *e);

/* Unpins an entry pinned by store_cache_get. */
void store_cache_release(struct store_cache *c, const char *key);

/* The path of key's side file with the given suffix ("idx"), whether or not it
 * exists. Write it with store_cache_side_put so its bytes are counted. */
bool store_cache_side_path(struct store_cache *c, const char *key, const char *suffix, char *path,
                           size_t pathsz, struct err *e);
/* Moves tmp_path (written by the caller, anywhere on the cache's file system,
 * e.g. from store_cache_tmp) into place as key's side file; the entry must be
 * cached (pinned by the caller). Consumes tmp_path. */
bool store_cache_side_put(struct store_cache *c, const char *key, const char *suffix, const char *tmp_path,
                          struct err *e);
/* A fresh empty temp file in tmp/ (mode 0600): path and an open fd (caller closes). */
bool store_cache_tmp(struct store_cache *c, char *path, size_t pathsz, int *fd, struct err *e);

/* Drops an entry (e.g. found unusable). Pinned entries are dropped from the
 * index at once and their files unlinked at once (open readers keep theirs). */
void store_cache_remove(struct store_cache *c, const char *key);

void store_cache_stats_get(struct store_cache *c, struct store_cache_stats *out);

#endif
