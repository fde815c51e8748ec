/* QIDO-RS over the store: GET /studies, /series, /instances (and below a study or
 * series). The query keys map to store/search.h matches through ATTRS; results are
 * application/dicom+json, written row by row under --max-json-bytes. */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/handlers.h"
#include "api/http_error.h"
#include "api/index_json.h"
#include "api/negotiate.h"
#include "api/pullthrough.h"
#include "api/route.h"
#include "api/store_glue.h"
#include "store/store.h"

#define SEARCH_LIMIT_MAX 100000
#define SEARCH_PARAMS_MAX 64

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

/* The query of one search: filters (the scope from the path first), paging, and
 * what the answer includes. */
struct search_query {
    struct store_filter filters[SEARCH_PARAMS_MAX + 2];
    size_t nf;
    uint32_t limit, offset;
};

static void include_defaults(struct search_ctx *sc, int level)
{
    for (size_t i = 0; i < N_ATTRS; i++)
        sc->include[i] = ATTRS[i].def && ATTRS[i].level == level;
    for (size_t i = 0; i < N_ATTRS; i++) /* the UIDs of the levels above, and the URL */
        if (ATTRS[i].f == F_URL || (ATTRS[i].f == F_STUDY_UID) || (level == 2 && ATTRS[i].f == F_SERIES_UID))
            sc->include[i] = true;
}

static void include_fields(struct search_ctx *sc, char *val, int level)
{
    for (char *save = NULL, *t = strtok_r(val, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (!strcmp(t, "all")) {
            for (size_t i = 0; i < N_ATTRS; i++)
                if (ATTRS[i].level <= level && (!ATTRS[i].only || ATTRS[i].level == level))
                    sc->include[i] = true;
        } else {
            const struct qattr *a = attr_find(t);
            if (a && (!a->only || a->level == level))
                sc->include[a - ATTRS] = true;
        }
    }
}

/* One decoded key=value of the query. val stays referenced by q->filters. */
static bool query_param(struct search_query *q, struct search_ctx *sc, const char *key, char *val,
                        struct err *e)
{
    if (!strcmp(key, "limit")) {
        if (!parse_count(val, &q->limit))
            return err_set(e, ERR_PARSE, "limit must be a number");
    } else if (!strcmp(key, "offset")) {
        if (!parse_count(val, &q->offset))
            return err_set(e, ERR_PARSE, "offset must be a number");
    } else if (!strcmp(key, "includefield")) {
        include_fields(sc, val, sc->level);
    } else if (strcmp(key, "fuzzymatching")) {
        const struct qattr *a = attr_find(key);
        if (a && a->key >= 0) {
            q->filters[q->nf++] = (struct store_filter){(enum store_key)a->key, a->match, val};
            sc->include[a - ATTRS] = true; /* matched attributes are returned */
        }
        /* other keys are ignored, as PS3.18 allows */
    }
    return true;
}

/* The request's scope and query string into q. */
static bool query_parse(const struct api_request *req, struct search_query *q, struct search_ctx *sc,
                        struct err *e)
{
    static __thread char values[SEARCH_PARAMS_MAX][API_TARGET_MAX + 1];
    size_t nv = 0;
    if (req->res.study[0])
        q->filters[q->nf++] = (struct store_filter){STORE_KEY_STUDY_UID, STORE_MATCH_LIST, req->res.study};
    if (req->res.series[0])
        q->filters[q->nf++] = (struct store_filter){STORE_KEY_SERIES_UID, STORE_MATCH_LIST, req->res.series};
    const char *qm = strchr(req->target, '?');
    for (const char *p = qm ? qm + 1 : ""; *p;) {
        size_t n = strcspn(p, "&");
        if (n) {
            if (nv >= SEARCH_PARAMS_MAX)
                return err_set(e, ERR_PARSE, "too many query parameters");
            const char *eq = memchr(p, '=', n);
            size_t kn = eq ? (size_t)(eq - p) : n;
            char key[80];
            char *val = values[nv++];
            if (!api_url_decode(p, kn, true, key, sizeof key, NULL, e) ||
                !api_url_decode(eq ? eq + 1 : p + n, eq ? n - kn - 1 : 0, true, val,
                                API_TARGET_MAX + 1, NULL, e)) {
                err_prefix(e, "query");
                return false;
            }
            if (!query_param(q, sc, key, val, e))
                return false;
        }
        p += n;
        if (*p)
            p++;
    }
    if (q->limit > SEARCH_LIMIT_MAX || q->limit == 0)
        q->limit = SEARCH_LIMIT_MAX;
    return true;
}

/* --upstream: its answer merged into body, one entry per UID; a failure becomes a
 * Warning header (the local results stand). */
static void search_upstream(struct api_ctx *ctx, const struct api_request *req, int level, uint32_t limit,
                            struct api_response *r)
{
    static const char *const KEY[] = {"0020000D", "0020000E", "00080018"};
    struct err ue = ERR_INIT;
    if (api_pullthrough_search(ctx, req, KEY[level], limit, &r->body, &ue))
        return;
    char w[300];
    snprintf(w, sizeof w, "199 segweb \"upstream results missing: %.200s\"", ue.msg);
    for (char *c = w + 12; *c && c[1]; c++)
        if (*c == '"' || (unsigned char)*c < 0x20)
            *c = '\'';
    api_response_header_set(r, "Warning", w);
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
    static __thread struct search_query q;
    memset(&q, 0, sizeof q);
    include_defaults(&sc, level);
    if (!query_parse(req, &q, &sc, &e)) {
        api_response_from_err(r, &e);
        return;
    }
    enum store_level sl = level == 0 ? STORE_LEVEL_STUDY : level == 1 ? STORE_LEVEL_SERIES : STORE_LEVEL_INSTANCE;
    api_json_limit_begin(r, ctx->max_json_bytes);
    if (!buf_append(&r->body, "[", 1, &e) ||
        !store_search(ctx->store, sl, q.filters, q.nf, q.limit, q.offset, search_fn, &sc, &e) ||
        !buf_append(&r->body, "]", 1, &e)) {
        api_json_limit_fail(r, ctx->max_json_bytes, &e);
        return;
    }
    r->body.limit = 0;
    if (ctx->pull)
        search_upstream(ctx, req, level, q.limit, r);
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

