/*
 * wrapper_test.c: Kroxylicious record encryption v2 (crypto/wrapper.c)
 * and the in-memory KMS EDEK (crypto/edek_inmem.c): the known-answer
 * records of Kroxylicious' RecordEncryptionDeserializationCompatibilityIT
 * (tests/data/kroxylicious_vectors.txt) in both directions, the parcel
 * exemplars of its ParcelTest, tampering, truncation and bad ids.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "common/buf.h"
#include "common/err.h"
#include "crypto/aead.h"
#include "crypto/edek_inmem.h"
#include "crypto/secret.h"
#include "crypto/wrapper.h"

#define VEC_MAX	512

static size_t
unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t		 n = 0;
	unsigned int	 v;

	while (s[0] != '\0' && s[1] != '\0' && s[0] != '\n') {
		cr_assert(n < cap, "hex longer than %zu bytes", cap);
		cr_assert_eq(sscanf(s, "%2x", &v), 1, "bad hex: %s", s);
		out[n++] = (uint8_t)v;
		s += 2;
	}
	return n;
}

/* Look name up in tests/data/kroxylicious_vectors.txt; return its length. */
static size_t
vec(const char *name, uint8_t *out, size_t cap)
{
	char		 path[512], line[1024];
	const char	*dir;
	size_t		 nlen = strlen(name), n = 0;
	FILE		*f;
	int		 found = 0;

	if ((dir = getenv("KRX_TEST_DATA")) == NULL)
		dir = "tests/data";
	snprintf(path, sizeof(path), "%s/kroxylicious_vectors.txt", dir);
	cr_assert_not_null(f = fopen(path, "r"), "cannot open %s", path);
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, name, nlen) != 0 ||
		    strncmp(line + nlen, " = ", 3) != 0)
			continue;
		n = unhex(line + nlen + 3, out, cap);
		found = 1;
	}
	fclose(f);
	cr_assert(found, "vector %s not in %s", name, path);
	return n;
}

static void
kat_case(const char *name)
{
	uint8_t			 value[VEC_MAX], kek[32], uuid[16];
	uint8_t			 dek[32];
	uint8_t			 parcel[16], hdr[4], again[VEC_MAX];
	uint8_t			 edek[KRX_EDEK_INMEM_LEN];
	char			 key[64];
	struct krx_wrapper	 w;
	struct krx_edek_inmem	 e;
	struct krx_parcel	 pc;
	struct krx_secret	*s;
	struct krx_aead		*a;
	struct krx_buf		 plain;
	size_t			 vlen, plen, hlen;

	snprintf(key, sizeof(key), "%s.value", name);
	vlen = vec(key, value, sizeof(value));
	snprintf(key, sizeof(key), "%s.parcel", name);
	plen = vec(key, parcel, sizeof(parcel));
	snprintf(key, sizeof(key), "%s.dek", name);
	cr_assert_eq(vec(key, dek, sizeof(dek)), 32);
	snprintf(key, sizeof(key), "%s.hdr_value", name);
	hlen = vec(key, hdr, sizeof(hdr));
	cr_assert_eq(vec("kek", kek, sizeof(kek)), 32);
	cr_assert_eq(vec("kek_uuid", uuid, sizeof(uuid)), 16);

	/* The record header says version 2. */
	cr_assert_eq(krx_wrapper_version(hdr, hlen), KRX_WRAPPER_VERSION);

	/* The wrapper parses into the fields of research note 1.5. */
	cr_assert_eq(vlen, 112);
	cr_assert_eq(krx_wrapper_parse(value, vlen, &w), KRX_OK);
	cr_assert_eq(w.cipher, KRX_WRAPPER_CIPHER_AES_GCM);
	cr_assert_eq(w.edek_len, 78);
	cr_assert_eq(w.edek, value + 2);
	cr_assert_eq(w.aad, KRX_WRAPPER_AAD_NONE);
	cr_assert_eq(w.iv, value + 81);
	cr_assert_eq(w.ct, value + 93);
	cr_assert_eq(w.ct_len, 3 + 16);

	/* The EDEK names the KEK and unwraps under it to the DEK. */
	cr_assert_eq(krx_edek_inmem_parse(w.edek, w.edek_len, &e), KRX_OK);
	cr_assert_arr_eq(e.kek_uuid, uuid, 16);
	cr_assert_eq(krx_edek_inmem_unwrap(&e, kek, sizeof(kek), &s), KRX_OK);
	cr_assert_eq(s->len, 32);
	cr_assert_arr_eq(s->data, dek, 32);

	/* Wrapping the DEK again with the same IV gives the same EDEK. */
	cr_assert_eq(krx_edek_inmem_wrap(kek, sizeof(kek), uuid, e.iv, s,
	    edek), KRX_OK);
	cr_assert_arr_eq(edek, w.edek, sizeof(edek));

	/* The value decrypts to the parcel of "b", headers absent. */
	cr_assert_not_null(a = krx_aead_new(s->data, s->len));
	krx_buf_init(&plain, 0);
	cr_assert_eq(krx_wrapper_open(a, &w, &plain), KRX_OK);
	cr_assert_eq(plain.len, plen);
	cr_assert_arr_eq(plain.data, parcel, plen);
	cr_assert_eq(krx_parcel_parse(plain.data, plain.len, &pc), KRX_OK);
	cr_assert_eq(pc.value_len, 1);
	cr_assert_eq(pc.value[0], 'b');
	cr_assert_eq(pc.hdr_count, KRX_PARCEL_ABSENT);

	/* Sealing "b" with the same DEK, IV and EDEK gives the same bytes. */
	cr_assert_eq(krx_wrapper_size(w.edek_len, 1), vlen);
	memset(again, 0, sizeof(again));
	cr_assert_eq(krx_wrapper_seal(a, w.iv, w.edek, w.edek_len,
	    (const uint8_t *)"b", 1, again, vlen), KRX_OK);
	cr_assert_arr_eq(again, value, vlen);

	krx_buf_free_secret(&plain);
	krx_aead_free(a);
	krx_secret_free(s);
}

Test(wrapper, kat_value_not_null)
{
	kat_case("value_not_null");
}

Test(wrapper, kat_other_headers_preserved)
{
	kat_case("other_headers");
}

Test(wrapper, version_header)
{
	static const uint8_t v2 = 2, v1 = 1, v3 = 3, v0 = 0;
	static const uint8_t two[2] = { 2, 2 };

	cr_assert_eq(sizeof(KRX_WRAPPER_HDR_KEY) - 1, KRX_WRAPPER_HDR_KEY_LEN);
	cr_assert_eq(krx_wrapper_version(&v2, 1), 2);
	cr_assert_eq(krx_wrapper_version(&v1, 1), KRX_E_UNSUPPORTED);
	cr_assert_eq(krx_wrapper_version(&v3, 1), KRX_E_UNSUPPORTED);
	cr_assert_eq(krx_wrapper_version(&v0, 1), KRX_E_UNSUPPORTED);
	cr_assert_eq(krx_wrapper_version(two, 2), KRX_E_MALFORMED);
	cr_assert_eq(krx_wrapper_version(two, 0), KRX_E_MALFORMED);
}

/* Parcel exemplars of Kroxylicious' ParcelTest (research note 1.4). */
Test(wrapper, parcel_exemplars)
{
	static const uint8_t hi[] = "hi -n\n";
	static const uint8_t ignored[] = { 0x0c, 'h', 'i', ' ', '-', 'n', '\n',
	    0x03 };
	static const uint8_t nohdrs[] = { 0x0c, 'h', 'i', ' ', '-', 'n', '\n',
	    0x00 };
	static const uint8_t onehdr[] = { 0x0c, 'h', 'i', ' ', '-', 'n', '\n',
	    0x02, 0x06, 'h', 'e', 'l', 'l', 'o', '\n', 0x0c, 't', 'h', 'e',
	    'r', 'e', '\n' };
	static const uint8_t nullhdr[] = { 0x0c, 'h', 'i', ' ', '-', 'n',
	    '\n', 0x02, 0x06, 'h', 'e', 'l', 'l', 'o', '\n', 0x01 };
	static const uint8_t nullval[] = { 0x01, 0x00 };
	static const uint8_t nothing[] = { 0x03, 0x03 };
	struct krx_parcel	 pc;
	struct krx_parcel_iter	 it;
	struct krx_parcel_hdr	 h;

	cr_assert_eq(krx_parcel_parse(ignored, sizeof(ignored), &pc), KRX_OK);
	cr_assert_eq(pc.value_len, 6);
	cr_assert_arr_eq(pc.value, hi, 6);
	cr_assert_eq(pc.hdr_count, KRX_PARCEL_ABSENT);
	krx_parcel_iter_init(&it, &pc);
	cr_assert_eq(krx_parcel_iter_next(&it, &h), 0);

	cr_assert_eq(krx_parcel_parse(nohdrs, sizeof(nohdrs), &pc), KRX_OK);
	cr_assert_eq(pc.value_len, 6);
	cr_assert_eq(pc.hdr_count, 0);
	krx_parcel_iter_init(&it, &pc);
	cr_assert_eq(krx_parcel_iter_next(&it, &h), 0);

	cr_assert_eq(krx_parcel_parse(onehdr, sizeof(onehdr), &pc), KRX_OK);
	cr_assert_eq(pc.value_len, 6);
	cr_assert_arr_eq(pc.value, hi, 6);
	cr_assert_eq(pc.hdr_count, 1);
	krx_parcel_iter_init(&it, &pc);
	cr_assert_eq(krx_parcel_iter_next(&it, &h), 1);
	cr_assert_eq(h.key_len, 6);
	cr_assert_arr_eq(h.key, "hello\n", 6);
	cr_assert_eq(h.value_len, 6);
	cr_assert_arr_eq(h.value, "there\n", 6);
	cr_assert_eq(krx_parcel_iter_next(&it, &h), 0);

	cr_assert_eq(krx_parcel_parse(nullhdr, sizeof(nullhdr), &pc), KRX_OK);
	cr_assert_eq(pc.hdr_count, 1);
	krx_parcel_iter_init(&it, &pc);
	cr_assert_eq(krx_parcel_iter_next(&it, &h), 1);
	cr_assert_arr_eq(h.key, "hello\n", 6);
	cr_assert_eq(h.value_len, KRX_PARCEL_NULL);
	cr_assert_null(h.value);
	cr_assert_eq(krx_parcel_iter_next(&it, &h), 0);

	cr_assert_eq(krx_parcel_parse(nullval, sizeof(nullval), &pc), KRX_OK);
	cr_assert_eq(pc.value_len, KRX_PARCEL_NULL);
	cr_assert_null(pc.value);
	cr_assert_eq(pc.hdr_count, 0);

	cr_assert_eq(krx_parcel_parse(nothing, sizeof(nothing), &pc), KRX_OK);
	cr_assert_eq(pc.value_len, KRX_PARCEL_ABSENT);
	cr_assert_eq(pc.hdr_count, KRX_PARCEL_ABSENT);
}

Test(wrapper, parcel_rejects)
{
	/* value length -3 (zigzag 5) */
	static const uint8_t badval[] = { 0x05, 0x03 };
	/* header count -3 */
	static const uint8_t badcnt[] = { 0x00, 0x05 };
	/* header value length -2 */
	static const uint8_t badhval[] = { 0x00, 0x02, 0x01, 'k', 0x03 };
	/* trailing byte */
	static const uint8_t trail[] = { 0x02, 'b', 0x03, 0x00 };
	/* two headers announced, one there */
	static const uint8_t short1[] = { 0x00, 0x04, 0x01, 'k', 0x00 };
	/* value longer than the parcel */
	static const uint8_t short2[] = { 0x0a, 'b', 0x03 };
	/* key length 2^32 - 1 (unsigned varint, over INT32_MAX) */
	static const uint8_t bigkey[] = { 0x00, 0x02, 0xff, 0xff, 0xff, 0xff,
	    0x0f };
	/* a six-byte varint */
	static const uint8_t longvar[] = { 0x80, 0x80, 0x80, 0x80, 0x80, 0x00,
	    0x03 };
	struct krx_parcel	 pc;

	cr_assert_eq(krx_parcel_parse(badval, sizeof(badval), &pc),
	    KRX_E_MALFORMED);
	cr_assert_eq(krx_parcel_parse(badcnt, sizeof(badcnt), &pc),
	    KRX_E_MALFORMED);
	cr_assert_eq(krx_parcel_parse(badhval, sizeof(badhval), &pc),
	    KRX_E_MALFORMED);
	cr_assert_eq(krx_parcel_parse(trail, sizeof(trail), &pc),
	    KRX_E_TRAILING);
	cr_assert_eq(krx_parcel_parse(short1, sizeof(short1), &pc),
	    KRX_E_TRUNCATED);
	cr_assert_eq(krx_parcel_parse(short2, sizeof(short2), &pc),
	    KRX_E_TRUNCATED);
	cr_assert_eq(krx_parcel_parse(bigkey, sizeof(bigkey), &pc),
	    KRX_E_MALFORMED);
	cr_assert_eq(krx_parcel_parse(longvar, sizeof(longvar), &pc),
	    KRX_E_MALFORMED);
	cr_assert_eq(krx_parcel_parse(NULL, 0, &pc), KRX_E_TRUNCATED);
	cr_assert_eq(pc.value_len, 0);
	cr_assert_null(pc.value);
}

static struct krx_aead *
test_aead(void)
{
	uint8_t		 dek[32];
	struct krx_aead	*a;

	cr_assert_eq(vec("value_not_null.dek", dek, sizeof(dek)), 32);
	cr_assert_not_null(a = krx_aead_new(dek, sizeof(dek)));
	return a;
}

/* The sealed parcel is zigzag(len) | value | 0x03, the wrapper exact. */
Test(wrapper, writer_lengths_and_parcel)
{
	static const size_t vlens[] = { 0, 1, 63, 64, 127, 128, 8191, 8192,
	    100000 };
	static const size_t elens[] = { 1, 78, 127, 128, 300 };
	uint8_t			 iv[12] = { 1, 2, 3 }, edek[300];
	uint8_t			*value, *out;
	struct krx_wrapper	 w;
	struct krx_parcel	 pc;
	struct krx_aead		*a = test_aead();
	struct krx_buf		 plain, want;
	size_t			 i, j, n, size;

	memset(edek, 0xed, sizeof(edek));
	cr_assert_not_null(value = malloc(100000));
	for (n = 0; n < 100000; n++)
		value[n] = (uint8_t)(n * 13);
	krx_buf_init(&plain, 0);
	krx_buf_init(&want, 0);
	for (i = 0; i < sizeof(vlens) / sizeof(vlens[0]); i++) {
		for (j = 0; j < sizeof(elens) / sizeof(elens[0]); j++) {
			n = vlens[i];
			size = krx_wrapper_size(elens[j], n);
			cr_assert_eq(size, 1 + krx_uvarint_len(elens[j]) +
			    elens[j] + 1 + 12 + krx_varint_len((int64_t)n) +
			    n + 1 + 16);
			cr_assert_not_null(out = malloc(size));
			cr_assert_eq(krx_wrapper_seal(a, iv, edek, elens[j],
			    value, n, out, size), KRX_OK);
			cr_assert_eq(krx_wrapper_parse(out, size, &w), KRX_OK);
			cr_assert_eq(w.edek_len, elens[j]);
			cr_assert_arr_eq(w.edek, edek, elens[j]);
			cr_assert_arr_eq(w.iv, iv, 12);
			krx_buf_reset(&plain);
			cr_assert_eq(krx_wrapper_open(a, &w, &plain), KRX_OK);
			krx_buf_reset(&want);
			krx_buf_put_varint(&want, (int64_t)n);
			krx_buf_put(&want, value, n);
			krx_buf_put_u8(&want, 0x03);
			cr_assert_eq(plain.len, want.len);
			cr_assert_arr_eq(plain.data, want.data, want.len);
			cr_assert_eq(krx_parcel_parse(plain.data, plain.len,
			    &pc), KRX_OK);
			cr_assert_eq(pc.value_len, (int32_t)n);
			cr_assert_eq(pc.hdr_count, KRX_PARCEL_ABSENT);
			free(out);
		}
	}
	/* Empty value: 00 | ... | seal(00 03). */
	cr_assert_eq(krx_wrapper_size(78, 0), 1 + 1 + 78 + 1 + 12 + 2 + 16);
	/* Bad sizes. */
	cr_assert_eq(krx_wrapper_size(0, 1), 0);
	cr_assert_eq(krx_wrapper_size(1, (size_t)INT32_MAX + 1), 0);
	cr_assert_eq(krx_wrapper_size((size_t)INT32_MAX + 1, 1), 0);
	cr_assert_eq(krx_wrapper_seal(a, iv, edek, 0, value, 1, value, 0),
	    KRX_E_TOO_BIG);
	out = malloc(200);
	cr_assert_eq(krx_wrapper_seal(a, iv, edek, 10, value, 10, out, 200),
	    KRX_E_RANGE);
	free(out);
	free(value);
	krx_buf_free(&plain);
	krx_buf_free(&want);
	krx_aead_free(a);
}

Test(wrapper, tampering_fails)
{
	uint8_t			 value[VEC_MAX], bad[VEC_MAX];
	struct krx_wrapper	 w;
	struct krx_aead		*a = test_aead();
	struct krx_buf		 plain;
	size_t			 vlen, i;

	vlen = vec("value_not_null.value", value, sizeof(value));
	krx_buf_init(&plain, 0);
	krx_buf_put(&plain, "keep", 4);
	/* IV (81..92), ciphertext and tag (93..): every bit counts. */
	for (i = 81; i < vlen; i++) {
		memcpy(bad, value, vlen);
		bad[i] ^= 0x04;
		cr_assert_eq(krx_wrapper_parse(bad, vlen, &w), KRX_OK);
		cr_assert_eq(krx_wrapper_open(a, &w, &plain), KRX_E_CRYPTO,
		    "byte %zu", i);
		cr_assert_eq(plain.len, 4);
		cr_assert_arr_eq(plain.data, "keep", 4);
	}
	/* EDEK bytes: the wrapper parses, the EDEK no longer unwraps. */
	memcpy(bad, value, vlen);
	bad[60] ^= 1;
	cr_assert_eq(krx_wrapper_parse(bad, vlen, &w), KRX_OK);
	/* Cipher id 1 (ChaCha20-Poly1305) and unknown ids. */
	memcpy(bad, value, vlen);
	bad[0] = KRX_WRAPPER_CIPHER_CHACHA;
	cr_assert_eq(krx_wrapper_parse(bad, vlen, &w), KRX_E_UNSUPPORTED);
	cr_assert_null(w.edek);
	bad[0] = 0x17;
	cr_assert_eq(krx_wrapper_parse(bad, vlen, &w), KRX_E_UNSUPPORTED);
	/* AAD id other than none. */
	memcpy(bad, value, vlen);
	bad[80] = 0x01;
	cr_assert_eq(krx_wrapper_parse(bad, vlen, &w), KRX_E_UNSUPPORTED);
	bad[80] = 0x05;
	cr_assert_eq(krx_wrapper_parse(bad, vlen, &w), KRX_E_UNSUPPORTED);
	krx_buf_free(&plain);
	krx_aead_free(a);
}

Test(wrapper, edek_tampering_and_bad_kek)
{
	uint8_t			 value[VEC_MAX], kek[32], edek[78];
	struct krx_edek_inmem	 e;
	struct krx_secret	*s;
	size_t			 i;

	vec("value_not_null.value", value, sizeof(value));
	vec("kek", kek, sizeof(kek));
	/* IV, UUID-independent wrapped key: flips in 2..13 and 30..77. */
	for (i = 2; i < sizeof(edek); i++) {
		if (i >= 14 && i < 30)
			continue;	/* the UUID is not authenticated */
		memcpy(edek, value + 2, sizeof(edek));
		edek[i] ^= 0x10;
		cr_assert_eq(krx_edek_inmem_parse(edek, sizeof(edek), &e),
		    KRX_OK);
		cr_assert_eq(krx_edek_inmem_unwrap(&e, kek, 32, &s),
		    KRX_E_CRYPTO, "byte %zu", i);
		cr_assert_null(s);
	}
	memcpy(edek, value + 2, sizeof(edek));
	cr_assert_eq(krx_edek_inmem_parse(edek, sizeof(edek), &e), KRX_OK);
	cr_assert_eq(krx_edek_inmem_unwrap(&e, kek, 16, &s), KRX_E_RANGE);
	kek[31] ^= 1;
	cr_assert_eq(krx_edek_inmem_unwrap(&e, kek, 32, &s), KRX_E_CRYPTO);
	/* Format checks. */
	edek[0] = 0x60;
	cr_assert_eq(krx_edek_inmem_parse(edek, sizeof(edek), &e),
	    KRX_E_UNSUPPORTED);
	edek[0] = 0x80;
	edek[1] = 16;
	cr_assert_eq(krx_edek_inmem_parse(edek, sizeof(edek), &e),
	    KRX_E_UNSUPPORTED);
	edek[1] = 12;
	cr_assert_eq(krx_edek_inmem_parse(edek, 77, &e), KRX_E_TRUNCATED);
	cr_assert_null(e.iv);
	cr_assert_eq(krx_edek_inmem_parse(value + 2, 79, &e),
	    KRX_E_MALFORMED);
	for (i = 0; i < sizeof(edek); i++)
		cr_assert_neq(krx_edek_inmem_parse(edek, i, &e), KRX_OK);
}

/* Every prefix of a wrapper fails cleanly: parse error or tag error. */
Test(wrapper, truncation_at_every_prefix)
{
	uint8_t			 value[VEC_MAX], *cut;
	struct krx_wrapper	 w;
	struct krx_aead		*a = test_aead();
	struct krx_buf		 plain;
	size_t			 vlen, i;
	int			 r;

	vlen = vec("value_not_null.value", value, sizeof(value));
	krx_buf_init(&plain, 0);
	for (i = 0; i < vlen; i++) {
		/* An exact-size copy, so ASan sees any overread. */
		cr_assert_not_null(cut = malloc(i == 0 ? 1 : i));
		memcpy(cut, value, i);
		r = krx_wrapper_parse(cut, i, &w);
		if (r == KRX_OK) {
			cr_assert_geq(i, 81 + 12 + 18);
			cr_assert_eq(krx_wrapper_open(a, &w, &plain),
			    KRX_E_CRYPTO);
		} else
			cr_assert(r == KRX_E_TRUNCATED, "prefix %zu: %d", i, r);
		cr_assert_eq(plain.len, 0);
		free(cut);
	}
	krx_buf_free(&plain);
	krx_aead_free(a);
}

Test(wrapper, parse_rejects)
{
	/* EDEK length 0 */
	static const uint8_t e0[] = { 0x00, 0x00, 0x00, 1, 2, 3, 4, 5, 6, 7,
	    8, 9, 10, 11, 12, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
	    15, 16, 17, 18 };
	/* EDEK length as a six-byte varint */
	static const uint8_t elong[] = { 0x00, 0x81, 0x80, 0x80, 0x80, 0x80,
	    0x00 };
	/* EDEK length 2^32 - 1 */
	static const uint8_t ebig[] = { 0x00, 0xff, 0xff, 0xff, 0xff, 0x0f };
	/* EDEK longer than the value */
	static const uint8_t eshort[] = { 0x00, 0x05, 0xaa, 0xbb };
	struct krx_wrapper	 w;

	cr_assert_eq(krx_wrapper_parse(e0, sizeof(e0), &w), KRX_E_MALFORMED);
	cr_assert_eq(krx_wrapper_parse(elong, sizeof(elong), &w),
	    KRX_E_MALFORMED);
	cr_assert_eq(krx_wrapper_parse(ebig, sizeof(ebig), &w),
	    KRX_E_TOO_BIG);
	cr_assert_eq(krx_wrapper_parse(eshort, sizeof(eshort), &w),
	    KRX_E_TRUNCATED);
	cr_assert_eq(krx_wrapper_parse(NULL, 0, &w), KRX_E_TRUNCATED);
}

/*
 * Issue 9, finding 2: an EDEK is at most KRX_WRAPPER_EDEK_MAX (4096)
 * bytes, as keysvc allows; a longer one is KRX_E_TOO_BIG, on parse and
 * on seal.
 */
static int
edek_parse(size_t elen)
{
	struct krx_wrapper	 w;
	struct krx_buf		 v;
	int			 r;

	krx_buf_init(&v, 0);
	krx_buf_put_u8(&v, 0x00);
	krx_buf_put_uvarint(&v, elen);
	memset(krx_buf_extend(&v, elen), 0x5a, elen);
	krx_buf_put_u8(&v, 0x00);
	memset(krx_buf_extend(&v, KRX_AEAD_IV_LEN + KRX_AEAD_TAG_LEN + 2), 7,
	    KRX_AEAD_IV_LEN + KRX_AEAD_TAG_LEN + 2);
	cr_assert_eq(v.err, KRX_OK);
	r = krx_wrapper_parse(v.data, v.len, &w);
	if (r == KRX_OK)
		cr_assert_eq(w.edek_len, elen);
	else
		cr_assert_eq(w.edek, NULL);
	krx_buf_free(&v);
	return r;
}

Test(wrapper, edek_bounded)
{
	cr_assert_eq(KRX_WRAPPER_EDEK_MAX, 4096);
	cr_assert_eq(edek_parse(1), KRX_OK);
	cr_assert_eq(edek_parse(4096), KRX_OK);
	cr_assert_eq(edek_parse(4097), KRX_E_TOO_BIG);
	cr_assert_eq(edek_parse(5000), KRX_E_TOO_BIG);
	cr_assert_eq(edek_parse(70000), KRX_E_TOO_BIG);
	cr_assert_neq(krx_wrapper_size(4096, 1), 0);
	cr_assert_eq(krx_wrapper_size(4097, 1), 0);
}
