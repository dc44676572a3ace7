/* pf_msgloop.c: the message loop.  See pf_msgloop.h. */
#include "pf_msgloop.h"
#include "pf_common.h"

#include <assert.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READ_CHUNK   (64 * 1024)   /* most one recv asks for */
#define READ_MIN     (4 * 1024)    /* arena room needed to read into it */
#define ARENA_SIZE   (256 * 1024)  /* one cycle's reads */
#define EPOLL_BATCH  256
#define ACCEPT_BATCH 64
#define EV_SOFT_MAX  1024          /* MSG events per batch (CLOSE may exceed) */
#define CONN_BATCH   64            /* MSG events per connection per batch */
#define OUT_MAX      ((size_t)1 << 40)
#define TLS_CHUNK    (64 * 1024)   /* plaintext encrypted per SSL_write (TLS) */

/* pf_mconn.flags */
#define MC_OPEN     0x001u /* fd open */
#define MC_CLOSING  0x002u /* close once output is written */
#define MC_NOREAD   0x004u /* read no more (EOF, closing, framing error) */
#define MC_SKIP     0x008u /* closed by the caller or by an error: no more messages/output */
#define MC_ABORT    0x010u /* close now, dropping output */
#define MC_PAUSED   0x020u /* backpressure: output above high water */
#define MC_DIRTY    0x040u /* in l->dirty */
#define MC_PENDING  0x080u /* in l->pending: complete messages in rbuf */
#define MC_BUSY     0x100u /* has MSG events in the current batch */
#define MC_EOF      0x200u /* peer sent FIN */
#define MC_DEFER    0x400u /* the rest of this batch's messages wait (pf_msgloop_take) */
#define MC_HEADER   0x800u /* reading its PROXY header: not OPEN yet */
#define MC_HANDSHAKE 0x1000u /* TLS handshake in progress: not OPEN yet */
#define MC_TLSMORE  0x2000u /* in l->tls_more */

/* A connection's PROXY header in progress (o.proxy; see pf_msgloop.h). */
struct pf_mproxy {
    pf_proxy p;
    struct sockaddr_storage peer;
    socklen_t peer_len;
    const char *reason;   /* why it is refused, if known */
};

/* A TLS connection's state (o.tls_ctx). */
struct pf_mtls {
    pf_tls *t;            /* made at the connection's first byte */
    struct sockaddr_storage peer; /* for its OPEN or REFUSED event */
    socklen_t peer_len;
    size_t inflight;      /* plaintext bytes whose ciphertext is not all sent */
    long end;             /* PF_TLS_CLOSED or -EPROTO seen behind plaintext */
    pf_mconn *next_more;  /* in l->tls_more */
};

/* pf_loop tags: the listener's, and a connection's (its pf_mconn) */
#define TAG_LIS 0
#define TAG_BOARD 1 /* o.board's eventfd (never a pf_mconn's address) */
static inline uint64_t conn_tag(const pf_mconn *c) { return (uint64_t)(uintptr_t)c; }

/* A connection handed over by the acceptor (PF_MOP_CONN's ptr). */
typedef struct {
    int fd;
    socklen_t addrlen;
    struct sockaddr_storage addr;
} conn_item;

void pf_msgloop_opts_init(pf_msgloop_opts *o)
{
    memset(o, 0, sizeof(*o));
    pf_frame_opts_init(&o->frame, PF_FRAME_LINE);
    o->high_water = 64 * 1024;
    o->low_water = 16 * 1024;
    o->nodelay = 1;
}

/* Output queued, in plaintext bytes (TLS: also what is encrypted and
 * not all sent yet): what the water marks compare. */
static size_t queued(const pf_mconn *c)
{
    return pf_buf_len(&c->out) + (c->tls ? c->tls->inflight : 0);
}

/* Anything to write: plaintext, or TLS records (a handshake's too). */
static int has_output(const pf_mconn *c)
{
    return pf_buf_len(&c->out) > 0 || (c->tls && c->tls->t && pf_tls_out_len(c->tls->t) > 0);
}

size_t pf_mconn_queued(const pf_mconn *c) { return queued(c); }

pf_tls *pf_mconn_tls(const pf_mconn *c) { return c->tls ? c->tls->t : NULL; }

int pf_mconn_active(const pf_mconn *c)
{
    return (c->flags & (MC_OPEN | MC_SKIP)) == MC_OPEN;
}

/* ---- lists and clocks ------------------------------------------------- */

static void clock_stop(pf_msgloop *l, pf_mconn *c, int k)
{
    pf_mclock *q = &l->clocks[k];
    pf_mclock_link *n = &c->clock[k];
    if (!n->on)
        return;
    if (n->prev) n->prev->clock[k].next = n->next; else q->head = n->next;
    if (n->next) n->next->clock[k].prev = n->prev; else q->tail = n->prev;
    n->prev = n->next = NULL;
    n->on = 0;
}

/* (Re)start c's clock k now: c goes to the tail of the list, which stays
 * ordered by start time because every start is at l->now. */
static void clock_start(pf_msgloop *l, pf_mconn *c, int k)
{
    pf_mclock *q = &l->clocks[k];
    pf_mclock_link *n = &c->clock[k];
    n->since = l->now;
    if (n->on && q->tail == c)
        return;
    clock_stop(l, c, k);
    n->prev = q->tail;
    n->next = NULL;
    n->on = 1;
    if (q->tail) q->tail->clock[k].next = c; else q->head = c;
    q->tail = c;
}

/* The message clock of c (left: bytes buffered after its complete
 * messages): off when none are left or c is paused; restarted when a
 * message completed (a new one has begun) or when it was off.  Not for
 * a connection that is closing: stop_reading() stopped its clock, or
 * expire() restarted it to time the drain of its output. */
static void message_clock(pf_msgloop *l, pf_mconn *c, size_t left, int completed)
{
    if (l->clocks[PF_CLOCK_MESSAGE].ms <= 0 || (c->flags & MC_NOREAD))
        return;
    if (left == 0 || (c->flags & MC_PAUSED))
        clock_stop(l, c, PF_CLOCK_MESSAGE);
    else if (completed || !c->clock[PF_CLOCK_MESSAGE].on)
        clock_start(l, c, PF_CLOCK_MESSAGE);
}

static void mark_dirty(pf_msgloop *l, pf_mconn *c)
{
    if (!(c->flags & MC_DIRTY)) {
        c->flags |= MC_DIRTY;
        c->next_dirty = l->dirty;
        l->dirty = c;
    }
}

static void mark_pending(pf_msgloop *l, pf_mconn *c)
{
    if (!(c->flags & MC_PENDING)) {
        c->flags |= MC_PENDING;
        c->next_pending = l->pending;
        l->pending = c;
    }
}

/* Read c no more; close it once its output is written (the caller sets
 * c->err if there is a reason). */
static void stop_reading(pf_msgloop *l, pf_mconn *c)
{
    c->flags |= MC_NOREAD | MC_CLOSING;
    clock_stop(l, c, PF_CLOCK_MESSAGE);
    mark_dirty(l, c);
}

static pf_mevent *ev_push(pf_msgloop *l, int type, pf_mconn *c)
{
    if (l->nev == l->ev_cap) {
        size_t cap = l->ev_cap * 2;
        pf_mevent *ev = realloc(l->ev, cap * sizeof(*ev));
        if (!ev)
            return NULL;
        l->ev = ev;
        l->ev_cap = cap;
    }
    pf_mevent *e = &l->ev[l->nev++];
    memset(e, 0, sizeof(*e));
    e->type = type;
    e->conn = c;
    return e;
}

/* ---- registration ----------------------------------------------------- */

static void set_accepting(pf_msgloop *l, int on)
{
    if (on == l->accepting || !l->lis_ok)
        return;
    if (on && pf_loop_add(&l->loop, l->lis.fd, EPOLLIN, TAG_LIS) < 0)
        return;
    if (!on)
        pf_loop_del(&l->loop, l->lis.fd);
    l->accepting = on;
}

static int wants_read(const pf_mconn *c)
{
    return (c->flags & (MC_OPEN | MC_NOREAD | MC_PAUSED)) == MC_OPEN;
}

static void update_mask(pf_msgloop *l, pf_mconn *c)
{
    uint32_t want = (wants_read(c) ? EPOLLIN : 0) | (has_output(c) ? EPOLLOUT : 0);
    if (want != c->events && pf_loop_mod(&l->loop, c->fd, want, conn_tag(c)) == 0)
        c->events = want;
}

/* ---- sharing the listening socket ------------------------------------- */

static int has_room(pf_msgloop *t)
{
    return t->o.max_conns <= 0 || __atomic_load_n(&t->load, __ATOMIC_RELAXED) < t->o.max_conns;
}

/* The acceptor's choice for a new connection: the running loop (itself or
 * a peer) with the fewest connections and room for one more, searching
 * from next_peer so that ties go round-robin.  NULL when all are full. */
static pf_msgloop *pick_target(pf_msgloop *l)
{
    int n = l->npeers + 1;
    pf_msgloop *best = NULL;
    int best_load = 0, best_i = 0;
    for (int k = 0; k < n; k++) {
        int i = (l->next_peer + k) % n;
        pf_msgloop *t = i == 0 ? l : l->peers[i - 1];
        if (__atomic_load_n(&t->stopped, __ATOMIC_RELAXED) || !has_room(t))
            continue;
        int load = __atomic_load_n(&t->load, __ATOMIC_RELAXED);
        if (!best || load < best_load) {
            best = t;
            best_load = load;
            best_i = i;
        }
    }
    if (best)
        l->next_peer = (best_i + 1) % n;
    return best;
}

static int any_room(pf_msgloop *l)
{
    if (has_room(l))
        return 1;
    for (int i = 0; i < l->npeers; i++)
        if (!__atomic_load_n(&l->peers[i]->stopped, __ATOMIC_RELAXED) && has_room(l->peers[i]))
            return 1;
    return 0;
}

/* At each cycle and close: listen while not paused and some loop has
 * room; a pause (pf_msgloop_pause_accept, any thread) takes the listener
 * out at the next cycle. */
static void resume_accepting(pf_msgloop *l)
{
    if (__atomic_load_n(&l->accept_paused, __ATOMIC_ACQUIRE))
        set_accepting(l, 0);
    else if (l->lis_ok && !pf_board_admit(l->o.board))
        set_accepting(l, 0); /* other workers hold fewer: woken by the board */
    else if (l->lis_ok && !l->accepting && !l->stopped && any_room(l))
        set_accepting(l, 1);
}

int pf_msgloop_pause_accept(pf_msgloop *l, int paused)
{
    __atomic_store_n(&l->accept_paused, paused != 0, __ATOMIC_RELEASE);
    return pf_loop_wake(&l->loop);
}

/* Acceptor: post fd to t's inbox (which wakes t).  0, or -ENOMEM /
 * -ESHUTDOWN once t shut down (the caller closes fd). */
static int hand_over(pf_msgloop *t, int fd, const struct sockaddr_storage *ss, socklen_t alen)
{
    conn_item *it = malloc(sizeof(*it));
    if (!it)
        return -ENOMEM;
    it->fd = fd;
    it->addrlen = alen;
    memcpy(&it->addr, ss, sizeof(*ss));
    __atomic_fetch_add(&t->load, 1, __ATOMIC_RELAXED);
    pf_loop_msg m = {.op = PF_MOP_CONN, .ptr = it, .arg = 0};
    int rc = pf_loop_post(&t->loop, &m);
    if (rc < 0) {
        __atomic_fetch_sub(&t->load, 1, __ATOMIC_RELAXED);
        free(it);
    }
    return rc;
}

void pf_msgloop_set_peers(pf_msgloop *l, pf_msgloop **peers, int n)
{
    l->peers = peers;
    l->npeers = n;
    for (int i = 0; i < n; i++)
        peers[i]->acceptor = l;
}

/* ---- closing ---------------------------------------------------------- */

/* ---- PROXY protocol header (o.proxy) ----------------------------------- */

/* c, closed before its OPEN, is reported as REFUSED (peer: its address). */
static void push_refused(pf_msgloop *l, pf_mconn *c, int err, const char *why,
                         const struct sockaddr_storage *peer, socklen_t peer_len)
{
    pf_mevent *e = ev_push(l, PF_MEV_REFUSED, c);
    if (!e) {
        l->dead = c->next_dead; /* as do_close: leaked, not freed under the caller */
        return;
    }
    e->err = err;
    e->reason = why;
    e->data = (const unsigned char *)peer;
    e->len = peer_len;
}

/* c (MC_HEADER) is closed: report it, REFUSED instead of CLOSE. */
static void proxy_refused(pf_msgloop *l, pf_mconn *c, int err)
{
    struct pf_mproxy *x = c->proxy;
    const char *why = x->reason;
    if (!why)
        why = err == 0 ? "connection closed before its header was complete"
              : err == PF_MCLOSE_PROXY ? "header not complete within proxy_timeout"
              : err == PF_MCLOSE_SHUTDOWN ? "server shut down"
              : "socket error before its header was complete";
    l->proxy_refused++;
    push_refused(l, c, err, why, &x->peer, x->peer_len);
}

/* The header of c, a TLS server's connection, is complete: its handshake
 * begins (MC_HANDSHAKE, handshake_ms from now), the n bytes that followed
 * the header at rest (the ClientHello's first, if any) fed to its TLS
 * state, the header's client the address its OPEN or REFUSED reports.
 * Till now c->tls was NULL, so the header was read as plaintext is. */
static int proxy_to_tls(pf_msgloop *l, pf_mconn *c, const unsigned char *rest, size_t n)
{
    struct pf_mproxy *x = c->proxy;
    const pf_proxy_header *h = &x->p.hdr;
    struct pf_mtls *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    if (n > 0 && (!(t->t = pf_tls_new(l->o.tls_ctx)) || pf_tls_feed(t->t, rest, n) < 0)) {
        pf_tls_free(t->t);
        free(t);
        return -ENOMEM;
    }
    if (h->src_len) {
        memcpy(&t->peer, &h->src, h->src_len);
        t->peer_len = h->src_len;
    } else { /* v2 LOCAL, UNKNOWN: the proxy's */
        memcpy(&t->peer, &x->peer, x->peer_len);
        t->peer_len = x->peer_len;
    }
    c->tls = t;
    c->flags = (c->flags & ~MC_HEADER) | MC_HANDSHAKE;
    clock_stop(l, c, PF_CLOCK_PROXY);
    clock_start(l, c, PF_CLOCK_HANDSHAKE);
    mark_dirty(l, c); /* x is freed at settle */
    return 0;
}

/* Feed the n bytes read at buf to c's header parser.  Returns how many of
 * them follow the header (the client's, to frame), at buf + n - returned;
 * 0 as long as the header is incomplete, when c is being refused, and
 * (TLS) when its handshake begins (proxy_to_tls took those bytes). */
static size_t proxy_read(pf_msgloop *l, pf_mconn *c, const unsigned char *buf, size_t n)
{
    struct pf_mproxy *x = c->proxy;
    size_t used = 0;
    int rc = pf_proxy_feed(&x->p, buf, n, &used);
    if (rc == 0)
        return 0;
    if (rc > 0 && l->o.tls_ctx && (rc = proxy_to_tls(l, c, buf + used, n - used)) == 0)
        return 0;
    if (rc < 0) {
        x->reason = x->p.err ? x->p.reason : "out of memory"; /* proxy_to_tls's */
        c->flags |= MC_ABORT | MC_SKIP | MC_NOREAD;
        c->err = rc;
        mark_dirty(l, c);
        return 0;
    }
    pf_mevent *e = ev_push(l, PF_MEV_OPEN, c);
    if (!e) {
        c->flags |= MC_ABORT | MC_SKIP | MC_NOREAD;
        c->err = -ENOMEM;
        mark_dirty(l, c);
        return 0;
    }
    const pf_proxy_header *h = &x->p.hdr;
    e->data = (const unsigned char *)(h->src_len ? &h->src : &x->peer);
    e->len = h->src_len ? h->src_len : x->peer_len;
    c->flags &= ~MC_HEADER;
    clock_stop(l, c, PF_CLOCK_PROXY);
    mark_dirty(l, c); /* x is freed when the caller has seen OPEN */
    return n - used;
}

/* ---- TLS (o.tls_ctx) ---------------------------------------------------- */

/* c (MC_HANDSHAKE) is closed: REFUSED instead of CLOSE. */
static void tls_refused(pf_msgloop *l, pf_mconn *c, int err)
{
    struct pf_mtls *x = c->tls;
    const char *why = err == PF_MCLOSE_TLS && x->t ? pf_tls_reason(x->t)
                      : err == 0 ? "closed by the client during the handshake"
                      : err == PF_MCLOSE_HANDSHAKE ? "timed out (handshake_timeout)"
                      : err == PF_MCLOSE_SHUTDOWN ? "server shut down"
                      : err == -ENOMEM ? "out of memory"
                      : "socket error during the handshake";
    l->tls_refused++;
    push_refused(l, c, err, why, &x->peer, x->peer_len);
}

/* Send c's TLS records without waiting: 0 once all are sent, 1 when the
 * socket is full, or the socket error. */
static int tls_send(pf_mconn *c)
{
    pf_tls *t = c->tls->t;
    const unsigned char *p;
    size_t len;
    while ((len = pf_tls_out_peek(t, &p)) > 0) {
        ssize_t n = send(c->fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 1;
            return PF_NEG_ERRNO();
        }
        pf_tls_out_drop(t, (size_t)n);
    }
    return 0;
}

/* flush_out for TLS: send what is encrypted, then encrypt the queued
 * plaintext TLS_CHUNK bytes at a time (a batch's replies in one
 * SSL_write, so in as few records) and send it, until the socket is full. */
static int flush_tls(pf_mconn *c)
{
    struct pf_mtls *x = c->tls;
    if (!x->t)
        return 0;
    for (;;) {
        int rc = tls_send(c);
        if (rc != 0)
            return rc < 0 ? rc : 0;
        x->inflight = 0;
        size_t n = pf_buf_len(&c->out);
        if (n == 0 || !pf_tls_done(x->t))
            return 0;
        if (n > TLS_CHUNK)
            n = TLS_CHUNK;
        long w = pf_tls_write(x->t, pf_buf_data(&c->out), n);
        if (w < 0)
            return (int)w;
        pf_buf_consume(&c->out, n);
        x->inflight = n;
    }
}

/* c has decrypted input (or records) left that no EPOLLIN will announce:
 * read it again next cycle (run_tls_more). */
static void tls_more(pf_msgloop *l, pf_mconn *c)
{
    if (!(c->flags & MC_TLSMORE)) {
        c->flags |= MC_TLSMORE;
        c->tls->next_more = l->tls_more;
        l->tls_more = c;
    }
}

/* Close c's fd now and report it (CLOSE event).  Its memory is freed at
 * the next poll, after the caller has seen the event. */
static void do_close(pf_msgloop *l, pf_mconn *c, int err)
{
    if (!(c->flags & MC_OPEN))
        return;
    if (!(c->flags & (MC_ABORT | MC_EOF))) {
        /* Graceful: send FIN first and drop what the peer already sent,
         * so close() does not turn into a reset that could destroy the
         * replies just written (a lingering close, briefly). */
        unsigned char sink[4096];
        if (c->tls && c->tls->t && pf_tls_done(c->tls->t)) {
            /* close_notify before the FIN; best effort, as the FIN. */
            pf_tls_close_notify(c->tls->t);
            tls_send(c);
        }
        shutdown(c->fd, SHUT_WR);
        for (int i = 0; i < 16; i++)
            if (recv(c->fd, sink, sizeof(sink), MSG_DONTWAIT) <= 0)
                break;
    }
    close(c->fd);
    c->fd = -1;
    c->flags = (c->flags & ~(MC_OPEN | MC_PAUSED)) | MC_SKIP;
    c->err = err;
    for (int k = 0; k < PF_NCLOCKS; k++)
        clock_stop(l, c, k);
    c->next_dead = l->dead;
    l->dead = c;
    l->nconns--;
    l->closed++;
    if (c->flags & MC_HEADER) {
        proxy_refused(l, c, err);
        goto closed;
    }
    if (c->flags & MC_HANDSHAKE) {
        tls_refused(l, c, err);
        goto closed;
    }
    if (err == PF_MCLOSE_FRAMING)
        l->framing_errors++;
    if (err == PF_MCLOSE_IDLE)
        l->idle_closed++;
    if (err == PF_MCLOSE_MESSAGE)
        l->message_timeouts++;
    pf_mevent *e = ev_push(l, PF_MEV_CLOSE, c);
    if (e)
        e->err = err;
    /* else: out of memory for the event; the caller never learns of this
     * close and c is leaked rather than freed under its feet. */
    else
        l->dead = c->next_dead;
closed:;
    pf_board_closed(l->o.board);
    int was = __atomic_fetch_sub(&l->load, 1, __ATOMIC_RELAXED);
    if (l->acceptor && !l->stopped && was == l->o.max_conns)
        pf_msgloop_wake(l->acceptor); /* a slot is free: it may accept again */
    resume_accepting(l);
}

static void free_conn(pf_mconn *c)
{
    free(c->proxy);
    if (c->tls) {
        pf_tls_free(c->tls->t);
        free(c->tls);
    }
    pf_buf_free(&c->rbuf);
    pf_buf_free(&c->out);
    free(c);
}

/* Write queued output without waiting.  0, or the socket error. */
static int flush_out(pf_mconn *c)
{
    if (c->tls)
        return flush_tls(c);
    while (pf_buf_len(&c->out)) {
        ssize_t n = send(c->fd, pf_buf_data(&c->out), pf_buf_len(&c->out),
                         MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return PF_NEG_ERRNO();
        }
        pf_buf_consume(&c->out, (size_t)n);
    }
    return 0;
}

/* ---- reading and framing ---------------------------------------------- */

/* Frame base[0..len) (in the arena, or c's rbuf when !in_arena) into MSG
 * events. */
static void frame_conn(pf_msgloop *l, pf_mconn *c, const unsigned char *base,
                       size_t len, int in_arena)
{
    pf_frame frames[CONN_BATCH];
    size_t room = l->nev < EV_SOFT_MAX ? EV_SOFT_MAX - l->nev : 0;
    size_t cap = room < CONN_BATCH ? room : CONN_BATCH;
    size_t used = 0, at = 0;
    int k = 0;
    if (cap > 0)
        k = pf_framer_next_batch(&c->fr, base, len, frames, cap, &used);
    if (k < 0) {
        /* Over the limit: stop reading, write what is queued, close. */
        c->err = k;
        stop_reading(l, c);
        return;
    }
    c->batch_end = base + used;
    c->batch_in_arena = in_arena;
    for (int i = 0; i < k; i++) {
        pf_mevent *e = ev_push(l, PF_MEV_MSG, c);
        if (!e) { /* cannot happen below EV_SOFT_MAX after init */
            c->flags |= MC_ABORT | MC_SKIP;
            c->err = -ENOMEM;
            mark_dirty(l, c);
            return;
        }
        e->data = base + frames[i].offset;
        e->len = frames[i].length;
        e->frame = base + at;
        e->more = i + 1 < k;
        at += frames[i].consumed;
    }
    if (k > 0) {
        c->flags |= MC_BUSY;
        mark_dirty(l, c);
    }
    if (in_arena) {
        if (len > used && pf_buf_append(&c->rbuf, base + used, len - used) < 0) {
            c->flags |= MC_ABORT | MC_SKIP;
            c->err = -ENOMEM;
            mark_dirty(l, c);
            return;
        }
    } else {
        c->consume = used;
    }
    message_clock(l, c, len - used, k > 0);
    if ((size_t)k == cap || (k > 0 && c->fr.err))
        /* More complete messages (or the error after them) may be
         * buffered: frame again next cycle, without reading. */
        mark_pending(l, c);
}

/* c is given up on now (an error; abort: no output).  Returns -1. */
static long tls_abort(pf_msgloop *l, pf_mconn *c, int err)
{
    c->flags |= MC_ABORT | MC_SKIP | MC_NOREAD;
    c->err = err;
    mark_dirty(l, c);
    return -1;
}

/* What ended c's input (got nothing before it): the peer's close_notify
 * (EOF), a TLS error, or the socket's FIN (n == 0).  Returns -1. */
static long tls_end(pf_msgloop *l, pf_mconn *c, long end)
{
    struct pf_mtls *x = c->tls;
    if (end < 0 || (c->flags & MC_HANDSHAKE)) {
        /* An error, or the client gone before its handshake completed:
         * the alert OpenSSL wrote goes out (best effort), then close. */
        if (x->t && end < 0)
            tls_send(c);
        return tls_abort(l, c, end < 0 ? PF_MCLOSE_TLS : 0);
    }
    c->flags |= MC_EOF;
    if (end == 0 && x->t && pf_tls_has_input(x->t)) {
        /* FIN inside a record: the record was cut short. */
        pf_tls_set_reason(x->t, "EOF inside a TLS record (truncated record)");
        c->err = PF_MCLOSE_TLS;
    }
    stop_reading(l, c);
    return -1;
}

/* TLS: decrypt up to want bytes of c's input into dst, reading the socket
 * (once) only when OpenSSL has no whole record left.  Reports OPEN when
 * the handshake completes.  Returns the plaintext bytes (0: none yet), or
 * -1 when c is closing. */
static long tls_input(pf_msgloop *l, pf_mconn *c, unsigned char *dst, size_t want)
{
    struct pf_mtls *x = c->tls;
    size_t got = 0;
    int fed = 0;
    if (x->end && x->t)
        return tls_end(l, c, x->end);
    for (;;) {
        /* Nothing buffered: OpenSSL would only say it wants more (an
         * SSL_read, SSL_get_error and an error-queue clear saved). */
        long r = x->t && pf_tls_has_input(x->t) ? pf_tls_read(x->t, dst + got, want - got) : 0;
        if (r > 0) {
            got += (size_t)r;
            if (got < want)
                continue;
            tls_more(l, c); /* no room left: more may be buffered */
            break;
        }
        if (r != 0) {        /* close_notify or an error */
            if (got == 0)
                return tls_end(l, c, r);
            x->end = r;      /* after this plaintext is framed */
            tls_more(l, c);
            break;
        }
        if (got > 0 || fed)
            break;
        ssize_t n;
        do {
            n = recv(c->fd, l->tls_in, READ_CHUNK, 0);
        } while (n < 0 && errno == EINTR);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            return tls_abort(l, c, PF_NEG_ERRNO());
        }
        if (n == 0)
            return tls_end(l, c, 0);
        clock_start(l, c, PF_CLOCK_IDLE);
        if (!x->t && !(x->t = pf_tls_new(l->o.tls_ctx)))
            return tls_abort(l, c, -ENOMEM);
        if (pf_tls_feed(x->t, l->tls_in, (size_t)n) < 0)
            return tls_abort(l, c, -ENOMEM);
        fed = 1;
    }
    if (x->t && pf_tls_out_len(x->t) > 0)
        mark_dirty(l, c); /* handshake records, tickets: sent at settle */
    if ((c->flags & MC_HANDSHAKE) && x->t && pf_tls_done(x->t)) {
        pf_mevent *e = ev_push(l, PF_MEV_OPEN, c);
        if (!e)
            return tls_abort(l, c, -ENOMEM);
        e->data = (const unsigned char *)&x->peer;
        e->len = x->peer_len;
        c->flags &= ~MC_HANDSHAKE;
        clock_stop(l, c, PF_CLOCK_HANDSHAKE);
        l->handshakes++;
    }
    return (long)got;
}

static void read_conn(pf_msgloop *l, pf_mconn *c)
{
    unsigned char *dst;
    size_t want;
    int in_arena = pf_buf_len(&c->rbuf) == 0;
    if (l->nev >= EV_SOFT_MAX || (in_arena && ARENA_SIZE - l->arena_used < READ_MIN)) {
        /* level-triggered: reported again next cycle; TLS input already
         * decrypted or buffered is not, so it is remembered */
        if (c->tls)
            tls_more(l, c);
        return;
    }
    if (in_arena) {
        dst = l->arena + l->arena_used;
        want = ARENA_SIZE - l->arena_used;
        if (want > READ_CHUNK)
            want = READ_CHUNK;
    } else {
        if (pf_buf_reserve(&c->rbuf, READ_CHUNK) < 0) {
            c->flags |= MC_ABORT | MC_SKIP;
            c->err = -ENOMEM;
            mark_dirty(l, c);
            return;
        }
        dst = pf_buf_tail(&c->rbuf);
        want = pf_buf_avail(&c->rbuf);
    }
    if (c->tls) {
        long got = tls_input(l, c, dst, want);
        if (got <= 0)
            return;
        if (in_arena) {
            l->arena_used += (size_t)got;
            frame_conn(l, c, dst, (size_t)got, 1);
        } else {
            pf_buf_commit(&c->rbuf, (size_t)got);
            frame_conn(l, c, pf_buf_data(&c->rbuf), pf_buf_len(&c->rbuf), 0);
        }
        return;
    }
    ssize_t n;
    do {
        n = recv(c->fd, dst, want, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return;
        c->flags |= MC_ABORT | MC_SKIP;
        c->err = PF_NEG_ERRNO();
        mark_dirty(l, c);
        return;
    }
    if (n == 0) {
        /* EOF: an incomplete message is dropped; queued output is still
         * written, then the connection is closed. */
        c->flags |= MC_EOF;
        stop_reading(l, c);
        return;
    }
    clock_start(l, c, PF_CLOCK_IDLE);
    if (c->flags & MC_HEADER) { /* nothing in rbuf yet: in the arena */
        size_t rest = proxy_read(l, c, dst, (size_t)n);
        if (rest == 0) {
            /* A proxy sends the header on its own, the client's first
             * bytes right behind it: read them now rather than in the
             * next cycle (an EAGAIN costs less than a wake-up).  TLS:
             * c->tls is set now, so this goes on with the handshake. */
            if (!(c->flags & (MC_HEADER | MC_SKIP)))
                read_conn(l, c);
            return;
        }
        l->arena_used += (size_t)n;
        frame_conn(l, c, dst + n - rest, rest, 1);
        return;
    }
    if (in_arena) {
        l->arena_used += (size_t)n;
        frame_conn(l, c, dst, (size_t)n, 1);
    } else {
        pf_buf_commit(&c->rbuf, (size_t)n);
        frame_conn(l, c, pf_buf_data(&c->rbuf), pf_buf_len(&c->rbuf), 0);
    }
}

/* Make fd (its peer address at l->addrs[l->naddrs]) one of l's
 * connections and report it (OPEN event).  Counted in l->load already. */
static void add_conn(pf_msgloop *l, int fd, socklen_t alen)
{
    struct sockaddr_storage *ss = &l->addrs[l->naddrs];
    pf_mconn *c = calloc(1, sizeof(*c));
    if (!c)
        goto drop;
    c->fd = fd;
    c->flags = MC_OPEN;
    pf_framer_init(&c->fr, &l->o.frame); /* validated by pf_msgloop_init */
    pf_buf_init(&c->rbuf, pf_framer_max_pending(&c->fr) + READ_CHUNK);
    pf_buf_init(&c->out, OUT_MAX);
    if (l->o.nodelay && (ss->ss_family == AF_INET || ss->ss_family == AF_INET6)) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    c->events = EPOLLIN;
    if (l->o.proxy) {
        /* OPEN once the header is complete (proxy_read); with TLS, once
         * the handshake that follows it completed (proxy_to_tls). */
        c->proxy = malloc(sizeof(*c->proxy));
        if (!c->proxy || pf_loop_add(&l->loop, fd, EPOLLIN, conn_tag(c)) < 0) {
            free(c->proxy);
            free(c);
            goto drop;
        }
        pf_proxy_init(&c->proxy->p, l->o.proxy_max); /* checked by pf_msgloop_init */
        memcpy(&c->proxy->peer, ss, alen);
        c->proxy->peer_len = alen;
        c->proxy->reason = NULL;
        c->flags |= MC_HEADER;
        clock_start(l, c, PF_CLOCK_IDLE);
        clock_start(l, c, PF_CLOCK_PROXY);
        l->nconns++;
        l->accepted++;
        if (!pf_proxy_trusted(l->o.proxy_trusted, l->o.proxy_ntrusted,
                              (const struct sockaddr *)ss)) {
            c->proxy->reason = "peer not in proxy_trusted";
            c->flags |= MC_ABORT;
            do_close(l, c, -EACCES); /* before a byte of it is read */
            return;
        }
        /* The proxy speaks first, its header usually in the segment that
         * followed the handshake: read it now, not after another wait. */
        read_conn(l, c);
        return;
    }
    if (l->o.tls_ctx) {
        /* OPEN once the handshake completed (tls_input). */
        c->tls = calloc(1, sizeof(*c->tls));
        if (!c->tls || pf_loop_add(&l->loop, fd, EPOLLIN, conn_tag(c)) < 0) {
            free(c->tls);
            free(c);
            goto drop;
        }
        memcpy(&c->tls->peer, ss, alen);
        c->tls->peer_len = alen;
        c->flags |= MC_HANDSHAKE;
        clock_start(l, c, PF_CLOCK_IDLE);
        clock_start(l, c, PF_CLOCK_HANDSHAKE);
        l->nconns++;
        l->accepted++;
        /* The client speaks first, its ClientHello usually here by now:
         * read it at once, not after another wait. */
        read_conn(l, c);
        return;
    }
    pf_mevent *e = ev_push(l, PF_MEV_OPEN, c);
    if (!e || pf_loop_add(&l->loop, fd, EPOLLIN, conn_tag(c)) < 0) {
        if (e)
            l->nev--;
        free(c);
        goto drop;
    }
    e->data = (const unsigned char *)ss;
    e->len = alen;
    l->naddrs++;
    clock_start(l, c, PF_CLOCK_IDLE);
    l->nconns++;
    l->accepted++;
    return;
drop:
    close(fd);
    pf_board_closed(l->o.board);
    __atomic_fetch_sub(&l->load, 1, __ATOMIC_RELAXED);
}

static void accept_some(pf_msgloop *l)
{
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        if (l->naddrs >= ACCEPT_BATCH)
            return;
        pf_msgloop *t = pick_target(l);
        if (!t || !pf_board_admit(l->o.board)) {
            set_accepting(l, 0); /* the backlog holds the rest */
            return;
        }
        struct sockaddr_storage *ss = &l->addrs[l->naddrs];
        socklen_t alen = sizeof(*ss);
        int fd = pf_listener_accept(&l->lis, SOCK_NONBLOCK, (struct sockaddr *)ss, &alen);
        if (fd < 0)
            return; /* -EAGAIN, or EMFILE (one client shed), or an error */
        pf_board_opened(l->o.board);
        if (t == l) {
            __atomic_fetch_add(&l->load, 1, __ATOMIC_RELAXED);
            add_conn(l, fd, alen);
        } else if (hand_over(t, fd, ss, alen) < 0) {
            close(fd);
            pf_board_closed(l->o.board);
        }
    }
}

/* The caller's item m: an INBOX event.  Only if ev cannot grow (out of
 * memory) is m dropped, leaking what it refers to rather than freeing it
 * under the caller's feet. */
static void report_item(pf_msgloop *l, const pf_loop_msg *m)
{
    pf_mevent *e = ev_push(l, PF_MEV_INBOX, NULL);
    if (e)
        e->msg = *m;
}

/* Take what other threads posted, oldest first, as much as this cycle
 * has room for (ACCEPT_BATCH: each item may be a connection, which needs
 * an address slot): connections from the acceptor become OPEN events, the
 * caller's items INBOX events (*user set if there were any).  Only after a
 * wake-up: every post wakes the loop.  Returns 1 if some are left for the
 * next cycle. */
static int take_inbox(pf_msgloop *l, int *user)
{
    pf_loop_msg got[ACCEPT_BATCH];
    size_t room = ACCEPT_BATCH - l->naddrs;
    if (!l->inbox_check)
        return 0;
    size_t n = pf_loop_take(&l->loop, got, room);
    for (size_t i = 0; i < n; i++) {
        if (got[i].op == PF_MOP_CONN) {
            conn_item *it = got[i].ptr;
            memcpy(&l->addrs[l->naddrs], &it->addr, sizeof(it->addr));
            add_conn(l, it->fd, it->addrlen);
            free(it);
        } else {
            report_item(l, &got[i]);
            *user = 1;
        }
    }
    l->inbox_check = n == room && pf_loop_inbox_len(&l->loop) > 0;
    return l->inbox_check;
}

/* Refuse further posts and empty the inbox (shutdown, destroy): close the
 * connections in it; the caller's items become INBOX events if report,
 * else are dropped. */
static void drop_inbox(pf_msgloop *l, int report)
{
    pf_loop_msg got[ACCEPT_BATCH];
    size_t n;
    if (!l->loop_ok)
        return;
    pf_loop_inbox_close(&l->loop);
    while ((n = pf_loop_take(&l->loop, got, ACCEPT_BATCH)) > 0) {
        for (size_t i = 0; i < n; i++) {
            if (got[i].op == PF_MOP_CONN) {
                conn_item *it = got[i].ptr;
                close(it->fd);
                free(it);
                pf_board_closed(l->o.board);
                __atomic_fetch_sub(&l->load, 1, __ATOMIC_RELAXED);
            } else if (report) {
                report_item(l, &got[i]);
            }
        }
    }
    l->inbox_check = 0;
}

/* ---- the cycle -------------------------------------------------------- */

/* After the caller handled a batch: drop delivered bytes, write output,
 * apply closes and backpressure for every connection touched. */
static void settle_dirty(pf_msgloop *l)
{
    pf_mconn *c = l->dirty;
    l->dirty = NULL;
    while (c) {
        pf_mconn *next = c->next_dirty;
        c->flags &= ~(MC_DIRTY | MC_BUSY | MC_DEFER);
        c->next_dirty = NULL;
        c->cork = 0;
        if (c->proxy && !(c->flags & MC_HEADER)) {
            free(c->proxy); /* its OPEN event was handled */
            c->proxy = NULL;
        }
        if (c->flags & MC_OPEN) {
            if (c->consume) {
                pf_buf_consume(&c->rbuf, c->consume);
                c->consume = 0;
            }
            if (pf_buf_len(&c->rbuf) == 0)
                pf_buf_shrink(&c->rbuf);
            int rc = (c->flags & MC_ABORT) ? 0 : flush_out(c);
            if (rc < 0 || (c->flags & MC_ABORT)) {
                c->flags |= MC_ABORT;
                do_close(l, c, rc < 0 ? rc : c->err);
            } else if ((c->flags & MC_CLOSING) && !has_output(c)) {
                do_close(l, c, c->err);
            } else {
                size_t q = queued(c);
                if (pf_buf_len(&c->out) == 0)
                    pf_buf_shrink(&c->out);
                if (!(c->flags & MC_PAUSED) && q > l->o.high_water) {
                    c->flags |= MC_PAUSED;
                    l->paused++;
                    message_clock(l, c, 0, 0); /* not read: not the peer's time */
                } else if ((c->flags & MC_PAUSED) && q <= l->o.low_water) {
                    c->flags &= ~MC_PAUSED;
                    message_clock(l, c, pf_buf_len(&c->rbuf), 1);
                }
                update_mask(l, c);
            }
        }
        c = next;
    }
}

/* Close the connections whose clock k has run out (err: the reason):
 * after their queued output, which gets one more period of that clock. */
static void expire(pf_msgloop *l, int k, int err)
{
    pf_mclock *q = &l->clocks[k];
    pf_mconn *c;
    if (q->ms <= 0)
        return;
    while ((c = q->head) != NULL && l->now - c->clock[k].since >= q->ms) {
        if (!has_output(c) || (c->flags & MC_CLOSING)) {
            /* Nothing queued, or already given a period to drain it. */
            c->flags |= MC_ABORT;
            do_close(l, c, err);
        } else {
            c->err = err;
            stop_reading(l, c);
            clock_start(l, c, k);
        }
    }
}

/* Milliseconds until the first clock runs out, or timeout_ms if sooner
 * (-1: no limit). */
static int clock_timeout(const pf_msgloop *l, int timeout_ms)
{
    for (int k = 0; k < PF_NCLOCKS; k++) {
        const pf_mclock *q = &l->clocks[k];
        if (q->ms <= 0 || !q->head)
            continue;
        int64_t left = q->head->clock[k].since + q->ms - l->now;
        if (left < 0)
            left = 0;
        if (timeout_ms < 0 || left + 1 < timeout_ms)
            timeout_ms = (int)left + 1;
    }
    return timeout_ms;
}

/* Begin a cycle: what the previous batch left to do. */
static void begin_cycle(pf_msgloop *l)
{
    pf_mconn *dead = l->dead, *c, *keep = NULL;
    l->dead = NULL;
    l->nev = 0;
    l->naddrs = 0;
    l->arena_used = 0;
    l->now = pf_now_ms();
    settle_dirty(l);
    /* Drop closed connections from the pending list. */
    c = l->pending;
    l->pending = NULL;
    while (c) {
        pf_mconn *next = c->next_pending;
        c->flags &= ~MC_PENDING;
        if (c->flags & MC_OPEN) {
            c->flags |= MC_PENDING;
            c->next_pending = keep;
            keep = c;
        }
        c = next;
    }
    l->pending = keep;
    /* ... and from the TLS list. */
    pf_mconn **pp = &l->tls_more;
    while ((c = *pp) != NULL) {
        if (c->flags & MC_OPEN) {
            pp = &c->tls->next_more;
        } else {
            *pp = c->tls->next_more;
            c->flags &= ~MC_TLSMORE;
        }
    }
    /* Their CLOSE events were handled: no list refers to them any more. */
    while (dead) {
        c = dead->next_dead;
        free_conn(dead);
        dead = c;
    }
}

static void run_pending(pf_msgloop *l)
{
    pf_mconn *c = l->pending, *keep = NULL;
    l->pending = NULL;
    while (c) {
        pf_mconn *next = c->next_pending;
        c->flags &= ~MC_PENDING;
        if ((c->flags & (MC_OPEN | MC_SKIP | MC_PAUSED)) == (MC_OPEN | MC_PAUSED)) {
            c->flags |= MC_PENDING; /* deliver once drained */
            c->next_pending = keep;
            keep = c;
        } else if (pf_mconn_active(c) && pf_buf_len(&c->rbuf)) {
            frame_conn(l, c, pf_buf_data(&c->rbuf), pf_buf_len(&c->rbuf), 0);
        }
        c = next;
    }
    for (c = keep; c; c = keep) {
        keep = c->next_pending;
        c->next_pending = l->pending;
        l->pending = c;
    }
}

static int has_runnable_pending(const pf_msgloop *l)
{
    for (const pf_mconn *c = l->pending; c; c = c->next_pending)
        if (!(c->flags & MC_PAUSED))
            return 1;
    for (const pf_mconn *c = l->tls_more; c; c = c->tls->next_more)
        if (wants_read(c))
            return 1;
    return 0;
}

/* TLS connections with input that OpenSSL holds (no EPOLLIN will come
 * for it): read them now, unless paused or with messages waiting. */
static void run_tls_more(pf_msgloop *l)
{
    pf_mconn *c = l->tls_more, *keep = NULL;
    l->tls_more = NULL;
    while (c) {
        pf_mconn *next = c->tls->next_more;
        c->flags &= ~MC_TLSMORE;
        if (wants_read(c) && !(c->flags & (MC_BUSY | MC_PENDING))) {
            read_conn(l, c); /* may list c again */
        } else if (c->flags & MC_OPEN) {
            c->flags |= MC_TLSMORE;
            c->tls->next_more = keep;
            keep = c;
        }
        c = next;
    }
    while ((c = keep) != NULL) {
        keep = c->tls->next_more;
        if (c->flags & MC_TLSMORE) {
            c->flags &= ~MC_TLSMORE;
            tls_more(l, c);
        }
    }
}

/* One cycle of pf_msgloop_poll.  *io: 1 when epoll reported something
 * other than the wake-up, -1 when woken (or the inbox held the caller's
 * items), 0 when it timed out.  *began: the cycle's start (l->now then). */
static int poll_once(pf_msgloop *l, int timeout_ms, int *io, int64_t *began)
{
    pf_loop_event evs[EPOLL_BATCH];
    *io = 0;
    begin_cycle(l);
    *began = l->now;
    expire(l, PF_CLOCK_IDLE, PF_MCLOSE_IDLE);
    expire(l, PF_CLOCK_MESSAGE, PF_MCLOSE_MESSAGE);
    expire(l, PF_CLOCK_PROXY, PF_MCLOSE_PROXY);
    expire(l, PF_CLOCK_HANDSHAKE, PF_MCLOSE_HANDSHAKE);
    run_pending(l);
    run_tls_more(l);
    int user = 0;
    int inbox_left = take_inbox(l, &user);
    resume_accepting(l);
    /* The caller's items go out before any I/O: what they queue (replies
     * other threads sent, closes) must come before what this cycle's reads
     * could bring (the peer's FIN closing the connection). */
    if (user) {
        *io = -1;
        return (int)l->nev;
    }
    if (l->nev > 0 || inbox_left || has_runnable_pending(l))
        timeout_ms = 0;
    else
        timeout_ms = clock_timeout(l, timeout_ms);
    int n = pf_loop_wait(&l->loop, timeout_ms, evs, EPOLL_BATCH);
    if (n < 0)
        return l->nev > 0 ? (int)l->nev : n;
    /* The wait may have blocked: the clock again, for this cycle's reads
     * (the idle and message clocks start at l->now) and for the caller. */
    if (timeout_ms != 0)
        l->now = pf_now_ms();
    /* A wake-up: take the inbox before the fd events, for the same reason.
     * If it held caller items, this wait's fd events are left to the next
     * one (every registration is level-triggered: they come again). */
    for (int i = 0; i < n; i++) {
        if (evs[i].events & PF_LOOP_WAKE) {
            *io = -1; /* woken: return, even without events */
            l->inbox_check = 1;
            take_inbox(l, &user);
            if (user)
                return (int)l->nev;
            break;
        }
    }
    for (int i = 0; i < n; i++) {
        uint64_t tag = evs[i].tag;
        uint32_t e = evs[i].events;
        if (e & PF_LOOP_WAKE)
            continue;
        if (*io == 0)
            *io = 1;
        if (tag == TAG_LIS) {
            if (l->accepting)
                accept_some(l);
            continue;
        }
        if (tag == TAG_BOARD) {
            pf_board_clear(l->o.board); /* the next cycle asks it again */
            continue;
        }
        pf_mconn *c = (pf_mconn *)(uintptr_t)tag;
        if (!(c->flags & MC_OPEN))
            continue;
        if ((e & EPOLLOUT) && has_output(c)) {
            int rc = flush_out(c);
            if (rc < 0) {
                c->flags |= MC_ABORT | MC_SKIP;
                c->err = rc;
            }
            mark_dirty(l, c);
        }
        /* Not while c has messages in this batch or complete ones waiting
         * (pending): they come first, also before a FIN behind them. */
        if ((e & (EPOLLIN | EPOLLHUP | EPOLLERR)) && wants_read(c) &&
            !(c->flags & (MC_BUSY | MC_PENDING))) {
            read_conn(l, c);
        } else if (e & (EPOLLHUP | EPOLLERR)) {
            int soerr = 0;
            socklen_t sl = sizeof(soerr);
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
            c->flags |= MC_ABORT | MC_SKIP;
            c->err = soerr ? -soerr : -ECONNRESET;
            mark_dirty(l, c);
        }
    }
    return (int)l->nev;
}

int pf_msgloop_poll(pf_msgloop *l, int timeout_ms)
{
    int64_t deadline = -1, began;
    for (;;) {
        int io, n = poll_once(l, timeout_ms, &io, &began);
        if (n != 0 || io <= 0 || timeout_ms == 0)
            return n;
        /* I/O that gave no event (an accept whose OPEN waits for its PROXY
         * header, part of a message): wait again for what is left of
         * timeout_ms, so that 0 still means a timeout or a wake-up and the
         * caller does not run its idle work once per such read.  The
         * deadline counts from the first cycle's start: no clock read of
         * its own in the common case, a poll that returns events. */
        if (timeout_ms > 0) {
            if (deadline < 0)
                deadline = began + timeout_ms;
            int64_t left = deadline - l->now;
            if (left <= 0)
                return 0;
            timeout_ms = (int)left;
        }
    }
}

/* ---- the caller's side ------------------------------------------------ */

int pf_msgloop_take(pf_msgloop *l, const pf_mevent *e, size_t extra)
{
    pf_mconn *c = e->conn;
    if ((c->flags & (MC_OPEN | MC_SKIP | MC_DEFER)) != MC_OPEN)
        return 0;
    if (queued(c) + extra <= l->o.high_water)
        return 1;
    /* Above the mark: e and the rest of c's batch wait in c's read buffer,
     * whose unconsumed bytes now start at e's message, and are framed
     * again (from scratch) when c may take messages. */
    c->flags |= MC_DEFER;
    if (c->batch_in_arena) {
        /* rbuf holds what followed the batch: put the batch's rest before it. */
        if (pf_buf_prepend(&c->rbuf, e->frame, (size_t)(c->batch_end - e->frame)) < 0) {
            c->flags |= MC_ABORT | MC_SKIP;
            c->err = -ENOMEM;
            mark_dirty(l, c);
            return 0;
        }
    } else {
        c->consume = (size_t)(e->frame - pf_buf_data(&c->rbuf));
    }
    pf_framer_reset(&c->fr);
    mark_pending(l, c);
    return 0;
}

int pf_msgloop_send(pf_msgloop *l, pf_mconn *c, const struct iovec *iov, int iovcnt)
{
    size_t total = 0, done = 0;
    if (!pf_mconn_active(c))
        return -EPIPE;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    if (total == 0)
        return 0;
    /* TLS: queued, encrypted with the rest of the batch's output when
     * the batch ends (flush_tls). */
    if (pf_buf_len(&c->out) == 0 && !c->cork && !c->tls) {
        struct msghdr mh;
        memset(&mh, 0, sizeof(mh));
        mh.msg_iov = (struct iovec *)iov;
        mh.msg_iovlen = (size_t)iovcnt;
        ssize_t n;
        /* One buffer (the common reply): send(2), which skips sendmsg's
         * copy of the msghdr and iovec array into the kernel. */
        do {
            n = iovcnt == 1
                    ? send(c->fd, iov[0].iov_base, iov[0].iov_len, MSG_DONTWAIT | MSG_NOSIGNAL)
                    : sendmsg(c->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
        } while (n < 0 && errno == EINTR);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                c->flags |= MC_ABORT | MC_SKIP;
                c->err = PF_NEG_ERRNO();
                mark_dirty(l, c);
                return 0;
            }
            n = 0;
        }
        done = (size_t)n;
        if (done == total)
            return 0;
    }
    for (int i = 0; i < iovcnt; i++) {
        size_t len = iov[i].iov_len;
        const unsigned char *p = iov[i].iov_base;
        if (done >= len) {
            done -= len;
            continue;
        }
        if (pf_buf_append(&c->out, p + done, len - done) < 0)
            return -ENOMEM;
        done = 0;
    }
    mark_dirty(l, c);
    return 0;
}

void pf_msgloop_close(pf_msgloop *l, pf_mconn *c, int abort)
{
    if (!(c->flags & MC_OPEN))
        return;
    c->flags |= MC_SKIP | (abort ? MC_ABORT : 0);
    stop_reading(l, c);
}

/* Graceful shutdown: wait up to drain_ms for each open connection's queued
 * output to be written, polling only those that still have some.  A socket
 * error marks that connection for an abortive close with the error. */
static void drain_all(pf_msgloop *l, int drain_ms)
{
    struct pollfd *pfds = NULL;
    pf_mconn **conns = NULL;
    int64_t deadline = pf_now_ms() + drain_ms;
    size_t cap = l->nconns;
    if (drain_ms <= 0 || cap == 0)
        return;
    pfds = malloc(cap * sizeof *pfds);
    conns = malloc(cap * sizeof *conns);
    if (!pfds || !conns)
        goto out;
    for (;;) {
        nfds_t n = 0;
        for (pf_mconn *c = l->clocks[PF_CLOCK_IDLE].head; c && n < cap;
             c = c->clock[PF_CLOCK_IDLE].next) {
            if ((c->flags & MC_ABORT) || !has_output(c))
                continue;
            pfds[n].fd = c->fd;
            pfds[n].events = POLLOUT;
            pfds[n].revents = 0;
            conns[n++] = c;
        }
        int64_t left = deadline - pf_now_ms();
        if (n == 0 || left <= 0)
            break;
        int r = poll(pfds, n, (int)left);
        if (r < 0 && errno != EINTR)
            break;
        for (nfds_t i = 0; r > 0 && i < n; i++) {
            if (!pfds[i].revents)
                continue;
            int rc = flush_out(conns[i]);
            if (rc < 0) {
                conns[i]->err = rc;
                conns[i]->flags |= MC_ABORT;
            }
        }
    }
out:
    free(pfds);
    free(conns);
}

int pf_msgloop_shutdown(pf_msgloop *l, int drain_ms)
{
    /* The inbox refuses posts first: the acceptor hands nothing over
     * after this (pf_loop_post fails with -ESHUTDOWN and it closes the fd). */
    if (l->loop_ok)
        pf_loop_inbox_close(&l->loop);
    __atomic_store_n(&l->stopped, 1, __ATOMIC_RELAXED);
    set_accepting(l, 0);
    begin_cycle(l);
    drop_inbox(l, 1);
    drain_all(l, drain_ms);
    while (l->clocks[PF_CLOCK_IDLE].head) {
        pf_mconn *c = l->clocks[PF_CLOCK_IDLE].head;
        int rc = (c->flags & MC_ABORT) ? 0 : flush_out(c);
        /* Graceful close (FIN after the drained replies) unless the socket
         * failed: an abortive close would reset what drain_all wrote. */
        if (rc < 0)
            c->flags |= MC_ABORT;
        do_close(l, c, rc < 0 ? rc : (c->err ? c->err : PF_MCLOSE_SHUTDOWN));
    }
    l->pending = NULL;
    l->tls_more = NULL;
    return (int)l->nev;
}

int pf_msgloop_close_inbox(pf_msgloop *l)
{
    begin_cycle(l);
    drop_inbox(l, 1);
    return (int)l->nev;
}

int pf_msgloop_wake(pf_msgloop *l)
{
    return pf_loop_wake(&l->loop);
}

pf_loop *pf_msgloop_loop(pf_msgloop *l)
{
    return &l->loop;
}

int pf_msgloop_init(pf_msgloop *l, int listen_fd, const pf_msgloop_opts *o)
{
    pf_framer probe;
    int rc;
    memset(l, 0, sizeof(*l));
    l->o = *o;
    if (l->o.low_water > l->o.high_water)
        l->o.low_water = l->o.high_water;
    rc = pf_framer_init(&probe, &o->frame);
    if (rc < 0)
        return rc;
    if (o->proxy) {
        pf_proxy probe_proxy;
        rc = pf_proxy_init(&probe_proxy, o->proxy_max);
        if (rc < 0)
            return rc;
    }
    if (o->tls_ctx)
        pf_tls_ctx_hold(o->tls_ctx); /* released by pf_msgloop_destroy */
    l->ev_cap = EV_SOFT_MAX + EPOLL_BATCH;
    l->ev = malloc(l->ev_cap * sizeof(*l->ev));
    l->arena = malloc(ARENA_SIZE);
    l->addrs = malloc(ACCEPT_BATCH * sizeof(*l->addrs));
    if (o->tls_ctx)
        l->tls_in = malloc(READ_CHUNK);
    if (!l->ev || !l->arena || !l->addrs || (o->tls_ctx && !l->tls_in)) {
        rc = -ENOMEM;
        goto fail;
    }
    rc = pf_loop_open(&l->loop, 0);
    if (rc < 0)
        goto fail;
    l->loop_ok = 1;
    l->clocks[PF_CLOCK_IDLE].ms = o->idle_ms;
    l->clocks[PF_CLOCK_MESSAGE].ms = o->message_ms;
    l->clocks[PF_CLOCK_PROXY].ms = o->proxy ? o->proxy_ms : 0;
    l->clocks[PF_CLOCK_HANDSHAKE].ms = o->tls_ctx ? o->handshake_ms : 0;
    l->now = pf_now_ms();
    if (listen_fd < 0)
        return 0; /* served by an acceptor */
    rc = pf_listener_init(&l->lis, listen_fd);
    if (rc < 0)
        goto fail;
    l->lis_ok = 1;
    set_accepting(l, 1);
    if (!l->accepting) {
        rc = -EINVAL;
        goto fail;
    }
    if (pf_board_fd(o->board) >= 0 &&
        (rc = pf_loop_add(&l->loop, pf_board_fd(o->board), EPOLLIN, TAG_BOARD)) < 0)
        goto fail;
    return 0;
fail:
    pf_msgloop_destroy(l);
    return rc;
}

void pf_msgloop_destroy(pf_msgloop *l)
{
    pf_mconn *c;
    __atomic_store_n(&l->stopped, 1, __ATOMIC_RELAXED);
    l->dirty = NULL;
    l->pending = NULL;
    while ((c = l->clocks[PF_CLOCK_IDLE].head) != NULL) {
        clock_stop(l, c, PF_CLOCK_IDLE);
        close(c->fd);
        free_conn(c);
    }
    while ((c = l->dead) != NULL) {
        l->dead = c->next_dead;
        free_conn(c);
    }
    drop_inbox(l, 0);
    if (l->lis_ok)
        pf_listener_close(&l->lis);
    l->lis_ok = 0;
    if (l->loop_ok)
        pf_loop_close(&l->loop);
    l->loop_ok = 0;
    free(l->ev);
    free(l->arena);
    free(l->addrs);
    free(l->tls_in);
    l->tls_in = NULL;
    if (l->o.tls_ctx)
        pf_tls_ctx_release(l->o.tls_ctx);
    l->o.tls_ctx = NULL;
    l->tls_more = NULL;
    l->ev = NULL;
    l->arena = NULL;
    l->addrs = NULL;
    l->nev = l->ev_cap = 0;
}
