/* The DCMTK bridge: the only file that includes DCMTK (../shared/DESIGN.md).
 * It exposes a parsed DICOM file as plain C (decoder/dataset.h). Every entry
 * point catches C++ exceptions; DCMTK's OFCondition becomes struct err in
 * one helper. Values above kMaxReadLength (Pixel Data) stay on disk. */
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <new>
#include <set>
#include <sstream>
#include <string>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcjson.h>
#include <dcmtk/dcmdata/dctk.h>
#include <dcmtk/dcmiod/cielabutil.h>
#include <dcmtk/oflog/oflog.h>

#include "decoder/dataset.h"

namespace {

/* Elements longer than this are not loaded when the file is parsed. */
const Uint32 kMaxReadLength = 4096;

}  // namespace

struct dataset_file {
    DcmFileFormat ff;
    std::string ts;
    /* Strings handed out to C; they live as long as the file. */
    std::deque<std::string> strings;
};

namespace {

DcmItem *as_item(const dataset_item *it)
{
    return reinterpret_cast<DcmItem *>(const_cast<dataset_item *>(it));
}

const dataset_item *as_c(DcmItem *it)
{
    return reinterpret_cast<const dataset_item *>(it);
}

DcmTagKey key(uint32_t tag)
{
    return DcmTagKey(static_cast<Uint16>(tag >> 16), static_cast<Uint16>(tag & 0xffff));
}

bool set_condition(struct err *e, enum err_code code, const char *what, const OFCondition &c)
{
    return err_set(e, code, "%s: %s", what, c.text());
}

DcmElement *element(const dataset_item *it, uint32_t tag)
{
    if (!it)
        return NULL;
    DcmElement *el = NULL;
    if (as_item(it)->findAndGetElement(key(tag), el, OFFalse /* not nested */).bad())
        return NULL;
    return el;
}

const char *keep(dataset_file *f, const OFString &s)
{
    f->strings.emplace_back(s.c_str(), s.length());
    return f->strings.back().c_str();
}

bool numeric(DcmElement *el, unsigned pos, double *out)
{
    if (!el || pos >= el->getVM())
        return false;
    OFCondition c = EC_IllegalCall;
    switch (el->ident()) {
    case EVR_US: { Uint16 v; c = el->getUint16(v, pos); *out = v; break; }
    case EVR_SS: { Sint16 v; c = el->getSint16(v, pos); *out = v; break; }
    case EVR_UL: { Uint32 v; c = el->getUint32(v, pos); *out = v; break; }
    case EVR_SL: { Sint32 v; c = el->getSint32(v, pos); *out = v; break; }
    case EVR_FL: { Float32 v; c = el->getFloat32(v, pos); *out = v; break; }
    case EVR_FD: { Float64 v; c = el->getFloat64(v, pos); *out = v; break; }
    case EVR_IS: { Sint32 v; c = el->getSint32(v, pos); *out = v; break; }
    case EVR_DS: { Float64 v; c = el->getFloat64(v, pos); *out = v; break; }
    case EVR_AT: {
        DcmTagKey t;
        c = OFstatic_cast(DcmAttributeTag *, el)->getTagVal(t, pos);
        *out = (double)(((Uint32)t.getGroup() << 16) | t.getElement());
        break;
    }
    default: {
        /* Text that should be a number (e.g. a UL written as a string by a
         * non-conforming writer): parse it strictly. */
        OFString s;
        if (el->getOFString(s, pos, OFTrue).bad())
            return false;
        char *end = NULL;
        double v = strtod(s.c_str(), &end);
        if (end == s.c_str() || *end)
            return false;
        *out = v;
        return true;
    }
    }
    return c.good();
}

/* Binary values go out by reference, as DICOMweb metadata requires. */
class BulkJsonFormat : public DcmJsonFormatCompact {
  public:
    BulkJsonFormat(const char *pixel_uri, const char *prefix)
    : DcmJsonFormatCompact(OFFalse), pixel_uri_(pixel_uri ? pixel_uri : ""), prefix_(prefix ? prefix : "")
    {
    }
    OFBool asBulkDataURI(const DcmTagKey &tag, OFString &uri) override
    {
        char hex[16];
        snprintf(hex, sizeof hex, "%04X%04X", tag.getGroup(), tag.getElement());
        if (tag == DCM_PixelData && !pixel_uri_.empty())
            uri = pixel_uri_.c_str();
        else
            uri = (prefix_ + "/" + hex).c_str();
        return OFTrue;
    }

  private:
    std::string pixel_uri_, prefix_;
};

bool is_large_binary(DcmObject *obj)
{
    DcmEVR vr = obj->ident();
    bool binary = vr == EVR_OB || vr == EVR_OW || vr == EVR_OF || vr == EVR_OD || vr == EVR_OL ||
                  vr == EVR_OV || vr == EVR_UN || vr == EVR_pixelSQ || vr == EVR_ox;
    return binary && (obj->getTag() == DCM_PixelData || obj->getLengthField() > 1024);
}

}  // namespace

extern "C" {

struct dataset_file *dataset_open(const char *path, struct err *e)
{
    try {
        /* DCMTK logs parse problems to stderr; segweb reports them as errors. */
        static std::once_flag quiet;
        std::call_once(quiet, [] { OFLog::configure(OFLogger::OFF_LOG_LEVEL); });

        dataset_file *f = new dataset_file();
        OFCondition c = f->ff.loadFile(path, EXS_Unknown, EGL_noChange, kMaxReadLength,
                                       ERM_autoDetect);
        /* A file cut inside Pixel Data still has a complete header: index it,
         * and let the frames that are missing fail when they are read. */
        if (c == EC_StreamNotifyClient && f->ff.getDataset()->tagExists(DCM_PixelData))
            c = EC_Normal;
        if (c.bad()) {
            set_condition(e, ERR_INVALID, "not a readable DICOM file", c);
            delete f;
            return NULL;
        }
        OFString ts;
        if (f->ff.getMetaInfo()->findAndGetOFString(DCM_TransferSyntaxUID, ts).good() && !ts.empty()) {
            f->ts = ts.c_str();
        } else {
            DcmXfer x(f->ff.getDataset()->getOriginalXfer());
            f->ts = x.getXferID();
        }
        return f;
    } catch (const std::bad_alloc &) {
        err_set(e, ERR_NOMEM, "out of memory parsing DICOM file");
    } catch (...) {
        err_set(e, ERR_INTERNAL, "unexpected error parsing DICOM file");
    }
    return NULL;
}

void dataset_close(struct dataset_file *f)
{
    delete f;
}

const struct dataset_item *dataset_root(const struct dataset_file *f)
{
    return as_c(const_cast<dataset_file *>(f)->ff.getDataset());
}

const struct dataset_item *dataset_meta(const struct dataset_file *f)
{
    return as_c(const_cast<dataset_file *>(f)->ff.getMetaInfo());
}

const char *dataset_transfer_syntax(const struct dataset_file *f)
{
    return f->ts.c_str();
}

bool dataset_has(const struct dataset_item *it, uint32_t tag)
{
    try {
        return it && as_item(it)->tagExists(key(tag), OFFalse);
    } catch (...) {
        return false;
    }
}

const char *dataset_string(struct dataset_file *f, const struct dataset_item *it, uint32_t tag, int pos)
{
    try {
        DcmElement *el = element(it, tag);
        if (!el || el->getLength() == 0)
            return NULL;
        if (el->ident() == EVR_SQ || el->ident() == EVR_pixelSQ)
            return NULL;
        OFString s;
        OFCondition c = pos < 0 ? el->getOFStringArray(s, OFTrue) : el->getOFString(s, (unsigned long)pos, OFTrue);
        if (c.bad() || s.empty())
            return NULL;
        return keep(f, s);
    } catch (...) {
        return NULL;
    }
}

bool dataset_double(const struct dataset_item *it, uint32_t tag, unsigned pos, double *out)
{
    try {
        return numeric(element(it, tag), pos, out);
    } catch (...) {
        return false;
    }
}

bool dataset_uint(const struct dataset_item *it, uint32_t tag, unsigned pos, uint32_t *out)
{
    double v;
    if (!dataset_double(it, tag, pos, &v) || !(v >= 0) || v > 4294967295.0 || v != (double)(uint32_t)v)
        return false;
    *out = (uint32_t)v;
    return true;
}

bool dataset_int(const struct dataset_item *it, uint32_t tag, unsigned pos, int32_t *out)
{
    double v;
    if (!dataset_double(it, tag, pos, &v) || !(v >= -2147483648.0) || v > 2147483647.0 ||
        v != (double)(int32_t)v)
        return false;
    *out = (int32_t)v;
    return true;
}

unsigned dataset_vm(const struct dataset_item *it, uint32_t tag)
{
    try {
        DcmElement *el = element(it, tag);
        return el ? (unsigned)el->getVM() : 0;
    } catch (...) {
        return 0;
    }
}

size_t dataset_seq_count(const struct dataset_item *it, uint32_t tag)
{
    try {
        DcmElement *el = element(it, tag);
        if (!el || el->ident() != EVR_SQ)
            return 0;
        return OFstatic_cast(DcmSequenceOfItems *, el)->card();
    } catch (...) {
        return 0;
    }
}

const struct dataset_item *dataset_seq_item(const struct dataset_item *it, uint32_t tag, size_t i)
{
    try {
        DcmElement *el = element(it, tag);
        if (!el || el->ident() != EVR_SQ)
            return NULL;
        DcmSequenceOfItems *sq = OFstatic_cast(DcmSequenceOfItems *, el);
        if (i >= sq->card())
            return NULL;
        return as_c(sq->getItem((unsigned long)i));
    } catch (...) {
        return NULL;
    }
}

const struct dataset_item **dataset_seq_items(const struct dataset_item *it, uint32_t tag, size_t *count)
{
    *count = 0;
    try {
        DcmElement *el = element(it, tag);
        if (!el || el->ident() != EVR_SQ)
            return NULL;
        DcmSequenceOfItems *sq = OFstatic_cast(DcmSequenceOfItems *, el);
        unsigned long n = sq->card();
        if (!n)
            return NULL;
        const dataset_item **items = (const dataset_item **)malloc(n * sizeof *items);
        if (!items)
            return NULL;
        unsigned long i = 0;
        for (DcmObject *o = sq->nextInContainer(NULL); o && i < n; o = sq->nextInContainer(o))
            items[i++] = as_c(OFstatic_cast(DcmItem *, o));
        *count = i;
        return items;
    } catch (...) {
        return NULL;
    }
}

bool dataset_pixel_info(const struct dataset_file *f, struct dataset_pixel_info *out, struct err *e)
{
    try {
        memset(out, 0, sizeof *out);
        DcmDataset *ds = const_cast<dataset_file *>(f)->ff.getDataset();
        DcmElement *el = NULL;
        if (ds->findAndGetElement(DCM_PixelData, el, OFFalse).bad() || !el)
            return true;
        out->present = true;
        DcmPixelData *pd = OFstatic_cast(DcmPixelData *, el);
        DcmPixelSequence *seq = NULL;
        E_TransferSyntax xfer = ds->getOriginalXfer();
        if (DcmXfer(xfer).isEncapsulated() || el->getLengthField() == DCM_UndefinedLength) {
            if (pd->getEncapsulatedRepresentation(xfer, NULL, seq).good() && seq) {
                out->encapsulated = true;
                out->n_items = seq->card();
                return true;
            }
        }
        out->length = el->getLengthField();
        return true;
    } catch (const std::bad_alloc &) {
        return err_set(e, ERR_NOMEM, "out of memory reading Pixel Data");
    } catch (...) {
        return err_set(e, ERR_INTERNAL, "unexpected error reading Pixel Data");
    }
}

uint8_t *dataset_pixel_copy(const struct dataset_file *f, size_t *len, struct err *e)
{
    try {
        DcmDataset *ds = const_cast<dataset_file *>(f)->ff.getDataset();
        DcmElement *el = NULL;
        if (ds->findAndGetElement(DCM_PixelData, el, OFFalse).bad() || !el) {
            err_set(e, ERR_INVALID, "no Pixel Data");
            return NULL;
        }
        Uint32 n = el->getLength();
        uint8_t *out = (uint8_t *)malloc(n ? n : 1);
        if (!out) {
            err_set(e, ERR_NOMEM, "out of memory copying %lu bytes of Pixel Data", (unsigned long)n);
            return NULL;
        }
        if (n) {
            OFCondition c = el->getPartialValue(out, 0, n, NULL, EBO_LittleEndian);
            if (c.bad()) {
                free(out);
                set_condition(e, ERR_INVALID, "cannot read Pixel Data", c);
                return NULL;
            }
        }
        *len = n;
        return out;
    } catch (const std::bad_alloc &) {
        err_set(e, ERR_NOMEM, "out of memory reading Pixel Data");
    } catch (...) {
        err_set(e, ERR_INTERNAL, "unexpected error reading Pixel Data");
    }
    return NULL;
}

bool dataset_json_file(const char *path, const char *pixel_data_uri, const char *bulk_uri_prefix,
                       struct buf *out, struct err *e)
{
    dataset_file *f = dataset_open(path, e);
    if (!f)
        return false;
    bool ok = false;
    try {
        DcmDataset *ds = f->ff.getDataset();
        /* Small binary values stay inline (InlineBinary); large ones become
         * references. DCMTK asks the format by tag while it iterates the
         * dataset (searching then would move its cursor), so decide per tag
         * beforehand: a tag is a reference if any occurrence is large. */
        struct Format : public BulkJsonFormat {
            std::set<Uint32> large;
            Format(const char *pu, const char *pre) : BulkJsonFormat(pu, pre) {}
            OFBool asBulkDataURI(const DcmTagKey &tag, OFString &uri) override
            {
                if (!large.count(((Uint32)tag.getGroup() << 16) | tag.getElement()))
                    return OFFalse;
                return BulkJsonFormat::asBulkDataURI(tag, uri);
            }
        } format(pixel_data_uri, bulk_uri_prefix);
        DcmStack stack;
        while (ds->nextObject(stack, OFTrue).good()) {
            DcmObject *obj = stack.top();
            if (obj && is_large_binary(obj))
                format.large.insert(((Uint32)obj->getGTag() << 16) | obj->getETag());
        }
        /* DCMTK 3.6.7 will not write encapsulated Pixel Data even as a bulk
         * reference, so Pixel Data is taken out and written here. */
        std::string pixel;
        DcmElement *pd = NULL;
        if (ds->findAndGetElement(DCM_PixelData, pd, OFFalse).good() && pd) {
            OFString uri;
            format.large.insert(0x7FE00010u);
            format.asBulkDataURI(DCM_PixelData, uri);
            pixel = std::string("\"7FE00010\":{\"vr\":\"") + DcmVR(pd->getVR()).getVRName() +
                    "\",\"BulkDataURI\":\"" + uri.c_str() + "\"}";
            ds->findAndDeleteElement(DCM_PixelData, OFFalse, OFFalse);
        }
        std::ostringstream os;
        os << '{';
        OFCondition c = ds->writeJson(os, format);
        if (!pixel.empty())
            os << (os.tellp() > 1 ? "," : "") << pixel;
        os << '}';
        if (c.bad()) {
            set_condition(e, ERR_INVALID, "cannot write DICOM JSON", c);
        } else {
            std::string s = os.str();
            ok = buf_append(out, s.data(), s.size(), e);
        }
    } catch (const std::bad_alloc &) {
        err_set(e, ERR_NOMEM, "out of memory writing DICOM JSON");
    } catch (...) {
        err_set(e, ERR_INTERNAL, "unexpected error writing DICOM JSON");
    }
    dataset_close(f);
    return ok;
}

void dataset_lab_to_rgb(const uint16_t lab[3], double rgb[3])
{
    IODCIELabUtil::dicomLab2RGB(rgb[0], rgb[1], rgb[2], lab[0], lab[1], lab[2]);
}

}  // extern "C"
