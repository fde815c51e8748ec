/* Rendered source images with segments burned in (api/rendered.h). */
#include "api/rendered.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "common/file_cache.h"
#include "api/ctx.h"
#include "api/handlers.h"
#include "api/negotiate.h"
#include "api/route.h"
#include "api/uid_locate.h"

static bool parse_bool(const char *v, bool *out)
{
    if (!*v || !strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes"))
        *out = true;
    else if (!strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "no"))
        *out = false;
    else
        return false;
    return true;
}

static bool parse_segments(const char *v, struct api_rendered_params *p, struct err *e)
{
    p->n_segments = 0;
    while (*v) {
        size_t n = strcspn(v, ",");
        char num[16];
        if (n == 0 || n >= sizeof num)
            return err_set(e, ERR_PARSE, "segments must be numbers separated by commas");
        memcpy(num, v, n);
        num[n] = 0;
        uint32_t x = 0;
        if (strcmp(num, "0") && !api_number_parse(num, &x))
            return err_set(e, ERR_PARSE, "'%s' is not a segment number", num);
        if (p->n_segments >= API_RENDER_SEGMENTS_MAX)
            return err_set(e, ERR_PARSE, "more than %d segments", API_RENDER_SEGMENTS_MAX);
        p->segments[p->n_segments++] = (int32_t)x;
        v += n;
        if (*v == ',')
            v++;
    }
    if (!p->n_segments)
        return err_set(e, ERR_PARSE, "segments is empty (leave it out for all segments)");
    return true;
}

bool api_rendered_params_parse(const char *q, struct api_rendered_params *p, struct err *e)
{
    memset(p, 0, sizeof *p);
    p->opacity = 0.5;
    p->quality = 90;
    size_t n = q ? strlen(q) : 0, i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && q[j] != '&')
            j++;
        size_t eq = i;
        while (eq < j && q[eq] != '=')
            eq++;
        char key[32], val[1200];
        struct err ignore = ERR_INIT;
        if (j > i && api_url_decode(q + i, eq - i, true, key, sizeof key, NULL, &ignore)) {
            size_t vs = eq < j ? eq + 1 : j;
            bool known = !strcmp(key, "window") || !strcmp(key, "segmentation") ||
                         !strcmp(key, "segments") || !strcmp(key, "opacity") ||
                         !strcmp(key, "outline") || !strcmp(key, "quality") || !strcmp(key, "accept");
            if (known && !api_url_decode(q + vs, j - vs, true, val, sizeof val, NULL, e)) {
                err_prefix(e, "query parameter '%s'", key);
                return false;
            }
            if (!known) {
                /* ignored (PS3.18 lets servers ignore what they do not support) */
            } else if (!strcmp(key, "window")) {
                if (!render_window_parse(val, &p->window, e))
                    return false;
            } else if (!strcmp(key, "segmentation")) {
                if (!api_uid_valid(val))
                    return err_set(e, ERR_PARSE, "segmentation must be a SOP Instance UID");
                snprintf(p->segmentation, sizeof p->segmentation, "%.64s", val);
            } else if (!strcmp(key, "segments")) {
                if (!parse_segments(val, p, e))
                    return false;
            } else if (!strcmp(key, "opacity")) {
                char *end;
                double o = strtod(val, &end);
                if (end == val || *end || !(o >= 0 && o <= 1))
                    return err_set(e, ERR_PARSE, "opacity must be a number from 0 to 1");
                p->opacity = o;
            } else if (!strcmp(key, "outline")) {
                if (!parse_bool(val, &p->outline))
                    return err_set(e, ERR_PARSE, "outline must be true or false");
            } else if (!strcmp(key, "quality")) {
                char *end;
                long qv = strtol(val, &end, 10);
                if (end == val || *end || qv < 1 || qv > 100)
                    return err_set(e, ERR_PARSE, "quality must be 1..100");
                p->quality = (int)qv;
            } else if (!strcmp(key, "accept")) {
                if (strstr(val, "image/jpeg"))
                    p->jpeg = true;
                else if (!strstr(val, "image/png") && !strstr(val, "*/*") && !strstr(val, "image/*"))
                    return err_set(e, ERR_PARSE, "rendered images are image/png or image/jpeg");
            }
        }
        i = j + 1;
    }
    if ((p->n_segments || p->outline) && !p->segmentation[0])
        return err_set(e, ERR_PARSE, "segments and outline need ?segmentation={SEG SOP Instance UID}");
    return true;
}

bool api_rendered_wants_jpeg(const char *accept)
{
    return api_accept_names_first(accept, "image/jpeg", "image/png"); /* the first one named wins */
}

bool api_is_segmentation(const char *path)
{
    struct render_source_info info;
    struct err e = ERR_INIT;
    if (!render_source_probe(path, &info, &e))
        return false;
    return !strcmp(info.sop_class_uid, SEG_SOP_CLASS_SEGMENTATION) ||
           !strcmp(info.sop_class_uid, SEG_SOP_CLASS_LABELMAP);
}

static bool mask_empty(const struct seg_pixels *m)
{
    for (size_t i = 0; i < m->len; i++)
        if (m->data[i])
            return false;
    return true;
}

bool api_burn_segments(const struct seg_index *idx, const char *source_uid, uint32_t source_frame,
                       const struct api_rendered_params *p, struct render_image *img,
                       struct err *e)
{
    if (idx->rows != img->rows || idx->columns != img->columns)
        return err_set(e, ERR_INVALID,
                       "the segmentation's grid (%ux%u) differs from the source image's (%ux%u)",
                       idx->rows, idx->columns, img->rows, img->columns);
    size_t n = p->n_segments ? p->n_segments : idx->n_segments;
    for (size_t k = 0; k < p->n_segments; k++)
        if (!decoder_seg_segment(idx, p->segments[k]))
            return err_set(e, ERR_NOT_FOUND, "no segment %d in this segmentation", p->segments[k]);
    struct seg_pixels *masks = calloc(n ? n : 1, sizeof *masks);
    struct render_layer *layers = calloc(n ? n : 1, sizeof *layers);
    bool ok = masks && layers;
    if (!ok)
        err_set(e, ERR_NOMEM, "out of memory");
    size_t used = 0;
    for (size_t k = 0; ok && k < n; k++) {
        const struct seg_segment *s =
            p->n_segments ? decoder_seg_segment(idx, p->segments[k]) : &idx->segments[k];
        if (s->number == 0 && idx->type == SEG_TYPE_LABELMAP)
            continue; /* background */
        if (!api_mask_pixels(idx, (uint32_t)s->number, source_uid, source_frame, &masks[used], e)) {
            ok = false;
            break;
        }
        if (mask_empty(&masks[used])) {
            decoder_pixels_free(&masks[used]);
            continue;
        }
        layers[used].mask = &masks[used];
        memcpy(layers[used].rgb, s->rgb, 3);
        layers[used].max_value = idx->type == SEG_TYPE_FRACTIONAL ? idx->max_fractional_value : 0;
        used++;
    }
    if (ok) {
        struct render_overlay_params op = {p->opacity, p->outline};
        ok = render_overlay(img, layers, used, &op, e);
    }
    for (size_t k = 0; masks && k < used; k++)
        decoder_pixels_free(&masks[k]);
    free(masks);
    free(layers);
    return ok;
}

bool api_image_response(const struct render_image *img, bool jpeg, int quality,
                        struct api_response *r, struct err *e)
{
    bool ok = jpeg ? render_jpeg(img, quality, &r->body, e) : render_png(img, &r->body, e);
    if (!ok)
        return false;
    r->status = 200;
    snprintf(r->content_type, sizeof r->content_type, jpeg ? "image/jpeg" : "image/png");
    return true;
}

/* Opens the SEG named by uid through the index cache; en must be released. */
static struct file_cache_entry *seg_open(struct api_ctx *ctx, const char *uid, struct err *e)
{
    struct api_located loc;
    if (!api_uid_locate(ctx, uid, &loc, e)) {
        err_prefix(e, "segmentation");
        return NULL;
    }
    struct stat st;
    if (stat(loc.path, &st)) {
        err_set(e, ERR_NOT_FOUND, "segmentation %s: file gone", uid);
        return NULL;
    }
    struct file_id id = {(uint64_t)st.st_dev, (uint64_t)st.st_ino, (uint64_t)st.st_size,
                             (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec};
    struct file_cache_entry *en = file_cache_get(ctx->cache, loc.path, &id, e);
    if (!en)
        err_prefix(e, "segmentation %s", uid);
    return en;
}

bool api_source_rendered_get(struct api_ctx *ctx, const char *path, uint32_t frame,
                             const struct api_rendered_params *p, struct api_response *r,
                             struct err *e)
{
    struct render_image img;
    if (!render_source_frame(path, frame, &p->window, NULL, &img, e))
        return false;
    bool ok = true;
    if (p->segmentation[0]) {
        struct render_source_info info;
        struct file_cache_entry *en = NULL;
        ok = render_source_probe(path, &info, e) && (en = seg_open(ctx, p->segmentation, e));
        if (ok) {
            const struct seg_index *idx = file_cache_value(en);
            /* A single-frame source is referenced without a frame number. */
            ok = api_burn_segments(idx, info.sop_instance_uid, info.frames > 1 ? frame : 0, p,
                                   &img, e);
            file_cache_release(ctx->cache, en);
        }
    }
    if (ok)
        ok = api_image_response(&img, p->jpeg, p->quality, r, e);
    if (ok && img.windowed) {
        char w[96];
        snprintf(w, sizeof w, "%.6g,%.6g;source=%s", img.center, img.width, img.window_source);
        api_response_header_set(r, "X-Segweb-Window", w);
    }
    render_image_free(&img);
    return ok;
}
