/* decoder/transcode_dcmtk.cc and decoder/attrs.c: an Implicit VR LE SEG and a
 * CT re-encoded as Explicit VR LE keep their UIDs and read back in the new
 * syntax; a JPEG 2000 SEG cannot be (no decoder registered): ERR_UNSUPPORTED;
 * the attributes of a CT source image (not a SEG) are read like a SEG's. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "decoder/attrs.h"
#include "decoder/transcode.h"
#include "tests/unit/check.h"

int main(void)
{
    const char *td = check_testdata();
    if (!td) {
        printf("SKIP: no test corpus\n");
        return 0;
    }
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

    snprintf(in, sizeof in, "%s/seg/pyd_liver_j2k.dcm", td);
    e = (struct err)ERR_INIT;
    CHECK(!decoder_transcode(in, DECODER_TS_EXPLICIT_LE, out, 0, &e) && e.code == ERR_UNSUPPORTED, "%s", e.msg);
    e = (struct err)ERR_INIT;
    CHECK(!decoder_transcode(in, "1.2.840.10008.1.2.4.90", out, 0, &e) && e.code == ERR_UNSUPPORTED, "%s", e.msg);

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
