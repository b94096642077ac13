/*
 * kafka_fetchreq.c: where a Fetch request (v4-18) states its size
 * limits: the response's max_bytes and each partition's
 * partition_max_bytes. Encrypted records are larger than the records
 * they carry, so krx raises these limits by the observed ratio to give
 * the client about the number of records it asked for
 * (worker/filter_fetch.c).
 *
 * Library grade: runs in workers on client bytes and trusts none of
 * them; the body is walked field by field and must end at its end.
 */
#include <string.h>

#include "common/err.h"
#include "proto/kafka.h"
#include "proto/kafka_msg.h"
#include "proto/kafka_prim.h"

#define FR_FIRST_FLEX	12
#define FR_FIRST_ID	13
#define FR_NO_REPLICA	15	/* replica_id moved into a tag */

/* One topic's partitions; the offsets of their max bytes go to fn. */
static int
fr_partitions(struct krx_cur *c, int16_t v, bool flex, krx_fetch_limit_fn fn,
    void *arg)
{
	size_t	 fixed = 4 + 8 + 4 + (v >= 9 ? 4 : 0) + (v >= 12 ? 4 : 0) +
		    (v >= 5 ? 8 : 0);
	int32_t	 n, i;
	int	 r;

	if ((r = krx_kp_get_array(c, flex, false, fixed, &n)) != KRX_OK)
		return r;
	for (i = 0; i < n; i++) {
		if ((r = krx_cur_skip(c, fixed - 4)) != KRX_OK)
			return r;
		if (krx_cur_left(c) < 4)
			return KRX_E_TRUNCATED;
		if ((r = fn(arg, c->off, false)) != KRX_OK ||
		    (r = krx_cur_skip(c, 4)) != KRX_OK)
			return r;
		if (flex && (r = krx_kp_skip_tags(c)) != KRX_OK)
			return r;
	}
	return KRX_OK;
}

/*
 * topics, or with fn NULL forgotten_topics_data (v7+): name or id, then
 * the partitions (full, or []int32 partition indexes), tags if flexible.
 */
static int
fr_topics(struct krx_cur *c, int16_t v, bool flex, krx_fetch_limit_fn fn,
    void *arg)
{
	int32_t	 n, i;
	int	 r;

	if ((r = krx_kp_get_array(c, flex, false, 1, &n)) != KRX_OK)
		return r;
	for (i = 0; i < n; i++) {
		r = v >= FR_FIRST_ID ? krx_cur_skip(c, 16) :
		    krx_kp_skip_str(c, flex, false);
		if (r == KRX_OK)
			r = fn != NULL ? fr_partitions(c, v, flex, fn, arg) :
			    krx_kp_skip_fixed_array(c, flex, false, 4);
		if (r != KRX_OK)
			return r;
		if (flex && (r = krx_kp_skip_tags(c)) != KRX_OK)
			return r;
	}
	return KRX_OK;
}

int
krx_kafka_fetch_req_limits(const uint8_t *body, size_t len, int16_t v,
    krx_fetch_limit_fn fn, void *arg)
{
	struct krx_cur	 c;
	bool		 flex = v >= FR_FIRST_FLEX;
	int		 r;

	if (v < 4 || v > 18)
		return KRX_E_UNSUPPORTED;
	krx_cur_init(&c, body, len);
	/* replica_id (to v14), max_wait_ms, min_bytes, then max_bytes */
	if ((r = krx_cur_skip(&c, v >= FR_NO_REPLICA ? 8 : 12)) != KRX_OK)
		return r;
	if (krx_cur_left(&c) < 4)
		return KRX_E_TRUNCATED;
	if ((r = fn(arg, c.off, true)) != KRX_OK)
		return r;
	/* max_bytes, isolation_level, session id and epoch (v7+) */
	if ((r = krx_cur_skip(&c, 4 + 1 + (v >= 7 ? 8 : 0))) != KRX_OK ||
	    (r = fr_topics(&c, v, flex, fn, arg)) != KRX_OK)
		return r;
	if (v >= 7 && (r = fr_topics(&c, v, flex, NULL, NULL)) != KRX_OK)
		return r;
	if (v >= 11 && (r = krx_kp_skip_str(&c, flex, false)) != KRX_OK)
		return r;
	if (flex && (r = krx_kp_skip_tags(&c)) != KRX_OK)
		return r;
	return krx_cur_end(&c);
}
