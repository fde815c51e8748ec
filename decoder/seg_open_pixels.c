/* Where a SEG's pixels are (a stage of decoder_seg_open(), see seg_open.h).
 * Design note: this file owns the pixel layout of the index; it locates Pixel
 * Data and never decodes it (frame_read.c does, on demand). Its invariants:
 *   - native data is one byte range of the file (offset, length), except for
 *     Deflated Explicit VR Little Endian, whose inflated value is copied once
 *     into the arena (pixels.memory);
 *   - encapsulated data is a list of fragments (file offset, length) and, per
 *     frame, its first fragment and count: every frame has at least one, the
 *     runs are in order and do not overlap; the Basic Offset Table is used
 *     when it has one entry per frame, else for JPEG 2000 / JPEG-LS a frame
 *     starts at each fragment that opens a codestream;
 *   - a NumberOfFrames the file is too small to hold is refused before any
 *     per-frame array is sized by it. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "decoder/seg_open.h"

/* A lying NumberOfFrames must not buy a large index (and a larger JSON document) with
 * a tiny file: every frame needs at least its native bits, or one 8-byte fragment item
 * when encapsulated, so more frames than twice what the file can hold (plus slack for
 * the tolerated "fewer frames present than declared" defect) are refused. Deflated data
 * sets are exempt (their size on disk says nothing about the inflated size). */
bool seg_open_frames_plausible(struct builder *b, uint64_t file_size, bool deflated)
{
    const struct seg_index *idx = b->idx;
    if (deflated)
        return true;
    uint64_t bits = (uint64_t)idx->rows * idx->columns * idx->bits_allocated;
    uint64_t per = idx->pixels.encoding != SEG_ENC_NATIVE ? 8 : (bits + 7) / 8;
    if (per && (uint64_t)idx->number_of_frames > (2 * file_size + 65536) / per)
        return err_set(b->e, ERR_INVALID,
                       "NumberOfFrames %u is not plausible: %llu frames of this size need more than the %llu-byte file",
                       idx->number_of_frames, (unsigned long long)idx->number_of_frames,
                       (unsigned long long)file_size);
    return true;
}

static bool is_jpeg_start(const struct seg_index *idx, uint32_t fragment)
{
    uint8_t head[4];
    const struct seg_fragment *f = &idx->pixels.fragments[fragment];
    if (f->length < 4 || pread(idx->fd, head, 4, (off_t)f->offset) != 4)
        return false;
    if (idx->pixels.encoding == SEG_ENC_J2K)
        return (head[0] == 0xFF && head[1] == 0x4F && head[2] == 0xFF && head[3] == 0x51) ||
               !memcmp(head, "\0\0\0\x0c", 4); /* JP2 signature box */
    return head[0] == 0xFF && head[1] == 0xD8; /* JPEG-LS SOI */
}

/* Which fragments make up each frame. */
static bool map_fragments(struct builder *b, const struct pixel_location *loc)
{
    struct seg_index *idx = b->idx;
    struct seg_pixel_layout *px = &idx->pixels;
    uint32_t nf = idx->number_of_frames;
    px->frame_fragment = arena_alloc(b->a, (size_t)nf * sizeof(uint32_t));
    px->frame_fragments_count = arena_alloc(b->a, (size_t)nf * sizeof(uint32_t));
    if (nf && (!px->frame_fragment || !px->frame_fragments_count))
        return err_set(b->e, ERR_NOMEM, "out of memory");
    size_t nfrag = px->n_fragments;
    if (nfrag == nf) {
        for (uint32_t i = 0; i < nf; i++) {
            px->frame_fragment[i] = i;
            px->frame_fragments_count[i] = 1;
        }
        return true;
    }
    if (nfrag < nf)
        return err_set(b->e, ERR_INVALID, "encapsulated Pixel Data has %zu fragments for %u frames", nfrag, nf);
    if (nf == 1) {
        px->frame_fragment[0] = 0;
        px->frame_fragments_count[0] = (uint32_t)nfrag;
        return true;
    }
    if (loc->n_offset_table == nf) {
        /* Offsets count from the first fragment's item tag: 8 header bytes each. */
        uint64_t base = px->fragments[0].offset - 8;
        uint32_t k = 0;
        for (uint32_t i = 0; i < nf; i++) {
            uint64_t want = base + loc->offset_table[i];
            while (k < nfrag && px->fragments[k].offset - 8 < want)
                k++;
            if (k >= nfrag || px->fragments[k].offset - 8 != want)
                return err_set(b->e, ERR_INVALID, "Basic Offset Table entry %u points between fragments", i + 1);
            px->frame_fragment[i] = k;
        }
    } else if (px->encoding == SEG_ENC_J2K || px->encoding == SEG_ENC_JPEGLS) {
        /* No usable offset table: a frame starts at each fragment that opens a codestream. */
        uint32_t i = 0;
        for (uint32_t k = 0; k < nfrag && i <= nf; k++)
            if (k == 0 || is_jpeg_start(idx, k)) {
                if (i == nf)
                    return err_set(b->e, ERR_INVALID, "more codestreams than the %u frames declared", nf);
                px->frame_fragment[i++] = k;
            }
        if (i != nf)
            return err_set(b->e, ERR_INVALID, "found %u codestreams for %u frames", i, nf);
    } else {
        return err_set(b->e, ERR_INVALID, "%zu fragments for %u frames and no offset table", nfrag, nf);
    }
    for (uint32_t i = 0; i < nf; i++) {
        uint32_t end = i + 1 < nf ? px->frame_fragment[i + 1] : (uint32_t)nfrag;
        if (end <= px->frame_fragment[i])
            return err_set(b->e, ERR_INVALID, "frame %u has no fragments", i + 1);
        px->frame_fragments_count[i] = end - px->frame_fragment[i];
    }
    return true;
}

bool seg_open_pixels(struct builder *b, int fd, uint64_t size, bool explicit_vr, bool big_endian, bool deflated)
{
    struct seg_index *idx = b->idx;
    struct seg_pixel_layout *px = &idx->pixels;
    if (deflated) {
        size_t len = 0;
        uint8_t *mem = dataset_pixel_copy(b->f, &len, b->e);
        if (!mem)
            return false;
        uint8_t *copy = arena_alloc(b->a, len ? len : 1);
        if (!copy) {
            free(mem);
            return err_set(b->e, ERR_NOMEM, "out of memory");
        }
        memcpy(copy, mem, len);
        free(mem);
        px->memory = copy;
        px->length = len;
        return true;
    }
    struct pixel_location loc;
    if (!decoder_pixel_locate(fd, size, explicit_vr, big_endian, &loc, b->e))
        return false;
    bool ok = false;
    if (!loc.found) {
        err_set(b->e, ERR_INVALID, "the object has no Pixel Data");
        goto out;
    }
    if (loc.encapsulated != (px->encoding != SEG_ENC_NATIVE)) {
        err_set(b->e, ERR_INVALID, "Pixel Data is %s but the transfer syntax %s is %s",
                loc.encapsulated ? "encapsulated" : "native", idx->transfer_syntax_uid,
                loc.encapsulated ? "native" : "encapsulated");
        goto out;
    }
    if (!loc.encapsulated) {
        px->offset = loc.offset;
        px->length = loc.length;
        ok = true;
        goto out;
    }
    px->n_fragments = loc.n_fragments;
    px->fragments = arena_alloc(b->a, loc.n_fragments * sizeof *px->fragments + 1);
    if (!px->fragments) {
        err_set(b->e, ERR_NOMEM, "out of memory");
        goto out;
    }
    memcpy(px->fragments, loc.fragments, loc.n_fragments * sizeof *px->fragments);
    ok = map_fragments(b, &loc);
out:
    decoder_pixel_location_free(&loc);
    return ok;
}

