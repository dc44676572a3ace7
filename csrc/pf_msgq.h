/* pf_msgq.h: a FIFO of pf_loop_msg items, the one queue through which
 * pyfast hands work between threads.
 *
 * A ring buffer that doubles when full (amortised O(1) push and take, the
 * order kept).  Not locked: its owner holds its own lock around every
 * call, and wakes the consumer its own way: pf_loop's inbox (pf_loop.h: a
 * mutex and the loop's eventfd) and the worker pool's queue (pf_pool.h: a
 * mutex and condition variables).  A zeroed pf_msgq is an empty queue; no
 * allocation until the first push.
 */
#ifndef PF_MSGQ_H
#define PF_MSGQ_H

#include <stddef.h>
#include <stdint.h>

/* One item of cross-thread work.  op is the receiver's enum (each model
 * names its operations); ptr and arg are the operation's operands.  The
 * queue copies the item; what ptr points to is the sender's and
 * receiver's business (e.g. a Python object whose reference the sender
 * gives away). */
typedef struct pf_loop_msg {
    int op;
    void *ptr;
    uint64_t arg;
} pf_loop_msg;

typedef struct pf_msgq {
    pf_loop_msg *items; /* ring buffer of cap items */
    size_t head, len, cap;
} pf_msgq;

/* Free the allocation (items still queued are dropped). */
void pf_msgq_free(pf_msgq *q);
/* Append a copy of m.  0 or -ENOMEM (q unchanged). */
int pf_msgq_push(pf_msgq *q, const pf_loop_msg *m);
/* Move up to max items, oldest first, to out; how many. */
size_t pf_msgq_take(pf_msgq *q, pf_loop_msg *out, size_t max);

static inline size_t pf_msgq_len(const pf_msgq *q) { return q->len; }
/* The i-th oldest item, i < pf_msgq_len(q). */
static inline pf_loop_msg *pf_msgq_at(const pf_msgq *q, size_t i)
{
    return &q->items[(q->head + i) % q->cap];
}

#endif
