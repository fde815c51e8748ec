/* Private to decoder/: the stages of decoder_seg_open() and what they share.
 * Nothing outside decoder/ includes this.
 *
 *   seg_open.c         the entry point: file checks, SOP class, transfer syntax, the
 *                      order of the stages, cleanup
 *   seg_open_attrs.c   attributes: instance, geometry and limits, segments
 *   seg_open_frames.c  the frame index: per-frame segment, position, source
 *                      references, dimension values; segment frame lists
 *   seg_open_pixels.c  where the pixels are: native range, in-memory copy or
 *                      fragments, and which fragments make up each frame
 *
 * Every stage fills part of b->idx, allocates from b->a (freed with the index)
 * and returns false with b->e set on failure; the caller then frees the index. */
#ifndef SEGWEB_DECODER_SEG_OPEN_H
#define SEGWEB_DECODER_SEG_OPEN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "decoder/arena.h"
#include "decoder/dataset.h"
#include "decoder/pixel_locate.h"
#include "decoder/seg.h"

#define T_PER_FRAME TAG(0x5200, 0x9230)
#define T_SHARED TAG(0x5200, 0x9229)

struct builder {
    struct dataset_file *f;
    const struct dataset_item *root, *shared;
    struct seg_index *idx;
    struct arena *a;
    struct err *e;
};

/* ---- seg_open.c ---- */

/* Objects handed to DCMTK by decoder_seg_open (decoder_seg_index_counts reports it). */
extern _Atomic uint64_t decoder_seg_parse_count;

/* ---- seg_open_attrs.c ---- */

/* A string of item it (first value; the whole multi-valued string for
 * seg_open_str_all), interned in the arena; "" when absent. */
const char *seg_open_str(struct builder *b, const struct dataset_item *it, uint32_t tag);
const char *seg_open_str_all(struct builder *b, const struct dataset_item *it, uint32_t tag);
/* The first item of sequence tag in it, or NULL. */
const struct dataset_item *seg_open_first_item(const struct dataset_item *it, uint32_t tag);
/* The item of functional group `group` for a frame: per-frame first, then shared. */
const struct dataset_item *seg_open_group_item(struct builder *b, const struct dataset_item *frame_item,
                                               uint32_t group);
/* n doubles of tag into out; *has only when all n are there (out may be partly written). */
void seg_open_doubles(const struct dataset_item *it, uint32_t tag, double *out, unsigned n, bool *has);

bool seg_open_instance(struct builder *b);
/* Rows, Columns, bits, NumberOfFrames and the segmentation type, within the limits. */
bool seg_open_image(struct builder *b, const struct seg_limits *lim);
bool seg_open_segments(struct builder *b);

/* ---- seg_open_frames.c ---- */

bool seg_open_frames(struct builder *b);
/* The frame list of every segment: by the per-frame segment numbers, or for
 * LABELMAP by the values each frame holds (every frame is decoded once). */
bool seg_open_segment_frames(struct builder *b);

/* ---- seg_open_pixels.c ---- */

/* Refuses a NumberOfFrames the file is too small to hold (not for deflated data sets). */
bool seg_open_frames_plausible(struct builder *b, uint64_t file_size, bool deflated);
bool seg_open_pixels(struct builder *b, int fd, uint64_t size, bool explicit_vr, bool big_endian,
                     bool deflated);

#endif
