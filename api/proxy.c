/* Streamed proxying and URL rebasing (see proxy.h). Design note: the transfer
 * runs on a detached thread of its own because the handler must return the
 * response (status, headers) while the body is still arriving; the thread and
 * the HTTP thread meet in a bounded pipe. The handler waits only for the
 * upstream's head (bounded by the client's connect/read timeouts). */
#include "api/proxy.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/pipe.h"
#include "api/pull.h"
#include "api/request.h"
#include "api/stream.h"
#include "upstream/upstream.h"

#define PIPE_BYTES (256 * 1024)

struct transfer {
    struct api_pull *pull;
    char *path, *accept;
    struct api_pipe *pipe;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool head_done;   /* the handler may go on: head known, or failed */
    bool head_ok;
    struct upstream_reply head;
    struct err e;
    int refs;         /* the thread and the handler */
};

static void transfer_unref(struct transfer *t)
{
    pthread_mutex_lock(&t->mu);
    bool last = --t->refs == 0;
    pthread_mutex_unlock(&t->mu);
    if (last) {
        pthread_mutex_destroy(&t->mu);
        pthread_cond_destroy(&t->cv);
        free(t->path);
        free(t->accept);
        free(t);
    }
}

static void head_set(struct transfer *t, bool ok, const struct upstream_reply *r, const struct err *e)
{
    pthread_mutex_lock(&t->mu);
    if (!t->head_done) {
        t->head_done = true;
        t->head_ok = ok;
        if (r)
            t->head = *r;
        if (e)
            t->e = *e;
        pthread_cond_signal(&t->cv);
    }
    pthread_mutex_unlock(&t->mu);
}

static bool on_head(void *arg, const struct upstream_reply *r, struct err *e)
{
    struct transfer *t = arg;
    if (r->status < 200 || r->status >= 300) {
        if (r->status == 404)
            err_set(e, ERR_NOT_FOUND, "not in the upstream either (404)");
        else if (r->status == 406)
            err_set(e, ERR_UNSUPPORTED, "the upstream cannot produce that media type (406)");
        else if (r->status == 400)
            err_set(e, ERR_PARSE, "the upstream refused the request (400)");
        else
            err_set(e, ERR_UPSTREAM, "upstream answered %ld", r->status);
        head_set(t, false, r, e);
        return false;
    }
    head_set(t, true, r, NULL);
    return true;
}

static bool on_data(void *arg, const void *p, size_t n, struct err *e)
{
    struct transfer *t = arg;
    return api_pipe_write(t->pipe, p, n, e);
}

static void *run(void *arg)
{
    struct transfer *t = arg;
    struct upstream_reply r;
    struct err e = ERR_INIT;
    bool ok = upstream_stream(api_pull_upstream(t->pull), t->path, t->accept, on_head, on_data, t, &r, &e);
    if (!ok)
        api_pull_fail(&r, &e);
    head_set(t, false, &r, &e); /* no-op when the head was delivered */
    api_pipe_close_write(t->pipe, ok);
    transfer_unref(t);
    return NULL;
}

bool api_proxy_stream(struct api_pull *p, const char *path_query, const char *accept, struct api_response *r,
                      struct err *e)
{
    struct transfer *t = calloc(1, sizeof *t);
    if (!t)
        return err_set(e, ERR_NOMEM, "out of memory");
    t->pull = p;
    t->path = strdup(path_query);
    t->accept = accept && *accept ? strdup(accept) : NULL;
    t->pipe = api_pipe_new(PIPE_BYTES, e);
    t->refs = 2;
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    struct api_stream *s = NULL;
    if (!t->path || !t->pipe || (accept && *accept && !t->accept)) {
        if (t->pipe) {
            api_pipe_close_write(t->pipe, false);
            api_pipe_close_read(t->pipe);
        }
        t->refs = 1;
        transfer_unref(t);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    struct api_pipe *pipe = t->pipe;
    pthread_t th;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, &at, run, t)) {
        pthread_attr_destroy(&at);
        api_pipe_close_write(pipe, false);
        api_pipe_close_read(pipe);
        t->refs = 1;
        transfer_unref(t);
        return err_set(e, ERR_NOMEM, "cannot start a proxy thread");
    }
    pthread_attr_destroy(&at);
    pthread_mutex_lock(&t->mu);
    while (!t->head_done)
        pthread_cond_wait(&t->cv, &t->mu);
    bool ok = t->head_ok;
    struct upstream_reply head = t->head;
    struct err te = t->e;
    pthread_mutex_unlock(&t->mu);
    transfer_unref(t);
    if (!ok) {
        api_pipe_close_read(pipe); /* stops the transfer if it is still going */
        if (e && e->code == ERR_OK)
            *e = te.code ? te : (struct err){ERR_UPSTREAM, "upstream failed"};
        return false;
    }
    s = api_stream_new(e);
    uint64_t len = head.content_length >= 0 ? (uint64_t)head.content_length : API_STREAM_SIZE_UNKNOWN;
    if (!s || !api_stream_add_pipe(s, pipe, len, e)) {
        if (!s)
            api_pipe_close_read(pipe);
        api_stream_free(s);
        return false;
    }
    const char *ct = head.content_type[0] ? head.content_type : "application/octet-stream";
    if (strlen(ct) >= sizeof r->content_type) {
        api_stream_free(s);
        return err_set(e, ERR_UPSTREAM, "upstream: Content-Type longer than %zu bytes", sizeof r->content_type - 1);
    }
    r->status = (int)head.status;
    memcpy(r->content_type, ct, strlen(ct) + 1);
    r->stream = s;
    return true;
}

/* ---- URL rebasing ---- */

static bool rebase(json_t *str, const char *base)
{
    const char *v = json_string_value(str);
    const char *at = v ? strstr(v, "/studies/") : NULL;
    if (!at)
        return true;
    size_t n = strlen(base) + strlen(at) + 1;
    char *nv = malloc(n);
    if (!nv)
        return false;
    snprintf(nv, n, "%s%s", base, at);
    int rc = json_string_set(str, nv);
    free(nv);
    return rc == 0;
}

static bool walk(json_t *j, const char *base, int depth)
{
    if (depth > 64)
        return true;
    if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) if (!walk(v, base, depth + 1)) return false;
        return true;
    }
    if (!json_is_object(j))
        return true;
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v) {
        if (!strcmp(k, "BulkDataURI") && json_is_string(v)) {
            if (!rebase(v, base))
                return false;
        } else if (!strcmp(k, "00081190")) {
            json_t *vals = json_object_get(v, "Value");
            size_t i;
            json_t *s;
            json_array_foreach(vals, i, s) if (json_is_string(s) && !rebase(s, base)) return false;
        } else if (!walk(v, base, depth + 1)) {
            return false;
        }
    }
    return true;
}

bool api_proxy_json_rewrite(const void *in, size_t n, const char *base, struct buf *out, struct err *e)
{
    json_error_t je;
    json_t *doc = json_loadb(in, n, 0, &je);
    if (!doc)
        return err_set(e, ERR_UPSTREAM, "upstream: JSON that does not parse (%s, line %d)", je.text, je.line);
    if (!walk(doc, base, 0)) {
        json_decref(doc);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    return api_json_append(out, doc, 0, e);
}
