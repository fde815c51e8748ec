/* Looking up the embedded files (web/web.h). */
#include "web/web.h"

#include <string.h>

const struct web_asset *web_asset_find(const char *name)
{
    for (size_t i = 0; i < web_assets_count; i++)
        if (!strcmp(web_assets[i].name, name))
            return &web_assets[i];
    return NULL;
}

const char *web_content_type(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (dot && !strcmp(dot, ".js"))
        return "text/javascript; charset=utf-8";
    if (dot && !strcmp(dot, ".css"))
        return "text/css; charset=utf-8";
    if (dot && !strcmp(dot, ".html"))
        return "text/html; charset=utf-8";
    return "application/octet-stream";
}
