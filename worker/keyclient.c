/*
 * keyclient.c: worker side of the key service (see keyclient.h). One
 * pending entry per distinct question (single flight): later askers of
 * the same alias or EDEK wait on the same keysvc request. Every pending
 * entry ends exactly once: by reply, deadline or channel loss. Pending
 * entries are hashed by question and by request id; EDEKs keysvc called
 * unknown or invalid are remembered (by digest) for a minute, so many
 * distinct bogus EDEKs cost one round trip each and no more (issue 9,
 * finding 6). No message over the channel cap is ever sent (finding 2):
 * longer questions are answered here. Decrypted DEKs expire a fixed time
 * after they were fetched; keysvc's KRX_IPC_KEY_FLUSH drops what a
 * rotated or deleted KEK left here (finding 10). A lost channel is
 * replaced: the worker asks the master for a new one until it has it.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common/buf.h"
#include "common/chan.h"
#include "common/dispatch.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/shm/stats.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "crypto/aead.h"
#include "crypto/edek_name.h"
#include "crypto/secret.h"
#include "common/cycle.h"
#include "worker/encdek.h"
#include "worker/keyclient.h"
#include "worker/session.h"

#define KC_BUCKETS		4096
#define KC_MAX_DEKS		1000
#define KC_DEK_TTL		3600	/* expire after write, seconds */
#define KC_MAX_ALIASES		10000
#define KC_ALIAS_REFRESH	480
#define KC_ALIAS_EXPIRE		600
#define KC_ALIAS_NEGATIVE	30
#define KC_MAX_FAILED		10000	/* EDEKs known bad, by digest */
#define KC_FAILED_TTL		60
#define KC_MAX_PENDING		4096	/* sent or queued: 16 MiB of EDEKs */
#define KC_MAX_SENT		256	/* sent: keysvc's per-worker cap */
#define KC_NAME_MAX		512	/* alias, KEK id: as keysvc */
#define KC_EDEK_MAX		KRX_EDEK_MAX
#define KC_RELINK_FIRST		1	/* seconds: ask for a channel */
#define KC_RELINK_MAX		30

struct kc_waiter {
	TAILQ_ENTRY(kc_waiter)	 entry;
	krx_key_fn		 fn;
	void			*arg;
};
TAILQ_HEAD(kc_waiters, kc_waiter);

struct kc_pending {
	TAILQ_ENTRY(kc_pending)	 entry;
	TAILQ_ENTRY(kc_pending)	 qentry;	/* not sent yet */
	int			 sent, queued;
	struct kc_pending	*next_key;	/* chain by question */
	struct kc_pending	*next_id;	/* chain by request id */
	struct krx_keyclient	*kc;
	uint32_t		 id;
	uint32_t		 hash;		/* of the question */
	int			 stale;		/* a KEK flush came since */
	uint32_t		 type;
	size_t			 vc;
	uint8_t			*key;	/* alias, KEK id or EDEK */
	size_t			 key_len;
	struct kc_waiters	 waiters;
	struct event		*timer;
};
TAILQ_HEAD(kc_pendings, kc_pending);

/* A cache entry: alias answer or decrypted DEK. */
struct kc_entry {
	struct kc_entry		*next;		/* hash chain */
	TAILQ_ENTRY(kc_entry)	 lru;
	size_t			 vc;
	uint8_t			*key;
	size_t			 key_len;
	uint32_t		 hash;
	enum krx_key_status	 status;
	uint8_t			*value;		/* KEK id or DEK */
	size_t			 value_len;
	time_t			 written;
	time_t			 expires;
	int			 refreshing;
	struct krx_aead		*aead;		/* DEK entries, made lazily */
};
TAILQ_HEAD(kc_lru, kc_entry);

/*
 * A table of secrets (DEKs) keeps its values in one locked, undumpable
 * krx_secret of max slots of slot_len bytes (issue 9, finding 11): there
 * are never more entries than slots.
 */
struct kc_table {
	struct kc_entry		*buckets[KC_BUCKETS];
	struct kc_lru		 lru;
	size_t			 n, max;
	struct krx_secret	*slab;		/* NULL: values on the heap */
	size_t			 slot_len;
	uint32_t		*free_slots;	/* stack of free slab slots */
	size_t			 n_free;
};

struct krx_keyclient {
	struct krx_worker	*w;
	struct krx_chan		*chan;
	uint32_t		 next_id;
	struct kc_pendings	 pending;
	struct kc_pendings	 queued;	/* waiting for KC_MAX_SENT */
	size_t			 n_sent;
	struct kc_pending	*by_key[KC_BUCKETS];
	struct kc_pending	*by_id[KC_BUCKETS];
	size_t			 n_pending;
	struct kc_table		 aliases;
	struct kc_table		 deks;
	struct kc_table		 failed;	/* SHA-256 of bad EDEKs */
	struct event		*relink;	/* ask the master for a chan */
	int			 relink_s;
};

static uint32_t
kc_hash(size_t vc, const uint8_t *k, size_t len)
{
	return krx_hash_fnv1a((uint32_t)vc, k, len);
}

static void
kc_entry_free(struct kc_table *t, struct kc_entry *e)
{
	krx_aead_free(e->aead);
	if (t->slab != NULL) {
		OPENSSL_cleanse(e->value, e->value_len);
		t->free_slots[t->n_free++] = (uint32_t)((e->value -
		    t->slab->data) / t->slot_len);
	} else
		free(e->value);
	free(e->key);
	free(e);
}

static void
kc_table_remove(struct kc_table *t, struct kc_entry *e)
{
	struct kc_entry	**pp = &t->buckets[e->hash % KC_BUCKETS];

	while (*pp != e)
		pp = &(*pp)->next;
	*pp = e->next;
	TAILQ_REMOVE(&t->lru, e, lru);
	t->n--;
	kc_entry_free(t, e);
}

static struct kc_entry *
kc_table_find(struct kc_table *t, size_t vc, const uint8_t *k, size_t len)
{
	struct kc_entry	*e;
	uint32_t	 h = kc_hash(vc, k, len);

	for (e = t->buckets[h % KC_BUCKETS]; e != NULL; e = e->next)
		if (e->hash == h && e->vc == vc && e->key_len == len &&
		    memcmp(e->key, k, len) == 0)
			return e;
	return NULL;
}

/* Insert or replace; the least recently used entry goes when full. */
static struct kc_entry *
kc_table_put(struct kc_table *t, size_t vc, const uint8_t *k, size_t len,
    enum krx_key_status st, const uint8_t *v, size_t vlen, time_t expires)
{
	struct kc_entry	*e;

	if ((e = kc_table_find(t, vc, k, len)) != NULL)
		kc_table_remove(t, e);
	if (t->n >= t->max)
		kc_table_remove(t, TAILQ_LAST(&t->lru, kc_lru));
	e = xcalloc(1, sizeof(*e));
	e->vc = vc;
	e->key = xmalloc(len);
	memcpy(e->key, k, len);
	e->key_len = len;
	e->hash = kc_hash(vc, k, len);
	e->status = st;
	if (t->slab != NULL && vlen == t->slot_len)
		e->value = t->slab->data +
		    t->free_slots[--t->n_free] * t->slot_len;
	else if (t->slab != NULL)
		fatalx("secret of %zu bytes in a table of %zu", vlen,
		    t->slot_len);
	else
		e->value = xmalloc(vlen);
	if (vlen > 0)
		memcpy(e->value, v, vlen);
	e->value_len = vlen;
	e->written = time(NULL);
	e->expires = expires;
	e->next = t->buckets[e->hash % KC_BUCKETS];
	t->buckets[e->hash % KC_BUCKETS] = e;
	TAILQ_INSERT_HEAD(&t->lru, e, lru);
	t->n++;
	return e;
}

static void
kc_table_init(struct kc_table *t, size_t max, size_t secret_len)
{
	size_t	 i;

	TAILQ_INIT(&t->lru);
	t->max = max;
	if (secret_len == 0)
		return;
	if ((t->slab = krx_secret_new(max * secret_len)) == NULL)
		fatalx("cannot map %zu bytes for DEKs", max * secret_len);
	t->slot_len = secret_len;
	t->free_slots = xcalloc(max, sizeof(*t->free_slots));
	for (i = 0; i < max; i++)
		t->free_slots[i] = (uint32_t)(max - 1 - i);
	t->n_free = max;
}

static void
kc_table_clear(struct kc_table *t)
{
	struct kc_entry	*e;

	while ((e = TAILQ_FIRST(&t->lru)) != NULL)
		kc_table_remove(t, e);
}

static uint32_t
kc_pending_hash(uint32_t type, size_t vc, const uint8_t *k, size_t len)
{
	return kc_hash(vc, k, len) ^ (type * 2654435761u);
}

static void
kc_pending_unlink(struct krx_keyclient *kc, struct kc_pending *p)
{
	struct kc_pending	**pp;

	for (pp = &kc->by_key[p->hash % KC_BUCKETS]; *pp != p;
	    pp = &(*pp)->next_key)
		;
	*pp = p->next_key;
	for (pp = &kc->by_id[p->id % KC_BUCKETS]; *pp != p;
	    pp = &(*pp)->next_id)
		;
	*pp = p->next_id;
	TAILQ_REMOVE(&kc->pending, p, entry);
	if (p->queued)
		TAILQ_REMOVE(&kc->queued, p, qentry);
	if (p->sent)
		kc->n_sent--;
	kc->n_pending--;
}

/* End a pending request: answer every waiter, free it. */
static void
kc_finish(struct kc_pending *p, const struct krx_key_answer *a)
{
	struct krx_keyclient	*kc = p->kc;
	struct kc_waiter	*wt;
	struct krx_key_answer	 ans = *a;

	if (p->type == KRX_IPC_KEY_DECRYPT) {
		ans.edek = p->key;
		ans.edek_len = p->key_len;
		a = &ans;
	}
	kc_pending_unlink(kc, p);
	if (a->status == KRX_KEY_UNAVAILABLE)
		krx_stats_add(kc->w->cy->stats, kc->w->slot,
		    KRX_STAT_KEY_FAILURES, 1);
	while ((wt = TAILQ_FIRST(&p->waiters)) != NULL) {
		TAILQ_REMOVE(&p->waiters, wt, entry);
		wt->fn(wt->arg, a);
		free(wt);
	}
	event_free(p->timer);
	free(p->key);
	free(p);
}

static void
kc_fail(struct kc_pending *p, enum krx_key_status st)
{
	struct krx_key_answer	 a;

	memset(&a, 0, sizeof(a));
	a.status = st;
	kc_finish(p, &a);
}

static struct kc_pending *
kc_find_pending(struct krx_keyclient *kc, uint32_t type, size_t vc,
    const uint8_t *k, size_t len)
{
	struct kc_pending	*p;
	uint32_t		 h = kc_pending_hash(type, vc, k, len);

	for (p = kc->by_key[h % KC_BUCKETS]; p != NULL; p = p->next_key)
		if (p->hash == h && p->type == type && p->vc == vc &&
		    p->key_len == len && memcmp(p->key, k, len) == 0)
			return p;
	return NULL;
}

static struct kc_pending *
kc_find_id(struct krx_keyclient *kc, uint32_t id)
{
	struct kc_pending	*p;

	for (p = kc->by_id[id % KC_BUCKETS]; p != NULL; p = p->next_id)
		if (p->id == id)
			return p;
	return NULL;
}

static void
kc_wait(struct kc_pending *p, krx_key_fn fn, void *arg)
{
	struct kc_waiter	*wt;

	if (fn == NULL)
		return;
	wt = xcalloc(1, sizeof(*wt));
	wt->fn = fn;
	wt->arg = arg;
	TAILQ_INSERT_TAIL(&p->waiters, wt, entry);
}

/*
 * Send p's question; the payload is u32 vc | (u32 n = 1 for decrypt) |
 * str key, so with the askers' bounds (KC_NAME_MAX, KC_EDEK_MAX) it
 * never comes near KRX_IPC_MAX_KEYS (keysvc drops a channel that carries
 * more). -1 when it cannot go.
 */
static int
kc_send(struct krx_keyclient *kc, struct kc_pending *p)
{
	struct krx_buf	 b;
	int		 r;

	krx_buf_init(&b, 16 + p->key_len);
	krx_buf_put_be32(&b, (uint32_t)p->vc);
	if (p->type == KRX_IPC_KEY_DECRYPT)
		krx_buf_put_be32(&b, 1);
	krx_buf_put_be32(&b, (uint32_t)p->key_len);
	krx_buf_put(&b, p->key, p->key_len);
	r = b.err == KRX_OK && b.len + KRX_IPC_HDR_LEN <= KRX_IPC_MAX_KEYS &&
	    kc->chan != NULL && krx_chan_send(kc->chan, p->type, p->id, 0,
	    b.data, b.len, -1) == KRX_OK ? 0 : -1;
	krx_buf_free(&b);
	if (r == 0) {
		p->sent = 1;
		kc->n_sent++;
		krx_stats_add(kc->w->cy->stats, kc->w->slot,
		    KRX_STAT_KEY_REQUESTS, 1);
	}
	return r;
}

/* Send queued questions while keysvc takes more from this worker. */
static void
kc_pump(struct krx_keyclient *kc)
{
	struct kc_pending	*p;

	while (kc->n_sent < KC_MAX_SENT &&
	    (p = TAILQ_FIRST(&kc->queued)) != NULL) {
		TAILQ_REMOVE(&kc->queued, p, qentry);
		p->queued = 0;
		if (kc_send(kc, p) != 0)
			kc_fail(p, KRX_KEY_UNAVAILABLE);
	}
}

static void
kc_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct kc_pending	*p = arg;
	struct krx_keyclient	*kc = p->kc;

	log_warnx("key service did not answer request %u within %d s",
	    p->id, KRX_KEY_DEADLINE);
	kc_fail(p, KRX_KEY_UNAVAILABLE);
	kc_pump(kc);
}

/*
 * A new question for keysvc: sent now, or queued while KC_MAX_SENT are
 * in flight (keysvc answers UNAVAILABLE over its own cap). Returns NULL
 * when there is no channel, too much is pending or it cannot be sent
 * (the caller answers UNAVAILABLE).
 */
static struct kc_pending *
kc_ask(struct krx_keyclient *kc, uint32_t type, size_t vc,
    const uint8_t *k, size_t len)
{
	struct timeval		 tv = { KRX_KEY_DEADLINE, 0 };
	struct kc_pending	*p;

	if (kc->chan == NULL || kc->n_pending >= KC_MAX_PENDING)
		return NULL;
	p = xcalloc(1, sizeof(*p));
	p->kc = kc;
	if (++kc->next_id == 0)
		++kc->next_id;		/* 0: unsolicited messages */
	p->id = kc->next_id;
	p->type = type;
	p->vc = vc;
	p->key = xmalloc(len);
	memcpy(p->key, k, len);
	p->key_len = len;
	p->hash = kc_pending_hash(type, vc, k, len);
	if (kc->n_sent < KC_MAX_SENT && kc_send(kc, p) != 0) {
		free(p->key);
		free(p);
		return NULL;
	}
	TAILQ_INIT(&p->waiters);
	p->timer = evtimer_new(kc->w->base, kc_deadline, p);
	evtimer_add(p->timer, &tv);
	TAILQ_INSERT_TAIL(&kc->pending, p, entry);
	if (!p->sent) {
		p->queued = 1;
		TAILQ_INSERT_TAIL(&kc->queued, p, qentry);
	}
	p->next_key = kc->by_key[p->hash % KC_BUCKETS];
	kc->by_key[p->hash % KC_BUCKETS] = p;
	p->next_id = kc->by_id[p->id % KC_BUCKETS];
	kc->by_id[p->id % KC_BUCKETS] = p;
	kc->n_pending++;
	return p;
}

static int
kc_get_bytes(struct krx_cur *c, size_t max, const uint8_t **p, size_t *len)
{
	uint32_t	 n;

	if (krx_cur_get_be32(c, &n) != KRX_OK || n > max)
		return -1;
	*len = n;
	return krx_cur_get_ref(c, n, p) == KRX_OK ? 0 : -1;
}

static struct kc_entry *
kc_cache_dek(struct krx_keyclient *kc, size_t vc, const uint8_t *edek,
    size_t len, const uint8_t *dek)
{
	return kc_table_put(&kc->deks, vc, edek, len, KRX_KEY_OK, dek,
	    KRX_DEK_LEN, time(NULL) + KC_DEK_TTL);
}

/* The key of an EDEK in the table of failed ones: its SHA-256. */
static int
kc_failed_key(const uint8_t *edek, size_t len, uint8_t md[32])
{
	unsigned int	 n = 0;

	return EVP_Digest(edek, len, md, &n, EVP_sha256(), NULL) == 1 &&
	    n == 32 ? 0 : -1;
}

static void
kc_failed_put(struct krx_keyclient *kc, size_t vc, const uint8_t *edek,
    size_t len, enum krx_key_status st)
{
	uint8_t	 md[32];

	if (kc_failed_key(edek, len, md) == 0)
		kc_table_put(&kc->failed, vc, md, sizeof(md), st, NULL, 0,
		    time(NULL) + KC_FAILED_TTL);
}

/* KRX_KEY_OK, or the failure keysvc gave for this EDEK within a minute. */
static enum krx_key_status
kc_failed_get(struct krx_keyclient *kc, size_t vc, const uint8_t *edek,
    size_t len)
{
	struct kc_entry	*e;
	uint8_t		 md[32];

	if (kc->failed.n == 0 || kc_failed_key(edek, len, md) != 0 ||
	    (e = kc_table_find(&kc->failed, vc, md, sizeof(md))) == NULL)
		return KRX_KEY_OK;
	if (time(NULL) < e->expires)
		return e->status;
	kc_table_remove(&kc->failed, e);
	return KRX_KEY_OK;
}

/* Decode a reply into a; -1 when keysvc broke the format. */
static int
kc_parse_reply(struct krx_keyclient *kc, struct kc_pending *p,
    struct krx_cur *c, struct krx_key_answer *a)
{
	uint8_t		 st;
	uint32_t	 n;
	size_t		 dlen = 0;

	memset(a, 0, sizeof(*a));
	if (p->type == KRX_IPC_KEY_DECRYPT &&
	    (krx_cur_get_be32(c, &n) != KRX_OK || n != 1))
		return -1;
	if (krx_cur_get_u8(c, &st) != KRX_OK || st > KRX_KEY_INVALID)
		return -1;
	a->status = st;
	switch (p->type) {
	case KRX_IPC_KEY_RESOLVE:
		if (kc_get_bytes(c, 512, (const uint8_t **)&a->kek_id,
		    &a->kek_len) != 0)
			return -1;
		break;
	case KRX_IPC_KEY_GENERATE:
		if (kc_get_bytes(c, 4096, &a->edek, &a->edek_len) != 0 ||
		    kc_get_bytes(c, KRX_DEK_LEN, &a->dek, &dlen) != 0)
			return -1;
		break;
	case KRX_IPC_KEY_DECRYPT:
		if (kc_get_bytes(c, KRX_DEK_LEN, &a->dek, &dlen) != 0)
			return -1;
		break;
	}
	if (krx_cur_end(c) != KRX_OK)
		return -1;
	if (st == KRX_KEY_OK && p->type != KRX_IPC_KEY_RESOLVE &&
	    (dlen != KRX_DEK_LEN ||
	    (p->type == KRX_IPC_KEY_GENERATE && a->edek_len == 0)))
		return -1;
	return 0;
}

static void
kc_remember(struct krx_keyclient *kc, struct kc_pending *p,
    const struct krx_key_answer *a)
{
	time_t	 now = time(NULL);

	/* Asked before a KEK flush: the answer may be what was flushed. */
	if (p->stale && a->status == KRX_KEY_OK)
		return;
	if (p->type == KRX_IPC_KEY_RESOLVE && (a->status == KRX_KEY_OK ||
	    a->status == KRX_KEY_NOT_FOUND))
		kc_table_put(&kc->aliases, p->vc, p->key, p->key_len,
		    a->status, (const uint8_t *)a->kek_id, a->kek_len, now +
		    (a->status == KRX_KEY_OK ? KC_ALIAS_EXPIRE :
		    KC_ALIAS_NEGATIVE));
	else if (p->type == KRX_IPC_KEY_GENERATE && a->status == KRX_KEY_OK)
		kc_cache_dek(kc, p->vc, a->edek, a->edek_len, a->dek);
	else if (p->type == KRX_IPC_KEY_DECRYPT && a->status == KRX_KEY_OK)
		kc_cache_dek(kc, p->vc, p->key, p->key_len, a->dek);
	else if (p->type == KRX_IPC_KEY_DECRYPT &&
	    (a->status == KRX_KEY_NOT_FOUND || a->status == KRX_KEY_INVALID))
		kc_failed_put(kc, p->vc, p->key, p->key_len, a->status);
}

/* Drop the entries of vcluster vc from t. */
static void
kc_table_drop_vc(struct kc_table *t, size_t vc)
{
	struct kc_entry	*e, *next;

	for (e = TAILQ_FIRST(&t->lru); e != NULL; e = next) {
		next = TAILQ_NEXT(e, lru);
		if (e->vc == vc)
			kc_table_remove(t, e);
	}
}

/*
 * KRX_IPC_KEY_FLUSH from keysvc: u32 vc | u32 op | str kek (see ipc.h).
 * Alias resolutions of the vcluster go whatever the KEK (an alias may
 * name it under another name; resolving again is one round trip), and
 * on delete every decrypted DEK of the vcluster (an EDEK does not say
 * which KEK wrapped it, not to the worker).
 */
static int
kc_flush(struct krx_keyclient *kc, const uint8_t *payload, size_t len)
{
	struct kc_pending	*p;
	struct krx_cur		 c;
	uint32_t		 vc, op;
	const uint8_t		*kek;
	size_t			 kek_len;

	krx_cur_init(&c, payload, len);
	if (krx_cur_get_be32(&c, &vc) != KRX_OK ||
	    krx_cur_get_be32(&c, &op) != KRX_OK ||
	    kc_get_bytes(&c, KC_NAME_MAX, &kek, &kek_len) != 0 ||
	    krx_cur_end(&c) != KRX_OK || vc >= kc->w->conf->n_vclusters ||
	    (op != KRX_KEY_FLUSH_ROTATE && op != KRX_KEY_FLUSH_DELETE &&
	    op != KRX_KEY_FLUSH_CREATE)) {
		log_err("malformed key flush from the key service");
		return -1;
	}
	log_info("key service: KEK %.*s%s of vcluster %u %s; flushing",
	    (int)kek_len, (const char *)kek, kek_len == 0 ? "(all)" : "", vc,
	    op == KRX_KEY_FLUSH_DELETE ? "deleted" :
	    op == KRX_KEY_FLUSH_CREATE ? "created" : "rotated");
	TAILQ_FOREACH(p, &kc->pending, entry)
		if (p->vc == vc)
			p->stale = 1;
	kc_table_drop_vc(&kc->aliases, vc);
	if (op == KRX_KEY_FLUSH_CREATE)
		return 0;
	if (op == KRX_KEY_FLUSH_DELETE)
		kc_table_drop_vc(&kc->deks, vc);
	krx_encpool_flush(kc->w, vc, (const char *)kek, kek_len);
	return 0;
}

size_t
krx_keyclient_drop_all(struct krx_keyclient *kc)
{
	struct kc_pending	*p;
	size_t			 n = kc->deks.n, vc;

	TAILQ_FOREACH(p, &kc->pending, entry)
		p->stale = 1;
	for (vc = 0; vc < kc->w->conf->n_vclusters; vc++) {
		kc_table_drop_vc(&kc->aliases, vc);
		kc_table_drop_vc(&kc->deks, vc);
	}
	return n;
}

/* KRX_IPC_KEY_FLUSH: unsolicited, request id 0. */
static int
kc_on_flush(void *ctx, const struct krx_ipc_hdr *h, const uint8_t *payload,
    size_t len, int fd)
{
	if (h->id != 0) {
		log_debug("dropping key flush with request id %u", h->id);
		return 0;
	}
	return kc_flush(ctx, payload, len);
}

/* KRX_IPC_KEY_REPLY: a reply to nothing pending (late) is dropped. */
static int
kc_on_reply(void *ctx, const struct krx_ipc_hdr *h, const uint8_t *payload,
    size_t len, int fd)
{
	struct krx_keyclient	*kc = ctx;
	struct kc_pending	*p;
	struct krx_key_answer	 a;
	struct krx_cur		 cur;

	if ((p = kc_find_id(kc, h->id)) == NULL) {
		log_debug("dropping key service reply to request %u", h->id);
		return 0;
	}
	krx_cur_init(&cur, payload, len);
	if (kc_parse_reply(kc, p, &cur, &a) != 0) {
		log_err("malformed reply from the key service (request %u)",
		    h->id);
		kc_fail(p, KRX_KEY_UNAVAILABLE);
		kc_pump(kc);
		return 0;
	}
	kc_remember(kc, p, &a);
	/* A DEK made before a delete may be under the deleted KEK. */
	if (p->stale && p->type == KRX_IPC_KEY_GENERATE)
		a.status = KRX_KEY_UNAVAILABLE;
	kc_finish(p, &a);
	kc_pump(kc);
	return 0;
}

/*
 * What a worker accepts from keysvc. A reply's length is the decoder's
 * business (a short one fails its request at once, not at the deadline).
 */
static const struct krx_dispatch_row kc_rows[] = {
	{ KRX_IPC_KEY_FLUSH, KRX_DISPATCH_S_ANY, 12, 12 + KC_NAME_MAX,
	    KRX_DISPATCH_FD_NONE, 0, 0, kc_on_flush },
	{ KRX_IPC_KEY_REPLY, KRX_DISPATCH_S_ANY, 0,
	    KRX_IPC_MAX_KEYS - KRX_IPC_HDR_LEN, KRX_DISPATCH_FD_NONE, 0, 0,
	    kc_on_reply },
};
static const struct krx_dispatch_table kc_table =
    KRX_DISPATCH_TABLE("keysvc -> worker", kc_rows);

/*
 * keysvc is the more privileged side: what it sends wrong is logged and
 * dropped, never fatal to the worker.
 */
static void
kc_chan_msg(struct krx_chan *c, const struct krx_ipc_hdr *h,
    const uint8_t *payload, size_t len, int fd, void *arg)
{
	struct krx_dispatch_peer	 peer;
	int				 v;

	krx_dispatch_peer_init(&peer);	/* no state, nothing once-only */
	v = krx_dispatch_run(&kc_table, &peer, arg, h, payload, len, fd);
	if (v == KRX_DISPATCH_E_TYPE)
		log_debug("dropping key service message %u (request %u)",
		    h->type, h->id);
	else if (v != KRX_DISPATCH_OK && v != KRX_DISPATCH_E_PAYLOAD)
		log_err("malformed message %u from the key service: %s",
		    h->type, krx_dispatch_strerror(v));
}

/* Ask the master for a keysvc channel until one comes, backing off. */
static void
kc_relink(evutil_socket_t fd, short what, void *arg)
{
	struct krx_keyclient	*kc = arg;
	struct timeval		 tv = { 0, 0 };

	if (kc->chan != NULL)
		return;
	if (kc->relink_s > 0)
		krx_chan_send(kc->w->chan, KRX_IPC_KS_RELINK, 0, 0, NULL, 0,
		    -1);
	kc->relink_s = kc->relink_s == 0 ? KC_RELINK_FIRST :
	    kc->relink_s * 2 > KC_RELINK_MAX ? KC_RELINK_MAX :
	    kc->relink_s * 2;
	tv.tv_sec = kc->relink_s;
	evtimer_add(kc->relink, &tv);
}

static void
kc_chan_eof(struct krx_chan *c, int err, void *arg)
{
	struct krx_keyclient	*kc = arg;
	struct kc_pending	*p;

	log_warnx("lost the key service channel (%s); failing %s requests "
	    "until the master hands a new one", err ? krx_strerror(err) :
	    "eof", TAILQ_EMPTY(&kc->pending) ? "no" : "pending");
	krx_chan_free(kc->chan);
	kc->chan = NULL;
	while ((p = TAILQ_FIRST(&kc->pending)) != NULL)
		kc_fail(p, KRX_KEY_UNAVAILABLE);
	/*
	 * When keysvc died its respawn brings a channel; when it closed
	 * only this one (violation, over-long message) nothing would:
	 * ask after KC_RELINK_FIRST unless a channel came meanwhile.
	 */
	kc->relink_s = 0;
	if (kc->chan == NULL && kc->w->chan != NULL)
		kc_relink(-1, 0, kc);
}

void
krx_keyclient_set_channel(struct krx_keyclient *kc, int fd)
{
	if (kc->chan != NULL)
		krx_chan_free(kc->chan);
	kc->chan = NULL;
	if (fd == -1)
		return;
	evtimer_del(kc->relink);
	kc->relink_s = 0;
	kc->chan = krx_chan_new(kc->w->base, fd, KRX_IPC_MAX_KEYS, 0,
	    kc_chan_msg, kc_chan_eof, kc);
	log_debug("connected to the key service");
}

static int
kc_now(struct krx_key_answer *a, enum krx_key_status st)
{
	memset(a, 0, sizeof(*a));
	a->status = st;
	return 1;
}

int
krx_keyclient_resolve(struct krx_keyclient *kc, size_t vc, const char *alias,
    size_t len, krx_key_fn fn, void *arg, struct krx_key_answer *a)
{
	const uint8_t		*k = (const uint8_t *)alias;
	struct kc_entry		*e;
	struct kc_pending	*p;
	time_t			 now = time(NULL);

	if (len == 0 || len > KC_NAME_MAX)
		return kc_now(a, KRX_KEY_INVALID);
	e = kc_table_find(&kc->aliases, vc, k, len);
	if (e != NULL && now < e->expires) {
		/* Refresh in the background before expiry. */
		if (e->status == KRX_KEY_OK && now - e->written >=
		    KC_ALIAS_REFRESH && kc_find_pending(kc,
		    KRX_IPC_KEY_RESOLVE, vc, k, len) == NULL)
			kc_ask(kc, KRX_IPC_KEY_RESOLVE, vc, k, len);
		kc_now(a, e->status);
		a->kek_id = (const char *)e->value;
		a->kek_len = e->value_len;
		return 1;
	}
	if ((p = kc_find_pending(kc, KRX_IPC_KEY_RESOLVE, vc, k, len)) ==
	    NULL && (p = kc_ask(kc, KRX_IPC_KEY_RESOLVE, vc, k, len)) == NULL)
		return kc_now(a, KRX_KEY_UNAVAILABLE);
	kc_wait(p, fn, arg);
	return 0;
}

int
krx_keyclient_generate(struct krx_keyclient *kc, size_t vc, const char *kek,
    size_t len, krx_key_fn fn, void *arg, struct krx_key_answer *a)
{
	struct kc_pending	*p;

	if (len == 0 || len > KC_NAME_MAX)
		return kc_now(a, KRX_KEY_INVALID);
	p = kc_ask(kc, KRX_IPC_KEY_GENERATE, vc, (const uint8_t *)kek, len);
	if (p == NULL)
		return kc_now(a, KRX_KEY_UNAVAILABLE);
	kc_wait(p, fn, arg);
	return 0;
}

int
krx_keyclient_decrypt(struct krx_keyclient *kc, size_t vc,
    const uint8_t *edek, size_t len, krx_key_fn fn, void *arg,
    struct krx_key_answer *a)
{
	struct kc_entry		*e;
	struct kc_pending	*p;
	enum krx_key_status	 st;
	time_t			 now = time(NULL);

	/* keysvc would call it a violation and drop the channel. */
	if (len == 0 || len > KC_EDEK_MAX)
		return kc_now(a, KRX_KEY_INVALID);
	if ((e = kc_table_find(&kc->deks, vc, edek, len)) != NULL &&
	    now < e->expires) {
		TAILQ_REMOVE(&kc->deks.lru, e, lru);
		TAILQ_INSERT_HEAD(&kc->deks.lru, e, lru);
		krx_stats_add(kc->w->cy->stats, kc->w->slot,
		    KRX_STAT_DEK_MEM_HITS, 1);
		kc_now(a, KRX_KEY_OK);
		a->dek = e->value;
		return 1;
	}
	krx_stats_add(kc->w->cy->stats, kc->w->slot, KRX_STAT_DEK_MEM_MISSES,
	    1);
	if ((st = kc_failed_get(kc, vc, edek, len)) != KRX_KEY_OK)
		return kc_now(a, st);
	if ((p = kc_find_pending(kc, KRX_IPC_KEY_DECRYPT, vc, edek, len)) ==
	    NULL && (p = kc_ask(kc, KRX_IPC_KEY_DECRYPT, vc, edek, len)) ==
	    NULL)
		return kc_now(a, KRX_KEY_UNAVAILABLE);
	kc_wait(p, fn, arg);
	return 0;
}

struct krx_aead *
krx_keyclient_aead(struct krx_keyclient *kc, size_t vc, const uint8_t *edek,
    size_t len)
{
	struct kc_entry	*e;

	if ((e = kc_table_find(&kc->deks, vc, edek, len)) == NULL ||
	    time(NULL) >= e->expires)
		return NULL;
	if (e->aead == NULL)
		e->aead = krx_aead_new(e->value, e->value_len);
	return e->aead;
}

void
krx_keyclient_cancel(struct krx_keyclient *kc, void *arg)
{
	struct kc_pending	*p;
	struct kc_waiter	*wt, *next;

	TAILQ_FOREACH(p, &kc->pending, entry)
		for (wt = TAILQ_FIRST(&p->waiters); wt != NULL; wt = next) {
			next = TAILQ_NEXT(wt, entry);
			if (wt->arg == arg) {
				TAILQ_REMOVE(&p->waiters, wt, entry);
				free(wt);
			}
		}
}

struct krx_keyclient *
krx_keyclient_new(struct krx_worker *w)
{
	struct krx_keyclient	*kc = xcalloc(1, sizeof(*kc));

	kc->w = w;
	TAILQ_INIT(&kc->pending);
	TAILQ_INIT(&kc->queued);
	kc_table_init(&kc->aliases, KC_MAX_ALIASES, 0);
	kc_table_init(&kc->deks, KC_MAX_DEKS, KRX_DEK_LEN);
	kc_table_init(&kc->failed, KC_MAX_FAILED, 0);
	kc->relink = evtimer_new(w->base, kc_relink, kc);
	return kc;
}

void
krx_keyclient_free(struct krx_keyclient *kc)
{
	struct kc_pending	*p;

	if (kc == NULL)
		return;
	while ((p = TAILQ_FIRST(&kc->pending)) != NULL)
		kc_fail(p, KRX_KEY_UNAVAILABLE);
	krx_chan_free(kc->chan);
	kc_table_clear(&kc->aliases);
	kc_table_clear(&kc->deks);
	kc_table_clear(&kc->failed);
	krx_secret_free(kc->deks.slab);
	free(kc->deks.free_slots);
	event_free(kc->relink);
	free(kc);
}

int
krx_keyclient_edek_form(const struct krx_conf_kms *kms)
{
	switch (kms->kind) {
	case KRX_CONF_KMS_VAULT:
		return KRX_EDEK_FORM_VAULT;
	case KRX_CONF_KMS_AWS:
		return KRX_EDEK_FORM_AWS;
	case KRX_CONF_KMS_AZURE:
		return KRX_EDEK_FORM_AZURE;
	default:
		return KRX_EDEK_FORM_LOCAL;
	}
}
