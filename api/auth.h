/* Optional bearer-token check (--auth-token / --auth-token-file), for deployments
 * where the sidecar port is reachable by others. Pure functions: server/http.c
 * calls api_auth_check() once per request, before the body is read, and answers
 * with api_auth_reject() when it fails.
 *
 * Open without a token: GET/HEAD /healthz and /readyz (probes) and OPTIONS
 * (CORS preflights never carry credentials). Everything else needs
 * "Authorization: Bearer <token>"; the token is compared in constant time. */
#ifndef SEGWEB_API_AUTH_H
#define SEGWEB_API_AUTH_H

#include <stdbool.h>

#include "api/request.h"

/* true when the request may proceed: no token configured (token NULL or ""),
 * an open route, or an Authorization header (NULL when absent) carrying exactly
 * the token with the Bearer scheme (case-insensitive scheme, one or more spaces). */
bool api_auth_check(const char *token, enum api_method method, const char *target,
                    const char *authorization);

/* Fills r with 401, "WWW-Authenticate: Bearer realm=\"segweb\"" and a JSON error
 * body that says whether the token was missing or wrong. */
void api_auth_reject(struct api_response *r, const char *authorization);

/* Constant-time comparison of two NUL-terminated strings: the time depends only
 * on the length of b (the presented value), never on where they differ. */
bool api_auth_equal(const char *secret, const char *presented);

#endif
