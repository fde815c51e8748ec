#include "api/stream.h"

#include "api/pipe.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct piece {
    struct api_pipe *pipe; /* set: bytes from a producer thread */
    uint8_t *mem; /* NULL (and no pipe): a file */
    char *path;
    uint64_t len;
    int fd;        /* taken files: open since before the headers, or -1 */
    bool check_id; /* taken, not opened: check the identity when opened */
    uint64_t dev, ino;
    int64_t mtime_ns;
};

struct api_stream {
    struct piece *p;
    size_t n, cap;
    uint64_t total;
    size_t cur;       /* piece being read */
    uint64_t cur_off; /* offset inside it */
    uint64_t pos;     /* stream position of the next byte */
    size_t n_open;    /* pieces holding a descriptor (API_STREAM_OPEN_MAX) */
    bool async;       /* has a pipe piece */
};

struct api_stream *api_stream_new(struct err *e)
{
    struct api_stream *s = calloc(1, sizeof *s);
    if (!s) {
        err_set(e, ERR_NOMEM, "out of memory");
        return NULL;
    }
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
    pc->fd = -1;
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

static int64_t mtime_ns(const struct stat *st)
{
    return (int64_t)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
}

bool api_stream_take_file(struct api_stream *s, const char *path, struct api_stream_file *f,
                          struct err *e)
{
    memset(f, 0, sizeof f[0]);
    f->fd = -1;
    struct stat st;
    if (s->n_open < API_STREAM_OPEN_MAX) {
        f->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (f->fd < 0 && errno != EMFILE && errno != ENFILE)
            return err_set(e, ERR_NOT_FOUND, "instance file missing: %s", strerror(errno));
    }
    if (f->fd >= 0 ? fstat(f->fd, &st) : stat(path, &st)) {
        int saved = errno;
        api_stream_file_release(f);
        return err_set(e, err_code_from_errno(saved), "instance file missing: %s", strerror(saved));
    }
    f->path = strdup(path);
    if (!f->path) {
        api_stream_file_release(f);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    if (f->fd >= 0)
        s->n_open++;
    f->size = (uint64_t)st.st_size;
    f->dev = (uint64_t)st.st_dev;
    f->ino = (uint64_t)st.st_ino;
    f->mtime_ns = mtime_ns(&st);
    return true;
}

void api_stream_file_release(struct api_stream_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    free(f->path);
    f->path = NULL;
}

bool api_stream_add_taken(struct api_stream *s, struct api_stream_file *f, struct err *e)
{
    struct piece *pc = grow(s, e);
    if (!pc) {
        if (f->fd >= 0)
            s->n_open--;
        api_stream_file_release(f);
        return false;
    }
    pc->path = f->path;
    pc->len = f->size;
    pc->fd = f->fd;
    pc->check_id = f->fd < 0;
    pc->dev = f->dev;
    pc->ino = f->ino;
    pc->mtime_ns = f->mtime_ns;
    f->path = NULL;
    f->fd = -1;
    s->n++;
    s->total += pc->len;
    return true;
}

/* The descriptor of file piece pc, opened (and checked) if need be; -1 when the
 * file is gone or is no longer the one the headers announced. */
static int piece_fd(struct piece *pc)
{
    if (pc->fd >= 0)
        return pc->fd;
    int fd = open(pc->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    if (pc->check_id && (fstat(fd, &st) || (uint64_t)st.st_dev != pc->dev || (uint64_t)st.st_ino != pc->ino ||
                         (uint64_t)st.st_size != pc->len || mtime_ns(&st) != pc->mtime_ns)) {
        close(fd);
        return -1;
    }
    pc->fd = fd;
    return fd;
}

bool api_stream_add_pipe(struct api_stream *s, struct api_pipe *p, uint64_t len, struct err *e)
{
    struct piece *pc = grow(s, e);
    if (!pc) {
        api_pipe_close_read(p);
        return false;
    }
    pc->pipe = p;
    pc->len = len;
    s->n++;
    s->total = len == API_STREAM_SIZE_UNKNOWN ? API_STREAM_SIZE_UNKNOWN : s->total + len;
    s->async = true;
    return true;
}

uint64_t api_stream_size(const struct api_stream *s) { return s->total; }

bool api_stream_async(const struct api_stream *s) { return s->async; }

void api_stream_set_wake(struct api_stream *s, void (*wake)(void *arg), void *arg)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->p[i].pipe)
            api_pipe_set_wake(s->p[i].pipe, wake, arg);
}

ssize_t api_stream_read(struct api_stream *s, uint64_t pos, void *buf, size_t max)
{
    ssize_t n = api_stream_read_async(s, pos, buf, max, NULL, NULL);
    return n == API_STREAM_AGAIN ? -1 : n;
}

ssize_t api_stream_read_async(struct api_stream *s, uint64_t pos, void *buf, size_t max,
                              void (*suspend)(void *arg), void *arg)
{
    if (pos != s->pos)
        return -1; /* sequential only */
    size_t done = 0;
    uint8_t *out = buf;
    while (done < max && s->cur < s->n) {
        struct piece *pc = &s->p[s->cur];
        if (pc->pipe) {
            if (done)
                break; /* hand over what we have; the pipe next time */
            ssize_t got = api_pipe_read(pc->pipe, out, max, suspend, arg);
            if (got == API_PIPE_AGAIN)
                return suspend ? API_STREAM_AGAIN : -1;
            if (got == API_PIPE_ERROR)
                return -1;
            if (got == API_PIPE_EOF) {
                if (pc->len != API_STREAM_SIZE_UNKNOWN && s->cur_off != pc->len)
                    return -1; /* shorter than announced */
                s->cur++;
                s->cur_off = 0;
                continue;
            }
            if (pc->len != API_STREAM_SIZE_UNKNOWN && s->cur_off + (uint64_t)got > pc->len)
                return -1; /* longer than announced */
            s->cur_off += (uint64_t)got;
            done += (size_t)got;
            break;
        }
        uint64_t left = pc->len - s->cur_off;
        if (!left) {
            if (pc->fd >= 0) {
                close(pc->fd);
                pc->fd = -1;
            }
            s->cur++;
            s->cur_off = 0;
            continue;
        }
        size_t want = max - done < left ? max - done : (size_t)left;
        if (pc->mem) {
            memcpy(out + done, pc->mem + s->cur_off, want);
        } else {
            int fd = piece_fd(pc);
            if (fd < 0)
                return -1;
            ssize_t got = pread(fd, out + done, want, (off_t)s->cur_off);
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
        if (s->p[i].fd >= 0)
            close(s->p[i].fd);
        if (s->p[i].pipe)
            api_pipe_close_read(s->p[i].pipe);
    }
    free(s->p);
    free(s);
}
