/* GET R/segments and R/segments/{n}: the index JSON of api/index_json.h. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "api/index_json.h"

bool api_send_json(struct json_t *doc, size_t flags, struct api_response *r, struct err *e)
{
    /* Every string is UTF-8 (the decoder converts or repairs them), so a NULL
     * here is a bug, not a full heap: say so (500), not "out of memory". */
    if (!doc)
        return err_set(e, ERR_INTERNAL, "cannot build the JSON document");
    char *text = json_dumps(doc, JSON_COMPACT | flags);
    json_decref(doc);
    if (!text)
        return err_set(e, ERR_NOMEM, "cannot serialise JSON");
    bool ok = buf_append(&r->body, text, strlen(text), e);
    free(text);
    if (ok) {
        r->status = 200;
        snprintf(r->content_type, sizeof r->content_type, "application/json");
    }
    return ok;
}

bool api_segments_get(const struct seg_index *idx, const struct api_request *req,
                      struct api_response *r, struct err *e)
{
    return api_send_json(api_index_json(idx), 0, r, e);
}

bool api_segment_get(const struct seg_index *idx, const struct api_request *req,
                     struct api_response *r, struct err *e)
{
    uint32_t number = req->segment;
    const struct seg_segment *seg =
        number <= INT32_MAX ? decoder_seg_segment(idx, (int32_t)number) : NULL;
    if (!seg)
        return err_set(e, ERR_NOT_FOUND, "no segment %u in this object", number);
    return api_send_json(api_segment_json(idx, seg), 0, r, e);
}
