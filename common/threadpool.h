/* A fixed set of worker threads draining a bounded FIFO queue (after curl's
 * thread-pool contract: jobs cannot fail; each job carries its own result).
 *
 * threadpool_submit() never blocks: when `queue` jobs are already waiting it
 * returns false (the HTTP layer answers 503). threadpool_free() runs every job
 * already queued, then joins the workers. */
#ifndef SEGWEB_COMMON_THREADPOOL_H
#define SEGWEB_COMMON_THREADPOOL_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

struct threadpool;

typedef void (*threadpool_job_fn)(void *arg);

/* New pool of `workers` threads and room for `queue` waiting jobs, or NULL with e set. */
struct threadpool *threadpool_new(unsigned workers, unsigned queue, struct err *e);

/* Queues fn(arg). false when the queue is full or the pool is stopping; the
 * caller keeps ownership of arg then. */
bool threadpool_submit(struct threadpool *tp, threadpool_job_fn fn, void *arg);

/* Jobs waiting (not yet started) and jobs running right now. */
size_t threadpool_queued(struct threadpool *tp);
size_t threadpool_running(struct threadpool *tp);

/* Refuses new jobs, finishes the queued ones and joins the workers. Idempotent. */
void threadpool_stop(struct threadpool *tp);

/* threadpool_stop, then frees. NULL is fine. */
void threadpool_free(struct threadpool *tp);

#endif
