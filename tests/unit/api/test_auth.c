/* api/auth.c: the optional bearer-token check (--auth-token). */
#include <stdio.h>
#include <string.h>

#include "api/auth.h"
#include "tests/unit/check.h"

int main(void)
{
    static const struct {
        const char *token;
        enum api_method method;
        const char *target, *authorization;
        bool ok;
    } cases[] = {
        {NULL, API_METHOD_GET, "/files/a.dcm/segments", NULL, true},
        {"", API_METHOD_GET, "/files/a.dcm/segments", NULL, true},
        {"s3cret-Token", API_METHOD_GET, "/files/a.dcm/segments", NULL, false},
        {"s3cret-Token", API_METHOD_GET, "/files/a.dcm/segments", "Bearer s3cret-Token", true},
        {"s3cret-Token", API_METHOD_GET, "/files/a.dcm/segments", "bearer   s3cret-Token", true},
        {"s3cret-Token", API_METHOD_GET, "/files/a.dcm/segments", "Bearer s3cret-Toke", false},
        {"s3cret-Token", API_METHOD_GET, "/files/a.dcm/segments", "Bearer s3cret-Token2", false},
        {"s3cret-Token", API_METHOD_GET, "/files/a.dcm/segments", "Bearer s3cret-Token ", false},
        {"s3cret-Token", API_METHOD_GET, "/files/a.dcm/segments", "Bearer S3CRET-TOKEN", false},
        {"s3cret-Token", API_METHOD_GET, "/files/a.dcm/segments", "Basic czNjcmV0LVRva2Vu", false},
        {"s3cret-Token", API_METHOD_GET, "/files/a.dcm/segments", "Bearers3cret-Token", false},
        {"s3cret-Token", API_METHOD_GET, "/files/a.dcm/segments", "Bearer ", false},
        {"s3cret-Token", API_METHOD_GET, "/files/a.dcm/segments", "", false},
        {"s3cret-Token", API_METHOD_GET, "/healthz", NULL, true},
        {"s3cret-Token", API_METHOD_HEAD, "/healthz", NULL, true},
        {"s3cret-Token", API_METHOD_GET, "/healthz?x=1", NULL, true},
        {"s3cret-Token", API_METHOD_GET, "/readyz", NULL, true},
        {"s3cret-Token", API_METHOD_GET, "/healthz/../files/a.dcm/segments", NULL, false},
        {"s3cret-Token", API_METHOD_GET, "/healthzz", NULL, false},
        {"s3cret-Token", API_METHOD_GET, "/metrics", NULL, false},
        {"s3cret-Token", API_METHOD_OTHER, "/healthz", NULL, false},
        {"s3cret-Token", API_METHOD_OPTIONS, "/files/a.dcm/segments", NULL, true},
        {"s3cret-Token", API_METHOD_OTHER, "/studies", NULL, false},
        {"s3cret-Token", API_METHOD_OTHER, "/studies", "Bearer s3cret-Token", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool ok = api_auth_check(cases[i].token, cases[i].method, cases[i].target, cases[i].authorization);
        CHECK(ok == cases[i].ok, "case %zu: token %s target %s authorization '%s': got %d", i,
              cases[i].token ? cases[i].token : "(null)", cases[i].target,
              cases[i].authorization ? cases[i].authorization : "(null)", ok);
    }
    CHECK(api_auth_equal("abc", "abc"), "equal");
    CHECK(!api_auth_equal("abc", "abcabc"), "repeated secret is not equal");
    CHECK(!api_auth_equal("abc", ""), "empty");
    CHECK(!api_auth_equal("", ""), "an empty secret never matches");

    struct api_response r = {0};
    api_auth_reject(&r, NULL);
    const char *www = api_response_header_get(&r, "WWW-Authenticate");
    CHECK(r.status == 401, "401");
    CHECK(www && !strncmp(www, "Bearer", 6), "WWW-Authenticate: %s", www ? www : "(none)");
    CHECK(r.body.len && memmem(r.body.data, r.body.len, "\"status\":401", 12), "JSON body");
    api_response_free(&r);
    memset(&r, 0, sizeof r);
    api_auth_reject(&r, "Bearer nope");
    www = api_response_header_get(&r, "WWW-Authenticate");
    CHECK(www && strstr(www, "invalid_token"), "invalid_token: %s", www ? www : "(none)");
    api_response_free(&r);

    return check_done();
}
