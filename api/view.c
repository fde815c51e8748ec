/* The page's files (api/view.h). */
#include "api/view.h"

#include <stdio.h>
#include <string.h>

#include "api/http_error.h"
#include "web/web.h"

#define CSP "default-src 'self'; img-src 'self' blob: data:; style-src 'self' 'unsafe-inline'; " \
            "script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'self'"

static size_t path_len(const char *target)
{
    const char *q = strpbrk(target, "?#");
    return q ? (size_t)(q - target) : strlen(target);
}

bool api_view_match(const char *target)
{
    size_t n = path_len(target);
    return (n == 5 && !strncmp(target, "/view", 5)) || (n >= 6 && !strncmp(target, "/view/", 6));
}

static void html(const char *name, size_t slashes, struct api_response *r)
{
    const struct web_asset *a = web_asset_find(name);
    if (!a) {
        api_response_fail(r, ERR_INTERNAL, "the page is missing from this build");
        return;
    }
    struct err e = ERR_INIT;
    const char *p = (const char *)a->data, *end = p + a->size;
    bool ok = true;
    while (ok && p < end) {
        const char *m = strstr(p, "{{ROOT}}");
        size_t n = m ? (size_t)(m - p) : (size_t)(end - p);
        ok = buf_append(&r->body, p, n, &e);
        if (!m)
            break;
        for (size_t k = 0; ok && k + 1 < slashes; k++)
            ok = buf_append(&r->body, "../", 3, &e);
        if (ok && slashes < 2)
            ok = buf_append(&r->body, "./", 2, &e);
        p = m + 8;
    }
    if (!ok) {
        api_response_fail(r, ERR_NOMEM, "out of memory");
        return;
    }
    r->status = 200;
    snprintf(r->content_type, sizeof r->content_type, "text/html; charset=utf-8");
}

void api_view_get(const char *target, struct api_response *r)
{
    size_t n = path_len(target);
    if (n == 5) { /* /view -> /view/ (relative, so a proxy prefix survives) */
        r->status = 308;
        api_response_header_set(r, "Location", "view/");
        return;
    }
    char path[API_TARGET_MAX + 1];
    snprintf(path, sizeof path, "%.*s", (int)n, target);
    if (!strncmp(path, "/view/_/", 8)) {
        const char *name = path + 8;
        const struct web_asset *a = strchr(name, '/') ? NULL : web_asset_find(name);
        if (!a || strstr(name, ".html")) {
            api_response_fail(r, ERR_NOT_FOUND, "no such file of the page");
            return;
        }
        struct err e = ERR_INIT;
        if (!buf_append(&r->body, a->data, a->size, &e)) {
            api_response_fail(r, ERR_NOMEM, "out of memory");
            return;
        }
        r->status = 200;
        snprintf(r->content_type, sizeof r->content_type, "%s", web_content_type(name));
    } else {
        size_t slashes = 0;
        for (const char *p = path; *p; p++)
            slashes += *p == '/';
        html(!strcmp(path, "/view/") ? "index.html" : "view.html", slashes, r);
    }
    api_response_header_set(r, "Cache-Control", "no-cache");
    api_response_header_set(r, "Content-Security-Policy", CSP);
    api_response_header_set(r, "X-Content-Type-Options", "nosniff");
}
