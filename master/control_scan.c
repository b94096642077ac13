/*
 * control_scan.c: krx-ctl scan in the master. The request names a
 * virtual cluster (empty: the first with record_encryption), a topic, a
 * partition (-1: all) and a deadline; it goes to one worker of the
 * serving generation that scans nothing yet (SCAN_START, a relay id of
 * the master's). The worker's SCAN_DATA pieces go on to krx-ctl as
 * CTL_SCAN_DATA, its SCAN_END as CTL_OK. krx-ctl gone: the worker is
 * told to stop (SCAN_CANCEL); the worker gone: krx-ctl is told.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common/chan.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "master/control_scan.h"
#include "master/master.h"

struct scan_wait {
	struct scan_wait	*next;
	uint32_t		 id;		/* to the worker */
	uint32_t		 ctl_id;
	struct bufferevent	*bev;
	struct krx_slot		*s;
	pid_t			 pid;
	size_t			 relayed;	/* SCAN_DATA bytes */
};

static struct scan_wait	*scan_waits;
static struct event	*scan_check_ev;

static void
scan_reply(struct bufferevent *bev, uint32_t type, uint32_t id,
    uint16_t flags, const void *p, size_t len)
{
	krx_ipc_send(bufferevent_get_output(bev), type, id, flags, p, len);
}

static void
scan_error(struct bufferevent *bev, uint32_t id, const char *msg)
{
	scan_reply(bev, KRX_IPC_CTL_OK, id, KRX_IPC_F_ERROR, msg, strlen(msg));
}

static void
scan_unlink(struct scan_wait *w)
{
	struct scan_wait	**wp;

	for (wp = &scan_waits; *wp != NULL; wp = &(*wp)->next)
		if (*wp == w) {
			*wp = w->next;
			break;
		}
	free(w);
}

/* Once a second while scans run: a worker that went away. */
static void
scan_check(evutil_socket_t fd, short what, void *arg)
{
	struct timeval		 tv = { 1, 0 };
	struct scan_wait	*w, *next;

	for (w = scan_waits; w != NULL; w = next) {
		next = w->next;
		if (w->s->pid == w->pid && w->s->chan != NULL &&
		    w->s->state == KRX_CHILD_RUNNING)
			continue;
		scan_error(w->bev, w->ctl_id, "the worker scanning went away");
		scan_unlink(w);
	}
	if (scan_waits != NULL)
		evtimer_add(scan_check_ev, &tv);
}

static int
scan_get_str(struct krx_cur *c, const uint8_t **p, uint32_t *n,
    uint32_t max)
{
	return krx_cur_get_be32(c, n) == KRX_OK && *n <= max &&
	    krx_cur_get_ref(c, *n, p) == KRX_OK ? 0 : -1;
}

/* The virtual cluster named (n bytes; 0: the first encrypting), or -1. */
static int
scan_vc(const struct krx_conf *conf, const uint8_t *name, uint32_t n)
{
	size_t	 i;

	for (i = 0; i < conf->n_vclusters; i++) {
		if (n == 0 && conf->vclusters[i].enc.enabled)
			return (int)i;
		if (n > 0 && strlen(conf->vclusters[i].name) == n &&
		    memcmp(conf->vclusters[i].name, name, n) == 0)
			return (int)i;
	}
	return -1;
}

/* A running worker of the serving generation with no scan, or NULL. */
static struct krx_slot *
scan_pick(struct krx_master *m)
{
	static unsigned		 rr;
	struct krx_gen		*g = m->cur;
	struct krx_slot		*s;
	struct scan_wait	*w;
	int			 i;

	for (i = 0; i < g->n_workers; i++) {
		s = &g->slots[(rr + (unsigned)i) % (unsigned)g->n_workers];
		if (s->state != KRX_CHILD_RUNNING || s->chan == NULL)
			continue;
		for (w = scan_waits; w != NULL; w = w->next)
			if (w->s == s)
				break;
		if (w == NULL) {
			rr++;
			return s;
		}
	}
	return NULL;
}

void
krx_control_scan(struct krx_master *m, struct bufferevent *bev,
    const struct krx_ipc_hdr *h, const struct krx_buf *p)
{
	static uint32_t		 next_id;
	struct timeval		 tv = { 1, 0 };
	struct krx_cur		 c;
	struct krx_buf		 b;
	struct krx_slot		*s;
	struct scan_wait	*w;
	const uint8_t		*vcn, *topic;
	uint32_t		 vclen, tlen, timeout;
	int32_t			 part;
	int			 vc;

	krx_cur_init(&c, p->data, p->len);
	if (scan_get_str(&c, &vcn, &vclen, 255) != 0 ||
	    scan_get_str(&c, &topic, &tlen, 249) != 0 ||
	    krx_cur_get_i32(&c, &part) != KRX_OK ||
	    krx_cur_get_be32(&c, &timeout) != KRX_OK ||
	    krx_cur_end(&c) != KRX_OK) {
		scan_error(bev, h->id, "malformed scan request");
		return;
	}
	if ((vc = scan_vc(m->cy->conf, vcn, vclen)) < 0 ||
	    !m->cy->conf->vclusters[vc].enc.enabled) {
		scan_error(bev, h->id, vc < 0 ? "no such virtual cluster "
		    "(or none with record_encryption)" : "that virtual "
		    "cluster has no record_encryption");
		return;
	}
	if ((s = scan_pick(m)) == NULL) {
		scan_error(bev, h->id, "no worker is free to scan (one scan "
		    "at a time per worker)");
		return;
	}
	w = xcalloc(1, sizeof(*w));
	w->id = ++next_id;
	w->ctl_id = h->id;
	w->bev = bev;
	w->s = s;
	w->pid = s->pid;
	w->next = scan_waits;
	scan_waits = w;
	krx_buf_init(&b, 16 + tlen);
	krx_buf_put_be32(&b, (uint32_t)vc);
	krx_buf_put_be32(&b, timeout);
	krx_buf_put_be32(&b, (uint32_t)part);
	krx_buf_put_be32(&b, tlen);
	krx_buf_put(&b, topic, tlen);
	if (b.err == KRX_OK)
		krx_chan_send(s->chan, KRX_IPC_SCAN_START, w->id, 0, b.data,
		    b.len, -1);
	krx_buf_free(&b);
	log_info("scan of a topic requested by krx-ctl: worker %d", s->slot);
	if (scan_check_ev == NULL)
		scan_check_ev = evtimer_new(m->base, scan_check, m);
	if (!evtimer_pending(scan_check_ev, NULL))
		evtimer_add(scan_check_ev, &tv);
}

int
krx_control_scan_message(struct krx_master *m, struct krx_slot *s,
    const struct krx_ipc_hdr *h, const uint8_t *p, size_t len)
{
	struct scan_wait	*w;

	for (w = scan_waits; w != NULL; w = w->next)
		if (w->id == h->id && w->s == s)
			break;
	if (w == NULL)
		return 0;	/* krx-ctl went away */
	if (h->type == KRX_IPC_SCAN_DATA &&
	    len > KRX_IPC_SCAN_REPORT_MAX - w->relayed) {
		log_warnx("worker %d (pid %d): scan report over %d bytes; "
		    "cancelled", s->slot, (int)s->pid,
		    KRX_IPC_SCAN_REPORT_MAX);
		krx_chan_send(s->chan, KRX_IPC_SCAN_CANCEL, w->id, 0, NULL, 0,
		    -1);
		scan_error(w->bev, w->ctl_id, "the scan's report was too long");
		scan_unlink(w);
		return 0;
	}
	if (h->type == KRX_IPC_SCAN_DATA) {
		w->relayed += len;
		scan_reply(w->bev, KRX_IPC_CTL_SCAN_DATA, w->ctl_id, 0, p,
		    len);
		return 0;
	}
	scan_reply(w->bev, KRX_IPC_CTL_OK, w->ctl_id,
	    h->flags & KRX_IPC_F_ERROR, p, len);
	scan_unlink(w);
	return 0;
}

int
krx_control_scan_busy(const struct krx_master *m,
    const struct bufferevent *bev)
{
	const struct scan_wait	*w;

	for (w = scan_waits; w != NULL; w = w->next)
		if (w->bev == bev)
			return 1;
	return 0;
}

void
krx_control_scan_forget(struct krx_master *m, struct bufferevent *bev)
{
	struct scan_wait	*w, *next;

	for (w = scan_waits; w != NULL; w = next) {
		next = w->next;
		if (w->bev != bev)
			continue;
		if (w->s->chan != NULL && w->s->pid == w->pid)
			krx_chan_send(w->s->chan, KRX_IPC_SCAN_CANCEL, w->id,
			    0, NULL, 0, -1);
		scan_unlink(w);
	}
}
