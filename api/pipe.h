/* A bounded byte pipe from a producer thread (a worker streaming an upstream
 * answer) to the HTTP thread that sends it, so a proxied body is never held
 * whole: the producer blocks while the pipe is full, the consumer never blocks.
 *
 * The consumer's read returns API_PIPE_AGAIN when nothing is there yet; before
 * it does, it calls the consumer's suspend callback under the pipe's lock, and
 * the next write or close calls the wake callback (under the same lock), so a
 * wake-up can never come before the suspend it ends (libmicrohttpd's
 * MHD_suspend_connection / MHD_resume_connection pair).
 *
 * Both sides hold a reference; the pipe is freed when both have let go. When the
 * consumer lets go first (the client went away), the producer's next write
 * fails, which stops the upstream transfer. */
#ifndef SEGWEB_API_PIPE_H
#define SEGWEB_API_PIPE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/err.h"

struct api_pipe;

#define API_PIPE_AGAIN 0   /* nothing yet: the consumer is suspended until woken */
#define API_PIPE_EOF (-1)  /* the producer closed: the body is complete */
#define API_PIPE_ERROR (-2) /* the producer failed: end the body with an error */

struct api_pipe *api_pipe_new(size_t capacity, struct err *e);

/* Producer: copies n bytes in, waiting while the pipe is full. False when the
 * consumer has gone (e set, ERR_IO). */
bool api_pipe_write(struct api_pipe *p, const void *data, size_t n, struct err *e);
/* Producer: the end (ok) or a failure; drops the producer's reference. */
void api_pipe_close_write(struct api_pipe *p, bool ok);

/* Consumer: sets the wake callback (before the first read). */
void api_pipe_set_wake(struct api_pipe *p, void (*wake)(void *arg), void *arg);
/* Consumer: up to max bytes into buf; > 0 the count, or API_PIPE_AGAIN (after
 * calling suspend(arg) under the lock), API_PIPE_EOF or API_PIPE_ERROR. */
ssize_t api_pipe_read(struct api_pipe *p, void *buf, size_t max, void (*suspend)(void *arg), void *arg);
/* Consumer: done (or gone); drops the consumer's reference. */
void api_pipe_close_read(struct api_pipe *p);

#endif
