/*
 * ivgen_test.c: the per-DEK IV counter (crypto/ivgen.c): layout, no
 * repeats, the budget and its exhaustion.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "common/err.h"
#include "crypto/ivgen.h"

Test(ivgen, layout_is_prefix_then_counter)
{
	static const uint8_t want0[12] = { 0xa1, 0xb2, 0xc3, 0xd4, 0, 0, 0, 0,
	    0, 0, 0, 0 };
	static const uint8_t want1[12] = { 0xa1, 0xb2, 0xc3, 0xd4, 0, 0, 0, 0,
	    0, 0, 0, 1 };
	struct krx_ivgen	 g;
	uint8_t			 iv[12];

	cr_assert_eq(krx_ivgen_init(&g, 0xa1b2c3d4, 10), KRX_OK);
	cr_assert_eq(krx_ivgen_next(&g, iv), KRX_OK);
	cr_assert_arr_eq(iv, want0, 12);
	cr_assert_eq(krx_ivgen_next(&g, iv), KRX_OK);
	cr_assert_arr_eq(iv, want1, 12);
	cr_assert_eq(krx_ivgen_remaining(&g), 8);
}

static int
ivcmp(const void *a, const void *b)
{
	return memcmp(a, b, 12);
}

Test(ivgen, never_repeats)
{
	enum { N = 200000 };
	struct krx_ivgen	 g;
	uint8_t			(*ivs)[12];
	size_t			 i;

	cr_assert_not_null(ivs = calloc(N, 12));
	cr_assert_eq(krx_ivgen_init_random(&g, N), KRX_OK);
	for (i = 0; i < N; i++)
		cr_assert_eq(krx_ivgen_next(&g, ivs[i]), KRX_OK);
	qsort(ivs, N, 12, ivcmp);
	for (i = 1; i < N; i++)
		cr_assert_neq(memcmp(ivs[i - 1], ivs[i], 12), 0,
		    "repeat at %zu", i);
	free(ivs);
}

Test(ivgen, exhaustion)
{
	static const uint8_t zero[12] = { 0 };
	struct krx_ivgen	 g;
	uint8_t			 iv[12];
	int			 i;

	cr_assert_eq(krx_ivgen_init(&g, 7, 3), KRX_OK);
	for (i = 0; i < 3; i++)
		cr_assert_eq(krx_ivgen_next(&g, iv), KRX_OK);
	cr_assert_eq(krx_ivgen_remaining(&g), 0);
	for (i = 0; i < 3; i++) {
		memset(iv, 0xff, sizeof(iv));
		cr_assert_eq(krx_ivgen_next(&g, iv), KRX_E_RANGE);
		cr_assert_arr_eq(iv, zero, 12);
	}
	cr_assert_eq(krx_ivgen_init(&g, 7, 0), KRX_OK);
	cr_assert_eq(krx_ivgen_next(&g, iv), KRX_E_RANGE);
}

Test(ivgen, budget_limit)
{
	static const uint8_t last[12] = { 0, 0, 0, 9, 0, 0, 0, 0, 0xff, 0xff,
	    0xff, 0xff };
	struct krx_ivgen	 g;
	uint8_t			 iv[12];

	cr_assert_eq(krx_ivgen_init(&g, 9, KRX_IVGEN_MAX_BUDGET + 1),
	    KRX_E_RANGE);
	cr_assert_eq(krx_ivgen_init(&g, 9, KRX_IVGEN_MAX_BUDGET), KRX_OK);
	/* Skip ahead to the last IV of a 2^32 budget. */
	g.next = KRX_IVGEN_MAX_BUDGET - 1;
	cr_assert_eq(krx_ivgen_remaining(&g), 1);
	cr_assert_eq(krx_ivgen_next(&g, iv), KRX_OK);
	cr_assert_arr_eq(iv, last, 12);
	cr_assert_eq(krx_ivgen_next(&g, iv), KRX_E_RANGE);
}
