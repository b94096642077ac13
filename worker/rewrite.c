/*
 * rewrite.c: responses krx changes before the client sees them.
 * ApiVersions is clamped to what krx can parse; every broker endpoint
 * (Metadata, FindCoordinator, DescribeCluster, the NodeEndpoints of
 * Produce, Fetch, ShareFetch and ShareAcknowledge) is learned into the
 * node map and replaced with krx's port for that node. A response krx
 * cannot rewrite is never forwarded as it is: the connection closes.
 */
#include <arpa/inet.h>
#include <string.h>

#include <event2/buffer.h>

#include "common/chan.h"
#include "common/log.h"
#include "conf/conf.h"
#include "common/cycle.h"
#include "proto/kafka_msg.h"
#include "common/shm/nodemap.h"
#include "worker/session.h"
#include "common/shm/topicmap.h"

#define REWRITE_SCRATCH_KEEP	(64 * 1024)

/*
 * Issue 9, finding 12: brokers choose the addresses krx connects to; a
 * virtual cluster's upstream.allowed_hosts bounds them (the endpoint's
 * form was checked by the parser).
 */
static int
rewrite_host_allowed(const struct krx_conf_vcluster *vc,
    const struct krx_kafka_endpoint *up)
{
	char	 host[KRX_KAFKA_HOST_MAX + 1];

	if (vc->n_allowed_hosts == 0)
		return 1;
	if (up->host_len > KRX_KAFKA_HOST_MAX)
		return 0;
	memcpy(host, up->host, up->host_len);
	host[up->host_len] = '\0';
	if (krx_conf_host_allowed(vc, host))
		return 1;
	log_warnx("virtual cluster %s: refusing broker %d at %s:%d: host not "
	    "in upstream allowed_hosts", vc->name, up->node_id, host,
	    up->port);
	return 0;
}

/* Issue 9, finding 12: the master writes the shared node map. */
static void
rewrite_tell_node(struct krx_session *s, const struct krx_kafka_endpoint *up)
{
	uint8_t	 msg[KRX_NODEMAP_MSG_MAX];
	size_t	 n;

	if ((n = krx_nodemap_msg_encode(msg, s->vc, up->node_id, up->host,
	    up->host_len, up->port)) > 0)
		krx_chan_send(s->w->chan, KRX_IPC_NODE_LEARNED, 0, 0, msg, n,
		    -1);
}

/*
 * Where clients reach broker node: advertised_host and its node port,
 * or with SNI routing its server name and the one port. The name lives
 * in a buffer of this worker's until the next call (each endpoint is
 * written out before the next is learned).
 */
static void
rewrite_advertise(const struct krx_conf_vcluster *vc, int32_t node,
    struct krx_kafka_endpoint *adv)
{
	static char	 name[KRX_NODEMAP_HOST_MAX + 1];
	int		 n;

	if (vc->sni_bootstrap == NULL) {
		adv->host = vc->advertised_host;
		adv->host_len = strlen(vc->advertised_host);
		adv->port = vc->node_start_port + node;
		return;
	}
	n = snprintf(name, sizeof(name), "%s%d%s", vc->sni_prefix, (int)node,
	    vc->sni_suffix);
	adv->host = name;
	adv->host_len = n < 0 ? 0 : (size_t)n >= sizeof(name) ?
	    sizeof(name) - 1 : (size_t)n;
	adv->port = vc->bootstrap.port;
}

int
krx_rewrite_learn(void *arg, const struct krx_kafka_endpoint *up,
    struct krx_kafka_endpoint *adv)
{
	struct krx_session		*s = arg;
	const struct krx_conf_vcluster	*vc = &s->w->conf->vclusters[s->vc];
	int				 r;

	*adv = *up;
	if (up->node_id < 0)
		return KRX_OK;	/* "no coordinator": nothing to reach */
	if (up->node_id > vc->max_node_id)
		return KRX_E_RANGE;
	if (!rewrite_host_allowed(vc, up))
		return KRX_E_NOTFOUND;
	r = krx_nodemap_set(s->w->nodemap, s->vc, up->node_id, up->host,
	    up->host_len, up->port);
	if (r < 0)
		return r;
	rewrite_advertise(vc, up->node_id, adv);
	if (r == 1) {
		rewrite_tell_node(s, up);
		log_info("virtual cluster %s: broker %d is at %.*s:%d, "
		    "advertised as %.*s:%d", vc->name, up->node_id,
		    (int)up->host_len, up->host, up->port, (int)adv->host_len,
		    adv->host, adv->port);
	}
	return KRX_OK;
}

static int
rewrite_topic(void *arg, const uint8_t *name, int32_t name_len,
    const uint8_t *id, int16_t error_code)
{
	struct krx_session	*s = arg;
	uint8_t			 msg[KRX_TOPICMAP_MSG_MAX];
	size_t			 n;

	if (name == NULL || name_len <= 0 || error_code != 0)
		return KRX_OK;
	if (krx_topicmap_put(s->w->cy->topicmap, s->vc, id, (const char *)name,
	    (size_t)name_len) != 1)
		return KRX_OK;
	if ((n = krx_topicmap_msg_encode(msg, s->vc, id, (const char *)name,
	    (size_t)name_len)) > 0)
		krx_chan_send(s->w->chan, KRX_IPC_TOPIC_LEARNED, 0, 0, msg, n,
		    -1);
	return KRX_OK;
}

/* Metadata v10+ pairs topic names and ids: remember them for all. */
static void
rewrite_learn_topics(struct krx_session *s, struct krx_inflight *f,
    struct evbuffer *in, uint32_t size)
{
	const uint8_t	*frame;
	size_t		 hlen;

	if (f->api_version < 10 || !s->w->conf->vclusters[s->vc].enc.enabled)
		return;
	frame = evbuffer_pullup(in, 4 + (size_t)size) + 4;
	if (krx_kafka_resp_hdr_len(frame, size, f->api_key, f->api_version,
	    &hlen) == KRX_OK)
		krx_kafka_metadata_topics(frame + hlen, size - hlen,
		    f->api_version, rewrite_topic, s);
}

/* Move the response to dst unchanged but for the client's id. */
static void
rewrite_verbatim(struct krx_inflight *f, struct evbuffer *in, uint32_t size,
    struct evbuffer *dst)
{
	uint8_t		 hdr[8];
	uint32_t	 be = htonl((uint32_t)f->client_corr);

	evbuffer_remove(in, hdr, sizeof(hdr));
	memcpy(hdr + 4, &be, 4);
	evbuffer_add(dst, hdr, sizeof(hdr));
	evbuffer_remove_buffer(in, dst, size - 4);
}

static void
rewrite_emit(struct krx_session *s, struct krx_inflight *f,
    const uint8_t *frame, size_t hlen, struct evbuffer *dst)
{
	uint8_t		 hdr[8];
	uint32_t	 size = (uint32_t)(hlen + s->scratch.len);

	size = htonl(size);
	memcpy(hdr, &size, 4);
	size = htonl((uint32_t)f->client_corr);
	memcpy(hdr + 4, &size, 4);
	evbuffer_add(dst, hdr, sizeof(hdr));
	evbuffer_add(dst, frame + 4, hlen - 4);	/* header tags */
	evbuffer_add(dst, s->scratch.data, s->scratch.len);
}

static int
rewrite_body(struct krx_session *s, struct krx_inflight *f,
    const uint8_t *body, size_t len)
{
	int16_t	 min, max;

	if (f->api_key == KRX_API_API_VERSIONS) {
		/* Whether krx may ask DescribeConfigs v1 (produce_limit.c). */
		if (krx_kafka_apiversions_range(body, len, f->api_version,
		    KRX_API_DESCRIBE_CONFIGS, &min, &max) == KRX_OK &&
		    min <= KRX_DCONF_VERSION && KRX_DCONF_VERSION <= max)
			s->dconf = 1;
		else
			s->dconf = -1;
		return krx_kafka_apiversions_clamp(body, len, f->api_version,
		    &s->scratch);
	}
	return krx_kafka_rewrite_endpoints(f->api_key, f->api_version, body,
	    len, krx_rewrite_learn, s, &s->scratch);
}

int
krx_rewrite_response(struct krx_session *s, struct krx_inflight *f,
    struct evbuffer *in, uint32_t size, struct evbuffer *dst)
{
	const uint8_t	*frame;
	size_t		 hlen;
	int		 r;

	if ((f->api_key == KRX_API_FETCH || f->api_key ==
	    KRX_API_SHARE_FETCH) && s->w->conf->vclusters[s->vc].enc.enabled &&
	    (r = krx_filter_fetch(s, f, in, size, dst)) != 2)
		return r;
	if (f->api_key == KRX_API_METADATA)
		rewrite_learn_topics(s, f, in, size);

	if (f->api_key != KRX_API_API_VERSIONS &&
	    !krx_kafka_has_endpoints(f->api_key, f->api_version)) {
		rewrite_verbatim(f, in, size, dst);
		return 0;
	}
	frame = evbuffer_pullup(in, 4 + (size_t)size) + 4;
	r = krx_kafka_resp_hdr_len(frame, size, f->api_key, f->api_version,
	    &hlen);
	if (r == KRX_OK) {
		krx_buf_reset(&s->scratch);
		r = rewrite_body(s, f, frame + hlen, size - hlen);
	}
	if (r == KRX_E_RANGE) {
		krx_session_close(s, KRX_LOG_WARN, "%s response names a broker "
		    "whose node id is over max_node_id %d",
		    krx_kafka_api_name(f->api_key),
		    s->w->conf->vclusters[s->vc].max_node_id);
		return -1;
	}
	if (r == KRX_E_NOTFOUND) {
		krx_session_close(s, KRX_LOG_WARN, "%s response names a broker "
		    "outside upstream allowed_hosts",
		    krx_kafka_api_name(f->api_key));
		return -1;
	}
	if (r < 0) {
		krx_session_close(s, KRX_LOG_WARN, "cannot parse %s v%d "
		    "response from broker: %s", krx_kafka_api_name(f->api_key),
		    f->api_version, krx_strerror(r));
		return -1;
	}
	if (r == 0) {
		rewrite_verbatim(f, in, size, dst);
		return 0;
	}
	rewrite_emit(s, f, frame, hlen, dst);
	evbuffer_drain(in, 4 + (size_t)size);
	if (s->scratch.cap > REWRITE_SCRATCH_KEEP) {
		krx_buf_free(&s->scratch);
		krx_buf_init(&s->scratch, 0);
	}
	return 0;
}
