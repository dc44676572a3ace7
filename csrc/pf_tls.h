/* pf_tls.h: the TLS record layer of the message loop (pf_msgloop.c).
 *
 * OpenSSL is not linked: pf_tls_load() finds the libssl that the process
 * already mapped (CPython's _ssl module loaded it) and resolves the few
 * functions used here from it with dlsym, so that building pyfast needs no
 * OpenSSL headers, the wheel carries no second OpenSSL, and the SSL_CTX of
 * the user's ssl.SSLContext (same library) can be used as it is.  The
 * types are opaque; the prototypes and constants are declared in pf_tls.c.
 *
 * One pf_tls per connection: an SSL in accept state over two memory BIOs.
 * The loop feeds it what it read from the socket (pf_tls_feed), takes
 * plaintext out (pf_tls_read, which also drives the handshake), puts
 * plaintext replies in (pf_tls_write) and sends the ciphertext that
 * accumulates straight from OpenSSL's buffer (pf_tls_out_peek, then
 * pf_tls_out_drop what the socket took).  No socket I/O here.
 *
 * Errors: functions return 0 / a count, or a negative errno; a TLS error
 * is -EPROTO and pf_tls_reason() says why (OpenSSL's reason string, kept
 * in the pf_tls until the next error).  OpenSSL's error queue is per
 * thread: every call clears it first.
 *
 * Threads: pf_tls_load() and pf_tls_ctx_check() once, from the thread that
 * holds the GIL; a pf_tls is used by one thread at a time.
 */
#ifndef PF_TLS_H
#define PF_TLS_H

#include <stddef.h>
#include <stdint.h>

typedef struct pf_tls pf_tls;

/* pf_tls_read(): the peer sent close_notify. */
#define PF_TLS_CLOSED 1

/* Resolve OpenSSL's functions from the libssl mapped in this process;
 * hint: a shared object to try if none named libssl.so* is mapped (the
 * _ssl extension module, when OpenSSL is linked into it statically), or
 * NULL.  Idempotent.  0, or -ENOENT (no OpenSSL found) / -ENOSYS (a
 * function is missing), *why saying which (static string). */
int pf_tls_load(const char *hint, const char **why);
/* The OpenSSL version string of the loaded library (after pf_tls_load). */
const char *pf_tls_library_version(void);
/* 0 if ctx (an SSL_CTX *) has these options and verify mode, -EINVAL
 * otherwise: checks that a pointer taken from an ssl.SSLContext is its
 * SSL_CTX.  verify_mode is OpenSSL's (SSL_VERIFY_*). */
int pf_tls_ctx_check(void *ctx, uint64_t options, int verify_mode);
/* SSL_CTX_up_ref / SSL_CTX_free: the loop holds ctx while it serves. */
void pf_tls_ctx_hold(void *ctx);
void pf_tls_ctx_release(void *ctx);

/* A server-side connection on ctx (NULL: out of memory). */
pf_tls *pf_tls_new(void *ctx);
void pf_tls_free(pf_tls *t);
/* n bytes of ciphertext from the peer.  0, -ENOMEM. */
int pf_tls_feed(pf_tls *t, const void *p, size_t n);
/* Up to n bytes of plaintext into buf (the handshake first: handshake
 * records to send appear in the output).  > 0: bytes; 0: more ciphertext
 * needed; PF_TLS_CLOSED: the peer's close_notify; -EPROTO: TLS error. */
long pf_tls_read(pf_tls *t, void *buf, size_t n);
/* 1 once the handshake completed. */
int pf_tls_done(const pf_tls *t);
/* Encrypt n bytes of plaintext (records of up to 16 KiB into the output).
 * n > 0.  The count taken (n), or -EPROTO / -ENOMEM. */
long pf_tls_write(pf_tls *t, const void *p, size_t n);
/* Queue a close_notify alert (after the handshake; else nothing). */
void pf_tls_close_notify(pf_tls *t);
/* Bytes of ciphertext waiting to be sent. */
size_t pf_tls_out_len(const pf_tls *t);
/* The ciphertext waiting to be sent: *p and its length (valid until the
 * next call on t). */
size_t pf_tls_out_peek(const pf_tls *t, const unsigned char **p);
/* Drop the first n bytes of it (sent). */
void pf_tls_out_drop(pf_tls *t, size_t n);
/* 1 if input fed is not all consumed by pf_tls_read: part of a record
 * (in OpenSSL's buffer or the BIO), or records or plaintext behind what the
 * last read had room for. */
int pf_tls_has_input(const pf_tls *t);
/* Why the last call failed (a static or per-connection string). */
const char *pf_tls_reason(const pf_tls *t);
/* Set that reason (an error found outside OpenSSL: a truncated record). */
void pf_tls_set_reason(pf_tls *t, const char *why);

/* After the handshake (NULL / 0 before it): the protocol version
 * ("TLSv1.3"), the cipher's name, protocol and secret bits, the ALPN
 * protocol chosen (*len 0: none). */
const char *pf_tls_version(const pf_tls *t);
const char *pf_tls_cipher(const pf_tls *t, const char **protocol, int *bits);
void pf_tls_alpn(const pf_tls *t, const unsigned char **p, unsigned *len);
/* The peer's certificate, DER, into a malloc'd *der (the caller frees).
 * Its length; 0 when the peer sent none; -ENOMEM / -EPROTO. */
long pf_tls_peer_cert(const pf_tls *t, unsigned char **der);
/* 1 if the peer's certificate was verified (X509_V_OK), else 0. */
int pf_tls_peer_verified(const pf_tls *t);

#endif
