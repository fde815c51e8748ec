/* The persisted SEG index (format and trust model in seg_index_io.h).
 *
 * Design note: one visitor, visit_index(), names every field once in the file's
 * order; the same walk writes (io.wr) or reads, so the writer and the reader
 * cannot drift apart. Reading is defensive at two levels: the cursor never reads
 * past the bytes (a sticky failure, io.bad, ends the walk) and never allocates
 * more elements than the remaining bytes could describe; then validate() checks
 * what the frame readers and the routes rely on, as decoder_seg_open would have
 * ensured: slices inside their arrays, frame lists in range and ascending,
 * fragments and native ranges inside the object, bit depth matching the type. */
#include "decoder/seg_index_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "decoder/arena.h"
#include "decoder/seg_open.h"

static const char MAGIC[8] = "SEGWIDX";

static _Atomic uint64_t n_loaded, n_rejected;

void decoder_seg_index_counts(struct seg_index_counts *out)
{
    out->parsed = decoder_seg_parse_count;
    out->loaded = n_loaded;
    out->rejected = n_rejected;
}

struct io {
    bool wr;
    struct buf *out;      /* writing */
    struct err *e;        /* writing: the first append failure */
    const uint8_t *p;     /* reading */
    size_t len, at;
    struct arena *a;
    const char *bad;      /* reading: the first problem, NULL while fine */
};

static bool ok(const struct io *io) { return io->wr ? io->e->code == ERR_OK : !io->bad; }

static void fail(struct io *io, const char *why)
{
    if (!io->bad)
        io->bad = why;
}

/* n bytes in or out (little endian integers are assembled by the callers). */
static void bytes(struct io *io, uint8_t *v, size_t n)
{
    if (!ok(io))
        return;
    if (io->wr) {
        buf_append(io->out, v, n, io->e);
        return;
    }
    if (io->len - io->at < n) {
        fail(io, "truncated");
        memset(v, 0, n);
        return;
    }
    memcpy(v, io->p + io->at, n);
    io->at += n;
}

static void u64(struct io *io, uint64_t *v)
{
    uint8_t b[8] = {0};
    for (int i = 0; io->wr && i < 8; i++)
        b[i] = (uint8_t)(*v >> (8 * i));
    bytes(io, b, 8);
    if (!io->wr) {
        *v = 0;
        for (int i = 0; i < 8; i++)
            *v |= (uint64_t)b[i] << (8 * i);
    }
}

static void u32(struct io *io, uint32_t *v)
{
    uint8_t b[4] = {(uint8_t)*v, (uint8_t)(*v >> 8), (uint8_t)(*v >> 16), (uint8_t)(*v >> 24)};
    bytes(io, b, 4);
    if (!io->wr)
        *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void i32(struct io *io, int32_t *v)
{
    uint32_t u = (uint32_t)*v;
    u32(io, &u);
    *v = (int32_t)u;
}

static void u16(struct io *io, uint16_t *v)
{
    uint8_t b[2] = {(uint8_t)*v, (uint8_t)(*v >> 8)};
    bytes(io, b, 2);
    if (!io->wr)
        *v = (uint16_t)(b[0] | b[1] << 8);
}

static void u8(struct io *io, uint8_t *v) { bytes(io, v, 1); }

static void flag(struct io *io, bool *v)
{
    uint8_t b = *v ? 1 : 0;
    u8(io, &b);
    if (!io->wr) {
        if (b > 1)
            fail(io, "a flag is neither 0 nor 1");
        *v = b == 1;
    }
}

static void f64(struct io *io, double *v)
{
    uint64_t u;
    memcpy(&u, v, 8);
    u64(io, &u);
    memcpy(v, &u, 8);
}

static void f64s(struct io *io, double *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        f64(io, &v[i]);
}

/* An enum stored as one byte, below limit. */
static void small_enum(struct io *io, unsigned *v, unsigned limit)
{
    uint8_t b = (uint8_t)*v;
    u8(io, &b);
    if (!io->wr) {
        if (b >= limit)
            fail(io, "an enumerated value is out of range");
        *v = b;
    }
}

/* u32 length + bytes; read back interned in the arena (never NULL once read). */
static void str(struct io *io, const char **s)
{
    if (io->wr) {
        const char *v = *s ? *s : "";
        size_t n = strlen(v);
        if (n > UINT32_MAX) {
            err_set(io->e, ERR_LIMIT, "a string of %zu bytes", n);
            return;
        }
        uint32_t len = (uint32_t)n;
        u32(io, &len);
        bytes(io, (uint8_t *)v, n);
        return;
    }
    *s = "";
    uint32_t len = 0;
    u32(io, &len);
    if (!ok(io))
        return;
    if (io->len - io->at < len)
        return fail(io, "a string runs past the end");
    const char *src = (const char *)io->p + io->at;
    if (memchr(src, 0, len))
        return fail(io, "a string holds a NUL byte");
    char small[1024], *tmp = len < sizeof small ? small : malloc((size_t)len + 1);
    if (!tmp)
        return fail(io, "out of memory");
    memcpy(tmp, src, len);
    tmp[len] = 0;
    io->at += len;
    const char *interned = arena_str(io->a, tmp);
    if (tmp != small)
        free(tmp);
    if (!interned)
        return fail(io, "out of memory");
    *s = interned;
}

/* An array's element count. Reading: at least min_bytes per element must be
 * left, so a lying count cannot buy a large allocation with a small file. */
static void count(struct io *io, size_t *n, size_t min_bytes)
{
    if (io->wr && *n > UINT32_MAX) {
        err_set(io->e, ERR_LIMIT, "an array of %zu elements", *n);
        return;
    }
    uint32_t c = (uint32_t)*n;
    u32(io, &c);
    if (!io->wr) {
        *n = 0;
        if (ok(io) && (uint64_t)c * min_bytes > io->len - io->at)
            return fail(io, "an array count runs past the end");
        if (ok(io))
            *n = c;
    }
}

/* Reading: *arr becomes n zeroed elements of elem bytes (NULL when n is 0). */
static void array(struct io *io, void *arr, size_t n, size_t elem)
{
    if (io->wr || !ok(io))
        return;
    void **p = arr;
    *p = NULL;
    if (!n)
        return;
    *p = arena_alloc(io->a, n * elem);
    if (!*p)
        fail(io, "out of memory");
}

static void code(struct io *io, struct seg_code *c)
{
    str(io, &c->value);
    str(io, &c->scheme);
    str(io, &c->meaning);
}

static void codes(struct io *io, struct seg_codes *c)
{
    count(io, &c->count, 12);
    array(io, &c->items, c->count, sizeof *c->items);
    for (size_t i = 0; ok(io) && i < c->count; i++)
        code(io, &c->items[i]);
}

static void u32s(struct io *io, uint32_t **arr, size_t *n)
{
    count(io, n, 4);
    array(io, arr, *n, sizeof **arr);
    for (size_t i = 0; ok(io) && i < *n; i++)
        u32(io, &(*arr)[i]);
}

static void visit_strings(struct io *io, struct seg_index *x)
{
    const char **s[] = {
        &x->transfer_syntax_uid, &x->sop_class_uid, &x->study_uid, &x->series_uid, &x->sop_instance_uid,
        &x->frame_of_reference_uid, &x->patient_id, &x->patient_name, &x->study_date, &x->modality,
        &x->series_number, &x->instance_number, &x->study_time, &x->accession_number, &x->study_description,
        &x->study_id, &x->referring_physician, &x->patient_birth_date, &x->patient_sex, &x->segmentation_type,
        &x->fractional_type, &x->photometric, &x->segments_overlap, &x->dimension_organization_type,
        &x->concatenation_uid, &x->content_label, &x->content_description, &x->content_creator,
        &x->content_date, &x->content_time, &x->series_description, &x->manufacturer, &x->software_versions,
    };
    for (size_t i = 0; i < sizeof s / sizeof *s; i++)
        str(io, s[i]);
}

static void visit_image(struct io *io, struct seg_index *x)
{
    u32(io, &x->rows);
    u32(io, &x->columns);
    u32(io, &x->number_of_frames);
    flag(io, &x->number_of_frames_absent);
    u16(io, &x->bits_allocated);
    u16(io, &x->bits_stored);
    unsigned t = x->type;
    small_enum(io, &t, SEG_TYPE_LABELMAP + 1);
    x->type = (enum seg_type)t;
    u32(io, &x->max_fractional_value);
    flag(io, &x->tiled_full_implicit);
    u32(io, &x->total_matrix_rows);
    u32(io, &x->total_matrix_columns);
    u32(io, &x->total_matrix_focal_planes);
    flag(io, &x->concatenation);
    u32(io, &x->concatenation_frame_offset);
    u32(io, &x->in_concatenation_number);
    u32(io, &x->in_concatenation_total);
    flag(io, &x->has_pixel_spacing);
    flag(io, &x->has_orientation);
    flag(io, &x->has_slice_thickness);
    flag(io, &x->has_spacing_between_slices);
    f64s(io, x->pixel_spacing, 2);
    f64s(io, x->orientation, 6);
    f64(io, &x->slice_thickness);
    f64(io, &x->spacing_between_slices);
    u32(io, &x->orientation_differs_frame);
    u32(io, &x->pixel_spacing_differs_frame);
}

static void visit_references(struct io *io, struct seg_index *x)
{
    count(io, &x->n_ref_series, 8);
    array(io, &x->ref_series, x->n_ref_series, sizeof *x->ref_series);
    for (size_t i = 0; ok(io) && i < x->n_ref_series; i++) {
        struct seg_ref_series *rs = &x->ref_series[i];
        str(io, &rs->series_uid);
        count(io, &rs->n_instances, 8);
        array(io, &rs->instance_uids, rs->n_instances, sizeof(char *));
        array(io, &rs->class_uids, rs->n_instances, sizeof(char *));
        for (size_t k = 0; ok(io) && k < rs->n_instances; k++) {
            str(io, &rs->instance_uids[k]);
            str(io, &rs->class_uids[k]);
        }
    }
    count(io, &x->n_dims, 12);
    array(io, &x->dim_index_pointers, x->n_dims, sizeof(uint32_t));
    array(io, &x->dim_functional_group_pointers, x->n_dims, sizeof(uint32_t));
    array(io, &x->dim_descriptions, x->n_dims, sizeof(char *));
    for (size_t i = 0; ok(io) && i < x->n_dims; i++) {
        u32(io, &x->dim_index_pointers[i]);
        u32(io, &x->dim_functional_group_pointers[i]);
        str(io, &x->dim_descriptions[i]);
    }
}

static void visit_segment(struct io *io, struct seg_segment *s)
{
    i32(io, &s->number);
    str(io, &s->label);
    str(io, &s->description);
    str(io, &s->algorithm_type);
    str(io, &s->algorithm_name);
    code(io, &s->category);
    code(io, &s->type);
    codes(io, &s->type_modifiers);
    code(io, &s->anatomic_region);
    codes(io, &s->anatomic_region_modifiers);
    str(io, &s->tracking_id);
    str(io, &s->tracking_uid);
    flag(io, &s->has_lab);
    for (int k = 0; k < 3; k++)
        u16(io, &s->lab[k]);
    bytes(io, s->rgb, 3);
    flag(io, &s->rgb_from_lab);
    u32s(io, &s->frames, &s->n_frames);
}

static void visit_frames(struct io *io, struct seg_index *x)
{
    size_t nf = x->number_of_frames;
    count(io, &nf, 53);
    if (!io->wr && ok(io) && nf != x->number_of_frames)
        fail(io, "the frame table does not have NumberOfFrames entries");
    array(io, &x->frames, nf, sizeof *x->frames);
    for (size_t i = 0; ok(io) && i < nf; i++) {
        struct seg_frame *f = &x->frames[i];
        i32(io, &f->segment_number);
        unsigned k = f->position_kind;
        small_enum(io, &k, SEG_POS_SLIDE + 1);
        f->position_kind = (uint8_t)k;
        f64s(io, f->position, 3);
        i32(io, &f->matrix_column);
        i32(io, &f->matrix_row);
        u32(io, &f->refs_first);
        u32(io, &f->refs_count);
        u32(io, &f->dims_first);
        u32(io, &f->dims_count);
    }
    count(io, &x->n_refs, 12);
    array(io, &x->refs, x->n_refs, sizeof *x->refs);
    for (size_t i = 0; ok(io) && i < x->n_refs; i++) {
        str(io, &x->refs[i].sop_class_uid);
        str(io, &x->refs[i].sop_instance_uid);
        i32(io, &x->refs[i].frame);
    }
    u32s(io, &x->dim_values, &x->n_dim_values);
}

static void visit_pixels(struct io *io, struct seg_index *x)
{
    struct seg_pixel_layout *px = &x->pixels;
    unsigned enc = px->encoding;
    small_enum(io, &enc, SEG_ENC_ENCAPSULATED_NATIVE + 1);
    px->encoding = (enum seg_encoding)enc;
    flag(io, &px->big_endian);
    u64(io, &px->offset);
    u64(io, &px->length);
    bool in_memory = px->memory != NULL;
    flag(io, &in_memory);
    if (in_memory) {
        if (!io->wr && ok(io) && px->length > io->len - io->at)
            fail(io, "the in-memory Pixel Data runs past the end");
        array(io, &px->memory, ok(io) ? (size_t)px->length + 1 : 0, 1);
        bytes(io, px->memory, (size_t)px->length);
    }
    count(io, &px->n_fragments, 12);
    array(io, &px->fragments, px->n_fragments, sizeof *px->fragments);
    for (size_t i = 0; ok(io) && i < px->n_fragments; i++) {
        u64(io, &px->fragments[i].offset);
        u32(io, &px->fragments[i].length);
    }
    bool mapped = px->frame_fragment != NULL;
    flag(io, &mapped);
    if (mapped) {
        size_t nf = x->number_of_frames;
        if (!io->wr && ok(io) && (uint64_t)nf * 8 > io->len - io->at)
            fail(io, "the frame-to-fragment map runs past the end");
        array(io, &px->frame_fragment, nf, sizeof(uint32_t));
        array(io, &px->frame_fragments_count, nf, sizeof(uint32_t));
        for (size_t i = 0; ok(io) && i < nf; i++) {
            u32(io, &px->frame_fragment[i]);
            u32(io, &px->frame_fragments_count[i]);
        }
    }
}

static void visit_index(struct io *io, struct seg_index *x)
{
    visit_strings(io, x);
    visit_image(io, x);
    visit_references(io, x);
    count(io, &x->n_segments, 40);
    array(io, &x->segments, x->n_segments, sizeof *x->segments);
    for (size_t i = 0; ok(io) && i < x->n_segments; i++)
        visit_segment(io, &x->segments[i]);
    visit_frames(io, x);
    visit_pixels(io, x);
}

/* ---- writing ---- */

static void put_header(uint8_t *h, const struct stat *st, uint32_t payload, uint32_t crc)
{
    struct buf b = {.data = h, .cap = SEG_INDEX_HEADER_BYTES}; /* borrowed storage */
    struct err e = ERR_INIT;
    struct io io = {.wr = true, .out = &b, .e = &e};
    bytes(&io, (uint8_t *)MAGIC, 8);
    uint32_t version = SEG_INDEX_FORMAT_VERSION, hdr = SEG_INDEX_HEADER_BYTES;
    u32(&io, &version);
    u32(&io, &hdr);
    uint64_t size = (uint64_t)st->st_size, ino = (uint64_t)st->st_ino;
    uint64_t mtime = (uint64_t)((int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec);
    u64(&io, &size);
    u64(&io, &ino);
    u64(&io, &mtime);
    u32(&io, &payload);
    u32(&io, &crc);
}

bool decoder_seg_index_serialize(const struct seg_index *idx, struct buf *out, struct err *e)
{
    struct stat st;
    if (fstat(idx->fd, &st) != 0)
        return err_set(e, ERR_IO, "cannot stat %s: %s", idx->path, strerror(errno));
    size_t start = out->len;
    uint8_t zero[SEG_INDEX_HEADER_BYTES] = {0};
    if (!buf_append(out, zero, sizeof zero, e))
        return false;
    struct io io = {.wr = true, .out = out, .e = e};
    visit_index(&io, (struct seg_index *)idx); /* writing only reads the index */
    if (e->code != ERR_OK)
        return false;
    size_t payload = out->len - start - SEG_INDEX_HEADER_BYTES;
    if (payload > SEG_INDEX_MAX_BYTES - SEG_INDEX_HEADER_BYTES)
        return err_set(e, ERR_LIMIT, "the index of %s would take %zu bytes", idx->path, payload);
    const uint8_t *p = out->data + start + SEG_INDEX_HEADER_BYTES;
    uint32_t crc = (uint32_t)crc32(crc32(0, Z_NULL, 0), p, (uInt)payload);
    put_header(out->data + start, &st, (uint32_t)payload, crc);
    return true;
}

bool decoder_seg_index_write(const struct seg_index *idx, int fd, struct err *e)
{
    struct buf b = {0};
    bool good = decoder_seg_index_serialize(idx, &b, e);
    for (size_t at = 0; good && at < b.len;) {
        ssize_t n = write(fd, b.data + at, b.len - at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            good = err_set(e, errno == ENOSPC || errno == EDQUOT ? ERR_NO_SPACE : ERR_IO,
                           "cannot write the index of %s: %s", idx->path, n < 0 ? strerror(errno) : "short write");
        else
            at += (size_t)n;
    }
    buf_free(&b);
    return good;
}

/* ---- reading ---- */

/* The header: magic, version, the object's identity, the payload's length and CRC. */
static bool check_header(const uint8_t *bytes_, size_t len, const struct stat *st, struct err *e)
{
    if (len < SEG_INDEX_HEADER_BYTES)
        return err_set(e, ERR_INVALID, "persisted index: truncated header (%zu bytes)", len);
    struct io io = {.p = bytes_, .len = len};
    uint8_t magic[8];
    bytes(&io, magic, 8);
    uint32_t version = 0, hdr = 0, payload = 0, crc = 0;
    uint64_t size = 0, ino = 0, mtime = 0;
    u32(&io, &version);
    u32(&io, &hdr);
    u64(&io, &size);
    u64(&io, &ino);
    u64(&io, &mtime);
    u32(&io, &payload);
    u32(&io, &crc);
    if (memcmp(magic, MAGIC, 8))
        return err_set(e, ERR_INVALID, "persisted index: bad magic");
    if (version != SEG_INDEX_FORMAT_VERSION || hdr != SEG_INDEX_HEADER_BYTES)
        return err_set(e, ERR_INVALID, "persisted index: format version %u (this build reads %u)", version,
                       SEG_INDEX_FORMAT_VERSION);
    uint64_t now = (uint64_t)((int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec);
    if (size != (uint64_t)st->st_size || ino != (uint64_t)st->st_ino || mtime != now)
        return err_set(e, ERR_INVALID, "persisted index: stale (the object was replaced or changed)");
    if (payload != len - SEG_INDEX_HEADER_BYTES)
        return err_set(e, ERR_INVALID, "persisted index: payload of %u bytes in a %zu-byte file", payload, len);
    if ((uint32_t)crc32(crc32(0, Z_NULL, 0), bytes_ + SEG_INDEX_HEADER_BYTES, (uInt)payload) != crc)
        return err_set(e, ERR_INVALID, "persisted index: checksum mismatch");
    return true;
}

static bool slice_ok(uint32_t first, uint32_t n, size_t total) { return (uint64_t)first + n <= total; }

static bool validate_frames(const struct seg_index *x, const char **why)
{
    for (size_t i = 0; i < x->number_of_frames; i++) {
        const struct seg_frame *f = &x->frames[i];
        if (!slice_ok(f->refs_first, f->refs_count, x->n_refs))
            return *why = "a frame's source references lie outside the reference table", false;
        if (!slice_ok(f->dims_first, f->dims_count, x->n_dim_values))
            return *why = "a frame's dimension values lie outside their table", false;
    }
    for (size_t s = 0; s < x->n_segments; s++) {
        const struct seg_segment *seg = &x->segments[s];
        if (s && seg->number <= x->segments[s - 1].number)
            return *why = "segments are not in ascending order of number", false;
        for (size_t k = 0; k < seg->n_frames; k++)
            if (seg->frames[k] < 1 || seg->frames[k] > x->number_of_frames ||
                (k && seg->frames[k] <= seg->frames[k - 1]))
                return *why = "a segment's frame list is out of range or not ascending", false;
    }
    return true;
}

static bool validate_pixels(const struct seg_index *x, uint64_t object_size, const char **why)
{
    const struct seg_pixel_layout *px = &x->pixels;
    bool deflated = !strcmp(x->transfer_syntax_uid, "1.2.840.10008.1.2.1.99");
    if (deflated != (px->memory != NULL))
        return *why = "in-memory Pixel Data only belongs to a deflated data set", false;
    if (px->encoding == SEG_ENC_NATIVE) {
        if (px->n_fragments || px->frame_fragment)
            return *why = "native Pixel Data with fragments", false;
        if (!px->memory && (px->offset > object_size || px->length > object_size - px->offset))
            return *why = "the Pixel Data range lies outside the object", false;
        return true;
    }
    if (px->memory || !px->frame_fragment || px->n_fragments < x->number_of_frames)
        return *why = "encapsulated Pixel Data without a fragment for each frame", false;
    for (size_t i = 0; i < px->n_fragments; i++)
        if (px->fragments[i].offset > object_size || px->fragments[i].length > object_size - px->fragments[i].offset)
            return *why = "a fragment lies outside the object", false;
    for (size_t i = 0; i < x->number_of_frames; i++)
        if (!px->frame_fragments_count[i] ||
            !slice_ok(px->frame_fragment[i], px->frame_fragments_count[i], px->n_fragments))
            return *why = "a frame's fragments lie outside the fragment table", false;
    return true;
}

/* What decoder_seg_open guarantees and the readers rely on; limits as now configured. */
static bool validate(struct seg_index *x, uint64_t object_size, const struct seg_limits *lim, struct err *e)
{
    const char *why = NULL;
    uint64_t max_pixels = lim && lim->max_pixels_per_frame ? lim->max_pixels_per_frame : (1ull << 26);
    uint32_t max_frames = lim && lim->max_frames ? lim->max_frames : 1000000;
    unsigned bits = x->bits_allocated;
    if (!x->rows || !x->columns || x->rows > 65535 || x->columns > 65535 || !x->number_of_frames)
        why = "Rows, Columns or NumberOfFrames out of range";
    else if (x->type == SEG_TYPE_BINARY ? bits != 1
             : x->type == SEG_TYPE_FRACTIONAL ? bits != 8 || x->max_fractional_value > 255
                                              : bits != 8 && bits != 16 && bits != 32)
        why = "BitsAllocated does not match the segmentation type";
    else if (validate_frames(x, &why) && validate_pixels(x, object_size, &why))
        why = NULL;
    if (why)
        return err_set(e, ERR_INVALID, "persisted index: %s", why);
    if ((uint64_t)x->rows * x->columns > max_pixels)
        return err_set(e, ERR_LIMIT, "frame of %ux%u pixels exceeds the max-frame-pixels limit of %llu", x->rows,
                       x->columns, (unsigned long long)max_pixels);
    if (x->number_of_frames > max_frames)
        return err_set(e, ERR_LIMIT, "%u frames exceed the max-frames limit of %u frames per object",
                       x->number_of_frames, max_frames);
    x->max_frame_bytes = lim && lim->max_frame_bytes ? lim->max_frame_bytes : (256ull << 20);
    return true;
}

struct seg_index *decoder_seg_index_parse(const uint8_t *bytes_, size_t len, int object_fd, const char *object_path,
                                          const struct seg_limits *limits, struct err *e)
{
    struct stat st;
    if (fstat(object_fd, &st) != 0) {
        err_set(e, ERR_IO, "cannot stat %s: %s", object_path, strerror(errno));
        return NULL;
    }
    if (!check_header(bytes_, len, &st, e))
        goto rejected;
    struct seg_index *x = calloc(1, sizeof *x);
    struct arena *a = arena_new();
    if (!x || !a || !(x->path = strdup(object_path))) {
        free(x);
        arena_free(a);
        err_set(e, ERR_NOMEM, "out of memory");
        return NULL;
    }
    x->fd = -1;
    x->arena = a;
    struct io io = {.p = bytes_ + SEG_INDEX_HEADER_BYTES, .len = len - SEG_INDEX_HEADER_BYTES, .a = a};
    visit_index(&io, x);
    if (!io.bad && io.at != io.len)
        io.bad = "bytes left after the last field";
    if (io.bad) {
        err_set(e, ERR_INVALID, "persisted index: %s", io.bad);
        decoder_seg_free(x);
        goto rejected;
    }
    if (!validate(x, (uint64_t)st.st_size, limits, e)) {
        decoder_seg_free(x);
        goto rejected;
    }
    x->memory_bytes = sizeof *x + arena_bytes(a) + strlen(x->path) + 1;
    x->fd = object_fd;
    n_loaded++;
    return x;
rejected:
    n_rejected++;
    return NULL;
}

/* The whole file at fd (regular, at most SEG_INDEX_MAX_BYTES); malloc'd. */
static uint8_t *read_all(int fd, const char *path, size_t *len, struct err *e)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        return err_set(e, ERR_INVALID, "persisted index %s is not a regular file", path), NULL;
    if ((uint64_t)st.st_size > SEG_INDEX_MAX_BYTES)
        return err_set(e, ERR_INVALID, "persisted index %s is too large", path), NULL;
    size_t n = (size_t)st.st_size;
    uint8_t *b = malloc(n ? n : 1);
    if (!b)
        return err_set(e, ERR_NOMEM, "out of memory"), NULL;
    size_t at = 0;
    while (at < n) {
        ssize_t got = pread(fd, b + at, n - at, (off_t)at);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        at += (size_t)got;
    }
    *len = at; /* shorter when the file shrank meanwhile: the header check refuses it */
    return b;
}

struct seg_index *decoder_seg_index_load(const char *index_path, const char *object_path,
                                         const struct seg_limits *limits, struct err *e)
{
    int ifd = open(index_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (ifd < 0) {
        err_set(e, err_code_from_errno(errno), "cannot open %s: %s", index_path, strerror(errno));
        return NULL;
    }
    size_t len = 0;
    uint8_t *b = read_all(ifd, index_path, &len, e);
    close(ifd);
    if (!b)
        return NULL;
    struct seg_index *x = NULL;
    int ofd = open(object_path, O_RDONLY | O_CLOEXEC);
    if (ofd < 0)
        err_set(e, err_code_from_errno(errno), "cannot open %s: %s", object_path, strerror(errno));
    else if (!(x = decoder_seg_index_parse(b, len, ofd, object_path, limits, e)))
        close(ofd);
    free(b);
    return x;
}
