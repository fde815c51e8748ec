/* common/file_cache.c with a fake loader: hits, single flight, LRU under a byte budget,
 * references pin entries, stale identity reloads, failures are not cached, the
 * descriptor budget closes and reopens. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/file_cache.h"
#include "tests/unit/check.h"

static atomic_int loads, frees;
static int load_delay_ms;

struct value {
    char key[64];
    int generation;
};

static void *load(void *arg, const char *path, size_t *bytes, struct err *e)
{
    (void)arg;
    atomic_fetch_add(&loads, 1);
    if (load_delay_ms) {
        struct timespec ts = {0, load_delay_ms * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (strstr(path, "bad")) {
        err_set(e, ERR_INVALID, "not a SEG: %s", path);
        return NULL;
    }
    struct value *v = calloc(1, sizeof *v);
    snprintf(v->key, sizeof v->key, "%s", path);
    v->generation = atomic_load(&loads);
    *bytes = strstr(path, "big") ? 1000 : 100;
    return v;
}

static void vfree(void *v)
{
    atomic_fetch_add(&frees, 1);
    free(v);
}

static struct file_id ID = {1, 2, 3, 4};

struct thr {
    struct file_cache *c;
    const char *key;
    struct file_cache_entry *en;
};

static void *getter(void *p)
{
    struct thr *t = p;
    struct err e = ERR_INIT;
    t->en = file_cache_get(t->c, t->key, &ID, &e);
    return NULL;
}

/* The descriptor budget: values "open" until closed; a hit on a closed one reopens
 * it; referenced ones are never closed; a reopen that finds another file reloads,
 * one out of descriptors fails with ERR_EXHAUSTED. */
static atomic_int closes, reopens;
static int reopen_fails; /* 0: ok, 1: changed file, 2: EMFILE */

static void vclose(void *v)
{
    ((struct value *)v)->generation = -1; /* marks it closed */
    atomic_fetch_add(&closes, 1);
}

static bool vreopen(void *v, const char *path, const struct file_id *id, struct err *e)
{
    (void)path;
    (void)id;
    if (reopen_fails)
        return err_set(e, reopen_fails == 2 ? ERR_EXHAUSTED : ERR_NOT_FOUND, "reopen failed");
    ((struct value *)v)->generation = 0;
    atomic_fetch_add(&reopens, 1);
    return true;
}

static void descriptors(void)
{
    struct err e = ERR_INIT;
    struct file_cache *c = file_cache_new(1 << 20, load, vfree, NULL, &e);
    file_cache_set_descriptors(c, 2, vclose, vreopen);
    struct file_cache_entry *held = file_cache_get(c, "d1", &ID, &e); /* referenced throughout */
    const char *keys[] = {"d2", "d3", "d4", "d5"};
    for (int i = 0; i < 4; i++)
        file_cache_release(c, file_cache_get(c, keys[i], &ID, &e));
    struct file_cache_stats st;
    file_cache_stats_get(c, &st);
    CHECK(st.open == 2 && st.max_open == 2 && atomic_load(&closes) == 3, "budget of 2: open %zu, closes %d",
          st.open, atomic_load(&closes));
    CHECK(((struct value *)file_cache_value(held))->generation != -1, "a referenced value is never closed");
    struct file_cache_entry *en = file_cache_get(c, "d2", &ID, &e); /* closed: reopened */
    CHECK(en && atomic_load(&reopens) == 1 && ((struct value *)file_cache_value(en))->generation == 0,
          "a hit on a closed entry reopens it");
    file_cache_release(c, en);
    reopen_fails = 2;
    e = (struct err)ERR_INIT;
    en = file_cache_get(c, "d3", &ID, &e);
    CHECK(!en && e.code == ERR_EXHAUSTED, "out of descriptors: ERR_EXHAUSTED (%s)", e.msg);
    reopen_fails = 1;
    int before = atomic_load(&loads);
    e = (struct err)ERR_INIT;
    en = file_cache_get(c, "d3", &ID, &e);
    CHECK(en && atomic_load(&loads) == before + 1, "another file: loaded again");
    file_cache_release(c, en);
    reopen_fails = 0;
    file_cache_release(c, held);
    file_cache_free(c);
}

int main(void)
{
    descriptors();
    atomic_store(&loads, 0);
    atomic_store(&frees, 0);
    struct err e = ERR_INIT;
    struct file_cache *c = file_cache_new(350, load, vfree, NULL, &e);
    CHECK(c != NULL, "new");

    /* hit after miss */
    struct file_cache_entry *a = file_cache_get(c, "a", &ID, &e);
    CHECK(a && !strcmp(((struct value *)file_cache_value(a))->key, "a"), "load a");
    file_cache_release(c, a);
    a = file_cache_get(c, "a", &ID, &e);
    CHECK(a && atomic_load(&loads) == 1, "hit a (loads %d)", atomic_load(&loads));
    file_cache_release(c, a);

    /* LRU eviction under the budget: a,b,c = 300; d pushes out the LRU (b, since a was used) */
    struct file_cache_entry *b = file_cache_get(c, "b", &ID, &e);
    file_cache_release(c, b);
    struct file_cache_entry *cc = file_cache_get(c, "c", &ID, &e);
    file_cache_release(c, cc);
    a = file_cache_get(c, "a", &ID, &e); /* a most recent */
    file_cache_release(c, a);
    struct file_cache_entry *d = file_cache_get(c, "d", &ID, &e);
    file_cache_release(c, d);
    struct file_cache_stats st;
    file_cache_stats_get(c, &st);
    CHECK(st.bytes <= 350 && st.evictions == 1 && st.entries == 3, "bytes %zu evictions %llu entries %zu",
          st.bytes, (unsigned long long)st.evictions, st.entries);
    int before = atomic_load(&loads);
    a = file_cache_get(c, "a", &ID, &e);
    file_cache_release(c, a);
    CHECK(atomic_load(&loads) == before, "a survived eviction");
    b = file_cache_get(c, "b", &ID, &e);
    file_cache_release(c, b);
    CHECK(atomic_load(&loads) == before + 1, "b was evicted and reloaded");

    /* a referenced entry is never freed; an over-budget value is served */
    struct file_cache_entry *big = file_cache_get(c, "big", &ID, &e);
    CHECK(big && !strcmp(((struct value *)file_cache_value(big))->key, "big"), "big served");
    file_cache_stats_get(c, &st);
    CHECK(st.bytes >= 1000, "big pinned while referenced (%zu)", st.bytes);
    file_cache_release(c, big);
    file_cache_stats_get(c, &st);
    CHECK(st.bytes <= 350, "big evicted after release (%zu)", st.bytes);

    /* stale identity: reload, old value freed once unreferenced */
    a = file_cache_get(c, "a", &ID, &e);
    int gen = ((struct value *)file_cache_value(a))->generation;
    struct file_id changed = ID;
    changed.mtime_ns++;
    int f0 = atomic_load(&frees);
    struct file_cache_entry *a2 = file_cache_get(c, "a", &changed, &e);
    CHECK(a2 && a2 != a && ((struct value *)file_cache_value(a2))->generation != gen, "stale reloaded");
    CHECK(atomic_load(&frees) == f0, "old value alive while referenced");
    CHECK(((struct value *)file_cache_value(a))->generation == gen, "old value intact");
    file_cache_release(c, a);
    CHECK(atomic_load(&frees) == f0 + 1, "old value freed on release");
    file_cache_release(c, a2);

    /* failures: error passed through, not cached */
    e = (struct err)ERR_INIT;
    before = atomic_load(&loads);
    CHECK(!file_cache_get(c, "bad", &ID, &e) && e.code == ERR_INVALID, "bad: %s", e.msg);
    e = (struct err)ERR_INIT;
    CHECK(!file_cache_get(c, "bad", &ID, &e) && atomic_load(&loads) == before + 2, "failure not cached");

    /* single flight: 16 concurrent misses, one load */
    load_delay_ms = 100;
    before = atomic_load(&loads);
    pthread_t th[16];
    struct thr t[16];
    for (int i = 0; i < 16; i++) {
        t[i] = (struct thr){c, "sf", NULL};
        pthread_create(&th[i], NULL, getter, &t[i]);
    }
    for (int i = 0; i < 16; i++)
        pthread_join(th[i], NULL);
    CHECK(atomic_load(&loads) == before + 1, "single flight: %d loads", atomic_load(&loads) - before);
    bool same = true;
    for (int i = 0; i < 16; i++) {
        same = same && t[i].en == t[0].en && t[i].en;
    }
    CHECK(same, "all waiters share one entry");
    for (int i = 0; i < 16; i++)
        file_cache_release(c, t[i].en);
    /* single flight on failure too */
    before = atomic_load(&loads);
    for (int i = 0; i < 8; i++) {
        t[i] = (struct thr){c, "bad2", NULL};
        pthread_create(&th[i], NULL, getter, &t[i]);
    }
    for (int i = 0; i < 8; i++)
        pthread_join(th[i], NULL);
    bool none = true;
    for (int i = 0; i < 8; i++)
        none = none && !t[i].en;
    CHECK(none && atomic_load(&loads) - before >= 1 && atomic_load(&loads) - before <= 8, "failed flight");
    file_cache_stats_get(c, &st);
    CHECK(st.coalesced >= 1, "coalesced counted (%llu)", (unsigned long long)st.coalesced);
    file_cache_free(c);
    return check_done();
}
