/*
 * aead.h: AES-256-GCM with a 96-bit IV, a 128-bit tag and no AAD, as
 * Kroxylicious' record encryption uses it ("AES/GCM/NoPadding").
 * Library grade: no logging, no globals.
 *
 * One struct krx_aead per key: the OpenSSL context is keyed once in
 * krx_aead_new and each message only sets its IV, so sealing and opening
 * allocate nothing. A krx_aead is not thread-safe; give each thread its
 * own. The caller owns IV uniqueness (crypto/ivgen.h).
 */
#ifndef KRX_CRYPTO_AEAD_H
#define KRX_CRYPTO_AEAD_H

#include <stddef.h>
#include <stdint.h>

#define KRX_AEAD_KEY_LEN	32
#define KRX_AEAD_IV_LEN		12
#define KRX_AEAD_TAG_LEN	16

struct krx_aead;

/*
 * A context keyed with the key_len bytes at key (key_len must be
 * KRX_AEAD_KEY_LEN). krx keeps no copy of the key; OpenSSL's context
 * holds its key schedule (from which the key can be recovered) and
 * krx_aead_free has OpenSSL zero it. Returns NULL on a bad length or an
 * OpenSSL failure.
 */
struct krx_aead	*krx_aead_new(const uint8_t *key, size_t key_len);
/* Free a context, zeroing its key schedule. NULL is a no-op. */
void		 krx_aead_free(struct krx_aead *a);

/*
 * Encrypt the len bytes at in under iv and write len + KRX_AEAD_TAG_LEN
 * bytes (ciphertext then tag) to out. in and out may be the same
 * pointer. Returns 0 or KRX_E_CRYPTO.
 */
int	krx_aead_seal(struct krx_aead *a, const uint8_t iv[KRX_AEAD_IV_LEN],
	    const uint8_t *in, size_t len, uint8_t *out);

/*
 * Verify and decrypt len bytes at in (ciphertext then tag, so len >=
 * KRX_AEAD_TAG_LEN) and write len - KRX_AEAD_TAG_LEN bytes to out.
 * in and out may be the same pointer. Returns 0, KRX_E_TRUNCATED when
 * len is shorter than a tag, or KRX_E_CRYPTO when the tag does not
 * verify; on any error the len - KRX_AEAD_TAG_LEN bytes at out are
 * zeroed.
 */
int	krx_aead_open(struct krx_aead *a, const uint8_t iv[KRX_AEAD_IV_LEN],
	    const uint8_t *in, size_t len, uint8_t *out);

/*
 * Sealing from pieces: krx_aead_seal_begin(iv), then any number of
 * krx_aead_seal_update calls, each writing n ciphertext bytes to out
 * (in == out allowed), then krx_aead_seal_finish writing the tag. The
 * result equals krx_aead_seal over the concatenated pieces. Each returns
 * 0 or KRX_E_CRYPTO; after an error start again with _begin.
 */
int	krx_aead_seal_begin(struct krx_aead *a,
	    const uint8_t iv[KRX_AEAD_IV_LEN]);
int	krx_aead_seal_update(struct krx_aead *a, const uint8_t *in, size_t n,
	    uint8_t *out);
int	krx_aead_seal_finish(struct krx_aead *a,
	    uint8_t tag[KRX_AEAD_TAG_LEN]);

/*
 * One-shot AES-256-GCM of a KRX_AEAD_KEY_LEN block with AAD aad1||aad2
 * under key: enc 1 seals in into out and writes the 16-byte tag, enc 0
 * opens and checks tag. KRX_OK, KRX_E_CRYPTO (out zeroed), KRX_E_NOMEM.
 */
int	krx_aead_keyblock(int enc, const uint8_t *key, const uint8_t *iv,
	    const uint8_t *aad1, size_t aad1_len, const uint8_t *aad2,
	    size_t aad2_len, const uint8_t *in, uint8_t *out, uint8_t *tag);

#endif
