#include <stdlib.h>
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
