/*
 * kms_flight.c: single-flight and negative cache of KMS operations
 * (kms_flight.h has the contract), run by keysvc for its HTTP KMS
 * providers. Keys are bytes from workers (aliases, EDEKs read from
 * records): they are copied, compared by length and bytes, and bounded
 * in length and number.
 *
 * One hash table holds both kinds of entry, a key in flight (with its
 * waiters) and a cached failure; an entry is one or the other. The hash
 * is a seeded 64-bit FNV-1a: weak against chosen collisions, but a
 * bucket holds at most max_keys + max_cached entries and a lookup
 * compares full hashes before bytes, so a crafted chain costs integer
 * compares only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <openssl/rand.h>

#include "common/xmalloc.h"
#include "keysvc/kms_flight.h"

struct flight_waiter {
	krx_kms_cb	 cb;		/* NULL: cancelled or called */
	void		*arg;
};

struct flight_entry {
	LIST_ENTRY(flight_entry) hlink;		/* bucket */
	TAILQ_ENTRY(flight_entry) olink;	/* f->flying or f->cached */
	enum krx_flight_op	 op;
	int			 flying;
	uint64_t		 hash;
	struct flight_waiter	*w;
	size_t			 nw, cap;
	enum krx_key_status	 status;	/* cached failure */
	uint64_t		 expires;	/* monotonic ms */
	char			 detail[KRX_FLIGHT_DETAIL_MAX];
	size_t			 len;
	uint8_t			 key[];
};

/* The waiters a running krx_flight_done has yet to call. */
struct flight_frame {
	struct flight_frame	*up;
	struct flight_waiter	*w;
	size_t			 n;
};

LIST_HEAD(flight_bucket, flight_entry);

struct krx_flight {
	struct krx_flight_opts	 o;
	struct flight_bucket	*buckets;
	size_t			 mask;
	uint64_t		 seed;
	TAILQ_HEAD(, flight_entry) flying;
	TAILQ_HEAD(, flight_entry) cached;	/* oldest first */
	size_t			 nflying, ncached;
	struct flight_frame	*frames;
	uint64_t		 fresh_sec;	/* second of fresh_n */
	unsigned		 fresh_n;	/* skips in that second */
	struct krx_flight_stats	 st;
};

/* The callback argument whose joins skip cached failures (keysvc is
 * one thread; see krx_flight_fresh). */
static const void	*flight_fresh_arg;

static uint64_t
flight_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t
flight_hash(const struct krx_flight *f, enum krx_flight_op op,
    const uint8_t *key, size_t len)
{
	uint64_t	 h = f->seed ^ UINT64_C(0xcbf29ce484222325);
	size_t		 i;

	h = (h ^ (uint64_t)op) * UINT64_C(0x100000001b3);
	for (i = 0; i < len; i++)
		h = (h ^ key[i]) * UINT64_C(0x100000001b3);
	return h;
}

static struct flight_entry *
flight_find(struct krx_flight *f, enum krx_flight_op op, const void *key,
    size_t len, uint64_t hv)
{
	struct flight_entry	*e;

	LIST_FOREACH(e, &f->buckets[hv & f->mask], hlink)
		if (e->hash == hv && e->op == op && e->len == len &&
		    memcmp(e->key, key, len) == 0)
			return e;
	return NULL;
}

/* Out of the table and its list, and freed (waiters not called). */
static void
flight_entry_free(struct krx_flight *f, struct flight_entry *e)
{
	LIST_REMOVE(e, hlink);
	if (e->flying) {
		TAILQ_REMOVE(&f->flying, e, olink);
		f->nflying--;
	} else {
		TAILQ_REMOVE(&f->cached, e, olink);
		f->ncached--;
	}
	free(e->w);
	free(e);
}

/* Answer one caller at once (the detail is copied by the caller). */
static void
flight_answer(krx_kms_cb cb, void *arg, enum krx_key_status st,
    const char *detail)
{
	struct krx_kms_result	 r;

	memset(&r, 0, sizeof(r));
	r.status = st;
	r.detail = detail;
	cb(arg, &r);
}

static void
flight_add_waiter(struct krx_flight *f, struct flight_entry *e,
    krx_kms_cb cb, void *arg)
{
	size_t	 ncap;

	if (e->nw == e->cap) {
		ncap = e->cap != 0 ? e->cap * 2 : 4;
		if (ncap > f->o.max_waiters)
			ncap = f->o.max_waiters;
		e->w = xreallocarray(e->w, ncap, sizeof(*e->w));
		e->cap = ncap;
	}
	e->w[e->nw].cb = cb;
	e->w[e->nw].arg = arg;
	e->nw++;
}

struct krx_flight *
krx_flight_new(const struct krx_flight_opts *o)
{
	struct krx_flight	*f = xcalloc(1, sizeof(*f));
	size_t			 n, i;

	if (o != NULL)
		f->o = *o;
	if (f->o.max_keys == 0)
		f->o.max_keys = KRX_FLIGHT_MAX_KEYS;
	if (f->o.max_waiters == 0)
		f->o.max_waiters = KRX_FLIGHT_MAX_WAITERS;
	if (f->o.max_cached == 0)
		f->o.max_cached = KRX_FLIGHT_MAX_CACHED;
	if (f->o.max_key_len == 0)
		f->o.max_key_len = KRX_FLIGHT_MAX_KEY_LEN;
	if (f->o.fail_ttl_ms == 0)
		f->o.fail_ttl_ms = KRX_FLIGHT_FAIL_TTL_MS;
	if (f->o.notfound_ttl_ms == 0)
		f->o.notfound_ttl_ms = KRX_FLIGHT_NOTFOUND_TTL_MS;
	/* About one entry per bucket when full; at most 2^20 buckets. */
	for (n = 16; n < f->o.max_keys + f->o.max_cached && n < (1 << 20);
	    n *= 2)
		;
	f->buckets = xcalloc(n, sizeof(*f->buckets));
	for (i = 0; i < n; i++)
		LIST_INIT(&f->buckets[i]);
	f->mask = n - 1;
	if (RAND_bytes((unsigned char *)&f->seed, sizeof(f->seed)) != 1)
		f->seed = flight_now();
	TAILQ_INIT(&f->flying);
	TAILQ_INIT(&f->cached);
	return f;
}

void
krx_flight_free(struct krx_flight *f)
{
	if (f == NULL)
		return;
	while (!TAILQ_EMPTY(&f->flying))
		flight_entry_free(f, TAILQ_FIRST(&f->flying));
	krx_flight_forget(f);
	free(f->buckets);
	free(f);
}

void
krx_flight_forget(struct krx_flight *f)
{
	while (!TAILQ_EMPTY(&f->cached))
		flight_entry_free(f, TAILQ_FIRST(&f->cached));
}

void
krx_flight_fresh(const void *arg)
{
	flight_fresh_arg = arg;
}

/* May a join with arg skip the cached failure it found? Counted. */
static int
flight_fresh_ok(struct krx_flight *f, const void *arg, uint64_t now)
{
	if (arg == NULL || arg != flight_fresh_arg)
		return 0;
	if (now / 1000 != f->fresh_sec) {
		f->fresh_sec = now / 1000;
		f->fresh_n = 0;
	}
	if (f->fresh_n >= KRX_FLIGHT_FRESH_PER_S)
		return 0;
	f->fresh_n++;
	f->st.fresh++;
	return 1;
}

enum krx_flight_join
krx_flight_join(struct krx_flight *f, enum krx_flight_op op, const void *key,
    size_t len, krx_kms_cb cb, void *arg)
{
	struct flight_entry	*e;
	char			 detail[KRX_FLIGHT_DETAIL_MAX];
	enum krx_key_status	 st;
	uint64_t		 hv, now;

	if (len > f->o.max_key_len) {
		f->st.refused++;
		flight_answer(cb, arg, KRX_KEY_INVALID, "key too long");
		return KRX_FLIGHT_ANSWERED;
	}
	hv = flight_hash(f, op, key, len);
	if ((e = flight_find(f, op, key, len, hv)) != NULL && !e->flying) {
		now = flight_now();
		if (now < e->expires && !flight_fresh_ok(f, arg, now)) {
			/* Copied: cb may forget the cache. */
			st = e->status;
			memcpy(detail, e->detail, sizeof(detail));
			f->st.cache_hits++;
			flight_answer(cb, arg, st, detail);
			return KRX_FLIGHT_ANSWERED;
		}
		flight_entry_free(f, e);
		e = NULL;
	}
	if (e != NULL) {
		if (e->nw >= f->o.max_waiters) {
			f->st.refused++;
			flight_answer(cb, arg, KRX_KEY_UNAVAILABLE,
			    "too many requests waiting for one KMS answer");
			return KRX_FLIGHT_ANSWERED;
		}
		flight_add_waiter(f, e, cb, arg);
		f->st.joined++;
		return KRX_FLIGHT_WAIT;
	}
	if (f->nflying >= f->o.max_keys) {
		f->st.refused++;
		flight_answer(cb, arg, KRX_KEY_UNAVAILABLE,
		    "too many KMS operations in flight");
		return KRX_FLIGHT_ANSWERED;
	}
	e = xcalloc(1, sizeof(*e) + (len > 0 ? len : 1));
	e->op = op;
	e->hash = hv;
	e->len = len;
	if (len > 0)
		memcpy(e->key, key, len);
	e->flying = 1;
	flight_add_waiter(f, e, cb, arg);
	LIST_INSERT_HEAD(&f->buckets[hv & f->mask], e, hlink);
	TAILQ_INSERT_TAIL(&f->flying, e, olink);
	f->nflying++;
	f->st.flights++;
	return KRX_FLIGHT_FIRST;
}

/* e, no longer flying, becomes the cached failure r. */
static void
flight_cache(struct krx_flight *f, struct flight_entry *e,
    const struct krx_kms_result *r)
{
	struct flight_entry	*old;
	uint64_t		 now = flight_now();

	e->status = r->status;
	snprintf(e->detail, sizeof(e->detail), "%s",
	    r->detail != NULL ? r->detail : "");
	e->expires = now + (r->status == KRX_KEY_NOT_FOUND ||
	    r->status == KRX_KEY_INVALID ? f->o.notfound_ttl_ms :
	    f->o.fail_ttl_ms);
	/* Oldest first: drop what has expired, then make room. */
	while ((old = TAILQ_FIRST(&f->cached)) != NULL &&
	    (old->expires <= now || f->ncached >= f->o.max_cached))
		flight_entry_free(f, old);
	TAILQ_INSERT_TAIL(&f->cached, e, olink);
	f->ncached++;
}

void
krx_flight_deliver(struct krx_flight *f, enum krx_kms_op op,
    const void *key, size_t len, krx_kms_cb cb, void *arg,
    const struct krx_kms_result *r)
{
	if (op == KRX_KMS_OP_GENERATE)
		cb(arg, r);
	else
		krx_flight_done(f, op == KRX_KMS_OP_RESOLVE ?
		    KRX_FLIGHT_RESOLVE : KRX_FLIGHT_DECRYPT, key, len, r);
}

size_t
krx_flight_done(struct krx_flight *f, enum krx_flight_op op,
    const void *key, size_t len, const struct krx_kms_result *r)
{
	struct flight_entry	*e;
	struct flight_frame	 fr;
	krx_kms_cb		 cb;
	size_t			 i, called = 0;

	if (len > f->o.max_key_len ||
	    (e = flight_find(f, op, key, len, flight_hash(f, op, key, len))) ==
	    NULL || !e->flying)
		return 0;
	fr.w = e->w;
	fr.n = e->nw;
	e->w = NULL;
	e->nw = e->cap = 0;
	TAILQ_REMOVE(&f->flying, e, olink);
	f->nflying--;
	e->flying = 0;
	if (r->status == KRX_KEY_OK) {
		LIST_REMOVE(e, hlink);
		free(e);
	} else
		flight_cache(f, e, r);
	fr.up = f->frames;
	f->frames = &fr;
	for (i = 0; i < fr.n; i++) {
		if ((cb = fr.w[i].cb) == NULL)
			continue;
		fr.w[i].cb = NULL;
		cb(fr.w[i].arg, r);
		called++;
	}
	f->frames = fr.up;
	free(fr.w);
	return called;
}

size_t
krx_flight_cancel(struct krx_flight *f, const void *arg)
{
	struct flight_entry	*e;
	struct flight_frame	*fr;
	size_t			 i, j, n = 0;

	TAILQ_FOREACH(e, &f->flying, olink) {
		for (i = j = 0; i < e->nw; i++) {
			if (e->w[i].arg == arg) {
				n++;
				continue;
			}
			e->w[j++] = e->w[i];
		}
		e->nw = j;
	}
	for (fr = f->frames; fr != NULL; fr = fr->up)
		for (i = 0; i < fr->n; i++)
			if (fr->w[i].cb != NULL && fr->w[i].arg == arg) {
				fr->w[i].cb = NULL;
				n++;
			}
	return n;
}

void
krx_flight_stats(const struct krx_flight *f, struct krx_flight_stats *st)
{
	*st = f->st;
	st->in_flight = f->nflying;
	st->cached = f->ncached;
}
