/*
 * fuzz_wrapper.c: libFuzzer harness for Kroxylicious record encryption
 * v2 (crypto/wrapper.c) and the in-memory EDEK (crypto/edek_inmem.c).
 *
 * The first input byte picks a target, the rest is its input:
 *   0  wrapper: krx_wrapper_parse, then krx_wrapper_open under a fixed
 *      DEK (the known-answer vector's, so its seeds open) and
 *      krx_parcel_parse with header iteration when the tag verifies
 *   1  parcel: krx_parcel_parse and header iteration
 *   2  in-memory EDEK: parse, unwrap under the vector's KEK
 *   3  round trip: seal the input as a value, parse, open, parse the
 *      parcel; the value must come back unchanged
 *   4  the record header's version byte
 * Besides "no crash, no leak" it checks that every view points inside
 * its input. Seeds: tests/fuzz/corpus/wrapper (the vectors of
 * tests/data/kroxylicious_vectors.txt and the parcel exemplars).
 */
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "crypto/aead.h"
#include "crypto/edek_inmem.h"
#include "crypto/secret.h"
#include "crypto/wrapper.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const uint8_t fz_dek[32] = {
	0xc8, 0x4d, 0xad, 0x45, 0xc3, 0x81, 0xff, 0xdd, 0xd0, 0x5c, 0x83,
	0x85, 0x39, 0x87, 0xbf, 0x78, 0x9a, 0x94, 0x12, 0xd0, 0x9a, 0x62,
	0x0f, 0x21, 0x98, 0x74, 0x96, 0x0c, 0x73, 0xfd, 0xa8, 0x33
};
static const uint8_t fz_kek[32] = {
	0x17, 0x06, 0xa2, 0x94, 0x5b, 0x6d, 0x64, 0x94, 0x76, 0x26, 0xae,
	0x37, 0x60, 0xf8, 0x70, 0xb0, 0xa4, 0xed, 0xb9, 0x32, 0x50, 0x36,
	0x73, 0xcf, 0xba, 0xda, 0xc5, 0xbb, 0xdb, 0x95, 0x3f, 0x1e
};

static struct krx_aead *fz_aead;

static void
fz_inside(const uint8_t *v, size_t n, const uint8_t *p, size_t len)
{
	if (n > 0 && (v < p || v > p + len || n > (size_t)(p + len - v)))
		abort();
}

static void
fz_parcel(const uint8_t *p, size_t len)
{
	struct krx_parcel	 pc;
	struct krx_parcel_iter	 it;
	struct krx_parcel_hdr	 h;
	int32_t			 n = 0;
	int			 r;

	if (krx_parcel_parse(p, len, &pc) != KRX_OK)
		return;
	if (pc.value_len >= 0)
		fz_inside(pc.value, (size_t)pc.value_len, p, len);
	fz_inside(pc.hdrs, pc.hdrs_len, p, len);
	krx_parcel_iter_init(&it, &pc);
	while ((r = krx_parcel_iter_next(&it, &h)) == 1) {
		fz_inside(h.key, h.key_len, p, len);
		if (h.value_len >= 0)
			fz_inside(h.value, (size_t)h.value_len, p, len);
		n++;
	}
	/* parse validated every header: iteration cannot fail */
	if (r != 0 || n != (pc.hdr_count > 0 ? pc.hdr_count : 0))
		abort();
}

static void
fz_wrapper(const uint8_t *p, size_t len)
{
	struct krx_wrapper	 w;
	struct krx_buf		 plain;

	if (krx_wrapper_parse(p, len, &w) != KRX_OK)
		return;
	fz_inside(w.edek, w.edek_len, p, len);
	fz_inside(w.iv, KRX_AEAD_IV_LEN, p, len);
	fz_inside(w.ct, w.ct_len, p, len);
	if (w.ct + w.ct_len != p + len)
		abort();
	krx_buf_init(&plain, 0);
	if (krx_wrapper_open(fz_aead, &w, &plain) == KRX_OK) {
		if (plain.len != w.ct_len - KRX_AEAD_TAG_LEN)
			abort();
		fz_parcel(plain.data, plain.len);
	} else if (plain.len != 0)
		abort();
	krx_buf_free(&plain);
}

static void
fz_edek(const uint8_t *p, size_t len)
{
	struct krx_edek_inmem	 e;
	struct krx_secret	*s;

	if (krx_edek_inmem_parse(p, len, &e) != KRX_OK)
		return;
	if (len != KRX_EDEK_INMEM_LEN)
		abort();
	if (krx_edek_inmem_unwrap(&e, fz_kek, sizeof(fz_kek), &s) == KRX_OK)
		krx_secret_free(s);
	else if (s != NULL)
		abort();
}

static void
fz_roundtrip(const uint8_t *p, size_t len)
{
	static const uint8_t	 iv[KRX_AEAD_IV_LEN] = { 9, 8, 7 };
	static const uint8_t	 one = 0x80;
	const uint8_t		*edek = &one;
	struct krx_wrapper	 w;
	struct krx_parcel	 pc;
	struct krx_buf		 plain;
	uint8_t			*out;
	size_t			 n, elen = 1;

	/* The EDEK is a prefix of the input, its length set by byte 0. */
	if (len > 0) {
		edek = p;
		elen = 1 + p[0] % len;
	}
	n = krx_wrapper_size(elen, len);
	if ((out = malloc(n)) == NULL)
		return;
	if (krx_wrapper_seal(fz_aead, iv, edek, elen, p, len, out, n - 1) !=
	    KRX_E_RANGE ||
	    krx_wrapper_seal(fz_aead, iv, edek, elen, p, len, out, n) !=
	    KRX_OK)
		abort();
	krx_buf_init(&plain, 0);
	if (krx_wrapper_parse(out, n, &w) != KRX_OK ||
	    w.edek_len != elen || memcmp(w.edek, edek, elen) != 0 ||
	    krx_wrapper_open(fz_aead, &w, &plain) != KRX_OK ||
	    krx_parcel_parse(plain.data, plain.len, &pc) != KRX_OK ||
	    pc.value_len != (int32_t)len || pc.hdr_count != KRX_PARCEL_ABSENT ||
	    (len > 0 && memcmp(pc.value, p, len) != 0))
		abort();
	krx_buf_free(&plain);
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (fz_aead == NULL &&
	    (fz_aead = krx_aead_new(fz_dek, sizeof(fz_dek))) == NULL)
		abort();
	if (size == 0)
		return 0;
	switch (data[0]) {
	case 0:
		fz_wrapper(data + 1, size - 1);
		break;
	case 1:
		fz_parcel(data + 1, size - 1);
		break;
	case 2:
		fz_edek(data + 1, size - 1);
		break;
	case 3:
		fz_roundtrip(data + 1, size - 1);
		break;
	case 4:
		(void)krx_wrapper_version(data + 1, size - 1);
		break;
	}
	return 0;
}
