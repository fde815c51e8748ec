/* WADO-RS, QIDO-RS and DELETE over the store (see dicomweb.h). */
#include "api/dicomweb.h"

#include <ctype.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/http_error.h"
#include "api/pullthrough.h"
#include "api/handlers.h"
#include "api/index_json.h"
#include "api/route.h"
#include "api/store_glue.h"
#include "api/stream.h"
#include "decoder/decoder.h"
#include "store/store.h"

#define SEARCH_LIMIT_MAX 100000
#define SEARCH_PARAMS_MAX 64

/* ---- URLs ---- */

static const char *scope_series(const struct api_request *req)
{
    return req->level >= API_LEVEL_SERIES ? req->res.series : NULL;
}

static const char *scope_sop(const struct api_request *req)
{
    return req->level >= API_LEVEL_INSTANCE ? req->res.sop : NULL;
}

static void boundary_make(const struct api_request *req, char *out, size_t sz)
{
    unsigned long h = 5381;
    for (const char *c = req->request_id; *c; c++)
        h = h * 33 + (unsigned char)*c;
    snprintf(out, sz, "segweb-%016lx%08lx", h, (unsigned long)random());
}

/* ---- transfer syntax (PS3.18 8.7.3) ---- */

#define TS_EXPLICIT_LE "1.2.840.10008.1.2.1"

bool api_retrieve_add_part(struct api_stream *s, struct store *store, const char *boundary, const char *path,
                           const char *stored_ts, const char *want_ts, const char *location, struct err *e)
{
    struct stat st;
    if (stat(path, &st))
        return err_set(e, ERR_NOT_FOUND, "instance file missing");
    /* no transfer-syntax: Explicit VR Little Endian; "*": the stored bytes */
    const char *want = want_ts && *want_ts ? want_ts : TS_EXPLICIT_LE;
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
    boundary_make(req, boundary, sizeof boundary);
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

/* --max-json-bytes for answers written piece by piece: the buffer refuses to grow
 * past it (nothing bigger is ever built), and the refusal becomes the 413 that
 * names the limit, as for R/... answers. */
static void json_limit_begin(const struct api_ctx *ctx, struct api_response *r)
{
    r->body.limit = ctx->max_json_bytes;
}

static void json_limit_fail(const struct api_ctx *ctx, struct api_response *r, struct err *e)
{
    r->body.limit = 0;
    if (e->code == ERR_LIMIT && ctx->max_json_bytes) {
        char msg[160];
        snprintf(msg, sizeof msg, "the JSON answer exceeds the max-json-bytes limit of %zu bytes",
                 ctx->max_json_bytes);
        api_response_fail(r, ERR_LIMIT, msg);
        return;
    }
    api_response_from_err(r, e);
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
    char url[4 * STORE_UID_MAX + 1024], pixel[sizeof url + 16], bulk[sizeof url + 16];
    api_store_url(mc->base, a, API_LEVEL_INSTANCE, url, sizeof url);
    snprintf(pixel, sizeof pixel, "%s/frames/1", url);
    snprintf(bulk, sizeof bulk, "%s/bulkdata", url);
    if (mc->count++ && !buf_append(mc->out, ",", 1, e))
        return false;
    return decoder_dicom_json_file(path, pixel, bulk, mc->out, e);
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
    json_limit_begin(ctx, r);
    if (!buf_append(&r->body, "[", 1, &e) ||
        !store_instances_each(ctx->store, req->res.study, scope_series(req), scope_sop(req),
                              metadata_fn, &mc, &n, &e) ||
        !buf_append(&r->body, "]", 1, &e)) {
        if (e.code == ERR_NOT_FOUND && ctx->pull) { /* not stored: from the upstream */
            buf_free(&r->body);
            api_pullthrough_metadata(ctx, req, r);
        } else {
            json_limit_fail(ctx, r, &e);
        }
        return;
    }
    r->body.limit = 0;
    r->status = 200;
    snprintf(r->content_type, sizeof r->content_type, "application/dicom+json");
    api_response_header_set(r, "Cache-Control", "no-cache");
}

/* ---- frames ---- */

bool api_frames_multipart_get(const struct seg_index *idx, const struct api_request *req,
                              struct api_response *r, struct err *e)
{
    const uint32_t *frames = req->frame_list;
    size_t n = req->n_frame_list;
    /* frames come decoded: Explicit VR Little Endian's uncompressed bytes (or "*") */
    char want_ts[80];
    api_accept_transfer_syntax(req->accept, want_ts, sizeof want_ts);
    if (*want_ts && strcmp(want_ts, "*") && strcmp(want_ts, TS_EXPLICIT_LE))
        return err_set(e, ERR_NOT_ACCEPTABLE, "frames are served uncompressed (transfer-syntax=%s), not %s",
                       TS_EXPLICIT_LE, want_ts);
    for (size_t i = 0; i < n; i++)
        if (frames[i] < 1 || frames[i] > idx->number_of_frames)
            return err_set(e, ERR_NOT_FOUND, "frame %u out of range 1..%u", frames[i],
                           idx->number_of_frames);
    char boundary[64];
    boundary_make(req, boundary, sizeof boundary);
    for (size_t i = 0; i < n; i++) {
        struct seg_pixels px = {0};
        if (!decoder_frame_read(idx, frames[i], &px, e))
            return false;
        if (px.bits == 16) { /* host order to little endian */
            for (size_t k = 0; k + 1 < px.len; k += 2) {
                uint16_t v;
                memcpy(&v, px.data + k, 2);
                px.data[k] = (uint8_t)(v & 0xff);
                px.data[k + 1] = (uint8_t)(v >> 8);
            }
        }
        char head[256];
        int hn = snprintf(head, sizeof head,
                          "--%s\r\nContent-Type: application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1\r\n"
                          "Content-Length: %zu\r\n\r\n",
                          boundary, px.len);
        bool ok = buf_append(&r->body, head, (size_t)hn, e) &&
                  buf_append(&r->body, px.data, px.len, e) && buf_append(&r->body, "\r\n", 2, e);
        decoder_pixels_free(&px);
        if (!ok)
            return false;
    }
    char tail[96];
    int tn = snprintf(tail, sizeof tail, "--%s--\r\n", boundary);
    if (!buf_append(&r->body, tail, (size_t)tn, e))
        return false;
    r->status = 200;
    snprintf(r->content_type, sizeof r->content_type,
             "multipart/related; type=\"application/octet-stream\"; boundary=%s", boundary);
    return true;
}

/* ---- search ---- */

enum field {
    F_STUDY_UID, F_STUDY_DATE, F_STUDY_TIME, F_ACCESSION, F_MODALITIES, F_REFERRING,
    F_PATIENT_NAME, F_PATIENT_ID, F_BIRTH, F_SEX, F_STUDY_ID, F_STUDY_DESC, F_N_SERIES,
    F_N_STUDY_INST, F_MODALITY, F_SERIES_UID, F_SERIES_NUMBER, F_SERIES_DESC, F_N_SERIES_INST,
    F_SOP_CLASS, F_SOP_UID, F_INSTANCE_NUMBER, F_ROWS, F_COLUMNS, F_FRAMES, F_TS, F_URL,
};

/* level: 0 study, 1 series, 2 instance; only: shown at that level only (counts). */
static const struct qattr {
    const char *tag, *kw, *vr;
    int level;
    bool def, only;
    enum field f;
    int key; /* enum store_key, -1: not searchable */
    enum store_match match;
} ATTRS[] = {
    {"00080020", "StudyDate", "DA", 0, true, false, F_STUDY_DATE, STORE_KEY_STUDY_DATE, STORE_MATCH_RANGE},
    {"00080030", "StudyTime", "TM", 0, true, false, F_STUDY_TIME, STORE_KEY_STUDY_TIME, STORE_MATCH_RANGE},
    {"00080050", "AccessionNumber", "SH", 0, true, false, F_ACCESSION, STORE_KEY_ACCESSION_NUMBER, STORE_MATCH_WILDCARD},
    {"00080061", "ModalitiesInStudy", "CS", 0, true, true, F_MODALITIES, STORE_KEY_MODALITY, STORE_MATCH_LIST},
    {"00080090", "ReferringPhysicianName", "PN", 0, true, false, F_REFERRING, STORE_KEY_REFERRING_PHYSICIAN, STORE_MATCH_WILDCARD},
    {"00081030", "StudyDescription", "LO", 0, true, false, F_STUDY_DESC, STORE_KEY_STUDY_DESCRIPTION, STORE_MATCH_WILDCARD},
    {"00100010", "PatientName", "PN", 0, true, false, F_PATIENT_NAME, STORE_KEY_PATIENT_NAME, STORE_MATCH_WILDCARD},
    {"00100020", "PatientID", "LO", 0, true, false, F_PATIENT_ID, STORE_KEY_PATIENT_ID, STORE_MATCH_WILDCARD},
    {"00100030", "PatientBirthDate", "DA", 0, true, false, F_BIRTH, -1, STORE_MATCH_LIST},
    {"00100040", "PatientSex", "CS", 0, true, false, F_SEX, -1, STORE_MATCH_LIST},
    {"0020000D", "StudyInstanceUID", "UI", 0, true, false, F_STUDY_UID, STORE_KEY_STUDY_UID, STORE_MATCH_LIST},
    {"00200010", "StudyID", "SH", 0, true, false, F_STUDY_ID, STORE_KEY_STUDY_ID, STORE_MATCH_WILDCARD},
    {"00201206", "NumberOfStudyRelatedSeries", "IS", 0, true, true, F_N_SERIES, -1, STORE_MATCH_LIST},
    {"00201208", "NumberOfStudyRelatedInstances", "IS", 0, true, true, F_N_STUDY_INST, -1, STORE_MATCH_LIST},
    {"00080060", "Modality", "CS", 1, true, false, F_MODALITY, STORE_KEY_MODALITY, STORE_MATCH_LIST},
    {"0008103E", "SeriesDescription", "LO", 1, true, false, F_SERIES_DESC, STORE_KEY_SERIES_DESCRIPTION, STORE_MATCH_WILDCARD},
    {"0020000E", "SeriesInstanceUID", "UI", 1, true, false, F_SERIES_UID, STORE_KEY_SERIES_UID, STORE_MATCH_LIST},
    {"00200011", "SeriesNumber", "IS", 1, true, false, F_SERIES_NUMBER, STORE_KEY_SERIES_NUMBER, STORE_MATCH_LIST},
    {"00201209", "NumberOfSeriesRelatedInstances", "IS", 1, true, true, F_N_SERIES_INST, -1, STORE_MATCH_LIST},
    {"00080016", "SOPClassUID", "UI", 2, true, false, F_SOP_CLASS, STORE_KEY_SOP_CLASS_UID, STORE_MATCH_LIST},
    {"00080018", "SOPInstanceUID", "UI", 2, true, false, F_SOP_UID, STORE_KEY_SOP_UID, STORE_MATCH_LIST},
    {"00083002", "AvailableTransferSyntaxUID", "UI", 2, true, false, F_TS, -1, STORE_MATCH_LIST},
    {"00200013", "InstanceNumber", "IS", 2, true, false, F_INSTANCE_NUMBER, STORE_KEY_INSTANCE_NUMBER, STORE_MATCH_LIST},
    {"00280008", "NumberOfFrames", "IS", 2, true, false, F_FRAMES, -1, STORE_MATCH_LIST},
    {"00280010", "Rows", "US", 2, true, false, F_ROWS, -1, STORE_MATCH_LIST},
    {"00280011", "Columns", "US", 2, true, false, F_COLUMNS, -1, STORE_MATCH_LIST},
    {"00081190", "RetrieveURL", "UR", 0, true, false, F_URL, -1, STORE_MATCH_LIST},
};
#define N_ATTRS (sizeof ATTRS / sizeof ATTRS[0])

static const struct qattr *attr_find(const char *name)
{
    for (size_t i = 0; i < N_ATTRS; i++)
        if (!strcasecmp(name, ATTRS[i].tag) || !strcmp(name, ATTRS[i].kw))
            return &ATTRS[i];
    return NULL;
}

struct search_ctx {
    struct buf *out; /* the answer, written row by row (bounded by --max-json-bytes) */
    int level;
    bool include[N_ATTRS];
    size_t count;
    const char *base;
};

static json_t *value_json(const struct qattr *q, const char *text, long long num, bool is_num)
{
    json_t *o = json_pack("{s:s}", "vr", q->vr);
    if (is_num) {
        json_object_set_new(o, "Value", json_pack("[I]", (json_int_t)num));
    } else if (text && *text) {
        if (!strcmp(q->vr, "PN")) {
            json_object_set_new(o, "Value", json_pack("[{s:o}]", "Alphabetic", api_json_text(text)));
        } else if (!strcmp(q->vr, "IS")) {
            char *end;
            long long v = strtoll(text, &end, 10);
            if (*end == 0)
                json_object_set_new(o, "Value", json_pack("[I]", (json_int_t)v));
        } else if (!strcmp(q->vr, "CS") && strchr(text, '\\')) {
            json_t *vals = json_array();
            char tmp[512];
            snprintf(tmp, sizeof tmp, "%.511s", text);
            for (char *save = NULL, *t = strtok_r(tmp, "\\", &save); t; t = strtok_r(NULL, "\\", &save))
                json_array_append_new(vals, api_json_text(t));
            json_object_set_new(o, "Value", vals);
        } else {
            json_object_set_new(o, "Value", json_pack("[o]", api_json_text(text)));
        }
    }
    return o;
}

static bool search_fn(void *arg, const struct store_row *row, struct err *e)
{
    struct search_ctx *sc = arg;
    const struct store_attrs *a = &row->a;
    json_t *obj = json_object();
    char url[4 * STORE_UID_MAX + 1024];
    api_store_url(sc->base, a, sc->level == 0 ? API_LEVEL_STUDY : sc->level == 1 ? API_LEVEL_SERIES : API_LEVEL_INSTANCE,
           url, sizeof url);
    for (size_t i = 0; i < N_ATTRS; i++) {
        if (!sc->include[i])
            continue;
        const struct qattr *q = &ATTRS[i];
        const char *t = NULL;
        long long num = 0;
        bool is_num = false;
        switch (q->f) {
        case F_STUDY_UID: t = a->study_uid; break;
        case F_STUDY_DATE: t = a->study_date; break;
        case F_STUDY_TIME: t = a->study_time; break;
        case F_ACCESSION: t = a->accession_number; break;
        case F_MODALITIES: t = row->modalities; break;
        case F_REFERRING: t = a->referring_physician; break;
        case F_PATIENT_NAME: t = a->patient_name; break;
        case F_PATIENT_ID: t = a->patient_id; break;
        case F_BIRTH: t = a->patient_birth_date; break;
        case F_SEX: t = a->patient_sex; break;
        case F_STUDY_ID: t = a->study_id; break;
        case F_STUDY_DESC: t = a->study_description; break;
        case F_N_SERIES: num = row->n_series; is_num = true; break;
        case F_N_STUDY_INST: case F_N_SERIES_INST: num = row->n_instances; is_num = true; break;
        case F_MODALITY: t = a->modality; break;
        case F_SERIES_UID: t = a->series_uid; break;
        case F_SERIES_NUMBER: t = a->series_number; break;
        case F_SERIES_DESC: t = a->series_description; break;
        case F_SOP_CLASS: t = a->sop_class_uid; break;
        case F_SOP_UID: t = a->sop_uid; break;
        case F_INSTANCE_NUMBER: t = a->instance_number; break;
        case F_ROWS: num = a->rows; is_num = true; break;
        case F_COLUMNS: num = a->columns; is_num = true; break;
        case F_FRAMES: num = a->frames; is_num = true; break;
        case F_TS: t = a->transfer_syntax_uid; break;
        case F_URL: t = url; break;
        }
        json_object_set_new(obj, q->tag, value_json(q, t, num, is_num));
    }
    if (sc->count++ && !buf_append(sc->out, ",", 1, e)) {
        json_decref(obj);
        return false;
    }
    return api_json_append(sc->out, obj, 0, e);
}


static bool parse_count(const char *s, uint32_t *out)
{
    if (!*s || strlen(s) > 9)
        return false;
    for (const char *c = s; *c; c++)
        if (!isdigit((unsigned char)*c))
            return false;
    *out = (uint32_t)strtoul(s, NULL, 10);
    return true;
}

/* level: 0 studies, 1 series, 2 instances */
static void search(struct api_ctx *ctx, const struct api_request *req, struct api_response *r,
                   int level)
{
    struct err e = ERR_INIT;
    if (!api_accepts_media(req->accept, "application/dicom+json", NULL)) {
        api_response_fail(r, ERR_NOT_ACCEPTABLE, "search results are application/dicom+json");
        return;
    }
    struct search_ctx sc = {&r->body, level, {false}, 0, ctx->url_base};
    for (size_t i = 0; i < N_ATTRS; i++)
        sc.include[i] = ATTRS[i].def && (ATTRS[i].only ? ATTRS[i].level == level : ATTRS[i].level == level) ;
    for (size_t i = 0; i < N_ATTRS; i++) /* the UIDs of the levels above, and the URL */
        if (ATTRS[i].f == F_URL || (ATTRS[i].f == F_STUDY_UID) || (level == 2 && ATTRS[i].f == F_SERIES_UID))
            sc.include[i] = true;
    struct store_filter filters[SEARCH_PARAMS_MAX + 2];
    static __thread char values[SEARCH_PARAMS_MAX][API_TARGET_MAX + 1];
    size_t nf = 0, nv = 0;
    uint32_t limit = 0, offset = 0;
    if (req->res.study[0])
        filters[nf++] = (struct store_filter){STORE_KEY_STUDY_UID, STORE_MATCH_LIST, req->res.study};
    if (req->res.series[0])
        filters[nf++] = (struct store_filter){STORE_KEY_SERIES_UID, STORE_MATCH_LIST, req->res.series};
    const char *qm = strchr(req->target, '?');
    const char *q = qm ? qm + 1 : "";
    while (*q) {
        size_t n = strcspn(q, "&");
        if (n) {
            if (nv >= SEARCH_PARAMS_MAX) {
                api_response_fail(r, ERR_PARSE, "too many query parameters");
                return;
            }
            const char *eq = memchr(q, '=', n);
            size_t kn = eq ? (size_t)(eq - q) : n;
            char key[80];
            char *val = values[nv];
            if (!api_url_decode(q, kn, true, key, sizeof key, NULL, &e) ||
                !api_url_decode(eq ? eq + 1 : q + n, eq ? n - kn - 1 : 0, true, val,
                                API_TARGET_MAX + 1, NULL, &e)) {
                err_prefix(&e, "query");
                api_response_from_err(r, &e);
                return;
            }
            nv++;
            if (!strcmp(key, "limit")) {
                if (!parse_count(val, &limit)) {
                    api_response_fail(r, ERR_PARSE, "limit must be a number");
                    return;
                }
            } else if (!strcmp(key, "offset")) {
                if (!parse_count(val, &offset)) {
                    api_response_fail(r, ERR_PARSE, "offset must be a number");
                    return;
                }
            } else if (!strcmp(key, "includefield")) {
                for (char *save = NULL, *t = strtok_r(val, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                    if (!strcmp(t, "all")) {
                        for (size_t i = 0; i < N_ATTRS; i++)
                            if (ATTRS[i].level <= level && (!ATTRS[i].only || ATTRS[i].level == level))
                                sc.include[i] = true;
                    } else {
                        const struct qattr *a = attr_find(t);
                        if (a && (!a->only || a->level == level))
                            sc.include[a - ATTRS] = true;
                    }
                }
            } else if (strcmp(key, "fuzzymatching")) {
                const struct qattr *a = attr_find(key);
                if (a && a->key >= 0) {
                    filters[nf++] = (struct store_filter){(enum store_key)a->key, a->match, val};
                    sc.include[a - ATTRS] = true; /* matched attributes are returned */
                }
                /* other keys are ignored, as PS3.18 allows */
            }
        }
        q += n;
        if (*q)
            q++;
    }
    if (limit > SEARCH_LIMIT_MAX || limit == 0)
        limit = SEARCH_LIMIT_MAX;
    enum store_level sl = level == 0 ? STORE_LEVEL_STUDY : level == 1 ? STORE_LEVEL_SERIES : STORE_LEVEL_INSTANCE;
    json_limit_begin(ctx, r);
    if (!buf_append(&r->body, "[", 1, &e) ||
        !store_search(ctx->store, sl, filters, nf, limit, offset, search_fn, &sc, &e) ||
        !buf_append(&r->body, "]", 1, &e)) {
        json_limit_fail(ctx, r, &e);
        return;
    }
    r->body.limit = 0;
    if (ctx->pull) { /* --upstream: its answer merged in, one entry per UID */
        static const char *const KEY[] = {"0020000D", "0020000E", "00080018"};
        struct err ue = ERR_INIT;
        if (!api_pullthrough_search(ctx, req, KEY[level], limit, &r->body, &ue)) {
            char w[300];
            snprintf(w, sizeof w, "199 segweb \"upstream results missing: %.200s\"", ue.msg);
            for (char *c = w + 12; *c && c[1]; c++)
                if (*c == '"' || (unsigned char)*c < 0x20)
                    *c = '\'';
            api_response_header_set(r, "Warning", w);
        }
    }
    r->status = 200;
    snprintf(r->content_type, sizeof r->content_type, "application/dicom+json");
    api_response_header_set(r, "Cache-Control", "no-cache");
}

void api_search_studies_get(struct api_ctx *ctx, const struct api_request *req, struct api_response *r)
{
    search(ctx, req, r, 0);
}

void api_search_series_get(struct api_ctx *ctx, const struct api_request *req, struct api_response *r)
{
    search(ctx, req, r, 1);
}

void api_search_instances_get(struct api_ctx *ctx, const struct api_request *req, struct api_response *r)
{
    search(ctx, req, r, 2);
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
