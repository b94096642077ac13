/*
 * aead.c: AES-256-GCM over OpenSSL 3 EVP, keyed once per DEK. Library
 * grade; runs in workers (records) and keysvc (wrapped keys). Trusts its
 * caller for key and IV; trusts nothing in the ciphertext it opens: the
 * tag decides.
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "common/err.h"
#include "crypto/aead.h"

/* EVP counts in int: longer inputs go through in chunks of this size. */
#define AEAD_CHUNK	(1 << 30)

struct krx_aead {
	EVP_CIPHER	*cipher;
	EVP_CIPHER_CTX	*ctx;
};

struct krx_aead *
krx_aead_new(const uint8_t *key, size_t key_len)
{
	struct krx_aead	*a;

	if (key == NULL || key_len != KRX_AEAD_KEY_LEN)
		return NULL;
	if ((a = OPENSSL_zalloc(sizeof(*a))) == NULL)
		return NULL;
	if ((a->cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL)) == NULL)
		goto fail;
	if ((a->ctx = EVP_CIPHER_CTX_new()) == NULL)
		goto fail;
	if (EVP_EncryptInit_ex2(a->ctx, a->cipher, key, NULL, NULL) != 1)
		goto fail;
	return a;
fail:
	krx_aead_free(a);
	return NULL;
}

void
krx_aead_free(struct krx_aead *a)
{
	if (a == NULL)
		return;
	/* The GCM provider context (key schedule) is cleansed on free. */
	EVP_CIPHER_CTX_free(a->ctx);
	EVP_CIPHER_free(a->cipher);
	OPENSSL_free(a);
}

/* Run in through the context in int-sized chunks; out gets len bytes. */
static int
aead_update(EVP_CIPHER_CTX *ctx, const uint8_t *in, size_t len,
    uint8_t *out)
{
	size_t	 n;
	int	 outl;

	while (len > 0) {
		n = len > AEAD_CHUNK ? AEAD_CHUNK : len;
		if (EVP_CipherUpdate(ctx, out, &outl, in, (int)n) != 1 ||
		    (size_t)outl != n)
			return KRX_E_CRYPTO;
		in += n;
		out += n;
		len -= n;
	}
	return KRX_OK;
}

/*
 * The tag as a parameter for the GCM provider. Going to it directly
 * rather than through EVP_CIPHER_CTX_ctrl saves about 50 ns a record
 * with OpenSSL 3.0 (bench/aead_bench.c).
 */
static OSSL_PARAM *
aead_tag_param(OSSL_PARAM p[2], uint8_t tag[KRX_AEAD_TAG_LEN])
{
	p[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG,
	    tag, KRX_AEAD_TAG_LEN);
	p[1] = OSSL_PARAM_construct_end();
	return p;
}

int
krx_aead_seal_begin(struct krx_aead *a, const uint8_t iv[KRX_AEAD_IV_LEN])
{
	/* Only the IV changes: the key schedule is kept. */
	if (EVP_EncryptInit_ex2(a->ctx, NULL, NULL, iv, NULL) != 1)
		return KRX_E_CRYPTO;
	return KRX_OK;
}

int
krx_aead_seal_update(struct krx_aead *a, const uint8_t *in, size_t n,
    uint8_t *out)
{
	return aead_update(a->ctx, in, n, out);
}

int
krx_aead_seal_finish(struct krx_aead *a, uint8_t tag[KRX_AEAD_TAG_LEN])
{
	OSSL_PARAM	 p[2];
	uint8_t		 none[KRX_AEAD_TAG_LEN];
	int		 outl;

	/* GCM's final writes no bytes: the tag is fetched after it. */
	if (EVP_EncryptFinal_ex(a->ctx, none, &outl) != 1 || outl != 0)
		return KRX_E_CRYPTO;
	if (EVP_CIPHER_CTX_get_params(a->ctx, aead_tag_param(p, tag)) != 1)
		return KRX_E_CRYPTO;
	return KRX_OK;
}

int
krx_aead_seal(struct krx_aead *a, const uint8_t iv[KRX_AEAD_IV_LEN],
    const uint8_t *in, size_t len, uint8_t *out)
{
	int	 r;

	if ((r = krx_aead_seal_begin(a, iv)) != KRX_OK)
		return r;
	if ((r = aead_update(a->ctx, in, len, out)) != KRX_OK)
		return r;
	return krx_aead_seal_finish(a, out + len);
}

int
krx_aead_open(struct krx_aead *a, const uint8_t iv[KRX_AEAD_IV_LEN],
    const uint8_t *in, size_t len, uint8_t *out)
{
	OSSL_PARAM	 p[2];
	uint8_t		 tag[KRX_AEAD_TAG_LEN], none[KRX_AEAD_TAG_LEN];
	size_t		 n;
	int		 outl, r = KRX_E_CRYPTO;

	if (len < KRX_AEAD_TAG_LEN)
		return KRX_E_TRUNCATED;
	n = len - KRX_AEAD_TAG_LEN;
	/* Copy the tag first: out may overlap in. */
	memcpy(tag, in + n, sizeof(tag));
	if (EVP_DecryptInit_ex2(a->ctx, NULL, NULL, iv, NULL) != 1)
		goto out;
	if (aead_update(a->ctx, in, n, out) != KRX_OK)
		goto out;
	if (EVP_CIPHER_CTX_set_params(a->ctx, aead_tag_param(p, tag)) != 1)
		goto out;
	if (EVP_DecryptFinal_ex(a->ctx, none, &outl) != 1 || outl != 0)
		goto out;
	r = KRX_OK;
out:
	if (r != KRX_OK && n > 0)
		OPENSSL_cleanse(out, n);
	return r;
}

/*
 * One-shot AES-256-GCM of a 32-byte key block (a DEK wrapped by a KEK,
 * or sealed in the DEK cache) with AAD aad1 || aad2.
 */
int
krx_aead_keyblock(int enc, const uint8_t *key, const uint8_t *iv, const uint8_t *aad1,
    size_t aad1_len, const uint8_t *aad2, size_t aad2_len,
    const uint8_t *in, uint8_t *out, uint8_t *tag)
{
	EVP_CIPHER_CTX	*ctx;
	uint8_t		 fin[16];
	int		 n, r = KRX_E_CRYPTO;

	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		return KRX_E_NOMEM;
	if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, iv,
	    enc) != 1 ||
	    EVP_CipherUpdate(ctx, NULL, &n, aad1, (int)aad1_len) != 1 ||
	    EVP_CipherUpdate(ctx, NULL, &n, aad2, (int)aad2_len) != 1 ||
	    EVP_CipherUpdate(ctx, out, &n, in, KRX_AEAD_KEY_LEN) != 1 ||
	    n != KRX_AEAD_KEY_LEN)
		goto out;
	if (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, KRX_AEAD_TAG_LEN,
	    tag) != 1)
		goto out;
	if (EVP_CipherFinal_ex(ctx, fin, &n) != 1 || n != 0)
		goto out;
	if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, KRX_AEAD_TAG_LEN,
	    tag) != 1)
		goto out;
	r = KRX_OK;
out:
	EVP_CIPHER_CTX_free(ctx);
	if (r != KRX_OK)
		OPENSSL_cleanse(out, KRX_AEAD_KEY_LEN);
	return r;
}
