/* The instance store (see store.h). Design note: the files are the truth and
 * the SQLite index is a cache of their attributes. This file owns the store
 * object, its one lock, and the order of the steps of every public operation;
 * files.c and index.c do the steps. Every write path orders its steps so that
 * a crash leaves a file without a row (found and repaired at the next open by
 * a rebuild) and never a row without a file, except for the short window of
 * store_delete(), which removes rows before files. Callbacks (attrs_fn at
 * rebuild aside) run without the lock. */
#include "store/store_internal.h"

#pragma GCC diagnostic ignored "-Wformat-truncation"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- open / rebuild ---- */

const char *store_note(const struct store *s) { return s->note; }

bool store_reindex(struct store *s, size_t *indexed, size_t *skipped, struct err *e)
{
    pthread_mutex_lock(&s->mu);
    bool ok = index_rebuild(s, indexed, skipped, e);
    pthread_mutex_unlock(&s->mu);
    return ok;
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
    if (!files_open(s, e))
        goto fail;

    bool fresh = false;
    if (!index_open(s, &fresh, e))
        goto fail;
    uint64_t files = files_count(s), rows = 0;
    if (!index_count(s, &rows, e))
        goto fail;
    if (fresh || files != rows) {
        if (!index_rebuild(s, NULL, NULL, e))
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
    bool ok = index_count(s, n, e);
    pthread_mutex_unlock(&s->mu);
    return ok;
}

/* ---- put ---- */

/* The instance's file already exists (under its own or another study/series):
 * keeps it when the bytes are the same (repairing a missing row), or refuses
 * other bytes unless the store overwrites. *done: nothing more to do. */
static bool put_existing(struct store *s, const char *tmp_path, const struct store_attrs *a,
                         const char *existing, bool has_row, enum store_put_result *result,
                         bool *done, struct err *e)
{
    *done = false;
    int same = files_same(existing, tmp_path);
    if (same < 0)
        return err_set(e, err_code_from_errno(errno), "compare with %s: %s", existing, strerror(errno));
    if (same) {
        *result = STORE_PUT_IDENTICAL;
        *done = true;
        unlink(tmp_path);
        if (!has_row) { /* repair the missing row */
            struct store_attrs b = *a;
            struct stat st;
            b.size = stat(existing, &st) ? 0 : (uint64_t)st.st_size;
            return index_row_insert(s, &b, e);
        }
        return true;
    }
    if (!s->overwrite) {
        *result = STORE_PUT_CONFLICT;
        *done = true;
        unlink(tmp_path);
    }
    return true;
}

static bool put_locked(struct store *s, const char *tmp_path, const struct store_attrs *a,
                       enum store_put_result *result, struct err *e)
{
    char target[PATH_MAX], old_study[STORE_UID_MAX + 1], old_series[STORE_UID_MAX + 1];
    files_instance_path(s, a->study_uid, a->series_uid, a->sop_uid, target, sizeof target);
    bool found;
    if (!index_find_sop(s, a->sop_uid, old_study, old_series, &found, e))
        return false;
    char existing[PATH_MAX] = "";
    if (found)
        files_instance_path(s, old_study, old_series, a->sop_uid, existing, sizeof existing);
    else if (access(target, F_OK) == 0)
        snprintf(existing, sizeof existing, "%s", target); /* file without a row */
    if (*existing && access(existing, F_OK) == 0) {
        bool done;
        if (!put_existing(s, tmp_path, a, existing, found, result, &done, e))
            return false;
        if (done)
            return true;
    }

    /* Overwriting in place: the old bytes stay reachable (a hard link in tmp/)
     * until the row is in, so a failed insert can put them back. */
    char backup[PATH_MAX] = "";
    if (access(target, F_OK) == 0) {
        snprintf(backup, sizeof backup, "%s/tmp/overwritten-%lu", s->dir, ++s->tmp_seq);
        unlink(backup);
        if (link(target, backup))
            return err_set(e, ERR_IO, "keep %s while overwriting: %s", target, strerror(errno));
    }
    struct store_attrs b = *a;
    if (!files_commit(s, tmp_path, a, target, &b.size, e)) {
        if (*backup)
            unlink(backup);
        return false;
    }
    if (!index_row_insert(s, &b, e)) {
        /* The client hears "not stored" (0xA700): the file must not stay, or the
         * object would appear at the next rebuild. Undo the rename. */
        if (*backup ? rename(backup, target) : unlink(target))
            err_prefix(e, "%s left in place (undo failed: %s)", target, strerror(errno));
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s/instances/%s/%s", s->dir, a->study_uid, a->series_uid);
        files_fsync_dir(dir, NULL);
        return false;
    }
    if (*backup) {
        unlink(backup);
        char side[PATH_MAX];
        snprintf(side, sizeof side, "%.*s.idx", (int)(strlen(target) - 4), target);
        unlink(side); /* stale (it names the old inode); the caller persists the new one */
    }
    if (*existing && strcmp(existing, target))
        files_unlink_object(existing); /* overwritten under another study/series */
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

/* ---- read / delete ---- */

bool store_instance_path(struct store *s, const char *study, const char *series, const char *sop,
                         char *path, size_t pathsz, struct err *e)
{
    if (!store_uid_valid(study) || !store_uid_valid(series) || !store_uid_valid(sop))
        return err_set(e, ERR_NOT_FOUND, "instance not in store: %s", sop);
    pthread_mutex_lock(&s->mu);
    bool found = false;
    bool ok = index_has_instance(s, study, series, sop, &found, e);
    pthread_mutex_unlock(&s->mu);
    if (!ok)
        return false;
    if (!found)
        return err_set(e, ERR_NOT_FOUND, "instance not in store: %s", sop);
    files_instance_path(s, study, series, sop, path, pathsz);
    return true;
}

/* A study (series, sop NULL), a series (sop NULL) or an instance: valid UIDs. */
static bool scope_valid(const char *study, const char *series, const char *sop)
{
    return store_uid_valid(study) && (!series || store_uid_valid(series)) &&
           (!sop || store_uid_valid(sop));
}

bool store_instances_each(struct store *s, const char *study, const char *series, const char *sop,
                          store_instance_fn fn, void *arg, size_t *n, struct err *e)
{
    *n = 0;
    if (!scope_valid(study, series, sop))
        return err_set(e, ERR_NOT_FOUND, "not in store");
    /* Collect the rows first so fn runs without the lock. */
    struct store_attrs *rows = NULL;
    size_t count = 0;
    pthread_mutex_lock(&s->mu);
    bool ok = index_instances(s, study, series, sop, &rows, &count, e);
    pthread_mutex_unlock(&s->mu);
    if (ok && !count)
        ok = err_set(e, ERR_NOT_FOUND, "not in store: %s", sop ? sop : series ? series : study);
    for (size_t i = 0; ok && i < count; i++) {
        char path[PATH_MAX];
        files_instance_path(s, rows[i].study_uid, rows[i].series_uid, rows[i].sop_uid, path, sizeof path);
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
    if (!scope_valid(study, series, sop))
        return err_set(e, ERR_NOT_FOUND, "not in store");
    struct store_attrs *rows = NULL;
    size_t count = 0;
    pthread_mutex_lock(&s->mu);
    bool ok = index_delete(s, study, series, sop, &rows, &count, e); /* rows first, */
    if (ok)
        files_remove(s, rows, count); /* then the files */
    pthread_mutex_unlock(&s->mu);
    free(rows);
    if (ok && !count)
        return err_set(e, ERR_NOT_FOUND, "not in store: %s", sop ? sop : series ? series : study);
    if (ok)
        *n = count;
    return ok;
}
