/* pf_proxy: the PROXY protocol header a proxy (HAProxy's send-proxy /
 * send-proxy-v2) sends before the client's bytes, so that the server
 * learns the real client's address.  HAProxy's spec, doc/proxy-protocol.txt:
 * version 1 (a text line) and version 2 (binary); both are accepted.
 *
 * An incremental parser, no I/O and no allocation: the caller feeds the
 * bytes that arrive, in as many pieces as they came, and gets
 *
 *   0   need more: every byte fed so far is header (drop them from the
 *       socket / buffer) and the header is not complete yet;
 *       pf_proxy_need() says how many more bytes at least;
 *   1   done: *used bytes of this piece end the header, the rest of the
 *       piece (if any) is the client's first payload; the header is in
 *       p->hdr;
 *   <0  the header is bad, sticky until pf_proxy_init():
 *       -ENOMSG    no PROXY header: the first bytes are neither v1's
 *                  "PROXY " nor v2's 12-byte signature (reported at the
 *                  first byte that differs, without waiting for more);
 *       -EPROTO    malformed (bad v1 field, v2 version/command/family,
 *                  v2 address block shorter than its family's);
 *       -EMSGSIZE  longer than the limit: a v1 line without CRLF in its
 *                  first 107 bytes, or a v2 header (16 + its length
 *                  field) over max_len, reported as soon as the length
 *                  field is in;
 *       p->reason is a static string saying which.
 *
 * Version 1: "PROXY TCP4|TCP6 <src> <dst> <sport> <dport>\r\n" (single
 * spaces, numeric addresses of the stated family, decimal ports 0..65535
 * without leading zeros) or "PROXY UNKNOWN<anything>\r\n"; 107 bytes at
 * most, CRLF included.
 * Version 2: the signature, ver_cmd (version 2; command LOCAL or PROXY),
 * family/transport, a 16-bit length, then the address block of the family
 * (IPv4 12 bytes, IPv6 36, UNIX 216) and TLVs, which are skipped (not
 * kept: the parser holds at most PF_PROXY_KEEP bytes whatever the length).
 *
 * The header (pf_proxy_header) carries family AF_UNSPEC, no address, when
 * the connection's own addresses are to be kept: v1 UNKNOWN, v2 LOCAL
 * (a proxy's health check), v2 family or transport UNSPEC.
 *
 * Plain C11, no Python.h; 0 / a count, or a negative errno.
 */
#ifndef PF_PROXY_H
#define PF_PROXY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define PF_PROXY_V1_MAX 107     /* longest v1 line, CRLF included */
#define PF_PROXY_V2_HDR 16      /* v2 fixed part: signature, ver_cmd, fam, len */
#define PF_PROXY_V2_ADDR_MAX 216 /* v2 UNIX address block */
/* Bytes a parser keeps: the v2 fixed part and the largest address block
 * (more than the longest v1 line). */
#define PF_PROXY_KEEP (PF_PROXY_V2_HDR + PF_PROXY_V2_ADDR_MAX)
#define PF_PROXY_MAX_LEN (PF_PROXY_V2_HDR + 65535) /* what a v2 length allows */
#define PF_PROXY_DEFAULT_MAX 2048 /* default max_len: room for TLVs */

enum { PF_PROXY_CMD_LOCAL = 0, PF_PROXY_CMD_PROXY = 1 };

typedef struct {
    int version;            /* 1 or 2 */
    int command;            /* PF_PROXY_CMD_*: v1 is always PROXY */
    int family;             /* AF_INET, AF_INET6, AF_UNIX, or AF_UNSPEC:
                               keep the connection's own addresses */
    int socktype;           /* SOCK_STREAM, SOCK_DGRAM (v2), 0 if unspecified */
    struct sockaddr_storage src, dst; /* the client's and the proxy's
                               destination, when family != AF_UNSPEC */
    socklen_t src_len, dst_len; /* 0 when family == AF_UNSPEC */
    size_t length;          /* bytes of the header, TLVs included */
} pf_proxy_header;

typedef struct {
    size_t max_len;         /* longest header accepted (bytes) */
    size_t have;            /* header bytes fed so far */
    size_t total;           /* v2: 16 + length field once known; else 0 */
    int state;              /* internal: undecided, v1, v2, done */
    int err;                /* 0, or the sticky negative errno */
    const char *reason;     /* why err, for logs (static string) */
    pf_proxy_header hdr;    /* filled once pf_proxy_feed() returned 1 */
    unsigned char buf[PF_PROXY_KEEP];
} pf_proxy;

/* Start (or start over) with a limit of max_len bytes, in
 * [PF_PROXY_V1_MAX, PF_PROXY_MAX_LEN]; 0 means PF_PROXY_DEFAULT_MAX.
 * 0 or -EINVAL (the parser is then in the error state). */
int pf_proxy_init(pf_proxy *p, size_t max_len);

/* Feed the next len bytes (data may be NULL when len == 0).  1 done,
 * 0 need more, <0 error (see above).  *used (may be NULL): bytes of data
 * that are header: all of them for 0, the header's tail for 1, 0 for an
 * error.  Once done, feeding more returns 1 with *used = 0. */
int pf_proxy_feed(pf_proxy *p, const unsigned char *data, size_t len, size_t *used);

/* The fewest bytes that must still be fed before pf_proxy_feed() can
 * return 1 (>= 1 while it needs more; 0 once done or in error).  A v2
 * header's exact remainder once its length field is in. */
size_t pf_proxy_need(const pf_proxy *p);

/* A network a PROXY header may come from (the server's proxy_trusted). */
typedef struct {
    int family;                /* AF_INET or AF_INET6 */
    int prefix;                /* 0..32 / 0..128 */
    unsigned char addr[16];    /* network address (4 or 16 bytes used) */
} pf_proxy_net;

/* 1 if the peer sa may send a PROXY header: n < 0 (no list), an AF_UNIX
 * peer (the socket file's permissions decide), or its address inside one
 * of nets[0..n) (an IPv4-mapped IPv6 peer matches its IPv4 form); else 0. */
int pf_proxy_trusted(const pf_proxy_net *nets, int n, const struct sockaddr *sa);

#endif
