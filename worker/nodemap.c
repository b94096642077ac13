/*
 * nodemap.c: the shared node address map (see nodemap.h). Writers take
 * an entry's sequence from even to odd with a compare-and-swap, write,
 * and release it at the next even value; readers retry until they see
 * the same even sequence before and after copying.
 */
#include <sched.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#include "common/err.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "worker/nodemap.h"

struct nodemap_entry {
	_Atomic uint32_t	 seq;
	int32_t			 port;	/* 0: unknown */
	uint16_t		 host_len;
	char			 host[KRX_NODEMAP_HOST_MAX + 1];
};

struct krx_nodemap {
	struct nodemap_entry	*entries;	/* shared */
	size_t			 n_entries;
	size_t			*first;		/* per vcluster */
	int			*max_node;	/* per vcluster */
	size_t			 n_vc;
};

struct krx_nodemap *
krx_nodemap_create(const struct krx_conf *conf)
{
	struct krx_nodemap	*nm = xcalloc(1, sizeof(*nm));
	size_t			 i;

	nm->n_vc = conf->n_vclusters;
	nm->first = xcalloc(nm->n_vc, sizeof(*nm->first));
	nm->max_node = xcalloc(nm->n_vc, sizeof(*nm->max_node));
	for (i = 0; i < nm->n_vc; i++) {
		nm->first[i] = nm->n_entries;
		nm->max_node[i] = conf->vclusters[i].max_node_id;
		nm->n_entries += conf->vclusters[i].max_node_id + 1;
	}
	nm->entries = mmap(NULL, nm->n_entries * sizeof(*nm->entries),
	    PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (nm->entries == MAP_FAILED)
		fatal("mmap node map");
	return nm;
}

void
krx_nodemap_free(struct krx_nodemap *nm)
{
	if (nm == NULL)
		return;
	munmap(nm->entries, nm->n_entries * sizeof(*nm->entries));
	free(nm->first);
	free(nm->max_node);
	free(nm);
}

static struct nodemap_entry *
nodemap_entry(struct krx_nodemap *nm, size_t vc, int32_t node)
{
	if (vc >= nm->n_vc || node < 0 || node > nm->max_node[vc])
		return NULL;
	return &nm->entries[nm->first[vc] + node];
}

int
krx_nodemap_set(struct krx_nodemap *nm, size_t vc, int32_t node,
    const char *host, size_t host_len, int32_t port)
{
	struct nodemap_entry	*e = nodemap_entry(nm, vc, node);
	uint32_t		 s;
	int			 changed;

	if (e == NULL || host_len > KRX_NODEMAP_HOST_MAX)
		return KRX_E_RANGE;
	for (;;) {
		s = atomic_load_explicit(&e->seq, memory_order_acquire);
		if ((s & 1) == 0 && atomic_compare_exchange_weak(&e->seq, &s,
		    s + 1))
			break;
		sched_yield();
	}
	changed = e->port != port || e->host_len != host_len ||
	    memcmp(e->host, host, host_len) != 0;
	if (changed) {
		memcpy(e->host, host, host_len);
		e->host[host_len] = '\0';
		e->host_len = (uint16_t)host_len;
		e->port = port;
	}
	atomic_store_explicit(&e->seq, s + 2, memory_order_release);
	return changed;
}

int
krx_nodemap_get(struct krx_nodemap *nm, size_t vc, int32_t node,
    char host[KRX_NODEMAP_HOST_MAX + 1], int32_t *port)
{
	struct nodemap_entry	*e = nodemap_entry(nm, vc, node);
	uint32_t		 s1, s2;

	if (e == NULL)
		return KRX_E_RANGE;
	for (;;) {
		s1 = atomic_load_explicit(&e->seq, memory_order_acquire);
		if (s1 & 1) {
			sched_yield();
			continue;
		}
		*port = e->port;
		memcpy(host, e->host, sizeof(e->host));
		atomic_thread_fence(memory_order_acquire);
		s2 = atomic_load_explicit(&e->seq, memory_order_relaxed);
		if (s1 == s2)
			break;
	}
	host[KRX_NODEMAP_HOST_MAX] = '\0';
	return *port == 0 ? KRX_E_NOTFOUND : KRX_OK;
}
