/* The SEG doctor as JSON (api/lint.h). */
#include "api/lint.h"

#include <stdio.h>
#include <string.h>

#include "api/handlers.h"
#include "common/file_cache.h"
#include "api/ctx.h"
#include "api/uid_locate.h"
#include "decoder/decoder.h"
#include "render/render.h"

static bool lookup(void *arg, const char *uid, struct seg_lint_source *out)
{
    struct api_ctx *ctx = arg;
    struct api_located loc;
    struct err e = ERR_INIT;
    if (!api_uid_locate(ctx, uid, &loc, &e))
        return false;
    struct render_source_info info;
    if (!render_source_probe(loc.path, &info, &e))
        return false;
    out->found = true;
    snprintf(out->series_uid, sizeof out->series_uid, "%s", info.series_uid);
    out->rows = info.rows;
    out->columns = info.columns;
    out->has_orientation = info.has_orientation;
    memcpy(out->orientation, info.orientation, sizeof out->orientation);
    out->has_spacing = info.has_spacing;
    memcpy(out->spacing, info.spacing, sizeof out->spacing);
    return true;
}

json_t *api_lint_json(struct api_ctx *ctx, const struct seg_index *idx)
{
    static __thread struct seg_lint_report rep; /* 20 KB: off small worker stacks */
    decoder_seg_lint(idx, ctx ? lookup : NULL, ctx, 0, &rep);
    json_t *doc = json_object(), *list = json_array();
    int counts[3] = {0, 0, 0};
    for (size_t i = 0; i < rep.n; i++) {
        const struct seg_lint_finding *f = &rep.items[i];
        counts[f->severity]++;
        json_array_append_new(list, json_pack("{s:s, s:s, s:s}", "severity",
                                              decoder_seg_lint_severity_name(f->severity), "code",
                                              f->code, "message", f->message));
    }
    json_object_set_new(doc, "sop_instance_uid", json_string(idx->sop_instance_uid));
    json_object_set_new(doc, "findings", list);
    json_object_set_new(doc, "counts", json_pack("{s:i, s:i, s:i}", "error", counts[SEG_LINT_ERROR],
                                                 "warning", counts[SEG_LINT_WARNING], "info",
                                                 counts[SEG_LINT_INFO]));
    if (ctx)
        json_object_set_new(doc, "sources", json_pack("{s:I, s:I}", "referenced",
                                                      (json_int_t)rep.sources_checked, "found",
                                                      (json_int_t)rep.sources_found));
    return doc;
}

bool api_lint_get(struct api_ctx *ctx, const struct seg_index *idx, struct api_response *r,
                  struct err *e)
{
    return api_response_json(r, api_lint_json(ctx, idx), "application/json", 0, e);
}
