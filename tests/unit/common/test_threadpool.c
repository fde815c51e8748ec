/* common/threadpool.c: bounded queue refuses when full, stop runs queued jobs. */
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "common/threadpool.h"
#include "tests/unit/check.h"

static atomic_int done;
static atomic_bool gate;

static void slow(void *arg)
{
    (void)arg;
    while (!atomic_load(&gate)) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    atomic_fetch_add(&done, 1);
}

int main(void)
{
    struct err e = ERR_INIT;
    CHECK(!threadpool_new(0, 1, &e) && e.code == ERR_INVALID, "0 workers refused");
    e = (struct err)ERR_INIT;
    struct threadpool *tp = threadpool_new(2, 3, &e);
    CHECK(tp != NULL, "new: %s", e.msg);
    int accepted = 0;
    for (int i = 0; i < 20; i++) {
        if (threadpool_submit(tp, slow, NULL))
            accepted++;
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL); /* let workers take jobs */
    }
    CHECK(accepted == 5, "2 running + 3 queued accepted, got %d", accepted);
    CHECK(threadpool_queued(tp) == 3 && threadpool_running(tp) == 2, "queued %zu running %zu",
          threadpool_queued(tp), threadpool_running(tp));
    atomic_store(&gate, true);
    threadpool_stop(tp);
    CHECK(atomic_load(&done) == 5, "every accepted job ran (%d)", atomic_load(&done));
    CHECK(!threadpool_submit(tp, slow, NULL), "submit after stop refused");
    threadpool_free(tp);
    threadpool_free(NULL);
    return check_done();
}
