/*
 * jks_test.c: the Java KeyStore reader (crypto/jks.c) on stores written
 * by keytool (tests/data/tls, made by make.sh): trusted and key entries,
 * the keys equal to their PEM files, passwords (wrong, absent, UTF-8
 * with a surrogate pair, not UTF-8), every flipped byte, every
 * truncation; and on stores built here by an independent writer of the
 * format (version 1, every structural error, the caps, the key
 * protector with bad plaintext).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/buf.h"
#include "common/err.h"
#include "crypto/jks.h"

#define SP	"storepass"
#define KP	"keypass"
#define UNI_PW	"p\xc3\xa4\xe2\x82\xac\xf0\x9d\x84\x9e-jks"
#define PW(s)	(const uint8_t *)(s), strlen(s)
#define NOPW	NULL, 0

static uint8_t *
slurp(const char *name, size_t *len)
{
	const char	*dir = getenv("KRX_TEST_DATA");
	char		 path[512];
	uint8_t		*p;
	FILE		*f;
	long		 n;

	snprintf(path, sizeof(path), "%s/tls/%s", dir != NULL && *dir ?
	    dir : "tests/data", name);
	cr_assert_not_null(f = fopen(path, "rb"), "%s", path);
	cr_assert_eq(fseek(f, 0, SEEK_END), 0);
	cr_assert_geq(n = ftell(f), 0);
	rewind(f);
	cr_assert_not_null(p = malloc((size_t)n + 1));
	cr_assert_eq(fread(p, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return p;
}

static X509 *
pem_cert(const char *name)
{
	uint8_t	*p;
	size_t	 len;
	BIO	*b;
	X509	*x;

	p = slurp(name, &len);
	cr_assert_not_null(b = BIO_new_mem_buf(p, (int)len));
	cr_assert_not_null(x = PEM_read_bio_X509(b, NULL, NULL, NULL));
	BIO_free(b);
	free(p);
	return x;
}

static EVP_PKEY *
pem_key(const char *name)
{
	uint8_t		*p;
	size_t		 len;
	BIO		*b;
	EVP_PKEY	*k;

	p = slurp(name, &len);
	cr_assert_not_null(b = BIO_new_mem_buf(p, (int)len));
	cr_assert_not_null(k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL));
	BIO_free(b);
	free(p);
	return k;
}

static int
load_file(const char *name, const uint8_t *sp, size_t splen,
    const uint8_t *kp, size_t kplen, struct krx_jks **ks)
{
	uint8_t	*p;
	size_t	 len;
	int	 r;

	p = slurp(name, &len);
	r = krx_jks_load(p, len, sp, splen, kp, kplen, ks);
	free(p);
	return r;
}

/* The entry named alias, asserted present. */
static const struct krx_jks_entry *
by_alias(const struct krx_jks *ks, const char *alias)
{
	size_t	 i;

	for (i = 0; i < krx_jks_count(ks); i++)
		if (strcmp(krx_jks_entry(ks, i)->alias, alias) == 0)
			return krx_jks_entry(ks, i);
	cr_assert_fail("no entry %s", alias);
	return NULL;
}

static void
assert_cert(X509 *x, const char *pemname)
{
	X509	*want = pem_cert(pemname);

	cr_assert_not_null(x);
	cr_assert_eq(X509_cmp(x, want), 0, "not %s", pemname);
	X509_free(want);
}

static void
assert_client_entry(const struct krx_jks_entry *e, int with_key)
{
	EVP_PKEY	*want = pem_key("client.key");

	cr_assert_eq(e->kind, KRX_JKS_KEY);
	cr_assert_eq(sk_X509_num(e->certs), 2);
	assert_cert(sk_X509_value(e->certs, 0), "client.pem");
	assert_cert(sk_X509_value(e->certs, 1), "ca.pem");
	if (with_key) {
		cr_assert_not_null(e->pkey);
		cr_assert_eq(EVP_PKEY_eq(e->pkey, want), 1);
	} else
		cr_assert_null(e->pkey);
	EVP_PKEY_free(want);
}

Test(jks, trusted_entries)
{
	struct krx_jks	*ks;

	cr_assert_eq(load_file("trust.jks", PW(SP), NOPW, &ks), KRX_OK);
	cr_assert_eq(krx_jks_count(ks), 2);
	cr_assert_eq(by_alias(ks, "ca")->kind, KRX_JKS_CERT);
	cr_assert_eq(sk_X509_num(by_alias(ks, "ca")->certs), 1);
	assert_cert(sk_X509_value(by_alias(ks, "ca")->certs, 0), "ca.pem");
	assert_cert(sk_X509_value(by_alias(ks, "other")->certs, 0),
	    "other-ca.pem");
	cr_assert_null(by_alias(ks, "other")->pkey);
	/* keytool's time stamps: after 2020, milliseconds. */
	cr_assert_gt(by_alias(ks, "ca")->created_ms, 1577836800000LL);
	cr_assert_null(krx_jks_entry(ks, 2));
	krx_jks_free(ks);
}

Test(jks, key_entry_equals_the_pem_key)
{
	struct krx_jks	*ks;

	cr_assert_eq(load_file("client.jks", PW(SP), PW(KP), &ks), KRX_OK);
	cr_assert_eq(krx_jks_count(ks), 1);
	cr_assert_str_eq(krx_jks_entry(ks, 0)->alias, "client");
	assert_client_entry(krx_jks_entry(ks, 0), 1);
	krx_jks_free(ks);
}

Test(jks, several_keys_and_a_trusted_certificate)
{
	const struct krx_jks_entry	*e;
	struct krx_jks			*ks;
	EVP_PKEY			*want = pem_key("server.key");

	cr_assert_eq(load_file("multi.jks", PW(SP), PW(KP), &ks), KRX_OK);
	cr_assert_eq(krx_jks_count(ks), 3);
	assert_client_entry(by_alias(ks, "client"), 1);
	e = by_alias(ks, "server");
	cr_assert_eq(e->kind, KRX_JKS_KEY);
	cr_assert_eq(EVP_PKEY_eq(e->pkey, want), 1);
	assert_cert(sk_X509_value(e->certs, 0), "server.pem");
	cr_assert_eq(by_alias(ks, "ca")->kind, KRX_JKS_CERT);
	krx_jks_free(ks);
	EVP_PKEY_free(want);
}

Test(jks, passwords)
{
	struct krx_jks	*ks = (struct krx_jks *)1;

	/* No store password: no digest check; no key password: no keys. */
	cr_assert_eq(load_file("client.jks", NOPW, NOPW, &ks), KRX_OK);
	assert_client_entry(krx_jks_entry(ks, 0), 0);
	krx_jks_free(ks);
	cr_assert_eq(load_file("client.jks", NOPW, PW(KP), &ks), KRX_OK);
	assert_client_entry(krx_jks_entry(ks, 0), 1);
	krx_jks_free(ks);

	cr_assert_eq(load_file("client.jks", PW("storepasS"), PW(KP), &ks),
	    KRX_E_CRYPTO);
	cr_assert_null(ks);
	cr_assert_eq(load_file("client.jks", PW(""), NOPW, &ks),
	    KRX_E_CRYPTO);
	cr_assert_eq(load_file("client.jks", PW(SP), PW(SP), &ks),
	    KRX_E_CRYPTO);
	cr_assert_eq(load_file("client.jks", NOPW, PW("keypas"), &ks),
	    KRX_E_CRYPTO);
	/* Every key must recover with the key password, as in Java. */
	cr_assert_eq(load_file("multi.jks", PW(SP), PW("x"), &ks),
	    KRX_E_CRYPTO);
}

Test(jks, utf8_passwords_are_utf16_in_java)
{
	struct krx_jks	*ks;

	cr_assert_eq(load_file("unicode.jks", PW(UNI_PW), PW(UNI_PW), &ks),
	    KRX_OK);
	assert_client_entry(krx_jks_entry(ks, 0), 1);
	krx_jks_free(ks);
	/* Without the character outside the BMP: another password. */
	cr_assert_eq(load_file("unicode.jks", PW("p\xc3\xa4\xe2\x82\xac-jks"),
	    NOPW, &ks), KRX_E_CRYPTO);
	/* Not UTF-8: Latin-1, a lone continuation byte, an overlong "/",
	 * a UTF-16 surrogate, a truncated sequence, over U+10FFFF. */
	cr_assert_eq(load_file("unicode.jks", PW("p\xe4-jks"), NOPW, &ks),
	    KRX_E_CONFIG);
	cr_assert_eq(load_file("unicode.jks", PW("\x80"), NOPW, &ks),
	    KRX_E_CONFIG);
	cr_assert_eq(load_file("unicode.jks", PW("\xc0\xaf"), NOPW, &ks),
	    KRX_E_CONFIG);
	cr_assert_eq(load_file("unicode.jks", PW("\xed\xa0\x80"), NOPW, &ks),
	    KRX_E_CONFIG);
	cr_assert_eq(load_file("unicode.jks", PW("ab\xe2\x82"), NOPW, &ks),
	    KRX_E_CONFIG);
	cr_assert_eq(load_file("unicode.jks", PW("\xf4\x90\x80\x80"), NOPW,
	    &ks), KRX_E_CONFIG);
	cr_assert_eq(load_file("unicode.jks", NOPW, PW("\xff"), &ks),
	    KRX_E_CONFIG);
}

/*
 * Flip each byte of a keytool store: never accepted with the passwords;
 * KRX_E_CRYPTO whenever the structure survives (the same bytes load
 * without passwords).
 */
static void
flip_every_byte(const char *name, const char *kp)
{
	struct krx_jks	*ks;
	uint8_t		*p;
	size_t		 len, i;
	int		 r, rs, crypto = 0;

	p = slurp(name, &len);
	for (i = 0; i < len; i++) {
		p[i] ^= 0x41;
		r = krx_jks_load(p, len, PW(SP), kp ? (const uint8_t *)kp :
		    NULL, kp ? strlen(kp) : 0, &ks);
		cr_assert_neq(r, KRX_OK, "%s: byte %zu", name, i);
		cr_assert_null(ks);
		rs = krx_jks_load(p, len, NOPW, NOPW, &ks);
		krx_jks_free(ks);
		if (rs == KRX_OK || i >= len - KRX_JKS_DIGEST_LEN) {
			cr_assert_eq(r, KRX_E_CRYPTO, "%s: byte %zu: %d",
			    name, i, r);
			crypto++;
		}
		p[i] ^= 0x41;
	}
	/* Most bytes are certificate and key contents. */
	cr_assert_gt(crypto, (int)(len / 2));
	free(p);
}

Test(jks, every_flipped_byte_fails)
{
	flip_every_byte("trust.jks", NULL);
	flip_every_byte("client.jks", KP);
}

Test(jks, a_changed_key_fails_its_check_without_store_password)
{
	struct krx_jks	*ks;
	uint8_t		*p;
	size_t		 len, i, start;
	int		 r;

	/* client.jks: header, tag, "client", time, key length, key. */
	p = slurp("client.jks", &len);
	start = 12 + 4 + 2 + 6 + 8 + 4;
	/* The octet string's contents: its last 200 bytes at least. */
	for (i = start + 300; i < start + 500; i++) {
		p[i] ^= 0x01;
		r = krx_jks_load(p, len, NOPW, PW(KP), &ks);
		cr_assert_eq(r, KRX_E_CRYPTO, "byte %zu: %d", i, r);
		p[i] ^= 0x01;
	}
	free(p);
}

Test(jks, every_truncation_is_truncated)
{
	static const char *const names[] = { "trust.jks", "multi.jks" };
	struct krx_jks		*ks;
	uint8_t			*p, *q;
	size_t			 len, i, n;

	for (n = 0; n < 2; n++) {
		p = slurp(names[n], &len);
		for (i = 0; i < len; i++) {
			/* A copy of exactly i bytes, for ASan. */
			cr_assert_not_null(q = malloc(i + 1));
			memcpy(q, p, i);
			cr_assert_eq(krx_jks_load(q, i, PW(SP), PW(KP), &ks),
			    KRX_E_TRUNCATED, "%s: %zu", names[n], i);
			cr_assert_eq(krx_jks_load(q, i, NOPW, NOPW, &ks),
			    KRX_E_TRUNCATED, "%s: %zu", names[n], i);
			free(q);
		}
		free(p);
	}
}

/*
 * An independent writer of JKS stores, for what keytool does not make.
 */

static void
jb_utf(struct krx_buf *b, const char *s, size_t len)
{
	krx_buf_put_be16(b, (uint16_t)len);
	krx_buf_put(b, s, len);
}

static void
jb_header(struct krx_buf *b, uint32_t magic, uint32_t version, uint32_t n)
{
	cr_assert_eq(krx_buf_init(b, 0), KRX_OK);
	krx_buf_put_be32(b, magic);
	krx_buf_put_be32(b, version);
	krx_buf_put_be32(b, n);
}

static void
jb_cert(struct krx_buf *b, uint32_t version, X509 *x)
{
	uint8_t	*der = NULL;
	int	 n;

	cr_assert_gt(n = i2d_X509(x, &der), 0);
	if (version == 2)
		jb_utf(b, "X.509", 5);
	krx_buf_put_be32(b, (uint32_t)n);
	krx_buf_put(b, der, (size_t)n);
	OPENSSL_free(der);
}

static void
jb_trusted(struct krx_buf *b, uint32_t version, const char *alias, X509 *x)
{
	krx_buf_put_be32(b, 2);
	jb_utf(b, alias, strlen(alias));
	krx_buf_put_be64(b, 1700000000000ULL);
	jb_cert(b, version, x);
}

/* pw (ASCII) as UTF-16BE into b. */
static void
jb_pw16(struct krx_buf *b, const char *pw)
{
	for (; *pw != '\0'; pw++) {
		krx_buf_put_u8(b, 0);
		krx_buf_put_u8(b, (uint8_t)*pw);
	}
}

static void
jb_sha1(const struct krx_buf *pw16, const void *p, size_t len,
    uint8_t out[20])
{
	EVP_MD_CTX	*md;

	cr_assert_not_null(md = EVP_MD_CTX_new());
	cr_assert_eq(EVP_DigestInit_ex(md, EVP_sha1(), NULL), 1);
	EVP_DigestUpdate(md, pw16->data, pw16->len);
	EVP_DigestUpdate(md, p, len);
	cr_assert_eq(EVP_DigestFinal_ex(md, out, NULL), 1);
	EVP_MD_CTX_free(md);
}

/* Append the store digest under pw. */
static void
jb_finish(struct krx_buf *b, const char *pw)
{
	struct krx_buf	 pw16;
	uint8_t		 d[20];

	krx_buf_init(&pw16, 0);
	jb_pw16(&pw16, pw);
	krx_buf_put(&pw16, "Mighty Aphrodite", 16);
	jb_sha1(&pw16, b->data, b->len, d);
	krx_buf_put(b, d, sizeof(d));
	cr_assert_eq(b->err, KRX_OK);
	krx_buf_free(&pw16);
}

/* The key protector of jks.h over plain, as an EncryptedPrivateKeyInfo
 * under the OID oid. */
static void
jb_protect(const uint8_t *plain, size_t n, const char *pw, const char *oid,
    struct krx_buf *blob)
{
	struct krx_buf	 pw16, enc;
	X509_SIG	*sig;
	X509_ALGOR	*alg;
	ASN1_OCTET_STRING *os;
	uint8_t		 d[20], *der = NULL;
	size_t		 i;
	int		 len;

	krx_buf_init(&pw16, 0);
	krx_buf_init(&enc, 0);
	jb_pw16(&pw16, pw);
	memset(d, 0x5a, sizeof(d));
	krx_buf_put(&enc, d, sizeof(d));
	for (i = 0; i < n; i++) {
		if (i % 20 == 0) {
			struct krx_buf	 in;

			krx_buf_init(&in, 0);
			krx_buf_put(&in, pw16.data, pw16.len);
			krx_buf_put(&in, d, sizeof(d));
			jb_sha1(&in, "", 0, d);
			krx_buf_free(&in);
		}
		krx_buf_put_u8(&enc, plain[i] ^ d[i % 20]);
	}
	jb_sha1(&pw16, plain, n, d);
	krx_buf_put(&enc, d, sizeof(d));
	cr_assert_not_null(sig = X509_SIG_new());
	X509_SIG_getm(sig, &alg, &os);
	cr_assert_eq(X509_ALGOR_set0(alg, OBJ_txt2obj(oid, 1), V_ASN1_NULL,
	    NULL), 1);
	cr_assert_eq(ASN1_OCTET_STRING_set(os, enc.data, (int)enc.len), 1);
	cr_assert_gt(len = i2d_X509_SIG(sig, &der), 0);
	cr_assert_eq(krx_buf_init(blob, 0), KRX_OK);
	krx_buf_put(blob, der, (size_t)len);
	OPENSSL_free(der);
	X509_SIG_free(sig);
	krx_buf_free(&pw16);
	krx_buf_free(&enc);
}

static void
jb_key(struct krx_buf *b, const char *alias, const struct krx_buf *blob,
    X509 **chain, size_t n)
{
	size_t	 i;

	krx_buf_put_be32(b, 1);
	jb_utf(b, alias, strlen(alias));
	krx_buf_put_be64(b, 1700000000000ULL);
	krx_buf_put_be32(b, (uint32_t)blob->len);
	krx_buf_put(b, blob->data, blob->len);
	krx_buf_put_be32(b, (uint32_t)n);
	for (i = 0; i < n; i++)
		jb_cert(b, 2, chain[i]);
}

static int
jb_load(struct krx_buf *b, struct krx_jks **ks)
{
	int	 r;

	r = krx_jks_load(b->data, b->len, PW(SP), PW(KP), ks);
	krx_buf_free(b);
	return r;
}

/* The client key as DER PKCS#8, with extra trailing bytes. */
static void
client_pkcs8(struct krx_buf *out, size_t extra)
{
	PKCS8_PRIV_KEY_INFO	*p8;
	EVP_PKEY		*k = pem_key("client.key");
	uint8_t			*der = NULL;
	int			 len;

	cr_assert_not_null(p8 = EVP_PKEY2PKCS8(k));
	cr_assert_gt(len = i2d_PKCS8_PRIV_KEY_INFO(p8, &der), 0);
	krx_buf_init(out, 0);
	krx_buf_put(out, der, (size_t)len);
	while (extra-- > 0)
		krx_buf_put_u8(out, 0);
	OPENSSL_clear_free(der, (size_t)len);
	PKCS8_PRIV_KEY_INFO_free(p8);
	EVP_PKEY_free(k);
}

Test(jks, written_here_version_1_and_2)
{
	struct krx_jks	*ks;
	struct krx_buf	 b, plain, blob;
	X509		*ca = pem_cert("ca.pem"), *cl = pem_cert("client.pem");
	X509		*chain[2] = { cl, ca };
	uint32_t	 v;

	for (v = 1; v <= 2; v++) {
		jb_header(&b, KRX_JKS_MAGIC, v, 1);
		jb_trusted(&b, v, "ca", ca);
		jb_finish(&b, SP);
		cr_assert_eq(jb_load(&b, &ks), KRX_OK, "version %u", v);
		cr_assert_eq(krx_jks_entry(ks, 0)->created_ms,
		    1700000000000LL);
		assert_cert(sk_X509_value(krx_jks_entry(ks, 0)->certs, 0),
		    "ca.pem");
		krx_jks_free(ks);
	}
	/* A key protected here is recovered. */
	client_pkcs8(&plain, 0);
	jb_protect(plain.data, plain.len, KP, "1.3.6.1.4.1.42.2.17.1.1",
	    &blob);
	jb_header(&b, KRX_JKS_MAGIC, 2, 2);
	jb_key(&b, "mine", &blob, chain, 2);
	jb_trusted(&b, 2, "ca", ca);
	jb_finish(&b, SP);
	cr_assert_eq(jb_load(&b, &ks), KRX_OK);
	assert_client_entry(krx_jks_entry(ks, 0), 1);
	krx_jks_free(ks);
	krx_buf_free_secret(&plain);
	krx_buf_free(&blob);
	X509_free(ca);
	X509_free(cl);
}

Test(jks, key_protector_errors)
{
	struct krx_jks	*ks;
	struct krx_buf	 b, plain, blob;
	X509		*cl = pem_cert("client.pem");

	/* Another algorithm OID. */
	client_pkcs8(&plain, 0);
	jb_protect(plain.data, plain.len, KP, "1.3.6.1.4.1.42.2.17.1.2",
	    &blob);
	jb_header(&b, KRX_JKS_MAGIC, 2, 1);
	jb_key(&b, "k", &blob, &cl, 1);
	jb_finish(&b, SP);
	cr_assert_eq(jb_load(&b, &ks), KRX_E_UNSUPPORTED);
	krx_buf_free(&blob);
	krx_buf_free_secret(&plain);
	/* A right check over a plaintext with a byte after the PKCS#8. */
	client_pkcs8(&plain, 1);
	jb_protect(plain.data, plain.len, KP, "1.3.6.1.4.1.42.2.17.1.1",
	    &blob);
	jb_header(&b, KRX_JKS_MAGIC, 2, 1);
	jb_key(&b, "k", &blob, &cl, 1);
	jb_finish(&b, SP);
	cr_assert_eq(jb_load(&b, &ks), KRX_E_MALFORMED);
	krx_buf_free(&blob);
	/* Only one byte of plaintext, not DER. */
	jb_protect(plain.data, 1, KP, "1.3.6.1.4.1.42.2.17.1.1", &blob);
	jb_header(&b, KRX_JKS_MAGIC, 2, 1);
	jb_key(&b, "k", &blob, &cl, 1);
	jb_finish(&b, SP);
	cr_assert_eq(jb_load(&b, &ks), KRX_E_MALFORMED);
	krx_buf_free(&blob);
	/* Not even an EncryptedPrivateKeyInfo; no key password needed. */
	krx_buf_init(&blob, 0);
	krx_buf_put(&blob, "\x30\x00", 2);
	jb_header(&b, KRX_JKS_MAGIC, 2, 1);
	jb_key(&b, "k", &blob, &cl, 1);
	jb_finish(&b, SP);
	cr_assert_eq(krx_jks_load(b.data, b.len, PW(SP), NOPW, &ks),
	    KRX_E_MALFORMED);
	krx_buf_free(&b);
	krx_buf_free(&blob);
	krx_buf_free_secret(&plain);
	X509_free(cl);
}

Test(jks, header_errors)
{
	struct krx_jks	*ks;
	struct krx_buf	 b;

	jb_header(&b, 0xCECECECE, 2, 0);	/* JCEKS */
	jb_finish(&b, SP);
	cr_assert_eq(jb_load(&b, &ks), KRX_E_UNSUPPORTED);
	jb_header(&b, 0xFEEDFEEC, 2, 0);
	jb_finish(&b, SP);
	cr_assert_eq(jb_load(&b, &ks), KRX_E_MALFORMED);
	jb_header(&b, KRX_JKS_MAGIC, 3, 0);
	jb_finish(&b, SP);
	cr_assert_eq(jb_load(&b, &ks), KRX_E_UNSUPPORTED);
	/* An empty store is a store. */
	jb_header(&b, KRX_JKS_MAGIC, 2, 0);
	jb_finish(&b, SP);
	cr_assert_eq(jb_load(&b, &ks), KRX_OK);
	cr_assert_eq(krx_jks_count(ks), 0);
	krx_jks_free(ks);
	/* Trailing byte after the digest. */
	jb_header(&b, KRX_JKS_MAGIC, 2, 0);
	jb_finish(&b, SP);
	krx_buf_put_u8(&b, 0);
	cr_assert_eq(jb_load(&b, &ks), KRX_E_TRAILING);
}

Test(jks, entry_errors)
{
	struct krx_jks	*ks;
	struct krx_buf	 b, blob;
	X509		*ca = pem_cert("ca.pem");
	X509		*chain[KRX_JKS_CHAIN_MAX + 1];
	size_t		 i;

	/* Unknown tag (3 is JCEKS's secret key). */
	jb_header(&b, KRX_JKS_MAGIC, 2, 1);
	jb_trusted(&b, 2, "ca", ca);
	b.data[12 + 3] = 3;
	jb_finish(&b, SP);
	cr_assert_eq(jb_load(&b, &ks), KRX_E_MALFORMED);
	/* Duplicate, empty and NUL-carrying aliases. */
	jb_header(&b, KRX_JKS_MAGIC, 2, 2);
	jb_trusted(&b, 2, "ca", ca);
	jb_trusted(&b, 2, "ca", ca);
	jb_finish(&b, SP);
	cr_assert_eq(jb_load(&b, &ks), KRX_E_MALFORMED);
	jb_header(&b, KRX_JKS_MAGIC, 2, 1);
	jb_trusted(&b, 2, "", ca);
	jb_finish(&b, SP);
	cr_assert_eq(jb_load(&b, &ks), KRX_E_MALFORMED);
	jb_header(&b, KRX_JKS_MAGIC, 2, 1);
	krx_buf_put_be32(&b, 2);
	jb_utf(&b, "c\0a", 3);
	krx_buf_put_be64(&b, 0);
	jb_cert(&b, 2, ca);
	jb_finish(&b, SP);
	cr_assert_eq(jb_load(&b, &ks), KRX_E_MALFORMED);
	/* Another certificate type. */
	jb_header(&b, KRX_JKS_MAGIC, 2, 1);
	jb_trusted(&b, 2, "ca", ca);
	b.data[12 + 4 + 4 + 8 + 2 + 4] = '0';	/* "X.500" */
	jb_finish(&b, SP);
	cr_assert_eq(jb_load(&b, &ks), KRX_E_UNSUPPORTED);
	/* A certificate with a byte after its DER (version 1: no type). */
	jb_header(&b, KRX_JKS_MAGIC, 1, 1);
	jb_trusted(&b, 1, "ca", ca);
	krx_buf_set_be32(&b, 12 + 4 + 4 + 8,
	    (uint32_t)(b.len - (12 + 4 + 4 + 8 + 4) + 1));
	krx_buf_put_u8(&b, 0);
	jb_finish(&b, SP);
	cr_assert_eq(jb_load(&b, &ks), KRX_E_MALFORMED);
	/* A certificate of 0 bytes. */
	jb_header(&b, KRX_JKS_MAGIC, 1, 1);
	krx_buf_put_be32(&b, 2);
	jb_utf(&b, "b", 1);
	krx_buf_put_be64(&b, 0);
	krx_buf_put_be32(&b, 0);
	krx_buf_put_u8(&b, 0);	/* an entry's minimum size */
	jb_finish(&b, SP);
	cr_assert_eq(jb_load(&b, &ks), KRX_E_MALFORMED);
	/* A chain over the cap, before any certificate is decoded. */
	krx_buf_init(&blob, 0);
	krx_buf_put(&blob, "\x30\x00", 2);
	for (i = 0; i <= KRX_JKS_CHAIN_MAX; i++)
		chain[i] = ca;
	jb_header(&b, KRX_JKS_MAGIC, 2, 1);
	jb_key(&b, "k", &blob, chain, KRX_JKS_CHAIN_MAX + 1);
	jb_finish(&b, SP);
	cr_assert_eq(jb_load(&b, &ks), KRX_E_TOO_BIG);
	krx_buf_free(&blob);
	X509_free(ca);
}

Test(jks, caps)
{
	struct krx_jks	*ks;
	struct krx_buf	 b;
	uint8_t		*big;
	char		 alias[8];
	X509		*ca = pem_cert("ca.pem");
	size_t		 i;

	/* More entries than the cap, or than the bytes can hold. */
	jb_header(&b, KRX_JKS_MAGIC, 2, KRX_JKS_ENTRIES_MAX + 1);
	cr_assert_eq(krx_buf_extend(&b, 40000) != NULL, 1);
	jb_finish(&b, SP);
	cr_assert_eq(jb_load(&b, &ks), KRX_E_TOO_BIG);
	jb_header(&b, KRX_JKS_MAGIC, 2, 100);
	cr_assert_eq(krx_buf_extend(&b, 50 * 20) != NULL, 1);
	jb_finish(&b, SP);
	cr_assert_eq(jb_load(&b, &ks), KRX_E_TRUNCATED);
	/* The cap itself is allowed. */
	jb_header(&b, KRX_JKS_MAGIC, 2, KRX_JKS_ENTRIES_MAX);
	for (i = 0; i < KRX_JKS_ENTRIES_MAX; i++) {
		snprintf(alias, sizeof(alias), "c%zu", i);
		jb_trusted(&b, 2, alias, ca);
	}
	jb_finish(&b, SP);
	cr_assert_leq(b.len, KRX_JKS_FILE_MAX);
	cr_assert_eq(jb_load(&b, &ks), KRX_OK);
	cr_assert_eq(krx_jks_count(ks), KRX_JKS_ENTRIES_MAX);
	krx_jks_free(ks);
	/* File and password sizes. */
	cr_assert_not_null(big = calloc(1, KRX_JKS_FILE_MAX + 1));
	cr_assert_eq(krx_jks_load(big, KRX_JKS_FILE_MAX + 1, NOPW, NOPW, &ks),
	    KRX_E_TOO_BIG);
	memset(big, 'a', KRX_JKS_PW_MAX + 1);
	cr_assert_eq(krx_jks_load(big, 12, big, KRX_JKS_PW_MAX + 1, NOPW,
	    &ks), KRX_E_TOO_BIG);
	free(big);
	X509_free(ca);
}
