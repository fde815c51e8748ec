/* See http.h for the life of one request. */
#include "server/http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "common/log.h"

enum xstate { X_NEW, X_HEADERS, X_QUEUED, X_DONE };

struct http_server {
    struct MHD_Daemon *d;
    struct api_ctx *ctx;
    struct threadpool *tp;
    struct metrics *metrics;
    const struct config *cfg;
    unsigned test_delay_ms;
    uint16_t port;
    atomic_ullong next_id;
    unsigned id_prefix;
    atomic_bool draining;
    MHD_socket quiesced; /* listen socket handed back by MHD_quiesce_daemon, closed after stop */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    long alive; /* exchanges not yet completed */
    struct conn_state *conns; /* open connections (guarded by mu) */
    pthread_t sweeper;        /* --request-timeout */
    bool sweeper_started, sweeper_stop;
};

/* One open connection (MHD_OPTION_NOTIFY_CONNECTION): its socket, and the
 * exchange of the request in progress. It lets the server (1) free an exchange
 * libmicrohttpd gives up on before our handler ever runs (a request whose
 * header records overflow its memory pool: no completion callback follows,
 * and the exchange used to leak and count as in flight forever), and (2) cut a
 * request that is past --request-timeout while it still trickles headers. */
struct conn_state {
    MHD_socket fd;
    struct exchange *x; /* guarded by http_server.mu */
    struct conn_state *prev, *next;
};

struct exchange {
    struct http_server *srv;
    struct MHD_Connection *conn;
    struct timespec t0;
    atomic_int state;
    /* Refused before the handler (404 outside --base-path, 414, 400, 413, a body
     * sink's error): resp holds the answer, sent once the body is drained. */
    bool refused;
    uint64_t body_bytes;
    int status;
    size_t bytes;
    bool timed_out; /* cut at --request-timeout */
    struct conn_state *cs;
    struct api_request req;
    struct api_response resp;
};

static double since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* A target over API_TARGET_MAX: libmicrohttpd still splits its query into
 * header records next, and with thousands of arguments its pool overflows; it
 * then cannot even build its own 431 and the client waits for the connection
 * timeout. So the JSON 414 is written here, straight to the socket (nothing
 * else is being sent on it: the previous response on this connection is
 * complete before a request line is read), and the socket is shut down;
 * the exchange ends through the close notification. */
static void answer_414_now(struct exchange *x)
{
    struct api_response *r = &x->resp; /* the refusal on_uri put there */
    api_response_json_newline(r);
    char head[256];
    int hn = snprintf(head, sizeof head,
                      "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                      "X-Request-Id: %s\r\nConnection: close\r\n\r\n",
                      r->status, api_status_reason(r->status), r->body.len, x->req.request_id);
    struct iovec iov[2] = {{head, (size_t)hn}, {r->body.data, r->body.len}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
    ssize_t sent = sendmsg(x->cs->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    x->status = r->status;
    x->bytes = sent > 0 ? (size_t)sent : 0;
    shutdown(x->cs->fd, SHUT_RDWR);
}

static bool refused_with(const struct exchange *x, int status) { return x->refused && x->resp.status == status; }

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct http_server *s = cls;
    struct exchange *x = calloc(1, sizeof *x);
    if (!x)
        return NULL; /* the access handler answers 503 */
    x->srv = s;
    x->conn = conn;
    clock_gettime(CLOCK_MONOTONIC, &x->t0);
    atomic_init(&x->state, X_NEW);
    /* --base-path: the routes live below it (the probes stay at the root too) */
    const char *bp = s->cfg->base_path;
    size_t bl = strlen(bp);
    if (bl && !strncmp(uri, bp, bl) && (uri[bl] == '/' || uri[bl] == '?' || !uri[bl])) {
        uri += bl;
        if (!*uri || *uri == '?')
            uri = "/";
    } else if (bl && strcmp(uri, "/healthz") && strcmp(uri, "/readyz") && strcmp(uri, "/metrics")) {
        char msg[256];
        snprintf(msg, sizeof msg, "not found: the routes are below %.200s", bp);
        api_response_fail(&x->resp, ERR_NOT_FOUND, msg);
        x->refused = true;
    }
    size_t n = strlen(uri);
    bool too_long = n > API_TARGET_MAX;
    if (too_long) {
        char msg[64];
        snprintf(msg, sizeof msg, "request target longer than %d bytes", API_TARGET_MAX);
        api_response_refuse(&x->resp, API_REFUSE_TARGET, msg);
        x->refused = true;
        n = 64;
    }
    memcpy(x->req.target, uri, n);
    x->req.target[n] = 0;
    unsigned long long id = atomic_fetch_add(&s->next_id, 1) + 1;
    snprintf(x->req.request_id, sizeof x->req.request_id, "%08x-%llu", s->id_prefix, id);
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    pthread_mutex_lock(&s->mu);
    s->alive++;
    x->cs = ci ? ci->socket_context : NULL;
    if (x->cs)
        x->cs->x = x;
    pthread_mutex_unlock(&s->mu);
    metrics_request_begin(s->metrics);
    if (too_long && x->cs)
        answer_414_now(x);
    return x;
}

/* The end of an exchange, whoever ends it: access line, metrics, free. */
static void exchange_finish(struct http_server *s, struct exchange *x, bool completed)
{
    int status = x->status;
    if (!status) /* no reply: cut at --request-timeout, or the client went away (499) */
        status = api_status_of_refusal(x->timed_out ? API_REFUSE_REQUEST_TIMEOUT : API_REFUSE_CLIENT_GONE);
    double secs = since(&x->t0);
    log_access(x->req.request_id, x->req.method_name[0] ? x->req.method_name : "-", x->req.target,
               status, completed ? x->bytes : 0, secs * 1000.0);
    metrics_request_end(s->metrics, x->req.route, status, secs);
    api_body_free(&x->req); /* STOW: removes parts not moved into the store */
    api_response_free(&x->resp);
    free(x);
    pthread_mutex_lock(&s->mu);
    s->alive--;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct http_server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        struct conn_state *cs = calloc(1, sizeof *cs);
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!cs || !ci) {
            free(cs);
            *socket_context = NULL;
            return;
        }
        cs->fd = ci->connect_fd;
        pthread_mutex_lock(&s->mu);
        cs->next = s->conns;
        if (s->conns)
            s->conns->prev = cs;
        s->conns = cs;
        pthread_mutex_unlock(&s->mu);
        *socket_context = cs;
        return;
    }
    struct conn_state *cs = *socket_context;
    if (!cs)
        return;
    *socket_context = NULL;
    pthread_mutex_lock(&s->mu);
    if (cs->prev)
        cs->prev->next = cs->next;
    else
        s->conns = cs->next;
    if (cs->next)
        cs->next->prev = cs->prev;
    struct exchange *x = cs->x;
    cs->x = NULL;
    pthread_mutex_unlock(&s->mu);
    free(cs);
    if (x) {
        /* libmicrohttpd answered and closed without our handler (its own 414/431
         * when the request line's arguments or the headers overflow its pool). */
        bool target = strlen(x->req.target) >= API_TARGET_MAX ||
                      refused_with(x, api_status_of_refusal(API_REFUSE_TARGET));
        if (!x->status)
            x->status = api_status_of_refusal(target ? API_REFUSE_TARGET : API_REFUSE_HEADERS);
        exchange_finish(s, x, false);
    }
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct http_server *s = cls;
    struct exchange *x = *con_cls;
    (void)conn;
    if (!x)
        return;
    *con_cls = NULL;
    pthread_mutex_lock(&s->mu);
    if (x->cs && x->cs->x == x)
        x->cs->x = NULL;
    pthread_mutex_unlock(&s->mu);
    exchange_finish(s, x, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);
}

/* --request-timeout: once a second, cut connections whose request (from its
 * request line) is not complete after the deadline: a client that trickles
 * header or body bytes keeps resetting the idle timeout, not this one. The
 * socket is shut down (libmicrohttpd then closes it and ends the exchange,
 * logged 408); s->mu keeps the descriptor valid, as the close notification
 * takes it first. */
static void *sweeper_main(void *arg)
{
    struct http_server *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->sweeper_stop) {
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        t.tv_sec += 1;
        pthread_cond_timedwait(&s->cv, &s->mu, &t);
        for (struct conn_state *cs = s->conns; cs; cs = cs->next) {
            struct exchange *x = cs->x;
            if (!x || x->timed_out)
                continue;
            int st = atomic_load(&x->state);
            if ((st == X_NEW || st == X_HEADERS) && since(&x->t0) > (double)s->cfg->request_timeout) {
                x->timed_out = true;
                shutdown(cs->fd, SHUT_RDWR);
            }
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Copies a header value; false when it is longer than the field. */
static bool copy_header(struct MHD_Connection *conn, const char *name, char *dst, size_t dstsz)
{
    const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
    if (!v) {
        dst[0] = 0;
        return true;
    }
    size_t n = strlen(v);
    if (n >= dstsz)
        return false;
    memcpy(dst, v, n + 1);
    return true;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    ssize_t n = api_stream_read(cls, pos, buf, max);
    if (n < 0)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    if (n == 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    return n;
}

static void stream_free(void *cls) { api_stream_free(cls); }

static ssize_t no_body(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)cls;
    (void)pos;
    (void)buf;
    (void)max;
    return MHD_CONTENT_READER_END_OF_STREAM;
}

/* A stream fed by another thread (a proxied upstream answer, api/proxy.h): when no
 * byte is there yet the connection is suspended (inside the stream's lock, see
 * api/pipe.h) and 0 returned; the producer's next bytes resume it. */
struct async_stream {
    struct api_stream *st;
    struct MHD_Connection *conn;
};

static void async_suspend(void *arg) { MHD_suspend_connection(((struct async_stream *)arg)->conn); }
static void async_wake(void *arg) { MHD_resume_connection(((struct async_stream *)arg)->conn); }

static ssize_t async_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct async_stream *as = cls;
    ssize_t n = api_stream_read_async(as->st, pos, buf, max, async_suspend, as);
    if (n == API_STREAM_AGAIN)
        return 0;
    if (n < 0)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    if (n == 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    return n;
}

static void async_free(void *cls)
{
    struct async_stream *as = cls;
    api_stream_free(as->st); /* closes the pipe: no wake after this */
    free(as);
}

/* A body that cannot be taken: the rest of it (at most --max-body) is read and
 * dropped, and the error is the answer. Answering before the client has sent
 * its body would close the socket with unread data, and the client might see
 * a reset instead of the answer. */
static void body_refuse(struct exchange *x, const struct err *e)
{
    api_response_from_err(&x->resp, e);
    x->refused = true;
    api_body_free(&x->req); /* temp files go now */
}

/* The headers are in: route, and when the route takes a body, open its sink (the
 * api decides which; other bodies are counted and discarded). */
static void body_begin(struct exchange *x, struct MHD_Connection *conn)
{
    struct err e = ERR_INIT;
    api_request_route(&x->req, NULL);
    if (!api_body_wanted(&x->req))
        return; /* no body wanted: discarded, then the handler answers (405, 404...) */
    if (!copy_header(conn, MHD_HTTP_HEADER_CONTENT_TYPE, x->req.content_type, sizeof x->req.content_type)) {
        err_set(&e, ERR_PARSE, "Content-Type header too long");
        body_refuse(x, &e);
        return;
    }
    if (!api_body_begin(x->srv->ctx, &x->req, &e))
        body_refuse(x, &e);
}

static enum MHD_Result send_response(struct exchange *x)
{
    struct http_server *s = x->srv;
    struct api_response *r = &x->resp;
    struct MHD_Response *mr;
    size_t len = 0;
    api_response_json_newline(r); /* errors answered here skip api_handle() */
    if (r->stream && r->status != 304 && r->status != 204) {
        /* Streamed from files (WADO-RS retrieve); MHD owns the stream from here. */
        struct api_stream *st = r->stream;
        r->stream = NULL;
        uint64_t size = api_stream_size(st);
        len = size == API_STREAM_SIZE_UNKNOWN ? 0 : (size_t)size;
        struct async_stream *as = api_stream_async(st) ? malloc(sizeof *as) : NULL;
        if (as) {
            as->st = st;
            as->conn = x->conn;
            api_stream_set_wake(st, async_wake, as);
            mr = MHD_create_response_from_callback(size == API_STREAM_SIZE_UNKNOWN ? MHD_SIZE_UNKNOWN : size,
                                                   64 * 1024, async_read, as, async_free);
            if (!mr)
                async_free(as);
        } else if (api_stream_async(st)) {
            api_stream_free(st);
            mr = NULL;
        } else {
            mr = MHD_create_response_from_callback(size, 256 * 1024, stream_read, st, stream_free);
            if (!mr)
                api_stream_free(st);
        }
    } else if (r->status == 304 || r->status == 204) {
        /* No body, and no Content-Length: 0 either (on a 304 it would claim the
         * representation is empty). libmicrohttpd 0.9.75 writes Content-Length for
         * every response of known size, and frames one of unknown size as chunked
         * unless told to be HTTP/1.0-compatible, which ends it by closing the
         * connection: the price of a correct 304 with this library version. */
        buf_free(&r->body);
        mr = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64, no_body, NULL, NULL);
        if (mr)
            MHD_set_response_options(mr, MHD_RF_HTTP_1_0_COMPATIBLE_STRICT, MHD_RO_END);
    } else if (!r->body.len) {
        buf_free(&r->body);
        mr = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    } else {
        uint8_t *data = buf_steal(&r->body, &len);
        mr = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
        if (!mr)
            free(data);
    }
    if (!mr)
        return MHD_NO;
    if (r->content_type[0] && r->status != 304 && r->status != 204)
        MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
    for (size_t i = 0; i < r->n_headers; i++)
        MHD_add_response_header(mr, r->headers[i].name, r->headers[i].value);
    MHD_add_response_header(mr, "X-Request-Id", x->req.request_id);
    if (atomic_load(&s->draining))
        MHD_add_response_header(mr, MHD_HTTP_HEADER_CONNECTION, "close");
    x->status = r->status;
    x->bytes = len;
    if (r->status >= 500)
        log_msg(LOG_WARN, "id=%s status=%d %s", x->req.request_id, r->status, r->error);
    else if (r->status >= 400)
        log_msg(LOG_DEBUG, "id=%s status=%d %s", x->req.request_id, r->status, r->error);
    enum MHD_Result ret = MHD_queue_response(x->conn, (unsigned)r->status, mr);
    MHD_destroy_response(mr);
    return ret;
}

static void job_run(void *arg)
{
    struct exchange *x = arg;
    struct http_server *s = x->srv;
    if (s->test_delay_ms) {
        struct timespec ts = {s->test_delay_ms / 1000, (long)(s->test_delay_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    api_handle(s->ctx, &x->req, &x->resp);
    atomic_store(&x->state, X_DONE);
    MHD_resume_connection(x->conn);
}

struct framing {
    char content_length[32];
    bool conflict, transfer_encoding;
};

static enum MHD_Result framing_scan(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    struct framing *fr = cls;
    (void)kind;
    if (!strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING)) {
        fr->transfer_encoding = true;
    } else if (!strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH)) {
        const char *v = value ? value : "";
        if (!fr->content_length[0])
            snprintf(fr->content_length, sizeof fr->content_length, "%s", *v ? v : "-");
        else if (strcmp(fr->content_length, v))
            fr->conflict = true;
    }
    return MHD_YES;
}

/* Answers now with x->resp, closing the connection after it when close. */
static enum MHD_Result answer_now(struct exchange *x, bool close)
{
    if (close)
        api_response_header_set(&x->resp, "Connection", "close");
    atomic_store(&x->state, X_DONE);
    return send_response(x);
}

/* The request headers the api reads, into x->req; a 400 refusal when one is too long. */
static void headers_copy(struct exchange *x, struct MHD_Connection *conn)
{
    if (!copy_header(conn, MHD_HTTP_HEADER_ACCEPT, x->req.accept, sizeof x->req.accept) ||
        !copy_header(conn, MHD_HTTP_HEADER_IF_NONE_MATCH, x->req.if_none_match, sizeof x->req.if_none_match) ||
        !copy_header(conn, MHD_HTTP_HEADER_ACCEPT_ENCODING, x->req.accept_encoding, sizeof x->req.accept_encoding) ||
        !copy_header(conn, "Origin", x->req.origin, sizeof x->req.origin) ||
        !copy_header(conn, "Access-Control-Request-Method", x->req.acr_method, sizeof x->req.acr_method) ||
        !copy_header(conn, "Access-Control-Request-Headers", x->req.acr_headers, sizeof x->req.acr_headers)) {
        char msg[64];
        snprintf(msg, sizeof msg, "a request header is longer than %d bytes", API_HEADER_MAX);
        api_response_fail(&x->resp, ERR_PARSE, msg);
        x->refused = true;
    }
}

/* Framing: several Content-Length values, or one with Transfer-Encoding, would let
 * the rest of the body pass for a second, pipelined request: 400 and close. Expect:
 * only 100-continue exists (417 otherwise). True when x->resp holds that refusal. */
static bool framing_refused(struct exchange *x, struct MHD_Connection *conn)
{
    struct framing fr = {0};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, framing_scan, &fr);
    if (fr.conflict || (fr.content_length[0] && fr.transfer_encoding)) {
        api_response_fail(&x->resp, ERR_PARSE,
                          fr.conflict ? "conflicting Content-Length headers"
                                      : "Content-Length together with Transfer-Encoding");
        return true;
    }
    const char *expect = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
    if (expect && strcasecmp(expect, "100-continue")) {
        api_response_refuse(&x->resp, API_REFUSE_EXPECT, "Expect: only 100-continue is supported");
        return true;
    }
    return false;
}

/* A 413 naming --max-body into x->resp. */
static void refuse_body_size(struct exchange *x)
{
    char msg[96];
    snprintf(msg, sizeof msg, "request body larger than --max-body %u bytes", x->srv->cfg->max_body);
    api_response_fail(&x->resp, ERR_LIMIT, msg);
    x->refused = true;
}

/* The first call: the request line and headers are in. */
static enum MHD_Result headers_in(struct exchange *x, struct MHD_Connection *conn, const char *method)
{
    struct http_server *s = x->srv;
    atomic_store(&x->state, X_HEADERS);
    snprintf(x->req.method_name, sizeof x->req.method_name, "%s", method);
    x->req.method = api_method_parse(method);
    if (!x->refused)
        headers_copy(x, conn);
    /* --auth-token: checked before any body byte is read (api/auth.h). */
    const char *authz = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!x->refused && !api_auth_check(s->cfg->auth_token, x->req.method, x->req.target, authz)) {
        api_auth_reject(&x->resp, authz);
        return answer_now(x, false);
    }
    if (!x->refused && framing_refused(x, conn))
        return answer_now(x, true);
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && strtoull(cl, NULL, 10) > s->cfg->max_body && !x->refused)
        refuse_body_size(x);
    if (refused_with(x, api_status_from_err(ERR_LIMIT)))
        return answer_now(x, false); /* MHD closes the connection instead of reading the body */
    if (!x->refused)
        body_begin(x, conn);
    return MHD_YES;
}

/* A body chunk: to the route's body sink, if any; otherwise discarded. */
static enum MHD_Result body_chunk(struct exchange *x, const char *data, size_t n)
{
    struct http_server *s = x->srv;
    x->body_bytes += n;
    if (!x->refused && since(&x->t0) > (double)s->cfg->request_timeout) {
        char msg[128];
        snprintf(msg, sizeof msg, "request not complete within --request-timeout %u s", s->cfg->request_timeout);
        api_body_free(&x->req);
        api_response_refuse(&x->resp, API_REFUSE_REQUEST_TIMEOUT, msg);
        x->refused = true;
        return answer_now(x, true);
    }
    if (x->body_bytes > s->cfg->max_body && !x->refused) {
        refuse_body_size(x);
        return answer_now(x, false);
    }
    if (!x->refused) {
        /* STOW: parts go to temp files here (cheap writes); decoding is on a worker. */
        struct err e = ERR_INIT;
        if (!api_body_feed(&x->req, data, n, &e))
            body_refuse(x, &e);
    }
    return MHD_YES;
}

/* The final call: the whole request is in. Answered here, or queued for a worker. */
static enum MHD_Result request_in(struct exchange *x, struct MHD_Connection *conn)
{
    struct http_server *s = x->srv;
    if (!x->refused) {
        struct err e = ERR_INIT;
        if (!api_body_end(&x->req, &e))
            body_refuse(x, &e);
    }
    if (x->refused)
        return answer_now(x, false);
    if (!api_route_needs_worker(&x->req)) {
        api_handle(s->ctx, &x->req, &x->resp);
        return answer_now(x, false);
    }
    atomic_store(&x->state, X_QUEUED);
    MHD_suspend_connection(conn);
    if (!threadpool_submit(s->tp, job_run, x)) {
        metrics_rejected_inc(s->metrics);
        api_response_refuse(&x->resp, API_REFUSE_BUSY, "too many requests queued; retry shortly");
        api_response_header_set(&x->resp, "Retry-After", "1");
        atomic_store(&x->state, X_DONE);
        MHD_resume_connection(conn);
    }
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct exchange *x = *con_cls;
    (void)cls;
    (void)url;
    (void)version;
    if (!x) { /* on_uri could not allocate the exchange: an empty 503 */
        struct MHD_Response *mr = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (!mr)
            return MHD_NO;
        enum MHD_Result ret =
            MHD_queue_response(conn, (unsigned)api_status_of_refusal(API_REFUSE_BUSY), mr);
        MHD_destroy_response(mr);
        return ret;
    }
    int st = atomic_load(&x->state);
    if (st == X_DONE)
        return send_response(x);
    if (st == X_QUEUED)
        return MHD_YES; /* spurious call while suspended */
    if (st == X_NEW)
        return headers_in(x, conn, method);
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        return body_chunk(x, upload_data, n);
    }
    return request_in(x, conn);
}

/* "host:port", "[v6]:port" or ":port" to a socket address. */
static bool parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len,
                         bool *v6, struct err *e)
{
    char host[256], port[16];
    const char *colon;
    if (listen[0] == '[') {
        const char *rb = strchr(listen, ']');
        if (!rb || rb[1] != ':')
            return err_set(e, ERR_INVALID, "--listen '%s': expected [v6addr]:port", listen);
        snprintf(host, sizeof host, "%.*s", (int)(rb - listen - 1), listen + 1);
        colon = rb + 1;
    } else {
        colon = strrchr(listen, ':');
        if (!colon)
            return err_set(e, ERR_INVALID, "--listen '%s': expected host:port", listen);
        snprintf(host, sizeof host, "%.*s", (int)(colon - listen), listen);
    }
    snprintf(port, sizeof port, "%s", colon + 1);
    for (const char *p = port; *p; p++)
        if (*p < '0' || *p > '9')
            return err_set(e, ERR_INVALID, "--listen '%s': bad port", listen);
    if (!*port || strlen(port) > 5 || strtoul(port, NULL, 10) > 65535)
        return err_set(e, ERR_INVALID, "--listen '%s': bad port", listen);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int rc = getaddrinfo(*host ? host : NULL, port, &hints, &res);
    if (rc || !res)
        return err_set(e, ERR_INVALID, "--listen '%s': %s", listen, gai_strerror(rc));
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    *v6 = res->ai_family == AF_INET6;
    freeaddrinfo(res);
    return true;
}

int http_listen(const char *listen_addr, struct err *e)
{
    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    bool v6 = false;
    if (!parse_listen(listen_addr, &ss, &sslen, &v6, e))
        return -1;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        err_set(e, ERR_IO, "cannot listen on %s: %s", listen_addr, strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, sslen) || listen(fd, 512)) {
        int saved = errno;
        close(fd);
        err_set(e, ERR_IO, "cannot listen on %s: %s%s", listen_addr, strerror(saved),
                saved == EADDRINUSE ? " (another process has this port)"
                : saved == EACCES  ? " (ports below 1024 need privileges)"
                : saved == EADDRNOTAVAIL ? " (no such address on this host)"
                                         : "");
        return -1;
    }
    return fd;
}

/* Room in libmicrohttpd's per-connection pool for a request target of
 * API_TARGET_MAX bytes however many query arguments it holds (each costs a
 * header record: ~2,000 "a&" arguments fit in 4 KiB), plus the headers. The
 * default 32 KiB overflowed at ~500 arguments. Pages are touched only as
 * used, so idle connections cost little. */
#define CONNECTION_POOL_BYTES (256 * 1024)

struct http_server *http_server_start(const struct config *cfg, struct api_ctx *ctx,
                                      struct threadpool *tp, struct metrics *m,
                                      unsigned test_delay_ms, int listen_fd, struct err *e)
{
    if (listen_fd < 0 && (listen_fd = http_listen(cfg->listen, e)) < 0)
        return NULL;
    struct http_server *s = calloc(1, sizeof *s);
    if (!s) {
        close(listen_fd);
        err_set(e, ERR_NOMEM, "out of memory");
        return NULL;
    }
    s->ctx = ctx;
    s->tp = tp;
    s->metrics = m;
    s->cfg = cfg;
    s->test_delay_ms = test_delay_ms;
    s->id_prefix = (unsigned)getpid() ^ (unsigned)time(NULL);
    atomic_init(&s->next_id, 0);
    atomic_init(&s->draining, false);
    s->quiesced = MHD_INVALID_SOCKET;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    if (getsockname(listen_fd, (struct sockaddr *)&bound, &blen) == 0)
        s->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                    : ((struct sockaddr_in *)&bound)->sin_port);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ITC | MHD_USE_ERROR_LOG;
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_LISTEN_SOCKET, listen_fd, NULL},
        {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, s},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, s},
        {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, s},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, CONNECTION_POOL_BYTES, NULL},
        {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)cfg->max_connections, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)cfg->connection_timeout, NULL},
        {MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)(cfg->io_threads > 1 ? cfg->io_threads : 0), NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_ARRAY, opts,
                            MHD_OPTION_END);
    if (!s->d) {
        err_set(e, ERR_IO, "cannot start the HTTP server on %s", cfg->listen);
        close(listen_fd);
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
        free(s);
        return NULL;
    }
    s->sweeper_started = pthread_create(&s->sweeper, NULL, sweeper_main, s) == 0;
    return s;
}

uint16_t http_server_port(struct http_server *s) { return s->port; }

void http_server_drain(struct http_server *s, unsigned timeout_s)
{
    atomic_store(&s->draining, true);
    /* MHD's I/O threads drop the listen socket from their epoll sets with some delay:
     * closing it here raced with them (ThreadSanitizer), so it is closed after
     * MHD_stop_daemon(), as libmicrohttpd asks. */
    s->quiesced = MHD_quiesce_daemon(s->d);
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_s;
    pthread_mutex_lock(&s->mu);
    while (s->alive > 0) {
        if (pthread_cond_timedwait(&s->cv, &s->mu, &deadline))
            break;
    }
    long left = s->alive;
    pthread_mutex_unlock(&s->mu);
    if (left)
        log_msg(LOG_WARN, "shutdown: %ld requests still in flight after %us", left, timeout_s);
}

void http_server_stop(struct http_server *s)
{
    if (!s)
        return;
    if (s->sweeper_started) {
        pthread_mutex_lock(&s->mu);
        s->sweeper_stop = true;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->sweeper, NULL);
    }
    MHD_stop_daemon(s->d);
    if (s->quiesced != MHD_INVALID_SOCKET)
        close(s->quiesced);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}
