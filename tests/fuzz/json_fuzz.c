/* Differential: whatever the strict checker accepts, cJSON must parse, to
 * the end of the input. */
#include <stdlib.h>

#include <bastion/json.h>
#include <cjson/cJSON.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bastion_str s = {(const char *)data, size};
    if (bastion_json_check(s, 32) != BASTION_JSON_OK)
        return 0;
    const char *end = NULL;
    cJSON *v = cJSON_ParseWithLengthOpts(s.ptr, s.len, &end, 0);
    if (!v)
        abort(); /* accepted by the checker, rejected by cJSON */
    cJSON_Delete(v);
    return 0;
}
