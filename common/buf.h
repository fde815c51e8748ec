/* Growable byte buffer with an optional hard limit (bounded buffers, after curl's
 * dynbuf). A zeroed struct is an empty, unlimited buffer. */
#ifndef SEGWEB_COMMON_BUF_H
#define SEGWEB_COMMON_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#ifdef __cplusplus
extern "C" {
#endif

struct buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t limit; /* 0: no limit */
};

/* Appends n bytes; fails with ERR_LIMIT past limit, ERR_NOMEM on allocation failure. */
bool buf_append(struct buf *b, const void *p, size_t n, struct err *e);
/* Makes room for n more bytes without changing len. */
bool buf_reserve(struct buf *b, size_t n, struct err *e);
/* Gives up ownership of the data (caller frees); leaves b empty. */
uint8_t *buf_steal(struct buf *b, size_t *len);
void buf_free(struct buf *b);

#ifdef __cplusplus
}
#endif

#endif
