/* A SEG's frames grouped into slices, each with its source image (api/slices.h). */
#include "api/slices.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "common/file_cache.h"
#include "api/ctx.h"
#include "api/uid_locate.h"
#include "render/render.h"

struct slice {
    double key;
    bool has_pos;
    uint32_t first; /* index into order[] */
    uint32_t count;
};

struct plan {
    uint32_t *order; /* frame indexes (0-based), grouped by slice */
    struct slice *slices;
    size_t n;
    double normal[3];
    bool slide;
};

struct keyed {
    double key;
    uint32_t frame;
    uint32_t ref; /* first ref index or UINT32_MAX */
};

static int by_key(const void *a, const void *b)
{
    const struct keyed *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->frame < y->frame ? -1 : x->frame > y->frame;
}

static void normal_of(const struct seg_index *idx, double n[3])
{
    n[0] = 0, n[1] = 0, n[2] = 1;
    if (!idx->has_orientation)
        return;
    const double *o = idx->orientation;
    n[0] = o[1] * o[5] - o[2] * o[4];
    n[1] = o[2] * o[3] - o[0] * o[5];
    n[2] = o[0] * o[4] - o[1] * o[3];
}

static const struct seg_source_ref *first_ref(const struct seg_index *idx, uint32_t f)
{
    const struct seg_frame *fr = &idx->frames[f];
    return fr->refs_count && fr->refs_first < idx->n_refs ? &idx->refs[fr->refs_first] : NULL;
}

static bool same_ref(const struct seg_source_ref *a, const struct seg_source_ref *b)
{
    if (!a || !b)
        return a == b;
    return !strcmp(a->sop_instance_uid, b->sop_instance_uid) && a->frame == b->frame;
}

static bool plan_build(const struct seg_index *idx, struct plan *p)
{
    memset(p, 0, sizeof *p);
    uint32_t nf = idx->number_of_frames;
    normal_of(idx, p->normal);
    p->slide = nf && idx->frames[0].position_kind == SEG_POS_SLIDE;
    struct keyed *k = calloc(nf ? nf : 1, sizeof *k);
    p->order = calloc(nf ? nf : 1, sizeof *p->order);
    p->slices = calloc(nf ? nf : 1, sizeof *p->slices);
    if (!k || !p->order || !p->slices) {
        free(k);
        return false;
    }
    bool pos = nf && idx->frames[0].position_kind == SEG_POS_PATIENT;
    for (uint32_t f = 0; f < nf; f++) {
        k[f].frame = f;
        if (pos && idx->frames[f].position_kind == SEG_POS_PATIENT) {
            const double *x = idx->frames[f].position;
            k[f].key = x[0] * p->normal[0] + x[1] * p->normal[1] + x[2] * p->normal[2];
        } else {
            k[f].key = 0;
        }
    }
    if (pos)
        qsort(k, nf, sizeof *k, by_key);
    for (uint32_t i = 0; i < nf; i++) {
        uint32_t f = k[i].frame;
        p->order[i] = f;
        bool new_slice;
        if (!p->n)
            new_slice = true;
        else if (p->slide)
            new_slice = false;
        else if (pos)
            new_slice = fabs(k[i].key - p->slices[p->n - 1].key) > 1e-3;
        else /* no positions: by source reference, in frame order */
            new_slice = !same_ref(first_ref(idx, f), first_ref(idx, p->order[p->slices[p->n - 1].first]));
        if (new_slice && !pos && !p->slide && p->n) {
            /* a later frame on an earlier source joins that slice: keep it simple and
               start a new slice only for a source not seen yet */
            for (size_t s = 0; s < p->n; s++)
                if (same_ref(first_ref(idx, f), first_ref(idx, p->order[p->slices[s].first]))) {
                    new_slice = false;
                    break;
                }
        }
        if (new_slice) {
            p->slices[p->n].key = k[i].key;
            p->slices[p->n].has_pos = pos;
            p->slices[p->n].first = i;
            p->slices[p->n].count = 0;
            p->n++;
        }
        p->slices[p->n - 1].count++;
    }
    free(k);
    return true;
}

static void plan_free(struct plan *p)
{
    free(p->order);
    free(p->slices);
}

struct source_pick {
    bool referenced, found;
    const struct seg_source_ref *ref;
    struct api_located loc;
    struct render_source_info info;
    char message[200];
};

/* The source of slice s: the one reference of its frames, or among several the
 * one lying on the slice. */
static void pick_source(struct api_ctx *ctx, const struct seg_index *idx, const struct plan *p,
                        const struct slice *s, struct source_pick *out)
{
    memset(out, 0, sizeof *out);
    const struct seg_source_ref *cands[16];
    size_t nc = 0;
    for (uint32_t i = 0; i < s->count; i++) {
        const struct seg_frame *fr = &idx->frames[p->order[s->first + i]];
        for (uint32_t r = 0; r < fr->refs_count && nc < 16; r++) {
            const struct seg_source_ref *ref = &idx->refs[fr->refs_first + r];
            bool dup = false;
            for (size_t c = 0; c < nc && !dup; c++)
                dup = same_ref(cands[c], ref);
            if (!dup && ref->sop_instance_uid[0])
                cands[nc++] = ref;
        }
    }
    if (!nc) {
        snprintf(out->message, sizeof out->message, "the frames of this slice name no source image");
        return;
    }
    out->referenced = true;
    out->ref = cands[0];
    for (size_t c = 0; c < nc; c++) {
        struct api_located loc;
        struct render_source_info info;
        struct err e = ERR_INIT;
        if (!ctx || !api_uid_locate(ctx, cands[c]->sop_instance_uid, &loc, &e) ||
            !render_source_probe(loc.path, &info, &e)) {
            if (!out->message[0])
                snprintf(out->message, sizeof out->message, "%.190s", e.msg);
            continue;
        }
        bool on_slice = true;
        if (nc > 1 && s->has_pos && info.has_position) {
            const double *x = info.position;
            double key = x[0] * p->normal[0] + x[1] * p->normal[1] + x[2] * p->normal[2];
            on_slice = fabs(key - s->key) < 0.01;
        }
        if (!out->found || on_slice) {
            out->found = true;
            out->ref = cands[c];
            out->loc = loc;
            out->info = info;
            out->message[0] = 0;
        }
        if (on_slice)
            break;
    }
}

static json_t *num_or_null(bool has, double v)
{
    return has ? json_real(v) : json_null();
}

/* What the sources of all slices add up to. */
struct source_tally {
    size_t found, referenced;
    bool have_windows;
    char first_missing[200];
    json_t *windows; /* the first found source's windows */
};

static json_t *slice_frames_json(const struct seg_index *idx, const struct plan *p, const struct slice *sl)
{
    json_t *frames = json_array();
    for (uint32_t i = 0; i < sl->count; i++) {
        uint32_t f = p->order[sl->first + i];
        const struct seg_frame *fr = &idx->frames[f];
        json_t *fo = json_pack("{s:i, s:i}", "frame", f + 1, "segment", fr->segment_number);
        if (fr->position_kind == SEG_POS_SLIDE && fr->matrix_column > 0)
            json_object_set_new(fo, "tile", json_pack("[i,i]", fr->matrix_column, fr->matrix_row));
        json_array_append_new(frames, fo);
    }
    return frames;
}

/* A found source image: where, its size and modality; its windows when the first. */
static void source_found_json(const struct seg_index *idx, const struct source_pick *sp, json_t *src,
                              struct source_tally *t)
{
    json_object_set_new(src, "url", json_string(sp->loc.url));
    json_object_set_new(src, "rows", json_integer(sp->info.rows));
    json_object_set_new(src, "columns", json_integer(sp->info.columns));
    json_object_set_new(src, "modality", json_string(sp->info.modality));
    if (sp->info.rows != idx->rows || sp->info.columns != idx->columns)
        json_object_set_new(src, "message",
                            json_sprintf("the source is %ux%u, the segmentation %ux%u", sp->info.rows,
                                         sp->info.columns, idx->rows, idx->columns));
    for (size_t w = 0; !t->have_windows && w < sp->info.n_windows; w++)
        json_array_append_new(t->windows, json_pack("{s:f, s:f, s:s}", "center", sp->info.windows[w].center,
                                                     "width", sp->info.windows[w].width, "explanation",
                                                     sp->info.windows[w].explanation));
    t->have_windows = t->have_windows || sp->info.n_windows;
}

/* The source image of one slice (null when none is referenced). */
static json_t *slice_source_json(struct api_ctx *ctx, const struct seg_index *idx, const struct plan *p,
                                 const struct slice *sl, struct source_tally *t)
{
    struct source_pick sp;
    pick_source(ctx, idx, p, sl, &sp);
    if (!sp.referenced) {
        if (!t->first_missing[0])
            snprintf(t->first_missing, sizeof t->first_missing, "%s", sp.message);
        return json_null();
    }
    t->referenced++;
    json_t *src = json_pack("{s:s, s:i, s:b}", "sop_instance_uid", sp.ref->sop_instance_uid, "frame",
                            sp.ref->frame > 0 ? sp.ref->frame : 1, "found", sp.found);
    if (sp.found) {
        t->found++;
        source_found_json(idx, &sp, src, t);
    } else {
        json_object_set_new(src, "message", json_string(sp.message));
        if (!t->first_missing[0])
            snprintf(t->first_missing, sizeof t->first_missing, "%s", sp.message);
    }
    return src;
}

/* The document's closing message: slide, no source, or some slices without one. */
static json_t *slices_message(const struct plan *p, const struct source_tally *t)
{
    if (p->slide)
        return json_string("slide segmentation: the masks are shown on black over the total pixel matrix");
    if (!t->found)
        return json_sprintf("source images not available (%s): the masks are shown on black",
                            t->first_missing[0] ? t->first_missing : "none referenced");
    if (t->found < p->n)
        return json_sprintf("%zu of %zu slices have no source image here: those show the masks on black",
                            p->n - t->found, p->n);
    return NULL;
}

json_t *api_slices_json(struct api_ctx *ctx, const struct seg_index *idx)
{
    struct plan p;
    if (!plan_build(idx, &p))
        return NULL;
    json_t *doc = json_object(), *slices = json_array();
    struct source_tally t = {.windows = json_array()};
    json_object_set_new(doc, "sop_instance_uid", json_string(idx->sop_instance_uid));
    json_object_set_new(doc, "segmentation_type", json_string(decoder_seg_type_name(idx->type)));
    json_object_set_new(doc, "rows", json_integer(idx->rows));
    json_object_set_new(doc, "columns", json_integer(idx->columns));
    json_object_set_new(doc, "slide", json_boolean(p.slide));
    json_object_set_new(doc, "total_matrix",
                        idx->total_matrix_rows ? json_pack("[i,i]", idx->total_matrix_rows,
                                                           idx->total_matrix_columns)
                                               : json_null());
    json_object_set_new(doc, "max_fractional_value", json_integer(idx->max_fractional_value));
    for (size_t s = 0; s < p.n; s++) {
        const struct slice *sl = &p.slices[s];
        const struct seg_frame *f0 = &idx->frames[p.order[sl->first]];
        json_t *o = json_object();
        json_object_set_new(o, "index", json_integer((json_int_t)s + 1));
        json_object_set_new(o, "location", num_or_null(sl->has_pos, sl->key));
        json_object_set_new(o, "position", sl->has_pos ? json_pack("[f,f,f]", f0->position[0], f0->position[1],
                                                                   f0->position[2])
                                                       : json_null());
        json_object_set_new(o, "frames", slice_frames_json(idx, &p, sl));
        json_object_set_new(o, "source", p.slide ? json_null() : slice_source_json(ctx, idx, &p, sl, &t));
        json_array_append_new(slices, o);
    }
    json_object_set_new(doc, "slices", slices);
    json_object_set_new(doc, "windows", t.windows);
    json_object_set_new(doc, "sources", json_pack("{s:I, s:I}", "referenced", (json_int_t)t.referenced,
                                                  "found", (json_int_t)t.found));
    json_t *msg = slices_message(&p, &t);
    if (msg)
        json_object_set_new(doc, "message", msg);
    plan_free(&p);
    return doc;
}

bool api_slices_get(struct api_ctx *ctx, const struct seg_index *idx, struct api_response *r,
                    struct err *e)
{
    return api_response_json(r, api_slices_json(ctx, idx), "application/json", JSON_REAL_PRECISION(10), e);
}

bool api_slices_middle(struct api_ctx *ctx, const struct seg_index *idx, struct api_slice_pick *out)
{
    memset(out, 0, sizeof *out);
    struct plan p;
    if (!plan_build(idx, &p) || !p.n) {
        plan_free(&p);
        return false;
    }
    /* the middle of the slices that hold a non-empty frame would need pixel reads; the middle slice will do */
    const struct slice *sl = &p.slices[p.n / 2];
    for (uint32_t i = 0; i < sl->count && out->n_seg_frames < 64; i++)
        out->seg_frames[out->n_seg_frames++] = p.order[sl->first + i] + 1;
    if (!p.slide) {
        struct source_pick sp;
        pick_source(ctx, idx, &p, sl, &sp);
        if (sp.found) {
            out->has_source = true;
            snprintf(out->source_uid, sizeof out->source_uid, "%s", sp.ref->sop_instance_uid);
            out->source_frame = sp.ref->frame > 0 ? (uint32_t)sp.ref->frame : 1;
            snprintf(out->source_path, sizeof out->source_path, "%s", sp.loc.path);
        }
    }
    plan_free(&p);
    return true;
}
