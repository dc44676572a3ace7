/* pf_tls.c: the message loop's TLS record layer.  See pf_tls.h. */
#include "pf_tls.h"
#include "pf_common.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* OpenSSL's types, opaque here. */
typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;
typedef struct bio_st BIO;
typedef struct bio_method_st BIO_METHOD;
typedef struct ssl_cipher_st SSL_CIPHER;
typedef struct x509_st X509;

/* OpenSSL's constants (stable ABI since 1.1.0). */
#define SSL_ERROR_SSL         1
#define SSL_ERROR_WANT_READ   2
#define SSL_ERROR_WANT_WRITE  3
#define SSL_ERROR_SYSCALL     5
#define SSL_ERROR_ZERO_RETURN 6
#define BIO_CTRL_RESET        1
#define BIO_CTRL_INFO         3
#define X509_V_OK             0

/* The functions used, resolved by pf_tls_load().  SSL_CTX_get_options
 * returns uint64_t in OpenSSL 3 and unsigned long in 1.1.1: the same on
 * LP64. */
static struct {
    int loaded;
    SSL *(*SSL_new)(SSL_CTX *);
    void (*SSL_free)(SSL *);
    const BIO_METHOD *(*BIO_s_mem)(void);
    BIO *(*BIO_new)(const BIO_METHOD *);
    int (*BIO_free)(BIO *);
    void (*SSL_set_bio)(SSL *, BIO *, BIO *);
    void (*SSL_set_accept_state)(SSL *);
    int (*SSL_read)(SSL *, void *, int);
    int (*SSL_write)(SSL *, const void *, int);
    int (*SSL_get_error)(const SSL *, int);
    int (*SSL_is_init_finished)(const SSL *);
    int (*SSL_shutdown)(SSL *);
    int (*SSL_has_pending)(const SSL *);
    size_t (*BIO_ctrl_pending)(BIO *);
    int (*BIO_read)(BIO *, void *, int);
    int (*BIO_write)(BIO *, const void *, int);
    long (*BIO_ctrl)(BIO *, int, long, void *);
    void (*ERR_clear_error)(void);
    unsigned long (*ERR_get_error)(void);
    void (*ERR_error_string_n)(unsigned long, char *, size_t);
    uint64_t (*SSL_CTX_get_options)(const SSL_CTX *);
    int (*SSL_CTX_get_verify_mode)(const SSL_CTX *);
    int (*SSL_CTX_up_ref)(SSL_CTX *);
    void (*SSL_CTX_free)(SSL_CTX *);
    const char *(*SSL_get_version)(const SSL *);
    const SSL_CIPHER *(*SSL_get_current_cipher)(const SSL *);
    const char *(*SSL_CIPHER_get_name)(const SSL_CIPHER *);
    const char *(*SSL_CIPHER_get_version)(const SSL_CIPHER *);
    int (*SSL_CIPHER_get_bits)(const SSL_CIPHER *, int *);
    void (*SSL_get0_alpn_selected)(const SSL *, const unsigned char **, unsigned *);
    X509 *(*SSL_get1_peer_certificate)(const SSL *); /* 1.1.1: SSL_get_peer_certificate */
    int (*i2d_X509)(const X509 *, unsigned char **);
    void (*X509_free)(X509 *);
    long (*SSL_get_verify_result)(const SSL *);
    const char *(*OpenSSL_version)(int);
} F;

struct pf_tls {
    SSL *ssl;
    BIO *rbio, *wbio;     /* owned by ssl */
    int done;             /* handshake completed */
    char reason[160];
};

/* ---- loading ----------------------------------------------------------- */

struct find_arg {
    char path[PATH_MAX];
};

static int find_libssl(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    const char *name = info->dlpi_name;
    const char *base = name ? strrchr(name, '/') : NULL;
    base = base ? base + 1 : name;
    if (base && strncmp(base, "libssl.so", 9) == 0 && strlen(name) < PATH_MAX) {
        strcpy(((struct find_arg *)arg)->path, name);
        return 1;
    }
    return 0;
}

static void *sym(void *h, const char *name, const char **missing)
{
    void *p = dlsym(h, name);
    if (!p && !*missing)
        *missing = name;
    return p;
}

#define LOAD(h, name, missing) (*(void **)&F.name = sym(h, #name, missing))

int pf_tls_load(const char *hint, const char **why)
{
    struct find_arg fa;
    void *h = NULL;
    const char *missing = NULL;
    if (F.loaded)
        return 0;
    fa.path[0] = 0;
    dl_iterate_phdr(find_libssl, &fa);
    if (fa.path[0])
        h = dlopen(fa.path, RTLD_NOW | RTLD_NOLOAD);
    if (!h && hint)
        h = dlopen(hint, RTLD_NOW | RTLD_NOLOAD);
    if (!h || !dlsym(h, "SSL_new")) {
        *why = "no OpenSSL shared library is loaded in this process (import ssl first; "
               "a Python whose _ssl links OpenSSL statically is not supported)";
        return -ENOENT;
    }
    LOAD(h, SSL_new, &missing);
    LOAD(h, SSL_free, &missing);
    LOAD(h, BIO_s_mem, &missing);
    LOAD(h, BIO_new, &missing);
    LOAD(h, BIO_free, &missing);
    LOAD(h, SSL_set_bio, &missing);
    LOAD(h, SSL_set_accept_state, &missing);
    LOAD(h, SSL_read, &missing);
    LOAD(h, SSL_write, &missing);
    LOAD(h, SSL_get_error, &missing);
    LOAD(h, SSL_is_init_finished, &missing);
    LOAD(h, SSL_shutdown, &missing);
    LOAD(h, SSL_has_pending, &missing);
    LOAD(h, BIO_ctrl_pending, &missing);
    LOAD(h, BIO_read, &missing);
    LOAD(h, BIO_write, &missing);
    LOAD(h, BIO_ctrl, &missing);
    LOAD(h, ERR_clear_error, &missing);
    LOAD(h, ERR_get_error, &missing);
    LOAD(h, ERR_error_string_n, &missing);
    LOAD(h, SSL_CTX_get_options, &missing);
    LOAD(h, SSL_CTX_get_verify_mode, &missing);
    LOAD(h, SSL_CTX_up_ref, &missing);
    LOAD(h, SSL_CTX_free, &missing);
    LOAD(h, SSL_get_version, &missing);
    LOAD(h, SSL_get_current_cipher, &missing);
    LOAD(h, SSL_CIPHER_get_name, &missing);
    LOAD(h, SSL_CIPHER_get_version, &missing);
    LOAD(h, SSL_CIPHER_get_bits, &missing);
    LOAD(h, SSL_get0_alpn_selected, &missing);
    LOAD(h, i2d_X509, &missing);
    LOAD(h, X509_free, &missing);
    LOAD(h, SSL_get_verify_result, &missing);
    LOAD(h, OpenSSL_version, &missing);
    /* OpenSSL 3 renamed SSL_get_peer_certificate (1.1.1). */
    *(void **)&F.SSL_get1_peer_certificate = dlsym(h, "SSL_get1_peer_certificate");
    if (!F.SSL_get1_peer_certificate)
        *(void **)&F.SSL_get1_peer_certificate = sym(h, "SSL_get_peer_certificate", &missing);
    /* The handle stays open (RTLD_NOLOAD took a reference to a library
     * that _ssl keeps loaded anyway). */
    if (missing) {
        *why = missing;
        return -ENOSYS;
    }
    F.loaded = 1;
    return 0;
}

const char *pf_tls_library_version(void)
{
    return F.loaded ? F.OpenSSL_version(0) : "";
}

int pf_tls_ctx_check(void *ctx, uint64_t options, int verify_mode)
{
    if (!F.loaded || !ctx)
        return -EINVAL;
    if (F.SSL_CTX_get_options(ctx) != options || F.SSL_CTX_get_verify_mode(ctx) != verify_mode)
        return -EINVAL;
    return 0;
}

void pf_tls_ctx_hold(void *ctx) { F.SSL_CTX_up_ref(ctx); }
void pf_tls_ctx_release(void *ctx) { F.SSL_CTX_free(ctx); }

/* ---- a connection ------------------------------------------------------ */

pf_tls *pf_tls_new(void *ctx)
{
    pf_tls *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    F.ERR_clear_error();
    t->ssl = F.SSL_new(ctx);
    t->rbio = F.BIO_new(F.BIO_s_mem());
    t->wbio = F.BIO_new(F.BIO_s_mem());
    if (!t->ssl || !t->rbio || !t->wbio) {
        if (t->rbio) F.BIO_free(t->rbio);
        if (t->wbio) F.BIO_free(t->wbio);
        if (t->ssl) F.SSL_free(t->ssl);
        free(t);
        F.ERR_clear_error();
        return NULL;
    }
    F.SSL_set_bio(t->ssl, t->rbio, t->wbio); /* ssl owns them now */
    F.SSL_set_accept_state(t->ssl);
    return t;
}

void pf_tls_free(pf_tls *t)
{
    if (!t)
        return;
    F.SSL_free(t->ssl);
    free(t);
}

/* An OpenSSL call returned rc <= 0: WANT_READ (0), the peer's
 * close_notify (PF_TLS_CLOSED) or a TLS error (-EPROTO, reason kept). */
static long failed(pf_tls *t, int rc)
{
    int e = F.SSL_get_error(t->ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return 0;
    if (e == SSL_ERROR_ZERO_RETURN)
        return PF_TLS_CLOSED;
    unsigned long code = F.ERR_get_error();
    if (code)
        F.ERR_error_string_n(code, t->reason, sizeof(t->reason));
    else
        snprintf(t->reason, sizeof(t->reason), "TLS error (SSL_get_error %d)", e);
    F.ERR_clear_error();
    return -EPROTO;
}

int pf_tls_feed(pf_tls *t, const void *p, size_t n)
{
    while (n > 0) {
        int k = n > INT_MAX ? INT_MAX : (int)n;
        int w = F.BIO_write(t->rbio, p, k);
        if (w <= 0) {
            F.ERR_clear_error();
            return -ENOMEM;
        }
        p = (const unsigned char *)p + w;
        n -= (size_t)w;
    }
    return 0;
}

long pf_tls_read(pf_tls *t, void *buf, size_t n)
{
    int k = n > INT_MAX ? INT_MAX : (int)n;
    F.ERR_clear_error();
    int rc = F.SSL_read(t->ssl, buf, k);
    if (!t->done && F.SSL_is_init_finished(t->ssl))
        t->done = 1;
    if (rc > 0)
        return rc;
    return failed(t, rc);
}

int pf_tls_done(const pf_tls *t) { return t->done; }

long pf_tls_write(pf_tls *t, const void *p, size_t n)
{
    size_t done = 0;
    F.ERR_clear_error();
    while (done < n) {
        size_t left = n - done;
        int k = left > INT_MAX ? INT_MAX : (int)left;
        int rc = F.SSL_write(t->ssl, (const unsigned char *)p + done, k);
        if (rc <= 0) {
            long r = failed(t, rc);
            return r == 0 || r == PF_TLS_CLOSED ? -EPIPE : r;
        }
        done += (size_t)rc;
    }
    return (long)done;
}

void pf_tls_close_notify(pf_tls *t)
{
    if (!t->done)
        return;
    F.ERR_clear_error();
    F.SSL_shutdown(t->ssl);
    F.ERR_clear_error();
}

size_t pf_tls_out_len(const pf_tls *t) { return F.BIO_ctrl_pending(t->wbio); }

size_t pf_tls_out_peek(const pf_tls *t, const unsigned char **p)
{
    char *data = NULL;
    long n = F.BIO_ctrl(t->wbio, BIO_CTRL_INFO, 0, &data);
    *p = (const unsigned char *)data;
    return n > 0 ? (size_t)n : 0;
}

void pf_tls_out_drop(pf_tls *t, size_t n)
{
    unsigned char sink[16384];
    if (n >= pf_tls_out_len(t)) {
        F.BIO_ctrl(t->wbio, BIO_CTRL_RESET, 0, NULL);
        return;
    }
    while (n > 0) {
        int k = n > sizeof(sink) ? (int)sizeof(sink) : (int)n;
        int r = F.BIO_read(t->wbio, sink, k);
        if (r <= 0)
            break;
        n -= (size_t)r;
    }
}

int pf_tls_has_input(const pf_tls *t)
{
    return F.BIO_ctrl_pending(t->rbio) > 0 || F.SSL_has_pending(t->ssl);
}

const char *pf_tls_reason(const pf_tls *t)
{
    return t->reason[0] ? t->reason : "TLS error";
}

void pf_tls_set_reason(pf_tls *t, const char *why)
{
    snprintf(t->reason, sizeof(t->reason), "%s", why);
}

/* ---- what the handler may ask ------------------------------------------ */

const char *pf_tls_version(const pf_tls *t)
{
    return t->done ? F.SSL_get_version(t->ssl) : NULL;
}

const char *pf_tls_cipher(const pf_tls *t, const char **protocol, int *bits)
{
    const SSL_CIPHER *c = t->done ? F.SSL_get_current_cipher(t->ssl) : NULL;
    *protocol = NULL;
    *bits = 0;
    if (!c)
        return NULL;
    *protocol = F.SSL_CIPHER_get_version(c);
    *bits = F.SSL_CIPHER_get_bits(c, NULL);
    return F.SSL_CIPHER_get_name(c);
}

void pf_tls_alpn(const pf_tls *t, const unsigned char **p, unsigned *len)
{
    *p = NULL;
    *len = 0;
    if (t->done)
        F.SSL_get0_alpn_selected(t->ssl, p, len);
}

long pf_tls_peer_cert(const pf_tls *t, unsigned char **der)
{
    *der = NULL;
    if (!t->done)
        return 0;
    X509 *x = F.SSL_get1_peer_certificate(t->ssl);
    if (!x)
        return 0;
    long rc;
    int n = F.i2d_X509(x, NULL);
    if (n <= 0) {
        rc = -EPROTO;
    } else if (!(*der = malloc((size_t)n))) {
        rc = -ENOMEM;
    } else {
        unsigned char *p = *der;
        rc = F.i2d_X509(x, &p);
        if (rc <= 0) {
            free(*der);
            *der = NULL;
            rc = -EPROTO;
        }
    }
    F.X509_free(x);
    F.ERR_clear_error();
    return rc;
}

int pf_tls_peer_verified(const pf_tls *t)
{
    return t->done && F.SSL_get_verify_result(t->ssl) == X509_V_OK;
}
