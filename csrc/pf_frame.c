/* pf_frame: stream framing for message handlers. See pf_frame.h. */
#include "pf_frame.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* ---- options ------------------------------------------------------------ */

void pf_frame_opts_init(pf_frame_opts *o, pf_frame_mode mode)
{
    memset(o, 0, sizeof(*o));
    o->mode = mode;
    o->max_size = PF_FRAME_DEFAULT_MAX;
    o->fixed_size = 0;
    o->delim[0] = '\n';
    o->delim_len = 1;
    o->keep_delim = 0;
}

static int pf__opts_check(const pf_frame_opts *o)
{
    switch (o->mode) {
    case PF_FRAME_LINE:
        if (o->delim_len < 1 || o->delim_len > PF_FRAME_DELIM_MAX)
            return -EINVAL;
        if (o->max_size > PF_FRAME_LIMIT_MAX)
            return -EINVAL;
        return 0;
    case PF_FRAME_LEN16:
    case PF_FRAME_LEN32:
        if (o->max_size > PF_FRAME_LIMIT_MAX)
            return -EINVAL;
        return 0;
    case PF_FRAME_FIXED:
        if (o->fixed_size < 1 || o->fixed_size > PF_FRAME_LIMIT_MAX)
            return -EINVAL;
        return 0;
    case PF_FRAME_RAW:
        if (o->max_size < 1 || o->max_size > PF_FRAME_LIMIT_MAX)
            return -EINVAL;
        return 0;
    }
    return -EINVAL;
}

int pf_framer_init(pf_framer *f, const pf_frame_opts *o)
{
    int rc;

    memset(f, 0, sizeof(*f));
    f->o = *o;
    rc = pf__opts_check(o);
    if (rc < 0) {
        f->err = rc; /* stays: pf_framer_reset() re-checks the options */
        return rc;
    }
    f->o.keep_delim = o->keep_delim ? 1 : 0;
    if (f->o.mode != PF_FRAME_LINE) {
        /* Normalise the unused fields so pf_framer_trailer() can't misfire. */
        memset(f->o.delim, 0, sizeof(f->o.delim));
        f->o.delim_len = 0;
        f->o.keep_delim = 0;
    }
    f->scan = 0;
    f->err = 0;
    return 0;
}

void pf_framer_reset(pf_framer *f)
{
    f->scan = 0;
    f->err = pf__opts_check(&f->o) < 0 ? -EINVAL : 0;
}

/* ---- input side --------------------------------------------------------- */

static int pf__fail(pf_framer *f, int err)
{
    assert(err < 0);
    f->err = err;
    f->scan = 0;
    return err;
}

/* LINE. Positions < f->scan were already rejected as delimiter starts;
 * search [scan, min(len - dl, max)] and remember where to resume. */
static int pf__line_next(pf_framer *f, const unsigned char *buf, size_t len,
                         pf_frame *out)
{
    const unsigned char *d = f->o.delim;
    const size_t dl = f->o.delim_len;
    const size_t max = f->o.max_size;
    size_t last, stop, p;

    assert(dl >= 1 && dl <= PF_FRAME_DELIM_MAX);
    if (len < dl)
        return 0;
    last = len - dl;               /* last position where a delimiter fits */
    stop = last < max ? last : max; /* inclusive search bound */
    p = f->scan;
    /* The scan position only advances as len grows (contract in the header). */
    assert(p <= last + 1);
    while (p <= stop) {
        const unsigned char *q = memchr(buf + p, d[0], stop - p + 1);
        if (q == NULL)
            break;
        p = (size_t)(q - buf);
        assert(p + dl <= len);
        if (dl == 1 || memcmp(buf + p + 1, d + 1, dl - 1) == 0) {
            out->offset = 0;
            out->length = f->o.keep_delim ? p + dl : p;
            out->consumed = p + dl;
            f->scan = 0;
            return 1;
        }
        p++;
    }
    if (last >= max) {
        /* Every position 0..max was checked: the payload exceeds max. */
        return pf__fail(f, -EMSGSIZE);
    }
    f->scan = last + 1;
    return 0;
}

static size_t pf__hdr_len(pf_frame_mode mode)
{
    return mode == PF_FRAME_LEN16 ? 2 : 4;
}

static uint32_t pf__hdr_get(const unsigned char *p, size_t hl)
{
    if (hl == 2)
        return ((uint32_t)p[0] << 8) | p[1];
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | p[3];
}

static int pf__len_next(pf_framer *f, const unsigned char *buf, size_t len,
                        pf_frame *out)
{
    const size_t hl = pf__hdr_len(f->o.mode);
    uint32_t n;

    if (len < hl)
        return 0;
    n = pf__hdr_get(buf, hl);
    if ((uintmax_t)n > (uintmax_t)f->o.max_size)
        return pf__fail(f, -EMSGSIZE);
    /* n <= max_size <= PF_FRAME_LIMIT_MAX: no overflow below. */
    if (len - hl < (size_t)n)
        return 0;
    out->offset = hl;
    out->length = n;
    out->consumed = hl + n;
    return 1;
}

int pf_framer_next(pf_framer *f, const unsigned char *buf, size_t len,
                   pf_frame *out)
{
    size_t n;
    int rc;

    assert(f != NULL && out != NULL);
    assert(buf != NULL || len == 0);
    out->offset = out->length = out->consumed = 0;
    if (f->err)
        return f->err;
    switch (f->o.mode) {
    case PF_FRAME_LINE:
        rc = pf__line_next(f, buf, len, out);
        break;
    case PF_FRAME_LEN16:
    case PF_FRAME_LEN32:
        rc = pf__len_next(f, buf, len, out);
        break;
    case PF_FRAME_FIXED:
        n = f->o.fixed_size;
        rc = 0;
        if (len >= n) {
            out->length = out->consumed = n;
            rc = 1;
        }
        break;
    case PF_FRAME_RAW:
        rc = 0;
        if (len > 0) {
            n = len < f->o.max_size ? len : f->o.max_size;
            out->length = out->consumed = n;
            rc = 1;
        }
        break;
    default:
        return pf__fail(f, -EINVAL);
    }
    if (rc == 1) {
        assert(out->consumed >= 1); /* progress, even for empty messages */
        assert(out->consumed <= len);
        assert(out->offset + out->length <= out->consumed);
    }
    return rc;
}

int pf_framer_next_batch(pf_framer *f, const unsigned char *buf, size_t len,
                         pf_frame *frames, size_t max_frames, size_t *consumed)
{
    size_t i = 0, pos = 0;
    int rc;

    assert(frames != NULL || max_frames == 0);
    if (consumed)
        *consumed = 0;
    if (f->err)
        return f->err;
    if (max_frames > INT_MAX)
        max_frames = INT_MAX;
    while (i < max_frames) {
        /* No pointer arithmetic on NULL (len == 0). */
        rc = pf_framer_next(f, len ? buf + pos : buf, len - pos, &frames[i]);
        if (rc < 0) {
            if (i == 0)
                return rc;
            break; /* sticky: the next call reports it */
        }
        if (rc == 0)
            break;
        frames[i].offset += pos;
        pos += frames[i].consumed;
        assert(pos <= len);
        i++;
    }
    if (consumed)
        *consumed = pos;
    return (int)i;
}

size_t pf_framer_need(const pf_framer *f, const unsigned char *buf, size_t len)
{
    size_t hl, n;

    assert(buf != NULL || len == 0);
    if (f->err)
        return 0;
    switch (f->o.mode) {
    case PF_FRAME_LEN16:
    case PF_FRAME_LEN32:
        hl = pf__hdr_len(f->o.mode);
        if (len < hl)
            return hl;
        n = pf__hdr_get(buf, hl);
        if (n > f->o.max_size)
            return 0;
        return len - hl >= n ? 0 : hl + n;
    case PF_FRAME_FIXED:
        return len >= f->o.fixed_size ? 0 : f->o.fixed_size;
    case PF_FRAME_LINE:
        if (len < f->o.delim_len)
            return f->o.delim_len;
        return len + 1;
    case PF_FRAME_RAW:
        return len ? 0 : 1;
    }
    return 0;
}

size_t pf_framer_max_pending(const pf_framer *f)
{
    size_t m = f->o.max_size;

    switch (f->o.mode) {
    case PF_FRAME_LINE:
        return m + f->o.delim_len;
    case PF_FRAME_LEN16:
        return 2 + (m < 0xFFFFu ? m : 0xFFFFu);
    case PF_FRAME_LEN32:
        return 4 + ((uintmax_t)m < 0xFFFFFFFFu ? m : (size_t)0xFFFFFFFFu);
    case PF_FRAME_FIXED:
        return f->o.fixed_size;
    case PF_FRAME_RAW:
        return 1;
    }
    return 0;
}

/* ---- output side -------------------------------------------------------- */

int pf_frame_header(pf_frame_mode mode, size_t payload_len,
                    unsigned char hdr[PF_FRAME_HDR_MAX])
{
    uint64_t n = (uint64_t)payload_len;

    switch (mode) {
    case PF_FRAME_LEN16:
        if (n > 0xFFFFu)
            return -EMSGSIZE;
        hdr[0] = (unsigned char)(n >> 8);
        hdr[1] = (unsigned char)n;
        return 2;
    case PF_FRAME_LEN32:
        if (n > 0xFFFFFFFFu)
            return -EMSGSIZE;
        hdr[0] = (unsigned char)(n >> 24);
        hdr[1] = (unsigned char)(n >> 16);
        hdr[2] = (unsigned char)(n >> 8);
        hdr[3] = (unsigned char)n;
        return 4;
    case PF_FRAME_LINE:
    case PF_FRAME_FIXED:
    case PF_FRAME_RAW:
        return 0;
    }
    return -EINVAL;
}

size_t pf_framer_trailer(const pf_framer *f, const unsigned char **trailer)
{
    if (f->o.mode == PF_FRAME_LINE && !f->o.keep_delim && f->err != -EINVAL) {
        *trailer = f->o.delim;
        return f->o.delim_len;
    }
    *trailer = NULL;
    return 0;
}
