/*
 * Comma-separated lists (RFC 9110 §5.6.1). See list.h.
 */
#include <string.h>

#include "bastion/list.h"

/* see list.h */
bastion_str bastion_trim_ows(bastion_str s)
{
    while (s.len && (s.ptr[0] == ' ' || s.ptr[0] == '\t')) {
        s.ptr++;
        s.len--;
    }
    while (s.len && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t'))
        s.len--;
    return s;
}

/* see list.h */
bool bastion_list_next(bastion_str *rest, bastion_str *member)
{
    while (rest->ptr && rest->len) {
        const char *comma = memchr(rest->ptr, ',', rest->len);
        size_t n = comma ? (size_t)(comma - rest->ptr) : rest->len;
        bastion_str m = bastion_trim_ows((bastion_str){rest->ptr, n});
        *rest =
            comma ? (bastion_str){comma + 1, rest->len - n - 1} : (bastion_str){rest->ptr + n, 0};
        if (m.len) { /* §5.6.1: empty members are not members */
            *member = m;
            return true;
        }
    }
    *member = BASTION_STR_NULL;
    return false;
}

/* see list.h */
bool bastion_list_find_ci(bastion_str list, bastion_str want, bastion_str *member)
{
    bastion_str m;
    while (bastion_list_next(&list, &m)) {
        if (bastion_str_eq_ci(m, want)) {
            if (member)
                *member = m;
            return true;
        }
    }
    return false;
}
