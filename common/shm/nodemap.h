/*
 * nodemap.h: node id -> upstream broker address, per virtual cluster,
 * in a shared memory region the master maps before forking so that an
 * address learned by one worker (from a Metadata, FindCoordinator or
 * DescribeCluster response) serves every worker. Issue 9, finding 12:
 * only the master writes the region, from what workers report; workers
 * map it read-only. Entries are seqlocked with bounded waits.
 */
#ifndef KRX_SHM_NODEMAP_H
#define KRX_SHM_NODEMAP_H

#include <stddef.h>
#include <stdint.h>

struct krx_conf;
struct krx_nodemap;

#define KRX_NODEMAP_HOST_MAX	255

/* Master, before fork: map the region. NULL when it cannot (errno). */
struct krx_nodemap *krx_nodemap_create(const struct krx_conf *conf);
void	krx_nodemap_free(struct krx_nodemap *nm);
/*
 * Record node's upstream address (in a worker: into its overlay).
 * Returns 1 when it changed, 0 when it was already known, KRX_E_RANGE
 * for a node id outside the range, a host too long or a port outside
 * 1..65535.
 */
int	krx_nodemap_set(struct krx_nodemap *nm, size_t vc, int32_t node,
	    const char *host, size_t host_len, int32_t port);
/*
 * Copy node's address into host (NUL-terminated). KRX_E_NOTFOUND when
 * unknown or when the entry stays odd (a bounded wait: the caller falls
 * back as for an unknown node).
 */
int	krx_nodemap_get(struct krx_nodemap *nm, size_t vc, int32_t node,
	    char host[KRX_NODEMAP_HOST_MAX + 1], int32_t *port);
/*
 * Worker, as it starts: map the shared region read-only (fatal on
 * failure). From then on krx_nodemap_set records into a private overlay
 * that krx_nodemap_get prefers for a few seconds, and the worker sends
 * what it learned to the master (KRX_IPC_NODE_LEARNED), the only writer
 * of the shared region.
 */
void	krx_nodemap_readonly(struct krx_nodemap *nm);

/* KRX_IPC_NODE_LEARNED: u32 vc | i32 node | i32 port | u16 len | host. */
#define KRX_NODEMAP_MSG_MAX	(14 + KRX_NODEMAP_HOST_MAX)
/* Returns the length written, 0 when host is too long. */
size_t	krx_nodemap_msg_encode(uint8_t out[KRX_NODEMAP_MSG_MAX], size_t vc,
	    int32_t node, const char *host, size_t host_len, int32_t port);
/* 0, or KRX_E_TRUNCATED, KRX_E_TOO_BIG, KRX_E_TRAILING. host points
 * into p (not NUL-terminated); nothing else is checked. */
int	krx_nodemap_msg_decode(const uint8_t *p, size_t len, size_t *vc,
	    int32_t *node, const char **host, size_t *host_len,
	    int32_t *port);

#endif
