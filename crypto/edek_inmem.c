/*
 * edek_inmem.c: Kroxylicious' in-memory test KMS EDEK (parse, wrap,
 * unwrap). Library grade; used by tests and a test-only KMS. Trusts the
 * KEK its caller hands it; trusts nothing in the EDEK bytes.
 */
#include <string.h>

#include <openssl/crypto.h>

#include "common/buf.h"
#include "common/err.h"
#include "crypto/aead.h"
#include "crypto/edek_inmem.h"
#include "crypto/secret.h"

#define EDEK_TAG_BITS	(KRX_AEAD_TAG_LEN * 8)

int
krx_edek_inmem_parse(const uint8_t *p, size_t len, struct krx_edek_inmem *e)
{
	struct krx_cur	 c;
	uint8_t		 bits, ivlen;
	int		 r;

	memset(e, 0, sizeof(*e));
	krx_cur_init(&c, p, len);
	if ((r = krx_cur_get_u8(&c, &bits)) != KRX_OK ||
	    (r = krx_cur_get_u8(&c, &ivlen)) != KRX_OK)
		goto out;
	if (bits != EDEK_TAG_BITS || ivlen != KRX_AEAD_IV_LEN) {
		r = KRX_E_UNSUPPORTED;
		goto out;
	}
	if ((r = krx_cur_get_ref(&c, KRX_AEAD_IV_LEN, &e->iv)) != KRX_OK ||
	    (r = krx_cur_get_ref(&c, KRX_EDEK_INMEM_UUID_LEN,
	    &e->kek_uuid)) != KRX_OK ||
	    (r = krx_cur_get_ref(&c, KRX_EDEK_INMEM_WRAPPED_LEN,
	    &e->wrapped)) != KRX_OK)
		goto out;
	/* A wrapped key of any other size is not an AES-256 DEK. */
	if (krx_cur_end(&c) != KRX_OK)
		r = KRX_E_MALFORMED;
out:
	if (r != KRX_OK)
		memset(e, 0, sizeof(*e));
	return r;
}

int
krx_edek_inmem_unwrap(const struct krx_edek_inmem *e, const uint8_t *kek,
    size_t kek_len, struct krx_secret **dek)
{
	struct krx_aead		*a = NULL;
	struct krx_secret	*s = NULL;
	int			 r = KRX_E_NOMEM;

	*dek = NULL;
	if (kek_len != KRX_AEAD_KEY_LEN) {
		r = KRX_E_RANGE;
		goto out;
	}
	if ((s = krx_secret_new(KRX_AEAD_KEY_LEN)) == NULL)
		goto out;
	if ((a = krx_aead_new(kek, kek_len)) == NULL) {
		r = KRX_E_CRYPTO;
		goto out;
	}
	if ((r = krx_aead_open(a, e->iv, e->wrapped,
	    KRX_EDEK_INMEM_WRAPPED_LEN, s->data)) != KRX_OK)
		goto out;
	*dek = s;
	s = NULL;
out:
	krx_aead_free(a);
	krx_secret_free(s);
	return r;
}

int
krx_edek_inmem_wrap(const uint8_t *kek, size_t kek_len,
    const uint8_t kek_uuid[KRX_EDEK_INMEM_UUID_LEN],
    const uint8_t iv[KRX_AEAD_IV_LEN], const struct krx_secret *dek,
    uint8_t out[KRX_EDEK_INMEM_LEN])
{
	struct krx_aead	*a = NULL;
	int		 r = KRX_E_RANGE;

	memset(out, 0, KRX_EDEK_INMEM_LEN);
	if (kek_len != KRX_AEAD_KEY_LEN || dek->len != KRX_AEAD_KEY_LEN)
		goto out;
	if ((a = krx_aead_new(kek, kek_len)) == NULL) {
		r = KRX_E_CRYPTO;
		goto out;
	}
	out[0] = EDEK_TAG_BITS;
	out[1] = KRX_AEAD_IV_LEN;
	memcpy(out + 2, iv, KRX_AEAD_IV_LEN);
	memcpy(out + 2 + KRX_AEAD_IV_LEN, kek_uuid, KRX_EDEK_INMEM_UUID_LEN);
	r = krx_aead_seal(a, iv, dek->data, dek->len,
	    out + 2 + KRX_AEAD_IV_LEN + KRX_EDEK_INMEM_UUID_LEN);
out:
	krx_aead_free(a);
	if (r != KRX_OK)
		OPENSSL_cleanse(out, KRX_EDEK_INMEM_LEN);
	return r;
}
