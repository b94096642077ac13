/*
 * keysvc.h: the key service process: the only process that reads KMS
 * credentials and keystores. exec'd by the master as `krxd -K -c FILE`
 * with its master channel on fd 3.
 */
#ifndef KRX_KEYSVC_KEYSVC_H
#define KRX_KEYSVC_KEYSVC_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/limits.h"
#include "proto/ipc.h"

struct event_base;
struct krx_chan;
struct krx_conf;
struct krx_dekcache;
struct krx_kms;
struct krx_secret;

enum krx_keysvc_stat {
	KRX_KS_RESOLVE = 0,
	KRX_KS_GENERATE,
	KRX_KS_DECRYPT,		/* EDEKs sent to the KMS */
	KRX_KS_KMS_ERRORS,
	KRX_KS_NOT_FOUND,
	KRX_KS_CACHE_WRITES,
	KRX_KS_VIOLATIONS,
	KRX_KS_CACHE_HITS,	/* EDEKs answered from the DEK cache */
	KRX_KS_REFUSED,		/* over a worker's caps: UNAVAILABLE */
	KRX_KS_INVALID,		/* answered INVALID without the KMS */
	KRX_KS_N
};

/*
 * Per worker slot caps (STYLE.md "keysvc request checks"; issue 9,
 * finding 7 and 15): requests in flight, and a token bucket for
 * requests that go to the KMS. Over either: UNAVAILABLE (retriable).
 */
struct krx_ks_limit {
	unsigned		 outstanding;
	double			 tokens;
	struct timespec		 refill;	/* CLOCK_MONOTONIC */
	uint64_t		 refused;	/* since the last log line */
	time_t			 log_after;	/* monotonic seconds */
};

struct krx_keysvc {
	struct event_base	*base;
	struct krx_conf		*conf;
	struct krx_chan		*master;
	struct krx_chan		*workers[KRX_MAX_ROWS];	/* two generations */
	/*
	 * Bumped with each new channel of a slot: a KMS answer that comes
	 * after its worker's channel was replaced (a remote KMS answers
	 * late) is dropped, even if the new channel has the old address.
	 */
	uint64_t		 chan_gen[KRX_MAX_ROWS];
	struct krx_kms		**kms;		/* per vcluster, NULL: none */
	struct krx_dekcache	*cache;
	struct krx_secret	*cache_key;	/* 32 bytes, NULL until INIT */
	struct krx_ks_limit	 limits[KRX_MAX_ROWS];
	int			 ready;
	uint64_t		 stats[KRX_KS_N];
};

void	krx_keysvc_main(const char *conf_path, int foreground)
	    __attribute__((noreturn));

/* dispatch.c: a request from worker slot; returns -1 on a violation. */
int	krx_keysvc_dispatch(struct krx_keysvc *ks, int slot,
	    const struct krx_ipc_hdr *h, const uint8_t *p, size_t len);
/* admin.c: a krx-ctl request relayed by the master. */
/* keysvc exits: the kms checks still waiting for their KMS are freed. */
void	krx_keysvc_admin_free(void);
void	krx_keysvc_admin(struct krx_keysvc *ks, uint32_t id, const uint8_t *p,
	    size_t len);
/* Record a DEK in the shared cache (no-op without cache). */
void	krx_keysvc_cache_put(struct krx_keysvc *ks, const struct krx_kms *k,
	    const uint8_t *edek, size_t edek_len, const uint8_t *dek,
	    int64_t ttl);
/*
 * Look an EDEK up in the DEK cache: 0 with dek filled, -1 on a miss (no
 * cache, absent, expired or not opening).
 */
int	krx_keysvc_cache_get(struct krx_keysvc *ks, const struct krx_kms *k,
	    const uint8_t *edek, size_t edek_len, uint8_t *dek);
/* kek rotate/delete done on vcluster vc: flush caches, tell workers. */
void	krx_keysvc_flush(struct krx_keysvc *ks, uint32_t vc, uint32_t op,
	    const char *kek);
const char *krx_keysvc_stat_name(int i);

#endif
