/* pf_msgq.c: a FIFO of pf_loop_msg items.  See pf_msgq.h. */
#include "pf_msgq.h"

#include <errno.h>
#include <stdlib.h>

#define MSGQ_MIN_CAP 64

void pf_msgq_free(pf_msgq *q)
{
    free(q->items);
    q->items = NULL;
    q->head = q->len = q->cap = 0;
}

/* Double the ring, unrolling it so that the oldest item is at 0. */
static int grow(pf_msgq *q)
{
    size_t cap = q->cap ? q->cap * 2 : MSGQ_MIN_CAP;
    pf_loop_msg *n = malloc(cap * sizeof(*n));
    if (!n)
        return -ENOMEM;
    for (size_t i = 0; i < q->len; i++)
        n[i] = *pf_msgq_at(q, i);
    free(q->items);
    q->items = n;
    q->cap = cap;
    q->head = 0;
    return 0;
}

int pf_msgq_push(pf_msgq *q, const pf_loop_msg *m)
{
    if (q->len == q->cap) {
        int rc = grow(q);
        if (rc < 0)
            return rc;
    }
    q->items[(q->head + q->len) % q->cap] = *m;
    q->len++;
    return 0;
}

size_t pf_msgq_take(pf_msgq *q, pf_loop_msg *out, size_t max)
{
    size_t n = 0;
    while (n < max && q->len > 0) {
        out[n++] = q->items[q->head];
        q->head = (q->head + 1) % q->cap;
        q->len--;
    }
    if (q->len == 0)
        q->head = 0;
    return n;
}
