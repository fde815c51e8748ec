/* server/config.c: the one configuration table. Defaults, environment over
 * defaults, flags over environment, the forms of a flag, limits, the bearer
 * token checks, and the --help and start-up lines generated from the table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/config.h"
#include "tests/unit/check.h"

extern char **environ;

/* config_load of argv (NULL-terminated, "serve" first); e receives the error. */
static bool load(struct config *cfg, bool *help, struct err *e, const char **argv)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    *e = (struct err)ERR_INIT;
    return config_load(cfg, argc, (char **)argv, help, e);
}

#define ARGV(...) ((const char *[]){"serve", __VA_ARGS__, NULL})

static void test_defaults(void)
{
    struct config c;
    struct err e;
    bool help = true;
    CHECK(load(&c, &help, &e, (const char *[]){"serve", NULL}), "defaults load: %s", e.msg);
    CHECK(!help, "no --help");
    CHECK(!strcmp(c.listen, "127.0.0.1:8080") && !strcmp(c.store, "./segweb-data") && !c.files_root[0],
          "default strings");
    CHECK(c.workers == 4 && c.queue == 256 && c.cache_mb == 256 && c.png_cache_mb == 64 && c.max_parts == 1000 &&
              c.overwrite == 0 && c.connection_timeout == 30 && c.max_frames == 1000000 &&
              c.max_body == 2147483647u && !strcmp(c.log_level, "info"),
          "default numbers");
}

struct precedence_case {
    const char *env_value; /* SEGWEB_WORKERS, or NULL */
    const char *flag_form; /* "--workers N", "--workers=N", or NULL */
    uint32_t want;
};

static void test_precedence(void)
{
    static const struct precedence_case cases[] = {
        {NULL, NULL, 4},      /* default */
        {"8", NULL, 8},       /* environment beats default */
        {"8", "16", 16},      /* flag beats environment */
        {"8", "=32", 32},     /* --workers=32 */
        {NULL, "=1", 1},      /* the lower limit */
        {NULL, "256", 256},   /* the upper limit */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct precedence_case *k = &cases[i];
        if (k->env_value)
            setenv("SEGWEB_WORKERS", k->env_value, 1);
        else
            unsetenv("SEGWEB_WORKERS");
        struct config c;
        struct err e;
        bool help;
        char joined[64];
        bool ok;
        if (!k->flag_form) {
            ok = load(&c, &help, &e, (const char *[]){"serve", NULL});
        } else if (k->flag_form[0] == '=') {
            snprintf(joined, sizeof joined, "--workers%s", k->flag_form);
            ok = load(&c, &help, &e, ARGV(joined));
        } else {
            ok = load(&c, &help, &e, ARGV("--workers", k->flag_form));
        }
        CHECK(ok && c.workers == k->want, "case %zu: workers %u, want %u (%s)", i, c.workers, k->want, e.msg);
    }
    unsetenv("SEGWEB_WORKERS");
}

static void test_bool(void)
{
    static const struct {
        const char *env;         /* SEGWEB_OVERWRITE, or NULL */
        const char *flag;        /* one argument, or NULL */
        uint32_t want;
    } cases[] = {
        {NULL, "--overwrite", 1}, {NULL, "--overwrite=no", 0}, {NULL, "--overwrite=ON", 1},
        {"yes", NULL, 1},         {"true", "--overwrite=0", 0}, {"off", NULL, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i].env)
            setenv("SEGWEB_OVERWRITE", cases[i].env, 1);
        else
            unsetenv("SEGWEB_OVERWRITE");
        struct config c;
        struct err e;
        bool help;
        bool ok = cases[i].flag ? load(&c, &help, &e, ARGV(cases[i].flag))
                                : load(&c, &help, &e, (const char *[]){"serve", NULL});
        CHECK(ok && c.overwrite == cases[i].want, "bool case %zu: %u, want %u (%s)", i, c.overwrite,
              cases[i].want, e.msg);
    }
    unsetenv("SEGWEB_OVERWRITE");
}

static void test_refusals(void)
{
    char long_listen[300];
    memset(long_listen, 'a', sizeof long_listen - 1);
    long_listen[sizeof long_listen - 1] = 0;
    char long_flag[320];
    snprintf(long_flag, sizeof long_flag, "--listen=%s", long_listen);
    static const char *const messages[] = {
        "outside 1..256", "outside 1..256", "is not a number", "is not a number", "is not a number",
        "needs a value", "unknown option", "unexpected argument", "longer than 255 bytes", "outside 1024..",
        "outside 0..1",
    };
    const char **argvs[] = {
        ARGV("--workers", "0"),   ARGV("--workers=257"), ARGV("--workers", "-1"), ARGV("--workers", "4x"),
        ARGV("--queue="),         ARGV("--queue"),       ARGV("--nope"),          ARGV("workers"),
        ARGV(long_flag),          ARGV("--max-json-bytes", "1023"), ARGV("--overwrite=2"),
    };
    for (size_t i = 0; i < sizeof argvs / sizeof argvs[0]; i++) {
        struct config c;
        struct err e;
        bool help;
        CHECK(!load(&c, &help, &e, argvs[i]) && e.code == ERR_INVALID && strstr(e.msg, messages[i]),
              "refusal %zu (%s): '%s'", i, argvs[i][1], e.msg);
    }
    setenv("SEGWEB_QUEUE", "0", 1);
    struct config c;
    struct err e;
    bool help;
    CHECK(!load(&c, &help, &e, (const char *[]){"serve", NULL}) && strstr(e.msg, "SEGWEB_QUEUE"),
          "a bad environment value names its variable: '%s'", e.msg);
    unsetenv("SEGWEB_QUEUE");
    CHECK(load(&c, &help, &e, ARGV("--help")) && help, "--help sets help");
    CHECK(load(&c, &help, &e, ARGV("-h")) && help, "-h sets help");
}

static void test_auth_token(void)
{
    struct config c;
    struct err e;
    bool help;
    CHECK(load(&c, &help, &e, ARGV("--auth-token", "abc-._~+/123==")) && !strcmp(c.auth_token, "abc-._~+/123=="),
          "a b64token is accepted (%s)", e.msg);
    CHECK(!load(&c, &help, &e, ARGV("--auth-token", "abc def")) && e.code == ERR_INVALID, "a space is refused");
    CHECK(!load(&c, &help, &e, ARGV("--auth-token", "a=b")) && e.code == ERR_INVALID, "'=' only at the end");

    char path[] = "/tmp/segweb-test-config-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    if (fd < 0)
        return;
    dprintf(fd, "s3cret-token \t\r\nsecond line\n");
    close(fd);
    char flag[64];
    snprintf(flag, sizeof flag, "--auth-token-file=%s", path);
    CHECK(load(&c, &help, &e, ARGV("--auth-token", "other", flag)) && !strcmp(c.auth_token, "s3cret-token"),
          "the file's first line, trimmed, beats --auth-token: '%s' (%s)", c.auth_token, e.msg);
    FILE *f = fopen(path, "w");
    if (f)
        fclose(f);
    CHECK(!load(&c, &help, &e, ARGV(flag)) && strstr(e.msg, "no token"), "an empty file: '%s'", e.msg);
    unlink(path);
    CHECK(!load(&c, &help, &e, ARGV(flag)) && e.code == ERR_INVALID, "a missing file: '%s'", e.msg);
}

static void test_generated_text(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    config_help_print(f);
    fclose(f);
    CHECK(text && strstr(text, "usage: segweb serve [OPTIONS]"), "help: usage line");
    CHECK(text && strstr(text, "--workers") && strstr(text, "env SEGWEB_WORKERS, default '4', 1..256"),
          "help: a numeric option with its environment variable, default and limits");
    CHECK(text && strstr(text, "env SEGWEB_LISTEN, default '127.0.0.1:8080'\n"), "help: a string option");
    free(text);

    struct config c;
    struct err e;
    bool help;
    CHECK(load(&c, &help, &e, ARGV("--auth-token", "tok", "--workers", "3")), "load: %s", e.msg);
    f = open_memstream(&text, &len);
    config_print(&c, f);
    fclose(f);
    CHECK(text && !strncmp(text, "segweb serve: effective config: listen=127.0.0.1:8080 store=./segweb-data "
                                 "files-root=(none) workers=3 ",
                           strlen("segweb serve: effective config: listen=127.0.0.1:8080 store=./segweb-data "
                                  "files-root=(none) workers=3 ")),
          "start-up line: '%.120s'", text ? text : "");
    CHECK(text && strstr(text, " auth-token=(set) ") && !strstr(text, "tok "), "the token is never printed");
    CHECK(text && len && text[len - 1] == '\n' && !strchr(text, '\n')[1], "one line");
    free(text);
}

int main(void)
{
    /* Only this test's own SEGWEB_* settings count. */
    for (char **v = environ; *v;) {
        if (!strncmp(*v, "SEGWEB_", 7)) {
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)strcspn(*v, "="), *v);
            unsetenv(name);
            continue; /* environ shifted */
        }
        v++;
    }
    test_defaults();
    test_precedence();
    test_bool();
    test_refusals();
    test_auth_token();
    test_generated_text();
    return check_done();
}
