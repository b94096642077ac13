/*
 * mstatus.c: the master's side of the metrics (issue 13): it makes the
 * metrics regions (common/shm/mstats.h) before the first fork, writes
 * the status region (generation, reloads, children) when a child starts
 * or ends and when a reload ends (nothing else changes it), zeroes a
 * dead worker's gauges, and answers `krx-ctl metrics` with the same
 * renderer the workers serve /metrics with. Program grade.
 */
#include <string.h>
#include <time.h>

#include <event2/bufferevent.h>
#include <event2/buffer.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/shm/metrics.h"
#include "common/shm/mstats.h"
#include "conf/conf.h"
#include "master/master.h"
#include "master/mstatus.h"

void
krx_mstatus_init(struct krx_master *m, const char *version)
{
	if ((m->mshm = krx_mshm_create()) == NULL) {
		log_warn("cannot make the metrics regions; no metrics");
		return;
	}
	snprintf(m->mshm->status->version, sizeof(m->mshm->status->version),
	    "%s", version);
	m->mshm->status->started = (int64_t)time(NULL);
}

static void
mstatus_proc(struct krx_mproc *p, const struct krx_slot *s,
    enum krx_mproc_kind kind, uint32_t generation)
{
	p->kind = kind;
	p->slot = (uint32_t)s->slot;
	p->generation = generation;
	p->pid = s->pid > 0 ? (int32_t)s->pid : 0;
	p->state = (uint32_t)s->state;
	p->restarts = s->restarts;
}

void
krx_mstatus_sync(struct krx_master *m)
{
	struct krx_mstatus	*st;
	struct krx_gen		*g;
	int			 i;

	if (m->mshm == NULL)
		return;
	st = m->mshm->status;
	atomic_fetch_add_explicit(&st->seq, 1, memory_order_acq_rel);
	st->generation = m->cy != NULL ? m->cy->generation : 0;
	memset(st->proc, 0, sizeof(st->proc));
	for (g = m->gens; g < m->gens + 2; g++)
		for (i = 0; g->cy != NULL && i < g->n_workers; i++)
			mstatus_proc(&st->proc[g->slots[i].row], &g->slots[i],
			    KRX_MPROC_WORKER, g->cy->generation);
	for (i = 0; i < 2; i++)
		if (m->ks[i].master != NULL)
			mstatus_proc(&st->proc[KRX_MAX_ROWS + i], &m->ks[i],
			    KRX_MPROC_KEYSVC, m->cy->generation);
	atomic_fetch_add_explicit(&st->seq, 1, memory_order_release);
}

void
krx_mstatus_reload(struct krx_master *m, int failed)
{
	if (m->mshm == NULL)
		return;
	if (failed)
		m->mshm->status->reloads_failed++;
	else
		m->mshm->status->reloads_ok++;
	krx_mstatus_sync(m);
}

void
krx_mstatus_child_gone(struct krx_master *m, const struct krx_slot *s)
{
	struct krx_mrow	*r;
	int		 i;

	if (m->mshm == NULL || s->kind != KRX_KIND_WORKER || s->row < 0 ||
	    s->row >= KRX_MAX_ROWS)
		return;
	/* A killed worker could not count its connections down. */
	r = &m->mshm->rows->row[s->row];
	for (i = 0; i < KRX_M_VCS; i++) {
		atomic_store_explicit(&r->vc[i].c[KRX_MVC_CONN_ACTIVE], 0,
		    memory_order_relaxed);
		atomic_store_explicit(&r->vc[i].c[KRX_MVC_UP_ACTIVE], 0,
		    memory_order_relaxed);
	}
	krx_mstatus_sync(m);
}

int
krx_mstatus_keysvc_fd(const struct krx_master *m, const struct krx_slot *ks)
{
	int	 i = (int)(ks - m->ks);

	if (m->mshm == NULL || i < 0 || i > 1)
		return -1;
	return m->mshm->ks_fd[i];
}

void
krx_mstatus_src(const struct krx_master *m, struct krx_metrics_src *src,
    const char **names, size_t max)
{
	const struct krx_conf	*conf = m->cy->conf;
	size_t			 i;

	memset(src, 0, sizeof(*src));
	src->stats = m->stats;
	for (i = 0; i < conf->n_vclusters && i < max; i++)
		names[i] = conf->vclusters[i].name;
	src->vc_names = names;
	src->n_vc = i;
	if (m->mshm == NULL)
		return;
	src->rows = m->mshm->rows;
	src->ks[0] = m->mshm->ks[0];
	src->ks[1] = m->mshm->ks[1];
	src->status = m->mshm->status;
}

void
krx_mstatus_ctl_metrics(struct krx_master *m, struct bufferevent *bev,
    uint32_t id)
{
	struct krx_metrics_src	 src;
	const char		*names[KRX_METRICS_VCS];
	struct krx_buf		 b;
	const char		*why = NULL;

	krx_mstatus_sync(m);
	krx_mstatus_src(m, &src, names, KRX_METRICS_VCS);
	krx_buf_init(&b, 64 * 1024);
	if (krx_metrics_render(&src, &b) != KRX_OK)
		why = "out of memory";
	else if (b.len + KRX_IPC_HDR_LEN > KRX_IPC_MAX_CTL_REPLY)
		why = "the metrics text is over the reply limit";
	if (why != NULL)
		krx_ipc_send(bufferevent_get_output(bev), KRX_IPC_CTL_OK, id,
		    KRX_IPC_F_ERROR, why, strlen(why));
	else
		krx_ipc_send(bufferevent_get_output(bev), KRX_IPC_CTL_OK, id,
		    0, b.data, b.len);
	krx_buf_free(&b);
}
