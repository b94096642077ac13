/*
 * secret_test.c: locked secret storage (crypto/secret.c).
 */
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "crypto/secret.h"

Test(secret, new_is_zeroed_and_page_aligned)
{
	struct krx_secret	*s;
	size_t			 i, page = (size_t)sysconf(_SC_PAGESIZE);

	cr_assert_null(krx_secret_new(0));
	cr_assert_not_null(s = krx_secret_new(32));
	cr_assert_eq(s->len, 32);
	cr_assert_eq((uintptr_t)s->data % page, 0);
	cr_assert_eq(s->map_len % page, 0);
	cr_assert(s->locked == 0 || s->locked == 1);
	for (i = 0; i < s->len; i++)
		cr_assert_eq(s->data[i], 0);
	memset(s->data, 0x5a, s->len);
	krx_secret_free(s);
	krx_secret_free(NULL);
}

Test(secret, copy_holds_the_bytes)
{
	static const uint8_t key[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
	struct krx_secret	*s;

	cr_assert_null(krx_secret_new_copy(key, 0));
	cr_assert_not_null(s = krx_secret_new_copy(key, sizeof(key)));
	cr_assert_eq(s->len, sizeof(key));
	cr_assert_arr_eq(s->data, key, sizeof(key));
	krx_secret_free(s);
}

Test(secret, many_and_large)
{
	struct krx_secret	*s[64];
	size_t			 i;

	for (i = 0; i < 64; i++) {
		cr_assert_not_null(s[i] = krx_secret_new(1 + i * 211));
		memset(s[i]->data, (int)i, s[i]->len);
	}
	/* Each secret is on pages of its own: no byte was overwritten. */
	for (i = 0; i < 64; i++) {
		cr_assert_eq(s[i]->data[0], (uint8_t)i);
		cr_assert_eq(s[i]->data[s[i]->len - 1], (uint8_t)i);
		krx_secret_free(s[i]);
	}
	cr_assert_null(krx_secret_new(SIZE_MAX - 10));
}
