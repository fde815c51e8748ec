/* The producer/consumer byte pipe (see pipe.h): a ring buffer under one mutex. */
#include "api/pipe.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct api_pipe {
    pthread_mutex_t mu;
    pthread_cond_t not_full;
    uint8_t *ring;
    size_t cap, head, len; /* data is ring[head .. head+len) modulo cap */
    bool writer_done, writer_ok, reader_gone;
    bool waiting; /* the consumer is suspended */
    void (*wake)(void *);
    void *wake_arg;
    int refs;
};

struct api_pipe *api_pipe_new(size_t capacity, struct err *e)
{
    struct api_pipe *p = calloc(1, sizeof *p);
    if (!p || !(p->ring = malloc(capacity ? capacity : 1))) {
        free(p);
        err_set(e, ERR_NOMEM, "out of memory");
        return NULL;
    }
    p->cap = capacity ? capacity : 1;
    p->refs = 2;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->not_full, NULL);
    return p;
}

static void unref_locked(struct api_pipe *p)
{
    bool last = --p->refs == 0;
    pthread_mutex_unlock(&p->mu);
    if (last) {
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->not_full);
        free(p->ring);
        free(p);
    }
}

static void wake_locked(struct api_pipe *p)
{
    if (p->waiting) {
        p->waiting = false;
        if (p->wake)
            p->wake(p->wake_arg);
    }
}

bool api_pipe_write(struct api_pipe *p, const void *data, size_t n, struct err *e)
{
    const uint8_t *d = data;
    pthread_mutex_lock(&p->mu);
    while (n) {
        while (p->len == p->cap && !p->reader_gone)
            pthread_cond_wait(&p->not_full, &p->mu);
        if (p->reader_gone) {
            pthread_mutex_unlock(&p->mu);
            return err_set(e, ERR_IO, "the client went away");
        }
        size_t tail = (p->head + p->len) % p->cap;
        size_t room = p->cap - p->len;
        size_t chunk = tail + room <= p->cap ? room : p->cap - tail;
        if (chunk > n)
            chunk = n;
        memcpy(p->ring + tail, d, chunk);
        p->len += chunk;
        d += chunk;
        n -= chunk;
        wake_locked(p);
    }
    pthread_mutex_unlock(&p->mu);
    return true;
}

void api_pipe_close_write(struct api_pipe *p, bool ok)
{
    pthread_mutex_lock(&p->mu);
    p->writer_done = true;
    p->writer_ok = ok;
    wake_locked(p);
    unref_locked(p);
}

void api_pipe_set_wake(struct api_pipe *p, void (*wake)(void *arg), void *arg)
{
    pthread_mutex_lock(&p->mu);
    p->wake = wake;
    p->wake_arg = arg;
    pthread_mutex_unlock(&p->mu);
}

ssize_t api_pipe_read(struct api_pipe *p, void *buf, size_t max, void (*suspend)(void *arg), void *arg)
{
    pthread_mutex_lock(&p->mu);
    ssize_t r;
    if (p->len) {
        size_t first = p->cap - p->head < p->len ? p->cap - p->head : p->len;
        size_t n = p->len < max ? p->len : max;
        size_t a = n < first ? n : first;
        memcpy(buf, p->ring + p->head, a);
        if (n > a)
            memcpy((uint8_t *)buf + a, p->ring, n - a);
        p->head = (p->head + n) % p->cap;
        p->len -= n;
        pthread_cond_signal(&p->not_full);
        r = (ssize_t)n;
    } else if (p->writer_done) {
        r = p->writer_ok ? API_PIPE_EOF : API_PIPE_ERROR;
    } else {
        if (suspend)
            suspend(arg);
        p->waiting = true;
        r = API_PIPE_AGAIN;
    }
    pthread_mutex_unlock(&p->mu);
    return r;
}

void api_pipe_close_read(struct api_pipe *p)
{
    pthread_mutex_lock(&p->mu);
    p->reader_gone = true;
    p->waiting = false;
    p->wake = NULL;
    pthread_cond_broadcast(&p->not_full);
    unref_locked(p);
}
