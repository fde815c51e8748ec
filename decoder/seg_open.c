/* Builds the SEG index from a file: decoder_seg_open() (see seg.h). Design
 * note: this file owns the entry point and the order of the stages; the stages
 * live in seg_open_attrs.c (instance, image, segments), seg_open_frames.c (the
 * frame index) and seg_open_pixels.c (the pixel layout), sharing struct builder
 * (seg_open.h). Its invariants:
 *   - nothing reaches DCMTK before the cheap checks: a non-empty regular file,
 *     and for deflated data sets an inflated size within the limit;
 *   - only segmentations (66.4, 66.7) in a listed transfer syntax are indexed;
 *     anything else fails with ERR_UNSUPPORTED naming what it is;
 *   - Pixel Data is only located, except for LABELMAP objects, whose segment
 *     frame lists depend on which values each frame holds;
 *   - on success the index owns the file descriptor (for pread by the frame
 *     readers) and the parsed data set is closed; on failure nothing is left
 *     open and e is always set. */
#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "decoder/seg_open.h"

_Atomic uint64_t decoder_seg_parse_count;

#define T_SOP_CLASS TAG(0x0008, 0x0016)
#define T_MEDIA_SOP_CLASS TAG(0x0002, 0x0002)

static const struct {
    const char *uid;
    enum seg_encoding encoding;
    bool explicit_vr, big_endian, deflated;
} syntaxes[] = {
    {"1.2.840.10008.1.2", SEG_ENC_NATIVE, false, false, false},
    {"1.2.840.10008.1.2.1", SEG_ENC_NATIVE, true, false, false},
    {"1.2.840.10008.1.2.2", SEG_ENC_NATIVE, true, true, false},
    {"1.2.840.10008.1.2.1.99", SEG_ENC_NATIVE, true, false, true},
    {"1.2.840.10008.1.2.5", SEG_ENC_RLE, true, false, false},
    {"1.2.840.10008.1.2.4.80", SEG_ENC_JPEGLS, true, false, false},
    {"1.2.840.10008.1.2.4.81", SEG_ENC_JPEGLS, true, false, false},
    {"1.2.840.10008.1.2.4.90", SEG_ENC_J2K, true, false, false},
    {"1.2.840.10008.1.2.4.91", SEG_ENC_J2K, true, false, false},
    {"1.2.840.10008.1.2.4.201", SEG_ENC_J2K, true, false, false},
    {"1.2.840.10008.1.2.4.202", SEG_ENC_J2K, true, false, false},
    {"1.2.840.10008.1.2.8.1", SEG_ENC_DEFLATE_FRAME, true, false, false},
    {"1.2.840.10008.1.2.1.98", SEG_ENC_ENCAPSULATED_NATIVE, true, false, false},
};

/* Deflated Explicit VR Little Endian: DCMTK inflates the whole data set into memory
 * (about three times its inflated size), so a 0.5 MB file of deflated zeros cost 1.5 GB.
 * Before DCMTK sees the file, inflate it once in 64 KiB steps, counting, and refuse it
 * past the limit. Only the Part 10 meta group is parsed here (its group length and
 * whether it names the deflated syntax); anything odd is left to DCMTK to report. */
#define DEFLATED_TS "1.2.840.10008.1.2.1.99"
static bool inflated_size_ok(int fd, uint64_t size, uint64_t max, struct err *e)
{
    uint8_t head[144];
    if (size < sizeof head || pread(fd, head, sizeof head, 0) != (ssize_t)sizeof head ||
        memcmp(head + 128, "DICM", 4) || memcmp(head + 132, "\x02\x00\x00\x00UL\x04\x00", 8))
        return true;
    /* 64-bit sum: in 32 bits a group length of 0xFFFFFFFF wrapped to a tiny meta_end
     * and a huge read into the 64 KiB buffer (found by fuzz_decoder). */
    uint64_t glen = (uint64_t)head[140] | (uint64_t)head[141] << 8 | (uint64_t)head[142] << 16 |
                    (uint64_t)head[143] << 24;
    uint64_t meta_end = 144 + glen;
    if (meta_end > size || glen > 65536)
        return true;
    uint8_t *in = malloc(65536), *out = malloc(65536);
    bool ok = true;
    if (!in || !out)
        goto done;
    size_t mlen = (size_t)(meta_end - 144);
    if (mlen < strlen(DEFLATED_TS) || pread(fd, in, mlen, 144) != (ssize_t)mlen ||
        !memmem(in, mlen, DEFLATED_TS, strlen(DEFLATED_TS)))
        goto done;
    z_stream z = {0};
    if (inflateInit2(&z, -15) != Z_OK)
        goto done;
    uint64_t off = meta_end, total = 0;
    int rc = Z_OK;
    while (rc == Z_OK) {
        if (z.avail_in == 0) {
            ssize_t got = pread(fd, in, 65536, (off_t)off);
            if (got <= 0)
                break;
            off += (uint64_t)got;
            z.next_in = in;
            z.avail_in = (uInt)got;
        }
        z.next_out = out;
        z.avail_out = 65536;
        rc = inflate(&z, Z_NO_FLUSH);
        total += 65536 - z.avail_out;
        if (total > max) {
            ok = err_set(e, ERR_LIMIT, "the deflated data set inflates to more than the max-inflated-bytes limit of %llu",
                         (unsigned long long)max);
            break;
        }
    }
    inflateEnd(&z);
done:
    free(in);
    free(out);
    return ok;
}

static const char *sop_class_name(const char *uid)
{
    static const struct { const char *uid, *name; } names[] = {
        {"1.2.840.10008.5.1.4.1.1.2", "CT Image Storage"},
        {"1.2.840.10008.5.1.4.1.1.2.1", "Enhanced CT Image Storage"},
        {"1.2.840.10008.5.1.4.1.1.4", "MR Image Storage"},
        {"1.2.840.10008.5.1.4.1.1.1", "Computed Radiography Image Storage"},
        {"1.2.840.10008.5.1.4.1.1.7", "Secondary Capture Image Storage"},
        {"1.2.840.10008.5.1.4.1.1.128", "PET Image Storage"},
        {"1.2.840.10008.5.1.4.1.1.88.33", "Comprehensive SR Storage"},
        {"1.2.840.10008.5.1.4.1.1.481.3", "RT Structure Set Storage"},
        {"1.2.840.10008.5.1.4.1.1.77.1.6", "VL Whole Slide Microscopy Image Storage"},
    };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (!strcmp(uid, names[i].uid))
            return names[i].name;
    return NULL;
}

/* Opens path: a non-empty regular file. -1 with e set otherwise. */
static int open_file(const char *path, struct stat *st, struct err *e)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        err_set(e, err_code_from_errno(errno), "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode))
        err_set(e, ERR_INVALID, "%s is not a regular file", path);
    else if (st->st_size == 0)
        err_set(e, ERR_INVALID, "%s is empty", path);
    else
        return fd;
    close(fd);
    return -1;
}

/* The object's SOP Class UID (borrowed from the data set); NULL with e set
 * when it has none or is not a segmentation. */
static const char *seg_sop_class(struct builder *b)
{
    const char *sop = dataset_string(b->f, b->root, T_SOP_CLASS, 0);
    if (!sop)
        sop = dataset_string(b->f, dataset_meta(b->f), T_MEDIA_SOP_CLASS, 0);
    if (!sop) {
        err_set(b->e, ERR_INVALID, "not a DICOM object: no SOP Class UID");
        return NULL;
    }
    if (strcmp(sop, SEG_SOP_CLASS_SEGMENTATION) && strcmp(sop, SEG_SOP_CLASS_LABELMAP)) {
        const char *name = sop_class_name(sop);
        err_set(b->e, ERR_UNSUPPORTED, "not a segmentation: SOP Class UID %s%s%s%s", sop, name ? " (" : "",
                name ? name : "", name ? ")" : "");
        return NULL;
    }
    return sop;
}

/* The row of syntaxes[] for ts; -1 with e set when it is not supported. */
static int find_syntax(const char *ts, struct err *e)
{
    size_t which = sizeof syntaxes / sizeof *syntaxes;
    for (size_t i = 0; i < sizeof syntaxes / sizeof *syntaxes; i++)
        if (!strcmp(ts, syntaxes[i].uid))
            which = i;
    if (which == sizeof syntaxes / sizeof *syntaxes)
        return err_set(e, ERR_UNSUPPORTED, "transfer syntax %s is not supported", ts), -1;
    return (int)which;
}

/* The stages, in order. */
static bool build(struct builder *b, const struct seg_limits *limits, uint64_t file_size, int which)
{
    bool deflated = syntaxes[which].deflated;
    return seg_open_instance(b) && seg_open_image(b, limits) &&
           seg_open_frames_plausible(b, file_size, deflated) && seg_open_segments(b) && seg_open_frames(b) &&
           seg_open_pixels(b, b->idx->fd, file_size, syntaxes[which].explicit_vr, syntaxes[which].big_endian,
                           deflated) &&
           seg_open_segment_frames(b);
}

struct seg_index *decoder_seg_open(const char *path, const struct seg_limits *limits, struct err *e)
{
    struct builder b = {.e = e};
    struct seg_index *idx = NULL;
    struct stat st;
    int which;

    int fd = open_file(path, &st, e);
    if (fd < 0)
        goto fail;
    if (!inflated_size_ok(fd, (uint64_t)st.st_size,
                          limits && limits->max_inflated_bytes ? limits->max_inflated_bytes : (256ull << 20), e))
        goto fail;
    decoder_seg_parse_count++;
    b.f = dataset_open(path, e);
    if (!b.f)
        goto fail;
    b.root = dataset_root(b.f);
    const char *sop = seg_sop_class(&b);
    if (!sop)
        goto fail;
    const char *ts = dataset_transfer_syntax(b.f);
    if ((which = find_syntax(ts, e)) < 0)
        goto fail;

    b.a = arena_new();
    idx = calloc(1, sizeof *idx);
    if (idx)
        idx->fd = -1; /* so that decoder_seg_free() below never closes descriptor 0 */
    if (!b.a || !idx) {
        err_set(e, ERR_NOMEM, "out of memory");
        goto fail;
    }
    b.idx = idx;
    idx->arena = b.a;
    idx->path = strdup(path);
    if (!idx->path) {
        err_set(e, ERR_NOMEM, "out of memory");
        goto fail;
    }
    idx->fd = fd;
    fd = -1;
    idx->transfer_syntax_uid = arena_str(b.a, ts);
    idx->sop_class_uid = arena_str(b.a, sop);
    idx->pixels.encoding = syntaxes[which].encoding;
    idx->pixels.big_endian = syntaxes[which].big_endian;
    b.shared = dataset_seq_item(b.root, T_SHARED, 0);
    if (!build(&b, limits, (uint64_t)st.st_size, which))
        goto fail;

    idx->memory_bytes = sizeof *idx + arena_bytes(b.a) + strlen(idx->path) + 1;
    dataset_close(b.f);
    return idx;

fail:
    if (idx)
        decoder_seg_free(idx);
    else
        arena_free(b.a);
    dataset_close(b.f);
    if (fd >= 0)
        close(fd);
    if (e && e->code == ERR_OK)
        err_set(e, ERR_INTERNAL, "indexing failed");
    return NULL;
}
