/*
 * filter_fetch.c: Fetch and ShareFetch responses on a virtual cluster
 * with record_encryption. Every partition's records are scanned for the
 * encryption header; the DEKs of their EDEKs come from the key client
 * (worker LRU, shared LMDB cache, then keysvc); batches holding
 * encrypted records are rebuilt in clear, every other byte of the
 * response is spliced through unchanged. A partition whose KEK is gone
 * gets RESOURCE_NOT_FOUND (91) and no records, with a log line naming
 * topic-partition and KEK; one whose keys cannot be had now gets the
 * retriable KAFKA_STORAGE_ERROR (56); values that do not authenticate
 * give CORRUPT_MESSAGE (2). The connection stays open.
 *
 * While a response waits for keys, the session reads no further
 * response from the broker (later ones queue behind it anyway).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common/log.h"
#include "common/stats.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "crypto/localkms.h"
#include "crypto/recenc.h"
#include "master/master.h"
#include "proto/kafka_msg.h"
#include "worker/keyclient.h"
#include "worker/session.h"
#include "worker/topicmap.h"

#define FJ_MAX_DECOMPRESSED	(256 * 1024 * 1024)
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
	const uint8_t		*last_edek;	/* skip repeats */
	size_t			 last_len;
	unsigned		 pending;
	uint64_t		 records;
	struct fj_fail		*fails;
	size_t			 nfails;
};

static struct krx_recenc_scratch	fj_scratch;
static int				fj_scratch_ready;

void
krx_filter_fetch_free(struct krx_fjob *j)
{
	size_t	 i;

	if (j == NULL)
		return;
	krx_keyclient_cancel(j->s->w->kc, j);
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

	if (j->last_edek != NULL && j->last_len == len &&
	    memcmp(j->last_edek, edek, len) == 0)
		return KRX_OK;
	j->last_edek = edek;
	j->last_len = len;
	if ((st = fj_failed(j, edek, len)) != KRX_KEY_OK) {
		fj_answer(j, j->cur, st, edek, len);
		return KRX_OK;
	}
	if (krx_keyclient_aead(j->s->w->kc, j->s->vc, edek, len) != NULL)
		return KRX_OK;
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

	if ((aead = krx_keyclient_aead(kc, j->s->vc, edek, len)) != NULL)
		return aead;
	if ((st = fj_failed(j, edek, len)) != KRX_KEY_OK) {
		fj_answer(j, j->cur, st, edek, len);
		return NULL;
	}
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

	for (i = 0; i < j->resp.nparts; i++) {
		p = &j->resp.parts[i];
		fp = &j->parts[i];
		krx_buf_reset(&fp->out);
		fp->encrypted = fp->decrypted = 0;
		fp->status = KRX_KEY_OK;
		fp->bad_edek = NULL;
		if (p->records == NULL || p->records_len <= 0)
			continue;
		j->cur = i;
		r = krx_recdec_decrypt(p->records, (size_t)p->records_len,
		    fj_dek, j, &fj_scratch, &fp->out);
		if (r == KRX_OK) {
			fp->encrypted = fp->decrypted = fj_scratch.decrypted;
			continue;
		}
		fp->encrypted = 1;
		if (r == KRX_E_NOTFOUND && fp->status == KRX_KEY_OK) {
			j->last_edek = NULL;
			krx_recdec_scan(p->records, (size_t)p->records_len,
			    fj_edek, j, &fj_scratch, &n);
		} else if (r != KRX_E_NOTFOUND)
			fj_answer(j, i, KRX_KEY_INVALID, NULL, 0);
	}
	return j->pending == 0;
}

static void
fj_log_error(struct krx_fjob *j, size_t i, int16_t err)
{
	const struct krx_fetch_part	*p = &j->resp.parts[i];
	const struct krx_fetch_topic	*t = &j->resp.topics[p->topic];
	const uint8_t			*kek = NULL;
	char				 topic[KRX_TOPIC_NAME_MAX + 1];
	size_t				 klen = 0, tlen;
	uint32_t			 version = 0;

	if (t->name != NULL)
		snprintf(topic, sizeof(topic), "%.*s", (int)t->name_len,
		    (const char *)t->name);
	else if (krx_topicmap_get(j->s->w->m->topicmap, t->topic_id, topic,
	    &tlen) != KRX_OK)
		snprintf(topic, sizeof(topic), "(topic id unknown to krx)");
	if (j->parts[i].bad_edek != NULL)
		krx_localkms_edek_parse(j->parts[i].bad_edek,
		    j->parts[i].bad_len, &kek, &klen, &version);
	log_warnx("conn=%llu client=%s: cannot decrypt records of %s-%d "
	    "(KEK %.*s version %u): %s; answering error %d for that "
	    "partition with its records removed", (unsigned long long)j->s->id,
	    j->s->client_addr, topic, p->index, (int)klen,
	    kek ? (const char *)kek : "?", version,
	    j->parts[i].status == KRX_KEY_NOT_FOUND ? "KEK not found" :
	    j->parts[i].status == KRX_KEY_UNAVAILABLE ? "key service or KMS "
	    "unavailable" : "records do not authenticate or are malformed",
	    err);
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

/* The response body with partitions decrypted or failed, into out. */
static int
fj_build(struct krx_fjob *j, struct krx_buf *out)
{
	struct krx_splice	*sp;
	struct krx_buf		*fields;
	size_t			 i, n = 0;
	int			 r, flex = j->resp.api_key != KRX_API_FETCH ||
				    j->resp.version >= 12;
	int16_t			*errs;

	sp = xcalloc(3 * j->resp.nparts + 1, sizeof(*sp));
	fields = xcalloc(j->resp.nparts + 1, sizeof(*fields));
	errs = xcalloc(j->resp.nparts + 1, sizeof(*errs));
	for (i = 0; i < j->resp.nparts; i++) {
		if (j->parts[i].encrypted == 0)
			continue;
		if (j->parts[i].status == KRX_KEY_OK &&
		    j->parts[i].out.len > INT32_MAX)
			j->parts[i].status = KRX_KEY_INVALID;
		if (j->parts[i].status == KRX_KEY_OK) {
			/* New length prefix, then the records, no copy. */
			krx_kafka_records_prefix(&fields[i], flex,
			    j->parts[i].out.len);
			sp[n].off = j->resp.parts[i].field_off;
			sp[n].len = j->resp.parts[i].field_len;
			sp[n].data = fields[i].data;
			sp[n++].data_len = fields[i].len;
			sp[n].off = j->resp.parts[i].field_off +
			    j->resp.parts[i].field_len;
			sp[n].data = j->parts[i].out.data;
			sp[n++].data_len = j->parts[i].out.len;
			j->records += j->parts[i].decrypted;
			continue;
		} else {
			errs[i] = (int16_t)htons((uint16_t)fj_error_code(
			    j->parts[i].status));
			fj_log_error(j, i, fj_error_code(j->parts[i].status));
			sp[n].off = j->resp.parts[i].error_off;
			sp[n].len = 2;
			sp[n].data = (const uint8_t *)&errs[i];
			sp[n++].data_len = 2;
			krx_buf_reset(&fields[i]);
			krx_kafka_records_field(&fields[i], flex,
			    (const uint8_t *)"", 0);
		}
		sp[n].off = j->resp.parts[i].field_off;
		sp[n].len = j->resp.parts[i].field_len;
		sp[n].data = fields[i].data;
		sp[n++].data_len = fields[i].len;
	}
	r = krx_kafka_splice(j->frame + j->hlen, j->size - j->hlen, sp, n,
	    out);
	for (i = 0; i < j->resp.nparts; i++)
		krx_buf_free(&fields[i]);
	free(fields);
	free(sp);
	free(errs);
	return r;
}

/* Write the response (header with the client's id, then body) to dst. */
static int
fj_emit(struct krx_fjob *j, struct krx_buf *body, struct evbuffer *dst)
{
	struct krx_buf	 ep;
	struct krx_buf	*b = body;
	uint32_t	 be;
	int		 r = KRX_OK;

	krx_buf_init(&ep, 0);
	if (krx_kafka_has_endpoints(j->f->api_key, j->f->api_version)) {
		r = krx_kafka_rewrite_endpoints(j->f->api_key,
		    j->f->api_version, body->data, body->len,
		    krx_rewrite_learn, j->s, &ep);
		if (r == 1)
			b = &ep;
	}
	if (r >= 0) {
		be = htonl((uint32_t)(j->hlen + b->len));
		evbuffer_add(dst, &be, 4);
		be = htonl((uint32_t)j->f->client_corr);
		evbuffer_add(dst, &be, 4);
		evbuffer_add(dst, j->frame + 4, j->hlen - 4);
		krx_evbuffer_give(dst, b);
		krx_stats_add(j->s->w->m->stats, j->s->w->slot,
		    KRX_STAT_RECORDS_DECRYPTED, (int64_t)j->records);
	}
	krx_buf_free(&ep);
	return r < 0 ? r : KRX_OK;
}

/* All keys at hand: build and write. Frees j; -1: s was closed. */
static int
fj_finish(struct krx_fjob *j, struct evbuffer *dst)
{
	struct krx_session	*s = j->s;
	struct krx_buf		 body;
	int16_t			 key = j->f->api_key, ver = j->f->api_version;
	int			 r;

	krx_buf_init(&body, j->size);
	if ((r = fj_build(j, &body)) == KRX_OK)
		r = fj_emit(j, &body, dst);
	krx_buf_free(&body);
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

	if (!fj_run(j))
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
		if (j->parts[i].encrypted > 0)
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
		krx_recenc_scratch_init(&fj_scratch, FJ_MAX_DECOMPRESSED);
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
	if (fj_run(j)) {
		if (!fj_any_encrypted(j)) {
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
	bufferevent_disable(s->upstream, EV_READ);
	return 1;
}
