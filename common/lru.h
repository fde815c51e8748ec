/* The recency list of an LRU cache, intrusive: a struct lru_node lives inside each
 * cached entry (LRU_ENTRY gets the entry back), the head is the most recently used,
 * the tail the next to evict. No allocation and no locking (the cache's own lock
 * covers it). Used by common/file_cache.c and store/cache_objects.c. */
#ifndef SEGWEB_COMMON_LRU_H
#define SEGWEB_COMMON_LRU_H

#include <stddef.h>

struct lru_node {
    struct lru_node *prev, *next;
};

struct lru_list {
    struct lru_node *head, *tail;
};

/* The entry of type `type` whose member `member` is node. */
#define LRU_ENTRY(node, type, member) ((type *)(void *)((char *)(node) - offsetof(type, member)))

/* Takes n out of l; a node that is not in l (prev and next NULL, not the head) is left as it is. */
static inline void lru_unlink(struct lru_list *l, struct lru_node *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else if (l->head == n)
        l->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else if (l->tail == n)
        l->tail = n->prev;
    n->prev = n->next = NULL;
}

/* Puts n (not in l) at the head of l: the most recently used. */
static inline void lru_push_front(struct lru_list *l, struct lru_node *n)
{
    n->prev = NULL;
    n->next = l->head;
    if (l->head)
        l->head->prev = n;
    l->head = n;
    if (!l->tail)
        l->tail = n;
}

#endif
