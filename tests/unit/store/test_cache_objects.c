/* store/cache_objects: LRU eviction by bytes, pins, single flight (one fill for
 * concurrent misses, its error shared), nothing cached on a failed or too large
 * fill, recency surviving a reopen, side files counted and evicted. */
#include "store/cache_objects.h"
#include "tests/unit/check.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHECK1(c) CHECK(c, "%s", #c)

struct filler {
    size_t size;
    atomic_int calls;
    bool fail;
    unsigned delay_ms;
};

static bool fill(void *arg, int fd, const char *tmp, uint64_t max, struct err *e)
{
    struct filler *f = arg;
    atomic_fetch_add(&f->calls, 1);
    if (f->delay_ms)
        usleep(f->delay_ms * 1000);
    if (f->fail)
        return err_set(e, ERR_IO, "upstream said no");
    char b[256];
    memset(b, 'x', sizeof b);
    for (size_t left = f->size; left;) {
        size_t n = left < sizeof b ? left : sizeof b;
        if (write(fd, b, n) != (ssize_t)n)
            return err_set(e, ERR_IO, "write");
        left -= n;
    }
    return true;
}

static bool cached(const char *dir, const char *key)
{
    char p[512];
    snprintf(p, sizeof p, "%s/objects/%s.dcm", dir, key);
    return access(p, F_OK) == 0;
}

static bool get(struct store_cache *c, const char *key, struct filler *f, enum store_cache_how *how)
{
    char path[512];
    struct err e = ERR_INIT;
    bool ok = store_cache_get(c, key, f ? fill : NULL, f, path, sizeof path, how, &e);
    if (ok)
        store_cache_release(c, key);
    return ok;
}

struct par {
    struct store_cache *c;
    struct filler *f;
    bool ok;
    enum store_cache_how how;
    struct err e;
};
static void *par_get(void *arg)
{
    struct par *p = arg;
    char path[512];
    p->e = (struct err)ERR_INIT;
    p->ok = store_cache_get(p->c, "1.2.9", fill, p->f, path, sizeof path, &p->how, &p->e);
    if (p->ok)
        store_cache_release(p->c, "1.2.9");
    return NULL;
}

int main(void)
{
    char dir[] = "/tmp/segweb-cache-test-XXXXXX";
    CHECK1(mkdtemp(dir));
    struct err e = ERR_INIT;
    struct store_cache *c = store_cache_open(dir, 1000, &e);
    CHECK1(c);
    if (!c)
        return 1;
    struct filler f = {.size = 400};
    enum store_cache_how how;
    CHECK1(get(c, "1.2.1", &f, &how) && how == STORE_CACHE_FILLED);
    CHECK1(get(c, "1.2.1", &f, &how) && how == STORE_CACHE_HIT && f.calls == 1);
    CHECK1(get(c, "1.2.2", &f, &how) && how == STORE_CACHE_FILLED);
    usleep(20000);
    CHECK1(get(c, "1.2.1", &f, &how) && how == STORE_CACHE_HIT); /* 1.2.1 is now the most recent */
    CHECK1(get(c, "1.2.3", &f, &how) && how == STORE_CACHE_FILLED); /* 1200 > 1000: evicts 1.2.2 */
    CHECK1(cached(dir, "1.2.1") && !cached(dir, "1.2.2") && cached(dir, "1.2.3"));
    struct store_cache_stats st;
    store_cache_stats_get(c, &st);
    CHECK1(st.evictions == 1 && st.bytes == 800 && st.entries == 2 && st.hits == 2 && st.misses == 3);

    /* a pinned entry outlives the budget until released */
    char path[512];
    e = (struct err)ERR_INIT;
    CHECK1(store_cache_get(c, "1.2.1", fill, &f, path, sizeof path, NULL, &e)); /* pinned */
    CHECK1(get(c, "1.2.4", &f, &how) && how == STORE_CACHE_FILLED); /* evicts 1.2.3, not 1.2.1 */
    CHECK1(cached(dir, "1.2.1") && !cached(dir, "1.2.3") && cached(dir, "1.2.4"));
    struct filler big = {.size = 700};
    char path5[512];
    e = (struct err)ERR_INIT;
    /* 400 + 400 + 700: 1.2.4 goes; 1.2.1 and the new 1.2.5 are pinned */
    CHECK1(store_cache_get(c, "1.2.5", fill, &big, path5, sizeof path5, &how, &e) && how == STORE_CACHE_FILLED);
    CHECK1(cached(dir, "1.2.1") && !cached(dir, "1.2.4") && cached(dir, "1.2.5"));
    store_cache_stats_get(c, &st);
    CHECK1(st.bytes == 1100); /* over, while pinned */
    /* the budget is a hard bound: with 1.2.1 still pinned, 1.2.5 goes at its release */
    store_cache_release(c, "1.2.5");
    store_cache_stats_get(c, &st);
    CHECK1(st.bytes == 400 && !cached(dir, "1.2.5") && cached(dir, "1.2.1"));
    store_cache_release(c, "1.2.1");
    store_cache_stats_get(c, &st);
    CHECK1(st.bytes == 400 && cached(dir, "1.2.1"));

    /* misses without a fill, bad keys, a too large object, a failed fill */
    store_cache_stats_get(c, &st);
    uint64_t misses_before = st.misses;
    CHECK1(!get(c, "1.2.77", NULL, NULL));
    store_cache_stats_get(c, &st);
    CHECK1(st.misses == misses_before); /* a probe is not a miss: the get that fills counts it */
    e = (struct err)ERR_INIT;
    CHECK1(!store_cache_get(c, "../etc/passwd", fill, &f, path, sizeof path, NULL, &e) && e.code == ERR_INVALID);
    struct filler huge = {.size = 1001};
    e = (struct err)ERR_INIT;
    CHECK1(!store_cache_get(c, "1.2.6", fill, &huge, path, sizeof path, NULL, &e) && e.code == ERR_LIMIT);
    CHECK1(!cached(dir, "1.2.6"));
    struct filler bad = {.fail = true};
    CHECK1(!get(c, "1.2.7", &bad, NULL) && !cached(dir, "1.2.7"));

    /* single flight: 6 concurrent misses, one fill; then a failed one shared */
    struct filler slow = {.size = 100, .delay_ms = 150};
    pthread_t th[6];
    struct par ps[6];
    for (int i = 0; i < 6; i++) {
        ps[i] = (struct par){.c = c, .f = &slow};
        pthread_create(&th[i], NULL, par_get, &ps[i]);
    }
    int filled = 0, shared = 0;
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        CHECK1(ps[i].ok);
        filled += ps[i].how == STORE_CACHE_FILLED;
        shared += ps[i].how == STORE_CACHE_SHARED || ps[i].how == STORE_CACHE_HIT;
    }
    CHECK1(slow.calls == 1 && filled == 1 && shared == 5);
    store_cache_remove(c, "1.2.9");
    CHECK1(!cached(dir, "1.2.9"));
    struct filler slowbad = {.fail = true, .delay_ms = 150};
    for (int i = 0; i < 6; i++) {
        ps[i] = (struct par){.c = c, .f = &slowbad};
        pthread_create(&th[i], NULL, par_get, &ps[i]);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        CHECK1(!ps[i].ok && strstr(ps[i].e.msg, "upstream said no"));
    }
    CHECK1(slowbad.calls <= 2 && !cached(dir, "1.2.9")); /* one flight (a late caller may start a second) */

    /* side files count toward the budget and go with their object */
    CHECK1(get(c, "1.3.1", &f, &how));
    CHECK1(store_cache_get(c, "1.3.1", NULL, NULL, path, sizeof path, NULL, &e));
    char tmp[512];
    int fd;
    CHECK1(store_cache_tmp(c, tmp, sizeof tmp, &fd, &e));
    CHECK1(write(fd, "index", 5) == 5);
    close(fd);
    CHECK1(store_cache_side_put(c, "1.3.1", "idx", tmp, &e));
    store_cache_release(c, "1.3.1");
    char side[512];
    CHECK1(store_cache_side_path(c, "1.3.1", "idx", side, sizeof side, &e) && access(side, F_OK) == 0);
    store_cache_stats_get(c, &st);
    uint64_t before = st.bytes;

    /* reopen: same entries, same bytes, recency from the access times */
    usleep(20000);
    CHECK1(get(c, "1.2.1", &f, &how) && how == STORE_CACHE_HIT); /* most recent now */
    store_cache_close(c);
    c = store_cache_open(dir, 1000, &e);
    CHECK1(c);
    store_cache_stats_get(c, &st);
    CHECK1(st.bytes == before);
    CHECK1(get(c, "1.2.1", &f, &how) && how == STORE_CACHE_HIT);
    struct filler g = {.size = 500};
    CHECK1(get(c, "1.4.1", &g, &how)); /* 1.3.1 (+ side) is the oldest: evicted first */
    CHECK1(!cached(dir, "1.3.1") && access(side, F_OK) != 0 && cached(dir, "1.2.1"));
    store_cache_close(c);

    /* a smaller budget at reopen evicts down to it */
    c = store_cache_open(dir, 600, &e);
    store_cache_stats_get(c, &st);
    CHECK1(c && st.bytes == 500 && cached(dir, "1.4.1") && !cached(dir, "1.2.1"));
    store_cache_close(c);

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK1(system(cmd) == 0);
    return check_done();
}
