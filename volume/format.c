/* File headers: NIfTI-1 (348 bytes + the 4-byte extension flag, written field by
 * field at the offsets of nifti1.h, little-endian) and NRRD (text, as 3D Slicer
 * and dcmqi write it: left-posterior-superior, space directions and origin,
 * gzip encoding).
 *
 * NIfTI's world is RAS: the affine is DICOM's LPS one with its first two rows
 * negated. qform (quaternion, qfac) and sform both carry it, code 1 (scanner),
 * units mm: what ITK and dcmqi write. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "volume/internal.h"

void format_ras_affine(const struct volume_grid *g, double m[4][4])
{
    for (int r = 0; r < 3; r++) {
        double sign = r < 2 ? -1.0 : 1.0;
        for (int c = 0; c < 3; c++)
            m[r][c] = sign * g->axes[c][r] * g->spacing[c];
        m[r][3] = sign * g->origin[r];
    }
    m[3][0] = m[3][1] = m[3][2] = 0;
    m[3][3] = 1;
}

static void put16(uint8_t *h, size_t off, int16_t v)
{
    uint16_t u = (uint16_t)v;
    h[off] = (uint8_t)u;
    h[off + 1] = (uint8_t)(u >> 8);
}

static void put32(uint8_t *h, size_t off, uint32_t u)
{
    for (int i = 0; i < 4; i++)
        h[off + i] = (uint8_t)(u >> (8 * i));
}

static void putf(uint8_t *h, size_t off, double v)
{
    float f = (float)v;
    uint32_t u;
    memcpy(&u, &f, 4);
    put32(h, off, u);
}

/* Quaternion of a rotation matrix (columns = unit axes), after nifti1_io's
 * nifti_mat44_to_quatern. Returns qfac (+1 or -1). */
static double quatern(double r[3][3], double *qb, double *qc, double *qd)
{
    double det = r[0][0] * (r[1][1] * r[2][2] - r[1][2] * r[2][1]) -
                 r[0][1] * (r[1][0] * r[2][2] - r[1][2] * r[2][0]) +
                 r[0][2] * (r[1][0] * r[2][1] - r[1][1] * r[2][0]);
    double qfac = 1;
    if (det < 0) {
        qfac = -1;
        r[0][2] = -r[0][2];
        r[1][2] = -r[1][2];
        r[2][2] = -r[2][2];
    }
    double a = r[0][0] + r[1][1] + r[2][2] + 1, b, c, d;
    if (a > 0.5) {
        a = 0.5 * sqrt(a);
        b = 0.25 * (r[2][1] - r[1][2]) / a;
        c = 0.25 * (r[0][2] - r[2][0]) / a;
        d = 0.25 * (r[1][0] - r[0][1]) / a;
    } else {
        double xd = 1 + r[0][0] - (r[1][1] + r[2][2]);
        double yd = 1 + r[1][1] - (r[0][0] + r[2][2]);
        double zd = 1 + r[2][2] - (r[0][0] + r[1][1]);
        if (xd > 1) {
            b = 0.5 * sqrt(xd);
            c = 0.25 * (r[0][1] + r[1][0]) / b;
            d = 0.25 * (r[0][2] + r[2][0]) / b;
            a = 0.25 * (r[2][1] - r[1][2]) / b;
        } else if (yd > 1) {
            c = 0.5 * sqrt(yd);
            b = 0.25 * (r[0][1] + r[1][0]) / c;
            d = 0.25 * (r[1][2] + r[2][1]) / c;
            a = 0.25 * (r[0][2] - r[2][0]) / c;
        } else {
            d = 0.5 * sqrt(zd);
            b = 0.25 * (r[0][2] + r[2][0]) / d;
            c = 0.25 * (r[1][2] + r[2][1]) / d;
            a = 0.25 * (r[1][0] - r[0][1]) / d;
        }
        if (a < 0) {
            b = -b;
            c = -c;
            d = -d;
        }
    }
    *qb = b;
    *qc = c;
    *qd = d;
    return qfac;
}

void format_nifti_header(const struct volume_grid *g, uint8_t bpv, double scl_slope,
                         uint8_t h[NIFTI_HEADER_BYTES])
{
    memset(h, 0, NIFTI_HEADER_BYTES);
    put32(h, 0, 348);                     /* sizeof_hdr */
    h[38] = 'r';                          /* regular */
    int16_t dim[8] = {3, (int16_t)g->ni, (int16_t)g->nj, (int16_t)g->nk, 1, 1, 1, 1};
    for (int i = 0; i < 8; i++)
        put16(h, 40 + 2 * i, dim[i]);
    put16(h, 70, bpv == 1 ? 2 : 512);     /* datatype: DT_UINT8 / DT_UINT16 */
    put16(h, 72, (int16_t)(8 * bpv));     /* bitpix */

    double m[4][4], r[3][3];
    format_ras_affine(g, m);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            r[i][j] = m[i][j] / g->spacing[j];
    double qb, qc, qd, qfac = quatern(r, &qb, &qc, &qd);
    double pixdim[8] = {qfac, g->spacing[0], g->spacing[1], g->spacing[2], 1, 1, 1, 1};
    for (int i = 0; i < 8; i++)
        putf(h, 76 + 4 * i, pixdim[i]);
    putf(h, 108, NIFTI_HEADER_BYTES);     /* vox_offset */
    putf(h, 112, scl_slope);              /* scl_slope */
    putf(h, 116, 0);                      /* scl_inter */
    h[123] = 2;                           /* xyzt_units: NIFTI_UNITS_MM */
    snprintf((char *)h + 148, 80, "segweb volume");
    put16(h, 252, 1);                     /* qform_code: NIFTI_XFORM_SCANNER_ANAT */
    put16(h, 254, 1);                     /* sform_code */
    putf(h, 256, qb);
    putf(h, 260, qc);
    putf(h, 264, qd);
    putf(h, 268, m[0][3]);
    putf(h, 272, m[1][3]);
    putf(h, 276, m[2][3]);
    for (int row = 0; row < 3; row++)
        for (int c = 0; c < 4; c++)
            putf(h, 280 + 16 * row + 4 * c, m[row][c]);
    memcpy(h + 344, "n+1\0", 4);          /* magic: single file */
    /* h[348..351]: extension flag, all zero (no extensions) */
}

bool format_nrrd_header(const struct volume_grid *g, uint8_t bpv, double scale, struct buf *out,
                        struct err *e)
{
    char s[2048];
    const double(*a)[3] = g->axes;
    const double *sp = g->spacing;
    int n = snprintf(s, sizeof s,
                     "NRRD0004\n"
                     "# Complete NRRD file format specification at:\n"
                     "# http://teem.sourceforge.net/nrrd/format.html\n"
                     "type: %s\n"
                     "dimension: 3\n"
                     "space: left-posterior-superior\n"
                     "sizes: %u %u %u\n"
                     "space directions: (%.17g,%.17g,%.17g) (%.17g,%.17g,%.17g) (%.17g,%.17g,%.17g)\n"
                     "kinds: domain domain domain\n"
                     "endian: little\n"
                     "encoding: gzip\n"
                     "space origin: (%.17g,%.17g,%.17g)\n",
                     bpv == 1 ? "unsigned char" : "unsigned short", g->ni, g->nj, g->nk,
                     a[0][0] * sp[0], a[0][1] * sp[0], a[0][2] * sp[0], a[1][0] * sp[1],
                     a[1][1] * sp[1], a[1][2] * sp[1], a[2][0] * sp[2], a[2][1] * sp[2],
                     a[2][2] * sp[2], g->origin[0], g->origin[1], g->origin[2]);
    if (n < 0 || (size_t)n >= sizeof s)
        return err_set(e, ERR_INTERNAL, "NRRD header too long");
    if (scale > 0) { /* FRACTIONAL: stored value * scale = probability (a key/value pair) */
        int m = snprintf(s + n, sizeof s - n, "segweb_value_scale:=%.17g\n", scale);
        if (m < 0 || (size_t)m >= sizeof s - n)
            return err_set(e, ERR_INTERNAL, "NRRD header too long");
        n += m;
    }
    s[n++] = '\n';
    return buf_append(out, s, (size_t)n, e);
}
