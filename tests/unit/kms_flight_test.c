/*
 * kms_flight_test.c: single-flight and negative cache of KMS operations
 * (keysvc/kms_flight.c, built into this test): one flight per key
 * however many join, every waiter called once, keys compared by bytes,
 * failures cached for their time only, bounds answered at once,
 * cancellation (also from within a callback) and re-entrant callbacks.
 */
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "keysvc/kms_flight.c"

struct waiter {
	int			 called;
	enum krx_key_status	 status;
	char			 detail[128];
	uint8_t			 dek[KRX_DEK_LEN];
	int			 has_dek;
};

static void
on_result(void *arg, const struct krx_kms_result *r)
{
	struct waiter	*w = arg;

	w->called++;
	w->status = r->status;
	snprintf(w->detail, sizeof(w->detail), "%s",
	    r->detail != NULL ? r->detail : "");
	if (r->dek != NULL) {
		memcpy(w->dek, r->dek, KRX_DEK_LEN);
		w->has_dek = 1;
	}
}

static struct krx_kms_result
result(enum krx_key_status st, const char *detail)
{
	struct krx_kms_result	 r;

	memset(&r, 0, sizeof(r));
	r.status = st;
	r.detail = detail;
	return r;
}

Test(kms_flight, thousand_joins_one_flight)
{
	struct krx_flight	*f = krx_flight_new(NULL);
	static struct waiter	 w[1000];
	struct krx_flight_stats	 st;
	struct krx_kms_result	 r = result(KRX_KEY_OK, NULL);
	uint8_t			 dek[KRX_DEK_LEN];
	const char		 edek[] = "an edek of some bytes";
	char			 copy[sizeof(edek)];
	int			 i, firsts = 0;

	memset(dek, 0x5a, sizeof(dek));
	for (i = 0; i < 1000; i++) {
		/* A fresh buffer each time: bytes count, not pointers. */
		memcpy(copy, edek, sizeof(edek));
		switch (krx_flight_join(f, KRX_FLIGHT_DECRYPT, copy,
		    sizeof(edek), on_result, &w[i])) {
		case KRX_FLIGHT_FIRST:
			firsts++;
			cr_assert_eq(i, 0);
			break;
		case KRX_FLIGHT_WAIT:
			break;
		default:
			cr_assert_fail("join %d answered at once", i);
		}
		memset(copy, 0, sizeof(copy));
	}
	cr_assert_eq(firsts, 1);
	krx_flight_stats(f, &st);
	cr_assert_eq(st.in_flight, 1);
	cr_assert_eq(st.flights, 1);
	cr_assert_eq(st.joined, 999);
	for (i = 0; i < 1000; i++)
		cr_assert_eq(w[i].called, 0);
	r.dek = dek;
	cr_assert_eq(krx_flight_done(f, KRX_FLIGHT_DECRYPT, edek,
	    sizeof(edek), &r), 1000);
	for (i = 0; i < 1000; i++) {
		cr_assert_eq(w[i].called, 1, "waiter %d called %d times", i,
		    w[i].called);
		cr_assert_eq(w[i].status, KRX_KEY_OK);
		cr_assert(w[i].has_dek && memcmp(w[i].dek, dek, 32) == 0);
	}
	/* Done twice: nothing in flight, nobody called again. */
	cr_assert_eq(krx_flight_done(f, KRX_FLIGHT_DECRYPT, edek,
	    sizeof(edek), &r), 0);
	for (i = 0; i < 1000; i++)
		cr_assert_eq(w[i].called, 1);
	/* A success is not cached: the next join starts a flight. */
	cr_assert_eq(krx_flight_join(f, KRX_FLIGHT_DECRYPT, edek,
	    sizeof(edek), on_result, &w[0]), KRX_FLIGHT_FIRST);
	krx_flight_stats(f, &st);
	cr_assert_eq(st.cached, 0);
	krx_flight_free(f);
}

Test(kms_flight, keys_independent)
{
	struct krx_flight	*f = krx_flight_new(NULL);
	struct waiter		 a = { 0 }, b = { 0 }, c = { 0 }, d = { 0 };
	struct waiter		 e = { 0 }, a2 = { 0 };
	struct krx_kms_result	 ok = result(KRX_KEY_OK, NULL);

	cr_assert_eq(krx_flight_join(f, KRX_FLIGHT_DECRYPT, "ab", 2,
	    on_result, &a), KRX_FLIGHT_FIRST);
	/* A prefix, a longer key, the same bytes for another op. */
	cr_assert_eq(krx_flight_join(f, KRX_FLIGHT_DECRYPT, "a", 1,
	    on_result, &b), KRX_FLIGHT_FIRST);
	cr_assert_eq(krx_flight_join(f, KRX_FLIGHT_DECRYPT, "abc", 3,
	    on_result, &c), KRX_FLIGHT_FIRST);
	cr_assert_eq(krx_flight_join(f, KRX_FLIGHT_RESOLVE, "ab", 2,
	    on_result, &d), KRX_FLIGHT_FIRST);
	/* The empty key is a key. */
	cr_assert_eq(krx_flight_join(f, KRX_FLIGHT_RESOLVE, "", 0,
	    on_result, &e), KRX_FLIGHT_FIRST);
	cr_assert_eq(krx_flight_join(f, KRX_FLIGHT_DECRYPT, "ab", 2,
	    on_result, &a2), KRX_FLIGHT_WAIT);

	cr_assert_eq(krx_flight_done(f, KRX_FLIGHT_DECRYPT, "ab", 2, &ok), 2);
	cr_assert(a.called == 1 && a2.called == 1);
	cr_assert(b.called == 0 && c.called == 0 && d.called == 0 &&
	    e.called == 0);
	cr_assert_eq(krx_flight_done(f, KRX_FLIGHT_RESOLVE, "ab", 2, &ok), 1);
	cr_assert(d.called == 1 && b.called == 0 && c.called == 0);
	cr_assert_eq(krx_flight_done(f, KRX_FLIGHT_RESOLVE, "", 0, &ok), 1);
	cr_assert_eq(krx_flight_done(f, KRX_FLIGHT_DECRYPT, "abc", 3, &ok), 1);
	cr_assert_eq(krx_flight_done(f, KRX_FLIGHT_DECRYPT, "a", 1, &ok), 1);
	cr_assert(b.called == 1 && c.called == 1 && e.called == 1);
	krx_flight_free(f);
}

Test(kms_flight, negative_cache_answers_then_expires)
{
	struct krx_flight_opts	 o = { .fail_ttl_ms = 200,
	    .notfound_ttl_ms = 600 };
	struct krx_flight	*f = krx_flight_new(&o);
	struct waiter		 w1 = { 0 }, w2 = { 0 }, w3 = { 0 };
	struct krx_kms_result	 down = result(KRX_KEY_UNAVAILABLE,
	    "kms answered 503");
	struct krx_kms_result	 gone = result(KRX_KEY_NOT_FOUND, "no alias");
	struct krx_flight_stats	 st;

	cr_assert_eq(krx_flight_join(f, KRX_FLIGHT_RESOLVE, "k1", 2,
	    on_result, &w1), KRX_FLIGHT_FIRST);
	cr_assert_eq(krx_flight_done(f, KRX_FLIGHT_RESOLVE, "k1", 2, &down),
	    1);
	cr_assert_eq(w1.status, KRX_KEY_UNAVAILABLE);
	cr_assert_str_eq(w1.detail, "kms answered 503");
	cr_assert_eq(krx_flight_join(f, KRX_FLIGHT_RESOLVE, "k2", 2,
	    on_result, &w1), KRX_FLIGHT_FIRST);
	cr_assert_eq(krx_flight_done(f, KRX_FLIGHT_RESOLVE, "k2", 2, &gone),
	    1);

	/* Within their time: answered at once, no flight. */
	cr_assert_eq(krx_flight_join(f, KRX_FLIGHT_RESOLVE, "k1", 2,
	    on_result, &w2), KRX_FLIGHT_ANSWERED);
	cr_assert_eq(w2.called, 1);
	cr_assert_eq(w2.status, KRX_KEY_UNAVAILABLE);
	cr_assert_str_eq(w2.detail, "kms answered 503");
	cr_assert_eq(krx_flight_join(f, KRX_FLIGHT_RESOLVE, "k2", 2,
	    on_result, &w3), KRX_FLIGHT_ANSWERED);
	cr_assert_eq(w3.status, KRX_KEY_NOT_FOUND);
	/* Only that op: decrypt of the same bytes is not cached. */
	cr_assert_eq(krx_flight_join(f, KRX_FLIGHT_DECRYPT, "k1", 2,
	    on_result, &w3), KRX_FLIGHT_FIRST);
	krx_flight_stats(f, &st);
	cr_assert_eq(st.cache_hits, 2);
	cr_assert_eq(st.cached, 2);

	/* The failure expires first, the not-found later. */
	usleep(300 * 1000);
	cr_assert_eq(krx_flight_join(f, KRX_FLIGHT_RESOLVE, "k1", 2,
	    on_result, &w2), KRX_FLIGHT_FIRST);
	cr_assert_eq(w2.called, 1);
	cr_assert_eq(krx_flight_join(f, KRX_FLIGHT_RESOLVE, "k2", 2,
	    on_result, &w3), KRX_FLIGHT_ANSWERED);
	usleep(400 * 1000);
	cr_assert_eq(krx_flight_join(f, KRX_FLIGHT_RESOLVE, "k2", 2,
	    on_result, &w3), KRX_FLIGHT_FIRST);

	/* forget drops what is cached. */
	cr_assert_eq(krx_flight_done(f, KRX_FLIGHT_RESOLVE, "k2", 2, &gone),
	    1);
	krx_flight_forget(f);
	cr_assert_eq(krx_flight_join(f, KRX_FLIGHT_RESOLVE, "k2", 2,
	    on_result, &w3), KRX_FLIGHT_FIRST);
	krx_flight_free(f);
}

Test(kms_flight, bounds_answer_at_once)
{
	struct krx_flight_opts	 o = { .max_keys = 2, .max_waiters = 3,
	    .max_cached = 2, .max_key_len = 16 };
	struct krx_flight	*f = krx_flight_new(&o);
	struct waiter		 w[8];
	struct krx_kms_result	 bad = result(KRX_KEY_DENIED, "denied");
	uint8_t			 longkey[17];
	int			 i;

	memset(w, 0, sizeof(w));
	memset(longkey, 'k', sizeof(longkey));
	cr_assert_eq(krx_flight_join(f, KRX_FLIGHT_DECRYPT, longkey, 17,
	    on_result, &w[0]), KRX_FLIGHT_ANSWERED);
	cr_assert_eq(w[0].status, KRX_KEY_INVALID);
	cr_assert_eq(krx_flight_join(f, KRX_FLIGHT_DECRYPT, longkey, 16,
	    on_result, &w[0]), KRX_FLIGHT_FIRST);

	/* Keys in flight: the third key is refused, retriably. */
	cr_assert_eq(krx_flight_join(f, KRX_FLIGHT_DECRYPT, "b", 1,
	    on_result, &w[1]), KRX_FLIGHT_FIRST);
	cr_assert_eq(krx_flight_join(f, KRX_FLIGHT_DECRYPT, "c", 1,
	    on_result, &w[2]), KRX_FLIGHT_ANSWERED);
	cr_assert_eq(w[2].called, 1);
	cr_assert_eq(w[2].status, KRX_KEY_UNAVAILABLE);

	/* Waiters per key: b has 1, takes 2 more, refuses the 4th. */
	for (i = 3; i < 5; i++)
		cr_assert_eq(krx_flight_join(f, KRX_FLIGHT_DECRYPT, "b", 1,
		    on_result, &w[i]), KRX_FLIGHT_WAIT);
	cr_assert_eq(krx_flight_join(f, KRX_FLIGHT_DECRYPT, "b", 1,
	    on_result, &w[5]), KRX_FLIGHT_ANSWERED);
	cr_assert_eq(w[5].status, KRX_KEY_UNAVAILABLE);
	cr_assert_eq(krx_flight_done(f, KRX_FLIGHT_DECRYPT, "b", 1, &bad), 3);

	/* Cached failures: the oldest of three is dropped. */
	cr_assert_eq(krx_flight_done(f, KRX_FLIGHT_DECRYPT, longkey, 16, &bad),
	    1);
	cr_assert_eq(krx_flight_join(f, KRX_FLIGHT_DECRYPT, "c", 1,
	    on_result, &w[6]), KRX_FLIGHT_FIRST);
	cr_assert_eq(krx_flight_done(f, KRX_FLIGHT_DECRYPT, "c", 1, &bad), 1);
	memset(w, 0, sizeof(w));
	cr_assert_eq(krx_flight_join(f, KRX_FLIGHT_DECRYPT, "b", 1,
	    on_result, &w[0]), KRX_FLIGHT_FIRST);
	cr_assert_eq(krx_flight_join(f, KRX_FLIGHT_DECRYPT, longkey, 16,
	    on_result, &w[1]), KRX_FLIGHT_ANSWERED);
	cr_assert_eq(krx_flight_join(f, KRX_FLIGHT_DECRYPT, "c", 1,
	    on_result, &w[2]), KRX_FLIGHT_ANSWERED);
	cr_assert(w[1].status == KRX_KEY_DENIED &&
	    w[2].status == KRX_KEY_DENIED);
	krx_flight_free(f);
}

static struct krx_flight	*cancel_f;
static struct waiter		 cancel_w[3];

/* The first waiter cancels the third while done is calling them. */
static void
on_result_cancel(void *arg, const struct krx_kms_result *r)
{
	on_result(arg, r);
	cr_assert_eq(krx_flight_cancel(cancel_f, &cancel_w[2]), 1);
}

Test(kms_flight, cancel_by_arg)
{
	struct krx_flight	*f = krx_flight_new(NULL);
	struct waiter		 a = { 0 }, b = { 0 };
	struct krx_kms_result	 ok = result(KRX_KEY_OK, NULL);

	cr_assert_eq(krx_flight_join(f, KRX_FLIGHT_DECRYPT, "x", 1,
	    on_result, &a), KRX_FLIGHT_FIRST);
	cr_assert_eq(krx_flight_join(f, KRX_FLIGHT_DECRYPT, "x", 1,
	    on_result, &b), KRX_FLIGHT_WAIT);
	cr_assert_eq(krx_flight_join(f, KRX_FLIGHT_DECRYPT, "x", 1,
	    on_result, &a), KRX_FLIGHT_WAIT);
	cr_assert_eq(krx_flight_join(f, KRX_FLIGHT_RESOLVE, "y", 1,
	    on_result, &a), KRX_FLIGHT_FIRST);
	cr_assert_eq(krx_flight_cancel(f, &a), 3);
	cr_assert_eq(krx_flight_cancel(f, &a), 0);
	cr_assert_eq(krx_flight_done(f, KRX_FLIGHT_DECRYPT, "x", 1, &ok), 1);
	cr_assert_eq(krx_flight_done(f, KRX_FLIGHT_RESOLVE, "y", 1, &ok), 0);
	cr_assert(a.called == 0 && b.called == 1);

	/* Cancelled from within done: not called. */
	cancel_f = f;
	cr_assert_eq(krx_flight_join(f, KRX_FLIGHT_DECRYPT, "z", 1,
	    on_result_cancel, &cancel_w[0]), KRX_FLIGHT_FIRST);
	cr_assert_eq(krx_flight_join(f, KRX_FLIGHT_DECRYPT, "z", 1,
	    on_result, &cancel_w[1]), KRX_FLIGHT_WAIT);
	cr_assert_eq(krx_flight_join(f, KRX_FLIGHT_DECRYPT, "z", 1,
	    on_result, &cancel_w[2]), KRX_FLIGHT_WAIT);
	cr_assert_eq(krx_flight_done(f, KRX_FLIGHT_DECRYPT, "z", 1, &ok), 2);
	cr_assert(cancel_w[0].called == 1 && cancel_w[1].called == 1 &&
	    cancel_w[2].called == 0);
	krx_flight_free(f);
}

static int	reenter_join;

/* A waiter asks again for the same key from its callback. */
static void
on_result_rejoin(void *arg, const struct krx_kms_result *r)
{
	struct waiter	*w = arg;

	on_result(arg, r);
	if (w->called == 1)
		reenter_join = krx_flight_join(cancel_f, KRX_FLIGHT_RESOLVE,
		    "r", 1, on_result_rejoin, arg);
}

Test(kms_flight, reentrant_join_from_callback)
{
	struct krx_flight	*f = krx_flight_new(NULL);
	struct waiter		 w = { 0 };
	struct krx_kms_result	 down = result(KRX_KEY_UNAVAILABLE, "down");
	struct krx_kms_result	 ok = result(KRX_KEY_OK, NULL);

	cancel_f = f;
	/* After a failure the cache answers (already recorded). */
	cr_assert_eq(krx_flight_join(f, KRX_FLIGHT_RESOLVE, "r", 1,
	    on_result_rejoin, &w), KRX_FLIGHT_FIRST);
	cr_assert_eq(krx_flight_done(f, KRX_FLIGHT_RESOLVE, "r", 1, &down), 1);
	cr_assert_eq(reenter_join, KRX_FLIGHT_ANSWERED);
	cr_assert_eq(w.called, 2);
	/* After a success a new flight starts. */
	krx_flight_forget(f);
	memset(&w, 0, sizeof(w));
	cr_assert_eq(krx_flight_join(f, KRX_FLIGHT_RESOLVE, "r", 1,
	    on_result_rejoin, &w), KRX_FLIGHT_FIRST);
	cr_assert_eq(krx_flight_done(f, KRX_FLIGHT_RESOLVE, "r", 1, &ok), 1);
	cr_assert_eq(reenter_join, KRX_FLIGHT_FIRST);
	cr_assert_eq(w.called, 1);
	cr_assert_eq(krx_flight_done(f, KRX_FLIGHT_RESOLVE, "r", 1, &ok), 1);
	cr_assert_eq(w.called, 2);
	krx_flight_free(f);
}

/*
 * krx-ctl kms check: joins with the fresh argument skip (and drop) a
 * cached failure, but still join a flight under way, and at most
 * KRX_FLIGHT_FRESH_PER_S of them a second; other callers keep the cache.
 */
Test(kms_flight, fresh_join_skips_cached_failure)
{
	struct krx_flight	*f = krx_flight_new(NULL);
	struct waiter		 w[KRX_FLIGHT_FRESH_PER_S + 4];
	struct waiter		 check = { 0 }, other = { 0 };
	struct krx_kms_result	 down = result(KRX_KEY_UNAVAILABLE,
	    "kms answered 503");
	struct krx_kms_result	 ok = result(KRX_KEY_OK, NULL);
	struct krx_flight_stats	 st;
	int			 i, first = 0, answered = 0;

	memset(w, 0, sizeof(w));
	cr_assert_eq(krx_flight_join(f, KRX_FLIGHT_RESOLVE, "k", 1,
	    on_result, &other), KRX_FLIGHT_FIRST);
	krx_flight_done(f, KRX_FLIGHT_RESOLVE, "k", 1, &down);

	/* Not the fresh argument: the cache answers. */
	krx_flight_fresh(&check);
	cr_assert_eq(krx_flight_join(f, KRX_FLIGHT_RESOLVE, "k", 1,
	    on_result, &other), KRX_FLIGHT_ANSWERED);
	/* The check's own join goes to the KMS... */
	cr_assert_eq(krx_flight_join(f, KRX_FLIGHT_RESOLVE, "k", 1,
	    on_result, &check), KRX_FLIGHT_FIRST);
	krx_flight_fresh(NULL);
	/* ...and a worker's join now waits for that flight. */
	cr_assert_eq(krx_flight_join(f, KRX_FLIGHT_RESOLVE, "k", 1,
	    on_result, &other), KRX_FLIGHT_WAIT);
	/* A second check joins the flight: no second request. */
	krx_flight_fresh(&w[0]);
	cr_assert_eq(krx_flight_join(f, KRX_FLIGHT_RESOLVE, "k", 1,
	    on_result, &w[0]), KRX_FLIGHT_WAIT);
	krx_flight_fresh(NULL);
	cr_assert_eq(krx_flight_done(f, KRX_FLIGHT_RESOLVE, "k", 1, &ok), 3);
	cr_assert_eq(check.status, KRX_KEY_OK);
	cr_assert_eq(w[0].status, KRX_KEY_OK);

	/* Bounded: a loop of checks on a failing KMS. */
	memset(w, 0, sizeof(w));
	cr_assert_eq(krx_flight_join(f, KRX_FLIGHT_DECRYPT, "e", 1,
	    on_result, &other), KRX_FLIGHT_FIRST);
	krx_flight_done(f, KRX_FLIGHT_DECRYPT, "e", 1, &down);
	for (i = 0; i < KRX_FLIGHT_FRESH_PER_S + 4; i++) {
		krx_flight_fresh(&w[i]);
		switch (krx_flight_join(f, KRX_FLIGHT_DECRYPT, "e", 1,
		    on_result, &w[i])) {
		case KRX_FLIGHT_FIRST:
			first++;
			krx_flight_done(f, KRX_FLIGHT_DECRYPT, "e", 1, &down);
			break;
		case KRX_FLIGHT_ANSWERED:
			answered++;
			break;
		default:
			cr_assert_fail("join %d waited", i);
		}
		krx_flight_fresh(NULL);
	}
	/* With the skip above: at most FRESH_PER_S in a second (two
	 * seconds if a boundary falls inside the test). */
	cr_assert_geq(first + 1, KRX_FLIGHT_FRESH_PER_S);
	cr_assert_leq(first + 1, 2 * KRX_FLIGHT_FRESH_PER_S);
	cr_assert_geq(answered, 1);
	cr_assert_eq(first + answered, KRX_FLIGHT_FRESH_PER_S + 4);
	krx_flight_stats(f, &st);
	cr_assert_eq(st.fresh, 1 + (uint64_t)first);
	krx_flight_free(f);
}
