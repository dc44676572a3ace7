/* pf_addr.h: socket addresses in the shape Python's socket module gives. */
#ifndef PF_ADDR_H
#define PF_ADDR_H

#include <stdint.h>
#include <sys/socket.h>

typedef struct pf_addr_info {
    int family;          /* AF_INET, AF_INET6, AF_UNIX */
    char host[64];       /* numeric host (INET/INET6) */
    int port;            /* host byte order */
    uint32_t flowinfo;   /* INET6 */
    uint32_t scope_id;   /* INET6 */
    const char *path;    /* UNIX: points into the sockaddr, path_len bytes */
    int path_len;        /* UNIX: 0 for an unnamed socket */
} pf_addr_info;

/* Decode addr into out.  0 or -EAFNOSUPPORT. */
int pf_addr_decode(const struct sockaddr *addr, socklen_t len, pf_addr_info *out);

#endif
