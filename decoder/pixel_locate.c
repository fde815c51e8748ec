#include "decoder/pixel_locate.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PIXEL_DATA 0x7FE00010u
#define ITEM 0xFFFEE000u
#define ITEM_END 0xFFFEE00Du
#define SEQ_END 0xFFFEE0DDu
#define UNDEFINED 0xFFFFFFFFu
#define MAX_DEPTH 32
#define MAX_FRAGMENTS (1u << 24)

/* Buffered sequential reader over pread. */
struct reader {
    int fd;
    uint64_t size, pos;
    uint64_t buf_start;
    size_t buf_len;
    uint8_t buf[65536];
};

static bool need(struct reader *r, size_t n, const uint8_t **p, struct err *e)
{
    if (r->pos > r->size || r->size - r->pos < n)
        return err_set(e, ERR_INVALID, "truncated DICOM header at byte %llu", (unsigned long long)r->pos);
    if (r->pos < r->buf_start || r->pos + n > r->buf_start + r->buf_len) {
        ssize_t got = pread(r->fd, r->buf, sizeof r->buf, (off_t)r->pos);
        if (got < (ssize_t)n)
            return err_set(e, ERR_IO, "cannot read file at byte %llu", (unsigned long long)r->pos);
        r->buf_start = r->pos;
        r->buf_len = (size_t)got;
    }
    *p = r->buf + (r->pos - r->buf_start);
    r->pos += n;
    return true;
}

static bool skip(struct reader *r, uint64_t n, struct err *e)
{
    if (r->size - r->pos < n)
        return err_set(e, ERR_INVALID, "element of %llu bytes at byte %llu runs past the end of the file",
                       (unsigned long long)n, (unsigned long long)r->pos);
    r->pos += n;
    return true;
}

static uint16_t u16(const uint8_t *p, bool be)
{
    return be ? (uint16_t)(p[0] << 8 | p[1]) : (uint16_t)(p[1] << 8 | p[0]);
}

static uint32_t u32(const uint8_t *p, bool be)
{
    return be ? ((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3])
              : ((uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0]);
}

struct header {
    uint32_t tag;
    char vr[3];
    uint32_t length;
};

static bool long_length_vr(const char *vr)
{
    static const char *const vrs[] = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC",
                                      "UN", "UR", "UT", "UV"};
    for (size_t i = 0; i < sizeof vrs / sizeof *vrs; i++)
        if (!memcmp(vr, vrs[i], 2))
            return true;
    return false;
}

static bool read_header(struct reader *r, bool explicit_vr, bool be, struct header *h, struct err *e)
{
    const uint8_t *p = NULL;
    if (!need(r, 8, &p, e))
        return false;
    h->tag = (uint32_t)u16(p, be) << 16 | u16(p + 2, be);
    h->vr[0] = h->vr[1] = h->vr[2] = 0;
    if ((h->tag >> 16) == 0xFFFE || !explicit_vr) {
        h->length = u32(p + 4, be);
        return true;
    }
    h->vr[0] = (char)p[4];
    h->vr[1] = (char)p[5];
    if (long_length_vr(h->vr)) {
        if (!need(r, 4, &p, e))
            return false;
        h->length = u32(p, be);
    } else {
        h->length = u16(p + 6, be);
    }
    return true;
}

static bool skip_sequence(struct reader *r, bool explicit_vr, bool be, int depth, struct err *e);

/* Elements of an undefined-length item, up to its delimiter. */
static bool skip_item(struct reader *r, bool explicit_vr, bool be, int depth, struct err *e)
{
    for (;;) {
        struct header h;
        if (!read_header(r, explicit_vr, be, &h, e))
            return false;
        if (h.tag == ITEM_END)
            return true;
        if (h.length == UNDEFINED) {
            /* UN of undefined length holds implicit VR little endian content */
            bool nested_explicit = explicit_vr && memcmp(h.vr, "UN", 2) != 0;
            if (!skip_sequence(r, nested_explicit, be, depth + 1, e))
                return false;
        } else if (!skip(r, h.length, e)) {
            return false;
        }
    }
}

/* The next header in a sequence: 1 with its tag and length, 0 at the sequence
 * delimiter, -1 (e set) when the bytes are not there. */
static int next_header(struct reader *r, bool be, uint32_t *tag, uint32_t *len, struct err *e)
{
    const uint8_t *p;
    if (!need(r, 8, &p, e))
        return -1;
    *tag = (uint32_t)u16(p, be) << 16 | u16(p + 2, be);
    *len = u32(p + 4, be);
    return *tag != SEQ_END;
}

/* Items of an undefined-length sequence, up to its delimiter. Items of defined
 * length (including pixel fragments) are skipped whole. */
static bool skip_sequence(struct reader *r, bool explicit_vr, bool be, int depth, struct err *e)
{
    if (depth > MAX_DEPTH)
        return err_set(e, ERR_INVALID, "sequences nested deeper than %d levels", MAX_DEPTH);
    for (;;) {
        uint32_t tag, len;
        int k = next_header(r, be, &tag, &len, e);
        if (k <= 0)
            return k == 0;
        if (tag != ITEM)
            return err_set(e, ERR_INVALID, "expected an item in a sequence at byte %llu",
                           (unsigned long long)(r->pos - 8));
        if (len == UNDEFINED) {
            if (!skip_item(r, explicit_vr, be, depth, e))
                return false;
        } else if (!skip(r, len, e)) {
            return false;
        }
    }
}

static bool read_fragments(struct reader *r, bool be, struct pixel_location *out, struct err *e)
{
    size_t cap = 0;
    bool first = true;
    for (;;) {
        uint32_t tag, len;
        int k = next_header(r, be, &tag, &len, e);
        if (k <= 0)
            return k == 0;
        if (tag != ITEM || len == UNDEFINED)
            return err_set(e, ERR_INVALID, "broken encapsulated Pixel Data at byte %llu",
                           (unsigned long long)(r->pos - 8));
        uint64_t at = r->pos;
        if (!skip(r, len, e))
            return false;
        if (first) { /* the Basic Offset Table */
            first = false;
            if (len % 4)
                return err_set(e, ERR_INVALID, "Basic Offset Table length %u is not a multiple of 4", len);
            if (len) {
                out->offset_table = malloc(len);
                if (!out->offset_table)
                    return err_set(e, ERR_NOMEM, "out of memory reading the offset table");
                out->n_offset_table = len / 4;
                for (size_t i = 0; i < out->n_offset_table; i++) {
                    uint8_t b[4];
                    if (pread(r->fd, b, 4, (off_t)(at + 4 * i)) != 4)
                        return err_set(e, ERR_IO, "cannot read the offset table");
                    out->offset_table[i] = u32(b, be);
                }
            }
            continue;
        }
        if (out->n_fragments == cap) {
            if (cap >= MAX_FRAGMENTS)
                return err_set(e, ERR_LIMIT, "more than %u Pixel Data fragments", MAX_FRAGMENTS);
            cap = cap ? cap * 2 : 64;
            struct seg_fragment *f = realloc(out->fragments, cap * sizeof *f);
            if (!f)
                return err_set(e, ERR_NOMEM, "out of memory listing fragments");
            out->fragments = f;
        }
        out->fragments[out->n_fragments++] = (struct seg_fragment){.offset = at, .length = len};
    }
}

bool decoder_pixel_locate(int fd, uint64_t size, bool explicit_vr, bool be,
                          struct pixel_location *out, struct err *e)
{
    memset(out, 0, sizeof *out);
    struct reader *r = calloc(1, sizeof *r);
    if (!r)
        return err_set(e, ERR_NOMEM, "out of memory");
    r->fd = fd;
    r->size = size;
    bool ok = false;
    const uint8_t *p = NULL;

    /* Preamble and file meta information (always explicit VR little endian). */
    if (size >= 132) {
        if (!need(r, 132, &p, e))
            goto out;
        if (memcmp(p + 128, "DICM", 4) != 0)
            r->pos = 0;
    }
    for (;;) {
        if (r->size - r->pos < 8)
            break;
        if (!need(r, 2, &p, e))
            goto out;
        r->pos -= 2;
        if (u16(p, false) != 0x0002)
            break;
        struct header h;
        if (!read_header(r, true, false, &h, e) || h.length == UNDEFINED || !skip(r, h.length, e))
            goto out;
    }

    while (r->size - r->pos >= 8) {
        struct header h;
        if (!read_header(r, explicit_vr, be, &h, e))
            goto out;
        if (h.tag == PIXEL_DATA) {
            out->found = true;
            if (h.length == UNDEFINED) {
                out->encapsulated = true;
                ok = read_fragments(r, be, out, e);
            } else {
                out->offset = r->pos;
                out->length = h.length;
                ok = true; /* a short value is caught when a frame is read */
            }
            goto out;
        }
        if (h.tag > PIXEL_DATA)
            break;
        if (h.length == UNDEFINED) {
            bool nested_explicit = explicit_vr && memcmp(h.vr, "UN", 2) != 0;
            if (!skip_sequence(r, nested_explicit, be, 1, e))
                goto out;
        } else if (!skip(r, h.length, e)) {
            goto out;
        }
    }
    ok = true; /* no Pixel Data */
out:
    free(r);
    if (!ok)
        decoder_pixel_location_free(out);
    return ok;
}

void decoder_pixel_location_free(struct pixel_location *loc)
{
    if (!loc)
        return;
    free(loc->fragments);
    free(loc->offset_table);
    loc->fragments = NULL;
    loc->offset_table = NULL;
    loc->n_fragments = loc->n_offset_table = 0;
}
