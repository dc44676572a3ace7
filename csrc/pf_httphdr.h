/* pf_httphdr: find an HTTP header block in a read buffer, line by line as
 * http.client's header reader takes it, and tell whether it is "plain"
 * (every field a "Name: value" line the stdlib's email parser would store
 * as is), so that the caller may build the parsed headers without the
 * email parser.
 *
 * The reading rules are those of http.client._read_headers (Python
 * 3.10-3.13): lines are read with readline(maxline + 1); a line longer
 * than maxline bytes (terminator included) is an error once maxline + 1 of
 * its bytes are read; more than maxlines lines (the blank one included) is
 * an error once that line is read; the block ends after a line that is
 * exactly "\r\n" or "\n".  pf_hdr_scan_next() reports, with each outcome,
 * how many bytes that reader would have consumed by then.
 *
 * A plain line (PF_HDR_FIELD) is: a name of one or more token characters
 * (RFC 9110 tchar), ':', optional SP/HTAB, a value, then "\r\n" or "\n";
 * no CR anywhere else in the line; and not a Content-Type field whose
 * value contains "message/" or "multipart/" (any case), the two types for
 * which the email parser reads the (empty) body as a message or parts.
 * The email parser stores such a line as (name, value) with the value's
 * leading SP/HTAB and the terminator removed; pf_hdr_line() gives those
 * spans.  Anything else (continuation lines, no colon, bare CR, non-token
 * names, "From " lines...) is PF_HDR_OTHER: the caller must hand the block
 * to the stdlib's parser.
 *
 * Plain C, no Python.h, no allocation.
 */
#ifndef PF_HTTPHDR_H
#define PF_HTTPHDR_H

#include <stddef.h>

/* pf_hdr_scan_next() outcomes. */
enum {
    PF_HDR_MORE = 0,   /* no end yet: append bytes and call again */
    PF_HDR_END = 1,    /* the blank line ended the block */
    PF_HDR_LONG = 2,   /* a line is longer than maxline */
    PF_HDR_MANY = 3    /* more than maxlines lines */
};

/* pf_hdr_line() kinds. */
enum {
    PF_HDR_BLANK = 0,  /* "\r\n" or "\n" */
    PF_HDR_FIELD = 1,  /* a plain "Name: value" line */
    PF_HDR_OTHER = 2   /* anything else */
};

typedef struct pf_hdr_scan {
    size_t pos;     /* offset just past the last complete line scanned */
    size_t lines;   /* complete lines before pos */
    int plain;      /* every line before pos is PF_HDR_FIELD or PF_HDR_BLANK */
} pf_hdr_scan;

typedef struct pf_hdr_field {
    size_t name_len;      /* the name is line[0, name_len) */
    size_t value_start;   /* the value is line[value_start, value_end) */
    size_t value_end;
} pf_hdr_field;

/* Largest maxline / maxlines accepted (keeps maxline + 1 overflow-free). */
#define PF_HDR_LIMIT_MAX ((size_t)1 << 31)

void pf_hdr_scan_init(pf_hdr_scan *s);

/* Scan buf[0, len) (the unconsumed bytes, from the first line of the
 * block) onward from s->pos.  Between calls, bytes may only be appended.
 * Returns a PF_HDR_* outcome, or -EINVAL when a limit is over
 * PF_HDR_LIMIT_MAX.  *consume is what http.client's reader would have
 * consumed: MORE: s->pos (the rest is a partial line shorter than
 * maxline + 1 bytes); END: through the blank line; LONG: through
 * maxline + 1 bytes of the long line; MANY: through the line past the
 * limit.  s->plain tells whether every complete line is plain (for LONG,
 * the long line is not counted). */
int pf_hdr_scan_next(pf_hdr_scan *s, const unsigned char *buf, size_t len,
                     size_t maxline, size_t maxlines, size_t *consume);

/* Classify the complete line p[0, n) (n >= 1, p[n - 1] == '\n'); for
 * PF_HDR_FIELD, fill *f. */
int pf_hdr_line(const unsigned char *p, size_t n, pf_hdr_field *f);

#endif
