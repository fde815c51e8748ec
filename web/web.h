/* web/: the page's static files (HTML, CSS, JavaScript modules), embedded in the
 * binary by web/embed.cmake at build time; no build step of their own. */
#ifndef SEGWEB_WEB_WEB_H
#define SEGWEB_WEB_WEB_H

#include <stddef.h>

struct web_asset {
    const char *name;          /* file name, e.g. "view.js" */
    const unsigned char *data; /* NUL-terminated for convenience; size excludes it */
    size_t size;
};

extern const struct web_asset web_assets[];
extern const size_t web_assets_count;

/* The asset called name, or NULL. */
const struct web_asset *web_asset_find(const char *name);

/* Content type for a file name ("text/javascript; charset=utf-8", ...). */
const char *web_content_type(const char *name);

#endif
