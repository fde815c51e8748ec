/* api/negotiate.c: Accept, Accept-Encoding, If-None-Match; api/http_error.c table. */
#include <stdio.h>
#include <string.h>

#include "api/http_error.h"
#include "api/negotiate.h"
#include "tests/unit/check.h"

int main(void)
{
    static const struct {
        const char *accept;
        bool ok;
    } acc[] = {
        {"", true},
        {"image/png", true},
        {"image/*", true},
        {"*/*", true},
        {"text/html", false},
        {"application/json", false},
        {"text/html, image/png;q=0.5", true},
        {"image/png;q=0", false},
        {"image/png;q=0, */*", false},
        {"image/*;q=0.0, */*;q=1", false},
        {"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", true},
        {"IMAGE/PNG", true},
        {"image/webp, image/apng, image/*;q=0.8", true},
        {"image/jpeg", false},
    };
    for (size_t i = 0; i < sizeof acc / sizeof acc[0]; i++)
        CHECK(api_accepts_png(acc[i].accept) == acc[i].ok, "Accept '%s'", acc[i].accept);

    /* the one matcher for every media type (RFC 9110 12.5.1: the most specific range decides) */
    static const struct {
        const char *accept, *media, *part;
        bool ok;
    } med[] = {
        {"", "application/dicom+json", NULL, true},
        {"application/json", "application/dicom+json", NULL, true},
        {"application/*", "application/dicom+json", NULL, true},
        {"application/dicom+json;q=0, */*", "application/dicom+json", NULL, false},
        {"text/html", "application/dicom+json", NULL, false},
        {"multipart/related; type=\"application/dicom\"", "multipart/related", "application/dicom", true},
        {"multipart/related; type=\"application/octet-stream\"", "multipart/related", "application/dicom", false},
        {"multipart/related; type=\"application/dicom\", multipart/related; type=x/y", "multipart/related",
         "application/dicom", true},
        {"multipart/*", "multipart/related", "application/dicom", true},
        {"multipart/related; type=*", "multipart/related", "application/octet-stream", true},
        {"multipart/related; type=\"a,b\", text/html", "multipart/related", "application/dicom", false},
    };
    for (size_t i = 0; i < sizeof med / sizeof med[0]; i++)
        CHECK(api_accepts_media(med[i].accept, med[i].media, med[i].part) == med[i].ok, "Accept '%s' for %s",
              med[i].accept, med[i].media);
    CHECK(api_accept_names_first("image/jpeg, image/png", "image/jpeg", "image/png"), "jpeg first");
    CHECK(!api_accept_names_first("image/png, image/jpeg", "image/jpeg", "image/png"), "png first");
    CHECK(!api_accept_names_first("*/*", "image/jpeg", "image/png"), "neither named");
    CHECK(!api_accept_names_first(NULL, "image/jpeg", "image/png"), "no header");
    char ts[80];
    api_accept_transfer_syntax("multipart/related; type=\"application/dicom\"; transfer-syntax=*", ts, sizeof ts);
    CHECK(!strcmp(ts, "*"), "transfer-syntax * got '%s'", ts);
    api_accept_transfer_syntax("multipart/related; type=application/dicom;transfer-syntax=\"1.2.840.10008.1.2.1\"", ts,
                               sizeof ts);
    CHECK(!strcmp(ts, "1.2.840.10008.1.2.1"), "quoted transfer-syntax got '%s'", ts);
    api_accept_transfer_syntax("multipart/related", ts, sizeof ts);
    CHECK(!ts[0], "no transfer-syntax got '%s'", ts);

    static const struct {
        const char *ae;
        bool ok;
    } enc[] = {
        {"", false}, {"gzip", true}, {"gzip, deflate, br", true}, {"deflate", false},
        {"gzip;q=0", false}, {"*", true}, {"*;q=0", false}, {"br, *;q=0.1", true},
        {"identity", false}, {"x-gzip", true},
    };
    for (size_t i = 0; i < sizeof enc / sizeof enc[0]; i++)
        CHECK(api_accepts_gzip(enc[i].ae) == enc[i].ok, "Accept-Encoding '%s'", enc[i].ae);

    char tag[40], other[40];
    api_etag_make("x|1", tag);
    api_etag_make("x|2", other);
    CHECK(tag[0] == '"' && strlen(tag) == 34 && strcmp(tag, other), "etag shape %s", tag);
    char list[128];
    snprintf(list, sizeof list, "%s, %s", other, tag);
    CHECK(api_etag_matches(tag, tag), "exact");
    CHECK(api_etag_matches(list, tag), "in list");
    CHECK(api_etag_matches("*", tag), "star");
    snprintf(list, sizeof list, "W/%s", tag);
    CHECK(api_etag_matches(list, tag), "weak compare");
    CHECK(!api_etag_matches(other, tag), "other");
    CHECK(!api_etag_matches("", tag), "empty");

    CHECK(api_status_from_err(ERR_NOT_FOUND) == 404 && api_status_from_err(ERR_PARSE) == 400 &&
              api_status_from_err(ERR_INVALID) == 422 && api_status_from_err(ERR_UNSUPPORTED) == 415 &&
              api_status_from_err(ERR_INTERNAL) == 500,
          "status table");
    struct api_response r = {0};
    api_response_error(&r, 404, "no \"such\" thing");
    const char *want = "{\"error\":{\"status\":404,\"message\":\"no \\\"such\\\" thing\"}}";
    CHECK(r.status == 404 && r.body.len == strlen(want) && !memcmp(r.body.data, want, r.body.len) &&
              !strcmp(r.content_type, "application/json"),
          "error body %.*s", (int)r.body.len, r.body.data);
    api_response_free(&r);
    return check_done();
}
