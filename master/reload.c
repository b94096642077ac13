/*
 * reload.c: a new generation on SIGHUP or krx-ctl reload, after nginx's
 * cycle reload and HAProxy's master-worker. The file is loaded with
 * krxd -t's checks and what a reload cannot change is refused; on any
 * problem the serving generation stays and every problem is logged and
 * answered (FILE:LINE: text). Otherwise a new cycle takes the sockets
 * of the addresses it shares with the serving one (never closed, so no
 * connection attempt is refused) and binds the others, adopts the node
 * and topic maps when the virtual clusters are the same, and its
 * workers start on the other half of the rows (counters, keysvc slots).
 * When every one is READY it serves and the old generation drains
 * (KRX_IPC_DRAIN: requests in flight finish, each connection closes at
 * a request boundary, drain_timeout bounds it); if one is not READY
 * within reload_timeout, or exits first, the new generation is killed
 * and the old one keeps serving. Never more than two generations.
 * The key service stays when the KMS settings are the same; otherwise
 * the new generation gets a new one (ready before it serves), and the
 * old one is stopped with the old generation.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "common/log.h"
#include "conf/conf.h"
#include "master/master.h"
#include "master/notify.h"

struct krx_gen *
krx_reload_other(struct krx_master *m)
{
	struct krx_gen	*g = m->cur == &m->gens[0] ? &m->gens[1] : &m->gens[0];

	return g->state != KRX_GEN_EMPTY ? g : NULL;
}

/* Logged, and answered to the waiting krx-ctl (if any). */
static void
reload_answer(struct krx_master *m, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
reload_answer(struct krx_master *m, int err, const char *fmt, ...)
{
	char	 text[512];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (err)
		log_warnx("reload: %s", text);
	else
		log_info("reload: %s", text);
	krx_control_reload_done(m, err, text);
}

/* Every problem of the file, one a line, then what happened. */
static void
reload_refused(struct krx_master *m, const char *path,
    const struct krx_conf_errors *errs)
{
	char	 text[KRX_IPC_MAX_CTL / 2];
	size_t	 i, off = 0;
	int	 n;

	text[0] = '\0';
	for (i = 0; i < errs->n; i++) {
		log_warnx("reload: %s", errs->msg[i]);
		n = snprintf(text + off, sizeof(text) - off, "%s\n",
		    errs->msg[i]);
		if (n > 0 && (size_t)n < sizeof(text) - off)
			off += (size_t)n;
	}
	if (errs->dropped > 0) {
		n = snprintf(text + off, sizeof(text) - off, "%s: %zu more "
		    "errors not shown\n", path, errs->dropped);
		if (n > 0 && (size_t)n < sizeof(text) - off)
			off += (size_t)n;
	}
	snprintf(text + off, sizeof(text) - off, "krxd: configuration %s is "
	    "not valid; generation %u keeps serving", path,
	    m->cy->generation);
	log_warnx("reload: configuration %s is not valid; generation %u "
	    "keeps serving", path, m->cy->generation);
	krx_control_reload_done(m, 1, text);
	snprintf(text, sizeof(text), "configuration %s is not valid; "
	    "generation %u keeps serving", path, m->cy->generation);
	krx_notify_reload_failed(text);
}

/* The generation's keysvc, unless the serving one has it too. */
static void
reload_keysvc_retire(struct krx_master *m, struct krx_gen *g)
{
	if (g->keysvc != NULL && g->keysvc != m->cur->keysvc)
		krx_keysvc_retire(m, g->keysvc);
	g->keysvc = NULL;
}

/* The generation's processes are all gone: free what it alone has. */
static void
reload_release(struct krx_master *m, struct krx_gen *g)
{
	log_info("generation %u is gone (%s)", g->cy->generation,
	    krx_gen_state_name(g->state));
	reload_keysvc_retire(m, g);
	krx_spawn_free_gen(g);
	krx_cycle_free(g->cy, m->cur->cy);
	g->cy = NULL;
	g->state = KRX_GEN_EMPTY;
}

static void
reload_abort(struct krx_master *m, struct krx_gen *g, const char *why)
{
	evtimer_del(g->timer);
	g->state = KRX_GEN_ABORTED;
	krx_spawn_signal_gen(g, SIGKILL);
	reload_keysvc_retire(m, g);
	krx_notify_reload_failed(why);
	reload_answer(m, 1, "generation %u failed: %s; generation %u keeps "
	    "serving", g->cy->generation, why, m->cy->generation);
	if (krx_spawn_alive_gen(g) == 0)
		reload_release(m, g);
}

static void
reload_timer(evutil_socket_t fd, short what, void *arg)
{
	struct krx_gen		*g = arg;
	struct krx_master	*m = g->master;
	char			 why[128];

	if (g->state == KRX_GEN_STARTING) {
		snprintf(why, sizeof(why), "not every worker was ready within "
		    "reload_timeout (%d s)", g->cy->conf->reload_timeout);
		reload_abort(m, g, why);
		return;
	}
	if (g->state == KRX_GEN_DRAINING && krx_spawn_alive_gen(g) > 0) {
		log_warnx("generation %u: %d workers still alive after the "
		    "drain timeout; killing them", g->cy->generation,
		    krx_spawn_alive_gen(g));
		krx_spawn_signal_gen(g, SIGKILL);
	}
}

static void
reload_timer_add(struct krx_gen *g, int seconds)
{
	struct timeval	 tv = { seconds, 0 };

	if (g->timer == NULL)
		g->timer = evtimer_new(g->master->base, reload_timer, g);
	evtimer_add(g->timer, &tv);
}

/* The new generation serves, the old one drains. */
static void
reload_commit(struct krx_master *m, struct krx_gen *g)
{
	struct krx_gen	*old = m->cur;

	evtimer_del(g->timer);
	g->state = KRX_GEN_SERVING;
	m->cur = g;
	m->cy = g->cy;
	log_setlevel(g->cy->conf->log_level);
	old->state = KRX_GEN_DRAINING;
	krx_spawn_send_gen(old, KRX_IPC_DRAIN);
	reload_timer_add(old, old->cy->conf->drain_timeout + 5);
	krx_notify_ready(g->cy->generation, g->n_workers);
	reload_answer(m, 0, "generation %u serving with %d workers; "
	    "generation %u draining (up to %d s)", g->cy->generation,
	    g->n_workers, old->cy->generation, old->cy->conf->drain_timeout);
	if (krx_spawn_alive_gen(old) == 0)
		reload_release(m, old);
}

void
krx_reload_child_ready(struct krx_master *m, struct krx_gen *g)
{
	int	 i;

	for (i = 0; i < g->n_workers; i++)
		if (g->slots[i].state != KRX_CHILD_RUNNING)
			return;
	if (g->keysvc != NULL && g->keysvc->state != KRX_CHILD_RUNNING)
		return;
	reload_commit(m, g);
}

void
krx_reload_child_gone(struct krx_master *m, struct krx_gen *g, int status)
{
	char	 why[128];

	if (g->state == KRX_GEN_STARTING) {
		snprintf(why, sizeof(why), "a worker or its key service %s %d "
		    "before it was ready",
		    WIFSIGNALED(status) ? "was killed by signal" :
		    "exited with status", WIFSIGNALED(status) ?
		    WTERMSIG(status) : WEXITSTATUS(status));
		reload_abort(m, g, why);
		return;
	}
	if (krx_spawn_alive_gen(g) == 0)
		reload_release(m, g);
}

/* The new cycle, its maps and sockets; NULL with errs or logged. */
static struct krx_cycle *
reload_cycle(struct krx_master *m, struct krx_gen *g, struct krx_conf *conf,
    struct krx_conf_errors *errs)
{
	struct krx_cycle	*cy;

	cy = krx_cycle_new(conf, ++m->last_gen,
	    (int)(g - m->gens) * KRX_MAX_WORKERS, m->stats);
	if (cy != NULL)
		cy->mshm = m->mshm;
	if (cy == NULL) {
		krx_conf_error(errs, conf->path, 0, "cannot make the shared "
		    "regions of a new generation");
		krx_conf_free(conf);
		return NULL;
	}
	if (krx_cycle_adopt_maps(cy, m->cy))
		log_info("reload: the virtual clusters are unchanged: the new "
		    "generation keeps the brokers and topics learned");
	if (krx_cycle_tls_open(cy, errs) == -1 ||
	    krx_sockets_open(cy, m->cy, errs) == -1) {
		krx_cycle_free(cy, m->cy);
		return NULL;
	}
	return cy;
}

static int
reload_busy(struct krx_master *m, struct bufferevent *waiter)
{
	struct krx_gen	*o = krx_reload_other(m);
	char		 text[256];

	if (m->stopping)
		snprintf(text, sizeof(text), "krxd is stopping");
	else if (m->reload_waiter != NULL || (o != NULL &&
	    o->state == KRX_GEN_STARTING))
		snprintf(text, sizeof(text), "a reload is in progress");
	else if (o != NULL)
		snprintf(text, sizeof(text), "generation %u is still %s (up to "
		    "drain_timeout, %d s); reload again once it is gone",
		    o->cy->generation, krx_gen_state_name(o->state),
		    o->cy->conf->drain_timeout);
	else if ((m->ks[0].pid > 0 && &m->ks[0] != m->cur->keysvc) ||
	    (m->ks[1].pid > 0 && &m->ks[1] != m->cur->keysvc))
		snprintf(text, sizeof(text), "the previous key service is "
		    "still stopping; reload again in a moment");
	else
		return 0;
	log_warnx("reload refused: %s", text);
	krx_control_reload_answer(waiter, 1, text);
	return 1;
}

/*
 * The new generation's key service: the running one when the KMS
 * settings are the same, else a new one, started before the workers
 * (their channels wait in its queue). A retired one still exiting is
 * waited for by reload_busy.
 */
static void
reload_keysvc(struct krx_master *m, struct krx_gen *g)
{
	g->keysvc = NULL;
	if (!krx_confload_encrypts(g->cy->conf))
		return;
	if (m->cur->keysvc != NULL && krx_confload_same_keysvc(m->cy->conf,
	    g->cy->conf)) {
		g->keysvc = m->cur->keysvc;
		return;
	}
	log_info("reload: the KMS settings changed: generation %u gets a "
	    "key service of its own", g->cy->generation);
	krx_spawn_keysvc_new(m, g);
}

void
krx_reload_start(struct krx_master *m, struct bufferevent *waiter)
{
	struct krx_conf_errors	 errs;
	struct krx_conf		*conf;
	struct krx_cycle	*cy = NULL;
	struct krx_gen		*g;
	char			 path[4096];

	if (reload_busy(m, waiter))
		return;
	m->reload_waiter = waiter;
	krx_notify_reloading();
	snprintf(path, sizeof(path), "%s", m->cy->conf->path);
	memset(&errs, 0, sizeof(errs));
	g = m->cur == &m->gens[0] ? &m->gens[1] : &m->gens[0];
	if (krx_confload(path, &conf, &errs) == 0) {
		krx_confload_reloadable(m->cy->conf, conf, &errs);
		if (errs.n > 0 || errs.dropped > 0)
			krx_conf_free(conf);
		else
			cy = reload_cycle(m, g, conf, &errs);
	}
	if (cy == NULL) {
		reload_refused(m, path, &errs);
		krx_conf_errors_free(&errs);
		return;
	}
	krx_conf_errors_free(&errs);
	g->cy = cy;
	g->master = m;
	g->state = KRX_GEN_STARTING;
	g->n_workers = krx_confload_workers(cy->conf);
	log_info("reload: starting generation %u with %d workers",
	    cy->generation, g->n_workers);
	reload_keysvc(m, g);
	/* Its workers log at its level from the start, the master after. */
	log_setlevel(cy->conf->log_level);
	krx_spawn_gen(m, g);
	log_setlevel(m->cy->conf->log_level);
	reload_timer_add(g, cy->conf->reload_timeout);
}

void
krx_reload_stop(struct krx_master *m)
{
	struct krx_gen	*g;

	for (g = m->gens; g < m->gens + 2; g++) {
		if (g->timer != NULL)
			evtimer_del(g->timer);
		if (g->state == KRX_GEN_STARTING) {
			g->state = KRX_GEN_ABORTED;
			reload_answer(m, 1, "krxd is stopping: generation %u "
			    "will not serve", g->cy->generation);
		}
	}
}
