/*
 * topicmap.h: (virtual cluster, topic id) -> topic name, learned from
 * Metadata responses by any worker, in a shared memory region the master
 * maps before forking (the Metadata response may pass through another
 * worker than the Produce or Fetch that needs the name). Open
 * addressing, seqlocked entries with bounded waits, no deletion: a
 * recreated topic gets a new id. Issue 9, finding 12: only the master
 * writes the region, from what workers report; workers map it read-only.
 */
#ifndef KRX_SHM_TOPICMAP_H
#define KRX_SHM_TOPICMAP_H

#include <stddef.h>
#include <stdint.h>

#define KRX_TOPIC_NAME_MAX	249
#define KRX_TOPICMAP_SLOTS	32768

struct krx_topicmap;

/*
 * Master, before fork, for n_vc virtual clusters, each of which may
 * hold an equal share of 3/4 of the slots; NULL on failure.
 */
struct krx_topicmap *krx_topicmap_create(size_t n_vc);
void	krx_topicmap_free(struct krx_topicmap *tm);
/*
 * Worker, as it starts: map the shared region read-only and start a
 * private table for what this worker learns until the master, the only
 * writer of the shared region, has it (KRX_IPC_TOPIC_LEARNED). 0, or
 * KRX_E_NOMEM / KRX_E_IO (the map is unchanged).
 */
int	krx_topicmap_readonly(struct krx_topicmap *tm);
/*
 * Record (vc, id) -> name, vc being the virtual cluster whose broker
 * named the topic (issue 9, finding 12: another cluster's broker cannot
 * rename this cluster's topics); in a worker, into its private table.
 * Returns 1 when recorded, 0 when already known; KRX_E_RANGE for a name
 * that is not a Kafka topic name, a zero id, a vc out of range or vc's
 * share of the table full.
 */
int	krx_topicmap_put(struct krx_topicmap *tm, size_t vc,
	    const uint8_t id[16], const char *name, size_t len);
/*
 * Copy the name of (vc, id) (NUL-terminated) and its length, from the
 * shared region or else the worker's own table; KRX_E_NOTFOUND when
 * unknown or when an entry stays odd (a bounded wait).
 */
int	krx_topicmap_get(struct krx_topicmap *tm, size_t vc,
	    const uint8_t id[16], char name[KRX_TOPIC_NAME_MAX + 1],
	    size_t *len);

/* A non-zero id and a Kafka topic name: [A-Za-z0-9._-], 1 to 249. */
int	krx_topicmap_valid(const uint8_t id[16], const char *name,
	    size_t len);

/* KRX_IPC_TOPIC_LEARNED: u32 vc | id[16] | u16 len | name. */
#define KRX_TOPICMAP_MSG_MAX	(22 + KRX_TOPIC_NAME_MAX)
/* Returns the length written, 0 when name is too long. */
size_t	krx_topicmap_msg_encode(uint8_t out[KRX_TOPICMAP_MSG_MAX],
	    size_t vc, const uint8_t id[16], const char *name, size_t len);
/* 0, or KRX_E_TRUNCATED, KRX_E_TOO_BIG, KRX_E_TRAILING; id and name
 * point into p; nothing else is checked. */
int	krx_topicmap_msg_decode(const uint8_t *p, size_t len, size_t *vc,
	    const uint8_t **id, const char **name, size_t *name_len);

#endif
