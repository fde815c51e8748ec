/* The viewer's route handlers (api/viewer.h). */
#include "api/viewer.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/file_cache.h"
#include "api/ctx.h"
#include "api/handlers.h"
#include "api/http_error.h"
#include "api/handlers.h"
#include "api/lint.h"
#include "api/negotiate.h"
#include "api/path_confine.h"
#include "api/rendered.h"
#include "api/slices.h"
#include "api/view.h"
#include "volume/volume.h"

bool api_viewer_resolve(struct api_ctx *ctx, const struct api_request *req, char *path,
                        size_t pathsz, bool *immutable, struct err *e)
{
    struct stat st;
    if (req->res.kind == API_RES_FILE) {
        if (!ctx->files_root)
            return err_set(e, ERR_NOT_FOUND, "path requests are off: start segweb with --files-root DIR");
        *immutable = false;
        return api_path_confine(ctx->files_root, req->res.file, path, pathsz, &st, e);
    }
    if (!ctx->store_lookup || !ctx->store_lookup(ctx->store_arg, &req->res, path, pathsz, e))
        return e->code != ERR_OK ? false : err_set(e, ERR_NOT_FOUND, "instance not in store: %s", req->res.sop);
    if (stat(path, &st))
        return err_set(e, ERR_NOT_FOUND, "instance not in store: %s", req->res.sop);
    *immutable = true;
    return true;
}

static struct file_cache_entry *open_index(struct api_ctx *ctx, const char *path, struct err *e)
{
    struct stat st;
    if (stat(path, &st))
        return err_set(e, ERR_NOT_FOUND, "file gone"), NULL;
    struct file_id id = {(uint64_t)st.st_dev, (uint64_t)st.st_ino, (uint64_t)st.st_size,
                             (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec};
    return file_cache_get(ctx->cache, path, &id, e);
}

typedef bool (*index_json_fn)(struct api_ctx *ctx, const struct seg_index *idx, struct api_response *r,
                              struct err *e);

static void on_index(struct api_ctx *ctx, const struct api_request *req, struct api_response *r,
                     index_json_fn fn)
{
    static __thread char path[PATH_MAX];
    struct err e = ERR_INIT;
    bool immutable;
    struct file_cache_entry *en = NULL;
    if (!api_viewer_resolve(ctx, req, path, sizeof path, &immutable, &e) || !(en = open_index(ctx, path, &e))) {
        err_prefix(&e, "%s", req->res.kind == API_RES_FILE ? req->res.file : req->res.sop);
        api_response_from_err(r, &e);
        return;
    }
    bool ok = fn(ctx, file_cache_value(en), r, &e);
    file_cache_release(ctx->cache, en);
    if (!ok) {
        api_response_from_err(r, &e);
        return;
    }
    /* what the answer says about other objects (sources found or not) may change */
    api_response_header_set(r, "Cache-Control", "no-cache");
}

/* {"volumes_ml": {"1": 1234.5, ...}, "message": "..."}: per-segment volumes from
 * volume/ (FRACTIONAL: sum of values / maximum). A SEG that is not a volume (slide,
 * no patient geometry, irregular) answers 200 with no volumes and the reason, so the
 * page's table can say why instead of failing a request. */
static bool volumes_json(struct api_ctx *ctx, const struct seg_index *idx, struct api_response *r,
                         struct err *e)
{
    (void)ctx;
    json_t *doc = json_object(), *vols = json_object();
    struct volume_grid g;
    struct err ve = ERR_INIT;
    memset(&g, 0, sizeof g);
    if (volume_grid_from_seg(idx, NULL, &g, &ve)) {
        struct volume_measure *m = volume_measure_segments(idx, &g, -1, &ve);
        for (size_t k = 0; m && k < idx->n_segments; k++) {
            char key[16];
            snprintf(key, sizeof key, "%d", m[k].number);
            json_object_set_new(vols, key, json_real(m[k].volume_ml));
        }
        free(m);
        volume_grid_free(&g);
    }
    json_object_set_new(doc, "volumes_ml", vols);
    if (ve.code != ERR_OK)
        json_object_set_new(doc, "message", json_string(ve.msg));
    return api_response_json(r, doc, "application/json", JSON_REAL_PRECISION(10), e);
}

void api_viewer_volumes_get(struct api_ctx *ctx, const struct api_request *req, struct api_response *r)
{
    on_index(ctx, req, r, volumes_json);
}

void api_viewer_slices_get(struct api_ctx *ctx, const struct api_request *req, struct api_response *r)
{
    on_index(ctx, req, r, api_slices_get);
}

void api_viewer_lint_get(struct api_ctx *ctx, const struct api_request *req, struct api_response *r)
{
    on_index(ctx, req, r, api_lint_get);
}

void api_viewer_page_get(struct api_ctx *ctx, const struct api_request *req, struct api_response *r)
{
    (void)ctx;
    api_view_get(req->target, r);
}

void api_viewer_rendered_get(struct api_ctx *ctx, const struct api_request *req, struct api_response *r)
{
    static __thread char path[PATH_MAX];
    struct err e = ERR_INIT;
    bool immutable;
    struct api_rendered_params p;
    const char *q = strchr(req->target, '?');
    if (!api_rendered_params_parse(q ? q + 1 : NULL, &p, &e) ||
        !api_viewer_resolve(ctx, req, path, sizeof path, &immutable, &e)) {
        api_response_from_err(r, &e);
        return;
    }
    p.jpeg = p.jpeg || api_rendered_wants_jpeg(req->accept);
    if (!p.jpeg && !api_accepts_png(req->accept)) {
        api_response_fail(r, ERR_NOT_ACCEPTABLE, "rendered images are image/png or image/jpeg; the Accept header allows neither");
        return;
    }
    uint32_t frame = req->frame ? req->frame : 1;
    if (!api_source_rendered_get(ctx, path, frame, &p, r, &e)) {
        api_response_from_err(r, &e);
        return;
    }
    api_response_header_set(r, "Cache-Control", immutable && !p.segmentation[0] ? "public, max-age=31536000, immutable" : "no-cache");
    api_response_header_set(r, "Vary", "Accept");
}

/* req served as the SEG row R/frames/{f}/rendered (api_frame_rendered_get on the
 * cached index, through api_instance_serve: ETag, PNG cache, ?style=color). */
static void seg_frame_serve(struct api_ctx *ctx, const struct api_request *req, struct api_response *r)
{
    static const struct api_route seg_frame = {"R/frames/{f}/rendered", "frame_rendered", API_GET,
                                               API_WORKER, .on_index = api_frame_rendered_get,
                                               .media = &API_MEDIA_PNG};
    static __thread struct api_request copy;
    copy = *req;
    copy.route = &seg_frame;
    char vary[128] = "";
    api_instance_serve(ctx, &copy, r, vary, sizeof vary);
    if (*vary)
        api_response_header_set(r, "Vary", vary);
}

/* R/frames/{f}/rendered: a SEG answers through the index path exactly as before
 * (api_frame_rendered_get: ETag, PNG cache, ?style=color); any other image with
 * pixels is a source image (api_source_rendered_get). The cache is asked first,
 * so a SEG frame costs one extra stat and cache look-up, not a header parse. */
void api_viewer_frame_rendered_get(struct api_ctx *ctx, const struct api_request *req,
                                   struct api_response *r)
{
    static __thread char path[PATH_MAX];
    struct err e = ERR_INIT;
    bool immutable;
    if (!api_viewer_resolve(ctx, req, path, sizeof path, &immutable, &e)) {
        if (e.code == ERR_NOT_FOUND && ctx->pull && req->res.kind == API_RES_STORE) {
            /* --upstream: a SEG is pulled, another image's frame proxied (api/pullthrough.h) */
            seg_frame_serve(ctx, req, r);
            return;
        }
        api_response_from_err(r, &e);
        return;
    }
    struct file_cache_entry *en = open_index(ctx, path, &e);
    if (en || e.code != ERR_UNSUPPORTED || api_is_segmentation(path)) {
        if (en)
            file_cache_release(ctx->cache, en);
        seg_frame_serve(ctx, req, r);
        return;
    }
    api_viewer_rendered_get(ctx, req, r);
}
