/* decoder_bits_extract and decoder_bits_insert against a bit-by-bit oracle, for
 * odd frame sizes at every starting bit offset. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decoder/frame.h"
#include "tests/unit/check.h"

static int bit(const uint8_t *p, uint64_t i)
{
    return (p[i >> 3] >> (i & 7)) & 1;
}

static void check(const uint8_t *src, uint64_t off, uint64_t npix)
{
    size_t nbytes = (size_t)((npix + 7) / 8);
    uint8_t *dst = malloc(nbytes + 1);
    memset(dst, 0xAA, nbytes + 1); /* canary after the output */
    decoder_bits_extract(src, off, npix, dst);
    int ok = dst[nbytes] == 0xAA;
    for (uint64_t i = 0; ok && i < npix; i++)
        ok = bit(dst, i) == bit(src, off + i);
    for (uint64_t i = npix; ok && i < nbytes * 8; i++)
        ok = bit(dst, i) == 0; /* padding bits are zero */
    CHECK(ok, "offset %llu, %llu pixels", (unsigned long long)off, (unsigned long long)npix);
    free(dst);
}

/* Inserting npix bits at off changes exactly those bits of dst, and extracting
 * them back gives src (padding bits of src are ignored). */
static void check_insert(const uint8_t *src, uint64_t off, uint64_t npix)
{
    size_t dlen = (size_t)((off + npix + 7) / 8) + 2;
    uint8_t *dst = malloc(dlen), *before = malloc(dlen);
    for (size_t i = 0; i < dlen; i++)
        dst[i] = before[i] = (uint8_t)(0x5A ^ i);
    decoder_bits_insert(dst, off, src, npix);
    int ok = 1;
    for (uint64_t i = 0; ok && i < (uint64_t)dlen * 8; i++)
        ok = bit(dst, i) == (i >= off && i < off + npix ? bit(src, i - off) : bit(before, i));
    CHECK(ok, "insert at offset %llu, %llu pixels", (unsigned long long)off, (unsigned long long)npix);
    free(dst);
    free(before);
}

int main(void)
{
    /* Sizes from the corpus (38x23, 10x10, 510x510, 16x16) and small odd ones. */
    static const uint64_t sizes[] = {1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 33, 63, 65, 100, 874, 912, 256, 260100, 262144};
    const size_t n_sizes = sizeof sizes / sizeof *sizes;
    size_t src_len = 3 * 262144 / 8 + 64;
    uint8_t *src = malloc(src_len);
    srand(12345);
    for (size_t i = 0; i < src_len; i++)
        src[i] = (uint8_t)rand();

    for (size_t s = 0; s < n_sizes; s++) {
        uint64_t npix = sizes[s];
        for (uint64_t off = 0; off < 64; off++)
            check(src, off, npix); /* every bit offset, several byte offsets */
        for (uint64_t k = 0; k < 3; k++)
            check(src, k * npix, npix); /* frame k of back-to-back frames */
        if (npix < 100000)
            for (uint64_t off = 0; off < 20; off++)
                check_insert(src, off, npix);
        check_insert(src, 3 * npix, npix);
    }
    /* The last frame ends exactly at the end of the buffer: no read past it. */
    uint8_t *exact = malloc(110); /* 874 px * 1 frame at bit 3 needs 110 bytes */
    memcpy(exact, src, 110);
    check(exact, 3, 874);
    free(exact);

    free(src);
    return check_done();
}
