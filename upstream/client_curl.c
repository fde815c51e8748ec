/* The upstream client: libcurl easy handles in a fixed pool of slots (the
 * concurrency cap), retries with backoff, credentials from files, statistics.
 * The only file that includes curl.h; CURLcode becomes struct err here. */
#include "upstream/upstream.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/text_file.h"

#define URL_MAX 2048
#define CRED_MAX 1024

struct slot {
    CURL *h;
    bool busy;
};

struct upstream {
    struct upstream_config cfg;
    char url[URL_MAX];
    char token[CRED_MAX];  /* "" none */
    char userpwd[CRED_MAX]; /* "" none */
    char ca_file[1024];

    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct slot *slots;
    uint32_t n_slots;

    /* statistics, under mu */
    struct upstream_stats st;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;
static void global_init(void) { global_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

static const double BOUNDS[8] = UPSTREAM_LATENCY_BOUNDS;

const char *upstream_fail_name(enum upstream_fail f)
{
    switch (f) {
    case UPSTREAM_FAIL_NONE: return "none";
    case UPSTREAM_FAIL_CONNECT: return "connect";
    case UPSTREAM_FAIL_TIMEOUT: return "timeout";
    case UPSTREAM_FAIL_PROTOCOL: return "protocol";
    case UPSTREAM_FAIL_TOO_LARGE: return "too_large";
    case UPSTREAM_FAIL_STATUS: return "status";
    case UPSTREAM_FAIL_BUSY: return "busy";
    case UPSTREAM_FAIL_ABORTED: return "aborted";
    }
    return "unknown";
}

/* First line of a file, trailing blanks removed; false when unreadable or empty. */
static bool read_first_line(const char *what, const char *path, char *out, size_t outsz, struct err *e)
{
    char line[CRED_MAX + 2];
    size_t n = 0;
    if (!text_file_first_line(path, line, sizeof line, &n, e)) {
        err_prefix(e, "%s %s", what, path);
        return false;
    }
    if (!n)
        return err_set(e, ERR_INVALID, "%s %s: the first line is empty", what, path);
    if (n >= outsz)
        return err_set(e, ERR_INVALID, "%s %s: longer than %zu bytes", what, path, outsz - 1);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
            return err_set(e, ERR_INVALID, "%s %s: control character in the first line", what, path);
    memcpy(out, line, n);
    out[n] = 0;
    return true;
}

struct upstream *upstream_new(const struct upstream_config *cfg, struct err *e)
{
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK) {
        err_set(e, ERR_INTERNAL, "curl_global_init: %s", curl_easy_strerror(global_rc));
        return NULL;
    }
    if (!cfg->url || (strncasecmp(cfg->url, "http://", 7) && strncasecmp(cfg->url, "https://", 8))) {
        err_set(e, ERR_INVALID, "upstream URL must start with http:// or https://");
        return NULL;
    }
    size_t n = strlen(cfg->url);
    while (n && cfg->url[n - 1] == '/')
        n--;
    if (n >= URL_MAX || n <= 8) {
        err_set(e, ERR_INVALID, "upstream URL: empty or longer than %d bytes", URL_MAX - 1);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)cfg->url[i] <= 0x20 || cfg->url[i] == 0x7f) {
            err_set(e, ERR_INVALID, "upstream URL: blank or control character");
            return NULL;
        }
    struct upstream *u = calloc(1, sizeof *u);
    if (!u) {
        err_set(e, ERR_NOMEM, "upstream: out of memory");
        return NULL;
    }
    u->cfg = *cfg;
    memcpy(u->url, cfg->url, n);
    u->url[n] = 0;
    u->cfg.url = u->url;
    if (!u->cfg.connect_timeout_ms)
        u->cfg.connect_timeout_ms = 5000;
    if (!u->cfg.read_timeout_ms)
        u->cfg.read_timeout_ms = 30000;
    if (!u->cfg.backoff_ms)
        u->cfg.backoff_ms = 100;
    if (!u->cfg.max_concurrency)
        u->cfg.max_concurrency = 8;
    if (!u->cfg.queue_timeout_ms)
        u->cfg.queue_timeout_ms = 10000;
    if (cfg->token_file && *cfg->token_file &&
        !read_first_line("--upstream-token-file", cfg->token_file, u->token, sizeof u->token, e))
        goto fail;
    if (cfg->basic_file && *cfg->basic_file) {
        if (!read_first_line("--upstream-basic-file", cfg->basic_file, u->userpwd, sizeof u->userpwd, e))
            goto fail;
        if (!strchr(u->userpwd, ':')) {
            err_set(e, ERR_INVALID, "--upstream-basic-file %s: expected user:password", cfg->basic_file);
            goto fail;
        }
    }
    if (u->token[0] && u->userpwd[0]) {
        err_set(e, ERR_INVALID, "upstream: a bearer token or basic credentials, not both");
        goto fail;
    }
    if (cfg->ca_file && *cfg->ca_file) {
        if (strlen(cfg->ca_file) >= sizeof u->ca_file || access(cfg->ca_file, R_OK)) {
            err_set(e, ERR_INVALID, "upstream CA file %s: not readable", cfg->ca_file);
            goto fail;
        }
        snprintf(u->ca_file, sizeof u->ca_file, "%s", cfg->ca_file);
    }
    u->cfg.token_file = u->cfg.basic_file = u->cfg.ca_file = NULL;
    u->n_slots = u->cfg.max_concurrency;
    u->slots = calloc(u->n_slots, sizeof *u->slots);
    if (!u->slots) {
        err_set(e, ERR_NOMEM, "upstream: out of memory");
        goto fail;
    }
    pthread_mutex_init(&u->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&u->cv, &ca);
    pthread_condattr_destroy(&ca);
    return u;
fail:
    explicit_bzero(u->token, sizeof u->token);
    explicit_bzero(u->userpwd, sizeof u->userpwd);
    free(u);
    return NULL;
}

void upstream_free(struct upstream *u)
{
    if (!u)
        return;
    for (uint32_t i = 0; i < u->n_slots; i++)
        if (u->slots[i].h)
            curl_easy_cleanup(u->slots[i].h);
    free(u->slots);
    pthread_mutex_destroy(&u->mu);
    pthread_cond_destroy(&u->cv);
    explicit_bzero(u->token, sizeof u->token);
    explicit_bzero(u->userpwd, sizeof u->userpwd);
    free(u);
}

const char *upstream_url(const struct upstream *u) { return u->url; }

void upstream_stats_get(struct upstream *u, struct upstream_stats *out)
{
    pthread_mutex_lock(&u->mu);
    *out = u->st;
    pthread_mutex_unlock(&u->mu);
}

/* ---- slots ---- */

static struct slot *slot_take(struct upstream *u)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += u->cfg.queue_timeout_ms / 1000;
    until.tv_nsec += (long)(u->cfg.queue_timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&u->mu);
    struct slot *s = NULL;
    for (;;) {
        for (uint32_t i = 0; i < u->n_slots && !s; i++)
            if (!u->slots[i].busy)
                s = &u->slots[i];
        if (s)
            break;
        if (pthread_cond_timedwait(&u->cv, &u->mu, &until) == ETIMEDOUT)
            break;
    }
    if (s) {
        s->busy = true;
        u->st.in_flight++;
    }
    pthread_mutex_unlock(&u->mu);
    if (s && !s->h) {
        s->h = curl_easy_init();
        if (!s->h) {
            pthread_mutex_lock(&u->mu);
            s->busy = false;
            u->st.in_flight--;
            pthread_cond_signal(&u->cv);
            pthread_mutex_unlock(&u->mu);
            return NULL;
        }
    }
    return s;
}

static void slot_give(struct upstream *u, struct slot *s)
{
    pthread_mutex_lock(&u->mu);
    s->busy = false;
    u->st.in_flight--;
    pthread_cond_signal(&u->cv);
    pthread_mutex_unlock(&u->mu);
}

/* ---- one attempt ---- */

struct xfer {
    struct upstream *u;
    CURL *h;
    struct upstream_reply *r;
    upstream_head_fn on_head;
    upstream_data_fn on_data;
    void *arg;
    struct err *e;
    bool may_retry;   /* this attempt is not the last */
    bool headed;      /* the body of the final response has started (or it ended empty) */
    bool head_called;
    bool discard;     /* a retryable 5xx: swallow its body */
    bool delivered;   /* bytes went to on_data */
    bool aborted;     /* a callback said stop */
    bool too_large;
    bool idle_timeout; /* no byte for read_timeout_ms */
    double last_byte;  /* monotonic seconds of the last byte received (or the start) */
};

static double now_s(void);

/* Called once per header line, for every response (redirects too). */
static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct xfer *x = arg;
    size_t len = size * n;
    x->last_byte = now_s();
    if (len >= 5 && !strncasecmp(p, "HTTP/", 5)) {
        /* a new response (after a redirect or 100-continue): reset */
        x->r->content_type[0] = 0;
        x->r->content_length = -1;
        return len;
    }
    const char *colon = memchr(p, ':', len);
    if (!colon)
        return len;
    size_t name_len = (size_t)(colon - p);
    const char *v = colon + 1;
    size_t vlen = len - name_len - 1;
    while (vlen && (*v == ' ' || *v == '\t'))
        v++, vlen--;
    while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
        vlen--;
    if (name_len == 12 && !strncasecmp(p, "Content-Type", 12)) {
        if (vlen >= sizeof x->r->content_type)
            vlen = sizeof x->r->content_type - 1; /* a bad boundary later, never an overflow */
        memcpy(x->r->content_type, v, vlen);
        x->r->content_type[vlen] = 0;
        for (size_t i = 0; i < vlen; i++)
            if ((unsigned char)x->r->content_type[i] < 0x20)
                x->r->content_type[i] = ' ';
    } else if (name_len == 14 && !strncasecmp(p, "Content-Length", 14)) {
        char tmp[32];
        if (vlen < sizeof tmp) {
            memcpy(tmp, v, vlen);
            tmp[vlen] = 0;
            char *end;
            errno = 0;
            long long cl = strtoll(tmp, &end, 10);
            if (!errno && !*end && cl >= 0 && end != tmp)
                x->r->content_length = cl;
        }
    }
    return len;
}

/* The body of the response that will be delivered starts: decide, call on_head. */
static bool head(struct xfer *x)
{
    if (x->headed)
        return true;
    x->headed = true;
    long status = 0;
    curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
    x->r->status = status;
    if (status >= 500 && x->may_retry) {
        x->discard = true;
        return true;
    }
    uint64_t max = x->u->cfg.max_body_bytes;
    if (max && x->r->content_length > 0 && (uint64_t)x->r->content_length > max) {
        x->too_large = true;
        return false;
    }
    x->head_called = true;
    if (x->on_head && !x->on_head(x->arg, x->r, x->e)) {
        x->aborted = true;
        return false;
    }
    return true;
}

static size_t on_write(char *p, size_t size, size_t n, void *arg)
{
    struct xfer *x = arg;
    size_t len = size * n;
    x->last_byte = now_s();
    if (!x->headed && !head(x))
        return 0;
    if (x->discard)
        return len;
    uint64_t max = x->u->cfg.max_body_bytes;
    if (max && x->r->bytes + len > max) {
        x->too_large = true;
        return 0;
    }
    x->r->bytes += len;
    if (x->on_data && len) {
        x->delivered = true;
        if (!x->on_data(x->arg, p, len, x->e)) {
            x->aborted = true;
            return 0;
        }
    }
    return len;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static bool retryable_curl(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return true;
    default:
        return false;
    }
}

static enum upstream_fail classify(CURLcode rc)
{
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return UPSTREAM_FAIL_TIMEOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
        return UPSTREAM_FAIL_CONNECT;
    case CURLE_FILESIZE_EXCEEDED:
        return UPSTREAM_FAIL_TOO_LARGE;
    default:
        return UPSTREAM_FAIL_PROTOCOL;
    }
}

/* The read timeout: curl's low-speed check averages over seconds, so a trickle
 * can keep it quiet; this one counts the time since the last byte. */
static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    struct xfer *x = arg;
    if ((now_s() - x->last_byte) * 1000.0 > (double)x->u->cfg.read_timeout_ms) {
        x->idle_timeout = true;
        return 1;
    }
    return 0;
}

static void setup(struct upstream *u, CURL *h, const char *url, struct curl_slist *hdrs, struct xfer *x)
{
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, u->cfg.max_redirects ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, (long)u->cfg.max_redirects);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)u->cfg.connect_timeout_ms);
    x->last_byte = now_s();
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, x);
    if (u->cfg.total_timeout_ms)
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)u->cfg.total_timeout_ms);
    if (u->cfg.max_body_bytes)
        curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)u->cfg.max_body_bytes);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (u->ca_file[0])
        curl_easy_setopt(h, CURLOPT_CAINFO, u->ca_file);
    if (u->token[0]) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
        curl_easy_setopt(h, CURLOPT_XOAUTH2_BEARER, u->token);
    } else if (u->userpwd[0]) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERPWD, u->userpwd);
    }
    curl_easy_setopt(h, CURLOPT_UNRESTRICTED_AUTH, 0L); /* no credentials to another host */
    curl_easy_setopt(h, CURLOPT_USERAGENT, "segweb");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
}

static void sleep_ms(double ms)
{
    if (ms <= 0)
        return;
    struct timespec t;
    t.tv_sec = (time_t)(ms / 1000.0);
    t.tv_nsec = (long)((ms - (double)t.tv_sec * 1000.0) * 1e6);
    while (nanosleep(&t, &t) == -1 && errno == EINTR)
        ;
}

static void account(struct upstream *u, const struct upstream_reply *r, bool up_seen, bool down_seen)
{
    pthread_mutex_lock(&u->mu);
    u->st.requests++;
    u->st.attempts += r->attempts;
    if (r->attempts > 1)
        u->st.retries += r->attempts - 1;
    if (r->fail != UPSTREAM_FAIL_NONE)
        u->st.errors++;
    if (r->fail == UPSTREAM_FAIL_TIMEOUT)
        u->st.timeouts++;
    u->st.bytes += r->bytes;
    u->st.seconds_sum += r->seconds;
    for (int i = 0; i < 8; i++)
        if (r->seconds <= BOUNDS[i])
            u->st.latency_buckets[i]++;
    if (up_seen)
        u->st.state = UPSTREAM_STATE_UP;
    else if (down_seen)
        u->st.state = UPSTREAM_STATE_DOWN;
    pthread_mutex_unlock(&u->mu);
}

static unsigned jitter_seed(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (unsigned)t.tv_nsec ^ (unsigned)(uintptr_t)&t;
}

bool upstream_stream(struct upstream *u, const char *path, const char *accept, upstream_head_fn on_head,
                     upstream_data_fn on_data, void *arg, struct upstream_reply *r, struct err *e)
{
    struct upstream_reply local;
    if (!r)
        r = &local;
    memset(r, 0, sizeof *r);
    r->content_length = -1;
    double t0 = now_s();
    bool up_seen = false, down_seen = false;
    struct curl_slist *hdrs = NULL;
    struct slot *slot = NULL;
    char url[URL_MAX + 4096 + 8];
    if (!path || path[0] != '/' || strlen(u->url) + strlen(path) >= sizeof url) {
        r->fail = UPSTREAM_FAIL_PROTOCOL;
        err_set(e, ERR_INVALID, "upstream: bad request path");
        goto out;
    }
    for (const char *c = path; *c; c++)
        if ((unsigned char)*c <= 0x20 || *c == 0x7f) {
            r->fail = UPSTREAM_FAIL_PROTOCOL;
            err_set(e, ERR_INVALID, "upstream: blank or control character in the request path");
            goto out;
        }
    size_t ulen = strlen(u->url);
    memcpy(url, u->url, ulen);
    memcpy(url + ulen, path, strlen(path) + 1);
    if (accept && *accept) {
        char line[1200];
        if (strlen(accept) > 1100 || strpbrk(accept, "\r\n")) {
            r->fail = UPSTREAM_FAIL_PROTOCOL;
            err_set(e, ERR_INVALID, "upstream: bad Accept");
            goto out;
        }
        snprintf(line, sizeof line, "Accept: %s", accept);
        hdrs = curl_slist_append(hdrs, line);
        if (!hdrs) {
            r->fail = UPSTREAM_FAIL_PROTOCOL;
            err_set(e, ERR_NOMEM, "upstream: out of memory");
            goto out;
        }
    }
    slot = slot_take(u);
    if (!slot) {
        r->fail = UPSTREAM_FAIL_BUSY;
        err_set(e, ERR_LIMIT, "upstream: %u requests in flight, none finished within %u ms",
                u->cfg.max_concurrency, u->cfg.queue_timeout_ms);
        goto out;
    }
    unsigned seed = jitter_seed();
    double backoff = u->cfg.backoff_ms;
    for (uint32_t attempt = 0;; attempt++) {
        struct xfer x = {.u = u, .h = slot->h, .r = r, .on_head = on_head, .on_data = on_data,
                         .arg = arg, .e = e, .may_retry = attempt < u->cfg.retries};
        r->status = 0;
        r->bytes = 0;
        r->content_type[0] = 0;
        r->content_length = -1;
        r->attempts = attempt + 1;
        setup(u, slot->h, url, hdrs, &x);
        CURLcode rc = curl_easy_perform(slot->h);
        if (x.idle_timeout)
            rc = CURLE_OPERATION_TIMEDOUT;
        if (rc == CURLE_OK && !x.headed && !head(&x)) /* an empty body: head now */
            rc = CURLE_WRITE_ERROR;
        if (x.aborted) {
            r->fail = UPSTREAM_FAIL_ABORTED;
            if (e && e->code == ERR_OK)
                err_set(e, ERR_IO, "upstream: transfer stopped");
            up_seen = true;
            break;
        }
        if (x.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
            r->fail = UPSTREAM_FAIL_TOO_LARGE;
            err_set(e, ERR_LIMIT, "upstream: %s%s: body larger than %llu bytes", u->url, path,
                    (unsigned long long)u->cfg.max_body_bytes);
            up_seen = true;
            break;
        }
        bool retry = false;
        if (rc != CURLE_OK) {
            down_seen = true;
            if (!x.delivered && !x.head_called && x.may_retry && retryable_curl(rc)) {
                retry = true;
            } else {
                r->fail = classify(rc);
                if (x.idle_timeout)
                    err_set(e, ERR_IO, "upstream: %s%s: no data for %u ms%s", u->url, path,
                            u->cfg.read_timeout_ms, x.delivered ? " (after part of the body)" : "");
                else if (rc == CURLE_TOO_MANY_REDIRECTS)
                    err_set(e, ERR_IO, "upstream: %s%s: more than %u redirects (a loop?)", u->url, path,
                            u->cfg.max_redirects);
                else
                    err_set(e, ERR_IO, "upstream: %s%s: %s%s", u->url, path, curl_easy_strerror(rc),
                            x.delivered ? " (after part of the body)" : "");
                break;
            }
        } else if (x.discard) {
            down_seen = true;
            retry = true; /* a 5xx with attempts left */
        } else {
            if (r->status >= 500)
                down_seen = true;
            else
                up_seen = true, down_seen = false;
            if (r->status >= 300 && r->status < 400) {
                r->fail = UPSTREAM_FAIL_PROTOCOL;
                err_set(e, ERR_IO, "upstream: %s%s: redirect (%ld) not followed", u->url, path, r->status);
            } else if (r->status >= 500) {
                r->fail = UPSTREAM_FAIL_STATUS;
                err_set(e, ERR_IO, "upstream: %s%s: status %ld after %u attempts", u->url, path, r->status,
                        r->attempts);
            } else if (r->status < 100) {
                r->fail = UPSTREAM_FAIL_PROTOCOL;
                err_set(e, ERR_IO, "upstream: %s%s: no HTTP status", u->url, path);
            }
            break;
        }
        if (retry) {
            double j = 0.75 + 0.5 * ((double)rand_r(&seed) / (double)RAND_MAX);
            sleep_ms(backoff * j);
            backoff *= 2;
            if (backoff > 5000)
                backoff = 5000;
        }
    }
out:
    if (slot)
        slot_give(u, slot);
    curl_slist_free_all(hdrs);
    r->seconds = now_s() - t0;
    account(u, r, up_seen, down_seen);
    return r->fail == UPSTREAM_FAIL_NONE;
}

struct collect {
    struct buf *body;
};

static bool collect_data(void *arg, const void *p, size_t n, struct err *e)
{
    struct collect *c = arg;
    return buf_append(c->body, p, n, e);
}

bool upstream_get(struct upstream *u, const char *path, const char *accept, struct buf *body,
                  struct upstream_reply *r, struct err *e)
{
    struct collect c = {body};
    struct upstream_reply local;
    if (!r)
        r = &local;
    bool ok = upstream_stream(u, path, accept, NULL, collect_data, &c, r, e);
    if (!ok && r->fail == UPSTREAM_FAIL_ABORTED && e && e->code == ERR_LIMIT)
        r->fail = UPSTREAM_FAIL_TOO_LARGE;
    return ok;
}

bool upstream_ping(struct upstream *u, struct err *e)
{
    struct buf b = {.limit = 1 << 20};
    struct upstream_reply r;
    bool ok = upstream_get(u, "/studies?limit=1", "application/dicom+json", &b, &r, e);
    buf_free(&b);
    if (ok && (r.status < 200 || r.status >= 300)) {
        err_set(e, ERR_IO, "upstream: %s/studies?limit=1: status %ld", u->url, r.status);
        pthread_mutex_lock(&u->mu);
        u->st.state = UPSTREAM_STATE_DOWN;
        pthread_mutex_unlock(&u->mu);
        return false;
    }
    return ok;
}
