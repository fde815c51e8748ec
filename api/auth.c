/* Bearer-token check; see auth.h. */
#include "api/auth.h"
#include "api/view.h"

#include <string.h>
#include <strings.h>

#include "api/http_error.h"

bool api_auth_equal(const char *secret, const char *presented)
{
    size_t sn = strlen(secret), pn = strlen(presented);
    /* Walk the presented value once, comparing against the secret repeated, so
     * neither the position of the first difference nor the secret's length shows. */
    volatile unsigned char diff = (unsigned char)(sn != pn);
    for (size_t i = 0; i < pn; i++)
        diff |= (unsigned char)(presented[i] ^ (sn ? secret[i % sn] : 0));
    return sn > 0 && diff == 0;
}

static bool open_route(enum api_method method, const char *target)
{
    if (method == API_METHOD_OPTIONS)
        return true;
    if (method != API_METHOD_GET && method != API_METHOD_HEAD)
        return false;
    size_t n = strcspn(target, "?");
    if (api_view_match(target)) /* the page's static files hold no data; its requests carry the token */
        return true;
    return (n == 8 && !strncmp(target, "/healthz", 8)) || (n == 7 && !strncmp(target, "/readyz", 7));
}

/* The credentials of "Bearer <token>", or NULL for another scheme. */
static const char *bearer(const char *authorization)
{
    if (!authorization || strncasecmp(authorization, "Bearer", 6) || authorization[6] != ' ')
        return NULL;
    const char *p = authorization + 6;
    while (*p == ' ')
        p++;
    return p;
}

bool api_auth_check(const char *token, enum api_method method, const char *target,
                    const char *authorization)
{
    if (!token || !*token || open_route(method, target))
        return true;
    const char *cred = bearer(authorization);
    return cred && api_auth_equal(token, cred);
}

void api_auth_reject(struct api_response *r, const char *authorization)
{
    bool presented = bearer(authorization) != NULL;
    api_response_refuse(r, API_REFUSE_AUTH, presented ? "the bearer token is not valid (--auth-token)"
                                         : "authentication required: send Authorization: Bearer <token> (--auth-token)");
    api_response_header_set(r, "WWW-Authenticate",
                            presented ? "Bearer realm=\"segweb\", error=\"invalid_token\"" : "Bearer realm=\"segweb\"");
    api_response_header_set(r, "Cache-Control", "no-store");
}
