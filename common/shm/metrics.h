/*
 * metrics.h: the Prometheus text renderer (format 0.0.4) over the shared
 * counters. STUB written by the HTTP listener's branch so that worker/http.c
 * builds; the counters branch's metrics.{c,h} replace it (same signatures).
 * Library grade.
 */
#ifndef KRX_SHM_METRICS_H
#define KRX_SHM_METRICS_H

#include <stdint.h>

#include "common/buf.h"

struct krx_stats;

/* What the renderer reads: pointers into the mapped regions. */
struct krx_metrics_src {
	const struct krx_stats	*stats;		/* NULL: no counters */
	uint32_t		 generation;
};

/* Append the text exposition of src to out: 0 or KRX_E_NOMEM. */
int	krx_metrics_render(const struct krx_metrics_src *src,
	    struct krx_buf *out);

#endif
