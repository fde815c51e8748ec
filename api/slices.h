/* GET R/slices: what the page (web/) needs to show a SEG over its source images,
 * in one JSON document:
 *
 *   {"sop_instance_uid", "segmentation_type", "rows", "columns", "slide": false,
 *    "total_matrix": [rows, columns] | null,
 *    "slices": [{"index": 1, "location": -128.69 | null, "position": [x,y,z] | null,
 *                "frames": [{"frame": 3, "segment": 1, "tile": [col,row] | absent}],
 *                "source": {"sop_instance_uid", "frame", "found", "url", "rows", "columns",
 *                           "message"} | null}],
 *    "windows": [{"center", "width", "explanation"}],   (of the first source found)
 *    "sources": {"referenced": n, "found": n}, "message": "..." | absent}
 *
 * Slices: frames with patient positions are grouped by their distance along the
 * normal of Image Orientation (Patient) (ascending, 1 µm tolerance); frames
 * without positions by their first source reference; a slide SEG is one slice
 * whose frames carry their tile position. A slice's source is the image its
 * frames reference; when they reference several (some writers list the whole
 * series), the one whose own position lies on the slice. "url" is the source's
 * resource R relative to the service root (api/uid_locate.h): the page adds
 * "/frames/{frame}/rendered". */
#ifndef SEGWEB_API_SLICES_H
#define SEGWEB_API_SLICES_H

#include <jansson.h>
#include <stdbool.h>

#include "api/request.h"
#include "decoder/decoder.h"

struct api_ctx;

/* One slice of a SEG, as the thumbnail needs it. */
struct api_slice_pick {
    bool has_source;
    char source_uid[API_UID_MAX + 1];
    uint32_t source_frame;
    char source_path[4096];
    uint32_t seg_frames[64]; /* SEG frames on the slice (first 64) */
    size_t n_seg_frames;
};

/* New document, NULL when out of memory. */
json_t *api_slices_json(struct api_ctx *ctx, const struct seg_index *idx);

bool api_slices_get(struct api_ctx *ctx, const struct seg_index *idx, struct api_response *r,
                    struct err *e);

/* The middle slice (for thumbnails). false when the SEG has no frames. */
bool api_slices_middle(struct api_ctx *ctx, const struct seg_index *idx, struct api_slice_pick *out);

#endif
