/*
 * keyclient.c: worker side of the key service (see keyclient.h). One
 * pending entry per distinct question (single flight): later askers of
 * the same alias or EDEK wait on the same keysvc request. Every pending
 * entry ends exactly once: by reply, deadline or channel loss.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "common/buf.h"
#include "common/chan.h"
#include "common/log.h"
#include "common/stats.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "crypto/aead.h"
#include "crypto/dekcache.h"
#include "crypto/secret.h"
#include "master/master.h"
#include "worker/keyclient.h"
#include "worker/session.h"

#define KC_BUCKETS		4096
#define KC_MAX_DEKS		1000
#define KC_DEK_IDLE		3600	/* expire after access, seconds */
#define KC_MAX_ALIASES		10000
#define KC_ALIAS_REFRESH	480
#define KC_ALIAS_EXPIRE		600
#define KC_ALIAS_NEGATIVE	30
#define KC_CACHE_RETRY		1	/* seconds between LMDB opens */

struct kc_waiter {
	TAILQ_ENTRY(kc_waiter)	 entry;
	krx_key_fn		 fn;
	void			*arg;
};
TAILQ_HEAD(kc_waiters, kc_waiter);

struct kc_pending {
	TAILQ_ENTRY(kc_pending)	 entry;
	struct krx_keyclient	*kc;
	uint32_t		 id;
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

struct kc_table {
	struct kc_entry		*buckets[KC_BUCKETS];
	struct kc_lru		 lru;
	size_t			 n, max;
	int			 secret;	/* zero values on free */
};

struct krx_keyclient {
	struct krx_worker	*w;
	struct krx_chan		*chan;
	uint32_t		 next_id;
	struct kc_pendings	 pending;
	struct kc_table		 aliases;
	struct kc_table		 deks;
	struct krx_dekcache	*lmdb;
	time_t			 lmdb_tried;
	char			**kms_ids;	/* per vcluster */
};

static uint32_t
kc_hash(size_t vc, const uint8_t *k, size_t len)
{
	uint32_t	 h = 2166136261u ^ (uint32_t)vc;
	size_t		 i;

	for (i = 0; i < len; i++)
		h = (h ^ k[i]) * 16777619u;
	return h;
}

static void
kc_entry_free(struct kc_table *t, struct kc_entry *e)
{
	krx_aead_free(e->aead);
	if (t->secret && e->value != NULL)
		OPENSSL_cleanse(e->value, e->value_len);
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
kc_table_clear(struct kc_table *t)
{
	struct kc_entry	*e;

	while ((e = TAILQ_FIRST(&t->lru)) != NULL)
		kc_table_remove(t, e);
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
	TAILQ_REMOVE(&kc->pending, p, entry);
	if (a->status == KRX_KEY_UNAVAILABLE)
		krx_stats_add(kc->w->m->stats, kc->w->slot,
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

static void
kc_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct kc_pending	*p = arg;

	log_warnx("key service did not answer request %u within %d s",
	    p->id, KRX_KEY_DEADLINE);
	kc_fail(p, KRX_KEY_UNAVAILABLE);
}

static struct kc_pending *
kc_find_pending(struct krx_keyclient *kc, uint32_t type, size_t vc,
    const uint8_t *k, size_t len)
{
	struct kc_pending	*p;

	TAILQ_FOREACH(p, &kc->pending, entry)
		if (p->type == type && p->vc == vc && p->key_len == len &&
		    memcmp(p->key, k, len) == 0)
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
 * Ask keysvc; the payload is u32 vc | (u32 n = 1 for decrypt) | str key.
 * Returns NULL when there is no channel (the caller answers UNAVAILABLE).
 */
static struct kc_pending *
kc_ask(struct krx_keyclient *kc, uint32_t type, size_t vc,
    const uint8_t *k, size_t len)
{
	struct timeval		 tv = { KRX_KEY_DEADLINE, 0 };
	struct kc_pending	*p;
	struct krx_buf		 b;

	if (kc->chan == NULL)
		return NULL;
	krx_buf_init(&b, 16 + len);
	krx_buf_put_be32(&b, (uint32_t)vc);
	if (type == KRX_IPC_KEY_DECRYPT)
		krx_buf_put_be32(&b, 1);
	krx_buf_put_be32(&b, (uint32_t)len);
	krx_buf_put(&b, k, len);
	if (b.err != KRX_OK || krx_chan_send(kc->chan, type, ++kc->next_id, 0,
	    b.data, b.len, -1) != KRX_OK) {
		krx_buf_free(&b);
		return NULL;
	}
	krx_buf_free(&b);
	krx_stats_add(kc->w->m->stats, kc->w->slot, KRX_STAT_KEY_REQUESTS, 1);
	p = xcalloc(1, sizeof(*p));
	p->kc = kc;
	p->id = kc->next_id;
	p->type = type;
	p->vc = vc;
	p->key = xmalloc(len);
	memcpy(p->key, k, len);
	p->key_len = len;
	TAILQ_INIT(&p->waiters);
	p->timer = evtimer_new(kc->w->base, kc_deadline, p);
	evtimer_add(p->timer, &tv);
	TAILQ_INSERT_TAIL(&kc->pending, p, entry);
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

static void
kc_cache_dek(struct krx_keyclient *kc, size_t vc, const uint8_t *edek,
    size_t len, const uint8_t *dek)
{
	kc_table_put(&kc->deks, vc, edek, len, KRX_KEY_OK, dek,
	    KRX_KEY_DEK_LEN, time(NULL) + KC_DEK_IDLE);
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
		    kc_get_bytes(c, KRX_KEY_DEK_LEN, &a->dek, &dlen) != 0)
			return -1;
		break;
	case KRX_IPC_KEY_DECRYPT:
		if (kc_get_bytes(c, KRX_KEY_DEK_LEN, &a->dek, &dlen) != 0)
			return -1;
		break;
	}
	if (krx_cur_end(c) != KRX_OK)
		return -1;
	if (st == KRX_KEY_OK && p->type != KRX_IPC_KEY_RESOLVE &&
	    (dlen != KRX_KEY_DEK_LEN ||
	    (p->type == KRX_IPC_KEY_GENERATE && a->edek_len == 0)))
		return -1;
	return 0;
}

static void
kc_remember(struct krx_keyclient *kc, struct kc_pending *p,
    const struct krx_key_answer *a)
{
	time_t	 now = time(NULL);

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
}

static void
kc_chan_msg(struct krx_chan *c, const struct krx_ipc_hdr *h,
    const uint8_t *payload, size_t len, int fd, void *arg)
{
	struct krx_keyclient	*kc = arg;
	struct kc_pending	*p;
	struct krx_key_answer	 a;
	struct krx_cur		 cur;

	TAILQ_FOREACH(p, &kc->pending, entry)
		if (p->id == h->id)
			break;
	if (h->type != KRX_IPC_KEY_REPLY || p == NULL) {
		log_debug("dropping key service message %u (request %u)",
		    h->type, h->id);
		return;
	}
	krx_cur_init(&cur, payload, len);
	if (kc_parse_reply(kc, p, &cur, &a) != 0) {
		log_err("malformed reply from the key service (request %u)",
		    h->id);
		kc_fail(p, KRX_KEY_UNAVAILABLE);
		return;
	}
	kc_remember(kc, p, &a);
	kc_finish(p, &a);
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
}

void
krx_keyclient_set_channel(struct krx_keyclient *kc, int fd)
{
	if (kc->chan != NULL)
		krx_chan_free(kc->chan);
	kc->chan = NULL;
	if (fd == -1)
		return;
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

	p = kc_ask(kc, KRX_IPC_KEY_GENERATE, vc, (const uint8_t *)kek, len);
	if (p == NULL)
		return kc_now(a, KRX_KEY_UNAVAILABLE);
	kc_wait(p, fn, arg);
	return 0;
}

/* The shared LMDB cache, opened once keysvc has made it. */
static int
kc_lmdb_get(struct krx_keyclient *kc, size_t vc, const uint8_t *edek,
    size_t len, uint8_t dek[KRX_KEY_DEK_LEN])
{
	const struct krx_conf	*conf = kc->w->conf;
	uint8_t			 key[32];
	time_t			 now = time(NULL);

	if (kc->w->m->cache_key == NULL)
		return -1;	/* dropped after fork (issue 9, finding 11) */
	if (kc->lmdb != NULL && krx_dekcache_stale(kc->lmdb)) {
		/* keysvc restarted and made a new file. */
		krx_dekcache_close(kc->lmdb);
		kc->lmdb = NULL;
	}
	if (kc->lmdb == NULL) {
		if (now - kc->lmdb_tried < KC_CACHE_RETRY)
			return -1;
		kc->lmdb_tried = now;
		if (krx_dekcache_open(conf->cache_path,
		    (size_t)conf->cache_max_bytes, 0, &kc->lmdb) != KRX_OK) {
			kc->lmdb = NULL;
			return -1;
		}
	}
	if (krx_dekcache_key(kc->kms_ids[vc], edek, len, key) != KRX_OK ||
	    krx_dekcache_get(kc->lmdb, kc->w->m->cache_key->data, key, now,
	    dek) != KRX_OK) {
		krx_stats_add(kc->w->m->stats, kc->w->slot,
		    KRX_STAT_LMDB_MISSES, 1);
		return -1;
	}
	krx_stats_add(kc->w->m->stats, kc->w->slot, KRX_STAT_LMDB_HITS, 1);
	return 0;
}

int
krx_keyclient_decrypt(struct krx_keyclient *kc, size_t vc,
    const uint8_t *edek, size_t len, krx_key_fn fn, void *arg,
    struct krx_key_answer *a)
{
	struct kc_entry		*e;
	struct kc_pending	*p;
	uint8_t			 dek[KRX_KEY_DEK_LEN];
	time_t			 now = time(NULL);

	if ((e = kc_table_find(&kc->deks, vc, edek, len)) != NULL &&
	    now < e->expires) {
		e->expires = now + KC_DEK_IDLE;
		TAILQ_REMOVE(&kc->deks.lru, e, lru);
		TAILQ_INSERT_HEAD(&kc->deks.lru, e, lru);
		krx_stats_add(kc->w->m->stats, kc->w->slot,
		    KRX_STAT_DEK_MEM_HITS, 1);
		kc_now(a, KRX_KEY_OK);
		a->dek = e->value;
		return 1;
	}
	if (kc_lmdb_get(kc, vc, edek, len, dek) == 0) {
		e = kc_table_put(&kc->deks, vc, edek, len, KRX_KEY_OK, dek,
		    sizeof(dek), now + KC_DEK_IDLE);
		OPENSSL_cleanse(dek, sizeof(dek));
		kc_now(a, KRX_KEY_OK);
		a->dek = e->value;
		return 1;
	}
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

	if ((e = kc_table_find(&kc->deks, vc, edek, len)) == NULL)
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
	size_t			 i;

	kc->w = w;
	TAILQ_INIT(&kc->pending);
	TAILQ_INIT(&kc->aliases.lru);
	TAILQ_INIT(&kc->deks.lru);
	kc->aliases.max = KC_MAX_ALIASES;
	kc->deks.max = KC_MAX_DEKS;
	kc->deks.secret = 1;
	kc->kms_ids = xcalloc(w->conf->n_vclusters, sizeof(char *));
	for (i = 0; i < w->conf->n_vclusters; i++) {
		kc->kms_ids[i] = xcalloc(1, 1024);
		krx_conf_kms_id(&w->conf->vclusters[i].enc, kc->kms_ids[i],
		    1024);
	}
	return kc;
}

void
krx_keyclient_free(struct krx_keyclient *kc)
{
	struct kc_pending	*p;
	size_t			 i;

	if (kc == NULL)
		return;
	while ((p = TAILQ_FIRST(&kc->pending)) != NULL)
		kc_fail(p, KRX_KEY_UNAVAILABLE);
	krx_chan_free(kc->chan);
	kc_table_clear(&kc->aliases);
	kc_table_clear(&kc->deks);
	krx_dekcache_close(kc->lmdb);
	for (i = 0; i < kc->w->conf->n_vclusters; i++)
		free(kc->kms_ids[i]);
	free(kc->kms_ids);
	free(kc);
}
