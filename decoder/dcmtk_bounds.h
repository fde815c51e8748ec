/* For the DCMTK bridge files only (C++): a check that every value a data set
 * declares fits in the file it came from. DCMTK reads large values lazily and
 * allocates the declared length when one is first touched (writing DICOM JSON,
 * transcoding): an element claiming 2 GB in a 5 kB file asked for 2 GB
 * (fuzz_decoder found it through /metadata's JSON). */
#ifndef SEGWEB_DECODER_DCMTK_BOUNDS_H
#define SEGWEB_DECODER_DCMTK_BOUNDS_H

#include "common/err.h"

class DcmItem;

/* False (ERR_INVALID naming the element) when an element other than a top-level
 * Pixel Data (a file cut inside it is allowed: its frames fail when read) declares
 * more bytes than the file at path holds. Deflated data sets are inflated as they
 * are read, so their values are in memory already: not checked. */
extern "C" bool dcmtk_values_fit_file(DcmItem *ds, const char *path, bool deflated, struct err *e);

#endif
