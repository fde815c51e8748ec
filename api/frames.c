/* GET /studies/{s}/series/{se}/instances/{i}/frames/{list} (WADO-RS): the raw frames as
 * multipart/related; type="application/octet-stream", one part per requested frame, in
 * Explicit VR Little Endian (the only syntax offered; 406 for another).
 *
 *   a SEG      an index handler (api/dispatch.c gives it the cached index): BINARY
 *              bit-packed from bit 0, ceil(Rows*Columns/8) bytes; 8/16-bit values
 *              little endian
 *   any other  a stored image beside its SEG (a CT): its frames cut from uncompressed
 *              Pixel Data or decoded (decoder/image_frames.h: JPEG-LS, JPEG 2000, JPEG,
 *              RLE); what nothing decodes: 406
 * Both go through one multipart writer, frames_multipart(). */
#include <stdio.h>
#include <string.h>

#include "api/handlers.h"
#include "api/negotiate.h"
#include "decoder/decoder.h"

#define IMAGE_PIXEL_MAX (1ull << 30)

/* Reads frame f (1-based) of the source into out (new bytes, little endian). */
typedef bool (*frame_read_fn)(const void *src, uint32_t f, struct buf *out, struct err *e);

/* The frames of req->frame_list as r's multipart body; ct_extra goes into the
 * Content-Type before the boundary. */
static bool frames_multipart(const struct api_request *req, frame_read_fn read, const void *src,
                             const char *ct_extra, struct api_response *r, struct err *e)
{
    char want_ts[80];
    api_accept_transfer_syntax(req->accept, want_ts, sizeof want_ts);
    if (*want_ts && strcmp(want_ts, "*") && strcmp(want_ts, API_TS_EXPLICIT_LE))
        return err_set(e, ERR_NOT_ACCEPTABLE, "frames are served uncompressed (transfer-syntax=%s), not %s",
                       API_TS_EXPLICIT_LE, want_ts);
    char boundary[64];
    api_boundary_make(req->request_id, boundary, sizeof boundary);
    for (size_t i = 0; i < req->n_frame_list; i++) {
        struct buf px = {0};
        if (!read(src, req->frame_list[i], &px, e)) {
            buf_free(&px);
            return false;
        }
        char head[256];
        int hn = snprintf(head, sizeof head,
                          "--%s\r\nContent-Type: application/octet-stream; transfer-syntax=" API_TS_EXPLICIT_LE
                          "\r\nContent-Length: %zu\r\n\r\n",
                          boundary, px.len);
        bool ok = buf_append(&r->body, head, (size_t)hn, e) && buf_append(&r->body, px.data, px.len, e) &&
                  buf_append(&r->body, "\r\n", 2, e);
        buf_free(&px);
        if (!ok)
            return false;
    }
    char tail[96];
    int tn = snprintf(tail, sizeof tail, "--%s--\r\n", boundary);
    if (!buf_append(&r->body, tail, (size_t)tn, e))
        return false;
    r->status = 200;
    snprintf(r->content_type, sizeof r->content_type,
             "multipart/related; type=\"application/octet-stream\"%s; boundary=%s", ct_extra, boundary);
    return true;
}

static bool seg_frame_read(const void *src, uint32_t f, struct buf *out, struct err *e)
{
    const struct seg_index *idx = src;
    if (f < 1 || f > idx->number_of_frames)
        return err_set(e, ERR_NOT_FOUND, "frame %u out of range 1..%u", f, idx->number_of_frames);
    struct seg_pixels px = {0};
    if (!decoder_frame_read(idx, f, &px, e))
        return false;
    if (px.bits == 16) { /* host order to little endian */
        for (size_t k = 0; k + 1 < px.len; k += 2) {
            uint16_t v;
            memcpy(&v, px.data + k, 2);
            px.data[k] = (uint8_t)(v & 0xff);
            px.data[k + 1] = (uint8_t)(v >> 8);
        }
    }
    bool ok = buf_append(out, px.data, px.len, e);
    decoder_pixels_free(&px);
    return ok;
}

bool api_frames_multipart_get(const struct seg_index *idx, const struct api_request *req,
                              struct api_response *r, struct err *e)
{
    return frames_multipart(req, seg_frame_read, idx, "", r, e);
}

static bool image_frame_read(const void *src, uint32_t f, struct buf *out, struct err *e)
{
    uint32_t n_frames = 0;
    return decoder_image_frame(src, f, IMAGE_PIXEL_MAX, out, &n_frames, e);
}

bool api_frames_image(const struct api_request *req, const char *path, struct api_response *r, struct err *e)
{
    if (!frames_multipart(req, image_frame_read, path, "; transfer-syntax=" API_TS_EXPLICIT_LE, r, e))
        return false;
    api_response_header_set(r, "Cache-Control", "no-cache");
    return true;
}
