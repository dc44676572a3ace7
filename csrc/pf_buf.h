/* pf_buf.h: the one growable byte buffer (read buffers, output queues).
 *
 * Bytes live in data[start, end) of an allocation of cap bytes.  Appending
 * writes after end (pf_buf_reserve, then write at pf_buf_tail() and
 * pf_buf_commit(), or pf_buf_append); consuming moves start (O(1)).
 * reserve compacts (moves the data to the front) before it grows, and
 * grows by doubling from PF_BUF_MIN_ALLOC, so a line or message arriving in
 * many reads costs amortised O(1) per byte, not a reallocation per read.
 *
 * Hard cap: max bytes (pf_buf_init); past it reserve/append/prepend fail
 * with -ENOBUFS and the buffer is unchanged, so memory per connection is
 * bounded.  max 0 means no cap: a zeroed pf_buf (a Cython cdef class's
 * field, a calloc'ed struct) is a valid empty buffer without a cap.
 *
 * Memory given back: an allocation larger than PF_BUF_KEEP is freed as
 * soon as pf_buf_consume() empties the buffer (what one long line grew);
 * pf_buf_shrink() frees any emptied allocation (idle connections).
 *
 * Reading from a socket into one: pf_buf_recv (pf_stream.h).
 *
 * Not thread-safe.  Returns 0 / a count, or a negative errno.
 */
#ifndef PF_BUF_H
#define PF_BUF_H

#include <stddef.h>

typedef struct pf_buf {
    unsigned char *data;
    size_t start; /* first unconsumed byte */
    size_t end;   /* one past the last byte */
    size_t cap;   /* allocated size */
    size_t max;   /* hard cap on cap; 0: none */
} pf_buf;

/* First allocation (bytes), unless max is smaller. */
#define PF_BUF_MIN_ALLOC 4096
/* An emptied buffer keeps an allocation up to this size (bytes). */
#define PF_BUF_KEEP ((size_t)1 << 20)

/* max: hard cap in bytes (0: none).  No allocation until the first reserve. */
void pf_buf_init(pf_buf *b, size_t max);
/* Free the allocation; b stays usable (empty, same max). */
void pf_buf_free(pf_buf *b);

/* NULL (and len 0) before the first allocation. */
static inline unsigned char *pf_buf_data(const pf_buf *b) { return b->data ? b->data + b->start : NULL; }
static inline size_t pf_buf_len(const pf_buf *b) { return b->end - b->start; }
/* Free space after the data (write here, then pf_buf_commit). */
static inline unsigned char *pf_buf_tail(const pf_buf *b) { return b->data ? b->data + b->end : NULL; }
static inline size_t pf_buf_avail(const pf_buf *b) { return b->cap - b->end; }

/* Ensure pf_buf_avail(b) >= n, compacting first, then growing (doubling,
 * capped at max).  0, -ENOBUFS if len + n > max, -ENOMEM. */
int pf_buf_reserve(pf_buf *b, size_t n);
/* n bytes were written at pf_buf_tail(); n <= pf_buf_avail(). */
void pf_buf_commit(pf_buf *b, size_t n);
/* reserve + copy + commit.  0, -ENOBUFS, -ENOMEM. */
int pf_buf_append(pf_buf *b, const void *p, size_t n);
/* Insert n bytes at the front (before the unconsumed data); p must not
 * point into b.  0, -ENOBUFS, -ENOMEM. */
int pf_buf_prepend(pf_buf *b, const void *p, size_t n);
/* Drop n <= len bytes from the front (O(1)); when that empties b it
 * rewinds, and frees an allocation larger than PF_BUF_KEEP. */
void pf_buf_consume(pf_buf *b, size_t n);
/* Move the data to the front of the allocation. */
void pf_buf_compact(pf_buf *b);
/* Free the allocation if the buffer is empty (idle connections). */
void pf_buf_shrink(pf_buf *b);

#endif
