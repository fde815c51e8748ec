/* The persisted index: every corpus SEG round-trips (the loaded index equals the
 * one decoder_seg_open builds, field by field, and reads the same frame pixels);
 * truncated, bit-flipped, stale, other-version and oversized files are refused. */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <zlib.h>

#include "decoder/decoder.h"
#include "tests/unit/check.h"

static int diffs;

#define SAME_NUM(a, b, what)                                                                                  \
    do {                                                                                                      \
        if ((a) != (b)) {                                                                                     \
            diffs++;                                                                                          \
            CHECK(0, "%s: %s differs", name, what);                                                          \
        }                                                                                                     \
    } while (0)
#define SAME_STR(a, b, what)                                                                                  \
    do {                                                                                                      \
        if (strcmp((a) ? (a) : "", (b) ? (b) : "")) {                                                         \
            diffs++;                                                                                          \
            CHECK(0, "%s: %s differs ('%s' vs '%s')", name, what, (a) ? (a) : "", (b) ? (b) : "");            \
        }                                                                                                     \
    } while (0)
#define SAME_MEM(a, b, n, what)                                                                               \
    do {                                                                                                      \
        if ((n) != 0 && memcmp((a), (b), (n))) {                                                                \
            diffs++;                                                                                          \
            CHECK(0, "%s: %s differs", name, what);                                                          \
        }                                                                                                     \
    } while (0)

static void same_code(const char *name, const struct seg_code *a, const struct seg_code *b)
{
    SAME_STR(a->value, b->value, "code value");
    SAME_STR(a->scheme, b->scheme, "code scheme");
    SAME_STR(a->meaning, b->meaning, "code meaning");
}

static void same_codes(const char *name, const struct seg_codes *a, const struct seg_codes *b)
{
    SAME_NUM(a->count, b->count, "code count");
    for (size_t i = 0; i < a->count && i < b->count; i++)
        same_code(name, &a->items[i], &b->items[i]);
}

static void same_segment(const char *name, const struct seg_segment *a, const struct seg_segment *b)
{
    SAME_NUM(a->number, b->number, "segment number");
    SAME_STR(a->label, b->label, "label");
    SAME_STR(a->description, b->description, "description");
    SAME_STR(a->algorithm_type, b->algorithm_type, "algorithm type");
    SAME_STR(a->algorithm_name, b->algorithm_name, "algorithm name");
    same_code(name, &a->category, &b->category);
    same_code(name, &a->type, &b->type);
    same_codes(name, &a->type_modifiers, &b->type_modifiers);
    same_code(name, &a->anatomic_region, &b->anatomic_region);
    same_codes(name, &a->anatomic_region_modifiers, &b->anatomic_region_modifiers);
    SAME_STR(a->tracking_id, b->tracking_id, "tracking id");
    SAME_STR(a->tracking_uid, b->tracking_uid, "tracking uid");
    SAME_NUM(a->has_lab, b->has_lab, "has_lab");
    SAME_MEM(a->lab, b->lab, sizeof a->lab, "lab");
    SAME_MEM(a->rgb, b->rgb, sizeof a->rgb, "rgb");
    SAME_NUM(a->rgb_from_lab, b->rgb_from_lab, "rgb_from_lab");
    SAME_NUM(a->n_frames, b->n_frames, "segment frame count");
    if (a->n_frames == b->n_frames)
        SAME_MEM(a->frames, b->frames, a->n_frames * sizeof *a->frames, "segment frames");
}

static void same_top(const char *name, const struct seg_index *a, const struct seg_index *b)
{
#define S(f) SAME_STR(a->f, b->f, #f)
#define N(f) SAME_NUM(a->f, b->f, #f)
    S(transfer_syntax_uid); S(sop_class_uid); S(study_uid); S(series_uid); S(sop_instance_uid);
    S(frame_of_reference_uid); S(patient_id); S(patient_name); S(study_date); S(modality); S(series_number);
    S(instance_number); S(study_time); S(accession_number); S(study_description); S(study_id);
    S(referring_physician); S(patient_birth_date); S(patient_sex); S(segmentation_type); S(fractional_type);
    S(photometric); S(segments_overlap); S(dimension_organization_type); S(concatenation_uid);
    S(content_label); S(content_description); S(content_creator); S(content_date); S(content_time);
    S(series_description); S(manufacturer); S(software_versions);
    N(rows); N(columns); N(number_of_frames); N(number_of_frames_absent); N(bits_allocated); N(bits_stored);
    N(type); N(max_fractional_value); N(tiled_full_implicit); N(total_matrix_rows); N(total_matrix_columns);
    N(total_matrix_focal_planes); N(concatenation); N(concatenation_frame_offset); N(in_concatenation_number);
    N(in_concatenation_total); N(has_pixel_spacing); N(has_orientation); N(has_slice_thickness);
    N(has_spacing_between_slices); N(orientation_differs_frame); N(pixel_spacing_differs_frame);
    N(max_frame_bytes); N(n_ref_series); N(n_dims); N(n_segments); N(n_refs); N(n_dim_values);
    SAME_MEM(a->pixel_spacing, b->pixel_spacing, sizeof a->pixel_spacing, "pixel_spacing");
    SAME_MEM(a->orientation, b->orientation, sizeof a->orientation, "orientation");
    SAME_MEM(&a->slice_thickness, &b->slice_thickness, sizeof(double), "slice_thickness");
    SAME_MEM(&a->spacing_between_slices, &b->spacing_between_slices, sizeof(double), "spacing_between_slices");
#undef S
#undef N
}

static void same_index(const char *name, const struct seg_index *a, const struct seg_index *b)
{
    same_top(name, a, b);
    for (size_t i = 0; i < a->n_ref_series && i < b->n_ref_series; i++) {
        const struct seg_ref_series *x = &a->ref_series[i], *y = &b->ref_series[i];
        SAME_STR(x->series_uid, y->series_uid, "referenced series");
        SAME_NUM(x->n_instances, y->n_instances, "referenced instance count");
        for (size_t k = 0; k < x->n_instances && k < y->n_instances; k++) {
            SAME_STR(x->instance_uids[k], y->instance_uids[k], "referenced instance");
            SAME_STR(x->class_uids[k], y->class_uids[k], "referenced class");
        }
    }
    for (size_t i = 0; i < a->n_dims && i < b->n_dims; i++) {
        SAME_NUM(a->dim_index_pointers[i], b->dim_index_pointers[i], "dimension index pointer");
        SAME_NUM(a->dim_functional_group_pointers[i], b->dim_functional_group_pointers[i], "dimension group");
        SAME_STR(a->dim_descriptions[i], b->dim_descriptions[i], "dimension description");
    }
    for (size_t i = 0; i < a->n_segments && i < b->n_segments; i++)
        same_segment(name, &a->segments[i], &b->segments[i]);
    for (size_t i = 0; i < a->number_of_frames && a->number_of_frames == b->number_of_frames; i++) {
        const struct seg_frame *x = &a->frames[i], *y = &b->frames[i];
        SAME_NUM(x->segment_number, y->segment_number, "frame segment");
        SAME_NUM(x->position_kind, y->position_kind, "frame position kind");
        SAME_MEM(x->position, y->position, sizeof x->position, "frame position");
        SAME_NUM(x->matrix_column, y->matrix_column, "frame matrix column");
        SAME_NUM(x->matrix_row, y->matrix_row, "frame matrix row");
        SAME_NUM(x->refs_first, y->refs_first, "frame refs_first");
        SAME_NUM(x->refs_count, y->refs_count, "frame refs_count");
        SAME_NUM(x->dims_first, y->dims_first, "frame dims_first");
        SAME_NUM(x->dims_count, y->dims_count, "frame dims_count");
    }
    for (size_t i = 0; i < a->n_refs && i < b->n_refs; i++) {
        SAME_STR(a->refs[i].sop_class_uid, b->refs[i].sop_class_uid, "ref class");
        SAME_STR(a->refs[i].sop_instance_uid, b->refs[i].sop_instance_uid, "ref instance");
        SAME_NUM(a->refs[i].frame, b->refs[i].frame, "ref frame");
    }
    if (a->n_dim_values == b->n_dim_values)
        SAME_MEM(a->dim_values, b->dim_values, a->n_dim_values * sizeof(uint32_t), "dimension values");
    const struct seg_pixel_layout *p = &a->pixels, *q = &b->pixels;
    SAME_NUM(p->encoding, q->encoding, "encoding");
    SAME_NUM(p->big_endian, q->big_endian, "big_endian");
    SAME_NUM(p->offset, q->offset, "pixel offset");
    SAME_NUM(p->length, q->length, "pixel length");
    SAME_NUM(!p->memory, !q->memory, "in-memory pixels");
    if (p->memory && q->memory)
        SAME_MEM(p->memory, q->memory, (size_t)p->length, "in-memory pixels");
    SAME_NUM(p->n_fragments, q->n_fragments, "fragment count");
    for (size_t i = 0; i < p->n_fragments && i < q->n_fragments; i++) {
        SAME_NUM(p->fragments[i].offset, q->fragments[i].offset, "fragment offset");
        SAME_NUM(p->fragments[i].length, q->fragments[i].length, "fragment length");
    }
    SAME_NUM(!p->frame_fragment, !q->frame_fragment, "frame map presence");
    if (p->frame_fragment && q->frame_fragment && a->number_of_frames == b->number_of_frames) {
        SAME_MEM(p->frame_fragment, q->frame_fragment, a->number_of_frames * sizeof(uint32_t), "frame map");
        SAME_MEM(p->frame_fragments_count, q->frame_fragments_count, a->number_of_frames * sizeof(uint32_t),
                 "frame map counts");
    }
}

/* Frame pixels through both indexes: the same bytes. */
static void same_pixels(const char *name, const struct seg_index *a, const struct seg_index *b)
{
    uint32_t frames[] = {1, a->number_of_frames};
    for (int i = 0; i < 2; i++) {
        struct seg_pixels x, y;
        struct err e1 = ERR_INIT, e2 = ERR_INIT;
        bool okx = decoder_frame_read(a, frames[i], &x, &e1), oky = decoder_frame_read(b, frames[i], &y, &e2);
        CHECK(okx == oky, "%s frame %u: read %d vs %d", name, frames[i], okx, oky);
        if (okx && oky)
            CHECK(x.len == y.len && !memcmp(x.data, y.data, x.len), "%s frame %u: pixels differ", name, frames[i]);
        if (okx)
            decoder_pixels_free(&x);
        if (oky)
            decoder_pixels_free(&y);
    }
}

static struct seg_index *parse_bytes(const uint8_t *b, size_t n, const char *obj, struct err *e)
{
    int fd = open(obj, O_RDONLY | O_CLOEXEC);
    struct seg_index *x = decoder_seg_index_parse(b, n, fd, obj, NULL, e);
    if (!x)
        close(fd);
    return x;
}

static void round_trip(const char *dir, const char *tmp, const char *file)
{
    char path[1024], ipath[1100];
    snprintf(path, sizeof path, "%s/seg/%s", dir, file);
    const char *name = file;
    struct err e = ERR_INIT;
    struct seg_index *fresh = decoder_seg_open(path, NULL, &e);
    CHECK(fresh != NULL, "%s: %s", name, e.msg);
    if (!fresh)
        return;
    snprintf(ipath, sizeof ipath, "%s/%s.idx", tmp, file);
    int fd = open(ipath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(fd >= 0 && decoder_seg_index_write(fresh, fd, &e), "%s: write: %s", name, e.msg);
    close(fd);
    struct seg_index_counts before, after;
    decoder_seg_index_counts(&before);
    struct seg_index *loaded = decoder_seg_index_load(ipath, path, NULL, &e);
    decoder_seg_index_counts(&after);
    CHECK(loaded != NULL, "%s: load: %s", name, e.msg);
    CHECK(after.parsed == before.parsed && after.loaded == before.loaded + 1, "%s: loaded without parsing", name);
    if (loaded) {
        diffs = 0;
        same_index(name, fresh, loaded);
        CHECK(diffs == 0, "%s: %d fields differ", name, diffs);
        same_pixels(name, fresh, loaded);
        CHECK(loaded->memory_bytes > 0 && loaded->fd >= 0, "%s: accounting and descriptor", name);
        decoder_seg_free(loaded);
    }
    decoder_seg_free(fresh);
}

/* Every prefix, and every single-bit flip, of one small index is refused, never a crash. */
static void corruption(const char *dir)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/seg/dcmqi_38x23_odd.dcm", dir);
    const char *name = "corruption";
    struct err e = ERR_INIT;
    struct seg_index *fresh = decoder_seg_open(path, NULL, &e);
    CHECK(fresh != NULL, "open: %s", e.msg);
    if (!fresh)
        return;
    struct buf b = {0};
    CHECK(decoder_seg_index_serialize(fresh, &b, &e), "serialize: %s", e.msg);
    size_t refused = 0;
    for (size_t n = 0; n < b.len; n++) {
        struct err pe = ERR_INIT;
        struct seg_index *x = parse_bytes(b.data, n, path, &pe);
        refused += !x && pe.code == ERR_INVALID;
        decoder_seg_free(x);
    }
    CHECK(refused == b.len, "%s: %zu of %zu truncations refused", name, refused, b.len);
    refused = 0;
    size_t flips = 0;
    for (size_t i = 0; i < b.len; i += (b.len > 4096 ? 7 : 1))
        for (int bit = 0; bit < 8; bit += 3) {
            b.data[i] ^= (uint8_t)(1u << bit);
            struct err pe = ERR_INIT;
            struct seg_index *x = parse_bytes(b.data, b.len, path, &pe);
            refused += !x;
            flips++;
            decoder_seg_free(x);
            b.data[i] ^= (uint8_t)(1u << bit);
        }
    CHECK(refused == flips, "%s: %zu of %zu bit flips refused", name, refused, flips);
    /* trailing garbage, with the header's length and CRC made to agree */
    uint8_t junk[4] = {1, 2, 3, 4};
    buf_append(&b, junk, sizeof junk, &e);
    uint32_t payload = (uint32_t)(b.len - SEG_INDEX_HEADER_BYTES);
    uint32_t crc = (uint32_t)crc32(crc32(0, Z_NULL, 0), b.data + SEG_INDEX_HEADER_BYTES, payload);
    for (int k = 0; k < 4; k++) {
        b.data[40 + k] = (uint8_t)(payload >> (8 * k));
        b.data[44 + k] = (uint8_t)(crc >> (8 * k));
    }
    struct err pe = ERR_INIT;
    struct seg_index *x = parse_bytes(b.data, b.len, path, &pe);
    CHECK(!x && strstr(pe.msg, "bytes left"), "trailing bytes refused: %s", pe.msg);
    decoder_seg_free(x);
    buf_free(&b);
    decoder_seg_free(fresh);
}

static void copy_file(const char *from, const char *to)
{
    char cmd[2400];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", from, to);
    CHECK(system(cmd) == 0, "%s", cmd);
}

/* A changed or replaced object, another format version, a tighter limit: refused. */
static void stale(const char *dir, const char *tmp)
{
    char src[1024], obj[1100], ipath[1100];
    snprintf(src, sizeof src, "%s/seg/dcmqi_liver.dcm", dir);
    snprintf(obj, sizeof obj, "%s/obj.dcm", tmp);
    snprintf(ipath, sizeof ipath, "%s/obj.idx", tmp);
    copy_file(src, obj);
    struct err e = ERR_INIT;
    struct seg_index *fresh = decoder_seg_open(obj, NULL, &e);
    CHECK(fresh != NULL, "open: %s", e.msg);
    if (!fresh)
        return;
    int fd = open(ipath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(decoder_seg_index_write(fresh, fd, &e), "write: %s", e.msg);
    close(fd);
    decoder_seg_free(fresh);

    struct seg_index *x = decoder_seg_index_load(ipath, obj, NULL, &e);
    CHECK(x != NULL, "valid before any change: %s", e.msg);
    decoder_seg_free(x);

    struct seg_limits tight = {.max_frames = 1};
    e = (struct err)ERR_INIT;
    x = decoder_seg_index_load(ipath, obj, &tight, &e);
    CHECK(!x && e.code == ERR_LIMIT, "the current max-frames applies: %s", e.msg);
    decoder_seg_free(x);

    struct timeval tv[2] = {{1000000000, 0}, {1000000000, 0}};
    utimes(obj, tv); /* same bytes, new mtime */
    e = (struct err)ERR_INIT;
    x = decoder_seg_index_load(ipath, obj, NULL, &e);
    CHECK(!x && strstr(e.msg, "stale"), "touched object refused: %s", e.msg);
    decoder_seg_free(x);

    e = (struct err)ERR_INIT;
    fresh = decoder_seg_open(obj, NULL, &e);
    fd = open(ipath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fresh && decoder_seg_index_write(fresh, fd, &e), "rewrite: %s", e.msg);
    close(fd);
    decoder_seg_free(fresh);
    char obj2[1200];
    snprintf(obj2, sizeof obj2, "%s.new", obj);
    copy_file(obj, obj2);
    struct stat st;
    stat(obj, &st);
    struct timeval keep[2] = {{st.st_atim.tv_sec, st.st_atim.tv_nsec / 1000},
                              {st.st_mtim.tv_sec, st.st_mtim.tv_nsec / 1000}};
    utimes(obj2, keep);
    rename(obj2, obj); /* same bytes and size, another inode */
    e = (struct err)ERR_INIT;
    x = decoder_seg_index_load(ipath, obj, NULL, &e);
    CHECK(!x && strstr(e.msg, "stale"), "replaced object refused: %s", e.msg);
    decoder_seg_free(x);

    e = (struct err)ERR_INIT;
    x = decoder_seg_index_load("/nonexistent.idx", obj, NULL, &e);
    CHECK(!x && e.code == ERR_NOT_FOUND, "no index file: ERR_NOT_FOUND (%s)", e.msg);
}

static void other_version(const char *dir)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/seg/dcmqi_38x24.dcm", dir);
    struct err e = ERR_INIT;
    struct seg_index *fresh = decoder_seg_open(path, NULL, &e);
    struct buf b = {0};
    CHECK(fresh && decoder_seg_index_serialize(fresh, &b, &e), "serialize: %s", e.msg);
    if (b.len > 8)
        b.data[8]++;
    struct seg_index *x = parse_bytes(b.data, b.len, path, &e);
    CHECK(!x && strstr(e.msg, "version"), "another format version refused: %s", e.msg);
    decoder_seg_free(x);
    buf_free(&b);
    decoder_seg_free(fresh);
}

int main(void)
{
    const char *dir = check_corpus();
    char tmp[256];
    check_tmpdir("seg-index-io", tmp, sizeof tmp);
    char segdir[1100];
    snprintf(segdir, sizeof segdir, "%s/seg", dir);
    FILE *ls = NULL;
    char cmd[1200], line[512];
    snprintf(cmd, sizeof cmd, "ls '%s'", segdir);
    ls = popen(cmd, "r");
    int n = 0;
    while (ls && fgets(line, sizeof line, ls)) {
        line[strcspn(line, "\n")] = 0;
        if (strlen(line) > 4 && !strcmp(line + strlen(line) - 4, ".dcm")) {
            round_trip(dir, tmp, line);
            n++;
        }
    }
    if (ls)
        pclose(ls);
    CHECK(n >= 30, "round-tripped %d corpus files", n);
    corruption(dir);
    stale(dir, tmp);
    other_version(dir);
    check_rmtree(tmp);
    return check_done();
}
