/*
 * fuzz_jks.c: libFuzzer harness for the Java KeyStore reader
 * (crypto/jks.c: krx_jks_load and the entries it gives).
 *
 * The input is a JKS file. It is loaded three ways: without passwords,
 * with the key password "keypass" only, and, after its last 20 bytes are
 * replaced by the right digest under "storepass", with both passwords.
 * Besides "no crash, no leak" it checks:
 *   - every result is one jks.h documents, and no store comes back on
 *     error;
 *   - the right digest changes nothing: when the plain load worked
 *     (so the last 20 bytes are only the digest), the third load gives
 *     what the second gave, and the same entries;
 *   - a store that loads has unique, non-empty aliases, one certificate
 *     per trusted entry, at most KRX_JKS_CHAIN_MAX per key, a key in
 *     every key entry exactly when a key password was given;
 *   - a store that loads without passwords, cut by one byte, is
 *     KRX_E_TRUNCATED.
 *
 * Seeds (tests/fuzz/corpus/jks): the keytool stores of tests/data/tls
 * (trust.jks, client.jks, multi.jks).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/err.h"
#include "crypto/jks.h"
#include "tests/fuzz/fuzz_common.h"

#define FZ_SP	"storepass"
#define FZ_KP	"keypass"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int
fz_documented(int r)
{
	return r == KRX_OK || r == KRX_E_TRUNCATED || r == KRX_E_TRAILING ||
	    r == KRX_E_TOO_BIG || r == KRX_E_UNSUPPORTED ||
	    r == KRX_E_MALFORMED || r == KRX_E_CRYPTO || r == KRX_E_NOMEM;
}

static void
fz_entries(const struct krx_jks *ks, int keys)
{
	const struct krx_jks_entry	*e;
	size_t				 i, j, n = krx_jks_count(ks);

	fz_check(krx_jks_entry(ks, n) == NULL);
	for (i = 0; i < n; i++) {
		e = krx_jks_entry(ks, i);
		fz_check(e->alias[0] != '\0');
		for (j = 0; j < i; j++)
			fz_check(strcmp(krx_jks_entry(ks, j)->alias,
			    e->alias) != 0);
		if (e->kind == KRX_JKS_CERT) {
			fz_check(sk_X509_num(e->certs) == 1 &&
			    e->pkey == NULL);
			continue;
		}
		fz_check(e->kind == KRX_JKS_KEY &&
		    sk_X509_num(e->certs) <= KRX_JKS_CHAIN_MAX);
		fz_check(keys ? e->pkey != NULL : e->pkey == NULL);
	}
}

/* Two loads of the same entries agree (keys aside). */
static void
fz_same(const struct krx_jks *a, const struct krx_jks *b)
{
	const struct krx_jks_entry	*x, *y;
	size_t				 i;
	int				 j;

	fz_check(krx_jks_count(a) == krx_jks_count(b));
	for (i = 0; i < krx_jks_count(a); i++) {
		x = krx_jks_entry(a, i);
		y = krx_jks_entry(b, i);
		fz_check(x->kind == y->kind && x->created_ms == y->created_ms &&
		    strcmp(x->alias, y->alias) == 0 &&
		    sk_X509_num(x->certs) == sk_X509_num(y->certs));
		for (j = 0; j < sk_X509_num(x->certs); j++)
			fz_check(X509_cmp(sk_X509_value(x->certs, j),
			    sk_X509_value(y->certs, j)) == 0);
	}
}

/* A copy of data whose last 20 bytes are the digest under FZ_SP. */
static uint8_t *
fz_redigest(const uint8_t *data, size_t size)
{
	static const uint8_t	 sp16[] = { 0, 's', 0, 't', 0, 'o', 0, 'r',
	    0, 'e', 0, 'p', 0, 'a', 0, 's', 0, 's' };
	EVP_MD_CTX		*md;
	uint8_t			*p;
	size_t			 body = size - KRX_JKS_DIGEST_LEN;

	fz_check((p = malloc(size)) != NULL &&
	    (md = EVP_MD_CTX_new()) != NULL);
	memcpy(p, data, size);
	fz_check(EVP_DigestInit_ex(md, EVP_sha1(), NULL) == 1 &&
	    EVP_DigestUpdate(md, sp16, sizeof(sp16)) == 1 &&
	    EVP_DigestUpdate(md, "Mighty Aphrodite", 16) == 1 &&
	    EVP_DigestUpdate(md, p, body) == 1 &&
	    EVP_DigestFinal_ex(md, p + body, NULL) == 1);
	EVP_MD_CTX_free(md);
	return p;
}

static int
fz_load(const uint8_t *p, size_t n, int sp, int kp, struct krx_jks **ks)
{
	int	 r;

	*ks = (struct krx_jks *)1;
	r = krx_jks_load(p, n, sp ? (const uint8_t *)FZ_SP : NULL,
	    sp ? strlen(FZ_SP) : 0, kp ? (const uint8_t *)FZ_KP : NULL,
	    kp ? strlen(FZ_KP) : 0, ks);
	fz_check(fz_documented(r));
	fz_check(r == KRX_OK ? *ks != NULL : *ks == NULL);
	if (r == KRX_OK)
		fz_entries(*ks, kp);
	return r;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct krx_jks	*plain, *keyed, *checked;
	uint8_t		*fixed, *cut;
	int		 r0, r1, r2;

	r0 = fz_load(data, size, 0, 0, &plain);
	r1 = fz_load(data, size, 0, 1, &keyed);
	if (r0 == KRX_OK && size > 0) {
		fz_check((cut = malloc(size - 1 + 1)) != NULL);
		memcpy(cut, data, size - 1);
		fz_check(krx_jks_load(cut, size - 1, NULL, 0, NULL, 0,
		    &checked) == KRX_E_TRUNCATED && checked == NULL);
		free(cut);
		/* Only key recovery can fail where the plain load did not. */
		fz_check(r1 == KRX_OK || r1 == KRX_E_CRYPTO ||
		    r1 == KRX_E_MALFORMED || r1 == KRX_E_NOMEM);
	}
	if (size >= KRX_JKS_DIGEST_LEN && size <= KRX_JKS_FILE_MAX) {
		fixed = fz_redigest(data, size);
		r2 = fz_load(fixed, size, 1, 1, &checked);
		/* Same structure (the plain load walked it): same result. */
		fz_check(r0 != KRX_OK || r2 == r1);
		if (r0 == KRX_OK && r2 == KRX_OK)
			fz_same(keyed, checked);
		krx_jks_free(checked);
		free(fixed);
	}
	if (r0 == KRX_OK && r1 == KRX_OK)
		fz_same(plain, keyed);
	krx_jks_free(plain);
	krx_jks_free(keyed);
	return 0;
}
