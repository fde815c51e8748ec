/* Encoded-PNG cache: the finished PNG of a frame, keyed by (index, frame,
 * style), bounded by bytes, least recently used out first.
 *
 * Why: in a profile of warm random-frame requests (bench/RESULTS.md) zlib's
 * deflate + adler32 and the row conversion were over half of the server's CPU;
 * a viewer scrolling a series asks for the same frames again and again. A hit
 * costs one hash lookup and a copy of ~1-7 KB.
 *
 * The key holds the index pointer. That is sound because the index cache
 * frees an index only after its last user released it, and calls
 * api_png_cache_forget() first (api/handle.c), so a later index allocated at
 * the same address never sees the old entries. Handlers insert while they hold
 * their reference.
 *
 * One process-wide cache behind one mutex (the critical sections are a hash
 * probe and a list splice). Budget 0 (the default until configured) = off. */
#ifndef SEGWEB_API_PNG_CACHE_H
#define SEGWEB_API_PNG_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* Sets the byte budget (PNG bytes plus per-entry overhead); 0 turns the cache
 * off and empties it. Call before serving (not thread safe against lookups of
 * a cache being resized). */
void api_png_cache_configure(size_t budget_bytes);

/* On a hit appends the cached PNG to out (a copy) and returns true. False on a
 * miss, when off, or when out of memory for the copy (then out is unchanged). */
bool api_png_cache_get(const void *idx, uint32_t frame, bool color, struct buf *out);

/* Stores a copy of png for the key (replacing nothing: a concurrent insert of
 * the same key keeps the first). Silently does nothing when off, when the PNG
 * alone exceeds an eighth of the budget, or when out of memory. */
void api_png_cache_put(const void *idx, uint32_t frame, bool color, const uint8_t *png, size_t len);

/* Drops every entry of idx. Called before an index is freed. */
void api_png_cache_forget(const void *idx);

struct api_png_cache_stats {
    uint64_t hits, misses, inserts, evictions;
    size_t bytes, budget, entries;
};
void api_png_cache_stats(struct api_png_cache_stats *out);

#endif
