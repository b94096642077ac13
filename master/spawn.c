/*
 * spawn.c: the slot table. Forks workers (and, through keysvc_spawn.c,
 * the key service), reaps them, classifies each exit and respawns with
 * exponential backoff; a crash loop ends the master with a non-zero
 * status so systemd's Restart= takes over (kills do not count, see
 * krx_spawn_exit_is_crash). Workers that lost their keysvc channel ask
 * for a new one here. Workers belong to a generation (master/reload.c):
 * only the serving one's are respawned.
 */
#include <errno.h>
#include <stddef.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "common/chan.h"
#include "common/dispatch.h"
#include "master/control_scan.h"
#include "common/log.h"
#include "common/shm/nodemap.h"
#include "common/shm/stats.h"
#include "common/shm/topicmap.h"
#include "conf/conf.h"
#include "common/shm/mstats.h"
#include "master/master.h"
#include "master/mstatus.h"
#include "worker/worker.h"

static const char *
spawn_name(const struct krx_slot *s)
{
	return krx_proc_kinds[s->kind].name;
}

/*
 * A worker lost its keysvc channel (keysvc closed it): broker a new one,
 * at most one per KRX_RELINK_INTERVAL per worker (the worker asks again
 * until it has one). Without keysvc nothing happens: its respawn hands
 * every worker a channel.
 */
static void
spawn_relink(struct krx_master *m, struct krx_slot *s)
{
	time_t	 now = time(NULL);
	int	 kfd;

	if (now - s->relinked < KRX_RELINK_INTERVAL ||
	    s->gen->keysvc == NULL ||
	    s->gen->keysvc->state != KRX_CHILD_RUNNING)
		return;
	s->relinked = now;
	if ((kfd = krx_keysvc_link(m, s)) == -1)
		return;
	log_info("worker %d (pid %d) lost its key service channel; "
	    "handing it a new one", s->slot, (int)s->pid);
	krx_chan_send(s->chan, KRX_IPC_KS_CHANNEL, 0, 0, NULL, 0, kfd);
}

/* The starting generation s (a worker or its own keysvc) is part of. */
static struct krx_gen *
spawn_starting_gen(struct krx_slot *s)
{
	struct krx_gen	*o = krx_reload_other(s->master);

	if (s->gen != NULL)
		return s->gen->state == KRX_GEN_STARTING ? s->gen : NULL;
	if (o != NULL && o->state == KRX_GEN_STARTING && o->keysvc == s &&
	    s->master->cur->keysvc != s)
		return o;
	return NULL;
}

static int
spawn_on_ready(void *ctx, const struct krx_ipc_hdr *h, const uint8_t *p,
    size_t len, int fd)
{
	struct krx_slot	*s = ctx;
	struct krx_gen	*g;

	if (s->state != KRX_CHILD_STARTING)
		return 0;	/* told to drain before it was ready */
	s->state = KRX_CHILD_RUNNING;
	if ((g = spawn_starting_gen(s)) != NULL)
		krx_reload_child_ready(s->master, g);
	else
		krx_master_child_ready(s->master, s);
	return 0;
}

static int
spawn_on_relink(void *ctx, const struct krx_ipc_hdr *h, const uint8_t *p,
    size_t len, int fd)
{
	struct krx_slot	*s = ctx;

	spawn_relink(s->master, s);
	return 0;
}

static int
spawn_on_map(void *ctx, const struct krx_ipc_hdr *h, const uint8_t *p,
    size_t len, int fd)
{
	struct krx_slot	*s = ctx;

	return krx_maps_message(s->master, s, h, p, len);
}

static int
spawn_on_keysvc(void *ctx, const struct krx_ipc_hdr *h, const uint8_t *p,
    size_t len, int fd)
{
	struct krx_slot	*s = ctx;

	krx_keysvc_message(s->master, s, h, p, len);
	return 0;
}

static int
spawn_on_dek_dropped(void *ctx, const struct krx_ipc_hdr *h,
    const uint8_t *p, size_t len, int fd)
{
	struct krx_slot	*s = ctx;

	return krx_control_fanout_worker(s->master, s, h->id, p, len);
}

static int
spawn_on_scan(void *ctx, const struct krx_ipc_hdr *h, const uint8_t *p,
    size_t len, int fd)
{
	struct krx_slot	*s = ctx;

	return krx_control_scan_message(s->master, s, h, p, len);
}

/* What the master accepts from a worker (proto/ipc.h): READY once. */
static const struct krx_dispatch_row spawn_worker_rows[] = {
	{ KRX_IPC_READY, KRX_DISPATCH_S_START, 0, 0, KRX_DISPATCH_FD_NONE, 1,
	    KRX_DISPATCH_S_READY, spawn_on_ready },
	{ KRX_IPC_KS_RELINK, KRX_DISPATCH_S_ANY, 0, 0, KRX_DISPATCH_FD_NONE,
	    0, 0, spawn_on_relink },
	{ KRX_IPC_NODE_LEARNED, KRX_DISPATCH_S_ANY, 14, KRX_NODEMAP_MSG_MAX,
	    KRX_DISPATCH_FD_NONE, 0, 0, spawn_on_map },
	{ KRX_IPC_TOPIC_LEARNED, KRX_DISPATCH_S_ANY, 22,
	    KRX_TOPICMAP_MSG_MAX, KRX_DISPATCH_FD_NONE, 0, 0, spawn_on_map },
	{ KRX_IPC_W_DEK_DROPPED, KRX_DISPATCH_S_READY, 16, 16,
	    KRX_DISPATCH_FD_NONE, 0, 0, spawn_on_dek_dropped },
	{ KRX_IPC_SCAN_DATA, KRX_DISPATCH_S_READY, 1,
	    KRX_IPC_MAX_WORKER - KRX_IPC_HDR_LEN, KRX_DISPATCH_FD_NONE, 0, 0,
	    spawn_on_scan },
	{ KRX_IPC_SCAN_END, KRX_DISPATCH_S_READY, 0, 1024,
	    KRX_DISPATCH_FD_NONE, 0, 0, spawn_on_scan },
};
static const struct krx_dispatch_table spawn_worker_table =
    KRX_DISPATCH_TABLE("worker -> master", spawn_worker_rows);

/* From keysvc: READY once (after INIT), then its answers. */
static const struct krx_dispatch_row spawn_keysvc_rows[] = {
	{ KRX_IPC_READY, KRX_DISPATCH_S_START, 0, 0, KRX_DISPATCH_FD_NONE, 1,
	    KRX_DISPATCH_S_READY, spawn_on_ready },
	{ KRX_IPC_KS_ADMIN_REPLY, KRX_DISPATCH_S_READY, 0,
	    KRX_IPC_MAX_KEYS - KRX_IPC_HDR_LEN, KRX_DISPATCH_FD_NONE, 0, 0,
	    spawn_on_keysvc },
	{ KRX_IPC_KS_VIOLATION, KRX_DISPATCH_S_READY, 4, 4,
	    KRX_DISPATCH_FD_NONE, 0, 0, spawn_on_keysvc },
	{ KRX_IPC_KS_PONG, KRX_DISPATCH_S_READY, 0, 0, KRX_DISPATCH_FD_NONE,
	    0, 0, spawn_on_keysvc },
};
static const struct krx_dispatch_table spawn_keysvc_table =
    KRX_DISPATCH_TABLE("keysvc -> master", spawn_keysvc_rows);

static void __attribute__((noreturn))
spawn_worker_child(struct krx_master *, struct krx_slot *, int, int);

/*
 * The process graph: what the master forks, indexed by enum
 * krx_child_kind. Workers are fork-only and inherit their generation;
 * keysvc is fork+exec'd (`krxd -K`, a fresh image that never held the
 * master's memory). Both channels are the master's socketpairs; the
 * master passes fds to both (KS_CHANNEL) and takes none from them.
 */
const struct krx_proc_kind krx_proc_kinds[] = {
	[KRX_KIND_WORKER] = { "worker", 0, spawn_worker_child,
	    KRX_IPC_MAX_WORKER, 1, 0, offsetof(struct krx_conf, user),
	    &spawn_worker_table },
	[KRX_KIND_KEYSVC] = { "keysvc", 1, krx_keysvc_exec,
	    KRX_IPC_MAX_KEYS, 1, 0, offsetof(struct krx_conf, keysvc_user),
	    &spawn_keysvc_table },
};

const char *
krx_spawn_user(enum krx_child_kind kind, const struct krx_conf *conf)
{
	return *(const char *const *)(const void *)((const char *)conf +
	    krx_proc_kinds[kind].user_off);
}

/* A child that breaks its table is killed (and respawned). */
static void
spawn_chan_msg(struct krx_chan *c, const struct krx_ipc_hdr *h,
    const uint8_t *p, size_t len, int fd, void *arg)
{
	struct krx_slot	*s = arg;
	int		 v;

	v = krx_dispatch_run(krx_proc_kinds[s->kind].rx, &s->peer, s, h, p,
	    len, fd);
	if (v == KRX_DISPATCH_OK)
		return;
	log_warnx("%s %d (pid %d) broke the channel contract (message %u: "
	    "%s); killing it", spawn_name(s), s->slot, (int)s->pid, h->type,
	    krx_dispatch_strerror(v));
	kill(s->pid, SIGKILL);
}

static void
spawn_chan_eof(struct krx_chan *c, int err, void *arg)
{
	struct krx_slot	*s = arg;

	/* The reaper decides what happens to the slot. */
	if (err != 0 && s->pid > 0) {
		log_warnx("%s %d (pid %d): channel error: %s; killing it",
		    spawn_name(s), s->slot, (int)s->pid, krx_strerror(err));
		kill(s->pid, SIGKILL);
	}
}

void
krx_spawn_close_inherited(struct krx_master *m, int keep)
{
	struct krx_gen	*g;
	int		 i, fd;

	for (g = m->gens; g < m->gens + 2; g++)
		for (i = 0; i < g->n_workers; i++)
			if (g->slots[i].chan != NULL &&
			    (fd = krx_chan_fd(g->slots[i].chan)) != keep)
				close(fd);
	for (i = 0; i < 2; i++)
		if (m->ks[i].chan != NULL)
			close(krx_chan_fd(m->ks[i].chan));
	if (m->ctl_listener != NULL)
		close(evconnlistener_get_fd(m->ctl_listener));
	close(m->sig_fd);
}

void
krx_spawn_reset_signals(void)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGCHLD,
	    SIGUSR1, SIGPIPE };
	sigset_t	 set;
	size_t		 i;

	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_DFL);
	sigemptyset(&set);
	sigprocmask(SIG_SETMASK, &set, NULL);
}

static void
spawn_attach(struct krx_master *m, struct krx_slot *s, int fd, pid_t pid)
{
	const struct krx_proc_kind	*k = &krx_proc_kinds[s->kind];

	if (s->chan != NULL)
		krx_chan_free(s->chan);
	krx_dispatch_peer_init(&s->peer);
	s->chan = krx_chan_new(m->base, fd, k->chan_max,
	    (k->fds_in ? KRX_CHAN_FD_IN : 0) |
	    (k->fds_out ? KRX_CHAN_FD_OUT : 0), spawn_chan_msg,
	    spawn_chan_eof, s);
	s->pid = pid;
	s->state = KRX_CHILD_STARTING;
	clock_gettime(CLOCK_MONOTONIC, &s->spawned);
	if (s->gen != NULL)
		log_info("started worker %d (pid %d) of generation %u", s->slot,
		    (int)pid, s->gen->cy->generation);
	else
		log_info("started %s %d (pid %d)", spawn_name(s), s->slot,
		    (int)pid);
	krx_mstatus_sync(m);
}

/*
 * In a new child of a fork-only kind (a worker): nothing of the
 * master's but its own generation. The other generation's sockets and
 * maps (those not shared) are closed and unmapped, so a worker never
 * holds a writable map (finding 12).
 */
static void
spawn_forget_master(struct krx_master *m, struct krx_slot *s)
{
	struct krx_gen	*g;

	krx_spawn_close_inherited(m, -1);
	if (m->pid_fd != -1)
		close(m->pid_fd);	/* the lock is the master's */
	for (g = m->gens; g < m->gens + 2; g++)
		if (g != s->gen && g->cy != NULL) {
			krx_cycle_free(g->cy, s->gen->cy);
			g->cy = NULL;
		}
	krx_cycle_forget_secrets(s->gen->cy);
	if (m->mshm != NULL && krx_mshm_child(m->mshm) != 0)
		_exit(KRX_EXIT_SOFTWARE);
}

static void
spawn_worker_child(struct krx_master *m, struct krx_slot *s, int chan,
    int keys)
{
	krx_worker_main(s->gen->cy, s->slot, chan, keys);
}

int
krx_spawn_fork(struct krx_master *m, struct krx_slot *s, int keys)
{
	const struct krx_proc_kind	*k = &krx_proc_kinds[s->kind];
	int				 sv[2];
	pid_t				 pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("socketpair for %s %d", k->name, s->slot);
		return -1;
	}
	if ((pid = fork()) == -1) {
		log_warn("fork %s %d", k->name, s->slot);
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		close(sv[0]);
		krx_spawn_reset_signals();
		/* An exec'd image holds nothing of the master's anyway. */
		if (!k->exec)
			spawn_forget_master(m, s);
		k->child(m, s, sv[1], keys);
	}
	close(sv[1]);
	spawn_attach(m, s, sv[0], pid);
	return 0;
}

static void
spawn_worker(struct krx_master *m, struct krx_slot *s)
{
	int	 kfd;

	kfd = krx_keysvc_link(m, s);
	krx_spawn_fork(m, s, kfd);
	if (kfd != -1)
		close(kfd);
}

static void
spawn_respawn_cb(evutil_socket_t fd, short what, void *arg)
{
	struct krx_slot		*s = arg;

	if (s->master->stopping || (s->gen != NULL &&
	    s->gen->state != KRX_GEN_SERVING) || s->retired)
		return;
	log_info("respawning %s %d", spawn_name(s), s->slot);
	if (s->kind == KRX_KIND_KEYSVC)
		krx_keysvc_spawn(s->master, s);
	else
		spawn_worker(s->master, s);
}

static void	spawn_slot_free(struct krx_slot *);

static void
spawn_slot_init(struct krx_master *m, struct krx_gen *g, struct krx_slot *s,
    int slot, enum krx_child_kind kind)
{
	spawn_slot_free(s);
	memset(s, 0, sizeof(*s));
	s->slot = slot;
	s->gen = g;
	s->row = g != NULL ? g->cy->row_base + slot : slot;
	s->kind = kind;
	s->master = m;
	s->respawn_ev = evtimer_new(m->base, spawn_respawn_cb, s);
}

void
krx_spawn_keysvc_init(struct krx_master *m)
{
	if (!krx_confload_encrypts(m->cy->conf))
		return;
	m->cur->keysvc = &m->ks[0];
	spawn_slot_init(m, NULL, &m->ks[0], 0, KRX_KIND_KEYSVC);
	krx_keysvc_spawn(m, &m->ks[0]);
}

struct krx_slot *
krx_spawn_keysvc_new(struct krx_master *m, struct krx_gen *g)
{
	struct krx_slot	*ks;

	for (ks = m->ks; ks < m->ks + 2; ks++)
		if (ks != m->cur->keysvc && ks->pid <= 0)
			break;
	if (ks == m->ks + 2)
		return NULL;
	spawn_slot_init(m, NULL, ks, (int)(ks - m->ks), KRX_KIND_KEYSVC);
	g->keysvc = ks;
	krx_keysvc_spawn(m, ks);
	return ks;
}

void
krx_spawn_gen(struct krx_master *m, struct krx_gen *g)
{
	int	 i;

	g->master = m;
	g->started = time(NULL);
	for (i = 0; i < g->n_workers; i++) {
		spawn_slot_init(m, g, &g->slots[i], i, KRX_KIND_WORKER);
		spawn_worker(m, &g->slots[i]);
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

/*
 * Workers of a drained generation exit 0; those of a reload that failed
 * are killed on purpose, and so is a retired keysvc: all expected, and
 * said so.
 */
static int
spawn_exit_expected(const struct krx_slot *s, int status)
{
	if (s->gen == NULL)
		return s->retired;
	if (s->gen->state == KRX_GEN_ABORTED)
		return 1;
	return s->gen->state == KRX_GEN_DRAINING && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0;
}

static void
spawn_log_exit(struct krx_master *m, struct krx_slot *s, int status)
{
	if (spawn_exit_expected(s, status) && s->gen == NULL)
		log_info("retired keysvc %d, pid %d, ended", s->slot,
		    (int)s->pid);
	else if (spawn_exit_expected(s, status))
		log_info("generation %u: worker %d, pid %d, ended (%s %d)",
		    s->gen->cy->generation, s->slot, (int)s->pid,
		    WIFSIGNALED(status) ? "signal" : "status",
		    WIFSIGNALED(status) ? WTERMSIG(status) :
		    WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		log_warnx("%s %d (pid %d) killed by signal %d", spawn_name(s),
		    s->slot, (int)s->pid, WTERMSIG(status));
	else if (WEXITSTATUS(status) != 0 || !m->stopping)
		log_warnx("%s %d (pid %d) exited with status %d",
		    spawn_name(s), s->slot, (int)s->pid, WEXITSTATUS(status));
	else
		log_info("%s %d (pid %d) exited", spawn_name(s), s->slot,
		    (int)s->pid);
}

/* Backoff after a kill: doubles while kills come within the window. */
static unsigned
spawn_record_kill(struct krx_slot *s, time_t now)
{
	if (now - s->last_kill >= KRX_CRASH_WINDOW)
		s->kill_streak = 0;
	s->last_kill = now;
	if (s->kill_streak < KRX_KILL_BACKOFF_MAX)
		s->kill_streak++;
	return s->kill_streak;
}

static void
spawn_exited(struct krx_master *m, struct krx_slot *s, int status)
{
	struct krx_gen	*g;
	struct timeval	 tv;
	unsigned	 recent, ms;

	spawn_log_exit(m, s, status);
	/* A killed worker could not count its connections down. */
	if (s->kind == KRX_KIND_WORKER && m->stats != NULL)
		atomic_store_explicit(&m->stats->v[s->row][
		    KRX_STAT_CONN_ACTIVE], 0, memory_order_relaxed);
	if (s->kind == KRX_KIND_KEYSVC)
		krx_control_relay_fail(m, s, "the key service exited");
	s->pid = 0;
	s->state = KRX_CHILD_EMPTY;
	krx_mstatus_child_gone(m, s);
	if (s->chan != NULL) {
		krx_chan_free(s->chan);
		s->chan = NULL;
	}
	if (m->stopping)
		return;
	if ((g = spawn_starting_gen(s)) != NULL || (s->gen != NULL &&
	    s->gen->state != KRX_GEN_SERVING)) {
		krx_reload_child_gone(m, g != NULL ? g : s->gen, status);
		return;
	}
	if (s->kind == KRX_KIND_KEYSVC && (s->retired || s != m->cur->keysvc))
		return;		/* the draining generation's: not again */
	if (WIFEXITED(status) && WEXITSTATUS(status) == KRX_EXIT_CONFIG) {
		log_err("%s %d cannot use the configuration; not respawning it",
		    spawn_name(s), s->slot);
		return;
	}
	if (!krx_spawn_exit_is_crash(status))
		recent = spawn_record_kill(s, time(NULL));
	else if ((recent = spawn_record_crash(s, time(NULL))) >=
	    KRX_CRASH_LIMIT) {
		log_err("%s %d crashed %u times in %d seconds; giving up",
		    spawn_name(s), s->slot, recent, KRX_CRASH_WINDOW);
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

struct krx_slot *
krx_spawn_find(struct krx_master *m, pid_t pid)
{
	struct krx_gen	*g;
	int		 i;

	for (i = 0; i < 2; i++)
		if (m->ks[i].pid == pid && pid > 0)
			return &m->ks[i];
	for (g = m->gens; g < m->gens + 2; g++)
		for (i = 0; i < g->n_workers; i++)
			if (g->slots[i].pid == pid)
				return &g->slots[i];
	return NULL;
}

struct krx_slot *
krx_spawn_find_row(struct krx_master *m, uint32_t row)
{
	struct krx_gen	*g;
	uint32_t	 i;

	if (row >= KRX_MAX_ROWS)
		return NULL;
	g = &m->gens[row / KRX_MAX_WORKERS];
	i = row % KRX_MAX_WORKERS;
	if (g->cy == NULL || i >= (uint32_t)g->n_workers)
		return NULL;
	return &g->slots[i];
}

void
krx_spawn_reap(struct krx_master *m)
{
	struct krx_slot	*s;
	pid_t		 pid;
	int		 status;

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
		if ((s = krx_spawn_find(m, pid)) == NULL) {
			log_debug("reaped unknown child %d", (int)pid);
			continue;
		}
		spawn_exited(m, s, status);
	}
}

void
krx_spawn_signal_gen(struct krx_gen *g, int sig)
{
	int	 i;

	for (i = 0; i < g->n_workers; i++)
		if (g->slots[i].pid > 0)
			kill(g->slots[i].pid, sig);
}

void
krx_spawn_signal_all(struct krx_master *m, int sig)
{
	krx_spawn_signal_gen(&m->gens[0], sig);
	krx_spawn_signal_gen(&m->gens[1], sig);
	if (m->ks[0].pid > 0)
		kill(m->ks[0].pid, sig);
	if (m->ks[1].pid > 0)
		kill(m->ks[1].pid, sig);
}

void
krx_spawn_send_gen(struct krx_gen *g, uint32_t type)
{
	int	 i;

	for (i = 0; i < g->n_workers; i++)
		if (g->slots[i].pid > 0 && g->slots[i].chan != NULL &&
		    krx_chan_send(g->slots[i].chan, type, 0, 0, NULL, 0,
		    -1) == KRX_OK && type == KRX_IPC_DRAIN)
			g->slots[i].state = KRX_CHILD_DRAINING;
}

int
krx_spawn_alive_gen(const struct krx_gen *g)
{
	int	 i, n = 0;

	for (i = 0; i < g->n_workers; i++)
		if (g->slots[i].pid > 0)
			n++;
	return n;
}

int
krx_spawn_alive(const struct krx_master *m)
{
	return krx_spawn_alive_gen(&m->gens[0]) +
	    krx_spawn_alive_gen(&m->gens[1]) + (m->ks[0].pid > 0) +
	    (m->ks[1].pid > 0);
}

static void
spawn_slot_free(struct krx_slot *s)
{
	if (s->chan != NULL)
		krx_chan_free(s->chan);
	if (s->respawn_ev != NULL)
		event_free(s->respawn_ev);
	if (s->ping_ev != NULL)
		event_free(s->ping_ev);
	s->chan = NULL;
	s->respawn_ev = NULL;
	s->ping_ev = NULL;
}

void
krx_spawn_free_gen(struct krx_gen *g)
{
	int	 i;

	for (i = 0; i < g->n_workers; i++)
		spawn_slot_free(&g->slots[i]);
	g->n_workers = 0;
	if (g->timer != NULL)
		event_free(g->timer);
	g->timer = NULL;
}

void
krx_spawn_free(struct krx_master *m)
{
	krx_spawn_free_gen(&m->gens[0]);
	krx_spawn_free_gen(&m->gens[1]);
	spawn_slot_free(&m->ks[0]);
	spawn_slot_free(&m->ks[1]);
}
