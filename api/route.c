/* Routing: split, decode, match the tail of the path against the table below. */
#include "api/route.h"

#include <stdio.h>
#include <string.h>

/* Suffixes after R, matched against the last segments. "#" is a number. */
struct tail {
    enum api_route route;
    const char *parts[4];
    size_t n;
};

static const struct tail TAILS[] = {
    {API_ROUTE_FRAME_RENDERED, {"frames", "#", "rendered"}, 3},
    {API_ROUTE_SEGMENT_MASK, {"segments", "#", "mask"}, 3},
    {API_ROUTE_SEGMENT, {"segments", "#"}, 2},
    {API_ROUTE_SEGMENTS, {"segments"}, 1},
};

static const struct {
    const char *path;
    enum api_route route;
} FIXED[] = {
    {"/healthz", API_ROUTE_HEALTHZ},
    {"/readyz", API_ROUTE_READYZ},
    {"/metrics", API_ROUTE_METRICS},
};

#define MAX_SEGS 64
#define SEG_MAX 256

struct segs {
    char s[MAX_SEGS][SEG_MAX];
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
    size_t i = 1; /* skip leading '/' */
    while (i <= n) {
        size_t j = i;
        while (j < n && path[j] != '/')
            j++;
        if (out->n >= MAX_SEGS)
            return err_set(e, ERR_PARSE, "too many path segments");
        if (!api_url_decode(path + i, j - i, false, out->s[out->n], SEG_MAX, NULL, e))
            return false;
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

/* Finds the table tail matching the end of segs[from..]; fills numbers. */
static const struct tail *match_tail(struct api_request *req, const struct segs *sg, size_t from,
                                     bool whole, size_t *tail_start, struct err *e)
{
    for (size_t t = 0; t < sizeof TAILS / sizeof TAILS[0]; t++) {
        const struct tail *tl = &TAILS[t];
        if (sg->n < from + tl->n + (whole ? 0 : 1))
            continue;
        size_t start = sg->n - tl->n;
        if (whole && start != from)
            continue;
        bool ok = true;
        for (size_t k = 0; k < tl->n && ok; k++)
            if (strcmp(tl->parts[k], "#") && strcmp(tl->parts[k], sg->s[start + k]))
                ok = false;
        if (!ok)
            continue;
        for (size_t k = 0; k < tl->n; k++) {
            if (strcmp(tl->parts[k], "#"))
                continue;
            uint32_t v;
            bool is_frame = !strcmp(tl->parts[k - 1], "frames");
            /* Segment 0 exists (LABELMAP background); frames are 1-based. */
            bool zero = !is_frame && !strcmp(sg->s[start + k], "0");
            if (zero)
                v = 0;
            else if (!api_number_parse(sg->s[start + k], &v)) {
                err_set(e, ERR_PARSE, "'%.64s' is not a number (1-based, digits only)",
                        sg->s[start + k]);
                return NULL;
            }
            if (is_frame)
                req->frame = v;
            else
                req->segment = v;
        }
        *tail_start = start;
        return tl;
    }
    err_set(e, ERR_NOT_FOUND, "no such route");
    return NULL;
}

static bool parse_query(struct api_request *req, const char *q, size_t n, struct err *e)
{
    size_t i = 0, count = 0;
    bool seen_style = false, seen_source = false, seen_frame = false;
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
            bool known = !strcmp(key, "style") || !strcmp(key, "source") || !strcmp(key, "frame");
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

static bool uids_ok(const struct segs *sg, size_t n, struct err *e)
{
    for (size_t k = 1; k < n; k += 2)
        if (!api_uid_valid(sg->s[k]))
            return err_set(e, ERR_PARSE, "'%.64s' is not a UID", sg->s[k]);
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
        if (!api_number_parse(num, &req->frame_list[req->n_frame_list]))
            return err_set(e, ERR_PARSE, "'%s' is not a frame number (1-based, digits only)", num);
        req->n_frame_list++;
        s += n;
        if (*s == ',' && !*++s)
            return err_set(e, ERR_PARSE, "frame list ends with a comma");
    }
    if (!req->n_frame_list)
        return err_set(e, ERR_PARSE, "empty frame list");
    return true;
}

/* The DICOMweb routes on the store (PS3.18): 1 matched, 0 not a DICOMweb
 * route (the segment routes below take it), -1 error. */
static int dicomweb_route(struct api_request *req, const struct segs *sg, struct err *e)
{
    const char *s0 = sg->s[0];
    size_t n = sg->n;
    bool get = req->method != API_METHOD_POST && req->method != API_METHOD_DELETE;
    enum api_route level_route = req->method == API_METHOD_DELETE ? API_ROUTE_DELETE
                                 : req->method == API_METHOD_POST ? API_ROUTE_STOW
                                                                  : API_ROUTE_RETRIEVE;
    if (n == 1 && !strcmp(s0, "series")) {
        req->route = API_ROUTE_SEARCH_SERIES;
        return 1;
    }
    if (n == 1 && !strcmp(s0, "instances")) {
        req->route = API_ROUTE_SEARCH_INSTANCES;
        return 1;
    }
    if (strcmp(s0, "studies"))
        return 0;
    if (n == 1) {
        req->route = req->method == API_METHOD_POST ? API_ROUTE_STOW : API_ROUTE_SEARCH_STUDIES;
        return 1;
    }
    if (!uids_ok(sg, n < 6 ? n : 6, e))
        return -1;
    snprintf(req->res.study, sizeof req->res.study, "%.64s", sg->s[1]);
    req->level = API_LEVEL_STUDY;
    if (n == 2) {
        req->route = level_route;
        if (req->route != API_ROUTE_STOW)
            req->res.kind = API_RES_STORE;
        return 1;
    }
    if (n == 3 && !strcmp(sg->s[2], "metadata") && get) {
        req->route = API_ROUTE_METADATA;
        req->res.kind = API_RES_STORE;
        return 1;
    }
    if (n == 3 && !strcmp(sg->s[2], "series")) {
        req->route = API_ROUTE_SEARCH_SERIES;
        return 1;
    }
    if (n == 3 && !strcmp(sg->s[2], "instances")) {
        req->route = API_ROUTE_SEARCH_INSTANCES;
        return 1;
    }
    if (n < 4 || strcmp(sg->s[2], "series"))
        return 0;
    snprintf(req->res.series, sizeof req->res.series, "%.64s", sg->s[3]);
    req->level = API_LEVEL_SERIES;
    if (n == 4) { /* POST here is 405 (STOW is /studies[/{study}] only) */
        req->route = req->method == API_METHOD_POST ? API_ROUTE_RETRIEVE : level_route;
        req->res.kind = API_RES_STORE;
        return 1;
    }
    if (n == 5 && !strcmp(sg->s[4], "metadata") && get) {
        req->route = API_ROUTE_METADATA;
        req->res.kind = API_RES_STORE;
        return 1;
    }
    if (n == 5 && !strcmp(sg->s[4], "instances")) {
        req->route = API_ROUTE_SEARCH_INSTANCES;
        return 1;
    }
    if (n < 6 || strcmp(sg->s[4], "instances"))
        return 0;
    snprintf(req->res.sop, sizeof req->res.sop, "%.64s", sg->s[5]);
    req->level = API_LEVEL_INSTANCE;
    if (n == 6) { /* POST here is 405 (STOW is /studies[/{study}] only) */
        req->route = req->method == API_METHOD_POST ? API_ROUTE_RETRIEVE : level_route;
        req->res.kind = API_RES_STORE;
        return 1;
    }
    if (n == 7 && !strcmp(sg->s[6], "metadata") && get) {
        req->route = API_ROUTE_METADATA;
        req->res.kind = API_RES_STORE;
        return 1;
    }
    if (n == 8 && !strcmp(sg->s[6], "frames") && get) {
        if (!frame_list_parse(req, sg->s[7], e))
            return -1;
        req->route = API_ROUTE_FRAMES;
        req->res.kind = API_RES_STORE;
        return 1;
    }
    req->level = API_LEVEL_NONE;
    return 0;
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
    for (size_t k = 0; k < sizeof FIXED / sizeof FIXED[0]; k++)
        if (strlen(FIXED[k].path) == plen && !memcmp(FIXED[k].path, t, plen)) {
            req->route = FIXED[k].route;
            return true;
        }

    static __thread struct segs sg; /* 16 KiB: keep it off small worker stacks */
    if (!split(t, plen, &sg, e))
        return false;
    size_t tail_start = 0;
    const struct tail *tl = NULL;
    int dw = sg.n >= 1 ? dicomweb_route(req, &sg, e) : 0;
    if (dw < 0)
        return false;
    if (dw > 0) {
        enum api_route r = req->route;
        bool search = r == API_ROUTE_SEARCH_STUDIES || r == API_ROUTE_SEARCH_SERIES ||
                      r == API_ROUTE_SEARCH_INSTANCES;
        req->route = API_ROUTE_NONE;
        if (!search && qm && !parse_query(req, qm + 1, strlen(qm + 1), e))
            return false; /* search parameters are parsed by api/dicomweb.c */
        req->route = r;
        return true;
    }
    if (sg.n >= 1 && !strcmp(sg.s[0], "files")) {
        for (size_t k = 1; k < sg.n; k++)
            if (!segment_safe(sg.s[k], e))
                return false;
        if (!(tl = match_tail(req, &sg, 1, false, &tail_start, e)))
            return false;
        req->res.kind = API_RES_FILE;
        size_t off = 0;
        for (size_t k = 1; k < tail_start; k++) {
            int m = snprintf(req->res.file + off, sizeof req->res.file - off, "%s%s",
                             k > 1 ? "/" : "", sg.s[k]);
            if (m < 0 || (size_t)m >= sizeof req->res.file - off)
                return err_set(e, ERR_PARSE, "file path longer than %d bytes", API_RELPATH_MAX);
            off += (size_t)m;
        }
    } else if (sg.n >= 6 && !strcmp(sg.s[0], "studies") && !strcmp(sg.s[2], "series") &&
               !strcmp(sg.s[4], "instances")) {
        if (!api_uid_valid(sg.s[1]) || !api_uid_valid(sg.s[3]) || !api_uid_valid(sg.s[5]))
            return err_set(e, ERR_PARSE, "study, series and instance must be UIDs");
        if (!(tl = match_tail(req, &sg, 6, true, &tail_start, e)))
            return false;
        req->res.kind = API_RES_STORE;
        snprintf(req->res.study, sizeof req->res.study, "%s", sg.s[1]);
        snprintf(req->res.series, sizeof req->res.series, "%s", sg.s[3]);
        snprintf(req->res.sop, sizeof req->res.sop, "%s", sg.s[5]);
    } else {
        return err_set(e, ERR_NOT_FOUND, "no such route");
    }
    if (qm && !parse_query(req, qm + 1, strlen(qm + 1), e))
        return false;
    if (tl->route == API_ROUTE_SEGMENT_MASK && !req->source_uid[0])
        return err_set(e, ERR_PARSE, "mask needs ?source=SOPInstanceUID");
    req->route = tl->route;
    return true;
}

bool api_request_route(struct api_request *req, struct err *e)
{
    req->route = API_ROUTE_NONE;
    req->res.kind = API_RES_NONE;
    req->route_err = (struct err)ERR_INIT;
    struct err local = ERR_INIT;
    if (route(req, &local))
        return true;
    req->route = API_ROUTE_NONE;
    req->res.kind = API_RES_NONE;
    req->route_err = local;
    if (e && e->code == ERR_OK)
        *e = local;
    return false;
}

bool api_route_needs_worker(const struct api_request *req)
{
    return req->route_err.code == ERR_OK && req->method != API_METHOD_OPTIONS &&
           req->method != API_METHOD_OTHER && req->route != API_ROUTE_NONE &&
           req->route != API_ROUTE_HEALTHZ && req->route != API_ROUTE_READYZ &&
           req->route != API_ROUTE_METRICS;
}
