/*
 * nodemap.h: node id -> upstream broker address, per virtual cluster,
 * in a shared memory region the master maps before forking so that an
 * address learned by one worker (from a Metadata, FindCoordinator or
 * DescribeCluster response) serves every worker. Entries are seqlocked
 * with bounded waits (issue 9, finding 12).
 */
#ifndef KRX_WORKER_NODEMAP_H
#define KRX_WORKER_NODEMAP_H

#include <stddef.h>
#include <stdint.h>

struct krx_conf;
struct krx_nodemap;

#define KRX_NODEMAP_HOST_MAX	255

/* Master, before fork: map the region. fatal on failure (pre-READY). */
struct krx_nodemap *krx_nodemap_create(const struct krx_conf *conf);
void	krx_nodemap_free(struct krx_nodemap *nm);
/*
 * Record node's upstream address. Returns 1 when it changed, 0 when it
 * was already known, KRX_E_RANGE for a node id outside the range, a host
 * too long or a port outside 1..65535, KRX_E_NOTFOUND when the entry
 * stays locked by another writer (the address is not recorded).
 */
int	krx_nodemap_set(struct krx_nodemap *nm, size_t vc, int32_t node,
	    const char *host, size_t host_len, int32_t port);
/*
 * Copy node's address into host (NUL-terminated). KRX_E_NOTFOUND when
 * unknown or when the entry stays locked (a bounded wait: the caller
 * falls back as for an unknown node).
 */
int	krx_nodemap_get(struct krx_nodemap *nm, size_t vc, int32_t node,
	    char host[KRX_NODEMAP_HOST_MAX + 1], int32_t *port);
/*
 * Master, after reaping worker pid: release the entries it held locked,
 * forgetting those it left half written. Returns how many it released.
 */
size_t	krx_nodemap_repair(struct krx_nodemap *nm, int32_t pid);

#endif
