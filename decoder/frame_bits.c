/* Bit re-alignment for BINARY frames: Pixel Data packs pixels LSB first with no
 * padding between frames, so frame k starts at bit k*Rows*Columns. */
#include <string.h>

#include "decoder/frame.h"

void decoder_bits_extract(const uint8_t *src, uint64_t bit_offset, uint64_t npix, uint8_t *dst)
{
    uint64_t nbytes = (npix + 7) / 8;
    if (nbytes == 0)
        return;
    const uint8_t *s = src + (bit_offset >> 3);
    unsigned shift = (unsigned)(bit_offset & 7);
    if (shift == 0) {
        memcpy(dst, s, nbytes);
    } else {
        /* Each output byte takes the high bits of one source byte and the low
         * bits of the next; the last one may not have a next byte. */
        uint64_t last_src = (shift + npix - 1) / 8; /* index of last source byte used */
        for (uint64_t i = 0; i < nbytes; i++) {
            unsigned v = s[i] >> shift;
            if (i + 1 <= last_src)
                v |= (unsigned)s[i + 1] << (8 - shift);
            dst[i] = (uint8_t)v;
        }
    }
    unsigned tail = (unsigned)(npix & 7);
    if (tail)
        dst[nbytes - 1] &= (uint8_t)((1u << tail) - 1);
}

void decoder_bits_insert(uint8_t *dst, uint64_t bit_offset, const uint8_t *src, uint64_t npix)
{
    if (npix == 0)
        return;
    uint8_t *d = dst + (bit_offset >> 3);
    unsigned shift = (unsigned)(bit_offset & 7);
    uint64_t nbytes = (npix + 7) / 8;
    unsigned tail = (unsigned)(npix & 7);
    if (shift == 0) {
        /* whole bytes, then the last one's valid low bits over what dst had */
        uint64_t whole = npix / 8;
        memcpy(d, src, whole);
        if (tail)
            d[whole] = (uint8_t)((d[whole] & ~((1u << tail) - 1)) | (src[whole] & ((1u << tail) - 1)));
        return;
    }
    /* Source byte i lands in the high bits of d[i] and the low bits of d[i+1];
     * bits past npix (the source's padding) are masked out so a later frame's
     * insert, or the value's own padding, is never disturbed. */
    for (uint64_t i = 0; i < nbytes; i++) {
        unsigned valid = (i + 1 < nbytes || !tail) ? 8 : tail;
        unsigned mask = (1u << valid) - 1;
        unsigned v = src[i] & mask;
        unsigned lo_mask = (mask << shift) & 0xFF;
        d[i] = (uint8_t)((d[i] & ~lo_mask) | ((v << shift) & 0xFF));
        unsigned hi_mask = mask >> (8 - shift);
        if (hi_mask)
            d[i + 1] = (uint8_t)((d[i + 1] & ~hi_mask) | (v >> (8 - shift)));
    }
}
