/* segweb create --source DIR --labels L.nii.gz [--labels ...] --meta META.json --out OUT.dcm
 *               [--type BINARY|FRACTIONAL|LABELMAP] [--skip-empty-frames=yes|no]
 *               [--compress none|rle|deflate] [--uid-root ROOT]
 *               [--masks DIR]   (instead of / beside --labels: DIR/<SOP Instance UID>.png, one per image)
 * The object is written to a temporary name beside OUT and renamed into place,
 * so a failure leaves nothing. Errors: one line on stderr, exit 1; usage: exit 2. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/cli.h"
#include "writer/writer.h"

#define MAX_LABELS 64

/* To stdout for --help (asked for), to stderr with msg for a usage error. */
static int usage_to(FILE *to, const char *msg)
{
    if (msg)
        fprintf(stderr, "segweb: %s\n", msg);
    fprintf(to, "usage: segweb create --source DIR --labels L.nii.gz [--labels L2.nrrd ...] --meta META.json\n"
                    "                     --out OUT.dcm [--type BINARY|FRACTIONAL|LABELMAP]\n"
                    "                     [--skip-empty-frames=yes|no] [--compress none|rle|deflate]\n"
                    "                     [--uid-root ROOT] [--masks DIR (UID.png per source image)]\n"
                    "label sources (--labels files, --masks folders) go with segmentAttributes in order\n");
    return 2;
}

static int usage(const char *msg)
{
    return usage_to(stderr, msg);
}

static void warn(void *arg, const char *msg)
{
    (void)arg;
    fprintf(stderr, "segweb: warning: %s\n", msg);
}

static char *read_file(const char *path, size_t *len, struct err *e)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        err_set(e, ERR_NOT_FOUND, "%s: cannot open", path);
        return NULL;
    }
    size_t cap = 65536, n = 0;
    char *b = malloc(cap);
    while (b) {
        size_t k = fread(b + n, 1, cap - n, f);
        n += k;
        if (n < cap)
            break;
        if (cap >= (64u << 20)) {
            free(b);
            b = NULL;
            err_set(e, ERR_LIMIT, "%s: larger than 64 MiB", path);
            break;
        }
        char *nb = realloc(b, cap * 2);
        if (!nb) {
            free(b);
            b = NULL;
            break;
        }
        b = nb;
        cap *= 2;
    }
    fclose(f);
    if (!b && e->code == ERR_OK)
        err_set(e, ERR_NOMEM, "no memory");
    *len = n;
    return b;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* DIR/<SOP Instance UID>.png -> one mask set */
static struct writer_labels *open_masks(const char *dir, const struct writer_limits *lim, struct err *e)
{
    DIR *d = opendir(dir);
    if (!d) {
        err_set(e, ERR_NOT_FOUND, "%s: cannot open the masks folder", dir);
        return NULL;
    }
    static char *names[65536]; /* the CLI opens one folder at a time */
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < 65536) {
        size_t len = strlen(de->d_name);
        if (len > 4 && !strcmp(de->d_name + len - 4, ".png"))
            names[n++] = strdup(de->d_name);
    }
    closedir(d);
    struct writer_mask *masks = calloc(n ? n : 1, sizeof *masks);
    char **bufs = calloc(n ? n : 1, sizeof *bufs);
    struct writer_labels *l = NULL;
    bool ok = masks && bufs;
    if (ok && n)
        qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; ok && i < n; i++) {
        if (!names[i]) {
            ok = false;
            break;
        }
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        size_t len = 0;
        if (!(bufs[i] = read_file(path, &len, e))) {
            ok = false;
            break;
        }
        names[i][strlen(names[i]) - 4] = 0;
        masks[i] = (struct writer_mask){names[i], (const uint8_t *)bufs[i], len};
    }
    if (ok)
        l = writer_labels_from_masks(masks, n, dir, lim, e);
    else if (e->code == ERR_OK)
        err_set(e, ERR_NOMEM, "no memory");
    for (size_t i = 0; i < n; i++) {
        free(names[i]);
        if (bufs)
            free(bufs[i]);
    }
    free(masks);
    free(bufs);
    return l;
}

/* "--name=value" or "--name value" */
static const char *arg_value(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n))
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] == 0 && *i + 1 < argc)
        return argv[++*i];
    return NULL;
}

/* The command line of `segweb create`. */
struct create_args {
    const char *source, *meta_path, *out;
    const char *labels[MAX_LABELS];
    bool is_masks[MAX_LABELS];
    size_t n_labels;
    struct writer_options opt;
};

/* One --labels or --masks. */
static bool label_add(struct create_args *a, const char *v, bool masks)
{
    if (a->n_labels == MAX_LABELS)
        return false;
    a->is_masks[a->n_labels] = masks;
    a->labels[a->n_labels++] = v;
    return true;
}

/* argv into a. Returns -1 to go on, else the exit status (help, usage). */
static int create_args_parse(int argc, char **argv, struct create_args *a)
{
    for (int i = 1; i < argc; i++) {
        const char *v;
        if ((v = arg_value(argc, argv, &i, "--source")))
            a->source = v;
        else if ((v = arg_value(argc, argv, &i, "--labels"))) {
            if (!label_add(a, v, false))
                return usage("too many --labels / --masks");
        } else if ((v = arg_value(argc, argv, &i, "--masks"))) {
            if (!label_add(a, v, true))
                return usage("too many --labels / --masks");
        } else if ((v = arg_value(argc, argv, &i, "--meta")))
            a->meta_path = v;
        else if ((v = arg_value(argc, argv, &i, "--out")))
            a->out = v;
        else if ((v = arg_value(argc, argv, &i, "--type"))) {
            if (!writer_type_parse(v, &a->opt.type))
                return usage("--type is BINARY, FRACTIONAL or LABELMAP");
        } else if ((v = arg_value(argc, argv, &i, "--skip-empty-frames"))) {
            if (strcmp(v, "yes") && strcmp(v, "no"))
                return usage("--skip-empty-frames is yes or no");
            a->opt.keep_empty_frames = !strcmp(v, "no");
        } else if ((v = arg_value(argc, argv, &i, "--compress"))) {
            if (!writer_compress_parse(v, &a->opt.compress))
                return usage("--compress is none, rle or deflate");
        } else if ((v = arg_value(argc, argv, &i, "--uid-root")))
            a->opt.uid_root = v;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage_to(stdout, NULL);
            return 0;
        } else {
            fprintf(stderr, "segweb: unknown argument '%s'\n", argv[i]);
            return usage(NULL);
        }
    }
    if (!a->source || !a->n_labels || !a->meta_path || !a->out)
        return usage("--source, --labels (or --masks), --meta and --out are required");
    return -1;
}

/* The SEG into a temp file beside --out, renamed into place. */
static bool create_write(const struct create_args *a, struct writer_source *src, struct writer_labels **vols,
                         const struct writer_meta *meta, struct err *e)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", a->out, (long)getpid()) >= (int)sizeof tmp)
        return err_set(e, ERR_INVALID, "--out path is too long");
    struct writer_result res;
    if (!writer_seg_create(src, vols, a->n_labels, meta, &a->opt, tmp, &res, e)) {
        unlink(tmp);
        return false;
    }
    if (rename(tmp, a->out) != 0) {
        unlink(tmp);
        return err_set(e, ERR_IO, "%s: cannot rename into place", a->out);
    }
    printf("%s: %u frames, %u segments, SOP Instance UID %s, %llu bytes\n", a->out, res.frames, res.segments,
           res.sop_uid, (unsigned long long)res.bytes);
    return true;
}

int cli_create(int argc, char **argv)
{
    static struct create_args a;
    memset(&a, 0, sizeof a);
    a.opt.warn = warn;
    int rc = create_args_parse(argc, argv, &a);
    if (rc >= 0)
        return rc;
    struct err e = ERR_INIT;
    struct writer_source *src = NULL;
    struct writer_meta *meta = NULL;
    struct writer_labels *vols[MAX_LABELS] = {0};
    char *json = NULL;
    size_t json_len = 0;
    rc = 1;
    if (!(json = read_file(a.meta_path, &json_len, &e)) || !(meta = writer_meta_parse(json, json_len, &e)))
        goto out;
    for (size_t i = 0; i < a.n_labels; i++)
        if (!(vols[i] = a.is_masks[i] ? open_masks(a.labels[i], &a.opt.limits, &e)
                                      : writer_labels_open_file(a.labels[i], &a.opt.limits, &e)))
            goto out;
    if (!(src = writer_source_open_dir(a.source, warn, NULL, &e)) || !create_write(&a, src, vols, meta, &e))
        goto out;
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "segweb: %s\n", e.msg);
    for (size_t i = 0; i < a.n_labels; i++)
        writer_labels_free(vols[i]);
    writer_source_free(src);
    writer_meta_free(meta);
    free(json);
    return rc;
}
