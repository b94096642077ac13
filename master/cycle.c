/*
 * cycle.c: making and freeing a generation (common/cycle.h). The master
 * makes one per configuration it runs: the counters region, the DEK
 * cache key (random, only ever in memory), the node and topic maps;
 * sockets.c adds the listeners. Program grade; fatal on failure, which
 * happens before the master reports READY.
 */
#include <stdlib.h>

#include <openssl/rand.h>

#include "common/log.h"
#include "common/shm/nodemap.h"
#include "common/shm/stats.h"
#include "common/shm/topicmap.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "crypto/dekcache.h"
#include "crypto/secret.h"
#include "master/master.h"

struct krx_cycle *
krx_cycle_new(struct krx_conf *conf, uint32_t generation)
{
	struct krx_cycle	*cy;

	cy = xcalloc(1, sizeof(*cy));
	cy->generation = generation;
	cy->conf = conf;
	if ((cy->stats = krx_stats_create()) == NULL)
		fatal("mmap stats");
	cy->cache_key = krx_secret_new(KRX_DEKCACHE_SEAL_LEN);
	if (cy->cache_key == NULL)
		fatal("cannot allocate the DEK cache key");
	if (RAND_bytes(cy->cache_key->data, (int)cy->cache_key->len) != 1)
		fatalx("cannot make the DEK cache key");
	cy->nodemap = krx_nodemap_create(conf);
	if ((cy->topicmap = krx_topicmap_create(conf->n_vclusters)) == NULL)
		fatal("mmap topic map");
	return cy;
}

void
krx_cycle_forget_secrets(struct krx_cycle *cy)
{
	krx_secret_free(cy->cache_key);
	cy->cache_key = NULL;
}

/* The listeners are closed by sockets.c first. */
void
krx_cycle_free(struct krx_cycle *cy)
{
	if (cy == NULL)
		return;
	krx_nodemap_free(cy->nodemap);
	krx_topicmap_free(cy->topicmap);
	krx_stats_free(cy->stats);
	krx_secret_free(cy->cache_key);
	krx_conf_free(cy->conf);
	free(cy->listeners);
	free(cy);
}
