/* GET R/segments/{n}/volume.{nii.gz,nii,nrrd}, R/volume.{nii.gz,nii,nrrd} (the
 * combined labelmap), R/meta.json (dcmqi's metadata JSON), R/labelmap?source=UID
 * (all segments on one source image, PNG) and R/segments/{n}/total.png (a slide
 * segment's total pixel matrix): volume/ behind the route table's index handlers,
 * plus the segment measurements of the index JSON.
 *
 * The format and the kind come from the row's pattern (one handler for the six
 * volume rows). A body is produced slice by slice into the response buffer, so
 * what is held is the compressed file plus one slice; an uncompressed .nii is
 * refused past API_VOLUME_MAX_RAW_BYTES (413: ask for .nii.gz). Query: values=binary
 * (0/1 masks), grid=seg|source (source: 422 until the store holds source images). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/handlers.h"
#include "api/volume_routes.h"
#include "volume/volume.h"

#define API_VOLUME_MAX_RAW_BYTES (1ull << 30)

static uint64_t max_total_pixels; /* --max-total-pixels; 0: volume/'s default */

void api_volume_limits_set(uint64_t total_pixels)
{
    max_total_pixels = total_pixels;
}

const struct api_media API_MEDIA_GZIP = {
    "application/gzip", NULL, "this resource is application/gzip; the Accept header does not allow it",
    false, false};
const struct api_media API_MEDIA_OCTETS = {
    "application/octet-stream", NULL,
    "this resource is application/octet-stream; the Accept header does not allow it", false, false};

bool api_volume_get(const struct seg_index *idx, const struct api_request *req,
                    struct api_response *r, struct err *e)
{
    const char *pattern = req->route ? req->route->pattern : "";
    struct volume_what w = {.labelmap = strncmp(pattern, "R/segments/", 11) != 0,
                            .binary = req->values_binary};
    if (!volume_format_from_name(pattern, &w.format))
        return err_set(e, ERR_INTERNAL, "route %s names no volume format", pattern);
    if (!w.labelmap) {
        if (req->segment > INT32_MAX || !decoder_seg_segment(idx, (int32_t)req->segment))
            return err_set(e, ERR_NOT_FOUND, "no segment %u in this object", req->segment);
        w.segment = (int32_t)req->segment;
    }
    if (req->grid_source)
        return err_set(e, ERR_INVALID,
                       "grid=source: the store does not hold the source series' images yet "
                       "(use `segweb volume --grid source --source DIR`)");
    struct volume_grid g;
    if (!volume_grid_from_seg(idx, NULL, &g, e))
        return false;
    bool ok = false;
    struct volume_stream *s = NULL;
    if (w.format == VOLUME_NII && (uint64_t)g.ni * g.nj * g.nk * 2 > API_VOLUME_MAX_RAW_BYTES) {
        err_set(e, ERR_LIMIT, "an uncompressed volume of %u x %u x %u voxels is over %llu bytes: ask for "
                "volume.nii.gz", g.ni, g.nj, g.nk, (unsigned long long)API_VOLUME_MAX_RAW_BYTES);
        goto out;
    }
    if (w.labelmap) {
        uint64_t overlap = 0;
        if (!volume_labelmap_overlap(idx, &g, &overlap, e))
            goto out;
        char v[32];
        snprintf(v, sizeof v, "%llu", (unsigned long long)overlap);
        api_response_header_set(r, "X-Segweb-Overlap-Voxels", v);
        api_response_header_set(r, "Access-Control-Expose-Headers",
                                "ETag, Content-Length, X-Segweb-Overlap-Voxels");
    }
    s = volume_stream_new(idx, &g, &w, e);
    if (!s)
        goto out;
    if (!volume_stream_read_all(s, &r->body, e))
        goto out;
    r->status = 200;
    snprintf(r->content_type, sizeof r->content_type, "%s", volume_format_mime(w.format));
    char cd[96];
    if (w.labelmap)
        snprintf(cd, sizeof cd, "attachment; filename=\"labelmap%s\"", volume_format_suffix(w.format));
    else
        snprintf(cd, sizeof cd, "attachment; filename=\"%d%s\"", (int)w.segment,
                 volume_format_suffix(w.format));
    api_response_header_set(r, "Content-Disposition", cd);
    ok = true;
out:
    volume_stream_free(s);
    volume_grid_free(&g);
    return ok;
}

bool api_meta_json_get(const struct seg_index *idx, const struct api_request *req,
                       struct api_response *r, struct err *e)
{
    if (!volume_meta_json(idx, &r->body, e))
        return false;
    r->status = 200;
    snprintf(r->content_type, sizeof r->content_type, "application/json");
    return true;
}

bool api_labelmap_get(const struct seg_index *idx, const struct api_request *req,
                      struct api_response *r, struct err *e)
{
    uint64_t overlap = 0;
    if (!volume_labelmap_png(idx, req->source_uid, req->source_frame, req->style_color, &r->body,
                             &overlap, e))
        return false;
    char v[32];
    snprintf(v, sizeof v, "%llu", (unsigned long long)overlap);
    api_response_header_set(r, "X-Segweb-Overlap-Voxels", v);
    r->status = 200;
    snprintf(r->content_type, sizeof r->content_type, "image/png");
    return true;
}

bool api_total_get(const struct seg_index *idx, const struct api_request *req,
                   struct api_response *r, struct err *e)
{
    if (req->segment > INT32_MAX)
        return err_set(e, ERR_NOT_FOUND, "no segment %u in this object", req->segment);
    if (!volume_total_png(idx, (int32_t)req->segment, max_total_pixels, &r->body, e))
        return false;
    r->status = 200;
    snprintf(r->content_type, sizeof r->content_type, "image/png");
    return true;
}

/* ---- measurements in the index JSON ---- */

static json_t *triple_i(const uint32_t *v)
{
    return json_pack("[I,I,I]", (json_int_t)v[0], (json_int_t)v[1], (json_int_t)v[2]);
}

static json_t *triple_d(const double *v)
{
    return json_pack("[f,f,f]", v[0], v[1], v[2]);
}

static json_t *measure_json(const struct volume_measure *m, bool patient)
{
    json_t *o = json_object();
    if (patient) {
        json_object_set_new(o, "voxels", json_integer((json_int_t)m->voxels));
        json_object_set_new(o, "volume_ml", json_real(m->volume_ml));
    } else {
        json_object_set_new(o, "pixels", json_integer((json_int_t)m->voxels));
        json_object_set_new(o, "area_mm2", json_real(m->area_mm2));
    }
    if (!m->voxels)
        return o;
    if (patient) {
        json_object_set_new(o, "bbox_voxels", json_pack("{s:o, s:o}", "min", triple_i(m->bbox_min),
                                                        "max", triple_i(m->bbox_max)));
        json_object_set_new(o, "bbox_mm", json_pack("{s:o, s:o}", "min", triple_d(m->bbox_mm_min),
                                                    "max", triple_d(m->bbox_mm_max)));
        json_object_set_new(o, "centroid_mm", triple_d(m->centroid_mm));
        json_object_set_new(o, "slices", json_integer(m->slices));
    } else {
        json_object_set_new(o, "bbox_pixels",
                            json_pack("{s:[I,I], s:[I,I]}", "min", (json_int_t)m->bbox_min[0],
                                      (json_int_t)m->bbox_min[1], "max", (json_int_t)m->bbox_max[0],
                                      (json_int_t)m->bbox_max[1]));
    }
    return o;
}

void api_volume_measurements_add(const struct seg_index *idx, json_t *segments, int32_t only)
{
    struct err e = ERR_INIT;
    struct volume_grid g;
    bool patient = volume_grid_from_seg(idx, NULL, &g, &e);
    if (!patient && !idx->total_matrix_rows)
        return; /* neither patient geometry nor a slide: nothing to measure */
    struct err me = ERR_INIT;
    struct volume_measure *m = volume_measure_segments(idx, patient ? &g : NULL, only, &me);
    if (patient)
        volume_grid_free(&g);
    if (!m)
        return;
    size_t i;
    json_t *seg;
    json_array_foreach(segments, i, seg) {
        json_int_t n = json_integer_value(json_object_get(seg, "number"));
        for (size_t k = 0; k < idx->n_segments; k++)
            if (m[k].number == n)
                json_object_set_new(seg, "measurements", measure_json(&m[k], patient));
    }
    free(m);
}
