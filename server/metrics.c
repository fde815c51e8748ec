#include "server/metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>


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

/* The decoded-index cache. */
static bool render_cache(struct file_cache *cache, struct buf *out, struct err *e)
{
    struct file_cache_stats st;
    file_cache_stats_get(cache, &st);
    bool ok = put(out, e,
                  "# HELP segweb_cache_hits_total Index cache hits (incl. waits on a load in progress).\n"
                  "# TYPE segweb_cache_hits_total counter\nsegweb_cache_hits_total %llu\n"
                  "# HELP segweb_cache_misses_total Index cache misses (each starts one index build).\n"
                  "# TYPE segweb_cache_misses_total counter\nsegweb_cache_misses_total %llu\n"
                  "# HELP segweb_cache_coalesced_total Misses that waited for a concurrent build.\n"
                  "# TYPE segweb_cache_coalesced_total counter\nsegweb_cache_coalesced_total %llu\n",
                  (unsigned long long)(st.hits + st.coalesced), (unsigned long long)st.misses,
                  (unsigned long long)st.coalesced);
    ok = ok && put(out, e,
                   "# HELP segweb_cache_evictions_total Entries evicted for the byte budget.\n"
                   "# TYPE segweb_cache_evictions_total counter\nsegweb_cache_evictions_total %llu\n"
                   "# HELP segweb_cache_stale_total Entries dropped because the file changed.\n"
                   "# TYPE segweb_cache_stale_total counter\nsegweb_cache_stale_total %llu\n",
                   (unsigned long long)st.evictions, (unsigned long long)st.stale);
    ok = ok && put(out, e,
                   "# HELP segweb_cache_bytes Memory held by cached indexes.\n"
                   "# TYPE segweb_cache_bytes gauge\nsegweb_cache_bytes %zu\n"
                   "# HELP segweb_cache_budget_bytes The cache byte budget.\n"
                   "# TYPE segweb_cache_budget_bytes gauge\nsegweb_cache_budget_bytes %zu\n"
                   "# HELP segweb_cache_entries Cached indexes.\n"
                   "# TYPE segweb_cache_entries gauge\nsegweb_cache_entries %zu\n",
                   st.bytes, st.budget, st.entries);
    ok = ok && put(out, e,
                   "# HELP segweb_index_builds_total Index builds (decoder_seg_open calls).\n"
                   "# TYPE segweb_index_builds_total counter\nsegweb_index_builds_total %llu\n"
                   "# HELP segweb_index_build_failures_total Index builds that failed.\n"
                   "# TYPE segweb_index_build_failures_total counter\nsegweb_index_build_failures_total %llu\n"
                   "# HELP segweb_index_seconds_total Time spent building indexes.\n"
                   "# TYPE segweb_index_seconds_total counter\nsegweb_index_seconds_total %.6f\n",
                   (unsigned long long)st.loads, (unsigned long long)st.load_failures,
                   st.load_seconds);
    return ok;
}

/* The encoded-PNG cache. */
static bool render_png_cache(struct buf *out, struct err *e)
{
    struct api_png_cache_stats ps;
    api_png_cache_stats(&ps);
    bool ok = put(out, e,
                  "# HELP segweb_png_cache_hits_total Frame PNGs answered from the encoded-PNG cache.\n"
                  "# TYPE segweb_png_cache_hits_total counter\nsegweb_png_cache_hits_total %llu\n"
                  "# HELP segweb_png_cache_misses_total Frame PNGs encoded (cache on, not cached).\n"
                  "# TYPE segweb_png_cache_misses_total counter\nsegweb_png_cache_misses_total %llu\n"
                  "# HELP segweb_png_cache_evictions_total PNGs evicted for the byte budget.\n"
                  "# TYPE segweb_png_cache_evictions_total counter\nsegweb_png_cache_evictions_total %llu\n",
                  (unsigned long long)ps.hits, (unsigned long long)ps.misses,
                  (unsigned long long)ps.evictions);
    ok = ok && put(out, e,
                   "# HELP segweb_png_cache_bytes Memory held by cached PNGs (with entry overhead).\n"
                   "# TYPE segweb_png_cache_bytes gauge\nsegweb_png_cache_bytes %zu\n"
                   "# HELP segweb_png_cache_budget_bytes --png-cache-mb in bytes (0: off).\n"
                   "# TYPE segweb_png_cache_budget_bytes gauge\nsegweb_png_cache_budget_bytes %zu\n",
                   ps.bytes, ps.budget);
    return ok;
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
        ok = put(out, e,
                 "# HELP segweb_queue_depth Jobs waiting for a worker.\n"
                 "# TYPE segweb_queue_depth gauge\nsegweb_queue_depth %zu\n"
                 "# HELP segweb_workers_busy Workers running a job.\n"
                 "# TYPE segweb_workers_busy gauge\nsegweb_workers_busy %zu\n",
                 threadpool_queued(m->tp), threadpool_running(m->tp));
    if (ok && m->cache)
        ok = render_cache(m->cache, out, e);
    ok = ok && render_png_cache(out, e);
    pthread_mutex_unlock(&render_mu);
    return ok;
}
