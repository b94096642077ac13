/*
 * produce_limit.c: the batch size limit of each encrypted topic of a
 * Produce request (issue 14). Known limits come from the worker's table
 * (topiclimit.c); an unknown one is asked of the cluster with a
 * DescribeConfigs of the topic's max.message.bytes, sent on the
 * session's own broker connection (the client's credentials, the
 * client's ACLs) ahead of the Produce, which waits for the answer. A
 * stale one is asked again without waiting. A topic the cluster will not
 * describe (no DESCRIBE_CONFIGS permission, an error) gets Kafka's
 * default and is "guessed": its Produce answers are watched for
 * MESSAGE_TOO_LARGE (produce_split.c).
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/shm/stats.h"
#include "common/xmalloc.h"
#include "common/cycle.h"
#include "proto/kafka_msg.h"
#include "worker/produce.h"
#include "worker/session.h"
#include "worker/topiclimit.h"

#define PL_KEY		"max.message.bytes"
/* Topics asked in one DescribeConfigs. */
#define PL_MAX_ASK	256

/* An outstanding DescribeConfigs; owned by its in-flight entry. */
struct pj_dconf {
	struct krx_worker	*w;
	size_t			 vc;
	struct krx_pjob		*j;		/* waiting for it, or NULL */
};

/* A config value as a size: 0 when it is not a positive decimal. */
static size_t
pl_value(const uint8_t *v, int32_t len)
{
	size_t	 n = 0;
	int32_t	 i;

	if (v == NULL || len <= 0 || len > 10)
		return 0;
	for (i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return 0;
		n = n * 10 + (size_t)(v[i] - '0');
	}
	return n;
}

static void
pl_result(void *arg, const uint8_t *name, size_t name_len, int16_t err,
    const uint8_t *value, int32_t value_len)
{
	struct pj_dconf	*d = arg;

	krx_topiclimit_set(d->w->limits, d->vc, (const char *)name, name_len,
	    krx_limit_now(), err == 0 ? pl_value(value, value_len) : 0);
}

static int
pl_answer(struct krx_session *s, void *arg, const uint8_t *body, size_t len)
{
	struct pj_dconf	*d = arg;
	struct krx_pjob	*j = d->j;
	int		 r;

	if (body != NULL && (r = krx_kafka_dconf_parse(body, len, PL_KEY,
	    pl_result, d)) != KRX_OK)
		log_warnx("conn=%llu broker=%s: cannot parse DescribeConfigs "
		    "response: %s; topic batch limits taken as %d bytes",
		    (unsigned long long)s->id, s->upstream_addr,
		    krx_strerror(r), KRX_TOPICLIMIT_DEFAULT);
	free(d);
	if (j == NULL)
		return 0;
	j->dconf = NULL;
	j->pending--;
	if (body == NULL)
		return 0;	/* the session is going away */
	pj_resume(j);
	return 0;
}

/* Ask the cluster for the limits of names; j waits for them if not NULL. */
static void
pl_ask(struct krx_pjob *j, const char **names, const size_t *lens, size_t n,
    int wait)
{
	struct krx_session	*s = j->s;
	struct pj_dconf		*d;
	struct krx_buf		 body;

	krx_buf_init(&body, 64 * n);
	if (krx_kafka_dconf_request(names, lens, n, PL_KEY, &body) != KRX_OK) {
		krx_buf_free(&body);
		return;
	}
	d = xcalloc(1, sizeof(*d));
	d->w = s->w;
	d->vc = s->vc;
	if (wait) {
		d->j = j;
		j->dconf = d;
		j->pending++;
	}
	krx_session_send_internal(s, KRX_API_DESCRIBE_CONFIGS,
	    KRX_DCONF_VERSION, &body, pl_answer, d);
	krx_stats_add(s->w->cy->stats, s->w->slot, KRX_STAT_LIMIT_LOOKUPS, 1);
	krx_buf_free(&body);
}

/* Topic t's limit from the table; 1 when it must be asked for. */
static int
pl_lookup(struct krx_pjob *j, struct pj_topic *t, int *wait)
{
	enum krx_topiclimit_state st;

	st = krx_topiclimit_get(j->s->w->limits, j->s->vc, t->name,
	    t->name_len, krx_limit_now(), &t->limit, &t->guessed);
	if (st != KRX_TOPICLIMIT_UNKNOWN) {
		t->limit_known = 1;
		return st == KRX_TOPICLIMIT_STALE;
	}
	if (j->limits_asked) {
		/* Asked, and not answered for this topic: the default. */
		t->limit = KRX_TOPICLIMIT_DEFAULT;
		t->guessed = 1;
		t->limit_known = 1;
		return 0;
	}
	*wait = 1;
	return 1;
}

int
pj_check_limits(struct krx_pjob *j)
{
	const char	*names[PL_MAX_ASK];
	size_t		 lens[PL_MAX_ASK], i, n = 0;
	int		 wait = 0;

	for (i = 0; i < j->req.ntopics; i++) {
		if (j->topics[i].state != PJ_ENC || j->topics[i].limit_known)
			continue;
		if (pl_lookup(j, &j->topics[i], &wait) && n < PL_MAX_ASK) {
			names[n] = j->topics[i].name;
			lens[n++] = j->topics[i].name_len;
		}
	}
	if (n > 0 && j->s->dconf >= 0)
		pl_ask(j, names, lens, n, wait);
	else
		/* The broker has no DescribeConfigs v1: the default. */
		for (i = 0; i < n; i++)
			krx_topiclimit_set(j->s->w->limits, j->s->vc, names[i],
			    lens[i], krx_limit_now(), 0);
	j->limits_asked = 1;
	/* Not asked (over PL_MAX_ASK) and nothing to wait for: defaults. */
	for (i = 0; j->pending == 0 && i < j->req.ntopics; i++)
		if (j->topics[i].state == PJ_ENC && !j->topics[i].limit_known)
			(void)pl_lookup(j, &j->topics[i], &wait);
	return j->pending == 0;
}

void
pj_limits_cancel(struct krx_pjob *j)
{
	if (j->dconf != NULL) {
		j->dconf->j = NULL;
		j->dconf = NULL;
	}
}

int
pj_limit_lower(struct krx_pjob *j, size_t ti, size_t size)
{
	struct pj_topic	*t = &j->topics[ti];

	if (krx_topiclimit_lower(j->s->w->limits, j->s->vc, t->name,
	    t->name_len, krx_limit_now(), size) != 0)
		return -1;
	log_info("conn=%llu: topic %s: the broker refused an encrypted batch "
	    "of %zu bytes as too large; batches of this topic are split "
	    "smaller from now on", (unsigned long long)j->s->id, t->name,
	    size);
	return 0;
}
