/* api/route.c: route table, strict numbers, percent-decoding, traversal refusal. */
#include <stdio.h>
#include <string.h>

#include "api/route.h"
#include "tests/unit/check.h"

struct rcase {
    const char *target;
    const char *route;      /* route name; NULL: must fail */
    enum err_code err;      /* when failing */
    const char *file;       /* expected res.file, or NULL */
    unsigned segment, frame;
};

static const struct rcase CASES[] = {
    {"/healthz", "healthz", ERR_OK, NULL, 0, 0},
    {"/readyz", "readyz", ERR_OK, NULL, 0, 0},
    {"/metrics", "metrics", ERR_OK, NULL, 0, 0},
    {"/healthz/x", NULL, ERR_NOT_FOUND, NULL, 0, 0},
    {"/", NULL, ERR_NOT_FOUND, NULL, 0, 0},
    {"/files/a.dcm/segments", "segments", ERR_OK, "a.dcm", 0, 0},
    {"/files/d/e/a.dcm/segments/3", "segment", ERR_OK, "d/e/a.dcm", 3, 0},
    {"/files/a.dcm/frames/12/rendered", "frame_rendered", ERR_OK, "a.dcm", 0, 12},
    {"/files/a.dcm/frames/12/rendered?style=color", "frame_rendered", ERR_OK, "a.dcm", 0, 12},
    {"/files/a.dcm/segments/2/mask?source=1.2.3&frame=4", "segment_mask", ERR_OK, "a.dcm", 2, 0},
    {"/files/a.dcm/segments/2/mask", NULL, ERR_PARSE, NULL, 0, 0},
    {"/files/a.dcm/segments/2/mask?source=x", NULL, ERR_PARSE, NULL, 0, 0},
    {"/files/segments/segments", "segments", ERR_OK, "segments", 0, 0},
    {"/files/my%20file.dcm/segments", "segments", ERR_OK, "my file.dcm", 0, 0},
    {"/files/%252e%252e/segments", "segments", ERR_OK, "%2e%2e", 0, 0}, /* literal name */
    {"/files/segments", NULL, ERR_NOT_FOUND, NULL, 0, 0},
    {"/files/a.dcm", NULL, ERR_NOT_FOUND, NULL, 0, 0},
    /* the viewer (api/viewer.c) */
    {"/files/ct/01.dcm/rendered?window=40,400&segmentation=1.2.3&segments=1,3", "rendered", ERR_OK, "ct/01.dcm", 0, 0},
    {"/files/ct/01.dcm/rendered?anything=goes", "rendered", ERR_OK, "ct/01.dcm", 0, 0},
    {"/studies/1.2/series/1.3/instances/1.4/rendered", "rendered", ERR_OK, NULL, 0, 0},
    /* WADO-RS bulkdata: {tag} is 8 hex digits, either case */
    {"/studies/1.2/series/1.3/instances/1.4/bulkdata/7FE00010", "bulkdata", ERR_OK, NULL, 0, 0},
    {"/studies/1.2/series/1.3/instances/1.4/bulkdata/7fe00010", "bulkdata", ERR_OK, NULL, 0, 0},
    {"/studies/1.2/series/1.3/instances/1.4/bulkdata/7FE0001", NULL, ERR_PARSE, NULL, 0, 0},
    {"/studies/1.2/series/1.3/instances/1.4/bulkdata/7FE000100", NULL, ERR_PARSE, NULL, 0, 0},
    {"/studies/1.2/series/1.3/instances/1.4/bulkdata/7FE0001G", NULL, ERR_PARSE, NULL, 0, 0},
    {"/files/a.dcm/slices", "slices", ERR_OK, "a.dcm", 0, 0},
    {"/files/a.dcm/lint", "lint", ERR_OK, "a.dcm", 0, 0},
    {"/files/a.dcm/volumes", "volumes", ERR_OK, "a.dcm", 0, 0},
    {"/studies/1.2/series/1.3/instances/1.4/lint", "lint", ERR_OK, NULL, 0, 0},
    {"/studies/1.2/series/1.3/thumbnail", "thumbnail", ERR_OK, NULL, 0, 0},
    {"/studies/1.2/series/x/thumbnail", NULL, ERR_PARSE, NULL, 0, 0},
    {"/view", "view", ERR_OK, NULL, 0, 0},
    {"/view/", "view", ERR_OK, NULL, 0, 0},
    {"/view/_/view.js", "view", ERR_OK, NULL, 0, 0},
    {"/view/files/seg/a.dcm", "view", ERR_OK, NULL, 0, 0},
    {"/view/studies/1.2/series/1.3/instances/1.4", "view", ERR_OK, NULL, 0, 0},
    {"/viewer", NULL, ERR_NOT_FOUND, NULL, 0, 0},
    /* numbers */
    {"/files/a.dcm/frames/0/rendered", NULL, ERR_PARSE, NULL, 0, 0},
    {"/files/a.dcm/segments/0", "segment", ERR_OK, "a.dcm", 0, 0},
    {"/files/a.dcm/segments/00", NULL, ERR_PARSE, NULL, 0, 0},
    {"/files/a.dcm/frames/01/rendered", NULL, ERR_PARSE, NULL, 0, 0},
    {"/files/a.dcm/frames/-1/rendered", NULL, ERR_PARSE, NULL, 0, 0},
    {"/files/a.dcm/frames/+1/rendered", NULL, ERR_PARSE, NULL, 0, 0},
    {"/files/a.dcm/frames/1x/rendered", NULL, ERR_PARSE, NULL, 0, 0},
    {"/files/a.dcm/frames/9999999999/rendered", NULL, ERR_PARSE, NULL, 0, 0},
    {"/files/a.dcm/frames/%31/rendered", "frame_rendered", ERR_OK, "a.dcm", 0, 1},
    {"/files/a.dcm/segments/ 1", NULL, ERR_PARSE, NULL, 0, 0},
    {"/files/a.dcm/frames/1/rendered?style=bogus", NULL, ERR_PARSE, NULL, 0, 0},
    {"/files/a.dcm/frames/1/rendered?style=color&style=gray", NULL, ERR_PARSE, NULL, 0, 0},
    {"/files/a.dcm/frames/1/rendered?cachebust=123", "frame_rendered", ERR_OK, "a.dcm", 0, 1},
    /* traversal in every spelling */
    {"/files/../etc/passwd/segments", NULL, ERR_PARSE, NULL, 0, 0},
    {"/files/a/../../etc/passwd/segments", NULL, ERR_PARSE, NULL, 0, 0},
    {"/files/%2e%2e/etc/passwd/segments", NULL, ERR_PARSE, NULL, 0, 0},
    {"/files/%2E%2E%2Fetc%2Fpasswd/segments", NULL, ERR_PARSE, NULL, 0, 0},
    {"/files/..%2fetc%2fpasswd/segments", NULL, ERR_PARSE, NULL, 0, 0},
    {"/files/.%2e/etc/passwd/segments", NULL, ERR_PARSE, NULL, 0, 0},
    {"/files/./a.dcm/segments", NULL, ERR_PARSE, NULL, 0, 0},
    {"/files//etc/passwd/segments", NULL, ERR_PARSE, NULL, 0, 0},
    {"/files/%2fetc%2fpasswd/segments", NULL, ERR_PARSE, NULL, 0, 0},
    {"/files/..\\..\\etc\\passwd/segments", NULL, ERR_PARSE, NULL, 0, 0},
    {"/files/..%5c..%5cetc/segments", NULL, ERR_PARSE, NULL, 0, 0},
    {"/files/a.dcm%00.png/segments", NULL, ERR_PARSE, NULL, 0, 0},
    {"/files/a%0a.dcm/segments", NULL, ERR_PARSE, NULL, 0, 0},
    {"/files/a%zz.dcm/segments", NULL, ERR_PARSE, NULL, 0, 0},
    {"/files/a%2/segments", NULL, ERR_PARSE, NULL, 0, 0},
    {"/files/a.dcm/segments/", NULL, ERR_PARSE, NULL, 0, 0},
    {"files/a.dcm/segments", NULL, ERR_PARSE, NULL, 0, 0},
    /* store routes */
    {"/studies/1.2/series/1.3/instances/1.4/segments", "segments", ERR_OK, NULL, 0, 0},
    {"/studies/1.2/series/1.3/instances/1.4/frames/7/rendered", "frame_rendered", ERR_OK, NULL, 0, 7},
    {"/studies/1.2/series/1.3/instances/1.4/segments/5/mask?source=1.9", "segment_mask", ERR_OK, NULL, 5, 0},
    {"/studies/1.2/series/1.3/instances/1.4/x/segments", NULL, ERR_NOT_FOUND, NULL, 0, 0},
    {"/studies/x/series/1.3/instances/1.4/segments", NULL, ERR_PARSE, NULL, 0, 0},
    {"/studies/1.2/series/1.3/instances/..%2f..%2f/segments", NULL, ERR_PARSE, NULL, 0, 0},
};

int main(void)
{
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        const struct rcase *c = &CASES[i];
        static struct api_request req;
        memset(&req, 0, sizeof req);
        snprintf(req.target, sizeof req.target, "%s", c->target);
        struct err e = ERR_INIT;
        bool ok = api_request_route(&req, &e);
        if (c->err == ERR_OK) {
            CHECK(ok && !strcmp(api_route_name(req.route), c->route),
                  "%s: route %s (want %s) err '%s'", c->target, api_route_name(req.route),
                  c->route, e.msg);
            if (c->file)
                CHECK(req.res.kind == API_RES_FILE && !strcmp(req.res.file, c->file),
                      "%s: file '%s' want '%s'", c->target, req.res.file, c->file);
            CHECK(req.segment == c->segment && req.frame == c->frame, "%s: segment %u frame %u",
                  c->target, req.segment, req.frame);
        } else {
            CHECK(!ok && e.code == c->err && req.route_err.code == c->err &&
                      req.route == NULL,
                  "%s: ok=%d code %d (want %d) '%s'", c->target, ok, e.code, c->err, e.msg);
        }
    }
    /* query details */
    static struct api_request req;
    snprintf(req.target, sizeof req.target,
             "/files/a.dcm/segments/2/mask?frame=3&source=1.2.840.1&style=color");
    struct err e = ERR_INIT;
    CHECK(api_request_route(&req, &e) && req.source_frame == 3 && req.style_color &&
              !strcmp(req.source_uid, "1.2.840.1"),
          "mask query: '%s'", e.msg);
    CHECK(api_route_needs_worker(&req), "mask needs a worker");
    static struct api_request health;
    snprintf(health.target, sizeof health.target, "/healthz");
    CHECK(api_request_route(&health, NULL) && !api_route_needs_worker(&health), "healthz inline");
    uint32_t v;
    CHECK(api_number_parse("123456789", &v) && v == 123456789, "9 digits");
    CHECK(!api_number_parse("", &v) && !api_number_parse("1234567890", &v), "bounds");
    CHECK(api_uid_valid("1.2.3") && !api_uid_valid("1.2.a") && !api_uid_valid(""), "uids");
    return check_done();
}
