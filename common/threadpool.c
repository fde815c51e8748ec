/* Ring buffer of jobs under one mutex; workers sleep on a condition variable. */
#include "common/threadpool.h"

#include <pthread.h>
#include <stdlib.h>

struct job {
    threadpool_job_fn fn;
    void *arg;
};

struct threadpool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct job *ring;
    size_t cap, head, count, running;
    bool stopping;
    pthread_t *threads;
    unsigned n_threads;
};

static void *worker(void *p)
{
    struct threadpool *tp = p;
    pthread_mutex_lock(&tp->mu);
    for (;;) {
        while (!tp->count && !tp->stopping)
            pthread_cond_wait(&tp->cv, &tp->mu);
        if (!tp->count && tp->stopping)
            break;
        struct job j = tp->ring[tp->head];
        tp->head = (tp->head + 1) % tp->cap;
        tp->count--;
        tp->running++;
        pthread_mutex_unlock(&tp->mu);
        j.fn(j.arg);
        pthread_mutex_lock(&tp->mu);
        tp->running--;
    }
    pthread_mutex_unlock(&tp->mu);
    return NULL;
}

struct threadpool *threadpool_new(unsigned workers, unsigned queue, struct err *e)
{
    if (!workers || !queue) {
        err_set(e, ERR_INVALID, "thread pool needs at least one worker and one queue slot");
        return NULL;
    }
    struct threadpool *tp = calloc(1, sizeof *tp);
    if (!tp) {
        err_set(e, ERR_NOMEM, "out of memory for thread pool");
        return NULL;
    }
    tp->cap = queue;
    tp->ring = calloc(queue, sizeof *tp->ring);
    tp->threads = calloc(workers, sizeof *tp->threads);
    if (!tp->ring || !tp->threads) {
        free(tp->ring);
        free(tp->threads);
        free(tp);
        err_set(e, ERR_NOMEM, "out of memory for thread pool");
        return NULL;
    }
    pthread_mutex_init(&tp->mu, NULL);
    pthread_cond_init(&tp->cv, NULL);
    for (unsigned i = 0; i < workers; i++) {
        if (pthread_create(&tp->threads[i], NULL, worker, tp)) {
            err_set(e, ERR_INTERNAL, "cannot start worker thread %u", i);
            threadpool_free(tp);
            return NULL;
        }
        tp->n_threads++;
    }
    return tp;
}

bool threadpool_submit(struct threadpool *tp, threadpool_job_fn fn, void *arg)
{
    bool ok = false;
    pthread_mutex_lock(&tp->mu);
    if (!tp->stopping && tp->count < tp->cap) {
        tp->ring[(tp->head + tp->count) % tp->cap] = (struct job){fn, arg};
        tp->count++;
        ok = true;
        pthread_cond_signal(&tp->cv);
    }
    pthread_mutex_unlock(&tp->mu);
    return ok;
}

size_t threadpool_queued(struct threadpool *tp)
{
    pthread_mutex_lock(&tp->mu);
    size_t n = tp->count;
    pthread_mutex_unlock(&tp->mu);
    return n;
}

size_t threadpool_running(struct threadpool *tp)
{
    pthread_mutex_lock(&tp->mu);
    size_t n = tp->running;
    pthread_mutex_unlock(&tp->mu);
    return n;
}

void threadpool_stop(struct threadpool *tp)
{
    pthread_mutex_lock(&tp->mu);
    tp->stopping = true;
    pthread_cond_broadcast(&tp->cv);
    unsigned n = tp->n_threads;
    tp->n_threads = 0;
    pthread_mutex_unlock(&tp->mu);
    for (unsigned i = 0; i < n; i++)
        pthread_join(tp->threads[i], NULL);
}

void threadpool_free(struct threadpool *tp)
{
    if (!tp)
        return;
    threadpool_stop(tp);
    pthread_mutex_destroy(&tp->mu);
    pthread_cond_destroy(&tp->cv);
    free(tp->ring);
    free(tp->threads);
    free(tp);
}
