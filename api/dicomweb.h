/* WADO-RS retrieve and metadata, QIDO-RS search and DELETE over the store
 * (ctx->store). Each fills r or an error response; they run on a worker.
 *
 *   retrieve  multipart/related; type="application/dicom", the stored files
 *             streamed from disk (api/stream.h), byte for byte
 *   metadata  application/dicom+json array, one object per instance
 *             (decoder_dicom_json_file), Pixel Data as BulkDataURI
 *   frames    multipart/related; type="application/octet-stream", one part per
 *             requested frame: BINARY bit-packed from bit 0, ceil(R*C/8) bytes;
 *             8/16-bit values little endian (api_frames_multipart_get)
 *   search    application/dicom+json array; matching in store/store.h
 *   delete    200 {"deleted": n} (an extension) */
#ifndef SEGWEB_API_DICOMWEB_H
#define SEGWEB_API_DICOMWEB_H

#include <stdbool.h>

#include "api/ctx.h"
#include "api/request.h"
#include "decoder/decoder.h"

#include "api/negotiate.h"

struct api_stream;
struct store;
/* One part of a WADO-RS retrieve: the object at path in transfer syntax want_ts
 * ("" means Explicit VR Little Endian, "*" the stored bytes), re-encoded when needed
 * (uncompressed syntaxes only; temp space from store). ERR_NOT_ACCEPTABLE (406)
 * when it cannot be produced. location: the part's Content-Location. */
bool api_retrieve_add_part(struct api_stream *s, struct store *store, const char *boundary, const char *path,
                           const char *stored_ts, const char *want_ts, const char *location, struct err *e);

#endif
