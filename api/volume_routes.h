/* The volume routes' helpers other api/ files call (api/volume_routes.c). */
#ifndef SEGWEB_API_VOLUME_ROUTES_H
#define SEGWEB_API_VOLUME_ROUTES_H

#include <jansson.h>
#include <stdint.h>

#include "decoder/decoder.h"

/* Adds "measurements" to each segment object of `segments` (a JSON array of objects
 * with "number"): voxels, volume_ml, bbox_voxels, bbox_mm, centroid_mm, slices for
 * patient geometry; pixels, area_mm2, bbox_pixels for slide SEGs; nothing when the
 * object has neither (or the geometry is not a volume). only >= 0: that segment's
 * measurement alone. Never fails (a measurement that cannot be made is left out). */
void api_volume_measurements_add(const struct seg_index *idx, json_t *segments, int32_t only);

#endif
