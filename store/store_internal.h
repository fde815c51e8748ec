/* Private to store/: the store object and what its files share. Nothing outside
 * store/ includes this (store/store.h is the module's one public header).
 *
 *   store.c   the store object, its lock, and the order of the file and row steps
 *   files.c   the directory tree: paths, durable mkdir / fsync / rename, walking, tmp/
 *   index.c   the SQLite index: schema, open / recreate, rows in and out, rebuild
 *   search.c  QIDO-RS search: filters to SQL, aggregation per level
 *
 * Locking: functions named *_locked, and every index_* function, expect s->mu
 * held (store.c takes it); files_* functions touch no shared state. */
#ifndef SEGWEB_STORE_STORE_INTERNAL_H
#define SEGWEB_STORE_STORE_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>

#include "store/store.h"

struct store {
    char dir[PATH_MAX];
    bool overwrite;
    store_attrs_fn attrs_fn;
    void *attrs_arg;
    sqlite3 *db;
    pthread_mutex_t mu;
    unsigned long tmp_seq;
    char note[PATH_MAX + 128]; /* what opening had to repair, for store_note() */
};

/* Makes room for element `count` of the doubling array *array_ptr (a pointer to
 * the array pointer; 16 elements first). false when out of memory (the array
 * is then unchanged). */
bool store_array_grow(void *array_ptr, size_t *cap, size_t count, size_t elem);

/* ---- files.c ---- */

/* <dir>/instances/<study>/<series>/<sop>.dcm */
void files_instance_path(const struct store *s, const char *study, const char *series,
                         const char *sop, char *path, size_t pathsz);
bool files_fsync_dir(const char *dir, struct err *e);
/* Creates instances/ and tmp/ and empties tmp/ (uploads cut short by a crash). */
bool files_open(struct store *s, struct err *e);

/* fn gets every instances/<study>/<series>/<sop>.dcm whose names are valid UIDs;
 * false from fn ends the walk of that series directory only. */
typedef bool (*files_fn)(void *arg, const char *study, const char *series, const char *sop,
                         const char *path);
void files_walk(struct store *s, files_fn fn, void *arg);
uint64_t files_count(struct store *s);

/* 1: the two files hold the same bytes, 0: they differ, -1: error (errno). */
int files_same(const char *a, const char *b);
/* Moves tmp_path to target durably: the bytes are fsync'd, the study and series
 * directories created (their parents fsync'd), the file renamed, the series
 * directory fsync'd. *size receives the file's size. */
bool files_commit(struct store *s, const char *tmp_path, const struct store_attrs *a,
                  const char *target, uint64_t *size, struct err *e);
/* Unlinks an object file (.dcm) and its persisted index (.idx) beside it. */
void files_unlink_object(const char *path);
/* Unlinks the files of rows[0..n) (objects and persisted indexes) and their emptied
 * series and study directories. */
void files_remove(struct store *s, const struct store_attrs *rows, size_t n);

/* ---- index.c ---- */

/* The SELECT list in the order index_row_read() expects (min() of each column
 * when aggregate); a thread-local buffer. */
const char *index_select_list(bool aggregate);
extern const size_t INDEX_N_COLUMNS;

bool index_db_err(struct store *s, struct err *e, const char *what);
bool index_exec(struct store *s, const char *sql, struct err *e);
void index_bind_text(sqlite3_stmt *st, int i, const char *v);
void index_copy_col(sqlite3_stmt *st, int i, char *dst, size_t dstsz);
void index_row_read(sqlite3_stmt *st, int first, struct store_attrs *a);
/* Steps st to the end, reading each row with read into a new element (of elem
 * bytes) of the doubling array *array_ptr (see store_array_grow; *count
 * elements so far). false with e set when out of memory, or (strict) when a
 * step fails ("store index: <what>: ..."); otherwise a failing step ends the rows. */
typedef void (*index_row_fn)(sqlite3_stmt *st, void *row);
bool index_step_rows(struct store *s, sqlite3_stmt *st, index_row_fn read, void *array_ptr, size_t elem,
                     size_t *count, bool strict, const char *what, struct err *e);

/* Opens the index; true with *fresh when it had to be created (or re-created). */
bool index_open(struct store *s, bool *fresh, struct err *e);
bool index_count(struct store *s, uint64_t *n, struct err *e);
bool index_row_insert(struct store *s, const struct store_attrs *a, struct err *e);
/* Drops every row and indexes the files again, in one transaction. */
bool index_rebuild(struct store *s, size_t *indexed, size_t *skipped, struct err *e);

/* Moves a corrupt index aside (index.sqlite.corrupt-<time>, kept for a post
 * mortem) and opens a fresh, empty one; s->note says so. */
bool index_reset(struct store *s, const char *why, struct err *e);
/* The study/series of a stored SOP Instance UID, if any (buffers of STORE_UID_MAX + 1). */
bool index_find_sop(struct store *s, const char *sop, char *study, char *series, bool *found,
                    struct err *e);
/* *found: a row of exactly this study/series/sop exists. */
bool index_has_instance(struct store *s, const char *study, const char *series, const char *sop,
                        bool *found, struct err *e);
/* The rows of a study / series / instance (series, sop may be NULL), ordered as
 * store_instances_each() promises; *rows is malloc'd (caller frees, also on failure). */
bool index_instances(struct store *s, const char *study, const char *series, const char *sop,
                     struct store_attrs **rows, size_t *count, struct err *e);
/* Deletes the rows of a study / series / instance in one transaction; *rows
 * receives their UIDs (malloc'd, caller frees, also on failure). */
bool index_delete(struct store *s, const char *study, const char *series, const char *sop,
                  struct store_attrs **rows, size_t *count, struct err *e);

#endif
