#include "api/stream.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct piece {
    uint8_t *mem; /* NULL: a file */
    char *path;
    uint64_t len;
};

struct api_stream {
    struct piece *p;
    size_t n, cap;
    uint64_t total;
    size_t cur;       /* piece being read */
    uint64_t cur_off; /* offset inside it */
    uint64_t pos;     /* stream position of the next byte */
    int fd;           /* open file of the current piece, or -1 */
};

struct api_stream *api_stream_new(struct err *e)
{
    struct api_stream *s = calloc(1, sizeof *s);
    if (!s) {
        err_set(e, ERR_NOMEM, "out of memory");
        return NULL;
    }
    s->fd = -1;
    return s;
}

static struct piece *grow(struct api_stream *s, struct err *e)
{
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 8;
        struct piece *np = realloc(s->p, nc * sizeof *np);
        if (!np) {
            err_set(e, ERR_NOMEM, "out of memory");
            return NULL;
        }
        s->p = np;
        s->cap = nc;
    }
    struct piece *pc = &s->p[s->n];
    memset(pc, 0, sizeof *pc);
    return pc;
}

bool api_stream_add_mem(struct api_stream *s, const void *p, size_t n, struct err *e)
{
    if (!n)
        return true;
    struct piece *pc = grow(s, e);
    if (!pc)
        return false;
    pc->mem = malloc(n);
    if (!pc->mem)
        return err_set(e, ERR_NOMEM, "out of memory");
    memcpy(pc->mem, p, n);
    pc->len = n;
    s->n++;
    s->total += n;
    return true;
}

bool api_stream_add_file(struct api_stream *s, const char *path, uint64_t size, struct err *e)
{
    struct piece *pc = grow(s, e);
    if (!pc)
        return false;
    pc->path = strdup(path);
    if (!pc->path)
        return err_set(e, ERR_NOMEM, "out of memory");
    pc->len = size;
    s->n++;
    s->total += size;
    return true;
}

uint64_t api_stream_size(const struct api_stream *s) { return s->total; }

ssize_t api_stream_read(struct api_stream *s, uint64_t pos, void *buf, size_t max)
{
    if (pos != s->pos)
        return -1; /* sequential only */
    size_t done = 0;
    uint8_t *out = buf;
    while (done < max && s->cur < s->n) {
        struct piece *pc = &s->p[s->cur];
        uint64_t left = pc->len - s->cur_off;
        if (!left) {
            if (s->fd >= 0) {
                close(s->fd);
                s->fd = -1;
            }
            s->cur++;
            s->cur_off = 0;
            continue;
        }
        size_t want = max - done < left ? max - done : (size_t)left;
        if (pc->mem) {
            memcpy(out + done, pc->mem + s->cur_off, want);
        } else {
            if (s->fd < 0 && (s->fd = open(pc->path, O_RDONLY | O_CLOEXEC)) < 0)
                return -1;
            ssize_t got = pread(s->fd, out + done, want, (off_t)s->cur_off);
            if (got <= 0)
                return -1;
            want = (size_t)got;
        }
        done += want;
        s->cur_off += want;
    }
    s->pos += done;
    return (ssize_t)done;
}

void api_stream_free(struct api_stream *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->p[i].mem);
        free(s->p[i].path);
    }
    if (s->fd >= 0)
        close(s->fd);
    free(s->p);
    free(s);
}
