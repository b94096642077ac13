/*
 * cycle.c: making and freeing a generation (common/cycle.h). The master
 * makes one per configuration it runs: the DEK cache key (random, only
 * ever in memory), the node and topic maps, or the previous
 * generation's maps when its virtual clusters are the same; sockets.c
 * adds the listeners, and the counters region is the master's. Freeing
 * spares what the surviving generation shares. Program grade.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "common/log.h"
#include "common/shm/nodemap.h"
#include "common/shm/topicmap.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "crypto/dekcache.h"
#include "crypto/secret.h"
#include "crypto/tlsctx.h"
#include "master/master.h"

struct krx_cycle *
krx_cycle_new(struct krx_conf *conf, uint32_t generation, int row_base,
    struct krx_stats *stats)
{
	struct krx_cycle	*cy;

	cy = xcalloc(1, sizeof(*cy));
	cy->generation = generation;
	cy->row_base = row_base;
	cy->metrics_fd = -1;
	cy->conf = conf;
	cy->stats = stats;
	cy->cache_key = krx_secret_new(KRX_DEKCACHE_SEAL_LEN);
	if (cy->cache_key == NULL ||
	    RAND_bytes(cy->cache_key->data, (int)cy->cache_key->len) != 1) {
		log_warnx("cannot make the DEK cache key");
		goto fail;
	}
	if ((cy->nodemap = krx_nodemap_create(conf)) == NULL) {
		log_warn("mmap node map");
		goto fail;
	}
	if ((cy->topicmap = krx_topicmap_create(conf->n_vclusters)) == NULL) {
		log_warn("mmap topic map");
		goto fail;
	}
	return cy;
fail:
	cy->conf = NULL;	/* the caller's still */
	krx_cycle_free(cy, NULL);
	return NULL;
}

static int
cycle_strs_eq(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	    (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Same cluster behind it, same node range, same hosts allowed. */
static int
cycle_vc_same(const struct krx_conf_vcluster *a,
    const struct krx_conf_vcluster *b)
{
	size_t	 i;

	if (strcmp(a->name, b->name) != 0 || a->max_node_id != b->max_node_id ||
	    a->n_upstream != b->n_upstream ||
	    a->n_allowed_hosts != b->n_allowed_hosts)
		return 0;
	for (i = 0; i < a->n_upstream; i++)
		if (!cycle_strs_eq(a->upstream[i].host, b->upstream[i].host) ||
		    a->upstream[i].port != b->upstream[i].port)
			return 0;
	for (i = 0; i < a->n_allowed_hosts; i++)
		if (!cycle_strs_eq(a->allowed_hosts[i], b->allowed_hosts[i]))
			return 0;
	return 1;
}

int
krx_cycle_adopt_maps(struct krx_cycle *cy, const struct krx_cycle *old)
{
	size_t	 i;

	if (cy->conf->n_vclusters != old->conf->n_vclusters)
		return 0;
	for (i = 0; i < cy->conf->n_vclusters; i++)
		if (!cycle_vc_same(&cy->conf->vclusters[i],
		    &old->conf->vclusters[i]))
			return 0;
	krx_nodemap_free(cy->nodemap);
	krx_topicmap_free(cy->topicmap);
	cy->nodemap = old->nodemap;
	cy->topicmap = old->topicmap;
	return 1;
}

/* One side's context; NULL without a tls group or with errs. */
static SSL_CTX *
cycle_tls_ctx(const struct krx_conf_vcluster *vc, int server,
    struct krx_conf_errors *errs, const char *path)
{
	const struct krx_conf_tls	*t = server ? &vc->tls :
	    &vc->upstream_tls;
	SSL_CTX				*ctx;
	char				 err[512];

	if (!t->present)
		return NULL;
	ctx = server ? krx_tlsctx_server(t, err, sizeof(err)) :
	    krx_tlsctx_client(t, err, sizeof(err));
	if (ctx == NULL)
		krx_conf_error(errs, path, vc->line, "virtual cluster %s: %s "
		    "TLS: %s", vc->name, server ? "client-facing" : "upstream",
		    err);
	else if (!server && t->insecure)
		log_warnx("virtual cluster %s: upstream tls.trust.insecure = "
		    "true: the brokers' certificates and names are NOT "
		    "checked; anyone on the path can read and change every "
		    "record. For tests only.", vc->name);
	return ctx;
}

int
krx_cycle_tls_open(struct krx_cycle *cy, struct krx_conf_errors *errs)
{
	const struct krx_conf_vcluster	*vc;
	size_t				 i, n = errs->n;

	cy->tls = xcalloc(cy->conf->n_vclusters, sizeof(*cy->tls));
	for (i = 0; i < cy->conf->n_vclusters; i++) {
		vc = &cy->conf->vclusters[i];
		cy->tls[i].server = cycle_tls_ctx(vc, 1, errs, cy->conf->path);
		cy->tls[i].client = cycle_tls_ctx(vc, 0, errs, cy->conf->path);
		cy->tls[i].verify_host = !vc->upstream_tls.insecure;
	}
	return errs->n > n || errs->dropped > 0 ? -1 : 0;
}

void
krx_cycle_tls_close(struct krx_cycle *cy)
{
	size_t	 i;

	for (i = 0; cy->tls != NULL && i < cy->conf->n_vclusters; i++) {
		SSL_CTX_free(cy->tls[i].server);
		SSL_CTX_free(cy->tls[i].client);
	}
	free(cy->tls);
	cy->tls = NULL;
}

void
krx_cycle_forget_secrets(struct krx_cycle *cy)
{
	krx_secret_free(cy->cache_key);
	cy->cache_key = NULL;
}

static int
cycle_has_fd(const struct krx_cycle *cy, int fd)
{
	size_t	 i;

	for (i = 0; cy != NULL && i < cy->n_listeners; i++)
		if (cy->listeners[i].fd == fd)
			return 1;
	return 0;
}

void
krx_cycle_free(struct krx_cycle *cy, const struct krx_cycle *keep)
{
	size_t	 i;

	if (cy == NULL)
		return;
	for (i = 0; i < cy->n_listeners; i++)
		if (cy->listeners[i].fd != -1 &&
		    !cycle_has_fd(keep, cy->listeners[i].fd))
			close(cy->listeners[i].fd);
	if (cy->metrics_fd != -1 &&
	    (keep == NULL || keep->metrics_fd != cy->metrics_fd))
		close(cy->metrics_fd);
	if (keep == NULL || keep->nodemap != cy->nodemap)
		krx_nodemap_free(cy->nodemap);
	if (keep == NULL || keep->topicmap != cy->topicmap)
		krx_topicmap_free(cy->topicmap);
	krx_secret_free(cy->cache_key);
	if (cy->conf != NULL)
		krx_cycle_tls_close(cy);
	krx_conf_free(cy->conf);
	free(cy->listeners);
	free(cy);
}
