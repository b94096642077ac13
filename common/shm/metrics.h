/*
 * metrics.h: the Prometheus text (format 0.0.4) of krx's counters: the
 * workers' rows, the key services' rows and the master's status
 * (mstats.h), merged. Workers serve it at /metrics, the master answers
 * `krx-ctl metrics` with it. Library grade: no logging; every name read
 * from shared memory is checked (length, charset) and label values are
 * escaped; label sets are capped (topics past KRX_METRICS_TOPICS per
 * virtual cluster count as topic_name="other").
 */
#ifndef KRX_SHM_METRICS_H
#define KRX_SHM_METRICS_H

#include <stddef.h>

#include "common/buf.h"

struct krx_stats;
struct krx_mrows;
struct krx_kmrow;
struct krx_mstatus;

#define KRX_METRICS_VCS		32	/* virtual clusters listed */
#define KRX_METRICS_TOPICS	200	/* topics per virtual cluster */

struct krx_metrics_src {
	const struct krx_stats	 *stats;	/* NULL: none */
	const struct krx_mrows	 *rows;		/* NULL: none */
	const struct krx_kmrow	 *ks[2];	/* NULL: none */
	const struct krx_mstatus *status;	/* NULL: none */
	const char *const	 *vc_names;	/* configured: always listed */
	size_t			  n_vc;
};

/* Append the text to out: KRX_OK, or KRX_E_NOMEM. */
int	krx_metrics_render(const struct krx_metrics_src *src,
	    struct krx_buf *out);
/* Kafka's name of an API key as Kroxylicious labels it ("PRODUCE"). */
void	krx_metrics_api_label(int api_key, char *out, size_t len);
/* 1 when s (at most max bytes, NUL-ended within) is a Kafka topic name. */
int	krx_metrics_topic_ok(const char *s, size_t max);

#endif
