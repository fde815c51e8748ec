/* WADO-RS on the store at three levels (study, series, instance): retrieve, metadata
 * and DELETE; each fills r or an error response on a worker. Not stored, with
 * --upstream: from the upstream archive (api/pullthrough.c).
 *
 *   retrieve  multipart/related; type="application/dicom", the stored files
 *             streamed from disk (api/stream.h), byte for byte with transfer-syntax=*,
 *             else re-encoded into an uncompressed syntax (406 when it cannot be)
 *   metadata  application/dicom+json array, one object per instance
 *             (decoder_dicom_json_file), Pixel Data as BulkDataURI
 *   delete    200 {"deleted": n} (an extension) */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/handlers.h"
#include "api/http_error.h"
#include "api/negotiate.h"
#include "api/pullthrough.h"
#include "api/store_glue.h"
#include "api/stream.h"
#include "decoder/decoder.h"
#include "store/store.h"

static const char *scope_series(const struct api_request *req)
{
    return req->level >= API_LEVEL_SERIES ? req->res.series : NULL;
}

static const char *scope_sop(const struct api_request *req)
{
    return req->level >= API_LEVEL_INSTANCE ? req->res.sop : NULL;
}

/* ---- one part (PS3.18 8.7.3 transfer syntax) ---- */

bool api_retrieve_add_part(struct api_stream *s, struct store *store, const char *boundary, const char *path,
                           const char *stored_ts, const char *want_ts, const char *location, struct err *e)
{
    struct stat st;
    if (stat(path, &st))
        return err_set(e, ERR_NOT_FOUND, "instance file missing");
    /* no transfer-syntax: Explicit VR Little Endian; "*": the stored bytes */
    const char *want = want_ts && *want_ts ? want_ts : API_TS_EXPLICIT_LE;
    bool as_stored = !strcmp(want, "*") || (stored_ts && !strcmp(want, stored_ts));
    char head[1536];
    if (as_stored) {
        /* taken before any header goes out: the part's Content-Length and bytes are
         * those of one file (api/stream.h) */
        struct api_stream_file f;
        if (!api_stream_take_file(s, path, &f, e))
            return false;
        int n = snprintf(head, sizeof head,
                         "--%s\r\nContent-Type: application/dicom; transfer-syntax=%s\r\nContent-Length: %llu\r\n"
                         "Content-Location: %s\r\n\r\n",
                         boundary, stored_ts && *stored_ts ? stored_ts : "*", (unsigned long long)f.size, location);
        if (n < 0 || (size_t)n >= sizeof head) {
            api_stream_file_release(&f);
            return err_set(e, ERR_INTERNAL, "part header too long");
        }
        if (!api_stream_add_mem(s, head, (size_t)n, e)) {
            api_stream_file_release(&f);
            return false;
        }
        return api_stream_add_taken(s, &f, e) && api_stream_add_mem(s, "\r\n", 2, e);
    }
    if (!decoder_ts_uncompressed(want))
        return err_set(e, ERR_NOT_ACCEPTABLE, "transfer syntax %s cannot be produced (stored as %s)", want,
                       stored_ts && *stored_ts ? stored_ts : "unknown");
    char tmp[PATH_MAX];
    int fd = -1;
    if (!store || !store_tmp_create(store, tmp, sizeof tmp, &fd, e))
        return store ? false : err_set(e, ERR_INTERNAL, "no temp space for re-encoding");
    close(fd);
    struct err te = ERR_INIT;
    bool ok = decoder_transcode(path, want, tmp, 1u << 30, &te);
    if (!ok) {
        unlink(tmp);
        if (te.code == ERR_UNSUPPORTED)
            return err_set(e, ERR_NOT_ACCEPTABLE, "%s", te.msg);
        *e = te;
        return false;
    }
    /* into memory: the temp file goes now, whatever happens to the stream */
    FILE *f = fopen(tmp, "rb");
    unlink(tmp);
    if (!f)
        return err_set(e, ERR_IO, "re-encoded object vanished");
    struct buf b = {0};
    char chunk[65536];
    size_t k;
    while (ok && (k = fread(chunk, 1, sizeof chunk, f)) > 0)
        ok = buf_append(&b, chunk, k, e);
    fclose(f);
    int n = snprintf(head, sizeof head,
                     "--%s\r\nContent-Type: application/dicom; transfer-syntax=%s\r\nContent-Length: %zu\r\n"
                     "Content-Location: %s\r\n\r\n",
                     boundary, want, b.len, location);
    ok = ok && n > 0 && (size_t)n < sizeof head && api_stream_add_mem(s, head, (size_t)n, e) &&
         api_stream_add_mem(s, b.data, b.len, e) && api_stream_add_mem(s, "\r\n", 2, e);
    buf_free(&b);
    return ok;
}

/* ---- retrieve ---- */

struct retrieve_ctx {
    struct api_stream *s;
    const char *boundary;
    struct store *store;
    const char *want_ts;
    const char *base;
};

static bool retrieve_fn(void *arg, const struct store_attrs *a, const char *path, struct err *e)
{
    struct retrieve_ctx *rc = arg;
    char location[4 * STORE_UID_MAX + 1024];
    api_store_url(rc->base, a, API_LEVEL_INSTANCE, location, sizeof location);
    return api_retrieve_add_part(rc->s, rc->store, rc->boundary, path, a->transfer_syntax_uid, rc->want_ts,
                                 location, e);
}

void api_retrieve_get(struct api_ctx *ctx, const struct api_request *req, struct api_response *r)
{
    struct err e = ERR_INIT;
    if (!api_accepts_media(req->accept, "multipart/related", "application/dicom")) {
        api_response_fail(r, ERR_NOT_ACCEPTABLE, "this resource is multipart/related; type=\"application/dicom\"");
        return;
    }
    char boundary[64];
    api_boundary_make(req->request_id, boundary, sizeof boundary);
    char want_ts[80];
    api_accept_transfer_syntax(req->accept, want_ts, sizeof want_ts);
    struct retrieve_ctx rc = {api_stream_new(&e), boundary, ctx->store, want_ts, ctx->url_base};
    size_t n = 0;
    if (!rc.s || !store_instances_each(ctx->store, req->res.study, scope_series(req), scope_sop(req),
                                       retrieve_fn, &rc, &n, &e)) {
        api_stream_free(rc.s);
        if (e.code == ERR_NOT_FOUND && ctx->pull) /* not stored: from the upstream */
            api_pullthrough_retrieve(ctx, req, r);
        else
            api_response_from_err(r, &e);
        return;
    }
    char tail[96];
    int tn = snprintf(tail, sizeof tail, "--%s--\r\n", boundary);
    if (!api_stream_add_mem(rc.s, tail, (size_t)tn, &e)) {
        api_stream_free(rc.s);
        api_response_from_err(r, &e);
        return;
    }
    r->status = 200;
    r->stream = rc.s;
    snprintf(r->content_type, sizeof r->content_type,
             "multipart/related; type=\"application/dicom\"; boundary=%s", boundary);
    api_response_header_set(r, "Cache-Control", "no-cache");
}

/* ---- metadata ---- */

struct metadata_ctx {
    struct buf *out;
    size_t count;
    const char *base;
};

static bool metadata_fn(void *arg, const struct store_attrs *a, const char *path, struct err *e)
{
    struct metadata_ctx *mc = arg;
    char url[4 * STORE_UID_MAX + 1024], bulk[sizeof url + 16];
    api_store_url(mc->base, a, API_LEVEL_INSTANCE, url, sizeof url);
    /* every BulkDataURI, Pixel Data's too, is .../bulkdata/{tag} (api/bulkdata.c) */
    snprintf(bulk, sizeof bulk, "%s/bulkdata", url);
    if (mc->count++ && !buf_append(mc->out, ",", 1, e))
        return false;
    return decoder_dicom_json_file(path, NULL, bulk, mc->out, e);
}

void api_metadata_get(struct api_ctx *ctx, const struct api_request *req, struct api_response *r)
{
    struct err e = ERR_INIT;
    if (!api_accepts_media(req->accept, "application/dicom+json", NULL)) {
        api_response_fail(r, ERR_NOT_ACCEPTABLE, "this resource is application/dicom+json");
        return;
    }
    struct metadata_ctx mc = {&r->body, 0, ctx->url_base};
    size_t n = 0;
    api_json_limit_begin(r, ctx->max_json_bytes);
    if (!buf_append(&r->body, "[", 1, &e) ||
        !store_instances_each(ctx->store, req->res.study, scope_series(req), scope_sop(req),
                              metadata_fn, &mc, &n, &e) ||
        !buf_append(&r->body, "]", 1, &e)) {
        if (e.code == ERR_NOT_FOUND && ctx->pull) { /* not stored: from the upstream */
            buf_free(&r->body);
            api_pullthrough_metadata(ctx, req, r);
        } else {
            api_json_limit_fail(r, ctx->max_json_bytes, &e);
        }
        return;
    }
    r->body.limit = 0;
    r->status = 200;
    snprintf(r->content_type, sizeof r->content_type, "application/dicom+json");
    api_response_header_set(r, "Cache-Control", "no-cache");
}

/* ---- delete ---- */

void api_delete(struct api_ctx *ctx, const struct api_request *req, struct api_response *r)
{
    struct err e = ERR_INIT;
    size_t n = 0;
    if (!store_delete(ctx->store, req->res.study, scope_series(req), scope_sop(req), &n, &e)) {
        api_response_from_err(r, &e);
        return;
    }
    char text[64];
    int k = snprintf(text, sizeof text, "{\"deleted\":%zu}", n);
    if (!buf_append(&r->body, text, (size_t)k, &e)) {
        api_response_from_err(r, &e);
        return;
    }
    r->status = 200;
    snprintf(r->content_type, sizeof r->content_type, "application/json");
    api_response_header_set(r, "Cache-Control", "no-store");
}
