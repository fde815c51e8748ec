/* The dispatcher behind api_handle(): preflight and method first, then the row of
 * the route table (api/route_table.c) the router picked, then CORS. R/... rows (one
 * SEG, from --files-root or the store) are served here too: resolve R to a file,
 * answer If-None-Match, take the decoded index from the cache, run the row's index
 * handler, then the JSON limit, gzip, ETag and Cache-Control. Also the request body
 * hand-off the server calls without knowing which route takes a body. */
#include "api/api.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/content_id.h"
#include "api/gzip.h"
#include "api/handlers.h"
#include "api/negotiate.h"
#include "api/pullthrough.h"

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
        api_vary_add(vary, varysz, "Origin");
}

/* OPTIONS: the methods of the route's pattern; for a path that is no route (yet:
 * it may be one after a deployment), every method segweb has. */
static void preflight(const struct api_ctx *ctx, const struct api_request *req,
                      struct api_response *r)
{
    char allow[64] = "GET, HEAD, OPTIONS, POST, DELETE";
    if (req->route)
        api_route_allow(req, allow, sizeof allow);
    r->status = 204;
    api_response_header_set(r, "Allow", allow);
    bool any;
    if (origin_allowed(ctx->cors_origins, req->origin, &any)) {
        api_response_header_set(r, "Access-Control-Allow-Methods", allow);
        /* Authorization: a browser viewer on another origin sends the --auth-token
         * bearer token (listed whether or not a token is configured: harmless). */
        api_response_header_set(r, "Access-Control-Allow-Headers",
                                "Accept, Accept-Encoding, Authorization, If-None-Match, Content-Type, X-Request-Id");
        api_response_header_set(r, "Access-Control-Max-Age", "600");
    }
}

static void not_allowed(const struct api_request *req, struct api_response *r)
{
    char allow[64], msg[96];
    api_route_allow(req, allow, sizeof allow);
    if (req->method == API_METHOD_OTHER)
        snprintf(msg, sizeof msg, "only GET, HEAD, OPTIONS, POST and DELETE are supported");
    else
        snprintf(msg, sizeof msg, "this resource allows %s", allow);
    api_response_refuse(r, API_REFUSE_METHOD, msg);
    api_response_header_set(r, "Allow", allow);
}

#define ETAG_VERSION "segweb-2"
/* Every R/... answer is validated with its ETag (304 costs no decoding). None
 * is "immutable": no URL names its content (a hash), and a store URL changes
 * bytes after DELETE + STOW or --overwrite under the same UIDs. */
#define CACHE_VALIDATE "no-cache"

/* ---- R/... rows: the decoded-index cache ---- */

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

struct file_cache *api_index_cache_new(size_t budget_bytes, struct err *e)
{
    return file_cache_new(budget_bytes, index_load, index_free, NULL, e);
}

struct file_cache *api_index_cache_new_limited(size_t budget_bytes, const struct seg_limits *limits,
                                              struct err *e)
{
    return file_cache_new(budget_bytes, index_load, index_free, (void *)limits, e);
}

/* ---- R/... rows: R to a file, ETag, the row's index handler ---- */

struct resolved {
    char path[PATH_MAX];
    char open_path[64]; /* path files: the descriptor's name, "" when there is none */
    int fd;             /* path files: the file checked by api_path_confine_open, or -1 */
    struct file_id id;
    uint64_t content; /* api/content_id.h: the ETag's identity */
    bool pinned;   /* a pulled SEG in the object cache: release when done */
    bool answered; /* pull-through answered (a proxied non-SEG frame) */
};

static void resolved_close(struct resolved *rs)
{
    if (rs->fd >= 0)
        close(rs->fd);
    rs->fd = -1;
}

static bool resolve(struct api_ctx *ctx, const struct api_request *req, struct api_response *r,
                    struct resolved *out, struct err *e)
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
    } else {
        api_store_lookup_fn fn = ctx->store_lookup ? ctx->store_lookup : api_store_lookup_none;
        struct err le = ERR_INIT;
        if (!fn(ctx->store_arg, &req->res, out->path, sizeof out->path, &le)) {
            if (le.code != ERR_NOT_FOUND || !ctx->pull) {
                *e = le;
                return false;
            }
            /* not stored: from the upstream (--upstream) */
            if (!api_pullthrough_instance(ctx, req, r, out->path, sizeof out->path, &out->answered, e))
                return false;
            if (out->answered)
                return true;
            out->pinned = true;
        }
        if (stat(out->path, &st)) {
            if (out->pinned)
                api_pullthrough_release(ctx, &req->res);
            out->pinned = false;
            return err_set(e, ERR_NOT_FOUND, "instance not in store: %s", req->res.sop);
        }
    }
    out->id.dev = (uint64_t)st.st_dev;
    out->id.ino = (uint64_t)st.st_ino;
    out->id.size = (uint64_t)st.st_size;
    out->id.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    /* store objects (immutable; also what replicas share): the identity is their bytes;
     * path files (mutable, local): size and modification time, as before */
    if (req->res.kind == API_RES_FILE) {
        out->content = (uint64_t)out->id.mtime_ns ^ (out->id.ino << 20) ^ out->id.dev;
    } else if (!api_content_id(out->path, &st, &out->content, e)) {
        resolved_close(out);
        if (out->pinned)
            api_pullthrough_release(ctx, &req->res);
        out->pinned = false;
        return false;
    }
    return true;
}

/* Strong ETag over the object's bytes (not its path, inode or times: every replica
 * gives the same one) and the request variant. */
static void make_etag(const struct resolved *rs, const struct api_request *req, char out[40])
{
    char text[PATH_MAX + 512];
    /* volume routes' variants; empty otherwise, so other routes' ETags stay as they were */
    const char *variant = req->values_binary ? (req->grid_source ? "|bs" : "|b") : req->grid_source ? "|s" : "";
    snprintf(text, sizeof text, "%s|%016llx|%llu|%s|%u|%u|%d|%s|%u%s", ETAG_VERSION,
             (unsigned long long)rs->content, (unsigned long long)rs->id.size,
             api_route_name(req->route), req->segment, req->frame, req->style_color,
             req->source_uid, req->source_frame, variant);
    api_etag_make(text, out);
}

/* --max-json-bytes: false (and a 413 answer) when the body is over it. */
static bool within_limit(struct api_ctx *ctx, struct api_response *r)
{
    if (!ctx->max_json_bytes || r->body.len <= ctx->max_json_bytes)
        return true;
    char msg[160];
    snprintf(msg, sizeof msg, "the JSON answer of %zu bytes exceeds the max-json-bytes limit of %zu",
             r->body.len, ctx->max_json_bytes);
    api_response_fail(r, ERR_LIMIT, msg);
    return false;
}

/* gzip when asked for and worth it. Returns whether the body is now gzip. */
static bool gzip_body(struct api_ctx *ctx, struct api_response *r, bool gzip_ok, struct err *e)
{
    if (!gzip_ok || r->body.len < ctx->gzip_min_bytes)
        return false;
    struct buf gz = {0};
    if (!api_gzip(r->body.data, r->body.len, &gz, e)) {
        buf_free(&gz);
        return false;
    }
    buf_free(&r->body);
    r->body = gz;
    api_response_header_set(r, "Content-Encoding", "gzip");
    return true;
}

/* R resolved: ETag / 304, the cached index, the route's handler, gzip. Closes rs's
 * descriptor. */
static void serve_resolved(struct api_ctx *ctx, const struct api_request *req, struct api_response *r,
                           struct resolved *rs, bool gzip_ok, const struct api_media *media)
{
    struct err e = ERR_INIT;
    const struct api_route *rt = req->route;
    char etag[40], etag_gz[48];
    make_etag(rs, req, etag);
    snprintf(etag_gz, sizeof etag_gz, "%.*s-gz\"", (int)strlen(etag) - 1, etag);
    const char *cache_control = CACHE_VALIDATE;
    if (api_etag_matches(req->if_none_match, etag) || api_etag_matches(req->if_none_match, etag_gz)) {
        resolved_close(rs);
        r->status = 304;
        api_response_header_set(r, "ETag", gzip_ok ? etag_gz : etag);
        api_response_header_set(r, "Cache-Control", cache_control);
        return;
    }

    struct file_cache_entry *en =
        file_cache_get_at(ctx->cache, rs->path, rs->open_path[0] ? rs->open_path : NULL, &rs->id, &e);
    resolved_close(rs);
    if (!en && e.code == ERR_UNSUPPORTED && req->res.kind == API_RES_STORE &&
        !strcmp(api_route_name(req->route), "frames")) {
        /* not a SEG (a CT stored beside it): WADO-RS frames of the image itself */
        struct err fe = ERR_INIT;
        if (!api_frames_image(req, rs->path, r, &fe))
            api_response_from_err(r, &fe);
        else
            api_response_header_set(r, "ETag", etag);
        return;
    }
    if (!en) {
        err_prefix(&e, "%s", req->res.kind == API_RES_FILE ? req->res.file : req->res.sop);
        api_response_from_err(r, &e);
        return;
    }
    bool ok = rt->on_index(file_cache_value(en), req, r, &e);
    file_cache_release(ctx->cache, en);
    if (!ok) {
        api_response_from_err(r, &e);
        return;
    }
    if (media->json)
        api_response_json_newline(r); /* inside the gzip stream */
    if (media->limited && !within_limit(ctx, r))
        return;
    gzip_ok = gzip_body(ctx, r, gzip_ok, &e);
    api_response_header_set(r, "ETag", gzip_ok ? etag_gz : etag);
    api_response_header_set(r, "Cache-Control", cache_control);
}

void api_instance_serve(struct api_ctx *ctx, const struct api_request *req,
                        struct api_response *r, char *vary, size_t varysz)
{
    const struct api_route *rt = req->route;
    const struct api_media *media = rt->media ? rt->media : &API_MEDIA_JSON;
    struct err e = ERR_INIT;
    bool gzip_ok = false;
    if (!media->json) {
        api_vary_add(vary, varysz, "Accept");
        if (!api_accepts_media(req->accept, media->type, media->part_type)) {
            api_response_fail(r, ERR_NOT_ACCEPTABLE, media->refusal);
            return;
        }
    } else {
        gzip_ok = api_accepts_gzip(req->accept_encoding);
        api_vary_add(vary, varysz, "Accept-Encoding");
    }

    static __thread struct resolved rs;
    memset(&rs, 0, sizeof rs);
    rs.fd = -1;
    if (!resolve(ctx, req, r, &rs, &e)) {
        resolved_close(&rs);
        api_response_from_err(r, &e);
        return;
    }
    if (rs.answered) /* pull-through proxied it (a non-SEG's frames) */
        return;
    serve_resolved(ctx, req, r, &rs, gzip_ok, media);
    if (rs.pinned)
        api_pullthrough_release(ctx, &req->res);
}

/* ---- dispatch ---- */

static void dispatch(struct api_ctx *ctx, const struct api_request *req, struct api_response *r,
                     char *vary, size_t varysz)
{
    const struct api_route *rt = req->route;
    if (req->method == API_METHOD_OTHER)
        not_allowed(req, r);
    else if (req->route_err.code != ERR_OK)
        api_response_from_err(r, &req->route_err);
    else if (!rt)
        api_response_fail(r, ERR_NOT_FOUND, "no such route");
    else if (!api_route_allows(req))
        not_allowed(req, r);
    else if ((rt->flags & API_STORE) && !ctx->store)
        api_response_fail(r, ERR_NOT_FOUND, "no instance store");
    else if (rt->on_index)
        api_instance_serve(ctx, req, r, vary, varysz);
    else
        rt->handle(ctx, req, r);
}

void api_handle(struct api_ctx *ctx, const struct api_request *req, struct api_response *r)
{
    char vary[128] = "";
    r->status = api_status_from_err(ERR_INTERNAL); /* a handler that sets nothing */
    if (req->method == API_METHOD_OPTIONS)
        preflight(ctx, req, r);
    else
        dispatch(ctx, req, r, vary, sizeof vary);
    api_response_json_newline(r);
    cors_headers(ctx, req, r, vary, sizeof vary);
    if (*vary)
        api_response_header_set(r, "Vary", vary);
}

/* ---- request bodies ---- */

bool api_body_wanted(const struct api_request *req)
{
    return req->route_err.code == ERR_OK && api_route_allows(req) && req->route->body;
}

bool api_body_begin(struct api_ctx *ctx, struct api_request *req, struct err *e)
{
    if (!api_body_wanted(req))
        return true;
    void *state = req->route->body->begin(ctx, req, e);
    if (!state)
        return false;
    req->body.sink = req->route->body;
    req->body.state = state;
    return true;
}

bool api_body_feed(struct api_request *req, const void *p, size_t n, struct err *e)
{
    return !req->body.sink || req->body.sink->feed(req->body.state, p, n, e);
}

bool api_body_end(struct api_request *req, struct err *e)
{
    return !req->body.sink || req->body.sink->end(req->body.state, e);
}

void api_body_free(struct api_request *req)
{
    if (req->body.sink)
        req->body.sink->free(req->body.state);
    req->body.sink = NULL;
    req->body.state = NULL;
}
