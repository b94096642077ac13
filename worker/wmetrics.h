/*
 * wmetrics.h: STUB (the HTTP listener's branch) of the worker's metrics
 * header; the counters branch's wmetrics.h, with the counting hooks,
 * replaces it.
 */
#ifndef KRX_WORKER_WMETRICS_H
#define KRX_WORKER_WMETRICS_H

struct krx_worker;
struct krx_metrics_src;

/* The source of the renderer, as this worker sees the regions. */
void	krx_worker_metrics_src(const struct krx_worker *w,
	    struct krx_metrics_src *out);

#endif
