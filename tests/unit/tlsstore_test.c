/*
 * tlsstore_test.c: TLS trust and key stores (crypto/tlsstore.c) on the
 * fixtures of tests/data/tls (make.sh): every store type gives the
 * expected certificates and key, the error codes (unreadable, wrong
 * password, no usable entry, malformed, too big), a failed load leaves
 * the store as it was, and in-process TLS handshakes over a BIO pair:
 * the client verifies the server with each trust store type and fails
 * with another CA; mutual TLS with each key store type.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/err.h"
#include "crypto/tlsstore.h"

#define SP	"storepass"
#define KP	"keypass"

static char	 pathbuf[8][512];
static int	 pathn;

/* tests/data/tls/name (a few live at once). */
static const char *
tpath(const char *name)
{
	const char	*dir = getenv("KRX_TEST_DATA");
	char		*p = pathbuf[pathn++ % 8];

	snprintf(p, sizeof(pathbuf[0]), "%s/tls/%s", dir != NULL && *dir ?
	    dir : "tests/data", name);
	return p;
}

static struct krx_tlsstore_file
tfile(enum krx_tlsstore_type type, const char *name, const char *sp,
    const char *kp)
{
	struct krx_tlsstore_file	 f;

	memset(&f, 0, sizeof(f));
	f.type = type;
	f.path = name != NULL ? tpath(name) : NULL;
	f.store_pw = (const uint8_t *)sp;
	f.store_pw_len = sp != NULL ? strlen(sp) : 0;
	f.key_pw = (const uint8_t *)kp;
	f.key_pw_len = kp != NULL ? strlen(kp) : 0;
	return f;
}

static int
trust(struct krx_tlsstore *ts, enum krx_tlsstore_type type,
    const char *name, const char *sp)
{
	struct krx_tlsstore_file	 f = tfile(type, name, sp, NULL);

	return krx_tlsstore_load_trust(ts, &f);
}

static X509 *
pem_cert(const char *name)
{
	FILE	*fp;
	X509	*x;

	cr_assert_not_null(fp = fopen(tpath(name), "r"));
	cr_assert_not_null(x = PEM_read_X509(fp, NULL, NULL, NULL));
	fclose(fp);
	return x;
}

static EVP_PKEY *
pem_key(const char *name)
{
	EVP_PKEY	*k;
	FILE		*fp;

	cr_assert_not_null(fp = fopen(tpath(name), "r"));
	cr_assert_not_null(k = PEM_read_PrivateKey(fp, NULL, NULL, NULL));
	fclose(fp);
	return k;
}

static void
assert_cert(X509 *x, const char *name)
{
	X509	*want = pem_cert(name);

	cr_assert_not_null(x, "no certificate, want %s", name);
	cr_assert_eq(X509_cmp(x, want), 0, "not %s", name);
	X509_free(want);
}

/* ts's trust certificates are exactly the PEM files named, in order. */
static void
assert_trust(const struct krx_tlsstore *ts, const char *const *names,
    size_t n)
{
	size_t	 i;

	cr_assert_eq(krx_tlsstore_trust_count(ts), n);
	for (i = 0; i < n; i++)
		assert_cert(krx_tlsstore_trust(ts, i), names[i]);
	cr_assert_null(krx_tlsstore_trust(ts, n));
}

/* ts holds keyname's key, leafname's certificate and the CA chain. */
static void
assert_key(const struct krx_tlsstore *ts, const char *keyname,
    const char *leafname)
{
	EVP_PKEY	*want = pem_key(keyname);

	cr_assert_not_null(krx_tlsstore_key(ts));
	cr_assert_eq(EVP_PKEY_eq(krx_tlsstore_key(ts), want), 1);
	assert_cert(krx_tlsstore_leaf(ts), leafname);
	cr_assert_eq(sk_X509_num(krx_tlsstore_chain(ts)), 1);
	assert_cert(sk_X509_value(krx_tlsstore_chain(ts), 0), "ca.pem");
	EVP_PKEY_free(want);
}

Test(tlsstore, type_names)
{
	enum krx_tlsstore_type	 t;

	cr_assert_eq(krx_tlsstore_type_parse("PKCS12", &t), KRX_OK);
	cr_assert_eq(t, KRX_TLSSTORE_PKCS12);
	cr_assert_eq(krx_tlsstore_type_parse("jks", &t), KRX_OK);
	cr_assert_eq(t, KRX_TLSSTORE_JKS);
	cr_assert_eq(krx_tlsstore_type_parse("Pem", &t), KRX_OK);
	cr_assert_eq(t, KRX_TLSSTORE_PEM);
	cr_assert_eq(krx_tlsstore_type_parse("JCEKS", &t),
	    KRX_E_UNSUPPORTED);
	cr_assert_eq(krx_tlsstore_type_parse("", &t), KRX_E_UNSUPPORTED);
}

Test(tlsstore, trust_every_type)
{
	static const char *const ca[] = { "ca.pem" };
	static const char *const both[] = { "ca.pem", "other-ca.pem" };
	static const char *const jks[] = { "other-ca.pem", "ca.pem" };
	struct krx_tlsstore	*ts;

	cr_assert_not_null(ts = krx_tlsstore_new());
	cr_assert_eq(trust(ts, KRX_TLSSTORE_PEM, "ca.pem", NULL), KRX_OK);
	assert_trust(ts, ca, 1);
	krx_tlsstore_free(ts);

	/* keytool's PKCS#12: one trusted entry, encrypted. */
	ts = krx_tlsstore_new();
	cr_assert_eq(trust(ts, KRX_TLSSTORE_PKCS12, "trust.p12", SP), KRX_OK);
	assert_trust(ts, ca, 1);
	krx_tlsstore_free(ts);

	/* openssl's PKCS#12 (no Java trust attribute): every certificate. */
	ts = krx_tlsstore_new();
	cr_assert_eq(trust(ts, KRX_TLSSTORE_PKCS12, "trust-openssl.p12", SP),
	    KRX_OK);
	assert_trust(ts, both, 2);
	krx_tlsstore_free(ts);

	/* Certificates not encrypted: the password (and MAC) optional. */
	ts = krx_tlsstore_new();
	cr_assert_eq(trust(ts, KRX_TLSSTORE_PKCS12, "trust-plain.p12", NULL),
	    KRX_OK);
	cr_assert_eq(trust(ts, KRX_TLSSTORE_PKCS12, "trust-plain.p12", SP),
	    KRX_OK);
	cr_assert_eq(trust(ts, KRX_TLSSTORE_PKCS12, "trust-plain.p12", "x"),
	    KRX_E_CRYPTO);
	cr_assert_eq(krx_tlsstore_trust_count(ts), 2);
	assert_cert(krx_tlsstore_trust(ts, 0), "ca.pem");
	assert_cert(krx_tlsstore_trust(ts, 1), "ca.pem");
	krx_tlsstore_free(ts);

	/* JKS, in file order; the digest is optional as in Java. */
	ts = krx_tlsstore_new();
	cr_assert_eq(trust(ts, KRX_TLSSTORE_JKS, "trust.jks", SP), KRX_OK);
	assert_trust(ts, jks, 2);
	krx_tlsstore_free(ts);
	ts = krx_tlsstore_new();
	cr_assert_eq(trust(ts, KRX_TLSSTORE_JKS, "trust.jks", NULL), KRX_OK);
	assert_trust(ts, jks, 2);
	krx_tlsstore_free(ts);
}

Test(tlsstore, trust_of_key_stores_as_java_reads_them)
{
	struct krx_tlsstore	*ts = krx_tlsstore_new();
	X509			*x;
	size_t			 i, leaves = 0;

	/* JKS: trusted entries and each key entry's leaf, not its CA. */
	cr_assert_eq(trust(ts, KRX_TLSSTORE_JKS, "multi.jks", SP), KRX_OK);
	cr_assert_eq(krx_tlsstore_trust_count(ts), 3);
	for (i = 0; i < 3; i++) {
		x = krx_tlsstore_trust(ts, i);
		leaves += X509_check_ca(x) == 0;
	}
	cr_assert_eq(leaves, 2);
	krx_tlsstore_free(ts);
}

Test(tlsstore, trust_files_add_up)
{
	static const char *const four[] = { "ca.pem", "other-ca.pem",
	    "client.pem", "ca.pem" };
	struct krx_tlsstore	*ts = krx_tlsstore_new();

	cr_assert_eq(trust(ts, KRX_TLSSTORE_PKCS12, "trust-openssl.p12", SP),
	    KRX_OK);
	cr_assert_eq(trust(ts, KRX_TLSSTORE_PEM, "client-chain.pem", NULL),
	    KRX_OK);
	assert_trust(ts, four, 4);
	krx_tlsstore_free(ts);
}

Test(tlsstore, trust_errors)
{
	struct krx_tlsstore	*ts = krx_tlsstore_new();

	cr_assert_eq(trust(ts, KRX_TLSSTORE_PKCS12, "trust.p12", "storepasS"),
	    KRX_E_CRYPTO);
	cr_assert_eq(trust(ts, KRX_TLSSTORE_PKCS12, "trust.p12", ""),
	    KRX_E_CRYPTO);
	/* keytool encrypts the certificates: no password, no trust. */
	cr_assert_eq(trust(ts, KRX_TLSSTORE_PKCS12, "trust.p12", NULL),
	    KRX_E_CRYPTO);
	cr_assert_eq(trust(ts, KRX_TLSSTORE_JKS, "trust.jks", "x"),
	    KRX_E_CRYPTO);
	errno = 0;
	cr_assert_eq(trust(ts, KRX_TLSSTORE_PEM, "absent.pem", NULL),
	    KRX_E_IO);
	cr_assert_eq(errno, ENOENT);
	cr_assert_eq(trust(ts, KRX_TLSSTORE_PEM, ".", NULL), KRX_E_IO);
	cr_assert_eq(errno, EINVAL);
	cr_assert_eq(trust(ts, KRX_TLSSTORE_PEM, "client.key", NULL),
	    KRX_E_NOTFOUND);
	cr_assert_eq(trust(ts, KRX_TLSSTORE_PEM, "trust.jks", NULL),
	    KRX_E_NOTFOUND);
	cr_assert_eq(trust(ts, KRX_TLSSTORE_PKCS12, "ca.pem", SP),
	    KRX_E_MALFORMED);
	cr_assert_eq(trust(ts, KRX_TLSSTORE_JKS, "trust.p12", SP),
	    KRX_E_MALFORMED);
	cr_assert_eq(trust(ts, 0, "ca.pem", NULL), KRX_E_UNSUPPORTED);
	cr_assert_eq(krx_tlsstore_trust_count(ts), 0);
	krx_tlsstore_free(ts);
}

/* A scratch file of len bytes: a PEM certificate block broken at the
 * middle, or padding past the size cap. */
static char *
scratch(const char *text, size_t len)
{
	char	*path = strdup("/tmp/krx-tlsstore-XXXXXX");
	FILE	*fp;
	int	 fd;

	cr_assert_not_null(path);
	cr_assert_neq(fd = mkstemp(path), -1);
	cr_assert_not_null(fp = fdopen(fd, "w"));
	cr_assert_eq(fwrite(text, 1, len, fp), len);
	fclose(fp);
	return path;
}

Test(tlsstore, malformed_pem_and_too_big)
{
	struct krx_tlsstore	*ts = krx_tlsstore_new();
	struct krx_tlsstore_file f;
	char			*path, *big;
	const char		*bad = "-----BEGIN CERTIFICATE-----\n"
				    "MIIB!!!!\n-----END CERTIFICATE-----\n";

	memset(&f, 0, sizeof(f));
	f.type = KRX_TLSSTORE_PEM;
	f.path = path = scratch(bad, strlen(bad));
	cr_assert_eq(krx_tlsstore_load_trust(ts, &f), KRX_E_MALFORMED);
	unlink(path);
	free(path);
	cr_assert_not_null(big = malloc(KRX_TLSSTORE_FILE_MAX + 1));
	memset(big, '\n', KRX_TLSSTORE_FILE_MAX + 1);
	f.path = path = scratch(big, KRX_TLSSTORE_FILE_MAX + 1);
	cr_assert_eq(krx_tlsstore_load_trust(ts, &f), KRX_E_TOO_BIG);
	unlink(path);
	free(path);
	free(big);
	cr_assert_eq(krx_tlsstore_trust_count(ts), 0);
	krx_tlsstore_free(ts);
	/* The library leaves OpenSSL's error queue as it found it. */
	cr_assert_eq(ERR_peek_error(), 0);
}

static int
key(struct krx_tlsstore *ts, enum krx_tlsstore_type type, const char *name,
    const char *keyname, const char *sp, const char *kp, const char *alias)
{
	struct krx_tlsstore_file	 f = tfile(type, name, sp, kp);

	f.key_path = keyname != NULL ? tpath(keyname) : NULL;
	f.alias = alias;
	return krx_tlsstore_load_key(ts, &f);
}

Test(tlsstore, key_every_type)
{
	static const struct {
		enum krx_tlsstore_type	 type;
		const char		*file, *keyfile, *sp, *kp, *alias;
	} c[] = {
		{ KRX_TLSSTORE_PEM, "client-chain.pem", "client.key",
		    NULL, NULL, NULL },
		{ KRX_TLSSTORE_PEM, "client-chain.pem", "client-enc.key",
		    NULL, KP, NULL },
		{ KRX_TLSSTORE_PKCS12, "client.p12", NULL, SP, NULL, NULL },
		{ KRX_TLSSTORE_PKCS12, "client.p12", NULL, SP, SP, "Client" },
		{ KRX_TLSSTORE_PKCS12, "client-keytool.p12", NULL, SP, NULL,
		    NULL },
		{ KRX_TLSSTORE_JKS, "client.jks", NULL, SP, KP, NULL },
		{ KRX_TLSSTORE_JKS, "multi.jks", NULL, SP, KP, "client" },
	};
	struct krx_tlsstore	*ts;
	size_t			 i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		ts = krx_tlsstore_new();
		cr_assert_eq(key(ts, c[i].type, c[i].file, c[i].keyfile,
		    c[i].sp, c[i].kp, c[i].alias), KRX_OK, "case %zu", i);
		assert_key(ts, "client.key", "client.pem");
		krx_tlsstore_free(ts);
	}
	/* By alias, any case; then a later load replaces the key. */
	ts = krx_tlsstore_new();
	cr_assert_eq(key(ts, KRX_TLSSTORE_JKS, "multi.jks", NULL, SP, KP,
	    "SERVER"), KRX_OK);
	assert_key(ts, "server.key", "server.pem");
	cr_assert_eq(key(ts, KRX_TLSSTORE_JKS, "client.jks", NULL, SP, KP,
	    NULL), KRX_OK);
	assert_key(ts, "client.key", "client.pem");
	krx_tlsstore_free(ts);
}

Test(tlsstore, pem_key_and_certificates_in_one_file)
{
	struct krx_tlsstore	*ts = krx_tlsstore_new();
	struct krx_tlsstore_file f;
	char			 text[8192];
	size_t			 n = 0;
	FILE			*fp;
	char			*path;

	cr_assert_not_null(fp = fopen(tpath("client-chain.pem"), "r"));
	n += fread(text + n, 1, sizeof(text) - n, fp);
	fclose(fp);
	cr_assert_not_null(fp = fopen(tpath("client-enc.key"), "r"));
	n += fread(text + n, 1, sizeof(text) - n, fp);
	fclose(fp);
	path = scratch(text, n);
	memset(&f, 0, sizeof(f));
	f.type = KRX_TLSSTORE_PEM;
	f.path = path;
	f.key_pw = (const uint8_t *)KP;
	f.key_pw_len = strlen(KP);
	cr_assert_eq(krx_tlsstore_load_key(ts, &f), KRX_OK);
	assert_key(ts, "client.key", "client.pem");
	unlink(path);
	free(path);
	krx_tlsstore_free(ts);
}

Test(tlsstore, key_errors_leave_the_store_unchanged)
{
	struct krx_tlsstore	*ts = krx_tlsstore_new();
	enum krx_tlsstore_type	 P = KRX_TLSSTORE_PEM,
				 X = KRX_TLSSTORE_PKCS12, J = KRX_TLSSTORE_JKS;

	cr_assert_eq(key(ts, J, "client.jks", NULL, SP, KP, NULL), KRX_OK);
	/* Wrong passwords: store, key, and the key's default (store). */
	cr_assert_eq(key(ts, X, "client.p12", NULL, "x", NULL, NULL),
	    KRX_E_CRYPTO);
	cr_assert_eq(key(ts, X, "client.p12", NULL, SP, "x", NULL),
	    KRX_E_CRYPTO);
	cr_assert_eq(key(ts, X, "client.p12", NULL, NULL, NULL, NULL),
	    KRX_E_CRYPTO);
	cr_assert_eq(key(ts, J, "client.jks", NULL, "x", KP, NULL),
	    KRX_E_CRYPTO);
	cr_assert_eq(key(ts, J, "client.jks", NULL, SP, "x", NULL),
	    KRX_E_CRYPTO);
	cr_assert_eq(key(ts, J, "client.jks", NULL, SP, NULL, NULL),
	    KRX_E_CRYPTO);
	cr_assert_eq(key(ts, J, "client.jks", NULL, NULL, NULL, NULL),
	    KRX_E_CRYPTO);
	cr_assert_eq(key(ts, P, "client.pem", "client-enc.key", NULL, "x",
	    NULL), KRX_E_CRYPTO);
	cr_assert_eq(key(ts, P, "client.pem", "client-enc.key", NULL, NULL,
	    NULL), KRX_E_CRYPTO);
	/* No usable entry. */
	cr_assert_eq(key(ts, X, "trust.p12", NULL, SP, NULL, NULL),
	    KRX_E_NOTFOUND);
	cr_assert_eq(key(ts, X, "client.p12", NULL, SP, NULL, "server"),
	    KRX_E_NOTFOUND);
	cr_assert_eq(key(ts, J, "trust.jks", NULL, SP, KP, NULL),
	    KRX_E_NOTFOUND);
	cr_assert_eq(key(ts, J, "multi.jks", NULL, SP, KP, "ca"),
	    KRX_E_NOTFOUND);
	cr_assert_eq(key(ts, P, "server.pem", "client.key", NULL, NULL, NULL),
	    KRX_E_NOTFOUND);
	cr_assert_eq(key(ts, P, "client.pem", "ca.pem", NULL, NULL, NULL),
	    KRX_E_NOTFOUND);
	cr_assert_eq(key(ts, P, "client.key", "client.key", NULL, NULL, NULL),
	    KRX_E_NOTFOUND);
	/* Unreadable, malformed. */
	cr_assert_eq(key(ts, P, "client.pem", "absent.key", NULL, NULL,
	    NULL), KRX_E_IO);
	cr_assert_eq(key(ts, J, "absent.jks", NULL, SP, KP, NULL), KRX_E_IO);
	cr_assert_eq(key(ts, X, "client.jks", NULL, SP, KP, NULL),
	    KRX_E_MALFORMED);
	cr_assert_eq(key(ts, J, "client.p12", NULL, SP, KP, NULL),
	    KRX_E_MALFORMED);
	cr_assert_eq(key(ts, P, NULL, "client.key", NULL, NULL, NULL),
	    KRX_E_CONFIG);
	assert_key(ts, "client.key", "client.pem");
	krx_tlsstore_free(ts);
}

/*
 * Handshakes in process: a client and a server SSL over a BIO pair.
 */

static SSL_CTX *
server_ctx(const char *client_ca)
{
	struct krx_tlsstore	*ts = krx_tlsstore_new();
	SSL_CTX			*ctx;

	cr_assert_not_null(ctx = SSL_CTX_new(TLS_server_method()));
	cr_assert_eq(key(ts, KRX_TLSSTORE_PEM, "server.pem", "server.key",
	    NULL, NULL, NULL), KRX_OK);
	if (client_ca != NULL) {
		cr_assert_eq(trust(ts, KRX_TLSSTORE_PEM, client_ca, NULL),
		    KRX_OK);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
		    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	cr_assert_eq(krx_tlsstore_apply(ts, ctx), KRX_OK);
	krx_tlsstore_free(ts);
	return ctx;
}

static SSL_CTX *
client_ctx(const struct krx_tlsstore *ts)
{
	SSL_CTX	*ctx;

	cr_assert_not_null(ctx = SSL_CTX_new(TLS_client_method()));
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	cr_assert_eq(krx_tlsstore_apply(ts, ctx), KRX_OK);
	return ctx;
}

static int
step(SSL *ssl, int *done)
{
	int	 r, e;

	if (*done)
		return 1;
	if ((r = SSL_do_handshake(ssl)) == 1) {
		*done = 1;
		return 1;
	}
	e = SSL_get_error(ssl, r);
	return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
}

/*
 * Connect a client of cctx to a server of sctx as "localhost"; 1 when
 * both ends finished and a byte went through. *peer (if not NULL) gets
 * the client certificate the server saw, *vr (if not NULL) the client's
 * verification result.
 */
static int
handshake(SSL_CTX *cctx, SSL_CTX *sctx, X509 **peer, long *vr)
{
	SSL	*c, *s;
	BIO	*cb, *sb;
	char	 ch = 0;
	int	 i, cd = 0, sd = 0, ok = 0;

	cr_assert_not_null(c = SSL_new(cctx));
	cr_assert_not_null(s = SSL_new(sctx));
	cr_assert_eq(BIO_new_bio_pair(&cb, 0, &sb, 0), 1);
	SSL_set_bio(c, cb, cb);
	SSL_set_bio(s, sb, sb);
	SSL_set_connect_state(c);
	SSL_set_accept_state(s);
	cr_assert_eq(SSL_set_tlsext_host_name(c, "localhost"), 1);
	cr_assert_eq(SSL_set1_host(c, "localhost"), 1);
	for (i = 0; i < 50 && !(cd && sd); i++)
		if (!step(c, &cd) || !step(s, &sd))
			break;
	if (cd && sd && SSL_write(c, "k", 1) == 1 && SSL_read(s, &ch, 1) == 1)
		ok = ch == 'k';
	if (peer != NULL)
		*peer = SSL_get1_peer_certificate(s);
	if (vr != NULL)
		*vr = SSL_get_verify_result(c);
	SSL_free(c);
	SSL_free(s);
	ERR_clear_error();
	return ok;
}

Test(tlsstore, handshake_verifies_the_server_with_each_trust_type)
{
	static const struct {
		enum krx_tlsstore_type	 type;
		const char		*file, *sp;
		int			 ok;
	} c[] = {
		{ KRX_TLSSTORE_PEM, "ca.pem", NULL, 1 },
		{ KRX_TLSSTORE_PKCS12, "trust.p12", SP, 1 },
		{ KRX_TLSSTORE_PKCS12, "trust-openssl.p12", SP, 1 },
		{ KRX_TLSSTORE_JKS, "trust.jks", SP, 1 },
		{ KRX_TLSSTORE_JKS, "multi.jks", SP, 1 },
		{ KRX_TLSSTORE_PEM, "other-ca.pem", NULL, 0 },
	};
	long			 vr;
	struct krx_tlsstore	*ts;
	SSL_CTX			*sctx = server_ctx(NULL), *cctx;
	size_t			 i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		cr_assert_not_null(ts = krx_tlsstore_new());
		cr_assert_eq(trust(ts, c[i].type, c[i].file, c[i].sp), KRX_OK);
		cctx = client_ctx(ts);
		krx_tlsstore_free(ts);	/* the SSL_CTX keeps its own */
		cr_assert_eq(handshake(cctx, sctx, NULL, &vr), c[i].ok,
		    "case %zu", i);
		cr_assert_eq(vr, c[i].ok ? X509_V_OK :
		    X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
		SSL_CTX_free(cctx);
	}
	/* No trust at all: the server is not verified either. */
	ts = krx_tlsstore_new();
	cctx = client_ctx(ts);
	cr_assert_eq(handshake(cctx, sctx, NULL, &vr), 0);
	cr_assert_eq(vr, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
	SSL_CTX_free(cctx);
	krx_tlsstore_free(ts);
	SSL_CTX_free(sctx);
}

Test(tlsstore, mutual_tls_with_each_key_type)
{
	static const struct {
		enum krx_tlsstore_type	 type;
		const char		*file, *keyfile, *sp, *kp;
	} c[] = {
		{ KRX_TLSSTORE_PEM, "client-chain.pem", "client-enc.key",
		    NULL, KP },
		{ KRX_TLSSTORE_PKCS12, "client.p12", NULL, SP, NULL },
		{ KRX_TLSSTORE_JKS, "client.jks", NULL, SP, KP },
	};
	struct krx_tlsstore	*ts;
	SSL_CTX			*sctx = server_ctx("ca.pem"), *cctx;
	X509			*peer;
	size_t			 i;
	long			 vr;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		ts = krx_tlsstore_new();
		cr_assert_eq(trust(ts, KRX_TLSSTORE_JKS, "trust.jks", SP),
		    KRX_OK);
		cr_assert_eq(key(ts, c[i].type, c[i].file, c[i].keyfile,
		    c[i].sp, c[i].kp, NULL), KRX_OK, "case %zu", i);
		cctx = client_ctx(ts);
		krx_tlsstore_free(ts);
		cr_assert_eq(handshake(cctx, sctx, &peer, NULL), 1,
		    "case %zu", i);
		assert_cert(peer, "client.pem");
		X509_free(peer);
		SSL_CTX_free(cctx);
	}
	/* Without a client key the server refuses. */
	ts = krx_tlsstore_new();
	cr_assert_eq(trust(ts, KRX_TLSSTORE_PEM, "ca.pem", NULL), KRX_OK);
	cctx = client_ctx(ts);
	cr_assert_eq(handshake(cctx, sctx, &peer, NULL), 0);
	cr_assert_null(peer);
	SSL_CTX_free(cctx);
	krx_tlsstore_free(ts);
	SSL_CTX_free(sctx);
	/* A server that trusts another CA refuses the client's chain. */
	sctx = server_ctx("other-ca.pem");
	ts = krx_tlsstore_new();
	cr_assert_eq(trust(ts, KRX_TLSSTORE_PEM, "ca.pem", NULL), KRX_OK);
	cr_assert_eq(key(ts, KRX_TLSSTORE_JKS, "client.jks", NULL, SP, KP,
	    NULL), KRX_OK);
	cctx = client_ctx(ts);
	cr_assert_eq(handshake(cctx, sctx, &peer, &vr), 0);
	cr_assert_null(peer);
	cr_assert_eq(vr, X509_V_OK);	/* the client trusted the server */
	SSL_CTX_free(cctx);
	krx_tlsstore_free(ts);
	SSL_CTX_free(sctx);
}
