#include "server/metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "decoder/decoder.h"

static const int STATUSES[] = {200, 204, 304, 400, 404, 405, 406, 408, 413, 414, 415, 422, 500, 503};
#define N_STATUS (sizeof STATUSES / sizeof STATUSES[0] + 1) /* + "other" */
static const double BUCKETS[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define N_BUCKETS (sizeof BUCKETS / sizeof BUCKETS[0])

struct metrics {
    pthread_mutex_t mu;
    struct file_cache *cache;
    struct threadpool *tp;
    unsigned long long requests[API_ROUTE_LABELS_MAX][N_STATUS];
    unsigned long long hist[API_ROUTE_LABELS_MAX][N_BUCKETS];
    unsigned long long count[API_ROUTE_LABELS_MAX];
    double sum[API_ROUTE_LABELS_MAX];
    long long in_flight;
    unsigned long long rejected;
};

struct metrics *metrics_new(struct file_cache *cache, struct threadpool *tp)
{
    struct metrics *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    pthread_mutex_init(&m->mu, NULL);
    m->cache = cache;
    m->tp = tp;
    return m;
}

void metrics_free(struct metrics *m)
{
    if (!m)
        return;
    pthread_mutex_destroy(&m->mu);
    free(m);
}

void metrics_request_begin(struct metrics *m)
{
    pthread_mutex_lock(&m->mu);
    m->in_flight++;
    pthread_mutex_unlock(&m->mu);
}

void metrics_request_end(struct metrics *m, const struct api_route *row, int status,
                         double seconds)
{
    size_t route = api_route_label_index(row);
    size_t s = N_STATUS - 1;
    for (size_t i = 0; i + 1 < N_STATUS; i++)
        if (STATUSES[i] == status)
            s = i;
    pthread_mutex_lock(&m->mu);
    m->in_flight--;
    m->requests[route][s]++;
    for (size_t b = 0; b < N_BUCKETS; b++)
        if (seconds <= BUCKETS[b])
            m->hist[route][b]++;
    m->count[route]++;
    m->sum[route] += seconds;
    pthread_mutex_unlock(&m->mu);
}

void metrics_rejected_inc(struct metrics *m)
{
    pthread_mutex_lock(&m->mu);
    m->rejected++;
    pthread_mutex_unlock(&m->mu);
}

static bool put(struct buf *out, struct err *e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool put(struct buf *out, struct err *e, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return err_set(e, ERR_INTERNAL, "metrics format");
    return buf_append(out, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1, e);
}

/* A copy of the counters taken under the lock, rendered without it. */
static void snapshot(struct metrics *m, struct metrics *snap)
{
    pthread_mutex_lock(&m->mu);
    for (size_t r = 0; r < API_ROUTE_LABELS_MAX; r++) {
        for (size_t s = 0; s < N_STATUS; s++)
            snap->requests[r][s] = m->requests[r][s];
        for (size_t b = 0; b < N_BUCKETS; b++)
            snap->hist[r][b] = m->hist[r][b];
        snap->count[r] = m->count[r];
        snap->sum[r] = m->sum[r];
    }
    snap->in_flight = m->in_flight;
    snap->rejected = m->rejected;
    pthread_mutex_unlock(&m->mu);
}

/* Requests by route label and status, the latency histogram, in flight, rejected. */
static bool render_requests(const struct metrics *snap, struct buf *out, struct err *e)
{
    bool ok = put(out, e, "# HELP segweb_requests_total HTTP requests by route and status.\n"
                          "# TYPE segweb_requests_total counter\n");
    size_t n_routes = api_route_label_count();
    for (size_t r = 0; r < n_routes && ok; r++)
        for (size_t s = 0; s < N_STATUS && ok; s++) {
            if (!snap->requests[r][s])
                continue;
            char status[8];
            if (s + 1 < N_STATUS)
                snprintf(status, sizeof status, "%d", STATUSES[s]);
            else
                snprintf(status, sizeof status, "other");
            ok = put(out, e, "segweb_requests_total{route=\"%s\",status=\"%s\"} %llu\n",
                     api_route_label(r), status, snap->requests[r][s]);
        }
    ok = ok && put(out, e, "# HELP segweb_request_duration_seconds Request latency, accept to reply.\n"
                           "# TYPE segweb_request_duration_seconds histogram\n");
    for (size_t r = 0; r < n_routes && ok; r++) {
        if (!snap->count[r])
            continue;
        const char *rn = api_route_label(r);
        for (size_t b = 0; b < N_BUCKETS && ok; b++)
            ok = put(out, e, "segweb_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                     rn, BUCKETS[b], snap->hist[r][b]);
        ok = ok && put(out, e,
                       "segweb_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n"
                       "segweb_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
                       "segweb_request_duration_seconds_count{route=\"%s\"} %llu\n",
                       rn, snap->count[r], rn, snap->sum[r], rn, snap->count[r]);
    }
    return ok && put(out, e,
                     "# HELP segweb_requests_in_flight Requests accepted and not yet answered.\n"
                     "# TYPE segweb_requests_in_flight gauge\nsegweb_requests_in_flight %lld\n"
                     "# HELP segweb_queue_rejected_total Requests answered 503 because the queue was full.\n"
                     "# TYPE segweb_queue_rejected_total counter\nsegweb_queue_rejected_total %llu\n",
                     snap->in_flight, snap->rejected);
}

/* One metric of one sample: its HELP and TYPE lines, then "name value" (real
 * values with 6 decimals, the others as integers). */
struct sample {
    const char *name, *type, *help;
    unsigned long long n;
    double real;
    bool is_real;
};

static bool put_samples(struct buf *out, struct err *e, const struct sample *s, size_t n)
{
    bool ok = true;
    for (size_t i = 0; ok && i < n; i++) {
        ok = put(out, e, "# HELP %s %s\n# TYPE %s %s\n", s[i].name, s[i].help, s[i].name, s[i].type);
        ok = ok && (s[i].is_real ? put(out, e, "%s %.6f\n", s[i].name, s[i].real)
                                 : put(out, e, "%s %llu\n", s[i].name, s[i].n));
    }
    return ok;
}

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))
#define INT(name, type, help, v) {name, type, help, (unsigned long long)(v), 0, false}
#define REAL(name, type, help, v) {name, type, help, 0, v, true}

/* The decoded-index cache. */
static bool render_cache(struct file_cache *cache, struct buf *out, struct err *e)
{
    struct file_cache_stats st;
    file_cache_stats_get(cache, &st);
    const struct sample s[] = {
        INT("segweb_cache_hits_total", "counter", "Index cache hits (incl. waits on a load in progress).",
            st.hits + st.coalesced),
        INT("segweb_cache_misses_total", "counter", "Index cache misses (each starts one index build).", st.misses),
        INT("segweb_cache_coalesced_total", "counter", "Misses that waited for a concurrent build.", st.coalesced),
        INT("segweb_cache_evictions_total", "counter", "Entries evicted for the byte budget.", st.evictions),
        INT("segweb_cache_stale_total", "counter", "Entries dropped because the file changed.", st.stale),
        INT("segweb_cache_bytes", "gauge", "Memory held by cached indexes.", st.bytes),
        INT("segweb_cache_budget_bytes", "gauge", "The cache byte budget.", st.budget),
        INT("segweb_cache_entries", "gauge", "Cached indexes.", st.entries),
        INT("segweb_index_builds_total", "counter", "Index builds (decoder_seg_open calls).", st.loads),
        INT("segweb_index_build_failures_total", "counter", "Index builds that failed.", st.load_failures),
        REAL("segweb_index_seconds_total", "counter", "Time spent building indexes.", st.load_seconds),
        INT("segweb_cache_open_files", "gauge", "Cached indexes holding their file open.", st.open),
        INT("segweb_cache_open_files_budget", "gauge", "At most this many stay open (half of RLIMIT_NOFILE).",
            st.max_open),
        INT("segweb_cache_file_closes_total", "counter", "Index files closed for the budget.", st.closes),
        INT("segweb_cache_file_reopens_total", "counter", "Index files reopened on a hit.", st.reopens),
    };
    return put_samples(out, e, s, N_OF(s));
}

/* Where indexes came from: DCMTK parses vs persisted files (decoder/seg_index_io.h). */
static bool render_index_counts(struct buf *out, struct err *e)
{
    struct seg_index_counts ic;
    decoder_seg_index_counts(&ic);
    const struct sample s[] = {
        INT("segweb_index_parses_total", "counter", "Objects parsed with DCMTK to build an index (STOW checks included).",
            ic.parsed),
        INT("segweb_index_persisted_loads_total", "counter", "Indexes loaded from their persisted file.", ic.loaded),
        INT("segweb_index_persisted_rejected_total", "counter",
            "Persisted indexes refused (stale, corrupt, another version).", ic.rejected),
    };
    return put_samples(out, e, s, N_OF(s));
}

/* The encoded-PNG cache. */
static bool render_png_cache(struct buf *out, struct err *e)
{
    struct api_png_cache_stats ps;
    api_png_cache_stats(&ps);
    const struct sample s[] = {
        INT("segweb_png_cache_hits_total", "counter", "Frame PNGs answered from the encoded-PNG cache.", ps.hits),
        INT("segweb_png_cache_misses_total", "counter", "Frame PNGs encoded (cache on, not cached).", ps.misses),
        INT("segweb_png_cache_evictions_total", "counter", "PNGs evicted for the byte budget.", ps.evictions),
        INT("segweb_png_cache_bytes", "gauge", "Memory held by cached PNGs (with entry overhead).", ps.bytes),
        INT("segweb_png_cache_budget_bytes", "gauge", "--png-cache-mb in bytes (0: off).", ps.budget),
    };
    return put_samples(out, e, s, N_OF(s));
}

/* The worker pool. */
static bool render_workers(struct threadpool *tp, struct buf *out, struct err *e)
{
    const struct sample s[] = {
        INT("segweb_queue_depth", "gauge", "Jobs waiting for a worker.", threadpool_queued(tp)),
        INT("segweb_workers_busy", "gauge", "Workers running a job.", threadpool_running(tp)),
    };
    return put_samples(out, e, s, N_OF(s));
}

bool metrics_render(void *arg, struct buf *out, struct err *e)
{
    struct metrics *m = arg;
    static struct metrics snap; /* rendered one at a time, under render_mu */
    static pthread_mutex_t render_mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&render_mu);
    snapshot(m, &snap);
    bool ok = render_requests(&snap, out, e);
    if (ok && m->tp)
        ok = render_workers(m->tp, out, e);
    if (ok && m->cache)
        ok = render_cache(m->cache, out, e);
    ok = ok && render_index_counts(out, e) && render_png_cache(out, e);
    pthread_mutex_unlock(&render_mu);
    return ok;
}
