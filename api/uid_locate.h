/* Finding an instance by its SOP Instance UID, wherever segweb can read it:
 * the store (its index), then the files root (--files-root).
 *
 * Why: a SEG names its source images only by UID. For stored objects the store
 * index answers. For path requests (/files/...) there is no index, so segweb
 * keeps a small one of the files root, built on first use by reading the header
 * of every regular file under it (at most API_UID_SCAN_FILES files, at most
 * API_UID_SCAN_DEPTH directories deep, hidden entries skipped, symlinks not
 * followed). A miss triggers a rescan when the last scan is older than
 * API_UID_RESCAN_SECONDS, so files copied in later are found without a restart.
 * Source images beside their SEG in any folder of the files root are found;
 * nothing outside it is ever read. */
#ifndef SEGWEB_API_UID_LOCATE_H
#define SEGWEB_API_UID_LOCATE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "api/request.h"
#include "common/err.h"

#define API_UID_SCAN_FILES 20000
#define API_UID_SCAN_DEPTH 8
#define API_UID_RESCAN_SECONDS 10

struct api_ctx;

struct api_located {
    enum api_resource_kind kind; /* API_RES_STORE or API_RES_FILE */
    char path[PATH_MAX];         /* absolute path of the file */
    /* The resource R as a URL path without the leading '/', percent-encoded:
     * "studies/1.2/series/1.3/instances/1.4" or "files/source/ct/01.dcm". */
    char url[PATH_MAX + 256];
};

/* Looks sop_uid up in the store, then in the files root. ERR_NOT_FOUND when it
 * is in neither (the message says where segweb looked). */
bool api_uid_locate(struct api_ctx *ctx, const char *sop_uid, struct api_located *out,
                    struct err *e);

/* The URL form of a files-root relative path ("files/a%20b/c.dcm"). */
bool api_file_url(const char *relpath, char *out, size_t outsz, struct err *e);

/* Drops the files-root index (tests; a changed --files-root). */
void api_uid_index_reset(void);

#endif
