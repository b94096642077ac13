/*
 * tlsstore.h: the trust and key stores of krx's TLS client connections
 * (KMS endpoints), loaded from the files of the configuration's `tls`
 * block and installed into an SSL_CTX. Library grade: no logging, no
 * globals. keysvc runs it; it trusts nothing in the files (each is read
 * whole, at most KRX_TLSSTORE_FILE_MAX bytes).
 *
 * Store types, as the configuration's storeType names them:
 *   PEM     trust: every certificate of the file. Key: a private key
 *           file (PKCS#8, traditional or encrypted PKCS#8 PEM; the key
 *           password decrypts it) and a certificate file, leaf first,
 *           then its chain.
 *   PKCS12  the store password checks the MAC and opens encrypted
 *           certificate bags; the key password (default: the store
 *           password) decrypts the key. Trust: when any certificate
 *           carries Java's trusted-certificate attribute (a store made
 *           by keytool), those and the certificates of key entries (the
 *           leaves, by localKeyID), as Java's trust managers read it;
 *           otherwise every certificate (a store made by openssl).
 *           Key: the first key bag or the one whose friendlyName is the
 *           alias; the leaf is the certificate with the key's
 *           localKeyID (else the first that matches the key), the chain
 *           the other certificates from the leaf's issuer upwards.
 *   JKS     crypto/jks.h. Trust: every trusted certificate entry and the
 *           leaf of every key entry (as Java). Key: the first key entry
 *           or the one named alias, with its stored chain.
 * Aliases compare without regard to ASCII case (Java lower-cases them).
 * A store password may be absent for a trust store: then PKCS#12's MAC
 * and JKS's digest are not checked (as Java does) and a PKCS#12 store
 * gives only its unencrypted certificates.
 *
 * Errors (every function returns 0 or one of these):
 *   KRX_E_IO		a file cannot be opened or read (errno says why;
 *			EINVAL: not a regular file)
 *   KRX_E_CRYPTO	wrong password or failed integrity check: store MAC
 *			or digest, key decryption or check; also a store
 *			that needs a password and got none
 *   KRX_E_NOTFOUND	no usable entry: no certificate in a trust store,
 *			no private key (or none with the alias), a key
 *			without certificate, a key that does not match its
 *			certificate
 *   KRX_E_MALFORMED	the bytes are not a store of the type (also
 *			KRX_E_TRUNCATED and KRX_E_TRAILING from a JKS file)
 *   KRX_E_UNSUPPORTED	an unknown store type name, a JCEKS store, a JKS
 *			version, a PKCS#12 enveloped bag
 *   KRX_E_TOO_BIG	a file or count over its cap
 *   KRX_E_CONFIG	no path given, or a JKS password that is not UTF-8
 *   KRX_E_NOMEM
 * krx_tlsstore_apply also returns KRX_E_CRYPTO when OpenSSL refuses the
 * certificate or key for the SSL_CTX (for one, below its security level).
 *
 * Passwords are given as the bytes of their password files (no
 * terminator, not trimmed); the caller owns and wipes them, and copies
 * made here are cleansed before they are freed.
 */
#ifndef KRX_CRYPTO_TLSSTORE_H
#define KRX_CRYPTO_TLSSTORE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/err.h"

#define KRX_TLSSTORE_FILE_MAX	(1024 * 1024)	/* bytes in a store file */
#define KRX_TLSSTORE_CERTS_MAX	1024		/* certificates in a file */
#define KRX_TLSSTORE_CHAIN_MAX	16		/* certificates in a chain */

enum krx_tlsstore_type {
	KRX_TLSSTORE_PEM = 1,
	KRX_TLSSTORE_PKCS12,
	KRX_TLSSTORE_JKS
};

/* One store file and how to open it; strings are NUL-terminated. */
struct krx_tlsstore_file {
	enum krx_tlsstore_type	 type;
	const char		*path;		/* storeFile; PEM key: the
						   certificateFile */
	const char		*key_path;	/* PEM key: privateKeyFile
						   (NULL: key and certificates
						   in path) */
	const uint8_t		*store_pw;	/* NULL: none */
	size_t			 store_pw_len;
	const uint8_t		*key_pw;	/* NULL: store_pw */
	size_t			 key_pw_len;
	const char		*alias;		/* key: NULL for the first */
};

struct krx_tlsstore;

/* An empty store (no trust, no key); NULL when memory is short. */
struct krx_tlsstore	*krx_tlsstore_new(void);
/* Free ts and all it holds; krx_tlsstore_free(NULL) is a no-op. */
void			 krx_tlsstore_free(struct krx_tlsstore *ts);

/*
 * *type = the storeType name ("PEM", "PKCS12", "JKS", any case).
 * Returns 0 or KRX_E_UNSUPPORTED.
 */
int	krx_tlsstore_type_parse(const char *name,
	    enum krx_tlsstore_type *type);

/*
 * Add the certificates of the trust store f to ts (alias and key_path
 * unused). On error ts is unchanged. Returns 0 or an error above.
 */
int	krx_tlsstore_load_trust(struct krx_tlsstore *ts,
	    const struct krx_tlsstore_file *f);

/*
 * Load the client key, its leaf certificate and chain from the key store
 * f into ts, replacing any key loaded before; the key must match the
 * leaf. On error ts is unchanged. Returns 0 or an error above.
 */
int	krx_tlsstore_load_key(struct krx_tlsstore *ts,
	    const struct krx_tlsstore_file *f);

/*
 * Install into ctx: every trust certificate into ctx's X509_STORE, and
 * the key with its leaf and chain (SSL_CTX_use_cert_and_key, replacing
 * ctx's). Verification mode and the host name check stay the caller's:
 * set SSL_VERIFY_PEER and SSL_set1_host for a verifying client. Returns
 * 0, KRX_E_CRYPTO or KRX_E_NOMEM.
 */
int	krx_tlsstore_apply(const struct krx_tlsstore *ts, SSL_CTX *ctx);

/* The trust certificates, in load order; owned by ts. */
size_t	 krx_tlsstore_trust_count(const struct krx_tlsstore *ts);
X509	*krx_tlsstore_trust(const struct krx_tlsstore *ts, size_t i);
/* The client key, leaf and chain (NULL: no key loaded); owned by ts. */
EVP_PKEY	*krx_tlsstore_key(const struct krx_tlsstore *ts);
X509		*krx_tlsstore_leaf(const struct krx_tlsstore *ts);
STACK_OF(X509)	*krx_tlsstore_chain(const struct krx_tlsstore *ts);

#endif
