/*
 * kms_tls.h: what keysvc's HTTP KMS providers share about their
 * configuration's TLS: the kmsConfig tls group's trust and key stores
 * (crypto/tlsstore.h) installed on each connection by keysvc/http.c's
 * TLS hook. Program grade; runs in keysvc only and logs failures
 * without secrets.
 */
#ifndef KRX_KEYSVC_KMS_TLS_H
#define KRX_KEYSVC_KMS_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "crypto/secret.h"
#include "crypto/tlsctx.h"
#include "crypto/tlsstore.h"
#include "keysvc/http.h"


struct krx_conf_tls;

struct krx_kms_tls {
	struct krx_tlsstore	*store;		/* NULL: nothing to install */
	int			 own_trust;	/* a trust store: only it */
};

/*
 * Load the stores of t into *kt (zeroed first; nothing to load when t
 * has no group, is insecure, or names no store). Returns 0, or -1
 * logged with url and the store's path (never a password). Free with
 * krx_kms_tls_free either way.
 */
int	krx_kms_tls_load(struct krx_kms_tls *kt,
	    const struct krx_conf_tls *t, const char *url);
void	krx_kms_tls_free(struct krx_kms_tls *kt);

/*
 * Set o's insecure, tls_hook and tls_arg (kt, which must outlive the
 * client) from t and kt; an insecure t is logged loudly.
 */
void	krx_kms_tls_opts(struct krx_http_opts *o,
	    const struct krx_conf_tls *t, struct krx_kms_tls *kt,
	    const char *url);

/*
 * The krx_http_tls_fn (arg: the struct krx_kms_tls): with a trust
 * store, the SSL_CTX trusts its certificates only (partial chains
 * allowed, as Java trusts any certificate of a trust store); the client
 * key and chain are installed. 0 or -1.
 */
int	krx_kms_tls_hook(void *arg, SSL_CTX *ctx);

#endif
