/* Small helpers on struct api_request / struct api_response (api/request.h). */
#include "api/request.h"

#include "api/stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
