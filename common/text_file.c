#include "common/text_file.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

bool text_file_first_line(const char *path, char *line, size_t linesz, size_t *n, struct err *e)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return err_set(e, ERR_INVALID, "%s", strerror(errno));
    if (!fgets(line, (int)linesz, f))
        line[0] = 0;
    fclose(f);
    size_t k = strcspn(line, "\r\n");
    while (k && (line[k - 1] == ' ' || line[k - 1] == '\t'))
        k--;
    line[k] = 0;
    *n = k;
    return true;
}
