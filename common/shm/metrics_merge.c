/*
 * metrics_merge.c: summing the workers' rows (see metrics_merge.h). A
 * row is written by a live worker while it is read: each value is one
 * relaxed load, names only once their slot is published (acquire).
 */
#include <stdlib.h>
#include <string.h>

#include "common/shm/metrics_merge.h"

int
krx_metrics_topic_ok(const char *s, size_t max)
{
	size_t	 i;

	for (i = 0; i < max && s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '.' ||
		    s[i] == '_' || s[i] == '-'))
			return 0;
	return i > 0 && i < max && i <= 249;
}

int
krx_mm_name_ok(const char *s, size_t max)
{
	size_t	 i;

	for (i = 0; i < max && s[i] != '\0'; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	return i > 0 && i < max;
}

void
krx_mm_hist_add(struct mm_hist *out, const struct krx_mhist *in)
{
	int	 i;

	for (i = 0; i < KRX_M_BUCKETS; i++)
		out->b[i] += krx_m_get(&in->b[i]);
	out->count += krx_m_get(&in->count);
	out->sum_us += krx_m_get(&in->sum_us);
}

/* A copy of a published name from shared memory, or -1. */
static int
mm_name(char *out, const _Atomic uint32_t *used, const char *name,
    int topic)
{
	if (atomic_load_explicit(used, memory_order_acquire) == 0)
		return -1;
	memcpy(out, name, KRX_M_NAME);
	out[KRX_M_NAME - 1] = '\0';
	if (topic ? !krx_metrics_topic_ok(out, KRX_M_NAME) :
	    !krx_mm_name_ok(out, KRX_M_NAME))
		return -1;
	return 0;
}

/* The merged virtual cluster named name, added if there is room. */
static struct mm_vc *
mm_vc_get(struct mm *m, const char *name)
{
	struct mm_vc	*v;
	size_t		 i;

	for (i = 0; i < m->n_vc; i++)
		if (strcmp(m->vc[i].name, name) == 0)
			return &m->vc[i];
	if (m->n_vc == KRX_METRICS_VCS)
		return NULL;
	v = &m->vc[m->n_vc];
	if ((v->topics = calloc(KRX_METRICS_TOPICS, sizeof(*v->topics))) ==
	    NULL)
		return NULL;
	m->n_vc++;
	strcpy(v->name, name);
	return v;
}

static void
mm_vc_add(struct mm_vc *v, const struct krx_mvc *in)
{
	int	 i;

	for (i = 0; i < KRX_MVC_N; i++)
		v->c[i] += krx_m_get(&in->c[i]);
	v->other_enc += krx_m_get(&in->other_enc);
	v->other_plain += krx_m_get(&in->other_plain);
	for (i = 0; i < KRX_M_APIS; i++) {
		v->req[i] += krx_m_get(&in->req[i]);
		v->resp[i] += krx_m_get(&in->resp[i]);
		v->up_req[i] += krx_m_get(&in->up_req[i]);
		v->up_resp[i] += krx_m_get(&in->up_resp[i]);
		if (krx_m_get(&in->lat[i].count) != 0)
			krx_mm_hist_add(&v->lat[i], &in->lat[i]);
	}
}

static void
mm_topic_add(struct mm_vc *v, const char *name, uint64_t enc,
    uint64_t plain)
{
	size_t	 i;

	for (i = 0; i < v->n_topics; i++)
		if (strcmp(v->topics[i].name, name) == 0)
			break;
	if (i == v->n_topics) {
		if (v->n_topics == KRX_METRICS_TOPICS ||
		    strcmp(name, "other") == 0) {
			v->other_enc += enc;
			v->other_plain += plain;
			return;
		}
		strcpy(v->topics[v->n_topics++].name, name);
	}
	v->topics[i].enc += enc;
	v->topics[i].plain += plain;
}

/* One worker row: its virtual clusters (by slot), then its topics. */
static void
mm_row(struct mm *m, const struct krx_mrow *r)
{
	struct mm_vc	*slot[KRX_M_VCS];
	char		 name[KRX_M_NAME];
	unsigned	 i, u;

	for (i = 0; i < KRX_M_VCS; i++) {
		slot[i] = NULL;
		if (mm_name(name, &r->vc[i].used, r->vc[i].name, 0) != 0)
			break;		/* slots are taken in order */
		/* Past KRX_METRICS_VCS clusters: not listed. */
		if ((slot[i] = mm_vc_get(m, name)) != NULL)
			mm_vc_add(slot[i], &r->vc[i]);
	}
	for (i = 0; i < KRX_M_TOPICS; i++) {
		if (mm_name(name, &r->topic[i].used, r->topic[i].name, 1) != 0)
			break;
		u = atomic_load_explicit(&r->topic[i].used,
		    memory_order_relaxed) - 1;
		if (u < KRX_M_VCS && slot[u] != NULL)
			mm_topic_add(slot[u], name,
			    krx_m_get(&r->topic[i].enc),
			    krx_m_get(&r->topic[i].plain));
	}
}

int
krx_mm_merge(struct mm *m, const struct krx_metrics_src *src)
{
	size_t	 i;

	for (i = 0; i < src->n_vc; i++)
		if (src->vc_names[i] != NULL &&
		    krx_mm_name_ok(src->vc_names[i], KRX_M_NAME) &&
		    mm_vc_get(m, src->vc_names[i]) == NULL &&
		    m->n_vc < KRX_METRICS_VCS)
			return KRX_E_NOMEM;
	if (src->rows == NULL)
		return KRX_OK;
	for (i = 0; i < KRX_MAX_ROWS; i++)
		if (atomic_load_explicit(&src->rows->used[i],
		    memory_order_acquire) != 0)
			mm_row(m, &src->rows->row[i]);
	return KRX_OK;
}

void
krx_mm_free(struct mm *m)
{
	size_t	 i;

	for (i = 0; i < m->n_vc; i++)
		free(m->vc[i].topics);
	m->n_vc = 0;
}
