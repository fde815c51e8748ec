/* A persisted SEG index: struct seg_index written to bytes beside its object, and
 * read back so that a restarted process serves frames without parsing the object
 * with DCMTK again.
 *
 * The file (all integers little endian):
 *
 *   0   "SEGWIDX\0"            magic
 *   8   u32 format version     SEG_INDEX_FORMAT_VERSION; any other is refused
 *   12  u32 header bytes       48
 *   16  u64 object size        the object's identity when the index was written:
 *   24  u64 object inode       a replaced or rewritten object (DELETE + STOW,
 *   32  i64 object mtime (ns)  --overwrite, a cache refill) no longer matches
 *   40  u32 payload bytes
 *   44  u32 CRC-32 of the payload (zlib)
 *   48  payload: every field of the index in one fixed order (seg_index_io.c),
 *       strings and arrays each preceded by an explicit u32 length or count
 *
 * The loader is a parser of untrusted bytes (a torn write, a disk error, an index
 * of an older build, a file put there by hand): it checks every length against
 * the bytes left, every count against what the bytes can hold before it
 * allocates, every slice (per-frame references, dimension values, fragments,
 * segment frame lists) against its array and the object's size, and re-applies
 * the current --max-frame-pixels / --max-frames limits. Anything odd is
 * ERR_INVALID naming what, and the caller parses the object instead (and
 * rewrites the file). Bump SEG_INDEX_FORMAT_VERSION whenever seg.h's index or
 * the field order changes. fuzz_seg_index (tests/fuzz) exercises the loader. */
#ifndef SEGWEB_DECODER_SEG_INDEX_IO_H
#define SEGWEB_DECODER_SEG_INDEX_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "decoder/seg.h"

#define SEG_INDEX_FORMAT_VERSION 1
#define SEG_INDEX_HEADER_BYTES 48
/* A larger file is refused unread (the index of a 1,000,000-frame object is ~100 MB). */
#define SEG_INDEX_MAX_BYTES (512u << 20)

/* The persisted form of idx, identified by its object's current size, inode and
 * mtime (fstat of idx->fd), appended to out. false with e set (ERR_IO when the
 * object cannot be stat'ed, ERR_NOMEM, ERR_LIMIT past SEG_INDEX_MAX_BYTES). */
bool decoder_seg_index_serialize(const struct seg_index *idx, struct buf *out, struct err *e);

/* decoder_seg_index_serialize() written to fd (from its current position). */
bool decoder_seg_index_write(const struct seg_index *idx, int fd, struct err *e);

/* The index persisted in bytes[0..len) for the object open as object_fd (named
 * object_path in messages and idx->path). On success the new index owns
 * object_fd; on failure the caller still does. NULL with e set: ERR_INVALID when
 * the bytes are not a valid index of this object as it is now (stale, truncated,
 * corrupt, another version), ERR_LIMIT past the limits, ERR_NOMEM. */
struct seg_index *decoder_seg_index_parse(const uint8_t *bytes, size_t len, int object_fd, const char *object_path,
                                          const struct seg_limits *limits, struct err *e);

/* Reads the index file at index_path for the object at object_path (opened
 * here). ERR_NOT_FOUND when either file is missing; otherwise as above. */
struct seg_index *decoder_seg_index_load(const char *index_path, const char *object_path,
                                         const struct seg_limits *limits, struct err *e);

/* Process-wide counts, for metrics: objects parsed with DCMTK (decoder_seg_open
 * calls that reached the data set), persisted indexes loaded, and refused. */
struct seg_index_counts {
    uint64_t parsed, loaded, rejected;
};
void decoder_seg_index_counts(struct seg_index_counts *out);

#endif
