/* The render/ DCMTK bridge: source images through dcmimgle/dcmimage. The only
 * render/ file that includes DCMTK (../shared/DESIGN.md). Every entry point
 * catches C++ exceptions; OFCondition becomes struct err in one helper.
 *
 * Why DCMTK's pipeline rather than our own arithmetic: it already does the
 * modality LUT (Rescale Slope/Intercept, Modality LUT Sequence), the VOI stage
 * (windows with the LINEAR and SIGMOID functions, VOI LUT sequences, min-max),
 * MONOCHROME1 polarity, and colour models (YBR_*, PALETTE COLOR -> RGB), and it
 * decodes JPEG and RLE through its registered codecs. JPEG 2000 (no DCMTK codec)
 * and JPEG-LS (DCMTK's codec clashes with the system CharLS, decoder/CMakeLists.txt)
 * are decoded by OpenJPEG / segweb's codec into a native single-frame dataset.
 * LINEAR_EXACT is not in DCMTK 3.6.7: it equals LINEAR with center + 0.5 and
 * width + 1 (PS3.3 C.11.2.1.3.2 vs C.11.2.1.2.1), which is what we ask for.
 *
 * Only the frame asked for is read (CIF_UsePartialAccessToPixelData); values
 * longer than kMaxReadLength stay on disk until then. */
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <string>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dccodec.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>
#include <dcmtk/dcmdata/dctk.h>
#include <dcmtk/dcmimage/diregist.h>
#include <dcmtk/dcmimgle/dcmimage.h>

#include "decoder/decoder.h"
#include "render/render.h"

namespace {

const Uint32 kMaxReadLength = 4096;
const uint64_t kDefaultMaxPixels = 1ull << 26;

/* DCMTK's decoders, registered once for every bridge (decoder/transcode.h) */
void setup()
{
    decoder_dcmtk_codecs_register();
}

bool cond_err(struct err *e, enum err_code code, const char *what, const OFCondition &c)
{
    return err_set(e, code, "%s: %s", what, c.text());
}

void copy_string(DcmItem *it, const DcmTagKey &tag, char *dst, size_t n)
{
    OFString v;
    dst[0] = 0;
    if (it && it->findAndGetOFString(tag, v).good())
        snprintf(dst, n, "%s", v.c_str());
}

bool get_doubles(DcmItem *it, const DcmTagKey &tag, double *out, unsigned long n)
{
    if (!it)
        return false;
    for (unsigned long i = 0; i < n; i++) {
        Float64 v;
        if (it->findAndGetFloat64(tag, v, i).bad())
            return false;
        out[i] = v;
    }
    return true;
}

/* First item of a sequence in item `it`, or NULL. */
DcmItem *first_item(DcmItem *it, const DcmTagKey &seq)
{
    DcmItem *out = NULL;
    if (it && it->findAndGetSequenceItem(seq, out, 0).good())
        return out;
    return NULL;
}

/* Enhanced objects keep geometry in functional groups: frame 1's item, then shared. */
DcmItem *group_item(DcmDataset *ds, const DcmTagKey &macro)
{
    DcmItem *pf = first_item(ds, DCM_PerFrameFunctionalGroupsSequence);
    DcmItem *m = first_item(pf, macro);
    if (!m)
        m = first_item(first_item(ds, DCM_SharedFunctionalGroupsSequence), macro);
    return m;
}

bool load(const char *path, DcmFileFormat &ff, struct err *e)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return err_set(e, ERR_NOT_FOUND, "cannot open %s", path);
    fclose(f);
    OFCondition c = ff.loadFile(path, EXS_Unknown, EGL_noChange, kMaxReadLength, ERM_autoDetect);
    if (c.bad())
        return cond_err(e, ERR_INVALID, "not a readable DICOM file", c);
    return true;
}

void probe_dataset(DcmDataset *ds, struct render_source_info *out)
{
    memset(out, 0, sizeof *out);
    copy_string(ds, DCM_SOPClassUID, out->sop_class_uid, sizeof out->sop_class_uid);
    copy_string(ds, DCM_SOPInstanceUID, out->sop_instance_uid, sizeof out->sop_instance_uid);
    copy_string(ds, DCM_StudyInstanceUID, out->study_uid, sizeof out->study_uid);
    copy_string(ds, DCM_SeriesInstanceUID, out->series_uid, sizeof out->series_uid);
    copy_string(ds, DCM_FrameOfReferenceUID, out->frame_of_reference_uid,
                sizeof out->frame_of_reference_uid);
    copy_string(ds, DCM_Modality, out->modality, sizeof out->modality);
    copy_string(ds, DCM_PhotometricInterpretation, out->photometric, sizeof out->photometric);
    Uint16 u16;
    if (ds->findAndGetUint16(DCM_Rows, u16).good())
        out->rows = u16;
    if (ds->findAndGetUint16(DCM_Columns, u16).good())
        out->columns = u16;
    out->samples_per_pixel = ds->findAndGetUint16(DCM_SamplesPerPixel, u16).good() ? u16 : 1;
    Sint32 nf = 1;
    if (ds->findAndGetSint32(DCM_NumberOfFrames, nf).bad() || nf < 1)
        nf = 1;
    out->frames = (uint32_t)nf;
    out->has_pixels = ds->tagExists(DCM_PixelData) || ds->tagExists(DCM_FloatPixelData) ||
                      ds->tagExists(DCM_DoubleFloatPixelData);

    DcmItem *pos = group_item(ds, DCM_PlanePositionSequence);
    out->has_position = get_doubles(ds, DCM_ImagePositionPatient, out->position, 3) ||
                        get_doubles(pos, DCM_ImagePositionPatient, out->position, 3);
    DcmItem *ori = group_item(ds, DCM_PlaneOrientationSequence);
    out->has_orientation = get_doubles(ds, DCM_ImageOrientationPatient, out->orientation, 6) ||
                           get_doubles(ori, DCM_ImageOrientationPatient, out->orientation, 6);
    DcmItem *pm = group_item(ds, DCM_PixelMeasuresSequence);
    out->has_spacing = get_doubles(ds, DCM_PixelSpacing, out->spacing, 2) ||
                       get_doubles(pm, DCM_PixelSpacing, out->spacing, 2);
    if (!get_doubles(ds, DCM_SliceThickness, &out->slice_thickness, 1))
        (void)get_doubles(pm, DCM_SliceThickness, &out->slice_thickness, 1);

    DcmItem *pvt = group_item(ds, DCM_PixelValueTransformationSequence);
    if (!get_doubles(ds, DCM_RescaleSlope, &out->rescale_slope, 1) &&
        !get_doubles(pvt, DCM_RescaleSlope, &out->rescale_slope, 1))
        out->rescale_slope = 1;
    if (!get_doubles(ds, DCM_RescaleIntercept, &out->rescale_intercept, 1) &&
        !get_doubles(pvt, DCM_RescaleIntercept, &out->rescale_intercept, 1))
        out->rescale_intercept = 0;

    DcmItem *voi = ds->tagExists(DCM_WindowCenter) ? ds : group_item(ds, DCM_FrameVOILUTSequence);
    copy_string(voi, DCM_VOILUTFunction, out->voi_function, sizeof out->voi_function);
    for (unsigned long i = 0; voi && i < RENDER_MAX_WINDOWS; i++) {
        Float64 c, w;
        if (voi->findAndGetFloat64(DCM_WindowCenter, c, i).bad() ||
            voi->findAndGetFloat64(DCM_WindowWidth, w, i).bad())
            break;
        struct render_window_preset *p = &out->windows[out->n_windows++];
        p->center = c;
        p->width = w;
        OFString ex;
        if (voi->findAndGetOFString(DCM_WindowCenterWidthExplanation, ex, i).good())
            snprintf(p->explanation, sizeof p->explanation, "%s", ex.c_str());
    }
}

bool is_seg_class(const char *uid)
{
    return !strcmp(uid, "1.2.840.10008.5.1.4.1.1.66.4") || !strcmp(uid, "1.2.840.10008.5.1.4.1.1.66.7");
}

bool is_j2k(E_TransferSyntax x)
{
    return x == EXS_JPEG2000LosslessOnly || x == EXS_JPEG2000 ||
           x == EXS_JPEG2000MulticomponentLosslessOnly || x == EXS_JPEG2000Multicomponent;
}

/* A new single-frame native dataset holding every attribute of ds but Pixel Data,
 * and the decoded frame (rows x columns x comps samples of `bytes` bytes, host
 * order; data is taken and freed). NULL with e set. */
DcmDataset *native_dataset(DcmDataset *ds, uint32_t rows, uint32_t columns, uint32_t comps, uint32_t bytes,
                           void *data, size_t len, struct err *e)
{
    DcmDataset *out = new DcmDataset;
    for (unsigned long i = 0; i < ds->card(); i++) {
        DcmElement *x = ds->getElement(i);
        if (x && x->getTag() != DCM_PixelData)
            out->insert(static_cast<DcmElement *>(x->clone()), true);
    }
    out->putAndInsertString(DCM_NumberOfFrames, "1");
    out->putAndInsertUint16(DCM_Rows, (Uint16)rows);
    out->putAndInsertUint16(DCM_Columns, (Uint16)columns);
    out->putAndInsertUint16(DCM_SamplesPerPixel, (Uint16)comps);
    out->putAndInsertUint16(DCM_BitsAllocated, (Uint16)(bytes * 8));
    Uint16 stored = 0;
    if (out->findAndGetUint16(DCM_BitsStored, stored).bad() || stored > bytes * 8) {
        out->putAndInsertUint16(DCM_BitsStored, (Uint16)(bytes * 8));
        out->putAndInsertUint16(DCM_HighBit, (Uint16)(bytes * 8 - 1));
    }
    if (comps == 3) { /* OpenJPEG undoes the RCT/ICT */
        out->putAndInsertString(DCM_PhotometricInterpretation, "RGB");
        out->putAndInsertUint16(DCM_PlanarConfiguration, 0);
    }
    OFCondition c = bytes == 2
        ? out->putAndInsertUint16Array(DCM_PixelData, static_cast<const Uint16 *>(data), (unsigned long)(len / 2))
        : out->putAndInsertUint8Array(DCM_PixelData, static_cast<const Uint8 *>(data), (unsigned long)len);
    free(data);
    if (c.bad()) {
        delete out;
        cond_err(e, ERR_NOMEM, "cannot hold the decoded frame", c);
        return NULL;
    }
    return out;
}

/* JPEG 2000 (no DCMTK codec): frame `frame` decoded with OpenJPEG into a new
 * single-frame native dataset holding every other attribute of ds. */
DcmDataset *j2k_frame(DcmDataset *ds, E_TransferSyntax xfer, uint32_t frame, uint32_t frames,
                      uint64_t max_pixels, struct err *e)
{
    DcmElement *el = NULL;
    DcmPixelSequence *seq = NULL;
    if (ds->findAndGetElement(DCM_PixelData, el).bad() || !el ||
        static_cast<DcmPixelData *>(el)->getEncapsulatedRepresentation(xfer, NULL, seq).bad() || !seq) {
        err_set(e, ERR_INVALID, "JPEG 2000: no encapsulated Pixel Data");
        return NULL;
    }
    Uint32 first = 0, next = 0;
    if (DcmCodec::determineStartFragment(frame - 1, (Sint32)frames, seq, first).bad()) {
        err_set(e, ERR_INVALID, "JPEG 2000: cannot find the fragments of frame %u", frame);
        return NULL;
    }
    if (frame >= frames || DcmCodec::determineStartFragment(frame, (Sint32)frames, seq, next).bad())
        next = (Uint32)seq->card();
    std::string bytes;
    for (Uint32 k = first; k < next && k < seq->card(); k++) {
        DcmPixelItem *item = NULL;
        Uint8 *p = NULL;
        if (seq->getItem(item, k).bad() || !item || item->getUint8Array(p).bad()) {
            err_set(e, ERR_INVALID, "JPEG 2000: unreadable fragment %u", (unsigned)k);
            return NULL;
        }
        if (p)
            bytes.append(reinterpret_cast<const char *>(p), item->getLength());
    }
    struct decoder_j2k_image img;
    if (!decoder_j2k_image_decode(reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size(), max_pixels, &img, e))
        return NULL;
    return native_dataset(ds, img.height, img.width, img.comps, img.bytes, img.data, img.len, e);
}

/* JPEG-LS (DCMTK's codec is not linked: its bundled CharLS clashes with the system
 * one, decoder/CMakeLists.txt): frame `frame` decoded by segweb's own codec through
 * decoder_image_frame (one sample per pixel), as a single-frame native dataset. */
DcmDataset *jls_frame(const char *path, DcmDataset *ds, uint32_t frame, struct err *e)
{
    Uint16 rows = 0, columns = 0, bits = 0;
    ds->findAndGetUint16(DCM_Rows, rows);
    ds->findAndGetUint16(DCM_Columns, columns);
    ds->findAndGetUint16(DCM_BitsAllocated, bits);
    struct buf b = {};
    uint32_t n_frames = 0;
    if (!decoder_image_frame(path, frame, 0, &b, &n_frames, e)) {
        buf_free(&b);
        return NULL;
    }
    size_t bytes = bits > 8 ? 2 : 1;
    if (b.len != (size_t)rows * columns * bytes) {
        buf_free(&b);
        err_set(e, ERR_UNSUPPORTED, "JPEG-LS: only one sample per pixel is decoded");
        return NULL;
    }
    if (bytes == 2 && gLocalByteOrder == EBO_BigEndian) /* little endian to host order */
        swapBytes(b.data, (Uint32)b.len, sizeof(Uint16));
    size_t len = 0;
    uint8_t *data = buf_steal(&b, &len);
    return native_dataset(ds, rows, columns, 1, (uint32_t)bytes, data, len, e);
}

bool frame_impl(const char *path, uint32_t frame, const struct render_window *win,
                const struct render_limits *limits, struct render_image *out, struct err *e)
{
    setup();
    memset(out, 0, sizeof *out);
    DcmFileFormat ff;
    if (!load(path, ff, e))
        return false;
    DcmDataset *ds = ff.getDataset();
    struct render_source_info info;
    probe_dataset(ds, &info);
    if (is_seg_class(info.sop_class_uid))
        return err_set(e, ERR_UNSUPPORTED, "this is a Segmentation, not a source image");
    if (!info.has_pixels)
        return err_set(e, ERR_UNSUPPORTED, "the object has no pixel data (SOP class %s)",
                       info.sop_class_uid[0] ? info.sop_class_uid : "unknown");
    if (frame < 1 || frame > info.frames)
        return err_set(e, ERR_NOT_FOUND, "frame %u out of range 1..%u", frame, info.frames);
    uint64_t max_pixels = limits && limits->max_pixels ? limits->max_pixels : kDefaultMaxPixels;
    if ((uint64_t)info.rows * info.columns > max_pixels)
        return err_set(e, ERR_LIMIT, "a %ux%u frame exceeds the limit of %llu pixels", info.rows,
                       info.columns, (unsigned long long)max_pixels);

    E_TransferSyntax xfer = ds->getOriginalXfer();
    std::unique_ptr<DcmDataset> decoded;
    if (is_j2k(xfer) || xfer == EXS_JPEGLSLossless || xfer == EXS_JPEGLSLossy) {
        decoded.reset(is_j2k(xfer) ? j2k_frame(ds, xfer, frame, info.frames, max_pixels, e)
                                   : jls_frame(path, ds, frame, e));
        if (!decoded)
            return false;
    }
    DicomImage img(decoded ? static_cast<DcmObject *>(decoded.get()) : &ff,
                   decoded ? EXS_LittleEndianExplicit : xfer, CIF_UsePartialAccessToPixelData,
                   decoded ? 0 : frame - 1, 1);
    if (img.getStatus() != EIS_Normal) {
        DcmXfer x(xfer);
        return err_set(e, img.getStatus() == EIS_NotSupportedValue ? ERR_UNSUPPORTED : ERR_INVALID,
                       "cannot render (%s, transfer syntax %s): %s",
                       info.photometric[0] ? info.photometric : "no photometric interpretation",
                       x.getXferName(), DicomImage::getString(img.getStatus()));
    }
    bool mono = img.isMonochrome();
    out->window_source = "none";
    if (mono) {
        bool ok;
        if (win && win->set) {
            double c = win->center, w = win->width;
            EF_VoiLutFunction fn = EFV_Linear;
            if (win->function == RENDER_VOI_LINEAR_EXACT) {
                c += 0.5;
                w += 1;
            } else if (win->function == RENDER_VOI_SIGMOID) {
                fn = EFV_Sigmoid;
            }
            ok = img.setVoiLutFunction(fn) && img.setWindow(c, w);
            out->window_source = "query";
            out->center = win->center;
            out->width = win->width;
        } else if (img.getWindowCount() > 0) {
            ok = img.setWindow(0);
            out->window_source = "object";
            out->center = info.n_windows ? info.windows[0].center : 0;
            out->width = info.n_windows ? info.windows[0].width : 0;
        } else if (img.getVoiLutCount() > 0) {
            ok = img.setVoiLut(0);
            out->window_source = "voi-lut";
        } else {
            ok = img.setMinMaxWindow(0);
            out->window_source = "min-max";
            double c = 0, w = 0;
            if (ok && img.getWindow(c, w)) {
                out->center = c;
                out->width = w;
            }
        }
        if (!ok)
            return err_set(e, ERR_INVALID, "cannot set the VOI window");
        out->windowed = true;
    }
    uint32_t rows = (uint32_t)img.getHeight(), cols = (uint32_t)img.getWidth();
    unsigned channels = mono ? 1 : 3;
    size_t n = (size_t)rows * cols * channels;
    if (img.getOutputDataSize(8) != n)
        return err_set(e, ERR_INTERNAL, "rendered size %lu, expected %zu", img.getOutputDataSize(8), n);
    const void *px = img.getOutputData(8, 0, 0);
    if (!px)
        return err_set(e, ERR_INVALID, "cannot render the pixels: %s",
                       DicomImage::getString(img.getStatus()));
    out->data = static_cast<uint8_t *>(malloc(n ? n : 1));
    if (!out->data)
        return err_set(e, ERR_NOMEM, "out of memory for a %ux%u image", rows, cols);
    memcpy(out->data, px, n);
    out->rows = rows;
    out->columns = cols;
    out->channels = (uint8_t)channels;
    return true;
}

}  // namespace

extern "C" bool render_source_probe(const char *path, struct render_source_info *out, struct err *e)
{
    try {
        setup();
        memset(out, 0, sizeof *out);
        DcmFileFormat ff;
        if (!load(path, ff, e))
            return false;
        probe_dataset(ff.getDataset(), out);
        return true;
    } catch (const std::bad_alloc &) {
        return err_set(e, ERR_NOMEM, "out of memory reading %s", path);
    } catch (...) {
        return err_set(e, ERR_INTERNAL, "unexpected exception reading %s", path);
    }
}

extern "C" bool render_source_frame(const char *path, uint32_t frame, const struct render_window *win,
                                    const struct render_limits *limits, struct render_image *out,
                                    struct err *e)
{
    try {
        if (frame_impl(path, frame, win, limits, out, e))
            return true;
    } catch (const std::bad_alloc &) {
        err_set(e, ERR_NOMEM, "out of memory rendering %s", path);
    } catch (...) {
        err_set(e, ERR_INTERNAL, "unexpected exception rendering %s", path);
    }
    render_image_free(out);
    return false;
}
