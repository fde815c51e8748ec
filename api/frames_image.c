/* WADO-RS /frames of a stored object that is not a Segmentation (a CT beside its SEG):
 * the frames of an uncompressed image, cut from its Pixel Data (decoder/image_frames.h),
 * as multipart/related; type="application/octet-stream" parts in Explicit VR Little
 * Endian. Compressed images: 406 (no decoder is registered). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/dicomweb.h"
#include "api/frames_image.h"
#include "api/http_error.h"
#include "decoder/decoder.h"

#define TS_EXPLICIT_LE "1.2.840.10008.1.2.1"
#define PIXEL_MAX (1ull << 30)

bool api_frames_image(const struct api_request *req, const char *path, struct api_response *r, struct err *e)
{
    char want_ts[80];
    api_accept_transfer_syntax(req->accept, want_ts, sizeof want_ts);
    if (*want_ts && strcmp(want_ts, "*") && strcmp(want_ts, TS_EXPLICIT_LE))
        return err_set(e, ERR_NOT_ACCEPTABLE, "frames are served uncompressed (transfer-syntax=%s), not %s",
                       TS_EXPLICIT_LE, want_ts);
    char boundary[64];
    unsigned long h = 5381;
    for (const char *c = req->request_id; *c; c++)
        h = h * 33 + (unsigned char)*c;
    snprintf(boundary, sizeof boundary, "segweb-%016lx", h);
    for (uint32_t i = 0; i < req->n_frame_list; i++) {
        struct buf px = {0};
        uint32_t n_frames = 0;
        if (!decoder_image_frame(path, req->frame_list[i], PIXEL_MAX, &px, &n_frames, e)) {
            buf_free(&px);
            return false;
        }
        char head[256];
        int hn = snprintf(head, sizeof head,
                          "--%s\r\nContent-Type: application/octet-stream; transfer-syntax=" TS_EXPLICIT_LE
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
             "multipart/related; type=\"application/octet-stream\"; transfer-syntax=" TS_EXPLICIT_LE "; boundary=%s",
             boundary);
    api_response_header_set(r, "Cache-Control", "no-cache");
    return true;
}
