/* Label volume readers: NIfTI-1 (.nii, .nii.gz) and NRRD (attached data, raw or
 * gzip encoding), from a file or a memory block, told apart by content.
 *
 * Design: the header is parsed when the volume is opened; voxels are then read
 * one slice at a time (labels_read_slice), inflating as they go, so a 300-slice
 * 512x512 uint16 volume costs one 512 KiB slice buffer, not 157 MB. Every size
 * read from the header is checked before it is used (these bytes come from HTTP
 * uploads too: tests/fuzz/fuzz_labels.c). Geometry is converted to LPS, the
 * DICOM patient coordinate system: NIfTI's qform/sform are RAS, NRRD names its
 * space. Our own reader rather than nifticlib/teem: see writer/README.md. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "writer/internal.h"

#define RBUF_SIZE (256 * 1024)
#define NRRD_HEADER_MAX (64 * 1024)

/* ---- raw input ---- */

/* Makes at least one unread raw byte available (false at end of input). */
static bool raw_fill(struct writer_labels *l, struct err *e)
{
    if (l->rn)
        return true;
    if (!l->fp)
        return false;
    size_t n = fread(l->rbuf, 1, RBUF_SIZE, l->fp);
    if (n == 0) {
        if (ferror(l->fp))
            err_set(e, ERR_IO, "%s: read error", l->name);
        return false;
    }
    l->rp = l->rbuf;
    l->rn = n;
    return true;
}

/* Reads exactly n bytes of (decompressed) data. */
static bool data_read(struct writer_labels *l, uint8_t *dst, size_t n, struct err *e)
{
    if (!l->gz) {
        while (n) {
            if (!raw_fill(l, e))
                return err_set(e, ERR_PARSE, "%s: truncated (voxel data ends early)", l->name);
            size_t k = l->rn < n ? l->rn : n;
            memcpy(dst, l->rp, k);
            l->rp += k;
            l->rn -= k;
            dst += k;
            n -= k;
        }
        return true;
    }
    if (!l->zinit) {
        memset(&l->zs, 0, sizeof l->zs);
        if (inflateInit2(&l->zs, 15 + 32) != Z_OK)
            return err_set(e, ERR_NOMEM, "%s: inflateInit failed", l->name);
        l->zinit = true;
    }
    if (l->inflated + n > l->max_inflated)
        return err_set(e, ERR_LIMIT, "%s: inflates to more than %llu bytes", l->name,
                       (unsigned long long)l->max_inflated);
    l->zs.next_out = dst;
    while (n) {
        l->zs.avail_out = n > UINT32_MAX ? UINT32_MAX : (uInt)n;
        if (l->zend) {
            /* another gzip member may follow (concatenated .gz) */
            if (!raw_fill(l, e))
                return err_set(e, ERR_PARSE, "%s: truncated (compressed data ends early)", l->name);
            if (inflateReset(&l->zs) != Z_OK)
                return err_set(e, ERR_PARSE, "%s: bad gzip stream", l->name);
            l->zend = false;
        }
        if (!l->rn && !raw_fill(l, e))
            return err_set(e, ERR_PARSE, "%s: truncated (compressed data ends early)", l->name);
        l->zs.next_in = (Bytef *)l->rp;
        l->zs.avail_in = l->rn > UINT32_MAX ? UINT32_MAX : (uInt)l->rn;
        uInt before_out = l->zs.avail_out;
        uInt before_in = l->zs.avail_in;
        int rc = inflate(&l->zs, Z_NO_FLUSH);
        size_t used = before_in - l->zs.avail_in;
        size_t made = before_out - l->zs.avail_out;
        l->rp += used;
        l->rn -= used;
        n -= made;
        l->inflated += made;
        if (rc == Z_STREAM_END)
            l->zend = true;
        else if (rc == Z_BUF_ERROR && !used && !made)
            return err_set(e, ERR_PARSE, "%s: truncated gzip stream", l->name);
        else if (rc != Z_OK)
            return err_set(e, ERR_PARSE, "%s: bad gzip data (%s)", l->name, l->zs.msg ? l->zs.msg : "inflate");
    }
    return true;
}

static bool data_skip(struct writer_labels *l, size_t n, struct err *e)
{
    uint8_t tmp[4096];
    while (n) {
        size_t k = n < sizeof tmp ? n : sizeof tmp;
        if (!data_read(l, tmp, k, e))
            return false;
        n -= k;
    }
    return true;
}

/* ---- helpers ---- */

static unsigned dtype_size(enum label_dtype t)
{
    switch (t) {
    case LD_U8: case LD_I8: return 1;
    case LD_U16: case LD_I16: return 2;
    case LD_U32: case LD_I32: case LD_F32: return 4;
    default: return 8;
    }
}

bool labels_is_float(const struct writer_labels *l)
{
    return l->dtype == LD_F32 || l->dtype == LD_F64;
}

static bool check_dims(struct writer_labels *l, const struct writer_limits *lim, struct err *e)
{
    uint64_t max_px = lim && lim->max_pixels ? lim->max_pixels : (1ull << 31);
    for (int a = 0; a < 3; a++)
        if (l->dim[a] == 0 || l->dim[a] > 65535)
            return err_set(e, ERR_INVALID, "%s: size %u along axis %d is out of range", l->name, l->dim[a], a);
    uint64_t px = (uint64_t)l->dim[0] * l->dim[1] * l->dim[2];
    if (px > max_px)
        return err_set(e, ERR_LIMIT, "%s: %llu voxels (limit %llu)", l->name, (unsigned long long)px,
                       (unsigned long long)max_px);
    for (int a = 0; a < 3; a++) {
        double n = 0;
        for (int c = 0; c < 3; c++) {
            if (!isfinite(l->axis[a][c]) || !isfinite(l->origin[c]))
                return err_set(e, ERR_INVALID, "%s: geometry is not finite", l->name);
            n += l->axis[a][c] * l->axis[a][c];
        }
        if (!(n > 1e-12))
            return err_set(e, ERR_INVALID, "%s: zero voxel spacing along axis %d", l->name, a);
    }
    l->bpv = dtype_size(l->dtype);
    l->slice = malloc((size_t)l->dim[0] * l->dim[1] * l->bpv);
    if (!l->slice)
        return err_set(e, ERR_NOMEM, "%s: no memory for a slice", l->name);
    return true;
}

static uint16_t rd16(const uint8_t *p, bool swap)
{
    return swap ? (uint16_t)(p[0] << 8 | p[1]) : (uint16_t)(p[1] << 8 | p[0]);
}
static uint32_t rd32(const uint8_t *p, bool swap)
{
    return swap ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
                : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}
static uint64_t rd64(const uint8_t *p, bool swap)
{
    uint64_t a = rd32(p, swap), b = rd32(p + 4, swap);
    return swap ? a << 32 | b : b << 32 | a;
}
static float rdf32(const uint8_t *p, bool swap)
{
    uint32_t u = rd32(p, swap);
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static double rdf64(const uint8_t *p, bool swap)
{
    uint64_t u = rd64(p, swap);
    double d;
    memcpy(&d, &u, 8);
    return d;
}

/* ---- NIfTI-1 ---- */

static bool nifti_dtype(int code, enum label_dtype *t)
{
    switch (code) {
    case 2: *t = LD_U8; return true;
    case 4: *t = LD_I16; return true;
    case 8: *t = LD_I32; return true;
    case 16: *t = LD_F32; return true;
    case 64: *t = LD_F64; return true;
    case 256: *t = LD_I8; return true;
    case 512: *t = LD_U16; return true;
    case 768: *t = LD_U32; return true;
    case 1024: *t = LD_I64; return true;
    case 1280: *t = LD_U64; return true;
    default: return false;
    }
}

static bool nifti_open(struct writer_labels *l, const uint8_t *h, const struct writer_limits *lim,
                       struct err *e)
{
    bool swap = rd32(h, false) != 348;
    if (swap && rd32(h, true) != 348)
        return err_set(e, ERR_PARSE, "%s: not a NIfTI-1 header", l->name);
    if (memcmp(h + 344, "n+1", 4) != 0) {
        if (memcmp(h + 344, "ni1", 4) == 0)
            return err_set(e, ERR_UNSUPPORTED, "%s: NIfTI with a separate .img file is not supported", l->name);
        return err_set(e, ERR_PARSE, "%s: not a NIfTI-1 file (magic)", l->name);
    }
    int16_t dim[8];
    for (int i = 0; i < 8; i++)
        dim[i] = (int16_t)rd16(h + 40 + 2 * i, swap);
    if (dim[0] < 2 || dim[0] > 7)
        return err_set(e, ERR_INVALID, "%s: %d dimensions (a label volume has 3)", l->name, dim[0]);
    for (int i = 4; i <= dim[0]; i++)
        if (dim[i] != 1)
            return err_set(e, ERR_UNSUPPORTED, "%s: a %d-D volume (size %d along axis %d); labels are 3-D",
                           l->name, dim[0], dim[i], i);
    for (int a = 0; a < 3; a++) {
        int v = a < dim[0] ? dim[a + 1] : 1;
        if (v <= 0)
            return err_set(e, ERR_INVALID, "%s: size %d along axis %d", l->name, v, a);
        l->dim[a] = (uint32_t)v;
    }
    int16_t datatype = (int16_t)rd16(h + 70, swap);
    if (!nifti_dtype(datatype, &l->dtype))
        return err_set(e, ERR_UNSUPPORTED, "%s: NIfTI datatype %d is not a scalar label type", l->name, datatype);
    float pixdim[8];
    for (int i = 0; i < 8; i++)
        pixdim[i] = rdf32(h + 76 + 4 * i, swap);
    float vox_offset = rdf32(h + 108, swap);
    float slope = rdf32(h + 112, swap), inter = rdf32(h + 116, swap);
    if (isfinite(slope) && slope != 0 && isfinite(inter) && (slope != 1 || inter != 0)) {
        l->scaled = true;
        l->slope = slope;
        l->inter = inter;
    }
    int16_t qform_code = (int16_t)rd16(h + 252, swap), sform_code = (int16_t)rd16(h + 254, swap);
    if (sform_code > 0) {
        for (int r = 0; r < 3; r++) {
            const uint8_t *row = h + 280 + 16 * r;
            double sign = r < 2 ? -1 : 1; /* RAS -> LPS */
            for (int a = 0; a < 3; a++)
                l->axis[a][r] = sign * rdf32(row + 4 * a, swap);
            l->origin[r] = sign * rdf32(row + 12, swap);
        }
    } else if (qform_code > 0) {
        double b = rdf32(h + 256, swap), c = rdf32(h + 260, swap), d = rdf32(h + 264, swap);
        double qx = rdf32(h + 268, swap), qy = rdf32(h + 272, swap), qz = rdf32(h + 276, swap);
        double a2 = 1.0 - (b * b + c * c + d * d), a;
        if (a2 < 1e-7) {
            double n = sqrt(b * b + c * c + d * d);
            if (!(n > 0))
                return err_set(e, ERR_INVALID, "%s: bad qform quaternion", l->name);
            b /= n, c /= n, d /= n, a = 0;
        } else {
            a = sqrt(a2);
        }
        double R[3][3] = {{a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)},
                          {2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)},
                          {2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - c * c - b * b}};
        double qfac = pixdim[0] < 0 ? -1 : 1;
        double sp[3] = {pixdim[1], pixdim[2], pixdim[3] * qfac};
        double off[3] = {qx, qy, qz};
        for (int r = 0; r < 3; r++) {
            double sign = r < 2 ? -1 : 1;
            for (int ax = 0; ax < 3; ax++)
                l->axis[ax][r] = sign * R[r][ax] * sp[ax];
            l->origin[r] = sign * off[r];
        }
    } else {
        return err_set(e, ERR_INVALID, "%s: no geometry (NIfTI qform_code and sform_code are both 0)", l->name);
    }
    if (!(vox_offset >= 348) || vox_offset > 16 * 1024 * 1024)
        return err_set(e, ERR_INVALID, "%s: vox_offset %g is out of range", l->name, (double)vox_offset);
    l->swap = swap;
    if (!check_dims(l, lim, e))
        return false;
    return data_skip(l, (size_t)vox_offset - 348, e);
}

/* ---- NRRD ---- */

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = 0;
    return s;
}

static bool nrrd_type(const char *v, enum label_dtype *t)
{
    static const struct {
        const char *name;
        enum label_dtype t;
    } names[] = {
        {"uchar", LD_U8}, {"unsigned char", LD_U8}, {"uint8", LD_U8}, {"uint8_t", LD_U8},
        {"signed char", LD_I8}, {"int8", LD_I8}, {"int8_t", LD_I8},
        {"short", LD_I16}, {"short int", LD_I16}, {"signed short", LD_I16}, {"signed short int", LD_I16},
        {"int16", LD_I16}, {"int16_t", LD_I16},
        {"ushort", LD_U16}, {"unsigned short", LD_U16}, {"unsigned short int", LD_U16}, {"uint16", LD_U16},
        {"uint16_t", LD_U16},
        {"int", LD_I32}, {"signed int", LD_I32}, {"int32", LD_I32}, {"int32_t", LD_I32},
        {"uint", LD_U32}, {"unsigned int", LD_U32}, {"uint32", LD_U32}, {"uint32_t", LD_U32},
        {"longlong", LD_I64}, {"long long", LD_I64}, {"long long int", LD_I64}, {"signed long long", LD_I64},
        {"signed long long int", LD_I64}, {"int64", LD_I64}, {"int64_t", LD_I64},
        {"ulonglong", LD_U64}, {"unsigned long long", LD_U64}, {"unsigned long long int", LD_U64},
        {"uint64", LD_U64}, {"uint64_t", LD_U64},
        {"float", LD_F32}, {"double", LD_F64},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(v, names[i].name)) {
            *t = names[i].t;
            return true;
        }
    return false;
}

/* "(a,b,c)" -> v; returns the position after ')' or NULL. */
static const char *parse_vec(const char *s, double v[3])
{
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s != '(')
        return NULL;
    s++;
    for (int i = 0; i < 3; i++) {
        char *end;
        v[i] = strtod(s, &end);
        if (end == s || !isfinite(v[i]))
            return NULL;
        s = end;
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s != (i < 2 ? ',' : ')'))
            return NULL;
        s++;
    }
    return s;
}

static bool nrrd_open(struct writer_labels *l, char *hdr, const struct writer_limits *lim, struct err *e)
{
    bool have_type = false, have_sizes = false, have_dirs = false, have_origin = false, have_space = false;
    bool raw = true, big = false;
    int dimension = 0;
    double flip[3] = {1, 1, 1};
    char *save = NULL;
    char *line = strtok_r(hdr, "\n", &save); /* magic line */
    while ((line = strtok_r(NULL, "\n", &save))) {
        line = trim(line);
        if (!*line || line[0] == '#')
            continue;
        if (strstr(line, ":=")) /* key/value pair */
            continue;
        char *colon = strchr(line, ':');
        if (!colon)
            return err_set(e, ERR_PARSE, "%s: bad NRRD header line", l->name);
        *colon = 0;
        char *key = trim(line), *val = trim(colon + 1);
        for (char *p = key; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        if (!strcmp(key, "type")) {
            if (!nrrd_type(val, &l->dtype))
                return err_set(e, ERR_UNSUPPORTED, "%s: NRRD type '%.40s' is not a scalar label type", l->name, val);
            have_type = true;
        } else if (!strcmp(key, "dimension")) {
            dimension = (int)strtol(val, NULL, 10);
            if (dimension != 3)
                return err_set(e, ERR_UNSUPPORTED, "%s: NRRD dimension %d (a label volume has 3)", l->name,
                               dimension);
        } else if (!strcmp(key, "sizes")) {
            char *p = val;
            for (int a = 0; a < 3; a++) {
                char *end;
                long v = strtol(p, &end, 10);
                if (end == p || v <= 0 || v > 65535)
                    return err_set(e, ERR_INVALID, "%s: bad NRRD sizes", l->name);
                l->dim[a] = (uint32_t)v;
                p = end;
            }
            have_sizes = true;
        } else if (!strcmp(key, "encoding")) {
            if (!strcmp(val, "raw"))
                raw = true;
            else if (!strcmp(val, "gzip") || !strcmp(val, "gz"))
                raw = false;
            else
                return err_set(e, ERR_UNSUPPORTED, "%s: NRRD encoding '%.20s' (raw and gzip are read)", l->name,
                               val);
        } else if (!strcmp(key, "endian")) {
            big = !strcmp(val, "big");
        } else if (!strcmp(key, "space")) {
            if (!strcmp(val, "left-posterior-superior") || !strcmp(val, "LPS")) {
            } else if (!strcmp(val, "right-anterior-superior") || !strcmp(val, "RAS")) {
                flip[0] = flip[1] = -1;
            } else if (!strcmp(val, "left-anterior-superior") || !strcmp(val, "LAS")) {
                flip[1] = -1;
            } else {
                return err_set(e, ERR_UNSUPPORTED, "%s: NRRD space '%.40s' (LPS, RAS or LAS)", l->name, val);
            }
            have_space = true;
        } else if (!strcmp(key, "space dimension")) {
            return err_set(e, ERR_UNSUPPORTED, "%s: NRRD 'space dimension' without a named space", l->name);
        } else if (!strcmp(key, "space directions")) {
            const char *p = val;
            for (int a = 0; a < 3; a++)
                if (!(p = parse_vec(p, l->axis[a])))
                    return err_set(e, ERR_INVALID, "%s: bad NRRD space directions", l->name);
            have_dirs = true;
        } else if (!strcmp(key, "space origin")) {
            if (!parse_vec(val, l->origin))
                return err_set(e, ERR_INVALID, "%s: bad NRRD space origin", l->name);
            have_origin = true;
        } else if (!strcmp(key, "data file") || !strcmp(key, "datafile")) {
            return err_set(e, ERR_UNSUPPORTED, "%s: detached NRRD data files are not read", l->name);
        } else if (!strcmp(key, "byte skip") || !strcmp(key, "byteskip") || !strcmp(key, "line skip") ||
                   !strcmp(key, "lineskip")) {
            if (strcmp(val, "0"))
                return err_set(e, ERR_UNSUPPORTED, "%s: NRRD %s is not supported", l->name, key);
        }
    }
    if (!have_type || !have_sizes || !dimension)
        return err_set(e, ERR_INVALID, "%s: NRRD header lacks type, dimension or sizes", l->name);
    if (!have_space || !have_dirs)
        return err_set(e, ERR_INVALID, "%s: no geometry (NRRD space and space directions are required)", l->name);
    if (!have_origin)
        l->origin[0] = l->origin[1] = l->origin[2] = 0;
    for (int c = 0; c < 3; c++) {
        l->origin[c] *= flip[c];
        for (int a = 0; a < 3; a++)
            l->axis[a][c] *= flip[c];
    }
    l->swap = big;
    l->gz = !raw;
    return check_dims(l, lim, e);
}

/* ---- open / read ---- */

static bool open_common(struct writer_labels *l, const struct writer_limits *lim, struct err *e)
{
    l->max_inflated = lim && lim->max_label_bytes ? lim->max_label_bytes : (4ull << 30);
    if (!raw_fill(l, e))
        return err_set(e, ERR_PARSE, "%s: empty label file", l->name);
    /* gzip'd NIfTI */
    if (l->rn >= 2 && l->rp[0] == 0x1f && l->rp[1] == 0x8b)
        l->gz = true;
    else if (l->rn >= 4 && !memcmp(l->rp, "NRRD", 4)) {
        /* the header is text up to the first empty line */
        char *hdr = malloc(NRRD_HEADER_MAX + 1);
        if (!hdr)
            return err_set(e, ERR_NOMEM, "no memory");
        size_t n = 0;
        bool done = false;
        while (!done) {
            if (!raw_fill(l, e)) {
                free(hdr);
                return err_set(e, ERR_PARSE, "%s: NRRD header without an empty line", l->name);
            }
            while (l->rn && !done) {
                if (n == NRRD_HEADER_MAX) {
                    free(hdr);
                    return err_set(e, ERR_LIMIT, "%s: NRRD header longer than %d bytes", l->name, NRRD_HEADER_MAX);
                }
                char c = (char)*l->rp++;
                l->rn--;
                if (c == 0) {
                    free(hdr);
                    return err_set(e, ERR_PARSE, "%s: NUL in the NRRD header", l->name);
                }
                hdr[n++] = c;
                if (c == '\n' && (n >= 2 && (hdr[n - 2] == '\n' || (n >= 3 && hdr[n - 2] == '\r' && hdr[n - 3] == '\n'))))
                    done = true;
            }
        }
        hdr[n] = 0;
        bool ok = nrrd_open(l, hdr, lim, e);
        free(hdr);
        return ok;
    }
    uint8_t h[348];
    if (!data_read(l, h, sizeof h, e)) {
        e->code = ERR_PARSE;
        return err_prefix(e, "not NIfTI-1 or NRRD"), false;
    }
    return nifti_open(l, h, lim, e);
}

/* A new reader named name, nothing open yet; NULL with e set. */
static struct writer_labels *labels_new(const char *name, struct err *e)
{
    struct writer_labels *l = calloc(1, sizeof *l);
    if (!l) {
        err_set(e, ERR_NOMEM, "no memory");
        return NULL;
    }
    snprintf(l->name, sizeof l->name, "%s", name ? name : "labels");
    return l;
}

/* l once its header is read, or NULL with e set (l freed). */
static struct writer_labels *labels_opened(struct writer_labels *l, const struct writer_limits *lim,
                                           struct err *e)
{
    if (open_common(l, lim, e))
        return l;
    writer_labels_free(l);
    return NULL;
}

struct writer_labels *writer_labels_open_file(const char *path, const struct writer_limits *lim, struct err *e)
{
    const char *base = strrchr(path, '/');
    struct writer_labels *l = labels_new(base ? base + 1 : path, e);
    if (!l)
        return NULL;
    l->fp = fopen(path, "rb");
    l->rbuf = malloc(RBUF_SIZE);
    if (!l->fp || !l->rbuf) {
        err_set(e, l->fp ? ERR_NOMEM : ERR_NOT_FOUND, "%s: cannot open label file", path);
        writer_labels_free(l);
        return NULL;
    }
    return labels_opened(l, lim, e);
}

struct writer_labels *writer_labels_open_mem(const uint8_t *data, size_t len, const char *name,
                                             const struct writer_limits *lim, struct err *e)
{
    struct writer_labels *l = labels_new(name, e);
    if (!l)
        return NULL;
    l->mem = data;
    l->mem_len = len;
    l->rp = data;
    l->rn = len;
    return labels_opened(l, lim, e);
}

void writer_labels_free(struct writer_labels *l)
{
    if (!l)
        return;
    if (l->zinit)
        inflateEnd(&l->zs);
    for (size_t i = 0; i < l->n_masks; i++) {
        if (l->mask_uids)
            free(l->mask_uids[i]);
        if (l->mask_vals)
            free(l->mask_vals[i]);
    }
    free(l->mask_uids);
    free(l->mask_vals);
    if (l->fp)
        fclose(l->fp);
    free(l->rbuf);
    free(l->slice);
    free(l);
}

static bool all_zero(const uint8_t *p, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (w)
            return false;
    }
    for (; i < n; i++)
        if (p[i])
            return false;
    return true;
}

static void convert(const struct writer_labels *l, const uint8_t *p, float *out, size_t n)
{
    bool sw = l->swap;
    switch (l->dtype) {
    case LD_U8:
        for (size_t i = 0; i < n; i++)
            out[i] = p[i];
        break;
    case LD_I8:
        for (size_t i = 0; i < n; i++)
            out[i] = (int8_t)p[i];
        break;
    case LD_U16:
        for (size_t i = 0; i < n; i++)
            out[i] = rd16(p + 2 * i, sw);
        break;
    case LD_I16:
        for (size_t i = 0; i < n; i++)
            out[i] = (int16_t)rd16(p + 2 * i, sw);
        break;
    case LD_U32:
        for (size_t i = 0; i < n; i++)
            out[i] = (float)rd32(p + 4 * i, sw);
        break;
    case LD_I32:
        for (size_t i = 0; i < n; i++)
            out[i] = (float)(int32_t)rd32(p + 4 * i, sw);
        break;
    case LD_U64:
        for (size_t i = 0; i < n; i++)
            out[i] = (float)rd64(p + 8 * i, sw);
        break;
    case LD_I64:
        for (size_t i = 0; i < n; i++)
            out[i] = (float)(int64_t)rd64(p + 8 * i, sw);
        break;
    case LD_F32:
        for (size_t i = 0; i < n; i++)
            out[i] = rdf32(p + 4 * i, sw);
        break;
    case LD_F64:
        for (size_t i = 0; i < n; i++)
            out[i] = (float)rdf64(p + 8 * i, sw);
        break;
    }
    if (l->scaled)
        for (size_t i = 0; i < n; i++)
            out[i] = (float)(out[i] * l->slope + l->inter);
}

bool labels_read_slice(struct writer_labels *l, float *out, uint8_t *row_nz, struct err *e)
{
    if (l->next_slice >= l->dim[2])
        return err_set(e, ERR_INTERNAL, "%s: read past the last slice", l->name);
    size_t nx = l->dim[0], ny = l->dim[1];
    if (l->n_masks) {
        const uint16_t *v = l->mask_vals[l->next_slice++];
        for (size_t i = 0; i < nx * ny; i++)
            out[i] = v[i];
        if (row_nz)
            memset(row_nz, 1, ny);
        return true;
    }
    if (!data_read(l, l->slice, nx * ny * l->bpv, e))
        return false;
    l->next_slice++;
    /* Label volumes are mostly zero: rows whose stored bytes are all zero are
     * not converted (unless scaling maps 0 to something else). */
    bool zero_is_zero = !l->scaled || l->inter == 0;
    size_t row_bytes = nx * l->bpv;
    for (size_t j = 0; j < ny; j++) {
        const uint8_t *raw = l->slice + j * row_bytes;
        if (zero_is_zero && all_zero(raw, row_bytes)) {
            memset(out + j * nx, 0, nx * sizeof *out);
            if (row_nz)
                row_nz[j] = 0;
            continue;
        }
        convert(l, raw, out + j * nx, nx);
        if (row_nz)
            row_nz[j] = 1;
    }
    return true;
}
