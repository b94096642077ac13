/*
 * nodemap.c: the node address map (see nodemap.h). The master creates
 * the shared region and is its only writer; workers map it read-only
 * and keep what they learn themselves in a private overlay until the
 * master has written it (issue 9, finding 12).
 *
 * The region is sealed (region.c): a worker's read-only mapping cannot
 * be made writable again. Entries are seqlocked: the writer takes the
 * sequence odd, writes and takes it even again; readers copy the entry
 * and retry while it is odd or moved, a bounded number of times
 * (NODEMAP_TRIES), so that even an entry left odd costs a lookup miss,
 * not a spinning worker.
 */
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "common/shm/nodemap.h"
#include "common/shm/region.h"

#define NODEMAP_TRIES		1000	/* sched_yield rounds, then a miss */
#define NODEMAP_OVERLAY_SECS	10	/* a worker's own news, until then */

struct nodemap_entry {
	_Atomic uint32_t	 seq;	/* odd while written */
	int32_t			 port;	/* 0: unknown */
	uint16_t		 host_len;
	char			 host[KRX_NODEMAP_HOST_MAX + 1];
};

struct krx_nodemap {
	struct nodemap_entry	*entries;	/* shared */
	size_t			 n_entries;
	size_t			 map_len;
	int			 fd;		/* memfd; -1 in workers */
	int			 readonly;	/* a worker's view */
	struct nodemap_entry	*overlay;	/* workers: private */
	time_t			*overlay_at;	/* 0: no overlay entry */
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
	nm->map_len = nm->n_entries * sizeof(*nm->entries);
	nm->entries = krx_region_create("krx-nodemap", nm->map_len, &nm->fd);
	if (nm->entries == NULL) {
		krx_nodemap_free(nm);
		return NULL;
	}
	return nm;
}

void
krx_nodemap_readonly(struct krx_nodemap *nm)
{
	struct nodemap_entry	*ro;

	ro = krx_region_readonly(nm->entries, nm->map_len, nm->fd);
	if (ro == NULL)
		fatal("cannot map the node map read-only");
	nm->entries = ro;
	nm->fd = -1;
	nm->readonly = 1;
	nm->overlay = xcalloc(nm->n_entries, sizeof(*nm->overlay));
	nm->overlay_at = xcalloc(nm->n_entries, sizeof(*nm->overlay_at));
}

void
krx_nodemap_free(struct krx_nodemap *nm)
{
	if (nm == NULL)
		return;
	if (nm->entries != NULL)
		munmap(nm->entries, nm->map_len);
	if (nm->fd != -1)
		close(nm->fd);
	free(nm->overlay);
	free(nm->overlay_at);
	free(nm->first);
	free(nm->max_node);
	free(nm);
}

static ssize_t
nodemap_index(const struct krx_nodemap *nm, size_t vc, int32_t node)
{
	if (vc >= nm->n_vc || node < 0 || node > nm->max_node[vc])
		return -1;
	return (ssize_t)(nm->first[vc] + (size_t)node);
}

/* A consistent, checked copy of e; KRX_E_NOTFOUND when unknown. */
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
		if (s1 != s2)
			continue;
		if (copy->port < 1 || copy->port > 65535 ||
		    copy->host_len > KRX_NODEMAP_HOST_MAX)
			return KRX_E_NOTFOUND;
		copy->host[copy->host_len] = '\0';
		return KRX_OK;
	}
	return KRX_E_NOTFOUND;
}

static void
nodemap_write(struct nodemap_entry *e, const char *host, size_t host_len,
    int32_t port)
{
	uint32_t	 s;

	s = atomic_load_explicit(&e->seq, memory_order_relaxed) | 1;
	atomic_store_explicit(&e->seq, s, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	memcpy(e->host, host, host_len);
	e->host[host_len] = '\0';
	e->host_len = (uint16_t)host_len;
	e->port = port;
	atomic_store_explicit(&e->seq, s + 1, memory_order_release);
}

/* What a lookup of entry i sees: a worker's fresh news, else shared. */
static int
nodemap_lookup(struct krx_nodemap *nm, size_t i, struct nodemap_entry *c)
{
	if (nm->readonly && nm->overlay_at[i] != 0 &&
	    time(NULL) - nm->overlay_at[i] <= NODEMAP_OVERLAY_SECS &&
	    nodemap_read(&nm->overlay[i], c) == KRX_OK)
		return KRX_OK;
	return nodemap_read(&nm->entries[i], c);
}

int
krx_nodemap_set(struct krx_nodemap *nm, size_t vc, int32_t node,
    const char *host, size_t host_len, int32_t port)
{
	struct nodemap_entry	 c;
	ssize_t			 i = nodemap_index(nm, vc, node);

	if (i < 0 || host_len > KRX_NODEMAP_HOST_MAX || port < 1 ||
	    port > 65535)
		return KRX_E_RANGE;
	if (nodemap_lookup(nm, (size_t)i, &c) == KRX_OK &&
	    c.port == port && c.host_len == host_len &&
	    memcmp(c.host, host, host_len) == 0)
		return 0;
	if (nm->readonly) {
		nodemap_write(&nm->overlay[i], host, host_len, port);
		nm->overlay_at[i] = time(NULL);
	} else
		nodemap_write(&nm->entries[i], host, host_len, port);
	return 1;
}

int
krx_nodemap_get(struct krx_nodemap *nm, size_t vc, int32_t node,
    char host[KRX_NODEMAP_HOST_MAX + 1], int32_t *port)
{
	struct nodemap_entry	 c;
	ssize_t			 i = nodemap_index(nm, vc, node);
	int			 r;

	*port = 0;
	host[0] = '\0';
	if (i < 0)
		return KRX_E_RANGE;
	if ((r = nodemap_lookup(nm, (size_t)i, &c)) != KRX_OK)
		return r;
	memcpy(host, c.host, (size_t)c.host_len + 1);
	*port = c.port;
	return KRX_OK;
}

/* u32 vc | i32 node | i32 port | u16 host_len | host, big-endian. */
static void
nodemap_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t
nodemap_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

size_t
krx_nodemap_msg_encode(uint8_t out[KRX_NODEMAP_MSG_MAX], size_t vc,
    int32_t node, const char *host, size_t host_len, int32_t port)
{
	if (host_len > KRX_NODEMAP_HOST_MAX || vc > UINT32_MAX)
		return 0;
	nodemap_put32(out, (uint32_t)vc);
	nodemap_put32(out + 4, (uint32_t)node);
	nodemap_put32(out + 8, (uint32_t)port);
	out[12] = (uint8_t)(host_len >> 8);
	out[13] = (uint8_t)host_len;
	memcpy(out + 14, host, host_len);
	return 14 + host_len;
}

int
krx_nodemap_msg_decode(const uint8_t *p, size_t len, size_t *vc,
    int32_t *node, const char **host, size_t *host_len, int32_t *port)
{
	if (len < 14)
		return KRX_E_TRUNCATED;
	*vc = nodemap_get32(p);
	*node = (int32_t)nodemap_get32(p + 4);
	*port = (int32_t)nodemap_get32(p + 8);
	*host_len = (size_t)p[12] << 8 | p[13];
	*host = (const char *)p + 14;
	if (*host_len > KRX_NODEMAP_HOST_MAX)
		return KRX_E_TOO_BIG;
	return len == 14 + *host_len ? KRX_OK : KRX_E_TRAILING;
}
