/* Series thumbnails (api/thumbnail.h). */
#include "api/thumbnail.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/file_cache.h"
#include "api/ctx.h"
#include "api/http_error.h"
#include "api/rendered.h"
#include "api/slices.h"
#include "decoder/decoder.h"
#include "store/store.h"

/* Masks of one SEG frame as layers: BINARY / FRACTIONAL one layer in its
 * segment's colour; LABELMAP one 1-bit layer per label present. */
static bool frame_layers(const struct seg_index *idx, uint32_t f, struct seg_pixels *px,
                         struct seg_pixels **extra, size_t *n_extra, struct render_layer *layers,
                         size_t *n, size_t cap, struct err *e)
{
    if (!decoder_frame_read(idx, f, px, e))
        return false;
    if (idx->type != SEG_TYPE_LABELMAP) {
        const struct seg_segment *s = decoder_seg_segment(idx, idx->frames[f - 1].segment_number);
        if (s && *n < cap) {
            layers[*n] = (struct render_layer){px, {s->rgb[0], s->rgb[1], s->rgb[2]},
                                               idx->type == SEG_TYPE_FRACTIONAL ? idx->max_fractional_value : 0};
            (*n)++;
        }
        return true;
    }
    size_t npix = (size_t)px->rows * px->columns;
    for (size_t k = 0; k < idx->n_segments && *n < cap; k++) {
        const struct seg_segment *s = &idx->segments[k];
        if (s->number <= 0)
            continue;
        struct seg_pixels m = {px->rows, px->columns, 1, calloc((npix + 7) / 8 + 1, 1), (npix + 7) / 8};
        if (!m.data)
            return err_set(e, ERR_NOMEM, "out of memory");
        bool any = false;
        for (size_t i = 0; i < npix; i++) {
            uint32_t v = px->bits == 16 ? ((uint16_t *)px->data)[i] : px->bits == 8 ? px->data[i]
                                                                                   : (px->data[i >> 3] >> (i & 7)) & 1;
            if (v == (uint32_t)s->number) {
                m.data[i >> 3] |= (uint8_t)(1u << (i & 7));
                any = true;
            }
        }
        if (!any) {
            free(m.data);
            continue;
        }
        struct seg_pixels *slot = &(*extra)[(*n_extra)++];
        *slot = m;
        layers[*n] = (struct render_layer){slot, {s->rgb[0], s->rgb[1], s->rgb[2]}, 0};
        (*n)++;
    }
    return true;
}

bool api_seg_thumbnail(struct api_ctx *ctx, const struct seg_index *idx, struct render_image *img,
                       struct err *e)
{
    static __thread struct api_slice_pick pick;
    memset(img, 0, sizeof *img);
    if (!api_slices_middle(ctx, idx, &pick))
        return err_set(e, ERR_NOT_FOUND, "the segmentation has no frames");
    bool have = false;
    if (pick.has_source) {
        struct err ignore = ERR_INIT;
        have = render_source_frame(pick.source_path, pick.source_frame, NULL, NULL, img, &ignore) &&
               img->rows == idx->rows && img->columns == idx->columns;
        if (!have)
            render_image_free(img);
    }
    if (!have && !render_image_blank(idx->rows, idx->columns, img, e))
        return false;
    enum { CAP = 256 };
    struct seg_pixels frames[64];
    struct seg_pixels *extra = calloc(CAP, sizeof *extra);
    struct render_layer *layers = calloc(CAP, sizeof *layers);
    size_t n = 0, n_extra = 0, n_frames = 0;
    bool ok = extra && layers;
    if (!ok)
        err_set(e, ERR_NOMEM, "out of memory");
    for (size_t i = 0; ok && i < pick.n_seg_frames; i++) {
        ok = frame_layers(idx, pick.seg_frames[i], &frames[n_frames], &extra, &n_extra, layers, &n,
                          CAP, e);
        if (ok)
            n_frames++;
    }
    if (ok) {
        struct render_overlay_params op = {0.5, true};
        ok = render_overlay(img, layers, n, &op, e);
    }
    for (size_t i = 0; i < n_frames; i++)
        decoder_pixels_free(&frames[i]);
    for (size_t i = 0; i < n_extra; i++)
        decoder_pixels_free(&extra[i]);
    free(extra);
    free(layers);
    if (!ok)
        render_image_free(img);
    return ok;
}

struct first_seg {
    char path[4096];
    bool found;
};

static bool pick_seg(void *arg, const struct store_attrs *a, const char *path, struct err *e)
{
    struct first_seg *fs = arg;
    if (!fs->found && (!strcmp(a->sop_class_uid, SEG_SOP_CLASS_SEGMENTATION) ||
                       !strcmp(a->sop_class_uid, SEG_SOP_CLASS_LABELMAP))) {
        snprintf(fs->path, sizeof fs->path, "%s", path);
        fs->found = true;
    }
    return true;
}

void api_thumbnail_get(struct api_ctx *ctx, const struct api_request *req, struct api_response *r)
{
    struct err e = ERR_INIT;
    static __thread struct first_seg fs;
    memset(&fs, 0, sizeof fs);
    size_t n = 0;
    if (!ctx->store) {
        api_response_fail(r, ERR_NOT_FOUND, "no instance store");
        return;
    }
    if (!store_instances_each(ctx->store, req->res.study, req->res.series, NULL, pick_seg, &fs, &n, &e)) {
        api_response_from_err(r, &e);
        return;
    }
    if (!fs.found) {
        api_response_fail(r, n ? ERR_UNSUPPORTED : ERR_NOT_FOUND, n ? "thumbnails are made for SEG series only" : "no such series");
        return;
    }
    struct stat st;
    if (stat(fs.path, &st)) {
        api_response_fail(r, ERR_NOT_FOUND, "instance file missing");
        return;
    }
    struct file_id id = {(uint64_t)st.st_dev, (uint64_t)st.st_ino, (uint64_t)st.st_size,
                             (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec};
    struct file_cache_entry *en = file_cache_get(ctx->cache, fs.path, &id, &e);
    if (!en) {
        api_response_from_err(r, &e);
        return;
    }
    struct render_image img;
    bool ok = api_seg_thumbnail(ctx, file_cache_value(en), &img, &e);
    file_cache_release(ctx->cache, en);
    if (ok)
        ok = api_image_response(&img, api_rendered_wants_jpeg(req->accept), 85, r, &e);
    render_image_free(&img);
    if (!ok) {
        api_response_from_err(r, &e);
        return;
    }
    api_response_header_set(r, "Cache-Control", "no-cache");
}
