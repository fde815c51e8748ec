/* api/dispatch.c: api_handle() end to end without a socket, on corpus files (SEGWEB_TESTDATA):
 * status codes, ETag/304, 406, gzip, CORS, errors as JSON, mask route. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "api/api.h"
#include "tests/unit/check.h"

static struct api_ctx ctx;
static struct api_request req;

static void run(const char *target, const char *accept, const char *inm, const char *ae,
                const char *origin, struct api_response *r)
{
    memset(&req, 0, sizeof req);
    memset(r, 0, sizeof *r);
    req.method = API_METHOD_GET;
    snprintf(req.target, sizeof req.target, "%s", target);
    snprintf(req.accept, sizeof req.accept, "%s", accept ? accept : "");
    snprintf(req.if_none_match, sizeof req.if_none_match, "%s", inm ? inm : "");
    snprintf(req.accept_encoding, sizeof req.accept_encoding, "%s", ae ? ae : "");
    snprintf(req.origin, sizeof req.origin, "%s", origin ? origin : "");
    api_request_route(&req, NULL);
    api_handle(&ctx, &req, r);
}

static bool body_has(const struct api_response *r, const char *s)
{
    return r->body.len && memmem(r->body.data, r->body.len, s, strlen(s));
}

#define SRC1 "1.2.826.0.1.3680043.2.1125.1.48512289027692760970921807163463783"

int main(void)
{
    const char *td = check_testdata();
    if (!td)
        return check_skip("the shared corpus (SEGWEB_TESTDATA, ../shared/testdata) is missing");
    static char root[PATH_MAX], seg_dir[PATH_MAX];
    snprintf(seg_dir, sizeof seg_dir, "%s/seg", td);
    struct err e = ERR_INIT;
    CHECK(api_path_root_resolve(seg_dir, root, sizeof root, &e), "corpus directory %s: %s", seg_dir, e.msg);
    if (e.code != ERR_OK)
        return check_done();
    ctx.files_root = root;
    ctx.cache = api_index_cache_new(64 << 20, &e);
    ctx.cors_origins = "http://viewer.example, https://other.example";
    ctx.gzip_min_bytes = 64;
    atomic_init(&ctx.ready, true);
    struct api_response r;

    run("/files/dcmqi_38x23_odd.dcm/segments", NULL, NULL, NULL, NULL, &r);
    CHECK(r.status == 200 && body_has(&r, "\"number_of_frames\"") &&
              !strcmp(r.content_type, "application/json"),
          "segments %d", r.status);
    const char *et = api_response_header_get(&r, "ETag");
    char etag[64] = "";
    snprintf(etag, sizeof etag, "%s", et ? et : "");
    CHECK(etag[0] == '"', "etag on JSON");
    CHECK(api_response_header_get(&r, "Cache-Control") &&
              !strcmp(api_response_header_get(&r, "Cache-Control"), "no-cache"),
          "path files revalidate");
    api_response_free(&r);

    run("/files/dcmqi_38x23_odd.dcm/segments", NULL, etag, NULL, NULL, &r);
    CHECK(r.status == 304 && !r.body.len, "304 on matching ETag (%d)", r.status);
    api_response_free(&r);

    run("/files/dcmqi_38x23_odd.dcm/segments", NULL, NULL, "gzip", NULL, &r);
    const char *ce = api_response_header_get(&r, "Content-Encoding");
    CHECK(r.status == 200 && ce && !strcmp(ce, "gzip") && r.body.len > 2 && r.body.data[0] == 0x1f &&
              r.body.data[1] == 0x8b,
          "gzip JSON");
    api_response_free(&r);

    run("/files/dcmqi_38x23_odd.dcm/segments/1", NULL, NULL, NULL, "http://viewer.example", &r);
    const char *ao = api_response_header_get(&r, "Access-Control-Allow-Origin");
    CHECK(r.status == 200 && ao && !strcmp(ao, "http://viewer.example") && body_has(&r, "Liver"),
          "segment 1 + CORS");
    api_response_free(&r);
    run("/files/dcmqi_38x23_odd.dcm/segments/1", NULL, NULL, NULL, "http://evil.example", &r);
    CHECK(!api_response_header_get(&r, "Access-Control-Allow-Origin"), "no CORS for others");
    api_response_free(&r);
    run("/files/dcmqi_38x23_odd.dcm/segments/2", NULL, NULL, NULL, NULL, &r);
    CHECK(r.status == 404 && body_has(&r, "\"error\""), "unknown segment 404");
    api_response_free(&r);

    run("/files/dcmqi_38x23_odd.dcm/frames/2/rendered", "image/png", NULL, NULL, NULL, &r);
    CHECK(r.status == 200 && r.body.len > 8 && !memcmp(r.body.data, "\x89PNG", 4) &&
              !strcmp(r.content_type, "image/png") && api_response_header_get(&r, "ETag"),
          "frame PNG %d", r.status);
    api_response_free(&r);
    run("/files/dcmqi_38x23_odd.dcm/frames/4/rendered", NULL, NULL, NULL, NULL, &r);
    CHECK(r.status == 404, "frame out of range %d", r.status);
    api_response_free(&r);
    run("/files/dcmqi_38x23_odd.dcm/frames/1/rendered", "text/html", NULL, NULL, NULL, &r);
    CHECK(r.status == 406 && body_has(&r, "\"status\":406"), "406 %d", r.status);
    api_response_free(&r);
    run("/files/dcmqi_38x23_odd.dcm/frames/1/rendered?style=color", "image/*", NULL, NULL, NULL, &r);
    CHECK(r.status == 200 && r.body.len > 25 && r.body.data[25] == 6, "RGBA PNG (color type %d)",
          r.body.len > 25 ? r.body.data[25] : -1);
    api_response_free(&r);

    run("/files/dcmqi_38x23_odd.dcm/segments/1/mask?source=" SRC1, NULL, NULL, NULL, NULL, &r);
    CHECK(r.status == 200 && !memcmp(r.body.data, "\x89PNG", 4), "mask %d %.*s", r.status,
          (int)r.body.len, r.body.data);
    api_response_free(&r);
    run("/files/dcmqi_38x23_odd.dcm/segments/1/mask?source=1.2.3.4", NULL, NULL, NULL, NULL, &r);
    CHECK(r.status == 404 && body_has(&r, "does not reference"), "mask unknown source %d", r.status);
    api_response_free(&r);

    run("/files/missing.dcm/segments", NULL, NULL, NULL, NULL, &r);
    CHECK(r.status == 404, "missing file %d", r.status);
    api_response_free(&r);
    run("/files/../expected/hd_cr_binary.json/segments", NULL, NULL, NULL, NULL, &r);
    CHECK(r.status == 400, "traversal %d", r.status);
    api_response_free(&r);
    run("/studies/1.2/series/1.3/instances/1.4/segments", NULL, NULL, NULL, NULL, &r);
    CHECK(r.status == 404 && body_has(&r, "not in store"), "store stub %d", r.status);
    api_response_free(&r);

    /* not a SEG: the CT sources beside the corpus, and a non-DICOM file */
    static char src_dir[PATH_MAX];
    snprintf(src_dir, sizeof src_dir, "%s/source/dcmqi_23x38x3", td && *td ? td : "../shared/testdata");
    static char src_root[PATH_MAX];
    if (api_path_root_resolve(src_dir, src_root, sizeof src_root, &e)) {
        ctx.files_root = src_root;
        run("/files/IMG0001.dcm/segments", NULL, NULL, NULL, NULL, &r);
        CHECK((r.status == 415 || r.status == 422) && body_has(&r, "\"message\""), "CT is not a SEG: %d %.*s",
              r.status, (int)r.body.len, r.body.data);
        api_response_free(&r);
        ctx.files_root = root;
    }

    memset(&req, 0, sizeof req);
    memset(&r, 0, sizeof r);
    req.method = API_METHOD_OPTIONS;
    snprintf(req.target, sizeof req.target, "/files/x/segments");
    snprintf(req.origin, sizeof req.origin, "https://other.example");
    api_request_route(&req, NULL);
    api_handle(&ctx, &req, &r);
    CHECK(r.status == 204 && api_response_header_get(&r, "Access-Control-Allow-Methods"), "preflight");
    api_response_free(&r);
    memset(&req, 0, sizeof req);
    req.method = API_METHOD_OTHER;
    snprintf(req.target, sizeof req.target, "/healthz");
    api_request_route(&req, NULL);
    api_handle(&ctx, &req, &r);
    CHECK(r.status == 405 && api_response_header_get(&r, "Allow"), "405");
    api_response_free(&r);

    struct file_cache_stats st;
    file_cache_stats_get(ctx.cache, &st);
    CHECK(st.misses == 2 && st.hits >= 8, "one index build per file (misses %llu hits %llu)",
          (unsigned long long)st.misses, (unsigned long long)st.hits);
    file_cache_free(ctx.cache);
    return check_done();
}
