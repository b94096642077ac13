/*
 * aead_test.c: AES-256-GCM (crypto/aead.c): the GCM specification's
 * 256-bit known answers (McGrew and Viega, test cases 13 to 15), round
 * trips, sealing from pieces, in-place use, tag checks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "common/err.h"
#include "crypto/aead.h"

static size_t
unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t	 n = 0;
	unsigned int v;

	while (s[0] != '\0' && s[1] != '\0') {
		cr_assert(n < cap, "hex longer than %zu bytes", cap);
		cr_assert_eq(sscanf(s, "%2x", &v), 1);
		out[n++] = (uint8_t)v;
		s += 2;
	}
	return n;
}

struct kat {
	const char	*key, *iv, *pt, *ct, *tag;
};

static const struct kat kats[] = {
	/* Test case 13: empty plaintext. */
	{ "0000000000000000000000000000000000000000000000000000000000000000",
	  "000000000000000000000000", "", "",
	  "530f8afbc74536b9a963b4f1c4cb738b" },
	/* Test case 14: one zero block. */
	{ "0000000000000000000000000000000000000000000000000000000000000000",
	  "000000000000000000000000", "00000000000000000000000000000000",
	  "cea7403d4d606b6e074ec5d3baf39d18",
	  "d0d1c8a799996bf0265b98b5d48ab919" },
	/* Test case 15: four blocks. */
	{ "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
	  "cafebabefacedbaddecaf888",
	  "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	  "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
	  "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	  "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
	  "b094dac5d93471bdec1a502270e3cc6c" },
};

Test(aead, gcm_spec_known_answers)
{
	uint8_t		 key[32], iv[12], pt[64], back[64];
	uint8_t		 want[80], got[80];
	struct krx_aead	*a;
	size_t		 i, klen, ivlen, plen, clen;

	for (i = 0; i < sizeof(kats) / sizeof(kats[0]); i++) {
		klen = unhex(kats[i].key, key, sizeof(key));
		ivlen = unhex(kats[i].iv, iv, sizeof(iv));
		cr_assert_eq(klen, 32);
		cr_assert_eq(ivlen, 12);
		plen = unhex(kats[i].pt, pt, sizeof(pt));
		clen = unhex(kats[i].ct, want, sizeof(want));
		cr_assert_eq(clen, plen);
		unhex(kats[i].tag, want + clen, 16);
		cr_assert_not_null(a = krx_aead_new(key, klen));
		cr_assert_eq(krx_aead_seal(a, iv, pt, plen, got), KRX_OK);
		cr_assert_arr_eq(got, want, plen + 16, "case %zu", i);
		cr_assert_eq(krx_aead_open(a, iv, got, plen + 16, back),
		    KRX_OK);
		if (plen > 0)
			cr_assert_arr_eq(back, pt, plen);
		krx_aead_free(a);
	}
}

Test(aead, rejects_bad_key_length)
{
	uint8_t	 key[33] = { 0 };

	cr_assert_null(krx_aead_new(key, 16));
	cr_assert_null(krx_aead_new(key, 33));
	cr_assert_null(krx_aead_new(NULL, 32));
	krx_aead_free(NULL);
}

static void
fill(uint8_t *p, size_t n, unsigned int seed)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 8));
}

Test(aead, round_trips_many_lengths)
{
	static const size_t lens[] = { 0, 1, 2, 15, 16, 17, 31, 32, 33, 63,
	    64, 100, 255, 256, 1000, 1024, 4097, 65536 };
	uint8_t		 key[32], iv[12];
	uint8_t		*pt, *ct, *back;
	struct krx_aead	*a;
	size_t		 i, n;

	fill(key, sizeof(key), 1);
	fill(iv, sizeof(iv), 2);
	cr_assert_not_null(a = krx_aead_new(key, sizeof(key)));
	cr_assert_not_null(pt = malloc(65536));
	cr_assert_not_null(ct = malloc(65536 + 16));
	cr_assert_not_null(back = malloc(65536));
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		n = lens[i];
		fill(pt, n, (unsigned int)i);
		iv[11] = (uint8_t)i;
		cr_assert_eq(krx_aead_seal(a, iv, pt, n, ct), KRX_OK);
		if (n > 16)
			cr_assert(memcmp(ct, pt, n) != 0);
		cr_assert_eq(krx_aead_open(a, iv, ct, n + 16, back), KRX_OK,
		    "length %zu", n);
		if (n > 0)
			cr_assert_arr_eq(back, pt, n);
	}
	free(pt);
	free(ct);
	free(back);
	krx_aead_free(a);
}

Test(aead, pieces_equal_one_shot)
{
	uint8_t		 key[32], iv[12], pt[300], one[316], pieces[316];
	struct krx_aead	*a;
	size_t		 cut1, cut2;

	fill(key, sizeof(key), 3);
	fill(iv, sizeof(iv), 4);
	fill(pt, sizeof(pt), 5);
	cr_assert_not_null(a = krx_aead_new(key, sizeof(key)));
	cr_assert_eq(krx_aead_seal(a, iv, pt, sizeof(pt), one), KRX_OK);
	for (cut1 = 0; cut1 <= sizeof(pt); cut1 += 7) {
		for (cut2 = cut1; cut2 <= sizeof(pt); cut2 += 13) {
			memset(pieces, 0, sizeof(pieces));
			cr_assert_eq(krx_aead_seal_begin(a, iv), KRX_OK);
			cr_assert_eq(krx_aead_seal_update(a, pt, cut1,
			    pieces), KRX_OK);
			cr_assert_eq(krx_aead_seal_update(a, pt + cut1,
			    cut2 - cut1, pieces + cut1), KRX_OK);
			cr_assert_eq(krx_aead_seal_update(a, pt + cut2,
			    sizeof(pt) - cut2, pieces + cut2), KRX_OK);
			cr_assert_eq(krx_aead_seal_finish(a,
			    pieces + sizeof(pt)), KRX_OK);
			cr_assert_arr_eq(pieces, one, sizeof(one),
			    "cuts %zu %zu", cut1, cut2);
		}
	}
	krx_aead_free(a);
}

Test(aead, in_place_and_direction_switches)
{
	uint8_t		 key[32], iv[12], pt[100], buf[116], ref[116];
	struct krx_aead	*a;
	int		 round;

	fill(key, sizeof(key), 6);
	fill(iv, sizeof(iv), 7);
	fill(pt, sizeof(pt), 8);
	cr_assert_not_null(a = krx_aead_new(key, sizeof(key)));
	cr_assert_eq(krx_aead_seal(a, iv, pt, sizeof(pt), ref), KRX_OK);
	/* Seal and open alternate on one context, in place. */
	for (round = 0; round < 3; round++) {
		memcpy(buf, pt, sizeof(pt));
		cr_assert_eq(krx_aead_seal(a, iv, buf, sizeof(pt), buf),
		    KRX_OK);
		cr_assert_arr_eq(buf, ref, sizeof(ref));
		cr_assert_eq(krx_aead_open(a, iv, buf, sizeof(buf), buf),
		    KRX_OK);
		cr_assert_arr_eq(buf, pt, sizeof(pt));
	}
	krx_aead_free(a);
}

Test(aead, tampering_fails_and_zeroes)
{
	uint8_t		 key[32], iv[12], pt[40], out[40];
	uint8_t		 ct[56], bad[56];
	uint8_t		 zero[40] = { 0 };
	struct krx_aead	*a, *b;
	size_t		 i;

	fill(key, sizeof(key), 9);
	fill(iv, sizeof(iv), 10);
	fill(pt, sizeof(pt), 11);
	cr_assert_not_null(a = krx_aead_new(key, sizeof(key)));
	cr_assert_eq(krx_aead_seal(a, iv, pt, sizeof(pt), ct), KRX_OK);
	for (i = 0; i < sizeof(ct); i++) {
		memcpy(bad, ct, sizeof(ct));
		bad[i] ^= 0x01;
		memset(out, 0xaa, sizeof(out));
		cr_assert_eq(krx_aead_open(a, iv, bad, sizeof(bad), out),
		    KRX_E_CRYPTO, "byte %zu", i);
		cr_assert_arr_eq(out, zero, sizeof(out));
	}
	for (i = 0; i < sizeof(iv); i++) {
		iv[i] ^= 0x80;
		cr_assert_eq(krx_aead_open(a, iv, ct, sizeof(ct), out),
		    KRX_E_CRYPTO);
		iv[i] ^= 0x80;
	}
	/* The wrong key. */
	key[0] ^= 1;
	cr_assert_not_null(b = krx_aead_new(key, sizeof(key)));
	cr_assert_eq(krx_aead_open(b, iv, ct, sizeof(ct), out), KRX_E_CRYPTO);
	/* Shorter than a tag. */
	cr_assert_eq(krx_aead_open(a, iv, ct, 15, out), KRX_E_TRUNCATED);
	/* Still usable after failures. */
	cr_assert_eq(krx_aead_open(a, iv, ct, sizeof(ct), out), KRX_OK);
	cr_assert_arr_eq(out, pt, sizeof(pt));
	krx_aead_free(a);
	krx_aead_free(b);
}
