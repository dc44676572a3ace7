/* pf_board.c: least-connections admission among worker processes.  See
 * pf_board.h. */
#include "pf_board.h"
#include "pf_common.h"

#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#define SLOT_SIZE 64 /* a cache line: one worker writes only its own */

struct pf_board_slot {
    int64_t count;       /* open connections; -1: free or leaving */
    int64_t gated;       /* 1 while its worker waits for the others */
    char pad[SLOT_SIZE - 2 * sizeof(int64_t)];
};

static int64_t load(const int64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}

static void store(int64_t *p, int64_t v)
{
    __atomic_store_n(p, v, __ATOMIC_SEQ_CST);
}

static void wake(const pf_board *b, int slot)
{
    uint64_t one = 1;
    ssize_t n;
    do
        n = write(b->wakers[slot], &one, sizeof(one));
    while (n < 0 && errno == EINTR);
    /* EAGAIN: the counter is full, so the worker is woken anyway. */
}

/* Wake every gated worker but this process's. */
static void wake_gated(const pf_board *b)
{
    for (int i = 0; i < b->nslots; i++)
        if (i != b->self && load(&b->slots[i].gated))
            wake(b, i);
}

int pf_board_open(pf_board *b, int nslots, int slack)
{
    int rc;
    b->slots = MAP_FAILED;
    b->wakers = NULL;
    b->used = NULL;
    b->nslots = 0;
    b->slack = slack;
    b->self = -1;
    if (nslots < 1 || slack < 0)
        return -EINVAL;
    b->slots = mmap(NULL, (size_t)nslots * sizeof(*b->slots), PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    b->wakers = malloc((size_t)nslots * sizeof(*b->wakers));
    b->used = calloc((size_t)nslots, 1);
    if (b->slots == MAP_FAILED || !b->wakers || !b->used) {
        rc = b->slots == MAP_FAILED ? PF_NEG_ERRNO() : -ENOMEM;
        goto fail;
    }
    for (; b->nslots < nslots; b->nslots++) {
        struct pf_board_slot *s = &b->slots[b->nslots];
        s->count = -1;
        s->gated = 0;
        b->wakers[b->nslots] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (b->wakers[b->nslots] < 0) {
            rc = PF_NEG_ERRNO();
            goto fail;
        }
    }
    return 0;
fail:
    pf_board_close(b);
    return rc;
}

void pf_board_close(pf_board *b)
{
    for (int i = 0; i < b->nslots; i++)
        close(b->wakers[i]);
    if (b->slots != MAP_FAILED)
        munmap(b->slots, (size_t)b->nslots * sizeof(*b->slots));
    free(b->wakers);
    free(b->used);
    b->slots = MAP_FAILED;
    b->wakers = NULL;
    b->used = NULL;
    b->nslots = 0;
    b->self = -1;
}

int pf_board_take(pf_board *b)
{
    for (int i = 0; i < b->nslots; i++) {
        if (!b->used[i]) {
            b->used[i] = 1;
            store(&b->slots[i].gated, 0);
            store(&b->slots[i].count, 0);
            return i;
        }
    }
    return -ENOSPC;
}

void pf_board_free(pf_board *b, int slot)
{
    if (slot < 0 || slot >= b->nslots)
        return;
    store(&b->slots[slot].count, -1);
    store(&b->slots[slot].gated, 0);
    b->used[slot] = 0;
    wake_gated(b);
}

int pf_board_join(pf_board *b, int slot)
{
    if (slot < 0 || slot >= b->nslots)
        return -EINVAL;
    b->self = slot;
    return 0;
}

/* This worker's count is within slack of the least live count. */
static int within_slack(const pf_board *b)
{
    int64_t mine = load(&b->slots[b->self].count), least = -1;
    if (mine < 0)
        return 1;
    for (int i = 0; i < b->nslots; i++) {
        int64_t c = load(&b->slots[i].count);
        if (i != b->self && c >= 0 && (least < 0 || c < least))
            least = c;
    }
    return least < 0 || mine <= least + b->slack;
}

int pf_board_admit(pf_board *b)
{
    if (!b || b->self < 0)
        return 1;
    int64_t *gated = &b->slots[b->self].gated;
    if (within_slack(b)) {
        if (load(gated))
            store(gated, 0);
        return 1;
    }
    /* Raise the gate, then look again: a worker that accepted in between
     * either is seen now or sees the gate and wakes us. */
    store(gated, 1);
    if (within_slack(b)) {
        store(gated, 0);
        return 1;
    }
    return 0;
}

void pf_board_opened(pf_board *b)
{
    if (!b || b->self < 0)
        return;
    int64_t *count = &b->slots[b->self].count, c = load(count);
    while (c >= 0 && !__atomic_compare_exchange_n(count, &c, c + 1, 0, __ATOMIC_SEQ_CST,
                                                  __ATOMIC_SEQ_CST))
        ;
    wake_gated(b);
}

void pf_board_closed(pf_board *b)
{
    if (!b || b->self < 0)
        return;
    int64_t *count = &b->slots[b->self].count, c = load(count);
    while (c > 0 && !__atomic_compare_exchange_n(count, &c, c - 1, 0, __ATOMIC_SEQ_CST,
                                                 __ATOMIC_SEQ_CST))
        ;
    if (load(&b->slots[b->self].gated))
        wake(b, b->self);
}

void pf_board_leave(pf_board *b)
{
    if (!b || b->self < 0)
        return;
    store(&b->slots[b->self].count, -1);
    store(&b->slots[b->self].gated, 0);
    wake_gated(b);
}

int pf_board_fd(const pf_board *b)
{
    return b && b->self >= 0 ? b->wakers[b->self] : -1;
}

int pf_board_clear(pf_board *b)
{
    uint64_t v;
    ssize_t n;
    if (!b || b->self < 0)
        return 0;
    do
        n = read(b->wakers[b->self], &v, sizeof(v));
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == EAGAIN ? 0 : PF_NEG_ERRNO();
    return 0;
}

int64_t pf_board_count(const pf_board *b, int slot)
{
    if (slot < 0 || slot >= b->nslots)
        return -1;
    return load(&b->slots[slot].count);
}

int pf_board_gated(const pf_board *b, int slot)
{
    if (slot < 0 || slot >= b->nslots)
        return 0;
    return load(&b->slots[slot].gated) != 0;
}
