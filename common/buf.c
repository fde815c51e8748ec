#include "common/buf.h"

#include <stdlib.h>
#include <string.h>

bool buf_reserve(struct buf *b, size_t n, struct err *e)
{
    if (n > SIZE_MAX - b->len)
        return err_set(e, ERR_LIMIT, "buffer size overflow");
    size_t need = b->len + n;
    if (b->limit && need > b->limit)
        return err_set(e, ERR_LIMIT, "buffer limit of %zu bytes exceeded", b->limit);
    if (need <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (b->limit && cap > b->limit)
        cap = b->limit;
    uint8_t *p = realloc(b->data, cap);
    if (!p)
        return err_set(e, ERR_NOMEM, "out of memory growing buffer to %zu bytes", cap);
    b->data = p;
    b->cap = cap;
    return true;
}

bool buf_append(struct buf *b, const void *p, size_t n, struct err *e)
{
    if (!buf_reserve(b, n, e))
        return false;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return true;
}

uint8_t *buf_steal(struct buf *b, size_t *len)
{
    uint8_t *p = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

void buf_free(struct buf *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
