/*
 * mstats.h: the metrics regions (issue 13), beside stats.h's counters.
 *
 * - Worker rows (krx_mrow, one per counters row, KRX_MAX_ROWS): a
 *   shared anonymous mapping the master makes before forking; each
 *   worker writes only its own row with relaxed atomics. A row is never
 *   zeroed: a respawned worker, or the next generation on that half,
 *   adopts the row (its virtual cluster and topic slots, found by name)
 *   and adds to it, so no counter ever goes backwards.
 * - Keysvc rows (krx_kmrow): one memfd per key service slot, passed to
 *   the exec'd keysvc (KRX_IPC_KEYSVC_STATS_FD); others map it through
 *   a read-only open, so mprotect(2) cannot make it writable.
 * - The master's status (krx_mstatus): a sealed region (region.h) the
 *   master writes and workers map read-only.
 * Readers treat every byte as untrusted (names are checked before use).
 * Library grade.
 */
#ifndef KRX_SHM_MSTATS_H
#define KRX_SHM_MSTATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "common/limits.h"

#define KRX_M_APIS	96	/* Kafka API keys 0..95 counted */
#define KRX_M_BUCKETS	14	/* latency buckets, +Inf is the count */
#define KRX_M_VCS	8	/* virtual cluster slots per worker row */
#define KRX_M_TOPICS	64	/* topic slots per worker row */
#define KRX_M_NAME	256	/* a name and its NUL (topics: 249) */
#define KRX_M_PROCS	(KRX_MAX_ROWS + 2)	/* workers, then keysvc */

/* Bucket upper bounds in microseconds: 0.5 ms .. 10 s. */
extern const uint64_t krx_m_bounds_us[KRX_M_BUCKETS];

/* A histogram: per bucket counts (not cumulative), count, sum. */
struct krx_mhist {
	_Atomic uint64_t	 b[KRX_M_BUCKETS];
	_Atomic uint64_t	 count;
	_Atomic uint64_t	 sum_us;
};

enum krx_mvc_ctr {
	KRX_MVC_CONN_TOTAL = 0,		/* client connections accepted */
	KRX_MVC_CONN_ACTIVE,
	KRX_MVC_CONN_TLS,		/* accepted on a TLS listener */
	KRX_MVC_UP_TOTAL,		/* broker connections opened */
	KRX_MVC_UP_ACTIVE,
	KRX_MVC_ERR_CLIENT,		/* client connections closed on an
					 * error */
	KRX_MVC_ERR_UPSTREAM,		/* broker connections failed */
	KRX_MVC_BYTES_IN,		/* request frames from clients */
	KRX_MVC_BYTES_OUT,		/* response frames to clients */
	KRX_MVC_N
};

/* A virtual cluster's counters in one worker row. */
struct krx_mvc {
	_Atomic uint32_t	 used;		/* name published */
	char			 name[KRX_M_NAME];
	_Atomic uint64_t	 c[KRX_MVC_N];
	_Atomic uint64_t	 other_enc;	/* topics past the row's slots */
	_Atomic uint64_t	 other_plain;
	_Atomic uint64_t	 req[KRX_M_APIS];
	_Atomic uint64_t	 resp[KRX_M_APIS];
	_Atomic uint64_t	 up_req[KRX_M_APIS];	/* to brokers */
	_Atomic uint64_t	 up_resp[KRX_M_APIS];	/* from brokers */
	struct krx_mhist	 lat[KRX_M_APIS];
};

struct krx_mtopic {
	_Atomic uint32_t	 used;		/* 1 + vc slot, after name */
	char			 name[KRX_M_NAME];
	_Atomic uint64_t	 enc;		/* records encrypted */
	_Atomic uint64_t	 plain;		/* records sent in clear */
};

struct krx_mrow {
	struct krx_mvc		 vc[KRX_M_VCS];
	struct krx_mtopic	 topic[KRX_M_TOPICS];
};

/* The workers' region; used[row] says a worker ever wrote the row. */
struct krx_mrows {
	_Atomic uint32_t	 used[KRX_MAX_ROWS];
	struct krx_mrow		 row[KRX_MAX_ROWS];
};

/* A key service's counters (keysvc/kms.h's operations and outcomes). */
#define KRX_KM_OPS	3	/* generate_dek_pair, decrypt_edek,
				 * resolve_alias */
#define KRX_KM_OUTCOMES	3	/* SUCCESS, NOT_FOUND, EXCEPTION */
struct krx_kmrow {
	_Atomic uint64_t	 attempts[KRX_KM_OPS];
	_Atomic uint64_t	 outcomes[KRX_KM_OPS][KRX_KM_OUTCOMES];
	struct krx_mhist	 lat[KRX_KM_OPS];
	_Atomic uint64_t	 requests;	/* from workers */
	_Atomic uint64_t	 cache_hits;	/* EDEKs found in LMDB */
	_Atomic uint64_t	 cache_misses;	/* EDEKs sent to the KMS */
};

enum krx_mproc_kind {
	KRX_MPROC_NONE = 0,
	KRX_MPROC_WORKER,
	KRX_MPROC_KEYSVC
};

struct krx_mproc {
	uint32_t		 kind;		/* enum krx_mproc_kind */
	uint32_t		 slot;
	uint32_t		 generation;
	int32_t			 pid;		/* 0: not running */
	uint32_t		 state;		/* enum krx_child_state */
	uint32_t		 restarts;
};

/* Written by the master only; seq is odd while it writes. */
struct krx_mstatus {
	_Atomic uint64_t	 seq;
	uint64_t		 generation;
	uint64_t		 reloads_ok;
	uint64_t		 reloads_failed;
	int64_t			 started;	/* unix seconds */
	char			 version[32];
	struct krx_mproc	 proc[KRX_M_PROCS];
};

/* What a process has mapped; the master's copy is private memory. */
struct krx_mshm {
	struct krx_mrows	*rows;		/* rw in master and workers */
	struct krx_kmrow	*ks[2];		/* read-only here */
	int			 ks_fd[2];	/* memfds for keysvc, -1 */
	struct krx_mstatus	*status;	/* rw in the master only */
	int			 status_fd;	/* for workers' read-only map */
};

/* Master: every region, zeroed. NULL (with errno) on failure. */
struct krx_mshm *krx_mshm_create(void);
void	krx_mshm_free(struct krx_mshm *m);
/* In a new worker: the status map made read-only, memfds closed. */
int	krx_mshm_child(struct krx_mshm *m);
/* In keysvc: map fd writable (one row); NULL on failure. */
struct krx_kmrow *krx_kmrow_map(int fd);

static inline void
krx_m_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static inline uint64_t
krx_m_get(const _Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* Count one observation of us microseconds. */
void	krx_mhist_observe(struct krx_mhist *h, uint64_t us);
/* Microseconds of CLOCK_MONOTONIC. */
uint64_t krx_m_now_us(void);

#endif
