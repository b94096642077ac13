/*
 * kafka_apiversions.c: clamp a broker's ApiVersions response to what krx
 * can handle, and build krx's own KIP-511 answer to a too-new request.
 * Library grade: runs in workers on broker bytes, trusts none of them.
 */
#include "common/err.h"
#include "proto/kafka.h"
#include "proto/kafka_prim.h"

/* Entry size: api_key, min, max (int16 each), plus tags if flexible. */
#define AV_ENTRY_MIN(flex)	((flex) ? 7u : 6u)

/*
 * Intersect one broker range with krx's. Returns false when the API must
 * be removed (unknown key, or no version in common).
 */
static bool
av_clamp(int16_t key, int16_t *min, int16_t *max)
{
	int16_t	 kmin, kmax;

	if (krx_kafka_api_range(key, &kmin, &kmax) != KRX_OK)
		return false;
	if (*min > *max)
		return false;
	/* KAFKA-18659: keep advertising Produce v0 (librdkafka < 2.12). */
	if (key == KRX_API_PRODUCE && *min <= 3)
		kmin = 0;
	if (*min < kmin)
		*min = kmin;
	if (*max > kmax)
		*max = kmax;
	return *min <= *max;
}

/*
 * Copy the api_keys entries that survive, clamped, to out. *kept counts
 * them. The count itself is written by the caller.
 */
static int
av_entries(struct krx_cur *c, bool flex, int32_t n, struct krx_buf *out,
    int32_t *kept)
{
	const uint8_t	*tags;
	size_t		 tags_off;
	int16_t		 key, min, max;
	int32_t		 i;
	int		 r;

	*kept = 0;
	for (i = 0; i < n; i++) {
		if ((r = krx_cur_get_i16(c, &key)) != KRX_OK ||
		    (r = krx_cur_get_i16(c, &min)) != KRX_OK ||
		    (r = krx_cur_get_i16(c, &max)) != KRX_OK)
			return r;
		tags_off = c->off;
		if (flex && (r = krx_kp_skip_tags(c)) != KRX_OK)
			return r;
		if (!av_clamp(key, &min, &max))
			continue;
		krx_buf_put_be16(out, (uint16_t)key);
		krx_buf_put_be16(out, (uint16_t)min);
		krx_buf_put_be16(out, (uint16_t)max);
		tags = c->p + tags_off;
		krx_buf_put(out, tags, c->off - tags_off);
		(*kept)++;
	}
	return out->err;
}

/* Walk what follows the array: throttle_time_ms (v1+), tags (v3+). */
static int
av_tail(struct krx_cur *c, int16_t version)
{
	int	 r;

	if (version >= 1 && (r = krx_cur_skip(c, 4)) != KRX_OK)
		return r;
	if (version >= 3 && (r = krx_kp_skip_tags(c)) != KRX_OK)
		return r;
	return krx_cur_end(c);
}

int
krx_kafka_apiversions_clamp(const uint8_t *body, size_t len,
    int16_t version, struct krx_buf *out)
{
	struct krx_buf	 ents;
	struct krx_cur	 c;
	size_t		 start = out->len, tail;
	int16_t		 error;
	int32_t		 n, kept;
	bool		 flex = version >= 3;
	int		 r;

	if (version < 0 || version > 4)
		return KRX_E_UNSUPPORTED;
	krx_buf_init(&ents, 0);
	krx_cur_init(&c, body, len);
	if ((r = krx_cur_get_i16(&c, &error)) != KRX_OK)
		goto out;
	if (error != KRX_KERR_NONE) {
		r = 0;	/* maybe a v0 body (KIP-511): forward verbatim */
		goto out;
	}
	if ((r = krx_kp_get_array(&c, flex, false, AV_ENTRY_MIN(flex),
	    &n)) != KRX_OK ||
	    (r = av_entries(&c, flex, n, &ents, &kept)) != KRX_OK)
		goto out;
	tail = c.off;
	if ((r = av_tail(&c, version)) != KRX_OK)
		goto out;
	krx_buf_put_be16(out, (uint16_t)error);
	krx_kp_put_array_len(out, flex, kept);
	krx_buf_put(out, ents.data, ents.len);
	krx_buf_put(out, body + tail, len - tail);
	if ((r = out->err) == KRX_OK)
		r = 1;
out:
	if (r <= 0 && out->len > start)
		out->len = start;
	krx_buf_free(&ents);
	return r;
}

int
krx_kafka_apiversions_range(const uint8_t *body, size_t len, int16_t version,
    int16_t api_key, int16_t *min, int16_t *max)
{
	struct krx_cur	 c;
	int16_t		 error, key;
	int32_t		 i, n;
	bool		 flex = version >= 3;
	int		 r;

	if (version < 0 || version > 4)
		return KRX_E_UNSUPPORTED;
	krx_cur_init(&c, body, len);
	if ((r = krx_cur_get_i16(&c, &error)) != KRX_OK)
		return r;
	if (error != KRX_KERR_NONE)
		return KRX_E_NOTFOUND;
	if ((r = krx_kp_get_array(&c, flex, false, AV_ENTRY_MIN(flex),
	    &n)) != KRX_OK)
		return r;
	for (i = 0; i < n; i++) {
		if ((r = krx_cur_get_i16(&c, &key)) != KRX_OK ||
		    (r = krx_cur_get_i16(&c, min)) != KRX_OK ||
		    (r = krx_cur_get_i16(&c, max)) != KRX_OK ||
		    (flex && (r = krx_kp_skip_tags(&c)) != KRX_OK))
			return r;
		if (key == api_key)
			return KRX_OK;
	}
	return KRX_E_NOTFOUND;
}

int
krx_kafka_apiversions_unsupported(struct krx_buf *out)
{
	int16_t	 min, max;

	krx_kafka_api_range(KRX_API_API_VERSIONS, &min, &max);
	krx_buf_put_be16(out, KRX_KERR_UNSUPPORTED_VERSION);
	krx_buf_put_be32(out, 1);
	krx_buf_put_be16(out, KRX_API_API_VERSIONS);
	krx_buf_put_be16(out, (uint16_t)min);
	krx_buf_put_be16(out, (uint16_t)max);
	return out->err;
}
