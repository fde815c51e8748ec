/* Re-encoding a whole DICOM object into another transfer syntax, for WADO-RS
 * transfer-syntax negotiation (PS3.18: no transfer-syntax parameter means
 * Explicit VR Little Endian). Uncompressed syntaxes convert into one another
 * always (Implicit / Explicit, Little / Big Endian, Deflated). A compressed
 * source is decoded: a Segmentation by segweb's own codecs (RLE, JPEG-LS,
 * JPEG 2000, Deflated Image Frame Compression; BINARY frames packed back to
 * back as PS3.5 8.1.1 wants), any other image by DCMTK's registered decoders
 * (JPEG, RLE) or, for JPEG-LS and JPEG 2000, by segweb's own readers (DCMTK's
 * JPEG-LS codec is not linked: its bundled CharLS clashes with the system one).
 * What none can decode (HTJ2K, say) answers ERR_UNSUPPORTED, which the api
 * turns into 406. */
#ifndef SEGWEB_DECODER_TRANSCODE_H
#define SEGWEB_DECODER_TRANSCODE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DECODER_TS_EXPLICIT_LE "1.2.840.10008.1.2.1"
#define DECODER_TS_IMPLICIT_LE "1.2.840.10008.1.2"
#define DECODER_TS_EXPLICIT_BE "1.2.840.10008.1.2.2"
#define DECODER_TS_DEFLATED "1.2.840.10008.1.2.1.99"

/* Registers DCMTK's JPEG, JPEG-LS and RLE decoders (and silences DCMTK's log), once
 * per process whoever calls first: every DCMTK bridge that decodes compressed pixel
 * data (this one, render/) calls it before its first load. Thread-safe. */
void decoder_dcmtk_codecs_register(void);

/* Whether ts is one of the four uncompressed syntaxes above. */
bool decoder_ts_uncompressed(const char *ts);

/* Writes the object at in_path, re-encoded in transfer syntax ts (one of the
 * uncompressed four), as a Part 10 file at out_path (created or replaced). At
 * most max_bytes of output (ERR_LIMIT beyond; 0: no bound). ERR_UNSUPPORTED
 * when the object's pixel data cannot be decoded into ts; ERR_INVALID when it
 * does not parse or a compressed SEG frame is corrupt (the message names the
 * frame). */
bool decoder_transcode(const char *in_path, const char *ts, const char *out_path, uint64_t max_bytes,
                       struct err *e);

/* The bulk data value of the top-level element `tag` ((group << 16) | element) of
 * the object at path, appended to out as Explicit VR Little Endian carries it: for
 * Pixel Data (7FE0,0010) the whole native value, decoded as decoder_transcode
 * decodes (BINARY frames packed back to back); for any other element its value
 * bytes, little endian. At most max_bytes (ERR_LIMIT; 0: no bound). ERR_NOT_FOUND
 * when there is no such top-level element (nested ones are not addressed: the
 * metadata writes those inline), ERR_UNSUPPORTED when Pixel Data cannot be
 * decoded, ERR_INVALID for a corrupt object or frame. For WADO-RS bulkdata. */
bool decoder_bulkdata(const char *path, uint32_t tag, uint64_t max_bytes, struct buf *out, struct err *e);

#ifdef __cplusplus
}
#endif

#endif
