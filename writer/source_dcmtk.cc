/* Writer bridge, part 1: the header of one source image, read with DCMTK
 * (Pixel Data and other long values are left on disk). Plain C interface in
 * writer/bridge.h; exceptions are caught here. */
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>

#include "writer/bridge.h"

namespace {

/* Attributes of the Patient, General Study, Patient Study, Clinical Trial
 * Subject/Study and Frame of Reference modules the SEG takes from its source. */
const DcmTagKey kCopied[] = {
    DCM_SpecificCharacterSet,
    DCM_PatientName, DCM_PatientID, DCM_IssuerOfPatientID, DCM_PatientBirthDate, DCM_PatientSex,
    DCM_PatientAge, DCM_PatientIdentityRemoved, DCM_DeidentificationMethod,
    DCM_StudyDate, DCM_StudyTime, DCM_ReferringPhysicianName, DCM_StudyID, DCM_AccessionNumber,
    DCM_StudyDescription,
    DCM_ClinicalTrialSponsorName, DCM_ClinicalTrialProtocolID, DCM_ClinicalTrialProtocolName,
    DCM_ClinicalTrialSiteID, DCM_ClinicalTrialSiteName, DCM_ClinicalTrialSubjectID,
    DCM_ClinicalTrialSubjectReadingID,
    DCM_PositionReferenceIndicator,
};

void copy_uid(DcmItem *ds, const DcmTagKey &k, char *out)
{
    OFString s;
    out[0] = 0;
    if (ds->findAndGetOFString(k, s).good() && s.length() <= 64)
        std::memcpy(out, s.c_str(), s.length() + 1);
}

bool doubles(DcmItem *ds, const DcmTagKey &k, double *out, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        Float64 v;
        if (ds->findAndGetFloat64(k, v, i).bad())
            return false;
        out[i] = v;
    }
    return true;
}

}  // namespace

extern "C" {

void src_file_clear(struct src_file *f)
{
    for (size_t i = 0; i < f->n_attrs; i++)
        free(f->attr_values[i]);
    f->n_attrs = 0;
}

bool bridge_source_read(const char *path, struct src_file *out, bool *not_dicom, struct err *e)
{
    *not_dicom = false;
    std::memset(out, 0, sizeof *out);
    try {
        DcmFileFormat ff;
        OFCondition c = ff.loadFile(path, EXS_Unknown, EGL_noChange, 4096, ERM_autoDetect);
        if (c.bad()) {
            *not_dicom = true;
            return err_set(e, ERR_INVALID, "%s: not DICOM (%s)", path, c.text());
        }
        DcmDataset *ds = ff.getDataset();
        copy_uid(ds, DCM_SOPInstanceUID, out->sop_uid);
        copy_uid(ds, DCM_SOPClassUID, out->class_uid);
        copy_uid(ds, DCM_StudyInstanceUID, out->study_uid);
        copy_uid(ds, DCM_SeriesInstanceUID, out->series_uid);
        copy_uid(ds, DCM_FrameOfReferenceUID, out->for_uid);
        if (!out->sop_uid[0] || !out->class_uid[0]) {
            *not_dicom = true;
            return err_set(e, ERR_INVALID, "%s: no SOP Class / SOP Instance UID", path);
        }
        out->has_pixels = ds->tagExists(DCM_PixelData) || ds->tagExists(DCM_FloatPixelData) ||
                          ds->tagExists(DCM_DoubleFloatPixelData);
        Uint16 v16;
        if (ds->findAndGetUint16(DCM_Rows, v16).good())
            out->rows = v16;
        if (ds->findAndGetUint16(DCM_Columns, v16).good())
            out->cols = v16;
        Sint32 frames = 1;
        if (ds->findAndGetSint32(DCM_NumberOfFrames, frames).bad())
            frames = 1;
        out->frames = frames < 1 ? 1 : (uint32_t)frames;
        out->has_ipp = doubles(ds, DCM_ImagePositionPatient, out->ipp, 3);
        out->has_iop = doubles(ds, DCM_ImageOrientationPatient, out->iop, 6);
        out->has_spacing = doubles(ds, DCM_PixelSpacing, out->spacing, 2);
        out->has_thickness = doubles(ds, DCM_SliceThickness, &out->thickness, 1);
        for (const DcmTagKey &k : kCopied) {
            DcmElement *el = NULL;
            if (ds->findAndGetElement(k, el).bad() || !el)
                continue;
            OFString s;
            if (el->getOFStringArray(s, OFFalse).bad() || s.empty())
                continue; /* empty type 2 attributes are written empty anyway */
            char *v = strdup(s.c_str());
            if (!v)
                return err_set(e, ERR_NOMEM, "no memory");
            out->attr_tags[out->n_attrs] = ((uint32_t)k.getGroup() << 16) | k.getElement();
            out->attr_values[out->n_attrs++] = v;
        }
        return true;
    } catch (const std::bad_alloc &) {
        src_file_clear(out);
        return err_set(e, ERR_NOMEM, "%s: no memory", path);
    } catch (...) {
        src_file_clear(out);
        return err_set(e, ERR_INTERNAL, "%s: unexpected exception reading the header", path);
    }
}

}  // extern "C"
