/* See png_cache.h. Chained hash table + doubly linked LRU list, one mutex;
 * each entry is one allocation (header + PNG bytes). */
#include "api/png_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct entry {
    const void *idx;
    uint32_t frame;
    bool color;
    size_t len;
    struct entry *hnext;      /* bucket chain */
    struct entry *prev, *next; /* LRU: head = most recent */
    uint8_t png[];
};

#define ENTRY_OVERHEAD (sizeof(struct entry) + 16) /* + malloc's header, roughly */

static struct {
    pthread_mutex_t mu;
    struct entry **buckets;
    size_t mask; /* n_buckets - 1 */
    struct entry *head, *tail;
    size_t bytes, budget, entries;
    uint64_t hits, misses, inserts, evictions;
} C = {.mu = PTHREAD_MUTEX_INITIALIZER};

static size_t hash(const void *idx, uint32_t frame, bool color)
{
    uint64_t h = (uint64_t)(uintptr_t)idx ^ ((uint64_t)frame << 1 | (color ? 1u : 0u));
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return (size_t)h;
}

static void lru_unlink(struct entry *en)
{
    if (en->prev)
        en->prev->next = en->next;
    else
        C.head = en->next;
    if (en->next)
        en->next->prev = en->prev;
    else
        C.tail = en->prev;
    en->prev = en->next = NULL;
}

static void lru_push_front(struct entry *en)
{
    en->prev = NULL;
    en->next = C.head;
    if (C.head)
        C.head->prev = en;
    C.head = en;
    if (!C.tail)
        C.tail = en;
}

/* Unlinks en from its bucket and the LRU list and frees it. */
static void drop(struct entry *en)
{
    struct entry **pp = &C.buckets[hash(en->idx, en->frame, en->color) & C.mask];
    while (*pp && *pp != en)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = en->hnext;
    lru_unlink(en);
    C.bytes -= en->len + ENTRY_OVERHEAD;
    C.entries--;
    free(en);
}

static struct entry *find(const void *idx, uint32_t frame, bool color)
{
    for (struct entry *en = C.buckets[hash(idx, frame, color) & C.mask]; en; en = en->hnext)
        if (en->idx == idx && en->frame == frame && en->color == color)
            return en;
    return NULL;
}

void api_png_cache_configure(size_t budget_bytes)
{
    pthread_mutex_lock(&C.mu);
    while (C.head)
        drop(C.head);
    free(C.buckets);
    C.buckets = NULL;
    C.mask = 0;
    C.budget = 0;
    if (budget_bytes) {
        /* About one bucket per 2 KB of budget (a 1-bit 512x512 mask is ~1 KB). */
        size_t n = 1024;
        while (n < budget_bytes / 2048 && n < ((size_t)1 << 22))
            n <<= 1;
        C.buckets = calloc(n, sizeof *C.buckets);
        if (C.buckets) {
            C.mask = n - 1;
            C.budget = budget_bytes;
        }
    }
    pthread_mutex_unlock(&C.mu);
}

bool api_png_cache_get(const void *idx, uint32_t frame, bool color, struct buf *out)
{
    bool hit = false;
    pthread_mutex_lock(&C.mu);
    if (!C.budget) {
        pthread_mutex_unlock(&C.mu);
        return false;
    }
    struct entry *en = find(idx, frame, color);
    if (en) {
        struct err e = ERR_INIT;
        size_t old = out->len;
        hit = buf_append(out, en->png, en->len, &e);
        if (!hit)
            out->len = old;
        if (en != C.head) {
            lru_unlink(en);
            lru_push_front(en);
        }
    }
    if (hit)
        C.hits++;
    else
        C.misses++;
    pthread_mutex_unlock(&C.mu);
    return hit;
}

void api_png_cache_put(const void *idx, uint32_t frame, bool color, const uint8_t *png, size_t len)
{
    /* Allocate and copy outside the lock. */
    size_t budget;
    pthread_mutex_lock(&C.mu);
    budget = C.budget;
    pthread_mutex_unlock(&C.mu);
    if (!budget || len + ENTRY_OVERHEAD > budget / 8)
        return;
    struct entry *en = malloc(sizeof *en + len);
    if (!en)
        return;
    en->idx = idx;
    en->frame = frame;
    en->color = color;
    en->len = len;
    en->prev = en->next = NULL;
    memcpy(en->png, png, len);

    pthread_mutex_lock(&C.mu);
    if (!C.budget || find(idx, frame, color)) {
        pthread_mutex_unlock(&C.mu);
        free(en);
        return;
    }
    while (C.tail && C.bytes + len + ENTRY_OVERHEAD > C.budget) {
        drop(C.tail);
        C.evictions++;
    }
    size_t b = hash(idx, frame, color) & C.mask;
    en->hnext = C.buckets[b];
    C.buckets[b] = en;
    lru_push_front(en);
    C.bytes += len + ENTRY_OVERHEAD;
    C.entries++;
    C.inserts++;
    pthread_mutex_unlock(&C.mu);
}

void api_png_cache_forget(const void *idx)
{
    pthread_mutex_lock(&C.mu);
    for (struct entry *en = C.head, *next; en; en = next) {
        next = en->next;
        if (en->idx == idx)
            drop(en);
    }
    pthread_mutex_unlock(&C.mu);
}

void api_png_cache_stats(struct api_png_cache_stats *out)
{
    pthread_mutex_lock(&C.mu);
    out->hits = C.hits;
    out->misses = C.misses;
    out->inserts = C.inserts;
    out->evictions = C.evictions;
    out->bytes = C.bytes;
    out->budget = C.budget;
    out->entries = C.entries;
    pthread_mutex_unlock(&C.mu);
}
