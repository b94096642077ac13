/*
 * kms_tls.c: the TLS stores of keysvc's HTTP KMS providers (kms_tls.h
 * has the contract), loaded by crypto/tlsctx.c. Runs in keysvc.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/x509_vfy.h>

#include "common/err.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "keysvc/kms_tls.h"

int
krx_kms_tls_hook(void *arg, SSL_CTX *ctx)
{
	struct krx_kms_tls	*kt = arg;
	X509_STORE		*st;

	if (kt->own_trust) {
		if ((st = X509_STORE_new()) == NULL)
			return -1;
		X509_STORE_set_flags(st, X509_V_FLAG_PARTIAL_CHAIN |
		    X509_V_FLAG_TRUSTED_FIRST);
		SSL_CTX_set_cert_store(ctx, st);
	}
	return krx_tlsstore_apply(kt->store, ctx) == KRX_OK ? 0 : -1;
}

int
krx_kms_tls_load(struct krx_kms_tls *kt, const struct krx_conf_tls *t,
    const char *url)
{
	char	 err[512];

	memset(kt, 0, sizeof(*kt));
	if (krx_tlsctx_stores(t, &kt->store, &kt->own_trust, err,
	    sizeof(err)) != 0) {
		log_err("kms %s: TLS: %s", url, err);
		return -1;
	}
	return 0;
}

void
krx_kms_tls_free(struct krx_kms_tls *kt)
{
	krx_tlsstore_free(kt->store);
	memset(kt, 0, sizeof(*kt));
}

void
krx_kms_tls_opts(struct krx_http_opts *o, const struct krx_conf_tls *t,
    struct krx_kms_tls *kt, const char *url)
{
	o->insecure = t->insecure;
	if (kt->store != NULL) {
		o->tls_hook = krx_kms_tls_hook;
		o->tls_arg = kt;
	}
	if (t->insecure)
		log_warnx("kms %s: tls.trust.insecure = true: the KMS's "
		    "certificate and host name are NOT checked; anyone on "
		    "the path can read DEKs and credentials. For tests only.",
		    url);
}
