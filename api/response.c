/* Small helpers on struct api_request / struct api_response (api/request.h). */
#include "api/request.h"

#include "api/http_error.h"
#include "api/stream.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool api_json_append(struct buf *out, json_t *doc, size_t flags, struct err *e)
{
    /* Every string is UTF-8 (the decoder converts or repairs them), so a NULL
     * document is a bug, not a full heap: say so (500), not "out of memory". */
    if (!doc)
        return err_set(e, ERR_INTERNAL, "cannot build the JSON document");
    char *text = json_dumps(doc, JSON_COMPACT | flags);
    json_decref(doc);
    if (!text)
        return err_set(e, ERR_NOMEM, "cannot serialise JSON");
    bool ok = buf_append(out, text, strlen(text), e);
    free(text);
    return ok;
}

bool api_response_json(struct api_response *r, json_t *doc, const char *content_type, size_t flags,
                       struct err *e)
{
    if (!api_json_append(&r->body, doc, flags, e))
        return false;
    r->status = 200;
    snprintf(r->content_type, sizeof r->content_type, "%s", content_type);
    return true;
}

void api_json_limit_begin(struct api_response *r, size_t limit)
{
    r->body.limit = limit;
}

void api_json_limit_fail(struct api_response *r, size_t limit, const struct err *e)
{
    r->body.limit = 0;
    if (e->code == ERR_LIMIT && limit) {
        char msg[160];
        snprintf(msg, sizeof msg, "the JSON answer exceeds the max-json-bytes limit of %zu bytes", limit);
        api_response_fail(r, ERR_LIMIT, msg);
        return;
    }
    api_response_from_err(r, e);
}

bool api_response_header_set(struct api_response *r, const char *name, const char *value)
{
    if (strlen(name) >= sizeof r->headers[0].name || strlen(value) >= sizeof r->headers[0].value)
        return false;
    struct api_header *h = NULL;
    for (size_t i = 0; i < r->n_headers; i++)
        if (!strcasecmp(r->headers[i].name, name))
            h = &r->headers[i];
    if (!h) {
        if (r->n_headers >= API_RESPONSE_HEADERS)
            return false;
        h = &r->headers[r->n_headers++];
    }
    snprintf(h->name, sizeof h->name, "%s", name);
    snprintf(h->value, sizeof h->value, "%s", value);
    return true;
}

void api_response_json_newline(struct api_response *r)
{
    if (!r->body.len || r->body.data[r->body.len - 1] == '\n' || !strstr(r->content_type, "json") ||
        api_response_header_get(r, "Content-Encoding"))
        return;
    struct err e = ERR_INIT;
    buf_append(&r->body, "\n", 1, &e); /* a full heap keeps the body as it was */
}

const char *api_response_header_get(const struct api_response *r, const char *name)
{
    for (size_t i = 0; i < r->n_headers; i++)
        if (!strcasecmp(r->headers[i].name, name))
            return r->headers[i].value;
    return NULL;
}

void api_response_free(struct api_response *r)
{
    if (r) {
        buf_free(&r->body);
        api_stream_free(r->stream);
        r->stream = NULL;
    }
}

void api_boundary_make(const char *request_id, char *out, size_t sz)
{
    unsigned long h = 5381;
    for (const char *c = request_id; *c; c++)
        h = h * 33 + (unsigned char)*c;
    snprintf(out, sz, "segweb-%016lx%08lx", h, (unsigned long)random());
}

void api_vary_add(char *vary, size_t sz, const char *token)
{
    size_t n = strlen(vary);
    if (n < sz)
        snprintf(vary + n, sz - n, "%s%s", n ? ", " : "", token);
}

enum api_method api_method_parse(const char *name)
{
    if (!strcmp(name, "GET"))
        return API_METHOD_GET;
    if (!strcmp(name, "HEAD"))
        return API_METHOD_HEAD;
    if (!strcmp(name, "OPTIONS"))
        return API_METHOD_OPTIONS;
    if (!strcmp(name, "POST"))
        return API_METHOD_POST;
    if (!strcmp(name, "DELETE"))
        return API_METHOD_DELETE;
    return API_METHOD_OTHER;
}
