/* GET R/segments and R/segments/{n}: the index JSON of api/index_json.h. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "api/index_json.h"

bool api_segments_get(const struct seg_index *idx, const struct api_request *req,
                      struct api_response *r, struct err *e)
{
    return api_response_json(r, api_index_json(idx), "application/json", 0, e);
}

bool api_segment_get(const struct seg_index *idx, const struct api_request *req,
                     struct api_response *r, struct err *e)
{
    uint32_t number = req->segment;
    const struct seg_segment *seg =
        number <= INT32_MAX ? decoder_seg_segment(idx, (int32_t)number) : NULL;
    if (!seg)
        return err_set(e, ERR_NOT_FOUND, "no segment %u in this object", number);
    return api_response_json(r, api_segment_json(idx, seg), "application/json", 0, e);
}
