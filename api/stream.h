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

/* A file taken for a stream before any header is sent, so the bytes sent are
 * the bytes of the file whose size the headers announce, even if its name is
 * replaced meanwhile (DELETE + STOW, --overwrite). The first
 * API_STREAM_OPEN_MAX files of a stream are opened at once and read through
 * that descriptor; later ones (a study of thousands of instances must not
 * take thousands of descriptors) have their identity recorded (device,
 * inode, size, mtime) and checked when opened: a replaced file ends the
 * response with an error, never with other bytes. */
#define API_STREAM_OPEN_MAX 64
struct api_stream_file {
    int fd; /* -1: opened when reached */
    char *path;
    uint64_t size;
    uint64_t dev, ino;
    int64_t mtime_ns;
};
/* Opens (or records) path; f->size is what the stream will send. ERR_NOT_FOUND
 * when it is gone. On success, f goes to api_stream_add_taken(). */
bool api_stream_take_file(struct api_stream *s, const char *path, struct api_stream_file *f,
                          struct err *e);
/* Appends f (taken by api_stream_take_file); f is consumed either way. */
bool api_stream_add_taken(struct api_stream *s, struct api_stream_file *f, struct err *e);
/* Releases f when it will not be added. */
void api_stream_file_release(struct api_stream_file *f);
/* Appends a pipe (api/pipe.h) fed by a producer thread: len bytes, or
 * API_STREAM_SIZE_UNKNOWN (it must then be the last piece). The stream takes
 * the consumer's side of the pipe (closed by api_stream_free). */
struct api_pipe;
#define API_STREAM_SIZE_UNKNOWN UINT64_MAX
bool api_stream_add_pipe(struct api_stream *s, struct api_pipe *p, uint64_t len, struct err *e);
/* Total bytes, or API_STREAM_SIZE_UNKNOWN. */
uint64_t api_stream_size(const struct api_stream *s);
/* True when a read may answer API_STREAM_AGAIN (the stream has a pipe). */
bool api_stream_async(const struct api_stream *s);
/* The callback that ends a suspension (see api_stream_read_async). */
void api_stream_set_wake(struct api_stream *s, void (*wake)(void *arg), void *arg);
#define API_STREAM_AGAIN (-3)
/* As api_stream_read, for streams with a pipe: API_STREAM_AGAIN when no byte is
 * there yet (suspend(arg) was called first; the wake callback follows), 0 at
 * the end, -1 on an error (a producer failure included). */
ssize_t api_stream_read_async(struct api_stream *s, uint64_t pos, void *buf, size_t max,
                              void (*suspend)(void *arg), void *arg);
/* Copies up to max bytes starting at pos (reads must be sequential) into buf.
 * Returns the count, or -1 on an I/O error (a file vanished or shrank). */
ssize_t api_stream_read(struct api_stream *s, uint64_t pos, void *buf, size_t max);
/* NULL is fine. */
void api_stream_free(struct api_stream *s);

#endif
