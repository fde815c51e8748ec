/* The source series: every image's header read through the bridge, checked to
 * be one series of single-frame images on one grid (size, orientation, pixel
 * spacing), then sorted along the slice normal. */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "writer/bridge.h"
#include "writer/internal.h"

void writer_source_free(struct writer_source *src)
{
    if (!src)
        return;
    for (size_t i = 0; i < src->n; i++) {
        free(src->images[i].sop_uid);
        free(src->images[i].class_uid);
    }
    for (size_t i = 0; i < src->n_attrs; i++)
        free(src->attrs[i].value);
    free(src->images);
    free(src->attrs);
    free(src->study_uid);
    free(src->series_uid);
    free(src->for_uid);
    free(src);
}

static int cmp_image(const void *a, const void *b)
{
    const struct src_image *x = a, *y = b;
    return x->dist < y->dist ? -1 : x->dist > y->dist ? 1 : 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void warnf(writer_warn_fn warn, void *arg, const char *fmt, const char *s1, const char *s2)
{
    if (!warn)
        return;
    char msg[1024];
    snprintf(msg, sizeof msg, fmt, s1, s2);
    warn(arg, msg);
}

static bool add_image(struct writer_source *src, const struct src_file *f, const char *path, struct err *e)
{
    if (!f->has_pixels)
        return err_set(e, ERR_INVALID, "%s: not an image (no Pixel Data; SOP Class %s)", path, f->class_uid);
    if (!strcmp(f->class_uid, "1.2.840.10008.5.1.4.1.1.66.4") || !strcmp(f->class_uid, "1.2.840.10008.5.1.4.1.1.66.7"))
        return err_set(e, ERR_INVALID, "%s: a Segmentation cannot be the source image", path);
    if (f->frames != 1)
        return err_set(e, ERR_UNSUPPORTED, "%s: multi-frame source images are not supported (%u frames)", path,
                       f->frames);
    if (!f->has_ipp || !f->has_iop || !f->has_spacing || !f->rows || !f->cols)
        return err_set(e, ERR_INVALID, "%s: image without plane geometry (Image Position/Orientation (Patient), "
                                       "Pixel Spacing, Rows, Columns)", path);
    if (!f->series_uid[0] || !f->study_uid[0])
        return err_set(e, ERR_INVALID, "%s: no Study / Series Instance UID", path);
    if (!src->n) {
        if (!(src->series_uid = strdup(f->series_uid)) || !(src->study_uid = strdup(f->study_uid)) ||
            !(src->for_uid = strdup(f->for_uid)))
            return err_set(e, ERR_NOMEM, "no memory");
        src->rows = f->rows;
        src->cols = f->cols;
        memcpy(src->iop, f->iop, sizeof src->iop);
        memcpy(src->spacing, f->spacing, sizeof src->spacing);
        src->has_thickness = f->has_thickness;
        src->thickness = f->thickness;
        src->attrs = calloc(f->n_attrs ? f->n_attrs : 1, sizeof *src->attrs);
        if (!src->attrs)
            return err_set(e, ERR_NOMEM, "no memory");
        for (size_t i = 0; i < f->n_attrs; i++) {
            src->attrs[i].tag = f->attr_tags[i];
            if (!(src->attrs[i].value = strdup(f->attr_values[i])))
                return err_set(e, ERR_NOMEM, "no memory");
            src->n_attrs++;
        }
    } else {
        if (strcmp(f->series_uid, src->series_uid))
            return err_set(e, ERR_INVALID, "the source folder holds several series (%s and %s): give one series",
                           src->series_uid, f->series_uid);
        if (strcmp(f->for_uid, src->for_uid))
            return err_set(e, ERR_INVALID, "%s: another Frame of Reference than the first image", path);
        if (f->rows != src->rows || f->cols != src->cols)
            return err_set(e, ERR_INVALID, "%s: %ux%u, the first image is %ux%u", path, f->rows, f->cols, src->rows,
                           src->cols);
        for (int k = 0; k < 6; k++)
            if (fabs(f->iop[k] - src->iop[k]) > 1e-4)
                return err_set(e, ERR_INVALID, "%s: another orientation than the first image", path);
        for (int k = 0; k < 2; k++)
            if (fabs(f->spacing[k] - src->spacing[k]) > 1e-4 * fabs(src->spacing[k]))
                return err_set(e, ERR_INVALID, "%s: another pixel spacing than the first image", path);
    }
    struct src_image *img = &src->images[src->n];
    if (!(img->sop_uid = strdup(f->sop_uid)) || !(img->class_uid = strdup(f->class_uid)))
        return err_set(e, ERR_NOMEM, "no memory");
    memcpy(img->ipp, f->ipp, sizeof img->ipp);
    src->n++;
    return true;
}

static bool finish(struct writer_source *src, struct err *e)
{
    if (!src->n)
        return err_set(e, ERR_INVALID, "no DICOM images in the source");
    const double *r = src->iop, *c = src->iop + 3;
    double *n = src->normal;
    n[0] = r[1] * c[2] - r[2] * c[1];
    n[1] = r[2] * c[0] - r[0] * c[2];
    n[2] = r[0] * c[1] - r[1] * c[0];
    double len = sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
    if (!(len > 0.5) || !(src->spacing[0] > 0) || !(src->spacing[1] > 0))
        return err_set(e, ERR_INVALID, "the source's orientation or pixel spacing is degenerate");
    for (int k = 0; k < 3; k++)
        n[k] /= len;
    for (size_t i = 0; i < src->n; i++) {
        const double *p = src->images[i].ipp;
        src->images[i].dist = p[0] * n[0] + p[1] * n[1] + p[2] * n[2];
    }
    qsort(src->images, src->n, sizeof *src->images, cmp_image);
    src->gap = 0;
    for (size_t i = 1; i < src->n; i++) {
        double g = src->images[i].dist - src->images[i - 1].dist;
        if (g < 1e-3)
            return err_set(e, ERR_INVALID, "source images %s and %s share a position", src->images[i - 1].sop_uid,
                           src->images[i].sop_uid);
        if (src->gap == 0 || g < src->gap)
            src->gap = g;
    }
    for (size_t i = 1; i < src->n; i++)
        if (!strcmp(src->images[i].sop_uid, src->images[i - 1].sop_uid))
            return err_set(e, ERR_INVALID, "SOP Instance UID %s appears twice", src->images[i].sop_uid);
    return true;
}

struct writer_source *writer_source_open_files(const char *const *paths, size_t n, writer_warn_fn warn,
                                               void *warn_arg, struct err *e)
{
    struct writer_source *src = calloc(1, sizeof *src);
    if (!src || !(src->images = calloc(n ? n : 1, sizeof *src->images))) {
        free(src);
        err_set(e, ERR_NOMEM, "no memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        struct src_file f;
        bool not_dicom = false;
        struct err fe = ERR_INIT;
        if (!bridge_source_read(paths[i], &f, &not_dicom, &fe)) {
            if (not_dicom) {
                warnf(warn, warn_arg, "%s: skipped (%s)", paths[i], fe.msg);
                continue;
            }
            *e = fe;
            writer_source_free(src);
            return NULL;
        }
        bool ok = add_image(src, &f, paths[i], e);
        src_file_clear(&f);
        if (!ok) {
            writer_source_free(src);
            return NULL;
        }
    }
    if (!finish(src, e)) {
        writer_source_free(src);
        return NULL;
    }
    return src;
}

struct writer_source *writer_source_open_dir(const char *dir, writer_warn_fn warn, void *warn_arg,
                                             struct err *e)
{
    DIR *d = opendir(dir);
    if (!d) {
        err_set(e, ERR_NOT_FOUND, "%s: cannot open the source folder", dir);
        return NULL;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    bool oom = false;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        size_t len = strlen(dir) + strlen(de->d_name) + 2;
        char *p = malloc(len);
        if (!p) {
            oom = true;
            break;
        }
        snprintf(p, len, "%s/%s", dir, de->d_name);
        struct stat st;
        if (stat(p, &st) != 0 || !S_ISREG(st.st_mode)) {
            warnf(warn, warn_arg, "%s: skipped (%s)", p, "not a regular file");
            free(p);
            continue;
        }
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            char **nn = realloc(names, nc * sizeof *names);
            if (!nn) {
                free(p);
                oom = true;
                break;
            }
            names = nn;
            cap = nc;
        }
        names[n++] = p;
    }
    closedir(d);
    struct writer_source *src = NULL;
    if (oom)
        err_set(e, ERR_NOMEM, "no memory");
    else {
        if (n)
            qsort(names, n, sizeof *names, cmp_str);
        src = writer_source_open_files((const char *const *)names, n, warn, warn_arg, e);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return src;
}

const char *writer_source_series_uid(const struct writer_source *src)
{
    return src->series_uid;
}

const char *writer_source_study_uid(const struct writer_source *src)
{
    return src->study_uid;
}

size_t writer_source_count(const struct writer_source *src)
{
    return src->n;
}

const char *writer_source_instance_uid(const struct writer_source *src, size_t i)
{
    return i < src->n ? src->images[i].sop_uid : NULL;
}
