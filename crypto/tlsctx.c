/*
 * tlsctx.c: SSL_CTXs and stores from tls groups (tlsctx.h has the
 * contract). Library grade. Runs in the master (virtual clusters and
 * upstreams: before workers are forked, as root when krxd starts as
 * root) and in keysvc (KMS endpoints). Trusts the configuration's paths,
 * nothing in the files: sizes are bounded, stores parsed by
 * crypto/tlsstore.c, password copies wiped.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509_vfy.h>

#include "common/err.h"
#include "conf/conf.h"
#include "crypto/tlsctx.h"

#define TLSCTX_V12	0x1
#define TLSCTX_V13	0x2

struct krx_secret *
krx_tlsctx_read_secret(const char *path, size_t max, const char **why)
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
	if ((buf = malloc(max + 1)) == NULL) {
		*why = "out of memory";
		goto out;
	}
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

static int
tlsctx_store_type(int conf_type)
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

/* Read a password file into *s (NULL path: none). -1 with err. */
static int
tlsctx_password(const char *what, const char *path, struct krx_secret **s,
    char *err, size_t len)
{
	const char	*why;

	*s = NULL;
	if (path == NULL)
		return 0;
	if ((*s = krx_tlsctx_read_secret(path, KRX_TLSCTX_PW_MAX,
	    &why)) == NULL) {
		snprintf(err, len, "%s password file %s: %s", what, path, why);
		return -1;
	}
	return 0;
}

static const char *
tlsctx_store_error(int e)
{
	switch (e) {
	case KRX_E_CRYPTO:
		return "wrong password or corrupt store";
	case KRX_E_NOTFOUND:
		return "no usable certificate or key";
	case KRX_E_IO:
		return strerror(errno);	/* set by the failed open or read */
	default:
		return krx_strerror(e);
	}
}

static int
tlsctx_load_trust(const struct krx_conf_tls *t, struct krx_tlsstore *ts,
    char *err, size_t len)
{
	struct krx_tlsstore_file	 f;
	struct krx_secret		*pw;
	int				 e;

	if (tlsctx_password("trust store", t->trust_password_file, &pw, err,
	    len) != 0)
		return -1;
	memset(&f, 0, sizeof(f));
	f.type = tlsctx_store_type(t->trust_type);
	f.path = t->trust_file;
	if (pw != NULL) {
		f.store_pw = pw->data;
		f.store_pw_len = pw->len;
	}
	e = krx_tlsstore_load_trust(ts, &f);
	krx_secret_free(pw);
	if (e != KRX_OK)
		snprintf(err, len, "trust store %s: %s", t->trust_file,
		    tlsctx_store_error(e));
	return e == KRX_OK ? 0 : -1;
}

static int
tlsctx_load_key(const struct krx_conf_tls *t, struct krx_tlsstore *ts,
    char *err, size_t len)
{
	struct krx_tlsstore_file	 f;
	struct krx_secret		*spw = NULL, *kpw = NULL;
	const char			*what;
	int				 e = KRX_E_CONFIG;

	what = t->key_store_file != NULL ? t->key_store_file : t->cert_file;
	memset(&f, 0, sizeof(f));
	if (tlsctx_password("key store", t->key_store_password_file, &spw,
	    err, len) != 0 || tlsctx_password("key", t->key_password_file,
	    &kpw, err, len) != 0)
		goto out;
	if (t->key_store_file != NULL) {
		f.type = tlsctx_store_type(t->key_store_type);
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
	if ((e = krx_tlsstore_load_key(ts, &f)) != KRX_OK)
		snprintf(err, len, "key store %s: %s", what,
		    tlsctx_store_error(e));
out:
	krx_secret_free(spw);
	krx_secret_free(kpw);
	return e == KRX_OK ? 0 : -1;
}

int
krx_tlsctx_stores(const struct krx_conf_tls *t, struct krx_tlsstore **out,
    int *own_trust, char *err, size_t len)
{
	struct krx_tlsstore	*ts;

	*out = NULL;
	*own_trust = 0;
	if (!t->present || ((t->trust_file == NULL || t->insecure) &&
	    t->key_store_file == NULL && t->cert_file == NULL))
		return 0;
	if ((ts = krx_tlsstore_new()) == NULL) {
		snprintf(err, len, "out of memory");
		return -1;
	}
	if ((t->trust_file != NULL && !t->insecure &&
	    tlsctx_load_trust(t, ts, err, len) != 0) ||
	    ((t->key_store_file != NULL || t->cert_file != NULL) &&
	    tlsctx_load_key(t, ts, err, len) != 0)) {
		krx_tlsstore_free(ts);
		return -1;
	}
	*own_trust = t->trust_file != NULL && !t->insecure;
	*out = ts;
	return 0;
}

/* A protocol name's bit; 0 for a name krx does not offer. */
static int
tlsctx_proto_bit(const char *name, int *old)
{
	*old = 0;
	if (strcmp(name, "TLSv1.3") == 0)
		return TLSCTX_V13;
	if (strcmp(name, "TLSv1.2") == 0)
		return TLSCTX_V12;
	*old = strcmp(name, "TLSv1.1") == 0 || strcmp(name, "TLSv1") == 0 ||
	    strcmp(name, "SSLv3") == 0;
	return 0;
}

/* protocols = { allowed; denied; } onto ctx's version range. */
static int
tlsctx_protocols(SSL_CTX *ctx, const struct krx_conf_tls *t, char *err,
    size_t len)
{
	int	 mask = TLSCTX_V12 | TLSCTX_V13, bit, old;
	size_t	 i;

	if (t->protocols_allowed.given)
		mask = 0;
	for (i = 0; i < t->protocols_allowed.n; i++) {
		const char *n = t->protocols_allowed.v[i];

		if ((bit = tlsctx_proto_bit(n, &old)) == 0) {
			snprintf(err, len, "protocols.allowed: %s %s", n, old ?
			    "is not offered (insecure); TLSv1.2 and TLSv1.3 "
			    "are" : "is not a protocol (TLSv1.2, TLSv1.3)");
			return -1;
		}
		mask |= bit;
	}
	for (i = 0; i < t->protocols_denied.n; i++) {
		bit = tlsctx_proto_bit(t->protocols_denied.v[i], &old);
		if (bit == 0 && !old) {
			snprintf(err, len, "protocols.denied: %s is not a "
			    "protocol", t->protocols_denied.v[i]);
			return -1;
		}
		mask &= ~bit;
	}
	if (mask == 0) {
		snprintf(err, len, "protocols: none left to offer");
		return -1;
	}
	SSL_CTX_set_min_proto_version(ctx, mask & TLSCTX_V12 ?
	    TLS1_2_VERSION : TLS1_3_VERSION);
	SSL_CTX_set_max_proto_version(ctx, mask & TLSCTX_V13 ?
	    TLS1_3_VERSION : TLS1_2_VERSION);
	return 0;
}

static int
tlsctx_is13(const char *name)
{
	static const char *const v13[] = { "TLS_AES_128_GCM_SHA256",
	    "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
	    "TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256" };
	size_t	 i;

	for (i = 0; i < sizeof(v13) / sizeof(v13[0]); i++)
		if (strcmp(name, v13[i]) == 0)
			return 1;
	return 0;
}

/* Append s to the list at b (':' between); -1 when it does not fit. */
static int
tlsctx_cat(char *b, size_t size, const char *pre, const char *s)
{
	size_t	 n = strlen(b);
	int	 r;

	r = snprintf(b + n, size - n, "%s%s%s", n > 0 ? ":" : "", pre, s);
	return r < 0 || (size_t)r >= size - n ? -1 : 0;
}

/* Remove name from the ':'-separated list l. */
static void
tlsctx_drop13(char *l, const char *name)
{
	size_t	 n = strlen(name);
	char	*p = l;

	while ((p = strstr(p, name)) != NULL) {
		if ((p == l || p[-1] == ':') && (p[n] == ':' || p[n] == '\0')) {
			if (p[n] == ':')
				memmove(p, p + n + 1, strlen(p + n + 1) + 1);
			else if (p > l)
				p[-1] = '\0';
			else
				*p = '\0';
			continue;
		}
		p += n;
	}
}

/*
 * cipherSuites = { allowed; denied; } by their IANA names (as Java and
 * Kroxylicious write them): TLS 1.3 suites go to the ciphersuites list,
 * the others, translated to OpenSSL's names, to the cipher list.
 */
static int
tlsctx_ciphers(SSL_CTX *ctx, const struct krx_conf_tls *t, char *err,
    size_t len)
{
	char		 l12[4096] = "", l13[1024] = "";
	const char	*n, *o;
	size_t		 i;
	int		 deny;

	if (!t->ciphers_allowed.given && !t->ciphers_denied.given)
		return 0;
	if (!t->ciphers_allowed.given) {
		snprintf(l12, sizeof(l12), "DEFAULT");
		snprintf(l13, sizeof(l13), "%s", TLS_DEFAULT_CIPHERSUITES);
	}
	for (deny = 0; deny < 2; deny++) {
		const struct krx_conf_names *names = deny ?
		    &t->ciphers_denied : &t->ciphers_allowed;

		for (i = 0; i < names->n; i++) {
			n = names->v[i];
			if (tlsctx_is13(n)) {
				if (deny)
					tlsctx_drop13(l13, n);
				else if (tlsctx_cat(l13, sizeof(l13), "", n))
					goto long_list;
				continue;
			}
			o = OPENSSL_cipher_name(n);
			if (o == NULL || strcmp(o, "(NONE)") == 0) {
				snprintf(err, len, "cipherSuites.%s: %s is not "
				    "a cipher suite OpenSSL knows", deny ?
				    "denied" : "allowed", n);
				return -1;
			}
			if (tlsctx_cat(l12, sizeof(l12), deny ? "!" : "", o))
				goto long_list;
		}
	}
	/* No TLS 1.2 suite: TLS 1.3 only (and the other way round). */
	if (l12[0] == '\0') {
		(void)SSL_CTX_set_cipher_list(ctx, "aNULL:!aNULL");
		ERR_clear_error();
	} else if (SSL_CTX_set_cipher_list(ctx, l12) != 1)
		l12[0] = '\0';
	if (SSL_CTX_set_ciphersuites(ctx, l13) != 1)
		l13[0] = '\0';
	if (l12[0] == '\0' && l13[0] == '\0') {
		snprintf(err, len, "cipherSuites: no usable suite left");
		return -1;
	}
	return 0;
long_list:
	snprintf(err, len, "cipherSuites: list too long");
	return -1;
}

/* The first OpenSSL error as text, or what. */
static void
tlsctx_ssl_error(char *err, size_t len, const char *what)
{
	unsigned long	 e = ERR_get_error();
	char		 buf[256];

	if (e != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		snprintf(err, len, "%s: %s", what, buf);
	} else
		snprintf(err, len, "%s", what);
	ERR_clear_error();
}

/* Protocols, suites, then the stores of t into ctx. */
static int
tlsctx_setup(SSL_CTX *ctx, const struct krx_conf_tls *t, int ca_list,
    int *own_trust, char *err, size_t len)
{
	size_t			 i;
	struct krx_tlsstore	*ts;
	X509_STORE		*st;
	int			 r = 0;

	if (tlsctx_protocols(ctx, t, err, len) != 0 ||
	    tlsctx_ciphers(ctx, t, err, len) != 0 ||
	    krx_tlsctx_stores(t, &ts, own_trust, err, len) != 0)
		return -1;
	if (*own_trust) {
		/* Only these, and any of them an anchor, as Java trusts. */
		if ((st = X509_STORE_new()) == NULL) {
			krx_tlsstore_free(ts);
			snprintf(err, len, "out of memory");
			return -1;
		}
		X509_STORE_set_flags(st, X509_V_FLAG_PARTIAL_CHAIN |
		    X509_V_FLAG_TRUSTED_FIRST);
		SSL_CTX_set_cert_store(ctx, st);
	}
	if (ts != NULL && krx_tlsstore_apply(ts, ctx) != KRX_OK) {
		tlsctx_ssl_error(err, len, "the certificate or key is refused");
		r = -1;
	}
	/* A server asking for client certificates names the CAs it takes. */
	for (i = 0; r == 0 && ca_list && ts != NULL &&
	    i < krx_tlsstore_trust_count(ts); i++)
		if (SSL_CTX_add_client_CA(ctx, krx_tlsstore_trust(ts, i)) != 1)
			ERR_clear_error();	/* a duplicate: harmless */
	krx_tlsstore_free(ts);
	return r;
}

SSL_CTX *
krx_tlsctx_server(const struct krx_conf_tls *t, char *err, size_t len)
{
	static const unsigned char	 sid[] = "krx";
	SSL_CTX				*ctx;
	int				 own_trust, mode = SSL_VERIFY_NONE;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		tlsctx_ssl_error(err, len, "SSL_CTX_new");
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
	if (tlsctx_setup(ctx, t, t->client_auth != KRX_CONF_CLIENT_AUTH_NONE,
	    &own_trust, err, len) != 0)
		goto fail;
	if (SSL_CTX_check_private_key(ctx) != 1) {
		tlsctx_ssl_error(err, len, "no key matching the certificate");
		goto fail;
	}
	if (t->client_auth != KRX_CONF_CLIENT_AUTH_NONE) {
		mode = SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE;
		if (t->client_auth == KRX_CONF_CLIENT_AUTH_REQUIRED)
			mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
	}
	SSL_CTX_set_verify(ctx, mode, NULL);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

SSL_CTX *
krx_tlsctx_client(const struct krx_conf_tls *t, char *err, size_t len)
{
	SSL_CTX	*ctx;
	int	 own_trust;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		tlsctx_ssl_error(err, len, "SSL_CTX_new");
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
	if (tlsctx_setup(ctx, t, 0, &own_trust, err, len) != 0) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (!own_trust && !t->insecure &&
	    SSL_CTX_set_default_verify_paths(ctx) != 1) {
		tlsctx_ssl_error(err, len, "the system's trust store");
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, t->insecure ? SSL_VERIFY_NONE :
	    SSL_VERIFY_PEER, NULL);
	return ctx;
}

int
krx_tlsctx_set_host(SSL *ssl, const char *host, int verify)
{
	struct in6_addr	 a6;
	struct in_addr	 a4;
	int		 ip;

	ip = inet_pton(AF_INET, host, &a4) == 1 ||
	    inet_pton(AF_INET6, host, &a6) == 1;
	if ((!ip && SSL_set_tlsext_host_name(ssl, host) != 1) ||
	    (verify && (ip ? X509_VERIFY_PARAM_set1_ip_asc(
	    SSL_get0_param(ssl), host) : SSL_set1_host(ssl, host)) != 1))
		return -1;
	return 0;
}
