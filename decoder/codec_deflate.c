/* Deflated Image Frame Compression (1.2.840.10008.1.2.8.1): each frame is a raw
 * RFC 1951 deflate stream (no zlib or gzip wrapper) of the native frame, with
 * BINARY frames bit-packed and padded to a whole byte. We inflate straight into
 * the caller's buffer and never past it, so a deflate bomb costs at most
 * out_len bytes and one extra probe byte. */
#include <limits.h>
#include <zlib.h>

#include "decoder/codec.h"

/* zlib counts in uInt; feed and drain in slices so >4 GiB sizes stay correct. */
static uInt slice(size_t n)
{
    return n > UINT_MAX ? UINT_MAX : (uInt)n;
}

bool codec_deflate_decode(const uint8_t *in, size_t in_len, const struct codec_frame *f,
                          uint8_t *out, size_t out_len, struct err *e)
{
    if (!codec_check_output(f, out_len, "deflate", e))
        return false;

    if (in_len == 0)
        return err_set(e, ERR_INVALID, "deflate: empty frame");

    bool ok = false;
    z_stream z = {0};
    if (inflateInit2(&z, -15) != Z_OK) /* negative window bits: raw deflate */
        return err_set(e, ERR_NOMEM, "deflate: cannot initialise zlib");

    size_t in_pos = 0, out_pos = 0;
    int rc = Z_OK;
    while (out_pos < out_len) {
        z.next_in = (Bytef *)(in + in_pos);
        z.avail_in = slice(in_len - in_pos);
        z.next_out = out + out_pos;
        z.avail_out = slice(out_len - out_pos);
        uInt in_before = z.avail_in, out_before = z.avail_out;
        rc = inflate(&z, Z_NO_FLUSH);
        in_pos += in_before - z.avail_in;
        out_pos += out_before - z.avail_out;
        if (rc == Z_STREAM_END)
            break;
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            err_set(e, ERR_INVALID, "deflate: corrupt stream: %s", z.msg ? z.msg : zError(rc));
            goto out;
        }
        if (rc == Z_BUF_ERROR || (in_before == z.avail_in && out_before == z.avail_out))
            break; /* input ran out (or stalled) before the frame was complete */
    }
    if (out_pos < out_len) {
        err_set(e, ERR_INVALID, "deflate: stream inflates to %zu bytes, frame needs %zu", out_pos,
                out_len);
        goto out;
    }

    if (rc != Z_STREAM_END) {
        /* The frame is full; one probe byte tells a clean end (or a stream cut
         * right after the data, which we accept) from a stream that carries
         * more than the frame, which we refuse. */
        uint8_t probe;
        z.next_in = (Bytef *)(in + in_pos);
        z.avail_in = slice(in_len - in_pos);
        z.next_out = &probe;
        z.avail_out = 1;
        rc = inflate(&z, Z_NO_FLUSH);
        if (z.avail_out == 0) {
            err_set(e, ERR_LIMIT, "deflate: stream inflates to more than the %zu-byte frame",
                    out_len);
            goto out;
        }
        if (rc != Z_STREAM_END && rc != Z_OK && rc != Z_BUF_ERROR) {
            err_set(e, ERR_INVALID, "deflate: corrupt stream: %s", z.msg ? z.msg : zError(rc));
            goto out;
        }
    }
    ok = true;
out:
    inflateEnd(&z);
    return ok;
}
