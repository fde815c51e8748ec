/* The client of an upstream DICOMweb archive (Orthanc, dcm4chee, a cloud DICOM
 * store), over libcurl. It knows HTTP and DICOMweb media types, never routes.
 *
 *   upstream_new()          reads the credentials files, checks the URL
 *   upstream_get()          one GET, the whole body into a bounded buffer
 *   upstream_stream()       one GET, the body handed on in pieces as it arrives
 *   upstream_mp_*()         a streaming reader of multipart/related bodies (the
 *                           upstream's WADO-RS answers), fed any chunk sizes
 *
 * Retries: a request is repeated (exponential backoff with jitter, at most
 * cfg.retries times) after a connection error, a timeout before any byte, or a
 * 5xx status, but only while nothing has been handed to the caller yet: a body
 * that has started streaming is never replayed.
 *
 * Concurrency: at most cfg.max_concurrency requests are in flight toward the
 * upstream; a caller waits for a slot up to cfg.queue_timeout_ms, then fails
 * (UPSTREAM_FAIL_BUSY). Each slot keeps one curl handle, so connections are
 * reused (keep-alive) across requests.
 *
 * Credentials: a bearer token (first line of token_file) or "user:password"
 * (first line of basic_file), sent to the upstream's host only (not across a
 * redirect to another host). TLS peers are verified against the system CA
 * certificates (or ca_file when set).
 *
 * Thread safety: every function may be called from any thread, concurrently.
 * Failures set struct err (ERR_IO, or ERR_LIMIT for an over-long body) and
 * r->fail says which kind, for the 502 / 504 mapping the api does. */
#ifndef SEGWEB_UPSTREAM_UPSTREAM_H
#define SEGWEB_UPSTREAM_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

#ifdef __cplusplus
extern "C" {
#endif

struct upstream_config {
    const char *url;            /* base URL, e.g. http://127.0.0.1:8042/dicom-web (no trailing '/') */
    const char *token_file;     /* NULL or "": no bearer token */
    const char *basic_file;     /* NULL or "": no basic credentials */
    const char *ca_file;        /* NULL or "": the system CA certificates */
    uint32_t connect_timeout_ms; /* 0: 5000 */
    uint32_t read_timeout_ms;   /* no byte received for this long: timeout. 0: 30000 */
    uint32_t total_timeout_ms;  /* whole request; 0: none (large streams) */
    uint32_t retries;           /* extra attempts; default 0 here (the caller's table sets it) */
    uint32_t backoff_ms;        /* first backoff, doubled each retry (+-25% jitter). 0: 100 */
    uint32_t max_concurrency;   /* in-flight requests; 0: 8 */
    uint32_t queue_timeout_ms;  /* waiting for a slot; 0: 10000 */
    uint64_t max_body_bytes;    /* a body larger than this fails (ERR_LIMIT); 0: no limit */
    uint32_t max_redirects;     /* 0: redirects are not followed (a 3xx is a failure) */
};

/* Why a request failed. */
enum upstream_fail {
    UPSTREAM_FAIL_NONE,
    UPSTREAM_FAIL_CONNECT,  /* could not connect / resolve / TLS: 502 */
    UPSTREAM_FAIL_TIMEOUT,  /* connect, read or total timeout: 504 */
    UPSTREAM_FAIL_PROTOCOL, /* garbage, truncated, redirect loop, bad media type: 502 */
    UPSTREAM_FAIL_TOO_LARGE,/* body past max_body_bytes: 502 */
    UPSTREAM_FAIL_STATUS,   /* a non-2xx status after the retries (the status is in r->status) */
    UPSTREAM_FAIL_BUSY,     /* no slot within queue_timeout_ms: 503 */
    UPSTREAM_FAIL_ABORTED,  /* a callback stopped the transfer (its error is in e) */
};

/* What came back. */
struct upstream_reply {
    long status;             /* final HTTP status; 0 when none */
    char content_type[512];  /* "" when absent */
    int64_t content_length;  /* -1 when unknown */
    uint64_t bytes;          /* body bytes received (of the last attempt) */
    uint32_t attempts;
    double seconds;          /* whole call, including waits and retries */
    enum upstream_fail fail;
};

struct upstream;

/* Checks cfg (an http:// or https:// URL) and reads the credentials files.
 * cfg's strings are copied. NULL with e set (ERR_INVALID) on a bad URL or an
 * unreadable / empty credentials file. */
struct upstream *upstream_new(const struct upstream_config *cfg, struct err *e);
/* Waits for nothing: call it when no request is in flight. NULL is fine. */
void upstream_free(struct upstream *u);

/* The base URL (borrowed). */
const char *upstream_url(const struct upstream *u);

/* GET base + path (path starts with '/', query included, already escaped)
 * with the given Accept (NULL: none). The body, whatever the status, goes into
 * body (appended; its limit and max_body_bytes both bound it). True when a
 * status arrived (any status: check r->status); false with e set and r->fail
 * on a transport failure, a timeout, or 5xx after the last retry. */
bool upstream_get(struct upstream *u, const char *path, const char *accept, struct buf *body,
                  struct upstream_reply *r, struct err *e);

/* Streaming GET. on_head is called once, before any data, with the final
 * status and headers of the attempt that will be delivered; it returns false
 * to stop (the call then fails with UPSTREAM_FAIL_ABORTED and on_head's error).
 * on_data gets the body in pieces; false stops likewise. 5xx answers are
 * retried and never reach on_head unless they are the last attempt. Either
 * callback may be NULL. */
typedef bool (*upstream_head_fn)(void *arg, const struct upstream_reply *r, struct err *e);
typedef bool (*upstream_data_fn)(void *arg, const void *p, size_t n, struct err *e);
bool upstream_stream(struct upstream *u, const char *path, const char *accept, upstream_head_fn on_head,
                     upstream_data_fn on_data, void *arg, struct upstream_reply *r, struct err *e);

/* State as seen by the requests so far. */
enum upstream_state { UPSTREAM_STATE_UNKNOWN, UPSTREAM_STATE_UP, UPSTREAM_STATE_DOWN };

struct upstream_stats {
    uint64_t requests;       /* calls of upstream_get / upstream_stream */
    uint64_t attempts;       /* HTTP attempts (requests + retries) */
    uint64_t retries;
    uint64_t errors;         /* calls that failed (r->fail != NONE) */
    uint64_t timeouts;
    uint64_t bytes;          /* body bytes received */
    double seconds_sum;      /* latency of the calls */
    uint64_t latency_buckets[8]; /* cumulative counts, le UPSTREAM_LATENCY_BOUNDS */
    uint32_t in_flight;
    enum upstream_state state; /* of the last finished attempt */
};
#define UPSTREAM_LATENCY_BOUNDS {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0}

void upstream_stats_get(struct upstream *u, struct upstream_stats *out);

/* A cheap request (GET /studies?limit=1) that sets the state; true when the
 * upstream answered 2xx. For /readyz probes and start-up. */
bool upstream_ping(struct upstream *u, struct err *e);

/* A short stable name of a failure ("connect", "timeout", ...). */
const char *upstream_fail_name(enum upstream_fail f);

/* ---- multipart/related reader ----
 *
 * Fed the body in chunks of any size; calls on_part_begin with each part's
 * headers (the block as received, CRLF-separated, without the blank line), then
 * on_part_data with its bytes (the CRLF before the next delimiter excluded), then
 * on_part_end. The boundary comes from the Content-Type (quoted or not, 1..
 * UPSTREAM_MP_BOUNDARY_MAX characters: more than RFC 2046's 70, on purpose).
 * upstream_mp_finish() fails unless the close delimiter was seen: a truncated
 * body is an error, never a short part. Bytes after the close delimiter are
 * ignored (epilogue). */
#define UPSTREAM_MP_BOUNDARY_MAX 512
#define UPSTREAM_MP_HEADERS_MAX 8192

struct upstream_mp;

struct upstream_mp_callbacks {
    bool (*on_part_begin)(void *arg, const char *headers, size_t n, struct err *e);
    bool (*on_part_data)(void *arg, const void *p, size_t n, struct err *e);
    bool (*on_part_end)(void *arg, struct err *e);
    void *arg;
};

/* content_type: the whole header value ("multipart/related; type=...; boundary=...").
 * max_parts: 0 no limit. NULL with e set (ERR_PARSE) when it is not multipart
 * or names no usable boundary. */
struct upstream_mp *upstream_mp_new(const char *content_type, const struct upstream_mp_callbacks *cb,
                                    uint32_t max_parts, struct err *e);
bool upstream_mp_feed(struct upstream_mp *m, const void *p, size_t n, struct err *e);
bool upstream_mp_finish(struct upstream_mp *m, struct err *e);
uint32_t upstream_mp_parts(const struct upstream_mp *m);
void upstream_mp_free(struct upstream_mp *m);

/* The value of parameter `name` in a header value such as a Content-Type
 * ("multipart/related; type=\"application/dicom\"; boundary=abc"), unquoted.
 * False when absent or longer than outsz-1. */
bool upstream_header_param(const char *value, const char *name, char *out, size_t outsz);

/* The value of header `name` in a CRLF-separated header block (case-insensitive
 * name, surrounding blanks removed). False when absent or too long. */
bool upstream_header_find(const char *block, size_t n, const char *name, char *out, size_t outsz);

#ifdef __cplusplus
}
#endif

#endif
