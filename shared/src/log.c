/*
 * Safe structured logging (OBS1): redaction and masking before bastion_log.
 * The rules and their order are documented in log.h.
 */
#include <string.h>

#include "bastion/log.h"

/* A growing arena string; the arena frees everything at once. */
typedef struct {
    char *p;
    size_t len, cap;
} text_buf;

static void buf_init(text_buf *b, size_t hint)
{
    b->cap = hint + 16;
    b->p = bastion_alloc(b->cap);
    b->len = 0;
}

static void buf_put(text_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *p = bastion_alloc(cap);
        memcpy(p, b->p, b->len);
        b->p = p;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
}

static bastion_str buf_done(text_buf *b)
{
    buf_put(b, "", 0);
    b->p[b->len] = 0;
    return (bastion_str){b->p, b->len};
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_word(char c)
{
    return is_alpha(c) || is_digit(c) || c == '_';
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

/* `word` (lower case) at t[i], ignoring ASCII case */
static bool at_ci(bastion_str t, size_t i, const char *word)
{
    size_t n = strlen(word);
    if (t.len - i < n)
        return false;
    for (size_t k = 0; k < n; k++)
        if (lower(t.ptr[i + k]) != word[k])
            return false;
    return true;
}

/* see log.h */
bool bastion_log_secret_name(bastion_str name)
{
    static const char *const SECRET[] = {
        "secret",  "token",  "password",  "passwd",  "authorization", "api_key",     "apikey",
        "api-key", "cookie", "signature", "session", "credential",    "private_key", "jwt",
    };
    for (size_t i = 0; name.ptr && i < name.len; i++)
        for (size_t k = 0; k < BASTION_COUNTOF(SECRET); k++)
            if (at_ci(name, i, SECRET[k]))
                return true;
    return false;
}

/* --- rule 2: credentials in text --- */

static bool b64url_char(char c)
{
    return is_alpha(c) || is_digit(c) || c == '-' || c == '_';
}

/* RFC 7235 §2.1 token68 */
static bool token68_char(char c)
{
    return b64url_char(c) || c == '.' || c == '~' || c == '+' || c == '/' || c == '=';
}

/* A JWS/JWT compact serialisation at t[i] (RFC 7515 §7.1: three base64url
 * parts; the header is JSON, so it starts with "eyJ", base64 of `{"`).
 * Returns its end, or 0. */
static size_t jwt_end(bastion_str t, size_t i)
{
    if (t.len - i < 3 || memcmp(t.ptr + i, "eyJ", 3) != 0 || (i && b64url_char(t.ptr[i - 1])))
        return 0;
    size_t j = i, dots = 0;
    for (; j < t.len && (b64url_char(t.ptr[j]) || t.ptr[j] == '.'); j++)
        dots += t.ptr[j] == '.';
    return dots == 2 ? j : 0;
}

/* RFC 4648 §4 base64 with padding only at the end, length a multiple of 4 */
static bool base64_token(const char *p, size_t n)
{
    size_t pad = 0;
    while (pad < 2 && pad < n && p[n - 1 - pad] == '=')
        pad++;
    if (n % 4)
        return false;
    for (size_t i = 0; i < n - pad; i++)
        if (!(is_alpha(p[i]) || is_digit(p[i]) || p[i] == '+' || p[i] == '/'))
            return false;
    return true;
}

#define CREDENTIAL_MIN 8 /* shorter words after "bearer"/"basic" are prose */

/* The credential after "Bearer " (RFC 6750 §2.1) or "Basic " (RFC 7617 §2)
 * at t[i], ignoring case: sets *start and returns its end, or 0. A Basic
 * credential must also be base64, so "basic configuration" stays. */
static size_t scheme_credential(bastion_str t, size_t i, size_t *start)
{
    if (i && is_word(t.ptr[i - 1]))
        return 0;
    bool basic = at_ci(t, i, "basic ");
    if (!basic && !at_ci(t, i, "bearer "))
        return 0;
    size_t j = i + (basic ? 6 : 7), end;
    while (j < t.len && t.ptr[j] == ' ')
        j++;
    for (end = j; end < t.len && token68_char(t.ptr[end]);)
        end++;
    if (end - j < CREDENTIAL_MIN || (basic && !base64_token(t.ptr + j, end - j)))
        return 0;
    *start = j;
    return end;
}

static bastion_str redact_credentials(bastion_str t)
{
    text_buf b;
    buf_init(&b, t.len);
    size_t copied = 0;
    for (size_t i = 0; i < t.len;) {
        size_t start = i, end = jwt_end(t, i);
        if (!end)
            end = scheme_credential(t, i, &start);
        if (!end) {
            i++;
            continue;
        }
        buf_put(&b, t.ptr + copied, start - copied);
        buf_put(&b, BASTION_LOG_REDACTED, sizeof BASTION_LOG_REDACTED - 1);
        i = copied = end;
    }
    buf_put(&b, t.ptr + copied, t.len - copied);
    return buf_done(&b);
}

/* --- rule 3: emails --- */

/* the common unquoted local-part characters (a subset of RFC 5322 atext):
 * narrower than the validator so that "email=ann@x.io" keeps "email=" */
static bool local_char(char c)
{
    return is_alpha(c) || is_digit(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

static bool domain_char(char c)
{
    return is_alpha(c) || is_digit(c) || c == '-' || c == '.';
}

/* LDH labels with at least one dot and an alphabetic TLD of 2+ letters */
static bool domain_ok(const char *d, size_t n)
{
    if (n < 4 || !(is_alpha(d[0]) || is_digit(d[0])))
        return false;
    size_t tld = n;
    while (tld > 0 && d[tld - 1] != '.')
        tld--;
    if (tld == 0 || n - tld < 2)
        return false;
    for (size_t i = tld; i < n; i++)
        if (!is_alpha(d[i]))
            return false;
    for (size_t i = 1; i < n; i++)
        if (d[i] == '.' && d[i - 1] == '.')
            return false;
    return true;
}

static bastion_str mask_emails(bastion_str t)
{
    text_buf b;
    buf_init(&b, t.len);
    size_t copied = 0;
    for (size_t at = 0; at < t.len; at++) {
        if (t.ptr[at] != '@')
            continue;
        size_t l = at, r = at + 1;
        while (l > copied && local_char(t.ptr[l - 1]))
            l--;
        while (l < at && t.ptr[l] == '.')
            l++;
        while (r < t.len && domain_char(t.ptr[r]))
            r++;
        while (r > at + 1 && (t.ptr[r - 1] == '.' || t.ptr[r - 1] == '-'))
            r--; /* the full stop after an address ends the sentence, not the domain */
        if (l == at || !domain_ok(t.ptr + at + 1, r - at - 1))
            continue;
        buf_put(&b, t.ptr + copied, l + 1 - copied); /* up to and with the first character */
        buf_put(&b, "***", 3);
        buf_put(&b, t.ptr + at, r - at); /* "@domain" */
        copied = r;
        at = r - 1;
    }
    buf_put(&b, t.ptr + copied, t.len - copied);
    return buf_done(&b);
}

/* --- rule 4: phone numbers --- */

#define PHONE_MIN_DIGITS 8
#define PHONE_MAX_RUN    48 /* "+1 (415) 555-2671" is 17; longer runs are not phones */

static bool phone_sep(char c)
{
    return c == ' ' || c == '-' || c == '.' || c == '(' || c == ')';
}

/* A phone starts a token: after whitespace or punctuation that delimits
 * values, never inside a word, path, address or identifier. */
static bool phone_start_ok(bastion_str t, size_t i)
{
    if (i == 0)
        return true;
    char p = t.ptr[i - 1];
    return p == ' ' || p == '\t' || p == '\n' || p == '\r' || (p && strchr("\"'(<[{:=,;", p));
}

static bool iso_date_at(bastion_str t, size_t i)
{
    static const char shape[] = "dddd-dd-dd";
    if (t.len - i < sizeof shape - 1)
        return false;
    for (size_t k = 0; k < sizeof shape - 1; k++)
        if (shape[k] == 'd' ? !is_digit(t.ptr[i + k]) : t.ptr[i + k] != '-')
            return false;
    return true;
}

/* t[i..end) is a dotted quad: four groups of 1-3 digits */
static bool ipv4_run(bastion_str t, size_t i, size_t end)
{
    size_t groups = 1, len = 0;
    for (size_t k = i; k < end; k++) {
        if (is_digit(t.ptr[k])) {
            if (++len > 3)
                return false;
        } else if (t.ptr[k] == '.' && len > 0) {
            groups++;
            len = 0;
        } else {
            return false;
        }
    }
    return groups == 4 && len > 0;
}

/* Masking keeps the length, so it works on a copy in place. */
static bastion_str mask_phones(bastion_str t)
{
    char *out = bastion_str_dup(t);
    for (size_t i = 0; i < t.len;) {
        char c = t.ptr[i];
        if (!(c == '+' || c == '(' || is_digit(c)) || !phone_start_ok(t, i)) {
            i++;
            continue;
        }
        size_t last4[4] = {0}, digits = 0, last = i, j = i + (c == '+');
        for (; j < t.len && j - i < PHONE_MAX_RUN; j++) {
            if (is_digit(t.ptr[j])) {
                last4[digits++ % 4] = j;
                last = j;
            } else if (!phone_sep(t.ptr[j])) {
                break;
            }
        }
        size_t end = last + 1;
        bool overlong =
            j - i >= PHONE_MAX_RUN && j < t.len && (is_digit(t.ptr[j]) || phone_sep(t.ptr[j]));
        bool phone = digits >= PHONE_MIN_DIGITS && !overlong &&
                     !(end < t.len && (is_word(t.ptr[end]) || t.ptr[end] == ':')) &&
                     !iso_date_at(t, i) && !ipv4_run(t, i, end);
        if (!phone) {
            i++;
            continue;
        }
        size_t keep_from = last4[digits % 4]; /* the 4th digit from the end */
        for (size_t k = c == '+' ? i + 2 : i; k < keep_from; k++)
            out[k] = '*';
        i = end;
    }
    return (bastion_str){out, t.len};
}

/* see log.h */
bastion_str bastion_log_mask(bastion_str text)
{
    if (!text.ptr)
        text = (bastion_str){"", 0};
    return mask_phones(mask_emails(redact_credentials(text)));
}

/* see log.h */
void bastion_log_safe(bastion_log_level level, const char *msg, const bastion_header *fields,
                      size_t n)
{
    bastion_header *safe = bastion_alloc((n + 1) * sizeof *safe);
    for (size_t i = 0; i < n; i++) {
        safe[i].name = fields[i].name;
        safe[i].value = bastion_log_secret_name(fields[i].name) ? BASTION_LIT(BASTION_LOG_REDACTED)
                                                                : bastion_log_mask(fields[i].value);
    }
    bastion_log(level, bastion_log_mask(bastion_cstr(msg)).ptr, safe, n);
}
