/* gzip (RFC 1952) of a whole buffer with zlib, for JSON responses. */
#ifndef SEGWEB_API_GZIP_H
#define SEGWEB_API_GZIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

/* Appends the gzip of in[0..n) to out. */
bool api_gzip(const uint8_t *in, size_t n, struct buf *out, struct err *e);

#endif
