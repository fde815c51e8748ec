/* A volume file produced piece by piece: the header, then one piece per slice
 * in k order, then the gzip trailer. The uncompressed .nii hands out the slice
 * buffer itself. Files and directories of files are written from the same
 * stream; a directory's files are written in parallel on common/threadpool. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/threadpool.h"
#include "decoder/decoder.h"
#include "volume/internal.h"

struct volume_stream {
    const struct seg_index *idx;
    const struct volume_grid *g;
    struct volume_what w;
    struct slicer sl;
    struct gz gz;
    struct gz_zeros own_zeros;
    const struct gz_zeros *zeros;
    struct buf out;
    int phase; /* 0 header, 1 slices, 2 trailer, 3 done */
    uint32_t k;
};

/* Each format's file name suffix and media type. */
static const struct {
    const char *suffix, *mime;
} FORMATS[] = {
    [VOLUME_NII] = {".nii", "application/octet-stream"},
    [VOLUME_NII_GZ] = {".nii.gz", "application/gzip"},
    [VOLUME_NRRD] = {".nrrd", "application/octet-stream"},
};
#define N_FORMATS (sizeof FORMATS / sizeof *FORMATS)

bool volume_format_from_name(const char *name, enum volume_format *f)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < N_FORMATS; i++) {
        size_t k = strlen(FORMATS[i].suffix);
        if (n > k && !strcmp(name + n - k, FORMATS[i].suffix)) {
            *f = (enum volume_format)i;
            return true;
        }
    }
    return false;
}

const char *volume_format_mime(enum volume_format f)
{
    return (size_t)f < N_FORMATS ? FORMATS[f].mime : "application/octet-stream";
}

const char *volume_format_suffix(enum volume_format f)
{
    return (size_t)f < N_FORMATS ? FORMATS[f].suffix : "";
}

static struct volume_stream *stream_new(const struct seg_index *idx, const struct volume_grid *g,
                                        const struct volume_what *w, const struct gz_zeros *zeros,
                                        struct err *e)
{
    struct volume_stream *s = calloc(1, sizeof *s);
    if (!s) {
        err_set(e, ERR_NOMEM, "out of memory");
        return NULL;
    }
    s->idx = idx;
    s->g = g;
    s->w = *w;
    if (!slicer_init(&s->sl, idx, g, w, e))
        goto fail;
    if (w->format != VOLUME_NII) {
        s->zeros = zeros;
        if (!zeros) {
            uint64_t row = (uint64_t)g->ni * s->sl.bpv;
            if (!gz_zeros_init(&s->own_zeros, row, row * g->nj, e))
                goto fail;
            s->zeros = &s->own_zeros;
        }
    }
    return s;
fail:
    volume_stream_free(s);
    return NULL;
}

struct volume_stream *volume_stream_new(const struct seg_index *idx, const struct volume_grid *g,
                                        const struct volume_what *w, struct err *e)
{
    return stream_new(idx, g, w, NULL, e);
}

void volume_stream_free(struct volume_stream *s)
{
    if (!s)
        return;
    slicer_free(&s->sl);
    gz_end(&s->gz);
    gz_zeros_free(&s->own_zeros);
    buf_free(&s->out);
    free(s);
}

uint64_t volume_stream_overlap_voxels(const struct volume_stream *s)
{
    return s->sl.overlap;
}

static double value_scale(const struct volume_stream *s)
{
    if (s->idx->type == SEG_TYPE_FRACTIONAL && !s->w.binary && !s->w.labelmap)
        return 1.0 / (s->idx->max_fractional_value ? s->idx->max_fractional_value : 255);
    return 0;
}

static bool header(struct volume_stream *s, struct err *e)
{
    double scale = value_scale(s);
    if (s->w.format == VOLUME_NRRD) {
        if (!format_nrrd_header(s->g, s->sl.bpv, scale, &s->out, e))
            return false;
        return gz_begin(&s->gz, s->zeros, &s->out, e);
    }
    uint8_t h[NIFTI_HEADER_BYTES];
    format_nifti_header(s->g, s->sl.bpv, scale > 0 ? scale : 1.0, h);
    if (s->w.format == VOLUME_NII)
        return buf_append(&s->out, h, sizeof h, e);
    return gz_begin(&s->gz, s->zeros, &s->out, e) && gz_data(&s->gz, h, sizeof h, e);
}

bool volume_stream_next(struct volume_stream *s, const uint8_t **data, size_t *len, struct err *e)
{
    s->out.len = 0;
    *data = NULL;
    *len = 0;
    const struct volume_grid *g = s->g;
    size_t row = (size_t)g->ni * s->sl.bpv, slice = row * g->nj;
    while (s->out.len == 0 && s->phase < 3) {
        if (s->phase == 0) {
            if (!header(s, e))
                return false;
            s->phase = g->nk ? 1 : 2;
            continue;
        }
        if (s->phase == 2) {
            if (s->w.format != VOLUME_NII && !gz_finish(&s->gz, e))
                return false;
            s->phase = 3;
            continue;
        }
        if (!slicer_fill(&s->sl, s->k, e))
            return false;
        if (++s->k == g->nk)
            s->phase = 2;
        if (s->w.format == VOLUME_NII) {
            *data = s->sl.buf;
            *len = slice;
            return true;
        }
        uint32_t r0 = s->sl.r0, r1 = s->sl.r1;
        if (r0 >= r1) {
            if (!gz_zero(&s->gz, slice, e))
                return false;
        } else if (!gz_zero(&s->gz, (uint64_t)r0 * row, e) ||
                   !gz_data(&s->gz, s->sl.buf + (size_t)r0 * row, (size_t)(r1 - r0) * row, e) ||
                   !gz_zero(&s->gz, (uint64_t)(g->nj - r1) * row, e)) {
            return false;
        }
    }
    *data = s->out.data;
    *len = s->out.len;
    return true;
}

bool volume_stream_each(struct volume_stream *s,
                        bool (*put)(void *arg, const uint8_t *data, size_t len, struct err *e), void *arg,
                        struct err *e)
{
    for (;;) {
        const uint8_t *d;
        size_t n;
        if (!volume_stream_next(s, &d, &n, e))
            return false;
        if (!n)
            return true;
        if (!put(arg, d, n, e))
            return false;
    }
}

static bool put_buf(void *arg, const uint8_t *data, size_t len, struct err *e)
{
    return buf_append(arg, data, len, e);
}

bool volume_stream_read_all(struct volume_stream *s, struct buf *out, struct err *e)
{
    return volume_stream_each(s, put_buf, out, e);
}

struct file_sink {
    FILE *f;
    const char *path; /* for messages */
};

static bool put_file(void *arg, const uint8_t *data, size_t len, struct err *e)
{
    struct file_sink *fs = arg;
    if (fwrite(data, 1, len, fs->f) != len)
        return err_set(e, errno == ENOSPC ? ERR_NO_SPACE : ERR_IO, "cannot write %s: %s", fs->path,
                       strerror(errno));
    return true;
}

static bool write_file(const struct seg_index *idx, const struct volume_grid *g,
                       const struct volume_what *w, const char *path, const struct gz_zeros *zeros,
                       uint64_t *overlap, struct err *e)
{
    struct volume_stream *s = stream_new(idx, g, w, zeros, e);
    if (!s)
        return false;
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 32);
    FILE *f = NULL;
    bool ok = false;
    if (!tmp) {
        err_set(e, ERR_NOMEM, "out of memory");
        goto out;
    }
    snprintf(tmp, pl + 32, "%s.tmp%ld", path, (long)getpid());
    f = fopen(tmp, "wb");
    if (!f) {
        err_set(e, ERR_IO, "cannot create %s: %s", path, strerror(errno));
        goto out;
    }
    struct file_sink sink = {f, path};
    if (!volume_stream_each(s, put_file, &sink, e))
        goto out;
    int rc = fclose(f);
    f = NULL;
    if (rc != 0) {
        err_set(e, ERR_IO, "cannot write %s: %s", path, strerror(errno));
        goto out;
    }
    if (rename(tmp, path) != 0) {
        err_set(e, ERR_IO, "cannot rename to %s: %s", path, strerror(errno));
        goto out;
    }
    if (overlap)
        *overlap = s->sl.overlap;
    ok = true;
out:
    if (f)
        fclose(f);
    if (!ok && tmp)
        unlink(tmp);
    free(tmp);
    volume_stream_free(s);
    return ok;
}

bool volume_write_file(const struct seg_index *idx, const struct volume_grid *g,
                       const struct volume_what *w, const char *path, uint64_t *overlap_voxels,
                       struct err *e)
{
    return write_file(idx, g, w, path, NULL, overlap_voxels, e);
}

/* BINARY: per slice, the union of each segment's frames, then covered / overlap
 * bit sets a 64-bit word at a time (a frame's pixel p is bit p in every frame). */
static bool binary_overlap(const struct seg_index *idx, const struct volume_grid *g,
                           uint64_t *overlap_voxels, struct err *e)
{
    size_t npix = (size_t)g->ni * g->nj, nw = (npix + 63) / 64;
    uint64_t *cov = calloc(nw, 8), *seg = calloc(nw, 8), *over = calloc(nw, 8);
    bool ok = cov && seg && over;
    if (!ok)
        err_set(e, ERR_NOMEM, "out of memory");
    uint64_t total = 0;
    for (uint32_t k = 0; ok && k < g->nk; k++) {
        uint32_t a = g->slice_start[k], b = g->slice_start[k + 1];
        if (b - a < 2)
            continue;
        memset(cov, 0, nw * 8);
        memset(over, 0, nw * 8);
        memset(seg, 0, nw * 8);
        int32_t cur = INT32_MIN;
        for (uint32_t i = a; ok && i <= b; i++) {
            int32_t num = i < b ? idx->frames[g->slice_frames[i] - 1].segment_number : INT32_MAX;
            if (i < b && !decoder_seg_segment(idx, num))
                continue;
            if (num != cur) { /* fold the previous segment's union in */
                for (size_t w = 0; w < nw; w++) {
                    over[w] |= cov[w] & seg[w];
                    cov[w] |= seg[w];
                }
                memset(seg, 0, nw * 8);
                cur = num;
            }
            if (i == b)
                break;
            struct seg_pixels px;
            if (!decoder_frame_read(idx, g->slice_frames[i], &px, e)) {
                err_prefix(e, "frame %u", g->slice_frames[i]);
                ok = false;
                break;
            }
            size_t nb = px.len < nw * 8 ? px.len : nw * 8;
            for (size_t w = 0; w < nb / 8; w++) {
                uint64_t x;
                memcpy(&x, px.data + 8 * w, 8);
                seg[w] |= x;
            }
            for (size_t j = nb / 8 * 8; j < nb; j++)
                seg[j / 8] |= (uint64_t)px.data[j] << (8 * (j % 8));
            decoder_pixels_free(&px);
        }
        if (npix % 64)
            over[nw - 1] &= (1ull << (npix % 64)) - 1;
        for (size_t w = 0; ok && w < nw; w++)
            total += (uint64_t)__builtin_popcountll(over[w]);
    }
    free(cov);
    free(seg);
    free(over);
    *overlap_voxels = total;
    return ok;
}

bool volume_labelmap_overlap(const struct seg_index *idx, const struct volume_grid *g,
                             uint64_t *overlap_voxels, struct err *e)
{
    if (idx->type == SEG_TYPE_BINARY && idx->bits_allocated == 1)
        return binary_overlap(idx, g, overlap_voxels, e);
    struct volume_what w = {.labelmap = true, .format = VOLUME_NII};
    struct slicer s;
    bool ok = slicer_init(&s, idx, g, &w, e);
    for (uint32_t k = 0; ok && k < g->nk; k++)
        ok = slicer_fill(&s, k, e);
    *overlap_voxels = s.overlap;
    slicer_free(&s);
    return ok;
}

struct dir_job {
    const struct seg_index *idx;
    const struct volume_grid *g;
    struct volume_what w;
    const struct gz_zeros *zeros;
    char *path;
    uint64_t overlap;
    bool ok;
    struct err e;
};

static void dir_job_run(void *arg)
{
    struct dir_job *j = arg;
    j->ok = write_file(j->idx, j->g, &j->w, j->path, j->zeros, &j->overlap, &j->e);
}

bool volume_write_dir(const struct seg_index *idx, const struct volume_grid *g, const char *dir,
                      enum volume_format format, bool binary, unsigned threads,
                      uint64_t *overlap_voxels, struct err *e)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return err_set(e, ERR_IO, "cannot create %s: %s", dir, strerror(errno));
    /* The labelmap, then every segment (not a Label Map object's background 0). */
    size_t nj = 1;
    for (size_t i = 0; i < idx->n_segments; i++)
        nj += idx->segments[i].number != 0;
    struct dir_job *jobs = calloc(nj, sizeof *jobs);
    struct gz_zeros zeros[2];
    memset(zeros, 0, sizeof zeros);
    struct threadpool *tp = NULL;
    struct buf meta = {0};
    bool ok = false;
    if (!jobs) {
        err_set(e, ERR_NOMEM, "out of memory");
        goto out;
    }
    if (format != VOLUME_NII) {
        for (int b = 0; b < 2; b++) {
            uint64_t row = (uint64_t)g->ni * (b + 1);
            if (!gz_zeros_init(&zeros[b], row, row * g->nj, e))
                goto out;
        }
    }
    const char *suffix = volume_format_suffix(format);
    size_t next_seg = 0;
    for (size_t i = 0; i < nj; i++) {
        struct dir_job *j = &jobs[i];
        j->idx = idx;
        j->g = g;
        j->e = (struct err)ERR_INIT;
        /* The labelmap first: it reads every frame, the longest job. */
        j->w.labelmap = i == 0;
        if (i) {
            while (idx->segments[next_seg].number == 0)
                next_seg++;
            j->w.segment = idx->segments[next_seg++].number;
        }
        j->w.binary = binary && i;
        j->w.format = format;
        j->zeros = format != VOLUME_NII ? &zeros[slicer_bytes_per_voxel(idx, &j->w) - 1] : NULL;
        size_t pl = strlen(dir) + 32;
        j->path = malloc(pl);
        if (!j->path) {
            err_set(e, ERR_NOMEM, "out of memory");
            goto out;
        }
        if (i == 0)
            snprintf(j->path, pl, "%s/labelmap%s", dir, suffix);
        else
            snprintf(j->path, pl, "%s/%d%s", dir, (int)j->w.segment, suffix);
    }
    tp = threadpool_new(threads ? threads : 1, (unsigned)nj + 1, e);
    if (!tp)
        goto out;
    for (size_t i = 0; i < nj; i++)
        if (!threadpool_submit(tp, dir_job_run, &jobs[i]))
            dir_job_run(&jobs[i]);
    /* meta.json meanwhile, on this thread. */
    size_t mlen = strlen(dir) + 16;
    char *mpath = malloc(mlen);
    bool meta_ok = mpath && volume_meta_json(idx, &meta, e);
    if (meta_ok) {
        snprintf(mpath, mlen, "%s/meta.json", dir);
        FILE *f = fopen(mpath, "wb");
        meta_ok = f && fwrite(meta.data, 1, meta.len, f) == meta.len;
        if (f && fclose(f) != 0)
            meta_ok = false;
        if (!meta_ok)
            err_set(e, ERR_IO, "cannot write %s: %s", mpath, strerror(errno));
    } else if (!mpath) {
        err_set(e, ERR_NOMEM, "out of memory");
    }
    free(mpath);
    threadpool_free(tp);
    tp = NULL;
    if (!meta_ok)
        goto out;
    for (size_t i = 0; i < nj; i++) {
        if (!jobs[i].ok) {
            *e = jobs[i].e;
            goto out;
        }
    }
    if (overlap_voxels)
        *overlap_voxels = jobs[0].overlap;
    ok = true;
out:
    threadpool_free(tp);
    if (jobs)
        for (size_t i = 0; i < nj; i++)
            free(jobs[i].path);
    free(jobs);
    gz_zeros_free(&zeros[0]);
    gz_zeros_free(&zeros[1]);
    buf_free(&meta);
    return ok;
}
