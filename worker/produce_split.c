/*
 * produce_split.c: a Produce whose encrypted batches outgrow their
 * topics' batch size limit (issue 14). Such a partition's records go as
 * several batches (crypto/recsplit.c), and a Produce may carry only one
 * batch per partition, so the client's request becomes a series on the
 * same broker connection: the first carries every partition (the split
 * ones with their first piece), each later one the next piece of every
 * split partition whose pieces so far succeeded. A request goes only
 * when the one before it is answered, and the session reads nothing
 * more from the client meanwhile, so no batch of this producer overtakes
 * a piece and at most the pieces of one request are unanswered at any
 * time (the broker de-duplicates the last five batches per producer and
 * partition).
 *
 * The client gets one answer: the broker's answer to the first request,
 * with the error of a later piece written into its partition where one
 * failed; the client's retry is split the same way and the broker's
 * sequence check takes the pieces it already has as duplicates.
 *
 * A partition of a topic whose limit is a guess (the cluster would not
 * describe it) is watched even when it is not split: MESSAGE_TOO_LARGE
 * lowers the limit and becomes a retriable error, so the retry is split
 * smaller.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "common/log.h"
#include "common/shm/stats.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "common/cycle.h"
#include "proto/kafka_msg.h"
#include "worker/produce.h"
#include "worker/session.h"

/* DUPLICATE_SEQUENCE_NUMBER: older brokers' answer for a duplicate. */
#define PS_DUPLICATE		46
/* Decompressed records of one encrypted batch, at most. */
#define PS_MAX_DECOMPRESSED	(256 * 1024 * 1024)
#define PS_SCRATCH_KEEP		(4 * 1024 * 1024)

static struct krx_buf			 ps_plain, ps_comp;
static const struct krx_produce_req	*ps_sort_req;

/* Scratch space is kept between requests, up to a size. */
static void
ps_scratch_trim(void)
{
	if (ps_plain.cap > PS_SCRATCH_KEEP)
		krx_buf_free(&ps_plain);
	if (ps_comp.cap > PS_SCRATCH_KEEP)
		krx_buf_free(&ps_comp);
}

static struct pj_split *
ps_get(struct krx_pjob *j)
{
	if (j->split == NULL) {
		j->split = xcalloc(1, sizeof(*j->split));
		j->split->p = xcalloc(j->req.nparts ? j->req.nparts : 1,
		    sizeof(*j->split->p));
		krx_buf_init(&j->split->resp1, 0);
	}
	return j->split;
}

int
pj_split_part(struct krx_pjob *j, size_t i, struct krx_buf *enc,
    size_t limit, int watch, const uint8_t **first, size_t *first_len)
{
	struct pj_split	*ps = ps_get(j);
	struct pj_piece	*pc = &ps->p[ps->n];
	int		 r;

	memset(pc, 0, sizeof(*pc));
	krx_recsplit_init(&pc->sp);
	pc->part = i;
	pc->watch = watch;
	pc->pieces = 1;
	*first = enc->data;
	*first_len = enc->len;
	if (enc->len > limit) {
		r = krx_recsplit(enc->data, enc->len, limit,
		    j->s->w->conf->vclusters[j->s->vc].enc.split_codec,
		    PS_MAX_DECOMPRESSED, j->s->w->z, &ps_plain, &ps_comp,
		    &pc->sp);
		ps_scratch_trim();
		if (r != KRX_OK) {
			krx_recsplit_free(&pc->sp);
			return r;
		}
		pc->pieces = pc->sp.n;
		*first = pc->sp.out.data;
		*first_len = pc->sp.ends[0];
		ps->bytes += pc->sp.out.len - pc->sp.ends[0];
	}
	pc->next = 1;
	pc->last_len = *first_len;
	ps->n++;
	if (pc->pieces > 1) {
		krx_stats_add(j->s->w->cy->stats, j->s->w->slot,
		    KRX_STAT_BATCHES_SPLIT, 1);
		krx_stats_add(j->s->w->cy->stats, j->s->w->slot,
		    KRX_STAT_SPLIT_PIECES, (int64_t)pc->pieces);
	}
	return KRX_OK;
}

void
pj_split_free(struct pj_split *ps)
{
	size_t	 i;

	if (ps == NULL)
		return;
	for (i = 0; i < ps->n; i++)
		krx_recsplit_free(&ps->p[i].sp);
	free(ps->p);
	free(ps->sorted);
	krx_buf_free(&ps->resp1);
	free(ps);
}

/* Piece k of pc: its bytes. */
static void
ps_piece(const struct pj_piece *pc, size_t k, const uint8_t **p,
    size_t *len)
{
	size_t	 start = k == 0 ? 0 : pc->sp.ends[k - 1];

	*p = pc->sp.out.data + start;
	*len = pc->sp.ends[k] - start;
}

/*
 * Send the next piece of every split partition that has one and no
 * failure yet, in one request (f: its in-flight entry, NULL for acks=0).
 * 0 when there was none to send.
 */
static int
ps_round(struct krx_pjob *j, struct krx_inflight *f)
{
	struct pj_split			*ps = j->split;
	struct krx_produce_piece	*pieces;
	struct pj_piece			*pc;
	struct krx_buf			 body;
	size_t				 i, n = 0;
	int				 r;

	pieces = xcalloc(ps->n, sizeof(*pieces));
	for (i = 0; i < ps->n; i++) {
		pc = &ps->p[i];
		if (pc->error != 0 || pc->next >= pc->pieces)
			continue;
		pieces[n].part = pc->part;
		ps_piece(pc, pc->next, &pieces[n].records,
		    &pieces[n].records_len);
		pc->last_len = pieces[n++].records_len;
		pc->next++;
		pc->waiting = 1;
	}
	krx_buf_init(&body, 0);
	r = n > 0 ? krx_kafka_produce_build(&j->req, pieces, n, &body) :
	    KRX_E_NOTFOUND;
	if (r == KRX_OK && f != NULL)
		krx_session_resend(j->s, f, &j->h, j->frame, &body);
	else if (r == KRX_OK)
		(void)krx_session_send_buf(j->s, &j->h, j->frame, &body, 0);
	else if (n > 0)
		for (i = 0; i < ps->n; i++)
			if (ps->p[i].waiting) {
				ps->p[i].waiting = 0;
				ps->p[i].error = PJ_RETRIABLE;
			}
	ps->round += r == KRX_OK;
	krx_buf_free(&body);
	free(pieces);
	return r == KRX_OK;
}

/* Order of pieces for lookups: partition index, then topic. */
static int
ps_cmp_key(const struct krx_produce_req *req, const struct pj_piece *pc,
    int32_t index, const uint8_t *name, size_t name_len, const uint8_t *id)
{
	const struct krx_produce_part	*p = &req->parts[pc->part];
	const struct krx_produce_topic	*t = &req->topics[p->topic];
	size_t				 tl;
	int				 c;

	if (p->index != index)
		return p->index < index ? -1 : 1;
	if (t->name == NULL)
		return memcmp(t->topic_id, id, KRX_KAFKA_UUID_LEN);
	tl = (size_t)t->name_len;
	if ((c = memcmp(t->name, name, tl < name_len ? tl : name_len)) != 0)
		return c;
	return tl == name_len ? 0 : tl < name_len ? -1 : 1;
}

static int
ps_sort_cmp(const void *a, const void *b)
{
	const struct pj_piece		*pb = *(struct pj_piece *const *)b;
	const struct krx_produce_part	*p = &ps_sort_req->parts[pb->part];
	const struct krx_produce_topic	*t = &ps_sort_req->topics[p->topic];

	return ps_cmp_key(ps_sort_req, *(struct pj_piece *const *)a,
	    p->index, t->name, (size_t)t->name_len, t->topic_id);
}

/* The piece entry a response partition answers, or NULL. */
static struct pj_piece *
ps_find(struct krx_pjob *j, const struct krx_produce_resp_part *rp)
{
	struct pj_split	*ps = j->split;
	size_t		 lo = 0, hi = ps->n, mid;
	int		 c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = ps_cmp_key(&j->req, ps->sorted[mid], rp->index, rp->name,
		    rp->name != NULL ? (size_t)rp->name_len : 0, rp->topic_id);
		if (c == 0)
			return ps->sorted[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int
pj_split_sent(struct krx_pjob *j, struct krx_inflight *f)
{
	struct pj_split	*ps = j->split;
	size_t		 i;
	int		 need = 0;

	ps->round = 1;
	for (i = 0; i < ps->n; i++)
		if (ps->p[i].pieces > 1 || ps->p[i].watch) {
			ps->p[i].waiting = f != NULL;
			need = 1;
		}
	if (!need)
		return 0;
	if (f == NULL) {
		/* acks=0: no answer comes; the rest goes now, in order. */
		while (ps_round(j, NULL))
			;
		return 0;
	}
	ps->sorted = xcalloc(ps->n, sizeof(*ps->sorted));
	for (i = 0; i < ps->n; i++)
		ps->sorted[i] = &ps->p[i];
	ps_sort_req = &j->req;
	qsort(ps->sorted, ps->n, sizeof(*ps->sorted), ps_sort_cmp);
	ps_sort_req = NULL;
	ps->f = f;
	f->split = j;
	if (j->copy != NULL) {
		j->s->held_bytes = j->size + ps->bytes;
		krx_limit_charge(j->s);
	}
	return 1;
}

/* Piece entry pc was answered err. */
static void
ps_answer(struct krx_pjob *j, struct pj_piece *pc, int16_t err)
{
	const struct krx_produce_part	*p = &j->req.parts[pc->part];

	pc->waiting = 0;
	if (err == PS_DUPLICATE)
		err = 0;	/* a retry's piece the broker has: go on */
	if (err == PJ_TOO_LARGE && pj_limit_lower(j, p->topic,
	    pc->last_len) == 0)
		err = PJ_RETRIABLE;	/* the retry is split smaller */
	if (err == 0 || pc->error != 0)
		return;
	pc->error = err;
	if (j->split->round > 1)
		log_info("conn=%llu: topic %s partition %d: piece %zu of %zu "
		    "of an encrypted batch failed with error %d; the client "
		    "is answered with it", (unsigned long long)j->s->id,
		    j->topics[p->topic].name, p->index, pc->next,
		    pc->pieces, err);
}

/*
 * Parse a Produce response frame (size prefix first, size bytes after
 * it) of j's version: its header length and its partitions.
 */
static int
ps_parse(const struct krx_pjob *j, const uint8_t *frame, uint32_t size,
    size_t *hlen, struct krx_produce_resp *resp)
{
	int	 r;

	memset(resp, 0, sizeof(*resp));
	if ((r = krx_kafka_resp_hdr_len(frame + 4, size, KRX_API_PRODUCE,
	    j->h.api_version, hlen)) != KRX_OK)
		return r;
	if (*hlen > size)
		return KRX_E_TRUNCATED;
	return krx_kafka_produce_resp_parse(frame + 4 + *hlen, size - *hlen,
	    j->h.api_version, resp);
}

/* Take the answer to the last request of j; KRX_OK or a parse error. */
static int
ps_take(struct krx_pjob *j, const uint8_t *frame, uint32_t size)
{
	struct pj_split			*ps = j->split;
	struct krx_produce_resp		 resp;
	struct pj_piece			*pc;
	size_t				 hlen, i;
	int				 r;

	if ((r = ps_parse(j, frame, size, &hlen, &resp)) != KRX_OK)
		return r;
	if (!ps->have_resp1) {
		(void)krx_buf_put(&ps->resp1, frame, 4 + (size_t)size);
		ps->have_resp1 = 1;
	}
	for (i = 0; i < resp.nparts; i++)
		if ((pc = ps_find(j, &resp.parts[i])) != NULL && pc->waiting)
			ps_answer(j, pc, resp.parts[i].error_code);
	/* A partition the broker did not answer: the client retries it. */
	for (i = 0; i < ps->n; i++)
		if (ps->p[i].waiting)
			ps_answer(j, &ps->p[i], PJ_RETRIABLE);
	krx_produce_resp_free(&resp);
	return ps->resp1.err;
}

/* Write the later pieces' failures into the first answer. */
static int
ps_patch(struct krx_pjob *j, size_t *hlen)
{
	struct pj_split			*ps = j->split;
	struct krx_produce_resp		 resp;
	struct pj_piece			*pc;
	uint8_t				*body;
	size_t				 i;
	int				 r;

	if ((r = ps_parse(j, ps->resp1.data, (uint32_t)(ps->resp1.len - 4),
	    hlen, &resp)) != KRX_OK)
		return r;
	body = ps->resp1.data + 4 + *hlen;
	for (i = 0; i < resp.nparts; i++) {
		if ((pc = ps_find(j, &resp.parts[i])) == NULL ||
		    pc->error == 0 || pc->error == resp.parts[i].error_code)
			continue;
		body[resp.parts[i].error_off] = (uint8_t)((uint16_t)pc->error >>
		    8);
		body[resp.parts[i].error_off + 1] = (uint8_t)pc->error;
	}
	krx_produce_resp_free(&resp);
	return KRX_OK;
}

/*
 * Errors a client retries. When one failed a partition after its first
 * piece was stored, the producer's batches pipelined behind the request
 * would reach the broker out of sequence: they are held off as after
 * krx's own retriable failures (filter_produce.c's guards).
 */
static int
ps_retriable(int16_t err)
{
	switch (err) {
	case 3:		/* UNKNOWN_TOPIC_OR_PARTITION */
	case 5:		/* LEADER_NOT_AVAILABLE */
	case 6:		/* NOT_LEADER_OR_FOLLOWER */
	case PJ_RETRIABLE:
	case 19:	/* NOT_ENOUGH_REPLICAS */
	case 20:	/* NOT_ENOUGH_REPLICAS_AFTER_APPEND */
	case 56:	/* KAFKA_STORAGE_ERROR */
		return 1;
	default:
		return 0;
	}
}

static void
ps_guard(struct krx_pjob *j)
{
	struct pj_split	*ps = j->split;
	size_t		 i;
	int		 any = 0;

	for (i = 0; i < ps->n; i++)
		if (ps->p[i].error != 0 && ps_retriable(ps->p[i].error)) {
			j->errors[ps->p[i].part] = PJ_RETRIABLE;
			any = 1;
		}
	if (any)
		pj_guard_set(j);
}

/* Every piece answered: the client's answer to dst; 0, or -1 closed. */
static int
ps_finish(struct krx_session *s, struct krx_inflight *f, struct krx_pjob *j,
    struct evbuffer *dst)
{
	struct evbuffer	*tmp;
	size_t		 hlen;
	int		 r;

	f->split = NULL;
	if ((r = ps_patch(j, &hlen)) != KRX_OK) {
		krx_session_close(s, KRX_LOG_WARN, "cannot parse Produce v%d "
		    "response from broker: %s", j->h.api_version,
		    krx_strerror(r));
		return -1;
	}
	if ((tmp = evbuffer_new()) == NULL) {
		krx_session_close(s, KRX_LOG_WARN, "out of memory");
		return -1;
	}
	evbuffer_add(tmp, j->split->resp1.data, j->split->resp1.len);
	r = krx_rewrite_response(s, f, tmp, (uint32_t)(j->split->resp1.len -
	    4), dst);
	evbuffer_free(tmp);
	if (r < 0)
		return -1;	/* s is gone, and j with it */
	ps_guard(j);
	pj_done(j);
	return 0;
}

int
krx_filter_produce_piece(struct krx_session *s, struct krx_inflight *f,
    struct evbuffer *in, uint32_t size, struct evbuffer *dst)
{
	struct krx_pjob	*j = f->split;
	const uint8_t	*frame;
	int		 r;

	frame = evbuffer_pullup(in, 4 + (size_t)size);
	if ((r = ps_take(j, frame, size)) != KRX_OK) {
		krx_session_close(s, KRX_LOG_WARN, "cannot parse Produce v%d "
		    "response from broker: %s", j->h.api_version,
		    krx_strerror(r));
		return -1;
	}
	evbuffer_drain(in, 4 + (size_t)size);
	if (ps_round(j, f))
		return 1;
	return ps_finish(s, f, j, dst);
}
