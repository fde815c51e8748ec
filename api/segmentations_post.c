/* POST /studies/{study}/series/{series}/segmentations (a segweb extension): a SEG
 * written from label volumes or PNG masks over a source series in the store.
 *
 *   HTTP thread (body sink): a multipart/related body; every part goes to a temp
 *       file in the store's tmp/ with its Content-Type and its name (Content-Location,
 *       else Content-ID); nothing is decoded.
 *   worker (api_segmentations_post): the application/json part is dcmqi's metadata;
 *       the other parts, in order, are label sources: NIfTI (application/x-nifti,
 *       application/gzip for .nii.gz), NRRD (application/x-nrrd), or PNG masks
 *       (image/png, or application/octet-stream holding a PNG) named by the SOP
 *       Instance UID of their source image -- all masks together are one label
 *       source, at the place of the first. The source series comes from the store;
 *       the SEG is written to a temp file, indexed by the decoder, and stored as STOW
 *       stores (store_instance_put). Answer: 201, the Store Instances Response
 *       (DICOM JSON) with the new instance's Retrieve URL, and Location.
 *   Query: type=BINARY|FRACTIONAL|LABELMAP, compress=none|rle|deflate,
 *       skip-empty-frames=yes|no (as `segweb create`).
 * Errors go through struct err: a grid that does not match the source, labels
 * missing from the metadata, a broken volume: 422 / 400 with the reason; nothing
 * is stored. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/handlers.h"
#include "api/http_error.h"
#include "api/multipart.h"
#include "api/route.h"
#include "api/store_glue.h"
#include "decoder/decoder.h"
#include "store/store.h"
#include "writer/writer.h"

#define META_MAX (4u << 20) /* bytes of the metadata JSON */

struct upart {
    char path[PATH_MAX];
    char media[96];
    char name[API_UID_MAX + 1];
    uint64_t bytes;
    bool complete;
};

struct upload {
    struct store *store;
    struct api_multipart *mp;
    struct upart *parts;
    size_t n, cap, max_parts;
    int fd;
};

/* ---- the body sink (HTTP thread) ---- */

/* Content-Location: <uid>, else Content-ID: <uid> (angle brackets and a leading
 * "urn:oid:" are dropped); "" when neither names a UID. */
static void part_name(const struct api_multipart *mp, char *out, size_t outsz)
{
    char v[API_HEADER_MAX + 1];
    out[0] = 0;
    if (!api_multipart_part_header(mp, "Content-Location", v, sizeof v) &&
        !api_multipart_part_header(mp, "Content-ID", v, sizeof v))
        return;
    char *p = v, *end = v + strlen(v);
    while (*p == ' ' || *p == '<')
        p++;
    while (end > p && (end[-1] == ' ' || end[-1] == '>'))
        *--end = 0;
    if (!strncasecmp(p, "urn:oid:", 8))
        p += 8;
    if (!*p || strlen(p) >= outsz)
        return;
    for (const char *q = p; *q; q++)
        if ((*q < '0' || *q > '9') && *q != '.')
            return; /* not a UID */
    snprintf(out, outsz, "%s", p);
}

static bool part_begin(void *arg, const char *content_type, struct err *e)
{
    struct upload *up = arg;
    if (up->n >= up->max_parts)
        return err_set(e, ERR_LIMIT, "more than --max-parts %zu parts in one upload", up->max_parts);
    if (up->n == up->cap) {
        size_t nc = up->cap ? up->cap * 2 : 8;
        struct upart *np = realloc(up->parts, nc * sizeof *np);
        if (!np)
            return err_set(e, ERR_NOMEM, "out of memory");
        up->parts = np;
        up->cap = nc;
    }
    struct upart *p = &up->parts[up->n];
    memset(p, 0, sizeof *p);
    char type[64], boundary[8];
    struct err ce = ERR_INIT;
    if (!*content_type || !api_content_type_parse(content_type, p->media, sizeof p->media, type, sizeof type,
                                                  boundary, sizeof boundary, &ce))
        snprintf(p->media, sizeof p->media, "application/octet-stream");
    part_name(up->mp, p->name, sizeof p->name);
    if (!store_tmp_create(up->store, p->path, sizeof p->path, &up->fd, e))
        return false;
    up->n++;
    return true;
}

static bool part_data(void *arg, const uint8_t *p, size_t n, struct err *e)
{
    struct upload *up = arg;
    up->parts[up->n - 1].bytes += n;
    while (n) {
        ssize_t w = write(up->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return err_set(e, errno == ENOSPC || errno == EDQUOT ? ERR_NO_SPACE : ERR_IO,
                           "writing an uploaded part: %s", strerror(errno));
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static bool part_end(void *arg, struct err *e)
{
    struct upload *up = arg;
    int fd = up->fd;
    up->fd = -1;
    if (close(fd) != 0)
        return err_set(e, ERR_IO, "closing an uploaded part: %s", strerror(errno));
    up->parts[up->n - 1].complete = true;
    return true;
}

static const struct api_multipart_cb CB = {part_begin, part_data, part_end};

static void upload_free(void *state)
{
    struct upload *up = state;
    if (!up)
        return;
    if (up->fd >= 0)
        close(up->fd);
    for (size_t i = 0; i < up->n; i++)
        unlink(up->parts[i].path);
    api_multipart_free(up->mp);
    free(up->parts);
    free(up);
}

static void *sink_begin(struct api_ctx *ctx, const struct api_request *req, struct err *e)
{
    if (!ctx->store) {
        err_set(e, ERR_NOT_FOUND, "no instance store");
        return NULL;
    }
    char media[96], type[96], boundary[API_MULTIPART_BOUNDARY_MAX + 1];
    if (!api_content_type_parse(req->content_type, media, sizeof media, type, sizeof type, boundary,
                                sizeof boundary, e))
        return NULL;
    if (strcmp(media, "multipart/related")) {
        err_set(e, ERR_UNSUPPORTED, "POST .../segmentations takes multipart/related (metadata JSON + label parts), "
                                    "not %s", media);
        return NULL;
    }
    struct upload *up = calloc(1, sizeof *up);
    if (!up) {
        err_set(e, ERR_NOMEM, "out of memory");
        return NULL;
    }
    up->store = ctx->store;
    up->fd = -1;
    up->max_parts = ctx->stow_max_parts ? ctx->stow_max_parts : 1;
    if (!(up->mp = api_multipart_new(boundary, &CB, up, e))) {
        upload_free(up);
        return NULL;
    }
    return up;
}

static bool sink_feed(void *state, const void *p, size_t n, struct err *e)
{
    struct upload *up = state;
    return api_multipart_feed(up->mp, p, n, e);
}

static bool sink_end(void *state, struct err *e)
{
    struct upload *up = state;
    return api_multipart_finish(up->mp, e);
}

const struct api_body_sink api_segmentations_sink = {sink_begin, sink_feed, sink_end, upload_free};

/* ---- the worker half ---- */

static char *slurp(const char *path, size_t max, size_t *len, struct err *e)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        err_set(e, ERR_IO, "cannot read an uploaded part");
        return NULL;
    }
    struct stat st;
    char *b = NULL;
    if (fstat(fileno(f), &st) != 0 || (uint64_t)st.st_size > max)
        err_set(e, ERR_LIMIT, "the metadata JSON is larger than %zu bytes", max);
    else if (!(b = malloc((size_t)st.st_size + 1)))
        err_set(e, ERR_NOMEM, "out of memory");
    else if (fread(b, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
        free(b);
        b = NULL;
        err_set(e, ERR_IO, "cannot read an uploaded part");
    } else
        *len = (size_t)st.st_size;
    fclose(f);
    return b;
}

static bool is_png_file(const char *path)
{
    unsigned char sig[8];
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    bool ok = fread(sig, 1, 8, f) == 8 && !memcmp(sig, "\x89PNG\r\n\x1a\n", 8);
    fclose(f);
    return ok;
}

struct paths {
    char **v;
    size_t n, cap;
};

static bool collect(void *arg, const struct store_attrs *a, const char *path, struct err *e)
{
    struct paths *p = arg;
    if (p->n == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 64;
        char **nv = realloc(p->v, nc * sizeof *nv);
        if (!nv)
            return err_set(e, ERR_NOMEM, "out of memory");
        p->v = nv;
        p->cap = nc;
    }
    if (!(p->v[p->n] = strdup(path)))
        return err_set(e, ERR_NOMEM, "out of memory");
    p->n++;
    return true;
}

/* type / compress / skip-empty-frames from the query string */
static bool options_from_query(const char *target, struct writer_options *o, struct err *e)
{
    const char *q = strchr(target, '?');
    if (!q)
        return true;
    char buf[API_TARGET_MAX + 1];
    snprintf(buf, sizeof buf, "%s", q + 1);
    char *save = NULL;
    for (char *kv = strtok_r(buf, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq)
            continue;
        *eq = 0;
        const char *k = kv, *v = eq + 1;
        if (!strcmp(k, "type")) {
            if (!writer_type_parse(v, &o->type))
                return err_set(e, ERR_PARSE, "type is BINARY, FRACTIONAL or LABELMAP");
        } else if (!strcmp(k, "compress")) {
            if (!writer_compress_parse(v, &o->compress))
                return err_set(e, ERR_PARSE, "compress is none, rle or deflate");
        } else if (!strcmp(k, "skip-empty-frames")) {
            if (strcmp(v, "yes") && strcmp(v, "no"))
                return err_set(e, ERR_PARSE, "skip-empty-frames is yes or no");
            o->keep_empty_frames = !strcmp(v, "no");
        }
    }
    return true;
}

/* What an upload gives the writer: the metadata and the label sources (each NIfTI or
 * NRRD part one source; all PNG masks together one source, at mask_slot). */
struct inputs {
    char *json;
    struct writer_meta *meta;
    struct writer_labels *labels[64];
    size_t n_labels;
    struct writer_mask *masks;
    char **mask_bufs;
    size_t n_masks, mask_slot;
};

static void inputs_free(struct inputs *in)
{
    for (size_t i = 0; i < in->n_labels; i++)
        writer_labels_free(in->labels[i]);
    for (size_t i = 0; in->mask_bufs && i < in->n_masks; i++)
        free(in->mask_bufs[i]);
    free(in->mask_bufs);
    free(in->masks);
    writer_meta_free(in->meta);
    free(in->json);
}

static bool label_slot(struct inputs *in, size_t *slot, struct err *e)
{
    if (in->n_labels == 64)
        return err_set(e, ERR_LIMIT, "more than 64 label sources");
    *slot = in->n_labels++;
    return true;
}

/* A PNG part: kept in memory, named by its SOP Instance UID (Content-Location). */
static bool png_part(struct inputs *in, const struct upart *p, size_t i, struct err *e)
{
    if (!p->name[0])
        return err_set(e, ERR_PARSE, "PNG part %zu is not named by a SOP Instance UID (Content-Location)", i + 1);
    size_t blen = 0, k = in->n_masks;
    if (!(in->mask_bufs[k] = slurp(p->path, 256u << 20, &blen, e)))
        return false;
    in->masks[k] = (struct writer_mask){p->name, (const uint8_t *)in->mask_bufs[k], blen};
    in->n_masks++;
    return in->mask_slot != SIZE_MAX || label_slot(in, &in->mask_slot, e);
}

/* A NIfTI or NRRD part: one label source. */
static bool volume_part(struct inputs *in, const struct upart *p, size_t i, const struct writer_options *opt,
                        struct err *e)
{
    if (strcmp(p->media, "application/x-nifti") && strcmp(p->media, "application/gzip") &&
        strcmp(p->media, "application/x-gzip") && strcmp(p->media, "application/x-nrrd") &&
        strcmp(p->media, "application/octet-stream"))
        return err_set(e, ERR_UNSUPPORTED, "part %zu is %s: label parts are application/x-nifti, application/gzip, "
                                           "application/x-nrrd or image/png", i + 1, p->media);
    size_t slot = 0; /* set by label_slot on success; GCC -O3 cannot see it */
    if (!label_slot(in, &slot, e))
        return false;
    if (!(in->labels[slot] = writer_labels_open_file(p->path, &opt->limits, e))) {
        in->n_labels--;
        err_prefix(e, "part %zu", i + 1);
        return false;
    }
    return true;
}

/* The upload's parts into in: the one application/json part, then the label parts. */
static bool inputs_read(struct upload *up, const struct writer_options *opt, struct inputs *in, struct err *e)
{
    size_t json_part = SIZE_MAX, len = 0;
    for (size_t i = 0; i < up->n; i++)
        if (!up->parts[i].complete)
            return err_set(e, ERR_PARSE, "part %zu incomplete", i + 1);
    for (size_t i = 0; i < up->n && json_part == SIZE_MAX; i++)
        if (!strcmp(up->parts[i].media, "application/json"))
            json_part = i;
    if (json_part == SIZE_MAX)
        return err_set(e, ERR_PARSE, "no application/json part (the segmentation metadata)");
    if (!(in->json = slurp(up->parts[json_part].path, META_MAX, &len, e)) ||
        !(in->meta = writer_meta_parse(in->json, len, e)))
        return false;
    in->masks = calloc(up->n, sizeof *in->masks);
    in->mask_bufs = calloc(up->n, sizeof *in->mask_bufs);
    if (!in->masks || !in->mask_bufs)
        return err_set(e, ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < up->n; i++) {
        struct upart *p = &up->parts[i];
        if (i == json_part)
            continue;
        bool png = !strcmp(p->media, "image/png") ||
                   (!strcmp(p->media, "application/octet-stream") && is_png_file(p->path));
        if (png ? !png_part(in, p, i, e) : !volume_part(in, p, i, opt, e))
            return false;
    }
    if (in->n_masks &&
        !(in->labels[in->mask_slot] = writer_labels_from_masks(in->masks, in->n_masks, "PNG masks", &opt->limits, e)))
        return false;
    if (!in->n_labels)
        return err_set(e, ERR_PARSE, "no label part (NIfTI, NRRD or PNG masks)");
    return true;
}

/* The SEG over the series in the store, written to a temp file, read back and stored. */
static bool write_and_store(struct api_ctx *ctx, const struct api_request *req, struct inputs *in,
                            const struct writer_options *opt, struct writer_result *res, struct err *e)
{
    bool ok = false;
    struct writer_source *src = NULL;
    struct paths paths = {0};
    char tmp[PATH_MAX] = "";
    size_t n = 0;
    int fd = -1;
    if (!store_instances_each(ctx->store, req->res.study, req->res.series, NULL, collect, &paths, &n, e))
        goto out;
    if (!paths.n) {
        err_set(e, ERR_NOT_FOUND, "series %s of study %s is not in the store", req->res.series, req->res.study);
        goto out;
    }
    if (!(src = writer_source_open_files((const char *const *)paths.v, paths.n, NULL, NULL, e)) ||
        !store_tmp_create(ctx->store, tmp, sizeof tmp, &fd, e))
        goto out;
    close(fd);
    if (!writer_seg_create(src, in->labels, in->n_labels, in->meta, opt, tmp, res, e))
        goto out;
    struct seg_index *idx = decoder_seg_open(tmp, ctx->stow_limits, e);
    if (!idx) {
        err_prefix(e, "the SEG written does not read back");
        e->code = ERR_INTERNAL;
        goto out;
    }
    struct store_attrs a;
    api_store_attrs_from_index(idx, &a);
    enum store_put_result put = STORE_PUT_STORED;
    ok = store_instance_put(ctx->store, tmp, &a, &put, e);
    tmp[0] = 0; /* consumed either way */
    if (ok && put == STORE_PUT_STORED)
        api_store_index_persist(ctx->store, &a, idx); /* no parse after a restart */
    decoder_seg_free(idx);
out:
    if (tmp[0])
        unlink(tmp);
    for (size_t i = 0; i < paths.n; i++)
        free(paths.v[i]);
    free(paths.v);
    writer_source_free(src);
    return ok;
}

static bool create_and_store(struct api_ctx *ctx, const struct api_request *req, struct upload *up,
                             struct writer_result *res, struct err *e)
{
    struct writer_options opt = {0};
    struct inputs in = {.mask_slot = SIZE_MAX};
    bool ok = options_from_query(req->target, &opt, e) && inputs_read(up, &opt, &in, e) &&
              write_and_store(ctx, req, &in, &opt, res, e);
    inputs_free(&in);
    return ok;
}

void api_segmentations_post(struct api_ctx *ctx, const struct api_request *req, struct api_response *r)
{
    struct upload *up = req->body.sink == &api_segmentations_sink ? req->body.state : NULL;
    if (!up || !ctx->store) {
        api_response_fail(r, ERR_INTERNAL, "upload state missing");
        return;
    }
    struct err e = ERR_INIT;
    struct writer_result res;
    if (!create_and_store(ctx, req, up, &res, &e)) {
        api_response_from_err(r, &e);
        return;
    }
    char url[4 * API_UID_MAX + 64], study_url[API_UID_MAX + 16];
    snprintf(url, sizeof url, "/studies/%s/series/%s/instances/%s", res.study_uid, res.series_uid, res.sop_uid);
    snprintf(study_url, sizeof study_url, "/studies/%s", res.study_uid);
    json_t *doc = json_pack("{s:{s:s,s:[s]},s:{s:s,s:[{s:{s:s,s:[s]},s:{s:s,s:[s]},s:{s:s,s:[s]}}]}}",
                            "00081190", "vr", "UR", "Value", study_url,
                            "00081199", "vr", "SQ", "Value",
                            "00081150", "vr", "UI", "Value", res.sop_class_uid,
                            "00081155", "vr", "UI", "Value", res.sop_uid,
                            "00081190", "vr", "UR", "Value", url);
    if (!api_response_json(r, doc, "application/dicom+json", 0, &e)) {
        api_response_from_err(r, &e);
        return;
    }
    r->status = 201;
    api_response_header_set(r, "Location", url);
    api_response_header_set(r, "Cache-Control", "no-store");
}
