/* JPEG-LS (lossless and near-lossless) through the CharLS C API. The header is
 * read and checked against the frame we expect before any pixel is decoded, so
 * a stream declaring a different or larger image is refused without
 * allocating for it. CharLS writes samples of up to 8 bits as bytes and of 9
 * to 16 bits as host-order uint16, which is exactly our native layout. */
#include <charls/charls.h>

#include "decoder/codec.h"

static const char *msg(charls_jpegls_errc rc)
{
    const char *m = charls_get_error_message(rc);
    return m ? m : "unknown error";
}

bool codec_jpegls_decode(const uint8_t *in, size_t in_len, const struct codec_frame *f,
                         uint8_t *out, size_t out_len, struct err *e)
{
    if (f->bits_allocated == 1) /* JPEG-LS has no 1-bit mode; DICOM does not allow it for BINARY */
        return err_set(e, ERR_UNSUPPORTED, "jpegls: bits allocated 1 not supported");
    if (!codec_check_output(f, out_len, "jpegls", e))
        return false;
    uint64_t npix = (uint64_t)f->rows * f->columns;
    /* CharLS 2.4 needs EOI anyway, and on a scan that runs into the end of the
     * buffer (a truncated stream) it spins for seconds before failing; a
     * marker there makes it fail at once. Fragments may carry zero padding. */
    size_t end = in_len;
    while (end > 0 && in[end - 1] == 0x00)
        end--;
    if (end < 2 || in[end - 2] != 0xFF || in[end - 1] != 0xD9)
        return err_set(e, ERR_INVALID, "jpegls: stream does not end with EOI (truncated?)");

    bool ok = false;
    charls_jpegls_decoder *dec = charls_jpegls_decoder_create();
    if (!dec)
        return err_set(e, ERR_NOMEM, "jpegls: cannot create decoder");

    charls_jpegls_errc rc = charls_jpegls_decoder_set_source_buffer(dec, in, in_len);
    if (rc == CHARLS_JPEGLS_ERRC_SUCCESS)
        rc = charls_jpegls_decoder_read_header(dec);
    charls_frame_info fi = {0};
    if (rc == CHARLS_JPEGLS_ERRC_SUCCESS)
        rc = charls_jpegls_decoder_get_frame_info(dec, &fi);
    if (rc != CHARLS_JPEGLS_ERRC_SUCCESS) {
        err_set(e, ERR_INVALID, "jpegls: bad header: %s", msg(rc));
        goto out;
    }

    if (fi.width != f->columns || fi.height != f->rows) {
        /* More pixels than expected is a limit (possible bomb); anything else is a bad frame. */
        bool larger = (uint64_t)fi.width * fi.height > npix;
        err_set(e, larger ? ERR_LIMIT : ERR_INVALID,
                "jpegls: stream is %ux%u, frame is %ux%u (columns x rows)", fi.width, fi.height,
                f->columns, f->rows);
        goto out;
    }
    if (fi.component_count != 1) {
        err_set(e, ERR_INVALID, "jpegls: stream has %d components, expected 1",
                fi.component_count);
        goto out;
    }
    bool bits_ok = f->bits_allocated == 8 ? fi.bits_per_sample >= 2 && fi.bits_per_sample <= 8
                                          : fi.bits_per_sample > 8 && fi.bits_per_sample <= 16;
    if (!bits_ok) {
        err_set(e, ERR_INVALID, "jpegls: stream has %d bits per sample, frame has %u allocated",
                fi.bits_per_sample, (unsigned)f->bits_allocated);
        goto out;
    }

    size_t need = 0;
    rc = charls_jpegls_decoder_get_destination_size(dec, 0, &need);
    if (rc != CHARLS_JPEGLS_ERRC_SUCCESS || need != out_len) {
        err_set(e, ERR_INVALID, "jpegls: decoder needs %zu bytes, frame is %zu", need, out_len);
        goto out;
    }
    rc = charls_jpegls_decoder_decode_to_buffer(dec, out, out_len, 0);
    if (rc != CHARLS_JPEGLS_ERRC_SUCCESS) {
        err_set(e, ERR_INVALID, "jpegls: decode failed: %s", msg(rc));
        goto out;
    }
    ok = true;
out:
    charls_jpegls_decoder_destroy(dec);
    return ok;
}
