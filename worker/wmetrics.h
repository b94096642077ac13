/*
 * wmetrics.h: a worker's counting hooks (metrics_src.c): its counters
 * row in the metrics region (common/shm/mstats.h), the slots of its
 * virtual clusters and topics, and the renderer's source for /metrics.
 * Hot-path cost: a relaxed atomic add; topic slots are found by a scan
 * of at most KRX_M_TOPICS names, per partition, not per record.
 */
#ifndef KRX_WORKER_WMETRICS_H
#define KRX_WORKER_WMETRICS_H

#include <stddef.h>
#include <stdint.h>

#include "common/shm/mstats.h"

struct krx_worker;
struct krx_metrics_src;

/* Bind the worker's row (adopting what a predecessor counted there). */
void	krx_worker_metrics_init(struct krx_worker *w);
/* Virtual cluster vc's counters, or NULL (no metrics, no slot). */
struct krx_mvc *krx_wm_vc(size_t vc);
/* Records of topic name (len bytes) of vc: encrypted and in clear. */
void	krx_wm_topic(size_t vc, const char *name, size_t len, uint64_t enc,
	    uint64_t plain);
/* The records a Produce records field holds (batch headers' counts). */
uint64_t krx_wm_batch_records(const uint8_t *p, size_t len);
/* A counter of vc (NULL-safe). */
void	krx_wm_add(size_t vc, enum krx_mvc_ctr c, int64_t n);
/* One request of api_key from a client, of bytes bytes. */
void	krx_wm_request(size_t vc, int api_key, size_t bytes);
/* A request to the broker (to 1) or its response (to 0). */
void	krx_wm_upstream(size_t vc, int api_key, int to);
/* Its response queued, us microseconds after it came (0: unknown). */
void	krx_wm_response(size_t vc, int api_key, uint64_t t0);
/* The source of the renderer, as this worker sees the regions. */
void	krx_worker_metrics_src(const struct krx_worker *w,
	    struct krx_metrics_src *out);

#endif
