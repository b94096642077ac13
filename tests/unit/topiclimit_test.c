/*
 * topiclimit_test.c: the per-worker table of topic batch size limits
 * (worker/topiclimit.c, built into this test), issue 14: keyed by
 * virtual cluster and name, clamped, stale after the refresh time and
 * asked for once per retry period, lowered after MESSAGE_TOO_LARGE down
 * to a floor, bounded in size.
 */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "worker/topiclimit.c"

static enum krx_topiclimit_state
get(struct krx_topiclimit *tl, size_t vc, const char *n, int64_t now,
    size_t *limit, int *guessed)
{
	return krx_topiclimit_get(tl, vc, n, strlen(n), now, limit, guessed);
}

Test(topiclimit, learned_per_vcluster_and_name)
{
	struct krx_topiclimit	*tl = krx_topiclimit_new();
	size_t			 l = 0;
	int			 g = -1;

	cr_assert_eq(get(tl, 0, "t", 100, &l, &g), KRX_TOPICLIMIT_UNKNOWN);
	krx_topiclimit_set(tl, 0, "t", 1, 100, 65536);
	cr_assert_eq(get(tl, 0, "t", 101, &l, &g), KRX_TOPICLIMIT_FRESH);
	cr_assert_eq(l, 65536);
	cr_assert_eq(g, 0);
	cr_assert_eq(get(tl, 1, "t", 101, &l, &g), KRX_TOPICLIMIT_UNKNOWN);
	cr_assert_eq(get(tl, 0, "tt", 101, &l, &g), KRX_TOPICLIMIT_UNKNOWN);
	krx_topiclimit_free(tl);
}

Test(topiclimit, clamped_and_guessed)
{
	struct krx_topiclimit	*tl = krx_topiclimit_new();
	size_t			 l = 0;
	int			 g = 0;

	krx_topiclimit_set(tl, 0, "small", 5, 0, 10);
	get(tl, 0, "small", 0, &l, &g);
	cr_assert_eq(l, KRX_TOPICLIMIT_MIN);
	krx_topiclimit_set(tl, 0, "huge", 4, 0, (size_t)1 << 40);
	get(tl, 0, "huge", 0, &l, &g);
	cr_assert_eq(l, INT32_MAX);
	cr_assert_eq(g, 0);
	krx_topiclimit_set(tl, 0, "denied", 6, 0, 0);
	get(tl, 0, "denied", 0, &l, &g);
	cr_assert_eq(l, KRX_TOPICLIMIT_DEFAULT);
	cr_assert_eq(g, 1);
	/* Names Kafka cannot have are not kept. */
	krx_topiclimit_set(tl, 0, "", 0, 0, 4096);
	cr_assert_eq(tl->n, 3);
	krx_topiclimit_free(tl);
}

Test(topiclimit, stale_is_asked_once_per_retry)
{
	struct krx_topiclimit	*tl = krx_topiclimit_new();
	int64_t			 t = KRX_TOPICLIMIT_REFRESH;
	size_t			 l = 0;
	int			 g = 0;

	krx_topiclimit_set(tl, 0, "t", 1, 0, 8192);
	cr_assert_eq(get(tl, 0, "t", t - 1, &l, &g), KRX_TOPICLIMIT_FRESH);
	cr_assert_eq(get(tl, 0, "t", t, &l, &g), KRX_TOPICLIMIT_STALE);
	cr_assert_eq(l, 8192, "a stale limit is still used");
	cr_assert_eq(get(tl, 0, "t", t + 1, &l, &g), KRX_TOPICLIMIT_FRESH,
	    "asked for already");
	cr_assert_eq(get(tl, 0, "t", t + KRX_TOPICLIMIT_RETRY, &l, &g),
	    KRX_TOPICLIMIT_STALE, "no answer came: asked again");
	krx_topiclimit_set(tl, 0, "t", 1, t + 40, 16384);
	cr_assert_eq(get(tl, 0, "t", t + 41, &l, &g), KRX_TOPICLIMIT_FRESH);
	cr_assert_eq(l, 16384);
	krx_topiclimit_free(tl);
}

Test(topiclimit, lowered_to_a_floor)
{
	struct krx_topiclimit	*tl = krx_topiclimit_new();
	size_t			 l = 0;
	int			 g = 0, n = 0;

	krx_topiclimit_set(tl, 0, "t", 1, 0, 1048588);
	cr_assert_eq(krx_topiclimit_lower(tl, 0, "t", 1, 0, 800000), 0);
	get(tl, 0, "t", 0, &l, &g);
	cr_assert_eq(l, 600000);
	/* A refused batch bigger than the limit still lowers it. */
	cr_assert_eq(krx_topiclimit_lower(tl, 0, "t", 1, 0, 900000), 0);
	get(tl, 0, "t", 0, &l, &g);
	cr_assert_eq(l, 450000);
	while (krx_topiclimit_lower(tl, 0, "t", 1, 0, l) == 0) {
		get(tl, 0, "t", 0, &l, &g);
		cr_assert(++n < 40, "lowering must end");
	}
	cr_assert_eq(l, KRX_TOPICLIMIT_MIN);
	/* Unknown before: the default, guessed, then lowered. */
	cr_assert_eq(krx_topiclimit_lower(tl, 0, "u", 1, 0, 70000), 0);
	cr_assert_eq(get(tl, 0, "u", 0, &l, &g), KRX_TOPICLIMIT_FRESH);
	cr_assert_eq(l, 52500);
	cr_assert_eq(g, 1);
	krx_topiclimit_free(tl);
}

Test(topiclimit, bounded)
{
	struct krx_topiclimit	*tl = krx_topiclimit_new();
	char			 name[32];
	size_t			 l = 0;
	int			 i, g = 0;

	for (i = 0; i < 3 * KRX_TOPICLIMIT_MAX; i++) {
		snprintf(name, sizeof(name), "topic-%d", i);
		krx_topiclimit_set(tl, 0, name, strlen(name), 0, 4096);
		cr_assert_leq(tl->n, KRX_TOPICLIMIT_MAX);
	}
	cr_assert_eq(get(tl, 0, name, 0, &l, &g), KRX_TOPICLIMIT_FRESH,
	    "the last one is kept");
	krx_topiclimit_free(tl);
}
