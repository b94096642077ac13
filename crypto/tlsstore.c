/*
 * tlsstore.c: TLS trust and key stores (PEM, PKCS#12, JKS) for krx's
 * TLS clients, and their installation into an SSL_CTX; tlsstore.h has
 * the rules. Library grade. keysvc runs it on the files of its
 * configuration and trusts nothing in them: each file is read whole
 * under a size cap, parsed by OpenSSL (PEM, PKCS#12) or crypto/jks.c,
 * and every buffer that held a file is cleansed before it is freed.
 * OpenSSL's error queue is left as the caller had it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/err.h"
#include "crypto/jks.h"
#include "crypto/tlsstore.h"

struct krx_tlsstore {
	STACK_OF(X509)	*trust;
	EVP_PKEY	*key;
	X509		*leaf;
	STACK_OF(X509)	*chain;
};

/* A client key being loaded. */
struct ts_key {
	EVP_PKEY	*key;
	X509		*leaf;
	STACK_OF(X509)	*chain;
};

/* A password for OpenSSL's PEM callback; asked: the key is encrypted. */
struct ts_pwcb {
	const uint8_t	*p;
	size_t		 len;
	int		 asked;
};

/* 2.16.840.1.113894.746875.1.1, Java's trusted-certificate attribute. */
static const uint8_t ts_java_trust_oid[] = {
	0x60, 0x86, 0x48, 0x01, 0x86, 0xf9, 0x66, 0xad, 0xca, 0x7b, 0x01, 0x01
};

static void
ts_key_clear(struct ts_key *k)
{
	EVP_PKEY_free(k->key);
	X509_free(k->leaf);
	sk_X509_pop_free(k->chain, X509_free);
	memset(k, 0, sizeof(*k));
}

static void
ts_bytes_free(uint8_t *p, size_t len)
{
	if (p != NULL)
		OPENSSL_cleanse(p, len);
	free(p);
}

/* All of the regular file path (at most KRX_TLSSTORE_FILE_MAX bytes). */
static int
ts_read(const char *path, uint8_t **out, size_t *outlen)
{
	struct stat	 st;
	uint8_t		*p = NULL;
	size_t		 len = 0;
	ssize_t		 n;
	int		 fd, r = KRX_E_IO, saved;

	*out = NULL;
	*outlen = 0;
	if (path == NULL)
		return KRX_E_CONFIG;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1)
		return KRX_E_IO;
	if (fstat(fd, &st) == -1)
		goto out;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		goto out;
	}
	r = KRX_E_TOO_BIG;
	if (st.st_size > KRX_TLSSTORE_FILE_MAX)
		goto out;
	r = KRX_E_NOMEM;
	if ((p = malloc(KRX_TLSSTORE_FILE_MAX + 1)) == NULL)
		goto out;
	while (len <= KRX_TLSSTORE_FILE_MAX) {
		n = read(fd, p + len, KRX_TLSSTORE_FILE_MAX + 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			r = KRX_E_IO;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	r = KRX_E_TOO_BIG;
	if (len > KRX_TLSSTORE_FILE_MAX)
		goto out;
	*out = p;
	*outlen = len;
	p = NULL;
	r = KRX_OK;
out:
	saved = errno;
	ts_bytes_free(p, len);
	close(fd);
	errno = saved;
	return r;
}

static int
ts_pem_pw(char *buf, int size, int rwflag, void *u)
{
	struct ts_pwcb	*pw = u;

	pw->asked = 1;
	if (pw->p == NULL || size < 0 || pw->len > (size_t)size)
		return -1;
	memcpy(buf, pw->p, pw->len);
	return (int)pw->len;
}

/* The reason of the last OpenSSL error: PEM found no (more) block. */
static int
ts_pem_none(void)
{
	unsigned long	 e = ERR_peek_last_error();

	return ERR_GET_LIB(e) == ERR_LIB_PEM &&
	    ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
}

/* Append every certificate of the PEM text p to certs. */
static int
ts_pem_certs(const uint8_t *p, size_t len, STACK_OF(X509) *certs)
{
	struct ts_pwcb	 none = { NULL, 0, 0 };
	BIO		*bio;
	X509		*x;
	int		 r = KRX_E_NOMEM;

	if ((bio = BIO_new_mem_buf(p, (int)len)) == NULL)
		return KRX_E_NOMEM;
	while ((x = PEM_read_bio_X509(bio, NULL, ts_pem_pw, &none)) != NULL) {
		if (sk_X509_num(certs) >= KRX_TLSSTORE_CERTS_MAX) {
			X509_free(x);
			r = KRX_E_TOO_BIG;
			goto out;
		}
		if (sk_X509_push(certs, x) == 0) {
			X509_free(x);
			goto out;
		}
	}
	r = ts_pem_none() ? KRX_OK : KRX_E_MALFORMED;
out:
	BIO_free(bio);
	return r;
}

/*
 * The first private key of the PEM text p, decrypted with pw if asked:
 * KRX_E_CRYPTO if it is encrypted and pw fails (or is NULL), NOTFOUND if
 * there is no private key block.
 */
static int
ts_pem_key(const uint8_t *p, size_t len, const uint8_t *pw, size_t pwlen,
    EVP_PKEY **out)
{
	struct ts_pwcb	 cb = { pw, pwlen, 0 };
	BIO		*bio;

	if ((bio = BIO_new_mem_buf(p, (int)len)) == NULL)
		return KRX_E_NOMEM;
	*out = PEM_read_bio_PrivateKey(bio, NULL, ts_pem_pw, &cb);
	BIO_free(bio);
	if (*out != NULL)
		return KRX_OK;
	if (cb.asked)
		return KRX_E_CRYPTO;
	/* OpenSSL 3's decoders say "unsupported" for both cases. */
	if (memmem(p, len, "PRIVATE KEY-----", 16) == NULL)
		return KRX_E_NOTFOUND;
	return KRX_E_MALFORMED;
}

/* PEM key store: the key file, then the certificate file, leaf first. */
static int
ts_key_pem(const struct krx_tlsstore_file *f, const uint8_t *pw,
    size_t pwlen, struct ts_key *k)
{
	uint8_t		*kb = NULL, *cb = NULL;
	size_t		 kl = 0, cl = 0;
	int		 r;

	if ((r = ts_read(f->key_path != NULL ? f->key_path : f->path, &kb,
	    &kl)) != KRX_OK ||
	    (r = ts_pem_key(kb, kl, pw, pwlen, &k->key)) != KRX_OK ||
	    (r = ts_read(f->path, &cb, &cl)) != KRX_OK)
		goto out;
	r = KRX_E_NOMEM;
	if ((k->chain = sk_X509_new_null()) == NULL)
		goto out;
	if ((r = ts_pem_certs(cb, cl, k->chain)) != KRX_OK)
		goto out;
	r = KRX_E_NOTFOUND;
	if ((k->leaf = sk_X509_shift(k->chain)) == NULL)
		goto out;
	r = KRX_E_TOO_BIG;
	if (sk_X509_num(k->chain) > KRX_TLSSTORE_CHAIN_MAX)
		goto out;
	r = KRX_OK;
out:
	ts_bytes_free(kb, kl);
	ts_bytes_free(cb, cl);
	return r;
}

/* Move the bags of one SafeContents into bags. */
static int
ts_p12_move(STACK_OF(PKCS12_SAFEBAG) *part, STACK_OF(PKCS12_SAFEBAG) *bags)
{
	PKCS12_SAFEBAG	*bag;

	while ((bag = sk_PKCS12_SAFEBAG_shift(part)) != NULL) {
		if (sk_PKCS12_SAFEBAG_num(bags) >= 2 * KRX_TLSSTORE_CERTS_MAX) {
			PKCS12_SAFEBAG_free(bag);
			return KRX_E_TOO_BIG;
		}
		if (sk_PKCS12_SAFEBAG_push(bags, bag) == 0) {
			PKCS12_SAFEBAG_free(bag);
			return KRX_E_NOMEM;
		}
	}
	return KRX_OK;
}

/* The bags of one SafeContents; *part NULL: encrypted, no password. */
static int
ts_p12_safe(PKCS7 *p7, const uint8_t *pw, size_t pwlen,
    STACK_OF(PKCS12_SAFEBAG) **part)
{
	*part = NULL;
	if (PKCS7_type_is_data(p7))
		return (*part = PKCS12_unpack_p7data(p7)) == NULL ?
		    KRX_E_MALFORMED : KRX_OK;
	if (!PKCS7_type_is_encrypted(p7))
		return KRX_E_UNSUPPORTED;
	if (pw == NULL)
		return KRX_OK;
	return (*part = PKCS12_unpack_p7encdata(p7, (const char *)pw,
	    (int)pwlen)) == NULL ? KRX_E_CRYPTO : KRX_OK;
}

/*
 * The bags of the PKCS#12 p (MAC checked with pw when given), from its
 * plain and, with pw, password-encrypted SafeContents; *locked = 1 when
 * encrypted ones were left out for want of a password.
 */
static int
ts_p12_bags(const uint8_t *p, size_t len, const uint8_t *pw, size_t pwlen,
    STACK_OF(PKCS12_SAFEBAG) *bags, int *locked)
{
	STACK_OF(PKCS12_SAFEBAG)	*part;
	STACK_OF(PKCS7)			*safes = NULL;
	PKCS12				*p12;
	const uint8_t			*q = p;
	int				 i, r = KRX_E_MALFORMED;

	*locked = 0;
	if ((p12 = d2i_PKCS12(NULL, &q, (long)len)) == NULL || q != p + len)
		goto out;
	r = KRX_E_CRYPTO;
	if (pw != NULL && PKCS12_mac_present(p12) &&
	    PKCS12_verify_mac(p12, (const char *)pw, (int)pwlen) != 1)
		goto out;
	r = KRX_E_MALFORMED;
	if ((safes = PKCS12_unpack_authsafes(p12)) == NULL)
		goto out;
	for (i = 0; i < sk_PKCS7_num(safes); i++) {
		if ((r = ts_p12_safe(sk_PKCS7_value(safes, i), pw, pwlen,
		    &part)) != KRX_OK)
			goto out;
		if (part == NULL) {
			*locked = 1;
			continue;
		}
		r = ts_p12_move(part, bags);
		sk_PKCS12_SAFEBAG_pop_free(part, PKCS12_SAFEBAG_free);
		if (r != KRX_OK)
			goto out;
	}
	r = KRX_OK;
out:
	sk_PKCS7_pop_free(safes, PKCS7_free);
	PKCS12_free(p12);
	return r;
}

/* A bag's localKeyID, or NULL. */
static const ASN1_OCTET_STRING *
ts_p12_keyid(const PKCS12_SAFEBAG *bag)
{
	const ASN1_TYPE	*t = PKCS12_SAFEBAG_get0_attr(bag, NID_localKeyID);

	if (t == NULL || t->type != V_ASN1_OCTET_STRING)
		return NULL;
	return t->value.octet_string;
}

static int
ts_p12_java_trusted(const PKCS12_SAFEBAG *bag)
{
	const STACK_OF(X509_ATTRIBUTE)	*attrs;
	const ASN1_OBJECT		*o;
	int				 i;

	attrs = PKCS12_SAFEBAG_get0_attrs(bag);
	for (i = 0; i < sk_X509_ATTRIBUTE_num(attrs); i++) {
		o = X509_ATTRIBUTE_get0_object(
		    sk_X509_ATTRIBUTE_value(attrs, i));
		if (OBJ_length(o) == sizeof(ts_java_trust_oid) &&
		    memcmp(OBJ_get0_data(o), ts_java_trust_oid,
		    sizeof(ts_java_trust_oid)) == 0)
			return 1;
	}
	return 0;
}

static int
ts_p12_is_cert(const PKCS12_SAFEBAG *bag)
{
	return PKCS12_SAFEBAG_get_nid(bag) == NID_certBag &&
	    PKCS12_SAFEBAG_get_bag_nid(bag) == NID_x509Certificate;
}

/*
 * Append the X.509 certificates of bags to certs: all, or with java only
 * the Java-trusted ones and the leaves of keys (those with a localKeyID).
 * ids (may be NULL) gets each one's localKeyID (or NULL), in step.
 */
static int
ts_p12_certs(STACK_OF(PKCS12_SAFEBAG) *bags, int java, STACK_OF(X509) *certs,
    const ASN1_OCTET_STRING **ids)
{
	const ASN1_OCTET_STRING	*id;
	PKCS12_SAFEBAG		*bag;
	X509			*x;
	int			 i;

	for (i = 0; i < sk_PKCS12_SAFEBAG_num(bags); i++) {
		bag = sk_PKCS12_SAFEBAG_value(bags, i);
		if (!ts_p12_is_cert(bag))
			continue;
		id = ts_p12_keyid(bag);
		if (java && id == NULL && !ts_p12_java_trusted(bag))
			continue;
		if ((x = PKCS12_SAFEBAG_get1_cert(bag)) == NULL)
			return KRX_E_MALFORMED;
		if (sk_X509_num(certs) >= KRX_TLSSTORE_CERTS_MAX) {
			X509_free(x);
			return KRX_E_TOO_BIG;
		}
		if (ids != NULL)
			ids[sk_X509_num(certs)] = id;
		if (sk_X509_push(certs, x) == 0) {
			X509_free(x);
			return KRX_E_NOMEM;
		}
	}
	return KRX_OK;
}

static int
ts_trust_p12(const uint8_t *p, size_t len, const struct krx_tlsstore_file *f,
    STACK_OF(X509) *certs)
{
	STACK_OF(PKCS12_SAFEBAG)	*bags;
	int				 i, r, locked, java = 0;

	if ((bags = sk_PKCS12_SAFEBAG_new_null()) == NULL)
		return KRX_E_NOMEM;
	if ((r = ts_p12_bags(p, len, f->store_pw, f->store_pw_len, bags,
	    &locked)) != KRX_OK)
		goto out;
	for (i = 0; i < sk_PKCS12_SAFEBAG_num(bags); i++)
		if (ts_p12_is_cert(sk_PKCS12_SAFEBAG_value(bags, i)) &&
		    ts_p12_java_trusted(sk_PKCS12_SAFEBAG_value(bags, i)))
			java = 1;
	r = ts_p12_certs(bags, java, certs, NULL);
	if (r == KRX_OK && sk_X509_num(certs) == 0 && locked)
		r = KRX_E_CRYPTO;
out:
	sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
	return r;
}

/* The first key bag, or the first whose friendlyName is alias. */
static PKCS12_SAFEBAG *
ts_p12_keybag(STACK_OF(PKCS12_SAFEBAG) *bags, const char *alias)
{
	PKCS12_SAFEBAG	*bag;
	char		*name;
	int		 i, nid, match;

	for (i = 0; i < sk_PKCS12_SAFEBAG_num(bags); i++) {
		bag = sk_PKCS12_SAFEBAG_value(bags, i);
		nid = PKCS12_SAFEBAG_get_nid(bag);
		if (nid != NID_keyBag && nid != NID_pkcs8ShroudedKeyBag)
			continue;
		if (alias == NULL)
			return bag;
		name = PKCS12_get_friendlyname(bag);
		match = name != NULL && strcasecmp(name, alias) == 0;
		OPENSSL_free(name);
		if (match)
			return bag;
	}
	return NULL;
}

/* The private key of a key bag, decrypted with pw when shrouded. */
static int
ts_p12_pkey(const PKCS12_SAFEBAG *bag, const uint8_t *pw, size_t pwlen,
    EVP_PKEY **out)
{
	PKCS8_PRIV_KEY_INFO	*p8 = NULL;
	int			 r = KRX_E_CRYPTO;

	if (PKCS12_SAFEBAG_get_nid(bag) == NID_keyBag) {
		if ((*out = EVP_PKCS82PKEY(
		    PKCS12_SAFEBAG_get0_p8inf(bag))) == NULL)
			return KRX_E_MALFORMED;
		return KRX_OK;
	}
	if (pw == NULL || (p8 = PKCS12_decrypt_skey(bag, (const char *)pw,
	    (int)pwlen)) == NULL)
		goto out;
	r = KRX_E_MALFORMED;
	if ((*out = EVP_PKCS82PKEY(p8)) == NULL)
		goto out;
	r = KRX_OK;
out:
	PKCS8_PRIV_KEY_INFO_free(p8);
	return r;
}

/* The issuer of cur among certs that is neither leaf nor in chain. */
static X509 *
ts_issuer(X509 *cur, X509 *leaf, STACK_OF(X509) *certs,
    STACK_OF(X509) *chain)
{
	X509	*c;
	int	 i, j, seen;

	for (i = 0; i < sk_X509_num(certs); i++) {
		c = sk_X509_value(certs, i);
		seen = c == leaf;
		for (j = 0; j < sk_X509_num(chain); j++)
			seen |= c == sk_X509_value(chain, j);
		if (!seen && X509_check_issued(c, cur) == X509_V_OK)
			return c;
	}
	return NULL;
}

/* The issuers of leaf among certs, nearest first, up to a root. */
static int
ts_chain(X509 *leaf, STACK_OF(X509) *certs, STACK_OF(X509) *chain)
{
	X509	*cur = leaf, *next;

	while (X509_check_issued(cur, cur) != X509_V_OK &&
	    (next = ts_issuer(cur, leaf, certs, chain)) != NULL) {
		if (sk_X509_num(chain) >= KRX_TLSSTORE_CHAIN_MAX)
			return KRX_E_TOO_BIG;
		if (sk_X509_push(chain, next) == 0)
			return KRX_E_NOMEM;
		X509_up_ref(next);
		cur = next;
	}
	return KRX_OK;
}

/* The leaf of key among certs: same localKeyID, else the first match. */
static X509 *
ts_p12_leaf(STACK_OF(X509) *certs, const ASN1_OCTET_STRING **ids,
    const ASN1_OCTET_STRING *keyid, EVP_PKEY *key)
{
	int	 i;

	for (i = 0; keyid != NULL && i < sk_X509_num(certs); i++)
		if (ids[i] != NULL && ASN1_STRING_cmp(ids[i], keyid) == 0)
			return sk_X509_value(certs, i);
	for (i = 0; i < sk_X509_num(certs); i++)
		if (X509_check_private_key(sk_X509_value(certs, i), key) == 1)
			return sk_X509_value(certs, i);
	return NULL;
}

static int
ts_key_p12(const uint8_t *p, size_t len, const struct krx_tlsstore_file *f,
    const uint8_t *kpw, size_t kpwlen, struct ts_key *k)
{
	STACK_OF(PKCS12_SAFEBAG)	*bags;
	STACK_OF(X509)			*certs = NULL;
	const ASN1_OCTET_STRING		**ids = NULL;
	PKCS12_SAFEBAG			*kb;
	int				 r = KRX_E_NOMEM, locked;

	if ((bags = sk_PKCS12_SAFEBAG_new_null()) == NULL ||
	    (certs = sk_X509_new_null()) == NULL ||
	    (k->chain = sk_X509_new_null()) == NULL ||
	    (ids = calloc(KRX_TLSSTORE_CERTS_MAX, sizeof(*ids))) == NULL)
		goto out;
	if ((r = ts_p12_bags(p, len, f->store_pw, f->store_pw_len, bags,
	    &locked)) != KRX_OK ||
	    (r = ts_p12_certs(bags, 0, certs, ids)) != KRX_OK)
		goto out;
	r = locked ? KRX_E_CRYPTO : KRX_E_NOTFOUND;
	if ((kb = ts_p12_keybag(bags, f->alias)) == NULL)
		goto out;
	if ((r = ts_p12_pkey(kb, kpw, kpwlen, &k->key)) != KRX_OK)
		goto out;
	r = KRX_E_NOTFOUND;
	if ((k->leaf = ts_p12_leaf(certs, ids, ts_p12_keyid(kb),
	    k->key)) == NULL)
		goto out;
	X509_up_ref(k->leaf);
	r = ts_chain(k->leaf, certs, k->chain);
out:
	free(ids);
	sk_X509_pop_free(certs, X509_free);
	sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
	return r;
}

static int
ts_trust_jks(const uint8_t *p, size_t len, const struct krx_tlsstore_file *f,
    STACK_OF(X509) *certs)
{
	const struct krx_jks_entry	*e;
	struct krx_jks			*ks;
	X509				*x;
	size_t				 i;
	int				 r;

	if ((r = krx_jks_load(p, len, f->store_pw, f->store_pw_len, NULL, 0,
	    &ks)) != KRX_OK)
		return r;
	for (i = 0; i < krx_jks_count(ks); i++) {
		e = krx_jks_entry(ks, i);
		if ((x = sk_X509_value(e->certs, 0)) == NULL)
			continue;
		if (sk_X509_push(certs, x) == 0) {
			r = KRX_E_NOMEM;
			break;
		}
		X509_up_ref(x);
	}
	krx_jks_free(ks);
	return r;
}

static int
ts_key_jks(const uint8_t *p, size_t len, const struct krx_tlsstore_file *f,
    const uint8_t *kpw, size_t kpwlen, struct ts_key *k)
{
	const struct krx_jks_entry	*e = NULL;
	struct krx_jks			*ks;
	size_t				 i;
	int				 r;

	if ((r = krx_jks_load(p, len, f->store_pw, f->store_pw_len, kpw,
	    kpwlen, &ks)) != KRX_OK)
		return r;
	for (i = 0; i < krx_jks_count(ks); i++) {
		e = krx_jks_entry(ks, i);
		if (e->kind == KRX_JKS_KEY && (f->alias == NULL ||
		    strcasecmp(e->alias, f->alias) == 0))
			break;
	}
	r = KRX_E_NOTFOUND;
	if (i == krx_jks_count(ks) || sk_X509_num(e->certs) == 0)
		goto out;
	r = KRX_E_CRYPTO;
	if (e->pkey == NULL)
		goto out;
	r = KRX_E_NOMEM;
	if ((k->chain = X509_chain_up_ref(e->certs)) == NULL)
		goto out;
	k->leaf = sk_X509_shift(k->chain);
	k->key = e->pkey;
	EVP_PKEY_up_ref(k->key);
	r = KRX_OK;
out:
	krx_jks_free(ks);
	return r;
}

struct krx_tlsstore *
krx_tlsstore_new(void)
{
	struct krx_tlsstore	*ts;

	if ((ts = calloc(1, sizeof(*ts))) == NULL)
		return NULL;
	if ((ts->trust = sk_X509_new_null()) == NULL) {
		free(ts);
		return NULL;
	}
	return ts;
}

void
krx_tlsstore_free(struct krx_tlsstore *ts)
{
	if (ts == NULL)
		return;
	sk_X509_pop_free(ts->trust, X509_free);
	EVP_PKEY_free(ts->key);
	X509_free(ts->leaf);
	sk_X509_pop_free(ts->chain, X509_free);
	free(ts);
}

int
krx_tlsstore_type_parse(const char *name, enum krx_tlsstore_type *type)
{
	if (strcasecmp(name, "PEM") == 0)
		*type = KRX_TLSSTORE_PEM;
	else if (strcasecmp(name, "PKCS12") == 0)
		*type = KRX_TLSSTORE_PKCS12;
	else if (strcasecmp(name, "JKS") == 0)
		*type = KRX_TLSSTORE_JKS;
	else
		return KRX_E_UNSUPPORTED;
	return KRX_OK;
}

/* The trust certificates of the file bytes p into certs. */
static int
ts_trust(const uint8_t *p, size_t len, const struct krx_tlsstore_file *f,
    STACK_OF(X509) *certs)
{
	switch (f->type) {
	case KRX_TLSSTORE_PEM:
		return ts_pem_certs(p, len, certs);
	case KRX_TLSSTORE_PKCS12:
		return ts_trust_p12(p, len, f, certs);
	case KRX_TLSSTORE_JKS:
		return ts_trust_jks(p, len, f, certs);
	}
	return KRX_E_UNSUPPORTED;
}

int
krx_tlsstore_load_trust(struct krx_tlsstore *ts,
    const struct krx_tlsstore_file *f)
{
	STACK_OF(X509)	*certs = NULL;
	uint8_t		*p = NULL;
	size_t		 len = 0;
	X509		*x;
	int		 r;

	ERR_set_mark();
	if ((r = ts_read(f->path, &p, &len)) != KRX_OK)
		goto out;
	r = KRX_E_NOMEM;
	if ((certs = sk_X509_new_null()) == NULL)
		goto out;
	if ((r = ts_trust(p, len, f, certs)) != KRX_OK)
		goto out;
	r = KRX_E_NOTFOUND;
	if (sk_X509_num(certs) == 0)
		goto out;
	r = KRX_E_NOMEM;
	if (sk_X509_reserve(ts->trust, sk_X509_num(ts->trust) +
	    sk_X509_num(certs)) == 0)
		goto out;
	while ((x = sk_X509_shift(certs)) != NULL)
		sk_X509_push(ts->trust, x);
	r = KRX_OK;
out:
	sk_X509_pop_free(certs, X509_free);
	ts_bytes_free(p, len);
	ERR_pop_to_mark();
	return r;
}

/* The key store bytes p (not PEM) into k. */
static int
ts_key(const uint8_t *p, size_t len, const struct krx_tlsstore_file *f,
    const uint8_t *kpw, size_t kpwlen, struct ts_key *k)
{
	switch (f->type) {
	case KRX_TLSSTORE_PKCS12:
		return ts_key_p12(p, len, f, kpw, kpwlen, k);
	case KRX_TLSSTORE_JKS:
		return ts_key_jks(p, len, f, kpw, kpwlen, k);
	case KRX_TLSSTORE_PEM:
		break;
	}
	return KRX_E_UNSUPPORTED;
}

int
krx_tlsstore_load_key(struct krx_tlsstore *ts,
    const struct krx_tlsstore_file *f)
{
	struct ts_key	 k = { NULL, NULL, NULL }, old;
	const uint8_t	*kpw = f->key_pw != NULL ? f->key_pw : f->store_pw;
	size_t		 kpwlen = f->key_pw != NULL ? f->key_pw_len :
			    f->store_pw_len;
	uint8_t		*p = NULL;
	size_t		 len = 0;
	int		 r;

	ERR_set_mark();
	if (f->type == KRX_TLSSTORE_PEM)
		r = ts_key_pem(f, kpw, kpwlen, &k);
	else if ((r = ts_read(f->path, &p, &len)) == KRX_OK)
		r = ts_key(p, len, f, kpw, kpwlen, &k);
	if (r != KRX_OK)
		goto out;
	r = KRX_E_NOTFOUND;
	if (X509_check_private_key(k.leaf, k.key) != 1)
		goto out;
	old.key = ts->key;
	old.leaf = ts->leaf;
	old.chain = ts->chain;
	ts->key = k.key;
	ts->leaf = k.leaf;
	ts->chain = k.chain;
	k = old;
	r = KRX_OK;
out:
	ts_key_clear(&k);
	ts_bytes_free(p, len);
	ERR_pop_to_mark();
	return r;
}

int
krx_tlsstore_apply(const struct krx_tlsstore *ts, SSL_CTX *ctx)
{
	X509_STORE	*st = SSL_CTX_get_cert_store(ctx);
	int		 i, r = KRX_E_NOMEM;

	ERR_set_mark();
	for (i = 0; i < sk_X509_num(ts->trust); i++)
		if (X509_STORE_add_cert(st, sk_X509_value(ts->trust, i)) != 1)
			goto out;
	r = KRX_E_CRYPTO;
	if (ts->key != NULL && SSL_CTX_use_cert_and_key(ctx, ts->leaf,
	    ts->key, ts->chain, 1) != 1)
		goto out;
	r = KRX_OK;
out:
	ERR_pop_to_mark();
	return r;
}

size_t
krx_tlsstore_trust_count(const struct krx_tlsstore *ts)
{
	return (size_t)sk_X509_num(ts->trust);
}

X509 *
krx_tlsstore_trust(const struct krx_tlsstore *ts, size_t i)
{
	return i < krx_tlsstore_trust_count(ts) ?
	    sk_X509_value(ts->trust, (int)i) : NULL;
}

EVP_PKEY *
krx_tlsstore_key(const struct krx_tlsstore *ts)
{
	return ts->key;
}

X509 *
krx_tlsstore_leaf(const struct krx_tlsstore *ts)
{
	return ts->leaf;
}

STACK_OF(X509) *
krx_tlsstore_chain(const struct krx_tlsstore *ts)
{
	return ts->chain;
}
