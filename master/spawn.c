/*
 * spawn.c: the slot table. Forks workers, reaps them, classifies each
 * exit and respawns with exponential backoff; a crash loop ends the
 * master with a non-zero status so systemd's Restart= takes over.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "common/log.h"
#include "master/master.h"
#include "worker/worker.h"

static void	spawn_one(struct krx_master *, struct krx_slot *);

static void
spawn_chan_read(struct bufferevent *bev, void *arg)
{
	struct krx_slot		*s = arg;
	struct krx_ipc_hdr	 h;
	struct krx_buf		 payload;
	int			 r;

	krx_buf_init(&payload, 0);
	while ((r = krx_ipc_read(bufferevent_get_input(bev),
	    KRX_IPC_MAX_WORKER, &h, &payload)) == 1) {
		if (h.type == KRX_IPC_READY && payload.len == 0 &&
		    s->state == KRX_CHILD_STARTING) {
			s->state = KRX_CHILD_RUNNING;
			krx_master_child_ready(s->master, s);
			continue;
		}
		r = KRX_E_MALFORMED;
		break;
	}
	krx_buf_free(&payload);
	if (r < 0) {
		log_warnx("worker %d (pid %d) broke the channel contract: %s; "
		    "killing it", s->slot, (int)s->pid, krx_strerror(r));
		kill(s->pid, SIGKILL);
		bufferevent_disable(bev, EV_READ);
	}
}

static void
spawn_chan_event(struct bufferevent *bev, short what, void *arg)
{
	/* EOF or error: the reaper decides what happens to the slot. */
	bufferevent_disable(bev, EV_READ);
}

static void
spawn_close_inherited(struct krx_master *m, struct krx_slot *self)
{
	int	 i;

	for (i = 0; i < m->n_workers; i++)
		if (&m->slots[i] != self && m->slots[i].chan != NULL)
			close(bufferevent_getfd(m->slots[i].chan));
	if (m->ctl_listener != NULL)
		close(evconnlistener_get_fd(m->ctl_listener));
	close(m->sig_fd);
}

static void
spawn_reset_signals(void)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGCHLD,
	    SIGUSR1 };
	sigset_t	 set;
	size_t		 i;

	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_DFL);
	sigemptyset(&set);
	sigprocmask(SIG_SETMASK, &set, NULL);
}

static void
spawn_one(struct krx_master *m, struct krx_slot *s)
{
	int	 sv[2];
	pid_t	 pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("socketpair for worker %d", s->slot);
		return;
	}
	if ((pid = fork()) == -1) {
		log_warn("fork worker %d", s->slot);
		close(sv[0]);
		close(sv[1]);
		return;
	}
	if (pid == 0) {
		close(sv[0]);
		spawn_reset_signals();
		spawn_close_inherited(m, s);
		if (s->chan != NULL)
			close(bufferevent_getfd(s->chan));
		krx_worker_main(m, s->slot, sv[1]);
	}
	close(sv[1]);
	if (s->chan != NULL)
		bufferevent_free(s->chan);
	evutil_make_socket_nonblocking(sv[0]);
	s->chan = bufferevent_socket_new(m->base, sv[0],
	    BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(s->chan, spawn_chan_read, NULL, spawn_chan_event, s);
	bufferevent_enable(s->chan, EV_READ);
	s->pid = pid;
	s->state = KRX_CHILD_STARTING;
	clock_gettime(CLOCK_MONOTONIC, &s->spawned);
	log_info("started worker %d (pid %d)", s->slot, (int)pid);
}

static void
spawn_respawn_cb(evutil_socket_t fd, short what, void *arg)
{
	struct krx_slot		*s = arg;

	if (s->master->stopping)
		return;
	log_info("respawning worker %d", s->slot);
	spawn_one(s->master, s);
}

void
krx_spawn_all(struct krx_master *m)
{
	int	 i;

	for (i = 0; i < m->n_workers; i++) {
		m->slots[i].slot = i;
		m->slots[i].master = m;
		m->slots[i].respawn_ev = evtimer_new(m->base, spawn_respawn_cb,
		    &m->slots[i]);
		spawn_one(m, &m->slots[i]);
	}
}

/* Recent crashes of s within the window, counting this one. */
static unsigned
spawn_record_crash(struct krx_slot *s, time_t now)
{
	unsigned	 i, recent = 0;

	s->crash_times[s->n_crashes++ % KRX_CRASH_LIMIT] = now;
	for (i = 0; i < KRX_CRASH_LIMIT; i++)
		if (s->crash_times[i] != 0 &&
		    now - s->crash_times[i] < KRX_CRASH_WINDOW)
			recent++;
	return recent;
}

static void
spawn_exited(struct krx_master *m, struct krx_slot *s, int status)
{
	struct timeval	 tv;
	unsigned	 recent, ms;

	if (WIFSIGNALED(status))
		log_warnx("worker %d (pid %d) killed by signal %d", s->slot,
		    (int)s->pid, WTERMSIG(status));
	else if (WEXITSTATUS(status) != 0 || !m->stopping)
		log_warnx("worker %d (pid %d) exited with status %d", s->slot,
		    (int)s->pid, WEXITSTATUS(status));
	else
		log_info("worker %d (pid %d) exited", s->slot, (int)s->pid);
	s->pid = 0;
	s->state = KRX_CHILD_EMPTY;
	if (s->chan != NULL) {
		bufferevent_free(s->chan);
		s->chan = NULL;
	}
	if (m->stopping)
		return;
	if (WIFEXITED(status) && WEXITSTATUS(status) == KRX_EXIT_CONFIG) {
		log_err("worker %d cannot use the configuration; not "
		    "respawning it", s->slot);
		return;
	}
	recent = spawn_record_crash(s, time(NULL));
	if (recent >= KRX_CRASH_LIMIT) {
		log_err("worker %d crashed %u times in %d seconds; giving up",
		    s->slot, recent, KRX_CRASH_WINDOW);
		m->exit_status = 1;
		krx_master_stop(m, 0);
		return;
	}
	s->restarts++;
	ms = 100u << (recent - 1);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	s->state = KRX_CHILD_BACKOFF;
	evtimer_add(s->respawn_ev, &tv);
}

void
krx_spawn_reap(struct krx_master *m)
{
	pid_t	 pid;
	int	 status, i;

	for (;;) {
		pid = waitpid(-1, &status, WNOHANG);
		if (pid == 0 || (pid == -1 && errno == ECHILD))
			return;
		if (pid == -1) {
			if (errno == EINTR)
				continue;
			log_warn("waitpid");
			return;
		}
		for (i = 0; i < m->n_workers; i++)
			if (m->slots[i].pid == pid)
				break;
		if (i == m->n_workers) {
			log_debug("reaped unknown child %d", (int)pid);
			continue;
		}
		spawn_exited(m, &m->slots[i], status);
	}
}

void
krx_spawn_signal_all(struct krx_master *m, int sig)
{
	int	 i;

	for (i = 0; i < m->n_workers; i++)
		if (m->slots[i].pid > 0)
			kill(m->slots[i].pid, sig);
}

void
krx_spawn_send_all(struct krx_master *m, uint32_t type)
{
	int	 i;

	for (i = 0; i < m->n_workers; i++)
		if (m->slots[i].pid > 0 && m->slots[i].chan != NULL)
			krx_ipc_send(bufferevent_get_output(m->slots[i].chan),
			    type, 0, 0, NULL, 0);
}

int
krx_spawn_alive(const struct krx_master *m)
{
	int	 i, n = 0;

	for (i = 0; i < m->n_workers; i++)
		if (m->slots[i].pid > 0)
			n++;
	return n;
}

void
krx_spawn_free(struct krx_master *m)
{
	int	 i;

	for (i = 0; i < m->n_workers; i++) {
		if (m->slots[i].chan != NULL)
			bufferevent_free(m->slots[i].chan);
		if (m->slots[i].respawn_ev != NULL)
			event_free(m->slots[i].respawn_ev);
		m->slots[i].chan = NULL;
		m->slots[i].respawn_ev = NULL;
	}
}
