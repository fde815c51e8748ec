/* The store's SQLite index (see store.h). Design note: the index is a cache of
 * the files' attributes, never the truth. This file owns the database: its
 * schema, opening it (and starting it again when it is unreadable, corrupt or
 * of another schema), the rows in and out, and the rebuild from the files.
 * Its invariants:
 *   - one row per file under instances/, keyed by SOP Instance UID; the row's
 *     study and series UIDs are the directories the file lives in;
 *   - a schema change bumps SCHEMA_VERSION: an index of another version is
 *     dropped and rebuilt, never migrated;
 *   - every function runs under the store's lock (store.c takes it), and a
 *     multi-statement change runs in one transaction (BEGIN IMMEDIATE). */
#include "store/store_internal.h"

#pragma GCC diagnostic ignored "-Wformat-truncation"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* 2: text is UTF-8, converted from each object's Specific Character Set (an
 * index of version 1 holds the raw bytes of other sets: rebuilt). */
#define SCHEMA_VERSION 2

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS instances("
    " study_uid TEXT NOT NULL, series_uid TEXT NOT NULL, sop_uid TEXT PRIMARY KEY,"
    " sop_class_uid TEXT, patient_id TEXT, patient_name TEXT, study_date TEXT, study_time TEXT,"
    " accession_number TEXT, study_description TEXT, study_id TEXT, referring_physician TEXT,"
    " modality TEXT, series_number TEXT, series_description TEXT, instance_number TEXT,"
    " transfer_syntax_uid TEXT, patient_birth_date TEXT, patient_sex TEXT,"
    " rows INTEGER, columns INTEGER, frames INTEGER, size INTEGER);"
    "CREATE INDEX IF NOT EXISTS instances_study ON instances(study_uid);"
    "CREATE INDEX IF NOT EXISTS instances_series ON instances(series_uid);"
    "PRAGMA user_version = 2;";

/* The SELECT list in the order index_row_read() expects. */
static const char *const ALL_COLUMNS[] = {
    "study_uid", "series_uid", "sop_uid", "sop_class_uid", "patient_id", "patient_name",
    "study_date", "study_time", "accession_number", "study_description", "study_id",
    "referring_physician", "modality", "series_number", "series_description", "instance_number",
    "transfer_syntax_uid", "patient_birth_date", "patient_sex", "rows", "columns", "frames", "size",
};
const size_t INDEX_N_COLUMNS = sizeof ALL_COLUMNS / sizeof ALL_COLUMNS[0];

bool store_array_grow(void *array_ptr, size_t *cap, size_t count, size_t elem)
{
    if (count < *cap)
        return true;
    void *old;
    memcpy(&old, array_ptr, sizeof old);
    size_t nc = *cap ? *cap * 2 : 16;
    void *grown = realloc(old, nc * elem);
    if (!grown)
        return false;
    memcpy(array_ptr, &grown, sizeof grown);
    *cap = nc;
    return true;
}

bool index_db_err(struct store *s, struct err *e, const char *what)
{
    return err_set(e, sqlite3_errcode(s->db) == SQLITE_FULL ? ERR_NO_SPACE : ERR_IO, "store index: %s: %s", what,
                   sqlite3_errmsg(s->db));
}

bool index_exec(struct store *s, const char *sql, struct err *e)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        err_set(e, ERR_IO, "store index: %s", msg ? msg : "error");
        sqlite3_free(msg);
        return false;
    }
    return true;
}

void index_bind_text(sqlite3_stmt *st, int i, const char *v) { sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT); }

void index_copy_col(sqlite3_stmt *st, int i, char *dst, size_t dstsz)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(dst, dstsz, "%s", t ? (const char *)t : "");
}

const char *index_select_list(bool aggregate)
{
    static __thread char out[1024];
    size_t k = 0;
    for (size_t i = 0; i < INDEX_N_COLUMNS; i++)
        k += (size_t)snprintf(out + k, sizeof out - k, "%s%s%s%s", i ? "," : "",
                              aggregate ? "min(" : "", ALL_COLUMNS[i], aggregate ? ")" : "");
    return out;
}

/* ---- rows ---- */

bool index_row_insert(struct store *s, const struct store_attrs *a, struct err *e)
{
    static const char sql[] =
        "INSERT OR REPLACE INTO instances(study_uid, series_uid, sop_uid, sop_class_uid,"
        " patient_id, patient_name, study_date, study_time, accession_number, study_description,"
        " study_id, referring_physician, modality, series_number, series_description,"
        " instance_number, transfer_syntax_uid, patient_birth_date, patient_sex, rows, columns,"
        " frames, size) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return index_db_err(s, e, "prepare insert");
    const char *v[] = {a->study_uid, a->series_uid, a->sop_uid, a->sop_class_uid, a->patient_id,
                       a->patient_name, a->study_date, a->study_time, a->accession_number,
                       a->study_description, a->study_id, a->referring_physician, a->modality,
                       a->series_number, a->series_description, a->instance_number,
                       a->transfer_syntax_uid, a->patient_birth_date, a->patient_sex};
    int i = 1;
    for (size_t k = 0; k < sizeof v / sizeof v[0]; k++)
        index_bind_text(st, i++, v[k]);
    sqlite3_bind_int64(st, i++, a->rows);
    sqlite3_bind_int64(st, i++, a->columns);
    sqlite3_bind_int64(st, i++, a->frames);
    sqlite3_bind_int64(st, i++, (sqlite3_int64)a->size);
    bool ok = sqlite3_step(st) == SQLITE_DONE;
    if (!ok)
        index_db_err(s, e, "insert");
    sqlite3_finalize(st);
    return ok;
}

/* Reads ALL_COLUMNS starting at column `first`. */
void index_row_read(sqlite3_stmt *st, int first, struct store_attrs *a)
{
    memset(a, 0, sizeof *a);
    char *dst[] = {a->study_uid, a->series_uid, a->sop_uid, a->sop_class_uid, a->patient_id,
                   a->patient_name, a->study_date, a->study_time, a->accession_number,
                   a->study_description, a->study_id, a->referring_physician, a->modality,
                   a->series_number, a->series_description, a->instance_number,
                   a->transfer_syntax_uid, a->patient_birth_date, a->patient_sex};
    size_t sz[] = {sizeof a->study_uid, sizeof a->series_uid, sizeof a->sop_uid,
                   sizeof a->sop_class_uid, sizeof a->patient_id, sizeof a->patient_name,
                   sizeof a->study_date, sizeof a->study_time, sizeof a->accession_number,
                   sizeof a->study_description, sizeof a->study_id, sizeof a->referring_physician,
                   sizeof a->modality, sizeof a->series_number, sizeof a->series_description,
                   sizeof a->instance_number, sizeof a->transfer_syntax_uid,
                   sizeof a->patient_birth_date, sizeof a->patient_sex};
    int i = first;
    for (size_t k = 0; k < sizeof dst / sizeof dst[0]; k++)
        index_copy_col(st, i++, dst[k], sz[k]);
    a->rows = (uint32_t)sqlite3_column_int64(st, i++);
    a->columns = (uint32_t)sqlite3_column_int64(st, i++);
    a->frames = (uint32_t)sqlite3_column_int64(st, i++);
    a->size = (uint64_t)sqlite3_column_int64(st, i++);
}

bool index_count(struct store *s, uint64_t *n, struct err *e)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM instances", -1, &st, NULL) != SQLITE_OK)
        return index_db_err(s, e, "count");
    bool ok = sqlite3_step(st) == SQLITE_ROW;
    if (ok)
        *n = (uint64_t)sqlite3_column_int64(st, 0);
    else
        index_db_err(s, e, "count");
    sqlite3_finalize(st);
    return ok;
}

bool index_find_sop(struct store *s, const char *sop, char *study, char *series, bool *found,
                    struct err *e)
{
    *found = false;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT study_uid, series_uid FROM instances WHERE sop_uid=?",
                           -1, &st, NULL) != SQLITE_OK)
        return index_db_err(s, e, "lookup");
    index_bind_text(st, 1, sop);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *found = true;
        index_copy_col(st, 0, study, STORE_UID_MAX + 1);
        index_copy_col(st, 1, series, STORE_UID_MAX + 1);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return index_db_err(s, e, "lookup");
    return true;
}

bool index_has_instance(struct store *s, const char *study, const char *series, const char *sop,
                        bool *found, struct err *e)
{
    sqlite3_stmt *st = NULL;
    int rc = SQLITE_ERROR;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT 1 FROM instances WHERE sop_uid=? AND study_uid=? AND series_uid=?",
                           -1, &st, NULL) == SQLITE_OK) {
        index_bind_text(st, 1, sop);
        index_bind_text(st, 2, study);
        index_bind_text(st, 3, series);
        rc = sqlite3_step(st);
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        index_db_err(s, e, "lookup");
    sqlite3_finalize(st);
    *found = rc == SQLITE_ROW;
    return rc == SQLITE_ROW || rc == SQLITE_DONE;
}

/* ---- study / series / instance scopes ---- */

/* Binds the WHERE clause of scope_sql() (NULLs are left out). */
static int bind_scope(sqlite3_stmt *st, const char *study, const char *series, const char *sop)
{
    int i = 1;
    index_bind_text(st, i++, study);
    if (series)
        index_bind_text(st, i++, series);
    if (sop)
        index_bind_text(st, i++, sop);
    return i;
}

static void scope_sql(char *sql, size_t sz, const char *head, const char *series, const char *sop,
                      const char *tail)
{
    snprintf(sql, sz, "%s WHERE study_uid=?%s%s %s", head, series ? " AND series_uid=?" : "",
             sop ? " AND sop_uid=?" : "", tail);
}

static void read_all(sqlite3_stmt *st, void *a) { index_row_read(st, 0, a); }

static void read_uids(sqlite3_stmt *st, void *row)
{
    struct store_attrs *a = row;
    memset(a, 0, sizeof *a);
    index_copy_col(st, 0, a->study_uid, sizeof a->study_uid);
    index_copy_col(st, 1, a->series_uid, sizeof a->series_uid);
    index_copy_col(st, 2, a->sop_uid, sizeof a->sop_uid);
}

bool index_step_rows(struct store *s, sqlite3_stmt *st, index_row_fn read, void *array_ptr, size_t elem,
                     size_t *count, bool strict, const char *what, struct err *e)
{
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (!store_array_grow(array_ptr, &cap, *count, elem))
            return err_set(e, ERR_NOMEM, "out of memory");
        char *rows;
        memcpy(&rows, array_ptr, sizeof rows);
        read(st, rows + elem * (*count)++);
    }
    if (strict && rc != SQLITE_DONE)
        return index_db_err(s, e, what);
    return true;
}

/* Runs the scope query sql and appends its rows to *rows. */
static bool collect(struct store *s, const char *sql, const char *study, const char *series,
                    const char *sop, index_row_fn read, bool strict, struct store_attrs **rows,
                    size_t *count, struct err *e)
{
    bool ok;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        ok = index_db_err(s, e, "select");
    } else {
        bind_scope(st, study, series, sop);
        ok = index_step_rows(s, st, read, rows, sizeof **rows, count, strict, "select", e);
    }
    sqlite3_finalize(st);
    return ok;
}

bool index_instances(struct store *s, const char *study, const char *series, const char *sop,
                     struct store_attrs **rows, size_t *count, struct err *e)
{
    char head[1200], sql[1600];
    snprintf(head, sizeof head, "SELECT %s FROM instances", index_select_list(false));
    scope_sql(sql, sizeof sql, head, series, sop,
              "ORDER BY CAST(series_number AS INTEGER), series_uid, CAST(instance_number AS INTEGER), sop_uid");
    return collect(s, sql, study, series, sop, read_all, true, rows, count, e);
}

bool index_delete(struct store *s, const char *study, const char *series, const char *sop,
                  struct store_attrs **rows, size_t *count, struct err *e)
{
    char sql[512];
    if (!index_exec(s, "BEGIN IMMEDIATE", e))
        return false;
    scope_sql(sql, sizeof sql, "SELECT study_uid, series_uid, sop_uid FROM instances", series, sop, "");
    bool ok = collect(s, sql, study, series, sop, read_uids, false, rows, count, e);
    sqlite3_stmt *st = NULL;
    scope_sql(sql, sizeof sql, "DELETE FROM instances", series, sop, "");
    if (ok && sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) == SQLITE_OK) {
        bind_scope(st, study, series, sop);
        if (sqlite3_step(st) != SQLITE_DONE)
            ok = index_db_err(s, e, "delete");
    } else if (ok) {
        ok = index_db_err(s, e, "delete");
    }
    sqlite3_finalize(st);
    if (!ok || !index_exec(s, "COMMIT", e)) {
        index_exec(s, "ROLLBACK", NULL);
        return false;
    }
    return true;
}

/* ---- open / rebuild ---- */

struct rebuild_ctx {
    struct store *s;
    size_t indexed, skipped;
    struct err *e;
    bool failed;
};

static bool rebuild_fn(void *arg, const char *study, const char *series, const char *sop,
                       const char *path)
{
    struct rebuild_ctx *rc = arg;
    struct store_attrs a;
    memset(&a, 0, sizeof a);
    struct err e = ERR_INIT;
    struct stat st;
    if (!rc->s->attrs_fn || stat(path, &st) || !rc->s->attrs_fn(rc->s->attrs_arg, path, &a, &e) ||
        strcmp(a.study_uid, study) || strcmp(a.series_uid, series) || strcmp(a.sop_uid, sop)) {
        rc->skipped++; /* not an object of this store (or renamed by hand): left out */
        return true;
    }
    a.size = (uint64_t)st.st_size;
    if (!index_row_insert(rc->s, &a, rc->e)) {
        rc->failed = true;
        return false;
    }
    rc->indexed++;
    return true;
}

static bool is_corrupt(struct store *s)
{
    int rc = sqlite3_errcode(s->db) & 0xff;
    return rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB;
}

bool index_rebuild(struct store *s, size_t *indexed, size_t *skipped, struct err *e)
{
    struct err ce = ERR_INIT;
    if (!index_exec(s, "BEGIN IMMEDIATE; DELETE FROM instances;", &ce)) {
        /* Pages that went bad after the check at open: start the file again. */
        if (!is_corrupt(s) || !index_reset(s, ce.msg, e) ||
            !index_exec(s, "BEGIN IMMEDIATE; DELETE FROM instances;", e)) {
            if (e && e->code == ERR_OK)
                *e = ce;
            return false;
        }
    }
    struct rebuild_ctx rc = {s, 0, 0, e, false};
    files_walk(s, rebuild_fn, &rc);
    if (rc.failed) {
        index_exec(s, "ROLLBACK", NULL);
        return false;
    }
    if (!index_exec(s, "COMMIT", e))
        return false;
    if (indexed)
        *indexed = rc.indexed;
    if (skipped)
        *skipped = rc.skipped;
    return true;
}

static void db_files_remove(const char *db)
{
    char p[PATH_MAX + 8];
    unlink(db);
    snprintf(p, sizeof p, "%s-wal", db);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", db);
    unlink(p);
}

static void db_files_remove(const char *db);

/* The file passes SQLite's quick_check (every page readable, b-trees well
 * formed; no index-to-table cross-check, so it stays O(pages)). A valid
 * header over corrupted pages opens fine and fails only at the first query
 * that touches them ("database disk image is malformed"). */
static bool quick_check_ok(struct store *s, char *problem, size_t problemsz)
{
    sqlite3_stmt *st = NULL;
    bool ok = false;
    snprintf(problem, problemsz, "%s", "cannot run quick_check");
    if (sqlite3_prepare_v2(s->db, "PRAGMA quick_check(1)", -1, &st, NULL) == SQLITE_OK) {
        int rc = sqlite3_step(st);
        const unsigned char *t = rc == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
        if (t && !strcmp((const char *)t, "ok"))
            ok = true;
        else
            snprintf(problem, problemsz, "%.200s", t ? (const char *)t : sqlite3_errmsg(s->db));
        for (char *c = problem; *c; c++)
            if (*c == '\n' || *c == '\r')
                *c = ' ';
    } else {
        snprintf(problem, problemsz, "%.200s", sqlite3_errmsg(s->db));
    }
    sqlite3_finalize(st);
    return ok;
}

/* index.sqlite -> index.sqlite.corrupt-<unix time>; its -wal and -shm go. */
static void db_move_aside(struct store *s, const char *db, const char *why)
{
    char aside[PATH_MAX + 64];
    snprintf(aside, sizeof aside, "%s.corrupt-%lld", db, (long long)time(NULL));
    if (rename(db, aside) == 0)
        snprintf(s->note, sizeof s->note, "index.sqlite failed its integrity check (%.200s): moved to %s", why,
                 aside);
    else
        snprintf(s->note, sizeof s->note, "index.sqlite failed its integrity check (%.200s): removed", why);
    db_files_remove(db);
}

bool index_reset(struct store *s, const char *why, struct err *e)
{
    char db[PATH_MAX];
    snprintf(db, sizeof db, "%s/index.sqlite", s->dir);
    sqlite3_close(s->db);
    s->db = NULL;
    db_move_aside(s, db, why);
    bool fresh;
    return index_open(s, &fresh, e);
}

bool index_open(struct store *s, bool *fresh, struct err *e)
{
    char db[PATH_MAX];
    snprintf(db, sizeof db, "%s/index.sqlite", s->dir);
    for (int attempt = 0; attempt < 2; attempt++) {
        *fresh = access(db, F_OK) != 0;
        if (sqlite3_open_v2(db, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                            SQLITE_OPEN_FULLMUTEX, NULL) == SQLITE_OK) {
            sqlite3_busy_timeout(s->db, 5000);
            struct err ie = ERR_INIT;
            int version = -1;
            sqlite3_stmt *st = NULL;
            if (index_exec(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", &ie) &&
                sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
                sqlite3_step(st) == SQLITE_ROW)
                version = sqlite3_column_int(st, 0);
            sqlite3_finalize(st);
            char problem[256];
            if (version >= 0 && !quick_check_ok(s, problem, sizeof problem)) {
                sqlite3_close(s->db);
                s->db = NULL;
                db_move_aside(s, db, problem);
                continue;
            }
            if (version == SCHEMA_VERSION || (version == 0 && index_exec(s, SCHEMA, &ie))) {
                if (version == 0)
                    *fresh = true;
                if (version == SCHEMA_VERSION || index_exec(s, "SELECT 1 FROM instances LIMIT 1", &ie))
                    return true;
            }
        }
        /* Unreadable, corrupt or another schema: start it again (it is rebuilt
         * from the files). */
        sqlite3_close(s->db);
        s->db = NULL;
        db_files_remove(db);
    }
    return err_set(e, ERR_IO, "store index %s cannot be created", db);
}
