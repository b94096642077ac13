/*
 * stats.c: the shared counter region (see stats.h).
 */
#include <stddef.h>
#include <sys/mman.h>

#include "common/shm/stats.h"

static const char *const stat_names[KRX_STAT_N] = {
	"connections_accepted",
	"connections_active",
	"keysvc_requests",
	"keysvc_failures",
	"dek_memory_hits",
	"dek_lmdb_hits",
	"dek_lmdb_misses",
	"records_encrypted",
	"records_plain",
	"records_decrypted",
	"fetch_responses_streamed",
	"batches_split",
	"split_pieces",
	"topic_limit_lookups",
	"dek_memory_misses",
};

struct krx_stats *
krx_stats_create(void)
{
	void	*p;

	p = mmap(NULL, sizeof(struct krx_stats), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void
krx_stats_free(struct krx_stats *st)
{
	if (st != NULL)
		munmap(st, sizeof(*st));
}

uint64_t
krx_stats_sum(const struct krx_stats *st, enum krx_stat which)
{
	uint64_t	 sum = 0;
	int		 i;

	for (i = 0; i < KRX_STATS_ROWS; i++)
		sum += atomic_load_explicit(&st->v[i][which],
		    memory_order_relaxed);
	return sum;
}

const char *
krx_stat_name(enum krx_stat which)
{
	return which < KRX_STAT_N ? stat_names[which] : "?";
}
