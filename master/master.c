/*
 * master.c: the master's event loop. Signals arrive as loop events;
 * stopping is driven by reaping: the loop ends when the last child is
 * gone.
 */
#include <signal.h>
#include <string.h>
#include <sys/time.h>

#include <event2/event.h>

#include "common/log.h"
#include "conf/conf.h"
#include "master/master.h"

static void
master_check_done(struct krx_master *m)
{
	if (m->stopping && krx_spawn_alive(m) == 0)
		event_base_loopexit(m->base, NULL);
}

static void
master_kill_timer(evutil_socket_t fd, short what, void *arg)
{
	struct krx_master	*m = arg;

	if (krx_spawn_alive(m) == 0)
		return;
	log_warnx("%d children still alive after the stop timeout; killing",
	    krx_spawn_alive(m));
	krx_spawn_signal_all(m, SIGKILL);
}

void
krx_master_stop(struct krx_master *m, int graceful)
{
	struct timeval	 tv = { 5, 0 };

	if (m->stopping == 1 || (m->stopping == 2 && graceful))
		return;
	m->stopping = graceful ? 2 : 1;
	krx_notify("STOPPING=1");
	if (graceful) {
		log_info("graceful stop: draining workers (up to %d s)",
		    m->conf->drain_timeout);
		krx_spawn_send_all(m, KRX_IPC_DRAIN);
		tv.tv_sec = m->conf->drain_timeout + 5;
	} else {
		log_info("stopping");
		krx_spawn_signal_all(m, SIGTERM);
	}
	if (m->stop_timer == NULL)
		m->stop_timer = evtimer_new(m->base, master_kill_timer, m);
	evtimer_add(m->stop_timer, &tv);
	master_check_done(m);
}

void
krx_master_child_ready(struct krx_master *m, struct krx_slot *s)
{
	int	 i;

	log_debug("worker %d (pid %d) ready", s->slot, (int)s->pid);
	if (m->notified_ready)
		return;
	for (i = 0; i < m->n_workers; i++)
		if (m->slots[i].state != KRX_CHILD_RUNNING)
			return;
	m->notified_ready = 1;
	log_info("ready: %d workers serving", m->n_workers);
	krx_notify("READY=1");
}

static void
master_signal(evutil_socket_t sig, short what, void *arg)
{
	struct krx_master	*m = arg;

	switch (sig) {
	case SIGTERM:
	case SIGINT:
		krx_master_stop(m, 0);
		break;
	case SIGQUIT:
		krx_master_stop(m, 1);
		break;
	case SIGCHLD:
		krx_spawn_reap(m);
		master_check_done(m);
		break;
	case SIGHUP:
		log_warnx("reload is not supported yet; ignoring SIGHUP");
		break;
	case SIGUSR1:
		log_info("reopening logs (stderr/syslog: nothing to do)");
		break;
	}
}

int
krx_master_run(struct krx_master *m)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGQUIT, SIGCHLD, SIGHUP,
	    SIGUSR1 };
	size_t	 i;

	signal(SIGPIPE, SIG_IGN);
	if ((m->base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		m->sig_ev[i] = evsignal_new(m->base, sigs[i], master_signal, m);
		evsignal_add(m->sig_ev[i], NULL);
	}
	krx_control_open(m);
	krx_spawn_all(m);
	event_base_dispatch(m->base);
	krx_control_close(m);
	krx_spawn_free(m);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		event_free(m->sig_ev[i]);
	if (m->stop_timer != NULL)
		event_free(m->stop_timer);
	event_base_free(m->base);
	m->base = NULL;
	log_info("exiting with status %d", m->exit_status);
	return m->exit_status;
}
