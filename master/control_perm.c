/*
 * control_perm.c: who may do what on the control socket. The socket is
 * connectable by every local user (mode 0666): the kernel's SO_PEERCRED
 * and SO_PEERGROUPS say who the peer is (taken at connect(2), not
 * spoofable, no pid to race on), and a permission table, checked before
 * any handler runs (as OpenSSH's monitor table), says per request type
 * whether it only reads (status, metrics, cache stats, kek list) or
 * changes state (admin). Admin: uid 0, krxd's own uid, the uid of its
 * `user`, or a member of `control_group`. A type without a row needs an
 * admin (deny by default). Refusals are logged with uid and pid.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "common/log.h"
#include "conf/conf.h"
#include "master/master.h"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS	59
#endif

#define PERM_ANY_OP	(-1)

enum perm_need {
	PERM_READ = 0,
	PERM_ADMIN = 1
};

struct perm_row {
	uint32_t	 type;
	int		 keys_op;	/* KRX_IPC_CTL_KEYS: enum krx_keys_op */
	enum perm_need	 need;
	const char	*word;		/* krx-ctl's command, for messages */
};

static const struct perm_row perm_rows[] = {
	{ KRX_IPC_CTL_STATUS, PERM_ANY_OP, PERM_READ, "status" },
	{ KRX_IPC_CTL_METRICS, PERM_ANY_OP, PERM_READ, "metrics" },
	{ KRX_IPC_CTL_KEYS, KRX_KEYS_STATS, PERM_READ, "cache stats" },
	{ KRX_IPC_CTL_KEYS, KRX_KEYS_KEK_LIST, PERM_READ, "kek list" },
	{ KRX_IPC_CTL_KEYS, KRX_KEYS_KEK_CREATE, PERM_ADMIN, "kek create" },
	{ KRX_IPC_CTL_KEYS, KRX_KEYS_KEK_ROTATE, PERM_ADMIN, "kek rotate" },
	{ KRX_IPC_CTL_KEYS, KRX_KEYS_KEK_DELETE, PERM_ADMIN, "kek delete" },
	{ KRX_IPC_CTL_KEYS, KRX_KEYS_KMS_CHECK, PERM_ADMIN, "kms check" },
	{ KRX_IPC_CTL_STOP, PERM_ANY_OP, PERM_ADMIN, "stop" },
	{ KRX_IPC_CTL_RELOAD, PERM_ANY_OP, PERM_ADMIN, "reload" },
	{ KRX_IPC_CTL_REOPEN, PERM_ANY_OP, PERM_ADMIN, "reopen-logs" },
	{ KRX_IPC_CTL_DEK_ROTATE, PERM_ANY_OP, PERM_ADMIN, "dek rotate" },
	{ KRX_IPC_CTL_CACHE_FLUSH, PERM_ANY_OP, PERM_ADMIN, "cache flush" },
	{ KRX_IPC_CTL_SCAN, PERM_ANY_OP, PERM_ADMIN, "scan" },
};

static const struct perm_row *
perm_find(const struct krx_ipc_hdr *h, const struct krx_buf *p)
{
	size_t	 i;
	int	 op = p->len > 0 ? p->data[0] : -2;

	for (i = 0; i < sizeof(perm_rows) / sizeof(perm_rows[0]); i++)
		if (perm_rows[i].type == h->type &&
		    (perm_rows[i].keys_op == PERM_ANY_OP ||
		    perm_rows[i].keys_op == op))
			return &perm_rows[i];
	return NULL;
}

/* Whether gid is among the peer's groups (at connect time). */
static int
perm_peer_in_group(int fd, const struct ucred *cr, gid_t gid)
{
	gid_t		 groups[256];
	socklen_t	 len = sizeof(groups);
	struct passwd	*pw;
	int		 i, n = 256;

	if (cr->gid == gid)
		return 1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0) {
		for (i = 0; i < (int)(len / sizeof(gid_t)); i++)
			if (groups[i] == gid)
				return 1;
		return 0;
	}
	if (errno != ENOPROTOOPT)
		return 0;
	/* Before Linux 4.13: the group database's view of the peer uid. */
	if ((pw = getpwuid(cr->uid)) == NULL ||
	    getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) == -1)
		return 0;
	for (i = 0; i < n; i++)
		if (groups[i] == gid)
			return 1;
	return 0;
}

static int
perm_is_admin(const struct krx_conf *conf, int fd, const struct ucred *cr)
{
	struct passwd	*pw;
	struct group	*gr;

	if (cr->uid == 0 || cr->uid == geteuid())
		return 1;
	if (conf->user != NULL && (pw = getpwnam(conf->user)) != NULL &&
	    pw->pw_uid == cr->uid)
		return 1;
	if (conf->control_group == NULL ||
	    (gr = getgrnam(conf->control_group)) == NULL)
		return 0;
	return perm_peer_in_group(fd, cr, gr->gr_gid);
}

static void
perm_refuse(struct bufferevent *bev, uint32_t id, const struct krx_conf *conf,
    const char *word, const struct ucred *cr)
{
	char	 msg[256];
	int	 n;

	if (conf->control_group != NULL)
		n = snprintf(msg, sizeof(msg), "permission denied: '%s' needs "
		    "root or membership of group %s", word,
		    conf->control_group);
	else
		n = snprintf(msg, sizeof(msg), "permission denied: '%s' needs "
		    "root or krxd's user (no control_group is configured)",
		    word);
	if (n < 0 || (size_t)n >= sizeof(msg))
		n = (int)strlen(msg);
	log_warnx("control socket: refused '%s' to uid %u pid %d (not an "
	    "admin)", word, (unsigned)cr->uid, (int)cr->pid);
	krx_ipc_send(bufferevent_get_output(bev), KRX_IPC_CTL_DENIED, id,
	    KRX_IPC_F_ERROR, msg, (size_t)n);
}

int
krx_control_peer_admin(struct krx_master *m, int fd)
{
	struct ucred	 cr;
	socklen_t	 len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == -1)
		return 0;
	return perm_is_admin(m->cy->conf, fd, &cr);
}

int
krx_control_permit(struct krx_master *m, struct bufferevent *bev,
    const struct krx_ipc_hdr *h, const struct krx_buf *p)
{
	const struct perm_row	*row = perm_find(h, p);
	const struct krx_conf	*conf = m->cy->conf;
	struct ucred		 cr;
	socklen_t		 len = sizeof(cr);
	int			 fd = bufferevent_getfd(bev);
	char			 word[32];

	if (row != NULL && row->need == PERM_READ)
		return 1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == -1) {
		log_warn("control socket: SO_PEERCRED");
		memset(&cr, 0, sizeof(cr));
		cr.uid = (uid_t)-1;
	} else if (perm_is_admin(conf, fd, &cr))
		return 1;
	if (row == NULL)
		snprintf(word, sizeof(word), "request %u", h->type);
	perm_refuse(bev, h->id, conf, row != NULL ? row->word : word, &cr);
	return 0;
}
