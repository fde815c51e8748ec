/* Source image geometry through the dataset bridge (decoder/image.h). Enhanced
 * multi-frame sources keep their geometry in functional groups: the shared item
 * is consulted when the top level has none. */
#include <stdio.h>
#include <string.h>

#include "decoder/dataset.h"
#include "decoder/image.h"

static void read_n(const struct dataset_item *it, uint32_t tag, double *out, unsigned n, bool *has)
{
    if (!it || dataset_vm(it, tag) < n)
        return;
    for (unsigned i = 0; i < n; i++)
        if (!dataset_double(it, tag, i, &out[i]))
            return;
    *has = true;
}

static const struct dataset_item *shared_group(const struct dataset_item *root, uint32_t group)
{
    const struct dataset_item *sh = dataset_seq_item(root, TAG(0x5200, 0x9229), 0);
    return sh ? dataset_seq_item(sh, group, 0) : NULL;
}

bool decoder_image_geometry(const char *path, struct decoder_image_geometry *out, struct err *e)
{
    memset(out, 0, sizeof *out);
    struct dataset_file *f = dataset_open(path, e);
    if (!f)
        return false;
    const struct dataset_item *r = dataset_root(f);
    const char *uid = dataset_string(f, r, TAG(0x0008, 0x0018), 0);
    snprintf(out->sop_instance_uid, sizeof out->sop_instance_uid, "%s", uid ? uid : "");
    dataset_uint(r, TAG(0x0028, 0x0010), 0, &out->rows);
    dataset_uint(r, TAG(0x0028, 0x0011), 0, &out->columns);
    read_n(r, TAG(0x0020, 0x0032), out->position, 3, &out->has_position);
    read_n(r, TAG(0x0020, 0x0037), out->orientation, 6, &out->has_orientation);
    read_n(r, TAG(0x0028, 0x0030), out->pixel_spacing, 2, &out->has_pixel_spacing);
    if (!out->has_orientation)
        read_n(shared_group(r, TAG(0x0020, 0x9116)), TAG(0x0020, 0x0037), out->orientation, 6,
               &out->has_orientation);
    if (!out->has_pixel_spacing)
        read_n(shared_group(r, TAG(0x0028, 0x9110)), TAG(0x0028, 0x0030), out->pixel_spacing, 2,
               &out->has_pixel_spacing);
    dataset_close(f);
    return true;
}
