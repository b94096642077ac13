/*
 * filter_produce.c: Produce requests on a virtual cluster with
 * record_encryption. For each topic: the KEK alias from the template,
 * resolved through the key client; records of resolved topics are
 * encrypted with the KEK's DEK pool and spliced into the request, which
 * then goes upstream. Unresolved topics pass in clear (PASSTHROUGH) or
 * fail the request with INVALID_RECORD (REJECT); a key service or KMS
 * that cannot answer fails it with a retriable error. Nothing of an
 * encrypted topic ever leaves in clear; acks=0 requests that cannot be
 * encrypted are dropped and logged.
 *
 * Trusts nothing of the request (issue 9). Record counts are bounded by
 * the bytes that carry them before they cost a DEK (crypto/recenc.c),
 * a request resolves at most PJ_MAX_RESOLVES topics through keysvc, and
 * records carrying the encryption header are refused, passthrough
 * topics included. When a partition is refused (what the broker would
 * answer for a batch that lies or is corrupt, INVALID_RECORD for one krx
 * must not forward, UNKNOWN_TOPIC_ID for a topic id without a name) the
 * request is answered by krx: those partitions get their error, the
 * others the retriable error, so that the client sends them again; the
 * connection stays open. A topic whose KEK alias cannot be formed fails
 * closed.
 *
 * While a request waits for keys the session reads no further request
 * (order is kept); the frame is copied out of the input buffer then.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common/log.h"
#include "common/shm/stats.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "crypto/recenc.h"
#include "common/cycle.h"
#include "proto/kafka_msg.h"
#include "proto/record.h"
#include "worker/wmetrics.h"
#include "worker/encdek.h"
#include "worker/keyclient.h"
#include "worker/produce.h"
#include "worker/session.h"
#include "common/shm/topicmap.h"

/* Per batch decompressed, and per request encrypted (issue 9, #1). */
#define PJ_MAX_DECOMPRESSED	(256 * 1024 * 1024)
/* CORRUPT_MESSAGE: what Kafka answers for a bad CRC or a cut batch. */
#define PJ_CORRUPT		2
/* Topics one request may send to keysvc for resolving (issue 9, #1). */
#define PJ_MAX_RESOLVES		1000
/*
 * Guards per connection: every partition of every request is compared
 * with each, so their number is capped (beyond it a failed batch is not
 * guarded and the broker's sequence check is the only one left).
 */
#define PJ_MAX_GUARDS		256

/*
 * After krx fails an idempotent producer's batch with a retriable error,
 * later batches of that producer for the same partition (pipelined
 * behind it on this connection) must not reach the broker before the
 * failed one is retried: the broker could accept the later sequence and
 * the client would take the failed batch as stored. They are failed
 * too, until the retry of the failed sequence comes.
 */
struct krx_pjguard {
	LIST_ENTRY(krx_pjguard)	 entry;
	uint8_t			 topic[KRX_TOPIC_NAME_MAX + 1];
	size_t			 topic_len;	/* name, or 16-byte id */
	int32_t			 partition;
	int64_t			 producer_id;
	int32_t			 sequence;	/* of the failed batch */
};

static struct krx_recenc_scratch	pj_scratch;
static int				pj_scratch_ready;

static int	pj_advance(struct krx_pjob *);

/* The records encrypted for a request that went upstream, per topic. */
static void
pj_count_sent(struct krx_pjob *j)
{
	size_t	 i;

	for (i = 0; i < j->req.ntopics; i++) {
		krx_wm_topic(j->s->vc, j->topics[i].name,
		    j->topics[i].name_len, j->topics[i].n_enc, 0);
		j->topics[i].n_enc = 0;
	}
}

/* The topic of a request partition as guard key: its name or its id. */
static void
pj_guard_topic(const struct krx_pjob *j, const struct krx_produce_part *p,
    const uint8_t **t, size_t *len)
{
	const struct krx_produce_topic	*rt = &j->req.topics[p->topic];

	if (rt->name != NULL) {
		*t = rt->name;
		*len = (size_t)rt->name_len;
	} else {
		*t = rt->topic_id;
		*len = sizeof(rt->topic_id);
	}
}

/* Producer id and base sequence of a partition's first batch. */
static int
pj_idempotent(const struct krx_produce_part *p, int64_t *pid, int32_t *seq)
{
	struct krx_batch_iter	 bi;
	struct krx_batch	 b;

	if (p->records == NULL || p->records_len <= 0)
		return 0;
	krx_batch_iter_init(&bi, p->records, (size_t)p->records_len);
	if (krx_batch_next(&bi, &b) != KRX_BATCH_OK || b.legacy ||
	    b.producer_id < 0 || b.base_sequence < 0)
		return 0;
	*pid = b.producer_id;
	*seq = b.base_sequence;
	return 1;
}

static struct krx_pjguard *
pj_guard_find(struct krx_session *s, const uint8_t *t, size_t len,
    int32_t partition, int64_t pid)
{
	struct krx_pjguard	*g;

	LIST_FOREACH(g, &s->pjguards, entry)
		if (g->partition == partition && g->producer_id == pid &&
		    g->topic_len == len && memcmp(g->topic, t, len) == 0)
			return g;
	return NULL;
}

void
pj_guard_set(struct krx_pjob *j)
{
	const struct krx_produce_part	*p;
	struct krx_pjguard		*g;
	const uint8_t			*t;
	size_t				 i, len;
	int64_t				 pid;
	int32_t				 seq;
	unsigned			 n = 0;

	LIST_FOREACH(g, &j->s->pjguards, entry)
		n++;
	for (i = 0; i < j->req.nparts && n < PJ_MAX_GUARDS; i++) {
		p = &j->req.parts[i];
		if (j->errors[i] != PJ_RETRIABLE ||
		    !pj_idempotent(p, &pid, &seq))
			continue;
		pj_guard_topic(j, p, &t, &len);
		if (len > KRX_TOPIC_NAME_MAX ||
		    pj_guard_find(j->s, t, len, p->index, pid) != NULL)
			continue;
		n++;
		g = xcalloc(1, sizeof(*g));
		memcpy(g->topic, t, len);
		g->topic_len = len;
		g->partition = p->index;
		g->producer_id = pid;
		g->sequence = seq;
		LIST_INSERT_HEAD(&j->s->pjguards, g, entry);
	}
}

/*
 * 1 when j carries a batch that must wait for an earlier failed one;
 * the retry of that failed batch lifts the guard.
 */
static int
pj_guard_blocks(struct krx_pjob *j)
{
	const struct krx_produce_part	*p;
	struct krx_pjguard		*g;
	const uint8_t			*t;
	size_t				 i, len;
	int64_t				 pid;
	int32_t				 seq;
	int				 blocked = 0;

	if (LIST_EMPTY(&j->s->pjguards))
		return 0;
	for (i = 0; i < j->req.nparts; i++) {
		p = &j->req.parts[i];
		if (!pj_idempotent(p, &pid, &seq))
			continue;
		pj_guard_topic(j, p, &t, &len);
		if ((g = pj_guard_find(j->s, t, len, p->index, pid)) == NULL)
			continue;
		if (seq == g->sequence) {
			LIST_REMOVE(g, entry);
			free(g);
		} else if (seq > g->sequence)
			blocked = 1;
	}
	return blocked;
}

void
krx_filter_guards_free(struct krx_session *s)
{
	struct krx_pjguard	*g;

	while ((g = LIST_FIRST(&s->pjguards)) != NULL) {
		LIST_REMOVE(g, entry);
		free(g);
	}
}

static const struct krx_conf_encryption *
pj_conf(struct krx_pjob *j)
{
	return &j->s->w->conf->vclusters[j->s->vc].enc;
}

void
pj_free(struct krx_pjob *j)
{
	size_t	 i;

	for (i = 0; i < j->req.ntopics; i++)
		krx_keyclient_cancel(j->s->w->kc, &j->topics[i]);
	krx_encpool_cancel(j->s->w, j);
	pj_limits_cancel(j);
	pj_split_free(j->split);
	krx_produce_req_free(&j->req);
	free(j->topics);
	free(j->errors);
	free(j->need);
	if (j->copy != NULL)
		j->s->held_bytes = 0;	/* pj_done recharges */
	free(j->copy);
	free(j);
}

void
pj_done(struct krx_pjob *j)
{
	struct krx_session	*s = j->s;
	int			 held = s->held == j;

	pj_free(j);
	krx_limit_charge(s);	/* the copy's bytes are given back */
	if (held)
		krx_session_release_later(s);
}

/*
 * Answer the request: partitions with an error set get it, the others
 * the retriable error (they were not sent; the client sends them again).
 */
static void
pj_fail_parts(struct krx_pjob *j, const char *why)
{
	struct krx_buf	 out;
	size_t		 i;

	for (i = 0; i < j->req.nparts; i++)
		if (j->errors[i] == KRX_KERR_NONE)
			j->errors[i] = PJ_RETRIABLE;
	log_warnx("conn=%llu client=%s: failed to encrypt records, Produce "
	    "answered with error %d: %s", (unsigned long long)j->s->id,
	    j->s->client_addr, j->req.nparts ? j->errors[0] : PJ_RETRIABLE,
	    why);
	pj_guard_set(j);
	if (j->req.acks == 0) {
		log_warnx("conn=%llu: acks=0 Produce dropped, never sent in "
		    "clear", (unsigned long long)j->s->id);
		return;
	}
	krx_buf_init(&out, 256);
	if (krx_kafka_produce_error_response(&j->req, j->h.api_version,
	    j->errors, why, &out) == KRX_OK)
		krx_session_reply(j->s, &j->h, out.data, out.len, 0);
	krx_buf_free(&out);
}

static void
pj_fail(struct krx_pjob *j, int16_t err, const char *why)
{
	size_t	 i;

	for (i = 0; i < j->req.nparts; i++)
		j->errors[i] = err;
	pj_fail_parts(j, why);
}

/* 1 when a complete v2 batch of p fails its CRC-32C. */
static int
pj_crc_bad(const struct krx_produce_part *p)
{
	struct krx_batch_iter	 bi;
	struct krx_batch	 b;

	krx_batch_iter_init(&bi, p->records, (size_t)p->records_len);
	while (krx_batch_next(&bi, &b) == KRX_BATCH_OK)
		if (!b.legacy && krx_batch_verify_crc(&b) != KRX_OK)
			return 1;
	return 0;
}

/*
 * The Kafka error of partition p whose records recenc refused with r,
 * as the broker answers: CORRUPT_MESSAGE for a bad CRC or a cut batch
 * (CorruptRecordException), INVALID_RECORD for a record count that
 * lies or records that do not parse (InvalidRecordException), and for
 * records krx will not forward; MESSAGE_TOO_LARGE over krx's caps;
 * anything else is krx's own trouble.
 */
static int16_t
pj_records_error(const struct krx_produce_part *p, int r)
{
	switch (r) {
	case KRX_E_TRUNCATED:
		return PJ_CORRUPT;
	case KRX_E_MALFORMED:
		return pj_crc_bad(p) ? PJ_CORRUPT : KRX_KERR_INVALID_RECORD;
	case KRX_E_UNSUPPORTED:
		return KRX_KERR_INVALID_RECORD;
	case KRX_E_TOO_BIG:
		return PJ_TOO_LARGE;
	default:
		return PJ_RETRIABLE;
	}
}

void
pj_resume(struct krx_pjob *j)
{
	if (j->pending == 0 && pj_advance(j))
		pj_done(j);
}

static void
pj_resolved(void *arg, const struct krx_key_answer *a)
{
	struct pj_topic	*t = arg;

	t->answered = 1;
	t->answer = a->status;
	if (a->status == KRX_KEY_OK && a->kek_len <= PJ_KEK_MAX) {
		memcpy(t->kek, a->kek_id, a->kek_len);
		t->kek_len = a->kek_len;
	} else if (a->status == KRX_KEY_OK)
		t->answer = KRX_KEY_INVALID;
	t->job->pending--;
	pj_resume(t->job);
}

static void
pj_decide(struct pj_topic *t, enum krx_key_status st, const char *kek,
    size_t kek_len)
{
	struct krx_pjob	*j = t->job;

	switch (st) {
	case KRX_KEY_OK:
		t->state = PJ_ENC;
		if (kek != t->kek) {
			memcpy(t->kek, kek, kek_len);
			t->kek_len = kek_len;
		}
		t->pool = krx_encpool_get(j->s->w, j->s->vc, t->kek,
		    t->kek_len);
		break;
	case KRX_KEY_NOT_FOUND:
		t->state = pj_conf(j)->reject_unresolved ? PJ_REJECT :
		    PJ_PLAIN;
		break;
	default:
		t->state = PJ_FAILED;
	}
}

/* The topic's name: from the request, or by id (Produce v13). */
static int
pj_name(struct krx_pjob *j, struct pj_topic *t,
    const struct krx_produce_topic *rt)
{
	if (rt->name != NULL) {
		if (rt->name_len <= 0 || rt->name_len > KRX_TOPIC_NAME_MAX)
			return -1;
		memcpy(t->name, rt->name, rt->name_len);
		t->name[rt->name_len] = '\0';
		t->name_len = rt->name_len;
		return 0;
	}
	return krx_topicmap_get(j->s->w->cy->topicmap, j->s->vc, rt->topic_id,
	    t->name, &t->name_len) == KRX_OK ? 0 : -1;
}

static void
pj_resolve(struct krx_pjob *j, size_t i)
{
	struct pj_topic		*t = &j->topics[i];
	struct krx_key_answer	 a;
	char			 alias[PJ_KEK_MAX + 1];

	if (t->state == PJ_WAIT && t->answered) {
		pj_decide(t, t->answer, t->kek, t->kek_len);
		return;
	}
	if (t->state != PJ_NEW)
		return;
	/* Produce v13: an id without a name fails closed, never in clear. */
	if (pj_name(j, t, &j->req.topics[i]) != 0) {
		t->state = PJ_UNKNOWN_ID;
		return;
	}
	if (krx_conf_kek_alias(pj_conf(j)->template, t->name, t->name_len,
	    alias, sizeof(alias)) != KRX_OK) {
		/* Issue 9, finding 9: not "no KEK", so not PASSTHROUGH. */
		log_warnx("conn=%llu: topic %s: the KEK alias from the "
		    "selector template is over %d bytes; records refused",
		    (unsigned long long)j->s->id, t->name, PJ_KEK_MAX);
		t->state = PJ_INVALID;
		return;
	}
	if (j->resolves >= PJ_MAX_RESOLVES) {
		t->state = PJ_FAILED;
		return;
	}
	if (krx_keyclient_resolve(j->s->w->kc, j->s->vc, alias, strlen(alias),
	    pj_resolved, t, &a) == 1) {
		if (a.status == KRX_KEY_OK && a.kek_len > PJ_KEK_MAX)
			a.status = KRX_KEY_INVALID;
		pj_decide(t, a.status, a.kek_id, a.kek_len);
		return;
	}
	t->state = PJ_WAIT;
	j->pending++;
	j->resolves++;
}

/*
 * Mark the partitions of topics that fail (one pass over the partitions:
 * a request may name very many topics); the reason, or NULL.
 */
static const char *
pj_mark_topics(struct krx_pjob *j)
{
	const char	*why = NULL;
	size_t		 i;

	for (i = 0; i < j->req.nparts; i++)
		switch (j->topics[j->req.parts[i].topic].state) {
		case PJ_UNKNOWN_ID:
			j->errors[i] = KRX_KERR_UNKNOWN_TOPIC_ID;
			why = "unknown topic id";
			break;
		case PJ_INVALID:
			j->errors[i] = KRX_KERR_INVALID_RECORD;
			why = "no KEK alias can be formed for a topic";
			break;
		case PJ_FAILED:
			j->errors[i] = PJ_RETRIABLE;
			if (why == NULL)
				why = "the key service or KMS cannot answer; "
				    "retry";
			break;
		default:
			break;
		}
	return why;
}

/*
 * Records of passthrough topics go up as they are, but none may carry
 * the encryption header (issue 9, finding 6). The reason, or NULL.
 */
static const char *
pj_check_plain(struct krx_pjob *j)
{
	const struct krx_produce_part	*p;
	const char			*why = NULL;
	size_t				 i;
	int				 r;

	for (i = 0; i < j->req.nparts; i++) {
		p = &j->req.parts[i];
		if (j->topics[p->topic].state != PJ_PLAIN ||
		    p->records == NULL || p->records_len <= 0)
			continue;
		if ((r = krx_recenc_check_plain(p->records,
		    (size_t)p->records_len, &pj_scratch)) != KRX_OK) {
			j->errors[i] = pj_records_error(p, r);
			why = r == KRX_E_UNSUPPORTED ? "a record carries the "
			    "encryption header" : "records that cannot be "
			    "parsed";
		} else
			krx_wm_topic(j->s->vc, j->topics[p->topic].name,
			    j->topics[p->topic].name_len, 0,
			    krx_wm_batch_records(p->records,
			    (size_t)p->records_len));
	}
	return why;
}

/* 1 when every topic is decided; -1 when the request was answered. */
static int
pj_check_topics(struct krx_pjob *j)
{
	const char	*why;
	size_t		 i;
	int		 enc = 0;

	for (i = 0; i < j->req.ntopics; i++)
		pj_resolve(j, i);
	if (j->pending > 0)
		return 0;
	for (i = 0; i < j->req.ntopics; i++)
		if (j->topics[i].state == PJ_REJECT) {
			pj_fail(j, KRX_KERR_INVALID_RECORD, "failed to resolve "
			    "key for a topic (unresolvedKeyPolicy REJECT)");
			return -1;
		} else if (j->topics[i].state == PJ_ENC)
			enc = 1;
	if ((why = pj_mark_topics(j)) != NULL ||
	    (!j->plain_checked && (why = pj_check_plain(j)) != NULL)) {
		pj_fail_parts(j, why);
		return -1;
	}
	j->plain_checked = 1;
	return enc ? 1 : 2;
}

static void
pj_budget_cb(void *arg, enum krx_key_status st)
{
	struct krx_pjob	*j = arg;

	if (st != KRX_KEY_OK)
		j->failure = st;
	j->pending--;
	pj_resume(j);
}

/*
 * Count the records to encrypt, per pool (topics sharing a KEK share a
 * pool: the first of them holds the sum), once per request. Partitions
 * whose batches recenc refuses are marked. The reason, or NULL.
 */
static const char *
pj_count(struct krx_pjob *j)
{
	const struct krx_produce_part	*p;
	struct pj_topic			*t;
	const char			*why = NULL;
	uint64_t			 n;
	size_t				 i, k;
	int				 r;

	j->need = xcalloc(j->req.ntopics ? j->req.ntopics : 1,
	    sizeof(*j->need));
	for (i = 0; i < j->req.nparts; i++) {
		p = &j->req.parts[i];
		t = &j->topics[p->topic];
		if (t->state != PJ_ENC || p->records == NULL)
			continue;
		if ((r = krx_recenc_count(p->records, (size_t)p->records_len,
		    &pj_scratch, &n)) != KRX_OK) {
			j->errors[i] = pj_records_error(p, r);
			why = "records that cannot be parsed (bad batch, "
			    "record count or CRC)";
			continue;
		}
		/* n <= records_len / 7: the sums cannot wrap. */
		for (k = 0; k <= p->topic; k++)
			if (j->topics[k].pool == t->pool) {
				j->need[k] += n;
				break;
			}
	}
	return why;
}

/*
 * Make sure every pool can encrypt what this request needs. 1 ready,
 * 0 waiting, -1 answered with an error.
 */
static int
pj_check_budget(struct krx_pjob *j)
{
	enum krx_key_status	 st;
	const char		*why;
	size_t			 i;

	if (j->need == NULL && (why = pj_count(j)) != NULL) {
		pj_fail_parts(j, why);
		return -1;
	}
	for (i = 0; j->failure == KRX_KEY_OK && i < j->req.ntopics; i++) {
		if (j->need[i] == 0)
			continue;
		if (krx_encpool_ensure(j->topics[i].pool, j->need[i],
		    pj_budget_cb, j, &st) == 0)
			j->pending++;
		else if (st != KRX_KEY_OK)
			j->failure = st;
	}
	if (j->pending > 0)
		return 0;
	if (j->failure != KRX_KEY_OK) {
		pj_fail(j, PJ_RETRIABLE, j->failure == KRX_KEY_NOT_FOUND ?
		    "KEK not found when making a DEK" : "no DEK could be had "
		    "from the key service; retry");
		return -1;
	}
	return 1;
}

/*
 * Encrypt partition i into enc[i]; *data, *len: what goes in the first
 * request (all of it, or its first piece when it is over the topic's
 * limit). KRX_OK, or an error with j->errors[i] set.
 */
static int
pj_encrypt_part(struct krx_pjob *j, size_t i, struct krx_buf *enc,
    const uint8_t **data, size_t *len)
{
	const struct krx_produce_part	*p = &j->req.parts[i];
	struct pj_topic			*t = &j->topics[p->topic];
	int				 r;

	if ((r = krx_recenc_encrypt(p->records, (size_t)p->records_len,
	    krx_encpool_dek, t->pool, &pj_scratch, enc)) == KRX_OK) {
		j->records += pj_scratch.encrypted;
		t->n_enc += pj_scratch.encrypted;
		*data = enc->data;
		*len = enc->len;
		if (enc->len > t->limit || t->guessed)
			r = pj_split_part(j, i, enc, t->limit, t->guessed,
			    data, len);
	}
	/* This partition's records, as a whole, refused. */
	if (r != KRX_OK)
		j->errors[i] = pj_records_error(p, r);
	return r;
}

/*
 * Encrypt every partition of an encrypted topic and send the request:
 * 1 when j is finished, 0 when it waits for the answers to its pieces.
 */
static int
pj_encrypt(struct krx_pjob *j)
{
	const struct krx_produce_part	*p;
	struct krx_inflight		*f;
	struct krx_splice		*sp;
	struct krx_buf			*fields, *enc, body;
	const uint8_t			*data;
	size_t				 i, n, len, ns = 0, total = 0;
	int				 r = KRX_OK, done = 1;
	int				 flex = j->h.api_version >= 9;

	n = j->req.nparts ? j->req.nparts : 1;
	sp = xcalloc(2 * n, sizeof(*sp));
	fields = xcalloc(n, sizeof(*fields));
	enc = xcalloc(n, sizeof(*enc));
	for (i = 0; i < j->req.ntopics; i++)
		j->topics[i].n_enc = 0;		/* a new attempt */
	for (i = 0; i < j->req.nparts && r == KRX_OK; i++) {
		p = &j->req.parts[i];
		if (j->topics[p->topic].state != PJ_ENC || p->records == NULL)
			continue;
		if ((r = pj_encrypt_part(j, i, &enc[i], &data, &len)) !=
		    KRX_OK)
			break;
		/* The whole request's output, as each partition's. */
		if ((total += enc[i].len) > PJ_MAX_DECOMPRESSED) {
			r = KRX_E_TOO_BIG;
			j->errors[i] = PJ_TOO_LARGE;
			break;
		}
		if ((r = krx_kafka_records_prefix(&fields[i], flex, len)) !=
		    KRX_OK)
			break;
		/* The new length prefix, then the records: no copy. */
		sp[ns].off = p->field_off;
		sp[ns].len = p->field_len;
		sp[ns].data = fields[i].data;
		sp[ns++].data_len = fields[i].len;
		sp[ns].off = p->field_off + p->field_len;
		sp[ns].data = data;
		sp[ns++].data_len = len;
	}
	krx_buf_init(&body, 0);
	if (r == KRX_OK)
		r = krx_kafka_splice(j->frame + j->h.len, j->size - j->h.len, sp,
		    ns, &body);
	if (r == KRX_OK) {
		f = krx_session_send_buf(j->s, &j->h, j->frame, &body,
		    j->req.acks != 0);
		if (f != NULL)
			f->t0 = j->t0;
		pj_count_sent(j);
		krx_stats_add(j->s->w->cy->stats, j->s->w->slot,
		    KRX_STAT_RECORDS_ENCRYPTED, (int64_t)j->records);
		if (j->split != NULL)
			done = !pj_split_sent(j, f);
	} else
		pj_fail_parts(j, r == KRX_E_UNSUPPORTED ? "a record carries "
		    "the encryption header" : krx_strerror(r));
	for (i = 0; i < n; i++) {
		krx_buf_free(&fields[i]);
		krx_buf_free(&enc[i]);
	}
	krx_buf_free(&body);
	free(enc);
	free(fields);
	free(sp);
	return done;
}

/* 1 when the request is finished (sent or answered), 0 when waiting. */
static int
pj_advance(struct krx_pjob *j)
{
	int	 r;

	if (!j->guard_checked) {
		j->guard_checked = 1;
		if (pj_guard_blocks(j)) {
			pj_fail(j, PJ_RETRIABLE, "an earlier batch of this "
			    "producer failed; retry in order");
			return 1;
		}
	}
	if (j->split != NULL)
		return 0;	/* its pieces wait for answers */
	if ((r = pj_check_topics(j)) <= 0)
		return r < 0;
	if (r == 2) {
		/* No topic to encrypt: the original bytes go up. */
		krx_session_send(j->s, &j->h, j->frame, j->frame + j->h.len,
		    j->size - j->h.len, j->req.acks != 0);
		return 1;
	}
	if (pj_check_limits(j) == 0)
		return 0;
	if ((r = pj_check_budget(j)) <= 0)
		return r < 0;
	return pj_encrypt(j);
}

static struct krx_pjob *
pj_new(struct krx_session *s, const struct krx_kafka_req_hdr *h,
    const uint8_t *frame, uint32_t size)
{
	struct krx_pjob	*j = xcalloc(1, sizeof(*j));

	j->s = s;
	j->h = *h;
	j->t0 = krx_m_now_us();
	j->frame = frame;
	j->size = size;
	return j;
}

static int
pj_parse(struct krx_pjob *j)
{
	size_t	 i;
	int	 r;

	krx_produce_req_free(&j->req);
	r = krx_kafka_produce_parse(j->frame + j->h.len, j->size - j->h.len,
	    j->h.api_version, &j->req);
	if (r != KRX_OK)
		return r;
	if (j->topics == NULL) {
		j->topics = xcalloc(j->req.ntopics ? j->req.ntopics : 1,
		    sizeof(*j->topics));
		for (i = 0; i < j->req.ntopics; i++)
			j->topics[i].job = j;
		j->errors = xcalloc(j->req.nparts ? j->req.nparts : 1,
		    sizeof(*j->errors));
	}
	return KRX_OK;
}

int
krx_filter_produce(struct krx_session *s, struct evbuffer *in,
    uint32_t size, const struct krx_kafka_req_hdr *h)
{
	struct krx_pjob	*j;
	const uint8_t	*frame;
	int		 r;

	if (!pj_scratch_ready) {
		krx_recenc_scratch_init(&pj_scratch, PJ_MAX_DECOMPRESSED,
		    s->w->z);
		pj_scratch_ready = 1;
	}
	frame = evbuffer_pullup(in, 4 + (size_t)size) + 4;
	j = pj_new(s, h, frame, size);
	if ((r = pj_parse(j)) != KRX_OK) {
		pj_free(j);
		krx_session_close(s, KRX_LOG_WARN, "malformed Produce v%d "
		    "request: %s", h->api_version, krx_strerror(r));
		return -1;
	}
	if (pj_advance(j)) {
		pj_free(j);
		evbuffer_drain(in, 4 + (size_t)size);
		return 0;
	}
	/* Waiting for keys or answers: keep a copy, read nothing more. */
	j->copy = xmalloc(size);
	memcpy(j->copy, frame, size);
	j->frame = j->copy;
	evbuffer_drain(in, 4 + (size_t)size);
	/* Charged to worker_buffer_bytes. */
	s->held_bytes = size + (j->split != NULL ? j->split->bytes : 0);
	if ((r = pj_parse(j)) != KRX_OK) {
		pj_free(j);
		krx_session_close(s, KRX_LOG_WARN, "Produce request: %s",
		    krx_strerror(r));
		return -1;
	}
	s->held = j;
	krx_reader_enable(&s->rd_client, 0);
	return 0;
}

void
krx_filter_session_gone(struct krx_session *s)
{
	krx_filter_guards_free(s);
	if (s->held != NULL) {
		pj_free(s->held);
		s->held = NULL;
	}
	if (s->held_resp != NULL) {
		krx_filter_fetch_free(s->held_resp);
		s->held_resp = NULL;
	}
}
