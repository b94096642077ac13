/*
 * control.c: the master's control socket, served to krx-ctl. One typed
 * request per connection (IPC framing, version checked), peer checked
 * with SO_PEERCRED: root or krxd's own user only.
 */
#include <errno.h>
#include <stddef.h>
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

#include "common/log.h"
#include "conf/conf.h"
#include "master/master.h"

static void
control_status(struct krx_master *m, struct bufferevent *bev, uint32_t id)
{
	struct krx_buf	 b;
	int		 i;

	krx_buf_init(&b, 256);
	krx_buf_put_be32(&b, (uint32_t)getpid());
	krx_buf_put_be32(&b, m->generation);
	krx_buf_put_be64(&b, (uint64_t)(time(NULL) - m->started));
	krx_buf_put_be32(&b, (uint32_t)m->n_workers);
	for (i = 0; i < m->n_workers; i++) {
		krx_buf_put_be32(&b, (uint32_t)i);
		krx_buf_put_be32(&b, 0);
		krx_buf_put_be32(&b, (uint32_t)m->slots[i].pid);
		krx_buf_put_be32(&b, m->slots[i].state);
		krx_buf_put_be32(&b, m->slots[i].restarts);
	}
	if (b.err == KRX_OK)
		krx_ipc_send(bufferevent_get_output(bev),
		    KRX_IPC_STATUS_REPLY, id, 0, b.data, b.len);
	krx_buf_free(&b);
}

static void
control_error(struct bufferevent *bev, uint32_t id, const char *msg)
{
	krx_ipc_send(bufferevent_get_output(bev), KRX_IPC_CTL_OK, id,
	    KRX_IPC_F_ERROR, msg, strlen(msg));
}

static void
control_dispatch(struct krx_master *m, struct bufferevent *bev,
    const struct krx_ipc_hdr *h, const struct krx_buf *p)
{
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
		krx_master_stop(m, p->data[0]);
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
	bufferevent_free(bev);
}

static void
control_written(struct bufferevent *bev, void *arg)
{
	/* Reply sent and no more to read: done with this client. */
	if (!(bufferevent_get_enabled(bev) & EV_READ))
		bufferevent_free(bev);
}

static int
control_peer_ok(int fd)
{
	struct ucred	 cred;
	socklen_t	 len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1)
		return 0;
	return cred.uid == 0 || cred.uid == geteuid();
}

static void
control_accept(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct krx_master	*m = arg;
	struct bufferevent	*bev;

	if (!control_peer_ok(fd)) {
		log_warnx("control socket: refused a peer that is neither "
		    "root nor krxd's user");
		close(fd);
		return;
	}
	bev = bufferevent_socket_new(m->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		close(fd);
		return;
	}
	bufferevent_setcb(bev, control_read, control_written, control_event,
	    m);
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

void
krx_control_open(struct krx_master *m)
{
	struct sockaddr_un	 sun;
	const char		*path = m->conf->control_socket;
	mode_t			 old;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		fatalx("control socket path too long: %s", path);
	strcpy(sun.sun_path, path);
	if (control_in_use(&sun))
		fatalx("control socket %s is in use: is krxd already "
		    "running?", path);
	if (unlink(path) == -1 && errno != ENOENT)
		fatal("unlink %s", path);
	old = umask(0117);
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
	if (m->ctl_listener == NULL)
		return;
	evconnlistener_free(m->ctl_listener);
	m->ctl_listener = NULL;
	unlink(m->conf->control_socket);
}
