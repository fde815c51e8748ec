/* The one output-size check every frame codec starts with. */
#include "decoder/codec.h"

bool codec_check_output(const struct codec_frame *f, size_t out_len, const char *name, struct err *e)
{
    uint64_t npix = (uint64_t)f->rows * f->columns;
    uint64_t expect;
    switch (f->bits_allocated) {
    case 1: expect = (npix + 7) / 8; break;
    case 8: expect = npix; break;
    case 16: expect = npix * 2; break;
    default:
        return err_set(e, ERR_UNSUPPORTED, "%s: bits allocated %u not supported", name,
                       (unsigned)f->bits_allocated);
    }
    if (expect != out_len)
        return err_set(e, ERR_INVALID, "%s: output is %zu bytes, frame needs %llu", name, out_len,
                       (unsigned long long)expect);
    return true;
}
