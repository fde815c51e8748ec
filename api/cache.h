/* The decoded-index cache: values built by a loader (decoder_seg_open in the
 * service) kept under a byte budget, least recently used out first.
 *
 * - Entries are reference counted: api_cache_get() hands out a reference that
 *   the caller gives back with api_cache_release(); the value is shared
 *   read-only by concurrent requests and never freed while referenced.
 * - Single flight: concurrent misses for one key wait for the one load.
 * - Each lookup passes the file's identity (device, inode, size, mtime); an
 *   entry whose identity differs is stale: it is dropped (freed once the last
 *   reference goes) and the file is loaded again.
 * - Failed loads are not cached; the waiters of that load get its error.
 * - Entries in use are never evicted, so the budget can be exceeded while they
 *   are referenced; one value larger than the whole budget is served and
 *   evicted once released. */
#ifndef SEGWEB_API_CACHE_H
#define SEGWEB_API_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct api_file_id {
    uint64_t dev, ino, size;
    int64_t mtime_ns;
};

/* Builds the value for path; sets *bytes to its memory size. NULL with e set on failure. */
typedef void *(*api_cache_load_fn)(void *arg, const char *path, size_t *bytes, struct err *e);
typedef void (*api_cache_free_fn)(void *value);

struct api_cache;
struct api_cache_entry;

struct api_cache_stats {
    uint64_t hits, misses, coalesced, load_failures, evictions, stale;
    uint64_t loads;
    double load_seconds; /* total time spent loading */
    size_t bytes, entries, budget;
};

struct api_cache *api_cache_new(size_t budget_bytes, api_cache_load_fn load,
                                api_cache_free_fn free_fn, void *arg, struct err *e);

/* A referenced entry for path (loading it if needed), or NULL with e set to the
 * loader's error. */
struct api_cache_entry *api_cache_get(struct api_cache *c, const char *path,
                                      const struct api_file_id *id, struct err *e);

/* The same, but a miss loads from load_path (NULL: path), while the entry is
 * kept under path: a descriptor name ("/proc/self/fd/N", api/path_confine.h)
 * so the loader reads the file that was checked, not whatever path names by
 * then. The caller keeps that descriptor open until this returns. */
struct api_cache_entry *api_cache_get_at(struct api_cache *c, const char *path, const char *load_path,
                                         const struct api_file_id *id, struct err *e);

/* The value (borrowed; valid until the entry is released). */
void *api_cache_value(const struct api_cache_entry *en);
const struct api_file_id *api_cache_entry_id(const struct api_cache_entry *en);

void api_cache_release(struct api_cache *c, struct api_cache_entry *en);

void api_cache_stats_get(struct api_cache *c, struct api_cache_stats *out);

/* Frees every entry; no reference may be outstanding. NULL is fine. */
void api_cache_free(struct api_cache *c);

#endif
