/* STOW-RS (see stow.h). The HTTP thread only writes bytes to temp files; all
 * decoding happens in api_stow_store() on a worker. */
#include "api/stow.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/handlers.h"
#include "api/http_error.h"
#include "api/index_json.h"
#include "api/multipart.h"
#include "api/store_glue.h"
#include "common/utf8.h"
#include "decoder/decoder.h"

#define WBUF 65536

struct part {
    char path[PATH_MAX];
    char content_type[128];
    uint64_t bytes;
    bool complete;
};

struct api_stow {
    struct store *store;
    size_t max_parts;
    struct api_multipart *mp; /* NULL: a single application/dicom body */
    struct part *parts;
    size_t n, cap;
    int fd; /* temp file of the part being received, or -1 */
    uint8_t *wbuf;
    size_t wlen;
};

static bool wflush(struct api_stow *st, struct err *e)
{
    size_t off = 0;
    while (off < st->wlen) {
        ssize_t w = write(st->fd, st->wbuf + off, st->wlen - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return err_set(e, errno == ENOSPC || errno == EDQUOT ? ERR_NO_SPACE : ERR_IO,
                           "writing an uploaded part: %s", strerror(errno));
        off += (size_t)w;
    }
    st->wlen = 0;
    return true;
}

static bool part_begin(void *arg, const char *content_type, struct err *e)
{
    struct api_stow *st = arg;
    if (st->n >= st->max_parts)
        return err_set(e, ERR_LIMIT, "more than --max-parts %zu parts in one upload", st->max_parts);
    if (st->n == st->cap) {
        size_t nc = st->cap ? st->cap * 2 : 8;
        struct part *np = realloc(st->parts, nc * sizeof *np);
        if (!np)
            return err_set(e, ERR_NOMEM, "out of memory");
        st->parts = np;
        st->cap = nc;
    }
    struct part *p = &st->parts[st->n];
    memset(p, 0, sizeof *p);
    snprintf(p->content_type, sizeof p->content_type, "%s", content_type);
    if (!store_tmp_create(st->store, p->path, sizeof p->path, &st->fd, e))
        return false;
    st->n++;
    return true;
}

static bool part_data(void *arg, const uint8_t *p, size_t n, struct err *e)
{
    struct api_stow *st = arg;
    struct part *cur = &st->parts[st->n - 1];
    cur->bytes += n;
    while (n) {
        size_t k = WBUF - st->wlen < n ? WBUF - st->wlen : n;
        memcpy(st->wbuf + st->wlen, p, k);
        st->wlen += k;
        p += k;
        n -= k;
        if (st->wlen == WBUF && !wflush(st, e))
            return false;
    }
    return true;
}

static bool part_end(void *arg, struct err *e)
{
    struct api_stow *st = arg;
    bool ok = wflush(st, e);
    if (st->fd >= 0 && close(st->fd) && ok)
        ok = err_set(e, ERR_IO, "closing an uploaded part: %s", strerror(errno));
    st->fd = -1;
    if (ok)
        st->parts[st->n - 1].complete = true;
    return ok;
}

static const struct api_multipart_cb CB = {part_begin, part_data, part_end};

struct api_stow *api_stow_begin(struct store *store, const char *content_type, size_t max_parts,
                                struct err *e)
{
    if (!store) {
        err_set(e, ERR_NOT_FOUND, "no store");
        return NULL;
    }
    char media[128], type[128], boundary[API_MULTIPART_BOUNDARY_MAX + 1];
    if (!content_type || !*content_type) {
        err_set(e, ERR_UNSUPPORTED, "STOW-RS needs Content-Type multipart/related; type=\"application/dicom\"");
        return NULL;
    }
    if (!api_content_type_parse(content_type, media, sizeof media, type, sizeof type, boundary,
                                sizeof boundary, e))
        return NULL;
    bool multipart = !strcmp(media, "multipart/related");
    if (!multipart && strcmp(media, "application/dicom")) {
        err_set(e, ERR_UNSUPPORTED, "media type %s is not supported: use multipart/related; "
                "type=\"application/dicom\" (or a single application/dicom body)", media);
        return NULL;
    }
    if (multipart && *type && strcmp(type, "application/dicom")) {
        err_set(e, ERR_UNSUPPORTED, "multipart/related of type %s is not supported: "
                "only type=\"application/dicom\"", type);
        return NULL;
    }
    if (multipart && !*boundary) {
        err_set(e, ERR_PARSE, "multipart/related without a boundary parameter");
        return NULL;
    }
    struct api_stow *st = calloc(1, sizeof *st);
    if (!st || !(st->wbuf = malloc(WBUF))) {
        free(st);
        err_set(e, ERR_NOMEM, "out of memory");
        return NULL;
    }
    st->store = store;
    st->max_parts = max_parts ? max_parts : 1;
    st->fd = -1;
    if (multipart) {
        st->mp = api_multipart_new(boundary, &CB, st, e);
        if (!st->mp) {
            api_stow_free(st);
            return NULL;
        }
    } else if (!part_begin(st, "application/dicom", e)) {
        api_stow_free(st);
        return NULL;
    }
    return st;
}

bool api_stow_feed(struct api_stow *st, const void *p, size_t n, struct err *e)
{
    if (st->mp)
        return api_multipart_feed(st->mp, p, n, e);
    return part_data(st, p, n, e);
}

bool api_stow_end(struct api_stow *st, struct err *e)
{
    if (st->mp) {
        if (!api_multipart_finish(st->mp, e))
            return false;
        if (!st->n)
            return err_set(e, ERR_PARSE, "multipart body without parts");
        return true;
    }
    if (st->n && !st->parts[0].complete && !part_end(st, e))
        return false;
    if (!st->parts[0].bytes)
        return err_set(e, ERR_PARSE, "empty body");
    return true;
}

void api_stow_free(struct api_stow *st)
{
    if (!st)
        return;
    if (st->fd >= 0)
        close(st->fd);
    for (size_t i = 0; i < st->n; i++)
        if (st->parts[i].path[0])
            unlink(st->parts[i].path); /* stored parts were renamed away: ENOENT */
    api_multipart_free(st->mp);
    free(st->parts);
    free(st->wbuf);
    free(st);
}

/* ---- the body sink of the route table (api/route_table.c) ---- */

static void *sink_begin(struct api_ctx *ctx, const struct api_request *req, struct err *e)
{
    return api_stow_begin(ctx->store, req->content_type, ctx->stow_max_parts, e);
}

static bool sink_feed(void *st, const void *p, size_t n, struct err *e) { return api_stow_feed(st, p, n, e); }
static bool sink_end(void *st, struct err *e) { return api_stow_end(st, e); }
static void sink_free(void *st) { api_stow_free(st); }

const struct api_body_sink api_stow_sink = {sink_begin, sink_feed, sink_end, sink_free};

/* ---- the worker half ---- */

/* Fixed-size copies cut at a character boundary, never inside one. */
static void cp(char *dst, size_t sz, const char *src) { utf8_copy(dst, sz, src); }

static json_t *uid_attr(const char *vr, const char *v)
{
    return json_pack("{s:s,s:[o]}", "vr", vr, "Value", api_json_text(v));
}

static void set_if(json_t *item, const char *tag, const char *vr, const char *v)
{
    if (v && *v)
        json_object_set_new(item, tag, uid_attr(vr, v));
}

static bool is_seg_class(const char *cls)
{
    return !strcmp(cls, SEG_SOP_CLASS_SEGMENTATION) || !strcmp(cls, SEG_SOP_CLASS_LABELMAP);
}

/* What became of one part: stored (its URL) or failed (reason and why). */
struct outcome {
    char cls[API_UID_MAX + 1], sop[API_UID_MAX + 1];
    struct store_attrs a; /* stored: its UIDs */
    bool stored;
    unsigned reason; /* failed: the Failure Reason (0008,1197) */
    struct err e;    /* failed: the Error Comment */
};

static bool part_media_ok(const struct part *p)
{
    char media[128], type[64], boundary[8];
    struct err ce = ERR_INIT;
    return api_content_type_parse(p->content_type[0] ? p->content_type : "application/dicom", media,
                                  sizeof media, type, sizeof type, boundary, sizeof boundary, &ce) &&
           !strcmp(media, "application/dicom");
}

/* A DICOM object (its attributes in o->a) into the store, unless it belongs to
 * another study than the target. */
static void part_put(struct api_ctx *ctx, const struct api_request *req, const struct part *p,
                     const struct seg_index *idx, struct outcome *o)
{
    cp(o->sop, sizeof o->sop, o->a.sop_uid);
    enum store_put_result res = STORE_PUT_STORED;
    if (req->res.study[0] && strcmp(o->a.study_uid, req->res.study)) {
        o->reason = API_STOW_MISMATCH;
        err_set(&o->e, ERR_INVALID, "Study Instance UID %s does not match the target study %s",
                o->a.study_uid, req->res.study);
    } else if (!store_instance_put(ctx->store, p->path, &o->a, &res, &o->e)) {
        o->reason = api_stow_reason_from_err(o->e.code);
    } else if (res == STORE_PUT_CONFLICT) {
        o->reason = API_STOW_DUPLICATE;
        err_set(&o->e, ERR_INVALID, "SOP Instance UID %s is stored with other content", o->sop);
    } else {
        o->stored = true;
        if (res == STORE_PUT_STORED) /* idx (a SEG's) persisted beside it: no parse after a restart */
            api_store_index_persist(ctx->store, &o->a, idx);
    }
}

/* Validates part i (any DICOM object is kept; a SEG must also decode) and stores it. */
static void part_store(struct api_ctx *ctx, const struct api_request *req, const struct part *p,
                       size_t i, struct outcome *o)
{
    struct seg_index *idx = NULL; /* a SEG's index, built while validating it */
    memset(o, 0, sizeof *o);
    if (!p->complete) {
        o->reason = api_stow_reason_from_err(ERR_PARSE);
        err_set(&o->e, ERR_PARSE, "part %zu incomplete", i + 1);
    } else if (!part_media_ok(p)) {
        o->reason = API_STOW_CANNOT_UNDERSTAND;
        err_set(&o->e, ERR_UNSUPPORTED, "part %zu is %s, not application/dicom", i + 1,
                p->content_type);
    } else if (!api_store_attrs_any(p->path, ctx->stow_limits, &o->a, o->cls, sizeof o->cls, &idx, &o->e)) {
        char c2[API_UID_MAX + 1];
        decoder_file_uids(p->path, c2, sizeof c2, o->sop, sizeof o->sop);
        o->reason = api_stow_reason_from_err(o->e.code);
        if (o->e.code == ERR_UNSUPPORTED && *o->cls && is_seg_class(o->cls))
            o->reason = API_STOW_CANNOT_UNDERSTAND; /* a SEG in a transfer syntax we cannot read */
    } else {
        part_put(ctx, req, p, idx, o);
    }
    decoder_seg_free(idx);
}

/* The Store Instances Response being built. */
struct stow_doc {
    const char *base; /* --public-url + --base-path, or "" */
    json_t *ok_items, *bad_items;
    char study_url[API_UID_MAX + 16];
    bool one_study;
    size_t stored, failed, exhausted; /* exhausted: failed for want of descriptors */
};

static void doc_add(struct stow_doc *d, const struct outcome *o)
{
    json_t *item = json_object();
    set_if(item, "00081150", "UI", o->cls);
    set_if(item, "00081155", "UI", o->sop);
    if (o->stored) {
        char url[4 * API_UID_MAX + 1024];
        api_store_url(d->base, &o->a, API_LEVEL_INSTANCE, url, sizeof url);
        set_if(item, "00081190", "UR", url);
        json_array_append_new(d->ok_items, item);
        d->stored++;
        if (!*d->study_url)
            snprintf(d->study_url, sizeof d->study_url, "/studies/%s", o->a.study_uid);
        else if (strcmp(d->study_url + 9, o->a.study_uid))
            d->one_study = false;
        return;
    }
    json_object_set_new(item, "00081197",
                        json_pack("{s:s,s:[i]}", "vr", "US", "Value", (json_int_t)o->reason));
    set_if(item, "00000902", "LO", o->e.msg); /* Error Comment: the reason in words */
    json_array_append_new(d->bad_items, item);
    d->failed++;
    d->exhausted += o->e.code == ERR_EXHAUSTED;
}

/* The document (RetrieveURL of the study when there is one, failed, stored); d's arrays consumed. */
static json_t *doc_finish(struct stow_doc *d, const struct api_request *req)
{
    json_t *doc = json_object();
    if (req->res.study[0])
        snprintf(d->study_url, sizeof d->study_url, "/studies/%s", req->res.study);
    if (*d->study_url && d->one_study) {
        char full[sizeof d->study_url + 1024];
        snprintf(full, sizeof full, "%s%s", d->base, d->study_url);
        json_object_set_new(doc, "00081190", uid_attr("UR", full));
    }
    if (json_array_size(d->bad_items))
        json_object_set_new(doc, "00081198", json_pack("{s:s,s:O}", "vr", "SQ", "Value", d->bad_items));
    if (json_array_size(d->ok_items))
        json_object_set_new(doc, "00081199", json_pack("{s:s,s:O}", "vr", "SQ", "Value", d->ok_items));
    json_decref(d->ok_items);
    json_decref(d->bad_items);
    return doc;
}

void api_stow_store(struct api_ctx *ctx, const struct api_request *req, struct api_response *r)
{
    struct api_stow *st = req->body.sink == &api_stow_sink ? req->body.state : NULL;
    if (!st || !ctx->store) {
        api_response_fail(r, ERR_INTERNAL, "upload state missing");
        return;
    }
    struct stow_doc d = {ctx->url_base ? ctx->url_base : "", json_array(), json_array(), "", true, 0, 0, 0};
    for (size_t i = 0; i < st->n; i++) {
        struct outcome o;
        part_store(ctx, req, &st->parts[i], i, &o);
        if (!o.stored)
            unlink(st->parts[i].path);
        doc_add(&d, &o);
    }
    struct err e = ERR_INIT;
    if (!api_response_json(r, doc_finish(&d, req), "application/dicom+json", 0, &e)) {
        api_response_from_err(r, &e);
        return;
    }
    r->status = api_stow_status(d.stored, d.failed, d.exhausted);
    api_response_header_set(r, "Cache-Control", "no-store");
    if (r->status == 503)
        api_response_header_set(r, "Retry-After", "1");
    if (d.failed)
        snprintf(r->error, sizeof r->error, "%zu of %zu parts not stored", d.failed, st->n);
}
