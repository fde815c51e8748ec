/* GET /healthz, /readyz, /metrics: cheap answers on the HTTP thread. */
#include <stdio.h>
#include <string.h>

#include "api/handlers.h"
#include "api/http_error.h"
#include "api/pull.h"

static void json_static(struct api_response *r, const char *text)
{
    struct err e = ERR_INIT;
    r->status = 200;
    snprintf(r->content_type, sizeof r->content_type, "application/json");
    if (!buf_append(&r->body, text, strlen(text), &e))
        api_response_from_err(r, &e);
}

void api_health_get(struct api_ctx *ctx, const struct api_request *req, struct api_response *r)
{
    json_static(r, "{\"status\":\"ok\"}");
    api_response_header_set(r, "Cache-Control", "no-store");
}

void api_ready_get(struct api_ctx *ctx, const struct api_request *req, struct api_response *r)
{
    /* With --upstream the answer says how the archive is doing, but stays 200 while it is
     * down: every replica shares the archive, and what is stored or cached is still served. */
    char text[96];
    if (ctx->pull)
        snprintf(text, sizeof text, "{\"status\":\"ready\",\"upstream\":\"%s\"}", api_pull_state(ctx->pull));
    else
        snprintf(text, sizeof text, "{\"status\":\"ready\"}");
    if (atomic_load(&ctx->ready))
        json_static(r, text);
    else
        api_response_refuse(r, API_REFUSE_NOT_READY, "not ready (starting or shutting down)");
    api_response_header_set(r, "Cache-Control", "no-store");
}

void api_metrics_get(struct api_ctx *ctx, const struct api_request *req, struct api_response *r)
{
    struct err e = ERR_INIT;
    if (ctx->metrics && ctx->metrics(ctx->metrics_arg, &r->body, &e) &&
        (!ctx->pull || api_pull_metrics(ctx->pull, &r->body, &e))) {
        r->status = 200;
        snprintf(r->content_type, sizeof r->content_type, "text/plain; version=0.0.4; charset=utf-8");
        api_response_header_set(r, "Cache-Control", "no-store");
        return;
    }
    if (e.code == ERR_OK)
        err_set(&e, ERR_NOT_FOUND, "metrics are not available");
    api_response_from_err(r, &e);
}
