/* decoder/transcode_dcmtk.cc, transcode_seg.c and decoder/attrs.c: an Implicit VR
 * LE SEG and a CT re-encoded as Explicit VR LE keep their UIDs and read back in the
 * new syntax; every compressed SEG of the corpus comes out as Explicit VR LE with
 * the Pixel Data value of its uncompressed twin, byte for byte (the twins were
 * written by dcmqi / highdicom / pydicom, and MANIFEST.md checked their frame
 * hashes equal); a corrupt JPEG 2000 frame is ERR_INVALID naming the frame; a
 * syntax that cannot be produced is ERR_UNSUPPORTED; decoder_bulkdata gives the
 * twin's Pixel Data for a compressed SEG and an ICC profile's bytes as the file
 * holds them; the attributes of a CT source image (not a SEG) are read like a
 * SEG's. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "decoder/attrs.h"
#include "decoder/dataset.h"
#include "decoder/transcode.h"
#include "tests/unit/check.h"

/* Pixel Data of a file, native (malloc'd), or NULL. */
static uint8_t *pixels_of(const char *path, size_t *len)
{
    struct err e = ERR_INIT;
    struct dataset_file *f = dataset_open(path, &e);
    struct dataset_pixel_info pi;
    uint8_t *p = f && dataset_pixel_info(f, &pi, &e) && pi.present && !pi.encapsulated ? dataset_pixel_copy(f, len, &e)
                                                                                       : NULL;
    dataset_close(f);
    return p;
}

/* compressed transcoded to Explicit VR LE holds twin's Pixel Data (an odd-length
 * value may carry one pad byte more). */
static void check_twin(const char *td, const char *compressed, const char *twin, const char *out)
{
    char in[1024], ref[1024];
    snprintf(in, sizeof in, "%s/seg/%s", td, compressed);
    snprintf(ref, sizeof ref, "%s/seg/%s", td, twin);
    struct err e = ERR_INIT;
    CHECK(decoder_transcode(in, DECODER_TS_EXPLICIT_LE, out, 0, &e), "%s: %s", compressed, e.msg);
    struct decoder_attrs a;
    CHECK(decoder_attrs_read(out, &a, &e) && !strcmp(a.transfer_syntax_uid, DECODER_TS_EXPLICIT_LE), "%s: %s",
          compressed, a.transfer_syntax_uid);
    size_t n1 = 0, n2 = 0;
    uint8_t *got = pixels_of(out, &n1), *want = pixels_of(ref, &n2);
    CHECK(got && want, "%s: Pixel Data not native", compressed);
    if (got && want) {
        size_t n = n1 < n2 ? n1 : n2;
        CHECK((n1 == n2 || n1 + 1 == n2 || n2 + 1 == n1) && !memcmp(got, want, n), "%s: %zu vs %zu bytes, differ",
              compressed, n1, n2);
    }
    free(got);
    free(want);
}

int main(void)
{
    const char *td = check_corpus();
    char in[1024], out[] = "/tmp/segweb-transcode-XXXXXX";
    int fd = mkstemp(out);
    close(fd);
    struct decoder_attrs a, b;
    struct err e = ERR_INIT;

    snprintf(in, sizeof in, "%s/seg/hd_ct_binary.dcm", td);
    CHECK(decoder_attrs_read(in, &a, &e), "%s", e.msg);
    CHECK(!strcmp(a.transfer_syntax_uid, DECODER_TS_IMPLICIT_LE), "%s", a.transfer_syntax_uid);
    CHECK(decoder_transcode(in, DECODER_TS_EXPLICIT_LE, out, 0, &e), "%s", e.msg);
    CHECK(decoder_attrs_read(out, &b, &e), "%s", e.msg);
    CHECK(!strcmp(b.transfer_syntax_uid, DECODER_TS_EXPLICIT_LE), "%s", b.transfer_syntax_uid);
    CHECK(!strcmp(a.sop_uid, b.sop_uid) && !strcmp(a.study_uid, b.study_uid) && a.frames == b.frames &&
              !strcmp(b.modality, "SEG"),
          "UIDs or frames changed");

    e = (struct err)ERR_INIT;
    CHECK(!decoder_transcode(in, DECODER_TS_EXPLICIT_LE, out, 100, &e) && e.code == ERR_LIMIT, "%s", e.msg);

    static const char *const twins[][2] = {
        {"pyd_liver_rle.dcm", "dcmqi_liver.dcm"},
        {"pyd_liver_j2k.dcm", "dcmqi_liver.dcm"},
        {"pyd_liver_deflate_frames.dcm", "dcmqi_liver.dcm"},
        {"pyd_liver_nonbyte_aligned_rle.dcm", "pyd_liver_nonbyte_aligned.dcm"},
        {"pyd_liver_nonbyte_aligned_j2k.dcm", "pyd_liver_nonbyte_aligned.dcm"},
        {"pyd_liver_nonbyte_aligned_deflate_frames.dcm", "pyd_liver_nonbyte_aligned.dcm"},
        {"dcmtk_jpls_hd_sm_control_labelmap.dcm", "hd_sm_control_labelmap.dcm"},
        {"dcmtk_rle_hd_sm_control_labelmap_palette.dcm", "hd_sm_control_labelmap_palette.dcm"},
        {"dcmtk_deflated_dcmqi_38x23_odd.dcm", "dcmqi_38x23_odd.dcm"},
    };
    for (size_t i = 0; i < sizeof twins / sizeof twins[0]; i++)
        check_twin(td, twins[i][0], twins[i][1], out);

    /* bulk data: Pixel Data decoded, packed as the native twin has it */
    {
        char ref[1024];
        snprintf(in, sizeof in, "%s/seg/pyd_liver_nonbyte_aligned_rle.dcm", td);
        snprintf(ref, sizeof ref, "%s/seg/pyd_liver_nonbyte_aligned.dcm", td);
        struct buf b = {0};
        size_t n = 0;
        uint8_t *want = pixels_of(ref, &n);
        e = (struct err)ERR_INIT;
        CHECK(decoder_bulkdata(in, 0x7FE00010u, 0, &b, &e), "%s", e.msg);
        CHECK(want && b.len >= n - 1 && b.len <= n + 1 && !memcmp(b.data, want, b.len < n ? b.len : n),
              "bulk Pixel Data: %zu vs %zu bytes", b.len, n);
        free(want);
        buf_free(&b);
        /* another top-level value: the ICC profile, found verbatim in the file */
        snprintf(in, sizeof in, "%s/seg/hd_sm_control_labelmap_palette.dcm", td);
        e = (struct err)ERR_INIT;
        CHECK(decoder_bulkdata(in, 0x00282000u, 0, &b, &e) && b.len == 60960, "ICC: %zu %s", b.len, e.msg);
        FILE *fp = fopen(in, "rb");
        static uint8_t file[1 << 17];
        size_t fl = fp ? fread(file, 1, sizeof file, fp) : 0;
        if (fp)
            fclose(fp);
        CHECK(b.len && memmem(file, fl, b.data, b.len), "ICC bytes not in the file");
        buf_free(&b);
        e = (struct err)ERR_INIT;
        CHECK(!decoder_bulkdata(in, 0x00091234u, 0, &b, &e) && e.code == ERR_NOT_FOUND, "%s", e.msg);
        buf_free(&b);
    }

    snprintf(in, sizeof in, "%s/seg/pyd_liver_j2k.dcm", td);
    e = (struct err)ERR_INIT;
    CHECK(!decoder_transcode(in, "1.2.840.10008.1.2.4.90", out, 0, &e) && e.code == ERR_UNSUPPORTED, "%s", e.msg);
    e = (struct err)ERR_INIT;
    CHECK(!decoder_transcode(in, DECODER_TS_EXPLICIT_LE, out, 1000, &e) && e.code == ERR_LIMIT, "%s", e.msg);

    /* the last frame's codestream overwritten with 0xFF: refused, not a short value */
    char bad[] = "/tmp/segweb-transcode-bad-XXXXXX";
    int bfd = mkstemp(bad);
    FILE *src = fopen(in, "rb");
    static uint8_t bytes[1 << 16];
    size_t blen = src ? fread(bytes, 1, sizeof bytes, src) : 0;
    if (src)
        fclose(src);
    CHECK(blen > 2000, "read %s", in);
    memset(bytes + blen - 900, 0xFF, 600); /* inside the last, 1048-byte fragment */
    CHECK(write(bfd, bytes, blen) == (ssize_t)blen, "write %s", bad);
    close(bfd);
    e = (struct err)ERR_INIT;
    CHECK(!decoder_transcode(bad, DECODER_TS_EXPLICIT_LE, out, 0, &e) && e.code == ERR_INVALID &&
              strstr(e.msg, "frame 3"),
          "corrupt frame: code %d %s", e.code, e.msg);
    unlink(bad);

    snprintf(in, sizeof in, "%s/source/pydicom_ct2", td);
    char ct[1100] = "";
    FILE *p = popen("ls -1 \"$SEGWEB_TESTDATA\"/source/pydicom_ct2/* | head -1", "r");
    if (p && fgets(ct, sizeof ct, p))
        ct[strcspn(ct, "\n")] = 0;
    if (p)
        pclose(p);
    e = (struct err)ERR_INIT;
    CHECK(*ct && decoder_attrs_read(ct, &a, &e), "%s: %s", ct, e.msg);
    CHECK(!strcmp(a.modality, "CT") && a.rows > 0 && a.columns > 0 && a.frames == 1 && a.study_uid[0],
          "CT attributes: modality '%s' %ux%u frames %u", a.modality, a.rows, a.columns, a.frames);
    e = (struct err)ERR_INIT;
    CHECK(decoder_transcode(ct, DECODER_TS_EXPLICIT_BE, out, 0, &e), "%s", e.msg);
    CHECK(decoder_attrs_read(out, &b, &e) && !strcmp(b.transfer_syntax_uid, DECODER_TS_EXPLICIT_BE), "%s",
          b.transfer_syntax_uid);

    e = (struct err)ERR_INIT;
    CHECK(!decoder_attrs_read("/nonexistent.dcm", &a, &e), "missing file");
    unlink(out);
    return check_done();
}
