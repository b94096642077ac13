/*
 * control.c: the master's control socket, served to krx-ctl. One typed
 * request per connection (IPC framing, version checked). Any local
 * user may connect (mode 0666); control_perm.c's table says, from the
 * peer's SO_PEERCRED, which requests it may make, before any handler
 * runs. status shows each generation; reload answers when the reload
 * is over (reload.c); dek rotate and cache flush when every worker has
 * (control_fanout.c). At most KRX_CTL_MAX_CONNS connections at once,
 * the last KRX_CTL_ADMIN_CONNS of them for admins only (a local user
 * holding connections cannot lock root out), each with
 * KRX_CTL_REQ_TIMEOUT seconds to send its request.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "common/chan.h"
#include "common/log.h"
#include "common/shm/stats.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "master/control_scan.h"
#include "master/master.h"
#include "master/mstatus.h"

#define KRX_CTL_MAX_CONNS	32
#define KRX_CTL_ADMIN_CONNS	8	/* of them kept for admins */
#define KRX_CTL_REQ_TIMEOUT	10	/* seconds */

static int	control_conns;

/* Every control connection ends here (counted). */
static void
control_free(struct bufferevent *bev)
{
	control_conns--;
	bufferevent_free(bev);
}

static void
control_status_child(struct krx_master *m, struct krx_buf *b,
    const struct krx_slot *s)
{
	uint64_t	 conns = 0;

	if (s->kind == KRX_KIND_WORKER && m->stats != NULL && s->row >= 0 &&
	    s->row < KRX_STATS_ROWS)
		conns = atomic_load_explicit(&m->stats->v[s->row][
		    KRX_STAT_CONN_ACTIVE], memory_order_relaxed);
	krx_buf_put_be32(b, (uint32_t)s->slot);
	krx_buf_put_be32(b, s->kind);
	krx_buf_put_be32(b, (uint32_t)s->pid);
	krx_buf_put_be32(b, s->state);
	krx_buf_put_be32(b, s->restarts);
	krx_buf_put_be64(b, (int64_t)conns < 0 ? 0 : conns);
}

/*
 * The serving generation first, then the other; a keysvc under the
 * serving one, or under the other when it has its own.
 */
static void
control_status_gen(struct krx_master *m, struct krx_buf *b,
    const struct krx_gen *g)
{
	int	 i, ks = g->keysvc != NULL && (g == m->cur ||
	    g->keysvc != m->cur->keysvc);

	krx_buf_put_be32(b, g->cy->generation);
	krx_buf_put_be32(b, g->state);
	krx_buf_put_be64(b, (uint64_t)(time(NULL) - g->started));
	krx_buf_put_be32(b, (uint32_t)(g->n_workers + ks));
	for (i = 0; i < g->n_workers; i++)
		control_status_child(m, b, &g->slots[i]);
	if (ks)
		control_status_child(m, b, g->keysvc);
}

static void
control_status(struct krx_master *m, struct bufferevent *bev, uint32_t id)
{
	struct krx_gen		*o = krx_reload_other(m);
	struct krx_buf		 b;

	krx_buf_init(&b, 256);
	krx_buf_put_be32(&b, (uint32_t)getpid());
	krx_buf_put_be32(&b, m->cy->generation);
	krx_buf_put_be64(&b, (uint64_t)(time(NULL) - m->started));
	krx_buf_put_be32(&b, o != NULL ? 2 : 1);
	control_status_gen(m, &b, m->cur);
	if (o != NULL)
		control_status_gen(m, &b, o);
	if (b.err == KRX_OK)
		krx_ipc_send(bufferevent_get_output(bev),
		    KRX_IPC_STATUS_REPLY, id, 0, b.data, b.len);
	krx_buf_free(&b);
}

void
krx_control_reload_answer(struct bufferevent *bev, int err, const char *text)
{
	if (bev != NULL)
		krx_ipc_send(bufferevent_get_output(bev), KRX_IPC_CTL_OK, 0,
		    err ? KRX_IPC_F_ERROR : 0, text, strlen(text));
}

void
krx_control_reload_done(struct krx_master *m, int err, const char *text)
{
	struct bufferevent	*bev = m->reload_waiter;

	m->reload_waiter = NULL;
	krx_mstatus_reload(m, err);
	krx_control_reload_answer(bev, err, text);
}

static void
control_error(struct bufferevent *bev, uint32_t id, const char *msg)
{
	krx_ipc_send(bufferevent_get_output(bev), KRX_IPC_CTL_OK, id,
	    KRX_IPC_F_ERROR, msg, strlen(msg));
}

/* Key command replies start with an exit code byte (keysvc/admin.c). */
static void
control_keys_error(struct bufferevent *bev, uint32_t id, const char *msg)
{
	struct krx_buf	 b;

	krx_buf_init(&b, strlen(msg) + 2);
	krx_buf_put_u8(&b, 1);
	krx_buf_put(&b, msg, strlen(msg));
	krx_buf_put_u8(&b, '\n');
	if (b.err == KRX_OK)
		krx_ipc_send(bufferevent_get_output(bev), KRX_IPC_CTL_OK, id,
		    KRX_IPC_F_ERROR, b.data, b.len);
	krx_buf_free(&b);
}

static void	control_event(struct bufferevent *, short, void *);

/* A ctl request waiting for keysvc's answer. */
struct krx_relay {
	struct krx_relay	*next;
	uint32_t		 id;
	uint32_t		 ctl_id;
	uint8_t			 op;
	struct bufferevent	*bev;
	const struct krx_slot	*ks;		/* asked */
};

static void	control_stats_reply(struct krx_master *, struct krx_relay *,
		    const uint8_t *, size_t);

static void
control_relay(struct krx_master *m, struct bufferevent *bev,
    const struct krx_ipc_hdr *h, const struct krx_buf *p)
{
	static uint32_t		 next_id;
	static const uint8_t	 ok = 0;
	struct krx_slot		*ks = m->cur->keysvc;
	struct krx_relay	*r, self;

	if (ks == NULL && p->len > 0 && p->data[0] == KRX_KEYS_STATS) {
		/* No key service: the workers' counters alone. */
		memset(&self, 0, sizeof(self));
		self.ctl_id = h->id;
		self.bev = bev;
		control_stats_reply(m, &self, &ok, 1);	/* exit status 0 */
		return;
	}
	if (ks == NULL || ks->chan == NULL || ks->state != KRX_CHILD_RUNNING) {
		control_keys_error(bev, h->id, ks != NULL ? "the key service "
		    "is not running" : "no virtual cluster has "
		    "record_encryption");
		return;
	}
	r = xcalloc(1, sizeof(*r));
	r->id = ++next_id;
	r->ctl_id = h->id;
	r->op = p->len > 0 ? p->data[0] : 0;
	r->bev = bev;
	r->ks = ks;
	r->next = m->relays;
	m->relays = r;
	krx_chan_send(ks->chan, KRX_IPC_KS_ADMIN, r->id, 0, p->data,
	    p->len, -1);
}

static void
control_relay_forget(struct krx_master *m, struct bufferevent *bev)
{
	struct krx_relay	**rp, *r;

	for (rp = &m->relays; (r = *rp) != NULL;) {
		if (r->bev == bev) {
			*rp = r->next;
			free(r);
		} else
			rp = &r->next;
	}
}

/* keysvc's counters, then the sum of the workers' (shared memory). */
static void
control_stats_reply(struct krx_master *m, struct krx_relay *r,
    const uint8_t *p, size_t len)
{
	struct krx_buf	 b;
	char		 line[128];
	int		 i, n;

	krx_buf_init(&b, len + 512);
	krx_buf_put(&b, p, len);
	for (i = 0; i < KRX_STAT_N; i++) {
		n = snprintf(line, sizeof(line), "workers.%s %llu\n",
		    krx_stat_name(i), (unsigned long long)krx_stats_sum(
		    m->cy->stats, i));
		krx_buf_put(&b, line, (size_t)n);
	}
	if (b.err == KRX_OK)
		krx_ipc_send(bufferevent_get_output(r->bev), KRX_IPC_CTL_OK,
		    r->ctl_id, 0, b.data, b.len);
	krx_buf_free(&b);
}

void
krx_control_relay_done(struct krx_master *m, const struct krx_slot *ks,
    uint32_t id, uint16_t flags, const uint8_t *p, size_t len)
{
	struct krx_relay	**rp, *r;

	if (krx_control_fanout_keysvc(m, ks, id, flags, p, len))
		return;
	for (rp = &m->relays; (r = *rp) != NULL; rp = &r->next) {
		if (r->id != id || r->ks != ks)
			continue;
		*rp = r->next;
		if (r->op == KRX_KEYS_STATS && !(flags & KRX_IPC_F_ERROR))
			control_stats_reply(m, r, p, len);
		else
			krx_ipc_send(bufferevent_get_output(r->bev),
			    KRX_IPC_CTL_OK, r->ctl_id, flags & KRX_IPC_F_ERROR,
			    p, len);
		free(r);
		return;
	}
}

void
krx_control_relay_fail(struct krx_master *m, const struct krx_slot *ks,
    const char *why)
{
	struct krx_relay	**rp, *r;

	krx_control_fanout_keysvc_fail(m, ks, why);
	for (rp = &m->relays; (r = *rp) != NULL;) {
		if (ks != NULL && r->ks != ks) {
			rp = &r->next;
			continue;
		}
		*rp = r->next;
		control_keys_error(r->bev, r->ctl_id, why);
		free(r);
	}
}

/* krx-ctl stop waits for EOF: the socket closes when krxd exits. */
static void
control_keep_until_exit(struct krx_master *m, struct bufferevent *bev)
{
	if (m->n_stop_waiters == KRX_MAX_STOP_WAITERS)
		return;
	m->stop_waiters[m->n_stop_waiters++] = bev;
	bufferevent_setcb(bev, NULL, NULL, control_event, m);
}

static const char reopen_text[] =
    "krxd logs to stderr or syslog: nothing to reopen\n";

static void
control_dispatch(struct krx_master *m, struct bufferevent *bev,
    const struct krx_ipc_hdr *h, const struct krx_buf *p)
{
	if (!krx_control_permit(m, bev, h, p))
		return;
	switch (h->type) {
	case KRX_IPC_CTL_STATUS:
		if (p->len != 0)
			break;
		control_status(m, bev, h->id);
		return;
	case KRX_IPC_CTL_STOP:
		if (p->len != 1 || p->data[0] > 1)
			break;
		log_info("stop requested by krx-ctl%s",
		    p->data[0] ? " (graceful)" : "");
		krx_ipc_send(bufferevent_get_output(bev), KRX_IPC_CTL_OK,
		    h->id, 0, NULL, 0);
		control_keep_until_exit(m, bev);
		krx_master_stop(m, p->data[0]);
		return;
	case KRX_IPC_CTL_KEYS:
		control_relay(m, bev, h, p);
		return;
	case KRX_IPC_CTL_RELOAD:
		if (p->len != 0)
			break;
		log_info("reload requested by krx-ctl");
		krx_reload_start(m, bev);
		return;
	case KRX_IPC_CTL_METRICS:
		if (p->len != 0)
			break;
		krx_mstatus_ctl_metrics(m, bev, h->id);
		return;
	case KRX_IPC_CTL_REOPEN:
		if (p->len != 0)
			break;
		log_info("reopening logs: krxd logs to stderr or syslog, "
		    "nothing to reopen");
		krx_ipc_send(bufferevent_get_output(bev), KRX_IPC_CTL_OK,
		    h->id, 0, reopen_text, sizeof(reopen_text) - 1);
		return;
	case KRX_IPC_CTL_DEK_ROTATE:
	case KRX_IPC_CTL_CACHE_FLUSH:
		krx_control_fanout_start(m, bev, h, p);
		return;
	case KRX_IPC_CTL_SCAN:
		krx_control_scan(m, bev, h, p);
		return;
	}
	control_error(bev, h->id, "malformed or unknown request");
}

static void
control_read(struct bufferevent *bev, void *arg)
{
	struct krx_master	*m = arg;
	struct krx_ipc_hdr	 h;
	struct krx_buf		 p;
	int			 r;

	krx_buf_init(&p, 0);
	r = krx_ipc_read(bufferevent_get_input(bev), KRX_IPC_MAX_CTL, &h, &p);
	if (r == 1)
		control_dispatch(m, bev, &h, &p);
	else if (r == KRX_E_VERSION)
		control_error(bev, 0, "krx-ctl and krxd versions differ");
	else if (r < 0)
		control_error(bev, 0, krx_strerror(r));
	krx_buf_free(&p);
	if (r != 0)
		bufferevent_disable(bev, EV_READ);
}

static void
control_event(struct bufferevent *bev, short what, void *arg)
{
	struct krx_master	*m = arg;
	int			 i;

	for (i = 0; i < m->n_stop_waiters; i++)
		if (m->stop_waiters[i] == bev)
			m->stop_waiters[i] = m->stop_waiters[--m->n_stop_waiters];
	if (m->reload_waiter == bev)
		m->reload_waiter = NULL;
	control_relay_forget(m, bev);
	krx_control_fanout_forget(m, bev);
	krx_control_scan_forget(m, bev);
	control_free(bev);
}

static void
control_written(struct bufferevent *bev, void *arg)
{
	struct krx_master	*m = arg;
	struct krx_relay	*r;

	/* Reply sent and no more to read: done with this client. */
	for (r = m->relays; r != NULL; r = r->next)
		if (r->bev == bev)
			return;
	if (m->reload_waiter == bev || krx_control_fanout_busy(bev) ||
	    krx_control_scan_busy(m, bev))
		return;
	if (!(bufferevent_get_enabled(bev) & EV_READ))
		control_free(bev);
}

static void
control_accept(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct krx_master	*m = arg;
	struct bufferevent	*bev;
	struct timeval		 tv = { KRX_CTL_REQ_TIMEOUT, 0 };

	if (control_conns >= KRX_CTL_MAX_CONNS ||
	    (control_conns >= KRX_CTL_MAX_CONNS - KRX_CTL_ADMIN_CONNS &&
	    !krx_control_peer_admin(m, fd))) {
		log_warnx("control socket: %d connections open, refusing "
		    "another", control_conns);
		close(fd);
		return;
	}
	bev = bufferevent_socket_new(m->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		close(fd);
		return;
	}
	control_conns++;
	bufferevent_setcb(bev, control_read, control_written, control_event,
	    m);
	bufferevent_set_timeouts(bev, &tv, NULL);
	bufferevent_enable(bev, EV_READ);
}

static int
control_in_use(const struct sockaddr_un *sun)
{
	int	 fd, r;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return 0;
	r = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0;
	close(fd);
	return r;
}

/*
 * Remove a stale socket left by a previous run, and nothing else: the
 * master is root, and the configured path may name any file (issue 9,
 * finding 14). Fatal (pre-READY) when the path is not a socket.
 */
static void
control_unlink_stale(const char *path)
{
	struct stat	 st;

	if (lstat(path, &st) == -1) {
		if (errno != ENOENT)
			fatal("control socket %s", path);
		return;
	}
	if (!S_ISSOCK(st.st_mode))
		fatalx("control socket %s exists and is not a socket: "
		    "refusing to remove it", path);
	if (unlink(path) == -1 && errno != ENOENT)
		fatal("unlink %s", path);
}

void
krx_control_open(struct krx_master *m)
{
	struct sockaddr_un	 sun;
	const char		*path = m->cy->conf->control_socket;
	mode_t			 old;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		fatalx("control socket path too long: %s", path);
	strcpy(sun.sun_path, path);
	if (control_in_use(&sun))
		fatalx("control socket %s is in use: is krxd already "
		    "running?", path);
	control_unlink_stale(path);
	/*
	 * 0666: every local user may connect and run the read-only
	 * requests; control_perm.c refuses the others by peer credentials.
	 */
	old = umask(0111);
	m->ctl_listener = evconnlistener_new_bind(m->base, control_accept, m,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 16,
	    (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (m->ctl_listener == NULL)
		fatal("cannot listen on control socket %s", path);
}

void
krx_control_close(struct krx_master *m)
{
	struct stat	 st;

	krx_control_fanout_forget(m, NULL);
	while (m->n_stop_waiters > 0)
		control_free(m->stop_waiters[--m->n_stop_waiters]);
	if (m->ctl_listener == NULL)
		return;
	evconnlistener_free(m->ctl_listener);
	m->ctl_listener = NULL;
	if (lstat(m->cy->conf->control_socket, &st) == 0 &&
	    S_ISSOCK(st.st_mode))
		unlink(m->cy->conf->control_socket);
}
