/* GET /view, /view/, /view/_/{asset}, /view/{R}: the page (web/), served from
 * the files embedded in the binary. The HTML holds one placeholder, {{ROOT}}:
 * the relative path from the page's folder to the service root ("../../../"
 * for /view/files/seg/x.dcm), so every URL the page uses is relative and the
 * page works behind --base-path or any proxy prefix. Nothing from the request
 * is written into the HTML. */
#ifndef SEGWEB_API_VIEW_H
#define SEGWEB_API_VIEW_H

#include <stdbool.h>

#include "api/request.h"

/* True when the raw request target is one of the page's paths. */
bool api_view_match(const char *target);

/* Fills r for a GET/HEAD of target (a path api_view_match accepted). */
void api_view_get(const char *target, struct api_response *r);

#endif
