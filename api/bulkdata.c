/* WADO-RS bulkdata (PS3.18 8.4, 10.4.1.1.3): GET .../instances/{sop}/bulkdata/{tag}, the
 * resource every BulkDataURI segweb writes in /metadata names. The answer is
 * multipart/related; type="application/octet-stream" with one part holding the value
 * of the instance's top-level element {tag}, as Explicit VR Little Endian carries it
 * (decoder_bulkdata). For Pixel Data that is the whole native value, all frames: a
 * compressed object is decoded (a SEG by segweb's codecs, BINARY frames packed back to
 * back), which is what a viewer such as OHIF reads a SEG's pixels from. The part's
 * Content-Type names transfer-syntax=1.2.840.10008.1.2.1 for Pixel Data; a request for
 * any other syntax than that or "*" is 406, as for /frames.
 *
 * The instance comes from the store, or from the object cache / the upstream with
 * --upstream (a SEG is pulled whole; any other instance's bulkdata is proxied). */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "api/handlers.h"
#include "api/http_error.h"
#include "api/negotiate.h"
#include "api/pullthrough.h"
#include "decoder/decoder.h"
#include "store/store.h"

#define PIXEL_DATA 0x7FE00010u
#define BULK_MAX (1ull << 30) /* as for a re-encoded retrieve */

struct bulk_ctx {
    uint32_t tag;
    struct buf *value;
    bool stored; /* the instance is in the store (a failure is then its own) */
};

static bool bulk_fn(void *arg, const struct store_attrs *a, const char *path, struct err *e)
{
    (void)a;
    struct bulk_ctx *bc = arg;
    bc->stored = true;
    return decoder_bulkdata(path, bc->tag, BULK_MAX, bc->value, e);
}

/* The one-part multipart answer around value. */
static bool answer(const struct api_request *req, uint32_t tag, const struct buf *value, struct api_response *r,
                   struct err *e)
{
    char boundary[64], head[256], tail[96];
    api_boundary_make(req->request_id, boundary, sizeof boundary);
    int hn = snprintf(head, sizeof head, "--%s\r\nContent-Type: application/octet-stream%s\r\nContent-Length: %zu\r\n\r\n",
                      boundary, tag == PIXEL_DATA ? "; transfer-syntax=" API_TS_EXPLICIT_LE : "", value->len);
    int tn = snprintf(tail, sizeof tail, "\r\n--%s--\r\n", boundary);
    if (!buf_append(&r->body, head, (size_t)hn, e) || !buf_append(&r->body, value->data, value->len, e) ||
        !buf_append(&r->body, tail, (size_t)tn, e))
        return false;
    r->status = 200;
    snprintf(r->content_type, sizeof r->content_type,
             "multipart/related; type=\"application/octet-stream\"; boundary=%s", boundary);
    api_response_header_set(r, "Cache-Control", "no-cache");
    return true;
}

void api_bulkdata_get(struct api_ctx *ctx, const struct api_request *req, struct api_response *r)
{
    struct err e = ERR_INIT;
    if (!api_accepts_media(req->accept, "multipart/related", "application/octet-stream")) {
        api_response_fail(r, ERR_NOT_ACCEPTABLE, "bulk data is multipart/related; type=\"application/octet-stream\"");
        return;
    }
    char want_ts[80];
    api_accept_transfer_syntax(req->accept, want_ts, sizeof want_ts);
    if (*want_ts && strcmp(want_ts, "*") && strcmp(want_ts, API_TS_EXPLICIT_LE)) {
        err_set(&e, ERR_NOT_ACCEPTABLE, "bulk data is served uncompressed (transfer-syntax=%s), not %s",
                API_TS_EXPLICIT_LE, want_ts);
        api_response_from_err(r, &e);
        return;
    }
    struct buf value = {0};
    struct bulk_ctx bc = {req->tag, &value, false};
    size_t n = 0;
    bool ok = store_instances_each(ctx->store, req->res.study, req->res.series, req->res.sop, bulk_fn, &bc, &n, &e);
    if (!ok && !bc.stored && e.code == ERR_NOT_FOUND && ctx->pull) { /* not stored: from the upstream */
        char path[PATH_MAX];
        bool answered = false;
        buf_free(&value);
        e = (struct err)ERR_INIT;
        ok = api_pullthrough_instance(ctx, req, r, path, sizeof path, &answered, &e);
        if (ok && answered)
            return;
        if (ok) {
            ok = decoder_bulkdata(path, req->tag, BULK_MAX, &value, &e);
            api_pullthrough_release(ctx, &req->res);
        }
    }
    if (!ok && e.code == ERR_UNSUPPORTED) /* nothing decodes it: this representation cannot be produced */
        e.code = ERR_NOT_ACCEPTABLE;
    if (ok)
        ok = answer(req, req->tag, &value, r, &e);
    buf_free(&value);
    if (!ok)
        api_response_from_err(r, &e);
}
