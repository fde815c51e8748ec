/* api/pipe: 1 MiB through a 4 KiB pipe with a consumer that only reads after
 * being woken (as libmicrohttpd resumes a suspended connection), byte-exact;
 * a producer failure ends the read with API_PIPE_ERROR; a consumer that goes
 * away makes the producer's next write fail. */
#include "api/pipe.h"
#include "tests/unit/check.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK1(c) CHECK(c, "%s", #c)

#define TOTAL (1 << 20)

struct consumer {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool suspended;
    int suspends, wakes;
};

static void suspend(void *arg)
{
    struct consumer *c = arg;
    pthread_mutex_lock(&c->mu);
    if (c->suspended)
        abort(); /* suspended twice without a wake */
    c->suspended = true;
    c->suspends++;
    pthread_mutex_unlock(&c->mu);
}

static void wake(void *arg)
{
    struct consumer *c = arg;
    pthread_mutex_lock(&c->mu);
    if (!c->suspended)
        abort(); /* a wake before its suspend */
    c->suspended = false;
    c->wakes++;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

struct producer {
    struct api_pipe *p;
    bool fail;
    bool write_failed;
};

static void *produce(void *arg)
{
    struct producer *pr = arg;
    unsigned char chunk[3001];
    size_t sent = 0;
    while (sent < TOTAL) {
        size_t n = TOTAL - sent < sizeof chunk ? TOTAL - sent : sizeof chunk;
        for (size_t i = 0; i < n; i++)
            chunk[i] = (unsigned char)((sent + i) * 7);
        struct err e = ERR_INIT;
        if (!api_pipe_write(pr->p, chunk, n, &e)) {
            pr->write_failed = true;
            break;
        }
        sent += n;
        if (sent % 65536 < sizeof chunk)
            usleep(1000);
    }
    api_pipe_close_write(pr->p, !pr->fail);
    return NULL;
}

static ssize_t run(bool fail, size_t stop_after)
{
    struct err e = ERR_INIT;
    struct api_pipe *p = api_pipe_new(4096, &e);
    struct consumer c = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0, 0};
    api_pipe_set_wake(p, wake, &c);
    struct producer pr = {p, fail, false};
    pthread_t th;
    pthread_create(&th, NULL, produce, &pr);
    size_t got = 0;
    ssize_t last = 0;
    unsigned char buf[1500];
    for (;;) {
        if (stop_after && got >= stop_after) {
            api_pipe_close_read(p);
            p = NULL;
            break;
        }
        ssize_t n = api_pipe_read(p, buf, sizeof buf, suspend, &c);
        if (n > 0) {
            for (ssize_t i = 0; i < n; i++)
                if (buf[i] != (unsigned char)((got + (size_t)i) * 7)) {
                    fprintf(stderr, "byte %zu differs\n", got + (size_t)i);
                    check_failed++;
                    break;
                }
            got += (size_t)n;
            continue;
        }
        if (n == API_PIPE_AGAIN) {
            pthread_mutex_lock(&c.mu);
            while (c.suspended)
                pthread_cond_wait(&c.cv, &c.mu);
            pthread_mutex_unlock(&c.mu);
            continue;
        }
        last = n;
        break;
    }
    if (p)
        api_pipe_close_read(p);
    pthread_join(th, NULL);
    if (!stop_after) {
        CHECK1(got == TOTAL);
        CHECK1(c.suspends == c.wakes && c.suspends > 0);
    } else {
        CHECK1(pr.write_failed);
    }
    return last;
}

int main(void)
{
    CHECK1(run(false, 0) == API_PIPE_EOF);
    CHECK1(run(true, 0) == API_PIPE_ERROR);
    run(false, 100000);
    return check_done();
}
