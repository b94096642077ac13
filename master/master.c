/*
 * master.c: the master's event loop. Signals arrive as loop events:
 * SIGTERM and SIGINT stop fast, SIGQUIT drains first, SIGHUP reloads
 * (reload.c), SIGUSR1 would reopen logs (krxd logs to stderr or syslog:
 * nothing to reopen). Stopping is driven by reaping: the loop ends when
 * the last child is gone.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/log.h"
#include "conf/conf.h"
#include "master/master.h"
#include "master/notify.h"

/*
 * Every worker gone in a graceful stop: the key services are not needed
 * any more (they had to outlive the workers, whose requests in flight
 * may wait for keys).
 */
static void
master_check_done(struct krx_master *m)
{
	int	 i;

	if (m->stopping == 2 && krx_spawn_alive_gen(&m->gens[0]) +
	    krx_spawn_alive_gen(&m->gens[1]) == 0)
		for (i = 0; i < 2; i++)
			if (m->ks[i].pid > 0 && !m->ks[i].retired)
				krx_keysvc_retire(m, &m->ks[i]);
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
	krx_notify_send("STOPPING=1\nSTATUS=%s", graceful ?
	    "stopping: draining workers" : "stopping");
	krx_reload_stop(m);
	if (graceful) {
		log_info("graceful stop: draining workers (up to %d s)",
		    m->cy->conf->drain_timeout);
		krx_spawn_send_gen(&m->gens[0], KRX_IPC_DRAIN);
		krx_spawn_send_gen(&m->gens[1], KRX_IPC_DRAIN);
		tv.tv_sec = m->cy->conf->drain_timeout + 5;
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

	log_debug("%s %d (pid %d) ready", s->kind == KRX_KIND_KEYSVC ?
	    "keysvc" : "worker", s->slot, (int)s->pid);
	if (m->notified_ready)
		return;
	for (i = 0; i < m->cur->n_workers; i++)
		if (m->cur->slots[i].state != KRX_CHILD_RUNNING)
			return;
	if (m->cur->keysvc != NULL && m->cur->keysvc->state !=
	    KRX_CHILD_RUNNING)
		return;
	m->notified_ready = 1;
	log_info("ready: %d workers serving", m->cur->n_workers);
	krx_notify_ready(m->cy->generation, m->cur->n_workers);
}

static void
master_signal(struct krx_master *m, int sig)
{
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
		log_info("SIGHUP: reloading %s", m->cy->conf->path);
		krx_reload_start(m, NULL);
		break;
	case SIGUSR1:
		log_info("reopening logs: krxd logs to stderr or syslog, "
		    "nothing to reopen");
		break;
	}
}

/* Signals arrive on a signalfd: the loop reads them like any event. */
static void
master_signalfd_read(evutil_socket_t fd, short what, void *arg)
{
	struct signalfd_siginfo	 si;
	ssize_t			 n;

	while ((n = read(fd, &si, sizeof(si))) == sizeof(si))
		master_signal(arg, (int)si.ssi_signo);
	if (n == -1 && errno != EAGAIN && errno != EINTR)
		log_warn("read signalfd");
}

static void
master_signals(struct krx_master *m)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGQUIT, SIGCHLD, SIGHUP,
	    SIGUSR1 };
	sigset_t	 set;
	size_t		 i;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&set, sigs[i]);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
		fatal("sigprocmask");
	if ((m->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) == -1)
		fatal("signalfd");
	m->sig_ev = event_new(m->base, m->sig_fd, EV_READ | EV_PERSIST,
	    master_signalfd_read, m);
	event_add(m->sig_ev, NULL);
}

int
krx_master_run(struct krx_master *m)
{
	if ((m->base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	master_signals(m);
	krx_notify_watchdog_start(m->base);
	krx_control_open(m);
	krx_spawn_keysvc_init(m);
	krx_spawn_gen(m, m->cur);
	event_base_dispatch(m->base);
	krx_control_close(m);
	krx_spawn_free(m);
	krx_notify_watchdog_stop();
	event_free(m->sig_ev);
	close(m->sig_fd);
	if (m->stop_timer != NULL)
		event_free(m->stop_timer);
	event_base_free(m->base);
	m->base = NULL;
	log_info("exiting with status %d", m->exit_status);
	return m->exit_status;
}
