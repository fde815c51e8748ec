/* A response body streamed in order from memory pieces and files, so a
 * retrieve of a large study never holds its objects in memory. Built by a
 * handler on a worker, read by server/http.c (sequentially, any chunk size). */
#ifndef SEGWEB_API_STREAM_H
#define SEGWEB_API_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

struct api_stream;

struct api_stream *api_stream_new(struct err *e);
/* Appends a copy of n bytes. */
bool api_stream_add_mem(struct api_stream *s, const void *p, size_t n, struct err *e);
/* Appends the first `size` bytes of the file at path (opened when reached). */
bool api_stream_add_file(struct api_stream *s, const char *path, uint64_t size, struct err *e);
/* Total bytes. */
uint64_t api_stream_size(const struct api_stream *s);
/* Copies up to max bytes starting at pos (reads must be sequential) into buf.
 * Returns the count, or -1 on an I/O error (a file vanished or shrank). */
ssize_t api_stream_read(struct api_stream *s, uint64_t pos, void *buf, size_t max);
/* NULL is fine. */
void api_stream_free(struct api_stream *s);

#endif
