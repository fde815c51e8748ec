/* Pull-through hooks (see pullthrough.h). */
#include "api/pullthrough.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api/handlers.h"
#include "api/http_error.h"
#include "api/negotiate.h"
#include "api/proxy.h"
#include "api/pull.h"
#include "api/stream.h"
#include "decoder/decoder.h"

/* The request's path and query as the upstream should see them (our base path
 * is already gone from req->target). */
static const char *upstream_target(const struct api_request *req) { return req->target; }

static bool is_frames_route(const struct api_request *req)
{
    const char *t = req->target;
    const char *q = strchr(t, '?');
    size_t n = q ? (size_t)(q - t) : strlen(t);
    /* .../frames/{list} or .../frames/{f}/rendered (also /rendered of the instance) */
    const char *f = NULL;
    for (const char *p = t; p < t + n; p++)
        if (!strncmp(p, "/frames/", 8))
            f = p;
    if (f)
        return true;
    for (const char *p = t; p + 10 <= t + n; p++) /* .../bulkdata/{tag} of a non-SEG: proxied too */
        if (!strncmp(p, "/bulkdata/", 10))
            return true;
    return n >= 9 && !strncmp(t + n - 9, "/rendered", 9);
}

bool api_pullthrough_instance(struct api_ctx *ctx, const struct api_request *req, struct api_response *r,
                              char *path, size_t pathsz, bool *answered, struct err *e)
{
    *answered = false;
    if (!ctx->pull)
        return err_set(e, ERR_NOT_FOUND, "instance not in store: %s", req->res.sop);
    if (api_pull_cached(ctx->pull, req->res.sop, path, pathsz))
        return true;
    bool is_seg = false;
    if (!api_pull_classify(ctx->pull, req->res.study, req->res.series, req->res.sop, &is_seg, e))
        return false;
    if (is_seg)
        return api_pull_seg(ctx->pull, req->res.study, req->res.series, req->res.sop, path, pathsz, NULL, e);
    if (is_frames_route(req)) {
        if (!api_proxy_stream(ctx->pull, upstream_target(req), req->accept[0] ? req->accept : NULL, r, e))
            return false;
        *answered = true;
        return true;
    }
    return err_set(e, ERR_UNSUPPORTED, "instance %s is not a segmentation: this route serves SEG only",
                   req->res.sop);
}

void api_pullthrough_release(struct api_ctx *ctx, const struct api_resource *res)
{
    if (ctx->pull)
        api_pull_release(ctx->pull, res->sop);
}

/* ---- retrieve ---- */

static void boundary_of(const struct api_request *req, char *out, size_t sz)
{
    unsigned long h = 5381;
    for (const char *c = req->request_id; *c; c++)
        h = h * 33 + (unsigned char)*c;
    snprintf(out, sz, "segweb-%016lx", h);
}

/* A SEG of the upstream, from the object cache: the same multipart a stored one gets
 * (transfer-syntax negotiation included). */
static bool retrieve_seg(struct api_ctx *ctx, const struct api_request *req, struct api_response *r, struct err *e)
{
    char path[PATH_MAX];
    if (!api_pull_seg(ctx->pull, req->res.study, req->res.series, req->res.sop, path, sizeof path, NULL, e))
        return false;
    struct decoder_attrs a;
    char boundary[64], location[4 * API_UID_MAX + 1100], want_ts[80], tail[96];
    boundary_of(req, boundary, sizeof boundary);
    api_accept_transfer_syntax(req->accept, want_ts, sizeof want_ts);
    snprintf(location, sizeof location, "%s/studies/%s/series/%s/instances/%s", ctx->url_base ? ctx->url_base : "",
             req->res.study, req->res.series, req->res.sop);
    struct api_stream *s = NULL;
    /* the stream opens the file when it reaches it: by then the pin is gone, but an
     * open descriptor outlives an eviction, and a file evicted before that ends the
     * body with an error, never with other bytes */
    bool ok = decoder_attrs_read(path, &a, e) && (s = api_stream_new(e)) &&
              api_retrieve_add_part(s, ctx->store, boundary, path, a.transfer_syntax_uid, want_ts, location, e);
    int tn = snprintf(tail, sizeof tail, "--%s--\r\n", boundary);
    ok = ok && api_stream_add_mem(s, tail, (size_t)tn, e);
    api_pull_release(ctx->pull, req->res.sop);
    if (!ok) {
        api_stream_free(s);
        return false;
    }
    r->status = 200;
    r->stream = s;
    snprintf(r->content_type, sizeof r->content_type, "multipart/related; type=\"application/dicom\"; boundary=%s",
             boundary);
    api_response_header_set(r, "Cache-Control", "no-cache");
    return true;
}

void api_pullthrough_retrieve(struct api_ctx *ctx, const struct api_request *req, struct api_response *r)
{
    struct err e = ERR_INIT;
    if (!ctx->pull) {
        err_set(&e, ERR_NOT_FOUND, "not in the store");
        api_response_from_err(r, &e);
        return;
    }
    bool ok;
    bool is_seg = false;
    if (req->level == API_LEVEL_INSTANCE &&
        api_pull_classify(ctx->pull, req->res.study, req->res.series, req->res.sop, &is_seg, &e) && is_seg)
        ok = retrieve_seg(ctx, req, r, &e);
    else if (e.code != ERR_OK)
        ok = false;
    else
        ok = api_proxy_stream(ctx->pull, upstream_target(req), req->accept[0] ? req->accept : NULL, r, &e);
    if (!ok)
        api_response_from_err(r, &e);
}

/* ---- metadata ---- */

void api_pullthrough_metadata(struct api_ctx *ctx, const struct api_request *req, struct api_response *r)
{
    struct err e = ERR_INIT;
    const char *base = ctx->url_base ? ctx->url_base : "";
    bool ok = true;
    if (!ctx->pull) {
        ok = err_set(&e, ERR_NOT_FOUND, "not in the store");
    } else if (req->level == API_LEVEL_INSTANCE) {
        char path[PATH_MAX];
        bool answered = false;
        bool is_seg = false;
        if (api_pull_cached(ctx->pull, req->res.sop, path, sizeof path)) {
            is_seg = true;
        } else if (api_pull_classify(ctx->pull, req->res.study, req->res.series, req->res.sop, &is_seg, &e) &&
                   is_seg) {
            ok = api_pull_seg(ctx->pull, req->res.study, req->res.series, req->res.sop, path, sizeof path, NULL, &e);
        } else if (e.code != ERR_OK) {
            ok = false;
        }
        (void)answered;
        if (ok && is_seg) {
            char url[4 * API_UID_MAX + 1200], bulk[sizeof url + 16];
            snprintf(url, sizeof url, "%s/studies/%s/series/%s/instances/%s", base, req->res.study, req->res.series,
                     req->res.sop);
            snprintf(bulk, sizeof bulk, "%s/bulkdata", url); /* api/bulkdata.c, Pixel Data included */
            ok = buf_append(&r->body, "[", 1, &e) && decoder_dicom_json_file(path, NULL, bulk, &r->body, &e) &&
                 buf_append(&r->body, "]", 1, &e);
            api_pull_release(ctx->pull, req->res.sop);
            if (ok) {
                r->status = 200;
                snprintf(r->content_type, sizeof r->content_type, "application/dicom+json");
                api_response_header_set(r, "Cache-Control", "no-cache");
                return;
            }
        }
    }
    if (ok) { /* anything else: the upstream's JSON, rebased */
        struct buf up = {0};
        long status = 0;
        ok = api_pull_json(ctx->pull, upstream_target(req), &up, &status, &e);
        if (ok && status == 404)
            ok = err_set(&e, ERR_NOT_FOUND, "neither in the store nor in the upstream");
        else if (ok && (status < 200 || status >= 300))
            ok = err_set(&e, ERR_UPSTREAM, "upstream: metadata answered %ld", status);
        buf_free(&r->body);
        if (ok)
            ok = api_proxy_json_rewrite(up.data, up.len, base, &r->body, &e);
        buf_free(&up);
        if (ok) {
            r->status = 200;
            snprintf(r->content_type, sizeof r->content_type, "application/dicom+json");
            api_response_header_set(r, "Cache-Control", "no-cache");
            return;
        }
    }
    api_response_from_err(r, &e);
}

/* ---- QIDO ---- */

static const char *first_string(json_t *obj, const char *tag)
{
    json_t *s = json_array_get(json_object_get(json_object_get(obj, tag), "Value"), 0);
    return json_is_string(s) ? json_string_value(s) : NULL;
}

bool api_pullthrough_search(struct api_ctx *ctx, const struct api_request *req, const char *key_tag,
                            unsigned limit, struct buf *body, struct err *e)
{
    if (!ctx->pull)
        return true;
    struct buf up = {0}, rebased = {0};
    long status = 0;
    bool ok = api_pull_json(ctx->pull, upstream_target(req), &up, &status, e);
    if (ok && status == 204) {
        buf_free(&up);
        return true;
    }
    if (ok && status != 200)
        ok = err_set(e, ERR_UPSTREAM, "upstream: search answered %ld", status);
    if (ok && up.len)
        ok = api_proxy_json_rewrite(up.data, up.len, ctx->url_base ? ctx->url_base : "", &rebased, e);
    buf_free(&up);
    json_t *local = NULL, *remote = NULL;
    json_error_t je;
    if (ok && rebased.len) {
        local = body->len ? json_loadb((const char *)body->data, body->len, 0, &je) : json_array();
        remote = json_loadb((const char *)rebased.data, rebased.len, 0, &je);
        if (!json_is_array(local))
            ok = err_set(e, ERR_INTERNAL, "local search answer is not a JSON array");
        else if (!json_is_array(remote))
            ok = err_set(e, ERR_UPSTREAM, "upstream: search answer is not a JSON array");
    }
    buf_free(&rebased);
    if (ok && local && remote) {
        size_t i;
        json_t *item;
        json_array_foreach(remote, i, item) {
            if (limit && json_array_size(local) >= limit)
                break;
            const char *uid = first_string(item, key_tag);
            if (!uid)
                continue;
            bool dup = false;
            size_t j;
            json_t *have;
            json_array_foreach(local, j, have) {
                const char *h = first_string(have, key_tag);
                if (h && !strcmp(h, uid)) {
                    dup = true;
                    break;
                }
            }
            if (!dup)
                json_array_append(local, item);
        }
        body->len = 0;
        ok = api_json_append(body, json_incref(local), 0, e);
    }
    json_decref(local);
    json_decref(remote);
    return ok;
}
