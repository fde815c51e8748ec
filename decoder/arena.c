#include "decoder/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct block {
    struct block *next;
    size_t used, cap;
    _Alignas(max_align_t) unsigned char data[];
};

struct arena {
    struct block *head;
    size_t bytes;
    /* open-addressing intern table of string pointers */
    const char **slots;
    size_t n_slots, n_used;
};

struct arena *arena_new(void)
{
    return calloc(1, sizeof(struct arena));
}

void arena_free(struct arena *a)
{
    if (!a)
        return;
    for (struct block *b = a->head, *n; b; b = n) {
        n = b->next;
        free(b);
    }
    free(a->slots);
    free(a);
}

void *arena_alloc(struct arena *a, size_t n)
{
    const size_t align = _Alignof(max_align_t);
    if (n > SIZE_MAX - align)
        return NULL;
    n = (n + align - 1) & ~(align - 1);
    if (!a->head || a->head->cap - a->head->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        struct block *b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->next = a->head;
        b->used = 0;
        b->cap = cap;
        a->head = b;
        a->bytes += sizeof *b + cap;
    }
    void *p = a->head->data + a->head->used;
    a->head->used += n;
    memset(p, 0, n);
    return p;
}

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int grow(struct arena *a)
{
    size_t n = a->n_slots ? a->n_slots * 2 : 256;
    const char **slots = calloc(n, sizeof *slots);
    if (!slots)
        return 0;
    for (size_t i = 0; i < a->n_slots; i++) {
        if (!a->slots[i])
            continue;
        size_t j = hash(a->slots[i]) & (n - 1);
        while (slots[j])
            j = (j + 1) & (n - 1);
        slots[j] = a->slots[i];
    }
    free(a->slots);
    a->slots = slots;
    a->n_slots = n;
    return 1;
}

const char *arena_str(struct arena *a, const char *s)
{
    if (!s)
        s = "";
    if ((a->n_used + 1) * 2 > a->n_slots && !grow(a))
        return NULL;
    size_t j = hash(s) & (a->n_slots - 1);
    while (a->slots[j]) {
        if (!strcmp(a->slots[j], s))
            return a->slots[j];
        j = (j + 1) & (a->n_slots - 1);
    }
    size_t len = strlen(s);
    char *copy = arena_alloc(a, len + 1);
    if (!copy)
        return NULL;
    memcpy(copy, s, len + 1);
    a->slots[j] = copy;
    a->n_used++;
    return copy;
}

size_t arena_bytes(const struct arena *a)
{
    return a->bytes + a->n_slots * sizeof(char *);
}
