/*
 * encdek.c: per-KEK pools of encryption DEKs (see encdek.h). Runs in
 * the worker. The record counts it is asked to cover come from clients
 * (bounded by recenc to the bytes that carry them): every sum saturates
 * and the DEKs one call may ask keysvc for are capped (issue 9, finding
 * 1).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <openssl/crypto.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "worker/encdek.h"
#include "worker/keyclient.h"
#include "worker/session.h"

struct encdek {
	TAILQ_ENTRY(encdek)	 entry;
	struct krx_aead		*aead;
	uint8_t			*edek;
	size_t			 edek_len;
	struct krx_ivgen	 iv;
	time_t			 created;
};

struct encpool_waiter {
	TAILQ_ENTRY(encpool_waiter) entry;
	krx_encpool_fn		 fn;
	void			*arg;
	unsigned		 round;		/* it waits for */
};

struct krx_encpool {
	LIST_ENTRY(krx_encpool)	 entry;
	struct krx_worker	*w;
	const struct krx_conf_encryption *conf;
	size_t			 vc;
	char			*kek;
	size_t			 kek_len;
	TAILQ_HEAD(encdek_q, encdek) deks;
	unsigned		 generating;
	enum krx_key_status	 failure;	/* of this round */
	unsigned		 round;		/* of generation requests */
	unsigned		 discard;	/* in-flight answers to drop */
	TAILQ_HEAD(, encpool_waiter) waiters;
};

static LIST_HEAD(, krx_encpool) encpools = LIST_HEAD_INITIALIZER(encpools);

static void
encdek_free(struct encdek *d)
{
	krx_aead_free(d->aead);
	if (d->edek != NULL)
		OPENSSL_cleanse(d->edek, d->edek_len);
	free(d->edek);
	free(d);
}

/* Retire DEKs that are spent, expired, or superseded and stale. */
static void
encpool_prune(struct krx_encpool *p)
{
	struct encdek	*d, *next;
	time_t		 now = time(NULL);

	for (d = TAILQ_FIRST(&p->deks); d != NULL; d = next) {
		next = TAILQ_NEXT(d, entry);
		if (krx_ivgen_remaining(&d->iv) == 0 ||
		    now - d->created >= p->conf->dek_expire_after ||
		    (next != NULL && now - d->created >=
		    p->conf->dek_refresh_after)) {
			TAILQ_REMOVE(&p->deks, d, entry);
			encdek_free(d);
		}
	}
}

static uint64_t
encpool_add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t
encpool_budget(struct krx_encpool *p)
{
	struct encdek	*d;
	uint64_t	 n = 0;

	TAILQ_FOREACH(d, &p->deks, entry)
		n = encpool_add_sat(n, krx_ivgen_remaining(&d->iv));
	return n;
}

struct krx_encpool *
krx_encpool_get(struct krx_worker *w, size_t vc, const char *kek, size_t len)
{
	struct krx_encpool	*p;

	LIST_FOREACH(p, &encpools, entry)
		if (p->vc == vc && p->kek_len == len &&
		    memcmp(p->kek, kek, len) == 0)
			return p;
	p = xcalloc(1, sizeof(*p));
	p->w = w;
	p->vc = vc;
	p->conf = &w->conf->vclusters[vc].enc;
	p->kek = xmalloc(len + 1);
	memcpy(p->kek, kek, len);
	p->kek[len] = '\0';
	p->kek_len = len;
	TAILQ_INIT(&p->deks);
	TAILQ_INIT(&p->waiters);
	LIST_INSERT_HEAD(&encpools, p, entry);
	return p;
}

/*
 * Tell the waiters of the round that just ended. A callback may find the
 * budget short still (another waiter spent it, or the round failed) and
 * wait again: that waiter belongs to the next round and must not be
 * called now, or the two would call each other forever.
 */
static void
encpool_notify(struct krx_encpool *p, enum krx_key_status st)
{
	struct encpool_waiter	*wt;
	unsigned		 round = p->round++;

	while ((wt = TAILQ_FIRST(&p->waiters)) != NULL &&
	    wt->round == round) {
		TAILQ_REMOVE(&p->waiters, wt, entry);
		wt->fn(wt->arg, st);
		free(wt);
	}
}

static int
encpool_add(struct krx_encpool *p, const struct krx_key_answer *a)
{
	struct encdek	*d = xcalloc(1, sizeof(*d));

	if ((d->aead = krx_aead_new(a->dek, KRX_DEK_LEN)) == NULL ||
	    krx_ivgen_init_random(&d->iv,
	    (uint64_t)p->conf->max_encryptions_per_dek) != KRX_OK) {
		encdek_free(d);
		return -1;
	}
	d->edek = xmalloc(a->edek_len);
	memcpy(d->edek, a->edek, a->edek_len);
	d->edek_len = a->edek_len;
	d->created = time(NULL);
	TAILQ_INSERT_TAIL(&p->deks, d, entry);
	return 0;
}

static void
encpool_generated(void *arg, const struct krx_key_answer *a)
{
	struct krx_encpool	*p = arg;
	enum krx_key_status	 st;

	p->generating--;
	if (p->discard > 0)
		p->discard--;	/* asked for before a flush: not used */
	else if (a->status != KRX_KEY_OK) {
		p->failure = a->status;
		log_warnx("cannot get a DEK for KEK %s: %s", p->kek,
		    a->status == KRX_KEY_NOT_FOUND ? "KEK not found" :
		    "key service or KMS unavailable");
	} else if (encpool_add(p, a) != 0)
		p->failure = KRX_KEY_UNAVAILABLE;
	if (p->generating > 0)
		return;
	st = p->failure;
	p->failure = KRX_KEY_OK;
	encpool_notify(p, st);
}

/* Ask for n DEKs; 0, or -1 when keysvc cannot be asked. */
static int
encpool_request(struct krx_encpool *p, uint64_t n)
{
	struct krx_key_answer	 a;

	while (n-- > 0) {
		if (krx_keyclient_generate(p->w->kc, p->vc, p->kek, p->kek_len,
		    encpool_generated, p, &a) == 1)
			return p->generating > 0 ? 0 : -1;
		p->generating++;
	}
	return 0;
}

/* How many DEKs of max records each cover need - have (need > have). */
static uint64_t
encpool_deficit(uint64_t need, uint64_t have, uint64_t max)
{
	uint64_t	 miss = need - have;

	return miss / max + (miss % max != 0);
}

int
krx_encpool_ensure(struct krx_encpool *p, uint64_t need, krx_encpool_fn fn,
    void *arg, enum krx_key_status *st)
{
	struct encpool_waiter	*wt;
	struct encdek		*last;
	uint64_t		 have, max, deks;

	*st = KRX_KEY_OK;
	encpool_prune(p);
	have = encpool_budget(p);
	max = (uint64_t)p->conf->max_encryptions_per_dek;
	if (max == 0)
		max = 1;
	last = TAILQ_LAST(&p->deks, encdek_q);
	/* Refresh in the background: the current DEK keeps working. */
	if (have >= need && p->generating == 0 && last != NULL &&
	    time(NULL) - last->created >= p->conf->dek_refresh_after)
		encpool_request(p, 1);
	if (have >= need)
		return 1;
	deks = encpool_deficit(need, have, max);
	if (deks > KRX_ENCPOOL_REQ_DEKS) {
		log_warnx("KEK %s: a request needs %llu DEKs (at most %d, "
		    "maxEncryptionsPerDek %llu); refused", p->kek,
		    (unsigned long long)deks, KRX_ENCPOOL_REQ_DEKS,
		    (unsigned long long)max);
		*st = KRX_KEY_UNAVAILABLE;
		return 1;
	}
	if (p->generating == 0 && encpool_request(p, deks <
	    KRX_ENCPOOL_GEN_MAX ? deks : KRX_ENCPOOL_GEN_MAX) != 0) {
		*st = KRX_KEY_UNAVAILABLE;
		return 1;
	}
	wt = xcalloc(1, sizeof(*wt));
	wt->fn = fn;
	wt->arg = arg;
	wt->round = p->round;
	TAILQ_INSERT_TAIL(&p->waiters, wt, entry);
	return 0;
}

int
krx_encpool_dek(void *arg, struct krx_recenc_dek *out)
{
	struct krx_encpool	*p = arg;
	struct encdek		*d;

	encpool_prune(p);
	if ((d = TAILQ_FIRST(&p->deks)) == NULL)
		return KRX_E_RANGE;
	out->aead = d->aead;
	out->edek = d->edek;
	out->edek_len = d->edek_len;
	out->iv = &d->iv;
	return KRX_OK;
}

void
krx_encpool_cancel(struct krx_worker *w, void *arg)
{
	struct krx_encpool	*p;
	struct encpool_waiter	*wt, *next;

	LIST_FOREACH(p, &encpools, entry)
		for (wt = TAILQ_FIRST(&p->waiters); wt != NULL; wt = next) {
			next = TAILQ_NEXT(wt, entry);
			if (wt->arg == arg) {
				TAILQ_REMOVE(&p->waiters, wt, entry);
				free(wt);
			}
		}
}

/*
 * Drop p's DEKs (zeroed); answers to generation requests in flight are
 * discarded when they come, so no waiter gets a DEK of the old round.
 */
static size_t
encpool_flush(struct krx_encpool *p)
{
	struct encdek	*d;
	size_t		 n = 0;

	while ((d = TAILQ_FIRST(&p->deks)) != NULL) {
		TAILQ_REMOVE(&p->deks, d, entry);
		encdek_free(d);
		n++;
	}
	p->discard = p->generating;
	return n;
}

size_t
krx_encpool_flush(struct krx_worker *w, size_t vc, const char *kek,
    size_t len)
{
	struct krx_encpool	*p;
	size_t			 n = 0;

	(void)w;
	LIST_FOREACH(p, &encpools, entry)
		if (p->vc == vc && (len == 0 || (p->kek_len == len &&
		    memcmp(p->kek, kek, len) == 0)))
			n += encpool_flush(p);
	return n;
}

size_t
krx_encpool_flush_all(struct krx_worker *w)
{
	struct krx_encpool	*p;
	size_t			 n = 0;

	(void)w;
	LIST_FOREACH(p, &encpools, entry)
		n += encpool_flush(p);
	return n;
}

void
krx_encpool_free_all(struct krx_worker *w)
{
	struct krx_encpool	*p;

	krx_encpool_flush_all(w);
	while ((p = LIST_FIRST(&encpools)) != NULL) {
		LIST_REMOVE(p, entry);
		while (!TAILQ_EMPTY(&p->waiters))
			encpool_notify(p, KRX_KEY_UNAVAILABLE);
		free(p->kek);
		free(p);
	}
}
