/*
 * tlsctx.h: SSL_CTXs from the configuration's tls groups (conf/conf_tls.c
 * has the schema): a virtual cluster's server context (krx as the
 * brokers its clients reach), an upstream's client context (krx as the
 * brokers' client), and the stores a KMS client installs. Library grade:
 * no logging; errors are a sentence in the caller's buffer naming the
 * file at fault, never a password or key.
 *
 * Defaults: TLS 1.2 and 1.3 only, OpenSSL's default cipher suites and
 * security level. A server with clientAuth REQUESTED or REQUIRED checks
 * client certificates against its trust store only. A client verifies
 * the broker's chain (its trust store, else the system's) and host
 * name (the caller sets it per connection: krx_tlsctx_set_host),
 * unless trust.insecure.
 */
#ifndef KRX_CRYPTO_TLSCTX_H
#define KRX_CRYPTO_TLSCTX_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "crypto/secret.h"
#include "crypto/tlsstore.h"

#define KRX_TLSCTX_PW_MAX	4096	/* bytes of a password file */

struct krx_conf_tls;

/*
 * The contents of the file at path (a regular file of at most max
 * bytes, not empty), trailing CR and LF dropped, as a new secret; NULL
 * with *why (a constant text, no file content) on failure. The read
 * buffer is wiped.
 */
struct krx_secret *krx_tlsctx_read_secret(const char *path, size_t max,
		    const char **why);

/*
 * The trust and key stores of t, read with their password files, into
 * *out (NULL when t names no store); *own_trust: a trust store was
 * loaded. 0, or -1 with err.
 */
int	krx_tlsctx_stores(const struct krx_conf_tls *t,
	    struct krx_tlsstore **out, int *own_trust, char *err, size_t len);

/* A virtual cluster's server context; NULL with err. */
SSL_CTX	*krx_tlsctx_server(const struct krx_conf_tls *t, char *err,
	    size_t len);
/* An upstream's client context; NULL with err. */
SSL_CTX	*krx_tlsctx_client(const struct krx_conf_tls *t, char *err,
	    size_t len);
/*
 * A client connection's ssl to host: SNI (a name, not an address) and,
 * when verify, the host name or IP address checked against the
 * certificate. 0, or -1 when memory is short.
 */
int	krx_tlsctx_set_host(SSL *ssl, const char *host, int verify);

#endif
