/* GET R/frames/{f}/rendered and R/segments/{n}/mask: PNG renderings of one SEG
 * (index handlers; the pixels through api/render.c and its one colour table). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "api/png_cache.h"
#include "api/render.h"
#include "decoder/decoder.h"

bool api_frame_rendered_get(const struct seg_index *idx, const struct api_request *req,
                            struct api_response *r, struct err *e)
{
    uint32_t frame = req->frame;
    bool color = req->style_color;
    if (frame < 1 || frame > idx->number_of_frames)
        return err_set(e, ERR_NOT_FOUND, "frame %u out of range 1..%u", frame,
                       idx->number_of_frames);
    if (!api_png_cache_get(idx, frame, color, &r->body)) {
        if (!api_frame_png(idx, frame, color, &r->body, e))
            return false;
        api_png_cache_put(idx, frame, color, r->body.data, r->body.len);
    }
    r->status = 200;
    snprintf(r->content_type, sizeof r->content_type, "image/png");
    return true;
}

static bool segment_has_frame(const struct seg_segment *seg, uint32_t f)
{
    size_t lo = 0, hi = seg->n_frames;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (seg->frames[mid] == f)
            return true;
        if (seg->frames[mid] < f)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/* Merges frame px into out (same geometry): OR for bits, max for bytes, and
 * pixel == number for LABELMAP. */
static void merge(const struct seg_index *idx, uint32_t number, const struct seg_pixels *px,
                  struct seg_pixels *out)
{
    size_t npix = (size_t)idx->rows * idx->columns;
    size_t need = px->bits == 16 ? npix * 2 : px->bits == 8 ? npix : (npix + 7) / 8;
    if (px->rows != idx->rows || px->columns != idx->columns || px->len < need)
        return;
    if (idx->type == SEG_TYPE_LABELMAP) {
        for (size_t i = 0; i < npix; i++) {
            uint32_t v = px->bits == 16 ? ((const uint16_t *)px->data)[i]
                         : px->bits == 8 ? px->data[i]
                                         : (uint32_t)((px->data[i >> 3] >> (i & 7)) & 1);
            if (v == number)
                out->data[i >> 3] |= (uint8_t)(1u << (i & 7));
        }
    } else if (px->bits == 1) {
        for (size_t i = 0; i < out->len && i < px->len; i++)
            out->data[i] |= px->data[i];
    } else if (px->bits == 8) {
        for (size_t i = 0; i < npix && i < px->len; i++)
            if (px->data[i] > out->data[i])
                out->data[i] = px->data[i];
    }
}

bool api_mask_pixels(const struct seg_index *idx, uint32_t number, const char *source_uid,
                     uint32_t source_frame, struct seg_pixels *out, struct err *e)
{
    memset(out, 0, sizeof *out);
    const struct seg_segment *seg =
        number <= INT32_MAX ? decoder_seg_segment(idx, (int32_t)number) : NULL;
    if (!seg)
        return err_set(e, ERR_NOT_FOUND, "no segment %u in this object", number);
    bool fractional = idx->type == SEG_TYPE_FRACTIONAL;
    size_t npix = (size_t)idx->rows * idx->columns;
    out->rows = idx->rows;
    out->columns = idx->columns;
    out->bits = fractional ? 8 : 1;
    out->len = fractional ? npix : (npix + 7) / 8;
    out->data = calloc(out->len ? out->len : 1, 1);
    if (!out->data)
        return err_set(e, ERR_NOMEM, "out of memory for a %ux%u mask", idx->rows, idx->columns);

    bool referenced = false;
    for (uint32_t f = 0; f < idx->number_of_frames; f++) {
        const struct seg_frame *fr = &idx->frames[f];
        if (!decoder_frame_derives_from(idx, f + 1, source_uid, source_frame))
            continue;
        referenced = true;
        bool mine = idx->type == SEG_TYPE_LABELMAP ? segment_has_frame(seg, f + 1)
                                                   : fr->segment_number == (int32_t)number;
        if (!mine)
            continue;
        struct seg_pixels px;
        if (!decoder_frame_read(idx, f + 1, &px, e)) {
            decoder_pixels_free(out);
            return false;
        }
        merge(idx, number, &px, out);
        decoder_pixels_free(&px);
    }
    if (!referenced && !decoder_seg_references(idx, source_uid)) {
        decoder_pixels_free(out);
        return err_set(e, ERR_NOT_FOUND, "this object does not reference source %s", source_uid);
    }
    return true;
}

bool api_segment_mask_get(const struct seg_index *idx, const struct api_request *req,
                          struct api_response *r, struct err *e)
{
    uint32_t number = req->segment;
    struct seg_pixels px;
    if (!api_mask_pixels(idx, number, req->source_uid, req->source_frame, &px, e))
        return false;
    bool ok = api_mask_png(idx, number, &px, req->style_color, &r->body, e);
    decoder_pixels_free(&px);
    if (ok) {
        r->status = 200;
        snprintf(r->content_type, sizeof r->content_type, "image/png");
    }
    return ok;
}
