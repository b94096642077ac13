/*
 * kms_flight.h: single-flight and a negative cache for the KMS
 * operations of one provider instance, inside keysvc. Program grade; no
 * event loop of its own, no logging.
 *
 * Single-flight: while an operation on a key (an alias to resolve, an
 * EDEK to decrypt; compared by bytes) is in flight, callers asking for
 * the same one wait for it instead of sending another KMS request; its
 * one result is handed to every waiter. The caller that found no flight
 * ("first") starts the KMS operation and reports its result with
 * krx_flight_done; it is a waiter like the others.
 *
 * Negative cache: a failed result is remembered for a short time
 * (not-found and invalid: 30 s; unavailable and denied: 5 s) and
 * answers the same operation at once, so a failing KMS is not flooded.
 * Successes are never cached here (DEKs go to the LMDB cache).
 *
 * GENERATE has no operation here on purpose: each worker must get a DEK
 * of its own (crypto/ivgen.h: two IV generators under one DEK could
 * repeat an IV), so concurrent GENERATEs must never share a result.
 *
 * Bounds: keys in flight, waiters per key, cached failures, key length.
 * Over the first two, the join is answered at once with UNAVAILABLE
 * (retriable); an over-long key is answered INVALID.
 *
 * Fresh joins (krx-ctl kms check): an operator checking the KMS right
 * after an outage must see the KMS, not the failure cached during it.
 * While krx_flight_fresh(arg) is set, a join whose callback argument is
 * arg skips (and drops) a cached failure of its key; it still joins a
 * flight under way, so checks never add a request to one in progress.
 * At most KRX_FLIGHT_FRESH_PER_S such skips a second per krx_flight
 * (over it, the cached failure answers as for any caller), so a script
 * looping on kms check cannot flood a failing KMS either.
 */
#ifndef KRX_KEYSVC_KMS_FLIGHT_H
#define KRX_KEYSVC_KMS_FLIGHT_H

#include <stddef.h>
#include <stdint.h>

#include "keysvc/kms.h"

struct krx_flight;

#define KRX_FLIGHT_MAX_KEYS	1024
#define KRX_FLIGHT_MAX_WAITERS	1024
#define KRX_FLIGHT_MAX_CACHED	1024
#define KRX_FLIGHT_MAX_KEY_LEN	8192
#define KRX_FLIGHT_FAIL_TTL_MS	5000
#define KRX_FLIGHT_NOTFOUND_TTL_MS 30000
/* Cached failures a second that fresh joins may skip. */
#define KRX_FLIGHT_FRESH_PER_S	4
/* Bytes of a failure's detail kept by the negative cache. */
#define KRX_FLIGHT_DETAIL_MAX	96

enum krx_flight_op {
	KRX_FLIGHT_RESOLVE = 0,		/* key: the alias */
	KRX_FLIGHT_DECRYPT = 1		/* key: the EDEK */
};

enum krx_flight_join {
	KRX_FLIGHT_FIRST = 0,	/* start the operation, then _done */
	KRX_FLIGHT_WAIT = 1,	/* joined a flight: cb comes with its end */
	KRX_FLIGHT_ANSWERED = 2	/* cb was called (cached failure, bound) */
};

/* Every field 0 means its default, named after it. */
struct krx_flight_opts {
	size_t		 max_keys;	/* KRX_FLIGHT_MAX_KEYS */
	size_t		 max_waiters;	/* KRX_FLIGHT_MAX_WAITERS, per key */
	size_t		 max_cached;	/* KRX_FLIGHT_MAX_CACHED */
	size_t		 max_key_len;	/* KRX_FLIGHT_MAX_KEY_LEN */
	uint32_t	 fail_ttl_ms;	/* KRX_FLIGHT_FAIL_TTL_MS */
	uint32_t	 notfound_ttl_ms; /* KRX_FLIGHT_NOTFOUND_TTL_MS */
};

struct krx_flight_stats {
	uint64_t	 flights;	/* operations started (firsts) */
	uint64_t	 joined;	/* waiters added to a flight */
	uint64_t	 cache_hits;	/* answered by the negative cache */
	uint64_t	 refused;	/* answered over a bound */
	uint64_t	 fresh;		/* cached failures skipped (fresh) */
	size_t		 in_flight;	/* keys, now */
	size_t		 cached;	/* failures remembered, now */
};

/* o NULL: all defaults. Never NULL (allocation failure is fatal). */
struct krx_flight *krx_flight_new(const struct krx_flight_opts *o);
/*
 * Free, calling no waiter. NULL is a no-op. Not from within a waiter's
 * callback.
 */
void		 krx_flight_free(struct krx_flight *f);

/*
 * Ask for op on key (len bytes, copied). FIRST: no flight was under way
 * and none is cached; one is now, with the caller's (cb, arg) as its
 * first waiter: start the KMS operation and end it with
 * krx_flight_done. WAIT: (cb, arg) was added to the flight. ANSWERED:
 * cb(arg, ...) has been called before returning, with the cached failure
 * or with UNAVAILABLE (a bound) or INVALID (key too long).
 */
enum krx_flight_join krx_flight_join(struct krx_flight *f,
		    enum krx_flight_op op, const void *key, size_t len,
		    krx_kms_cb cb, void *arg);
/*
 * The flight of (op, key) ended with r: every waiter's cb is called
 * once, in join order, with r itself (r and what it points to must stay
 * valid until this returns; waiters get it const and must copy what
 * they keep). A failure (status other than KRX_KEY_OK) is cached first,
 * so a waiter that joins again meanwhile is answered from the cache.
 * Waiters may join, cancel and call done (other keys) from their cb.
 * Returns the number of callbacks called; 0 when (op, key) was not in
 * flight.
 */
size_t		 krx_flight_done(struct krx_flight *f, enum krx_flight_op op,
		    const void *key, size_t len,
		    const struct krx_kms_result *r);
/*
 * How a provider's call of op ends with r: a resolve or decrypt ends its
 * flight (key, len: the flight's key), a generate (never coalesced)
 * answers its one caller cb(arg).
 */
void		 krx_flight_deliver(struct krx_flight *f, enum krx_kms_op op,
		    const void *key, size_t len, krx_kms_cb cb, void *arg,
		    const struct krx_kms_result *r);
/*
 * Remove every waiter whose argument is arg, in every flight (and among
 * those a running krx_flight_done has yet to call): their cb is never
 * called. The flights themselves go on. Returns the number removed.
 */
size_t		 krx_flight_cancel(struct krx_flight *f, const void *arg);
/*
 * Joins (of any krx_flight: keysvc is one thread) with callback
 * argument arg skip cached failures until krx_flight_fresh(NULL). The
 * caller sets it around its own provider call only, and clears it
 * before returning to the event loop.
 */
void		 krx_flight_fresh(const void *arg);
/* Forget every cached failure (e.g. after krx-ctl kek create). */
void		 krx_flight_forget(struct krx_flight *f);

void		 krx_flight_stats(const struct krx_flight *f,
		    struct krx_flight_stats *st);

#endif
