/* Writer bridge, part 2: the SEG data set, built with DCMTK's data set API
 * (not dcmseg: see writer/README.md) from the plain C description in
 * writer/bridge.h, and saved as a Part 10 file. The functional groups follow
 * what dcmqi writes: shared Plane Orientation and Pixel Measures; per frame
 * Derivation Image (Source Image Sequence, purpose 121322), Frame Content
 * (Dimension Index Values), Plane Position and Segment Identification. */
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <new>
#include <string>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>
#include <dcmtk/dcmiod/cielabutil.h>

#include "writer/bridge.h"
#include "writer/writer.h"

namespace {

struct Fail {
    enum err_code code;
    std::string msg;
};

void check(const OFCondition &c, const char *what)
{
    if (c.bad())
        throw Fail{ERR_INTERNAL, std::string(what) + ": " + c.text()};
}

DcmTagKey key(uint32_t tag)
{
    return DcmTagKey(static_cast<Uint16>(tag >> 16), static_cast<Uint16>(tag & 0xffff));
}

void put(DcmItem *it, const DcmTagKey &k, const char *v)
{
    check(it->putAndInsertString(k, v ? v : ""), DcmTag(k).getTagName());
}

/* DS: at most 16 characters, as precise as fits. */
std::string ds(double v)
{
    char buf[32];
    for (int prec = 15; prec > 0; prec--) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strlen(buf) <= 16)
            break;
    }
    return buf;
}

std::string ds_list(const double *v, int n)
{
    std::string s;
    for (int i = 0; i < n; i++) {
        if (i)
            s += '\\';
        s += ds(v[i]);
    }
    return s;
}

DcmItem *new_item(DcmItem *parent, const DcmTagKey &seq)
{
    DcmItem *it = NULL;
    check(parent->findOrCreateSequenceItem(seq, it, -2 /* append */), DcmTag(seq).getTagName());
    return it;
}

void put_code(DcmItem *it, const segout_code &c)
{
    size_t n = strlen(c.value);
    if (!strncmp(c.value, "urn:", 4) || !strncmp(c.value, "http://", 7) || !strncmp(c.value, "https://", 8))
        put(it, DCM_URNCodeValue, c.value);
    else if (n > 16)
        put(it, DCM_LongCodeValue, c.value);
    else
        put(it, DCM_CodeValue, c.value);
    put(it, DCM_CodingSchemeDesignator, c.scheme);
    put(it, DCM_CodeMeaning, c.meaning);
}

void put_code_seq(DcmItem *parent, const DcmTagKey &seq, const segout_code &c)
{
    put_code(new_item(parent, seq), c);
}

void segments(DcmItem *ds_, const segout *s)
{
    /* an empty sequence first, so a SEG with no segment item still has it */
    check(ds_->insertEmptyElement(DCM_SegmentSequence), "SegmentSequence");
    for (size_t i = 0; i < s->n_segs; i++) {
        const segout_segment &g = s->segs[i];
        DcmItem *it = new_item(ds_, DCM_SegmentSequence);
        check(it->putAndInsertUint16(DCM_SegmentNumber, g.number), "SegmentNumber");
        put(it, DCM_SegmentLabel, g.label);
        if (g.description && *g.description)
            put(it, DCM_SegmentDescription, g.description);
        put(it, DCM_SegmentAlgorithmType, g.algo_type);
        if (g.algo_name && *g.algo_name)
            put(it, DCM_SegmentAlgorithmName, g.algo_name);
        put_code_seq(it, DCM_SegmentedPropertyCategoryCodeSequence, g.category);
        DcmItem *type = new_item(it, DCM_SegmentedPropertyTypeCodeSequence);
        put_code(type, g.type);
        for (size_t k = 0; k < g.n_type_mods; k++)
            put_code_seq(type, DCM_SegmentedPropertyTypeModifierCodeSequence, g.type_mods[k]);
        if (g.has_anatomic) {
            DcmItem *ar = new_item(it, DCM_AnatomicRegionSequence);
            put_code(ar, g.anatomic);
            for (size_t k = 0; k < g.n_anat_mods; k++)
                put_code_seq(ar, DCM_AnatomicRegionModifierSequence, g.anat_mods[k]);
        }
        if (g.tracking_id && g.tracking_uid) {
            put(it, DCM_TrackingID, g.tracking_id);
            put(it, DCM_TrackingUID, g.tracking_uid);
        }
        if (g.has_lab) {
            std::string v = std::to_string(g.lab[0]) + "\\" + std::to_string(g.lab[1]) + "\\" +
                            std::to_string(g.lab[2]);
            put(it, DCM_RecommendedDisplayCIELabValue, v.c_str());
        }
    }
}

void dimensions(DcmItem *d, const segout *s)
{
    put(new_item(d, DCM_DimensionOrganizationSequence), DCM_DimensionOrganizationUID, s->dim_org_uid);
    bool labelmap = !strcmp(s->segmentation_type, "LABELMAP");
    struct {
        DcmTagKey index, group;
        const char *label;
    } dims[2] = {
        {DCM_ReferencedSegmentNumber, DCM_SegmentIdentificationSequence, "ReferencedSegmentNumber"},
        {DCM_ImagePositionPatient, DCM_PlanePositionSequence, "ImagePositionPatient"},
    };
    if (labelmap) {
        dims[0] = {DCM_StackID, DCM_FrameContentSequence, "Stack ID"};
        dims[1] = {DCM_InStackPositionNumber, DCM_FrameContentSequence, "In-Stack Position Number"};
    }
    for (auto &dm : dims) {
        DcmItem *it = new_item(d, DCM_DimensionIndexSequence);
        put(it, DCM_DimensionOrganizationUID, s->dim_org_uid);
        check(it->putAndInsertTagKey(DCM_DimensionIndexPointer, dm.index), "DimensionIndexPointer");
        check(it->putAndInsertTagKey(DCM_FunctionalGroupPointer, dm.group), "FunctionalGroupPointer");
        put(it, DCM_DimensionDescriptionLabel, dm.label);
    }
}

void functional_groups(DcmItem *d, const segout *s)
{
    DcmItem *shared = new_item(d, DCM_SharedFunctionalGroupsSequence);
    put(new_item(shared, DCM_PlaneOrientationSequence), DCM_ImageOrientationPatient, ds_list(s->iop, 6).c_str());
    DcmItem *pm = new_item(shared, DCM_PixelMeasuresSequence);
    put(pm, DCM_SliceThickness, ds(s->thickness).c_str());
    if (s->spacing_between > 0)
        put(pm, DCM_SpacingBetweenSlices, ds(s->spacing_between).c_str());
    put(pm, DCM_PixelSpacing, ds_list(s->spacing, 2).c_str());

    bool labelmap = !strcmp(s->segmentation_type, "LABELMAP");
    DcmSequenceOfItems *per = new DcmSequenceOfItems(DCM_PerFrameFunctionalGroupsSequence);
    check(d->insert(per, OFTrue), "PerFrameFunctionalGroupsSequence");
    for (size_t i = 0; i < s->n_frames; i++) {
        const segout_frame &f = s->frames[i];
        DcmItem *it = new DcmItem();
        check(per->append(it), "PerFrameFunctionalGroupsSequence item");
        DcmItem *der = new_item(it, DCM_DerivationImageSequence);
        DcmItem *src = new_item(der, DCM_SourceImageSequence);
        put(src, DCM_ReferencedSOPClassUID, f.src_class);
        put(src, DCM_ReferencedSOPInstanceUID, f.src_uid);
        put_code_seq(src, DCM_PurposeOfReferenceCodeSequence,
                     segout_code{"121322", "DCM", "Source image for image processing operation"});
        put_code_seq(der, DCM_DerivationCodeSequence, segout_code{"113076", "DCM", "Segmentation"});
        DcmItem *fc = new_item(it, DCM_FrameContentSequence);
        Uint32 div[2];
        if (labelmap) {
            put(fc, DCM_StackID, "1");
            check(fc->putAndInsertUint32(DCM_InStackPositionNumber, f.pos_index), "InStackPositionNumber");
            div[0] = 1;
        } else {
            div[0] = f.segment;
        }
        div[1] = f.pos_index;
        check(fc->putAndInsertUint32Array(DCM_DimensionIndexValues, div, 2), "DimensionIndexValues");
        put(new_item(it, DCM_PlanePositionSequence), DCM_ImagePositionPatient, ds_list(f.ipp, 3).c_str());
        if (!labelmap)
            check(new_item(it, DCM_SegmentIdentificationSequence)->putAndInsertUint16(DCM_ReferencedSegmentNumber,
                                                                                      f.segment),
                  "ReferencedSegmentNumber");
    }
}

void pixel_data(DcmItem *d, const segout *s)
{
    if (s->encoding == SEGOUT_RLE) {
        DcmPixelSequence *seq = new DcmPixelSequence(DcmTag(DCM_PixelData, EVR_OB));
        seq->insert(new DcmPixelItem(DcmTag(DCM_Item, EVR_OB))); /* empty basic offset table */
        for (size_t i = 0; i < s->n_frames; i++) {
            DcmPixelItem *fr = new DcmPixelItem(DcmTag(DCM_Item, EVR_OB));
            check(fr->putUint8Array(s->fragments[i], (Uint32)s->fragment_lens[i]), "RLE fragment");
            seq->insert(fr);
        }
        DcmPixelData *px = new DcmPixelData(DCM_PixelData);
        px->putOriginalRepresentation(EXS_RLELossless, NULL, seq);
        check(d->insert(px, OFTrue), "PixelData");
        return;
    }
    DcmPixelData *px = new DcmPixelData(DcmTag(DCM_PixelData, s->bits_allocated > 8 ? EVR_OW : EVR_OB));
    check(d->insert(px, OFTrue), "PixelData");
    if (s->pixels_len > 0xFFFFFFF0u)
        throw Fail{ERR_LIMIT, "Pixel Data longer than 4 GiB"};
    Uint8 *dst = NULL;
    if (s->bits_allocated > 8) {
        Uint16 *w = NULL;
        check(px->createUint16Array((Uint32)(s->pixels_len / 2), w), "PixelData");
        dst = reinterpret_cast<Uint8 *>(w); /* filled as little-endian bytes (x86, arm64) */
    } else {
        check(px->createUint8Array((Uint32)s->pixels_len, dst), "PixelData");
    }
    s->fill(s->fill_arg, dst, s->pixels_len); /* DCMTK zeroed the buffer */
}

void build(DcmDataset *d, const segout *s)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char date[16], tod[16];
    strftime(date, sizeof date, "%Y%m%d", &tm);
    strftime(tod, sizeof tod, "%H%M%S", &tm);

    /* patient / study / frame of reference from the source, series fields from the metadata */
    for (size_t i = 0; i < s->n_attrs; i++)
        put(d, key(s->attrs[i].tag), s->attrs[i].value);
    /* type 2 attributes that must be present even when empty */
    const DcmTagKey type2[] = {DCM_PatientName, DCM_PatientID, DCM_PatientBirthDate, DCM_PatientSex,
                               DCM_StudyDate, DCM_StudyTime, DCM_ReferringPhysicianName, DCM_StudyID,
                               DCM_AccessionNumber, DCM_PositionReferenceIndicator};
    for (const DcmTagKey &k : type2)
        if (!d->tagExists(k))
            check(d->insertEmptyElement(k), DcmTag(k).getTagName());

    put(d, DCM_SOPClassUID, s->sop_class);
    put(d, DCM_SOPInstanceUID, s->sop_uid);
    put(d, DCM_StudyInstanceUID, s->study_uid);
    put(d, DCM_SeriesInstanceUID, s->series_uid);
    put(d, DCM_FrameOfReferenceUID, s->for_uid);
    put(d, DCM_InstanceCreationDate, date);
    put(d, DCM_InstanceCreationTime, tod);
    put(d, DCM_SeriesDate, date);
    put(d, DCM_SeriesTime, tod);
    put(d, DCM_ContentDate, date);
    put(d, DCM_ContentTime, tod);
    put(d, DCM_Modality, "SEG");
    put(d, DCM_ImageType, "DERIVED\\PRIMARY");
    put(d, DCM_Manufacturer, "segweb");
    put(d, DCM_ManufacturerModelName, "segweb");
    put(d, DCM_DeviceSerialNumber, "1");
    put(d, DCM_SoftwareVersions, WRITER_SOFTWARE_VERSION);

    /* Common Instance Reference */
    DcmItem *rs = new_item(d, DCM_ReferencedSeriesSequence);
    put(rs, DCM_SeriesInstanceUID, s->ref_series_uid);
    for (size_t i = 0; i < s->n_refs; i++) {
        DcmItem *ri = new_item(rs, DCM_ReferencedInstanceSequence);
        put(ri, DCM_ReferencedSOPClassUID, s->ref_classes[i]);
        put(ri, DCM_ReferencedSOPInstanceUID, s->ref_uids[i]);
    }

    /* Image Pixel / Segmentation Image */
    check(d->putAndInsertUint16(DCM_SamplesPerPixel, 1), "SamplesPerPixel");
    put(d, DCM_PhotometricInterpretation, "MONOCHROME2");
    check(d->putAndInsertUint16(DCM_Rows, (Uint16)s->rows), "Rows");
    check(d->putAndInsertUint16(DCM_Columns, (Uint16)s->cols), "Columns");
    check(d->putAndInsertUint16(DCM_BitsAllocated, s->bits_allocated), "BitsAllocated");
    check(d->putAndInsertUint16(DCM_BitsStored, s->bits_allocated), "BitsStored");
    check(d->putAndInsertUint16(DCM_HighBit, (Uint16)(s->bits_allocated - 1)), "HighBit");
    check(d->putAndInsertUint16(DCM_PixelRepresentation, 0), "PixelRepresentation");
    put(d, DCM_LossyImageCompression, "00");
    put(d, DCM_SegmentationType, s->segmentation_type);
    if (!strcmp(s->segmentation_type, "FRACTIONAL")) {
        put(d, DCM_SegmentationFractionalType, "PROBABILITY");
        check(d->putAndInsertUint16(DCM_MaximumFractionalValue, 255), "MaximumFractionalValue");
    }
    if (s->segments_overlap)
        put(d, DCM_SegmentsOverlap, s->segments_overlap);
    put(d, DCM_NumberOfFrames, std::to_string(s->n_frames).c_str());
    segments(d, s);
    dimensions(d, s);
    functional_groups(d, s);
    if (s->encoding != SEGOUT_APPENDED)
        pixel_data(d, s);
}

}  // namespace

extern "C" {

bool bridge_seg_write(const struct segout *s, const char *path, uint64_t *bytes, struct err *e)
{
    try {
        DcmFileFormat ff;
        DcmDataset *d = ff.getDataset();
        build(d, s);
        E_TransferSyntax ts = s->encoding == SEGOUT_RLE       ? EXS_RLELossless
                              : s->encoding == SEGOUT_DEFLATE ? EXS_DeflatedLittleEndianExplicit
                                                              : EXS_LittleEndianExplicit;
        OFCondition c = ff.saveFile(path, ts, EET_ExplicitLength, EGL_recalcGL, EPD_noChange, 0, 0, EWM_fileformat);
        if (c.bad())
            return err_set(e, ERR_IO, "%s: cannot write (%s)", path, c.text());
        FILE *f = fopen(path, "rb");
        if (f) {
            fseek(f, 0, SEEK_END);
            long n = ftell(f);
            *bytes = n > 0 ? (uint64_t)n : 0;
            fclose(f);
        }
        return true;
    } catch (const Fail &f) {
        return err_set(e, f.code, "writing the SEG: %s", f.msg.c_str());
    } catch (const std::bad_alloc &) {
        return err_set(e, ERR_NOMEM, "writing the SEG: no memory");
    } catch (...) {
        return err_set(e, ERR_INTERNAL, "writing the SEG: unexpected exception");
    }
}

void bridge_rgb_to_lab(const uint8_t rgb[3], uint16_t lab[3])
{
    double dl_, da_, db_;
    IODCIELabUtil::rgb2DicomLab(dl_, da_, db_, rgb[0] / 255.0, rgb[1] / 255.0, rgb[2] / 255.0);
    auto clamp16 = [](double v) { return (Uint16)(v < 0 ? 0 : v > 65535 ? 65535 : std::lround(v)); };
    Uint16 L = clamp16(dl_), a = clamp16(da_), b = clamp16(db_);
    Uint16 best[3] = {L, a, b};
    /* The decoder rounds dicomLab2RGB to bytes; make sure this value reads back
     * as the RGB given (rounding in the two directions can differ by one). */
    auto matches = [&](Uint16 l, Uint16 aa, Uint16 bb) {
        double r, g, bl;
        IODCIELabUtil::dicomLab2RGB(r, g, bl, l, aa, bb);
        double v[3] = {r, g, bl};
        for (int k = 0; k < 3; k++) {
            double x = std::round(v[k] * 255.0);
            x = x < 0 ? 0 : x > 255 ? 255 : x;
            if ((int)x != rgb[k])
                return false;
        }
        return true;
    };
    if (!matches(L, a, b)) {
        bool found = false;
        for (int r = 1; r <= 64 && !found; r *= 2)
            for (int dl = -r; dl <= r && !found; dl += r)
                for (int da = -r; da <= r && !found; da += r)
                    for (int db = -r; db <= r && !found; db += r) {
                        long l2 = (long)L + dl, a2 = (long)a + da, b2 = (long)b + db;
                        if (l2 < 0 || l2 > 65535 || a2 < 0 || a2 > 65535 || b2 < 0 || b2 > 65535)
                            continue;
                        if (matches((Uint16)l2, (Uint16)a2, (Uint16)b2)) {
                            best[0] = (Uint16)l2, best[1] = (Uint16)a2, best[2] = (Uint16)b2;
                            found = true;
                        }
                    }
    }
    for (int k = 0; k < 3; k++)
        lab[k] = best[k];
}

}  // extern "C"
