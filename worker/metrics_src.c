/*
 * metrics_src.c: a worker's counters row and its /metrics source (see
 * wmetrics.h). One worker per process: the row binding is this file's
 * state. The row may hold what earlier workers of this row counted: its
 * virtual cluster and topic slots are adopted by name, so that counters
 * only ever grow. Program grade.
 */
#include <string.h>

#include "common/cycle.h"
#include "common/shm/metrics.h"
#include "common/shm/mstats.h"
#include "conf/conf.h"
#include "proto/record.h"
#include "worker/session.h"
#include "worker/wmetrics.h"

static struct {
	struct krx_mrow		*row;
	struct krx_mvc		*vc[KRX_METRICS_VCS];	/* by conf index */
	size_t			 n_vc;
	unsigned		 n_topics;	/* slots taken in row */
	const char		*names[KRX_METRICS_VCS];
} wm;

/* The row's slot for name: adopted, or the first free one; -1: none. */
static int
wm_vc_slot(struct krx_mrow *r, const char *name)
{
	int	 i;

	if (strlen(name) >= KRX_M_NAME)
		return -1;
	for (i = 0; i < KRX_M_VCS; i++) {
		if (atomic_load_explicit(&r->vc[i].used,
		    memory_order_acquire) == 0) {
			strcpy(r->vc[i].name, name);
			atomic_store_explicit(&r->vc[i].used, 1,
			    memory_order_release);
			return i;
		}
		if (strncmp(r->vc[i].name, name, KRX_M_NAME) == 0)
			return i;
	}
	return -1;
}

void
krx_worker_metrics_init(struct krx_worker *w)
{
	struct krx_mshm	*m = w->cy->mshm;
	size_t		 i;
	int		 s;

	if (m == NULL || m->rows == NULL || w->slot < 0 ||
	    w->slot >= KRX_MAX_ROWS)
		return;
	wm.row = &m->rows->row[w->slot];
	for (i = 0; i < w->conf->n_vclusters && i < KRX_METRICS_VCS; i++) {
		wm.names[i] = w->conf->vclusters[i].name;
		if ((s = wm_vc_slot(wm.row, wm.names[i])) >= 0)
			wm.vc[i] = &wm.row->vc[s];
	}
	wm.n_vc = i;
	while (wm.n_topics < KRX_M_TOPICS && atomic_load_explicit(
	    &wm.row->topic[wm.n_topics].used, memory_order_acquire) != 0)
		wm.n_topics++;
	atomic_store_explicit(&m->rows->used[w->slot], 1,
	    memory_order_release);
}

struct krx_mvc *
krx_wm_vc(size_t vc)
{
	return vc < wm.n_vc ? wm.vc[vc] : NULL;
}

void
krx_wm_add(size_t vc, enum krx_mvc_ctr c, int64_t n)
{
	struct krx_mvc	*v = krx_wm_vc(vc);

	if (v != NULL)
		krx_m_add(&v->c[c], (uint64_t)n);
}

void
krx_wm_request(size_t vc, int api_key, size_t bytes)
{
	struct krx_mvc	*v = krx_wm_vc(vc);

	if (v == NULL)
		return;
	krx_m_add(&v->c[KRX_MVC_BYTES_IN], bytes);
	if (api_key >= 0 && api_key < KRX_M_APIS)
		krx_m_add(&v->req[api_key], 1);
}

void
krx_wm_upstream(size_t vc, int api_key, int to)
{
	struct krx_mvc	*v = krx_wm_vc(vc);

	if (v != NULL && api_key >= 0 && api_key < KRX_M_APIS)
		krx_m_add(to ? &v->up_req[api_key] : &v->up_resp[api_key], 1);
}

void
krx_wm_response(size_t vc, int api_key, uint64_t t0)
{
	struct krx_mvc	*v = krx_wm_vc(vc);
	uint64_t	 now;

	if (v == NULL || api_key < 0 || api_key >= KRX_M_APIS)
		return;
	krx_m_add(&v->resp[api_key], 1);
	if (t0 != 0 && (now = krx_m_now_us()) >= t0)
		krx_mhist_observe(&v->lat[api_key], now - t0);
}

/* vc's slot of topic name, taken if there is room; NULL: "other". */
static struct krx_mtopic *
wm_topic(size_t vc, const char *name, size_t len)
{
	struct krx_mtopic	*t;
	unsigned		 i, u = (unsigned)(krx_wm_vc(vc) - wm.row->vc) +
	    1;

	if (len == 0 || len >= KRX_M_NAME)
		return NULL;
	for (i = 0; i < wm.n_topics; i++) {
		t = &wm.row->topic[i];
		if (atomic_load_explicit(&t->used, memory_order_relaxed) ==
		    u && strncmp(t->name, name, len) == 0 &&
		    t->name[len] == '\0')
			return t;
	}
	if (wm.n_topics == KRX_M_TOPICS)
		return NULL;
	t = &wm.row->topic[wm.n_topics++];
	memcpy(t->name, name, len);
	t->name[len] = '\0';
	atomic_store_explicit(&t->used, u, memory_order_release);
	return t;
}

void
krx_wm_topic(size_t vc, const char *name, size_t len, uint64_t enc,
    uint64_t plain)
{
	struct krx_mvc		*v = krx_wm_vc(vc);
	struct krx_mtopic	*t;

	if (v == NULL || (enc == 0 && plain == 0))
		return;
	if ((t = wm_topic(vc, name, len)) == NULL) {
		krx_m_add(&v->other_enc, enc);
		krx_m_add(&v->other_plain, plain);
		return;
	}
	krx_m_add(&t->enc, enc);
	krx_m_add(&t->plain, plain);
}

/* The records the v2 batches of a records field say they hold. */
uint64_t
krx_wm_batch_records(const uint8_t *p, size_t len)
{
	struct krx_batch_iter	 it;
	struct krx_batch	 b;
	uint64_t		 n = 0;

	krx_batch_iter_init(&it, p, len);
	while (krx_batch_next(&it, &b) == KRX_BATCH_OK)
		if (!b.legacy && b.records_count > 0)
			n += (uint64_t)b.records_count;
	return n;
}

void
krx_worker_metrics_src(const struct krx_worker *w,
    struct krx_metrics_src *out)
{
	struct krx_mshm	*m = w->cy->mshm;

	memset(out, 0, sizeof(*out));
	out->stats = w->cy->stats;
	out->vc_names = wm.names;
	out->n_vc = wm.n_vc;
	if (m == NULL)
		return;
	out->rows = m->rows;
	out->ks[0] = m->ks[0];
	out->ks[1] = m->ks[1];
	out->status = m->status;
}
