/* POST /studies/{s}/series/{se}/segmentations through the route table, the body sink
 * and api_handle(), without a socket. The source series (dcmqi_23x38x3, CT) is put
 * into a temporary store with store_instance_put directly -- STOW still refuses
 * non-SEG objects -- then the bodies below are posted: an NRRD label volume, PNG
 * masks named by Content-Location, a grid that does not match (422), a series
 * that is not there (404), no metadata part (400), another media type (415).
 * The SEG stored is read back with the decoder: SOP class, study, frames, and
 * the frame pixels equal the voxels posted (38x23: frames not byte aligned). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "api/store_glue.h"
#include "tests/unit/check.h"
#include "decoder/decoder.h"
#include "store/store.h"
#include "writer/writer.h"

#define BOUNDARY "wr1t3r-b0undary"
#define ROWS 38
#define COLS 23

static struct api_ctx ctx;

static const char META[] =
    "{\"ContentCreatorName\": \"Unit^Test\", \"SeriesDescription\": \"posted\", \"segmentAttributes\": [[{"
    "\"labelID\": 1, \"SegmentLabel\": \"Liver\", \"SegmentAlgorithmType\": \"MANUAL\","
    "\"SegmentedPropertyCategoryCodeSequence\": {\"CodeValue\": \"85756007\", \"CodingSchemeDesignator\": \"SCT\","
    " \"CodeMeaning\": \"Tissue\"},"
    "\"SegmentedPropertyTypeCodeSequence\": {\"CodeValue\": \"10200004\", \"CodingSchemeDesignator\": \"SCT\","
    " \"CodeMeaning\": \"Liver\"}, \"recommendedDisplayRGBValue\": [221, 130, 101]}]]}";

static void append(struct buf *b, const void *p, size_t n)
{
    struct err e = ERR_INIT;
    if (!buf_append(b, p, n, &e))
        abort();
}

static void appends(struct buf *b, const char *s)
{
    append(b, s, strlen(s));
}

static void part(struct buf *b, const char *headers, const void *p, size_t n)
{
    appends(b, "--" BOUNDARY "\r\n");
    appends(b, headers);
    appends(b, "\r\n\r\n");
    append(b, p, n);
    appends(b, "\r\n");
}

static void post(const char *target, const char *content_type, const struct buf *body, struct api_response *r)
{
    static struct api_request req;
    memset(&req, 0, sizeof req);
    memset(r, 0, sizeof *r);
    req.method = API_METHOD_POST;
    snprintf(req.target, sizeof req.target, "%s", target);
    snprintf(req.content_type, sizeof req.content_type, "%s", content_type);
    struct err e = ERR_INIT;
    if (!api_request_route(&req, &e) || !api_body_begin(&ctx, &req, &e) ||
        !api_body_feed(&req, body->data, body->len, &e) || !api_body_end(&req, &e)) {
        api_response_from_err(r, &e);
    } else {
        api_handle(&ctx, &req, r);
    }
    api_body_free(&req);
}

/* NRRD, LPS, raw uint8, i = column, j = row, k = slice, on the source grid */
static void nrrd(struct buf *b, const struct writer_source *src, const uint8_t *vox, uint32_t cols, const double *origin)
{
    char hdr[512];
    snprintf(hdr, sizeof hdr,
             "NRRD0004\ntype: uint8\ndimension: 3\nspace: left-posterior-superior\nsizes: %u %u 3\n"
             "space directions: (0.7,0,0) (0,0.7,0) (0,0,2.5)\nendian: little\nencoding: raw\n"
             "space origin: (%.6f,%.6f,%.6f)\n\n", cols, ROWS, origin[0], origin[1], origin[2]);
    appends(b, hdr);
    append(b, vox, (size_t)cols * ROWS * 3);
    (void)src;
}

static size_t store_rows(void)
{
    uint64_t n = 0;
    struct err e = ERR_INIT;
    store_count(ctx.store, &n, &e);
    return (size_t)n;
}

int main(void)
{
    const char *td = check_testdata();
    if (!td)
        return check_skip("corpus not found");
    char dir[64], srcdir[PATH_MAX];
    snprintf(dir, sizeof dir, "/tmp/segweb-unit-segpost-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    snprintf(srcdir, sizeof srcdir, "%s/source/dcmqi_23x38x3", td);
    struct err e = ERR_INIT;
    ctx.store = store_open(dir, false, api_store_attrs_file, NULL, NULL, &e);
    CHECK(ctx.store, "store_open: %s", e.msg);
    ctx.stow_max_parts = 16;
    struct writer_source *src = writer_source_open_dir(srcdir, NULL, NULL, &e);
    CHECK(src, "source: %s", e.msg);
    if (!ctx.store || !src)
        return check_done();
    const char *study = writer_source_study_uid(src), *series = writer_source_series_uid(src);

    /* the CT images into the store, as the upstream phase will let STOW do */
    static const char *names[] = {"IMG0001.dcm", "IMG0002.dcm", "IMG0003.dcm"};
    for (int i = 0; i < 3; i++) {
        char path[PATH_MAX + 32], tmp[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", srcdir, names[i]);
        int fd;
        CHECK(store_tmp_create(ctx.store, tmp, sizeof tmp, &fd, &e), "tmp: %s", e.msg);
        FILE *in = fopen(path, "rb");
        char chunk[65536];
        size_t n;
        while ((n = fread(chunk, 1, sizeof chunk, in)) > 0)
            CHECK(write(fd, chunk, n) == (ssize_t)n, "write");
        fclose(in);
        close(fd);
        const char *paths[1] = {path};
        struct writer_source *one = writer_source_open_files(paths, 1, NULL, NULL, &e);
        struct store_attrs a;
        memset(&a, 0, sizeof a);
        snprintf(a.study_uid, sizeof a.study_uid, "%s", study);
        snprintf(a.series_uid, sizeof a.series_uid, "%s", series);
        snprintf(a.sop_uid, sizeof a.sop_uid, "%s", writer_source_instance_uid(one, 0));
        snprintf(a.sop_class_uid, sizeof a.sop_class_uid, "1.2.840.10008.5.1.4.1.1.2");
        snprintf(a.modality, sizeof a.modality, "CT");
        a.rows = ROWS, a.columns = COLS, a.frames = 1;
        enum store_put_result res;
        CHECK(store_instance_put(ctx.store, tmp, &a, &res, &e), "put: %s", e.msg);
        writer_source_free(one);
    }
    CHECK(store_rows() == 3, "3 rows");

    char target[512], ct[256];
    snprintf(target, sizeof target, "/studies/%s/series/%s/segmentations", study, series);
    snprintf(ct, sizeof ct, "multipart/related; type=\"application/json\"; boundary=%s", BOUNDARY);
    /* voxels: a small rectangle on slices 0 and 2 (positions along z) */
    static uint8_t vox[COLS * ROWS * 3];
    for (int k = 0; k < 3; k += 2)
        for (int r = 5; r < 20; r++)
            for (int c = 3 + k; c < 17; c++)
                vox[(size_t)k * COLS * ROWS + (size_t)r * COLS + c] = 1;
    const double origin[3] = {46.4649, 5.01881, -177.75};

    /* 1. NRRD label volume -> 201, Location, stored, pixels as posted */
    struct buf body = {0};
    part(&body, "Content-Type: application/json", META, strlen(META));
    struct buf vol = {0};
    nrrd(&vol, src, vox, COLS, origin);
    part(&body, "Content-Type: application/x-nrrd", vol.data, vol.len);
    appends(&body, "--" BOUNDARY "--\r\n");
    struct api_response r;
    post(target, ct, &body, &r);
    CHECK(r.status == 201, "NRRD post: %d %.*s", r.status, (int)r.body.len, (char *)r.body.data);
    const char *loc = api_response_header_get(&r, "Location");
    CHECK(loc && !strncmp(loc, "/studies/", 9), "Location: %s", loc ? loc : "(none)");
    CHECK(r.body.len && memmem(r.body.data, r.body.len, "00081199", 8), "Store Instances Response");
    CHECK(store_rows() == 4, "stored: %zu rows", store_rows());
    char sop[80] = "";
    if (loc) {
        const char *p = strstr(loc, "/instances/");
        if (p)
            snprintf(sop, sizeof sop, "%s", p + 11);
    }
    char segpath[PATH_MAX] = "";
    char seg_series[80] = "";
    if (loc) {
        const char *a = strstr(loc, "/series/") + 8, *b = strstr(loc, "/instances/");
        snprintf(seg_series, sizeof seg_series, "%.*s", (int)(b - a), a);
    }
    CHECK(store_instance_path(ctx.store, study, seg_series, sop, segpath, sizeof segpath, &e), "path: %s", e.msg);
    struct seg_index *idx = decoder_seg_open(segpath, NULL, &e);
    CHECK(idx, "read back: %s", e.msg);
    if (idx) {
        CHECK(!strcmp(idx->sop_class_uid, SEG_SOP_CLASS_SEGMENTATION), "class");
        CHECK(!strcmp(idx->study_uid, study), "study");
        CHECK(idx->number_of_frames == 2, "frames %u", idx->number_of_frames);
        CHECK(idx->n_segments == 1 && idx->segments[0].rgb[0] == 221 && idx->segments[0].rgb[1] == 130 &&
                  idx->segments[0].rgb[2] == 101, "segment colour");
        for (uint32_t f = 1; f <= idx->number_of_frames; f++) {
            struct seg_pixels px;
            CHECK(decoder_frame_read(idx, f, &px, &e), "frame %u: %s", f, e.msg);
            int k = f == 1 ? 0 : 2;
            size_t diff = 0;
            for (size_t i = 0; i < (size_t)ROWS * COLS; i++) {
                unsigned bit = (px.data[i >> 3] >> (i & 7)) & 1;
                diff += bit != vox[(size_t)k * COLS * ROWS + i];
            }
            CHECK(diff == 0, "frame %u: %zu pixels differ", f, diff);
            decoder_pixels_free(&px);
        }
        decoder_seg_free(idx);
    }
    api_response_free(&r);

    /* 2. PNG masks named by Content-Location (8-bit grey, values = labelID) */
    buf_free(&body);
    part(&body, "Content-Type: application/json", META, strlen(META));
    for (size_t s = 0; s < 3; s++) {
        struct seg_pixels px = {ROWS, COLS, 8, vox + s * COLS * ROWS, (size_t)COLS * ROWS};
        struct buf png = {0};
        CHECK(decoder_png_gray(&px, &png, &e), "png: %s", e.msg);
        char h[200];
        snprintf(h, sizeof h, "Content-Type: image/png\r\nContent-Location: %s", writer_source_instance_uid(src, s));
        part(&body, h, png.data, png.len);
        buf_free(&png);
    }
    appends(&body, "--" BOUNDARY "--\r\n");
    post(target, ct, &body, &r);
    CHECK(r.status == 201, "PNG post: %d %.*s", r.status, (int)r.body.len, (char *)r.body.data);
    CHECK(store_rows() == 5, "stored: %zu rows", store_rows());
    api_response_free(&r);

    /* 3. grid mismatch: 24 columns -> 422 naming the sizes, nothing stored */
    buf_free(&body);
    buf_free(&vol);
    static uint8_t vox24[24 * ROWS * 3];
    vox24[10] = 1;
    nrrd(&vol, src, vox24, 24, origin);
    part(&body, "Content-Type: application/json", META, strlen(META));
    part(&body, "Content-Type: application/x-nrrd", vol.data, vol.len);
    appends(&body, "--" BOUNDARY "--\r\n");
    post(target, ct, &body, &r);
    CHECK(r.status == 422, "mismatch: %d", r.status);
    CHECK(r.body.len && memmem(r.body.data, r.body.len, "23", 2), "names the size: %.*s", (int)r.body.len,
          (char *)r.body.data);
    CHECK(store_rows() == 5, "nothing stored");
    api_response_free(&r);

    /* 4. a series that is not in the store -> 404 */
    char other[512];
    snprintf(other, sizeof other, "/studies/%s/series/1.2.3.4/segmentations", study);
    post(other, ct, &body, &r);
    CHECK(r.status == 404, "unknown series: %d", r.status);
    api_response_free(&r);

    /* 5. no metadata part -> 400; 6. not multipart -> 415 */
    buf_free(&body);
    part(&body, "Content-Type: application/x-nrrd", vol.data, vol.len);
    appends(&body, "--" BOUNDARY "--\r\n");
    post(target, ct, &body, &r);
    CHECK(r.status == 400, "no JSON: %d", r.status);
    api_response_free(&r);
    post(target, "application/json", &body, &r);
    CHECK(r.status == 415, "not multipart: %d", r.status);
    api_response_free(&r);
    CHECK(store_rows() == 5, "nothing stored by the failures");

    buf_free(&body);
    buf_free(&vol);
    writer_source_free(src);
    store_close(ctx.store);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        printf("could not remove %s\n", dir);
    return check_done();
}
