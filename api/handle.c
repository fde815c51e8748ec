/* The dispatcher behind api_handle(): method and CORS first, then the route. */
#include "api/handle.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "api/dicomweb.h"
#include "api/gzip.h"
#include "api/handlers.h"
#include "api/http_error.h"
#include "api/negotiate.h"
#include "api/path_confine.h"
#include "api/stow.h"
#include "api/png_cache.h"
#include "decoder/seg.h"

#define ETAG_VERSION "segweb-1"
#define CACHE_IMMUTABLE "public, max-age=31536000, immutable"
#define CACHE_VALIDATE "no-cache"

bool api_store_lookup_none(void *arg, const struct api_resource *res, char *path, size_t pathsz,
                           struct err *e)
{
    (void)arg;
    (void)path;
    (void)pathsz;
    return err_set(e, ERR_NOT_FOUND, "instance not in store: %s", res->sop);
}

static void *index_load(void *arg, const char *path, size_t *bytes, struct err *e)
{
    struct seg_index *idx = decoder_seg_open(path, arg, e); /* arg: the limits, or NULL */
    if (idx)
        *bytes = idx->memory_bytes + sizeof *idx;
    return idx;
}

static void index_free(void *v)
{
    api_png_cache_forget(v); /* before the address can be reused (api/png_cache.h) */
    decoder_seg_free(v);
}

struct api_cache *api_index_cache_new(size_t budget_bytes, struct err *e)
{
    return api_cache_new(budget_bytes, index_load, index_free, NULL, e);
}

struct api_cache *api_index_cache_new_limited(size_t budget_bytes, const struct seg_limits *limits,
                                              struct err *e)
{
    return api_cache_new(budget_bytes, index_load, index_free, (void *)limits, e);
}

/* ---- CORS ---- */

static bool origin_allowed(const char *list, const char *origin, bool *any)
{
    *any = false;
    if (!list || !*list || !*origin)
        return false;
    size_t on = strlen(origin);
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        while (n && p[n - 1] == ' ')
            n--;
        if (n == 1 && *p == '*') {
            *any = true;
            return true;
        }
        if (n == on && !strncasecmp(p, origin, n))
            return true;
        p += n;
    }
    return false;
}

static void cors_headers(const struct api_ctx *ctx, const struct api_request *req,
                         struct api_response *r, char *vary, size_t varysz)
{
    bool any;
    if (!origin_allowed(ctx->cors_origins, req->origin, &any))
        return;
    api_response_header_set(r, "Access-Control-Allow-Origin", any ? "*" : req->origin);
    api_response_header_set(r, "Access-Control-Expose-Headers", "ETag, Content-Length, Retry-After, X-Request-Id");
    if (!any)
        strncat(vary, *vary ? ", Origin" : "Origin", varysz - strlen(vary) - 1);
}

static void preflight(const struct api_ctx *ctx, const struct api_request *req,
                      struct api_response *r)
{
    r->status = 204;
    api_response_header_set(r, "Allow", "GET, HEAD, OPTIONS, POST, DELETE");
    bool any;
    if (origin_allowed(ctx->cors_origins, req->origin, &any)) {
        api_response_header_set(r, "Access-Control-Allow-Methods", "GET, HEAD, OPTIONS, POST, DELETE");
        api_response_header_set(r, "Access-Control-Allow-Headers",
                                "Accept, Accept-Encoding, If-None-Match, Content-Type, X-Request-Id");
        api_response_header_set(r, "Access-Control-Max-Age", "600");
    }
}

/* ---- instance routes ---- */

struct resolved {
    char path[PATH_MAX];
    char open_path[64]; /* path files: the descriptor's name, "" when there is none */
    int fd;             /* path files: the file checked by api_path_confine_open, or -1 */
    struct api_file_id id;
    bool immutable;
};

static void resolved_close(struct resolved *rs)
{
    if (rs->fd >= 0)
        close(rs->fd);
    rs->fd = -1;
}

static bool resolve(struct api_ctx *ctx, const struct api_request *req, struct resolved *out,
                    struct err *e)
{
    struct stat st;
    if (req->res.kind == API_RES_FILE) {
        if (!ctx->files_root)
            return err_set(e, ERR_NOT_FOUND, "path requests are off: start segweb with --files-root DIR");
        if (!api_path_confine_open(ctx->files_root, req->res.file, out->path, sizeof out->path, &st,
                                   &out->fd, e))
            return false;
        if (!api_path_fd_path(out->fd, out->open_path, sizeof out->open_path))
            out->open_path[0] = 0;
        out->immutable = false;
    } else {
        api_store_lookup_fn fn = ctx->store_lookup ? ctx->store_lookup : api_store_lookup_none;
        if (!fn(ctx->store_arg, &req->res, out->path, sizeof out->path, e))
            return false;
        if (stat(out->path, &st))
            return err_set(e, ERR_NOT_FOUND, "instance not in store: %s", req->res.sop);
        out->immutable = true;
    }
    out->id.dev = (uint64_t)st.st_dev;
    out->id.ino = (uint64_t)st.st_ino;
    out->id.size = (uint64_t)st.st_size;
    out->id.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    return true;
}

/* Strong ETag over the instance identity and the request variant. */
static void make_etag(const struct resolved *rs, const struct api_request *req, char out[40])
{
    char text[PATH_MAX + 512];
    snprintf(text, sizeof text, "%s|%s|%llu|%llu|%llu|%lld|%s|%u|%u|%d|%s|%u", ETAG_VERSION,
             rs->path, (unsigned long long)rs->id.dev, (unsigned long long)rs->id.ino,
             (unsigned long long)rs->id.size, (long long)rs->id.mtime_ns,
             api_route_name(req->route), req->segment, req->frame, req->style_color,
             req->source_uid, req->source_frame);
    api_etag_make(text, out);
}

static bool is_png_route(enum api_route r)
{
    return r == API_ROUTE_FRAME_RENDERED || r == API_ROUTE_SEGMENT_MASK;
}

static bool run_route(const struct seg_index *idx, const struct api_request *req,
                      struct api_response *r, struct err *e)
{
    switch (req->route) {
    case API_ROUTE_SEGMENTS:
        return api_segments_get(idx, r, e);
    case API_ROUTE_SEGMENT:
        return api_segment_get(idx, req->segment, r, e);
    case API_ROUTE_FRAME_RENDERED:
        return api_frame_rendered_get(idx, req->frame, req->style_color, r, e);
    case API_ROUTE_SEGMENT_MASK:
        return api_segment_mask_get(idx, req->segment, req->source_uid, req->source_frame,
                                    req->style_color, r, e);
    case API_ROUTE_FRAMES:
        return api_frames_multipart_get(idx, req->frame_list, req->n_frame_list, req->request_id,
                                        r, e);
    default:
        return err_set(e, ERR_INTERNAL, "route without handler");
    }
}

static void instance_route(struct api_ctx *ctx, const struct api_request *req,
                           struct api_response *r, char *vary, size_t varysz)
{
    struct err e = ERR_INIT;
    bool png = is_png_route(req->route);
    if (png) {
        strncat(vary, *vary ? ", Accept" : "Accept", varysz - strlen(vary) - 1);
        if (!api_accepts_png(req->accept)) {
            api_response_error(r, 406, "this resource is image/png; the Accept header does not allow it");
            return;
        }
    }
    bool frames = req->route == API_ROUTE_FRAMES;
    if (frames) {
        strncat(vary, *vary ? ", Accept" : "Accept", varysz - strlen(vary) - 1);
        if (!api_accepts_media(req->accept, "multipart/related", "application/octet-stream")) {
            api_response_error(r, 406, "frames are multipart/related; type=\"application/octet-stream\"");
            return;
        }
    }
    bool gzip_ok = !png && !frames && api_accepts_gzip(req->accept_encoding);
    if (!png && !frames)
        strncat(vary, *vary ? ", Accept-Encoding" : "Accept-Encoding", varysz - strlen(vary) - 1);

    static __thread struct resolved rs;
    memset(&rs, 0, sizeof rs);
    rs.fd = -1;
    if (!resolve(ctx, req, &rs, &e)) {
        api_response_from_err(r, &e);
        return;
    }
    char etag[40], etag_gz[48];
    make_etag(&rs, req, etag);
    snprintf(etag_gz, sizeof etag_gz, "%.*s-gz\"", (int)strlen(etag) - 1, etag);
    const char *cache_control = rs.immutable ? CACHE_IMMUTABLE : CACHE_VALIDATE;
    if (api_etag_matches(req->if_none_match, etag) || api_etag_matches(req->if_none_match, etag_gz)) {
        resolved_close(&rs);
        r->status = 304;
        api_response_header_set(r, "ETag", gzip_ok ? etag_gz : etag);
        api_response_header_set(r, "Cache-Control", cache_control);
        return;
    }

    struct api_cache_entry *en =
        api_cache_get_at(ctx->cache, rs.path, rs.open_path[0] ? rs.open_path : NULL, &rs.id, &e);
    resolved_close(&rs);
    if (!en) {
        err_prefix(&e, "%s", req->res.kind == API_RES_FILE ? req->res.file : req->res.sop);
        api_response_from_err(r, &e);
        return;
    }
    const struct seg_index *idx = api_cache_value(en);
    bool ok = run_route(idx, req, r, &e);
    api_cache_release(ctx->cache, en);
    if (!ok) {
        api_response_from_err(r, &e);
        return;
    }
    if (!png && ctx->max_json_bytes && r->body.len > ctx->max_json_bytes) {
        char msg[160];
        snprintf(msg, sizeof msg, "the JSON answer of %zu bytes exceeds the max-json-bytes limit of %zu",
                 r->body.len, ctx->max_json_bytes);
        api_response_error(r, 413, msg);
        return;
    }
    if (gzip_ok && r->body.len >= ctx->gzip_min_bytes) {
        struct buf gz = {0};
        if (api_gzip(r->body.data, r->body.len, &gz, &e)) {
            buf_free(&r->body);
            r->body = gz;
            api_response_header_set(r, "Content-Encoding", "gzip");
            gzip_ok = true;
        } else {
            buf_free(&gz);
            gzip_ok = false;
        }
    } else {
        gzip_ok = false;
    }
    api_response_header_set(r, "ETag", gzip_ok ? etag_gz : etag);
    api_response_header_set(r, "Cache-Control", cache_control);
}

/* Methods per route: STOW is POST, deletion DELETE, everything else GET/HEAD. */
static const char *route_allow(enum api_route route)
{
    if (route == API_ROUTE_STOW)
        return "POST, OPTIONS";
    if (route == API_ROUTE_DELETE)
        return "DELETE, OPTIONS";
    if (route == API_ROUTE_RETRIEVE)
        return "GET, HEAD, DELETE, OPTIONS";
    if (route == API_ROUTE_SEARCH_STUDIES)
        return "GET, HEAD, POST, OPTIONS";
    return "GET, HEAD, OPTIONS";
}

static bool method_allowed(enum api_route route, enum api_method m)
{
    if (route == API_ROUTE_STOW)
        return m == API_METHOD_POST;
    if (route == API_ROUTE_DELETE)
        return m == API_METHOD_DELETE;
    return m == API_METHOD_GET || m == API_METHOD_HEAD;
}

static bool route_needs_store(enum api_route route)
{
    return route >= API_ROUTE_STOW && route < API_ROUTE_COUNT && route != API_ROUTE_FRAMES;
}

void api_handle(struct api_ctx *ctx, const struct api_request *req, struct api_response *r)
{
    char vary[128] = "";
    r->status = 500;
    if (req->method == API_METHOD_OPTIONS) {
        preflight(ctx, req, r);
        cors_headers(ctx, req, r, vary, sizeof vary);
        if (*vary)
            api_response_header_set(r, "Vary", vary);
        return;
    }
    const char *allow = route_allow(req->route);
    if (req->method == API_METHOD_OTHER) {
        api_response_error(r, 405, "only GET, HEAD, OPTIONS, POST and DELETE are supported");
        api_response_header_set(r, "Allow", allow);
    } else if (req->route_err.code != ERR_OK) {
        api_response_from_err(r, &req->route_err);
    } else if (!method_allowed(req->route, req->method)) {
        char msg[96];
        snprintf(msg, sizeof msg, "this resource allows %s", allow);
        api_response_error(r, 405, msg);
        api_response_header_set(r, "Allow", allow);
    } else if (route_needs_store(req->route) && !ctx->store) {
        api_response_error(r, 404, "no instance store");
    } else {
        struct err e = ERR_INIT;
        switch (req->route) {
        case API_ROUTE_HEALTHZ:
            r->status = 200;
            snprintf(r->content_type, sizeof r->content_type, "application/json");
            buf_append(&r->body, "{\"status\":\"ok\"}", 15, &e);
            api_response_header_set(r, "Cache-Control", "no-store");
            break;
        case API_ROUTE_READYZ:
            if (atomic_load(&ctx->ready)) {
                r->status = 200;
                snprintf(r->content_type, sizeof r->content_type, "application/json");
                buf_append(&r->body, "{\"status\":\"ready\"}", 18, &e);
            } else {
                api_response_error(r, 503, "not ready (starting or shutting down)");
            }
            api_response_header_set(r, "Cache-Control", "no-store");
            break;
        case API_ROUTE_METRICS:
            if (ctx->metrics && ctx->metrics(ctx->metrics_arg, &r->body, &e)) {
                r->status = 200;
                snprintf(r->content_type, sizeof r->content_type,
                         "text/plain; version=0.0.4; charset=utf-8");
                api_response_header_set(r, "Cache-Control", "no-store");
            } else {
                if (e.code == ERR_OK)
                    err_set(&e, ERR_NOT_FOUND, "metrics are not available");
                api_response_from_err(r, &e);
            }
            break;
        case API_ROUTE_NONE:
            api_response_error(r, 404, "no such route");
            break;
        case API_ROUTE_STOW:
            api_stow_store(ctx, req, r);
            break;
        case API_ROUTE_RETRIEVE:
            api_retrieve_get(ctx, req, r);
            break;
        case API_ROUTE_METADATA:
            api_metadata_get(ctx, req, r);
            break;
        case API_ROUTE_SEARCH_STUDIES:
        case API_ROUTE_SEARCH_SERIES:
        case API_ROUTE_SEARCH_INSTANCES:
            api_search_get(ctx, req, r);
            break;
        case API_ROUTE_DELETE:
            api_delete(ctx, req, r);
            break;
        default:
            instance_route(ctx, req, r, vary, sizeof vary);
            break;
        }
        if (e.code != ERR_OK)
            api_response_from_err(r, &e);
    }
    cors_headers(ctx, req, r, vary, sizeof vary);
    if (*vary)
        api_response_header_set(r, "Vary", vary);
}
