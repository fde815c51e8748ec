/* The DCMTK bridge: the only file that includes DCMTK (../shared/DESIGN.md).
 * It exposes a parsed DICOM file as plain C (decoder/dataset.h). Every entry
 * point catches C++ exceptions; DCMTK's OFCondition becomes struct err in
 * one helper. Values above kMaxReadLength (Pixel Data) stay on disk.
 *
 * Character sets: every string that leaves this file is UTF-8. When the
 * data set declares a Specific Character Set other than ASCII / UTF-8, the
 * text VRs (SH, LO, ST, LT, UT, PN, UC) are converted in place when the file
 * is opened (DcmSpecificCharacterSet, iconv), honouring a Specific Character
 * Set inside a sequence item for that item; the attribute then says
 * ISO_IR 192. Bytes the declared set does not define, text in an unknown set,
 * and non-UTF-8 bytes anywhere else (a UID, a CS, ...) become U+FFFD
 * (common/utf8.h): never dropped, never an error. */
#include <sys/stat.h>
#include <cerrno>
#include <cstdio>
#include <iconv.h>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <new>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcjson.h>
#include <dcmtk/dcmdata/dcspchrs.h>
#include <dcmtk/dcmdata/dctk.h>
#include <dcmtk/dcmiod/cielabutil.h>
#include <dcmtk/oflog/oflog.h>

#include "common/utf8.h"
#include "decoder/dcmtk_bounds.h"
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

/* ---- character sets ---- */

/* Longest value the fallback converts piece by piece (see convert_text). */
const size_t kFallbackChunk = 256;

std::string repaired(const char *s, size_t n)
{
    if (utf8_valid(s, n))
        return std::string(s, n);
    std::string out(utf8_repaired_len(s, n), '\0');
    utf8_repair_into(s, n, &out[0], out.size() + 1);
    return out;
}

/* Whether a Specific Character Set value needs no conversion (ASCII, UTF-8). */
bool charset_trivial(const OFString &cs)
{
    std::string v(cs.c_str());
    size_t a = v.find_first_not_of(' '), b = v.find_last_not_of(' ');
    v = a == std::string::npos ? "" : v.substr(a, b - a + 1);
    return v.empty() || v == "ISO_IR 6" || v == "ISO 2022 IR 6" || v == "ISO_IR 192";
}

/* Text in one Specific Character Set to UTF-8. */
class TextConverter {
  public:
    virtual ~TextConverter() {}
    /* Never fails: what cannot be converted becomes U+FFFD. delims: the VR's
     * value / component delimiters (an ISO 2022 state ends at them). */
    virtual std::string convert(const char *s, size_t n, const OFString &delims) = 0;
};

/* DCMTK's DcmSpecificCharacterSet (iconv). Where it refuses a value (a byte
 * the set does not define, a broken ISO 2022 sequence), the value is
 * converted piece by piece: the longest prefix DCMTK takes, then one U+FFFD
 * for the byte it stops at, and so on (ISO 2022 state does not survive the
 * replaced byte; values are cut into kFallbackChunk-byte pieces so this
 * stays linear). */
class DcmtkConverter : public TextConverter {
  public:
    bool select(const OFString &charset) { return conv_.selectCharacterSet(charset, "ISO_IR 192").good(); }
    std::string convert(const char *s, size_t n, const OFString &delims) override
    {
        OFString out;
        if (conv_.convertString(s, n, out, delims).good() && utf8_valid(out.c_str(), out.length()))
            return std::string(out.c_str(), out.length());
        std::string res;
        for (size_t chunk = 0; chunk < n; chunk += kFallbackChunk) {
            const char *p = s + chunk;
            size_t len = n - chunk < kFallbackChunk ? n - chunk : kFallbackChunk, pos = 0;
            while (pos < len) {
                if (conv_.convertString(p + pos, len - pos, out, delims).good()) {
                    res.append(out.c_str(), out.length());
                    break;
                }
                size_t best = 0, misses = 0;
                std::string best_out;
                /* A character is at most 4 bytes, an escape sequence 4 more. */
                for (size_t k = 1; pos + k < len && misses < 8; k++) {
                    if (conv_.convertString(p + pos, k, out, delims).good()) {
                        best = k;
                        best_out.assign(out.c_str(), out.length());
                        misses = 0;
                    } else {
                        misses++;
                    }
                }
                if (best) {
                    res += best_out;
                    pos += best;
                } else {
                    res += UTF8_REPLACEMENT;
                    pos++;
                }
            }
        }
        return repaired(res.data(), res.size());
    }

  private:
    DcmSpecificCharacterSet conv_;
};

/* Appends code point cp as UTF-8. */
void put_utf8(std::string &out, unsigned cp)
{
    if (cp < 0x80) {
        out += (char)cp;
    } else if (cp < 0x800) {
        out += (char)(0xC0 | (cp >> 6));
        out += (char)(0x80 | (cp & 0x3F));
    } else {
        out += (char)(0xE0 | (cp >> 12));
        out += (char)(0x80 | ((cp >> 6) & 0x3F));
        out += (char)(0x80 | (cp & 0x3F));
    }
}

/* The Japanese ISO 2022 sets (ISO 2022 IR 13 / IR 87 / IR 159 with IR 6),
 * decoded here: DCMTK 3.6.7 names JIS X 0208 and X 0212 "ISO-IR-87" and
 * "ISO-IR-159" for iconv, which glibc does not know, so it refuses them.
 * Escape sequences select G0 (ESC ( B ASCII, ESC ( J JIS X 0201 Roman, ESC $ B
 * or ESC $ @ JIS X 0208, ESC $ ( D JIS X 0212) and G1 (ESC ) I JIS X 0201
 * Katakana, bytes 0xA1..0xDF). Double-byte characters go through glibc's
 * EUC-JP converter (the same code points with the high bits set). A
 * delimiter in a single-byte state, and CR, LF, FF, HT, return to the initial
 * state (PS3.5 6.1.2.5.3). JIS X 0201 Roman is kept as ASCII: 0x5C is the
 * value delimiter there too. */
class Iso2022JpConverter : public TextConverter {
  public:
    explicit Iso2022JpConverter(bool katakana) : katakana_(katakana) {}
    ~Iso2022JpConverter() override
    {
        if (cd_ != (iconv_t)-1)
            iconv_close(cd_);
    }
    bool open()
    {
        cd_ = iconv_open("UTF-8", "EUC-JP");
        return cd_ != (iconv_t)-1;
    }
    std::string convert(const char *s, size_t n, const OFString &delims) override
    {
        enum { SINGLE, X0208, X0212 } g0 = SINGLE;
        bool g1_katakana = katakana_;
        const unsigned char *p = (const unsigned char *)s;
        std::string out;
        for (size_t i = 0; i < n;) {
            unsigned char c = p[i];
            if (c == 0x1B) {
                size_t len = 0;
                if (i + 2 < n && p[i + 1] == '(' && (p[i + 2] == 'B' || p[i + 2] == 'J'))
                    len = 3, g0 = SINGLE;
                else if (i + 2 < n && p[i + 1] == '$' && (p[i + 2] == 'B' || p[i + 2] == '@'))
                    len = 3, g0 = X0208;
                else if (i + 3 < n && p[i + 1] == '$' && p[i + 2] == '(' && p[i + 3] == 'D')
                    len = 4, g0 = X0212;
                else if (i + 2 < n && p[i + 1] == ')' && p[i + 2] == 'I')
                    len = 3, g1_katakana = true;
                if (len) {
                    i += len;
                } else {
                    out += UTF8_REPLACEMENT;
                    i++;
                }
                continue;
            }
            if (c == '\r' || c == '\n' || c == '\f' || c == '\t' ||
                (g0 == SINGLE && c < 0x80 && c && strchr(delims.c_str(), c))) {
                out += (char)c;
                g0 = SINGLE;
                g1_katakana = katakana_;
                i++;
                continue;
            }
            if (c >= 0xA1 && c <= 0xDF && g1_katakana) {
                put_utf8(out, 0xFF61 + (c - 0xA1));
                i++;
                continue;
            }
            if (c >= 0x80) {
                out += UTF8_REPLACEMENT;
                i++;
                continue;
            }
            if (g0 == SINGLE || c == 0x20) {
                out += (char)c;
                i++;
                continue;
            }
            if (c < 0x21 || c == 0x7F || i + 1 >= n || p[i + 1] < 0x21 || p[i + 1] > 0x7E) {
                out += UTF8_REPLACEMENT;
                i++;
                continue;
            }
            char in[3];
            size_t inlen = 0;
            if (g0 == X0212)
                in[inlen++] = (char)0x8F;
            in[inlen++] = (char)(c | 0x80);
            in[inlen++] = (char)(p[i + 1] | 0x80);
            char buf[8];
            char *ip = in, *op = buf;
            size_t il = inlen, ol = sizeof buf;
            iconv(cd_, NULL, NULL, NULL, NULL);
            if (iconv(cd_, &ip, &il, &op, &ol) == (size_t)-1 || il)
                out += UTF8_REPLACEMENT;
            else
                out.append(buf, (size_t)(op - buf));
            i += 2;
        }
        return repaired(out.data(), out.size());
    }

  private:
    bool katakana_;
    iconv_t cd_ = (iconv_t)-1;
};

/* Single-byte sets DCMTK 3.6.7 does not know, straight through iconv. */
class IconvConverter : public TextConverter {
  public:
    ~IconvConverter() override
    {
        if (cd_ != (iconv_t)-1)
            iconv_close(cd_);
    }
    bool open(const char *from)
    {
        cd_ = iconv_open("UTF-8", from);
        return cd_ != (iconv_t)-1;
    }
    std::string convert(const char *s, size_t n, const OFString &) override
    {
        std::string out;
        for (size_t i = 0; i < n; i++) {
            char buf[8], in = s[i];
            char *ip = &in, *op = buf;
            size_t il = 1, ol = sizeof buf;
            if (iconv(cd_, &ip, &il, &op, &ol) == (size_t)-1)
                out += UTF8_REPLACEMENT;
            else
                out.append(buf, (size_t)(op - buf));
        }
        return repaired(out.data(), out.size());
    }

  private:
    iconv_t cd_ = (iconv_t)-1;
};

/* The conversion in effect for one item: NULL conv means "repair only". */
struct Charset {
    std::unique_ptr<TextConverter> conv;
};

std::vector<std::string> charset_terms(const OFString &value)
{
    std::vector<std::string> terms;
    std::string v(value.c_str());
    size_t start = 0;
    for (;;) {
        size_t end = v.find('\\', start);
        std::string t = v.substr(start, end == std::string::npos ? std::string::npos : end - start);
        size_t a = t.find_first_not_of(' '), b = t.find_last_not_of(' ');
        terms.push_back(a == std::string::npos ? "" : t.substr(a, b - a + 1));
        if (end == std::string::npos)
            break;
        start = end + 1;
    }
    return terms;
}

/* A Japanese ISO 2022 combination (see Iso2022JpConverter), or NULL. */
TextConverter *japanese(const std::vector<std::string> &terms)
{
    bool jis = false, katakana = false;
    for (const std::string &t : terms) {
        if (t == "ISO 2022 IR 87" || t == "ISO 2022 IR 159")
            jis = true;
        else if (t == "ISO 2022 IR 13")
            katakana = true;
        else if (!t.empty() && t != "ISO 2022 IR 6")
            return NULL;
    }
    if (!jis)
        return NULL; /* IR 13 alone: DCMTK knows it */
    std::unique_ptr<Iso2022JpConverter> c(new Iso2022JpConverter(katakana));
    return c->open() ? c.release() : NULL;
}

void select_charset(DcmItem *item, Charset &cs)
{
    cs.conv.reset();
    OFString value;
    if (item->findAndGetOFStringArray(DCM_SpecificCharacterSet, value, OFFalse).bad() ||
        charset_trivial(value))
        return;
    std::vector<std::string> terms = charset_terms(value);
    if (TextConverter *jp = japanese(terms)) {
        cs.conv.reset(jp);
        return;
    }
    if (terms.size() == 1 && terms[0] == "ISO_IR 203") { /* Latin-9 */
        std::unique_ptr<IconvConverter> c(new IconvConverter());
        if (c->open("ISO-8859-15"))
            cs.conv = std::move(c);
        return;
    }
    std::unique_ptr<DcmtkConverter> c(new DcmtkConverter());
    if (c->select(value))
        cs.conv = std::move(c);
    /* else an unknown term: the bytes are taken as UTF-8 where valid */
}

enum { FIX_CHANGED = 1, FIX_NON_ASCII = 2 };

/* Converts (conv set) or repairs one string element in place. Returns
 * FIX_CHANGED when its value changed, FIX_NON_ASCII when it holds non-ASCII
 * text afterwards. Values not loaded yet (above kMaxReadLength) are loaded. */
int fix_string(DcmByteString *el, TextConverter *conv)
{
    char *val = NULL;
    Uint32 len = 0;
    if (el->getString(val, len).bad() || !val || !len)
        return 0;
    bool ascii = true;
    for (Uint32 i = 0; i < len && ascii; i++)
        ascii = !((unsigned char)val[i] & 0x80) && val[i] != 0x1B; /* ESC: ISO 2022 */
    if (ascii)
        return 0;
    std::string out;
    if (conv && el->isAffectedBySpecificCharacterSet())
        out = conv->convert(val, len, DcmVR(el->getVR()).getDelimiterChars());
    else if (utf8_valid(val, len))
        return FIX_NON_ASCII;
    else
        out = repaired(val, len);
    return el->putString(out.c_str(), (Uint32)out.size()).good() ? FIX_CHANGED | FIX_NON_ASCII : FIX_NON_ASCII;
}

/* Walks an item: converts its text VRs with the Specific Character Set in
 * effect (the item's own, else the inherited one) and, with all, repairs
 * every other string element too. An item whose own set was converted then
 * says ISO_IR 192. Returns FIX_* flags of everything below. */
int to_utf8(DcmItem *item, const Charset &inherited, bool all, int depth)
{
    if (!item || depth > 64)
        return 0;
    Charset own;
    const Charset *cs = &inherited;
    if (item->tagExists(DCM_SpecificCharacterSet, OFFalse)) {
        select_charset(item, own);
        cs = &own;
    }
    int flags = 0;
    for (DcmObject *o = item->nextInContainer(NULL); o; o = item->nextInContainer(o)) {
        if (o->ident() == EVR_SQ) {
            DcmSequenceOfItems *sq = OFstatic_cast(DcmSequenceOfItems *, o);
            for (DcmObject *i = sq->nextInContainer(NULL); i; i = sq->nextInContainer(i))
                flags |= to_utf8(OFstatic_cast(DcmItem *, i), *cs, all, depth + 1);
            continue;
        }
        if (o->getTag() == DCM_SpecificCharacterSet)
            continue;
        DcmByteString *bs = dynamic_cast<DcmByteString *>(o);
        if (bs && (all || (cs->conv && bs->isAffectedBySpecificCharacterSet())))
            flags |= fix_string(bs, cs->conv.get());
    }
    if (cs == &own && own.conv)
        item->putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 192");
    return flags;
}

}  // namespace

extern "C" {

bool dcmtk_values_fit_file(DcmItem *ds, const char *path, bool deflated, struct err *e)
{
    struct stat st;
    if (deflated || stat(path, &st) != 0)
        return true; /* nothing to bound by (the open that follows reports a missing file) */
    DcmStack stack;
    while (ds->nextObject(stack, OFTrue).good()) {
        DcmObject *obj = stack.top();
        if (!obj || !obj->isLeaf())
            continue;
        bool top = stack.card() == 1 || stack.elem(1) == ds;
        if (top && obj->getTag() == DCM_PixelData)
            continue;
        if ((unsigned long long)obj->getLength() > (unsigned long long)st.st_size)
            return err_set(e, ERR_INVALID, "element (%04X,%04X) declares %lu bytes, more than the whole file (%lld)",
                           obj->getGTag(), obj->getETag(), (unsigned long)obj->getLength(), (long long)st.st_size);
    }
    return true;
}

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
            /* DCMTK words a failed fopen with strerror: out of descriptors is no fault of the file */
            bool exhausted = strstr(c.text(), strerror(EMFILE)) || strstr(c.text(), strerror(ENFILE));
            set_condition(e, exhausted ? ERR_EXHAUSTED : ERR_INVALID,
                          exhausted ? "cannot open the file" : "not a readable DICOM file", c);
            delete f;
            return NULL;
        }
        DcmDataset *ds = f->ff.getDataset();
        if (!dcmtk_values_fit_file(ds, path, ds->getOriginalXfer() == EXS_DeflatedLittleEndianExplicit, e)) {
            delete f;
            return NULL;
        }
        OFString charset;
        if (ds->findAndGetOFStringArray(DCM_SpecificCharacterSet, charset, OFFalse).good() &&
            !charset_trivial(charset))
            to_utf8(ds, Charset(), false, 0);
        OFString ts;
        if (f->ff.getMetaInfo()->findAndGetOFString(DCM_TransferSyntaxUID, ts).good() && !ts.empty()) {
            f->ts = repaired(ts.c_str(), ts.length());
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
        if (!utf8_valid(s.c_str(), s.length()))
            s = repaired(s.c_str(), s.length()).c_str();
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
        /* DICOM JSON is UTF-8 (PS3.18 F.2): dataset_open converted the text
         * from a declared set; repair whatever else is not UTF-8 and say so. */
        int flags = to_utf8(ds, Charset(), true, 0);
        if ((flags & FIX_NON_ASCII) || ds->tagExists(DCM_SpecificCharacterSet, OFFalse))
            ds->putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 192");
        /* Small binary values stay inline (InlineBinary); large ones at the top
         * level become references (.../bulkdata/{tag}, served by decoder_bulkdata).
         * DCMTK asks the format by tag while it iterates the dataset (searching
         * then would move its cursor), so decide per tag beforehand: a tag is a
         * reference if a top-level occurrence is large and no nested one exists
         * (a URI names a tag, so it must name one value). */
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
        std::set<Uint32> nested;
        DcmStack stack;
        while (ds->nextObject(stack, OFTrue).good()) {
            DcmObject *obj = stack.top();
            Uint32 key = obj ? ((Uint32)obj->getGTag() << 16) | obj->getETag() : 0;
            if (!obj)
                continue;
            bool top = stack.card() == 1 || stack.elem(1) == ds; /* else inside a sequence item */
            if (!top)
                nested.insert(key);
            else if (is_large_binary(obj))
                format.large.insert(key);
        }
        for (Uint32 key : nested)
            format.large.erase(key);
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
