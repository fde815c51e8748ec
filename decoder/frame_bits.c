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
