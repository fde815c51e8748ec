#include "api/gzip.h"

#include <zlib.h>

bool api_gzip(const uint8_t *in, size_t n, struct buf *out, struct err *e)
{
    z_stream zs = {0};
    if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return err_set(e, ERR_NOMEM, "zlib init failed");
    bool ok = false;
    uLong bound = deflateBound(&zs, (uLong)n);
    if (!buf_reserve(out, bound, e))
        goto out;
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)n;
    zs.next_out = out->data + out->len;
    zs.avail_out = (uInt)bound;
    if (n > UINT32_MAX || deflate(&zs, Z_FINISH) != Z_STREAM_END) {
        err_set(e, ERR_INTERNAL, "gzip failed");
        goto out;
    }
    out->len += zs.total_out;
    ok = true;
out:
    deflateEnd(&zs);
    return ok;
}
