/* pf_frame: cut a TCP byte stream into messages (MessageHandler framing).
 *
 * Plain C11, no Python.h, no allocation in the framer. Public names are
 * pf_*, internal ones pf__* or static. Functions return 0 / a count, or a
 * negative errno.
 *
 * Modes (pf_frame_mode), one per connection, configured once:
 *
 *   PF_FRAME_LINE   payload, then a delimiter of 1..8 bytes (default "\n").
 *                   A message ends at the FIRST occurrence of the delimiter.
 *                   max_size bounds the payload (delimiter excluded). A line
 *                   that is too long is reported (-EMSGSIZE) as soon as
 *                   max_size + delim_len bytes are buffered without a
 *                   delimiter starting at or before offset max_size, i.e.
 *                   without waiting for the delimiter. keep_delim: the
 *                   delivered payload includes the delimiter.
 *   PF_FRAME_LEN16  2-byte big-endian unsigned length, then that many bytes.
 *   PF_FRAME_LEN32  4-byte big-endian unsigned length, then that many bytes.
 *                   A header announcing more than max_size is reported
 *                   (-EMSGSIZE) as soon as the header is complete. Zero-length
 *                   messages are valid (length 0, consumed = header size).
 *   PF_FRAME_FIXED  every message is exactly fixed_size bytes (>= 1).
 *   PF_FRAME_RAW    whatever is buffered is one message (a chunk), at most
 *                   max_size (>= 1) bytes. Chunk boundaries depend on how
 *                   the bytes arrived; nothing else here does.
 *
 * Input side, the caller-owned buffer contract
 * --------------------------------------------
 * The loop owns a read buffer (a pf_buf of pf_buf.h, or its own). It appends what
 * recv() returned, then calls pf_framer_next() (or _next_batch()) on the
 * UNCONSUMED bytes (buf, len) until it returns 0, dropping out->consumed
 * bytes from the front after each message. Offsets in pf_frame are relative
 * to `buf` as passed in that call, so the caller may move/compact its
 * buffer freely between calls. The only state the framer keeps between calls
 * is relative to the start of the unconsumed data:
 *   - LINE: how far it already searched for the delimiter, so a line that
 *     arrives in many small reads is scanned once, O(total), not O(n^2);
 *   - the sticky error.
 * Hence the rules: between two calls, bytes may only be appended to the end
 * of the unconsumed data, and after a call returns 1 the next call's buf
 * must start exactly out->consumed bytes later (same for the batch's
 * *consumed). Call pf_framer_reset() to start over on unrelated data.
 *
 * A message's bytes are borrowed: buf + out->offset, out->length, valid
 * until the caller consumes/moves its buffer.
 *
 * The loop's read path, sketched (error handling trimmed):
 *
 *     pf_buf_init(&c->rbuf, pf_framer_max_pending(&c->fr) + READ_CHUNK);
 *     ...on readable:
 *     if (pf_buf_reserve(&c->rbuf, READ_CHUNK) < 0) ...;   // -ENOBUFS: bug
 *     n = recv(fd, pf_buf_tail(&c->rbuf), pf_buf_avail(&c->rbuf), 0);
 *     pf_buf_commit(&c->rbuf, n);
 *     while ((k = pf_framer_next_batch(&c->fr, pf_buf_data(&c->rbuf),
 *                                      pf_buf_len(&c->rbuf), v, 64, &used)) > 0) {
 *         deliver(v, k);            // one GIL acquisition for k messages
 *         pf_buf_consume(&c->rbuf, used);
 *     }
 *     if (k < 0) ...;               // -EMSGSIZE: close (or report) the peer
 *
 * (Each batch may also end early because of the 64 cap, hence the loop.
 * At EOF, bytes left in the buffer are an incomplete message; RAW never
 * leaves any.)
 *
 * Output side (send_message symmetry)
 * -----------------------------------
 * A reply is header + payload + trailer: pf_frame_header() gives the LEN16 /
 * LEN32 header (0 bytes for other modes), pf_framer_trailer() the delimiter
 * to append in LINE mode (0 bytes otherwise, and 0 bytes in LINE mode with
 * keep_delim, where the payload is expected to carry its own delimiter,
 * exactly as it was delivered). The output side never checks max_size:
 * it bounds what we accept, not what the peer accepts.
 *
 * pf_buf (pf_buf.h): the growable byte buffer with a hard cap (-ENOBUFS
 * past it) the sketch above reads into.
 *
 * Errors: -EINVAL bad options; -EMSGSIZE message over the limit (or, for
 * pf_frame_header, payload too long for the header).
 */
#ifndef PF_FRAME_H
#define PF_FRAME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    PF_FRAME_RAW = 0,
    PF_FRAME_LINE = 1,
    PF_FRAME_LEN16 = 2,
    PF_FRAME_LEN32 = 3,
    PF_FRAME_FIXED = 4
} pf_frame_mode;

#define PF_FRAME_NMODES 5
#define PF_FRAME_DELIM_MAX 8       /* longest LINE delimiter */
#define PF_FRAME_HDR_MAX 8         /* room for any header pf_frame_header writes */
#define PF_FRAME_DEFAULT_MAX 65536 /* default max_size (asyncio's stream limit) */
/* Largest accepted max_size / fixed_size: keeps size arithmetic overflow-free. */
#define PF_FRAME_LIMIT_MAX (SIZE_MAX / 4)

typedef struct {
    pf_frame_mode mode;
    size_t max_size;   /* LINE: max payload excl. delimiter; LEN16/32: max
                          payload; RAW: max chunk (>= 1). Unused for FIXED. */
    size_t fixed_size; /* FIXED: message size (>= 1). Unused otherwise. */
    unsigned char delim[PF_FRAME_DELIM_MAX]; /* LINE only */
    size_t delim_len;                        /* LINE only: 1..8 */
    int keep_delim;    /* LINE only: payload includes the delimiter */
} pf_frame_opts;

/* One message inside the caller's buffer. */
typedef struct {
    size_t offset;   /* payload start, relative to buf */
    size_t length;   /* payload length */
    size_t consumed; /* bytes this message spans (header + payload + delimiter) */
} pf_frame;

typedef struct {
    pf_frame_opts o;
    size_t scan; /* LINE: delimiter start positions < scan (relative to the
                    unconsumed data) are known not to match */
    int err;     /* 0, or the sticky negative errno */
} pf_framer;

/* Fill opts with the defaults for mode: delimiter "\n", keep_delim 0,
 * max_size PF_FRAME_DEFAULT_MAX, fixed_size 0 (FIXED needs it set). */
void pf_frame_opts_init(pf_frame_opts *o, pf_frame_mode mode);

/* Validate and copy opts. 0 or -EINVAL (unknown mode, delim_len not 1..8,
 * RAW max_size 0, FIXED fixed_size 0, limits > PF_FRAME_LIMIT_MAX).
 * On -EINVAL the framer is left in the error state. */
int pf_framer_init(pf_framer *f, const pf_frame_opts *o);

/* Forget the scan position and any error; keep the options. */
void pf_framer_reset(pf_framer *f);

/* Next message from the unconsumed bytes buf[0..len).
 * 1: *out filled, drop out->consumed bytes before the next call.
 * 0: need more bytes; *out = {0, 0, 0}.
 * <0: framing error (-EMSGSIZE), sticky until pf_framer_reset().
 * buf may be NULL when len == 0. */
int pf_framer_next(pf_framer *f, const unsigned char *buf, size_t len,
                   pf_frame *out);

/* Up to max_frames messages at once (for one GIL acquisition). Frame i's
 * offset is relative to buf (not to the end of frame i-1); frames are
 * contiguous: frame 0 starts at 0, frame i+1 at the end of frame i.
 * *consumed (may be NULL) = sum of their consumed: drop that many bytes.
 * Returns the count (0..max_frames, capped at INT_MAX). If a framing error
 * follows some complete messages, those are returned and the error comes
 * from the next call (it is already sticky); with no message before it,
 * the error is returned now. */
int pf_framer_next_batch(pf_framer *f, const unsigned char *buf, size_t len,
                         pf_frame *frames, size_t max_frames, size_t *consumed);

/* Bytes of unconsumed data that must be buffered before the next message
 * can complete, given the current len, as far as known now: LEN16/32 header
 * size or header + payload; FIXED fixed_size; LINE/RAW len + 1 (unknown).
 * Returns 0 if a message is already complete or the framer is in error.
 * Lets the loop reserve the read buffer once for a large LEN32 message. */
size_t pf_framer_need(const pf_framer *f, const unsigned char *buf, size_t len);

/* The most unconsumed bytes this framer can need buffered before it returns
 * a message or an error: LINE max_size + delim_len, LEN16 2 + min(max_size,
 * 65535), LEN32 4 + min(max_size, 2^32-1), FIXED fixed_size, RAW 1.
 * Invariant: pf_framer_next() returning 0 implies len < this value. Size
 * the connection's pf_buf cap at >= this (+ one read) and -ENOBUFS can only
 * mean a caller bug, never a legitimate message that does not fit. */
size_t pf_framer_max_pending(const pf_framer *f);

/* Output side. Header for a payload of payload_len bytes in `mode`:
 * LEN16 -> 2, LEN32 -> 4 bytes written to hdr (big endian); other modes 0.
 * -EMSGSIZE if payload_len does not fit the header, -EINVAL bad mode. */
int pf_frame_header(pf_frame_mode mode, size_t payload_len,
                    unsigned char hdr[PF_FRAME_HDR_MAX]);

/* Output side. Bytes to append after the payload: LINE without keep_delim:
 * the delimiter (*trailer set, its length returned); otherwise 0 (*trailer
 * set to NULL). */
size_t pf_framer_trailer(const pf_framer *f, const unsigned char **trailer);

#ifdef __cplusplus
}
#endif

#endif /* PF_FRAME_H */
