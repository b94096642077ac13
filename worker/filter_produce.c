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
 * While a request waits for keys the session reads no further request
 * (order is kept); the frame is copied out of the input buffer then.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common/log.h"
#include "common/stats.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "crypto/recenc.h"
#include "master/master.h"
#include "proto/kafka_msg.h"
#include "proto/record.h"
#include "worker/encdek.h"
#include "worker/keyclient.h"
#include "worker/session.h"
#include "worker/topicmap.h"

#define PJ_KEK_MAX		512
/*
 * The retriable error of a Produce that cannot be encrypted now. Not
 * NETWORK_EXCEPTION (13): librdkafka treats 13 in a ProduceResponse
 * partition as permanent and fails the records; REQUEST_TIMED_OUT is
 * retried by librdkafka and the Java client alike.
 */
#define PJ_RETRIABLE		KRX_KERR_REQUEST_TIMED_OUT
#define PJ_MAX_DECOMPRESSED	(256 * 1024 * 1024)

enum pj_state {
	PJ_NEW = 0,
	PJ_WAIT,
	PJ_PLAIN,
	PJ_ENC,
	PJ_UNKNOWN_ID,
	PJ_REJECT,
	PJ_FAILED
};

struct krx_pjob;

struct pj_topic {
	struct krx_pjob		*job;
	char			 name[KRX_TOPIC_NAME_MAX + 1];
	size_t			 name_len;
	enum pj_state		 state;
	int			 answered;
	enum krx_key_status	 answer;
	char			 kek[PJ_KEK_MAX + 1];
	size_t			 kek_len;
	struct krx_encpool	*pool;
};

struct krx_pjob {
	struct krx_session	*s;
	struct krx_kafka_req_hdr h;
	const uint8_t		*frame;		/* after the size prefix */
	uint8_t			*copy;		/* owned when held */
	uint32_t		 size;
	struct krx_produce_req	 req;
	struct pj_topic		*topics;
	unsigned		 pending;
	enum krx_key_status	 failure;
	uint64_t		 records;	/* to encrypt */
	int			 guard_checked;
};

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

/* Remember the failed batches of idempotent producers in j. */
static void
pj_guard_set(struct krx_pjob *j)
{
	const struct krx_produce_part	*p;
	struct krx_pjguard		*g;
	const uint8_t			*t;
	size_t				 i, len;
	int64_t				 pid;
	int32_t				 seq;

	for (i = 0; i < j->req.nparts; i++) {
		p = &j->req.parts[i];
		if (!pj_idempotent(p, &pid, &seq))
			continue;
		pj_guard_topic(j, p, &t, &len);
		if (len > KRX_TOPIC_NAME_MAX ||
		    pj_guard_find(j->s, t, len, p->index, pid) != NULL)
			continue;
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

static void
pj_free(struct krx_pjob *j)
{
	size_t	 i;

	for (i = 0; i < j->req.ntopics; i++)
		krx_keyclient_cancel(j->s->w->kc, &j->topics[i]);
	krx_encpool_cancel(j->s->w, j);
	krx_produce_req_free(&j->req);
	free(j->topics);
	free(j->copy);
	free(j);
}

/* The request is answered or forwarded: free it, let the session go on. */
static void
pj_done(struct krx_pjob *j)
{
	struct krx_session	*s = j->s;
	int			 held = s->held == j;

	pj_free(j);
	if (held)
		krx_session_release(s);
}

static void
pj_fail(struct krx_pjob *j, int16_t err, const char *why)
{
	struct krx_buf	 out;
	int16_t		*errors;
	size_t		 i;

	log_warnx("conn=%llu client=%s: failed to encrypt records, Produce "
	    "answered with error %d: %s", (unsigned long long)j->s->id,
	    j->s->client_addr, err, why);
	if (err == PJ_RETRIABLE)
		pj_guard_set(j);
	if (j->req.acks == 0) {
		log_warnx("conn=%llu: acks=0 Produce dropped, never sent in "
		    "clear", (unsigned long long)j->s->id);
		return;
	}
	errors = xcalloc(j->req.nparts ? j->req.nparts : 1, sizeof(*errors));
	for (i = 0; i < j->req.nparts; i++)
		errors[i] = err;
	krx_buf_init(&out, 256);
	if (krx_kafka_produce_error_response(&j->req, j->h.api_version,
	    errors, why, &out) == KRX_OK)
		krx_session_reply(j->s, &j->h, out.data, out.len, 0);
	krx_buf_free(&out);
	free(errors);
}

static void
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
	return krx_topicmap_get(j->s->w->m->topicmap, j->s->vc, rt->topic_id,
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
	if (pj_name(j, t, &j->req.topics[i]) != 0) {
		t->state = PJ_UNKNOWN_ID;
		return;
	}
	if (krx_conf_kek_alias(pj_conf(j)->template, t->name, t->name_len,
	    alias, sizeof(alias)) != KRX_OK) {
		pj_decide(t, KRX_KEY_NOT_FOUND, NULL, 0);
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
}

/* 1 when every topic is decided; -1 when the request was answered. */
static int
pj_check_topics(struct krx_pjob *j)
{
	size_t	 i;
	int	 enc = 0;

	for (i = 0; i < j->req.ntopics; i++)
		pj_resolve(j, i);
	if (j->pending > 0)
		return 0;
	for (i = 0; i < j->req.ntopics; i++) {
		switch (j->topics[i].state) {
		case PJ_UNKNOWN_ID:
			pj_fail(j, KRX_KERR_UNKNOWN_TOPIC_ID, "unknown topic id");
			return -1;
		case PJ_FAILED:
			pj_fail(j, PJ_RETRIABLE, "the key service or KMS "
			    "cannot answer; retry");
			return -1;
		case PJ_REJECT:
			pj_fail(j, KRX_KERR_INVALID_RECORD, "failed to resolve "
			    "key for a topic (unresolvedKeyPolicy REJECT)");
			return -1;
		case PJ_ENC:
			enc = 1;
			break;
		default:
			break;
		}
	}
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
 * Make sure every pool can encrypt what this request needs. 1 ready,
 * 0 waiting, -1 answered with an error.
 */
static int
pj_check_budget(struct krx_pjob *j)
{
	const struct krx_produce_part	*p;
	struct pj_topic			*t;
	enum krx_key_status		 st;
	uint64_t			 n, *need;
	size_t				 i, k;
	int				 r = 1;

	need = xcalloc(j->req.ntopics ? j->req.ntopics : 1, sizeof(*need));
	j->records = 0;
	for (i = 0; i < j->req.nparts && r == 1; i++) {
		p = &j->req.parts[i];
		t = &j->topics[p->topic];
		if (t->state != PJ_ENC || p->records == NULL)
			continue;
		if (krx_recenc_count(p->records, (size_t)p->records_len,
		    &pj_scratch, &n) != KRX_OK) {
			pj_fail(j, KRX_KERR_INVALID_RECORD, "records that "
			    "cannot be parsed (bad batch or CRC)");
			r = -1;
			break;
		}
		/* Topics sharing a KEK share a pool: add up per pool. */
		for (k = 0; k <= p->topic; k++)
			if (j->topics[k].pool == t->pool) {
				need[k] += n;
				break;
			}
	}
	for (i = 0; i < j->req.ntopics && r == 1; i++) {
		if (need[i] == 0)
			continue;
		if (krx_encpool_ensure(j->topics[i].pool, need[i],
		    pj_budget_cb, j, &st) == 0)
			j->pending++;
		else if (st != KRX_KEY_OK)
			j->failure = st;
	}
	free(need);
	if (r != 1 || j->pending > 0)
		return r == 1 ? 0 : r;
	if (j->failure != KRX_KEY_OK) {
		pj_fail(j, PJ_RETRIABLE, j->failure == KRX_KEY_NOT_FOUND ?
		    "KEK not found when making a DEK" : "no DEK could be had "
		    "from the key service; retry");
		return -1;
	}
	return 1;
}

/* Encrypt every partition of an encrypted topic and send the request. */
static void
pj_encrypt(struct krx_pjob *j)
{
	const struct krx_produce_part	*p;
	struct krx_splice		*sp;
	struct krx_buf			*fields, *enc, body;
	size_t				 i, n, ns = 0;
	int				 r = KRX_OK, flex = j->h.api_version >= 9;

	n = j->req.nparts ? j->req.nparts : 1;
	sp = xcalloc(2 * n, sizeof(*sp));
	fields = xcalloc(n, sizeof(*fields));
	enc = xcalloc(n, sizeof(*enc));
	for (i = 0; i < j->req.nparts && r == KRX_OK; i++) {
		p = &j->req.parts[i];
		if (j->topics[p->topic].state != PJ_ENC || p->records == NULL)
			continue;
		if ((r = krx_recenc_encrypt(p->records, (size_t)p->records_len,
		    krx_encpool_dek, j->topics[p->topic].pool, &pj_scratch,
		    &enc[i])) != KRX_OK ||
		    (r = krx_kafka_records_prefix(&fields[i], flex,
		    enc[i].len)) != KRX_OK)
			break;
		j->records += pj_scratch.encrypted;
		/* The new length prefix, then the records: no copy. */
		sp[ns].off = p->field_off;
		sp[ns].len = p->field_len;
		sp[ns].data = fields[i].data;
		sp[ns++].data_len = fields[i].len;
		sp[ns].off = p->field_off + p->field_len;
		sp[ns].data = enc[i].data;
		sp[ns++].data_len = enc[i].len;
	}
	krx_buf_init(&body, 0);
	if (r == KRX_OK)
		r = krx_kafka_splice(j->frame + j->h.len, j->size - j->h.len, sp,
		    ns, &body);
	if (r == KRX_OK) {
		krx_session_send_buf(j->s, &j->h, j->frame, &body,
		    j->req.acks != 0);
		krx_stats_add(j->s->w->m->stats, j->s->w->slot,
		    KRX_STAT_RECORDS_ENCRYPTED, (int64_t)j->records);
	} else
		pj_fail(j, PJ_RETRIABLE, krx_strerror(r));
	for (i = 0; i < n; i++) {
		krx_buf_free(&fields[i]);
		krx_buf_free(&enc[i]);
	}
	krx_buf_free(&body);
	free(enc);
	free(fields);
	free(sp);
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
	if ((r = pj_check_topics(j)) <= 0)
		return r < 0;
	if (r == 2) {
		/* No topic to encrypt: the original bytes go up. */
		krx_session_send(j->s, &j->h, j->frame, j->frame + j->h.len,
		    j->size - j->h.len, j->req.acks != 0);
		return 1;
	}
	if ((r = pj_check_budget(j)) <= 0)
		return r < 0;
	pj_encrypt(j);
	return 1;
}

static struct krx_pjob *
pj_new(struct krx_session *s, const struct krx_kafka_req_hdr *h,
    const uint8_t *frame, uint32_t size)
{
	struct krx_pjob	*j = xcalloc(1, sizeof(*j));

	j->s = s;
	j->h = *h;
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
		krx_recenc_scratch_init(&pj_scratch, PJ_MAX_DECOMPRESSED);
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
	/* Waiting for keys: keep a copy, read nothing more meanwhile. */
	j->copy = xmalloc(size);
	memcpy(j->copy, frame, size);
	j->frame = j->copy;
	evbuffer_drain(in, 4 + (size_t)size);
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
