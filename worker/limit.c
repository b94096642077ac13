/*
 * limit.c: what one client may cost a worker (issue 9, finding 4).
 * max_connections and max_connections_per_client_address are checked at
 * accept (per worker); worker_buffer_bytes bounds the bytes read from
 * clients and not yet handed on (partial frames, whole frames waiting);
 * the handshake, idle and request timeouts are checked once a second.
 * Program grade; runs in each worker and trusts no client.
 *
 * The budget: a session is charged the length of its client input (and
 * the copy of a Produce request waiting for keys), or the size of the
 * frame coming in when it holds a reservation for it
 * (the frame's buffer is made that large up front, so it is charged
 * before its bytes arrive). A frame is only read on with a reservation,
 * and one is only granted within the budget. When the worker goes over
 * its budget (the bytes read past a reservation, 64 KiB at most per
 * read), every session without a reservation stops reading; they read
 * again once the worker is back under seven eighths of it. A frame that
 * never completes ends with request_timeout, which gives its bytes back.
 */
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common/log.h"
#include "conf/conf.h"
#include "worker/session.h"

#define LIMIT_LOG_EVERY		10	/* seconds between refusal lines */

int64_t
krx_limit_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

static void
limit_peer(const struct sockaddr *sa, uint8_t peer[17])
{
	memset(peer, 0, 17);
	peer[0] = (uint8_t)sa->sa_family;
	if (sa->sa_family == AF_INET)
		memcpy(peer + 1, &((const struct sockaddr_in *)(const void *)
		    sa)->sin_addr, 4);
	else if (sa->sa_family == AF_INET6)
		memcpy(peer + 1, &((const struct sockaddr_in6 *)(const void *)
		    sa)->sin6_addr, 16);
}

/* Refusals are logged at most every LIMIT_LOG_EVERY seconds, counted. */
static void
limit_refuse(struct krx_worker *w, const char *setting, int max)
{
	int64_t	 now = krx_limit_now();

	w->refused++;
	if (w->refused_logged != 0 && now - w->refused_logged <
	    LIMIT_LOG_EVERY)
		return;
	log_warnx("refused %llu connection%s: %s (%d) reached",
	    (unsigned long long)w->refused, w->refused == 1 ? "" : "s",
	    setting, max);
	w->refused = 0;
	w->refused_logged = now;
}

/*
 * Counting a client address's connections walks the worker's sessions:
 * max_connections of them at most, compared 17 bytes at a time.
 */
int
krx_limit_admit(struct krx_worker *w, const struct sockaddr *sa,
    uint8_t peer[17])
{
	const struct krx_conf	*conf = w->conf;
	struct krx_session	*s;
	int			 n = 0;

	limit_peer(sa, peer);
	if (w->n_sessions >= (size_t)conf->max_connections) {
		limit_refuse(w, "max_connections", conf->max_connections);
		return -1;
	}
	TAILQ_FOREACH(s, &w->sessions, entry) {
		if (memcmp(s->peer, peer, 17) != 0 ||
		    ++n < conf->max_connections_per_addr)
			continue;
		limit_refuse(w, "max_connections_per_client_address",
		    conf->max_connections_per_addr);
		return -1;
	}
	return 0;
}

static size_t
limit_budget(const struct krx_worker *w)
{
	return (size_t)w->conf->worker_buffer_bytes;
}

/* Wait for want bytes of room (0: for the worker to be under budget). */
static void
limit_wait(struct krx_session *s, size_t want)
{
	struct krx_worker	*w = s->w;

	if (!s->budget_wait) {
		s->budget_wait = 1;
		LIST_INSERT_HEAD(&w->budget_waiters, s, budget_entry);
	}
	s->want = want;
	if (want < w->min_want)
		w->min_want = want;
	krx_session_pause(s);
}

void
krx_limit_wait(struct krx_session *s)
{
	limit_wait(s, 0);
}

static void
limit_over(struct krx_worker *w)
{
	struct krx_session	*s;

	w->over_budget = 1;
	log_debug("%zu bytes buffered, over worker_buffer_bytes: pausing "
	    "reads", w->buffered);
	TAILQ_FOREACH(s, &w->sessions, entry)
		if (s->reserved == 0 && !s->closing && !s->budget_wait)
			krx_limit_wait(s);
}

/*
 * After a change of w->buffered (freed: it went down). The waiters are
 * woken only when bytes were given back and the least of them fits, so
 * that a wake-up leads to a reservation, never to a loop of wake-ups.
 */
static void
limit_check(struct krx_worker *w, int freed)
{
	size_t	 budget = limit_budget(w);

	if (w->buffered > budget) {
		if (!w->over_budget)
			limit_over(w);
		return;
	}
	if (w->over_budget && w->buffered <= budget - budget / 8)
		w->over_budget = 0;
	if (freed && !w->over_budget && !LIST_EMPTY(&w->budget_waiters) &&
	    w->buffered + w->min_want <= budget && w->budget_ev != NULL)
		event_active(w->budget_ev, EV_TIMEOUT, 0);
}

void
krx_limit_charge(struct krx_session *s)
{
	struct krx_worker	*w = s->w;
	size_t			 now;
	int			 freed;

	now = evbuffer_get_length(bufferevent_get_input(s->client)) +
	    s->held_bytes;
	if (s->reserved > now)
		now = s->reserved;
	w->buffered = w->buffered - s->charged + now;
	freed = now < s->charged;
	s->charged = now;
	limit_check(w, freed);
}

int
krx_limit_reserve(struct krx_session *s, size_t n)
{
	struct krx_worker	*w = s->w;

	if (w->over_budget || w->buffered - s->charged + n > limit_budget(w)) {
		limit_wait(s, n);
		return -1;
	}
	s->reserved = n;
	krx_limit_charge(s);
	return 0;
}

void
krx_limit_gone(struct krx_session *s)
{
	if (s->budget_wait)
		LIST_REMOVE(s, budget_entry);
	s->budget_wait = 0;
	s->w->buffered -= s->charged;
	s->charged = 0;
	s->reserved = 0;
	limit_check(s->w, 1);
}

/* Let the waiting sessions read again, while the worker has room. */
static void
limit_wake(evutil_socket_t fd, short what, void *arg)
{
	struct krx_worker	*w = arg;
	struct krx_session_list	 todo;
	struct krx_session	*s;

	LIST_INIT(&todo);
	while ((s = LIST_FIRST(&w->budget_waiters)) != NULL) {
		LIST_REMOVE(s, budget_entry);
		LIST_INSERT_HEAD(&todo, s, budget_entry);
	}
	w->min_want = SIZE_MAX;
	/* A session that must wait again goes back on budget_waiters. */
	while (!w->over_budget && (s = LIST_FIRST(&todo)) != NULL) {
		LIST_REMOVE(s, budget_entry);
		s->budget_wait = 0;
		(void)krx_session_go(s);	/* may free s */
	}
	while ((s = LIST_FIRST(&todo)) != NULL) {
		LIST_REMOVE(s, budget_entry);
		LIST_INSERT_HEAD(&w->budget_waiters, s, budget_entry);
		if (s->want < w->min_want)
			w->min_want = s->want;
	}
}

/* Close s if one of its timeouts ran out. */
static void
limit_timeouts(struct krx_session *s, int64_t now)
{
	const struct krx_conf	*conf = s->w->conf;

	if (!s->authed && now - s->t_handshake >= conf->handshake_timeout) {
		krx_session_close(s, KRX_LOG_WARN, "no %s within "
		    "handshake_timeout (%d s)", s->sasl ? "successful "
		    "SaslAuthenticate" : "response to ApiVersions or another "
		    "request", conf->handshake_timeout);
		return;
	}
	if (s->t_frame != 0 && s->held == NULL && (!s->client_paused ||
	    s->budget_wait) && now - s->t_frame >= conf->request_timeout) {
		krx_session_close(s, KRX_LOG_WARN, "request not received "
		    "within request_timeout (%d s; %zu bytes of it in)",
		    conf->request_timeout, evbuffer_get_length(
		    bufferevent_get_input(s->client)));
		return;
	}
	if (s->n_inflight == 0 && s->held == NULL &&
	    now - s->t_active >= conf->idle_timeout)
		krx_session_close(s, KRX_LOG_INFO, "idle for idle_timeout "
		    "(%d s)", conf->idle_timeout);
}

static void
limit_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct krx_worker	*w = arg;
	struct krx_session	*s, *next;
	int64_t			 now = krx_limit_now();

	for (s = TAILQ_FIRST(&w->sessions); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		if (!s->closing)
			limit_timeouts(s, now);
	}
}

void
krx_limit_init(struct krx_worker *w)
{
	struct timeval	 tv = { 1, 0 };

	LIST_INIT(&w->budget_waiters);
	w->min_want = SIZE_MAX;
	w->budget_ev = event_new(w->base, -1, 0, limit_wake, w);
	w->sweep_ev = event_new(w->base, -1, EV_PERSIST, limit_sweep, w);
	if (w->budget_ev == NULL || w->sweep_ev == NULL)
		fatalx("cannot create the limit events");
	evtimer_add(w->sweep_ev, &tv);
}

void
krx_limit_free(struct krx_worker *w)
{
	if (w->budget_ev != NULL)
		event_free(w->budget_ev);
	if (w->sweep_ev != NULL)
		event_free(w->sweep_ev);
	w->budget_ev = w->sweep_ev = NULL;
}
