/* Pull-through (see pull.h). Design note: a SEG is pulled whole because its
 * routes need random access (frames by offset, the index); it is written
 * straight from the upstream's multipart stream into a temp file of the object
 * cache, never held in memory, and only renamed into the cache after the
 * decoder has read it and its UIDs match the URL. The SOP class of an instance
 * is learned from the upstream's QIDO and remembered in a small table (cleared
 * when full), so a non-SEG is never pulled whole. */
#include "api/pull.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "decoder/decoder.h"
#include "store/cache_objects.h"
#include "store/seg_index.h"
#include "upstream/upstream.h"

#define CLASS_TABLE 4096
#define UID_MAX 64

struct class_entry {
    char sop[UID_MAX + 1];
    bool is_seg;
};

struct api_pull {
    struct upstream *up;
    struct store_cache *cache;
    const struct seg_limits *limits;
    uint64_t max_json_bytes;
    pthread_mutex_t mu;
    struct class_entry *classes; /* open addressing, CLASS_TABLE slots */
    size_t n_classes;
    uint64_t pulls, pull_errors, pull_bytes; /* under mu */
};

struct api_pull *api_pull_new(const struct api_pull_config *cfg, struct err *e)
{
    struct api_pull *p = calloc(1, sizeof *p);
    if (!p || !(p->classes = calloc(CLASS_TABLE, sizeof *p->classes))) {
        free(p);
        err_set(e, ERR_NOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    p->limits = cfg->limits;
    p->max_json_bytes = cfg->max_json_bytes ? cfg->max_json_bytes : 64u << 20;
    struct upstream_config uc = {
        .url = cfg->url,
        .token_file = cfg->token_file,
        .basic_file = cfg->basic_file,
        .ca_file = cfg->ca_file,
        .connect_timeout_ms = cfg->connect_timeout_ms,
        .read_timeout_ms = cfg->read_timeout_ms,
        .retries = cfg->retries,
        .max_concurrency = cfg->concurrency,
        .max_redirects = 5,
    };
    p->up = upstream_new(&uc, e);
    if (!p->up)
        goto fail;
    p->cache = store_cache_open(cfg->cache_dir, cfg->cache_max_bytes, e);
    if (!p->cache) {
        err_prefix(e, "--cache-dir");
        goto fail;
    }
    return p;
fail:
    api_pull_free(p);
    return NULL;
}

void api_pull_free(struct api_pull *p)
{
    if (!p)
        return;
    upstream_free(p->up);
    store_cache_close(p->cache);
    pthread_mutex_destroy(&p->mu);
    free(p->classes);
    free(p);
}

const char *api_pull_url(const struct api_pull *p) { return upstream_url(p->up); }
struct upstream *api_pull_upstream(struct api_pull *p) { return p->up; }

bool api_pull_fail(const struct upstream_reply *r, struct err *e)
{
    if (e && (e->code == ERR_UPSTREAM || e->code == ERR_TIMEOUT || e->code == ERR_NOT_FOUND))
        return false;
    enum err_code code = r->fail == UPSTREAM_FAIL_TIMEOUT ? ERR_TIMEOUT : ERR_UPSTREAM;
    if (e && e->code != ERR_OK) {
        if (r->fail == UPSTREAM_FAIL_ABORTED && e->code == ERR_NO_SPACE)
            return false; /* our disk, not the upstream */
        e->code = code;
        return false;
    }
    return err_set(e, code, "upstream: %s", upstream_fail_name(r->fail));
}

/* ---- the SOP class table ---- */

static unsigned slot_of(const char *sop)
{
    unsigned h = 2166136261u;
    for (; *sop; sop++)
        h = (h ^ (unsigned char)*sop) * 16777619u;
    return h % CLASS_TABLE;
}

static bool class_get(struct api_pull *p, const char *sop, bool *is_seg)
{
    bool found = false;
    pthread_mutex_lock(&p->mu);
    for (unsigned i = slot_of(sop), k = 0; k < CLASS_TABLE && p->classes[i].sop[0]; k++, i = (i + 1) % CLASS_TABLE)
        if (!strcmp(p->classes[i].sop, sop)) {
            *is_seg = p->classes[i].is_seg;
            found = true;
            break;
        }
    pthread_mutex_unlock(&p->mu);
    return found;
}

static void class_put(struct api_pull *p, const char *sop, bool is_seg)
{
    if (strlen(sop) > UID_MAX)
        return;
    pthread_mutex_lock(&p->mu);
    if (p->n_classes >= CLASS_TABLE * 3 / 4) { /* full: start over */
        memset(p->classes, 0, CLASS_TABLE * sizeof *p->classes);
        p->n_classes = 0;
    }
    unsigned i = slot_of(sop);
    while (p->classes[i].sop[0] && strcmp(p->classes[i].sop, sop))
        i = (i + 1) % CLASS_TABLE;
    if (!p->classes[i].sop[0])
        p->n_classes++;
    snprintf(p->classes[i].sop, sizeof p->classes[i].sop, "%s", sop);
    p->classes[i].is_seg = is_seg;
    pthread_mutex_unlock(&p->mu);
}

static bool is_seg_class(const char *cls)
{
    return !strcmp(cls, SEG_SOP_CLASS_SEGMENTATION) || !strcmp(cls, SEG_SOP_CLASS_LABELMAP);
}

/* The first string value of tag in a DICOM JSON object, or NULL. */
static const char *json_first_string(json_t *obj, const char *tag)
{
    json_t *v = json_object_get(json_object_get(obj, tag), "Value");
    json_t *s = json_array_get(v, 0);
    return json_is_string(s) ? json_string_value(s) : NULL;
}

bool api_pull_json(struct api_pull *p, const char *path_query, struct buf *out, long *status, struct err *e)
{
    struct upstream_reply r;
    size_t old_limit = out->limit;
    if (!out->limit || out->limit > p->max_json_bytes)
        out->limit = p->max_json_bytes;
    bool ok = upstream_get(p->up, path_query, "application/dicom+json", out, &r, e);
    out->limit = old_limit;
    *status = r.status;
    if (!ok)
        return api_pull_fail(&r, e);
    if (r.status >= 200 && r.status < 300 && r.status != 204 && out->len &&
        strncasecmp(r.content_type, "application/dicom+json", 22) && strncasecmp(r.content_type, "application/json", 16))
        return err_set(e, ERR_UPSTREAM, "upstream: %s answered %s, not JSON", path_query,
                       r.content_type[0] ? r.content_type : "without a Content-Type");
    return true;
}

bool api_pull_classify(struct api_pull *p, const char *study, const char *series, const char *sop, bool *is_seg,
                       struct err *e)
{
    if (class_get(p, sop, is_seg))
        return true;
    char q[4 * UID_MAX + 128];
    snprintf(q, sizeof q, "/studies/%s/series/%s/instances?SOPInstanceUID=%s&includefield=00080016", study, series,
             sop);
    struct buf b = {0};
    long status = 0;
    bool ok = api_pull_json(p, q, &b, &status, e);
    if (ok && (status == 404 || status == 204 || (status == 200 && !b.len)))
        ok = err_set(e, ERR_NOT_FOUND, "instance %s is neither in the store nor in the upstream", sop);
    else if (ok && status != 200)
        ok = err_set(e, ERR_UPSTREAM, "upstream: instance search answered %ld", status);
    json_t *doc = NULL;
    if (ok) {
        json_error_t je;
        doc = json_loadb((const char *)b.data, b.len, 0, &je);
        if (!json_is_array(doc))
            ok = err_set(e, ERR_UPSTREAM, "upstream: instance search: not a JSON array (%s)", je.text);
    }
    if (ok) {
        const char *cls = NULL;
        size_t i;
        json_t *item;
        json_array_foreach(doc, i, item) {
            const char *s = json_first_string(item, "00080018");
            if (s && !strcmp(s, sop))
                cls = json_first_string(item, "00080016");
        }
        if (!cls)
            ok = err_set(e, ERR_NOT_FOUND, "instance %s is neither in the store nor in the upstream", sop);
        else {
            *is_seg = is_seg_class(cls);
            class_put(p, sop, *is_seg);
        }
    }
    json_decref(doc);
    buf_free(&b);
    return ok;
}

/* ---- pulling a SEG into the cache ---- */

struct fill {
    struct api_pull *p;
    const char *study, *series, *sop;
    int fd;
    uint64_t max_bytes, written;
    struct upstream_mp *mp;
    bool single;         /* the body is the object itself (application/dicom) */
    uint32_t parts;
    bool part_ok;
    struct seg_index *idx; /* the checked index of the filled object, persisted after the fill */
};

static bool write_all(struct fill *f, const void *data, size_t n, struct err *e)
{
    if (f->written + n > f->max_bytes)
        return err_set(e, ERR_UPSTREAM, "upstream: object larger than the cache (%llu bytes)",
                       (unsigned long long)f->max_bytes);
    const char *c = data;
    while (n) {
        ssize_t w = write(f->fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return err_set(e, errno == ENOSPC || errno == EDQUOT ? ERR_NO_SPACE : ERR_IO,
                           "writing the pulled object: %s", strerror(errno));
        c += w;
        n -= (size_t)w;
        f->written += (size_t)w;
    }
    return true;
}

static bool part_begin(void *arg, const char *headers, size_t n, struct err *e)
{
    struct fill *f = arg;
    if (++f->parts > 1)
        return err_set(e, ERR_UPSTREAM, "upstream: more than one part for one instance");
    char ct[256];
    if (upstream_header_find(headers, n, "Content-Type", ct, sizeof ct)) {
        size_t k = strcspn(ct, "; \t");
        if (!(k == 17 && !strncasecmp(ct, "application/dicom", 17)))
            return err_set(e, ERR_UPSTREAM, "upstream: part of type '%.100s', not application/dicom", ct);
    }
    f->part_ok = true;
    return true;
}

static bool part_data(void *arg, const void *d, size_t n, struct err *e) { return write_all(arg, d, n, e); }

static bool on_head(void *arg, const struct upstream_reply *r, struct err *e)
{
    struct fill *f = arg;
    if (r->status == 404)
        return err_set(e, ERR_NOT_FOUND, "instance %s is not in the upstream", f->sop);
    if (r->status != 200)
        return err_set(e, ERR_UPSTREAM, "upstream: retrieve of %s answered %ld", f->sop, r->status);
    if (r->content_length > 0 && (uint64_t)r->content_length > f->max_bytes + 65536)
        return err_set(e, ERR_UPSTREAM, "upstream: object of %lld bytes is larger than the cache",
                       (long long)r->content_length);
    size_t k = strcspn(r->content_type, "; \t");
    if (k == 17 && !strncasecmp(r->content_type, "application/dicom", 17)) {
        f->single = true;
        f->part_ok = true;
        f->parts = 1;
        return true;
    }
    if (!(k == 17 && !strncasecmp(r->content_type, "multipart/related", 17)))
        return err_set(e, ERR_UPSTREAM, "upstream: retrieve answered '%.100s', not multipart/related",
                       r->content_type[0] ? r->content_type : "(no Content-Type)");
    static const struct upstream_mp_callbacks cb0 = {part_begin, part_data, NULL, NULL};
    struct upstream_mp_callbacks cb = cb0;
    cb.arg = f;
    f->mp = upstream_mp_new(r->content_type, &cb, 2, e);
    if (!f->mp) {
        e->code = ERR_UPSTREAM;
        err_prefix(e, "upstream");
        return false;
    }
    return true;
}

static bool on_data(void *arg, const void *d, size_t n, struct err *e)
{
    struct fill *f = arg;
    if (f->single)
        return write_all(f, d, n, e);
    if (!upstream_mp_feed(f->mp, d, n, e)) {
        if (e->code == ERR_PARSE || e->code == ERR_LIMIT) {
            e->code = ERR_UPSTREAM;
            err_prefix(e, "upstream");
        }
        return false;
    }
    return true;
}

static bool fill_fn(void *arg, int fd, const char *tmp_path, uint64_t max_bytes, struct err *e)
{
    struct fill *f = arg;
    f->fd = fd;
    f->max_bytes = max_bytes;
    char path[4 * UID_MAX + 64];
    snprintf(path, sizeof path, "/studies/%s/series/%s/instances/%s", f->study, f->series, f->sop);
    struct upstream_reply r;
    bool ok = upstream_stream(f->p->up, path, "multipart/related; type=\"application/dicom\"; transfer-syntax=*",
                              on_head, on_data, f, &r, e);
    if (!ok)
        api_pull_fail(&r, e);
    if (ok && f->mp && !upstream_mp_finish(f->mp, e)) {
        e->code = ERR_UPSTREAM;
        err_prefix(e, "upstream");
        ok = false;
    }
    if (ok && (!f->part_ok || !f->written))
        ok = err_set(e, ERR_UPSTREAM, "upstream: retrieve of %s gave no object", f->sop);
    upstream_mp_free(f->mp);
    f->mp = NULL;
    pthread_mutex_lock(&f->p->mu);
    f->p->pull_bytes += r.bytes;
    pthread_mutex_unlock(&f->p->mu);
    if (!ok)
        return false;
    /* the object must be the SEG the URL names, readable within our limits */
    struct err de = ERR_INIT;
    struct seg_index *idx = decoder_seg_open(tmp_path, f->p->limits, &de);
    if (!idx)
        return err_set(e, ERR_UPSTREAM, "upstream: %s is not a usable SEG: %s", f->sop, de.msg);
    if (strcmp(idx->study_uid ? idx->study_uid : "", f->study) ||
        strcmp(idx->series_uid ? idx->series_uid : "", f->series) ||
        strcmp(idx->sop_instance_uid ? idx->sop_instance_uid : "", f->sop))
        ok = err_set(e, ERR_UPSTREAM, "upstream: the object's UIDs (%.64s / %.64s / %.64s) differ from the URL's",
                     idx->study_uid ? idx->study_uid : "", idx->series_uid ? idx->series_uid : "",
                     idx->sop_instance_uid ? idx->sop_instance_uid : "");
    if (ok)
        f->idx = idx; /* its descriptor is the temp file's, renamed into the cache as is */
    else
        decoder_seg_free(idx);
    return ok;
}

bool api_pull_seg(struct api_pull *p, const char *study, const char *series, const char *sop, char *path,
                  size_t pathsz, bool *pulled, struct err *e)
{
    struct fill f = {.p = p, .study = study, .series = series, .sop = sop, .fd = -1};
    enum store_cache_how how = STORE_CACHE_HIT;
    bool ok = store_cache_get(p->cache, sop, fill_fn, &f, path, pathsz, &how, e);
    if (ok && f.idx && how == STORE_CACHE_FILLED) { /* persisted now: no DCMTK parse after a restart */
        struct err se = ERR_INIT;
        store_seg_index_save(NULL, p->cache, path, f.idx, &se);
    }
    decoder_seg_free(f.idx);
    if (pulled)
        *pulled = how != STORE_CACHE_HIT;
    if (how == STORE_CACHE_FILLED) {
        pthread_mutex_lock(&p->mu);
        p->pulls++;
        if (!ok)
            p->pull_errors++;
        pthread_mutex_unlock(&p->mu);
    }
    if (ok)
        class_put(p, sop, true);
    return ok;
}

bool api_pull_cached(struct api_pull *p, const char *sop, char *path, size_t pathsz)
{
    struct err e = ERR_INIT;
    enum store_cache_how how;
    return store_cache_get(p->cache, sop, NULL, NULL, path, pathsz, &how, &e);
}

void api_pull_release(struct api_pull *p, const char *sop) { store_cache_release(p->cache, sop); }

struct store_cache *api_pull_objects(struct api_pull *p) { return p ? p->cache : NULL; }

bool api_pull_ping(struct api_pull *p, struct err *e) { return upstream_ping(p->up, e); }

const char *api_pull_state(struct api_pull *p)
{
    struct upstream_stats st;
    upstream_stats_get(p->up, &st);
    return st.state == UPSTREAM_STATE_UP ? "up" : st.state == UPSTREAM_STATE_DOWN ? "down" : "unknown";
}

bool api_pull_metrics(struct api_pull *p, struct buf *out, struct err *e)
{
    struct upstream_stats st;
    upstream_stats_get(p->up, &st);
    struct store_cache_stats cs;
    store_cache_stats_get(p->cache, &cs);
    pthread_mutex_lock(&p->mu);
    uint64_t pulls = p->pulls, pull_errors = p->pull_errors, pull_bytes = p->pull_bytes;
    pthread_mutex_unlock(&p->mu);
    static const double bounds[8] = UPSTREAM_LATENCY_BOUNDS;
    char text[4096];
    size_t k = 0;
#define P(...) k += (size_t)snprintf(text + k, k < sizeof text ? sizeof text - k : 0, __VA_ARGS__)
    P("# HELP segweb_upstream_requests_total Requests to the upstream archive (retries not counted).\n"
      "# TYPE segweb_upstream_requests_total counter\nsegweb_upstream_requests_total %llu\n",
      (unsigned long long)st.requests);
    P("# TYPE segweb_upstream_attempts_total counter\nsegweb_upstream_attempts_total %llu\n",
      (unsigned long long)st.attempts);
    P("# TYPE segweb_upstream_retries_total counter\nsegweb_upstream_retries_total %llu\n",
      (unsigned long long)st.retries);
    P("# HELP segweb_upstream_errors_total Requests to the upstream that failed (transport, timeout, 5xx, garbage).\n"
      "# TYPE segweb_upstream_errors_total counter\nsegweb_upstream_errors_total %llu\n",
      (unsigned long long)st.errors);
    P("# TYPE segweb_upstream_timeouts_total counter\nsegweb_upstream_timeouts_total %llu\n",
      (unsigned long long)st.timeouts);
    P("# TYPE segweb_upstream_bytes_total counter\nsegweb_upstream_bytes_total %llu\n", (unsigned long long)st.bytes);
    P("# TYPE segweb_upstream_in_flight gauge\nsegweb_upstream_in_flight %u\n", st.in_flight);
    P("# HELP segweb_upstream_up 1 when the last upstream exchange succeeded, 0 when it failed, -1 before any.\n"
      "# TYPE segweb_upstream_up gauge\nsegweb_upstream_up %d\n",
      st.state == UPSTREAM_STATE_UP ? 1 : st.state == UPSTREAM_STATE_DOWN ? 0 : -1);
    P("# TYPE segweb_upstream_request_seconds histogram\n");
    for (int i = 0; i < 8; i++)
        P("segweb_upstream_request_seconds_bucket{le=\"%g\"} %llu\n", bounds[i],
          (unsigned long long)st.latency_buckets[i]);
    P("segweb_upstream_request_seconds_bucket{le=\"+Inf\"} %llu\nsegweb_upstream_request_seconds_sum %.6f\n"
      "segweb_upstream_request_seconds_count %llu\n",
      (unsigned long long)st.requests, st.seconds_sum, (unsigned long long)st.requests);
    P("# HELP segweb_upstream_pulls_total SEG objects pulled whole into the object cache (single flight: one per miss).\n"
      "# TYPE segweb_upstream_pulls_total counter\nsegweb_upstream_pulls_total %llu\n",
      (unsigned long long)pulls);
    P("# TYPE segweb_upstream_pull_errors_total counter\nsegweb_upstream_pull_errors_total %llu\n",
      (unsigned long long)pull_errors);
    P("# TYPE segweb_upstream_pull_bytes_total counter\nsegweb_upstream_pull_bytes_total %llu\n",
      (unsigned long long)pull_bytes);
    P("# TYPE segweb_upstream_cache_hits_total counter\nsegweb_upstream_cache_hits_total %llu\n",
      (unsigned long long)cs.hits);
    P("# TYPE segweb_upstream_cache_misses_total counter\nsegweb_upstream_cache_misses_total %llu\n",
      (unsigned long long)cs.misses);
    P("# TYPE segweb_upstream_cache_evictions_total counter\nsegweb_upstream_cache_evictions_total %llu\n",
      (unsigned long long)cs.evictions);
    P("# TYPE segweb_upstream_cache_bytes gauge\nsegweb_upstream_cache_bytes %llu\n", (unsigned long long)cs.bytes);
    P("# TYPE segweb_upstream_cache_entries gauge\nsegweb_upstream_cache_entries %llu\n",
      (unsigned long long)cs.entries);
    P("# TYPE segweb_upstream_cache_budget_bytes gauge\nsegweb_upstream_cache_budget_bytes %llu\n",
      (unsigned long long)cs.budget);
#undef P
    if (k >= sizeof text)
        return err_set(e, ERR_INTERNAL, "upstream metrics longer than %zu bytes", sizeof text);
    return buf_append(out, text, k, e);
}
