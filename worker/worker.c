/*
 * worker.c: a worker process. Inherits the configuration and listening
 * sockets from the master, drops privileges, runs one libevent loop over
 * its client sessions, and exits when the master's channel closes, on
 * SIGTERM, or when a drain finishes.
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "common/chan.h"
#include "common/dispatch.h"
#include "common/err.h"
#include "common/log.h"
#include "common/privdrop.h"
#include "common/proctitle.h"
#include "common/xmalloc.h"
#include "proto/compress.h"
#include "conf/conf.h"
#include "common/cycle.h"
#include "common/limits.h"
#include "worker/wmetrics.h"
#include "worker/keyclient.h"
#include "worker/proxyhdr.h"
#include "worker/scan.h"
#include "worker/httpd.h"
#include "common/shm/nodemap.h"
#include "worker/session.h"
#include "worker/topiclimit.h"
#include "common/shm/topicmap.h"
#include "worker/worker.h"

static struct krx_httpd	*worker_http;	/* metrics listener, or NULL */

/* common/privdrop.c: the user of the configuration, no_new_privs. */
static void
worker_drop_privileges(const char *user)
{
	const char	*step = "?";
	int		 r;

	if ((r = krx_privdrop(user, &step)) == KRX_E_NOTFOUND)
		fatalx("user %s does not exist", user);
	if (r != KRX_OK)
		fatal("cannot switch to user %s (%s)", user != NULL ? user :
		    "(none)", step);
}

/*
 * Issue 9, finding 11: no core dumps and no ptrace by the worker's own
 * uid. The kernel resets the dumpable flag when the uid changes, so this
 * runs after worker_drop_privileges. The DEK cache key stays with the
 * master and keysvc: the master's spawn code wiped the worker's copy.
 * Finding 12: the shared maps become read-only (the master writes them).
 */
static void
worker_harden(struct krx_cycle *cy)
{
	const char	*step = "?";

	if (krx_privdrop_undumpable(&step) != KRX_OK)
		fatal("%s", step);
	krx_nodemap_readonly(cy->nodemap);
	if (krx_topicmap_readonly(cy->topicmap) != KRX_OK)
		fatal("cannot map the topic map read-only");
}

static void
worker_exit_if_drained(struct krx_worker *w)
{
	if (w->draining && w->n_sessions == 0 && krx_httpd_idle(worker_http))
		event_base_loopexit(w->base, NULL);
}

void
krx_worker_session_gone(struct krx_worker *w)
{
	worker_exit_if_drained(w);
}

static void
worker_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct krx_worker	*w = arg;

	log_warnx("drain timeout: closing %zu connections", w->n_sessions);
	event_base_loopexit(w->base, NULL);
}

static void
worker_drain(struct krx_worker *w)
{
	struct timeval		 tv = { w->conf->drain_timeout, 0 };
	struct krx_session	*s;
	size_t			 i;

	if (w->draining)
		return;
	w->draining = 1;
	for (i = 0; i < w->n_listeners; i++)
		evconnlistener_disable(w->listeners[i]);
	krx_httpd_drain(worker_http);
	log_info("draining %zu connections", w->n_sessions);
	TAILQ_FOREACH(s, &w->sessions, entry)
		if (s->n_inflight == 0)
			krx_session_close_after_flush(s);
	w->drain_timer = evtimer_new(w->base, worker_drain_timeout, w);
	evtimer_add(w->drain_timer, &tv);
	worker_exit_if_drained(w);
}

static int
worker_on_drain(void *ctx, const struct krx_ipc_hdr *h, const uint8_t *p,
    size_t len, int fd)
{
	worker_drain(ctx);
	return 0;
}

static int
worker_on_ks_channel(void *ctx, const struct krx_ipc_hdr *h,
    const uint8_t *p, size_t len, int fd)
{
	struct krx_worker	*w = ctx;

	krx_keyclient_set_channel(w->kc, fd);
	return 0;
}

static int
worker_on_scan(void *ctx, const struct krx_ipc_hdr *h, const uint8_t *p,
    size_t len, int fd)
{
	if (h->type == KRX_IPC_SCAN_START)
		krx_scan_start(ctx, h->id, p, len);
	else
		krx_scan_cancel(ctx, h->id);
	return 0;
}

/* What a worker accepts from the master (proto/ipc.h). */
static const struct krx_dispatch_row worker_master_rows[] = {
	{ KRX_IPC_DRAIN, KRX_DISPATCH_S_ANY, 0, 0, KRX_DISPATCH_FD_NONE, 0,
	    0, worker_on_drain },
	{ KRX_IPC_KS_CHANNEL, KRX_DISPATCH_S_ANY, 0, 0,
	    KRX_DISPATCH_FD_REQUIRED, 0, 0, worker_on_ks_channel },
	{ KRX_IPC_W_DEK_DROP, KRX_DISPATCH_S_ANY, 8, 8 + 255,
	    KRX_DISPATCH_FD_NONE, 0, 0, krx_worker_on_dek_drop },
	{ KRX_IPC_SCAN_START, KRX_DISPATCH_S_ANY, 16, 16 + 249,
	    KRX_DISPATCH_FD_NONE, 0, 0, worker_on_scan },
	{ KRX_IPC_SCAN_CANCEL, KRX_DISPATCH_S_ANY, 0, 0, KRX_DISPATCH_FD_NONE,
	    0, 0, worker_on_scan },
};
static const struct krx_dispatch_table worker_master_table =
    KRX_DISPATCH_TABLE("master -> worker", worker_master_rows);
static struct krx_dispatch_peer worker_master_peer;

/* A message the master should not have sent: exit KRX_EXIT_IPC. */
static void
worker_chan_msg(struct krx_chan *c, const struct krx_ipc_hdr *h,
    const uint8_t *p, size_t len, int fd, void *arg)
{
	int	 v;

	v = krx_dispatch_run(&worker_master_table, &worker_master_peer, arg,
	    h, p, len, fd);
	if (v != KRX_DISPATCH_OK) {
		log_fatal_status(KRX_EXIT_IPC);
		fatalx("bad message %u from master: %s", h->type,
		    krx_dispatch_strerror(v));
	}
}

static void
worker_chan_eof(struct krx_chan *c, int err, void *arg)
{
	struct krx_worker	*w = arg;

	log_debug("master channel closed; exiting");
	event_base_loopexit(w->base, NULL);
}

static void
worker_signal(evutil_socket_t sig, short what, void *arg)
{
	struct krx_worker	*w = arg;

	if (sig == SIGQUIT)
		worker_drain(w);
	else
		event_base_loopexit(w->base, NULL);
}

struct worker_listen {
	struct krx_worker		*w;
	const struct krx_listener	*l;
};

static void
worker_accept(struct evconnlistener *el, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct worker_listen	*wl = arg;

	if (wl->w->conf->vclusters[wl->l->vc].proxy_protocol)
		krx_proxyhdr_start(wl->w, wl->l, fd, sa, salen);
	else
		krx_session_accept(wl->w, wl->l, fd, sa, salen);
}

static void
worker_accept_resume(evutil_socket_t fd, short what, void *arg)
{
	struct krx_worker	*w = arg;
	size_t			 i;

	if (w->draining)
		return;
	for (i = 0; i < w->n_listeners; i++)
		evconnlistener_enable(w->listeners[i]);
}

static void
worker_accept_error(struct evconnlistener *el, void *arg)
{
	struct worker_listen	*wl = arg;
	struct krx_worker	*w = wl->w;
	struct timeval		 tv = { 1, 0 };
	size_t			 i;

	if (errno != EMFILE && errno != ENFILE && errno != ENOBUFS &&
	    errno != ENOMEM) {
		log_warn("accept on port %d", wl->l->port);
		return;
	}
	if (evtimer_pending(w->accept_timer, NULL))
		return;
	log_warn("accept on port %d: pausing accepts for 1 s", wl->l->port);
	for (i = 0; i < w->n_listeners; i++)
		evconnlistener_disable(w->listeners[i]);
	evtimer_add(w->accept_timer, &tv);
}

static void
worker_listen(struct krx_worker *w)
{
	struct worker_listen	*wl;
	size_t			 i;

	w->n_listeners = w->cy->n_listeners;
	w->listeners = xcalloc(w->n_listeners, sizeof(*w->listeners));
	wl = xcalloc(w->n_listeners, sizeof(*wl));
	w->listen_ctx = wl;
	krx_limit_init(w);
	for (i = 0; i < w->n_listeners; i++) {
		wl[i].w = w;
		wl[i].l = &w->cy->listeners[i];
		w->listeners[i] = evconnlistener_new(w->base, worker_accept,
		    &wl[i], LEV_OPT_CLOSE_ON_EXEC, -1, wl[i].l->fd);
		if (w->listeners[i] == NULL)
			fatalx("cannot watch listener on port %d",
			    wl[i].l->port);
		evconnlistener_set_error_cb(w->listeners[i],
		    worker_accept_error);
	}
}

static void
worker_free(struct krx_worker *w)
{
	struct krx_session	*s;
	size_t			 i;

	while ((s = TAILQ_FIRST(&w->sessions)) != NULL)
		krx_session_free(s);
	krx_proxyhdr_free_all(w);
	krx_scan_free_all(w);
	krx_httpd_free(worker_http);
	worker_http = NULL;
	krx_limit_free(w);
	for (i = 0; i < w->n_listeners; i++)
		evconnlistener_free(w->listeners[i]);
	free(w->listeners);
	free(w->listen_ctx);
	krx_keyclient_free(w->kc);
	krx_topiclimit_free(w->limits);
	krx_zctx_free(w->z);
	krx_chan_free(w->chan);
	if (w->drain_timer != NULL)
		event_free(w->drain_timer);
	event_free(w->accept_timer);
	free(w->rr);
	evdns_base_free(w->dns, 0);
	event_base_free(w->base);
}

/*
 * Fetch responses come in buffers of about a megabyte, one after the
 * other. glibc would map each one fresh and unmap it when freed, and the
 * page faults of filling it again cost more than decrypting it: keep such
 * buffers in the heap, and up to WORKER_TRIM_KEEP of free heap mapped.
 */
#define WORKER_MMAP_ABOVE	(8 * 1024 * 1024)
#define WORKER_TRIM_KEEP	(32 * 1024 * 1024)

static void
worker_malloc_tune(void)
{
	/* Only a hint: sanitizers' allocators refuse it. */
	if (mallopt(M_MMAP_THRESHOLD, WORKER_MMAP_ABOVE) != 1 ||
	    mallopt(M_TRIM_THRESHOLD, WORKER_TRIM_KEEP) != 1)
		log_debug("mallopt refused: large buffers are mapped anew");
}

/*
 * With the epoll changelist, arming and disarming a write event in one
 * turn of the loop costs nothing (krx_bev_write_now relies on it). Its
 * known problem is with dup()ed descriptors, which workers do not use.
 */
static struct event_base *
worker_base_new(void)
{
	struct event_config	*cfg;
	struct event_base	*base;

	if ((cfg = event_config_new()) == NULL)
		return NULL;
	event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base;
}

void
krx_worker_main(struct krx_cycle *cy, int slot, int chan, int keys)
{
	static struct krx_worker	 w;
	static const int		 sigs[] = { SIGTERM, SIGINT, SIGQUIT };
	struct event			*sev[3];
	size_t				 i;

	log_procname("worker[%d]", slot);
	krx_proctitle_set("worker %d (generation %u)", slot, cy->generation);
	log_fatal_status(KRX_EXIT_SOFTWARE);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	signal(SIGPIPE, SIG_IGN);
	worker_malloc_tune();
	worker_drop_privileges(cy->conf->user);
	worker_harden(cy);
	w.cy = cy;
	w.conf = cy->conf;
	w.nodemap = cy->nodemap;
	w.slot = cy->row_base + slot;	/* counters row, unique across the
					 * generations that run at once */
	krx_worker_metrics_init(&w);
	TAILQ_INIT(&w.sessions);
	w.rr = xcalloc(cy->conf->n_vclusters, sizeof(*w.rr));
	w.rr[0] = (unsigned)slot;
	if ((w.base = worker_base_new()) == NULL)
		fatalx("event_base_new failed");
	w.dns = evdns_base_new(w.base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
	if (w.dns == NULL && (w.dns = evdns_base_new(w.base, 0)) == NULL)
		fatalx("evdns_base_new failed");
	w.accept_timer = evtimer_new(w.base, worker_accept_resume, &w);
	for (i = 0; i < 3; i++) {
		sev[i] = evsignal_new(w.base, sigs[i], worker_signal, &w);
		evsignal_add(sev[i], NULL);
	}
	krx_dispatch_peer_init(&worker_master_peer);
	w.chan = krx_chan_new(w.base, chan, KRX_IPC_MAX_WORKER, KRX_CHAN_FD_IN,
	    worker_chan_msg, worker_chan_eof, &w);
	w.kc = krx_keyclient_new(&w);
	w.limits = krx_topiclimit_new();
	if ((w.z = krx_zctx_new()) == NULL)
		log_warnx("no memory for zstd contexts: made per batch");
	krx_keyclient_set_channel(w.kc, keys);
	worker_listen(&w);
	if (cy->metrics_fd != -1) {
		worker_http = krx_httpd_new(&w, cy->metrics_fd);
		cy->metrics_fd = -1;	/* taken over */
	}
	krx_chan_send(w.chan, KRX_IPC_READY, 0, 0, NULL, 0, -1);
	event_base_dispatch(w.base);
	for (i = 0; i < 3; i++)
		event_free(sev[i]);
	worker_free(&w);
	exit(0);
}
