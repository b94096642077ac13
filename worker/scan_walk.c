/*
 * scan_walk.c: one Fetch response of a scan, walked twice. First every
 * record's EDEK is looked up in the scan's table; new ones are asked of
 * the key service (the worker's key client: its DEK cache first, so one
 * KMS call per distinct EDEK at most), at most SCAN_MAX_ASK waiting at
 * once. Once every EDEK has an answer, the second walk classifies each
 * record from the partition's next offset up to its latest: plain
 * records and records whose EDEK opens are good; NOT_FOUND (KEK gone)
 * and INVALID (the KEK under that name does not open it: deleted and
 * made again) are undecryptable, and so is a record whose wrapper
 * cannot be read. An answer of UNAVAILABLE or DENIED fails the
 * partition instead: the KMS being down or refusing is never a reason
 * to delete records. Values are never decrypted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/hash.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "crypto/edek_name.h"
#include "crypto/wrapper.h"
#include "proto/kafka.h"
#include "proto/kafka_msg.h"
#include "proto/record.h"
#include "worker/keyclient.h"
#include "worker/scan_int.h"
#include "worker/session.h"

/* What the walk does with each encrypted record. */
enum walk_mode {
	WALK_ASK = 0,
	WALK_CLASSIFY
};

static struct scan_edek *
edek_find(struct krx_scan *sc, const uint8_t *edek, size_t len, int add)
{
	uint32_t		 h = krx_hash_fnv1a(0, edek, len);
	size_t			 i = h & (SCAN_EDEK_SLOTS - 1);
	struct scan_edek	*e;

	for (;; i = (i + 1) & (SCAN_EDEK_SLOTS - 1)) {
		e = &sc->tab[i];
		if (e->edek == NULL)
			break;
		if (e->hash == h && e->len == len &&
		    memcmp(e->edek, edek, len) == 0)
			return e;
	}
	if (!add || sc->tabn >= SCAN_EDEK_MAX)
		return NULL;
	e->edek = xmalloc(len);
	memcpy(e->edek, edek, len);
	e->len = len;
	e->hash = h;
	e->status = SCAN_E_PENDING;
	sc->tabn++;
	return e;
}

void
scan_edek_free(struct krx_scan *sc)
{
	size_t	 i;

	if (sc->tab == NULL)
		return;
	for (i = 0; i < SCAN_EDEK_SLOTS; i++) {
		free(sc->tab[i].edek);
		sc->tab[i].edek = NULL;
	}
	sc->tabn = 0;
}

static void
walk_answer(void *arg, const struct krx_key_answer *a)
{
	struct krx_scan		*sc = arg;
	struct scan_edek	*e;

	if ((e = edek_find(sc, a->edek, a->edek_len, 0)) != NULL)
		e->status = (uint8_t)a->status;
	if (a->status == KRX_KEY_UNAVAILABLE || a->status == KRX_KEY_DENIED)
		sc->unavailable = (int)a->status;
	if (sc->pending > 0 && --sc->pending == 0)
		scan_keys_done(sc);
}

/* Ask about an EDEK not known yet; 1 when it still lacks an answer. */
static int
walk_ask(struct krx_scan *sc, const uint8_t *edek, size_t len)
{
	struct krx_key_answer	 a;
	struct scan_edek	*e = edek_find(sc, edek, len, 0);

	if (e != NULL && e->status != SCAN_E_PENDING &&
	    e->status != KRX_KEY_UNAVAILABLE && e->status != KRX_KEY_DENIED)
		return 0;
	if (e != NULL && e->status == SCAN_E_PENDING)
		return 1;
	if (sc->unavailable || sc->pending >= SCAN_MAX_ASK)
		return 1;
	if (e == NULL && (e = edek_find(sc, edek, len, 1)) == NULL)
		return 1;	/* table full */
	e->status = SCAN_E_PENDING;
	sc->pending++;
	if (krx_keyclient_decrypt(sc->w->kc, sc->vc, edek, len, walk_answer,
	    sc, &a) == 1) {
		sc->pending--;
		e->status = (uint8_t)a.status;
		if (a.status == KRX_KEY_UNAVAILABLE ||
		    a.status == KRX_KEY_DENIED)
			sc->unavailable = (int)a.status;
		return 0;
	}
	return 1;
}

static void
walk_bad(struct krx_scan *sc, struct scan_part *p, int64_t off, int reason,
    const uint8_t *edek, size_t len)
{
	struct scan_range	*r;
	char			 kek[SCAN_KEK_NAME];

	if (edek != NULL)
		krx_edek_kek_name(krx_keyclient_edek_form(
		    &sc->w->conf->vclusters[sc->vc].enc.kms_conf), edek, len,
		    kek, sizeof(kek));
	else
		snprintf(kek, sizeof(kek), "?");
	p->bad++;
	p->last_bad = off;
	r = p->nranges > 0 ? &p->ranges[p->nranges - 1] : NULL;
	if (r != NULL && !p->good_since && r->reason == reason &&
	    strcmp(r->kek, kek) == 0) {
		r->to = off;
		return;
	}
	p->good_since = 0;
	if (p->nranges == SCAN_MAX_RANGES) {
		p->truncated = 1;
		return;
	}
	if (p->nranges == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 8;
		p->ranges = xreallocarray(p->ranges, p->cap,
		    sizeof(*p->ranges));
	}
	r = &p->ranges[p->nranges++];
	r->from = r->to = off;
	r->reason = (uint8_t)reason;
	memcpy(r->kek, kek, sizeof(kek));
}

/*
 * The wrapper of rec: 1 with *w (encrypted), 0 for a plain record, or
 * -1 for an encryption header whose wrapper cannot be read.
 */
static int
walk_wrapper(const struct krx_record *rec, struct krx_wrapper *w)
{
	struct krx_header_iter	 hi;
	struct krx_header	 h;
	int			 r;

	if (rec->value_len < 0)
		return 0;	/* a tombstone: nothing encrypted */
	krx_header_iter_init(&hi, rec);
	while ((r = krx_header_next(&hi, &h)) == 1) {
		if (h.key_len != KRX_WRAPPER_HDR_KEY_LEN || memcmp(h.key,
		    KRX_WRAPPER_HDR_KEY, KRX_WRAPPER_HDR_KEY_LEN) != 0)
			continue;
		if (krx_wrapper_version(h.value, h.value_len < 0 ? 0 :
		    (size_t)h.value_len) != KRX_WRAPPER_VERSION)
			return -1;
		return krx_wrapper_parse(rec->value, (size_t)rec->value_len,
		    w) == KRX_OK ? 1 : -1;
	}
	return r == 0 ? 0 : -1;
}

/* One record at offset off; 1 when its EDEK still lacks an answer. */
static int
walk_record(struct krx_scan *sc, struct scan_part *p, int mode,
    const struct krx_record *rec, int64_t off)
{
	struct krx_wrapper	 w;
	struct scan_edek	*e;
	int			 r = walk_wrapper(rec, &w);

	if (mode == WALK_ASK)
		return r == 1 ? walk_ask(sc, w.edek, w.edek_len) : 0;
	p->records++;
	if (r == 0) {
		p->good_since = 1;
		return 0;
	}
	p->encrypted++;
	if (r < 0) {
		walk_bad(sc, p, off, SCAN_R_MALFORMED, NULL, 0);
		return 0;
	}
	e = edek_find(sc, w.edek, w.edek_len, 0);
	if (e != NULL && e->status == KRX_KEY_OK)
		p->good_since = 1;
	else if (e != NULL && e->status == KRX_KEY_NOT_FOUND)
		walk_bad(sc, p, off, SCAN_R_NOT_FOUND, w.edek, w.edek_len);
	else if (e != NULL && e->status == KRX_KEY_INVALID)
		walk_bad(sc, p, off, SCAN_R_INVALID, w.edek, w.edek_len);
	else
		return 1;	/* not asked (table full): cannot happen */
	return 0;
}

/* The records of one batch; *missing counts EDEKs without answers. */
static int
walk_batch(struct krx_scan *sc, struct scan_part *p, int mode,
    const struct krx_batch *b, size_t *missing)
{
	struct krx_record_iter	 ri;
	struct krx_record	 rec;
	const uint8_t		*rp;
	size_t			 rn;
	int64_t			 off;
	int			 r;

	krx_buf_reset(&sc->scratch);
	if ((r = krx_batch_records(b, sc->w->z, &sc->scratch, SCAN_BATCH_MAX,
	    &rp, &rn)) != KRX_OK)
		return r;
	krx_record_iter_init(&ri, rp, rn, b->records_count);
	while ((r = krx_record_next(&ri, &rec)) == 1) {
		off = b->base_offset + rec.offset_delta;
		if (off < p->next || off >= p->latest)
			continue;
		*missing += (size_t)walk_record(sc, p, mode, &rec, off);
	}
	return r;
}

/* Every batch of the records field; KRX_OK or a krx_err. */
static int
walk_records(struct krx_scan *sc, struct scan_part *p, int mode,
    const uint8_t *recs, size_t len, size_t *missing)
{
	struct krx_batch_iter	 bi;
	struct krx_batch	 b;
	int64_t			 last, next = p->next;
	int			 r;

	krx_batch_iter_init(&bi, recs, len);
	while ((r = krx_batch_next(&bi, &b)) == KRX_BATCH_OK) {
		last = b.base_offset + (b.legacy ? 0 : b.last_offset_delta);
		if (last < p->next)
			continue;
		if (!b.legacy && !(b.attributes & KRX_BATCH_ATTR_CONTROL) &&
		    b.records_count > 0 &&
		    (r = walk_batch(sc, p, mode, &b, missing)) != KRX_OK)
			return r;
		if (b.legacy && mode == WALK_CLASSIFY)
			p->good_since = 1;	/* magic 0/1: never ours */
		if (last + 1 > next)
			next = last + 1;
	}
	if (r < 0)
		return r;
	if (mode == WALK_CLASSIFY)
		p->next = next;
	return KRX_OK;
}

/* The partition's part of the response, or NULL (partition failed). */
static const struct krx_fetch_part *
walk_find(struct krx_scan *sc, struct scan_part *p,
    const struct krx_fetch_resp *resp)
{
	size_t	 i;

	if (resp->error_code != 0) {
		scan_part_fail(sc, "Fetch answered error %d", resp->error_code);
		return NULL;
	}
	for (i = 0; i < resp->nparts; i++)
		if (resp->parts[i].index == p->index)
			break;
	if (i == resp->nparts) {
		scan_part_fail(sc, "the Fetch response lacks the partition");
		return NULL;
	}
	if (resp->parts[i].error_code != 0) {
		scan_part_fail(sc, "Fetch answered error %d%s",
		    resp->parts[i].error_code, resp->parts[i].error_code == 1 ?
		    " (offset out of range: the log start moved; scan again)" :
		    resp->parts[i].error_code == 6 ? " (the leader moved; "
		    "scan again)" : "");
		return NULL;
	}
	return &resp->parts[i];
}

/* Ask for what is missing: 1 all answered, 0 waiting, -1 failed. */
static int
walk_ask_all(struct krx_scan *sc, struct scan_part *p,
    const struct krx_fetch_part *fp)
{
	size_t	 missing;
	int	 r;

	for (;;) {
		missing = 0;
		if ((r = walk_records(sc, p, WALK_ASK, fp->records,
		    (size_t)fp->records_len, &missing)) != KRX_OK) {
			scan_part_fail(sc, "records from offset %lld cannot be "
			    "read: %s", (long long)p->next, krx_strerror(r));
			return -1;
		}
		if (sc->pending > 0)
			return 0;
		if (sc->unavailable) {
			scan_part_fail(sc, "%s: cannot tell which records "
			    "decrypt (never delete records for this; scan "
			    "again once the KMS answers)", sc->unavailable ==
			    KRX_KEY_DENIED ? "the KMS refused to decrypt an "
			    "EDEK (permissions?)" : "the key service or KMS "
			    "is unavailable");
			sc->unavailable = 0;
			return -1;
		}
		if (missing == 0)
			return 1;
		if (++sc->clears > 4) {
			scan_part_fail(sc, "too many distinct EDEKs in one "
			    "Fetch response");
			return -1;
		}
		scan_edek_free(sc);	/* full: the key client still caches */
	}
}

int
scan_walk(struct krx_scan *sc)
{
	struct scan_part		*p = &sc->parts[sc->cur];
	struct krx_fetch_resp		 resp;
	const struct krx_fetch_part	*fp;
	size_t				 missing = 0;
	int				 r;

	if ((r = krx_kafka_fetch_parse(sc->resp.data, sc->resp.len,
	    KRX_API_FETCH, KRX_SCAN_FETCH_VERSION, &resp)) != KRX_OK) {
		scan_part_fail(sc, "bad Fetch response: %s", krx_strerror(r));
		return -1;
	}
	if ((fp = walk_find(sc, p, &resp)) == NULL) {
		krx_fetch_resp_free(&resp);
		return -1;
	}
	if (fp->records_len <= 0) {
		krx_fetch_resp_free(&resp);
		scan_part_fail(sc, "no records at offset %lld, below the "
		    "latest offset %lld", (long long)p->next,
		    (long long)p->latest);
		return -1;
	}
	if ((r = walk_ask_all(sc, p, fp)) == 1)
		r = walk_records(sc, p, WALK_CLASSIFY, fp->records,
		    (size_t)fp->records_len, &missing) == KRX_OK ? 1 : -1;
	krx_fetch_resp_free(&resp);
	return r;
}
