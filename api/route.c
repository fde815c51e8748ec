/* The route matcher (see route.h): split and decode the target, find the row of
 * api/route_table.c whose pattern it fits, fill the request's parameters. */
#include "api/route.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define MAX_SEGS 64
/* A decoded segment is never longer than the raw target: one segment may use
 * all of it (a frame list of API_FRAME_LIST_MAX numbers is ~2,000 bytes; a
 * 255-byte cap per segment made the documented 512 unreachable at ~128). */
#define SEG_MAX (API_TARGET_MAX + 1)

/* The segments, decoded one after another into buf (NUL-terminated each). */
struct segs {
    char buf[API_TARGET_MAX + MAX_SEGS + 1];
    char *s[MAX_SEGS];
    size_t n;
};

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool api_url_decode(const char *src, size_t n, bool plus_is_space, char *dst, size_t dstsz,
                    size_t *len, struct err *e)
{
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        if (c == '%') {
            if (i + 2 >= n)
                return err_set(e, ERR_PARSE, "truncated %%-escape");
            int hi = hexval(src[i + 1]), lo = hexval(src[i + 2]);
            if (hi < 0 || lo < 0)
                return err_set(e, ERR_PARSE, "bad %%-escape");
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        if (c == '\0')
            return err_set(e, ERR_PARSE, "NUL byte in request target");
        if (j + 1 >= dstsz)
            return err_set(e, ERR_PARSE, "request target component too long");
        dst[j++] = c;
    }
    if (!dstsz)
        return err_set(e, ERR_PARSE, "request target component too long");
    dst[j] = 0;
    if (len)
        *len = j;
    return true;
}

bool api_number_parse(const char *s, uint32_t *out)
{
    size_t n = strlen(s);
    if (n < 1 || n > 9 || s[0] == '0')
        return false;
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

bool api_frame_number_parse(const char *s, uint32_t *out, struct err *e)
{
    if (api_number_parse(s, out))
        return true;
    if (*s && strspn(s, "0") == strlen(s))
        return err_set(e, ERR_PARSE, "frame number '%.16s': frame numbers start at 1", s);
    return err_set(e, ERR_PARSE, "frame number '%.64s' is not a number (digits only, from 1)", s);
}

bool api_uid_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > API_UID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(s[i] == '.' || (s[i] >= '0' && s[i] <= '9')))
            return false;
    return true;
}

/* Splits the raw path (after the leading '/') on raw '/', decoding each segment. */
static bool split(const char *path, size_t n, struct segs *out, struct err *e)
{
    out->n = 0;
    size_t used = 0;
    size_t i = 1; /* skip leading '/' */
    while (i <= n) {
        size_t j = i;
        while (j < n && path[j] != '/')
            j++;
        if (out->n >= MAX_SEGS)
            return err_set(e, ERR_PARSE, "too many path segments");
        size_t len = 0;
        out->s[out->n] = out->buf + used;
        if (!api_url_decode(path + i, j - i, false, out->s[out->n], sizeof out->buf - used, &len, e))
            return false;
        used += len + 1;
        out->n++;
        i = j + 1;
    }
    return true;
}

static bool segment_safe(const char *s, struct err *e)
{
    if (!*s)
        return err_set(e, ERR_PARSE, "empty path segment (absolute path or '//') not allowed");
    if (!strcmp(s, ".") || !strcmp(s, ".."))
        return err_set(e, ERR_PARSE, "path segment '%s' not allowed", s);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p == '/' || *p == '\\' || *p < 0x20 || *p == 0x7f)
            return err_set(e, ERR_PARSE, "path segment holds a forbidden character (0x%02x)", *p);
    return true;
}

static bool parse_query(struct api_request *req, const char *q, size_t n, struct err *e)
{
    size_t i = 0, count = 0;
    bool seen_style = false, seen_source = false, seen_frame = false, seen_values = false,
         seen_grid = false;
    while (i < n) {
        size_t j = i;
        while (j < n && q[j] != '&')
            j++;
        if (j > i) {
            if (++count > API_QUERY_MAX)
                return err_set(e, ERR_PARSE, "more than %d query parameters", API_QUERY_MAX);
            size_t eq = i;
            while (eq < j && q[eq] != '=')
                eq++;
            char key[64], val[API_UID_MAX + 16];
            struct err ignore = ERR_INIT;
            if (!api_url_decode(q + i, eq - i, true, key, sizeof key, NULL, &ignore)) {
                i = j + 1; /* unknown (long) keys are ignored */
                continue;
            }
            size_t vs = eq < j ? eq + 1 : j;
            bool known = !strcmp(key, "style") || !strcmp(key, "source") || !strcmp(key, "frame") ||
                         !strcmp(key, "values") || !strcmp(key, "grid");
            if (known) {
                if (!api_url_decode(q + vs, j - vs, true, val, sizeof val, NULL, e)) {
                    err_prefix(e, "query parameter '%s'", key);
                    return false;
                }
                if (!strcmp(key, "style")) {
                    if (seen_style)
                        return err_set(e, ERR_PARSE, "duplicate query parameter 'style'");
                    seen_style = true;
                    if (!strcmp(val, "color") || !strcmp(val, "colour"))
                        req->style_color = true;
                    else if (!strcmp(val, "gray") || !strcmp(val, "grey") || !*val)
                        req->style_color = false;
                    else
                        return err_set(e, ERR_PARSE, "style must be 'color' or 'gray'");
                } else if (!strcmp(key, "values")) { /* volume routes */
                    if (seen_values)
                        return err_set(e, ERR_PARSE, "duplicate query parameter 'values'");
                    seen_values = true;
                    if (!strcmp(val, "binary"))
                        req->values_binary = true;
                    else if (strcmp(val, "labels"))
                        return err_set(e, ERR_PARSE, "values must be 'labels' or 'binary'");
                } else if (!strcmp(key, "grid")) { /* volume routes */
                    if (seen_grid)
                        return err_set(e, ERR_PARSE, "duplicate query parameter 'grid'");
                    seen_grid = true;
                    if (!strcmp(val, "source"))
                        req->grid_source = true;
                    else if (strcmp(val, "seg"))
                        return err_set(e, ERR_PARSE, "grid must be 'seg' or 'source'");
                } else if (!strcmp(key, "source")) {
                    if (seen_source)
                        return err_set(e, ERR_PARSE, "duplicate query parameter 'source'");
                    seen_source = true;
                    if (!api_uid_valid(val))
                        return err_set(e, ERR_PARSE, "source must be a SOP Instance UID");
                    snprintf(req->source_uid, sizeof req->source_uid, "%s", val);
                } else {
                    if (seen_frame)
                        return err_set(e, ERR_PARSE, "duplicate query parameter 'frame'");
                    seen_frame = true;
                    if (!api_number_parse(val, &req->source_frame))
                        return err_set(e, ERR_PARSE, "frame must be a number (1-based, digits only)");
                }
            }
        }
        i = j + 1;
    }
    return true;
}

/* "1,3,5" (or one number) into req->frame_list. */
static bool frame_list_parse(struct api_request *req, const char *s, struct err *e)
{
    req->n_frame_list = 0;
    while (*s) {
        size_t n = strcspn(s, ",");
        char num[16];
        if (n == 0 || n >= sizeof num)
            return err_set(e, ERR_PARSE, "frame list must be 1-based numbers separated by commas");
        memcpy(num, s, n);
        num[n] = 0;
        if (req->n_frame_list >= API_FRAME_LIST_MAX)
            return err_set(e, ERR_PARSE, "more than %d frames in one request", API_FRAME_LIST_MAX);
        if (!api_frame_number_parse(num, &req->frame_list[req->n_frame_list], e))
            return false;
        req->n_frame_list++;
        s += n;
        if (*s == ',' && !*++s)
            return err_set(e, ERR_PARSE, "frame list ends with a comma");
    }
    if (!req->n_frame_list)
        return err_set(e, ERR_PARSE, "empty frame list");
    return true;
}

/* ---- patterns ---- */

#define PAT_SEGS 16

/* A pattern split into segments: "R" (first only), literals and {params}. */
struct pattern {
    const char *seg[PAT_SEGS];
    size_t len[PAT_SEGS];
    size_t n;
    bool has_r;             /* starts with R */
    const char *need_query; /* after '?': a query parameter the route requires */
};

static void pattern_split(const char *p, struct pattern *out)
{
    memset(out, 0, sizeof *out);
    const char *q = strchr(p, '?');
    size_t plen = q ? (size_t)(q - p) : strlen(p);
    out->need_query = q ? q + 1 : NULL;
    size_t i = p[0] == '/' ? 1 : 0;
    while (i <= plen && out->n < PAT_SEGS) {
        size_t j = i;
        while (j < plen && p[j] != '/')
            j++;
        out->seg[out->n] = p + i;
        out->len[out->n] = j - i;
        out->n++;
        i = j + 1;
    }
    if (out->n && out->len[0] == 1 && out->seg[0][0] == 'R') {
        out->has_r = true;
        memmove(out->seg, out->seg + 1, (out->n - 1) * sizeof out->seg[0]);
        memmove(out->len, out->len + 1, (out->n - 1) * sizeof out->len[0]);
        out->n--;
    }
}

/* A pattern segment "{name}suffix": name and suffix; false for a literal. */
static bool param_of(const char *seg, size_t len, const char **name, size_t *nlen,
                     const char **suffix, size_t *slen)
{
    const char *close = len && seg[0] == '{' ? memchr(seg, '}', len) : NULL;
    if (!close)
        return false;
    *name = seg + 1;
    *nlen = (size_t)(close - seg - 1);
    *suffix = close + 1;
    *slen = len - (size_t)(close + 1 - seg);
    return true;
}

/* Shape only: literals equal, parameters present (with their suffix). */
static bool seg_shape(const char *pseg, size_t plen, const char *s)
{
    const char *name, *suffix;
    size_t nlen, slen;
    size_t n = strlen(s);
    if (!param_of(pseg, plen, &name, &nlen, &suffix, &slen))
        return n == plen && !memcmp(s, pseg, plen);
    return n >= slen && !memcmp(s + n - slen, suffix, slen);
}

/* Where R sits in a target of shape `pat`: the first segment after R (from),
 * or false when the target cannot hold this pattern. */
static bool shape(const struct pattern *pat, const struct segs *sg, size_t *from)
{
    size_t k = pat->n;
    if (!pat->has_r) {
        *from = 0;
        /* a last pattern segment "*" takes the rest of the path, zero or more segments */
        bool rest = k && pat->len[k - 1] == 1 && pat->seg[k - 1][0] == '*';
        if (rest ? sg->n < k - 1 : sg->n != k)
            return false;
        if (rest)
            k--;
    } else if (sg->n >= 2 + k && !strcmp(sg->s[0], "files")) {
        *from = sg->n - k;
    } else if (sg->n == 6 + k && !strcmp(sg->s[0], "studies") && !strcmp(sg->s[2], "series") &&
               !strcmp(sg->s[4], "instances")) {
        *from = 6;
    } else {
        return false;
    }
    for (size_t i = 0; i < k; i++)
        if (!seg_shape(pat->seg[i], pat->len[i], sg->s[*from + i]))
            return false;
    return true;
}

static bool uid_param(const char *v, char *dst, size_t dstsz, struct err *e)
{
    if (!api_uid_valid(v))
        return err_set(e, ERR_PARSE, "'%.64s' is not a UID", v);
    snprintf(dst, dstsz, "%.64s", v);
    return true;
}

static bool number_param(const char *v, bool zero_ok, uint32_t *out, struct err *e)
{
    if (zero_ok && !strcmp(v, "0")) {
        *out = 0;
        return true;
    }
    if (!api_number_parse(v, out))
        return err_set(e, ERR_PARSE, "'%.64s' is not a number (1-based, digits only)", v);
    return true;
}

/* {tag}: a DICOM tag as 8 hex digits, group then element ("7FE00010"), either case. */
static bool tag_param(const char *v, uint32_t *out, struct err *e)
{
    uint32_t t = 0;
    size_t n = 0;
    for (; v[n] && n < 9; n++) {
        char c = v[n];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            break;
        t = t << 4 | (uint32_t)d;
    }
    if (n != 8 || v[n])
        return err_set(e, ERR_PARSE, "'%.64s' is not a DICOM tag (8 hex digits, group then element)", v);
    *out = t;
    return true;
}

/* One {name} parameter with its value (suffix removed) into req. */
static bool param_set(struct api_request *req, const char *name, size_t nlen, const char *v,
                      struct err *e)
{
#define IS(lit) (nlen == sizeof lit - 1 && !memcmp(name, lit, nlen))
    if (IS("study")) {
        req->res.kind = API_RES_STORE;
        req->level = API_LEVEL_STUDY;
        return uid_param(v, req->res.study, sizeof req->res.study, e);
    }
    if (IS("series")) {
        req->level = API_LEVEL_SERIES;
        return uid_param(v, req->res.series, sizeof req->res.series, e);
    }
    if (IS("sop")) {
        req->level = API_LEVEL_INSTANCE;
        return uid_param(v, req->res.sop, sizeof req->res.sop, e);
    }
    if (IS("n")) /* segment 0 exists (LABELMAP background) */
        return number_param(v, true, &req->segment, e);
    if (IS("f"))
        return api_frame_number_parse(v, &req->frame, e);
    if (IS("frames"))
        return frame_list_parse(req, v, e);
    if (IS("tag"))
        return tag_param(v, &req->tag, e);
#undef IS
    return err_set(e, ERR_INTERNAL, "route pattern with unknown parameter {%.*s}", (int)nlen, name);
}

/* R: the instance resource in segments [0, from). */
static bool resource_set(struct api_request *req, const struct segs *sg, size_t from, struct err *e)
{
    if (!strcmp(sg->s[0], "files")) {
        req->res.kind = API_RES_FILE;
        size_t off = 0;
        for (size_t k = 1; k < from; k++) {
            int m = snprintf(req->res.file + off, sizeof req->res.file - off, "%s%s",
                             k > 1 ? "/" : "", sg->s[k]);
            if (m < 0 || (size_t)m >= sizeof req->res.file - off)
                return err_set(e, ERR_PARSE, "file path longer than %d bytes", API_RELPATH_MAX);
            off += (size_t)m;
        }
        return true;
    }
    req->res.kind = API_RES_STORE;
    req->level = API_LEVEL_INSTANCE;
    return uid_param(sg->s[1], req->res.study, sizeof req->res.study, e) &&
           uid_param(sg->s[3], req->res.series, sizeof req->res.series, e) &&
           uid_param(sg->s[5], req->res.sop, sizeof req->res.sop, e);
}

/* The parameters of the chosen row, then the query. */
static bool bind(struct api_request *req, const struct api_route *rt, const struct pattern *pat,
                 const struct segs *sg, size_t from, const char *query, struct err *e)
{
    if (pat->has_r && !resource_set(req, sg, from, e))
        return false;
    for (size_t i = 0; i < pat->n; i++) {
        const char *name, *suffix;
        size_t nlen, slen;
        if (!param_of(pat->seg[i], pat->len[i], &name, &nlen, &suffix, &slen))
            continue;
        static __thread char v[SEG_MAX];
        snprintf(v, sizeof v, "%.*s", (int)(strlen(sg->s[from + i]) - slen), sg->s[from + i]);
        if (!param_set(req, name, nlen, v, e))
            return false;
    }
    if (query && !(rt->flags & API_RAW_QUERY) && !parse_query(req, query, strlen(query), e))
        return false;
    if (pat->need_query && !strcmp(pat->need_query, "source") && !req->source_uid[0])
        return err_set(e, ERR_PARSE, "%.*s needs ?source=SOPInstanceUID",
                       (int)pat->len[pat->n - 1], pat->seg[pat->n - 1]);
    return true;
}

static bool allows(const struct api_route *rt, enum api_method m)
{
    return m < API_METHOD_OTHER && (rt->methods & (1u << m));
}

static bool route(struct api_request *req, struct err *e)
{
    const char *t = req->target;
    if (t[0] != '/')
        return err_set(e, ERR_PARSE, "request target must start with '/'");
    const char *qm = strchr(t, '?');
    size_t plen = qm ? (size_t)(qm - t) : strlen(t);
    if (memchr(t, '#', plen))
        return err_set(e, ERR_PARSE, "fragment in request target");
    static __thread struct segs sg; /* 4.6 KiB: keep it off small worker stacks */
    if (!split(t, plen, &sg, e))
        return false;
    if (!strcmp(sg.s[0], "files"))
        for (size_t k = 1; k < sg.n; k++)
            if (!segment_safe(sg.s[k], e))
                return false;

    /* The first row of the target's shape that allows the method; else the first
     * that allows GET (405 from the dispatcher); else the first. */
    const struct api_route *pick = NULL, *get = NULL, *first = NULL;
    struct pattern pat, pick_pat, get_pat, first_pat;
    size_t from = 0, pick_from = 0, get_from = 0, first_from = 0;
    for (size_t i = 0; i < api_routes_count && !pick; i++) {
        const struct api_route *rt = &api_routes[i];
        pattern_split(rt->pattern, &pat);
        if (!shape(&pat, &sg, &from))
            continue;
        if (allows(rt, req->method))
            pick = rt, pick_pat = pat, pick_from = from;
        if (!get && allows(rt, API_METHOD_GET))
            get = rt, get_pat = pat, get_from = from;
        if (!first)
            first = rt, first_pat = pat, first_from = from;
    }
    if (!pick && get)
        pick = get, pick_pat = get_pat, pick_from = get_from;
    if (!pick && first)
        pick = first, pick_pat = first_pat, pick_from = first_from;
    if (!pick)
        return err_set(e, ERR_NOT_FOUND, "no such route");
    if (!bind(req, pick, &pick_pat, &sg, pick_from, qm ? qm + 1 : NULL, e))
        return false;
    req->route = pick;
    return true;
}

bool api_request_route(struct api_request *req, struct err *e)
{
    req->route = NULL;
    req->res.kind = API_RES_NONE;
    req->level = API_LEVEL_NONE;
    req->route_err = (struct err)ERR_INIT;
    struct err local = ERR_INIT;
    if (route(req, &local))
        return true;
    req->route = NULL;
    req->res.kind = API_RES_NONE;
    req->route_err = local;
    if (e && e->code == ERR_OK)
        *e = local;
    return false;
}

bool api_route_allows(const struct api_request *req)
{
    return req->route && allows(req->route, req->method);
}

bool api_route_needs_worker(const struct api_request *req)
{
    return req->route_err.code == ERR_OK && api_route_allows(req) &&
           (req->route->flags & API_WORKER);
}

/* ---- Allow ---- */

void api_route_allow(const struct api_request *req, char *out, size_t outsz)
{
    unsigned m = API_GET; /* no route: what any path answers to */
    if (req->route)
        for (size_t i = 0; i < api_routes_count; i++)
            if (!strcmp(api_routes[i].pattern, req->route->pattern))
                m |= api_routes[i].methods;
    snprintf(out, outsz, "%s%s%s%sOPTIONS", m & (1u << API_METHOD_GET) ? "GET, " : "",
             m & (1u << API_METHOD_HEAD) ? "HEAD, " : "", m & API_POST ? "POST, " : "",
             m & API_DELETE ? "DELETE, " : "");
}

/* ---- names and metrics labels ---- */

const char *api_route_name(const struct api_route *route)
{
    return route ? route->name : "none";
}

static const char *labels[API_ROUTE_LABELS_MAX];
static size_t n_labels;
static pthread_once_t labels_once = PTHREAD_ONCE_INIT;

static void labels_init(void)
{
    labels[n_labels++] = "none";
    for (size_t i = 0; i < api_routes_count; i++) {
        size_t k = 0;
        while (k < n_labels && strcmp(labels[k], api_routes[i].name))
            k++;
        if (k == n_labels && n_labels < API_ROUTE_LABELS_MAX)
            labels[n_labels++] = api_routes[i].name;
    }
}

size_t api_route_label_count(void)
{
    pthread_once(&labels_once, labels_init);
    return n_labels;
}

const char *api_route_label(size_t i)
{
    pthread_once(&labels_once, labels_init);
    return i < n_labels ? labels[i] : "none";
}

size_t api_route_label_index(const struct api_route *route)
{
    pthread_once(&labels_once, labels_init);
    if (route)
        for (size_t k = 1; k < n_labels; k++)
            if (!strcmp(labels[k], route->name))
                return k;
    return 0;
}
