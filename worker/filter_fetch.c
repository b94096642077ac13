/*
 * filter_fetch.c: Fetch and ShareFetch responses on a virtual cluster
 * with record_encryption. Every partition's records are scanned for the
 * encryption header; the DEKs of their EDEKs come from the key client
 * (worker LRU, then keysvc and its DEK cache); batches holding
 * encrypted records are rebuilt in clear, every other byte of the
 * response is spliced through unchanged. A partition whose KEK is gone
 * gets RESOURCE_NOT_FOUND (91) and no records, with a log line naming
 * topic-partition and KEK; one whose keys cannot be had now gets the
 * retriable KAFKA_STORAGE_ERROR (56); values that do not authenticate
 * give CORRUPT_MESSAGE (2), and so do malformed ones, an EDEK over
 * KRX_WRAPPER_EDEK_MAX (refused here, never sent to keysvc) and one
 * keysvc calls invalid; each such line names topic-partition, offset and
 * why, at most FJ_LOG_PER_SEC a second. The connection stays open.
 *
 * requireEncryption: a partition of a topic whose KEK resolves that
 * holds a record with a value and without the encryption header gets
 * CORRUPT_MESSAGE and no records; a topic named by an id krx cannot
 * name gets UNKNOWN_TOPIC_ID (100), a KEK that cannot be resolved now
 * KAFKA_STORAGE_ERROR (both retriable): it fails closed.
 *
 * A decrypted batch over twice the broker's is compressed again with its
 * own codec, so the response stays about as big as the broker's
 * (recenc.c); scratch space grown by a big batch is given back after
 * the response. A Fetch response may make
 * krx go through so many record bytes (FJ_BUDGET_*); past them the
 * partitions left carry the batches done so far (maybe none, error 0)
 * and the client fetches the rest again. A partition stops asking for
 * DEKs at its first failure, and one response asks keysvc for at most
 * FJ_MAX_ASK DEKs at a time.
 *
 * While a response waits for keys, the session reads no further
 * response from the broker (later ones queue behind it anyway).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common/log.h"
#include "common/shm/stats.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "crypto/edek_name.h"
#include "crypto/recenc.h"
#include "crypto/wrapper.h"
#include "common/cycle.h"
#include "proto/kafka_msg.h"
#include "worker/keyclient.h"
#include "worker/session.h"
#include "common/shm/topicmap.h"

#define FJ_MAX_DECOMPRESSED	(256 * 1024 * 1024)
#define FJ_SCRATCH_KEEP		(8 * 1024 * 1024)	/* kept between */
#define FJ_LOG_PER_SEC		5
#define FJ_ALIAS_MAX		512	/* as filter_produce.c's PJ_KEK_MAX */
/* DEKs asked of the key service at once by one response; the rest are
 * asked on the next pass (fewer than the key client's LRU holds). */
#define FJ_MAX_ASK		64
/*
 * Record bytes one Fetch response may make krx decompress and go
 * through: the larger of FJ_BUDGET_MIN and FJ_BUDGET_RATIO times the
 * response (a batch started is finished, so at most one more batch of
 * FJ_MAX_DECOMPRESSED). Past it the partitions left are answered with
 * the batches done so far, maybe none: the client fetches the rest
 * again (issue 9, finding 5: tiny batches of zeros must not cost
 * seconds of CPU each).
 */
#define FJ_BUDGET_MIN		((uint64_t)256 * 1024 * 1024)
#define FJ_BUDGET_RATIO		16
#define KRX_KERR_CORRUPT_MESSAGE	2
#define KRX_KERR_KAFKA_STORAGE_ERROR	56

/* An EDEK whose DEK could not be had, remembered for one response. */
struct fj_fail {
	uint8_t			*edek;
	size_t			 len;
	enum krx_key_status	 status;
};

struct fj_part {
	uint64_t		 encrypted;	/* records to decrypt */
	uint64_t		 decrypted;
	struct krx_buf		 out;		/* the decrypted records */
	enum krx_key_status	 status;
	const uint8_t		*bad_edek;	/* for the log line */
	size_t			 bad_len;
	int			 err;		/* krx_err of the pass */
	int64_t			 fail_offset;	/* -1: unknown */
	int16_t			 refuse;	/* requireEncryption's */
	int			 truncated;	/* budget spent: fewer */
};

/* A topic's KEK, as far as requireEncryption needs to know. */
enum fj_topic_state {
	FJT_UNASKED = 0,
	FJT_WAIT,
	FJT_DONE
};

struct fj_topic {
	struct krx_fjob		*j;
	enum fj_topic_state	 state;
	enum krx_key_status	 status;	/* when done */
	int			 unknown;	/* id krx cannot name */
};

struct krx_fjob {
	struct krx_session	*s;
	struct krx_inflight	*f;
	const uint8_t		*frame;		/* after the size prefix */
	uint8_t			*copy;
	uint32_t		 size;
	size_t			 hlen;
	struct krx_fetch_resp	 resp;
	struct fj_part		*parts;
	size_t			 cur;		/* partition being scanned */
	/*
	 * The EDEKs of the last record scanned and decrypted, copied: a
	 * record's EDEK may sit in the decompression scratch, which the
	 * next batch overwrites in place (the same address then holds
	 * another EDEK).
	 */
	uint8_t			 last_edek[KRX_WRAPPER_EDEK_MAX];
	size_t			 last_len;	/* 0: none */
	uint8_t			 dek_edek[KRX_WRAPPER_EDEK_MAX];
	size_t			 dek_len;
	struct krx_aead		*dek_aead;
	unsigned		 pending;
	uint64_t		 records;
	struct fj_fail		*fails;
	size_t			 nfails;
	struct fj_topic		*topics;	/* resp.ntopics */
};

static struct krx_recenc_scratch	fj_scratch;
static int				fj_scratch_ready;

/* Give back scratch space a big batch grew (issue 9, finding 5). */
static void
fj_scratch_trim(void)
{
	if (fj_scratch.plain.cap > FJ_SCRATCH_KEEP ||
	    fj_scratch.comp.cap > FJ_SCRATCH_KEEP ||
	    fj_scratch.dec.cap > FJ_SCRATCH_KEEP ||
	    fj_scratch.parcel.cap > FJ_SCRATCH_KEEP ||
	    fj_scratch.hdrs.cap > FJ_SCRATCH_KEEP) {
		struct krx_zctx	*z = fj_scratch.z;

		krx_recenc_scratch_free(&fj_scratch);
		krx_recenc_scratch_init(&fj_scratch, FJ_MAX_DECOMPRESSED, z);
	}
}

void
krx_filter_fetch_free(struct krx_fjob *j)
{
	size_t	 i;

	if (j == NULL)
		return;
	krx_keyclient_cancel(j->s->w->kc, j);
	for (i = 0; j->topics != NULL && i < j->resp.ntopics; i++)
		krx_keyclient_cancel(j->s->w->kc, &j->topics[i]);
	free(j->topics);
	while (j->nfails > 0)
		free(j->fails[--j->nfails].edek);
	free(j->fails);
	for (i = 0; j->parts != NULL && i < j->resp.nparts; i++)
		krx_buf_free(&j->parts[i].out);
	krx_fetch_resp_free(&j->resp);
	free(j->parts);
	free(j->copy);
	free(j);
}

static void
fj_answer(struct krx_fjob *j, size_t part, enum krx_key_status st,
    const uint8_t *edek, size_t len)
{
	struct fj_part	*p = &j->parts[part];

	/* Keep the worst: not found beats unavailable beats invalid. */
	if (st == KRX_KEY_OK || p->status == KRX_KEY_NOT_FOUND)
		return;
	if (p->status == KRX_KEY_OK || st == KRX_KEY_NOT_FOUND) {
		p->status = st;
		p->bad_edek = edek;
		p->bad_len = len;
	}
}


static void	fj_resume(struct krx_fjob *);

static enum krx_key_status
fj_failed(struct krx_fjob *j, const uint8_t *edek, size_t len)
{
	size_t	 i;

	for (i = 0; i < j->nfails; i++)
		if (j->fails[i].len == len &&
		    memcmp(j->fails[i].edek, edek, len) == 0)
			return j->fails[i].status;
	return KRX_KEY_OK;
}

static void
fj_fail_add(struct krx_fjob *j, const uint8_t *edek, size_t len,
    enum krx_key_status st)
{
	if (fj_failed(j, edek, len) != KRX_KEY_OK)
		return;
	j->fails = xreallocarray(j->fails, j->nfails + 1, sizeof(*j->fails));
	j->fails[j->nfails].edek = xmalloc(len);
	memcpy(j->fails[j->nfails].edek, edek, len);
	j->fails[j->nfails].len = len;
	j->fails[j->nfails].status = st;
	j->nfails++;
}

static void
fj_dek_cb(void *arg, const struct krx_key_answer *a)
{
	struct krx_fjob	*j = arg;

	if (a->status != KRX_KEY_OK)
		fj_fail_add(j, a->edek, a->edek_len, a->status);
	if (--j->pending == 0)
		fj_resume(j);
}

static int
fj_edek(void *arg, const uint8_t *edek, size_t len)
{
	struct krx_fjob		*j = arg;
	struct krx_key_answer	 a;
	enum krx_key_status	 st;

	/*
	 * A partition that fails anyway needs no more keys (issue 9: many
	 * distinct bogus EDEKs must not cost a lookup and a key service
	 * round trip each); the scan stops.
	 */
	if (j->parts[j->cur].status != KRX_KEY_OK)
		return KRX_E_NOTFOUND;
	if (j->last_len == len && memcmp(j->last_edek, edek, len) == 0)
		return KRX_OK;
	j->last_len = 0;
	if (len <= sizeof(j->last_edek)) {	/* the wrapper's bound */
		memcpy(j->last_edek, edek, len);
		j->last_len = len;
	}
	if ((st = fj_failed(j, edek, len)) != KRX_KEY_OK) {
		fj_answer(j, j->cur, st, edek, len);
		return KRX_OK;
	}
	if (krx_keyclient_aead(j->s->w->kc, j->s->vc, edek, len) != NULL)
		return KRX_OK;
	if (j->pending >= FJ_MAX_ASK)
		return KRX_E_NOTFOUND;	/* the next pass asks the rest */
	if (krx_keyclient_decrypt(j->s->w->kc, j->s->vc, edek, len, fj_dek_cb,
	    j, &a) == 0)
		j->pending++;
	else if (a.status != KRX_KEY_OK) {
		fj_fail_add(j, edek, len, a.status);
		fj_answer(j, j->cur, a.status, edek, len);
	}
	return KRX_OK;
}

/*
 * The DEK of an EDEK for the decryption pass: the worker's LRU, else the
 * shared LMDB cache (both answer at once), else NULL after asking
 * keysvc (the pass is redone when the answer is in) or recording why it
 * cannot be had.
 */
static struct krx_aead *
fj_dek(void *arg, const uint8_t *edek, size_t len)
{
	struct krx_fjob		*j = arg;
	struct krx_keyclient	*kc = j->s->w->kc;
	struct krx_aead		*aead;
	struct krx_key_answer	 a;
	enum krx_key_status	 st;

	/* Records of a batch mostly share one EDEK. */
	if (j->dek_aead != NULL && j->dek_len == len &&
	    memcmp(j->dek_edek, edek, len) == 0)
		return j->dek_aead;
	if ((aead = krx_keyclient_aead(kc, j->s->vc, edek, len)) != NULL) {
		if (len > sizeof(j->dek_edek))
			return aead;	/* the wrapper's bound: never */
		memcpy(j->dek_edek, edek, len);
		j->dek_len = len;
		j->dek_aead = aead;
		return aead;
	}
	/* Asking may change the key client's table: forget the last. */
	j->dek_aead = NULL;
	if ((st = fj_failed(j, edek, len)) != KRX_KEY_OK) {
		fj_answer(j, j->cur, st, edek, len);
		return NULL;
	}
	if (j->pending >= FJ_MAX_ASK)
		return NULL;	/* asked on the next pass */
	if (krx_keyclient_decrypt(kc, j->s->vc, edek, len, fj_dek_cb, j,
	    &a) == 0) {
		j->pending++;
		return NULL;
	}
	if (a.status == KRX_KEY_OK)
		return krx_keyclient_aead(kc, j->s->vc, edek, len);
	fj_fail_add(j, edek, len, a.status);
	fj_answer(j, j->cur, a.status, edek, len);
	return NULL;
}

static const struct krx_conf_encryption *
fj_conf(struct krx_fjob *j)
{
	return &j->s->w->conf->vclusters[j->s->vc].enc;
}

/* The name of topic t, NUL-ended: 0, or -1 when krx cannot name it. */
static int
fj_topic_name(struct krx_fjob *j, const struct krx_fetch_topic *t,
    char name[KRX_TOPIC_NAME_MAX + 1], size_t *len)
{
	*len = 0;
	name[0] = '\0';
	if (t->name != NULL) {
		if (t->name_len < 0 || t->name_len > KRX_TOPIC_NAME_MAX)
			return -1;
		*len = (size_t)t->name_len;
		memcpy(name, t->name, *len);
		name[*len] = '\0';
		return 0;
	}
	if (krx_topicmap_get(j->s->w->cy->topicmap, j->s->vc, t->topic_id,
	    name, len) != KRX_OK)
		return -1;
	return 0;
}

static void
fj_resolved(void *arg, const struct krx_key_answer *a)
{
	struct fj_topic	*t = arg;

	t->state = FJT_DONE;
	t->status = a->status;
	if (--t->j->pending == 0)
		fj_resume(t->j);
}

/* Ask whether topic ti has a KEK (once per response). */
static void
fj_topic_ask(struct krx_fjob *j, size_t ti)
{
	struct fj_topic		*t = &j->topics[ti];
	struct krx_key_answer	 a;
	char			 name[KRX_TOPIC_NAME_MAX + 1];
	char			 alias[FJ_ALIAS_MAX + 1];
	size_t			 len;

	t->j = j;
	t->state = FJT_DONE;
	if (fj_topic_name(j, &j->resp.topics[ti], name, &len) != 0) {
		t->unknown = 1;
		return;
	}
	/* As on produce: an alias that cannot be formed resolves to none. */
	if (krx_conf_kek_alias(fj_conf(j)->template, name, len, alias,
	    sizeof(alias)) != KRX_OK) {
		t->status = KRX_KEY_NOT_FOUND;
		return;
	}
	if (krx_keyclient_resolve(j->s->w->kc, j->s->vc, alias,
	    strlen(alias), fj_resolved, t, &a) == 1) {
		t->status = a.status;
		return;
	}
	t->state = FJT_WAIT;
	j->pending++;
}

/*
 * requireEncryption for partition i, which holds clear records: 0 when
 * its topic has no KEK (clear is fine), a Kafka error code to refuse it
 * with, or -1 while the KEK is being resolved. Fails closed.
 */
static int
fj_require(struct krx_fjob *j, size_t i)
{
	struct fj_topic	*t = &j->topics[j->resp.parts[i].topic];

	if (t->state == FJT_UNASKED)
		fj_topic_ask(j, j->resp.parts[i].topic);
	if (t->state == FJT_WAIT)
		return -1;
	if (t->unknown)
		return KRX_KERR_UNKNOWN_TOPIC_ID;
	switch (t->status) {
	case KRX_KEY_OK:
		return KRX_KERR_CORRUPT_MESSAGE;
	case KRX_KEY_NOT_FOUND:
		return 0;
	default:
		return KRX_KERR_KAFKA_STORAGE_ERROR;
	}
}

/*
 * The budget of a pass over j. ShareFetch has none: records it acquired
 * and krx held back would come back with one more delivery attempt.
 */
static uint64_t
fj_budget(struct krx_fjob *j)
{
	uint64_t	 b = (uint64_t)j->size * FJ_BUDGET_RATIO;

	if (j->resp.api_key != KRX_API_FETCH)
		return UINT64_MAX;
	return b > FJ_BUDGET_MIN ? b : FJ_BUDGET_MIN;
}

/*
 * Decrypt every partition in one pass each. 1 when done (statuses and
 * outputs set), 0 when keys were asked for: the pass is redone then.
 * A partition missing a DEK is scanned whole so that every EDEK it needs
 * is asked for at once.
 */
static int
fj_run(struct krx_fjob *j)
{
	const struct krx_fetch_part	*p;
	struct fj_part			*fp;
	uint64_t			 n;
	size_t				 i;
	int				 r;

	j->dek_aead = NULL;
	fj_scratch.budget = fj_budget(j);
	for (i = 0; i < j->resp.nparts; i++) {
		p = &j->resp.parts[i];
		fp = &j->parts[i];
		krx_buf_reset(&fp->out);
		fp->encrypted = fp->decrypted = 0;
		fp->status = KRX_KEY_OK;
		fp->bad_edek = NULL;
		fp->err = KRX_OK;
		fp->refuse = 0;
		fp->truncated = 0;
		if (p->records == NULL || p->records_len <= 0)
			continue;
		j->cur = i;
		r = krx_recdec_decrypt(p->records, (size_t)p->records_len,
		    fj_dek, j, &fj_scratch, &fp->out);
		fp->err = r;
		fp->fail_offset = fj_scratch.fail_offset;
		if (r == KRX_OK) {
			fp->truncated = fj_scratch.truncated;
			fp->encrypted = fp->decrypted = fj_scratch.decrypted;
			fp->fail_offset = fj_scratch.clear_offset;
			if (!fj_conf(j)->require_encryption ||
			    fj_scratch.clear == 0)
				continue;
			if ((r = fj_require(j, i)) > 0)
				fp->refuse = (int16_t)r;
			j->dek_aead = NULL;	/* keyclient called */
			continue;
		}
		fp->encrypted = 1;
		if (r == KRX_E_NOTFOUND && fp->status == KRX_KEY_OK) {
			j->last_len = 0;
			krx_recdec_scan(p->records, (size_t)p->records_len,
			    fj_edek, j, &fj_scratch, &n);
		} else if (r != KRX_E_NOTFOUND)
			fj_answer(j, i, KRX_KEY_INVALID, NULL, 0);
	}
	return j->pending == 0;
}

/* At most FJ_LOG_PER_SEC partition error lines a second per worker. */
static int
fj_log_allow(void)
{
	static time_t	 sec;
	static unsigned	 n, dropped;
	time_t		 now = time(NULL);

	if (now != sec) {
		if (dropped > 0)
			log_warnx("%u more lines about Fetch partitions krx "
			    "refused were not logged", dropped);
		sec = now;
		n = dropped = 0;
	}
	if (n < FJ_LOG_PER_SEC) {
		n++;
		return 1;
	}
	dropped++;
	return 0;
}

/*
 * Broker bytes (topic and KEK names) for a log line: at most dlen - 1 of
 * them, anything but printable ASCII as '?', so that no record can
 * write lines of its own into the log.
 */
static void
fj_printable(char *dst, size_t dlen, const uint8_t *src, size_t len)
{
	size_t	 i;

	if (len > dlen - 1)
		len = dlen - 1;
	for (i = 0; i < len; i++)
		dst[i] = src[i] > 0x20 && src[i] < 0x7f ? (char)src[i] : '?';
	dst[len] = '\0';
}

/* Why partition i failed, for its log line. */
static const char *
fj_why(struct krx_fjob *j, size_t i)
{
	const struct fj_part	*fp = &j->parts[i];

	if (fp->refuse == KRX_KERR_UNKNOWN_TOPIC_ID)
		return "requireEncryption is on and the topic id is unknown "
		    "to krx";
	if (fp->refuse == KRX_KERR_KAFKA_STORAGE_ERROR)
		return "requireEncryption is on and the topic's KEK cannot "
		    "be resolved now";
	if (fp->refuse != 0)
		return "requireEncryption: a record without encryption on a "
		    "topic with a KEK";
	if (fp->status == KRX_KEY_NOT_FOUND)
		return "KEK not found";
	if (fp->status == KRX_KEY_UNAVAILABLE)
		return "key service or KMS unavailable";
	if (fp->status == KRX_KEY_DENIED)
		return "the key service refused the EDEK";
	switch (fp->err) {
	case KRX_OK:
	case KRX_E_NOTFOUND:
		return "the key service found the EDEK invalid";
	case KRX_E_TOO_BIG:
		return "an EDEK over 4096 bytes, or a batch over 256 MiB "
		    "decompressed";
	case KRX_E_CRYPTO:
		return "a value does not authenticate";
	case KRX_E_UNSUPPORTED:
		return "an unsupported encryption version, cipher, AAD or "
		    "codec";
	default:
		return "malformed records";
	}
}

static void
fj_log_error(struct krx_fjob *j, size_t i, int16_t err)
{
	const struct krx_fetch_part	*p = &j->resp.parts[i];
	char				 topic[KRX_TOPIC_NAME_MAX + 1];
	char				 tname[KRX_TOPIC_NAME_MAX + 1];
	char				 kname[FJ_ALIAS_MAX + 1];
	size_t				 tlen;

	if (!fj_log_allow())
		return;
	if (fj_topic_name(j, &j->resp.topics[p->topic], tname, &tlen) != 0)
		snprintf(topic, sizeof(topic), "(topic unknown to krx)");
	else
		fj_printable(topic, sizeof(topic), (const uint8_t *)tname,
		    tlen);
	/* Its name and version, never key material ("?" if unreadable). */
	if (j->parts[i].bad_edek == NULL)
		snprintf(kname, sizeof(kname), "?");
	else
		krx_edek_kek_name(krx_keyclient_edek_form(
		    &fj_conf(j)->kms_conf), j->parts[i].bad_edek,
		    j->parts[i].bad_len, kname, sizeof(kname));
	if (j->parts[i].refuse != 0)
		log_warnx("conn=%llu client=%s: refusing records of %s-%d "
		    "(offset %lld): %s; answering error %d for that partition "
		    "with its records removed", (unsigned long long)j->s->id,
		    j->s->client_addr, topic, p->index,
		    (long long)j->parts[i].fail_offset, fj_why(j, i), err);
	else
		log_warnx("conn=%llu client=%s: cannot decrypt records of "
		    "%s-%d (KEK %s): %s; answering error %d for that partition "
		    "with its records removed (offset %lld)",
		    (unsigned long long)j->s->id, j->s->client_addr, topic,
		    p->index, kname, fj_why(j, i), err,
		    (long long)j->parts[i].fail_offset);
}

static int16_t
fj_error_code(enum krx_key_status st)
{
	switch (st) {
	case KRX_KEY_NOT_FOUND:
		return KRX_KERR_RESOURCE_NOT_FOUND;
	case KRX_KEY_UNAVAILABLE:
		return KRX_KERR_KAFKA_STORAGE_ERROR;
	default:
		return KRX_KERR_CORRUPT_MESSAGE;
	}
}

/* A response's edits: partitions decrypted (records) or failed. */
struct fj_edits {
	struct krx_splice	*sp;
	struct krx_buf		**give;		/* owner of sp[i]'s data */
	struct krx_buf		*fields;
	int16_t			*errs;
	size_t			 n;
};

static void
fj_edits_free(struct krx_fjob *j, struct fj_edits *e)
{
	size_t	 i;

	for (i = 0; i < j->resp.nparts; i++)
		krx_buf_free(&e->fields[i]);
	free(e->fields);
	free(e->sp);
	free(e->give);
	free(e->errs);
}

static void
fj_edit(struct fj_edits *e, size_t off, size_t len, const uint8_t *data,
    size_t data_len, struct krx_buf *owner)
{
	e->sp[e->n].off = off;
	e->sp[e->n].len = len;
	e->sp[e->n].data = data;
	e->sp[e->n].data_len = data_len;
	e->give[e->n++] = owner;
}

/* A failed partition: error code, empty records, a log line. */
static void
fj_edit_failed(struct krx_fjob *j, struct fj_edits *e, size_t i, int flex)
{
	const struct krx_fetch_part	*p = &j->resp.parts[i];
	int16_t				 err = j->parts[i].refuse != 0 ?
					    j->parts[i].refuse :
					    fj_error_code(j->parts[i].status);

	e->errs[i] = (int16_t)htons((uint16_t)err);
	fj_log_error(j, i, err);
	fj_edit(e, p->error_off, 2, (const uint8_t *)&e->errs[i], 2, NULL);
	krx_kafka_records_field(&e->fields[i], flex, (const uint8_t *)"", 0);
	fj_edit(e, p->field_off, p->field_len, e->fields[i].data,
	    e->fields[i].len, NULL);
}

static void
fj_edits_build(struct krx_fjob *j, struct fj_edits *e)
{
	const struct krx_fetch_part	*p;
	struct fj_part			*fp;
	size_t				 i;
	int				 flex = j->resp.api_key !=
					    KRX_API_FETCH ||
					    j->resp.version >= 12;

	e->n = 0;
	e->sp = xcalloc(3 * j->resp.nparts + 1, sizeof(*e->sp));
	e->give = xcalloc(3 * j->resp.nparts + 1, sizeof(*e->give));
	e->fields = xcalloc(j->resp.nparts + 1, sizeof(*e->fields));
	e->errs = xcalloc(j->resp.nparts + 1, sizeof(*e->errs));
	for (i = 0; i < j->resp.nparts; i++) {
		p = &j->resp.parts[i];
		fp = &j->parts[i];
		if (fp->encrypted == 0 && fp->refuse == 0 &&
		    fp->truncated == 0)
			continue;
		if (fp->status == KRX_KEY_OK && fp->out.len > INT32_MAX) {
			fp->status = KRX_KEY_INVALID;
			fp->err = KRX_E_TOO_BIG;
		}
		if (fp->status != KRX_KEY_OK || fp->refuse != 0) {
			fj_edit_failed(j, e, i, flex);
			continue;
		}
		if (fp->truncated)
			log_debug("conn=%llu: record budget of a Fetch "
			    "response spent: partition %d answered with %zu of "
			    "%d bytes", (unsigned long long)j->s->id, p->index,
			    fp->out.len, p->records_len);
		/* New length prefix, then the records, no copy. */
		krx_kafka_records_prefix(&e->fields[i], flex, fp->out.len);
		fj_edit(e, p->field_off, p->field_len, e->fields[i].data,
		    e->fields[i].len, NULL);
		fj_edit(e, p->field_off + p->field_len, 0, fp->out.data,
		    fp->out.len, &fp->out);
		j->records += fp->decrypted;
	}
}

static void
fj_emit_header(struct krx_fjob *j, size_t body_len, struct evbuffer *dst)
{
	uint32_t	 be;

	be = htonl((uint32_t)(j->hlen + body_len));
	evbuffer_add(dst, &be, 4);
	be = htonl((uint32_t)j->f->client_corr);
	evbuffer_add(dst, &be, 4);
	evbuffer_add(dst, j->frame + 4, j->hlen - 4);
}

/*
 * The usual case: no broker endpoint to rewrite, so the response goes
 * out in pieces (the broker's bytes between the edits, the decrypted
 * records by reference) without being put together first.
 */
static int
fj_emit_pieces(struct krx_fjob *j, struct fj_edits *e, struct evbuffer *dst)
{
	const uint8_t		*body = j->frame + j->hlen;
	const struct krx_splice	*sp;
	size_t			 len = j->size - j->hlen, total, pos = 0, i;
	int			 r;

	if ((r = krx_kafka_splice_size(len, e->sp, e->n, &total)) != KRX_OK)
		return r;
	if (total > INT32_MAX - j->hlen)
		return KRX_E_TOO_BIG;
	fj_emit_header(j, total, dst);
	for (i = 0; i < e->n; i++) {
		sp = &e->sp[i];
		if (sp->off > pos)
			evbuffer_add(dst, body + pos, sp->off - pos);
		if (e->give[i] != NULL)
			krx_evbuffer_give(dst, e->give[i]);
		else if (sp->data_len > 0)
			evbuffer_add(dst, sp->data, sp->data_len);
		pos = sp->off + sp->len;
	}
	if (len > pos)
		evbuffer_add(dst, body + pos, len - pos);
	return KRX_OK;
}

/* Endpoints to rewrite: the whole body is built, then rewritten. */
static int
fj_emit_rebuilt(struct krx_fjob *j, struct fj_edits *e, struct evbuffer *dst)
{
	struct krx_buf	 body, ep;
	struct krx_buf	*b = &body;
	int		 r;

	krx_buf_init(&body, j->size);
	krx_buf_init(&ep, 0);
	r = krx_kafka_splice(j->frame + j->hlen, j->size - j->hlen, e->sp,
	    e->n, &body);
	if (r == KRX_OK)
		r = krx_kafka_rewrite_endpoints(j->f->api_key,
		    j->f->api_version, body.data, body.len, krx_rewrite_learn,
		    j->s, &ep);
	if (r == 1)
		b = &ep;
	if (r >= 0) {
		fj_emit_header(j, b->len, dst);
		krx_evbuffer_give(dst, b);
		r = KRX_OK;
	}
	krx_buf_free(&ep);
	krx_buf_free(&body);
	return r;
}

/* Whether the broker's response names endpoints krx must rewrite. */
static int
fj_has_endpoints(struct krx_fjob *j)
{
	struct krx_buf	 ep;
	int		 r;

	if (!krx_kafka_has_endpoints(j->f->api_key, j->f->api_version))
		return 0;
	krx_buf_init(&ep, 0);
	r = krx_kafka_rewrite_endpoints(j->f->api_key, j->f->api_version,
	    j->frame + j->hlen, j->size - j->hlen, krx_rewrite_learn, j->s,
	    &ep);
	krx_buf_free(&ep);
	return r != 0;	/* errors too: the rebuilt path reports them */
}

/*
 * Encrypted records are bigger than the records they carry (1 KiB
 * values: about 15%). Remember the ratio of fetched to clear record
 * bytes, averaged over this connection's responses (those without
 * encrypted records count as 1), so that krx_filter_fetch_request can
 * ask the broker for that much more and the client gets about as many
 * records as it asked for.
 */
static void
fj_note_ratio(struct krx_fjob *j)
{
	struct krx_session	*s = j->s;
	uint64_t		 in = 0, out = 0, r;
	size_t			 i;

	for (i = 0; i < j->resp.nparts; i++) {
		if (j->resp.parts[i].records_len <= 0 || j->parts[i].truncated)
			continue;
		in += (uint64_t)j->resp.parts[i].records_len;
		out += j->parts[i].encrypted > 0 && j->parts[i].status ==
		    KRX_KEY_OK && j->parts[i].refuse == 0 ?
		    j->parts[i].out.len :
		    (uint64_t)j->resp.parts[i].records_len;
	}
	if (in == 0 || out == 0)
		return;
	r = in * KRX_RATIO_ONE / out;
	if (r < KRX_RATIO_ONE)
		r = KRX_RATIO_ONE;
	if (r > KRX_RATIO_MAX)
		r = KRX_RATIO_MAX;
	s->fetch_ratio = s->fetch_ratio == 0 ? (uint32_t)r :
	    (uint32_t)((3 * (uint64_t)s->fetch_ratio + r) / 4);
}

/* All keys at hand: build and write. Frees j; -1: s was closed. */
static int
fj_finish(struct krx_fjob *j, struct evbuffer *dst)
{
	struct krx_session	*s = j->s;
	struct fj_edits		 e;
	int16_t			 key = j->f->api_key, ver = j->f->api_version;
	int			 r;

	fj_note_ratio(j);
	fj_edits_build(j, &e);
	if (fj_has_endpoints(j))
		r = fj_emit_rebuilt(j, &e, dst);
	else
		r = fj_emit_pieces(j, &e, dst);
	if (r == KRX_OK)
		krx_stats_add(s->w->cy->stats, s->w->slot,
		    KRX_STAT_RECORDS_DECRYPTED, (int64_t)j->records);
	fj_edits_free(j, &e);
	krx_filter_fetch_free(j);
	if (r != KRX_OK) {
		krx_session_close(s, KRX_LOG_WARN, "cannot rebuild %s v%d "
		    "response: %s", krx_kafka_api_name(key), ver,
		    krx_strerror(r));
		return -1;
	}
	return 0;
}

static void
fj_resume(struct krx_fjob *j)
{
	struct krx_session	*s = j->s;
	struct krx_inflight	*f = j->f;
	struct evbuffer		*dst;
	int			 r;

	r = fj_run(j);
	fj_scratch_trim();
	if (!r)
		return;		/* new EDEKs asked for: wait again */
	s->held_resp = NULL;
	if (f->resp != NULL)
		dst = f->resp;
	else if (f == TAILQ_FIRST(&s->inflight))
		dst = bufferevent_get_output(s->client);
	else
		dst = f->resp = evbuffer_new();
	if (fj_finish(j, dst) != 0)
		return;
	f->done = 1;
	krx_session_flush(s);
	krx_upstream_release(s);
}

static int
fj_parse(struct krx_fjob *j)
{
	krx_fetch_resp_free(&j->resp);
	return krx_kafka_fetch_parse(j->frame + j->hlen, j->size - j->hlen,
	    j->f->api_key, j->f->api_version, &j->resp);
}

static int
fj_any_encrypted(struct krx_fjob *j)
{
	size_t	 i;

	for (i = 0; i < j->resp.nparts; i++)
		if (j->parts[i].encrypted > 0 || j->parts[i].refuse != 0 ||
		    j->parts[i].truncated)
			return 1;
	return 0;
}

int
krx_filter_fetch(struct krx_session *s, struct krx_inflight *f,
    struct evbuffer *in, uint32_t size, struct evbuffer *dst)
{
	struct krx_fjob	*j;
	int		 r;

	if (!fj_scratch_ready) {
		krx_recenc_scratch_init(&fj_scratch, FJ_MAX_DECOMPRESSED,
		    s->w->z);
		fj_scratch_ready = 1;
	}
	j = xcalloc(1, sizeof(*j));
	j->s = s;
	j->f = f;
	j->size = size;
	j->frame = evbuffer_pullup(in, 4 + (size_t)size) + 4;
	if ((r = krx_kafka_resp_hdr_len(j->frame, size, f->api_key,
	    f->api_version, &j->hlen)) != KRX_OK || (r = fj_parse(j)) !=
	    KRX_OK) {
		krx_filter_fetch_free(j);
		krx_session_close(s, KRX_LOG_WARN, "cannot parse %s v%d "
		    "response from broker: %s", krx_kafka_api_name(f->api_key),
		    f->api_version, krx_strerror(r));
		return -1;
	}
	j->parts = xcalloc(j->resp.nparts + 1, sizeof(*j->parts));
	j->topics = xcalloc(j->resp.ntopics + 1, sizeof(*j->topics));
	r = fj_run(j);
	fj_scratch_trim();
	if (r) {
		if (!fj_any_encrypted(j)) {
			fj_note_ratio(j);
			krx_filter_fetch_free(j);
			return 2;	/* nothing to decrypt */
		}
		if ((r = fj_finish(j, dst)) == 0)
			evbuffer_drain(in, 4 + (size_t)size);
		return r;
	}
	j->copy = xmalloc(size);
	memcpy(j->copy, j->frame, size);
	j->frame = j->copy;
	evbuffer_drain(in, 4 + (size_t)size);
	if ((r = fj_parse(j)) != KRX_OK) {
		krx_filter_fetch_free(j);
		krx_session_close(s, KRX_LOG_WARN, "Fetch response: %s",
		    krx_strerror(r));
		return -1;
	}
	s->held_resp = j;
	krx_reader_enable(&s->rd_upstream, 0);
	return 1;
}
