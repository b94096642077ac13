/*
 * control_fanout.c: krx-ctl requests every worker of the serving
 * generation answers (dek rotate: drop the encryption DEKs; cache
 * flush: every DEK and alias, and keysvc empties its DEK cache). The
 * master asks each running worker (KRX_IPC_W_DEK_DROP), and keysvc
 * for a flush (KRX_KEYS_CACHE_FLUSH), then answers krx-ctl once all
 * have answered, or with an error naming the first that did not within
 * KRX_FANOUT_TIMEOUT seconds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common/chan.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "master/master.h"

#define KRX_FANOUT_TIMEOUT	10		/* seconds */
#define KRX_FANOUT_ID_BASE	0x80000000u	/* ids apart from relays' */
#define KRX_FANOUT_TEXT_MAX	1024		/* of keysvc's answer */

struct fanout {
	LIST_ENTRY(fanout)	 entry;
	struct krx_master	*m;
	struct bufferevent	*bev;		/* krx-ctl's connection */
	uint32_t		 ctl_id;
	uint32_t		 id;		/* to workers and keysvc */
	uint32_t		 type;		/* KRX_IPC_CTL_DEK_ROTATE, .. */
	struct krx_slot		*waiting[KRX_MAX_WORKERS];	/* NULL:
							 * answered */
	int			 n_waiting;
	uint32_t		 n_workers;
	uint64_t		 dropped;
	const struct krx_slot	*ks;		/* keysvc asked, NULL: none */
	int			 ks_waiting;
	char			*ks_text;	/* its answer */
	size_t			 ks_len;
	struct event		*timer;
};

static LIST_HEAD(, fanout) fanouts = LIST_HEAD_INITIALIZER(fanouts);

static void
fanout_free(struct fanout *f)
{
	LIST_REMOVE(f, entry);
	if (f->timer != NULL)
		event_free(f->timer);
	free(f->ks_text);
	free(f);
}

static void
fanout_error(struct fanout *f, const char *msg)
{
	krx_ipc_send(bufferevent_get_output(f->bev), KRX_IPC_CTL_OK,
	    f->ctl_id, KRX_IPC_F_ERROR, msg, strlen(msg));
	fanout_free(f);
}

/* Every answer is in: u32 workers | u64 dropped [| u8 ks | str text]. */
static void
fanout_finish(struct fanout *f)
{
	struct krx_buf	 b;

	krx_buf_init(&b, 32 + f->ks_len);
	krx_buf_put_be32(&b, f->n_workers);
	krx_buf_put_be64(&b, f->dropped);
	if (f->type == KRX_IPC_CTL_CACHE_FLUSH) {
		krx_buf_put_u8(&b, f->ks != NULL);
		krx_buf_put_be32(&b, (uint32_t)f->ks_len);
		krx_buf_put(&b, f->ks_text, f->ks_len);
	}
	if (b.err == KRX_OK)
		krx_ipc_send(bufferevent_get_output(f->bev), KRX_IPC_CTL_OK,
		    f->ctl_id, 0, b.data, b.len);
	krx_buf_free(&b);
	fanout_free(f);
}

static void
fanout_maybe_done(struct fanout *f)
{
	if (f->n_waiting == 0 && !f->ks_waiting)
		fanout_finish(f);
}

static void
fanout_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct fanout	*f = arg;
	char		 msg[160];
	int		 i;

	for (i = 0; i < KRX_MAX_WORKERS; i++)
		if (f->waiting[i] != NULL)
			break;
	if (i < KRX_MAX_WORKERS)
		snprintf(msg, sizeof(msg), "worker %d (pid %d) of generation "
		    "%u did not answer within %d s", f->waiting[i]->slot,
		    (int)f->waiting[i]->pid, f->m->cy->generation,
		    KRX_FANOUT_TIMEOUT);
	else
		snprintf(msg, sizeof(msg), "the key service did not answer "
		    "within %d s", KRX_FANOUT_TIMEOUT);
	log_warnx("krx-ctl: %s", msg);
	fanout_error(f, msg);
}

/* dek rotate: u32 len | KEK; cache flush: empty. The KEK for workers. */
static int
fanout_request(const struct krx_ipc_hdr *h, const struct krx_buf *p,
    struct krx_buf *out)
{
	struct krx_cur	 c;
	const uint8_t	*kek = NULL;
	uint32_t	 len = 0;

	krx_cur_init(&c, p->data, p->len);
	if (h->type == KRX_IPC_CTL_DEK_ROTATE &&
	    (krx_cur_get_be32(&c, &len) != KRX_OK || len > 255 ||
	    krx_cur_get_ref(&c, len, &kek) != KRX_OK))
		return -1;
	if (krx_cur_end(&c) != KRX_OK)
		return -1;
	krx_buf_put_be32(out, h->type == KRX_IPC_CTL_DEK_ROTATE ?
	    KRX_DEK_DROP_ENCRYPT : KRX_DEK_DROP_ALL);
	krx_buf_put_be32(out, len);
	krx_buf_put(out, kek, len);
	return out->err == KRX_OK ? 0 : -1;
}

/* keysvc's part of a flush: op | str "" | str "". */
static void
fanout_ask_keysvc(struct fanout *f)
{
	static const uint8_t	 req[9] = { KRX_KEYS_CACHE_FLUSH };
	struct krx_slot		*ks = f->m->cur->keysvc;

	if (ks == NULL || ks->chan == NULL || ks->state != KRX_CHILD_RUNNING)
		return;
	f->ks = ks;
	f->ks_waiting = 1;
	krx_chan_send(ks->chan, KRX_IPC_KS_ADMIN, f->id, 0, req, sizeof(req),
	    -1);
}

void
krx_control_fanout_start(struct krx_master *m, struct bufferevent *bev,
    const struct krx_ipc_hdr *h, const struct krx_buf *p)
{
	static uint32_t		 next_id;
	struct timeval		 tv = { KRX_FANOUT_TIMEOUT, 0 };
	struct fanout		*f;
	struct krx_buf		 req;
	struct krx_slot		*s;
	int			 i;

	krx_buf_init(&req, 16);
	f = xcalloc(1, sizeof(*f));
	LIST_INSERT_HEAD(&fanouts, f, entry);
	f->m = m;
	f->bev = bev;
	f->ctl_id = h->id;
	f->type = h->type;
	f->id = KRX_FANOUT_ID_BASE | (++next_id & ~KRX_FANOUT_ID_BASE);
	if (fanout_request(h, p, &req) != 0) {
		krx_buf_free(&req);
		fanout_error(f, "malformed request");
		return;
	}
	log_info("krx-ctl %s: asking the workers of generation %u",
	    h->type == KRX_IPC_CTL_DEK_ROTATE ? "dek rotate" : "cache flush",
	    m->cy->generation);
	for (i = 0; i < m->cur->n_workers; i++) {
		s = &m->cur->slots[i];
		if (s->chan == NULL || s->state != KRX_CHILD_RUNNING)
			continue;
		f->waiting[i] = s;
		f->n_waiting++;
		krx_chan_send(s->chan, KRX_IPC_W_DEK_DROP, f->id, 0, req.data,
		    req.len, -1);
	}
	krx_buf_free(&req);
	if (h->type == KRX_IPC_CTL_CACHE_FLUSH)
		fanout_ask_keysvc(f);
	f->timer = evtimer_new(m->base, fanout_timeout, f);
	if (f->timer != NULL)
		evtimer_add(f->timer, &tv);
	fanout_maybe_done(f);
}

int
krx_control_fanout_worker(struct krx_master *m, struct krx_slot *s,
    uint32_t id, const uint8_t *p, size_t len)
{
	struct fanout	*f;
	struct krx_cur	 c;
	uint64_t	 enc, dec;

	krx_cur_init(&c, p, len);
	if (krx_cur_get_be64(&c, &enc) != KRX_OK ||
	    krx_cur_get_be64(&c, &dec) != KRX_OK || krx_cur_end(&c) != KRX_OK)
		return -1;
	LIST_FOREACH(f, &fanouts, entry) {
		if (f->id != id || s->gen != m->cur || s->slot < 0 ||
		    s->slot >= KRX_MAX_WORKERS || f->waiting[s->slot] != s)
			continue;
		f->waiting[s->slot] = NULL;
		f->n_waiting--;
		f->n_workers++;
		f->dropped += enc + dec;
		fanout_maybe_done(f);
		return 0;
	}
	return 0;	/* late (timed out) or for a gone ctl: dropped */
}

int
krx_control_fanout_keysvc(struct krx_master *m, const struct krx_slot *ks,
    uint32_t id, uint16_t flags, const uint8_t *p, size_t len)
{
	struct fanout	*f;
	char		 msg[KRX_FANOUT_TEXT_MAX + 1];

	if (!(id & KRX_FANOUT_ID_BASE))
		return 0;
	LIST_FOREACH(f, &fanouts, entry) {
		if (f->id != id || f->ks != ks || !f->ks_waiting)
			continue;
		/* Its first byte is an exit code (keysvc/admin.c). */
		if (len > 0) {
			p++;
			len--;
		}
		if (len > KRX_FANOUT_TEXT_MAX)
			len = KRX_FANOUT_TEXT_MAX;
		if (flags & KRX_IPC_F_ERROR) {
			snprintf(msg, sizeof(msg), "key service: %.*s",
			    (int)len, (const char *)p);
			fanout_error(f, msg);
			return 1;
		}
		f->ks_text = xmalloc(len + 1);
		memcpy(f->ks_text, p, len);
		f->ks_len = len;
		f->ks_waiting = 0;
		fanout_maybe_done(f);
		return 1;
	}
	return 1;
}

void
krx_control_fanout_keysvc_fail(struct krx_master *m,
    const struct krx_slot *ks, const char *why)
{
	struct fanout	*f, *next;

	for (f = LIST_FIRST(&fanouts); f != NULL; f = next) {
		next = LIST_NEXT(f, entry);
		if (f->ks_waiting && (ks == NULL || f->ks == ks))
			fanout_error(f, why);
	}
}

int
krx_control_fanout_busy(struct bufferevent *bev)
{
	struct fanout	*f;

	LIST_FOREACH(f, &fanouts, entry)
		if (f->bev == bev)
			return 1;
	return 0;
}

void
krx_control_fanout_forget(struct krx_master *m, struct bufferevent *bev)
{
	struct fanout	*f, *next;

	for (f = LIST_FIRST(&fanouts); f != NULL; f = next) {
		next = LIST_NEXT(f, entry);
		if (bev == NULL || f->bev == bev)
			fanout_free(f);
	}
}
