/* A content identity of a file for ETags: a 64-bit hash of its bytes, so the
 * same object gives the same ETag on every replica, whatever its path, inode or
 * time on that replica's disk. Memoized by (device, inode, size, mtime): each
 * file is read once per process while it stays unchanged. */
#ifndef SEGWEB_API_CONTENT_ID_H
#define SEGWEB_API_CONTENT_ID_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "common/err.h"

/* st: the file's stat (the memo key). False with e set on a read error. */
bool api_content_id(const char *path, const struct stat *st, uint64_t *id, struct err *e);

#endif
