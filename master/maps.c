/*
 * maps.c: the master's side of the node and topic maps. Workers report
 * the broker addresses and topic names they learn from broker responses
 * (KRX_IPC_NODE_LEARNED, KRX_IPC_TOPIC_LEARNED); the master, the only
 * writer of the shared regions that workers map read-only, checks each
 * report as the worker must have checked it (node range, address form,
 * the virtual cluster's upstream allowed_hosts, topic name form) and
 * writes it. Issue 9, finding 12. Runs in the master; trusts nothing
 * from workers: a report the worker should not have sent is a contract
 * violation and the caller kills that worker.
 */
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "conf/conf.h"
#include "master/master.h"
#include "proto/kafka.h"
#include "common/shm/nodemap.h"
#include "common/shm/topicmap.h"

static int
maps_node(struct krx_cycle *cy, struct krx_slot *s, const uint8_t *p,
    size_t len)
{
	const struct krx_conf_vcluster	*vc;
	const char			*host;
	char				 h[KRX_NODEMAP_HOST_MAX + 1];
	size_t				 v, hlen;
	int32_t				 node, port;

	if (krx_nodemap_msg_decode(p, len, &v, &node, &host, &hlen,
	    &port) != KRX_OK || v >= cy->conf->n_vclusters)
		return -1;
	vc = &cy->conf->vclusters[v];
	if (node < 0 || node > vc->max_node_id ||
	    !krx_kafka_endpoint_valid(host, hlen, port))
		return -1;
	memcpy(h, host, hlen);
	h[hlen] = '\0';
	if (!krx_conf_host_allowed(vc, h))
		return -1;
	if (krx_nodemap_set(cy->nodemap, v, node, h, hlen, port) == 1)
		log_debug("virtual cluster %s: node %d at %s:%d, from worker "
		    "%d", vc->name, node, h, port, s->slot);
	return 0;
}

static int
maps_topic(struct krx_cycle *cy, const uint8_t *p, size_t len)
{
	const uint8_t	*id;
	const char	*name;
	size_t		 v, nlen;

	if (krx_topicmap_msg_decode(p, len, &v, &id, &name, &nlen) !=
	    KRX_OK || v >= cy->conf->n_vclusters)
		return -1;
	if (!krx_topicmap_valid(id, name, nlen))
		return -1;
	/* A full share of the map is not the worker's fault. */
	if (krx_topicmap_put(cy->topicmap, v, id, name, nlen) < 0)
		log_debug("virtual cluster %s: its share of the topic map is "
		    "full: %.*s not recorded", cy->conf->vclusters[v].name,
		    (int)nlen, name);
	return 0;
}

/* A worker's report goes into its own generation's maps. */
int
krx_maps_message(struct krx_master *m, struct krx_slot *s,
    const struct krx_ipc_hdr *h, const uint8_t *p, size_t len)
{
	struct krx_cycle	*cy = s->gen != NULL ? s->gen->cy : m->cy;

	if (h->type == KRX_IPC_NODE_LEARNED)
		return maps_node(cy, s, p, len);
	if (h->type == KRX_IPC_TOPIC_LEARNED)
		return maps_topic(cy, p, len);
	return -1;
}
