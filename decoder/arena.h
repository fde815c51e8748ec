/* Bump allocator with string interning: an index's strings and arrays live in
 * one arena and are freed together. Interning keeps repeated UIDs (thousands
 * of frames referencing a few source images) stored once. */
#ifndef SEGWEB_DECODER_ARENA_H
#define SEGWEB_DECODER_ARENA_H

#include <stddef.h>

struct arena;

struct arena *arena_new(void);
void arena_free(struct arena *a);

/* Zeroed memory, aligned for any type; NULL on allocation failure. */
void *arena_alloc(struct arena *a, size_t n);
/* Interned copy of s (NULL -> ""); NULL only on allocation failure. */
const char *arena_str(struct arena *a, const char *s);
/* Bytes held, for cache accounting. */
size_t arena_bytes(const struct arena *a);

#endif
