/* pf_buf.c: the one growable byte buffer.  See pf_buf.h. */
#include "pf_buf.h"
#include "pf_common.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void pf_buf_init(pf_buf *b, size_t max)
{
    b->data = NULL;
    b->start = b->end = b->cap = 0;
    b->max = max;
}

void pf_buf_free(pf_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->start = b->end = b->cap = 0;
}

void pf_buf_compact(pf_buf *b)
{
    size_t used = b->end - b->start;

    if (b->start == 0)
        return;
    if (used)
        memmove(b->data, b->data + b->start, used);
    b->start = 0;
    b->end = used;
}

int pf_buf_reserve(pf_buf *b, size_t n)
{
    size_t used = b->end - b->start;
    size_t max = b->max ? b->max : SIZE_MAX;
    size_t need, ncap;
    unsigned char *p;

    assert(b->start <= b->end && b->end <= b->cap && b->cap <= max);
    if (n <= b->cap - b->end)
        return 0;
    if (n > max || used > max - n)
        return -ENOBUFS;
    need = used + n;
    pf_buf_compact(b);
    if (need <= b->cap)
        return 0;
    ncap = b->cap ? b->cap : PF_BUF_MIN_ALLOC;
    while (ncap < need)
        ncap = ncap > max / 2 ? max : ncap * 2;
    if (ncap > max)
        ncap = max;
    assert(ncap >= need);
    p = realloc(b->data, ncap);
    if (p == NULL)
        return -ENOMEM;
    b->data = p;
    b->cap = ncap;
    return 0;
}

void pf_buf_commit(pf_buf *b, size_t n)
{
    assert(n <= b->cap - b->end);
    b->end += n;
}

int pf_buf_append(pf_buf *b, const void *p, size_t n)
{
    int rc;

    if (n == 0)
        return 0;
    rc = pf_buf_reserve(b, n);
    if (rc < 0)
        return rc;
    memcpy(b->data + b->end, p, n);
    b->end += n;
    return 0;
}

int pf_buf_prepend(pf_buf *b, const void *p, size_t n)
{
    size_t used = b->end - b->start;
    int rc;

    if (n == 0)
        return 0;
    if (b->start >= n) {
        b->start -= n;
        memcpy(b->data + b->start, p, n);
        return 0;
    }
    rc = pf_buf_reserve(b, n);
    if (rc < 0)
        return rc;
    memmove(b->data + b->start + n, b->data + b->start, used);
    memcpy(b->data + b->start, p, n);
    b->end += n;
    return 0;
}

void pf_buf_consume(pf_buf *b, size_t n)
{
    assert(n <= b->end - b->start);
    b->start += n;
    if (b->start == b->end) {
        b->start = b->end = 0;
        if (b->cap > PF_BUF_KEEP)
            pf_buf_free(b); /* what one long line or message grew */
    }
}

void pf_buf_shrink(pf_buf *b)
{
    if (b->start == b->end && b->data != NULL)
        pf_buf_free(b);
}
