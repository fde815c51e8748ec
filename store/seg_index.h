/* Persisted SEG indexes beside the objects (the format: decoder/seg_index_io.h).
 *
 *   store:  <dir>/instances/<study>/<series>/<sop>.idx   beside <sop>.dcm
 *   cache:  <cache>/objects/<sop>.idx                      the entry's side file
 *                                                          (counted, evicted with it)
 *
 * A persisted index is a cache of what decoder_seg_open builds, never the truth:
 * it names its object's size, inode and mtime, so a replaced object makes it
 * stale; a stale, torn or corrupt file is ignored and rewritten. Files under
 * --files-root are the user's tree: nothing is written there.
 *
 * Written atomically: a temp file (the store's or the cache's tmp/, so a crash
 * leaves nothing a restart does not clear), then rename over the old one, not
 * fsync'd (a torn file after a crash is refused by its length and CRC).
 * Removed with the object: store_delete, an overwrite, a cache eviction.
 *
 * Thread safety: any thread; two writers of one index both write valid files
 * and the last rename wins.
 *
 * Why a file beside the object and not rows in index.sqlite: the index lives and
 * dies with its object, and the object cache (not the store) has no database;
 * a side file is removed, evicted, counted and replaced by the same unlink and
 * rename as the object. Loading it is one read of contiguous bytes, where rows
 * would be one query per table (segments, frames, references, fragments) under
 * the store's single connection lock, which every STOW and QIDO also takes. And
 * a corrupt file costs one parse of one object, while a corrupt database page
 * stops the store until it is rebuilt (issue 13 item 4). */
#ifndef SEGWEB_STORE_SEG_INDEX_H
#define SEGWEB_STORE_SEG_INDEX_H

#include <stdbool.h>

#include "common/err.h"
#include "decoder/decoder.h"
#include "store/cache_objects.h"
#include "store/store.h"

/* How store_seg_index_open got the index. */
enum store_index_how {
    STORE_INDEX_PARSED,    /* decoder_seg_open: not an object of the store or the cache */
    STORE_INDEX_LOADED,    /* from the persisted file, without DCMTK */
    STORE_INDEX_PERSISTED, /* parsed, and the persisted file (re)written */
};

/* The index of the object at path: from its persisted file when path is an
 * object of store s or cache c (either may be NULL) and the file is valid,
 * else decoder_seg_open (and then persisted; a failure to persist is not an
 * error). how may be NULL. NULL with e set as decoder_seg_open fails. */
struct seg_index *store_seg_index_open(struct store *s, struct store_cache *c, const char *path,
                                       const struct seg_limits *limits, enum store_index_how *how,
                                       struct err *e);

/* Persists idx (built from any path, e.g. the upload's temp file before
 * store_instance_put renamed it) as the index of the object now at path, an
 * object of s or c. false with e set when path is neither's, or on I/O failure. */
bool store_seg_index_save(struct store *s, struct store_cache *c, const char *path, const struct seg_index *idx,
                          struct err *e);

#endif
