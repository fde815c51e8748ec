/* Plain C view of a parsed DICOM file. Implemented by dataset_dcmtk.cc, the
 * only file that includes DCMTK. Values larger than a small threshold (Pixel
 * Data) are not read into memory when the file is opened.
 *
 * Tags are (group << 16) | element. Items are borrowed from their file and
 * valid until dataset_close(). Strings returned are borrowed the same way. */
#ifndef SEGWEB_DECODER_DATASET_H
#define SEGWEB_DECODER_DATASET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

#ifdef __cplusplus
extern "C" {
#endif

struct dataset_file;
struct dataset_item;

#define TAG(g, e) ((uint32_t)(((uint32_t)(g) << 16) | (uint32_t)(e)))

/* Parses a Part 10 file (or a bare dataset). NULL with e set on failure. */
struct dataset_file *dataset_open(const char *path, struct err *e);
void dataset_close(struct dataset_file *f);

/* The main dataset and the file meta information (may be empty). */
const struct dataset_item *dataset_root(const struct dataset_file *f);
const struct dataset_item *dataset_meta(const struct dataset_file *f);

/* Transfer syntax the dataset was read with (from meta, or detected). Borrowed. */
const char *dataset_transfer_syntax(const struct dataset_file *f);

/* Whether the tag is present in this item (not searching nested items). */
bool dataset_has(const struct dataset_item *it, uint32_t tag);

/* String value number pos (0-based) of an element, trimmed; NULL if absent or
 * empty. The copy is kept by f until dataset_close(). pos = -1: all values,
 * backslash-separated. */
const char *dataset_string(struct dataset_file *f, const struct dataset_item *it, uint32_t tag, int pos);

/* Numeric value number pos of a US/SS/UL/SL/FL/FD/IS/DS element (or AT, as a tag). */
bool dataset_uint(const struct dataset_item *it, uint32_t tag, unsigned pos, uint32_t *out);
bool dataset_int(const struct dataset_item *it, uint32_t tag, unsigned pos, int32_t *out);
bool dataset_double(const struct dataset_item *it, uint32_t tag, unsigned pos, double *out);
/* Number of values (VM) of an element, 0 if absent. */
unsigned dataset_vm(const struct dataset_item *it, uint32_t tag);

/* Sequence items: count (0 if absent or not a sequence) and item i. */
size_t dataset_seq_count(const struct dataset_item *it, uint32_t tag);
const struct dataset_item *dataset_seq_item(const struct dataset_item *it, uint32_t tag, size_t i);

/* Every item of a sequence at once, in order (one walk instead of one
 * seek per item): a new malloc'd array the caller frees, NULL when the
 * sequence is absent or empty (*count 0) or on allocation failure. */
const struct dataset_item **dataset_seq_items(const struct dataset_item *it, uint32_t tag, size_t *count);

/* Pixel Data as DCMTK sees it: present, encapsulated (undefined length),
 * and the value length in bytes (native) or fragment count (encapsulated). */
struct dataset_pixel_info {
    bool present;
    bool encapsulated;
    uint64_t length;
    size_t n_items; /* encapsulated: items including the basic offset table */
};
bool dataset_pixel_info(const struct dataset_file *f, struct dataset_pixel_info *out, struct err *e);

/* Copies the whole native Pixel Data value into a new malloc'd buffer (for
 * transfer syntaxes without file offsets, such as Deflated Explicit VR LE). */
uint8_t *dataset_pixel_copy(const struct dataset_file *f, size_t *len, struct err *e);

/* The dataset of a Part 10 file as DICOM JSON (PS3.18 Annex F, DCMTK's
 * writer, compact): Pixel Data and binary values over 1 KiB become
 * {"BulkDataURI": bulk_uri_prefix + "/" + tag}, or for Pixel Data exactly
 * pixel_data_uri when it is non-NULL. File meta information is left out.
 * Appends one JSON object to out; the value is not wrapped in an array. */
bool dataset_json_file(const char *path, const char *pixel_data_uri, const char *bulk_uri_prefix,
                       struct buf *out, struct err *e);

/* sRGB 0..1 from a DICOM CIELab triplet (0..65535), as DCMTK's IODCIELabUtil::dicomLab2RGB. */
void dataset_lab_to_rgb(const uint16_t lab[3], double rgb[3]);

#ifdef __cplusplus
}
#endif

#endif
