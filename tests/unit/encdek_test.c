/*
 * encdek_test.c: worker/encdek.c, the worker's pools of encryption DEKs,
 * built into this test with a stand-in for the key client
 * (krx_keyclient_generate records each request; the test answers it).
 * Issue 9, finding 1: client record counts cannot make a pool ask for
 * many DEKs or loop (negative counts wrap to huge ones, sums saturate);
 * finding 10: krx_encpool_flush drops a KEK's DEKs and the answers in
 * flight, so no waiter is handed a DEK of the flushed round.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "../../worker/encdek.c"

#define MAX_ASKED	256

/* Generation requests the pool made, answered by the test. */
static struct {
	krx_key_fn	 fn;
	void		*arg;
	char		 kek[64];
} asked[MAX_ASKED];
static int	 nasked, nanswered;
static int	 refuse;		/* keysvc cannot be asked */

int
krx_keyclient_generate(struct krx_keyclient *kc, size_t vc, const char *kek,
    size_t len, krx_key_fn fn, void *arg, struct krx_key_answer *a)
{
	(void)kc;
	(void)vc;
	if (refuse) {
		memset(a, 0, sizeof(*a));
		a->status = KRX_KEY_UNAVAILABLE;
		return 1;
	}
	cr_assert_lt(nasked, MAX_ASKED, "too many GENERATEs");
	cr_assert_lt(len, sizeof(asked[0].kek));
	asked[nasked].fn = fn;
	asked[nasked].arg = arg;
	memcpy(asked[nasked].kek, kek, len);
	asked[nasked].kek[len] = '\0';
	nasked++;
	return 0;
}

/* Answer the next request with a DEK whose bytes are all `fill`. */
static void
answer(uint8_t fill)
{
	struct krx_key_answer	 a;
	uint8_t			 dek[KRX_DEK_LEN], edek[8];

	cr_assert_lt(nanswered, nasked, "no request to answer");
	memset(dek, fill, sizeof(dek));
	memset(edek, fill, sizeof(edek));
	memset(&a, 0, sizeof(a));
	a.status = KRX_KEY_OK;
	a.edek = edek;
	a.edek_len = sizeof(edek);
	a.dek = dek;
	nanswered++;
	asked[nanswered - 1].fn(asked[nanswered - 1].arg, &a);
}

static struct krx_conf_vcluster	 vcs[2];
static struct krx_conf		 conf;
static struct krx_worker	 worker;

static void
setup(void)
{
	memset(asked, 0, sizeof(asked));
	nasked = nanswered = refuse = 0;
	memset(vcs, 0, sizeof(vcs));
	vcs[0].enc.max_encryptions_per_dek = 100;
	vcs[0].enc.dek_refresh_after = 3600;
	vcs[0].enc.dek_expire_after = 7200;
	vcs[1].enc = vcs[0].enc;
	conf.vclusters = vcs;
	conf.n_vclusters = 2;
	worker.conf = &conf;
}

static void
teardown(void)
{
	krx_encpool_free_all(&worker);
}

TestSuite(encdek, .init = setup, .fini = teardown);

struct waiter {
	int			 calls;
	enum krx_key_status	 st;
};

static void
waiter_cb(void *arg, enum krx_key_status st)
{
	struct waiter	*w = arg;

	w->calls++;
	w->st = st;
}

/* The first byte of the EDEK the pool encrypts with now, or -1. */
static int
current_fill(struct krx_encpool *p)
{
	struct krx_recenc_dek	 d;

	memset(&d, 0, sizeof(d));
	if (krx_encpool_dek(p, &d) != KRX_OK)
		return -1;
	return d.edek[0];
}

/* A record count that went negative (as uint64) asks for nothing. */
Test(encdek, huge_need_refused)
{
	struct krx_encpool	*p = krx_encpool_get(&worker, 0, "k", 1);
	enum krx_key_status	 st;
	struct waiter		 w = { 0 };

	cr_assert_eq(krx_encpool_ensure(p, UINT64_MAX, waiter_cb, &w, &st),
	    1);
	cr_assert_neq(st, KRX_KEY_OK);
	cr_assert_eq(nasked, 0);
	/* With a DEK in the pool already (the verified endless loop). */
	cr_assert_eq(krx_encpool_ensure(p, 50, waiter_cb, &w, &st), 0);
	cr_assert_eq(nasked, 1);
	answer(1);
	cr_assert_eq(w.calls, 1);
	cr_assert_eq(krx_encpool_ensure(p, UINT64_MAX, waiter_cb, &w, &st),
	    1);
	cr_assert_neq(st, KRX_KEY_OK);
	cr_assert_eq(krx_encpool_ensure(p, (uint64_t)INT32_MAX * 20,
	    waiter_cb, &w, &st), 1);
	cr_assert_neq(st, KRX_KEY_OK);
	cr_assert_eq(nasked, 1, "no GENERATE for a refused count");
	/* The largest need allowed: 64 DEKs, asked for 2 at a time. */
	cr_assert_eq(krx_encpool_ensure(p, 100 * KRX_ENCPOOL_REQ_DEKS,
	    waiter_cb, &w, &st), 0);
	cr_assert_eq(nasked, 1 + KRX_ENCPOOL_GEN_MAX);
}

/* Outstanding GENERATEs per pool stay at KRX_ENCPOOL_GEN_MAX. */
Test(encdek, generations_in_rounds)
{
	struct krx_encpool	*p = krx_encpool_get(&worker, 0, "k", 1);
	enum krx_key_status	 st;
	struct waiter		 w = { 0 }, w2 = { 0 };
	int			 rounds = 0;

	/* 1000 records: 10 DEKs, in rounds of 2. */
	while (krx_encpool_ensure(p, 1000, waiter_cb, &w, &st) == 0) {
		cr_assert_eq(nasked - nanswered, KRX_ENCPOOL_GEN_MAX);
		/* A second request on the pool waits for the same round. */
		cr_assert_eq(krx_encpool_ensure(p, 1000, waiter_cb, &w2, &st),
		    0);
		cr_assert_eq(nasked - nanswered, KRX_ENCPOOL_GEN_MAX);
		answer((uint8_t)(2 * rounds + 1));
		answer((uint8_t)(2 * rounds + 2));
		cr_assert_eq(w.calls, rounds + 1);
		cr_assert_eq(w2.calls, rounds + 1);
		cr_assert_eq(w.st, KRX_KEY_OK);
		cr_assert_lt(++rounds, 10);
	}
	cr_assert_eq(st, KRX_KEY_OK);
	cr_assert_eq(rounds, 5);
	cr_assert_eq(nasked, 10);
	cr_assert_eq(current_fill(p), 1);
}

/* keysvc cannot be asked: a failure, nobody left waiting. */
Test(encdek, keysvc_unreachable)
{
	struct krx_encpool	*p = krx_encpool_get(&worker, 0, "k", 1);
	enum krx_key_status	 st;
	struct waiter		 w = { 0 };

	refuse = 1;
	cr_assert_eq(krx_encpool_ensure(p, 10, waiter_cb, &w, &st), 1);
	cr_assert_eq(st, KRX_KEY_UNAVAILABLE);
	cr_assert_eq(w.calls, 0);
}

/* Issue 9, finding 10: flushing one KEK's pool. */
Test(encdek, flush_drops_deks_of_that_kek)
{
	struct krx_encpool	*a = krx_encpool_get(&worker, 0, "ka", 2);
	struct krx_encpool	*b = krx_encpool_get(&worker, 0, "kb", 2);
	struct krx_encpool	*c = krx_encpool_get(&worker, 1, "ka", 2);
	enum krx_key_status	 st;
	struct waiter		 w = { 0 };

	cr_assert_eq(krx_encpool_ensure(a, 1, waiter_cb, &w, &st), 0);
	answer(0xa1);
	cr_assert_eq(krx_encpool_ensure(b, 1, waiter_cb, &w, &st), 0);
	answer(0xb1);
	cr_assert_eq(krx_encpool_ensure(c, 1, waiter_cb, &w, &st), 0);
	answer(0xc1);
	krx_encpool_flush(&worker, 0, "ka", 2);
	cr_assert_eq(current_fill(a), -1, "the flushed pool has no DEK");
	cr_assert_eq(current_fill(b), 0xb1);
	cr_assert_eq(current_fill(c), 0xc1, "another vcluster's pool kept");
	/* len 0: every pool of the vcluster. */
	krx_encpool_flush(&worker, 0, NULL, 0);
	cr_assert_eq(current_fill(b), -1);
	cr_assert_eq(current_fill(c), 0xc1);
	/* The flushed pool makes a new DEK on demand. */
	cr_assert_eq(krx_encpool_ensure(a, 1, waiter_cb, &w, &st), 0);
	answer(0xa2);
	cr_assert_eq(current_fill(a), 0xa2);
}

/* A DEK asked for before the flush is dropped when it comes. */
Test(encdek, flush_discards_generation_in_flight)
{
	struct krx_encpool	*p = krx_encpool_get(&worker, 0, "k", 1);
	enum krx_key_status	 st;
	struct waiter		 w = { 0 };

	cr_assert_eq(krx_encpool_ensure(p, 150, waiter_cb, &w, &st), 0);
	cr_assert_eq(nasked, 2);
	answer(0x01);		/* before the flush */
	krx_encpool_flush(&worker, 0, "k", 1);
	answer(0x02);		/* in flight during the flush */
	cr_assert_eq(w.calls, 1, "the waiter is told to ask again");
	cr_assert_eq(current_fill(p), -1, "a DEK of the flushed round kept");
	/* Asking again gives a DEK of a new round. */
	cr_assert_eq(krx_encpool_ensure(p, 150, waiter_cb, &w, &st), 0);
	cr_assert_eq(nasked, 4);
	answer(0x03);
	answer(0x04);
	cr_assert_eq(w.calls, 2);
	cr_assert_eq(krx_encpool_ensure(p, 150, waiter_cb, &w, &st), 1);
	cr_assert_eq(current_fill(p), 0x03);
}
