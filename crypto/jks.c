/*
 * jks.c: the Java KeyStore (JKS) reader; jks.h describes the format.
 * Library grade. keysvc runs it on TLS store files named by the
 * configuration and trusts nothing in their bytes: the structure is
 * walked with lengths only, the store digest checked (when a password is
 * given), and only then are certificates and keys decoded.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "common/buf.h"
#include "common/err.h"
#include "crypto/jks.h"

#define JKS_JCEKS_MAGIC	0xCECECECEu
#define JKS_SALT_LEN	20
/* The smallest entry (version 1 trusted certificate): tag, a 1-byte
 * alias, time, certificate length, a 1-byte certificate. */
#define JKS_ENTRY_MIN	(4 + 2 + 1 + 8 + 4 + 1)

/* 1.3.6.1.4.1.42.2.17.1.1, Sun's JKS key protector, DER contents. */
static const uint8_t jks_keyprot_oid[] = {
	0x2b, 0x06, 0x01, 0x04, 0x01, 0x2a, 0x02, 0x11, 0x01, 0x01
};
static const char jks_whitener[] = "Mighty Aphrodite";

struct krx_jks {
	struct krx_jks_entry	*e;
	size_t			 n;
};

/* A password as Java's char[] holds it: UTF-16BE. */
struct jks_pw {
	uint8_t	*p;
	size_t	 len;
	size_t	 cap;
	int	 set;
};

/* One strict UTF-8 sequence at s: its length, or 0 if invalid. */
static size_t
jks_utf8_next(const uint8_t *s, size_t left, uint32_t *cp)
{
	static const uint32_t	 min[] = { 0, 0, 0x80, 0x800, 0x10000 };
	static const uint8_t	 lead[] = { 0, 0x7f, 0x1f, 0x0f, 0x07 };
	uint32_t		 c = s[0];
	size_t			 n, i;

	if (c < 0x80)
		n = 1;
	else if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	c &= lead[n];
	if (n > left)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if (c < min[n] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

static void
jks_pw_put(struct jks_pw *pw, uint32_t unit)
{
	pw->p[pw->len++] = unit >> 8;
	pw->p[pw->len++] = unit & 0xff;
}

/* pw = the UTF-8 password s as UTF-16BE; s NULL: no password. */
static int
jks_pw_init(struct jks_pw *pw, const uint8_t *s, size_t len)
{
	uint32_t	 cp;
	size_t		 i, n;

	if (s == NULL)
		return KRX_OK;
	if (len > KRX_JKS_PW_MAX)
		return KRX_E_TOO_BIG;
	/* Every UTF-8 byte gives at most 2 bytes of UTF-16. */
	pw->cap = 2 * len + 1;
	if ((pw->p = malloc(pw->cap)) == NULL)
		return KRX_E_NOMEM;
	pw->set = 1;
	for (i = 0; i < len; i += n) {
		if ((n = jks_utf8_next(s + i, len - i, &cp)) == 0)
			return KRX_E_CONFIG;
		if (cp >= 0x10000) {
			cp -= 0x10000;
			jks_pw_put(pw, 0xd800 | cp >> 10);
			cp = 0xdc00 | (cp & 0x3ff);
		}
		jks_pw_put(pw, cp);
	}
	return KRX_OK;
}

static void
jks_pw_free(struct jks_pw *pw)
{
	if (pw->p != NULL)
		OPENSSL_cleanse(pw->p, pw->cap);
	free(pw->p);
	memset(pw, 0, sizeof(*pw));
}

/* out = SHA-1(a || b || c). */
static int
jks_sha1(EVP_MD_CTX *md, const void *a, size_t alen, const void *b,
    size_t blen, const void *c, size_t clen,
    uint8_t out[KRX_JKS_DIGEST_LEN])
{
	if (EVP_DigestInit_ex(md, EVP_sha1(), NULL) != 1 ||
	    EVP_DigestUpdate(md, a, alen) != 1 ||
	    EVP_DigestUpdate(md, b, blen) != 1 ||
	    EVP_DigestUpdate(md, c, clen) != 1 ||
	    EVP_DigestFinal_ex(md, out, NULL) != 1)
		return KRX_E_CRYPTO;
	return KRX_OK;
}

/* A writeUTF string: 16-bit length, bytes. */
static int
jks_get_utf(struct krx_cur *c, const uint8_t **p, size_t *len)
{
	uint16_t	 n;
	int		 r;

	if ((r = krx_cur_get_be16(c, &n)) != KRX_OK)
		return r;
	*len = n;
	return krx_cur_get_ref(c, n, p);
}

/* One certificate of an entry; certs NULL: walk only. */
static int
jks_cert(struct krx_cur *c, uint32_t version, STACK_OF(X509) *certs)
{
	const uint8_t	*p, *end;
	size_t		 tlen;
	uint32_t	 len;
	X509		*x;
	int		 r;

	if (version == 2) {
		if ((r = jks_get_utf(c, &p, &tlen)) != KRX_OK)
			return r;
		if (tlen != 5 || memcmp(p, "X.509", 5) != 0)
			return KRX_E_UNSUPPORTED;
	}
	if ((r = krx_cur_get_be32(c, &len)) != KRX_OK ||
	    (r = krx_cur_get_ref(c, len, &p)) != KRX_OK)
		return r;
	if (len == 0)
		return KRX_E_MALFORMED;
	if (certs == NULL)
		return KRX_OK;
	end = p + len;
	if ((x = d2i_X509(NULL, &p, (long)len)) == NULL || p != end) {
		X509_free(x);
		return KRX_E_MALFORMED;
	}
	if (sk_X509_push(certs, x) == 0) {
		X509_free(x);
		return KRX_E_NOMEM;
	}
	return KRX_OK;
}

/*
 * The encrypted bytes of a protected key (an EncryptedPrivateKeyInfo
 * under the Sun key protector), checked; *sig owns them.
 */
static int
jks_key_unwrap(const uint8_t *blob, size_t len, X509_SIG **sig,
    const uint8_t **enc, size_t *enclen)
{
	const ASN1_OCTET_STRING	*os;
	const ASN1_OBJECT	*oid;
	const X509_ALGOR	*alg;
	const uint8_t		*p = blob;
	const void		*pval;
	int			 ptype;

	if ((*sig = d2i_X509_SIG(NULL, &p, (long)len)) == NULL ||
	    p != blob + len)
		return KRX_E_MALFORMED;
	X509_SIG_get0(*sig, &alg, &os);
	X509_ALGOR_get0(&oid, &ptype, &pval, alg);
	if (OBJ_length(oid) != sizeof(jks_keyprot_oid) ||
	    memcmp(OBJ_get0_data(oid), jks_keyprot_oid,
	    sizeof(jks_keyprot_oid)) != 0)
		return KRX_E_UNSUPPORTED;
	if (ptype != V_ASN1_UNDEF && ptype != V_ASN1_NULL)
		return KRX_E_MALFORMED;
	*enc = ASN1_STRING_get0_data(os);
	*enclen = (size_t)ASN1_STRING_length(os);
	if (*enclen <= JKS_SALT_LEN + KRX_JKS_DIGEST_LEN)
		return KRX_E_MALFORMED;
	return KRX_OK;
}

/* The plaintext of enc (salt || E || check) under the key password. */
static int
jks_key_recover(const uint8_t *enc, size_t enclen, const struct jks_pw *kp,
    EVP_MD_CTX *md, EVP_PKEY **out)
{
	PKCS8_PRIV_KEY_INFO	*p8 = NULL;
	const uint8_t		*ct = enc + JKS_SALT_LEN, *p;
	uint8_t			 d[KRX_JKS_DIGEST_LEN], *plain;
	size_t			 n, off, i;
	int			 r;

	n = enclen - JKS_SALT_LEN - KRX_JKS_DIGEST_LEN;
	if ((plain = malloc(n)) == NULL)
		return KRX_E_NOMEM;
	memcpy(d, enc, JKS_SALT_LEN);
	for (off = 0; off < n; off += KRX_JKS_DIGEST_LEN) {
		if ((r = jks_sha1(md, kp->p, kp->len, d, sizeof(d), NULL, 0,
		    d)) != KRX_OK)
			goto out;
		for (i = 0; i < KRX_JKS_DIGEST_LEN && off + i < n; i++)
			plain[off + i] = ct[off + i] ^ d[i];
	}
	if ((r = jks_sha1(md, kp->p, kp->len, plain, n, NULL, 0, d)) !=
	    KRX_OK)
		goto out;
	r = KRX_E_CRYPTO;
	if (CRYPTO_memcmp(d, ct + n, KRX_JKS_DIGEST_LEN) != 0)
		goto out;
	r = KRX_E_MALFORMED;
	p = plain;
	if ((p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)n)) == NULL ||
	    p != plain + n || (*out = EVP_PKCS82PKEY(p8)) == NULL)
		goto out;
	r = KRX_OK;
out:
	PKCS8_PRIV_KEY_INFO_free(p8);
	OPENSSL_cleanse(d, sizeof(d));
	OPENSSL_cleanse(plain, n);
	free(plain);
	return r;
}

/* Check the protected key; recover it into *out when kp is set. */
static int
jks_key(const uint8_t *blob, size_t len, const struct jks_pw *kp,
    EVP_MD_CTX *md, EVP_PKEY **out)
{
	X509_SIG	*sig = NULL;
	const uint8_t	*enc;
	size_t		 enclen;
	int		 r;

	if ((r = jks_key_unwrap(blob, len, &sig, &enc, &enclen)) == KRX_OK &&
	    kp->set)
		r = jks_key_recover(enc, enclen, kp, md, out);
	X509_SIG_free(sig);
	return r;
}

static int
jks_entry_init(struct krx_jks_entry *e, uint32_t tag, const uint8_t *alias,
    size_t alen, uint64_t ms)
{
	e->kind = (enum krx_jks_kind)tag;
	e->created_ms = (int64_t)ms;
	if ((e->alias = malloc(alen + 1)) == NULL ||
	    (e->certs = sk_X509_new_null()) == NULL)
		return KRX_E_NOMEM;
	memcpy(e->alias, alias, alen);
	e->alias[alen] = '\0';
	return KRX_OK;
}

/*
 * One entry. e NULL: walk the structure only; otherwise fill e, decode
 * its certificates and check its key (recovered when kp is set).
 */
static int
jks_entry(struct krx_cur *c, uint32_t version, struct krx_jks_entry *e,
    const struct jks_pw *kp, EVP_MD_CTX *md)
{
	STACK_OF(X509)	*certs = NULL;
	const uint8_t	*alias, *key;
	uint64_t	 ms;
	uint32_t	 tag, klen, nc, i;
	size_t		 alen;
	int		 r;

	if ((r = krx_cur_get_be32(c, &tag)) != KRX_OK ||
	    (r = jks_get_utf(c, &alias, &alen)) != KRX_OK ||
	    (r = krx_cur_get_be64(c, &ms)) != KRX_OK)
		return r;
	if ((tag != KRX_JKS_KEY && tag != KRX_JKS_CERT) || alen == 0 ||
	    memchr(alias, 0, alen) != NULL)
		return KRX_E_MALFORMED;
	if (e != NULL) {
		if ((r = jks_entry_init(e, tag, alias, alen, ms)) != KRX_OK)
			return r;
		certs = e->certs;
	}
	if (tag == KRX_JKS_CERT)
		return jks_cert(c, version, certs);
	if ((r = krx_cur_get_be32(c, &klen)) != KRX_OK ||
	    (r = krx_cur_get_ref(c, klen, &key)) != KRX_OK ||
	    (r = krx_cur_get_be32(c, &nc)) != KRX_OK)
		return r;
	if (nc > KRX_JKS_CHAIN_MAX)
		return KRX_E_TOO_BIG;
	for (i = 0; i < nc; i++)
		if ((r = jks_cert(c, version, certs)) != KRX_OK)
			return r;
	if (e == NULL)
		return KRX_OK;
	return jks_key(key, klen, kp, md, &e->pkey);
}

static int
jks_header(struct krx_cur *c, uint32_t *version, uint32_t *n)
{
	uint32_t	 magic;
	int		 r;

	if ((r = krx_cur_get_be32(c, &magic)) != KRX_OK ||
	    (r = krx_cur_get_be32(c, version)) != KRX_OK ||
	    (r = krx_cur_get_be32(c, n)) != KRX_OK)
		return r;
	if (magic == JKS_JCEKS_MAGIC)
		return KRX_E_UNSUPPORTED;
	if (magic != KRX_JKS_MAGIC)
		return KRX_E_MALFORMED;
	if (*version != 1 && *version != 2)
		return KRX_E_UNSUPPORTED;
	if (*n > KRX_JKS_ENTRIES_MAX)
		return KRX_E_TOO_BIG;
	if (*n > krx_cur_left(c) / JKS_ENTRY_MIN)
		return KRX_E_TRUNCATED;
	return KRX_OK;
}

/* Walk the n entries, then the digest must be exactly what is left. */
static int
jks_walk(struct krx_cur *c, uint32_t version, uint32_t n)
{
	uint32_t	 i;
	int		 r;

	for (i = 0; i < n; i++)
		if ((r = jks_entry(c, version, NULL, NULL, NULL)) != KRX_OK)
			return r;
	if (krx_cur_left(c) < KRX_JKS_DIGEST_LEN)
		return KRX_E_TRUNCATED;
	if (krx_cur_left(c) > KRX_JKS_DIGEST_LEN)
		return KRX_E_TRAILING;
	return KRX_OK;
}

/* The store digest over the body bytes at data, when sp is set. */
static int
jks_check(EVP_MD_CTX *md, const struct jks_pw *sp, const uint8_t *data,
    size_t body)
{
	uint8_t	 d[KRX_JKS_DIGEST_LEN];
	int	 r;

	if (!sp->set)
		return KRX_OK;
	if ((r = jks_sha1(md, sp->p, sp->len, jks_whitener,
	    sizeof(jks_whitener) - 1, data, body, d)) != KRX_OK)
		return r;
	if (CRYPTO_memcmp(d, data + body, sizeof(d)) != 0)
		return KRX_E_CRYPTO;
	return KRX_OK;
}

/* Decode the n entries of the checked body into ks. */
static int
jks_decode(struct krx_jks *ks, const uint8_t *data, size_t body,
    uint32_t version, uint32_t n, const struct jks_pw *kp, EVP_MD_CTX *md)
{
	struct krx_cur	 c;
	size_t		 i, j;
	int		 r;

	if (n > 0 && (ks->e = calloc(n, sizeof(*ks->e))) == NULL)
		return KRX_E_NOMEM;
	krx_cur_init(&c, data, body);
	if ((r = krx_cur_skip(&c, 12)) != KRX_OK)
		return r;
	for (i = 0; i < n; i++) {
		ks->n = i + 1;
		if ((r = jks_entry(&c, version, &ks->e[i], kp, md)) != KRX_OK)
			return r;
		for (j = 0; j < i; j++)
			if (strcmp(ks->e[j].alias, ks->e[i].alias) == 0)
				return KRX_E_MALFORMED;
	}
	return krx_cur_end(&c);
}

int
krx_jks_load(const uint8_t *data, size_t len, const uint8_t *storepw,
    size_t storepw_len, const uint8_t *keypw, size_t keypw_len,
    struct krx_jks **out)
{
	struct krx_jks	*ks = NULL;
	struct jks_pw	 sp, kp;
	struct krx_cur	 c;
	EVP_MD_CTX	*md = NULL;
	uint32_t	 version, n;
	int		 r;

	*out = NULL;
	memset(&sp, 0, sizeof(sp));
	memset(&kp, 0, sizeof(kp));
	if (len > KRX_JKS_FILE_MAX)
		return KRX_E_TOO_BIG;
	if ((r = jks_pw_init(&sp, storepw, storepw_len)) != KRX_OK ||
	    (r = jks_pw_init(&kp, keypw, keypw_len)) != KRX_OK)
		goto out;
	krx_cur_init(&c, data, len);
	if ((r = jks_header(&c, &version, &n)) != KRX_OK ||
	    (r = jks_walk(&c, version, n)) != KRX_OK)
		goto out;
	r = KRX_E_NOMEM;
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    (ks = calloc(1, sizeof(*ks))) == NULL)
		goto out;
	if ((r = jks_check(md, &sp, data, len - KRX_JKS_DIGEST_LEN)) !=
	    KRX_OK ||
	    (r = jks_decode(ks, data, len - KRX_JKS_DIGEST_LEN, version, n,
	    &kp, md)) != KRX_OK)
		goto out;
	*out = ks;
	ks = NULL;
out:
	krx_jks_free(ks);
	EVP_MD_CTX_free(md);
	jks_pw_free(&sp);
	jks_pw_free(&kp);
	return r;
}

size_t
krx_jks_count(const struct krx_jks *ks)
{
	return ks->n;
}

const struct krx_jks_entry *
krx_jks_entry(const struct krx_jks *ks, size_t i)
{
	return i < ks->n ? &ks->e[i] : NULL;
}

void
krx_jks_free(struct krx_jks *ks)
{
	size_t	 i;

	if (ks == NULL)
		return;
	for (i = 0; i < ks->n; i++) {
		free(ks->e[i].alias);
		EVP_PKEY_free(ks->e[i].pkey);
		sk_X509_pop_free(ks->e[i].certs, X509_free);
	}
	free(ks->e);
	free(ks);
}
