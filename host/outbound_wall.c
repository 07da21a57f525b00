/*
 * SAFE4's wall under the outbound allow-list: which addresses a module's
 * request may connect to. The allow-list matches the URL's text; this file
 * judges the address actually being connected (outbound_curl.c asks it from
 * libcurl's open-socket callback, after resolution, so a name that resolves,
 * or rebinds, to an internal address is caught where it would connect).
 *
 * Refused: every range of the IANA special-purpose registries (RFC 6890) that
 * is not globally reachable, multicast, and the cloud metadata addresses, also
 * when an IPv6 address carries one of them inside (mapped, compatible, NAT64,
 * 6to4). Allowed anyway: the one address the URL names as an IPv4 literal,
 * since that literal already had to match an allow-list entry's host.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "host.h"

/* How an IPv6 range holds an IPv4 address (at byte `v4_at`), which is then
 * judged in its own right: IS_V4, the IPv4 address itself on the wire;
 * CARRIES_V4, one reached through a translator or relay. */
enum v4_inside { OWN = 0, IS_V4, CARRIES_V4 };

/* A range of special-purpose addresses: the first `bits` bits of `prefix`;
 * `what` is the refusal's reason (for a range holding an IPv4 address, what
 * the range is: the IPv4 address's own range is the reason given). */
struct range {
    uint8_t prefix[16];
    unsigned bits;
    const char *what;
    enum v4_inside inside;
    unsigned v4_at;
};

/* First match wins: a narrower range comes before the one that holds it. */
static const struct range V4[] = {
    {{0}, 8, "an unspecified address (0.0.0.0/8)", OWN, 0},              /* RFC 1122 §3.2.1.3 */
    {{10}, 8, "a private address (10.0.0.0/8)", OWN, 0},                 /* RFC 1918 */
    {{100, 64}, 10, "a shared CGNAT address (100.64.0.0/10)", OWN, 0},   /* RFC 6598 */
    {{127}, 8, "a loopback address (127.0.0.0/8)", OWN, 0},              /* RFC 1122 §3.2.1.3 */
    {{169, 254, 169, 254}, 32, "the cloud metadata address", OWN, 0},    /* AWS, GCP, Azure */
    {{169, 254}, 16, "a link-local address (169.254.0.0/16)", OWN, 0},   /* RFC 3927 */
    {{172, 16}, 12, "a private address (172.16.0.0/12)", OWN, 0},        /* RFC 1918 */
    {{192, 0, 0}, 24, "a reserved address (192.0.0.0/24)", OWN, 0},      /* RFC 6890 §2.2.2 */
    {{192, 0, 2}, 24, "a documentation address (192.0.2.0/24)", OWN, 0}, /* RFC 5737 */
    {{192, 88, 99}, 24, "a reserved address (192.88.99.0/24)", OWN, 0},  /* RFC 7526 */
    {{192, 168}, 16, "a private address (192.168.0.0/16)", OWN, 0},      /* RFC 1918 */
    {{198, 18}, 15, "a benchmarking address (198.18.0.0/15)", OWN, 0},   /* RFC 2544 */
    {{198, 51, 100}, 24, "a documentation address (198.51.100.0/24)", OWN, 0}, /* RFC 5737 */
    {{203, 0, 113}, 24, "a documentation address (203.0.113.0/24)", OWN, 0},   /* RFC 5737 */
    {{224}, 4, "a multicast address (224.0.0.0/4)", OWN, 0},                   /* RFC 5771 */
    {{240}, 4, "a reserved address (240.0.0.0/4)", OWN, 0}, /* RFC 1112 §4, broadcast too */
};

static const struct range V6[] = {
    {{0}, 128, "an unspecified address (::)", OWN, 0},              /* RFC 4291 §2.5.2 */
    {{[15] = 1}, 128, "a loopback address (::1)", OWN, 0},          /* RFC 4291 §2.5.3 */
    {{[10] = 0xff, 0xff}, 96, "an IPv4-mapped address", IS_V4, 12}, /* RFC 4291 §2.5.5.2 */
    {{0}, 96, "an IPv4-compatible address", CARRIES_V4, 12},        /* RFC 4291 §2.5.5.1 */
    {{0, 0x64, 0xff, 0x9b}, 96, "a NAT64 address", CARRIES_V4, 12}, /* RFC 6052 §2.1 */
    /* RFC 8215 */
    {{0, 0x64, 0xff, 0x9b, 0, 1}, 48, "a local-use NAT64 address (64:ff9b:1::/48)", OWN, 0},
    {{1}, 64, "a discard-only address (100::/64)", OWN, 0}, /* RFC 6666 */
    /* RFC 3849 */
    {{0x20, 0x01, 0x0d, 0xb8}, 32, "a documentation address (2001:db8::/32)", OWN, 0},
    {{0x20, 0x02}, 16, "a 6to4 address", CARRIES_V4, 2}, /* RFC 3056 §2 */
    /* AWS's IPv6 instance metadata, fd00:ec2::254, inside fc00::/7 below */
    {{0xfd, 0, 0x0e, 0xc2, [14] = 0x02, 0x54}, 128, "the cloud metadata address", OWN, 0},
    {{0xfc}, 7, "a unique local address (fc00::/7)", OWN, 0},       /* RFC 4193 */
    {{0xfe, 0x80}, 10, "a link-local address (fe80::/10)", OWN, 0}, /* RFC 4291 §2.5.6 */
    {{0xfe, 0xc0}, 10, "a site-local address (fec0::/10)", OWN, 0}, /* RFC 3879 */
    {{0xff}, 8, "a multicast address (ff00::/8)", OWN, 0},          /* RFC 4291 §2.7 */
};

static int in_range(const uint8_t *a, const struct range *r)
{
    unsigned whole = r->bits / 8, rest = r->bits % 8;
    if (memcmp(a, r->prefix, whole) != 0)
        return 0;
    if (!rest)
        return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[whole] & mask) == (r->prefix[whole] & mask);
}

static const struct range *find(const uint8_t *a, const struct range *table, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (in_range(a, &table[i]))
            return &table[i];
    return NULL;
}

/* see host.h */
const char *host_outbound_refusal(const struct sockaddr *sa, size_t len, const char *url_host)
{
    uint8_t v4[4];
    int direct = 1; /* the connection goes to v4 itself, not to a translator or relay */
    if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        struct sockaddr_in in;
        memcpy(&in, sa, sizeof in);
        memcpy(v4, &in.sin_addr, 4);
    } else if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        struct sockaddr_in6 in6;
        memcpy(&in6, sa, sizeof in6);
        const uint8_t *a = in6.sin6_addr.s6_addr;
        const struct range *r = find(a, V6, sizeof V6 / sizeof V6[0]);
        if (!r)
            return NULL;
        if (r->inside == OWN)
            return r->what;
        memcpy(v4, a + r->v4_at, 4);
        direct = r->inside == IS_V4;
    } else {
        return "not an IP address";
    }
    const struct range *r = find(v4, V4, sizeof V4 / sizeof V4[0]);
    if (!r)
        return NULL;
    /* Named: the URL's host is a dotted-quad literal (inet_pton takes no other
     * IPv4 spelling, so "0177.1" or "2130706433" never names anything) equal
     * to the address being connected. */
    struct in_addr named;
    if (direct && url_host && inet_pton(AF_INET, url_host, &named) == 1 &&
        memcmp(&named, v4, 4) == 0)
        return NULL;
    return r->what;
}
