/* gzip output with zero runs that cost a memcpy.
 *
 * The live stream is raw deflate. Before a zero run it is fully flushed
 * (Z_FULL_FLUSH: byte aligned, no back-reference across the flush), then the
 * run is written as copies of blocks made once by a separate deflate stream
 * that also ended in a full flush and never set the final bit. A decoder sees
 * one valid deflate stream. The gzip CRC-32 of the run comes from the block's
 * precomputed CRC through crc32_combine; ISIZE is the total modulo 2^32.
 *
 * Level: zlib level 1 with Z_RLE (measured in bench/RESULTS.md: masks are runs,
 * and Z_RLE compresses them at several times the speed of the default level
 * for a few percent more bytes). */
#include <stdlib.h>
#include <string.h>

#include "volume/internal.h"

#define LIVE_LEVEL 1
#define LIVE_STRATEGY Z_RLE
#define CHUNK 65536

static bool make_block(struct gz_zero_block *b, uint64_t len, struct err *e)
{
    static const uint8_t zeros[CHUNK];
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_RLE) != Z_OK)
        return err_set(e, ERR_NOMEM, "deflateInit2 failed");
    struct buf out = {0};
    bool ok = false;
    uint64_t left = len;
    uint8_t tmp[CHUNK];
    for (;;) {
        size_t n = left > CHUNK ? CHUNK : (size_t)left;
        left -= n;
        z.next_in = (Bytef *)zeros;
        z.avail_in = (uInt)n;
        int flush = left ? Z_NO_FLUSH : Z_FULL_FLUSH;
        do {
            z.next_out = tmp;
            z.avail_out = sizeof tmp;
            if (deflate(&z, flush) == Z_STREAM_ERROR) {
                err_set(e, ERR_INTERNAL, "deflate failed");
                goto out;
            }
            if (!buf_append(&out, tmp, sizeof tmp - z.avail_out, e))
                goto out;
        } while (z.avail_out == 0);
        if (!left)
            break;
    }
    b->len = len;
    b->crc = 0;
    uint64_t c = len;
    b->crc = crc32(0L, Z_NULL, 0);
    while (c) {
        size_t n = c > CHUNK ? CHUNK : (size_t)c;
        b->crc = crc32(b->crc, zeros, (uInt)n);
        c -= n;
    }
    b->data = buf_steal(&out, &b->size);
    ok = true;
out:
    buf_free(&out);
    deflateEnd(&z);
    return ok;
}

bool gz_zeros_init(struct gz_zeros *z, uint64_t row_bytes, uint64_t slice_bytes, struct err *e)
{
    memset(z, 0, sizeof *z);
    if (!row_bytes || !slice_bytes)
        return true;
    /* Descending: the slice, then row_bytes * 2^m below it. */
    uint64_t lens[48];
    int n = 0;
    lens[n++] = slice_bytes;
    uint64_t l = row_bytes;
    int m = 0;
    while (l * 2 < slice_bytes && m < 40) {
        l *= 2;
        m++;
    }
    for (; m >= 0 && n < 48; m--) {
        uint64_t x = row_bytes << m;
        if (x < slice_bytes)
            lens[n++] = x;
    }
    for (int i = 0; i < n; i++) {
        if (!make_block(&z->blocks[i], lens[i], e)) {
            gz_zeros_free(z);
            return false;
        }
        z->n = i + 1;
    }
    return true;
}

void gz_zeros_free(struct gz_zeros *z)
{
    for (int i = 0; i < z->n; i++)
        free(z->blocks[i].data);
    memset(z, 0, sizeof *z);
}

static bool drive(struct gz *g, int flush, struct err *e)
{
    uint8_t tmp[CHUNK];
    int rc;
    do {
        g->z.next_out = tmp;
        g->z.avail_out = sizeof tmp;
        rc = deflate(&g->z, flush);
        if (rc == Z_STREAM_ERROR)
            return err_set(e, ERR_INTERNAL, "deflate failed");
        if (!buf_append(g->out, tmp, sizeof tmp - g->z.avail_out, e))
            return false;
    } while (g->z.avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
    return true;
}

bool gz_begin(struct gz *g, const struct gz_zeros *zeros, struct buf *out, struct err *e)
{
    memset(g, 0, sizeof *g);
    if (deflateInit2(&g->z, LIVE_LEVEL, Z_DEFLATED, -15, 8, LIVE_STRATEGY) != Z_OK)
        return err_set(e, ERR_NOMEM, "deflateInit2 failed");
    g->open = true;
    g->zeros = zeros;
    g->out = out;
    g->crc = crc32(0L, Z_NULL, 0);
    /* gzip member header: deflate, no name, mtime 0 (reproducible bytes), OS unix. */
    static const uint8_t hdr[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    return buf_append(out, hdr, sizeof hdr, e);
}

bool gz_data(struct gz *g, const void *p, size_t n, struct err *e)
{
    if (!n)
        return true;
    g->crc = crc32_z(g->crc, p, n);
    g->total += n;
    g->z.next_in = (Bytef *)p;
    g->z.avail_in = 0;
    while (n) {
        size_t take = n > (1u << 30) ? (1u << 30) : n;
        g->z.avail_in = (uInt)take;
        if (!drive(g, Z_NO_FLUSH, e))
            return false;
        n -= take;
    }
    g->pending = true;
    return true;
}

bool gz_zero(struct gz *g, uint64_t n, struct err *e)
{
    if (!n)
        return true;
    if (g->pending) {
        if (!drive(g, Z_FULL_FLUSH, e))
            return false;
        g->pending = false;
    }
    const struct gz_zeros *z = g->zeros;
    for (int i = 0; i < z->n && n;) {
        const struct gz_zero_block *b = &z->blocks[i];
        if (b->len > n) {
            i++;
            continue;
        }
        if (!buf_append(g->out, b->data, b->size, e))
            return false;
        g->crc = crc32_combine(g->crc, b->crc, (z_off_t)b->len);
        g->total += b->len;
        n -= b->len;
    }
    if (n) { /* shorter than any block (or no blocks): compress it live */
        static const uint8_t zeros[CHUNK];
        while (n) {
            size_t take = n > CHUNK ? CHUNK : (size_t)n;
            if (!gz_data(g, zeros, take, e))
                return false;
            n -= take;
        }
    }
    return true;
}

bool gz_finish(struct gz *g, struct err *e)
{
    if (!drive(g, Z_FINISH, e))
        return false;
    uint8_t t[8];
    for (int i = 0; i < 4; i++) {
        t[i] = (uint8_t)(g->crc >> (8 * i));
        t[4 + i] = (uint8_t)(g->total >> (8 * i));
    }
    return buf_append(g->out, t, sizeof t, e);
}

void gz_end(struct gz *g)
{
    if (g->open)
        deflateEnd(&g->z);
    g->open = false;
}
