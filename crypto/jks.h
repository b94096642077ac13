/*
 * jks.h: a strict reader of Java KeyStore (JKS) files, the proprietary
 * store of Sun's JDK, for the trust and key stores of TLS connections
 * (crypto/tlsstore.c). Library grade: no logging, no globals. keysvc
 * runs it on files named by the configuration; it trusts nothing in the
 * bytes.
 *
 * The format (all integers big-endian; "UTF" is Java's writeUTF: a
 * 16-bit length, then that many bytes of modified UTF-8):
 *
 *	4	magic 0xFEEDFEED
 *	4	version, 1 or 2
 *	4	n, the entry count
 *	n times:
 *	  4	tag: 1 private key, 2 trusted certificate
 *	  UTF	alias (1 or more bytes, none of them 0; unique in the store)
 *	  8	creation time, milliseconds since the epoch
 *	  tag 1:
 *	    4	k, then k bytes: the protected key (below)
 *	    4	c, the length of the certificate chain, leaf first, then
 *		c certificates
 *	  tag 2: one certificate
 *	  certificate: (version 2 only) UTF "X.509", then a 4-byte length
 *		and the DER certificate
 *	20	SHA-1(P || "Mighty Aphrodite" || every byte before this one)
 *
 * where P is the store password as UTF-16BE (no terminator). The
 * protected key is a DER EncryptedPrivateKeyInfo whose algorithm is Sun's
 * key protector, OID 1.3.6.1.4.1.42.2.17.1.1 (parameters NULL or absent),
 * and whose octet string is salt (20 bytes) || E || check (20 bytes).
 * With K the key password as UTF-16BE, d0 = salt and d(i+1) =
 * SHA-1(K || d(i)), the key stream is d1 || d2 || ..., the plaintext is
 * E XOR key stream (a DER PKCS#8 PrivateKeyInfo) and check must equal
 * SHA-1(K || plaintext).
 *
 * The reader walks the structure first (lengths only), then checks the
 * store digest when a store password is given, and only then decodes
 * certificates and keys: with a password, no changed byte of an entry
 * reaches the X.509 or PKCS#8 decoders. Every length is bounded by the
 * bytes left before it costs memory; the file, the entries and the chains
 * have hard caps below. Key plaintext and key streams are cleansed
 * (OPENSSL_cleanse) before they are freed.
 *
 * Passwords are the bytes a password file holds, UTF-8 (krx does not
 * strip anything); they are converted to UTF-16BE as Java's char[] holds
 * them. The caller owns and wipes them.
 */
#ifndef KRX_CRYPTO_JKS_H
#define KRX_CRYPTO_JKS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/err.h"

#define KRX_JKS_MAGIC		0xFEEDFEEDu
#define KRX_JKS_FILE_MAX	(1024 * 1024)	/* bytes in a store */
#define KRX_JKS_ENTRIES_MAX	1024		/* entries in a store */
#define KRX_JKS_CHAIN_MAX	16		/* certificates in a chain */
#define KRX_JKS_PW_MAX		1024		/* bytes in a password */
#define KRX_JKS_DIGEST_LEN	20		/* SHA-1 */

enum krx_jks_kind {
	KRX_JKS_KEY = 1,	/* private key entry (tag 1) */
	KRX_JKS_CERT = 2	/* trusted certificate entry (tag 2) */
};

struct krx_jks_entry {
	enum krx_jks_kind	 kind;
	char			*alias;		/* as stored, NUL-terminated */
	int64_t			 created_ms;	/* ms since the epoch */
	EVP_PKEY		*pkey;		/* KRX_JKS_KEY and a key
						   password given, else NULL */
	STACK_OF(X509)		*certs;		/* KRX_JKS_KEY: the chain,
						   leaf first, may be empty;
						   KRX_JKS_CERT: the one
						   certificate */
};

struct krx_jks;

/*
 * Read the len bytes at data as a JKS store into *out (NULL on error).
 *
 * storepw (storepw_len bytes, NULL for none): when given, the store
 * digest must match; when NULL the digest is not checked (as Java does).
 * keypw (NULL for none): when given, every private key entry is
 * recovered with it into its pkey; when NULL no key is recovered and
 * every pkey is NULL. A store password of 0 bytes is the empty
 * password, not "none".
 *
 * Returns 0, or:
 *   KRX_E_TRUNCATED	the bytes end inside a field or before the digest
 *   KRX_E_TRAILING	bytes after the digest
 *   KRX_E_TOO_BIG	len over KRX_JKS_FILE_MAX, more entries than
 *			KRX_JKS_ENTRIES_MAX, a chain over KRX_JKS_CHAIN_MAX,
 *			a password over KRX_JKS_PW_MAX bytes
 *   KRX_E_UNSUPPORTED	a JCEKS store (magic 0xCECECECE), another version,
 *			a certificate type other than "X.509", a key not
 *			under the Sun key protector
 *   KRX_E_MALFORMED	anything else that does not follow the format: bad
 *			magic, unknown tag, empty or duplicate alias, a NUL
 *			in an alias, a certificate or key that does not
 *			decode exactly
 *   KRX_E_CRYPTO	wrong store password or a changed store (digest
 *			mismatch), wrong key password or a changed key
 *			(check mismatch)
 *   KRX_E_CONFIG	a password that is not UTF-8
 *   KRX_E_NOMEM
 */
int	krx_jks_load(const uint8_t *data, size_t len, const uint8_t *storepw,
	    size_t storepw_len, const uint8_t *keypw, size_t keypw_len,
	    struct krx_jks **out);

/* The number of entries, in file order. */
size_t	krx_jks_count(const struct krx_jks *ks);

/*
 * Entry i (i < count), owned by ks and valid until krx_jks_free; the
 * caller takes references (EVP_PKEY_up_ref, X509_up_ref) to keep objects.
 */
const struct krx_jks_entry *krx_jks_entry(const struct krx_jks *ks,
	    size_t i);

/* Free every entry (keys are freed by OpenSSL, which clears them). */
void	krx_jks_free(struct krx_jks *ks);

#endif
