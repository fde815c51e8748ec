/* decoder/decoder.h's wrappers over the DCMTK bridge (decoder/dataset.h): what the
 * modules above need from an arbitrary DICOM file, without seeing the bridge. */
#include "decoder/decoder.h"

#include <stdio.h>

#include "decoder/dataset.h"

bool decoder_dicom_json_file(const char *path, const char *pixel_data_uri,
                             const char *bulk_uri_prefix, struct buf *out, struct err *e)
{
    return dataset_json_file(path, pixel_data_uri, bulk_uri_prefix, out, e);
}

void decoder_file_uids(const char *path, char *sop_class, size_t sop_class_size,
                       char *sop_instance, size_t sop_instance_size)
{
    sop_class[0] = sop_instance[0] = 0;
    struct err e = ERR_INIT;
    struct dataset_file *f = dataset_open(path, &e);
    if (!f)
        return;
    const char *c = dataset_string(f, dataset_root(f), TAG(0x0008, 0x0016), 0);
    const char *s = dataset_string(f, dataset_root(f), TAG(0x0008, 0x0018), 0);
    snprintf(sop_class, sop_class_size, "%s", c ? c : "");
    snprintf(sop_instance, sop_instance_size, "%s", s ? s : "");
    dataset_close(f);
}
