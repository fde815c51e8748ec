/* Every handler of the route table (api/route_table.c), by resource. Two signatures
 * (api/route.h): api_handler_fn fills r for anything; api_index_fn runs on the opened
 * index of R and fails through struct err (mapped to a status by api/http_error.h). */
#ifndef SEGWEB_API_HANDLERS_H
#define SEGWEB_API_HANDLERS_H

#include <stdbool.h>
#include <stdint.h>

#include "api/ctx.h"
#include "api/request.h"
#include "api/route.h"
#include "decoder/decoder.h"

/* ---- service (api/health.c), answered on the HTTP thread ---- */
void api_health_get(struct api_ctx *ctx, const struct api_request *req, struct api_response *r);
void api_ready_get(struct api_ctx *ctx, const struct api_request *req, struct api_response *r);
void api_metrics_get(struct api_ctx *ctx, const struct api_request *req, struct api_response *r);

/* ---- one SEG, R/... (api/segments.c, api/seg_png.c, api/frames.c) ---- */
/* GET R/segments: the index document (as `segweb info`). */
bool api_segments_get(const struct seg_index *idx, const struct api_request *req,
                      struct api_response *r, struct err *e);
/* GET R/segments/{n}: one segment. ERR_NOT_FOUND for an unknown number. */
bool api_segment_get(const struct seg_index *idx, const struct api_request *req,
                     struct api_response *r, struct err *e);
/* GET R/frames/{f}/rendered[?style=color]: PNG of frame f. ERR_NOT_FOUND out of range. */
bool api_frame_rendered_get(const struct seg_index *idx, const struct api_request *req,
                            struct api_response *r, struct err *e);
/* GET R/segments/{n}/mask?source=UID[&frame=k][&style=color]: PNG of segment n on that source. */
bool api_segment_mask_get(const struct seg_index *idx, const struct api_request *req,
                          struct api_response *r, struct err *e);
/* GET R/frames/{list} (store R): multipart/related of raw frames. ERR_NOT_FOUND out of range. */
bool api_frames_multipart_get(const struct seg_index *idx, const struct api_request *req,
                              struct api_response *r, struct err *e);
/* The same for a stored image that is not a SEG (a CT beside it) at path: false with e
 * set (404 for a frame out of range, 406 for compressed pixel data or another syntax). */
bool api_frames_image(const struct api_request *req, const char *path, struct api_response *r, struct err *e);

/* Serves req as its R/... row does (api/dispatch.c): resolve R, ETag / 304, the cached
 * index, req->route->on_index, gzip. For handlers that hand a request on to an R/...
 * row (the viewer). vary (capacity varysz) collects the request headers the answer
 * depends on. Never fails: errors become error responses. */
void api_instance_serve(struct api_ctx *ctx, const struct api_request *req, struct api_response *r, char *vary,
                        size_t varysz);

/* The mask pixels behind api_segment_mask_get: BINARY and LABELMAP give 1-bit
 * 0/1 (LABELMAP: pixel == number), FRACTIONAL gives 8-bit stored values (the
 * maximum over frames when several match). All zero of Rows x Columns when the
 * segment has no frame on that source; ERR_NOT_FOUND when the object does not
 * reference the source at all or the segment does not exist. out->data is new. */
bool api_mask_pixels(const struct seg_index *idx, uint32_t number, const char *source_uid,
                     uint32_t source_frame, struct seg_pixels *out, struct err *e);

/* ---- the viewer (api/viewer.c, api/thumbnail.c; docs/VIEWER.md) ---- */
void api_viewer_frame_rendered_get(struct api_ctx *ctx, const struct api_request *req, struct api_response *r);
void api_viewer_rendered_get(struct api_ctx *ctx, const struct api_request *req, struct api_response *r);
void api_viewer_slices_get(struct api_ctx *ctx, const struct api_request *req, struct api_response *r);
void api_viewer_lint_get(struct api_ctx *ctx, const struct api_request *req, struct api_response *r);
void api_viewer_volumes_get(struct api_ctx *ctx, const struct api_request *req, struct api_response *r);
void api_viewer_page_get(struct api_ctx *ctx, const struct api_request *req, struct api_response *r);
void api_thumbnail_get(struct api_ctx *ctx, const struct api_request *req, struct api_response *r);

/* ---- DICOMweb on the store (api/stow.c, api/instances.c, api/search.c) ---- */
void api_stow_store(struct api_ctx *ctx, const struct api_request *req, struct api_response *r);
extern const struct api_body_sink api_stow_sink; /* the body of POST /studies[/{study}] */
void api_retrieve_get(struct api_ctx *ctx, const struct api_request *req, struct api_response *r);
void api_metadata_get(struct api_ctx *ctx, const struct api_request *req, struct api_response *r);
/* GET .../instances/{sop}/bulkdata/{tag} (api/bulkdata.c): the value every BulkDataURI
 * of /metadata names; Pixel Data whole, all frames, decoded. */
void api_bulkdata_get(struct api_ctx *ctx, const struct api_request *req, struct api_response *r);
void api_search_studies_get(struct api_ctx *ctx, const struct api_request *req, struct api_response *r);
void api_search_series_get(struct api_ctx *ctx, const struct api_request *req, struct api_response *r);
void api_search_instances_get(struct api_ctx *ctx, const struct api_request *req, struct api_response *r);
void api_delete(struct api_ctx *ctx, const struct api_request *req, struct api_response *r);

struct api_stream;
struct store;
/* One part of a WADO-RS retrieve: the object at path in transfer syntax want_ts
 * ("" means Explicit VR Little Endian, "*" the stored bytes), re-encoded when needed
 * (uncompressed syntaxes only; temp space from store). ERR_NOT_ACCEPTABLE (406)
 * when it cannot be produced. location: the part's Content-Location. */
bool api_retrieve_add_part(struct api_stream *s, struct store *store, const char *boundary, const char *path,
                           const char *stored_ts, const char *want_ts, const char *location, struct err *e);

/* ---- writing SEG (api/segmentations_post.c, writer/) ---- */
void api_segmentations_post(struct api_ctx *ctx, const struct api_request *req, struct api_response *r);
extern const struct api_body_sink api_segmentations_sink; /* the body of POST .../segmentations */
/* ---- volumes, R/... (api/volume_routes.c, volume/) ---- */
/* GET R/segments/{n}/volume.{nii.gz,nii,nrrd} and R/volume.{...} (the labelmap, with
 * X-Segweb-Overlap-Voxels) [?values=binary][&grid=seg|source]: the format and the kind
 * come from req->route's pattern. 422 geometry not a volume, 404 unknown segment, 413
 * past a limit. */
bool api_volume_get(const struct seg_index *idx, const struct api_request *req,
                    struct api_response *r, struct err *e);
/* GET R/meta.json: dcmqi's metadata JSON. */
bool api_meta_json_get(const struct seg_index *idx, const struct api_request *req,
                       struct api_response *r, struct err *e);
/* GET R/labelmap?source=UID[&frame=k][&style=color]: every segment on that source image. */
bool api_labelmap_get(const struct seg_index *idx, const struct api_request *req,
                      struct api_response *r, struct err *e);
/* GET R/segments/{n}/total.png: a slide segment's whole total pixel matrix. */
bool api_total_get(const struct seg_index *idx, const struct api_request *req,
                   struct api_response *r, struct err *e);
extern const struct api_media API_MEDIA_GZIP, API_MEDIA_OCTETS;

#endif
