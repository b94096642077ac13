/*
 * metrics.c: STUB of the Prometheus text renderer (see metrics.h): two
 * families, enough for the HTTP listener's tests. Library grade.
 */
#include <inttypes.h>
#include <stdio.h>

#include "common/err.h"
#include "common/shm/metrics.h"
#include "common/shm/stats.h"

int
krx_metrics_render(const struct krx_metrics_src *src, struct krx_buf *out)
{
	char	 line[256];
	int	 n;

	n = snprintf(line, sizeof(line),
	    "# HELP krx_generation The serving configuration generation.\n"
	    "# TYPE krx_generation gauge\n"
	    "krx_generation %" PRIu32 "\n"
	    "# HELP krx_connections_accepted Client connections accepted.\n"
	    "# TYPE krx_connections_accepted counter\n"
	    "krx_connections_accepted_total %" PRIu64 "\n",
	    src->generation, src->stats != NULL ?
	    krx_stats_sum(src->stats, KRX_STAT_CONN_ACCEPTED) : 0);
	if (n < 0 || (size_t)n >= sizeof(line))
		return KRX_E_NOMEM;
	return krx_buf_put(out, line, (size_t)n) == KRX_OK ? KRX_OK :
	    KRX_E_NOMEM;
}
