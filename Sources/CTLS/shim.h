#ifndef C_TLS_SHIM_H
#define C_TLS_SHIM_H

// The system OpenSSL (Debian libssl-dev), as CSQLite wraps libsqlite3. OpenSSL's function-like macros are
// wrapped in static inline functions so Swift can call them.
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

static inline int ctls_set_min_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_min_proto_version(ctx, version);
}

static inline int ctls_set_host_name(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}

static inline long ctls_set_mode(SSL *ssl, long mode) { return SSL_set_mode(ssl, mode); }

static inline int ctls_tls1_2_version(void) { return TLS1_2_VERSION; }

static inline long ctls_mode_partial_write(void) {
    return SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER;
}

static inline unsigned long ctls_op_no_renegotiation(void) { return SSL_OP_NO_RENEGOTIATION; }

static inline unsigned long ctls_set_options(SSL_CTX *ctx, unsigned long options) {
    return (unsigned long)SSL_CTX_set_options(ctx, options);
}

#endif
