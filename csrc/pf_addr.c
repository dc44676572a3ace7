#include "pf_addr.h"
#include "pf_common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/un.h>

int pf_addr_decode(const struct sockaddr *addr, socklen_t len, pf_addr_info *out)
{
    memset(out, 0, sizeof *out);
    out->family = addr->sa_family;
    switch (addr->sa_family) {
    case AF_INET: {
        const struct sockaddr_in *a = (const struct sockaddr_in *)addr;
        inet_ntop(AF_INET, &a->sin_addr, out->host, sizeof out->host);
        out->port = ntohs(a->sin_port);
        return 0;
    }
    case AF_INET6: {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)addr;
        inet_ntop(AF_INET6, &a->sin6_addr, out->host, sizeof out->host);
        out->port = ntohs(a->sin6_port);
        out->flowinfo = ntohl(a->sin6_flowinfo);
        out->scope_id = a->sin6_scope_id;
        return 0;
    }
    case AF_UNIX: {
        const struct sockaddr_un *a = (const struct sockaddr_un *)addr;
        size_t off = offsetof(struct sockaddr_un, sun_path);
        out->path = a->sun_path;
        if (len <= off) {
            out->path_len = 0;
        } else if (a->sun_path[0] == '\0') { /* Linux abstract namespace */
            out->path_len = (int)(len - off);
        } else {
            out->path_len = (int)strnlen(a->sun_path, len - off);
        }
        return 0;
    }
    default:
        return -EAFNOSUPPORT;
    }
}
