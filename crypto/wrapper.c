/*
 * wrapper.c: Kroxylicious record encryption v2 (wrapper v2, parcel v1).
 * Library grade; runs in workers on both the produce path (seal) and the
 * fetch path (parse, open). Trusts nothing it parses: record values and
 * headers come from brokers, and a parcel is trusted only as far as its
 * tag (it is still parsed with every bound checked).
 */
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "crypto/aead.h"
#include "crypto/wrapper.h"

/* The fixed part of a wrapper: cipher id, AAD id, IV, tag. */
#define WRAPPER_FIXED	(1 + 1 + KRX_AEAD_IV_LEN + KRX_AEAD_TAG_LEN)
/* The shortest parcel: one-byte value length and header marker. */
#define PARCEL_MIN	2
/* zigzag(-2): the headers are not in the parcel. */
#define PARCEL_HDRS_ABSENT 0x03

int
krx_wrapper_version(const uint8_t *v, size_t len)
{
	if (len != 1)
		return KRX_E_MALFORMED;
	if (v[0] == KRX_WRAPPER_VERSION)
		return KRX_WRAPPER_VERSION;
	/* V1 is known, and rejected; anything else is unknown. */
	return KRX_E_UNSUPPORTED;
}

/* Write v as unsigned LEB128 at p (room for 10 bytes); return its length. */
static size_t
wrapper_put_uvarint(uint8_t *p, uint64_t v)
{
	size_t	 n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

size_t
krx_wrapper_size(size_t edek_len, size_t value_len)
{
	uint64_t	 n;

	if (edek_len == 0 || edek_len > KRX_WRAPPER_EDEK_MAX ||
	    value_len > INT32_MAX)
		return 0;
	n = WRAPPER_FIXED + krx_uvarint_len(edek_len) + (uint64_t)edek_len +
	    krx_varint_len((int64_t)value_len) + (uint64_t)value_len + 1;
	/* Only where size_t is 32 bits can this not fit. */
	return n > SIZE_MAX ? 0 : (size_t)n;
}

int
krx_wrapper_seal(struct krx_aead *a, const uint8_t iv[KRX_AEAD_IV_LEN],
    const uint8_t *edek, size_t edek_len, const uint8_t *value,
    size_t value_len, uint8_t *out, size_t out_len)
{
	size_t	 size, off, plen;
	uint8_t	*parcel;
	int	 r;

	if ((size = krx_wrapper_size(edek_len, value_len)) == 0)
		return KRX_E_TOO_BIG;
	if (out_len != size)
		return KRX_E_RANGE;
	off = 0;
	out[off++] = KRX_WRAPPER_CIPHER_AES_GCM;
	off += wrapper_put_uvarint(out + off, edek_len);
	memcpy(out + off, edek, edek_len);
	off += edek_len;
	out[off++] = KRX_WRAPPER_AAD_NONE;
	memcpy(out + off, iv, KRX_AEAD_IV_LEN);
	off += KRX_AEAD_IV_LEN;
	/*
	 * Lay the parcel out where its ciphertext goes and seal it in
	 * place: one pass through GCM, no scratch buffer.
	 */
	parcel = out + off;
	plen = wrapper_put_uvarint(parcel, (uint64_t)value_len << 1);
	if (value_len > 0)
		memcpy(parcel + plen, value, value_len);
	plen += value_len;
	parcel[plen++] = PARCEL_HDRS_ABSENT;
	if ((r = krx_aead_seal(a, iv, parcel, plen, parcel)) != KRX_OK) {
		memset(out, 0, out_len);
		return r;
	}
	return KRX_OK;
}

int
krx_wrapper_parse(const uint8_t *p, size_t len, struct krx_wrapper *w)
{
	struct krx_cur	 c;
	uint64_t	 elen;
	int		 r;

	memset(w, 0, sizeof(*w));
	krx_cur_init(&c, p, len);
	if ((r = krx_cur_get_u8(&c, &w->cipher)) != KRX_OK)
		goto out;
	if (w->cipher != KRX_WRAPPER_CIPHER_AES_GCM) {
		/* ChaCha20-Poly1305 (1) is not enabled in V2. */
		r = KRX_E_UNSUPPORTED;
		goto out;
	}
	if ((r = krx_cur_get_uvarint(&c, &elen, 5)) != KRX_OK)
		goto out;
	if (elen == 0) {
		r = KRX_E_MALFORMED;
		goto out;
	}
	if (elen > KRX_WRAPPER_EDEK_MAX) {
		r = KRX_E_TOO_BIG;
		goto out;
	}
	w->edek_len = (size_t)elen;
	if ((r = krx_cur_get_ref(&c, w->edek_len, &w->edek)) != KRX_OK)
		goto out;
	if ((r = krx_cur_get_u8(&c, &w->aad)) != KRX_OK)
		goto out;
	if (w->aad != KRX_WRAPPER_AAD_NONE) {
		r = KRX_E_UNSUPPORTED;
		goto out;
	}
	if ((r = krx_cur_get_ref(&c, KRX_AEAD_IV_LEN, &w->iv)) != KRX_OK)
		goto out;
	w->ct_len = krx_cur_left(&c);
	if (w->ct_len < KRX_AEAD_TAG_LEN + PARCEL_MIN) {
		r = KRX_E_TRUNCATED;
		goto out;
	}
	r = krx_cur_get_ref(&c, w->ct_len, &w->ct);
out:
	if (r != KRX_OK)
		memset(w, 0, sizeof(*w));
	return r;
}

int
krx_wrapper_open(struct krx_aead *a, const struct krx_wrapper *w,
    struct krx_buf *plain)
{
	size_t	 old = plain->len, n;
	uint8_t	*d;
	int	 r;

	if (w->cipher != KRX_WRAPPER_CIPHER_AES_GCM ||
	    w->aad != KRX_WRAPPER_AAD_NONE)
		return KRX_E_UNSUPPORTED;
	if (w->ct_len < KRX_AEAD_TAG_LEN + PARCEL_MIN)
		return KRX_E_TRUNCATED;
	n = w->ct_len - KRX_AEAD_TAG_LEN;
	if ((d = krx_buf_extend(plain, n)) == NULL)
		return plain->err;
	/* krx_aead_open zeroes d on failure. */
	if ((r = krx_aead_open(a, w->iv, w->ct, w->ct_len, d)) != KRX_OK)
		plain->len = old;
	return r;
}

/* One parcel header: uvarint key length, key, zigzag value length, value. */
static int
parcel_hdr_get(struct krx_cur *c, struct krx_parcel_hdr *h)
{
	uint64_t	 klen;
	int		 r;

	memset(h, 0, sizeof(*h));
	if ((r = krx_cur_get_uvarint(c, &klen, 5)) != KRX_OK)
		return r;
	if (klen > INT32_MAX)
		return KRX_E_MALFORMED;
	h->key_len = (size_t)klen;
	if ((r = krx_cur_get_ref(c, h->key_len, &h->key)) != KRX_OK)
		return r;
	if ((r = krx_cur_get_varint(c, &h->value_len)) != KRX_OK)
		return r;
	if (h->value_len >= 0)
		return krx_cur_get_ref(c, (size_t)h->value_len, &h->value);
	if (h->value_len != KRX_PARCEL_NULL)
		return KRX_E_MALFORMED;
	return KRX_OK;
}

int
krx_parcel_parse(const uint8_t *p, size_t len, struct krx_parcel *pc)
{
	struct krx_parcel_hdr	 h;
	struct krx_cur		 c;
	size_t			 start;
	int32_t			 i;
	int			 r;

	memset(pc, 0, sizeof(*pc));
	krx_cur_init(&c, p, len);
	if ((r = krx_cur_get_varint(&c, &pc->value_len)) != KRX_OK)
		goto out;
	if (pc->value_len >= 0) {
		if ((r = krx_cur_get_ref(&c, (size_t)pc->value_len,
		    &pc->value)) != KRX_OK)
			goto out;
	} else if (pc->value_len != KRX_PARCEL_NULL &&
	    pc->value_len != KRX_PARCEL_ABSENT) {
		r = KRX_E_MALFORMED;
		goto out;
	}
	if ((r = krx_cur_get_varint(&c, &pc->hdr_count)) != KRX_OK)
		goto out;
	if (pc->hdr_count < 0 && pc->hdr_count != KRX_PARCEL_NULL &&
	    pc->hdr_count != KRX_PARCEL_ABSENT) {
		r = KRX_E_MALFORMED;
		goto out;
	}
	start = c.off;
	for (i = 0; i < pc->hdr_count; i++)
		if ((r = parcel_hdr_get(&c, &h)) != KRX_OK)
			goto out;
	if (pc->hdr_count > 0) {
		pc->hdrs = p + start;
		pc->hdrs_len = c.off - start;
	}
	r = krx_cur_end(&c);
out:
	if (r != KRX_OK)
		memset(pc, 0, sizeof(*pc));
	return r;
}

void
krx_parcel_iter_init(struct krx_parcel_iter *it, const struct krx_parcel *pc)
{
	krx_cur_init(&it->cur, pc->hdrs, pc->hdrs_len);
	it->left = pc->hdr_count > 0 ? pc->hdr_count : 0;
}

int
krx_parcel_iter_next(struct krx_parcel_iter *it, struct krx_parcel_hdr *h)
{
	int	 r;

	if (it->left == 0) {
		memset(h, 0, sizeof(*h));
		return 0;
	}
	if ((r = parcel_hdr_get(&it->cur, h)) != KRX_OK)
		return r;
	it->left--;
	return 1;
}
