/* upstream/client_curl.c and upstream/multipart_read.c: the multipart reader (table of bodies, fed in every chunk size)
 * and the curl client against a scripted loopback server (retries on 5xx,
 * connection refused, read timeout, truncated body, body limit, redirect loop,
 * bearer and basic credentials, concurrency cap). */
#include "upstream/upstream.h"
#include "tests/unit/check.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHECK1(c) CHECK(c, "%s", #c)

/* ---- multipart ---- */

struct parts {
    char out[4096];
    size_t n;
    int begins, ends;
    char headers[4][256];
};

static bool pb(void *arg, const char *h, size_t n, struct err *e)
{
    struct parts *p = arg;
    if (p->begins < 4)
        snprintf(p->headers[p->begins], sizeof p->headers[0], "%.*s", (int)n, h);
    p->begins++;
    p->n += (size_t)snprintf(p->out + p->n, sizeof p->out - p->n, "[");
    return true;
}
static bool pd(void *arg, const void *d, size_t n, struct err *e)
{
    struct parts *p = arg;
    if (p->n + n + 2 > sizeof p->out)
        return err_set(e, ERR_LIMIT, "test buffer");
    memcpy(p->out + p->n, d, n);
    p->n += n;
    p->out[p->n] = 0;
    return true;
}
static bool pe(void *arg, struct err *e)
{
    struct parts *p = arg;
    p->ends++;
    p->n += (size_t)snprintf(p->out + p->n, sizeof p->out - p->n, "]");
    return true;
}

struct mp_case {
    const char *name, *ctype, *body;
    bool ok;
    const char *want; /* parts as [data][data] */
};

static const struct mp_case MP[] = {
    {"one part", "multipart/related; type=\"application/dicom\"; boundary=b1",
     "--b1\r\nContent-Type: application/dicom\r\n\r\nDICM\r\n--b1--\r\n", true, "[DICM]"},
    {"preamble, two parts, epilogue", "multipart/related; boundary=\"x y\"",
     "preamble\r\n--x y\r\nA: 1\r\n\r\none\r\n--x y  \r\nB: 2\r\n\r\ntwo\r\n\r\n--x y--epilogue", true,
     "[one][two\r\n]"},
    {"empty part, no headers", "multipart/related; boundary=q", "--q\r\n\r\n\r\n--q--", true, "[]"},
    {"boundary-like data", "multipart/related; boundary=ab", "--ab\r\n\r\n-ab\r\n-ab--a\r\n--ab--", true,
     "[-ab\r\n-ab--a]"},
    {"truncated", "multipart/related; boundary=b", "--b\r\n\r\nDICMDICM", false, NULL},
    {"no close", "multipart/related; boundary=b", "--b\r\n\r\nX\r\n--b\r\n\r\nY", false, NULL},
    {"no delimiter", "multipart/related; boundary=b", "garbage garbage", false, NULL},
    {"garbage after delimiter", "multipart/related; boundary=b", "--bX\r\n\r\nY\r\n--b--", false, NULL},
    {"not multipart", "application/dicom", "DICM", false, NULL},
    {"no boundary", "multipart/related; type=application/dicom", "--b\r\n", false, NULL},
    {"LF only", "multipart/related; boundary=b", "--b\nA: 1\n\nX\r\n--b--", true, "[X]"},
};

static void test_multipart_case(const struct mp_case *c, size_t chunk)
{
    struct parts p = {0};
    struct upstream_mp_callbacks cb = {pb, pd, pe, &p};
    struct err e = ERR_INIT;
    struct upstream_mp *m = upstream_mp_new(c->ctype, &cb, 0, &e);
    bool ok = m != NULL;
    size_t len = strlen(c->body);
    for (size_t i = 0; ok && i < len; i += chunk)
        ok = upstream_mp_feed(m, c->body + i, len - i < chunk ? len - i : chunk, &e);
    if (ok)
        ok = upstream_mp_finish(m, &e);
    upstream_mp_free(m);
    if (ok != c->ok || (ok && strcmp(p.out, c->want))) {
        fprintf(stderr, "multipart '%s' chunk %zu: ok=%d (%s) got '%s'\n", c->name, chunk, ok, e.msg, p.out);
        check_failed++;
    }
}

static void test_multipart(void)
{
    for (size_t i = 0; i < sizeof MP / sizeof MP[0]; i++)
        for (size_t chunk = 1; chunk <= 64; chunk = chunk < 8 ? chunk + 1 : chunk * 2)
            test_multipart_case(&MP[i], chunk);

    /* a 73-character boundary (Orthanc's two UUIDs) and a 300-character one */
    char ct[1024], body[2048], b[400];
    for (size_t blen = 73; blen <= 300; blen += 227) {
        memset(b, 'z', blen);
        b[blen] = 0;
        snprintf(ct, sizeof ct, "multipart/related; boundary=%s", b);
        snprintf(body, sizeof body, "--%s\r\nContent-Type: application/dicom\r\n\r\nDATA\r\n--%s--\r\n", b, b);
        struct parts p = {0};
        struct upstream_mp_callbacks cb = {pb, pd, pe, &p};
        struct err e = ERR_INIT;
        struct upstream_mp *m = upstream_mp_new(ct, &cb, 0, &e);
        CHECK1(m && upstream_mp_feed(m, body, strlen(body), &e) && upstream_mp_finish(m, &e));
        CHECK1(!strcmp(p.out, "[DATA]"));
        char v[64];
        CHECK1(upstream_header_find(p.headers[0], strlen(p.headers[0]), "content-type", v, sizeof v) &&
              !strcmp(v, "application/dicom"));
        upstream_mp_free(m);
    }
    /* max_parts */
    struct parts p = {0};
    struct upstream_mp_callbacks cb = {pb, pd, pe, &p};
    struct err e = ERR_INIT;
    struct upstream_mp *m = upstream_mp_new("multipart/related; boundary=b", &cb, 1, &e);
    const char *two = "--b\r\n\r\n1\r\n--b\r\n\r\n2\r\n--b--";
    CHECK1(m && !upstream_mp_feed(m, two, strlen(two), &e) && e.code == ERR_LIMIT);
    upstream_mp_free(m);

    char v[64];
    CHECK1(upstream_header_param("multipart/related; type=\"application/dicom\"; transfer-syntax=*", "transfer-syntax",
                                v, sizeof v) && !strcmp(v, "*"));
    CHECK1(upstream_header_param("a/b;boundary=\"q\\\"x\"", "boundary", v, sizeof v) && !strcmp(v, "q\"x"));
    CHECK1(!upstream_header_param("a/b; boundary=\"unterminated", "boundary", v, sizeof v));
    CHECK1(!upstream_header_param("a/b; x=1", "boundary", v, sizeof v));
}

/* ---- a scripted HTTP server ---- */

struct server {
    int fd;
    int port;
    pthread_t th;
    atomic_int hits;
    atomic_int fail_first; /* /flaky: answer 503 this many times */
    char last_auth[256];
    atomic_int concurrent, max_concurrent;
    atomic_bool stop;
};

static void send_all(int c, const char *p, size_t n)
{
    while (n) {
        ssize_t k = send(c, p, n, MSG_NOSIGNAL);
        if (k <= 0)
            return;
        p += k;
        n -= (size_t)k;
    }
}

static void *serve_one(void *arg);

struct conn {
    struct server *s;
    int c;
};

static void *server_main(void *arg)
{
    struct server *s = arg;
    while (!atomic_load(&s->stop)) {
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            continue;
        if (atomic_load(&s->stop)) {
            close(c);
            break;
        }
        struct conn *k = malloc(sizeof *k);
        k->s = s;
        k->c = c;
        pthread_t t;
        pthread_create(&t, NULL, serve_one, k);
        pthread_detach(t);
    }
    return NULL;
}

static void *serve_one(void *arg)
{
    struct conn *k = arg;
    struct server *s = k->s;
    int c = k->c;
    free(k);
    char req[8192];
    for (;;) { /* keep-alive: one request after the other */
        size_t n = 0;
        while (n < sizeof req - 1) {
            ssize_t r = recv(c, req + n, sizeof req - 1 - n, 0);
            if (r <= 0)
                goto done;
            n += (size_t)r;
            req[n] = 0;
            if (strstr(req, "\r\n\r\n"))
                break;
        }
        atomic_fetch_add(&s->hits, 1);
        char path[256] = "";
        sscanf(req, "GET %255s", path);
        const char *auth = strcasestr(req, "\r\nAuthorization: ");
        if (auth)
            snprintf(s->last_auth, sizeof s->last_auth, "%.*s", (int)strcspn(auth + 17, "\r\n"), auth + 17);
        char resp[4096];
        if (!strcmp(path, "/base/ok")) {
            snprintf(resp, sizeof resp, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello");
        } else if (!strcmp(path, "/base/flaky")) {
            if (atomic_fetch_sub(&s->fail_first, 1) > 0)
                snprintf(resp, sizeof resp, "HTTP/1.1 503 No\r\nContent-Length: 4\r\n\r\nbusy");
            else
                snprintf(resp, sizeof resp, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        } else if (!strcmp(path, "/base/missing")) {
            snprintf(resp, sizeof resp, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        } else if (!strcmp(path, "/base/truncated")) {
            snprintf(resp, sizeof resp, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort");
            send_all(c, resp, strlen(resp));
            goto done;
        } else if (!strcmp(path, "/base/big")) {
            snprintf(resp, sizeof resp, "HTTP/1.1 200 OK\r\nContent-Length: 10000000000\r\n\r\n");
            send_all(c, resp, strlen(resp));
            goto done;
        } else if (!strcmp(path, "/base/bigchunked")) {
            snprintf(resp, sizeof resp, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
            send_all(c, resp, strlen(resp));
            char chunk[1100];
            memset(chunk, 'x', sizeof chunk);
            memcpy(chunk, "400\r\n", 5);
            memcpy(chunk + 5 + 1024, "\r\n", 2);
            for (int i = 0; i < 200; i++)
                send_all(c, chunk, 5 + 1024 + 2);
            goto done;
        } else if (!strcmp(path, "/base/loop")) {
            snprintf(resp, sizeof resp, "HTTP/1.1 302 Found\r\nLocation: /base/loop\r\nContent-Length: 0\r\n\r\n");
        } else if (!strcmp(path, "/base/slow")) {
            int now = atomic_fetch_add(&s->concurrent, 1) + 1;
            int mx = atomic_load(&s->max_concurrent);
            while (now > mx && !atomic_compare_exchange_weak(&s->max_concurrent, &mx, now))
                ;
            usleep(200000);
            atomic_fetch_sub(&s->concurrent, 1);
            snprintf(resp, sizeof resp, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow");
        } else if (!strcmp(path, "/base/stall")) {
            snprintf(resp, sizeof resp, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab");
            send_all(c, resp, strlen(resp));
            sleep(3);
            goto done;
        } else {
            snprintf(resp, sizeof resp, "HTTP/1.1 400 Bad\r\nContent-Length: 0\r\n\r\n");
        }
        send_all(c, resp, strlen(resp));
    }
done:
    close(c);
    return NULL;
}

static bool server_start(struct server *s)
{
    memset(s, 0, sizeof *s);
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(s->fd, (struct sockaddr *)&a, sizeof a) || listen(s->fd, 64))
        return false;
    socklen_t al = sizeof a;
    getsockname(s->fd, (struct sockaddr *)&a, &al);
    s->port = ntohs(a.sin_port);
    return pthread_create(&s->th, NULL, server_main, s) == 0;
}

static void server_stop(struct server *s)
{
    atomic_store(&s->stop, true);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    connect(c, (struct sockaddr *)&a, sizeof a);
    close(c);
    pthread_join(s->th, NULL);
    close(s->fd);
}

static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(fd, (struct sockaddr *)&a, sizeof a);
    socklen_t al = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &al);
    close(fd);
    return ntohs(a.sin_port);
}

struct par {
    struct upstream *u;
    bool ok;
};
static void *par_get(void *arg)
{
    struct par *p = arg;
    struct buf b = {0};
    struct err e = ERR_INIT;
    struct upstream_reply r;
    p->ok = upstream_get(p->u, "/slow", NULL, &b, &r, &e) && r.status == 200;
    buf_free(&b);
    return NULL;
}

static void test_client(void)
{
    struct server s;
    CHECK1(server_start(&s));
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/base/", s.port);
    char tok[] = "/tmp/segweb-test-token-XXXXXX";
    int fd = mkstemp(tok);
    CHECK1(write(fd, "s3cr3t-token\n", 13) == 13);
    close(fd);

    struct upstream_config cfg = {.url = url, .token_file = tok, .retries = 2, .backoff_ms = 10,
                                  .read_timeout_ms = 1000, .max_body_bytes = 100000, .max_redirects = 3,
                                  .max_concurrency = 2};
    struct err e = ERR_INIT;
    struct upstream *u = upstream_new(&cfg, &e);
    CHECK1(u);
    if (!u) {
        fprintf(stderr, "%s\n", e.msg);
        return;
    }
    CHECK1(strlen(upstream_url(u)) == strlen(url) - 1); /* the trailing / removed */

    struct buf b = {0};
    struct upstream_reply r;
    CHECK1(upstream_get(u, "/ok", "text/plain", &b, &r, &e) && r.status == 200 && b.len == 5 &&
          !memcmp(b.data, "hello", 5) && !strcmp(r.content_type, "text/plain") && r.attempts == 1);
    CHECK1(!strcmp(s.last_auth, "Bearer s3cr3t-token"));
    buf_free(&b);

    /* 503 twice, then 200: retried, the 503 bodies never delivered */
    atomic_store(&s.fail_first, 2);
    e = (struct err)ERR_INIT;
    CHECK1(upstream_get(u, "/flaky", NULL, &b, &r, &e) && r.status == 200 && r.attempts == 3 && b.len == 2);
    buf_free(&b);
    /* 503 three times: the last answer is the failure */
    atomic_store(&s.fail_first, 3);
    e = (struct err)ERR_INIT;
    CHECK1(!upstream_get(u, "/flaky", NULL, &b, &r, &e) && r.fail == UPSTREAM_FAIL_STATUS && r.status == 503);
    buf_free(&b);
    atomic_store(&s.fail_first, 0);

    e = (struct err)ERR_INIT;
    CHECK1(upstream_get(u, "/missing", NULL, &b, &r, &e) && r.status == 404 && r.attempts == 1);
    buf_free(&b);

    e = (struct err)ERR_INIT;
    CHECK1(!upstream_get(u, "/truncated", NULL, &b, &r, &e) && r.fail != UPSTREAM_FAIL_NONE);
    buf_free(&b);

    e = (struct err)ERR_INIT;
    CHECK1(!upstream_get(u, "/big", NULL, &b, &r, &e) && r.fail == UPSTREAM_FAIL_TOO_LARGE);
    buf_free(&b);
    e = (struct err)ERR_INIT;
    CHECK1(!upstream_get(u, "/bigchunked", NULL, &b, &r, &e) && r.fail == UPSTREAM_FAIL_TOO_LARGE &&
          b.len <= 100000);
    buf_free(&b);

    e = (struct err)ERR_INIT;
    CHECK1(!upstream_get(u, "/loop", NULL, &b, &r, &e) && r.fail == UPSTREAM_FAIL_PROTOCOL &&
          strstr(e.msg, "redirect"));
    buf_free(&b);

    e = (struct err)ERR_INIT;
    CHECK1(!upstream_get(u, "/stall", NULL, &b, &r, &e) && r.fail == UPSTREAM_FAIL_TIMEOUT);
    if (r.fail != UPSTREAM_FAIL_TIMEOUT)
        fprintf(stderr, "stall: %s (%s, %.2f s)\n", e.msg, upstream_fail_name(r.fail), r.seconds);
    buf_free(&b);

    CHECK1(!upstream_get(u, "/ok\r\nX: y", NULL, &b, &r, &e));
    buf_free(&b);

    /* concurrency cap: 5 parallel slow requests, at most 2 at the server */
    pthread_t th[5];
    struct par ps[5];
    for (int i = 0; i < 5; i++) {
        ps[i].u = u;
        pthread_create(&th[i], NULL, par_get, &ps[i]);
    }
    for (int i = 0; i < 5; i++) {
        pthread_join(th[i], NULL);
        CHECK1(ps[i].ok);
    }
    CHECK1(atomic_load(&s.max_concurrent) <= 2);

    struct upstream_stats st;
    upstream_stats_get(u, &st);
    CHECK1(st.requests >= 10 && st.retries >= 4 && st.errors >= 5 && st.timeouts >= 1 && st.in_flight == 0);
    upstream_free(u);

    /* basic credentials */
    CHECK1((fd = open(tok, O_WRONLY | O_TRUNC)) >= 0);
    CHECK1(write(fd, "user:pa ss\n", 11) == 11);
    close(fd);
    struct upstream_config cb = {.url = url, .basic_file = tok};
    e = (struct err)ERR_INIT;
    u = upstream_new(&cb, &e);
    CHECK1(u && upstream_get(u, "/ok", NULL, &b, &r, &e) && !strcmp(s.last_auth, "Basic dXNlcjpwYSBzcw=="));
    buf_free(&b);
    upstream_free(u);

    /* empty credentials file, bad URL */
    CHECK1((fd = open(tok, O_WRONLY | O_TRUNC)) >= 0);
    close(fd);
    e = (struct err)ERR_INIT;
    CHECK1(!upstream_new(&cb, &e) && e.code == ERR_INVALID);
    struct upstream_config bad = {.url = "ftp://x"};
    e = (struct err)ERR_INIT;
    CHECK1(!upstream_new(&bad, &e));
    unlink(tok);

    /* connection refused: retried, then CONNECT, state DOWN */
    char dead[128];
    snprintf(dead, sizeof dead, "http://127.0.0.1:%d", closed_port());
    struct upstream_config cd = {.url = dead, .retries = 1, .backoff_ms = 5};
    e = (struct err)ERR_INIT;
    u = upstream_new(&cd, &e);
    CHECK1(u && !upstream_get(u, "/ok", NULL, &b, &r, &e) && r.fail == UPSTREAM_FAIL_CONNECT && r.attempts == 2);
    CHECK1(!upstream_ping(u, &e));
    upstream_stats_get(u, &st);
    CHECK1(st.state == UPSTREAM_STATE_DOWN);
    buf_free(&b);
    upstream_free(u);

    server_stop(&s);
}

int main(void)
{
    test_multipart();
    test_client();
    return check_done();
}
