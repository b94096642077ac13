/*
 * topiclimit.h: the largest batch the cluster takes for each topic (its
 * max.message.bytes, which inherits the broker's message.max.bytes), as
 * one worker learns it: from DescribeConfigs answers, and lowered when
 * the broker answers MESSAGE_TOO_LARGE for a batch under what was known
 * (issue 14). Program grade; the table is bounded.
 */
#ifndef KRX_WORKER_TOPICLIMIT_H
#define KRX_WORKER_TOPICLIMIT_H

#include <stddef.h>
#include <stdint.h>

/* Kafka's default message.max.bytes: used while nothing better is known. */
#define KRX_TOPICLIMIT_DEFAULT	1048588
/* Never below: a smaller limit would split too much to be of use. */
#define KRX_TOPICLIMIT_MIN	1024
/* Asked again after this many seconds. */
#define KRX_TOPICLIMIT_REFRESH	300
/* A stale limit being asked for is asked again after this long. */
#define KRX_TOPICLIMIT_RETRY	30
/* Topics remembered per worker; beyond, the table starts again. */
#define KRX_TOPICLIMIT_MAX	8192

enum krx_topiclimit_state {
	KRX_TOPICLIMIT_UNKNOWN = 0,	/* ask, and wait for the answer */
	KRX_TOPICLIMIT_FRESH,
	KRX_TOPICLIMIT_STALE		/* use it, and ask again */
};

struct krx_topiclimit;

struct krx_topiclimit *krx_topiclimit_new(void);
void	krx_topiclimit_free(struct krx_topiclimit *tl);
/*
 * The state of topic name in virtual cluster vc; when known, *limit and
 * *guessed (1: the cluster would not say, the default stands in). STALE
 * is returned once per KRX_TOPICLIMIT_RETRY seconds: the caller asks.
 */
enum krx_topiclimit_state krx_topiclimit_get(struct krx_topiclimit *tl,
	    size_t vc, const char *name, size_t len, int64_t now,
	    size_t *limit, int *guessed);
/*
 * Learned at time now: limit (clamped to KRX_TOPICLIMIT_MIN..INT32_MAX),
 * or 0 when the cluster would not say (the default is used until the
 * next refresh).
 */
void	krx_topiclimit_set(struct krx_topiclimit *tl, size_t vc,
	    const char *name, size_t len, int64_t now, size_t limit);
/*
 * The broker refused a batch of size bytes as too large: the limit
 * becomes at most three quarters of it. 0 when it was lowered, -1 when
 * it is at KRX_TOPICLIMIT_MIN already.
 */
int	krx_topiclimit_lower(struct krx_topiclimit *tl, size_t vc,
	    const char *name, size_t len, int64_t now, size_t size);

#endif
