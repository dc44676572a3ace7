/* pf_msgloop.h: the message loop (MessageHandler's event-driven fast path).
 *
 * One thread, one pf_loop (pf_loop.h: its epoll set, wake-up and inbox):
 * the listening socket (level-triggered, tag 0) and every connection
 * (non-blocking, accepted with accept4 via pf_listener; level-triggered,
 * tagged with its pf_mconn pointer).
 * The loop reads, frames (pf_frame.h) and hands whole messages to its
 * caller in batches; the caller (the Cython layer, holding the GIL once
 * per batch) handles them and queues replies with pf_msgloop_send(); the
 * loop writes them (writev/sendmsg) and watches EPOLLOUT for what the
 * socket did not take.
 *
 * The cycle, driven by the caller:
 *
 *     for (;;) {
 *         n = pf_msgloop_poll(l, timeout_ms);     // without the GIL
 *         for (i = 0; i < n; i++) handle(&l->ev[i]);  // with the GIL
 *     }
 *     n = pf_msgloop_shutdown(l, drain_ms); handle those CLOSE events; pf_msgloop_destroy(l);
 *
 * Events (pf_mevent): OPEN (a new connection; data/len = its sockaddr:
 * with o.proxy, the client's address from its PROXY header, reported once
 * the header is complete, or the peer's for a header naming no client),
 * MSG (one message of a connection; data/len borrowed from the loop's
 * buffers, valid until the next pf_msgloop_poll), CLOSE (the connection's
 * fd is closed; its pf_mconn stays valid until the next pf_msgloop_poll,
 * so the caller drops its reference then), REFUSED (o.proxy: a
 * connection closed before its OPEN, for its PROXY header: missing,
 * malformed, oversized, an untrusted peer, closed, reset or stalled past
 * proxy_ms before the header was complete, or the server shut down; data/
 * len = the peer's sockaddr, err = a negative errno, reason = why, a
 * static string; its pf_mconn stays valid until the next poll and has no
 * user object).  A connection's MSG events are
 * contiguous in a batch and in order; `more` says another MSG of the same
 * connection follows (the caller may then cork: queue its reply without
 * writing it yet, so one send carries the batch's replies).
 *
 * Memory per connection stays bounded:
 * - Reads go into a per-loop arena (one cycle's worth); only an incomplete
 *   message's bytes are kept in the connection's own buffer, whose cap is
 *   what the framer can need (max message + one read).  An idle
 *   connection holds no buffer.
 * - Backpressure: when queued output exceeds high_water the connection is
 *   no longer read (nor are its buffered messages handed out) until the
 *   output drains to low_water.  The mark is checked between the messages
 *   of a batch too: the caller asks pf_msgloop_take() before handling each
 *   MSG event, and once the connection's output is above high_water the
 *   rest of its batch stays buffered, in order, for after the drain.  So a
 *   connection queues at most high_water + one message's replies.
 * - max_conns: at the limit the listener is taken out of the epoll set;
 *   clients wait in the kernel's backlog until a connection closes.
 * - Two clocks, each a list ordered by when it was last started (so O(1)
 *   per start and stop, expiries found at the list's head):
 *   idle_ms: a connection that sends nothing for that long is closed
 *   (after its queued output), with err -ETIMEDOUT (every open connection
 *   is on this list, least recently read first);
 *   message_ms: a connection must complete a message within that long of
 *   its first byte (or of the previous message's end, whichever is later),
 *   however slowly the bytes come, else it is closed (after its queued
 *   output), with err -ETIME.  The clock runs only while the loop reads
 *   the connection (not while backpressure pauses it).
 *   A connection so closed that still has output after one more period of
 *   its clock is dropped (abortive close).
 *
 * Several loops, each on its own thread, may share one listening socket:
 * one loop (the acceptor, pf_msgloop_set_peers) accepts and hands each new
 * connection to the loop with the fewest connections, itself included
 * (pf_loop_post of a PF_MOP_CONN item into that loop's inbox).
 * A connection then stays on its loop.  max_conns is per loop; the
 * acceptor stops accepting while every loop is at its limit.
 *
 * Several processes (pyfast.prefork's workers) sharing one listening
 * socket admit by least connections through o.board (pf_board.h, joined
 * to this process's slot; the same board for every loop of the process):
 * the process's load is its loops' connections (counted on the board at
 * each accept and close, by whichever loop closes).  While the board gates
 * this process the acceptor leaves the socket to the others and watches
 * the board's eventfd, accepting again once woken and admitted.
 *
 * Threads: everything here is for the loop's thread, except
 * pf_msgloop_wake() and pf_loop_post() on pf_msgloop_loop(l), safe from
 * any thread.
 *
 * Cross-thread work for the caller: another thread posts a pf_loop_msg
 * with an op >= PF_MOP_USER (the caller's own enum) into
 * pf_msgloop_loop(l) with pf_loop_post(); the loop hands it back, in
 * posting order, as a PF_MEV_INBOX event (conn NULL, the item in msg)
 * early in a later batch, on the loop's thread.  Ops below PF_MOP_USER are
 * the loop's own (PF_MOP_CONN: a connection from the acceptor).  Items
 * still queued at pf_msgloop_shutdown() come back as INBOX events among
 * its CLOSE events (so that what ptr refers to can be released); posts
 * after shutdown fail with -ESHUTDOWN; pf_msgloop_destroy() drops what
 * is left without events.  To run the items posted before a graceful
 * shutdown while the connections are still open (replies other threads
 * sent, to be drained), call pf_msgloop_close_inbox() first.
 *
 * TLS (o.tls_ctx, an SSL_CTX of the libssl pf_tls.h loaded): the loop
 * decrypts what it reads before framing and encrypts queued output as it
 * writes it (pf_tls.h, memory BIOs; no socket I/O in OpenSSL).  OPEN comes
 * once the handshake completed (its SSL object is made at the first byte:
 * a silent client costs no OpenSSL memory); a handshake that fails, or
 * does not complete within handshake_ms of the accept, ends in REFUSED
 * (err: 0 closed by the peer, -ECONNRESET etc., PF_MCLOSE_TLS with
 * pf_tls_reason(pf_mconn_tls(conn)) the reason, PF_MCLOSE_HANDSHAKE).
 * With o.proxy too (TLS passthrough behind a proxy), the PROXY header
 * comes first, in plaintext, and is read as without TLS (proxy_ms; its
 * REFUSED has conn->tls NULL, as the caller tells them apart); the bytes
 * behind it start the handshake, whose handshake_ms runs from the
 * header's end and whose OPEN and REFUSED report the header's client.
 * After the handshake a TLS error closes the connection at once (CLOSE,
 * err PF_MCLOSE_TLS); the peer's close_notify, or a FIN between records,
 * is EOF; a FIN inside a record is PF_MCLOSE_TLS.  Output is queued as
 * plaintext: pf_mconn_queued() and the water marks count plaintext bytes;
 * a batch's replies are encrypted together when the batch ends, up to
 * TLS_CHUNK bytes at a time (the ciphertext held per connection is
 * bounded by that), and sent with one send.  A graceful close sends
 * close_notify before the FIN.
 *
 * Returns: 0 / a count, or a negative errno.  EINTR from epoll_wait is
 * returned (-EINTR) so that the caller can run signal handlers.
 */
#ifndef PF_MSGLOOP_H
#define PF_MSGLOOP_H

#include <stddef.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "pf_board.h"
#include "pf_buf.h"
#include "pf_frame.h"
#include "pf_listen.h"
#include "pf_loop.h"
#include "pf_proxy.h"
#include "pf_tls.h"

enum { PF_MEV_OPEN = 1, PF_MEV_MSG = 2, PF_MEV_CLOSE = 3, PF_MEV_INBOX = 4,
       PF_MEV_REFUSED = 5 };

/* ops of the loop's inbox (pf_loop_msg.op; see Threads above) */
enum {
    PF_MOP_CONN = 1,  /* ptr: a connection handed over by the acceptor */
    PF_MOP_USER = 64  /* first op of the caller's own (PF_MEV_INBOX events) */
};

/* CLOSE reasons beside 0 (peer EOF or pf_msgloop_close) and socket errors. */
#define PF_MCLOSE_FRAMING (-EMSGSIZE)  /* line/header over the limit */
#define PF_MCLOSE_IDLE    (-ETIMEDOUT) /* idle timeout */
#define PF_MCLOSE_MESSAGE (-ETIME)     /* message not completed in message_ms */
#define PF_MCLOSE_SHUTDOWN (-ESHUTDOWN) /* server shut down */
#define PF_MCLOSE_PROXY   (-ETIMEDOUT) /* REFUSED: no whole PROXY header in proxy_ms */
#define PF_MCLOSE_TLS     (-EPROTO)    /* TLS error (pf_tls_reason) */
#define PF_MCLOSE_HANDSHAKE (-ETIMEDOUT) /* REFUSED: no handshake in handshake_ms */

typedef struct pf_mconn pf_mconn;

/* The clocks (see above); l->clocks[k] lists the connections on clock k. */
enum { PF_CLOCK_IDLE = 0, PF_CLOCK_MESSAGE = 1, PF_CLOCK_PROXY = 2, PF_CLOCK_HANDSHAKE = 3,
       PF_NCLOCKS = 4 };

typedef struct {
    pf_mconn *prev, *next;
    int64_t since;        /* when this clock was (re)started, ms */
    int on;               /* on the clock's list */
} pf_mclock_link;

typedef struct {
    pf_mconn *head, *tail; /* earliest started first */
    int ms;               /* period; <= 0: this clock never expires */
} pf_mclock;

typedef struct {
    int type;                  /* PF_MEV_* */
    int more;                  /* MSG: the next event is a MSG of the same conn */
    int err;                   /* CLOSE: 0 or a negative errno (see above) */
    pf_mconn *conn;
    const unsigned char *data; /* MSG: payload; OPEN: struct sockaddr */
    size_t len;
    const unsigned char *frame; /* MSG: where the message's bytes start
                                   (its header, if any), in data's buffer */
    const char *reason;        /* REFUSED: why (static string) */
    pf_loop_msg msg;           /* INBOX: the item posted */
} pf_mevent;

struct pf_mproxy;
struct pf_mtls;

struct pf_mconn {
    int fd;
    unsigned flags;       /* PF_MC_* (pf_msgloop.c) */
    uint32_t events;      /* epoll mask now registered */
    int err;              /* close reason once decided */
    void *user;           /* the caller's object (Python handler) */
    pf_framer fr;
    pf_buf rbuf;          /* bytes of an incomplete message (or undelivered ones) */
    pf_buf out;           /* queued output */
    size_t consume;       /* rbuf bytes delivered this batch, dropped next poll */
    const unsigned char *batch_end; /* end of this batch's framed bytes */
    int batch_in_arena;   /* ... which are in the arena (else in rbuf) */
    pf_mclock_link clock[PF_NCLOCKS];
    pf_mconn *next_dirty, *next_pending, *next_dead;
    int cork;             /* set by the caller: queue, do not write yet */
    struct pf_mproxy *proxy; /* o.proxy: the PROXY header's parser, until
                                the header is complete and reported */
    struct pf_mtls *tls;  /* o.tls_ctx: the connection's TLS state (with
                           * o.proxy: NULL until its header is complete) */
};

typedef struct {
    pf_frame_opts frame;
    size_t high_water;    /* pause reading above this many queued output bytes */
    size_t low_water;     /* resume at or below this */
    int idle_ms;          /* <= 0: no idle timeout */
    int message_ms;       /* <= 0: no per-message deadline */
    int max_conns;        /* <= 0: no limit */
    int nodelay;          /* set TCP_NODELAY on accepted connections */
    /* PROXY protocol (pf_proxy.h): every connection starts with a header,
     * parsed before framing; OPEN comes once it is complete. */
    int proxy;            /* on */
    int proxy_ms;         /* the whole header within this long of the
                             accept, else REFUSED (<= 0: no limit) */
    size_t proxy_max;     /* longest header (bytes; 0: the default) */
    const pf_proxy_net *proxy_trusted; /* peers that may send it, owned by
                             the caller, alive as long as the loop */
    int proxy_ntrusted;   /* entries; < 0: any peer */
    pf_board *board;      /* workers' admission (see above); NULL: none.
                             Owned by the caller, alive as long as the loop */
    /* TLS (see above): an SSL_CTX * (pf_tls.h), or NULL: plaintext.  The
     * loop holds a reference to it (SSL_CTX_up_ref) while it lives. */
    void *tls_ctx;
    int handshake_ms;     /* the handshake within this long of the accept,
                             else REFUSED (<= 0: no limit) */
} pf_msgloop_opts;

typedef struct pf_msgloop {
    pf_loop loop;         /* epoll set, wake-up, inbox */
    int loop_ok;          /* loop opened */
    int inbox_check;      /* woken since the inbox was last found empty */
    pf_listener lis;
    int lis_ok;           /* lis initialised */
    int accepting;        /* listener in the epoll set */
    pf_msgloop_opts o;
    int nconns;
    int stopped;          /* pf_msgloop_shutdown ran */
    int accept_paused;    /* pf_msgloop_pause_accept (atomic) */
    int64_t now;          /* pf_now_ms() at the cycle's start and after a wait
                           * that could block: when pf_msgloop_poll returns,
                           * the time it returned at, for the caller's clock */
    unsigned char *arena;
    size_t arena_used;
    pf_mevent *ev;        /* this batch's events */
    size_t nev, ev_cap;
    struct sockaddr_storage *addrs; /* OPEN events' addresses */
    size_t naddrs;
    pf_mclock clocks[PF_NCLOCKS]; /* [PF_CLOCK_IDLE] lists every open conn */
    pf_mconn *dirty, *pending, *dead;
    uint64_t accepted, closed, framing_errors, idle_closed, message_timeouts, paused;
    uint64_t proxy_refused; /* REFUSED events for a PROXY header */
    uint64_t tls_refused; /* REFUSED events for a TLS handshake */
    uint64_t handshakes;  /* TLS handshakes completed */
    pf_mconn *tls_more;   /* TLS: decrypted input left behind for lack of room */
    unsigned char *tls_in; /* TLS: ciphertext read from a socket */
    /* Sharing a listening socket (see above). */
    int load;             /* connections owned or in the inbox (atomic) */
    struct pf_msgloop **peers; /* acceptor: the other loops */
    int npeers;
    int next_peer;        /* acceptor: where the next search starts */
    struct pf_msgloop *acceptor; /* peer: woken when a connection closes at its limit */
} pf_msgloop;

void pf_msgloop_opts_init(pf_msgloop_opts *o);
/* listen_fd: a listening socket owned by the caller (made non-blocking),
 * or -1 for a loop that serves only what an acceptor hands it. */
int pf_msgloop_init(pf_msgloop *l, int listen_fd, const pf_msgloop_opts *o);
/* Make l (which has a listening socket) the acceptor of peers[0..n): the
 * peers have none.  Before the first poll of any of them.  The peers and l
 * must all stay allocated (not destroyed) until every one of them has
 * returned from pf_msgloop_shutdown. */
void pf_msgloop_set_peers(pf_msgloop *l, pf_msgloop **peers, int n);
/* Close every remaining connection without events and free everything
 * (the caller's inbox items still queued are dropped: shut down first). */
void pf_msgloop_destroy(pf_msgloop *l);
/* End the current or next wait at once.  Any thread. */
int pf_msgloop_wake(pf_msgloop *l);
/* paused != 0: stop accepting from the next cycle on (the listener leaves
 * the epoll set: new clients stay in the kernel's backlog for another
 * process or a later resume); open connections are served as before.
 * 0: accept again.  Any thread (a worker process draining before a
 * reload: the other workers take the backlog).  0 or -errno of the wake. */
int pf_msgloop_pause_accept(pf_msgloop *l, int paused);
/* l's pf_loop, for pf_loop_post() from other threads (see Threads). */
pf_loop *pf_msgloop_loop(pf_msgloop *l);
/* Finish the previous batch (drop delivered bytes, write queued output,
 * close what was closed), then wait up to timeout_ms (-1: no limit; the
 * idle timeout shortens it) and do the I/O that is ready.  Returns the
 * number of events in l->ev (0: timeout or wake-up), -EINTR, -errno.
 * Unless it returned -EINTR, l->now is then the time it returned at (the
 * loop reads the clock once per cycle and once after a wait that could
 * block: a caller timing its idle work need not read it again). */
int pf_msgloop_poll(pf_msgloop *l, int timeout_ms);
/* Before handling MSG event e: 1 to handle it now, 0 to skip it.  0 when
 * e's connection was closed earlier in the batch, and when its queued
 * output plus `extra` (bytes the caller holds for it, not yet queued) is
 * above high_water: then e and the rest of that connection's batch stay
 * buffered, in order, and come again in a later batch once the output
 * has drained (to low_water if the connection was paused).  Skipped
 * messages of a batch are never handed out twice. */
int pf_msgloop_take(pf_msgloop *l, const pf_mevent *e, size_t extra);
/* Queue iov for c: written at once when nothing is queued and c is not
 * corked (one sendmsg), else appended to c's output.  Never blocks.
 * 0, -EPIPE if c is closed or closing, -ENOMEM.  A socket error closes c
 * at the next poll (its CLOSE event carries it); 0 is returned then. */
int pf_msgloop_send(pf_msgloop *l, pf_mconn *c, const struct iovec *iov, int iovcnt);
/* Close c once its queued output is written (CLOSE event, err 0 unless
 * an error came first).  abort: close now, dropping queued output. */
void pf_msgloop_close(pf_msgloop *l, pf_mconn *c, int abort);
/* Stop accepting and refuse further posts; write what each connection
 * has queued, waiting up to drain_ms milliseconds in all for sockets that
 * are full (0: no wait), and close it.  Returns the number of events in
 * l->ev: CLOSE events, and INBOX events for the caller's items that were
 * still queued. */
int pf_msgloop_shutdown(pf_msgloop *l, int drain_ms);
/* Refuse further posts (-ESHUTDOWN) and hand back what is queued: the
 * caller's items as INBOX events (connections from the acceptor are
 * closed), after finishing the previous batch as pf_msgloop_poll does.
 * Returns the number of events in l->ev.  Before pf_msgloop_shutdown, so
 * that the output those items queue is drained. */
int pf_msgloop_close_inbox(pf_msgloop *l);
/* Bytes of output queued for c. */
size_t pf_mconn_queued(const pf_mconn *c);
/* c's TLS state (pf_tls.h: version, cipher, peer certificate, the reason
 * of a PF_MCLOSE_TLS), or NULL (plaintext, or before its first byte). */
pf_tls *pf_mconn_tls(const pf_mconn *c);
/* 1 while c takes messages and output: open, not closed by
 * pf_msgloop_close nor by a socket error.  Messages of a batch that follow
 * a close are not handed out. */
int pf_mconn_active(const pf_mconn *c);

#endif
