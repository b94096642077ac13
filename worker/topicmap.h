/*
 * topicmap.h: (virtual cluster, topic id) -> topic name, learned from
 * Metadata responses by any worker, in a shared memory region the master
 * maps before forking (the Metadata response may pass through another
 * worker than the Produce or Fetch that needs the name). Open
 * addressing, seqlocked entries with bounded waits, no deletion: a
 * recreated topic gets a new id.
 */
#ifndef KRX_WORKER_TOPICMAP_H
#define KRX_WORKER_TOPICMAP_H

#include <stddef.h>
#include <stdint.h>

#define KRX_TOPIC_NAME_MAX	249
#define KRX_TOPICMAP_SLOTS	32768

struct krx_topicmap;

/* Master, before fork; NULL on failure. */
struct krx_topicmap *krx_topicmap_create(void);
void	krx_topicmap_free(struct krx_topicmap *tm);
/*
 * Record (vc, id) -> name, vc being the virtual cluster whose broker
 * named the topic (issue 9, finding 12: another cluster's broker cannot
 * rename this cluster's topics). Returns 0; KRX_E_RANGE for a bad name,
 * a zero id or a full map; KRX_E_NOTFOUND when an entry on the way stays
 * locked (nothing recorded).
 */
int	krx_topicmap_put(struct krx_topicmap *tm, size_t vc,
	    const uint8_t id[16], const char *name, size_t len);
/*
 * Copy the name of (vc, id) (NUL-terminated) and its length;
 * KRX_E_NOTFOUND when unknown or when an entry stays locked (bounded).
 */
int	krx_topicmap_get(struct krx_topicmap *tm, size_t vc,
	    const uint8_t id[16], char name[KRX_TOPIC_NAME_MAX + 1],
	    size_t *len);
/*
 * Master, after reaping worker pid: release the entries it held locked;
 * one it left half written matches no id again. Returns how many.
 */
size_t	krx_topicmap_repair(struct krx_topicmap *tm, int32_t pid);

#endif
