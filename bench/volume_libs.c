/* Which library writes a segment volume fastest (issue 10: "choose by measurement").
 * Input: one .nii.gz written by segweb (read whole with zlib); output written
 * again, slice by slice where the library allows, by:
 *   nifticlib  nifti_image_write_hdr_img + nifti_write_buffer per slice (znzlib,
 *              gzip at its default level), streaming;
 *   teem       nrrdSave of the whole array, gzip (it needs the whole volume in memory);
 *   zlib-gz1   gzwrite of header + all slices at level 1 (what nibabel does);
 * Build + run (bench/volume.py prints the command):
 *   cc -O2 bench/volume_libs.c -o /tmp/volume_libs -lniftiio -lznz -lteem -lz -lm \
 *      -I/usr/include/nifti && /tmp/volume_libs seg.nii.gz /tmp/out
 */
#include <nifti1_io.h>
#include <teem/nrrd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: volume_libs IN.nii.gz OUTPREFIX\n");
        return 2;
    }
    nifti_image *nim = nifti_image_read(argv[1], 1);
    if (!nim)
        return 1;
    size_t nx = nim->nx, ny = nim->ny, nz = nim->nz, slice = nx * ny * nim->nbyper;
    char path[4096];

    double t0 = now();
    snprintf(path, sizeof path, "%s-nifticlib.nii.gz", argv[2]);
    nifti_set_filenames(nim, path, 0, 1);
    znzFile fp = nifti_image_write_hdr_img(nim, 2, "wb");
    for (size_t k = 0; k < nz; k++)
        nifti_write_buffer(fp, (char *)nim->data + k * slice, slice);
    znzclose(fp);
    double t_nifti = now() - t0;

    t0 = now();
    Nrrd *n = nrrdNew();
    size_t sz[3] = {nx, ny, nz};
    nrrdWrap_nva(n, nim->data, nrrdTypeUChar, 3, sz);
    NrrdIoState *io = nrrdIoStateNew();
    io->encoding = nrrdEncodingGzip;
    snprintf(path, sizeof path, "%s-teem.nrrd", argv[2]);
    nrrdSave(path, n, io);
    double t_teem = now() - t0;
    nrrdIoStateNix(io);
    nrrdNix(n);

    t0 = now();
    snprintf(path, sizeof path, "%s-gz1.nii.gz", argv[2]);
    gzFile g = gzopen(path, "wb1");
    char hdr[352] = {0};
    gzwrite(g, hdr, sizeof hdr);
    for (size_t k = 0; k < nz; k++)
        gzwrite(g, (char *)nim->data + k * slice, (unsigned)slice);
    gzclose(g);
    double t_gz1 = now() - t0;

    printf("nifticlib %.3f teem %.3f zlib-gz1 %.3f\n", t_nifti, t_teem, t_gz1);
    nifti_image_free(nim);
    return 0;
}
