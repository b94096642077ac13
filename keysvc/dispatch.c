/*
 * dispatch.c: requests from workers. A checked table (common/dispatch.h:
 * type, state, length bounds, no fd, handler) is enforced before any
 * handler runs; each handler decodes with a bounded cursor that must
 * end exactly at the payload's end, and checks the virtual cluster index against the configuration. A
 * violation closes that worker's channel (keysvc.c) and is kept for
 * framing faults: unknown type, length outside the table's bounds, a
 * decoding that does not end at the payload's end, a count over the
 * batch maximum, a virtual cluster index out of the configuration.
 * Data-shaped problems (an EDEK over KS_MAX_EDEK or empty, a virtual
 * cluster without encryption) are answered INVALID (issue 9, finding 2):
 * a record planted by a producer or a broker must not cost a worker.
 *
 * DECRYPT looks each EDEK up in the sealed DEK cache before asking the
 * KMS (workers never open the cache: finding 7). Per worker caps: at
 * most KS_MAX_OUTSTANDING requests in flight and keysvc_kms_rate
 * KMS-bound requests a second (a token bucket as deep as the rate, 2000
 * by default); over them a request is
 * answered UNAVAILABLE and a warning names the worker, at most one line
 * per KS_LOG_EVERY seconds. Buffers that held DEKs are zeroed (krx_chan
 * zeroes what it sent).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/buf.h"
#include "common/chan.h"
#include "common/dispatch.h"
#include "common/log.h"
#include "common/shm/mstats.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "keysvc/keysvc.h"
#include "keysvc/kms.h"

#define KS_MAX_NAME	512
#define KS_MAX_EDEK	KRX_EDEK_MAX
#define KS_MAX_BATCH	64
#define KS_DEK_TTL	3600	/* seconds a decrypted DEK stays cached */
#define KS_MAX_OUTSTANDING 256	/* requests in flight per worker */
#define KS_LOG_EVERY	10	/* seconds between refusal lines */

struct ks_req {
	struct krx_keysvc	*ks;
	struct krx_chan		*chan;
	uint64_t		 chan_gen;	/* ks->chan_gen[slot] then */
	int			 slot;
	uint32_t		 id;
	struct krx_kms		*kms;
	uint32_t		 n;		/* EDEKs in a decrypt */
	uint32_t		 done;
	const uint8_t		*edek;		/* current, for the cache */
	size_t			 cur_len;	/* its length */
	size_t			 edek_len;	/* the whole EDEK list */
	size_t			 next_off;	/* of the next EDEK in it */
	struct krx_buf		 reply;
	uint64_t		 t0;		/* KMS call started (us), 0:
						 * none out */
};

typedef int (*ks_handler)(struct ks_req *r, struct krx_cur *c);

/* Who asked: the dispatch context of one worker's message. */
struct ks_from {
	struct krx_keysvc	*ks;
	int			 slot;
};

static int	ks_resolve(struct ks_req *, struct krx_cur *);
static int	ks_generate(struct ks_req *, struct krx_cur *);
static int	ks_decrypt(struct ks_req *, struct krx_cur *);
static int	ks_stats(struct ks_req *, struct krx_cur *);
static int	ks_start(void *, const struct krx_ipc_hdr *, const uint8_t *,
		    size_t, ks_handler);

#define KS_ROW_FN(name, handler)					\
static int								\
name(void *ctx, const struct krx_ipc_hdr *h, const uint8_t *p,		\
    size_t len, int fd)							\
{									\
	return ks_start(ctx, h, p, len, handler);			\
}
KS_ROW_FN(ks_on_resolve, ks_resolve)
KS_ROW_FN(ks_on_generate, ks_generate)
KS_ROW_FN(ks_on_decrypt, ks_decrypt)
KS_ROW_FN(ks_on_stats, ks_stats)

/* What keysvc accepts from a worker, once INIT made it ready. */
static const struct krx_dispatch_row ks_rows[] = {
	{ KRX_IPC_KEY_RESOLVE, KRX_DISPATCH_S_READY, 8 + 1, 8 + KS_MAX_NAME,
	    KRX_DISPATCH_FD_NONE, 0, 0, ks_on_resolve },
	{ KRX_IPC_KEY_GENERATE, KRX_DISPATCH_S_READY, 8 + 1,
	    8 + KS_MAX_NAME, KRX_DISPATCH_FD_NONE, 0, 0, ks_on_generate },
	{ KRX_IPC_KEY_DECRYPT, KRX_DISPATCH_S_READY, 8 + 4,
	    8 + KS_MAX_BATCH * (4 + KS_MAX_EDEK), KRX_DISPATCH_FD_NONE, 0, 0,
	    ks_on_decrypt },
	{ KRX_IPC_KEY_STATS, KRX_DISPATCH_S_READY, 0, 0, KRX_DISPATCH_FD_NONE,
	    0, 0, ks_on_stats },
};
static const struct krx_dispatch_table ks_table =
    KRX_DISPATCH_TABLE("worker -> keysvc", ks_rows);

static void
ks_send(struct ks_req *r)
{
	if (r->ks->workers[r->slot] == r->chan &&
	    r->ks->chan_gen[r->slot] == r->chan_gen && r->reply.err == KRX_OK)
		krx_chan_send(r->chan, KRX_IPC_KEY_REPLY, r->id, 0,
		    r->reply.data, r->reply.len, -1);
	krx_buf_free_secret(&r->reply);
	r->ks->limits[r->slot].outstanding--;
	free(r);
}

static time_t
ks_now(struct timespec *ts)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	return ts->tv_sec;
}

static void
ks_refused(struct ks_req *r)
{
	struct krx_ks_limit	*l = &r->ks->limits[r->slot];
	struct timespec		 now;

	r->ks->stats[KRX_KS_REFUSED]++;
	l->refused++;
	if (ks_now(&now) < l->log_after)
		return;
	log_warnx("worker %d is over its key request caps (%u in flight, "
	    "%d KMS requests/s): %llu requests answered unavailable",
	    r->slot, KS_MAX_OUTSTANDING, r->ks->conf->keysvc_kms_rate,
	    (unsigned long long)l->refused);
	l->refused = 0;
	l->log_after = now.tv_sec + KS_LOG_EVERY;
}

/* A token for one KMS-bound request of r's worker: 0, or -1 (refused). */
static int
ks_take_token(struct ks_req *r)
{
	struct krx_ks_limit	*l = &r->ks->limits[r->slot];
	struct timespec		 now;
	double			 dt, rate = r->ks->conf->keysvc_kms_rate;

	ks_now(&now);
	if (l->refill.tv_sec == 0 && l->refill.tv_nsec == 0)
		l->tokens = rate;
	else {
		dt = (double)(now.tv_sec - l->refill.tv_sec) +
		    (double)(now.tv_nsec - l->refill.tv_nsec) / 1e9;
		if (dt > 0)
			l->tokens += dt * rate;
		if (l->tokens > rate)
			l->tokens = rate;
	}
	l->refill = now;
	if (l->tokens < 1.0) {
		ks_refused(r);
		return -1;
	}
	l->tokens -= 1.0;
	return 0;
}

/* A length-prefixed string of at most max bytes, at least one. */
static int
ks_get_str(struct krx_cur *c, size_t max, const uint8_t **p, size_t *len)
{
	uint32_t	 n;

	if (krx_cur_get_be32(c, &n) != KRX_OK || n == 0 || n > max)
		return -1;
	*len = n;
	return krx_cur_get_ref(c, n, p) == KRX_OK ? 0 : -1;
}

/*
 * The virtual cluster: -1 (violation) when outside the configuration;
 * r->kms stays NULL for one without encryption (answered INVALID).
 */
static int
ks_get_kms(struct ks_req *r, struct krx_cur *c)
{
	uint32_t	 vc;

	if (krx_cur_get_be32(c, &vc) != KRX_OK ||
	    vc >= r->ks->conf->n_vclusters)
		return -1;
	r->kms = r->ks->kms[vc];
	return 0;
}

/*
 * May r go to the KMS? KRX_KEY_OK, KRX_KEY_INVALID without a KMS, or
 * KRX_KEY_UNAVAILABLE over the worker's rate.
 */
static enum krx_key_status
ks_admit(struct ks_req *r)
{
	if (r->kms == NULL) {
		r->ks->stats[KRX_KS_INVALID]++;
		return KRX_KEY_INVALID;
	}
	return ks_take_token(r) == 0 ? KRX_KEY_OK : KRX_KEY_UNAVAILABLE;
}

static void
ks_count(struct ks_req *r, enum krx_key_status st)
{
	if (st == KRX_KEY_NOT_FOUND)
		r->ks->stats[KRX_KS_NOT_FOUND]++;
	else if (st != KRX_KEY_OK)
		r->ks->stats[KRX_KS_KMS_ERRORS]++;
}

/*
 * The metrics of a KMS call that ended (r->t0 set): its latency, and
 * for providers that do not count their own attempts, one attempt.
 */
static void
ks_metrics(struct ks_req *r, enum krx_kms_op op, enum krx_key_status st)
{
	if (r->t0 == 0)
		return;
	if (krx_kms_mrow != NULL)
		krx_mhist_observe(&krx_kms_mrow->lat[op], krx_m_now_us() -
		    r->t0);
	if (r->kms != NULL && r->kms->ops->counters == NULL)
		krx_kms_count(NULL, op, st);
	r->t0 = 0;
}

static void
ks_resolve_done(void *arg, const struct krx_kms_result *res)
{
	struct ks_req	*r = arg;

	ks_metrics(r, KRX_KMS_OP_RESOLVE, res->status);
	ks_count(r, res->status);
	krx_buf_put_u8(&r->reply, res->status);
	krx_buf_put_be32(&r->reply, res->status == KRX_KEY_OK ?
	    (uint32_t)res->kek_len : 0);
	if (res->status == KRX_KEY_OK)
		krx_buf_put(&r->reply, res->kek_id, res->kek_len);
	ks_send(r);
}

static int
ks_resolve(struct ks_req *r, struct krx_cur *c)
{
	struct krx_kms_result	 refuse;
	const uint8_t	*alias;
	size_t		 len;
	char		 name[KS_MAX_NAME + 1];

	memset(&refuse, 0, sizeof(refuse));

	if (ks_get_kms(r, c) != 0 || ks_get_str(c, KS_MAX_NAME, &alias,
	    &len) != 0 || krx_cur_end(c) != KRX_OK)
		return -1;
	memcpy(name, alias, len);
	name[len] = '\0';
	r->ks->stats[KRX_KS_RESOLVE]++;
	if ((refuse.status = ks_admit(r)) != KRX_KEY_OK)
		ks_resolve_done(r, &refuse);
	else {
		r->t0 = krx_m_now_us();
		r->kms->ops->resolve(r->kms, name, len, ks_resolve_done, r);
	}
	return 0;
}

static void
ks_generate_done(void *arg, const struct krx_kms_result *res)
{
	struct ks_req	*r = arg;

	ks_metrics(r, KRX_KMS_OP_GENERATE, res->status);
	ks_count(r, res->status);
	krx_buf_put_u8(&r->reply, res->status);
	if (res->status != KRX_KEY_OK) {
		if (r->kms != NULL && res->status != KRX_KEY_UNAVAILABLE)
			log_warnx("generate DEK with KMS %s: %s", r->kms->id,
			    res->status == KRX_KEY_NOT_FOUND ?
			    "KEK not found" : "KMS error");
		krx_buf_put_be32(&r->reply, 0);
		krx_buf_put_be32(&r->reply, 0);
		ks_send(r);
		return;
	}
	krx_buf_put_be32(&r->reply, (uint32_t)res->edek_len);
	krx_buf_put(&r->reply, res->edek, res->edek_len);
	krx_buf_put_be32(&r->reply, KRX_DEK_LEN);
	krx_buf_put(&r->reply, res->dek, KRX_DEK_LEN);
	/* A tail consumer finds the producer's DEK without the KMS. */
	krx_keysvc_cache_put(r->ks, r->kms, res->edek, res->edek_len,
	    res->dek, r->kms->conf->dek_expire_after + KS_DEK_TTL);
	ks_send(r);
}

static int
ks_generate(struct ks_req *r, struct krx_cur *c)
{
	struct krx_kms_result	 refuse;
	const uint8_t	*kek;
	size_t		 len;
	char		 name[KS_MAX_NAME + 1];

	memset(&refuse, 0, sizeof(refuse));

	if (ks_get_kms(r, c) != 0 || ks_get_str(c, KS_MAX_NAME, &kek,
	    &len) != 0 || krx_cur_end(c) != KRX_OK)
		return -1;
	memcpy(name, kek, len);
	name[len] = '\0';
	r->ks->stats[KRX_KS_GENERATE]++;
	if ((refuse.status = ks_admit(r)) != KRX_KEY_OK)
		ks_generate_done(r, &refuse);
	else {
		r->t0 = krx_m_now_us();
		r->kms->ops->generate(r->kms, name, len, ks_generate_done,
		    r);
	}
	return 0;
}

static void	ks_decrypt_next(struct ks_req *);

static void
ks_decrypt_done(void *arg, const struct krx_kms_result *res)
{
	struct ks_req	*r = arg;

	ks_metrics(r, KRX_KMS_OP_DECRYPT, res->status);
	ks_count(r, res->status);
	krx_buf_put_u8(&r->reply, res->status);
	if (res->status == KRX_KEY_OK) {
		krx_buf_put_be32(&r->reply, KRX_DEK_LEN);
		krx_buf_put(&r->reply, res->dek, KRX_DEK_LEN);
		krx_keysvc_cache_put(r->ks, r->kms, r->edek, r->cur_len,
		    res->dek, KS_DEK_TTL);
	} else
		krx_buf_put_be32(&r->reply, 0);
	r->done++;
	ks_decrypt_next(r);
}

/* One answer without the KMS. */
static void
ks_decrypt_answer(struct ks_req *r, enum krx_key_status st,
    const uint8_t *dek)
{
	krx_buf_put_u8(&r->reply, st);
	if (st == KRX_KEY_OK) {
		krx_buf_put_be32(&r->reply, KRX_DEK_LEN);
		krx_buf_put(&r->reply, dek, KRX_DEK_LEN);
	} else
		krx_buf_put_be32(&r->reply, 0);
	r->done++;
}

/*
 * Answer EDEKs from the cache, or INVALID / UNAVAILABLE, until one must
 * go to the KMS (whose callback comes back here) or all are answered.
 * The EDEKs were copied after the reply area: [u32 len | bytes]...
 */
static void
ks_decrypt_next(struct ks_req *r)
{
	struct krx_cur		 c;
	enum krx_key_status	 st;
	uint8_t			 dek[KRX_DEK_LEN];
	uint32_t		 len;

	while (r->done < r->n) {
		krx_cur_init(&c, r->reply.data + r->reply.cap - r->edek_len,
		    r->edek_len);
		c.off = r->next_off;
		krx_cur_get_be32(&c, &len);
		krx_cur_get_ref(&c, len, &r->edek);
		r->next_off = c.off;
		r->cur_len = len;
		if (len == 0 || len > KS_MAX_EDEK) {
			r->ks->stats[KRX_KS_INVALID]++;
			ks_decrypt_answer(r, KRX_KEY_INVALID, NULL);
			continue;
		}
		if (r->kms != NULL && krx_keysvc_cache_get(r->ks, r->kms,
		    r->edek, len, dek) == 0) {
			r->ks->stats[KRX_KS_CACHE_HITS]++;
			if (krx_kms_mrow != NULL)
				krx_m_add(&krx_kms_mrow->cache_hits, 1);
			ks_decrypt_answer(r, KRX_KEY_OK, dek);
			OPENSSL_cleanse(dek, sizeof(dek));
			continue;
		}
		if ((st = ks_admit(r)) != KRX_KEY_OK) {
			ks_decrypt_answer(r, st, NULL);
			continue;
		}
		r->ks->stats[KRX_KS_DECRYPT]++;
		if (krx_kms_mrow != NULL)
			krx_m_add(&krx_kms_mrow->cache_misses, 1);
		r->t0 = krx_m_now_us();
		r->kms->ops->decrypt(r->kms, r->edek, len, ks_decrypt_done, r);
		return;
	}
	ks_send(r);
}

/*
 * The reply area is reserved up front for n answers; the EDEK list is
 * copied behind it (the payload dies with the message callback).
 */
static int
ks_decrypt(struct ks_req *r, struct krx_cur *c)
{
	const uint8_t	*edek, *start;
	size_t		 listlen;
	uint32_t	 n, i, elen;

	if (ks_get_kms(r, c) != 0 || krx_cur_get_be32(c, &n) != KRX_OK ||
	    n == 0 || n > KS_MAX_BATCH)
		return -1;
	start = c->p + c->off;
	/* Framing only: each EDEK fits the payload; its size is data. */
	for (i = 0; i < n; i++)
		if (krx_cur_get_be32(c, &elen) != KRX_OK ||
		    krx_cur_get_ref(c, elen, &edek) != KRX_OK)
			return -1;
	if (krx_cur_end(c) != KRX_OK)
		return -1;
	listlen = (size_t)(c->p + c->off - start);
	r->n = n;
	krx_buf_free(&r->reply);
	krx_buf_init(&r->reply, 4 + n * (5 + KRX_DEK_LEN) + listlen);
	if (r->reply.err != KRX_OK)
		return -1;
	memcpy(r->reply.data + r->reply.cap - listlen, start, listlen);
	r->edek_len = listlen;
	krx_buf_put_be32(&r->reply, n);
	ks_decrypt_next(r);
	return 0;
}

static int
ks_stats(struct ks_req *r, struct krx_cur *c)
{
	int	 i;

	krx_buf_put_be32(&r->reply, KRX_KS_N);
	for (i = 0; i < KRX_KS_N; i++)
		krx_buf_put_be64(&r->reply, r->ks->stats[i]);
	ks_send(r);
	return 0;
}

/*
 * Over the in-flight cap: the request is still checked (a malformed one
 * is a violation) and answered UNAVAILABLE without a KMS call.
 */
static int
ks_refuse(struct ks_req *r, struct krx_cur *c, uint32_t type)
{
	const uint8_t	*p;
	size_t		 len;
	uint32_t	 n, i, elen;

	if (ks_get_kms(r, c) != 0)
		goto bad;
	if (type == KRX_IPC_KEY_DECRYPT) {
		if (krx_cur_get_be32(c, &n) != KRX_OK || n == 0 ||
		    n > KS_MAX_BATCH)
			goto bad;
		for (i = 0; i < n; i++)
			if (krx_cur_get_be32(c, &elen) != KRX_OK ||
			    krx_cur_get_ref(c, elen, &p) != KRX_OK)
				goto bad;
	} else if (ks_get_str(c, KS_MAX_NAME, &p, &len) != 0)
		goto bad;
	if (krx_cur_end(c) != KRX_OK)
		goto bad;
	ks_refused(r);
	if (type == KRX_IPC_KEY_DECRYPT) {
		krx_buf_put_be32(&r->reply, n);
		for (i = 0; i < n; i++) {
			krx_buf_put_u8(&r->reply, KRX_KEY_UNAVAILABLE);
			krx_buf_put_be32(&r->reply, 0);
		}
	} else {
		krx_buf_put_u8(&r->reply, KRX_KEY_UNAVAILABLE);
		krx_buf_put_be32(&r->reply, 0);
		if (type == KRX_IPC_KEY_GENERATE)
			krx_buf_put_be32(&r->reply, 0);
	}
	ks_send(r);
	return 0;
bad:
	krx_buf_free(&r->reply);
	r->ks->limits[r->slot].outstanding--;
	free(r);
	return -1;
}

/* A request that passed the table: its state, caps, then handler. */
static int
ks_start(void *ctx, const struct krx_ipc_hdr *h, const uint8_t *p,
    size_t len, ks_handler fn)
{
	struct ks_from	*f = ctx;
	struct krx_keysvc *ks = f->ks;
	struct ks_req	*r;
	struct krx_cur	 c;

	r = xcalloc(1, sizeof(*r));
	ks->limits[f->slot].outstanding++;
	r->ks = ks;
	r->chan = ks->workers[f->slot];
	r->chan_gen = ks->chan_gen[f->slot];
	r->slot = f->slot;
	r->id = h->id;
	krx_buf_init(&r->reply, 128);
	krx_cur_init(&c, p, len);
	if (ks->limits[f->slot].outstanding > KS_MAX_OUTSTANDING &&
	    h->type != KRX_IPC_KEY_STATS)
		return ks_refuse(r, &c, h->type);
	if (fn(r, &c) != 0) {
		krx_buf_free(&r->reply);
		ks->limits[f->slot].outstanding--;
		free(r);
		return -1;
	}
	return 0;
}

int
krx_keysvc_dispatch(struct krx_keysvc *ks, int slot,
    const struct krx_ipc_hdr *h, const uint8_t *p, size_t len)
{
	struct krx_dispatch_peer	 peer;
	struct ks_from			 f = { ks, slot };

	/* Requests are not once-only; the state is keysvc's readiness. */
	krx_dispatch_peer_init(&peer);
	if (krx_kms_mrow != NULL)
		krx_m_add(&krx_kms_mrow->requests, 1);
	if (ks->ready)
		peer.state = KRX_DISPATCH_S_READY;
	return krx_dispatch_run(&ks_table, &peer, &f, h, p, len, -1) ==
	    KRX_DISPATCH_OK ? 0 : -1;
}
