#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "decoder/arena.h"
#include "decoder/seg.h"

void decoder_seg_free(struct seg_index *idx)
{
    if (!idx)
        return;
    if (idx->fd >= 0)
        close(idx->fd);
    arena_free(idx->arena);
    free(idx->path);
    free(idx);
}

void decoder_seg_file_close(struct seg_index *idx)
{
    if (idx && idx->fd >= 0) {
        close(idx->fd);
        idx->fd = -1;
    }
}

void decoder_seg_file_adopt(struct seg_index *idx, int fd)
{
    decoder_seg_file_close(idx);
    idx->fd = fd;
}

const struct seg_segment *decoder_seg_segment(const struct seg_index *idx, int32_t number)
{
    size_t lo = 0, hi = idx->n_segments; /* segments are sorted by number */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (idx->segments[mid].number < number)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < idx->n_segments && idx->segments[lo].number == number ? &idx->segments[lo] : NULL;
}

const char *decoder_seg_type_name(enum seg_type t)
{
    switch (t) {
    case SEG_TYPE_BINARY: return "BINARY";
    case SEG_TYPE_FRACTIONAL: return "FRACTIONAL";
    case SEG_TYPE_LABELMAP: return "LABELMAP";
    }
    return "";
}

static bool ref_matches(const struct seg_source_ref *ref, const char *uid, uint32_t frame)
{
    if (!ref->sop_instance_uid || strcmp(ref->sop_instance_uid, uid))
        return false;
    if (!frame)
        return true;
    return ref->frame == (int32_t)frame || (ref->frame == 0 && frame == 1);
}

bool decoder_frame_derives_from(const struct seg_index *idx, uint32_t frame, const char *sop_instance_uid,
                                uint32_t source_frame)
{
    if (frame < 1 || frame > idx->number_of_frames)
        return false;
    const struct seg_frame *fr = &idx->frames[frame - 1];
    for (uint32_t k = 0; k < fr->refs_count; k++) {
        size_t ri = (size_t)fr->refs_first + k;
        if (ri < idx->n_refs && ref_matches(&idx->refs[ri], sop_instance_uid, source_frame))
            return true;
    }
    return false;
}

bool decoder_seg_references(const struct seg_index *idx, const char *sop_instance_uid)
{
    for (size_t s = 0; s < idx->n_ref_series; s++)
        for (size_t i = 0; i < idx->ref_series[s].n_instances; i++)
            if (idx->ref_series[s].instance_uids[i] && !strcmp(idx->ref_series[s].instance_uids[i], sop_instance_uid))
                return true;
    return false;
}
