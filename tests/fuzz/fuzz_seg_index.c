/* libFuzzer target: the persisted SEG index loader (decoder/seg_index_io.h), a
 * parser of bytes read from disk. The input is a whole index file; the harness
 * makes its header name the stand-in object (a 256 KiB file of patterned bytes)
 * and fixes the payload length and CRC, so that the fuzzer reaches the payload
 * parser and the validator instead of stopping at the checksum (the unit test
 * covers the header checks). An accepted index must read its frames without a
 * crash (their pixels come from the stand-in, so decode errors are fine) and
 * serialize back to the same payload bytes.
 *
 * Seeds: with SEGWEB_FUZZ_WRITE_SEEDS=DIR and SEGWEB_TESTDATA set, the binary
 * writes the index of every corpus SEG into DIR and exits (scripts/fuzz.sh). */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "decoder/decoder.h"

static int object_fd = -1;
static struct stat object_st;

static void write_seeds(const char *testdata, const char *out)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/seg", testdata);
    DIR *d = opendir(dir);
    mkdir(out, 0755);
    for (struct dirent *de; d && (de = readdir(d));) {
        size_t n = strlen(de->d_name);
        if (n < 5 || strcmp(de->d_name + n - 4, ".dcm"))
            continue;
        char in[8192], to[8192];
        snprintf(in, sizeof in, "%s/%s", dir, de->d_name);
        snprintf(to, sizeof to, "%s/%.*s.idx", out, (int)(n - 4), de->d_name);
        struct err e = ERR_INIT;
        struct seg_index *idx = decoder_seg_open(in, NULL, &e);
        int fd = idx ? open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644) : -1;
        if (fd >= 0) {
            decoder_seg_index_write(idx, fd, &e);
            close(fd);
        }
        decoder_seg_free(idx);
    }
    if (d)
        closedir(d);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *seeds = getenv("SEGWEB_FUZZ_WRITE_SEEDS"), *testdata = getenv("SEGWEB_TESTDATA");
    if (seeds && testdata) {
        write_seeds(testdata, seeds);
        exit(0);
    }
    char path[] = "/tmp/fuzz-seg-index-XXXXXX";
    object_fd = mkstemp(path);
    if (object_fd < 0)
        abort();
    unlink(path);
    static uint8_t block[4096];
    for (size_t i = 0; i < sizeof block; i++)
        block[i] = (uint8_t)(i * 131 + 7);
    for (int i = 0; i < 64; i++)
        if (write(object_fd, block, sizeof block) != (ssize_t)sizeof block)
            abort();
    fstat(object_fd, &object_st);
    return 0;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < SEG_INDEX_HEADER_BYTES || size > (16u << 20))
        return 0;
    uint8_t *b = malloc(size);
    if (!b)
        return 0;
    memcpy(b, data, size);
    uint32_t payload = (uint32_t)(size - SEG_INDEX_HEADER_BYTES);
    put64(b + 16, (uint64_t)object_st.st_size);
    put64(b + 24, (uint64_t)object_st.st_ino);
    put64(b + 32, (uint64_t)((int64_t)object_st.st_mtim.tv_sec * 1000000000 + object_st.st_mtim.tv_nsec));
    put32(b + 40, payload);
    put32(b + 44, (uint32_t)crc32(crc32(0, Z_NULL, 0), b + SEG_INDEX_HEADER_BYTES, payload));

    int fd = dup(object_fd);
    struct err e = ERR_INIT;
    struct seg_limits lim = {.max_pixels_per_frame = 1u << 20, .max_frames = 4096, .max_frame_bytes = 4u << 20};
    struct seg_index *idx = decoder_seg_index_parse(b, size, fd, "fuzz-object", &lim, &e);
    if (!idx) {
        close(fd);
        free(b);
        return 0;
    }
    uint32_t frames[3] = {1, idx->number_of_frames, (idx->number_of_frames + 1) / 2};
    for (int i = 0; i < 3; i++) {
        struct seg_pixels px;
        struct err fe = ERR_INIT;
        if (decoder_frame_read(idx, frames[i], &px, &fe))
            decoder_pixels_free(&px);
    }
    for (size_t s = 0; s < idx->n_segments; s++)
        if (decoder_seg_segment(idx, idx->segments[s].number) == NULL)
            abort();
    struct buf again = {0};
    struct err se = ERR_INIT;
    if (!decoder_seg_index_serialize(idx, &again, &se) || again.len != size ||
        memcmp(again.data + SEG_INDEX_HEADER_BYTES, b + SEG_INDEX_HEADER_BYTES, payload))
        abort(); /* an accepted index must serialize back to the bytes it came from */
    buf_free(&again);
    decoder_seg_free(idx);
    free(b);
    return 0;
}
