/* pf_loadgen.c: see pf_loadgen.h. One thread, one level-triggered pf_loop. */
#include "pf_loadgen.h"
#include "pf_common.h"
#include "pf_loop.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stddef.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define LG_MAX_EVENTS 256
#define LG_RBUF (256 * 1024)
#define LG_HBUF 4096
#define LG_TICK_NS 5000000ull  /* timer scan period: 5 ms */
/* stop_fd's pf_loop tag: connection index UINT32_MAX (never one), gen 0 */
#define LG_STOP_KEY ((uint64_t)UINT32_MAX)

enum { ST_CLOSED = 0, ST_CONNECTING, ST_OPEN, ST_WAIT };
enum { HS_HEAD = 0, HS_BODY };

struct lg_conn {
    int fd;
    int state;
    uint32_t gen;          /* bumped on every close: stale events are ignored */
    uint32_t events;       /* events registered with the loop */
    int busy;              /* active mode: holds one of the `active` turns */
    int stalled;           /* sends forever, never reads, counts in nothing */
    int inflight;          /* requests started whose reply is not complete */
    int head;              /* ring index of the oldest start time */
    uint64_t *t_start;     /* ring of `depth` start times, ns */
    uint64_t to_send;      /* bytes (datagrams for UDP) queued, not yet sent */
    size_t phase;          /* bytes of the current request already sent */
    uint64_t recv_got;     /* bytes of the current reply received */
    uint64_t deadline;     /* ns; 0 = none (connect timeout, back-off, UDP loss) */
    /* HTTP reply parsing */
    char *hbuf;
    unsigned hlen;
    int hstate;
    int hstatus;
    int hclose;
    uint64_t body_left;
};

struct lg {
    const struct pf_lg_config *cfg;
    struct pf_lg_result *res;
    pf_loop loop;
    int loop_ok;           /* loop opened */
    int n;                 /* connections in all: conns + stalled */
    int nreq;              /* the first nreq are the measured ones */
    int depth;
    int active_max;        /* 0 = every connection always busy */
    int active_now;
    int rr;                /* round-robin cursor for handing out turns */
    struct lg_conn *c;
    uint64_t *ring_mem;
    char *hbuf_mem;
    char *pattern;         /* `reps` copies of one request */
    size_t reqlen;         /* bytes in one request */
    size_t patlen;
    char *rbuf;
    uint64_t now;
    uint64_t t_m0, t_m1;   /* measure window, ns */
    int measuring;
    double cpu0;
    int connecting;        /* connections in ST_CONNECTING */
    int next_open;         /* first connection never opened yet */
};

static uint64_t now_ns(void)
{
    return (uint64_t)pf_now_ns();
}

static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- histogram ------------------------------------------------------- */

unsigned pf_lg_bucket(uint64_t us)
{
    if (us < 2 * PF_LG_SUB)
        return (unsigned)us;
    unsigned msb = 63u - (unsigned)__builtin_clzll(us);
    if (msb > PF_LG_MAX_MSB)
        return PF_LG_NBUCKETS - 1;
    unsigned shift = msb - PF_LG_SUB_BITS;
    return 2 * PF_LG_SUB + (shift - 1) * PF_LG_SUB + (unsigned)((us >> shift) - PF_LG_SUB);
}

uint64_t pf_lg_bucket_value(unsigned idx)
{
    if (idx < 2 * PF_LG_SUB)
        return idx;
    unsigned k = idx - 2 * PF_LG_SUB;
    unsigned shift = k / PF_LG_SUB + 1;
    uint64_t low = (uint64_t)(k % PF_LG_SUB + PF_LG_SUB) << shift;
    return low + (((uint64_t)1 << shift) - 1) / 2;   /* bucket midpoint */
}

uint64_t pf_lg_percentile(const struct pf_lg_result *res, double q)
{
    if (res->lat_count == 0)
        return 0;
    if (q <= 0)
        return res->lat_min_us;
    if (q >= 1)
        return res->lat_max_us;
    uint64_t want = (uint64_t)(q * (double)res->lat_count + 0.999999);
    uint64_t seen = 0;
    for (unsigned i = 0; i < PF_LG_NBUCKETS; i++) {
        seen += res->hist[i];
        if (seen >= want) {
            uint64_t v = pf_lg_bucket_value(i);
            if (v > res->lat_max_us)
                v = res->lat_max_us;
            if (v < res->lat_min_us)
                v = res->lat_min_us;
            return v;
        }
    }
    return res->lat_max_us;
}

static void record(struct lg *g, uint64_t t0)
{
    struct pf_lg_result *r = g->res;
    uint64_t us = (g->now - t0 + 500) / 1000;
    r->hist[pf_lg_bucket(us)]++;
    if (r->lat_count == 0 || us < r->lat_min_us)
        r->lat_min_us = us;
    if (us > r->lat_max_us)
        r->lat_max_us = us;
    r->lat_count++;
    r->lat_sum_us += (double)us;
}

static void count_error(struct lg *g)
{
    if (g->measuring)
        g->res->errors++;
    else
        g->res->warmup_errors++;
}

/* ---- config ---------------------------------------------------------- */

void pf_lg_config_init(struct pf_lg_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->mode = PF_LG_ECHO;
    cfg->conns = 1;
    cfg->depth = 1;
    cfg->size = 1024;
    cfg->warmup_s = 1.0;
    cfg->measure_s = 5.0;
    cfg->connect_timeout_s = 2.0;
    cfg->udp_timeout_s = 0.2;
    cfg->backoff_s = 0.05;
    cfg->connect_burst = 256;
    cfg->mark_fd = -1;
    cfg->stop_fd = -1;
}

int pf_lg_set_inet(struct pf_lg_config *cfg, const char *host, int port)
{
    struct addrinfo hints, *ai = NULL;
    char serv[16];
    if (port < 0 || port > 65535)
        return -EINVAL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(serv, sizeof(serv), "%d", port);
    int rc = getaddrinfo(host, serv, &hints, &ai);
    if (rc != 0 || ai == NULL)
        return rc == EAI_SYSTEM ? -errno : -EINVAL;
    memcpy(&cfg->addr, ai->ai_addr, ai->ai_addrlen);
    cfg->addrlen = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

int pf_lg_set_unix(struct pf_lg_config *cfg, const char *path)
{
    struct sockaddr_un *sun = (struct sockaddr_un *)&cfg->addr;
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof(sun->sun_path))
        return -ENAMETOOLONG;
    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    memcpy(sun->sun_path, path, len);
    cfg->addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
    return 0;
}

static int raise_nofile(int need, int *limit)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -errno;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)need) {
        rlim_t want = (rlim_t)need;
        if (rl.rlim_max != RLIM_INFINITY && want > rl.rlim_max)
            want = rl.rlim_max;
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            return -errno;
    }
    *limit = rl.rlim_cur == RLIM_INFINITY ? -1 : (int)rl.rlim_cur;
    return rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= (rlim_t)need ? 0 : -EMFILE;
}

/* ---- connection plumbing -------------------------------------------- */

static uint64_t key_of(struct lg *g, struct lg_conn *c)
{
    return (uint64_t)(c - g->c) | ((uint64_t)c->gen << 32);
}

static void set_events(struct lg *g, struct lg_conn *c, uint32_t ev)
{
    if (c->fd < 0 || c->events == ev)
        return;
    if (pf_loop_mod(&g->loop, c->fd, ev, key_of(g, c)) == 0)
        c->events = ev;
}

static void conn_close(struct lg *g, struct lg_conn *c)
{
    if (c->fd >= 0) {
        while (close(c->fd) < 0 && errno == EINTR)
            ;
        c->fd = -1;
    }
    if (c->state == ST_CONNECTING)
        g->connecting--;
    c->gen++;
    c->events = 0;
    c->state = ST_CLOSED;
    c->inflight = 0;
    c->head = 0;
    c->to_send = 0;
    c->phase = 0;
    c->recv_got = 0;
    c->deadline = 0;
    c->hlen = 0;
    c->hstate = HS_HEAD;
    c->body_left = 0;
    if (c->busy) {
        c->busy = 0;
        g->active_now--;
    }
}

/* Close after a failure: one error, reconnect after the back-off. */
static void conn_fail(struct lg *g, struct lg_conn *c)
{
    if (!c->stalled)
        count_error(g);
    conn_close(g, c);
    c->state = ST_WAIT;
    c->deadline = g->now + (uint64_t)(g->cfg->backoff_s * 1e9) + 1;
}

static void start_request(struct lg *g, struct lg_conn *c)
{
    c->t_start[(c->head + c->inflight) % g->depth] = g->now;
    c->inflight++;
    c->to_send += g->cfg->mode == PF_LG_UDP ? 1 : g->reqlen;
}

/* Send what is queued. Returns 0, or -1 when the connection failed. */
static int flush(struct lg *g, struct lg_conn *c)
{
    const struct pf_lg_config *cfg = g->cfg;
    if (c->state != ST_OPEN)
        return 0;
    if (cfg->mode == PF_LG_UDP) {
        while (c->to_send > 0) {
            ssize_t n = send(c->fd, g->pattern, g->reqlen, 0);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
                    break;
                if (errno == ECONNREFUSED) {   /* ICMP from an earlier datagram */
                    count_error(g);
                    continue;
                }
                conn_fail(g, c);
                return -1;
            }
            c->to_send--;
            if (g->measuring)
                g->res->bytes_sent += (uint64_t)n;
        }
        c->deadline = g->now + (uint64_t)(cfg->udp_timeout_s * 1e9) + 1;
    } else {
        while (c->to_send > 0) {
            size_t len = g->patlen - c->phase;
            if (len > c->to_send)
                len = (size_t)c->to_send;
            ssize_t n = send(c->fd, g->pattern + c->phase, len, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                    break;
                conn_fail(g, c);
                return -1;
            }
            c->phase = (c->phase + (size_t)n) % g->reqlen;
            if (c->stalled)
                continue;   /* to_send stays "forever" */
            c->to_send -= (uint64_t)n;
            if (g->measuring)
                g->res->bytes_sent += (uint64_t)n;
        }
    }
    if (c->stalled)
        set_events(g, c, EPOLLOUT);   /* never EPOLLIN: replies are left unread */
    else
        set_events(g, c, c->to_send > 0 ? (EPOLLIN | EPOLLOUT) : EPOLLIN);
    return 0;
}

static void conn_connected(struct lg *g, struct lg_conn *c)
{
    if (c->state == ST_CONNECTING)
        g->connecting--;
    c->state = ST_OPEN;
    c->deadline = 0;
    g->res->connects++;
    set_events(g, c, EPOLLIN);
    if (g->cfg->mode == PF_LG_CONNECT) {
        /* the request was queued at connect time; the reply (and the
         * server's close) must follow within the connect timeout */
        c->deadline = g->now + (uint64_t)(g->cfg->connect_timeout_s * 1e9) + 1;
        if (g->cfg->prefix_len) {
            /* As HAProxy's send-proxy (conn_send_proxy): the header goes
             * out once connected, with MSG_MORE when data waits behind it
             * (here the request, always), so that header and first data
             * leave in one segment. */
            ssize_t n;
            do
                n = send(c->fd, g->cfg->prefix, g->cfg->prefix_len, MSG_NOSIGNAL | MSG_MORE);
            while (n < 0 && errno == EINTR);
            if (n != (ssize_t)g->cfg->prefix_len) { /* a new socket takes it whole */
                conn_fail(g, c);
                return;
            }
        }
        flush(g, c);
        return;
    }
    if (c->stalled) {
        c->to_send = UINT64_MAX;
        flush(g, c);
        return;
    }
    if (g->active_max == 0) {
        for (int i = 0; i < g->depth; i++)
            start_request(g, c);
        flush(g, c);
    }
    /* active mode: turns are handed out by fill_active() */
}

/* Open connection c. Failures are counted and retried after the back-off. */
static void conn_open(struct lg *g, struct lg_conn *c)
{
    const struct pf_lg_config *cfg = g->cfg;
    int family = cfg->addr.ss_family;
    int type = (cfg->mode == PF_LG_UDP ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC;
    int fd = socket(family, type, 0);
    if (fd < 0) {
        conn_fail(g, c);
        return;
    }
    c->fd = fd;
    c->state = ST_CONNECTING;
    g->connecting++;
    if (family != AF_UNIX && cfg->mode != PF_LG_UDP) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    if (family == AF_UNIX && cfg->mode == PF_LG_UDP) {
        sa_family_t af = AF_UNIX;   /* autobind, so the server can reply */
        if (bind(fd, (struct sockaddr *)&af, sizeof(af)) < 0) {
            conn_fail(g, c);
            return;
        }
    }
    if (pf_loop_add(&g->loop, fd, EPOLLOUT, key_of(g, c)) < 0) {
        conn_fail(g, c);
        return;
    }
    c->events = EPOLLOUT;
    if (cfg->mode == PF_LG_CONNECT)
        start_request(g, c);   /* latency counts the connect */
    int rc;
    do
        rc = connect(fd, (const struct sockaddr *)&cfg->addr, cfg->addrlen);
    while (rc < 0 && errno == EINTR);
    if (rc == 0) {
        conn_connected(g, c);
    } else if (errno == EINPROGRESS) {
        c->deadline = g->now + (uint64_t)(cfg->connect_timeout_s * 1e9) + 1;
    } else {
        conn_fail(g, c);
    }
}

/* A request's reply is complete. Returns 0, or -1 if c was closed. */
static int complete(struct lg *g, struct lg_conn *c, int ok)
{
    if (c->inflight <= 0) {   /* more replies than requests: a broken server */
        conn_fail(g, c);
        return -1;
    }
    uint64_t t0 = c->t_start[c->head];
    c->head = (c->head + 1) % g->depth;
    c->inflight--;
    if (!ok) {
        count_error(g);
    } else if (g->measuring) {
        g->res->requests++;
        record(g, t0);
    }
    if (g->cfg->mode == PF_LG_CONNECT) {
        conn_close(g, c);
        conn_open(g, c);
        return -1;
    }
    if (g->active_max == 0) {
        start_request(g, c);
    } else if (c->inflight == 0 && c->busy) {
        c->busy = 0;
        g->active_now--;
    }
    return 0;
}

/* Open never-opened connections, at most connect_burst connecting at once. */
static void ramp(struct lg *g)
{
    int burst = g->cfg->connect_burst > 0 ? g->cfg->connect_burst : g->n;
    while (g->next_open < g->n && g->connecting < burst) {
        g->now = now_ns();
        conn_open(g, &g->c[g->next_open++]);
    }
}

/* Hand idle connections a turn until `active` are busy. */
static void fill_active(struct lg *g)
{
    if (g->active_max == 0)
        return;
    int scanned = 0;
    while (g->active_now < g->active_max && scanned < g->nreq) {
        struct lg_conn *c = &g->c[g->rr];
        g->rr = (g->rr + 1) % g->nreq;
        scanned++;
        if (c->state != ST_OPEN || c->busy || c->inflight)
            continue;
        c->busy = 1;
        g->active_now++;
        for (int i = 0; i < g->depth; i++)
            start_request(g, c);
        flush(g, c);
    }
}

/* Parse HTTP replies in data. Returns 0, or -1 if c was closed. */
static int on_http(struct lg *g, struct lg_conn *c, const char *data, size_t n)
{
    while (n > 0) {
        if (c->hstate == HS_BODY) {
            size_t take = c->body_left < n ? (size_t)c->body_left : n;
            c->body_left -= take;
            data += take;
            n -= take;
            if (c->body_left == 0) {
                c->hstate = HS_HEAD;
                int close_after = c->hclose;
                if (complete(g, c, c->hstatus >= 200 && c->hstatus < 300) < 0)
                    return -1;
                if (close_after) {
                    conn_close(g, c);
                    conn_open(g, c);
                    return -1;
                }
            }
            continue;
        }
        unsigned old = c->hlen;
        size_t take = LG_HBUF - old < n ? LG_HBUF - old : n;
        memcpy(c->hbuf + old, data, take);
        c->hlen = old + (unsigned)take;
        unsigned from = old >= 3 ? old - 3 : 0;
        char *end = memmem(c->hbuf + from, c->hlen - from, "\r\n\r\n", 4);
        if (end == NULL) {
            if (c->hlen == LG_HBUF) {
                conn_fail(g, c);
                return -1;
            }
            data += take;
            n -= take;
            continue;
        }
        unsigned hend = (unsigned)(end - c->hbuf) + 4;
        size_t used = hend - old;
        data += used;
        n -= used;
        /* status line: HTTP/1.x NNN */
        c->hstatus = 0;
        if (hend > 12 && memcmp(c->hbuf, "HTTP/", 5) == 0) {
            const char *sp = memchr(c->hbuf, ' ', hend);
            if (sp != NULL && sp + 4 < c->hbuf + hend)
                c->hstatus = (sp[1] - '0') * 100 + (sp[2] - '0') * 10 + (sp[3] - '0');
        }
        c->body_left = 0;
        c->hclose = 0;
        int chunked = 0;
        const char *line = memchr(c->hbuf, '\n', hend);
        while (line != NULL && line + 1 < c->hbuf + hend) {
            line++;
            const char *eol = memchr(line, '\n', (size_t)(c->hbuf + hend - line));
            size_t ll = eol ? (size_t)(eol - line) : 0;
            if (ll > 15 && strncasecmp(line, "content-length:", 15) == 0) {
                c->body_left = strtoull(line + 15, NULL, 10);
            } else if (ll > 11 && strncasecmp(line, "connection:", 11) == 0) {
                const char *v = line + 11;
                while (*v == ' ')
                    v++;
                if (strncasecmp(v, "close", 5) == 0)
                    c->hclose = 1;
            } else if (ll > 18 && strncasecmp(line, "transfer-encoding:", 18) == 0) {
                chunked = 1;
            }
            line = eol;
        }
        c->hlen = 0;
        if (chunked) {   /* not supported: count it, start afresh */
            conn_fail(g, c);
            return -1;
        }
        if (c->body_left > 0) {
            c->hstate = HS_BODY;
        } else {
            int close_after = c->hclose;
            if (complete(g, c, c->hstatus >= 200 && c->hstatus < 300) < 0)
                return -1;
            if (close_after) {
                conn_close(g, c);
                conn_open(g, c);
                return -1;
            }
        }
    }
    return 0;
}

static void on_readable(struct lg *g, struct lg_conn *c)
{
    const struct pf_lg_config *cfg = g->cfg;
    ssize_t n;
    do
        n = recv(c->fd, g->rbuf, LG_RBUF, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return;
        if (cfg->mode == PF_LG_UDP && errno == ECONNREFUSED) {
            count_error(g);   /* no server yet: the loss timer re-sends */
            return;
        }
        conn_fail(g, c);
        return;
    }
    if (n == 0 && cfg->mode != PF_LG_UDP) {   /* EOF */
        if (cfg->mode == PF_LG_CONNECT && c->recv_got >= g->reqlen)
            complete(g, c, 1);
        else
            conn_fail(g, c);
        return;
    }
    if (g->measuring)
        g->res->bytes_recv += (uint64_t)n;
    switch (cfg->mode) {
    case PF_LG_ECHO:
        c->recv_got += (uint64_t)n;
        while (c->recv_got >= g->reqlen) {
            c->recv_got -= g->reqlen;
            if (complete(g, c, 1) < 0)
                return;
        }
        break;
    case PF_LG_LINE: {
        const char *p = g->rbuf, *e = g->rbuf + n;
        while ((p = memchr(p, '\n', (size_t)(e - p))) != NULL) {
            p++;
            if (complete(g, c, 1) < 0)
                return;
        }
        break;
    }
    case PF_LG_CONNECT:
        c->recv_got += (uint64_t)n;
        if (c->recv_got > g->reqlen)
            conn_fail(g, c);   /* more than the echo: a broken server */
        else if (c->recv_got == g->reqlen && cfg->closer == PF_LG_CLIENT_CLOSES)
            complete(g, c, 1);
        /* PF_LG_SERVER_CLOSES: complete at the server's EOF */
        return;
    case PF_LG_UDP:
        if (complete(g, c, (size_t)n == g->reqlen) < 0)
            return;
        break;
    case PF_LG_HTTP:
        if (on_http(g, c, g->rbuf, (size_t)n) < 0)
            return;
        break;
    }
    if (c->inflight == 0)
        c->deadline = 0;
    flush(g, c);
}

static void on_event(struct lg *g, struct lg_conn *c, uint32_t ev)
{
    if (c->state == ST_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        if (err != 0) {
            conn_fail(g, c);
            return;
        }
        if (ev & (EPOLLOUT | EPOLLIN))
            conn_connected(g, c);
        return;
    }
    if (c->state != ST_OPEN)
        return;
    if (ev & EPOLLIN) {
        on_readable(g, c);
    } else if (ev & (EPOLLERR | EPOLLHUP)) {
        conn_fail(g, c);
        return;
    }
    if (c->state == ST_OPEN && (ev & EPOLLOUT))
        flush(g, c);
}

static void on_timers(struct lg *g)
{
    const struct pf_lg_config *cfg = g->cfg;
    for (int i = 0; i < g->n; i++) {
        struct lg_conn *c = &g->c[i];
        if (c->deadline == 0 || g->now < c->deadline)
            continue;
        c->deadline = 0;
        switch (c->state) {
        case ST_CONNECTING:
            conn_fail(g, c);
            break;
        case ST_WAIT:
        case ST_CLOSED:
            conn_open(g, c);
            break;
        case ST_OPEN:
            if (cfg->mode == PF_LG_CONNECT) {
                conn_fail(g, c);   /* no reply, or no close, in time */
            } else if (cfg->mode == PF_LG_UDP && c->inflight > 0) {
                g->res->lost += (uint64_t)c->inflight;
                c->to_send = (uint64_t)c->inflight;
                flush(g, c);
            }
            break;
        }
    }
}

static void write_mark(int fd)
{
    if (fd < 0)
        return;
    char b = 'm';
    while (write(fd, &b, 1) < 0 && errno == EINTR)
        ;
}

static int build_pattern(struct lg *g)
{
    const struct pf_lg_config *cfg = g->cfg;
    char head[1024];
    size_t len = cfg->size;
    if (cfg->mode == PF_LG_HTTP) {
        int k = snprintf(head, sizeof(head), "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n",
                         cfg->http_path ? cfg->http_path : "/",
                         cfg->http_host ? cfg->http_host : "localhost");
        if (k < 0 || (size_t)k >= sizeof(head))
            return -EINVAL;
        len = (size_t)k;
    }
    if (len == 0 || (cfg->mode == PF_LG_UDP && len > 65507))
        return -EINVAL;
    g->reqlen = len;
    size_t reps = (64 * 1024) / len + 1;
    if (reps < (size_t)g->depth)
        reps = (size_t)g->depth;
    g->patlen = reps * len;
    g->pattern = malloc(g->patlen);
    if (g->pattern == NULL)
        return -ENOMEM;
    for (size_t r = 0; r < reps; r++) {
        char *p = g->pattern + r * len;
        if (cfg->mode == PF_LG_HTTP) {
            memcpy(p, head, len);
        } else {
            for (size_t i = 0; i < len; i++)
                p[i] = (char)('a' + i % 26);
            if (cfg->mode == PF_LG_LINE)
                p[len - 1] = '\n';
        }
    }
    if (cfg->mode == PF_LG_UDP)
        g->patlen = len;   /* one datagram at a time */
    return 0;
}

int pf_loadgen_run(const struct pf_lg_config *cfg, struct pf_lg_result *res)
{
    struct lg g;
    int rc = 0;
    memset(&g, 0, sizeof(g));
    memset(res, 0, sizeof(*res));
    g.cfg = cfg;
    g.res = res;

    if (cfg->conns <= 0 || cfg->depth <= 0 || cfg->active < 0 || cfg->stalled < 0 ||
        (cfg->stalled > 0 && (cfg->mode == PF_LG_CONNECT || cfg->mode == PF_LG_UDP)) ||
        cfg->addrlen == 0 || (cfg->closer != PF_LG_CLIENT_CLOSES && cfg->closer != PF_LG_SERVER_CLOSES) ||
        cfg->measure_s <= 0 || cfg->warmup_s < 0 || cfg->mode < PF_LG_ECHO || cfg->mode > PF_LG_HTTP)
        return -EINVAL;
    g.nreq = cfg->conns;
    g.n = cfg->conns + cfg->stalled;
    g.depth = cfg->mode == PF_LG_CONNECT ? 1 : cfg->depth;
    g.active_max = cfg->active > 0 && cfg->active < cfg->conns && cfg->mode != PF_LG_CONNECT
                   ? cfg->active : 0;

    rc = raise_nofile(g.n + 64, &res->nofile_limit);
    if (rc < 0)
        goto out;
    rc = build_pattern(&g);
    if (rc < 0)
        goto out;
    g.rbuf = malloc(LG_RBUF);
    g.c = calloc((size_t)g.n, sizeof(*g.c));
    g.ring_mem = calloc((size_t)g.n * (size_t)g.depth, sizeof(uint64_t));
    if (cfg->mode == PF_LG_HTTP)
        g.hbuf_mem = malloc((size_t)g.n * LG_HBUF);
    if (g.rbuf == NULL || g.c == NULL || g.ring_mem == NULL ||
        (cfg->mode == PF_LG_HTTP && g.hbuf_mem == NULL)) {
        rc = -ENOMEM;
        goto out;
    }
    rc = pf_loop_open(&g.loop, 0);
    if (rc < 0)
        goto out;
    g.loop_ok = 1;
    if (cfg->stop_fd >= 0) {
        rc = pf_loop_add(&g.loop, cfg->stop_fd, EPOLLIN, LG_STOP_KEY);
        if (rc < 0)
            goto out;
    }

    uint64_t t0 = now_ns();
    g.now = t0;
    g.t_m0 = t0 + (uint64_t)(cfg->warmup_s * 1e9);
    g.t_m1 = g.t_m0 + (uint64_t)(cfg->measure_s * 1e9);
    for (int i = 0; i < g.n; i++) {
        g.c[i].fd = -1;
        g.c[i].t_start = g.ring_mem + (size_t)i * (size_t)g.depth;
        g.c[i].stalled = i >= g.nreq;
        if (g.hbuf_mem)
            g.c[i].hbuf = g.hbuf_mem + (size_t)i * LG_HBUF;
    }
    ramp(&g);
    fill_active(&g);

    pf_loop_event evs[LG_MAX_EVENTS];
    uint64_t next_tick = g.now + LG_TICK_NS;
    int stop = 0;
    while (!stop) {
        g.now = now_ns();
        if (!g.measuring && g.now >= g.t_m0) {
            g.measuring = 1;
            g.t_m0 = g.now;
            g.cpu0 = thread_cpu_s();
            write_mark(cfg->mark_fd);
        }
        if (g.now >= g.t_m1)
            break;
        uint64_t wake = next_tick < g.t_m1 ? next_tick : g.t_m1;
        if (!g.measuring && g.t_m0 < wake)
            wake = g.t_m0;
        int timeout_ms = wake > g.now ? (int)((wake - g.now + 999999) / 1000000) : 0;
        int k = pf_loop_wait(&g.loop, timeout_ms, evs, LG_MAX_EVENTS);
        if (k == -EINTR)
            continue;
        if (k < 0) {
            rc = k;
            break;
        }
        for (int i = 0; i < k; i++) {
            uint64_t key = evs[i].tag;
            if (evs[i].events & PF_LOOP_WAKE)
                continue;   /* nobody wakes this loop; its tag 0 is connection 0's */
            if (key == LG_STOP_KEY) {
                stop = 1;
                continue;
            }
            struct lg_conn *c = &g.c[(uint32_t)key];
            if ((uint32_t)(key >> 32) != c->gen)
                continue;   /* closed since this event was queued */
            g.now = now_ns();
            on_event(&g, c, evs[i].events);
        }
        g.now = now_ns();
        if (g.now >= next_tick) {
            on_timers(&g);
            next_tick = g.now + LG_TICK_NS;
        }
        ramp(&g);
        fill_active(&g);
    }
    g.now = now_ns();
    if (g.measuring) {
        res->elapsed_s = (double)(g.now - g.t_m0) * 1e-9;
        res->cpu_s = thread_cpu_s() - g.cpu0;
        write_mark(cfg->mark_fd);
    }

out:
    if (g.c != NULL) {
        for (int i = 0; i < g.n; i++)
            if (g.c[i].fd >= 0)
                close(g.c[i].fd);
    }
    if (g.loop_ok)
        pf_loop_close(&g.loop);
    free(g.c);
    free(g.ring_mem);
    free(g.hbuf_mem);
    free(g.rbuf);
    free(g.pattern);
    return rc;
}
