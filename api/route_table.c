/* THE route table: every endpoint of segweb is one row below. Dispatch (api/dispatch.c),
 * the Allow header and 405s, CORS preflight answers, whether a request runs on a worker
 * or needs the store or takes a body, and the metrics/log label all come from here.
 *
 * HOW TO ADD A ROUTE
 *   1. Write the handler in the api/ file of its resource (api/<resource>.c), with one
 *      of the two signatures of api/route.h:
 *        void h(struct api_ctx *, const struct api_request *, struct api_response *)
 *          for anything; or, for R/... routes on one SEG (files or store),
 *        bool h(const struct seg_index *, const struct api_request *,
 *               struct api_response *, struct err *)
 *          which gets the cached index of R, ETag/304, gzip and the error mapping free.
 *      Declare it in api/handlers.h. Fail through struct err (api/http_error.h maps it),
 *      never with a literal status.
 *   2. Add one row: pattern, name, methods, flags, handler (see api/route.h for the
 *      pattern syntax: R, {study} {series} {sop} {n} {f} {frames} {tag}, literal segments
 *      such as "volume.nii.gz", "{n}.png", "?source"). Rows are tried in order; the
 *      first of a shape that allows the method wins. Rows of one endpoint share a name.
 *   3. Add a case to tests/unit/api/test_route.c; tests/e2e for behaviour.
 *
 * Flags: API_WORKER runs it on the worker pool (anything that reads files or decodes);
 * API_STORE answers 404 without an instance store; API_RAW_QUERY leaves the query to
 * the handler. The order of first appearance of each name is the metrics order. */
#include "api/route.h"

#include "api/handlers.h"

/* What R/... routes produce (api/route.h). The frames multipart answer is bounded by
 * --max-json-bytes too, as it always was. */
const struct api_media API_MEDIA_JSON = {"application/json", NULL, NULL, true, true};
const struct api_media API_MEDIA_PNG = {
    "image/png", NULL, "this resource is image/png; the Accept header does not allow it", false,
    false};
const struct api_media API_MEDIA_FRAMES = {
    "multipart/related", "application/octet-stream",
    "frames are multipart/related; type=\"application/octet-stream\"", false, true};

#define W API_WORKER
#define S API_STORE
#define Q API_RAW_QUERY
#define RUN(fn) .handle = fn
#define INDEX(fn, m) .on_index = fn, .media = &m

const struct api_route api_routes[] = {
    /* pattern                                name              methods     flags  handler */
    {"/healthz",                              "healthz",        API_GET,    0,     RUN(api_health_get)},
    {"/readyz",                               "readyz",         API_GET,    0,     RUN(api_ready_get)},
    {"/metrics",                              "metrics",        API_GET,    0,     RUN(api_metrics_get)},

    /* One SEG: R is files/<path> (--files-root) or studies/{s}/series/{se}/instances/{i}. */
    {"R/segments",                            "segments",       API_GET,    W, INDEX(api_segments_get, API_MEDIA_JSON)},
    {"R/segments/{n}",                        "segment",        API_GET,    W, INDEX(api_segment_get, API_MEDIA_JSON)},
    /* a SEG's own frame (api_frame_rendered_get), or a source image rendered (api/viewer.c) */
    {"R/frames/{f}/rendered",                 "frame_rendered", API_GET,    W,     RUN(api_viewer_frame_rendered_get)},
    {"R/segments/{n}/mask?source",            "segment_mask",   API_GET,    W, INDEX(api_segment_mask_get, API_MEDIA_PNG)},
    /* Volumes (api/volume_routes.c, volume/): a segment, the labelmap, metadata, 2-D labelmap, slide. */
    {"R/segments/{n}/volume.nii.gz",          "segment_volume_nii_gz", API_GET, W, INDEX(api_volume_get, API_MEDIA_GZIP)},
    {"R/segments/{n}/volume.nii",             "segment_volume_nii", API_GET, W, INDEX(api_volume_get, API_MEDIA_OCTETS)},
    {"R/segments/{n}/volume.nrrd",            "segment_volume_nrrd", API_GET, W, INDEX(api_volume_get, API_MEDIA_OCTETS)},
    {"R/volume.nii.gz",                       "labelmap_volume_nii_gz", API_GET, W, INDEX(api_volume_get, API_MEDIA_GZIP)},
    {"R/volume.nii",                          "labelmap_volume_nii", API_GET, W, INDEX(api_volume_get, API_MEDIA_OCTETS)},
    {"R/volume.nrrd",                         "labelmap_volume_nrrd", API_GET, W, INDEX(api_volume_get, API_MEDIA_OCTETS)},
    {"R/meta.json",                           "meta_json",      API_GET,    W, INDEX(api_meta_json_get, API_MEDIA_JSON)},
    {"R/labelmap?source",                     "labelmap",       API_GET,    W, INDEX(api_labelmap_get, API_MEDIA_PNG)},
    {"R/segments/{n}/total.png",              "segment_total",  API_GET,    W, INDEX(api_total_get, API_MEDIA_PNG)},

    /* The viewer (issue 14, api/viewer.c, docs/VIEWER.md): rendered source images with
       segments burned in, the page's data, the SEG doctor, the page, series thumbnails. */
    {"R/rendered",                            "rendered",       API_GET,    W|Q,   RUN(api_viewer_rendered_get)},
    {"R/slices",                              "slices",         API_GET,    W,     RUN(api_viewer_slices_get)},
    {"R/lint",                                "lint",           API_GET,    W,     RUN(api_viewer_lint_get)},
    {"R/volumes",                             "volumes",        API_GET,    W,     RUN(api_viewer_volumes_get)},
    {"/view",                                 "view",           API_GET,    0,     RUN(api_viewer_page_get)},
    {"/view/*",                               "view",           API_GET,    0,     RUN(api_viewer_page_get)},
    {"/studies/{study}/series/{series}/thumbnail", "thumbnail", API_GET,    W|S,   RUN(api_thumbnail_get)},

    /* DICOMweb on the store (PS3.18): STOW-RS, WADO-RS, QIDO-RS, and DELETE. */
    {"/studies",                              "stow",           API_POST,   W|S,   RUN(api_stow_store), .body = &api_stow_sink},
    {"/studies/{study}",                      "stow",           API_POST,   W|S,   RUN(api_stow_store), .body = &api_stow_sink},
    {"/studies/{study}",                      "retrieve",       API_GET,    W|S,   RUN(api_retrieve_get)},
    {"/studies/{study}/series/{series}",      "retrieve",       API_GET,    W|S,   RUN(api_retrieve_get)},
    {"/studies/{study}/series/{series}/instances/{sop}", "retrieve", API_GET, W|S, RUN(api_retrieve_get)},
    {"/studies/{study}/metadata",             "metadata",       API_GET,    W|S,   RUN(api_metadata_get)},
    {"/studies/{study}/series/{series}/metadata", "metadata",   API_GET,    W|S,   RUN(api_metadata_get)},
    {"/studies/{study}/series/{series}/instances/{sop}/metadata", "metadata", API_GET, W|S, RUN(api_metadata_get)},
    {"/studies/{study}/series/{series}/instances/{sop}/frames/{frames}", "frames", API_GET, W,
     INDEX(api_frames_multipart_get, API_MEDIA_FRAMES)},
    {"/studies/{study}/series/{series}/instances/{sop}/bulkdata/{tag}", "bulkdata", API_GET, W|S, RUN(api_bulkdata_get)},
    {"/studies",                              "search_studies", API_GET,    W|S|Q, RUN(api_search_studies_get)},
    {"/series",                               "search_series",  API_GET,    W|S|Q, RUN(api_search_series_get)},
    {"/studies/{study}/series",               "search_series",  API_GET,    W|S|Q, RUN(api_search_series_get)},
    {"/instances",                            "search_instances", API_GET,  W|S|Q, RUN(api_search_instances_get)},
    {"/studies/{study}/instances",            "search_instances", API_GET,  W|S|Q, RUN(api_search_instances_get)},
    {"/studies/{study}/series/{series}/instances", "search_instances", API_GET, W|S|Q, RUN(api_search_instances_get)},
    {"/studies/{study}",                      "delete",         API_DELETE, W|S,   RUN(api_delete)},
    {"/studies/{study}/series/{series}",      "delete",         API_DELETE, W|S,   RUN(api_delete)},
    {"/studies/{study}/series/{series}/instances/{sop}", "delete", API_DELETE, W|S, RUN(api_delete)},
    /* Writing SEG (extension): label volumes or PNG masks over a series in the store. */
    {"/studies/{study}/series/{series}/segmentations", "segmentations_post", API_POST, W|S|Q, RUN(api_segmentations_post), .body = &api_segmentations_sink},
};

const size_t api_routes_count = sizeof api_routes / sizeof api_routes[0];
