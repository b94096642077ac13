/*
 * metrics_merge.h: internal to metrics.c and metrics_merge.c: the
 * workers' rows summed per virtual cluster name and per (virtual
 * cluster, topic), in private memory, names checked.
 */
#ifndef KRX_SHM_METRICS_MERGE_H
#define KRX_SHM_METRICS_MERGE_H

#include <stdint.h>

#include "common/shm/metrics.h"
#include "common/shm/mstats.h"

struct mm_hist {
	uint64_t	 b[KRX_M_BUCKETS];
	uint64_t	 count;
	uint64_t	 sum_us;
};

struct mm_topic {
	char		 name[KRX_M_NAME];
	uint64_t	 enc, plain;
};

struct mm_vc {
	char		 name[KRX_M_NAME];
	uint64_t	 c[KRX_MVC_N];
	uint64_t	 other_enc, other_plain;
	uint64_t	 req[KRX_M_APIS], resp[KRX_M_APIS];
	uint64_t	 up_req[KRX_M_APIS], up_resp[KRX_M_APIS];
	struct mm_hist	 lat[KRX_M_APIS];
	struct mm_topic	*topics;		/* KRX_METRICS_TOPICS */
	size_t		 n_topics;
};

struct mm {
	struct mm_vc	 vc[KRX_METRICS_VCS];
	size_t		 n_vc;
};

/* Sum src's rows into m (zeroed by the caller). KRX_OK or KRX_E_NOMEM. */
int	krx_mm_merge(struct mm *m, const struct krx_metrics_src *src);
void	krx_mm_free(struct mm *m);
void	krx_mm_hist_add(struct mm_hist *out, const struct krx_mhist *in);
/* 1 when s (NUL-ended within max) is a printable name of 1.. bytes. */
int	krx_mm_name_ok(const char *s, size_t max);

#endif
