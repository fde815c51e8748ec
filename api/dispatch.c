/* The dispatcher behind api_handle(): preflight and method first, then the row of
 * the route table (api/route_table.c) the router picked, then CORS. Also the request
 * body hand-off the server calls without knowing which route takes a body. */
#include "api/api.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/instance.h"

/* ---- CORS ---- */

static bool origin_allowed(const char *list, const char *origin, bool *any)
{
    *any = false;
    if (!list || !*list || !*origin)
        return false;
    size_t on = strlen(origin);
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        while (n && p[n - 1] == ' ')
            n--;
        if (n == 1 && *p == '*') {
            *any = true;
            return true;
        }
        if (n == on && !strncasecmp(p, origin, n))
            return true;
        p += n;
    }
    return false;
}

static void cors_headers(const struct api_ctx *ctx, const struct api_request *req,
                         struct api_response *r, char *vary, size_t varysz)
{
    bool any;
    if (!origin_allowed(ctx->cors_origins, req->origin, &any))
        return;
    api_response_header_set(r, "Access-Control-Allow-Origin", any ? "*" : req->origin);
    api_response_header_set(r, "Access-Control-Expose-Headers", "ETag, Content-Length, Retry-After, X-Request-Id");
    if (!any)
        api_vary_add(vary, varysz, "Origin");
}

/* OPTIONS: the methods of the route's pattern; for a path that is no route (yet:
 * it may be one after a deployment), every method segweb has. */
static void preflight(const struct api_ctx *ctx, const struct api_request *req,
                      struct api_response *r)
{
    char allow[64] = "GET, HEAD, OPTIONS, POST, DELETE";
    if (req->route)
        api_route_allow(req, allow, sizeof allow);
    r->status = 204;
    api_response_header_set(r, "Allow", allow);
    bool any;
    if (origin_allowed(ctx->cors_origins, req->origin, &any)) {
        api_response_header_set(r, "Access-Control-Allow-Methods", allow);
        /* Authorization: a browser viewer on another origin sends the --auth-token
         * bearer token (listed whether or not a token is configured: harmless). */
        api_response_header_set(r, "Access-Control-Allow-Headers",
                                "Accept, Accept-Encoding, Authorization, If-None-Match, Content-Type, X-Request-Id");
        api_response_header_set(r, "Access-Control-Max-Age", "600");
    }
}

static void not_allowed(const struct api_request *req, struct api_response *r)
{
    char allow[64], msg[96];
    api_route_allow(req, allow, sizeof allow);
    if (req->method == API_METHOD_OTHER)
        snprintf(msg, sizeof msg, "only GET, HEAD, OPTIONS, POST and DELETE are supported");
    else
        snprintf(msg, sizeof msg, "this resource allows %s", allow);
    api_response_refuse(r, API_REFUSE_METHOD, msg);
    api_response_header_set(r, "Allow", allow);
}

static void dispatch(struct api_ctx *ctx, const struct api_request *req, struct api_response *r,
                     char *vary, size_t varysz)
{
    const struct api_route *rt = req->route;
    if (req->method == API_METHOD_OTHER)
        not_allowed(req, r);
    else if (req->route_err.code != ERR_OK)
        api_response_from_err(r, &req->route_err);
    else if (!rt)
        api_response_fail(r, ERR_NOT_FOUND, "no such route");
    else if (!api_route_allows(req))
        not_allowed(req, r);
    else if ((rt->flags & API_STORE) && !ctx->store)
        api_response_fail(r, ERR_NOT_FOUND, "no instance store");
    else if (rt->on_index)
        api_instance_serve(ctx, req, r, vary, varysz);
    else
        rt->handle(ctx, req, r);
}

void api_handle(struct api_ctx *ctx, const struct api_request *req, struct api_response *r)
{
    char vary[128] = "";
    r->status = api_status_from_err(ERR_INTERNAL); /* a handler that sets nothing */
    if (req->method == API_METHOD_OPTIONS)
        preflight(ctx, req, r);
    else
        dispatch(ctx, req, r, vary, sizeof vary);
    api_response_json_newline(r);
    cors_headers(ctx, req, r, vary, sizeof vary);
    if (*vary)
        api_response_header_set(r, "Vary", vary);
}

/* ---- request bodies ---- */

bool api_body_wanted(const struct api_request *req)
{
    return req->route_err.code == ERR_OK && api_route_allows(req) && req->route->body;
}

bool api_body_begin(struct api_ctx *ctx, struct api_request *req, struct err *e)
{
    if (!api_body_wanted(req))
        return true;
    void *state = req->route->body->begin(ctx, req, e);
    if (!state)
        return false;
    req->body.sink = req->route->body;
    req->body.state = state;
    return true;
}

bool api_body_feed(struct api_request *req, const void *p, size_t n, struct err *e)
{
    return !req->body.sink || req->body.sink->feed(req->body.state, p, n, e);
}

bool api_body_end(struct api_request *req, struct err *e)
{
    return !req->body.sink || req->body.sink->end(req->body.state, e);
}

void api_body_free(struct api_request *req)
{
    if (req->body.sink)
        req->body.sink->free(req->body.state);
    req->body.sink = NULL;
    req->body.state = NULL;
}
