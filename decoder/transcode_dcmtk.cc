/* Transfer-syntax conversion (see transcode.h): a DCMTK bridge of its own.
 * Every entry point catches C++ exceptions; OFCondition becomes struct err.
 *
 * Compressed sources: a Segmentation's frames are decoded by segweb's own codecs
 * (transcode_seg.h: the same frame reader the SEG routes use, which knows 1-bit
 * RLE, JPEG 2000 and Deflated Image Frame Compression that DCMTK 3.6.7 does not)
 * and its encapsulated Pixel Data is replaced by the native value; any other
 * image in JPEG-LS or JPEG 2000 goes through segweb's codecs too (JPEG-LS: one
 * sample per pixel; JPEG 2000: decoder_j2k_image_decode, grey or RGB, signed too,
 * Photometric Interpretation RGB after the colour transform), in JPEG or RLE through DCMTK's
 * registered decoders. DCMTK's JPEG-LS codec is not registered: its bundled
 * CharLS has the system CharLS's symbol names with another ABI (a crash when
 * both are loaded). Nothing else of the data set is touched; the meta header
 * names the new syntax. */
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <string>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dccodec.h>
#include <dcmtk/dcmdata/dcfcache.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmdata/dctk.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/oflog/oflog.h>

#include "decoder/dcmtk_bounds.h"
#include "decoder/image_frames.h"
#include "decoder/j2k_image.h"
#include "decoder/transcode.h"
#include "decoder/transcode_image.h"
#include "decoder/transcode_seg.h"

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

/* The stored syntax as the meta header names it (DCMTK 3.6.7 does not know every
 * one, e.g. Deflated Image Frame Compression), else as DCMTK read it. */
OFString stored_ts(DcmFileFormat &ff)
{
    OFString ts;
    if (ff.getMetaInfo()->findAndGetOFString(DCM_TransferSyntaxUID, ts).bad() || ts.empty())
        ts = DcmXfer(ff.getDataset()->getOriginalXfer()).getXferID();
    return ts;
}

/* Whether Pixel Data is encapsulated (undefined length: a fragment sequence). */
bool encapsulated(DcmDataset *ds)
{
    DcmElement *el = NULL;
    if (ds->findAndGetElement(DCM_PixelData, el, OFFalse).bad() || !el)
        return false;
    return DcmXfer(ds->getOriginalXfer()).isEncapsulated() || el->getLengthField() == DCM_UndefinedLength;
}

bool put_native(DcmDataset *ds, uint8_t *data, size_t len, unsigned bits, struct err *e);

/* Replaces the SEG's encapsulated Pixel Data by the native value its frames decode
 * to: OB for 1 and 8 bits, OW for 16 (PS3.5 A.2). */
bool seg_to_native(const char *in_path, DcmDataset *ds, uint64_t max_bytes, struct err *e)
{
    struct transcode_native nat;
    if (!transcode_seg_native(in_path, max_bytes, &nat, e))
        return false;
    return put_native(ds, nat.data, nat.len, nat.bits, e);
}

bool file_size_check(const char *out_path, uint64_t max_bytes, struct err *e)
{
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
}


/* The bytes of frame `frame` (1-based): its fragments concatenated. */
bool frame_bytes(DcmDataset *ds, E_TransferSyntax xfer, uint32_t frame, uint32_t frames, std::string &bytes,
                 struct err *e)
{
    DcmElement *el = NULL;
    DcmPixelSequence *seq = NULL;
    if (ds->findAndGetElement(DCM_PixelData, el).bad() || !el ||
        static_cast<DcmPixelData *>(el)->getEncapsulatedRepresentation(xfer, NULL, seq).bad() || !seq)
        return err_set(e, ERR_INVALID, "no encapsulated Pixel Data");
    Uint32 first = 0, next = 0;
    if (DcmCodec::determineStartFragment(frame - 1, (Sint32)frames, seq, first).bad())
        return err_set(e, ERR_INVALID, "cannot find the fragments of frame %u", frame);
    if (frame >= frames || DcmCodec::determineStartFragment(frame, (Sint32)frames, seq, next).bad())
        next = (Uint32)seq->card();
    bytes.clear();
    for (Uint32 k = first; k < next && k < seq->card(); k++) {
        DcmPixelItem *item = NULL;
        Uint8 *p = NULL;
        if (seq->getItem(item, k).bad() || !item || item->getUint8Array(p).bad())
            return err_set(e, ERR_INVALID, "unreadable fragment %u", (unsigned)k);
        if (p)
            bytes.append(reinterpret_cast<const char *>(p), item->getLength());
    }
    return true;
}

/* Geometry of an image for segweb's codecs: 8 or 16 bits; one sample (JPEG-LS), or
 * one or three (JPEG 2000, whose colour transform OpenJPEG undoes). */
struct own_shape {
    Uint16 rows = 0, columns = 0, bits = 0, samples = 1;
    Sint32 frames = 1;
    bool j2k = false;
    size_t frame_bytes() const { return (size_t)rows * columns * samples * (bits / 8); }
};

bool own_shape_of(DcmDataset *ds, const OFString &ts, own_shape &sh, struct err *e)
{
    ds->findAndGetUint16(DCM_Rows, sh.rows);
    ds->findAndGetUint16(DCM_Columns, sh.columns);
    ds->findAndGetUint16(DCM_BitsAllocated, sh.bits);
    ds->findAndGetUint16(DCM_SamplesPerPixel, sh.samples);
    if (ds->findAndGetSint32(DCM_NumberOfFrames, sh.frames).bad() || sh.frames < 1)
        sh.frames = 1;
    sh.j2k = strstr(ts.c_str(), ".4.9") != NULL;
    bool samples_ok = sh.samples == 1 || (sh.j2k && sh.samples == 3 && sh.bits == 8);
    if (!sh.rows || !sh.columns || (sh.bits != 8 && sh.bits != 16) || !samples_ok)
        return err_set(e, ERR_UNSUPPORTED, "no decoder for %s images of %u samples, %u bits allocated",
                       DcmXfer(ts.c_str()).getXferName(), (unsigned)sh.samples, (unsigned)sh.bits);
    return true;
}

/* A JPEG 2000 frame through the decoder's whole-image reader (signed and colour
 * samples too, which the SEG frame codec refuses), checked against sh. */
bool j2k_frame(const std::string &bytes, const own_shape &sh, uint8_t *out, struct err *e)
{
    struct decoder_j2k_image img;
    if (!decoder_j2k_image_decode(reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size(),
                                  (uint64_t)sh.rows * sh.columns, &img, e))
        return false;
    bool ok = img.width == sh.columns && img.height == sh.rows && img.comps == sh.samples &&
              (img.bytes == sh.bits / 8 || (img.bytes == 1 && sh.bits == 16));
    if (!ok) {
        err_set(e, ERR_INVALID, "jpeg2000: stream is %ux%u, %u samples of %u bytes; the image %ux%u, %u of %u bits",
                img.width, img.height, img.comps, img.bytes, sh.columns, sh.rows, sh.samples, sh.bits);
    } else if (img.bytes == 1 && sh.bits == 16) { /* 8-bit precision in 16 allocated: widen */
        const uint8_t *in = static_cast<const uint8_t *>(img.data);
        for (size_t i = 0; i < img.len; i++) {
            Uint16 v = in[i];
            memcpy(out + 2 * i, &v, 2);
        }
    } else {
        memcpy(out, img.data, sh.frame_bytes());
    }
    free(img.data);
    return ok;
}

/* Frame `frame` decoded by segweb's codecs into out (sh.frame_bytes(), 16 bits in host order). */
bool own_frame(DcmDataset *ds, const OFString &ts, const own_shape &sh, uint32_t frame, uint8_t *out,
               struct err *e)
{
    std::string bytes;
    bool ok = frame_bytes(ds, ds->getOriginalXfer(), frame, (uint32_t)sh.frames, bytes, e);
    if (ok && sh.j2k)
        ok = j2k_frame(bytes, sh, out, e);
    else if (ok)
        ok = decoder_frame_decode(ts.c_str(), reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size(), sh.rows,
                                  sh.columns, sh.bits, out, sh.frame_bytes(), e);
    if (!ok)
        err_prefix(e, "frame %u", frame);
    return ok;
}

/* Replaces Pixel Data by the native value (OB for 8 bits, OW for 16; 16-bit data
 * in host order). Takes data (freed here). */
bool put_native(DcmDataset *ds, uint8_t *data, size_t len, unsigned bits, struct err *e)
{
    DcmPixelData *pd = new DcmPixelData(DcmTag(DCM_PixelData, bits == 16 ? EVR_OW : EVR_OB));
    OFCondition c = bits == 16 ? pd->putUint16Array((const Uint16 *)data, (unsigned long)(len / 2))
                               : pd->putUint8Array(data, (unsigned long)len);
    free(data);
    if (c.good())
        c = ds->insert(pd, OFTrue /* replace the encapsulated one */);
    if (c.bad()) {
        delete pd;
        return err_set(e, ERR_INTERNAL, "replacing Pixel Data: %s", c.text());
    }
    return true;
}

/* A JPEG-LS / JPEG 2000 image (not a SEG) made native by segweb's codecs. */
bool own_to_native(DcmDataset *ds, const OFString &ts, uint64_t max_bytes, struct err *e)
{
    own_shape sh;
    if (!own_shape_of(ds, ts, sh, e))
        return false;
    uint64_t len = (uint64_t)sh.frame_bytes() * (uint64_t)sh.frames;
    if (len > SIZE_MAX / 2 || (max_bytes && len > max_bytes))
        return err_set(e, ERR_LIMIT, "the decoded Pixel Data (%llu bytes) is over the limit",
                       (unsigned long long)len);
    uint8_t *data = (uint8_t *)malloc(len ? (size_t)len : 1);
    if (!data)
        return err_set(e, ERR_NOMEM, "out of memory for %llu bytes of Pixel Data", (unsigned long long)len);
    for (Sint32 f = 1; f <= sh.frames; f++)
        if (!own_frame(ds, ts, sh, (uint32_t)f, data + (size_t)(f - 1) * sh.frame_bytes(), e)) {
            free(data);
            return false;
        }
    if (sh.samples == 3) { /* OpenJPEG undid the RCT/ICT: the samples are RGB, interleaved */
        ds->putAndInsertString(DCM_PhotometricInterpretation, "RGB");
        ds->putAndInsertUint16(DCM_PlanarConfiguration, 0);
    }
    return put_native(ds, data, (size_t)len, sh.bits, e);
}

/* Pixel Data of ds made native in syntax `to` (an uncompressed one): a compressed
 * SEG by segweb's frame reader, JPEG-LS / JPEG 2000 images by segweb's codecs,
 * the rest by DCMTK's registered decoders. ERR_UNSUPPORTED when none decodes it. */
bool pixels_native(const char *in_path, DcmDataset *ds, const OFString &from, E_TransferSyntax to,
                   uint64_t max_bytes, struct err *e)
{
    OFString sop_class;
    ds->findAndGetOFString(DCM_SOPClassUID, sop_class);
    if (encapsulated(ds) && transcode_is_seg(sop_class.c_str())) {
        if (!seg_to_native(in_path, ds, max_bytes, e)) {
            err_prefix(e, "decoding the %s segmentation", DcmXfer(from.c_str()).getXferName());
            return false;
        }
    } else if (encapsulated(ds) && decoder_ts_own_codec(from.c_str())) {
        if (!own_to_native(ds, from, max_bytes, e)) {
            err_prefix(e, "decoding the %s image", DcmXfer(from.c_str()).getXferName());
            return false;
        }
    }
    OFCondition c = ds->chooseRepresentation(to, NULL);
    if (c.bad() || !ds->canWriteXfer(to))
        return err_set(e, ERR_UNSUPPORTED, "cannot convert %s (%s) to %s: no decoder for its pixel data",
                       DcmXfer(from.c_str()).getXferName(), from.c_str(), DcmXfer(to).getXferName());
    return true;
}

}  // namespace

extern "C" {

void decoder_dcmtk_codecs_register(void)
{
    static std::once_flag once;
    std::call_once(once, [] {
        OFLog::configure(OFLogger::OFF_LOG_LEVEL);
        DJDecoderRegistration::registerCodecs();
        DcmRLEDecoderRegistration::registerCodecs();
    });
}

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
        decoder_dcmtk_codecs_register();
        DcmFileFormat ff;
        OFCondition c = ff.loadFile(in_path, EXS_Unknown, EGL_noChange, DCM_MaxReadLength, ERM_autoDetect);
        if (c.bad())
            return err_set(e, ERR_INVALID, "not a readable DICOM file: %s", c.text());
        DcmDataset *ds = ff.getDataset();
        if (!dcmtk_values_fit_file(ds, in_path, ds->getOriginalXfer() == EXS_DeflatedLittleEndianExplicit, e))
            return false;
        OFString from = stored_ts(ff);
        if (!pixels_native(in_path, ds, from, to, max_bytes, e))
            return false;
        /* the meta header names the new syntax; the group length is recomputed */
        c = ff.saveFile(out_path, to, EET_ExplicitLength, EGL_recalcGL, EPD_noChange, 0, 0, EWM_updateMeta);
        if (c.bad()) {
            std::remove(out_path);
            return err_set(e, ERR_IO, "writing the re-encoded object: %s", c.text());
        }
        return file_size_check(out_path, max_bytes, e);
    } catch (const std::bad_alloc &) {
        return err_set(e, ERR_NOMEM, "out of memory re-encoding a DICOM object");
    } catch (...) {
        return err_set(e, ERR_INTERNAL, "unexpected error re-encoding a DICOM object");
    }
}

bool decoder_bulkdata(const char *path, uint32_t tag, uint64_t max_bytes, struct buf *out, struct err *e)
{
    try {
        decoder_dcmtk_codecs_register();
        DcmFileFormat ff;
        const DcmTagKey key((Uint16)(tag >> 16), (Uint16)(tag & 0xFFFF));
        const bool pixel = key == DCM_PixelData;
        /* Pixel Data may need decoding (whole); any other value is read from disk when asked */
        OFCondition c = ff.loadFile(path, EXS_Unknown, EGL_noChange, pixel ? DCM_MaxReadLength : 4096,
                                    ERM_autoDetect);
        if (c.bad())
            return err_set(e, ERR_INVALID, "not a readable DICOM file: %s", c.text());
        DcmDataset *ds = ff.getDataset();
        if (!dcmtk_values_fit_file(ds, path, ds->getOriginalXfer() == EXS_DeflatedLittleEndianExplicit, e))
            return false;
        DcmElement *el = NULL;
        if (ds->findAndGetElement(key, el, OFFalse /* top level only */).bad() || !el)
            return err_set(e, ERR_NOT_FOUND, "no element (%04X,%04X) at the top level of this object",
                           (unsigned)key.getGroup(), (unsigned)key.getElement());
        if (pixel) {
            if (!pixels_native(path, ds, stored_ts(ff), EXS_LittleEndianExplicit, max_bytes, e))
                return false;
            if (ds->findAndGetElement(key, el, OFFalse).bad() || !el)
                return err_set(e, ERR_INTERNAL, "Pixel Data vanished while decoding");
        } else if (el->isLeaf() == OFFalse || el->getLengthField() == DCM_UndefinedLength) {
            return err_set(e, ERR_NOT_FOUND, "(%04X,%04X) is not a bulk data value", (unsigned)key.getGroup(),
                           (unsigned)key.getElement());
        }
        Uint32 len = el->getLength(EXS_LittleEndianExplicit);
        if (max_bytes && len > max_bytes)
            return err_set(e, ERR_LIMIT, "a value of %u bytes is over the limit", (unsigned)len);
        size_t at = out->len;
        if (!buf_reserve(out, len, e))
            return false;
        if (len) {
            DcmFileCache cache;
            c = el->getPartialValue(out->data + at, 0, len, &cache, EBO_LittleEndian);
            if (c.bad())
                return err_set(e, ERR_INVALID, "cannot read (%04X,%04X): %s", (unsigned)key.getGroup(),
                               (unsigned)key.getElement(), c.text());
        }
        out->len = at + len;
        return true;
    } catch (const std::bad_alloc &) {
        return err_set(e, ERR_NOMEM, "out of memory reading bulk data");
    } catch (...) {
        return err_set(e, ERR_INTERNAL, "unexpected error reading bulk data");
    }
}

bool transcode_image_frame(const char *path, uint32_t frame, uint64_t max_bytes, struct buf *out,
                           struct err *e)
{
    try {
        decoder_dcmtk_codecs_register();
        DcmFileFormat ff;
        /* values over 4 KiB stay on disk: only this frame's fragments are read */
        OFCondition c = ff.loadFile(path, EXS_Unknown, EGL_noChange, 4096, ERM_autoDetect);
        if (c.bad())
            return err_set(e, ERR_INVALID, "not a readable DICOM file: %s", c.text());
        DcmDataset *ds = ff.getDataset();
        if (!dcmtk_values_fit_file(ds, path, ds->getOriginalXfer() == EXS_DeflatedLittleEndianExplicit, e))
            return false;
        OFString ts = stored_ts(ff);
        Sint32 frames = 1;
        if (ds->findAndGetSint32(DCM_NumberOfFrames, frames).bad() || frames < 1)
            frames = 1;
        if (frame < 1 || frame > (uint32_t)frames)
            return err_set(e, ERR_NOT_FOUND, "frame %u out of range 1..%d", frame, (int)frames);
        DcmElement *el = NULL;
        if (ds->findAndGetElement(DCM_PixelData, el, OFFalse).bad() || !el)
            return err_set(e, ERR_NOT_FOUND, "the object has no Pixel Data");
        DcmPixelData *pd = OFstatic_cast(DcmPixelData *, el);
        E_TransferSyntax xfer = ds->getOriginalXfer();
        if (decoder_ts_own_codec(ts.c_str())) {
            own_shape sh;
            if (!own_shape_of(ds, ts, sh, e)) {
                e->code = ERR_NOT_ACCEPTABLE; /* a shape our codecs do not take: like no decoder */
                return false;
            }
            if (max_bytes && sh.frame_bytes() > max_bytes)
                return err_set(e, ERR_LIMIT, "a decoded frame of %zu bytes is over the limit", sh.frame_bytes());
            size_t at = out->len;
            if (!buf_reserve(out, sh.frame_bytes(), e) || !own_frame(ds, ts, sh, frame, out->data + at, e))
                return false;
            if (sh.bits == 16 && gLocalByteOrder == EBO_BigEndian) /* host order to little endian */
                swapBytes(out->data + at, (Uint32)sh.frame_bytes(), sizeof(Uint16));
            out->len = at + sh.frame_bytes();
            return true;
        }
        if (!DcmCodecList::canChangeCoding(xfer, EXS_LittleEndianExplicit))
            return err_set(e, ERR_NOT_ACCEPTABLE, "no decoder for %s (%s): frames cannot be served uncompressed",
                           DcmXfer(ts.c_str()).getXferName(), ts.c_str());
        Uint32 size = 0;
        c = pd->getUncompressedFrameSize(ds, size);
        if (c.bad() || !size)
            return err_set(e, ERR_INVALID, "cannot size a frame: %s", c.text());
        if (max_bytes && size > max_bytes)
            return err_set(e, ERR_LIMIT, "a decoded frame of %u bytes is over the limit", (unsigned)size);
        Uint16 bits = 0;
        ds->findAndGetUint16(DCM_BitsAllocated, bits);
        size_t at = out->len;
        if (!buf_reserve(out, size, e))
            return false;
        Uint32 start = 0;
        OFString colour;
        c = pd->getUncompressedFrame(ds, frame - 1, start, out->data + at, size, colour, NULL);
        if (c.bad())
            return err_set(e, ERR_INVALID, "frame %u does not decode (%s): %s", frame, ts.c_str(), c.text());
        if (bits > 8 && gLocalByteOrder == EBO_BigEndian) /* samples come in host order */
            swapBytes(out->data + at, size, sizeof(Uint16));
        out->len = at + size;
        return true;
    } catch (const std::bad_alloc &) {
        return err_set(e, ERR_NOMEM, "out of memory decoding a frame");
    } catch (...) {
        return err_set(e, ERR_INTERNAL, "unexpected error decoding a frame");
    }
}

}  // extern "C"
