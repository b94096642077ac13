/*
 * topicmap.h: topic id -> topic name, learned from Metadata responses by
 * any worker, in a shared memory region the master maps before forking
 * (the Metadata response may pass through another worker than the
 * Produce or Fetch that needs the name). Open addressing, seqlocked
 * entries, no deletion: a recreated topic gets a new id.
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
/* Record id -> name; 0, or KRX_E_RANGE (bad name, zero id, map full). */
int	krx_topicmap_put(struct krx_topicmap *tm, const uint8_t id[16],
	    const char *name, size_t len);
/* Copy the name (NUL-terminated) and its length; KRX_E_NOTFOUND. */
int	krx_topicmap_get(struct krx_topicmap *tm, const uint8_t id[16],
	    char name[KRX_TOPIC_NAME_MAX + 1], size_t *len);

#endif
