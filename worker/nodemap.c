/*
 * nodemap.c: the shared node address map (see nodemap.h). Runs in the
 * workers (set, get) and in the master (create, repair); trusts nothing
 * in the shared region: any worker can write it.
 *
 * Each entry has a seqlock and an owner word. A writer claims the owner
 * word with its pid (compare-and-swap from 0), takes the sequence odd,
 * writes, takes it even again and clears the owner. Readers copy the
 * entry and retry while the sequence is odd or moved. Issue 9, finding
 * 12: both waits are bounded (NODEMAP_TRIES), so an entry left locked
 * by a worker killed in the middle of a write costs a lookup miss, not a
 * spinning worker; the master repairs such entries when it reaps that
 * worker (krx_nodemap_repair).
 */
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "worker/nodemap.h"

#define NODEMAP_TRIES	1000	/* sched_yield rounds before giving up */

struct nodemap_entry {
	_Atomic uint32_t	 seq;	/* odd while written */
	_Atomic int32_t		 owner;	/* pid of the writer, 0: none */
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

/* A consistent copy of e; KRX_E_NOTFOUND when it stays locked. */
static int
nodemap_read(struct nodemap_entry *e, struct nodemap_entry *copy)
{
	uint32_t	 s1, s2;
	int		 i;

	for (i = 0; i < NODEMAP_TRIES; i++) {
		s1 = atomic_load_explicit(&e->seq, memory_order_acquire);
		if (s1 & 1) {
			sched_yield();
			continue;
		}
		copy->port = e->port;
		copy->host_len = e->host_len;
		memcpy(copy->host, e->host, sizeof(copy->host));
		atomic_thread_fence(memory_order_acquire);
		s2 = atomic_load_explicit(&e->seq, memory_order_relaxed);
		if (s1 == s2) {
			copy->host[KRX_NODEMAP_HOST_MAX] = '\0';
			if (copy->host_len > KRX_NODEMAP_HOST_MAX)
				return KRX_E_NOTFOUND;
			copy->host[copy->host_len] = '\0';
			return KRX_OK;
		}
	}
	return KRX_E_NOTFOUND;
}

static int
nodemap_same(const struct nodemap_entry *c, const char *host,
    size_t host_len, int32_t port)
{
	return c->port == port && c->host_len == host_len &&
	    memcmp(c->host, host, host_len) == 0;
}

int
krx_nodemap_set(struct krx_nodemap *nm, size_t vc, int32_t node,
    const char *host, size_t host_len, int32_t port)
{
	struct nodemap_entry	*e = nodemap_entry(nm, vc, node);
	struct nodemap_entry	 c;
	int32_t			 me = (int32_t)getpid(), free_owner;
	uint32_t		 s;
	int			 i;

	if (e == NULL || host_len > KRX_NODEMAP_HOST_MAX || port < 1 ||
	    port > 65535)
		return KRX_E_RANGE;
	/* Most answers repeat what the map holds: no write then. */
	if (nodemap_read(e, &c) == KRX_OK &&
	    nodemap_same(&c, host, host_len, port))
		return 0;
	for (i = 0; i < NODEMAP_TRIES; i++) {
		free_owner = 0;
		if (atomic_compare_exchange_strong(&e->owner, &free_owner, me))
			break;
		sched_yield();
	}
	if (i == NODEMAP_TRIES)
		return KRX_E_NOTFOUND;
	s = atomic_load_explicit(&e->seq, memory_order_relaxed) | 1;
	atomic_store_explicit(&e->seq, s, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	memcpy(e->host, host, host_len);
	e->host[host_len] = '\0';
	e->host_len = (uint16_t)host_len;
	e->port = port;
	atomic_store_explicit(&e->seq, s + 1, memory_order_release);
	atomic_store_explicit(&e->owner, 0, memory_order_release);
	return 1;
}

int
krx_nodemap_get(struct krx_nodemap *nm, size_t vc, int32_t node,
    char host[KRX_NODEMAP_HOST_MAX + 1], int32_t *port)
{
	struct nodemap_entry	*e = nodemap_entry(nm, vc, node);
	struct nodemap_entry	 c;
	int			 r;

	*port = 0;
	host[0] = '\0';
	if (e == NULL)
		return KRX_E_RANGE;
	if ((r = nodemap_read(e, &c)) != KRX_OK)
		return r;
	if (c.port < 1 || c.port > 65535)
		return KRX_E_NOTFOUND;
	memcpy(host, c.host, (size_t)c.host_len + 1);
	*port = c.port;
	return KRX_OK;
}

size_t
krx_nodemap_repair(struct krx_nodemap *nm, int32_t pid)
{
	struct nodemap_entry	*e;
	size_t			 i, n = 0;
	uint32_t		 s;

	if (nm == NULL || pid <= 0)
		return 0;
	for (i = 0; i < nm->n_entries; i++) {
		e = &nm->entries[i];
		if (atomic_load_explicit(&e->owner, memory_order_acquire) !=
		    pid)
			continue;
		s = atomic_load_explicit(&e->seq, memory_order_relaxed);
		if (s & 1) {
			/* Half written: forget the address. */
			e->port = 0;
			e->host_len = 0;
			e->host[0] = '\0';
			atomic_store_explicit(&e->seq, s + 1,
			    memory_order_release);
		}
		atomic_store_explicit(&e->owner, 0, memory_order_release);
		n++;
	}
	return n;
}
