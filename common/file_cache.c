/* One mutex guards the hash table, the LRU list and the counters; loads run
 * outside it. A loading entry is in the table so later misses find it and wait
 * on the cache's condition variable. An entry leaves the table when evicted,
 * stale or failed ("detached") and is freed when its last reference goes.
 *
 * Descriptors: READY entries whose value holds an open file are counted
 * (c->n_open); past c->max_open, trim() closes the least recently used ones that
 * nobody references, walking the LRU list from its tail. A hit on a closed entry
 * reopens it under the lock (an open and an fstat, microseconds) before the
 * reference is handed out, so a value is never closed while in use. */
#include "common/file_cache.h"
#include "common/lru.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BUCKETS 4096

enum state { LOADING, READY, FAILED };

struct file_cache_entry {
    char *key;
    uint64_t hash;
    struct file_id id;
    enum state state;
    struct err err;
    void *value;
    size_t bytes;
    unsigned refs;
    bool attached;
    bool open; /* the value holds its descriptor (with a close_fn) */
    struct file_cache_entry *hnext;       /* bucket chain */
    struct lru_node lru; /* in the LRU list while READY and attached */
};

struct file_cache {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct file_cache_entry *buckets[BUCKETS];
    struct lru_list lru; /* most recent first */
    size_t budget, bytes, entries;
    file_cache_load_fn load;
    file_cache_free_fn free_fn;
    void *arg;
    struct file_cache_stats st;
    size_t n_open, max_open;
    file_cache_close_fn close_fn;
    file_cache_reopen_fn reopen_fn;
};

void file_cache_set_descriptors(struct file_cache *c, size_t max_open, file_cache_close_fn close_fn,
                                file_cache_reopen_fn reopen_fn)
{
    pthread_mutex_lock(&c->mu);
    c->max_open = max_open ? max_open : 1;
    c->close_fn = close_fn;
    c->reopen_fn = reopen_fn;
    pthread_mutex_unlock(&c->mu);
}

/* Closes descriptors of unreferenced entries, least recently used first, while
 * more than max_open are open. Lock held. */
static void trim(struct file_cache *c)
{
    for (struct lru_node *n = c->lru.tail; n && c->close_fn && c->n_open > c->max_open; n = n->prev) {
        struct file_cache_entry *en = LRU_ENTRY(n, struct file_cache_entry, lru);
        if (en->open && !en->refs) {
            c->close_fn(en->value);
            en->open = false;
            c->n_open--;
            c->st.closes++;
        }
    }
}

static uint64_t fnv(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

struct file_cache *file_cache_new(size_t budget_bytes, file_cache_load_fn load,
                                file_cache_free_fn free_fn, void *arg, struct err *e)
{
    struct file_cache *c = calloc(1, sizeof *c);
    if (!c) {
        err_set(e, ERR_NOMEM, "out of memory for the cache");
        return NULL;
    }
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    c->budget = budget_bytes;
    c->load = load;
    c->free_fn = free_fn;
    c->arg = arg;
    return c;
}

static void entry_destroy(struct file_cache *c, struct file_cache_entry *en)
{
    if (en->value && c->free_fn)
        c->free_fn(en->value);
    free(en->key);
    free(en);
}

/* Takes en out of the table (and the LRU and byte count). Lock held. */
static void detach(struct file_cache *c, struct file_cache_entry *en)
{
    if (!en->attached)
        return;
    struct file_cache_entry **pp = &c->buckets[en->hash % BUCKETS];
    while (*pp && *pp != en)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = en->hnext;
    en->hnext = NULL;
    if (en->state == READY) {
        lru_unlink(&c->lru, &en->lru);
        c->bytes -= en->bytes;
    }
    if (en->open) { /* it closes when freed: no longer counted */
        en->open = false;
        c->n_open--;
    }
    c->entries--;
    en->attached = false;
}

/* Evicts unreferenced entries from the LRU tail while over budget. Lock held. */
static void evict(struct file_cache *c)
{
    struct lru_node *n = c->lru.tail;
    while (n && c->bytes > c->budget) {
        struct lru_node *prev = n->prev;
        struct file_cache_entry *en = LRU_ENTRY(n, struct file_cache_entry, lru);
        if (!en->refs) {
            detach(c, en);
            entry_destroy(c, en);
            c->st.evictions++;
        }
        n = prev;
    }
}

static bool same_id(const struct file_id *a, const struct file_id *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime_ns == b->mtime_ns;
}

struct file_cache_entry *file_cache_get(struct file_cache *c, const char *path,
                                      const struct file_id *id, struct err *e)
{
    return file_cache_get_at(c, path, NULL, id, e);
}

/* Under c->mu: the entry of path, or NULL; a stale one (other identity) is dropped. */
static struct file_cache_entry *lookup(struct file_cache *c, const char *path, uint64_t h,
                                       const struct file_id *id)
{
    struct file_cache_entry *en = c->buckets[h % BUCKETS];
    while (en && !(en->hash == h && !strcmp(en->key, path)))
        en = en->hnext;
    if (en && !same_id(&en->id, id)) {
        c->st.stale++;
        detach(c, en);
        if (!en->refs && en->state != LOADING)
            entry_destroy(c, en);
        en = NULL;
    }
    return en;
}

/* Under c->mu, which it releases: a hit, or a wait for the load in flight. */
static struct file_cache_entry *use(struct file_cache *c, struct file_cache_entry *en, struct err *e)
{
    en->refs++;
    if (en->state == LOADING) {
        c->st.coalesced++;
        while (en->state == LOADING)
            pthread_cond_wait(&c->cv, &c->mu);
    } else {
        c->st.hits++;
        lru_unlink(&c->lru, &en->lru);
        lru_push_front(&c->lru, &en->lru);
        trim(c); /* after a reopen; en is referenced, so stays open */
    }
    if (en->state == FAILED) {
        if (e && e->code == ERR_OK)
            *e = en->err;
        en->refs--;
        if (!en->refs)
            entry_destroy(c, en);
        en = NULL;
    }
    pthread_mutex_unlock(&c->mu);
    return en;
}

/* Under c->mu: a new LOADING entry in the table, or NULL (out of memory). */
static struct file_cache_entry *entry_add(struct file_cache *c, const char *path, uint64_t h,
                                          const struct file_id *id)
{
    struct file_cache_entry *en = calloc(1, sizeof *en);
    char *key = strdup(path);
    if (!en || !key) {
        free(en);
        free(key);
        return NULL;
    }
    en->key = key;
    en->hash = h;
    en->id = *id;
    en->state = LOADING;
    en->refs = 1;
    en->attached = true;
    en->hnext = c->buckets[h % BUCKETS];
    c->buckets[h % BUCKETS] = en;
    c->entries++;
    return en;
}

/* Under c->mu, which it releases: the outcome of en's load (value NULL: lerr). */
static struct file_cache_entry *loaded(struct file_cache *c, struct file_cache_entry *en,
                                       void *value, size_t bytes, const struct err *lerr,
                                       struct err *e)
{
    if (!value) {
        c->st.load_failures++;
        /* Out of the table first (while still LOADING: no byte accounting). */
        detach(c, en);
        en->state = FAILED;
        en->err = *lerr;
        pthread_cond_broadcast(&c->cv);
        if (e && e->code == ERR_OK)
            *e = *lerr;
        en->refs--;
        if (!en->refs)
            entry_destroy(c, en);
        pthread_mutex_unlock(&c->mu);
        return NULL;
    }
    en->value = value;
    en->bytes = bytes;
    en->state = READY; /* when it went stale while loading: served, freed on release */
    if (en->attached) {
        c->bytes += bytes;
        lru_push_front(&c->lru, &en->lru);
        if (c->close_fn) {
            en->open = true;
            c->n_open++;
        }
        evict(c);
        trim(c);
    }
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    return en;
}

struct file_cache_entry *file_cache_get_at(struct file_cache *c, const char *path, const char *load_path,
                                           const struct file_id *id, struct err *e)
{
    uint64_t h = fnv(path);
    pthread_mutex_lock(&c->mu);
    struct file_cache_entry *en = lookup(c, path, h, id);
    if (en && en->state == READY && !en->open && c->reopen_fn) {
        struct err re = ERR_INIT;
        if (c->reopen_fn(en->value, load_path ? load_path : path, &en->id, &re)) {
            en->open = true;
            c->n_open++;
            c->st.reopens++;
        } else if (re.code == ERR_EXHAUSTED) { /* out of descriptors: so would a load be */
            pthread_mutex_unlock(&c->mu);
            if (e && e->code == ERR_OK)
                *e = re;
            return NULL;
        } else { /* no longer that file: load it again */
            c->st.stale++;
            detach(c, en);
            if (!en->refs)
                entry_destroy(c, en);
            en = NULL;
        }
    }
    if (en)
        return use(c, en, e);
    c->st.misses++;
    en = entry_add(c, path, h, id);
    pthread_mutex_unlock(&c->mu);
    if (!en) {
        err_set(e, ERR_NOMEM, "out of memory for a cache entry");
        return NULL;
    }

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct err lerr = ERR_INIT;
    size_t bytes = 0;
    void *value = c->load(c->arg, load_path ? load_path : path, &bytes, &lerr);
    if (!value && lerr.code == ERR_OK)
        err_set(&lerr, ERR_INTERNAL, "loader failed without a reason");
    clock_gettime(CLOCK_MONOTONIC, &t1);

    pthread_mutex_lock(&c->mu);
    c->st.loads++;
    c->st.load_seconds += (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    return loaded(c, en, value, bytes, &lerr, e);
}

void *file_cache_value(const struct file_cache_entry *en) { return en->value; }

const struct file_id *file_cache_entry_id(const struct file_cache_entry *en) { return &en->id; }

void file_cache_release(struct file_cache *c, struct file_cache_entry *en)
{
    if (!en)
        return;
    pthread_mutex_lock(&c->mu);
    en->refs--;
    if (!en->refs) {
        if (!en->attached)
            entry_destroy(c, en);
        else if (c->bytes > c->budget)
            evict(c);
    }
    pthread_mutex_unlock(&c->mu);
}

void file_cache_stats_get(struct file_cache *c, struct file_cache_stats *out)
{
    pthread_mutex_lock(&c->mu);
    *out = c->st;
    out->bytes = c->bytes;
    out->entries = c->entries;
    out->budget = c->budget;
    out->open = c->n_open;
    out->max_open = c->max_open;
    pthread_mutex_unlock(&c->mu);
}

void file_cache_free(struct file_cache *c)
{
    if (!c)
        return;
    for (size_t b = 0; b < BUCKETS; b++) {
        struct file_cache_entry *en = c->buckets[b];
        while (en) {
            struct file_cache_entry *next = en->hnext;
            entry_destroy(c, en);
            en = next;
        }
    }
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}
