/* Transfer-syntax conversion (see transcode.h): a DCMTK bridge of its own.
 * Every entry point catches C++ exceptions; OFCondition becomes struct err. */
#include <cstdio>
#include <cstring>
#include <new>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>

#include "decoder/transcode.h"

namespace {

E_TransferSyntax xfer_of(const char *ts)
{
    if (!strcmp(ts, DECODER_TS_EXPLICIT_LE))
        return EXS_LittleEndianExplicit;
    if (!strcmp(ts, DECODER_TS_IMPLICIT_LE))
        return EXS_LittleEndianImplicit;
    if (!strcmp(ts, DECODER_TS_EXPLICIT_BE))
        return EXS_BigEndianExplicit;
    if (!strcmp(ts, DECODER_TS_DEFLATED))
        return EXS_DeflatedLittleEndianExplicit;
    return EXS_Unknown;
}

}  // namespace

extern "C" {

bool decoder_ts_uncompressed(const char *ts)
{
    return ts && xfer_of(ts) != EXS_Unknown;
}

bool decoder_transcode(const char *in_path, const char *ts, const char *out_path, uint64_t max_bytes,
                       struct err *e)
{
    try {
        E_TransferSyntax to = xfer_of(ts);
        if (to == EXS_Unknown)
            return err_set(e, ERR_UNSUPPORTED, "cannot produce transfer syntax %s", ts);
        DcmFileFormat ff;
        OFCondition c = ff.loadFile(in_path, EXS_Unknown, EGL_noChange, DCM_MaxReadLength, ERM_autoDetect);
        if (c.bad())
            return err_set(e, ERR_INVALID, "not a readable DICOM file: %s", c.text());
        DcmDataset *ds = ff.getDataset();
        c = ds->chooseRepresentation(to, NULL);
        if (c.bad() || !ds->canWriteXfer(to)) {
            DcmXfer from(ds->getOriginalXfer());
            return err_set(e, ERR_UNSUPPORTED, "cannot convert %s to %s (no decoder for its pixel data)",
                           from.getXferName(), DcmXfer(to).getXferName());
        }
        /* the meta header names the new syntax; the group length is recomputed */
        c = ff.saveFile(out_path, to, EET_ExplicitLength, EGL_recalcGL, EPD_noChange, 0, 0, EWM_updateMeta);
        if (c.bad()) {
            std::remove(out_path);
            return err_set(e, ERR_IO, "writing the re-encoded object: %s", c.text());
        }
        FILE *f = std::fopen(out_path, "rb");
        long size = -1;
        if (f && !std::fseek(f, 0, SEEK_END))
            size = std::ftell(f);
        if (f)
            std::fclose(f);
        if (size < 0 || (max_bytes && (uint64_t)size > max_bytes)) {
            std::remove(out_path);
            return err_set(e, size < 0 ? ERR_IO : ERR_LIMIT, "the re-encoded object is larger than %llu bytes",
                           (unsigned long long)max_bytes);
        }
        return true;
    } catch (const std::bad_alloc &) {
        return err_set(e, ERR_NOMEM, "out of memory re-encoding a DICOM object");
    } catch (...) {
        return err_set(e, ERR_INTERNAL, "unexpected error re-encoding a DICOM object");
    }
}

}  // extern "C"
