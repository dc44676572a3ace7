/* pf_httphdr: HTTP header block scanning.  See pf_httphdr.h. */
#include "pf_httphdr.h"

#include <errno.h>
#include <string.h>

/* RFC 9110 tchar: "!#$%&'*+-.^_`|~", DIGIT, ALPHA. */
static int pf__is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int pf__lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* Does p[0, n) contain needle (lower case ASCII) in any ASCII case? */
static int pf__contains_ci(const unsigned char *p, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++) {
        size_t j = 0;
        while (j < k && pf__lower(p[i + j]) == (unsigned char)needle[j])
            j++;
        if (j == k)
            return 1;
    }
    return 0;
}

static int pf__is_content_type(const unsigned char *name, size_t n)
{
    const char *ct = "content-type";
    if (n != 12)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (pf__lower(name[i]) != (unsigned char)ct[i])
            return 0;
    return 1;
}

int pf_hdr_line(const unsigned char *p, size_t n, pf_hdr_field *f)
{
    size_t end, i;

    if (n == 1 || (n == 2 && p[0] == '\r'))
        return PF_HDR_BLANK;
    /* Content: the line without its "\r\n" or "\n". */
    end = n - 1;
    if (end > 0 && p[end - 1] == '\r')
        end--;
    if (memchr(p, '\r', end) != NULL)
        return PF_HDR_OTHER;   /* a bare CR: the email parser splits there */
    for (i = 0; i < end && pf__is_tchar(p[i]); i++)
        ;
    if (i == 0 || i == end || p[i] != ':')
        return PF_HDR_OTHER;
    f->name_len = i;
    for (i++; i < end && (p[i] == ' ' || p[i] == '\t'); i++)
        ;
    f->value_start = i;
    f->value_end = end;
    if (pf__is_content_type(p, f->name_len) &&
        (pf__contains_ci(p + i, end - i, "message/") ||
         pf__contains_ci(p + i, end - i, "multipart/")))
        return PF_HDR_OTHER;
    return PF_HDR_FIELD;
}

void pf_hdr_scan_init(pf_hdr_scan *s)
{
    s->pos = 0;
    s->lines = 0;
    s->plain = 1;
}

int pf_hdr_scan_next(pf_hdr_scan *s, const unsigned char *buf, size_t len,
                     size_t maxline, size_t maxlines, size_t *consume)
{
    /* readline(maxline + 1): at most this many bytes make one read line. */
    size_t take = maxline + 1;

    if (maxline > PF_HDR_LIMIT_MAX || maxlines > PF_HDR_LIMIT_MAX)
        return -EINVAL;
    for (;;) {
        const unsigned char *line = buf + s->pos;
        size_t avail = len - s->pos;
        size_t look = avail < take ? avail : take;
        const unsigned char *nl = memchr(line, '\n', look);
        size_t n;
        pf_hdr_field f;
        int kind;

        if (nl == NULL) {
            if (avail >= take) {
                *consume = s->pos + take;
                return PF_HDR_LONG;
            }
            *consume = s->pos;
            return PF_HDR_MORE;
        }
        n = (size_t)(nl - line) + 1;
        if (n > maxline) {
            *consume = s->pos + n;   /* n == take */
            return PF_HDR_LONG;
        }
        kind = pf_hdr_line(line, n, &f);
        if (kind == PF_HDR_OTHER)
            s->plain = 0;
        s->pos += n;
        s->lines++;
        *consume = s->pos;
        if (s->lines > maxlines)
            return PF_HDR_MANY;
        if (kind == PF_HDR_BLANK)
            return PF_HDR_END;
    }
}
