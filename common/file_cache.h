/* A cache of values built from files, keyed by path and file identity: values built
 * by a loader (in the service: decoder_seg_open, the decoded-index cache of
 * api_index_cache_new) kept under a byte budget, least recently used out first.
 * Generic: it knows nothing of what the values are.
 *
 * - Entries are reference counted: file_cache_get() hands out a reference that
 *   the caller gives back with file_cache_release(); the value is shared
 *   read-only by concurrent requests and never freed while referenced.
 * - Single flight: concurrent misses for one key wait for the one load.
 * - Each lookup passes the file's identity (device, inode, size, mtime); an
 *   entry whose identity differs is stale: it is dropped (freed once the last
 *   reference goes) and the file is loaded again.
 * - Failed loads are not cached; the waiters of that load get its error.
 * - Entries in use are never evicted, so the budget can be exceeded while they
 *   are referenced; one value larger than the whole budget is served and
 *   evicted once released.
 * - Descriptors (file_cache_set_descriptors): values that keep their file open
 *   (a decoded index does, for pread) are closed, least recently used first,
 *   once more than max_open are open, and reopened on their next hit, so the
 *   entries a byte budget allows never exhaust RLIMIT_NOFILE. Referenced entries
 *   stay open (max_open can be exceeded by the requests in flight). */
#ifndef SEGWEB_COMMON_FILE_CACHE_H
#define SEGWEB_COMMON_FILE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct file_id {
    uint64_t dev, ino, size;
    int64_t mtime_ns;
};

/* Builds the value for path; sets *bytes to its memory size. NULL with e set on failure. */
typedef void *(*file_cache_load_fn)(void *arg, const char *path, size_t *bytes, struct err *e);
typedef void (*file_cache_free_fn)(void *value);

struct file_cache;
struct file_cache_entry;

struct file_cache_stats {
    uint64_t hits, misses, coalesced, load_failures, evictions, stale;
    uint64_t closes, reopens; /* descriptors closed for the budget, reopened on a hit */
    size_t open, max_open;    /* values holding a descriptor now; the budget (0: none) */
    uint64_t loads;
    double load_seconds; /* total time spent loading */
    size_t bytes, entries, budget;
};

struct file_cache *file_cache_new(size_t budget_bytes, file_cache_load_fn load,
                                file_cache_free_fn free_fn, void *arg, struct err *e);

/* Closes value's descriptor (value stays usable once reopened). */
typedef void (*file_cache_close_fn)(void *value);
/* Reopens value's file at path (a descriptor name for file_cache_get_at's
 * load_path), which must still be the file of identity id; false with e set
 * otherwise (ERR_EXHAUSTED when out of descriptors: the lookup fails with it;
 * anything else: the entry is dropped and loaded again). */
typedef bool (*file_cache_reopen_fn)(void *value, const char *path, const struct file_id *id, struct err *e);

/* At most max_open (> 0) values keep a descriptor while unreferenced. Call
 * before the first get. */
void file_cache_set_descriptors(struct file_cache *c, size_t max_open, file_cache_close_fn close_fn,
                                file_cache_reopen_fn reopen_fn);

/* A referenced entry for path (loading it if needed), or NULL with e set to the
 * loader's error. */
struct file_cache_entry *file_cache_get(struct file_cache *c, const char *path,
                                      const struct file_id *id, struct err *e);

/* The same, but a miss loads from load_path (NULL: path), while the entry is
 * kept under path: a descriptor name ("/proc/self/fd/N", api/path_confine.h)
 * so the loader reads the file that was checked, not whatever path names by
 * then. The caller keeps that descriptor open until this returns. */
struct file_cache_entry *file_cache_get_at(struct file_cache *c, const char *path, const char *load_path,
                                         const struct file_id *id, struct err *e);

/* The value (borrowed; valid until the entry is released). */
void *file_cache_value(const struct file_cache_entry *en);
const struct file_id *file_cache_entry_id(const struct file_cache_entry *en);

void file_cache_release(struct file_cache *c, struct file_cache_entry *en);

void file_cache_stats_get(struct file_cache *c, struct file_cache_stats *out);

/* Frees every entry; no reference may be outstanding. NULL is fine. */
void file_cache_free(struct file_cache *c);

#endif
