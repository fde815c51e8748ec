/* Placeholder until the HTTP service lands (replaced by server/serve.c proper). */
#include <stdio.h>

#include "server/serve.h"

int serve_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "segweb: serve is not built yet\n");
    return 1;
}
