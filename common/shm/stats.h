/*
 * stats.h: counters of the workers, in a shared memory region the
 * master maps before forking. Each worker writes only its own row
 * (relaxed atomics, so readers never see a torn value); the master sums
 * the rows for krx-ctl and, later, metrics.
 */
#ifndef KRX_SHM_STATS_H
#define KRX_SHM_STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "common/limits.h"

#define KRX_STATS_ROWS	KRX_MAX_ROWS	/* both generations' workers */

enum krx_stat {
	KRX_STAT_CONN_ACCEPTED = 0,
	KRX_STAT_CONN_ACTIVE,
	KRX_STAT_KEY_REQUESTS,		/* requests sent to keysvc */
	KRX_STAT_KEY_FAILURES,		/* failed, timed out or lost */
	KRX_STAT_DEK_MEM_HITS,		/* DEK found in the worker's LRU */
	KRX_STAT_LMDB_HITS,		/* DEK found in the shared cache */
	KRX_STAT_LMDB_MISSES,
	KRX_STAT_RECORDS_ENCRYPTED,
	KRX_STAT_RECORDS_PLAIN,
	KRX_STAT_RECORDS_DECRYPTED,
	KRX_STAT_FETCH_STREAMED,	/* responses sent as they came */
	KRX_STAT_BATCHES_SPLIT,		/* encrypted batches over the limit */
	KRX_STAT_SPLIT_PIECES,		/* batches they were sent as */
	KRX_STAT_LIMIT_LOOKUPS,		/* DescribeConfigs sent */
	KRX_STAT_DEK_MEM_MISSES,	/* DEK not in the worker's LRU */
	KRX_STAT_N
};

struct krx_stats {
	_Atomic uint64_t	 v[KRX_STATS_ROWS][KRX_STAT_N];
};

/* Map a zeroed region shared with children; NULL on failure. */
struct krx_stats *krx_stats_create(void);
void	krx_stats_free(struct krx_stats *st);
uint64_t krx_stats_sum(const struct krx_stats *st, enum krx_stat which);
const char *krx_stat_name(enum krx_stat which);

static inline void
krx_stats_add(struct krx_stats *st, int row, enum krx_stat which,
    int64_t n)
{
	if (st != NULL)
		atomic_fetch_add_explicit(&st->v[row][which], (uint64_t)n,
		    memory_order_relaxed);
}

#endif
