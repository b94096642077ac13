/*
 * keysvc_spawn.c: the master's side of the key service. keysvc is
 * fork+exec'd (a fresh image that never held the master's memory), gets
 * the DEK cache key as its first message, and one socketpair per
 * worker, brokered here: keysvc gets one end, the worker the other
 * (inherited at fork, or sent over its channel when keysvc respawns).
 * A liveness timer pings keysvc every KS_PING_EVERY seconds; without a
 * PONG within KRX_KS_PING_TIMEOUT it is killed, and the reaper respawns
 * it (issue 9, finding 7: a frozen keysvc must not look "running").
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/chan.h"
#include "common/log.h"
#include "conf/conf.h"
#include "crypto/secret.h"
#include "master/master.h"

#define KEYSVC_FD	3
#define KS_PING_EVERY	3	/* seconds */

/* The liveness check: one keysvc per master. */
static struct event	*ks_ping_ev;
static time_t		 ks_ping_sent;	/* monotonic; 0: none outstanding */
static uint32_t		 ks_ping_id;

/*
 * As root with both users set, the DEK cache directory belongs to the
 * keysvc user and its group, mode 0700: only keysvc maps the LMDB files
 * (workers ask keysvc for cache hits; issue 9, finding 7). The directory
 * is opened without following a symlink and changed through its fd
 * (finding 14).
 */
void
krx_keysvc_prepare(struct krx_master *m)
{
	const char	*dir = m->cy->conf->cache_path;
	struct passwd	*ks, *wk;
	struct stat	 st;
	uid_t		 ks_uid;
	gid_t		 ks_gid;
	int		 fd;

	if (geteuid() != 0 || m->cy->conf->keysvc_user == NULL ||
	    m->cy->conf->user == NULL)
		return;
	if ((ks = getpwnam(m->cy->conf->keysvc_user)) == NULL)
		fatalx("keysvc_user %s does not exist",
		    m->cy->conf->keysvc_user);
	ks_uid = ks->pw_uid;
	ks_gid = ks->pw_gid;
	if ((wk = getpwnam(m->cy->conf->user)) == NULL)
		fatalx("user %s does not exist", m->cy->conf->user);
	if (ks_uid == wk->pw_uid)
		fatalx("user and keysvc_user must differ");
	if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		fatal("mkdir %s", dir);
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		fatal("DEK cache directory %s (a symlink is refused)", dir);
	if (fstat(fd, &st) == -1 || fchown(fd, ks_uid, ks_gid) == -1 ||
	    fchmod(fd, 0700) == -1)
		fatal("cannot prepare the DEK cache directory %s", dir);
	close(fd);
}

static time_t
keysvc_mono(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static void
keysvc_ping(evutil_socket_t fd, short what, void *arg)
{
	struct krx_master	*m = arg;
	time_t			 now = keysvc_mono();

	if (m->keysvc.pid <= 0 || m->keysvc.chan == NULL) {
		ks_ping_sent = 0;
		return;
	}
	if (ks_ping_sent != 0) {
		if (now - ks_ping_sent < KRX_KS_PING_TIMEOUT)
			return;
		log_warnx("keysvc (pid %d) did not answer a ping for %d "
		    "seconds; killing it", (int)m->keysvc.pid,
		    (int)(now - ks_ping_sent));
		kill(m->keysvc.pid, SIGKILL);
		ks_ping_sent = 0;
		return;
	}
	if (krx_chan_send(m->keysvc.chan, KRX_IPC_KS_PING, ++ks_ping_id, 0,
	    NULL, 0, -1) == KRX_OK)
		ks_ping_sent = now;
}

static void
keysvc_ping_start(struct krx_master *m)
{
	struct timeval	 tv = { KS_PING_EVERY, 0 };

	ks_ping_sent = 0;
	if (ks_ping_ev != NULL)
		return;
	if ((ks_ping_ev = event_new(m->base, -1, EV_PERSIST, keysvc_ping,
	    m)) == NULL || event_add(ks_ping_ev, &tv) == -1)
		log_warnx("cannot start the keysvc liveness check");
}

int
krx_keysvc_link(struct krx_master *m, struct krx_slot *s)
{
	uint32_t	 slot = htonl((uint32_t)s->row);	/* both generations */
	int		 kp[2];

	if (!m->use_keysvc || m->keysvc.chan == NULL)
		return -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, kp) == -1) {
		log_warn("socketpair for worker %d and keysvc", s->slot);
		return -1;
	}
	if (krx_chan_send(m->keysvc.chan, KRX_IPC_KS_CHANNEL, 0, 0, &slot,
	    sizeof(slot), kp[0]) != KRX_OK) {
		close(kp[1]);
		return -1;
	}
	return kp[1];
}

static void __attribute__((noreturn))
keysvc_exec(struct krx_master *m, int fd)
{
	char	*argv[6];
	int	 i = 0;

	krx_spawn_reset_signals();
	if (fd == KEYSVC_FD)
		fcntl(fd, F_SETFD, 0);
	else if (dup2(fd, KEYSVC_FD) == -1)
		_exit(KRX_EXIT_SOFTWARE);
	close_range(KEYSVC_FD + 1, ~0U, 0);
	argv[i++] = "krxd";
	argv[i++] = "-K";
	argv[i++] = "-c";
	argv[i++] = m->cy->conf->path;
	if (m->foreground)
		argv[i++] = "-g";
	argv[i] = NULL;
	execv("/proc/self/exe", argv);
	log_warn("exec keysvc");
	_exit(KRX_EXIT_SOFTWARE);
}

/* A new keysvc: every live worker of both generations gets a channel. */
static void
keysvc_link_all(struct krx_master *m)
{
	struct krx_gen	*g;
	struct krx_slot	*s;
	int		 i, kfd;

	for (g = m->gens; g < m->gens + 2; g++)
		for (i = 0; i < g->n_workers; i++) {
			s = &g->slots[i];
			if (s->pid <= 0 || s->chan == NULL)
				continue;
			if ((kfd = krx_keysvc_link(m, s)) != -1)
				krx_chan_send(s->chan, KRX_IPC_KS_CHANNEL, 0, 0,
				    NULL, 0, kfd);
		}
}

void
krx_keysvc_spawn(struct krx_master *m)
{
	int	 sv[2];
	pid_t	 pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("socketpair for keysvc");
		return;
	}
	if ((pid = fork()) == -1) {
		log_warn("fork keysvc");
		close(sv[0]);
		close(sv[1]);
		return;
	}
	if (pid == 0)
		keysvc_exec(m, sv[1]);
	close(sv[1]);
	krx_spawn_attach(m, &m->keysvc, sv[0], pid, KRX_IPC_MAX_KEYS);
	keysvc_ping_start(m);
	krx_chan_send(m->keysvc.chan, KRX_IPC_KS_INIT, 0, 0,
	    m->cy->cache_key->data, m->cy->cache_key->len, -1);
	keysvc_link_all(m);
}

void
krx_keysvc_message(struct krx_master *m, const struct krx_ipc_hdr *h,
    const uint8_t *p, size_t len)
{
	struct krx_slot	*s;
	uint32_t	 slot;

	if (h->type == KRX_IPC_KS_ADMIN_REPLY) {
		krx_control_relay_done(m, h->id, h->flags, p, len);
		return;
	}
	if (h->type == KRX_IPC_KS_PONG) {
		if (h->id == ks_ping_id)
			ks_ping_sent = 0;
		return;
	}
	/* KRX_IPC_KS_VIOLATION: replace that worker. */
	if (len != 4)
		return;
	memcpy(&slot, p, 4);
	slot = ntohl(slot);
	if ((s = krx_spawn_find_row(m, slot)) != NULL && s->pid > 0) {
		log_warnx("keysvc reports that worker %d of generation %u "
		    "broke the key protocol; replacing it", s->slot,
		    s->gen->cy->generation);
		kill(s->pid, SIGKILL);
	}
}
