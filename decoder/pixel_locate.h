/* Finds where Pixel Data lives in a Part 10 file, so a frame can be read with
 * one pread instead of loading the value: the offset and length of a native
 * value, or the offset and length of every fragment of an encapsulated one.
 * DCMTK parses the header but does not expose file offsets, hence this small
 * bounded walker over element headers (values are skipped, never parsed). */
#ifndef SEGWEB_DECODER_PIXEL_LOCATE_H
#define SEGWEB_DECODER_PIXEL_LOCATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "decoder/seg.h"

struct pixel_location {
    bool found;
    bool encapsulated;
    uint64_t offset, length;        /* native: the value */
    struct seg_fragment *fragments; /* encapsulated: fragments after the offset table (malloc'd) */
    size_t n_fragments;
    uint32_t *offset_table;         /* Basic Offset Table entries (malloc'd), may be empty */
    size_t n_offset_table;
};

/* Walks the file read through fd (size bytes). explicit_vr / big_endian
 * describe the dataset's transfer syntax. Fails with ERR_INVALID on a
 * malformed or truncated header. found=false when there is no Pixel Data. */
bool decoder_pixel_locate(int fd, uint64_t size, bool explicit_vr, bool big_endian,
                          struct pixel_location *out, struct err *e);

void decoder_pixel_location_free(struct pixel_location *loc);

#endif
