/* The decoder's public header: the one file other modules include from decoder/
 * (scripts/lint.sh enforces it). It gathers
 *
 *   decoder/seg.h         the SEG model and index: decoder_seg_open / _free, segments,
 *                         per-frame references, limits (struct seg_limits)
 *   decoder/frame.h       one frame's pixels on demand: decoder_frame_read
 *   decoder/png_encode.h  PNG encoding of a frame: decoder_png_gray / _rgba
 *   decoder/image.h       a source image's geometry (volume/ --grid source)
 *   decoder/attrs.h       the searchable attributes of any DICOM object (not only SEG)
 *   decoder/transcode.h   a whole object re-encoded into an uncompressed transfer syntax
 *   decoder/image_frames.h  frames of any uncompressed image (WADO-RS /frames on non-SEG)
 *   decoder/j2k_image.h   a whole JPEG 2000 image (render/'s source images)
 *
 * and wraps the two things api/ needs from the DCMTK bridge (decoder/dataset.h, which
 * stays private to decoder/): the DICOM JSON of a file and the UIDs of an object the
 * decoder refused. Ownership and failure are written at each declaration. */
#ifndef SEGWEB_DECODER_DECODER_H
#define SEGWEB_DECODER_DECODER_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/err.h"
#include "decoder/attrs.h"
#include "decoder/frame.h"
#include "decoder/image.h"
#include "decoder/image_frames.h"
#include "decoder/j2k_image.h"
#include "decoder/png_encode.h"
#include "decoder/seg.h"
#include "decoder/seg_index_io.h" /* the persisted index */
#include "decoder/seg_lint.h" /* the SEG doctor's checks */
#include "decoder/transcode.h"

/* The dataset of the Part 10 file at path as DICOM JSON (PS3.18 Annex F), compact,
 * appended to out as one object (not wrapped in an array). Pixel Data becomes
 * {"BulkDataURI": pixel_data_uri} (when non-NULL), other binary values over 1 KiB
 * {"BulkDataURI": bulk_uri_prefix + "/" + tag}; file meta is left out. false with e
 * set (ERR_IO, ERR_PARSE, ERR_NOMEM) on failure; out may then hold a partial object. */
bool decoder_dicom_json_file(const char *path, const char *pixel_data_uri,
                             const char *bulk_uri_prefix, struct buf *out, struct err *e);

/* SOP Class UID and SOP Instance UID of any DICOM file (not only a SEG), copied into
 * the caller's buffers (truncated to size). Both empty when the file does not parse:
 * used to name an object the decoder refused. Never fails. */
void decoder_file_uids(const char *path, char *sop_class, size_t sop_class_size,
                       char *sop_instance, size_t sop_instance_size);

#endif
