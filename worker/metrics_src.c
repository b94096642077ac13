/*
 * metrics_src.c: STUB. What a worker's /metrics renders: its
 * generation's view of the shared counters. The counters branch's
 * version replaces it. Runs in workers.
 */
#include <string.h>

#include "common/cycle.h"
#include "common/shm/metrics.h"
#include "worker/session.h"
#include "worker/wmetrics.h"

void
krx_worker_metrics_src(const struct krx_worker *w,
    struct krx_metrics_src *out)
{
	memset(out, 0, sizeof(*out));
	out->stats = w->cy->stats;
	out->generation = w->cy->generation;
}
