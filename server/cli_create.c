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

static int usage(const char *msg)
{
    if (msg)
        fprintf(stderr, "segweb: %s\n", msg);
    fprintf(stderr, "usage: segweb create --source DIR --labels L.nii.gz [--labels L2.nrrd ...] --meta META.json\n"
                    "                     --out OUT.dcm [--type BINARY|FRACTIONAL|LABELMAP]\n"
                    "                     [--skip-empty-frames=yes|no] [--compress none|rle|deflate]\n"
                    "                     [--uid-root ROOT] [--masks DIR (UID.png per source image)]\n"
                    "label sources (--labels files, --masks folders) go with segmentAttributes in order\n");
    return 2;
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

int cli_create(int argc, char **argv)
{
    const char *source = NULL, *meta_path = NULL, *out = NULL;
    const char *labels[MAX_LABELS];
    bool is_masks[MAX_LABELS];
    size_t n_labels = 0;
    struct writer_options opt = {.warn = warn};
    for (int i = 1; i < argc; i++) {
        const char *v;
        if ((v = arg_value(argc, argv, &i, "--source")))
            source = v;
        else if ((v = arg_value(argc, argv, &i, "--labels"))) {
            if (n_labels == MAX_LABELS)
                return usage("too many --labels / --masks");
            is_masks[n_labels] = false;
            labels[n_labels++] = v;
        } else if ((v = arg_value(argc, argv, &i, "--masks"))) {
            if (n_labels == MAX_LABELS)
                return usage("too many --labels / --masks");
            is_masks[n_labels] = true;
            labels[n_labels++] = v;
        } else if ((v = arg_value(argc, argv, &i, "--meta")))
            meta_path = v;
        else if ((v = arg_value(argc, argv, &i, "--out")))
            out = v;
        else if ((v = arg_value(argc, argv, &i, "--type"))) {
            if (!writer_type_parse(v, &opt.type))
                return usage("--type is BINARY, FRACTIONAL or LABELMAP");
        } else if ((v = arg_value(argc, argv, &i, "--skip-empty-frames"))) {
            if (!strcmp(v, "yes"))
                opt.keep_empty_frames = false;
            else if (!strcmp(v, "no"))
                opt.keep_empty_frames = true;
            else
                return usage("--skip-empty-frames is yes or no");
        } else if ((v = arg_value(argc, argv, &i, "--compress"))) {
            if (!writer_compress_parse(v, &opt.compress))
                return usage("--compress is none, rle or deflate");
        } else if ((v = arg_value(argc, argv, &i, "--uid-root")))
            opt.uid_root = v;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(NULL);
            return 0;
        } else {
            fprintf(stderr, "segweb: unknown argument '%s'\n", argv[i]);
            return usage(NULL);
        }
    }
    if (!source || !n_labels || !meta_path || !out)
        return usage("--source, --labels (or --masks), --meta and --out are required");

    struct err e = ERR_INIT;
    struct writer_source *src = NULL;
    struct writer_meta *meta = NULL;
    struct writer_labels *vols[MAX_LABELS] = {0};
    char *json = NULL;
    char tmp[4096];
    int rc = 1;
    size_t json_len = 0;
    if (!(json = read_file(meta_path, &json_len, &e)) || !(meta = writer_meta_parse(json, json_len, &e)))
        goto out;
    for (size_t i = 0; i < n_labels; i++)
        if (!(vols[i] = is_masks[i] ? open_masks(labels[i], &opt.limits, &e)
                                    : writer_labels_open_file(labels[i], &opt.limits, &e)))
            goto out;
    if (!(src = writer_source_open_dir(source, warn, NULL, &e)))
        goto out;
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", out, (long)getpid()) >= (int)sizeof tmp) {
        err_set(&e, ERR_INVALID, "--out path is too long");
        goto out;
    }
    struct writer_result res;
    if (!writer_seg_create(src, vols, n_labels, meta, &opt, tmp, &res, &e)) {
        unlink(tmp);
        goto out;
    }
    if (rename(tmp, out) != 0) {
        unlink(tmp);
        err_set(&e, ERR_IO, "%s: cannot rename into place", out);
        goto out;
    }
    printf("%s: %u frames, %u segments, SOP Instance UID %s, %llu bytes\n", out, res.frames, res.segments,
           res.sop_uid, (unsigned long long)res.bytes);
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "segweb: %s\n", e.msg);
    for (size_t i = 0; i < n_labels; i++)
        writer_labels_free(vols[i]);
    writer_source_free(src);
    writer_meta_free(meta);
    free(json);
    return rc;
}
