/*
 * kms_tls.c: the secret files and TLS stores of keysvc's HTTP KMS
 * providers (kms_tls.h has the contract). Runs in keysvc; trusts the
 * configuration's paths, nothing in the files (sizes bounded, stores
 * parsed by crypto/tlsstore.c). Copies of secrets are wiped.
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

struct krx_secret *
krx_kms_read_secret(const char *path, size_t max, const char **why)
{
	struct krx_secret	*s = NULL;
	struct stat		 st;
	uint8_t			*buf = NULL;
	ssize_t			 n;
	size_t			 len = 0;
	int			 fd;

	*why = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		*why = strerror(errno);
		return NULL;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		*why = "not a regular file";
		goto out;
	}
	buf = xmalloc(max + 1);
	while (len <= max && (n = read(fd, buf + len, max + 1 - len)) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			*why = strerror(errno);
			goto out;
		}
		len += (size_t)n;
	}
	if (len > max) {
		*why = "too large";
		goto out;
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	if (len == 0) {
		*why = "empty";
		goto out;
	}
	if ((s = krx_secret_new_copy(buf, len)) == NULL)
		*why = "out of memory";
out:
	if (buf != NULL) {
		OPENSSL_cleanse(buf, max + 1);
		free(buf);
	}
	close(fd);
	return s;
}

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

static int
kms_tls_store_type(int conf_type)
{
	switch (conf_type) {
	case KRX_CONF_STORE_JKS:
		return KRX_TLSSTORE_JKS;
	case KRX_CONF_STORE_PEM:
		return KRX_TLSSTORE_PEM;
	default:
		return KRX_TLSSTORE_PKCS12;
	}
}

/* Read a password file into *s (NULL path: none). -1 logged. */
static int
kms_tls_password(const char *what, const char *path, struct krx_secret **s)
{
	const char	*why;

	*s = NULL;
	if (path == NULL)
		return 0;
	if ((*s = krx_kms_read_secret(path, KRX_KMS_PW_MAX, &why)) == NULL) {
		log_err("%s password file %s: %s", what, path, why);
		return -1;
	}
	return 0;
}

int
krx_kms_tls_load(struct krx_kms_tls *kt, const struct krx_conf_tls *t,
    const char *url)
{
	struct krx_tlsstore_file	 f;
	struct krx_secret		*spw = NULL, *kpw = NULL;
	const char			*what = NULL;
	int				 r = -1, e = KRX_OK;

	memset(kt, 0, sizeof(*kt));

	if (!t->present || t->insecure || (t->trust_file == NULL &&
	    t->key_store_file == NULL && t->cert_file == NULL))
		return 0;
	if ((kt->store = krx_tlsstore_new()) == NULL)
		fatalx("out of memory");
	if (t->trust_file != NULL) {
		what = t->trust_file;
		if (kms_tls_password("trust store", t->trust_password_file,
		    &spw) != 0)
			goto out;
		memset(&f, 0, sizeof(f));
		f.type = kms_tls_store_type(t->trust_type);
		f.path = t->trust_file;
		if (spw != NULL) {
			f.store_pw = spw->data;
			f.store_pw_len = spw->len;
		}
		if ((e = krx_tlsstore_load_trust(kt->store, &f)) != KRX_OK)
			goto out;
		kt->own_trust = 1;
		krx_secret_free(spw);
		spw = NULL;
	}
	if (t->key_store_file != NULL || t->cert_file != NULL) {
		what = t->key_store_file != NULL ? t->key_store_file :
		    t->cert_file;
		memset(&f, 0, sizeof(f));
		if (kms_tls_password("key store", t->key_store_password_file,
		    &spw) != 0 || kms_tls_password("key", t->key_password_file,
		    &kpw) != 0)
			goto out;
		if (t->key_store_file != NULL) {
			f.type = kms_tls_store_type(t->key_store_type);
			f.path = t->key_store_file;
		} else {
			f.type = KRX_TLSSTORE_PEM;
			f.path = t->cert_file;
			f.key_path = t->key_file;
		}
		if (spw != NULL) {
			f.store_pw = spw->data;
			f.store_pw_len = spw->len;
		}
		if (kpw != NULL) {
			f.key_pw = kpw->data;
			f.key_pw_len = kpw->len;
		}
		if ((e = krx_tlsstore_load_key(kt->store, &f)) != KRX_OK)
			goto out;
	}
	r = 0;
out:
	if (e != KRX_OK)
		log_err("kms %s: TLS store %s: %s", url, what,
		    e == KRX_E_CRYPTO ? "wrong password or corrupt store" :
		    e == KRX_E_NOTFOUND ? "no usable certificate or key" :
		    krx_strerror(e));
	krx_secret_free(spw);
	krx_secret_free(kpw);
	return r;
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
