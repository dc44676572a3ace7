/* pf_loadgen: a closed-loop load generator on one thread and one epoll.
 *
 * Each of `conns` clients keeps `depth` requests outstanding; a request is
 * complete when its whole reply has arrived, and the client then sends the
 * next one. With 0 < active < conns, all `conns` connections are opened but
 * only `active` of them have requests in flight at once: a completion hands
 * the turn to the next idle connection (round robin), so every connection is
 * used and most sit idle (the c10k shape).
 *
 * `stalled` more connections misbehave: they send requests as fast as the
 * server takes them and never read a reply (a client that has stopped
 * reading). They count in no figure; the other connections' latency shows
 * what they cost (backpressure: a server should stop reading them once
 * their replies pile up, and serve everyone else as before).
 *
 * The run lasts warmup_s + measure_s seconds and stops by itself; only
 * requests completed inside the measure window are counted. A server that
 * closes, resets or refuses costs an error and a reconnect after a back-off,
 * never a crash or a busy loop.
 *
 * Plain C, no Python: functions return 0 or -errno.
 */
#ifndef PF_LOADGEN_H
#define PF_LOADGEN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum pf_lg_mode {
    PF_LG_ECHO = 0,    /* send size bytes, expect size bytes back */
    PF_LG_LINE = 1,    /* send a size-byte line ending in '\n', expect it back */
    PF_LG_CONNECT = 2, /* connect, send size bytes, read size bytes back, then close as
                          `closer` says; the latency runs from connect() to the close */
    PF_LG_UDP = 3,     /* send a size-byte datagram, expect one back */
    PF_LG_HTTP = 4,    /* keep-alive GET, reply parsed by Content-Length */
};

/* CONNECT: which side closes first. The side that closes first holds the
 * connection in TIME_WAIT, so both variants exist and every server of a
 * scenario is driven by the same one. */
enum pf_lg_closer {
    PF_LG_CLIENT_CLOSES = 0, /* close right after the reply; the server then sees EOF */
    PF_LG_SERVER_CLOSES = 1, /* after the reply, wait for the server's EOF, then close;
                                a server that does not close within connect_timeout_s
                                costs an error */
};

/* Latency histogram: log-linear, microsecond resolution. Values below
 * 2 * PF_LG_SUB are exact; above, each power of two is split into PF_LG_SUB
 * buckets (about 3 % wide). Values are capped at 2^36 us. */
#define PF_LG_SUB_BITS 5
#define PF_LG_SUB (1u << PF_LG_SUB_BITS)
#define PF_LG_MAX_MSB 36
#define PF_LG_NBUCKETS (2 * PF_LG_SUB + (PF_LG_MAX_MSB - PF_LG_SUB_BITS) * PF_LG_SUB)

struct pf_lg_config {
    int mode;                      /* enum pf_lg_mode */
    struct sockaddr_storage addr;  /* AF_INET, AF_INET6 or AF_UNIX */
    socklen_t addrlen;
    int conns;                     /* connections (sockets for UDP) */
    int active;                    /* 0: all conns active; else max busy conns */
    int stalled;                   /* extra conns that send and never read (TCP modes
                                      but CONNECT); not counted in any figure */
    int depth;                     /* requests outstanding per busy conn (>= 1) */
    size_t size;                   /* request size, bytes (ECHO/LINE/CONNECT/UDP) */
    double warmup_s;               /* seconds before the measure window */
    double measure_s;              /* seconds of the measure window */
    int closer;                    /* CONNECT: enum pf_lg_closer */
    double connect_timeout_s;      /* seconds for a connect to complete, and (CONNECT)
                                      for the reply and close that follow it */
    double udp_timeout_s;          /* seconds before a datagram counts as lost */
    double backoff_s;              /* seconds to wait before reconnecting */
    int connect_burst;             /* max connects in progress while opening the
                                      conns at start; 0 = no limit */
    const char *http_path;         /* HTTP: request target, default "/" */
    const char *http_host;         /* HTTP: Host header value, default "localhost" */
    int mark_fd;                   /* -1, or an fd that gets one byte written at the
                                      start and one at the end of the measure window */
    int stop_fd;                   /* -1, or an fd whose readability ends the run */
    const unsigned char *prefix;   /* CONNECT: sent first on every connection, in
                                      the same segment as the request (MSG_MORE;
                                      e.g. a PROXY protocol header, as HAProxy's
                                      send-proxy sends it when the client's data
                                      is already there); not counted in
                                      bytes_sent. NULL: none */
    size_t prefix_len;             /* bytes (at most a socket buffer's worth) */
};

struct pf_lg_result {
    uint64_t requests;      /* completed inside the measure window */
    uint64_t errors;        /* in the measure window: connection failures, resets,
                               bad replies, non-2xx */
    uint64_t warmup_errors; /* the same, during the warm-up */
    uint64_t lost;          /* UDP datagrams that timed out (re-sent), whole run */
    uint64_t connects;      /* successful connects, whole run */
    uint64_t bytes_sent;    /* inside the measure window, bytes */
    uint64_t bytes_recv;    /* inside the measure window, bytes */
    double elapsed_s;       /* actual measure window length, seconds */
    double cpu_s;           /* load generator thread CPU time in the window, seconds */
    uint64_t lat_min_us;    /* microseconds */
    uint64_t lat_max_us;    /* microseconds */
    uint64_t lat_count;
    double lat_sum_us;      /* microseconds */
    uint64_t hist[PF_LG_NBUCKETS];
    int nofile_limit;       /* RLIMIT_NOFILE soft limit in effect */
};

/* Fill cfg with defaults: ECHO, 1 conn, depth 1, 1024 bytes, 1 s warm-up,
 * 5 s measure, 2 s connect timeout, 0.2 s UDP timeout, 0.05 s back-off,
 * 256 connects at once. The address is left empty. */
void pf_lg_config_init(struct pf_lg_config *cfg);

/* Set cfg's address: a numeric IPv4/IPv6 host or a name such as
 * "localhost", and a port. Returns 0 or -errno (-EINVAL when unresolvable). */
int pf_lg_set_inet(struct pf_lg_config *cfg, const char *host, int port);

/* Set cfg's address to a Unix socket path. Returns 0 or -ENAMETOOLONG. */
int pf_lg_set_unix(struct pf_lg_config *cfg, const char *path);

/* Run the generator to completion. Returns 0, or -errno on a setup failure
 * (bad config, no memory, epoll). Connection failures are counted in
 * res->errors, not returned. */
int pf_loadgen_run(const struct pf_lg_config *cfg, struct pf_lg_result *res);

/* The latency (microseconds) below which fraction q (0..1) of the recorded
 * requests fall; 0 when nothing was recorded. */
uint64_t pf_lg_percentile(const struct pf_lg_result *res, double q);

/* Histogram helpers, exposed for tests. */
unsigned pf_lg_bucket(uint64_t us);
uint64_t pf_lg_bucket_value(unsigned idx);

#endif
