/* api/stow.c, the worker half: api_stow_store() on uploads received through the
 * route's body sink (api_body_begin/feed/end, as server/http.c calls them), into a
 * store in a temporary directory. Each case checks the status, the Store Instances
 * Response (referenced and failed SOPs, failure reasons) and what the store holds.
 * Corpus objects come from SEGWEB_TESTDATA (skipped without it). */
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/handlers.h"
#include "store/store.h"
#include "tests/unit/check.h"

#define BOUNDARY "stow-unit-7e1"
#define CT_PATH "source/dcmqi_ct3slice/01.dcm"
#define MAX_PARTS 4

struct part {
    const char *file;         /* below SEGWEB_TESTDATA, or NULL: `bytes` */
    const char *bytes;        /* literal content */
    const char *content_type; /* NULL: application/dicom */
};

struct upload_case {
    const char *name;
    const char *target;
    struct part parts[MAX_PARTS];
    int status;
    size_t stored, failed;
    unsigned reason;      /* of the first failure, 0: not checked */
    uint64_t store_count; /* instances in the store afterwards */
};

#define F(path) {.file = (path)}
static const struct upload_case CASES[] = {
    {"one SEG", "/studies", {F("seg/dcmqi_38x24.dcm")}, 200, 1, 0, 0, 1},
    {"the same bytes again", "/studies", {F("seg/dcmqi_38x24.dcm")}, 200, 1, 0, 0, 1},
    {"two SEGs in one upload", "/studies", {F("seg/dcmqi_38x23_odd.dcm"), F("seg/dcmqi_liver.dcm")}, 200, 2, 0,
     0, 3},
    {"same SOP Instance UID, other bytes", "/studies", {F("seg/dcmtk_deflated_dcmqi_38x23_odd.dcm")}, 409, 0,
     1, API_STOW_DUPLICATE, 3},
    /* issue 12: the store keeps any DICOM object, a CT beside its SEG too */
    {"a CT beside a SEG", "/studies", {F(CT_PATH), F("seg/hd_ct_binary.dcm")}, 200, 2, 0, 0, 5},
    {"not DICOM", "/studies", {{.bytes = "this is not DICOM at all"}}, 409, 0, 1, API_STOW_CANNOT_UNDERSTAND, 5},
    {"a part that is not application/dicom", "/studies",
     {{.file = "seg/hd_cr_binary.dcm", .content_type = "image/png"}}, 409, 0, 1, API_STOW_CANNOT_UNDERSTAND, 5},
    {"another study than the target", "/studies/1.2.3.4", {F("seg/hd_cr_binary.dcm")}, 409, 0, 1,
     API_STOW_MISMATCH, 5},
};
#undef F

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc(n > 0 ? (size_t)n : 1);
    *len = p && n > 0 && fread(p, 1, (size_t)n, f) == (size_t)n ? (size_t)n : 0;
    fclose(f);
    return p;
}

/* The multipart body of the case's parts; NULL when a corpus file is missing. */
static char *body_of(const char *testdata, const struct upload_case *c, size_t *len)
{
    size_t cap = 1 << 20, n = 0;
    char *out = malloc(cap);
    for (size_t i = 0; out && i < MAX_PARTS && (c->parts[i].file || c->parts[i].bytes); i++) {
        const struct part *p = &c->parts[i];
        size_t dlen = p->bytes ? strlen(p->bytes) : 0;
        char *data = NULL;
        if (p->file) {
            char path[PATH_MAX];
            snprintf(path, sizeof path, "%s/%s", testdata, p->file);
            if (!(data = slurp(path, &dlen))) {
                free(out);
                return NULL;
            }
        }
        char head[256];
        int h = snprintf(head, sizeof head, "--%s\r\nContent-Type: %s\r\n\r\n", BOUNDARY,
                         p->content_type ? p->content_type : "application/dicom");
        while (n + (size_t)h + dlen + 64 > cap)
            out = realloc(out, cap *= 2);
        memcpy(out + n, head, (size_t)h);
        n += (size_t)h;
        memcpy(out + n, p->file ? data : p->bytes, dlen);
        n += dlen;
        memcpy(out + n, "\r\n", 2);
        n += 2;
        free(data);
    }
    if (out)
        n += (size_t)snprintf(out + n, cap - n, "--%s--\r\n", BOUNDARY);
    *len = n;
    return out;
}

/* The items of a sequence attribute of the response, or NULL. */
static json_t *items(json_t *doc, const char *tag)
{
    return json_object_get(json_object_get(doc, tag), "Value");
}

static void run_case(struct api_ctx *ctx, const char *testdata, const struct upload_case *c)
{
    size_t len = 0;
    char *body = body_of(testdata, c, &len);
    CHECK(body != NULL, "%s: corpus files", c->name);
    if (!body)
        return;
    struct api_request req;
    struct api_response r;
    memset(&req, 0, sizeof req);
    memset(&r, 0, sizeof r);
    req.method = API_METHOD_POST;
    snprintf(req.method_name, sizeof req.method_name, "POST");
    snprintf(req.target, sizeof req.target, "%s", c->target);
    snprintf(req.content_type, sizeof req.content_type,
             "multipart/related; type=\"application/dicom\"; boundary=%s", BOUNDARY);
    struct err e = ERR_INIT;
    bool ok = api_request_route(&req, &e) && api_body_wanted(&req) && api_body_begin(ctx, &req, &e);
    /* The server feeds what arrives: odd-sized chunks. */
    for (size_t off = 0; ok && off < len; off += 1000)
        ok = api_body_feed(&req, body + off, len - off < 1000 ? len - off : 1000, &e);
    ok = ok && api_body_end(&req, &e);
    CHECK(ok, "%s: body: %s", c->name, e.msg);
    free(body);
    if (ok)
        api_stow_store(ctx, &req, &r);
    api_body_free(&req);

    CHECK(r.status == c->status, "%s: status %d, want %d (%s)", c->name, r.status, c->status, r.error);
    CHECK(!strcmp(r.content_type, "application/dicom+json"), "%s: content type %s", c->name, r.content_type);
    json_error_t je;
    json_t *doc = json_loadb(r.body.data ? (const char *)r.body.data : "", r.body.len, 0, &je);
    CHECK(doc != NULL, "%s: the response is JSON: %s", c->name, je.text);
    json_t *ok_items = items(doc, "00081199"), *bad_items = items(doc, "00081198");
    CHECK(json_array_size(ok_items) == c->stored, "%s: %zu referenced, want %zu", c->name,
          json_array_size(ok_items), c->stored);
    CHECK(json_array_size(bad_items) == c->failed, "%s: %zu failed, want %zu", c->name,
          json_array_size(bad_items), c->failed);
    if (c->reason && json_array_size(bad_items)) {
        json_t *reason = json_array_get(items(json_array_get(bad_items, 0), "00081197"), 0);
        CHECK(json_integer_value(reason) == (json_int_t)c->reason, "%s: reason 0x%04llx, want 0x%04x", c->name,
              (unsigned long long)json_integer_value(reason), c->reason);
    }
    for (size_t i = 0; i < json_array_size(ok_items); i++) {
        const char *url = json_string_value(json_array_get(items(json_array_get(ok_items, i), "00081190"), 0));
        char study[65], series[65], sop[65], path[PATH_MAX];
        CHECK(url && sscanf(url, "/studies/%64[0-9.]/series/%64[0-9.]/instances/%64[0-9.]", study, series,
                            sop) == 3 &&
                  store_instance_path(ctx->store, study, series, sop, path, sizeof path, &e),
              "%s: the stored instance %s is in the store", c->name, url ? url : "(no URL)");
    }
    json_decref(doc);
    api_response_free(&r);
    uint64_t n = 0;
    CHECK(store_count(ctx->store, &n, &e) && n == c->store_count, "%s: %llu in the store, want %llu", c->name,
          (unsigned long long)n, (unsigned long long)c->store_count);
}

int main(void)
{
    const char *testdata = check_testdata();
    if (!testdata)
        return check_skip("the shared corpus (SEGWEB_TESTDATA, ../shared/testdata) is missing");
    char dir[64];
    check_tmpdir("stow", dir, sizeof dir);
    struct err e = ERR_INIT;
    struct api_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.store = store_open(dir, false, api_store_attrs_file, NULL, NULL, &e);
    ctx.stow_max_parts = MAX_PARTS;
    CHECK(ctx.store != NULL, "store_open: %s", e.msg);
    for (size_t i = 0; ctx.store && i < sizeof CASES / sizeof CASES[0]; i++)
        run_case(&ctx, testdata, &CASES[i]);

    /* Nothing is left in tmp/: stored parts were moved, refused ones removed. */
    char tmp[PATH_MAX + 8], cmd[2 * PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s/tmp", dir);
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A '%s')\"", tmp);
    CHECK(system(cmd) == 0, "tmp/ is empty after the uploads");
    store_close(ctx.store);
    check_rmtree(dir);
    return check_done();
}
