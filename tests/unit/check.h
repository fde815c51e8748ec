/* The unit tests' one harness. CHECK(cond, fmt, ...) counts a pass, or prints
 * the place and the message of a failure and goes on; main returns
 * check_done(), which prints the tally. check_testdata() is the shared corpus
 * (SEGWEB_TESTDATA, set by tests/CMakeLists.txt) or NULL when it is missing;
 * a test that needs it then returns check_skip(reason), which ctest reports
 * as skipped (SKIP_RETURN_CODE 77), or calls check_corpus(), which does both.
 * check_tmpdir() / check_rmtree() make and remove a scratch directory. Each test
 * binary is one .c file. */
#ifndef SEGWEB_TESTS_UNIT_CHECK_H
#define SEGWEB_TESTS_UNIT_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int check_passed, check_failed;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (cond) {                                                                                \
            check_passed++;                                                                        \
        } else {                                                                                   \
            check_failed++;                                                                        \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                            \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
        }                                                                                          \
    } while (0)

static inline int check_done(void)
{
    printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed ? 1 : 0;
}

static inline const char *check_testdata(void)
{
    const char *dir = getenv("SEGWEB_TESTDATA");
    if (dir && *dir && access(dir, R_OK) == 0)
        return dir;
    return NULL;
}

/* A new directory /tmp/segweb-test-<name>-XXXXXX in dir; exits (status 1) when it
 * cannot be made. */
static inline void check_tmpdir(const char *name, char *dir, size_t dirsz)
{
    snprintf(dir, dirsz, "/tmp/segweb-test-%s-XXXXXX", name);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
}

/* Removes dir and everything below it. */
static inline void check_rmtree(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        printf("could not remove %s\n", dir);
}

static inline int check_skip(const char *reason)
{
    printf("SKIP: %s\n", reason);
    return 77;
}

/* The shared corpus (check_testdata); when it is missing the test is skipped right
 * there (exit status 77, see check_skip). */
static inline const char *check_corpus(void)
{
    const char *dir = check_testdata();
    if (!dir)
        exit(check_skip("the shared corpus (SEGWEB_TESTDATA, ../shared/testdata) is missing"));
    return dir;
}

#endif
