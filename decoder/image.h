/* The geometry of one source image (a Part 10 file of a classic, single-frame
 * image such as CT or MR), for placing SEG frames on a source series' grid. */
#ifndef SEGWEB_DECODER_IMAGE_H
#define SEGWEB_DECODER_IMAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"

struct decoder_image_geometry {
    char sop_instance_uid[65];
    uint32_t rows, columns;
    bool has_position, has_orientation, has_pixel_spacing;
    double position[3];     /* ImagePositionPatient */
    double orientation[6];  /* ImageOrientationPatient */
    double pixel_spacing[2]; /* PixelSpacing (row, column) */
};

/* Reads the header of `path` (Pixel Data is not loaded). false with e set when
 * it is not a DICOM file (ERR_INVALID / ERR_NOT_FOUND). Missing attributes
 * leave their has_ flag false. */
bool decoder_image_geometry(const char *path, struct decoder_image_geometry *out, struct err *e);

#endif
