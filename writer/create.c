/* writer_seg_create: label volumes + metadata + source series -> SEG.
 *
 * 1. Each label volume's grid is checked against the source: its in-plane axes
 *    must run along the source's row and column directions (either sign), its
 *    in-plane size and spacing must match, and each slice must lie within half a
 *    slice of one source image (matched by position, never by index).
 * 2. Slices are read one at a time; every non-zero voxel goes into the frame of
 *    its segment at its source image (bit-packed for BINARY, bytes for
 *    FRACTIONAL, segment numbers for LABELMAP). Only non-empty frames are kept
 *    (unless keep_empty_frames).
 * 3. Frames are ordered by segment number, then position along the normal (one
 *    frame per position for LABELMAP), packed into Pixel Data -- BINARY frames
 *    follow each other bit by bit, with no padding -- and the bridge writes the
 *    data set.
 * Segment numbers are 1..N, as the standard requires: in labelID order when the
 * labelIDs are unique over all label files (so labels 1..N keep their numbers and
 * volume -> create -> volume is exact), else in metadata order. LABELMAP pixels
 * hold these segment numbers. */
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "writer/bridge.h"
#include "writer/internal.h"

struct out_seg {
    uint16_t number;
    const struct meta_segment *m;
    bool seen;
};

/* Frame buffers come from 2 MiB-aligned chunks advised as huge pages: fresh
 * zero pages (no memset), one fault per 2 MiB instead of per 4 KiB (faults
 * were a fifth of the time on a 357-frame 512x512 object). */
#define CHUNK_ALIGN (2u << 20)

struct arena {
    uint8_t **chunks;
    size_t n, cap, used, chunk_size;
};

static uint8_t *arena_alloc(struct arena *a, size_t n)
{
    if (!a->n || a->used + n > a->chunk_size) {
        if (!a->chunk_size) {
            a->chunk_size = 16u << 20;
            while (a->chunk_size < n)
                a->chunk_size *= 2;
        }
        if (a->n == a->cap) {
            size_t nc = a->cap ? a->cap * 2 : 16;
            uint8_t **c = realloc(a->chunks, nc * sizeof *c);
            if (!c)
                return NULL;
            a->chunks = c;
            a->cap = nc;
        }
        void *m = mmap(NULL, a->chunk_size + CHUNK_ALIGN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
            return NULL;
        uintptr_t base = ((uintptr_t)m + CHUNK_ALIGN - 1) & ~(uintptr_t)(CHUNK_ALIGN - 1);
        /* give back the unaligned head and tail */
        if (base > (uintptr_t)m)
            munmap(m, base - (uintptr_t)m);
        size_t tail = (uintptr_t)m + a->chunk_size + CHUNK_ALIGN - (base + a->chunk_size);
        if (tail)
            munmap((void *)(base + a->chunk_size), tail);
        madvise((void *)base, a->chunk_size, MADV_HUGEPAGE);
        a->chunks[a->n++] = (uint8_t *)base;
        a->used = 0;
    }
    uint8_t *r = a->chunks[a->n - 1] + a->used;
    a->used += (n + 63) & ~(size_t)63;
    return r;
}

static void arena_free(struct arena *a)
{
    for (size_t i = 0; i < a->n; i++)
        munmap(a->chunks[i], a->chunk_size);
    free(a->chunks);
}

struct plan {
    const struct writer_source *src;
    const struct writer_options *opt;
    enum writer_type type;
    size_t n_segs, n_src, px;      /* px = rows * cols */
    struct out_seg *segs;          /* sorted by number */
    size_t frame_bytes;            /* bytes of one frame buffer */
    uint8_t **frames;              /* [seg * n_src + s], or [s] for LABELMAP */
    bool *covered;                 /* same shape: a label slice fell on this image */
    uint64_t allocated, max_bytes;
    struct arena arena;
    unsigned label_bytes;          /* LABELMAP: 1 or 2 */
};

static size_t slot(const struct plan *p, size_t seg, size_t s)
{
    return p->type == WRITER_LABELMAP ? s : seg * p->n_src + s;
}

static uint8_t *frame_get(struct plan *p, size_t idx, struct err *e)
{
    if (p->frames[idx])
        return p->frames[idx];
    if (p->allocated + p->frame_bytes > p->max_bytes) {
        err_set(e, ERR_LIMIT, "the segmentation needs more than %llu bytes of frames",
                (unsigned long long)p->max_bytes);
        return NULL;
    }
    p->frames[idx] = arena_alloc(&p->arena, p->frame_bytes);
    if (!p->frames[idx])
        err_set(e, ERR_NOMEM, "no memory for a frame");
    else
        p->allocated += p->frame_bytes;
    return p->frames[idx];
}

/* ---- geometry ---- */

struct mapping {
    ptrdiff_t base, sc, sr; /* label index in a slice of source pixel (r, c) = base + c*sc + r*sr */
    bool rows_are_rows;     /* label row j = j0 + r * jstep holds source row r */
    ptrdiff_t j0, jstep;
    double p0[3];           /* LPS of source pixel (0, 0) in label slice 0 */
};

static double dot(const double *a, const double *b)
{
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

static bool map_labels(const struct writer_source *src, const struct writer_labels *l, struct mapping *m,
                       struct err *e)
{
    const double *row = src->iop, *col = src->iop + 3;
    int axis_c = -1, axis_r = -1, sign_c = 0, sign_r = 0;
    for (int a = 0; a < 2; a++) {
        double len = sqrt(dot(l->axis[a], l->axis[a]));
        double dr = dot(l->axis[a], row) / len, dc = dot(l->axis[a], col) / len;
        if (fabs(dr) > 0.999 && axis_c < 0) {
            axis_c = a, sign_c = dr > 0 ? 1 : -1;
            if (fabs(len - src->spacing[1]) > 1e-3 * src->spacing[1] + 1e-4)
                return err_set(e, ERR_INVALID, "%s: column spacing %.6g mm, the source's is %.6g mm", l->name, len,
                               src->spacing[1]);
        } else if (fabs(dc) > 0.999 && axis_r < 0) {
            axis_r = a, sign_r = dc > 0 ? 1 : -1;
            if (fabs(len - src->spacing[0]) > 1e-3 * src->spacing[0] + 1e-4)
                return err_set(e, ERR_INVALID, "%s: row spacing %.6g mm, the source's is %.6g mm", l->name, len,
                               src->spacing[0]);
        }
    }
    if (axis_c < 0 || axis_r < 0)
        return err_set(e, ERR_INVALID, "%s: the volume's in-plane axes do not run along the source images' rows and "
                                       "columns (orientation mismatch)", l->name);
    double klen = sqrt(dot(l->axis[2], l->axis[2]));
    if (fabs(dot(l->axis[2], src->normal)) / klen < 0.999)
        return err_set(e, ERR_INVALID, "%s: the volume's slice axis is not the source's slice normal", l->name);
    uint32_t ncols = l->dim[axis_c], nrows = l->dim[axis_r];
    if (ncols != src->cols || nrows != src->rows)
        return err_set(e, ERR_INVALID, "%s: slices are %u rows x %u columns, the source images %u x %u", l->name,
                       nrows, ncols, src->rows, src->cols);
    ptrdiff_t stride[2] = {1, (ptrdiff_t)l->dim[0]};
    ptrdiff_t idx[2] = {0, 0};
    idx[axis_c] = sign_c > 0 ? 0 : (ptrdiff_t)ncols - 1;
    idx[axis_r] = sign_r > 0 ? 0 : (ptrdiff_t)nrows - 1;
    m->sc = sign_c * stride[axis_c];
    m->sr = sign_r * stride[axis_r];
    m->base = idx[0] * stride[0] + idx[1] * stride[1];
    m->rows_are_rows = axis_r == 1;
    m->j0 = idx[1];
    m->jstep = sign_r;
    for (int k = 0; k < 3; k++)
        m->p0[k] = l->origin[k] + idx[0] * l->axis[0][k] + idx[1] * l->axis[1][k];
    return true;
}

/* Index of the source image label slice k lies on. */
static bool match_slice(const struct writer_source *src, const struct writer_labels *l, const struct mapping *m,
                        uint32_t k, size_t *out, struct err *e)
{
    double p[3];
    for (int c = 0; c < 3; c++)
        p[c] = m->p0[c] + k * l->axis[2][c];
    double d = dot(p, src->normal);
    double half = src->n > 1 ? src->gap / 2 : (src->has_thickness && src->thickness > 0 ? src->thickness / 2 : 0.5);
    size_t lo = 0, hi = src->n; /* first image with dist >= d - half */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (src->images[mid].dist < d - half)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t best = SIZE_MAX;
    for (size_t i = lo; i < src->n && src->images[i].dist <= d + half; i++)
        if (best == SIZE_MAX || fabs(src->images[i].dist - d) < fabs(src->images[best].dist - d))
            best = i;
    if (best == SIZE_MAX)
        return err_set(e, ERR_INVALID, "%s: slice %u at (%.3f, %.3f, %.3f) has no source image within half a slice "
                                       "(%.3g mm)", l->name, k, p[0], p[1], p[2], half);
    const double *q = src->images[best].ipp;
    double off[3] = {p[0] - q[0], p[1] - q[1], p[2] - q[2]};
    double along = dot(off, src->normal);
    double inplane = sqrt(fmax(0, dot(off, off) - along * along));
    double tol = 0.5 * fmin(src->spacing[0], src->spacing[1]);
    if (inplane > tol)
        return err_set(e, ERR_INVALID, "%s: slice %u is shifted %.3g mm in-plane from source image %s", l->name, k,
                       inplane, src->images[best].sop_uid);
    *out = best;
    return true;
}

/* ---- reading the labels into frames ---- */

static bool bad_value(const struct writer_labels *l, uint32_t k, float v, size_t file, struct err *e)
{
    if (v != v)
        return err_set(e, ERR_INVALID, "%s: slice %u holds NaN", l->name, k);
    return err_set(e, ERR_INVALID, "%s: label value %g (slice %u) is not in the metadata (segmentAttributes[%zu])",
                   l->name, (double)v, k, file);
}

static bool read_file(struct plan *p, size_t file, struct writer_labels *l, const int32_t *lut, float *vals,
                      uint8_t *row_nz, size_t *matched_of, size_t *skipped, struct err *e)
{
    struct mapping m = {0};
    if (l->n_masks) {
        if (l->dim[0] != p->src->cols || l->dim[1] != p->src->rows)
            return err_set(e, ERR_INVALID, "%s: masks are %u rows x %u columns, the source images %u x %u", l->name,
                           l->dim[1], l->dim[0], p->src->rows, p->src->cols);
        m.sc = 1, m.sr = (ptrdiff_t)l->dim[0], m.rows_are_rows = true, m.jstep = 1;
    } else if (!map_labels(p->src, l, &m, e)) {
        return false;
    }
    const uint32_t rows = p->src->rows, cols = p->src->cols;
    bool is_float = labels_is_float(l);
    size_t file_seg = SIZE_MAX; /* FRACTIONAL: the file's one segment */
    if (p->type == WRITER_FRACTIONAL)
        for (size_t g = 0; g < p->n_segs; g++)
            if (p->segs[g].m->file == file)
                file_seg = g;
    for (size_t s = 0; s < p->n_src; s++)
        matched_of[s] = SIZE_MAX;
    for (uint32_t k = 0; k < l->dim[2]; k++) {
        size_t s = 0;
        if (l->n_masks) {
            /* masks are named by SOP Instance UID */
            for (s = 0; s < p->n_src; s++)
                if (!strcmp(p->src->images[s].sop_uid, l->mask_uids[k]))
                    break;
            if (s == p->n_src)
                return err_set(e, ERR_INVALID, "%s: mask %s names no image of the source series", l->name,
                               l->mask_uids[k]);
        } else {
            struct err me = ERR_INIT;
            if (!match_slice(p->src, l, &m, k, &s, &me)) {
                /* A slice off the source images is an error only when it holds
                 * labels (they would be lost); empty ones are skipped, so a
                 * regular volume over an irregular series still fits. */
                if (!labels_read_slice(l, vals, row_nz, e))
                    return false;
                size_t n = (size_t)l->dim[0] * l->dim[1];
                for (size_t i = 0; i < n; i++)
                    if (vals[i] != 0) {
                        *e = me;
                        return false;
                    }
                (*skipped)++;
                continue;
            }
        }
        if (matched_of[s] != SIZE_MAX)
            return err_set(e, ERR_INVALID, "%s: slices %zu and %u both lie on source image %s", l->name, matched_of[s],
                           k, p->src->images[s].sop_uid);
        matched_of[s] = k;
        if (!labels_read_slice(l, vals, row_nz, e))
            return false;
        for (size_t g = 0; g < p->n_segs; g++)
            if (p->segs[g].m->file == file)
                p->covered[slot(p, g, s)] = true;
        int32_t last_v = -1;
        size_t last_g = 0;
        uint8_t *fr = NULL;
        for (uint32_t r = 0; r < rows; r++) {
            if (m.rows_are_rows && !row_nz[m.j0 + (ptrdiff_t)r * m.jstep])
                continue;
            const ptrdiff_t rb = m.base + (ptrdiff_t)r * m.sr;
            for (uint32_t c = 0; c < cols; c++) {
                float v = vals[rb + (ptrdiff_t)c * m.sc];
                if (v == 0)
                    continue;
                size_t px = (size_t)r * cols + c;
                if (p->type == WRITER_FRACTIONAL) {
                    double f;
                    if (is_float) {
                        if (!(v >= -1e-6f && v <= 1.000001f))
                            return err_set(e, ERR_INVALID, "%s: value %g (slice %u) is outside 0..1", l->name,
                                           (double)v, k);
                        f = round((double)v * 255.0);
                    } else {
                        if (!(v >= 0 && v <= 255))
                            return err_set(e, ERR_INVALID, "%s: value %g (slice %u) is outside 0..255", l->name,
                                           (double)v, k);
                        f = v;
                    }
                    if (f == 0)
                        continue;
                    if (!fr && !(fr = frame_get(p, slot(p, file_seg, s), e)))
                        return false;
                    p->segs[file_seg].seen = true;
                    fr[px] = (uint8_t)f;
                    continue;
                }
                int32_t iv = (int32_t)v;
                if ((float)iv != v || iv < 1 || iv > 65535 || lut[iv] < 0)
                    return bad_value(l, k, v, file, e);
                size_t g = (size_t)lut[iv];
                if (iv != last_v || !fr) {
                    p->segs[g].seen = true;
                    if (!(fr = frame_get(p, slot(p, g, s), e)))
                        return false;
                    last_v = iv, last_g = g;
                }
                (void)last_g;
                if (p->type == WRITER_BINARY) {
                    fr[px >> 3] |= (uint8_t)(1u << (px & 7));
                } else { /* LABELMAP */
                    uint16_t num = p->segs[g].number, old;
                    if (p->label_bytes == 1) {
                        old = fr[px];
                        fr[px] = (uint8_t)num;
                    } else {
                        old = (uint16_t)(fr[2 * px] | fr[2 * px + 1] << 8);
                        fr[2 * px] = (uint8_t)num;
                        fr[2 * px + 1] = (uint8_t)(num >> 8);
                    }
                    if (old && old != num)
                        return err_set(e, ERR_INVALID, "segments %u and %u overlap on source image %s: a LABELMAP "
                                                       "cannot hold overlapping segments (use BINARY)",
                                       old, num, p->src->images[s].sop_uid);
                }
            }
        }
    }
    return true;
}

/* ---- UIDs ---- */

static bool make_uid(const char *root, char *out, struct err *e)
{
    unsigned char r[16];
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t n = getrandom(r + got, sizeof r - got, 0);
        if (n <= 0)
            return err_set(e, ERR_INTERNAL, "getrandom failed");
        got += (size_t)n;
    }
    unsigned __int128 v = 0;
    for (int i = 0; i < 16; i++)
        v = v << 8 | r[i];
    if (root)
        v >>= 64; /* root + 20 digits at most */
    char digits[48];
    int n = 0;
    do {
        digits[n++] = (char)('0' + (int)(v % 10));
        v /= 10;
    } while (v);
    /* out holds 65 bytes: a root of at most 40 characters + '.' + 20 digits, or
     * "2.25." + 39 digits */
    int k = snprintf(out, 65, "%s.", root ? root : "2.25");
    while (n && k < 64)
        out[k++] = digits[--n];
    out[k] = 0;
    return true;
}

static bool uid_root_ok(const char *root)
{
    size_t n = strlen(root);
    if (n == 0 || n > 40 || root[0] == '.' || root[n - 1] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = root[i];
        if (c == '.') {
            if (root[i + 1] == '.')
                return false;
        } else if (c < '0' || c > '9') {
            return false;
        } else if (c == '0' && (i == 0 || root[i - 1] == '.') && i + 1 < n && root[i + 1] != '.') {
            return false; /* no leading zeros in a component */
        }
    }
    return true;
}

/* ---- RLE (PS3.5 Annex G) ---- */

static bool rle_segment(struct buf *o, const uint8_t *in, size_t n, size_t row, struct err *e)
{
    for (size_t start = 0; start < n; start += row) {
        size_t len = n - start < row ? n - start : row;
        const uint8_t *p = in + start;
        size_t i = 0;
        while (i < len) {
            size_t j = i + 1;
            while (j < len && j - i < 128 && p[j] == p[i])
                j++;
            if (j - i >= 2) {
                uint8_t h[2] = {(uint8_t)(257 - (j - i)), p[i]};
                if (!buf_append(o, h, 2, e))
                    return false;
                i = j;
                continue;
            }
            size_t k = i;
            while (k < len && k - i < 128 && !(k + 1 < len && p[k] == p[k + 1]))
                k++;
            if (k == i)
                k = i + 1;
            uint8_t h = (uint8_t)(k - i - 1);
            if (!buf_append(o, &h, 1, e) || !buf_append(o, p + i, k - i, e))
                return false;
            i = k;
        }
    }
    if (o->len & 1) {
        uint8_t z = 0;
        return buf_append(o, &z, 1, e);
    }
    return true;
}

/* One RLE fragment into the empty buffer o: the 64-byte header, then one
 * segment per byte of a pixel, most significant first (bytes_pp 0: a 1-bit
 * frame, its packed bytes as one segment). */
static bool rle_frame(struct buf *o, const uint8_t *fr, size_t px, unsigned bytes_pp, size_t nbytes_1bit,
                      uint32_t cols, struct err *e)
{
    uint8_t hdr[64] = {0};
    if (!buf_append(o, hdr, sizeof hdr, e))
        return false;
    unsigned nseg = bytes_pp == 2 ? 2 : 1;
    uint32_t offsets[2] = {0, 0};
    uint8_t *plane = NULL;
    if (bytes_pp == 2 && !(plane = malloc(px)))
        return err_set(e, ERR_NOMEM, "no memory");
    bool ok = true;
    for (unsigned sg = 0; sg < nseg && ok; sg++) {
        offsets[sg] = (uint32_t)o->len;
        if (bytes_pp == 0) {
            ok = rle_segment(o, fr, nbytes_1bit, nbytes_1bit, e);
        } else if (bytes_pp == 1) {
            ok = rle_segment(o, fr, px, cols, e);
        } else {
            unsigned byte = sg == 0 ? 1 : 0; /* frames hold little-endian 16-bit values */
            for (size_t i = 0; i < px; i++)
                plane[i] = fr[2 * i + byte];
            ok = rle_segment(o, plane, px, cols, e);
        }
    }
    free(plane);
    if (!ok)
        return false;
    o->data[0] = (uint8_t)nseg;
    for (unsigned sg = 0; sg < nseg; sg++)
        for (int k = 0; k < 4; k++)
            o->data[4 + 4 * sg + k] = (uint8_t)(offsets[sg] >> (8 * k));
    return true;
}

/* ---- Pixel Data ---- */

struct packer {
    uint8_t *const *order; /* frame buffers in output order */
    size_t n_frames, frame_bytes, px;
    bool binary;
};

/* BINARY: frame i starts at bit i * px, no padding between frames (dst is zeroed). */
static void pack(void *arg, uint8_t *dst, size_t len)
{
    const struct packer *k = arg;
    for (size_t i = 0; i < k->n_frames; i++) {
        const uint8_t *fr = k->order[i];
        if (!k->binary) {
            memcpy(dst + i * k->frame_bytes, fr, k->frame_bytes);
            continue;
        }
        uint64_t bit = (uint64_t)i * k->px;
        size_t byte = (size_t)(bit >> 3);
        unsigned sh = (unsigned)(bit & 7);
        if (sh == 0) {
            memcpy(dst + byte, fr, k->frame_bytes);
            continue;
        }
        for (size_t b = 0; b < k->frame_bytes; b++) {
            if (!fr[b])
                continue;
            dst[byte + b] |= (uint8_t)(fr[b] << sh);
            if (byte + b + 1 < len)
                dst[byte + b + 1] |= (uint8_t)(fr[b] >> (8 - sh));
        }
    }
}

/* Appends the Pixel Data element (Explicit VR Little Endian) to the file the
 * bridge wrote without it, straight from the frame buffers. BINARY frames that
 * do not end on a byte boundary are shifted through a small staging buffer. */
struct bitout {
    FILE *f;
    uint8_t buf[65536];
    size_t n;
    unsigned acc, nbits;
    uint64_t total;
    bool ok;
};

static void emit(struct bitout *w, const uint8_t *p, size_t n)
{
    if (w->n + n > sizeof w->buf) {
        if (w->n && fwrite(w->buf, 1, w->n, w->f) != w->n)
            w->ok = false;
        w->n = 0;
        if (n > sizeof w->buf) {
            if (fwrite(p, 1, n, w->f) != n)
                w->ok = false;
            w->total += n;
            return;
        }
    }
    memcpy(w->buf + w->n, p, n);
    w->n += n;
    w->total += n;
}

static void emit_bits(struct bitout *w, const uint8_t *fr, size_t px)
{
    if (w->nbits == 0 && px % 8 == 0) {
        emit(w, fr, px / 8);
        return;
    }
    size_t nb = (px + 7) / 8;
    for (size_t b = 0; b < nb; b++) {
        unsigned k = (b == nb - 1 && px % 8) ? (unsigned)(px % 8) : 8;
        unsigned v = fr[b] & ((1u << k) - 1);
        w->acc |= v << w->nbits;
        w->nbits += k;
        if (w->nbits >= 8) {
            uint8_t c = (uint8_t)(w->acc & 0xff);
            emit(w, &c, 1);
            w->acc >>= 8;
            w->nbits -= 8;
        }
    }
}

static bool append_pixel_data(const char *path, const struct packer *k, uint16_t bits, size_t len, uint64_t *bytes,
                              struct err *e)
{
    struct bitout *w = calloc(1, sizeof *w);
    if (!w)
        return err_set(e, ERR_NOMEM, "no memory");
    w->ok = true;
    w->f = fopen(path, "ab");
    if (!w->f) {
        free(w);
        return err_set(e, ERR_IO, "%s: cannot append Pixel Data", path);
    }
    uint8_t hdr[12] = {0xE0, 0x7F, 0x10, 0x00, 'O', bits > 8 ? 'W' : 'B', 0, 0};
    for (int i = 0; i < 4; i++)
        hdr[8 + i] = (uint8_t)(len >> (8 * i));
    emit(w, hdr, sizeof hdr);
    for (size_t i = 0; i < k->n_frames; i++) {
        if (k->binary)
            emit_bits(w, k->order[i], k->px);
        else
            emit(w, k->order[i], k->frame_bytes);
    }
    if (w->nbits) {
        uint8_t c = (uint8_t)w->acc;
        emit(w, &c, 1);
    }
    if ((w->total - sizeof hdr) & 1) {
        uint8_t z = 0;
        emit(w, &z, 1);
    }
    if (w->n && fwrite(w->buf, 1, w->n, w->f) != w->n)
        w->ok = false;
    bool ok = w->ok && w->total - sizeof hdr == len;
    if (fclose(w->f) != 0)
        ok = false;
    *bytes += w->total;
    free(w);
    if (!ok)
        return err_set(e, ERR_IO, "%s: cannot write Pixel Data", path);
    return true;
}

/* ---- the whole thing ---- */

static int cmp_seg(const void *a, const void *b)
{
    const struct out_seg *x = a, *y = b;
    return (int)x->number - (int)y->number;
}

bool writer_seg_create(const struct writer_source *src, struct writer_labels *const *labels, size_t n_labels,
                       const struct writer_meta *meta, const struct writer_options *opt_in,
                       const char *out_path, struct writer_result *res, struct err *e)
{
    struct writer_options dflt = {0};
    const struct writer_options *opt = opt_in ? opt_in : &dflt;
    struct plan p = {.src = src, .opt = opt, .type = opt->type, .n_src = src->n};
    p.px = (size_t)src->rows * src->cols;
    p.max_bytes = opt->limits.max_output_bytes ? opt->limits.max_output_bytes : (2ull << 30);
    uint64_t max_frames = opt->limits.max_frames ? opt->limits.max_frames : 100000;
    bool ok = false;
    float *vals = NULL;
    uint8_t *row_nz = NULL;
    size_t *matched_of = NULL;
    int32_t *lut = NULL;
    struct segout_segment *osegs = NULL;
    struct segout_code *codes = NULL;
    struct segout_frame *oframes = NULL;
    const char **ref_classes = NULL, **ref_uids = NULL;
    uint8_t *zero = NULL;
    uint8_t **order = NULL;
    uint8_t **frags = NULL;
    size_t *frag_lens = NULL;
    size_t n_frames = 0;
    char sop_uid[65], series_uid[65], dim_uid[65];
    struct segout_attr *attrs = NULL;

    if (n_labels == 0)
        return err_set(e, ERR_INVALID, "no label volume given");
    if (n_labels != meta->n_files)
        return err_set(e, ERR_INVALID, "%zu label file(s) but segmentAttributes has %zu list(s) (one per label file)",
                       n_labels, meta->n_files);
    if (opt->uid_root && !uid_root_ok(opt->uid_root))
        return err_set(e, ERR_INVALID, "--uid-root '%s' is not a UID root (dotted numbers, at most 40 characters)",
                       opt->uid_root);

    /* segments and their numbers */
    p.n_segs = meta->n_segs;
    p.segs = calloc(p.n_segs, sizeof *p.segs);
    if (!p.segs)
        goto nomem;
    bool unique = true;
    for (size_t i = 0; i < meta->n_segs && unique; i++)
        for (size_t j = 0; j < i; j++)
            if (meta->segs[i].label_id == meta->segs[j].label_id) {
                unique = false;
                break;
            }
    for (size_t i = 0; i < meta->n_segs; i++) {
        p.segs[i].m = &meta->segs[i];
        p.segs[i].number = (uint16_t)(unique ? meta->segs[i].label_id : i + 1); /* sort key */
    }
    qsort(p.segs, p.n_segs, sizeof *p.segs, cmp_seg);
    /* Segment numbers start at 1 and increase by 1 (PS3.3 C.8.20.2) */
    for (size_t i = 0; i < p.n_segs; i++)
        p.segs[i].number = (uint16_t)(i + 1);
    if (p.type == WRITER_FRACTIONAL)
        for (size_t f = 0; f < n_labels; f++) {
            size_t c = 0;
            for (size_t g = 0; g < p.n_segs; g++)
                c += p.segs[g].m->file == f;
            if (c != 1) {
                err_set(e, ERR_INVALID, "FRACTIONAL: label file %zu must describe exactly one segment (has %zu)", f + 1,
                        c);
                goto out;
            }
        }
    uint16_t max_number = p.segs[p.n_segs - 1].number;
    p.label_bytes = max_number > 255 ? 2 : 1;
    p.frame_bytes = p.type == WRITER_BINARY ? (p.px + 7) / 8 : p.type == WRITER_FRACTIONAL ? p.px : p.px * p.label_bytes;
    size_t n_slots = p.type == WRITER_LABELMAP ? p.n_src : p.n_segs * p.n_src;
    p.frames = calloc(n_slots, sizeof *p.frames);
    p.covered = calloc(n_slots, sizeof *p.covered);
    matched_of = calloc(p.n_src, sizeof *matched_of);
    lut = malloc(65536 * sizeof *lut);
    if (!p.frames || !p.covered || !matched_of || !lut)
        goto nomem;

    /* read every label file */
    for (size_t f = 0; f < n_labels; f++) {
        struct writer_labels *l = labels[f];
        for (size_t v = 0; v < 65536; v++)
            lut[v] = -1;
        for (size_t g = 0; g < p.n_segs; g++)
            if (p.segs[g].m->file == f)
                lut[p.segs[g].m->label_id] = (int32_t)g;
        free(vals);
        free(row_nz);
        vals = malloc((size_t)l->dim[0] * l->dim[1] * sizeof *vals);
        row_nz = malloc(l->dim[1]);
        if (!vals || !row_nz)
            goto nomem;
        size_t skipped = 0;
        if (!read_file(&p, f, l, lut, vals, row_nz, matched_of, &skipped, e))
            goto out;
        if (skipped && opt->warn) {
            char msg[400];
            snprintf(msg, sizeof msg, "%s: %zu empty slice(s) lie on no source image and were skipped", l->name,
                     skipped);
            opt->warn(opt->warn_arg, msg);
        }
    }
    for (size_t g = 0; g < p.n_segs; g++)
        if (!p.segs[g].seen && opt->warn) {
            char msg[300];
            snprintf(msg, sizeof msg, "labelID %u (%s) does not occur in label file %zu: segment %u is written "
                     "without frames", p.segs[g].m->label_id, p.segs[g].m->label, p.segs[g].m->file + 1,
                     p.segs[g].number);
            opt->warn(opt->warn_arg, msg);
        }

    /* frames in order: segment, then position */
    bool *pos_used = calloc(p.n_src, sizeof *pos_used);
    uint32_t *pos_rank = calloc(p.n_src, sizeof *pos_rank);
    oframes = calloc(n_slots, sizeof *oframes);
    order = calloc(n_slots, sizeof *order);
    if (!pos_used || !pos_rank || !oframes || !order) {
        free(pos_used), free(pos_rank);
        goto nomem;
    }
    size_t n_groups = p.type == WRITER_LABELMAP ? 1 : p.n_segs;
    for (size_t g = 0; g < n_groups; g++)
        for (size_t s = 0; s < p.n_src; s++) {
            size_t idx = p.type == WRITER_LABELMAP ? s : g * p.n_src + s;
            if (p.frames[idx] || (opt->keep_empty_frames && p.covered[idx]))
                pos_used[s] = true;
        }
    uint32_t rank = 0;
    for (size_t s = 0; s < p.n_src; s++)
        if (pos_used[s])
            pos_rank[s] = ++rank;
    zero = calloc(1, p.frame_bytes);
    if (!zero) {
        free(pos_used), free(pos_rank);
        goto nomem;
    }
    for (size_t g = 0; g < n_groups; g++)
        for (size_t s = 0; s < p.n_src; s++) {
            size_t idx = p.type == WRITER_LABELMAP ? s : g * p.n_src + s;
            if (!(p.frames[idx] || (opt->keep_empty_frames && p.covered[idx])))
                continue;
            struct segout_frame *fr = &oframes[n_frames];
            fr->segment = p.type == WRITER_LABELMAP ? 0 : p.segs[g].number;
            fr->pos_index = pos_rank[s];
            memcpy(fr->ipp, src->images[s].ipp, sizeof fr->ipp);
            fr->src_class = src->images[s].class_uid;
            fr->src_uid = src->images[s].sop_uid;
            order[n_frames++] = p.frames[idx] ? p.frames[idx] : zero;
        }
    free(pos_rank);
    if (n_frames == 0) {
        free(pos_used);
        err_set(e, ERR_INVALID, "every label volume is empty: nothing to write");
        goto out;
    }
    if (n_frames > max_frames) {
        free(pos_used);
        err_set(e, ERR_LIMIT, "%zu frames (limit %llu)", n_frames, (unsigned long long)max_frames);
        goto out;
    }

    /* overlap (BINARY: only several label files can overlap) */
    const char *overlap = p.type == WRITER_LABELMAP ? "NO" : p.type == WRITER_FRACTIONAL ? "UNDEFINED" : "NO";
    if (p.type == WRITER_BINARY && n_labels > 1) {
        uint8_t *acc = malloc(p.frame_bytes);
        if (!acc) {
            free(pos_used);
            goto nomem;
        }
        for (size_t s = 0; s < p.n_src && strcmp(overlap, "YES"); s++) {
            memset(acc, 0, p.frame_bytes);
            for (size_t g = 0; g < p.n_segs; g++) {
                const uint8_t *fr = p.frames[g * p.n_src + s];
                if (!fr)
                    continue;
                for (size_t b = 0; b < p.frame_bytes; b++) {
                    if (acc[b] & fr[b]) {
                        overlap = "YES";
                        break;
                    }
                    acc[b] |= fr[b];
                }
            }
        }
        free(acc);
    }

    /* referenced instances: the images a frame derives from */
    ref_classes = calloc(p.n_src, sizeof *ref_classes);
    ref_uids = calloc(p.n_src, sizeof *ref_uids);
    if (!ref_classes || !ref_uids) {
        free(pos_used);
        goto nomem;
    }
    size_t n_refs = 0;
    for (size_t s = 0; s < p.n_src; s++)
        if (pos_used[s]) {
            ref_classes[n_refs] = src->images[s].class_uid;
            ref_uids[n_refs++] = src->images[s].sop_uid;
        }
    free(pos_used);

    /* Pixel Data */
    enum segout_pixels enc = opt->compress == WRITER_COMPRESS_RLE       ? SEGOUT_RLE
                             : opt->compress == WRITER_COMPRESS_DEFLATE ? SEGOUT_DEFLATE
                                                                        : SEGOUT_APPENDED;
    size_t pixels_len = 0;
    uint16_t bits = p.type == WRITER_BINARY ? 1 : p.type == WRITER_FRACTIONAL ? 8 : (uint16_t)(8 * p.label_bytes);
    if (enc == SEGOUT_RLE) {
        frags = calloc(n_frames, sizeof *frags);
        frag_lens = calloc(n_frames, sizeof *frag_lens);
        if (!frags || !frag_lens) {
            goto nomem;
        }
        for (size_t i = 0; i < n_frames; i++) {
            struct buf b = {0};
            unsigned bpp = p.type == WRITER_BINARY ? 0 : p.type == WRITER_FRACTIONAL ? 1 : p.label_bytes;
            if (!rle_frame(&b, order[i], p.px, bpp, p.frame_bytes, src->cols, e)) {
                buf_free(&b);
                    goto out;
            }
            frag_lens[i] = b.len;
            frags[i] = buf_steal(&b, &frag_lens[i]);
        }
    } else {
        uint64_t len = p.type == WRITER_BINARY ? ((uint64_t)n_frames * p.px + 7) / 8 : (uint64_t)n_frames * p.frame_bytes;
        pixels_len = (size_t)(len + (len & 1));
    }
    struct packer packer = {order, n_frames, p.frame_bytes, p.px, p.type == WRITER_BINARY};

    /* segments */
    osegs = calloc(p.n_segs, sizeof *osegs);
    if (!osegs)
        goto nomem;
    for (size_t g = 0; g < p.n_segs; g++) {
        const struct meta_segment *m = p.segs[g].m;
        struct segout_segment *o = &osegs[g];
        o->number = p.segs[g].number;
        o->label = m->label;
        o->description = m->description;
        o->algo_type = m->algo_type;
        o->algo_name = m->algo_name;
        o->tracking_id = m->tracking_id;
        o->tracking_uid = m->tracking_uid;
        o->category = (struct segout_code){m->category.value, m->category.scheme, m->category.meaning};
        o->type = (struct segout_code){m->type.value, m->type.scheme, m->type.meaning};
        o->has_anatomic = m->has_anatomic;
        o->anatomic = (struct segout_code){m->anatomic.value, m->anatomic.scheme, m->anatomic.meaning};
        /* struct meta_code and struct segout_code have the same layout */
        o->type_mods = (const struct segout_code *)m->type_mods;
        o->n_type_mods = m->n_type_mods;
        o->anat_mods = (const struct segout_code *)m->anat_mods;
        o->n_anat_mods = m->n_anat_mods;
        if (m->has_rgb) {
            o->has_lab = true;
            bridge_rgb_to_lab(m->rgb, o->lab);
        }
    }

    /* attributes: source's patient/study, then series fields from the metadata */
    attrs = calloc(src->n_attrs + 16, sizeof *attrs);
    if (!attrs)
        goto nomem;
    size_t na = 0;
    for (size_t i = 0; i < src->n_attrs; i++)
        attrs[na++] = (struct segout_attr){src->attrs[i].tag, src->attrs[i].value};
    if (*meta->series_description)
        attrs[na++] = (struct segout_attr){0x0008103E, meta->series_description};
    attrs[na++] = (struct segout_attr){0x00200011, meta->series_number};
    attrs[na++] = (struct segout_attr){0x00200013, meta->instance_number};
    attrs[na++] = (struct segout_attr){0x00700080, meta->content_label};
    attrs[na++] = (struct segout_attr){0x00700081, meta->content_description};
    attrs[na++] = (struct segout_attr){0x00700084, meta->content_creator};
    if (*meta->body_part)
        attrs[na++] = (struct segout_attr){0x00180015, meta->body_part};
    if (*meta->ct_series_id || *meta->ct_timepoint_id) {
        attrs[na++] = (struct segout_attr){0x00120060, meta->ct_center};
        if (*meta->ct_series_id)
            attrs[na++] = (struct segout_attr){0x00120071, meta->ct_series_id};
        if (*meta->ct_timepoint_id)
            attrs[na++] = (struct segout_attr){0x00120050, meta->ct_timepoint_id};
    }

    if (!make_uid(opt->uid_root, sop_uid, e) || !make_uid(opt->uid_root, series_uid, e) ||
        !make_uid(opt->uid_root, dim_uid, e))
        goto out;
    struct segout so = {
        .sop_class = p.type == WRITER_LABELMAP ? "1.2.840.10008.5.1.4.1.1.66.7" : "1.2.840.10008.5.1.4.1.1.66.4",
        .sop_uid = sop_uid,
        .series_uid = series_uid,
        .study_uid = src->study_uid,
        .for_uid = src->for_uid,
        .dim_org_uid = dim_uid,
        .segmentation_type = p.type == WRITER_BINARY ? "BINARY" : p.type == WRITER_FRACTIONAL ? "FRACTIONAL" : "LABELMAP",
        .segments_overlap = overlap,
        .bits_allocated = bits,
        .rows = src->rows,
        .cols = src->cols,
        .attrs = attrs,
        .n_attrs = na,
        .thickness = src->has_thickness && src->thickness > 0 ? src->thickness : (src->gap > 0 ? src->gap : 1.0),
        .spacing_between = src->gap,
        .segs = osegs,
        .n_segs = p.n_segs,
        .frames = oframes,
        .n_frames = n_frames,
        .ref_series_uid = src->series_uid,
        .ref_classes = ref_classes,
        .ref_uids = ref_uids,
        .n_refs = n_refs,
        .encoding = enc,
        .fill = pack,
        .fill_arg = &packer,
        .pixels_len = pixels_len,
        .fragments = (const uint8_t *const *)frags,
        .fragment_lens = frag_lens,
    };
    memcpy(so.iop, src->iop, sizeof so.iop);
    memcpy(so.spacing, src->spacing, sizeof so.spacing);
    uint64_t bytes = 0;
    if (!bridge_seg_write(&so, out_path, &bytes, e))
        goto out;
    if (enc == SEGOUT_APPENDED) {
        if (pixels_len > 0xFFFFFFF0u) {
            err_set(e, ERR_LIMIT, "Pixel Data longer than 4 GiB");
            goto out;
        }
        if (!append_pixel_data(out_path, &packer, bits, pixels_len, &bytes, e))
            goto out;
    }
    if (res) {
        memset(res, 0, sizeof *res);
        snprintf(res->study_uid, sizeof res->study_uid, "%s", src->study_uid);
        snprintf(res->series_uid, sizeof res->series_uid, "%s", series_uid);
        snprintf(res->sop_uid, sizeof res->sop_uid, "%s", sop_uid);
        snprintf(res->sop_class_uid, sizeof res->sop_class_uid, "%s", so.sop_class);
        res->frames = (uint32_t)n_frames;
        res->segments = (uint32_t)p.n_segs;
        res->bytes = bytes;
    }
    ok = true;
    goto out;
nomem:
    err_set(e, ERR_NOMEM, "no memory");
out:
    arena_free(&p.arena);
    free(p.frames);
    free(p.covered);
    free(p.segs);
    free(vals);
    free(row_nz);
    free(matched_of);
    free(lut);
    free(osegs);
    free(codes);
    free(oframes);
    free(ref_classes);
    free(ref_uids);
    free(order);
    free(zero);
    if (frags)
        for (size_t i = 0; i < n_frames; i++)
            free(frags[i]);
    free(frags);
    free(frag_lens);
    free(attrs);
    return ok;
}
