/* The instance store: durable Part 10 files below one directory and a SQLite
 * search index beside them. The store never parses DICOM: callers hand it the
 * attributes (api/ takes them from the decoder's struct seg_index).
 *
 *   <dir>/instances/<study>/<series>/<sop>.dcm   the objects, byte for byte as received
 *   <dir>/tmp/                                   uploads in progress (emptied at open)
 *   <dir>/index.sqlite                           the index (WAL), rebuilt from the files
 *
 * Durability of store_instance_put(): the caller's temp file is fsync'd, renamed
 * into place, the directory fsync'd, then the row inserted. A crash leaves either
 * the whole file or nothing under instances/; a file without a row is found at the
 * next open (file count != row count) and the index is rebuilt.
 *
 * Thread safety: every function may be called from any thread; the index
 * connection and the put/delete critical sections are serialised by one mutex. */
#ifndef SEGWEB_STORE_STORE_H
#define SEGWEB_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define STORE_UID_MAX 64
#define STORE_STR_MAX 256

struct store;

/* What the index keeps of one instance. Strings are "" when absent. */
struct store_attrs {
    char study_uid[STORE_UID_MAX + 1], series_uid[STORE_UID_MAX + 1], sop_uid[STORE_UID_MAX + 1];
    char sop_class_uid[STORE_UID_MAX + 1], transfer_syntax_uid[STORE_UID_MAX + 1];
    char patient_id[STORE_STR_MAX], patient_name[STORE_STR_MAX];
    char patient_birth_date[16], patient_sex[16];
    char study_date[16], study_time[32], accession_number[STORE_STR_MAX];
    char study_description[STORE_STR_MAX], study_id[STORE_STR_MAX];
    char referring_physician[STORE_STR_MAX];
    char modality[32], series_number[32], series_description[STORE_STR_MAX];
    char instance_number[32];
    uint32_t rows, columns, frames;
    uint64_t size; /* file bytes (filled by the store) */
};

/* Reads the attributes of the file at path (used to rebuild the index); false
 * when the file is not a valid object (it is then left out of the index). */
typedef bool (*store_attrs_fn)(void *arg, const char *path, struct store_attrs *out,
                               struct err *e);

/* Opens (creating) the store at dir. Empties tmp/. When the index is missing,
 * unreadable, of another schema, or its row count differs from the files on
 * disk, it is rebuilt with attrs_fn (*rebuilt is then true; may be NULL).
 * overwrite: a put of an existing SOP Instance UID with other bytes replaces it
 * (otherwise it is refused). NULL with e set on failure. */
struct store *store_open(const char *dir, bool overwrite, store_attrs_fn attrs_fn, void *attrs_arg,
                         bool *rebuilt, struct err *e);
void store_close(struct store *s);

/* What opening (or the last reindex) had to repair, "" when nothing: an
 * index.sqlite that failed SQLite's quick_check is moved aside to
 * index.sqlite.corrupt-<time> and rebuilt from the files. Borrowed. */
const char *store_note(const struct store *s);

/* Drops and rebuilds the index from the files. *indexed / *skipped count files. */
bool store_reindex(struct store *s, size_t *indexed, size_t *skipped, struct err *e);

/* Rows in the index. */
bool store_count(struct store *s, uint64_t *n, struct err *e);

/* Creates an empty temp file in tmp/ (mode 0600); path receives its name and
 * *fd an open write descriptor (caller closes, and unlinks on failure). */
bool store_tmp_create(struct store *s, char *path, size_t pathsz, int *fd, struct err *e);

/* The outcome of a put. */
enum store_put_result {
    STORE_PUT_STORED,    /* new instance, or replaced (overwrite) */
    STORE_PUT_IDENTICAL, /* already stored with the same bytes: nothing changed */
    STORE_PUT_CONFLICT,  /* same SOP Instance UID, other bytes (and no overwrite) */
};

/* Moves the temp file tmp_path (from store_tmp_create, already written and
 * closed) into the store as the instance a describes. Always consumes tmp_path
 * (renamed or unlinked). UIDs must be dotted digits (ERR_INVALID otherwise).
 * false with e set on I/O failure. */
bool store_instance_put(struct store *s, const char *tmp_path, const struct store_attrs *a,
                        enum store_put_result *result, struct err *e);

/* Path of the stored file of study/series/sop. ERR_NOT_FOUND when not stored. */
bool store_instance_path(struct store *s, const char *study, const char *series, const char *sop,
                         char *path, size_t pathsz, struct err *e);

/* Every instance of a study (series NULL), a series, or one instance (sop set),
 * ordered by series number, series, instance number, sop. fn gets the attributes
 * and the file path; it returns false to stop (the walk then fails with the
 * error it set). *n receives the count. */
typedef bool (*store_instance_fn)(void *arg, const struct store_attrs *a, const char *path,
                                  struct err *e);
bool store_instances_each(struct store *s, const char *study, const char *series, const char *sop,
                          store_instance_fn fn, void *arg, size_t *n, struct err *e);

/* Deletes a study (series and sop NULL), a series (sop NULL) or one instance:
 * rows first, then the files. *n receives the number of instances removed
 * (0 is ERR_NOT_FOUND). */
bool store_delete(struct store *s, const char *study, const char *series, const char *sop,
                  size_t *n, struct err *e);

/* ---- search (QIDO-RS) ---- */

enum store_level { STORE_LEVEL_STUDY, STORE_LEVEL_SERIES, STORE_LEVEL_INSTANCE };

/* Columns a query may match on. */
enum store_key {
    STORE_KEY_STUDY_UID,
    STORE_KEY_SERIES_UID,
    STORE_KEY_SOP_UID,
    STORE_KEY_SOP_CLASS_UID,
    STORE_KEY_PATIENT_ID,
    STORE_KEY_PATIENT_NAME,
    STORE_KEY_STUDY_DATE,
    STORE_KEY_STUDY_TIME,
    STORE_KEY_ACCESSION_NUMBER,
    STORE_KEY_STUDY_DESCRIPTION,
    STORE_KEY_STUDY_ID,
    STORE_KEY_REFERRING_PHYSICIAN,
    STORE_KEY_MODALITY,
    STORE_KEY_SERIES_NUMBER,
    STORE_KEY_SERIES_DESCRIPTION,
    STORE_KEY_INSTANCE_NUMBER,
    STORE_KEY_COUNT
};

enum store_match {
    STORE_MATCH_LIST,     /* value is a list of exact values separated by '\\' or ',' */
    STORE_MATCH_WILDCARD, /* value with '*' and '?' wildcards (case-insensitive for names) */
    STORE_MATCH_RANGE,    /* "A-B", "A-", "-B" (dates, times), inclusive */
};

struct store_filter {
    enum store_key key;
    enum store_match match;
    const char *value;
};

/* One result row. Study level: the study attributes of one of its instances,
 * plus modalities (distinct, '\\'-separated), n_series, n_instances. Series
 * level: study + series attributes, n_instances. Instance level: all. */
struct store_row {
    struct store_attrs a;
    char modalities[256];
    uint32_t n_series, n_instances;
};

typedef bool (*store_row_fn)(void *arg, const struct store_row *row, struct err *e);

/* Runs a search: filters are ANDed; limit 0 means no limit. */
bool store_search(struct store *s, enum store_level level, const struct store_filter *filters,
                  size_t n_filters, uint32_t limit, uint32_t offset, store_row_fn fn, void *arg,
                  struct err *e);

/* A strict UID: dotted digits, no empty component, at most 64 characters. */
bool store_uid_valid(const char *uid);

#endif
