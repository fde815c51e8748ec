/* store/: the instance store in a temporary directory: put (stored, identical,
 * conflict, overwrite, bad UIDs, a file without a row), path, each, search at
 * the three levels, delete, and the rebuild of the index from the files.
 *
 * The "objects" are small text files "study series sop modality name date
 * number": the store never parses DICOM, and attrs() below is what the
 * decoder is to the real server at rebuild time. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"
#include "tests/unit/check.h"

#define STUDY "1.2.3"
#define SERIES_A "1.2.3.1"
#define SERIES_B "1.2.3.2"
#define STUDY2 "1.2.4"

static bool attrs(void *arg, const char *path, struct store_attrs *a, struct err *e)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return err_set(e, ERR_IO, "open %s", path);
    memset(a, 0, sizeof *a);
    int n = fscanf(f, "%64s %64s %64s %31s %255s %15s %31s", a->study_uid, a->series_uid, a->sop_uid,
                   a->modality, a->patient_name, a->study_date, a->instance_number);
    fclose(f);
    return n == 7 ? true : err_set(e, ERR_INVALID, "not an object: %s", path);
}

static void describe(struct store_attrs *a, const char *study, const char *series, const char *sop,
                     const char *modality, const char *name, const char *date, const char *number)
{
    memset(a, 0, sizeof *a);
    snprintf(a->study_uid, sizeof a->study_uid, "%s", study);
    snprintf(a->series_uid, sizeof a->series_uid, "%s", series);
    snprintf(a->sop_uid, sizeof a->sop_uid, "%s", sop);
    snprintf(a->modality, sizeof a->modality, "%s", modality);
    snprintf(a->patient_name, sizeof a->patient_name, "%s", name);
    snprintf(a->study_date, sizeof a->study_date, "%s", date);
    snprintf(a->instance_number, sizeof a->instance_number, "%s", number);
    snprintf(a->series_number, sizeof a->series_number, "%s", !strcmp(series, SERIES_B) ? "2" : "1");
    a->rows = 4;
    a->columns = 5;
    a->frames = 6;
}

/* Writes the object a (plus `extra`, to make other bytes) through a temp file and puts it. */
static enum store_put_result put(struct store *s, const struct store_attrs *a, const char *extra,
                                 struct err *e)
{
    char tmp[PATH_MAX];
    int fd;
    enum store_put_result r = (enum store_put_result)-1;
    if (!store_tmp_create(s, tmp, sizeof tmp, &fd, e))
        return r;
    dprintf(fd, "%s %s %s %s %s %s %s %s\n", a->study_uid, a->series_uid, a->sop_uid, a->modality,
            a->patient_name, a->study_date, a->instance_number, extra);
    close(fd);
    if (!store_instance_put(s, tmp, a, &r, e))
        return (enum store_put_result)-1;
    CHECK(access(tmp, F_OK) != 0, "the temp file %s is consumed", tmp);
    return r;
}

static size_t entries(const char *dir)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)))
        n += de->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

static uint64_t count(struct store *s)
{
    struct err e = ERR_INIT;
    uint64_t n = 0;
    CHECK(store_count(s, &n, &e), "count: %s", e.msg);
    return n;
}

/* ---- each ---- */

struct walk {
    char sops[8][STORE_UID_MAX + 1];
    size_t n;
};

static bool walk_fn(void *arg, const struct store_attrs *a, const char *path, struct err *e)
{
    struct walk *w = arg;
    CHECK(access(path, R_OK) == 0, "each: %s exists", path);
    if (w->n < 8)
        snprintf(w->sops[w->n++], sizeof w->sops[0], "%s", a->sop_uid);
    return true;
}

/* ---- search ---- */

struct hits {
    struct store_row rows[8];
    size_t n;
};

static bool hit_fn(void *arg, const struct store_row *row, struct err *e)
{
    struct hits *h = arg;
    if (h->n < 8)
        h->rows[h->n++] = *row;
    return true;
}

static size_t search(struct store *s, enum store_level level, enum store_key key,
                     enum store_match match, const char *value, uint32_t limit, uint32_t offset,
                     struct hits *h)
{
    struct err e = ERR_INIT;
    struct store_filter f = {key, match, value};
    memset(h, 0, sizeof *h);
    CHECK(store_search(s, level, value ? &f : NULL, value ? 1 : 0, limit, offset, hit_fn, h, &e),
          "search %s: %s", value ? value : "(all)", e.msg);
    return h->n;
}

static void test_uids(void)
{
    static const struct {
        const char *uid;
        bool valid;
    } cases[] = {
        {"1.2.3", true},  {"1", true},      {"", false},    {".1", false},  {"1.", false},
        {"1..2", false},  {"1.a", false},   {"1.2/3", false}, {"../1", false},
        {"1.23456789012345678901234567890123456789012345678901234567890123", true},  /* 64 */
        {"1.234567890123456789012345678901234567890123456789012345678901234", false}, /* 65 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK(store_uid_valid(cases[i].uid) == cases[i].valid, "uid '%s'", cases[i].uid);
}

static void test_put_and_read(struct store *s, const char *dir)
{
    struct err e = ERR_INIT;
    struct store_attrs a;
    describe(&a, STUDY, SERIES_A, "1.2.3.1.2", "SEG", "Doe^Jane", "20240115", "2");
    CHECK(put(s, &a, "", &e) == STORE_PUT_STORED, "put: %s", e.msg);
    describe(&a, STUDY, SERIES_A, "1.2.3.1.1", "SEG", "Doe^Jane", "20240115", "1");
    CHECK(put(s, &a, "", &e) == STORE_PUT_STORED, "put: %s", e.msg);
    describe(&a, STUDY, SERIES_B, "1.2.3.2.1", "CT", "Doe^Jane", "20240115", "1");
    CHECK(put(s, &a, "", &e) == STORE_PUT_STORED, "put: %s", e.msg);
    describe(&a, STUDY2, "1.2.4.1", "1.2.4.1.1", "SEG", "Roe^Richard", "20231201", "1");
    CHECK(put(s, &a, "", &e) == STORE_PUT_STORED, "put: %s", e.msg);
    CHECK(count(s) == 4, "4 rows");

    CHECK(put(s, &a, "", &e) == STORE_PUT_IDENTICAL, "same bytes again: identical (%s)", e.msg);
    CHECK(put(s, &a, "other", &e) == STORE_PUT_CONFLICT, "other bytes: conflict (%s)", e.msg);
    describe(&a, STUDY, SERIES_A, "1.2.x", "SEG", "Doe^Jane", "20240115", "1");
    CHECK(put(s, &a, "", &e) == (enum store_put_result)-1 && e.code == ERR_INVALID, "bad UID refused");
    e = (struct err)ERR_INIT;
    CHECK(count(s) == 4, "still 4 rows");
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s/tmp", dir);
    CHECK(entries(tmp) == 0, "tmp/ is empty after every put");

    char path[PATH_MAX], want[PATH_MAX];
    CHECK(store_instance_path(s, STUDY, SERIES_A, "1.2.3.1.1", path, sizeof path, &e), "path: %s", e.msg);
    snprintf(want, sizeof want, "%s/instances/" STUDY "/" SERIES_A "/1.2.3.1.1.dcm", dir);
    CHECK(!strcmp(path, want), "path %s, want %s", path, want);
    CHECK(!store_instance_path(s, STUDY, SERIES_B, "1.2.3.1.1", path, sizeof path, &e) &&
              e.code == ERR_NOT_FOUND, "path under the wrong series: not found");
    e = (struct err)ERR_INIT;
    CHECK(!store_instance_path(s, STUDY, SERIES_A, "../x", path, sizeof path, &e) &&
              e.code == ERR_NOT_FOUND, "path of a bad UID: not found");
    e = (struct err)ERR_INIT;

    struct walk w = {0};
    size_t n = 0;
    CHECK(store_instances_each(s, STUDY, NULL, NULL, walk_fn, &w, &n, &e) && n == 3, "each study: %zu (%s)",
          n, e.msg);
    CHECK(w.n == 3 && !strcmp(w.sops[0], "1.2.3.1.1") && !strcmp(w.sops[1], "1.2.3.1.2") &&
              !strcmp(w.sops[2], "1.2.3.2.1"), "each: by series number, then instance number");
    CHECK(store_instances_each(s, STUDY, SERIES_B, NULL, walk_fn, &w, &n, &e) && n == 1, "each series");
    CHECK(!store_instances_each(s, "9.9", NULL, NULL, walk_fn, &w, &n, &e) && e.code == ERR_NOT_FOUND,
          "each of an unknown study: not found");
}

static void test_search(struct store *s)
{
    struct hits h;
    CHECK(search(s, STORE_LEVEL_STUDY, 0, 0, NULL, 0, 0, &h) == 2, "two studies");
    CHECK(!strcmp(h.rows[0].a.study_uid, STUDY2), "studies ordered by date");
    CHECK(h.rows[1].n_series == 2 && h.rows[1].n_instances == 3 &&
              !strcmp(h.rows[1].modalities, "SEG\\CT") + !strcmp(h.rows[1].modalities, "CT\\SEG") == 1,
          "study aggregates: %u series, %u instances, '%s'", h.rows[1].n_series, h.rows[1].n_instances,
          h.rows[1].modalities);
    CHECK(search(s, STORE_LEVEL_STUDY, STORE_KEY_PATIENT_NAME, STORE_MATCH_WILDCARD, "doe*", 0, 0, &h) == 1 &&
              !strcmp(h.rows[0].a.study_uid, STUDY), "name wildcard, case-insensitive");
    CHECK(search(s, STORE_LEVEL_STUDY, STORE_KEY_STUDY_DATE, STORE_MATCH_RANGE, "20240101-", 0, 0, &h) == 1,
          "open date range");
    CHECK(search(s, STORE_LEVEL_STUDY, STORE_KEY_STUDY_DATE, STORE_MATCH_RANGE, "-20240115", 0, 0, &h) == 2,
          "the upper bound is inclusive");
    CHECK(search(s, STORE_LEVEL_SERIES, STORE_KEY_MODALITY, STORE_MATCH_WILDCARD, "SEG", 0, 0, &h) == 2,
          "series with a SEG");
    CHECK(search(s, STORE_LEVEL_SERIES, STORE_KEY_SERIES_UID, STORE_MATCH_LIST, SERIES_A "\\" SERIES_B, 0, 0,
                 &h) == 2 && h.rows[0].n_instances == 2, "series UID list");
    CHECK(search(s, STORE_LEVEL_INSTANCE, STORE_KEY_STUDY_UID, STORE_MATCH_LIST, STUDY, 0, 0, &h) == 3,
          "instances of a study");
    CHECK(search(s, STORE_LEVEL_INSTANCE, STORE_KEY_STUDY_UID, STORE_MATCH_LIST, STUDY, 1, 1, &h) == 1 &&
              !strcmp(h.rows[0].a.sop_uid, "1.2.3.1.2") && h.rows[0].a.rows == 4 && h.rows[0].a.frames == 6,
          "limit and offset");
    CHECK(search(s, STORE_LEVEL_INSTANCE, STORE_KEY_SOP_UID, STORE_MATCH_WILDCARD, "1.2.3.1.?", 0, 0, &h) == 2,
          "'?' matches one character");
    CHECK(search(s, STORE_LEVEL_INSTANCE, STORE_KEY_PATIENT_ID, STORE_MATCH_WILDCARD, "%", 0, 0, &h) == 0,
          "'%%' is no SQL wildcard");

    struct err e = ERR_INIT;
    char many[4096] = "";
    for (int i = 0; i < 300; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "%d,", i);
    struct store_filter f = {STORE_KEY_SOP_UID, STORE_MATCH_LIST, many};
    CHECK(!store_search(s, STORE_LEVEL_INSTANCE, &f, 1, 0, 0, hit_fn, &h, &e) && e.code == ERR_PARSE,
          "a list of 300 values is refused");
}

static void test_overwrite_and_repair(const char *dir)
{
    struct err e = ERR_INIT;
    struct store *s = store_open(dir, true, attrs, NULL, NULL, &e);
    CHECK(s != NULL, "reopen with overwrite: %s", e.msg);
    if (!s)
        return;
    struct store_attrs a;
    describe(&a, STUDY, SERIES_B, "1.2.3.1.2", "SEG", "Doe^Jane", "20240115", "2");
    CHECK(put(s, &a, "moved", &e) == STORE_PUT_STORED, "overwrite under another series: %s", e.msg);
    char old[PATH_MAX];
    snprintf(old, sizeof old, "%s/instances/" STUDY "/" SERIES_A "/1.2.3.1.2.dcm", dir);
    CHECK(access(old, F_OK) != 0, "the old file is gone");
    CHECK(count(s) == 4, "still 4 rows");

    /* A file without a row (a crash between rename and insert): an identical put repairs the row. */
    size_t n = 0;
    CHECK(store_delete(s, STUDY, SERIES_B, "1.2.3.1.2", &n, &e) && n == 1, "delete: %s", e.msg);
    describe(&a, STUDY, SERIES_A, "1.2.3.1.9", "SEG", "Doe^Jane", "20240115", "9");
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/instances/" STUDY "/" SERIES_A "/1.2.3.1.9.dcm", dir);
    FILE *f = fopen(path, "w");
    if (f) {
        fprintf(f, "%s %s %s %s %s %s %s %s\n", a.study_uid, a.series_uid, a.sop_uid, a.modality,
                a.patient_name, a.study_date, a.instance_number, "");
        fclose(f);
    }
    CHECK(count(s) == 3, "3 rows, 4 files");
    CHECK(put(s, &a, "", &e) == STORE_PUT_IDENTICAL, "identical to the file without a row: %s", e.msg);
    CHECK(count(s) == 4, "the row is back");
    store_close(s);
}

static void test_reindex(const char *dir)
{
    struct err e = ERR_INIT;
    bool rebuilt = false;
    /* A stray file the store did not write: the row count differs, so open rebuilds. */
    char stray[PATH_MAX];
    snprintf(stray, sizeof stray, "%s/instances/" STUDY "/" SERIES_A "/1.2.3.1.7.dcm", dir);
    FILE *f = fopen(stray, "w");
    if (f) {
        fputs("9.9 9.9 9.9 SEG X 20200101 1\n", f); /* names another instance: skipped */
        fclose(f);
    }
    struct store *s = store_open(dir, false, attrs, NULL, &rebuilt, &e);
    CHECK(s && rebuilt, "a file count that differs rebuilds (%s)", e.msg);
    if (!s)
        return;
    CHECK(count(s) == 4, "the stray file is left out");
    size_t indexed = 0, skipped = 0;
    CHECK(store_reindex(s, &indexed, &skipped, &e) && indexed == 4 && skipped == 1,
          "reindex: %zu indexed, %zu skipped (%s)", indexed, skipped, e.msg);
    store_close(s);

    char db[PATH_MAX];
    snprintf(db, sizeof db, "%s/index.sqlite", dir);
    f = fopen(db, "w");
    if (f) {
        fputs("not a database", f);
        fclose(f);
    }
    s = store_open(dir, false, attrs, NULL, &rebuilt, &e);
    CHECK(s && rebuilt && count(s) == 4, "a corrupt index is rebuilt from the files (%s)", e.msg);
    if (!s)
        return;

    size_t n = 0;
    CHECK(store_delete(s, STUDY, SERIES_A, NULL, &n, &e) && n == 2, "delete a series: %zu (%s)", n, e.msg);
    char series_dir[PATH_MAX];
    snprintf(series_dir, sizeof series_dir, "%s/instances/" STUDY "/" SERIES_A, dir);
    CHECK(access(series_dir, F_OK) == 0, "the series directory stays while the stray file is in it");
    CHECK(store_delete(s, STUDY2, NULL, NULL, &n, &e) && n == 1, "delete a study (%s)", e.msg);
    snprintf(series_dir, sizeof series_dir, "%s/instances/" STUDY2, dir);
    CHECK(access(series_dir, F_OK) != 0, "the emptied study directory is removed");
    CHECK(!store_delete(s, STUDY2, NULL, NULL, &n, &e) && e.code == ERR_NOT_FOUND && n == 0,
          "deleting it again: not found");
    e = (struct err)ERR_INIT;
    CHECK(!store_delete(s, "1.x", NULL, NULL, &n, &e) && e.code == ERR_NOT_FOUND, "bad UID: not found");
    e = (struct err)ERR_INIT;
    store_close(s);

    unlink(stray);
    s = store_open(dir, false, attrs, NULL, &rebuilt, &e);
    CHECK(s && !rebuilt, "an index in step with the files is kept (%s)", e.msg);
    if (!s)
        return;
    CHECK(count(s) == 1, "one instance left");
    store_close(s);
}

int main(void)
{
    char dir[64];
    check_tmpdir("store", dir, sizeof dir);
    test_uids();
    struct err e = ERR_INIT;
    bool rebuilt = false;
    struct store *s = store_open(dir, false, attrs, NULL, &rebuilt, &e);
    CHECK(s && rebuilt, "a new store starts with a fresh index (%s)", e.msg);
    if (s) {
        CHECK(count(s) == 0, "empty");
        test_put_and_read(s, dir);
        test_search(s);
        store_close(s);
        test_overwrite_and_repair(dir);
        test_reindex(dir);
    }
    check_rmtree(dir);
    return check_done();
}
