/* WADO-RS retrieve and metadata, QIDO-RS search and DELETE over the store
 * (ctx->store). Each fills r or an error response; they run on a worker.
 *
 *   retrieve  multipart/related; type="application/dicom", the stored files
 *             streamed from disk (api/stream.h), byte for byte
 *   metadata  application/dicom+json array, one object per instance
 *             (decoder/dataset.h dataset_json_file), Pixel Data as BulkDataURI
 *   frames    multipart/related; type="application/octet-stream", one part per
 *             requested frame: BINARY bit-packed from bit 0, ceil(R*C/8) bytes;
 *             8/16-bit values little endian (api_frames_multipart_get)
 *   search    application/dicom+json array; matching in store/store.h
 *   delete    200 {"deleted": n} (an extension) */
#ifndef SEGWEB_API_DICOMWEB_H
#define SEGWEB_API_DICOMWEB_H

#include <stdbool.h>

#include "api/handle.h"
#include "api/request.h"
#include "decoder/seg.h"

void api_retrieve_get(struct api_ctx *ctx, const struct api_request *req, struct api_response *r);
void api_metadata_get(struct api_ctx *ctx, const struct api_request *req, struct api_response *r);
void api_search_get(struct api_ctx *ctx, const struct api_request *req, struct api_response *r);
void api_delete(struct api_ctx *ctx, const struct api_request *req, struct api_response *r);

/* GET R/frames/{list} on an opened index. ERR_NOT_FOUND for a frame out of range. */
bool api_frames_multipart_get(const struct seg_index *idx, const uint32_t *frames, size_t n,
                              const char *request_id, struct api_response *r, struct err *e);

/* Accept negotiation for the DICOMweb media types: true when the Accept value
 * (empty: anything) allows `media` (e.g. "application/dicom+json"), or for
 * multipart, "multipart/related" whose type parameter (if any) is `part_type`. */
bool api_accepts_media(const char *accept, const char *media, const char *part_type);

#endif
