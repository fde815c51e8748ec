/* The instance store (see store.h). Design note: the files are the truth and
 * the SQLite index is a cache of their attributes. Every write path orders its
 * steps so that a crash leaves a file without a row (found and repaired at the
 * next open by a rebuild) and never a row without a file, except for the short
 * window of store_delete(), which removes rows before files. */
#include "store/store.h"

/* Paths are bounded: the store directory is at most PATH_MAX - 200 bytes and
 * every component below it is a checked UID (at most 64 bytes). */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SCHEMA_VERSION 1
#define MAX_LIST_VALUES 256

struct store {
    char dir[PATH_MAX];
    bool overwrite;
    store_attrs_fn attrs_fn;
    void *attrs_arg;
    sqlite3 *db;
    pthread_mutex_t mu;
    unsigned long tmp_seq;
};

/* Column order of the instances table; STORE_KEY_* index the first ones. */
static const char *const KEY_COLUMNS[STORE_KEY_COUNT] = {
    "study_uid", "series_uid", "sop_uid", "sop_class_uid", "patient_id", "patient_name",
    "study_date", "study_time", "accession_number", "study_description", "study_id",
    "referring_physician", "modality", "series_number", "series_description", "instance_number",
};

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
    "PRAGMA user_version = 1;";

/* The SELECT list in the order row_read() expects. */
static const char *const ALL_COLUMNS[] = {
    "study_uid", "series_uid", "sop_uid", "sop_class_uid", "patient_id", "patient_name",
    "study_date", "study_time", "accession_number", "study_description", "study_id",
    "referring_physician", "modality", "series_number", "series_description", "instance_number",
    "transfer_syntax_uid", "patient_birth_date", "patient_sex", "rows", "columns", "frames", "size",
};
#define N_ALL (sizeof ALL_COLUMNS / sizeof ALL_COLUMNS[0])

bool store_uid_valid(const char *uid)
{
    size_t n = strlen(uid);
    if (n < 1 || n > STORE_UID_MAX)
        return false;
    bool need_digit = true;
    for (size_t i = 0; i < n; i++) {
        if (uid[i] == '.') {
            if (need_digit)
                return false;
            need_digit = true;
        } else if (uid[i] >= '0' && uid[i] <= '9') {
            need_digit = false;
        } else {
            return false;
        }
    }
    return !need_digit;
}

static bool db_err(struct store *s, struct err *e, const char *what)
{
    return err_set(e, sqlite3_errcode(s->db) == SQLITE_FULL ? ERR_NO_SPACE : ERR_IO, "store index: %s: %s", what,
                   sqlite3_errmsg(s->db));
}

static bool exec(struct store *s, const char *sql, struct err *e)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        err_set(e, ERR_IO, "store index: %s", msg ? msg : "error");
        sqlite3_free(msg);
        return false;
    }
    return true;
}

static void instance_file(const struct store *s, const char *study, const char *series,
                          const char *sop, char *path, size_t pathsz)
{
    snprintf(path, pathsz, "%s/instances/%s/%s/%s.dcm", s->dir, study, series, sop);
}

static bool fsync_dir(const char *dir, struct err *e)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return err_set(e, ERR_IO, "open %s: %s", dir, strerror(errno));
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    if (rc)
        return err_set(e, ERR_IO, "fsync %s: %s", dir, strerror(saved));
    return true;
}

/* mkdir that fsyncs the parent when it created the directory. */
static bool mkdir_durable(const char *dir, const char *parent, struct err *e)
{
    if (mkdir(dir, 0755) == 0)
        return fsync_dir(parent, e);
    if (errno == EEXIST)
        return true;
    return err_set(e, ERR_IO, "mkdir %s: %s", dir, strerror(errno));
}

/* ---- walking the files ---- */

typedef bool (*file_fn)(void *arg, const char *study, const char *series, const char *sop,
                        const char *path);

/* Calls fn for every instances/<study>/<series>/<sop>.dcm. */
static void walk_files(struct store *s, file_fn fn, void *arg)
{
    char top[PATH_MAX];
    snprintf(top, sizeof top, "%s/instances", s->dir);
    DIR *d1 = opendir(top);
    if (!d1)
        return;
    struct dirent *a;
    while ((a = readdir(d1))) {
        if (!store_uid_valid(a->d_name))
            continue;
        char p2[PATH_MAX];
        snprintf(p2, sizeof p2, "%s/%s", top, a->d_name);
        DIR *d2 = opendir(p2);
        if (!d2)
            continue;
        struct dirent *b;
        while ((b = readdir(d2))) {
            if (!store_uid_valid(b->d_name))
                continue;
            char p3[PATH_MAX];
            snprintf(p3, sizeof p3, "%s/%s", p2, b->d_name);
            DIR *d3 = opendir(p3);
            if (!d3)
                continue;
            struct dirent *c;
            while ((c = readdir(d3))) {
                size_t n = strlen(c->d_name);
                if (n < 5 || n > STORE_UID_MAX + 4 || strcmp(c->d_name + n - 4, ".dcm"))
                    continue;
                char sop[STORE_UID_MAX + 1];
                memcpy(sop, c->d_name, n - 4);
                sop[n - 4] = 0;
                if (!store_uid_valid(sop))
                    continue;
                char path[PATH_MAX];
                snprintf(path, sizeof path, "%s/%s", p3, c->d_name);
                if (!fn(arg, a->d_name, b->d_name, sop, path))
                    break;
            }
            closedir(d3);
        }
        closedir(d2);
    }
    closedir(d1);
}

static bool count_fn(void *arg, const char *study, const char *series, const char *sop,
                     const char *path)
{
    (*(uint64_t *)arg)++;
    return true;
}

static void tmp_clear(struct store *s)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s/tmp", s->dir);
    DIR *d = opendir(tmp);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s/%s", tmp, de->d_name);
        unlink(p);
    }
    closedir(d);
}

/* ---- index rows ---- */

static void bind_text(sqlite3_stmt *st, int i, const char *v) { sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT); }

static bool row_insert(struct store *s, const struct store_attrs *a, struct err *e)
{
    static const char sql[] =
        "INSERT OR REPLACE INTO instances(study_uid, series_uid, sop_uid, sop_class_uid,"
        " patient_id, patient_name, study_date, study_time, accession_number, study_description,"
        " study_id, referring_physician, modality, series_number, series_description,"
        " instance_number, transfer_syntax_uid, patient_birth_date, patient_sex, rows, columns,"
        " frames, size) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_err(s, e, "prepare insert");
    const char *v[] = {a->study_uid, a->series_uid, a->sop_uid, a->sop_class_uid, a->patient_id,
                       a->patient_name, a->study_date, a->study_time, a->accession_number,
                       a->study_description, a->study_id, a->referring_physician, a->modality,
                       a->series_number, a->series_description, a->instance_number,
                       a->transfer_syntax_uid, a->patient_birth_date, a->patient_sex};
    int i = 1;
    for (size_t k = 0; k < sizeof v / sizeof v[0]; k++)
        bind_text(st, i++, v[k]);
    sqlite3_bind_int64(st, i++, a->rows);
    sqlite3_bind_int64(st, i++, a->columns);
    sqlite3_bind_int64(st, i++, a->frames);
    sqlite3_bind_int64(st, i++, (sqlite3_int64)a->size);
    bool ok = sqlite3_step(st) == SQLITE_DONE;
    if (!ok)
        db_err(s, e, "insert");
    sqlite3_finalize(st);
    return ok;
}

static void copy_col(sqlite3_stmt *st, int i, char *dst, size_t dstsz)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(dst, dstsz, "%s", t ? (const char *)t : "");
}

/* Reads ALL_COLUMNS starting at column `first`. */
static void row_read(sqlite3_stmt *st, int first, struct store_attrs *a)
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
        copy_col(st, i++, dst[k], sz[k]);
    a->rows = (uint32_t)sqlite3_column_int64(st, i++);
    a->columns = (uint32_t)sqlite3_column_int64(st, i++);
    a->frames = (uint32_t)sqlite3_column_int64(st, i++);
    a->size = (uint64_t)sqlite3_column_int64(st, i++);
}

static bool count_rows(struct store *s, uint64_t *n, struct err *e)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM instances", -1, &st, NULL) != SQLITE_OK)
        return db_err(s, e, "count");
    bool ok = sqlite3_step(st) == SQLITE_ROW;
    if (ok)
        *n = (uint64_t)sqlite3_column_int64(st, 0);
    else
        db_err(s, e, "count");
    sqlite3_finalize(st);
    return ok;
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
    if (!row_insert(rc->s, &a, rc->e)) {
        rc->failed = true;
        return false;
    }
    rc->indexed++;
    return true;
}

static bool reindex_locked(struct store *s, size_t *indexed, size_t *skipped, struct err *e)
{
    if (!exec(s, "BEGIN IMMEDIATE; DELETE FROM instances;", e))
        return false;
    struct rebuild_ctx rc = {s, 0, 0, e, false};
    walk_files(s, rebuild_fn, &rc);
    if (rc.failed) {
        exec(s, "ROLLBACK", NULL);
        return false;
    }
    if (!exec(s, "COMMIT", e))
        return false;
    if (indexed)
        *indexed = rc.indexed;
    if (skipped)
        *skipped = rc.skipped;
    return true;
}

bool store_reindex(struct store *s, size_t *indexed, size_t *skipped, struct err *e)
{
    pthread_mutex_lock(&s->mu);
    bool ok = reindex_locked(s, indexed, skipped, e);
    pthread_mutex_unlock(&s->mu);
    return ok;
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

/* Opens the index; true with *fresh when it had to be created (or re-created). */
static bool db_open(struct store *s, bool *fresh, struct err *e)
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
            if (exec(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", &ie) &&
                sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
                sqlite3_step(st) == SQLITE_ROW)
                version = sqlite3_column_int(st, 0);
            sqlite3_finalize(st);
            if (version == SCHEMA_VERSION || (version == 0 && exec(s, SCHEMA, &ie))) {
                if (version == 0)
                    *fresh = true;
                if (version == SCHEMA_VERSION || exec(s, "SELECT 1 FROM instances LIMIT 1", &ie))
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

struct store *store_open(const char *dir, bool overwrite, store_attrs_fn attrs_fn, void *attrs_arg,
                         bool *rebuilt, struct err *e)
{
    if (rebuilt)
        *rebuilt = false;
    struct store *s = calloc(1, sizeof *s);
    if (!s) {
        err_set(e, ERR_NOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    s->overwrite = overwrite;
    s->attrs_fn = attrs_fn;
    s->attrs_arg = attrs_arg;
    if (!*dir || strlen(dir) > sizeof s->dir - 200) {
        err_set(e, ERR_INVALID, "store directory name empty or too long");
        goto fail;
    }
    if (mkdir(dir, 0755) && errno != EEXIST) {
        err_set(e, ERR_IO, "store %s: cannot create: %s", dir, strerror(errno));
        goto fail;
    }
    if (!realpath(dir, s->dir)) {
        err_set(e, ERR_IO, "store %s: %s", dir, strerror(errno));
        goto fail;
    }
    char sub[PATH_MAX];
    snprintf(sub, sizeof sub, "%s/instances", s->dir);
    if (!mkdir_durable(sub, s->dir, e))
        goto fail;
    snprintf(sub, sizeof sub, "%s/tmp", s->dir);
    if (!mkdir_durable(sub, s->dir, e))
        goto fail;
    tmp_clear(s); /* uploads cut short by a crash */

    bool fresh = false;
    if (!db_open(s, &fresh, e))
        goto fail;
    uint64_t files = 0, rows = 0;
    walk_files(s, count_fn, &files);
    if (!count_rows(s, &rows, e))
        goto fail;
    if (fresh || files != rows) {
        if (!reindex_locked(s, NULL, NULL, e))
            goto fail;
        if (rebuilt)
            *rebuilt = true;
    }
    return s;
fail:
    store_close(s);
    return NULL;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    if (s->db)
        sqlite3_close(s->db);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

bool store_count(struct store *s, uint64_t *n, struct err *e)
{
    pthread_mutex_lock(&s->mu);
    bool ok = count_rows(s, n, e);
    pthread_mutex_unlock(&s->mu);
    return ok;
}

bool store_tmp_create(struct store *s, char *path, size_t pathsz, int *fd, struct err *e)
{
    pthread_mutex_lock(&s->mu);
    unsigned long seq = ++s->tmp_seq;
    pthread_mutex_unlock(&s->mu);
    snprintf(path, pathsz, "%s/tmp/up-%ld-%lu-XXXXXX", s->dir, (long)getpid(), seq);
    *fd = mkostemp(path, O_CLOEXEC);
    if (*fd < 0)
        return err_set(e, ERR_IO, "temp file in %s/tmp: %s", s->dir, strerror(errno));
    return true;
}

/* ---- put ---- */

/* 1: same bytes, 0: different, -1: error. */
static int same_bytes(const char *a, const char *b)
{
    struct stat sa, sb;
    if (stat(a, &sa) || stat(b, &sb))
        return -1;
    if (sa.st_size != sb.st_size)
        return 0;
    int fa = open(a, O_RDONLY | O_CLOEXEC), fb = open(b, O_RDONLY | O_CLOEXEC);
    int result = -1;
    enum { CHUNK = 1 << 16 };
    char *ba = malloc(CHUNK), *bb = malloc(CHUNK);
    if (fa < 0 || fb < 0 || !ba || !bb)
        goto out;
    for (;;) {
        ssize_t na = read(fa, ba, CHUNK);
        if (na < 0)
            goto out;
        if (na == 0) {
            result = 1;
            break;
        }
        size_t got = 0;
        while (got < (size_t)na) {
            ssize_t nb = read(fb, bb + got, (size_t)na - got);
            if (nb <= 0)
                goto out;
            got += (size_t)nb;
        }
        if (memcmp(ba, bb, (size_t)na)) {
            result = 0;
            break;
        }
    }
out:
    if (fa >= 0)
        close(fa);
    if (fb >= 0)
        close(fb);
    free(ba);
    free(bb);
    return result;
}

/* The study/series of a stored SOP Instance UID, if any. */
static bool find_sop(struct store *s, const char *sop, char *study, char *series, bool *found,
                     struct err *e)
{
    *found = false;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT study_uid, series_uid FROM instances WHERE sop_uid=?",
                           -1, &st, NULL) != SQLITE_OK)
        return db_err(s, e, "lookup");
    bind_text(st, 1, sop);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *found = true;
        copy_col(st, 0, study, STORE_UID_MAX + 1);
        copy_col(st, 1, series, STORE_UID_MAX + 1);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_err(s, e, "lookup");
    return true;
}

static bool put_locked(struct store *s, const char *tmp_path, const struct store_attrs *a,
                       enum store_put_result *result, struct err *e)
{
    char target[PATH_MAX], old_study[STORE_UID_MAX + 1], old_series[STORE_UID_MAX + 1];
    instance_file(s, a->study_uid, a->series_uid, a->sop_uid, target, sizeof target);
    bool found;
    if (!find_sop(s, a->sop_uid, old_study, old_series, &found, e))
        return false;
    char existing[PATH_MAX] = "";
    if (found)
        instance_file(s, old_study, old_series, a->sop_uid, existing, sizeof existing);
    else if (access(target, F_OK) == 0)
        snprintf(existing, sizeof existing, "%s", target); /* file without a row */
    if (*existing && access(existing, F_OK) == 0) {
        int same = same_bytes(existing, tmp_path);
        if (same < 0)
            return err_set(e, ERR_IO, "compare with %s: %s", existing, strerror(errno));
        if (same) {
            *result = STORE_PUT_IDENTICAL;
            unlink(tmp_path);
            if (!found) { /* repair the missing row */
                struct store_attrs b = *a;
                struct stat st;
                b.size = stat(existing, &st) ? 0 : (uint64_t)st.st_size;
                return row_insert(s, &b, e);
            }
            return true;
        }
        if (!s->overwrite) {
            *result = STORE_PUT_CONFLICT;
            unlink(tmp_path);
            return true;
        }
    }

    /* The bytes reach the disk before the name does. */
    int fd = open(tmp_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(e, ERR_IO, "open %s: %s", tmp_path, strerror(errno));
    struct stat st;
    int rc = fstat(fd, &st) ? -1 : fsync(fd);
    int saved = errno;
    close(fd);
    if (rc)
        return err_set(e, saved == ENOSPC || saved == EDQUOT ? ERR_NO_SPACE : ERR_IO, "fsync %s: %s", tmp_path,
                       strerror(saved));

    char study_dir[PATH_MAX], series_dir[PATH_MAX], top[PATH_MAX];
    snprintf(top, sizeof top, "%s/instances", s->dir);
    snprintf(study_dir, sizeof study_dir, "%s/%s", top, a->study_uid);
    snprintf(series_dir, sizeof series_dir, "%s/%s", study_dir, a->series_uid);
    if (!mkdir_durable(study_dir, top, e) || !mkdir_durable(series_dir, study_dir, e))
        return false;
    if (rename(tmp_path, target))
        return err_set(e, ERR_IO, "rename into %s: %s", target, strerror(errno));
    if (!fsync_dir(series_dir, e))
        return false;
    if (*existing && strcmp(existing, target))
        unlink(existing); /* overwritten under another study/series */
    struct store_attrs b = *a;
    b.size = (uint64_t)st.st_size;
    if (!row_insert(s, &b, e))
        return false;
    *result = STORE_PUT_STORED;
    return true;
}

bool store_instance_put(struct store *s, const char *tmp_path, const struct store_attrs *a,
                        enum store_put_result *result, struct err *e)
{
    if (!store_uid_valid(a->study_uid) || !store_uid_valid(a->series_uid) ||
        !store_uid_valid(a->sop_uid)) {
        unlink(tmp_path);
        return err_set(e, ERR_INVALID, "Study, Series and SOP Instance UIDs must be valid UIDs");
    }
    pthread_mutex_lock(&s->mu);
    bool ok = put_locked(s, tmp_path, a, result, e);
    pthread_mutex_unlock(&s->mu);
    if (!ok)
        unlink(tmp_path);
    return ok;
}

bool store_instance_path(struct store *s, const char *study, const char *series, const char *sop,
                         char *path, size_t pathsz, struct err *e)
{
    if (!store_uid_valid(study) || !store_uid_valid(series) || !store_uid_valid(sop))
        return err_set(e, ERR_NOT_FOUND, "instance not in store: %s", sop);
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = NULL;
    int rc = SQLITE_ERROR;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT 1 FROM instances WHERE sop_uid=? AND study_uid=? AND series_uid=?",
                           -1, &st, NULL) == SQLITE_OK) {
        bind_text(st, 1, sop);
        bind_text(st, 2, study);
        bind_text(st, 3, series);
        rc = sqlite3_step(st);
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        db_err(s, e, "lookup");
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    if (rc == SQLITE_DONE)
        return err_set(e, ERR_NOT_FOUND, "instance not in store: %s", sop);
    if (rc != SQLITE_ROW)
        return false;
    instance_file(s, study, series, sop, path, pathsz);
    return true;
}

/* WHERE clause for study / series / sop (NULLs are left out). */
static int bind_scope(sqlite3_stmt *st, const char *study, const char *series, const char *sop)
{
    int i = 1;
    bind_text(st, i++, study);
    if (series)
        bind_text(st, i++, series);
    if (sop)
        bind_text(st, i++, sop);
    return i;
}

static void scope_sql(char *sql, size_t sz, const char *head, const char *series, const char *sop,
                      const char *tail)
{
    snprintf(sql, sz, "%s WHERE study_uid=?%s%s %s", head, series ? " AND series_uid=?" : "",
             sop ? " AND sop_uid=?" : "", tail);
}

static char *select_list(bool aggregate)
{
    static __thread char out[1024];
    size_t k = 0;
    for (size_t i = 0; i < N_ALL; i++)
        k += (size_t)snprintf(out + k, sizeof out - k, "%s%s%s%s", i ? "," : "",
                              aggregate ? "min(" : "", ALL_COLUMNS[i], aggregate ? ")" : "");
    return out;
}

bool store_instances_each(struct store *s, const char *study, const char *series, const char *sop,
                          store_instance_fn fn, void *arg, size_t *n, struct err *e)
{
    *n = 0;
    if (!store_uid_valid(study) || (series && !store_uid_valid(series)) ||
        (sop && !store_uid_valid(sop)))
        return err_set(e, ERR_NOT_FOUND, "not in store");
    char head[1200], sql[1600];
    snprintf(head, sizeof head, "SELECT %s FROM instances", select_list(false));
    scope_sql(sql, sizeof sql, head, series, sop,
              "ORDER BY CAST(series_number AS INTEGER), series_uid, CAST(instance_number AS INTEGER), sop_uid");
    /* Collect the rows first so fn runs without the lock. */
    struct store_attrs *rows = NULL;
    size_t count = 0, cap = 0;
    bool ok = true;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        ok = db_err(s, e, "select");
    } else {
        bind_scope(st, study, series, sop);
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (count == cap) {
                size_t nc = cap ? cap * 2 : 16;
                struct store_attrs *nr = realloc(rows, nc * sizeof *nr);
                if (!nr) {
                    ok = err_set(e, ERR_NOMEM, "out of memory");
                    break;
                }
                rows = nr;
                cap = nc;
            }
            row_read(st, 0, &rows[count++]);
        }
        if (ok && rc != SQLITE_DONE)
            ok = db_err(s, e, "select");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    if (ok && !count)
        ok = err_set(e, ERR_NOT_FOUND, "not in store: %s", sop ? sop : series ? series : study);
    for (size_t i = 0; ok && i < count; i++) {
        char path[PATH_MAX];
        instance_file(s, rows[i].study_uid, rows[i].series_uid, rows[i].sop_uid, path, sizeof path);
        ok = fn(arg, &rows[i], path, e);
    }
    if (ok)
        *n = count;
    free(rows);
    return ok;
}

bool store_delete(struct store *s, const char *study, const char *series, const char *sop,
                  size_t *n, struct err *e)
{
    *n = 0;
    if (!store_uid_valid(study) || (series && !store_uid_valid(series)) ||
        (sop && !store_uid_valid(sop)))
        return err_set(e, ERR_NOT_FOUND, "not in store");
    char sql[512];
    bool ok = true;
    struct store_attrs *rows = NULL;
    size_t count = 0, cap = 0;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = NULL;
    scope_sql(sql, sizeof sql, "SELECT study_uid, series_uid, sop_uid FROM instances", series, sop, "");
    if (!exec(s, "BEGIN IMMEDIATE", e)) {
        ok = false;
        goto unlock;
    }
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        ok = db_err(s, e, "select");
    } else {
        bind_scope(st, study, series, sop);
        while (sqlite3_step(st) == SQLITE_ROW) {
            if (count == cap) {
                size_t nc = cap ? cap * 2 : 16;
                struct store_attrs *nr = realloc(rows, nc * sizeof *nr);
                if (!nr) {
                    ok = err_set(e, ERR_NOMEM, "out of memory");
                    break;
                }
                rows = nr;
                cap = nc;
            }
            memset(&rows[count], 0, sizeof rows[count]);
            copy_col(st, 0, rows[count].study_uid, sizeof rows[count].study_uid);
            copy_col(st, 1, rows[count].series_uid, sizeof rows[count].series_uid);
            copy_col(st, 2, rows[count].sop_uid, sizeof rows[count].sop_uid);
            count++;
        }
    }
    sqlite3_finalize(st);
    st = NULL;
    scope_sql(sql, sizeof sql, "DELETE FROM instances", series, sop, "");
    if (ok && sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) == SQLITE_OK) {
        bind_scope(st, study, series, sop);
        if (sqlite3_step(st) != SQLITE_DONE)
            ok = db_err(s, e, "delete");
    } else if (ok) {
        ok = db_err(s, e, "delete");
    }
    sqlite3_finalize(st);
    if (!ok || !exec(s, "COMMIT", e)) {
        exec(s, "ROLLBACK", NULL);
        ok = false;
        goto unlock;
    }
    for (size_t i = 0; i < count; i++) {
        char path[PATH_MAX], dir[PATH_MAX];
        instance_file(s, rows[i].study_uid, rows[i].series_uid, rows[i].sop_uid, path, sizeof path);
        unlink(path);
        snprintf(dir, sizeof dir, "%s/instances/%s/%s", s->dir, rows[i].study_uid, rows[i].series_uid);
        rmdir(dir); /* fails (fine) while not empty */
        snprintf(dir, sizeof dir, "%s/instances/%s", s->dir, rows[i].study_uid);
        rmdir(dir);
    }
    if (count) {
        char top[PATH_MAX];
        snprintf(top, sizeof top, "%s/instances", s->dir);
        fsync_dir(top, NULL);
    }
unlock:
    pthread_mutex_unlock(&s->mu);
    free(rows);
    if (ok && !count)
        return err_set(e, ERR_NOT_FOUND, "not in store: %s", sop ? sop : series ? series : study);
    if (ok)
        *n = count;
    return ok;
}

/* ---- search ---- */

struct sql {
    char text[8192];
    size_t len;
    const char *binds[512];
    char *owned[512];
    size_t n_binds, n_owned;
    bool overflow;
};

static void sql_add(struct sql *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sql_add(struct sql *q, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(q->text + q->len, sizeof q->text - q->len, fmt, ap);
    va_end(ap);
    if (m < 0 || (size_t)m >= sizeof q->text - q->len)
        q->overflow = true;
    else
        q->len += (size_t)m;
}

static void sql_bind(struct sql *q, const char *v, size_t n)
{
    if (q->n_binds >= sizeof q->binds / sizeof q->binds[0] || q->n_owned >= 512) {
        q->overflow = true;
        return;
    }
    char *c = strndup(v, n);
    if (!c) {
        q->overflow = true;
        return;
    }
    q->owned[q->n_owned++] = c;
    q->binds[q->n_binds++] = c;
}

/* DICOM wildcards to a LIKE pattern with '\' escapes. */
static char *like_pattern(const char *v)
{
    size_t n = strlen(v);
    char *out = malloc(2 * n + 1);
    if (!out)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        if (c == '*')
            out[k++] = '%';
        else if (c == '?')
            out[k++] = '_';
        else {
            if (c == '%' || c == '_' || c == '\\')
                out[k++] = '\\';
            out[k++] = c;
        }
    }
    out[k] = 0;
    return out;
}

static bool filter_sql(struct sql *q, const struct store_filter *f, struct err *e)
{
    if ((unsigned)f->key >= STORE_KEY_COUNT)
        return err_set(e, ERR_INTERNAL, "bad search key");
    const char *col = KEY_COLUMNS[f->key];
    const char *v = f->value;
    switch (f->match) {
    case STORE_MATCH_LIST: {
        sql_add(q, " AND %s IN (", col);
        size_t count = 0;
        const char *p = v;
        for (;;) {
            size_t n = strcspn(p, ",\\");
            if (n) {
                if (++count > MAX_LIST_VALUES)
                    return err_set(e, ERR_PARSE, "more than %d values in a list", MAX_LIST_VALUES);
                sql_add(q, "%s?", count > 1 ? "," : "");
                sql_bind(q, p, n);
            }
            if (!p[n])
                break;
            p += n + 1;
        }
        if (!count)
            sql_add(q, "NULL");
        sql_add(q, ")");
        return true;
    }
    case STORE_MATCH_WILDCARD:
        if (!strcmp(v, "*") || !*v)
            return true; /* universal match */
        if (strpbrk(v, "*?") || f->key == STORE_KEY_PATIENT_NAME) {
            char *pat = like_pattern(v);
            if (!pat)
                return err_set(e, ERR_NOMEM, "out of memory");
            sql_add(q, " AND %s LIKE ? ESCAPE '\\'", col);
            sql_bind(q, pat, strlen(pat));
            free(pat);
        } else {
            sql_add(q, " AND %s = ?", col);
            sql_bind(q, v, strlen(v));
        }
        return true;
    case STORE_MATCH_RANGE: {
        const char *dash = strchr(v, '-');
        if (!dash) {
            sql_add(q, " AND %s = ?", col);
            sql_bind(q, v, strlen(v));
            return true;
        }
        sql_add(q, " AND %s <> ''", col);
        if (dash > v) {
            sql_add(q, " AND %s >= ?", col);
            sql_bind(q, v, (size_t)(dash - v));
        }
        if (dash[1]) {
            /* An upper bound includes the whole of its last unit ("-20240131" covers that day). */
            sql_add(q, " AND %s <= ?", col);
            char hi[64];
            snprintf(hi, sizeof hi, "%s\x7f", dash + 1);
            sql_bind(q, hi, strlen(hi));
        }
        return true;
    }
    }
    return err_set(e, ERR_INTERNAL, "bad match kind");
}

bool store_search(struct store *s, enum store_level level, const struct store_filter *filters,
                  size_t n_filters, uint32_t limit, uint32_t offset, store_row_fn fn, void *arg,
                  struct err *e)
{
    struct sql *q = calloc(1, sizeof *q);
    if (!q)
        return err_set(e, ERR_NOMEM, "out of memory");
    bool ok = true;
    /* The filters select instances; study and series levels then aggregate
     * over all instances of the matching studies / series. */
    char where[8192];
    struct sql *wq = calloc(1, sizeof *wq);
    if (!wq) {
        free(q);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    sql_add(wq, "1=1");
    for (size_t i = 0; i < n_filters && ok; i++)
        ok = filter_sql(wq, &filters[i], e);
    snprintf(where, sizeof where, "%s", wq->text);
    if (level == STORE_LEVEL_STUDY) {
        sql_add(q, "SELECT %s, group_concat(DISTINCT modality), count(DISTINCT series_uid), count(*)"
                   " FROM instances WHERE study_uid IN (SELECT study_uid FROM instances WHERE %s)"
                   " GROUP BY study_uid ORDER BY min(study_date), study_uid",
                select_list(true), where);
    } else if (level == STORE_LEVEL_SERIES) {
        sql_add(q, "SELECT %s, group_concat(DISTINCT modality), 1, count(*)"
                   " FROM instances WHERE series_uid IN (SELECT series_uid FROM instances WHERE %s)"
                   " GROUP BY series_uid ORDER BY min(study_uid), CAST(min(series_number) AS INTEGER), series_uid",
                select_list(true), where);
    } else {
        sql_add(q, "SELECT %s, modality, 1, 1 FROM instances WHERE %s"
                   " ORDER BY study_uid, series_uid, CAST(instance_number AS INTEGER), sop_uid",
                select_list(false), where);
    }
    sql_add(q, " LIMIT %lld OFFSET %u", limit ? (long long)limit : -1LL, offset);
    if (ok && (q->overflow || wq->overflow))
        ok = err_set(e, ERR_LIMIT, "search too complex");

    struct store_row *rows = NULL;
    size_t count = 0, cap = 0;
    if (ok) {
        pthread_mutex_lock(&s->mu);
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(s->db, q->text, -1, &st, NULL) != SQLITE_OK) {
            ok = db_err(s, e, "search");
        } else {
            for (size_t i = 0; i < wq->n_binds; i++)
                bind_text(st, (int)i + 1, wq->binds[i]);
            int rc;
            while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                if (count == cap) {
                    size_t nc = cap ? cap * 2 : 16;
                    struct store_row *nr = realloc(rows, nc * sizeof *nr);
                    if (!nr) {
                        ok = err_set(e, ERR_NOMEM, "out of memory");
                        break;
                    }
                    rows = nr;
                    cap = nc;
                }
                struct store_row *r = &rows[count++];
                memset(r, 0, sizeof *r);
                row_read(st, 0, &r->a);
                copy_col(st, (int)N_ALL, r->modalities, sizeof r->modalities);
                for (char *c = r->modalities; *c; c++)
                    if (*c == ',')
                        *c = '\\';
                r->n_series = (uint32_t)sqlite3_column_int64(st, (int)N_ALL + 1);
                r->n_instances = (uint32_t)sqlite3_column_int64(st, (int)N_ALL + 2);
            }
            if (ok && rc != SQLITE_DONE)
                ok = db_err(s, e, "search");
        }
        sqlite3_finalize(st);
        pthread_mutex_unlock(&s->mu);
    }
    for (size_t i = 0; ok && i < count; i++)
        ok = fn(arg, &rows[i], e);
    free(rows);
    for (size_t i = 0; i < wq->n_owned; i++)
        free(wq->owned[i]);
    free(wq);
    free(q);
    return ok;
}
