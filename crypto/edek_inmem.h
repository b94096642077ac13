/*
 * edek_inmem.h: the EDEK format of Kroxylicious' in-memory test KMS
 * (UnitTestingKmsService), for known-answer tests and a test-only KMS.
 * Library grade: no logging, no globals. Never for production keys.
 *
 *   tag bits (1, 0x80) | IV length (1, 0x0c) | IV (12) |
 *   KEK UUID (16, msb then lsb, big-endian) |
 *   AES-256-GCM(KEK, IV, DEK): ciphertext (32) then tag (16), no AAD
 */
#ifndef KRX_CRYPTO_EDEK_INMEM_H
#define KRX_CRYPTO_EDEK_INMEM_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/aead.h"
#include "crypto/secret.h"

#define KRX_EDEK_INMEM_UUID_LEN	16
#define KRX_EDEK_INMEM_WRAPPED_LEN (KRX_AEAD_KEY_LEN + KRX_AEAD_TAG_LEN)
#define KRX_EDEK_INMEM_LEN	(2 + KRX_AEAD_IV_LEN + \
				    KRX_EDEK_INMEM_UUID_LEN + \
				    KRX_EDEK_INMEM_WRAPPED_LEN)

/* A parsed in-memory EDEK: views into the bytes it was parsed from. */
struct krx_edek_inmem {
	const uint8_t	*iv;		/* KRX_AEAD_IV_LEN bytes */
	const uint8_t	*kek_uuid;	/* 16 bytes */
	const uint8_t	*wrapped;	/* 48 bytes: DEK then tag */
};

/*
 * Parse len bytes at p. Only 128 tag bits and a 12-byte IV are accepted
 * (KRX_E_UNSUPPORTED otherwise), and only a wrapped 256-bit DEK
 * (KRX_E_MALFORMED or KRX_E_TRUNCATED otherwise). *e zeroed on error.
 */
int	krx_edek_inmem_parse(const uint8_t *p, size_t len,
	    struct krx_edek_inmem *e);

/*
 * Unwrap e under the KEK (kek_len must be KRX_AEAD_KEY_LEN) into a new
 * secret owned by the caller (*dek, NULL on error). Returns 0;
 * KRX_E_RANGE for a bad KEK length; KRX_E_CRYPTO when the tag does not
 * verify; KRX_E_NOMEM.
 */
int	krx_edek_inmem_unwrap(const struct krx_edek_inmem *e,
	    const uint8_t *kek, size_t kek_len, struct krx_secret **dek);

/*
 * Wrap dek (KRX_AEAD_KEY_LEN bytes) under the KEK with iv and write the
 * KRX_EDEK_INMEM_LEN-byte EDEK to out. The caller owns IV uniqueness
 * under the KEK. Returns 0, KRX_E_RANGE for a bad key length,
 * KRX_E_CRYPTO or KRX_E_NOMEM (out zeroed on error).
 */
int	krx_edek_inmem_wrap(const uint8_t *kek, size_t kek_len,
	    const uint8_t kek_uuid[KRX_EDEK_INMEM_UUID_LEN],
	    const uint8_t iv[KRX_AEAD_IV_LEN], const struct krx_secret *dek,
	    uint8_t out[KRX_EDEK_INMEM_LEN]);

#endif
