/*
 * keysvc_spawn.c: the master's side of the key service. keysvc is
 * fork+exec'd (a fresh image that never held the master's memory), gets
 * the DEK cache key as its first message, and one socketpair per
 * worker, brokered here: keysvc gets one end, the worker the other
 * (inherited at fork, or sent over its channel when keysvc respawns).
 * A liveness timer pings keysvc every KS_PING_EVERY seconds; without a
 * PONG within KRX_KS_PING_TIMEOUT it is killed, and the reaper respawns
 * it (issue 9, finding 7: a frozen keysvc must not look "running").
 * A generation's workers talk to its keysvc; a reload that changes the
 * KMS settings starts a second one for the new generation (master/
 * reload.c), and the old one is retired with the old generation.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/mman.h>
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
#include "master/mstatus.h"

#define KEYSVC_FD	KRX_IPC_KEYSVC_MASTER_FD
#define KEYSVC_CONF_FD	KRX_IPC_KEYSVC_CONF_FD
#define KEYSVC_STATS_FD	KRX_IPC_KEYSVC_STATS_FD
#define KS_PING_EVERY	3	/* seconds */

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
	const char	*ks_user = krx_spawn_user(KRX_KIND_KEYSVC, m->cy->conf);
	const char	*wk_user = krx_spawn_user(KRX_KIND_WORKER, m->cy->conf);
	struct passwd	*ks, *wk;
	struct stat	 st;
	uid_t		 ks_uid;
	gid_t		 ks_gid;
	int		 fd;

	if (geteuid() != 0 || ks_user == NULL || wk_user == NULL)
		return;
	if ((ks = getpwnam(ks_user)) == NULL)
		fatalx("keysvc_user %s does not exist", ks_user);
	ks_uid = ks->pw_uid;
	ks_gid = ks->pw_gid;
	if ((wk = getpwnam(wk_user)) == NULL)
		fatalx("user %s does not exist", wk_user);
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
	struct krx_slot	*ks = arg;
	time_t		 now = keysvc_mono();

	if (ks->pid <= 0 || ks->chan == NULL) {
		ks->ping_sent = 0;
		return;
	}
	if (ks->ping_sent != 0) {
		if (now - ks->ping_sent < KRX_KS_PING_TIMEOUT)
			return;
		log_warnx("keysvc (pid %d) did not answer a ping for %d "
		    "seconds; killing it", (int)ks->pid,
		    (int)(now - ks->ping_sent));
		kill(ks->pid, SIGKILL);
		ks->ping_sent = 0;
		return;
	}
	if (krx_chan_send(ks->chan, KRX_IPC_KS_PING, ++ks->ping_id, 0, NULL,
	    0, -1) == KRX_OK)
		ks->ping_sent = now;
}

static void
keysvc_ping_start(struct krx_master *m, struct krx_slot *ks)
{
	struct timeval	 tv = { KS_PING_EVERY, 0 };

	ks->ping_sent = 0;
	if (ks->ping_ev != NULL)
		return;
	if ((ks->ping_ev = event_new(m->base, -1, EV_PERSIST, keysvc_ping,
	    ks)) == NULL || event_add(ks->ping_ev, &tv) == -1)
		log_warnx("cannot start the keysvc liveness check");
}

int
krx_keysvc_link(struct krx_master *m, struct krx_slot *s)
{
	uint32_t	 slot = htonl((uint32_t)s->row);	/* both generations */
	struct krx_slot	*ks = s->gen != NULL ? s->gen->keysvc : NULL;
	int		 kp[2];

	if (ks == NULL || ks->chan == NULL)
		return -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, kp) == -1) {
		log_warn("socketpair for worker %d and keysvc", s->slot);
		return -1;
	}
	if (krx_chan_send(ks->chan, KRX_IPC_KS_CHANNEL, 0, 0, &slot,
	    sizeof(slot), kp[0]) != KRX_OK) {
		close(kp[1]);
		return -1;
	}
	return kp[1];
}

/*
 * The cycle of ks: the newest generation's that uses it (generations
 * share a key service only when their KMS settings are the same). Its
 * DEK cache key and configuration are what ks gets.
 */
static struct krx_cycle *
keysvc_cycle(struct krx_master *m, struct krx_slot *ks)
{
	struct krx_gen	*o = krx_reload_other(m);

	if (o != NULL && o->keysvc == ks && o->cy->generation >
	    m->cy->generation)
		return o->cy;
	return m->cur->keysvc == ks || o == NULL ? m->cy : o->cy;
}

/*
 * The text a key service parses, at KEYSVC_CONF_FD: its generation's
 * configuration as the master read it. Reading the file again would
 * give a key service respawned after a crash whatever the file holds
 * now, perhaps a broken edit that a reload refused.
 */
static int
keysvc_conf_fd(const struct krx_conf *conf)
{
	size_t	 off = 0;
	ssize_t	 n;
	int	 fd;

	if ((fd = memfd_create("krxd.conf", 0)) == -1)
		return -1;
	while (off < conf->text_len) {
		n = write(fd, conf->text + off, conf->text_len - off);
		if (n <= 0) {
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	if (lseek(fd, 0, SEEK_SET) != 0 || (fd != KEYSVC_CONF_FD &&
	    (dup2(fd, KEYSVC_CONF_FD) == -1 || close(fd) == -1)))
		return -1;
	return KEYSVC_CONF_FD;
}

void
krx_keysvc_exec(struct krx_master *m, struct krx_slot *ks, int fd, int keys)
{
	const struct krx_conf	*conf = keysvc_cycle(m, ks)->conf;
	char			*argv[6];
	int			 i = 0, sfd;

	/* Out of the way of the fds below; -1 without metrics. */
	if ((sfd = krx_mstatus_keysvc_fd(m, ks)) != -1)
		sfd = fcntl(sfd, F_DUPFD_CLOEXEC, KEYSVC_STATS_FD + 8);

	if (fd == KEYSVC_FD)
		fcntl(fd, F_SETFD, 0);
	else if (dup2(fd, KEYSVC_FD) == -1)
		_exit(KRX_EXIT_SOFTWARE);
	if (keysvc_conf_fd(conf) == -1)
		_exit(KRX_EXIT_SOFTWARE);
	if (sfd == -1 || dup2(sfd, KEYSVC_STATS_FD) == -1)
		close(KEYSVC_STATS_FD);	/* keysvc then counts nothing */
	close_range(KEYSVC_STATS_FD + 1, ~0U, 0);
	argv[i++] = "krxd";
	argv[i++] = "-K";
	argv[i++] = "-c";
	argv[i++] = conf->path;
	if (m->foreground)
		argv[i++] = "-g";
	argv[i] = NULL;
	execv("/proc/self/exe", argv);
	log_warn("exec keysvc");
	_exit(KRX_EXIT_SOFTWARE);
}

/* A new keysvc: every live worker it serves gets a channel. */
static void
keysvc_link_all(struct krx_master *m, struct krx_slot *ks)
{
	struct krx_gen	*g;
	struct krx_slot	*s;
	int		 i, kfd;

	for (g = m->gens; g < m->gens + 2; g++)
		for (i = 0; g->keysvc == ks && i < g->n_workers; i++) {
			s = &g->slots[i];
			if (s->pid <= 0 || s->chan == NULL)
				continue;
			if ((kfd = krx_keysvc_link(m, s)) != -1)
				krx_chan_send(s->chan, KRX_IPC_KS_CHANNEL, 0, 0,
				    NULL, 0, kfd);
		}
}

void
krx_keysvc_retire(struct krx_master *m, struct krx_slot *ks)
{
	ks->retired = 1;
	if (ks->respawn_ev != NULL)
		evtimer_del(ks->respawn_ev);
	if (ks->pid > 0) {
		log_info("keysvc %d (pid %d) serves no generation any more; "
		    "stopping it", ks->slot, (int)ks->pid);
		kill(ks->pid, SIGTERM);
	}
}

void
krx_keysvc_spawn(struct krx_master *m, struct krx_slot *ks)
{
	struct krx_cycle	*cy = keysvc_cycle(m, ks);

	if (krx_spawn_fork(m, ks, -1) == -1)
		return;
	keysvc_ping_start(m, ks);
	krx_chan_send(ks->chan, KRX_IPC_KS_INIT, 0, 0, cy->cache_key->data,
	    cy->cache_key->len, -1);
	keysvc_link_all(m, ks);
}

void
krx_keysvc_message(struct krx_master *m, struct krx_slot *ks,
    const struct krx_ipc_hdr *h, const uint8_t *p, size_t len)
{
	struct krx_slot	*s;
	uint32_t	 slot;

	if (h->type == KRX_IPC_KS_ADMIN_REPLY) {
		krx_control_relay_done(m, ks, h->id, h->flags, p, len);
		return;
	}
	if (h->type == KRX_IPC_KS_PONG) {
		if (h->id == ks->ping_id)
			ks->ping_sent = 0;
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
