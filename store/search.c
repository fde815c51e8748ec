/* QIDO-RS search over the store's index (see store_search() in store.h).
 * Design note: this file owns turning filters into one SQL statement and
 * reading its rows; it never writes. Its invariants:
 *   - every value from a request reaches SQLite as a bound parameter, never as
 *     SQL text (column names come from KEY_COLUMNS only);
 *   - the filters select instances; the study and series levels then aggregate
 *     over all instances of the matching studies / series;
 *   - the statement is bounded (8 KiB of SQL, 512 bound values,
 *     MAX_LIST_VALUES per list): past that the search fails with ERR_LIMIT /
 *     ERR_PARSE rather than growing;
 *   - rows are collected under the lock and handed to the callback after it. */
#include "store/store_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LIST_VALUES 256

/* Column order of the instances table; STORE_KEY_* index the first ones. */
static const char *const KEY_COLUMNS[STORE_KEY_COUNT] = {
    "study_uid", "series_uid", "sop_uid", "sop_class_uid", "patient_id", "patient_name",
    "study_date", "study_time", "accession_number", "study_description", "study_id",
    "referring_physician", "modality", "series_number", "series_description", "instance_number",
};

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

static void sql_free(struct sql *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->n_owned; i++)
        free(q->owned[i]);
    free(q);
}

/* ---- filters ---- */

static bool filter_list(struct sql *q, const char *col, const char *v, struct err *e)
{
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

/* DICOM wildcards ('*' any run, '?' one character) to an SQL pattern. For LIKE
 * (glob false): '%' and '_', with '\' escaping a literal '%', '_' or '\' (used with
 * ESCAPE '\'). For GLOB (case-sensitive): '*' and '?' are the same, a literal '[' is
 * "[[]". New string, NULL when out of memory. */
static char *wildcard_pattern(const char *v, bool glob)
{
    size_t n = strlen(v);
    char *out = malloc(3 * n + 1);
    if (!out)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        if (glob && c == '[') {
            memcpy(out + k, "[[]", 3);
            k += 3;
        } else if (glob) {
            out[k++] = c;
        } else if (c == '*') {
            out[k++] = '%';
        } else if (c == '?') {
            out[k++] = '_';
        } else {
            if (c == '%' || c == '_' || c == '\\')
                out[k++] = '\\';
            out[k++] = c;
        }
    }
    out[k] = 0;
    return out;
}

/* The letter-case rule, one for exact values and wildcards alike (PS3.18 / PS3.4
 * C.2.2.2): person names (PatientName, ReferringPhysicianName) match without regard
 * to the case of ASCII letters; every other attribute matches case-sensitively. */
static bool key_is_person_name(enum store_key k)
{
    return k == STORE_KEY_PATIENT_NAME || k == STORE_KEY_REFERRING_PHYSICIAN;
}

static bool filter_wildcard(struct sql *q, const struct store_filter *f, const char *col,
                            struct err *e)
{
    const char *v = f->value;
    if (!strcmp(v, "*") || !*v)
        return true; /* universal match */
    /* Person names: LIKE, case-insensitive for ASCII (SQLite's default), exact or
     * wildcard. Others with a wildcard: GLOB, case-sensitive like the exact match below
     * (LIKE ignored case here, so "abc*" found AbC123 while "abc123" did not). */
    bool like = key_is_person_name(f->key);
    if (like || strpbrk(v, "*?")) {
        char *pat = wildcard_pattern(v, !like);
        if (!pat)
            return err_set(e, ERR_NOMEM, "out of memory");
        sql_add(q, like ? " AND %s LIKE ? ESCAPE '\\'" : " AND %s GLOB ?", col);
        sql_bind(q, pat, strlen(pat));
        free(pat);
    } else {
        sql_add(q, " AND %s = ?", col);
        sql_bind(q, v, strlen(v));
    }
    return true;
}

static bool filter_range(struct sql *q, const char *col, const char *v)
{
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

static bool filter_sql(struct sql *q, const struct store_filter *f, struct err *e)
{
    if ((unsigned)f->key >= STORE_KEY_COUNT)
        return err_set(e, ERR_INTERNAL, "bad search key");
    const char *col = KEY_COLUMNS[f->key];
    switch (f->match) {
    case STORE_MATCH_LIST:
        return filter_list(q, col, f->value, e);
    case STORE_MATCH_WILDCARD:
        return filter_wildcard(q, f, col, e);
    case STORE_MATCH_RANGE:
        return filter_range(q, col, f->value);
    }
    return err_set(e, ERR_INTERNAL, "bad match kind");
}

/* ---- the statement ---- */

/* The whole statement in q; the WHERE clause of the filters (and its bound
 * values) in wq. */
static bool build_query(struct sql *q, struct sql *wq, enum store_level level,
                        const struct store_filter *filters, size_t n_filters, uint32_t limit,
                        uint32_t offset, struct err *e)
{
    bool ok = true;
    char where[8192];
    sql_add(wq, "1=1");
    for (size_t i = 0; i < n_filters && ok; i++)
        ok = filter_sql(wq, &filters[i], e);
    snprintf(where, sizeof where, "%s", wq->text);
    if (level == STORE_LEVEL_STUDY) {
        sql_add(q, "SELECT %s, group_concat(DISTINCT modality), count(DISTINCT series_uid), count(*)"
                   " FROM instances WHERE study_uid IN (SELECT study_uid FROM instances WHERE %s)"
                   " GROUP BY study_uid ORDER BY min(study_date), study_uid",
                index_select_list(true), where);
    } else if (level == STORE_LEVEL_SERIES) {
        sql_add(q, "SELECT %s, group_concat(DISTINCT modality), 1, count(*)"
                   " FROM instances WHERE series_uid IN (SELECT series_uid FROM instances WHERE %s)"
                   " GROUP BY series_uid ORDER BY min(study_uid), CAST(min(series_number) AS INTEGER), series_uid",
                index_select_list(true), where);
    } else {
        sql_add(q, "SELECT %s, modality, 1, 1 FROM instances WHERE %s"
                   " ORDER BY study_uid, series_uid, CAST(instance_number AS INTEGER), sop_uid",
                index_select_list(false), where);
    }
    sql_add(q, " LIMIT %lld OFFSET %u", limit ? (long long)limit : -1LL, offset);
    if (ok && (q->overflow || wq->overflow))
        ok = err_set(e, ERR_LIMIT, "search too complex");
    return ok;
}

static void read_row(sqlite3_stmt *st, void *row)
{
    struct store_row *r = row;
    int n = (int)INDEX_N_COLUMNS;
    memset(r, 0, sizeof *r);
    index_row_read(st, 0, &r->a);
    index_copy_col(st, n, r->modalities, sizeof r->modalities);
    for (char *c = r->modalities; *c; c++)
        if (*c == ',')
            *c = '\\';
    r->n_series = (uint32_t)sqlite3_column_int64(st, n + 1);
    r->n_instances = (uint32_t)sqlite3_column_int64(st, n + 2);
}

/* Runs the statement under the lock; *rows is malloc'd (caller frees, also on failure). */
static bool run_query(struct store *s, const struct sql *q, const struct sql *wq,
                      struct store_row **rows, size_t *count, struct err *e)
{
    bool ok;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, q->text, -1, &st, NULL) != SQLITE_OK) {
        ok = index_db_err(s, e, "search");
    } else {
        for (size_t i = 0; i < wq->n_binds; i++)
            index_bind_text(st, (int)i + 1, wq->binds[i]);
        ok = index_step_rows(s, st, read_row, rows, sizeof **rows, count, true, "search", e);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return ok;
}

bool store_search(struct store *s, enum store_level level, const struct store_filter *filters,
                  size_t n_filters, uint32_t limit, uint32_t offset, store_row_fn fn, void *arg,
                  struct err *e)
{
    struct sql *q = calloc(1, sizeof *q);
    if (!q)
        return err_set(e, ERR_NOMEM, "out of memory");
    struct sql *wq = calloc(1, sizeof *wq);
    if (!wq) {
        free(q);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    struct store_row *rows = NULL;
    size_t count = 0;
    bool ok = build_query(q, wq, level, filters, n_filters, limit, offset, e) &&
              run_query(s, q, wq, &rows, &count, e);
    for (size_t i = 0; ok && i < count; i++)
        ok = fn(arg, &rows[i], e);
    free(rows);
    sql_free(wq);
    sql_free(q);
    return ok;
}
