/*
 * tlsctx_test.c: SSL_CTXs from tls groups (crypto/tlsctx.c) on the
 * fixtures of tests/data/tls, shaken hands in process over a BIO pair:
 * the client checks the server's chain and name (or not, insecure),
 * clientAuth NONE / REQUESTED / REQUIRED with PEM and PKCS#12 client
 * keys, protocols and cipher suites allowed and denied, and the errors
 * that name the file at fault without a password.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "conf/conf.h"
#include "crypto/tlsctx.h"

static char	 pathbuf[16][512];
static int	 pathn;

/* tests/data/tls/name. */
static char *
tpath(const char *name)
{
	const char	*dir = getenv("KRX_TEST_DATA");
	char		*p = pathbuf[pathn++ % 16];

	snprintf(p, sizeof(pathbuf[0]), "%s/tls/%s", dir != NULL && *dir ?
	    dir : "tests/data", name);
	return p;
}

/* A password file holding pw (a temporary file). */
static char *
pwfile(const char *pw)
{
	char	*p = pathbuf[pathn++ % 16];
	FILE	*f;
	int	 fd;

	snprintf(p, sizeof(pathbuf[0]), "/tmp/krx-tlsctx-pwXXXXXX");
	cr_assert_neq(fd = mkstemp(p), -1);
	cr_assert_not_null(f = fdopen(fd, "w"));
	fprintf(f, "%s\n", pw);
	fclose(f);
	return p;
}

static struct krx_conf_tls
server_conf(void)
{
	struct krx_conf_tls	 t;

	memset(&t, 0, sizeof(t));
	t.present = 1;
	t.key_file = tpath("server.key");
	t.cert_file = tpath("server.pem");
	return t;
}

static struct krx_conf_tls
client_conf(const char *ca)
{
	struct krx_conf_tls	 t;

	memset(&t, 0, sizeof(t));
	t.present = 1;
	t.trust_file = tpath(ca);
	t.trust_type = KRX_CONF_STORE_PEM;
	return t;
}

static SSL_CTX *
ctx_ok(const struct krx_conf_tls *t, int server)
{
	char	 err[512] = "";
	SSL_CTX	*ctx = server ? krx_tlsctx_server(t, err, sizeof(err)) :
	    krx_tlsctx_client(t, err, sizeof(err));

	cr_assert_not_null(ctx, "%s", err);
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
 * A client of cctx to host (krx_tlsctx_set_host, checked when verify)
 * and a server of sctx: 1 when both finished and a byte went through.
 * *version and *cipher (if not NULL) get what was agreed.
 */
static int
shake(SSL_CTX *cctx, SSL_CTX *sctx, const char *host, int verify,
    int *version, char *cipher, size_t len)
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
	cr_assert_eq(krx_tlsctx_set_host(c, host, verify), 0);
	for (i = 0; i < 50 && !(cd && sd); i++)
		if (!step(c, &cd) || !step(s, &sd))
			break;
	if (cd && sd && SSL_write(c, "k", 1) == 1 && SSL_read(s, &ch, 1) == 1)
		ok = ch == 'k';
	if (ok && version != NULL)
		*version = SSL_version(s);
	if (ok && cipher != NULL)
		snprintf(cipher, len, "%s", SSL_get_cipher_name(s));
	SSL_free(c);
	SSL_free(s);
	ERR_clear_error();
	return ok;
}

Test(tlsctx, client_checks_chain_and_name)
{
	struct krx_conf_tls	 st = server_conf(), ct = client_conf("ca.pem");
	struct krx_conf_tls	 other = client_conf("other-ca.pem");
	SSL_CTX			*s = ctx_ok(&st, 1), *c = ctx_ok(&ct, 0);
	SSL_CTX			*o = ctx_ok(&other, 0), *ins;
	int			 v = 0;

	cr_assert_eq(shake(c, s, "localhost", 1, &v, NULL, 0), 1);
	cr_assert_eq(v, TLS1_3_VERSION);	/* the default allows 1.3 */
	cr_assert_eq(shake(c, s, "127.0.0.1", 1, NULL, NULL, 0), 1);
	cr_assert_eq(shake(c, s, "kafka.example", 1, NULL, NULL, 0), 0);
	cr_assert_eq(shake(c, s, "127.0.0.2", 1, NULL, NULL, 0), 0);
	cr_assert_eq(shake(o, s, "localhost", 1, NULL, NULL, 0), 0);
	/* Not checked: the name (verify 0), then nothing (insecure). */
	cr_assert_eq(shake(c, s, "kafka.example", 0, NULL, NULL, 0), 1);
	other.insecure = 1;
	other.trust_file = NULL;
	ins = ctx_ok(&other, 0);
	cr_assert_eq(shake(ins, s, "kafka.example", 0, NULL, NULL, 0), 1);
	SSL_CTX_free(s);
	SSL_CTX_free(c);
	SSL_CTX_free(o);
	SSL_CTX_free(ins);
}

Test(tlsctx, client_auth)
{
	struct krx_conf_tls	 st = server_conf(), ct = client_conf("ca.pem");
	struct krx_conf_tls	 pem = client_conf("ca.pem");
	struct krx_conf_tls	 p12 = client_conf("ca.pem");
	SSL_CTX			*req, *need, *none, *c, *cp, *c12;

	st.trust_file = tpath("ca.pem");
	st.trust_type = KRX_CONF_STORE_PEM;
	st.client_auth = KRX_CONF_CLIENT_AUTH_REQUESTED;
	req = ctx_ok(&st, 1);
	st.client_auth = KRX_CONF_CLIENT_AUTH_REQUIRED;
	need = ctx_ok(&st, 1);
	st.client_auth = KRX_CONF_CLIENT_AUTH_NONE;
	none = ctx_ok(&st, 1);
	pem.key_file = tpath("client.key");
	pem.cert_file = tpath("client.pem");
	p12.key_store_file = tpath("client.p12");
	p12.key_store_type = KRX_CONF_STORE_PKCS12;
	p12.key_store_password_file = pwfile("storepass");
	c = ctx_ok(&ct, 0);
	cp = ctx_ok(&pem, 0);
	c12 = ctx_ok(&p12, 0);
	cr_assert_eq(shake(c, none, "localhost", 1, NULL, NULL, 0), 1);
	cr_assert_eq(shake(c, req, "localhost", 1, NULL, NULL, 0), 1);
	cr_assert_eq(shake(c, need, "localhost", 1, NULL, NULL, 0), 0);
	cr_assert_eq(shake(cp, need, "localhost", 1, NULL, NULL, 0), 1);
	cr_assert_eq(shake(c12, need, "localhost", 1, NULL, NULL, 0), 1);
	/* The server names the CAs it takes. */
	cr_assert_eq(sk_X509_NAME_num(SSL_CTX_get_client_CA_list(need)), 1);
	unlink(p12.key_store_password_file);
	SSL_CTX_free(req);
	SSL_CTX_free(need);
	SSL_CTX_free(none);
	SSL_CTX_free(c);
	SSL_CTX_free(cp);
	SSL_CTX_free(c12);
}

static struct krx_conf_names
names1(char **one)
{
	struct krx_conf_names	 n = { one, 1, 1 };

	return n;
}

Test(tlsctx, protocols_and_cipher_suites)
{
	struct krx_conf_tls	 st = server_conf(), ct = client_conf("ca.pem");
	char			*v13[] = { "TLSv1.3" }, *v12[] = { "TLSv1.2" };
	char			*gcm[] = {
	    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" };
	char			*chacha[] = { "TLS_CHACHA20_POLY1305_SHA256" };
	char			 cipher[64];
	SSL_CTX			*s13, *c12, *s12g, *c, *sdeny;
	int			 v;

	st.protocols_allowed = names1(v13);
	s13 = ctx_ok(&st, 1);
	ct.protocols_allowed = names1(v12);
	c12 = ctx_ok(&ct, 0);
	cr_assert_eq(shake(c12, s13, "localhost", 1, NULL, NULL, 0), 0);
	st = server_conf();
	st.protocols_allowed = names1(v12);
	st.ciphers_allowed = names1(gcm);
	s12g = ctx_ok(&st, 1);
	ct = client_conf("ca.pem");
	c = ctx_ok(&ct, 0);
	cr_assert_eq(shake(c, s12g, "localhost", 1, &v, cipher,
	    sizeof(cipher)), 1);
	cr_assert_eq(v, TLS1_2_VERSION);
	cr_assert_str_eq(cipher, "ECDHE-ECDSA-AES128-GCM-SHA256");
	/* A denied TLS 1.3 suite is not agreed. */
	st = server_conf();
	st.ciphers_denied = names1(chacha);
	sdeny = ctx_ok(&st, 1);
	ct.ciphers_allowed = names1(chacha);
	SSL_CTX_free(c);
	c = ctx_ok(&ct, 0);
	cr_assert_eq(shake(c, sdeny, "localhost", 1, NULL, NULL, 0), 0);
	SSL_CTX_free(s13);
	SSL_CTX_free(c12);
	SSL_CTX_free(s12g);
	SSL_CTX_free(c);
	SSL_CTX_free(sdeny);
}

/* Each error names what is wrong, never a password. */
Test(tlsctx, errors_name_the_file)
{
	struct krx_conf_tls	 t = server_conf();
	char			*old[] = { "TLSv1.1" }, *bad[] = { "TLS_NOPE" };
	char			 err[512];

	t.key_file = tpath("client.key");	/* not server.pem's key */
	cr_assert_null(krx_tlsctx_server(&t, err, sizeof(err)));
	cr_assert(strstr(err, "key") != NULL, "%s", err);
	t = server_conf();
	t.key_file = tpath("client-enc.key");
	t.cert_file = tpath("client.pem");
	t.key_password_file = pwfile("not-the-keypass");
	cr_assert_null(krx_tlsctx_server(&t, err, sizeof(err)));
	cr_assert(strstr(err, "wrong password") != NULL &&
	    strstr(err, "client.pem") != NULL, "%s", err);
	cr_assert_null(strstr(err, "not-the-keypass"));
	unlink(t.key_password_file);
	t = server_conf();
	t.key_file = tpath("no-such.key");
	cr_assert_null(krx_tlsctx_server(&t, err, sizeof(err)));
	t = server_conf();
	t.protocols_allowed = names1(old);
	cr_assert_null(krx_tlsctx_server(&t, err, sizeof(err)));
	cr_assert(strstr(err, "TLSv1.1 is not offered") != NULL, "%s", err);
	t = server_conf();
	t.ciphers_allowed = names1(bad);
	cr_assert_null(krx_tlsctx_server(&t, err, sizeof(err)));
	cr_assert(strstr(err, "TLS_NOPE") != NULL, "%s", err);
}
