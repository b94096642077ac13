/*
 * kafka_apiversions_test.c: clamping ApiVersions responses captured
 * from a Kafka 4.1.1 broker (v0-v4), KIP-511 answers, and malformed
 * inputs (proto/kafka_apiversions.c).
 */
#include <string.h>

#include <criterion/criterion.h>

#include "common/err.h"
#include "proto/kafka.h"
#include "proto/kafka_prim.h"
#include "kafka_testutil.h"

struct av_range {
	bool	 present;
	int16_t	 min;
	int16_t	 max;
};

/* Decode a body into ranges[key]; returns the offset after the array. */
static size_t
av_decode(const uint8_t *p, size_t len, int16_t version,
    struct av_range *ranges, size_t nranges)
{
	struct krx_cur	 c;
	int16_t		 err, key, min, max;
	int32_t		 n, i;
	bool		 flex = version >= 3;

	memset(ranges, 0, nranges * sizeof(*ranges));
	krx_cur_init(&c, p, len);
	cr_assert_eq(krx_cur_get_i16(&c, &err), KRX_OK);
	cr_assert_eq(krx_kp_get_array(&c, flex, false, 6, &n), KRX_OK);
	for (i = 0; i < n; i++) {
		cr_assert_eq(krx_cur_get_i16(&c, &key), KRX_OK);
		cr_assert_eq(krx_cur_get_i16(&c, &min), KRX_OK);
		cr_assert_eq(krx_cur_get_i16(&c, &max), KRX_OK);
		if (flex)
			cr_assert_eq(krx_kp_skip_tags(&c), KRX_OK);
		cr_assert(key >= 0 && (size_t)key < nranges, "key %d", key);
		cr_assert_not(ranges[key].present, "key %d twice", key);
		ranges[key].present = true;
		ranges[key].min = min;
		ranges[key].max = max;
	}
	return c.off;
}

static void
check_clamped(int16_t version)
{
	char		 name[64];
	struct kt_frame	 f;
	struct krx_buf	 out;
	struct av_range	 in[128], got[128];
	size_t		 h, in_tail, out_tail;
	int		 k;

	snprintf(name, sizeof(name), "apiversions_v%d_resp.bin", version);
	f = kt_load(name);
	h = kt_resp_body(&f, KRX_API_API_VERSIONS, version);
	krx_buf_init(&out, 0);
	cr_assert_eq(krx_kafka_apiversions_clamp(f.data + h, f.len - h,
	    version, &out), 1, "v%d", version);
	in_tail = av_decode(f.data + h, f.len - h, version, in, 128);
	out_tail = av_decode(out.data, out.len, version, got, 128);
	/* The broker's Produce min is 0 (KAFKA-18659): kept. */
	cr_assert(in[KRX_API_PRODUCE].present);
	cr_assert_eq(got[KRX_API_PRODUCE].min, 0);
	cr_assert_eq(got[KRX_API_PRODUCE].max, 13);
	cr_assert_eq(got[KRX_API_FETCH].min, in[KRX_API_FETCH].min);
	cr_assert_eq(got[KRX_API_FETCH].max, 18);
	cr_assert_eq(got[KRX_API_API_VERSIONS].max, 4);
	cr_assert_eq(got[KRX_API_SASL_HANDSHAKE].min, 1);
	cr_assert_eq(got[KRX_API_SASL_HANDSHAKE].max, 1);
	for (k = 0; k < 128; k++) {
		if (!krx_kafka_api_known((int16_t)k)) {
			cr_assert_not(got[k].present, "unknown %d kept", k);
			continue;
		}
		cr_assert_eq(got[k].present, in[k].present, "key %d", k);
		cr_assert(got[k].min >= in[k].min || k == KRX_API_PRODUCE);
		cr_assert(got[k].max <= in[k].max);
	}
	/* Passthrough: ListOffsets and OffsetCommit as the broker said. */
	cr_assert_eq(got[2].max, in[2].max);
	cr_assert_eq(got[8].min, in[8].min);
	/* throttle_time_ms and the body tags (features) byte for byte. */
	cr_assert_eq(f.len - h - in_tail, out.len - out_tail);
	cr_assert_eq(memcmp(f.data + h + in_tail, out.data + out_tail,
	    out.len - out_tail), 0);
	krx_buf_free(&out);
	free(f.data);
}

Test(kafka_apiversions, captured_v0) { check_clamped(0); }
Test(kafka_apiversions, captured_v1) { check_clamped(1); }
Test(kafka_apiversions, captured_v2) { check_clamped(2); }
Test(kafka_apiversions, captured_v3) { check_clamped(3); }
Test(kafka_apiversions, captured_v4) { check_clamped(4); }

Test(kafka_apiversions, features_tags_present_in_v4)
{
	struct kt_frame	 f = kt_load("apiversions_v4_resp.bin");
	struct av_range	 r[128];
	struct krx_cur	 c;
	size_t		 h, tail;
	bool		 found;
	size_t		 off, len;

	h = kt_resp_body(&f, KRX_API_API_VERSIONS, 4);
	tail = av_decode(f.data + h, f.len - h, 4, r, 128);
	krx_cur_init(&c, f.data + h + tail + 4, f.len - h - tail - 4);
	/* Tag 2 FinalizedFeatures, what transaction V2 depends on. */
	cr_assert_eq(krx_kp_find_tag(&c, 2, &found, &off, &len), KRX_OK);
	cr_assert(found);
	cr_assert_gt(len, 0);
	free(f.data);
}

/* A v3 body: { error 0, entries, throttle 0, no tags }. */
static size_t
av_body(uint8_t *p, const int16_t (*ent)[3], size_t n)
{
	size_t	 i, o = 0;

	p[o++] = 0;
	p[o++] = 0;
	p[o++] = (uint8_t)(n + 1);
	for (i = 0; i < n; i++) {
		p[o++] = (uint8_t)(ent[i][0] >> 8);
		p[o++] = (uint8_t)ent[i][0];
		p[o++] = (uint8_t)(ent[i][1] >> 8);
		p[o++] = (uint8_t)ent[i][1];
		p[o++] = (uint8_t)(ent[i][2] >> 8);
		p[o++] = (uint8_t)ent[i][2];
		p[o++] = 0;
	}
	memset(p + o, 0, 5);
	return o + 5;
}

Test(kafka_apiversions, unknown_and_disjoint_removed)
{
	static const int16_t	 ent[][3] = {
		{ 0, 5, 14 },		/* Produce min 5: no KAFKA-18659 */
		{ 1, 19, 20 },		/* Fetch beyond krx: removed */
		{ 200, 0, 3 },		/* unknown: removed */
		{ 52, 0, 2 },		/* controller only: removed */
		{ 3, 0, 15 },		/* Metadata: clamped to 13 */
	};
	uint8_t			 body[64];
	struct av_range		 got[256];
	struct krx_buf		 out;
	size_t			 len;

	len = av_body(body, ent, 5);
	krx_buf_init(&out, 0);
	cr_assert_eq(krx_kafka_apiversions_clamp(body, len, 3, &out), 1);
	av_decode(out.data, out.len, 3, got, 256);
	cr_assert(got[0].present);
	cr_assert_eq(got[0].min, 5);
	cr_assert_eq(got[0].max, 13);
	cr_assert_not(got[1].present);
	cr_assert_not(got[200].present);
	cr_assert_not(got[52].present);
	cr_assert_eq(got[3].max, 13);
	cr_assert_eq(out.len, 3 + 2 * 7 + 5);
	krx_buf_free(&out);
}

Test(kafka_apiversions, error_forwarded_verbatim)
{
	/* UNSUPPORTED_VERSION, v0 encoding, as a broker answers a v5. */
	static const uint8_t	 body[] = { 0x00, 0x23, 0x00, 0x00, 0x00,
	    0x01, 0x00, 0x12, 0x00, 0x00, 0x00, 0x04 };
	struct krx_buf		 out;

	krx_buf_init(&out, 0);
	krx_buf_put_u8(&out, 0xee);
	cr_assert_eq(krx_kafka_apiversions_clamp(body, sizeof(body), 4,
	    &out), 0);
	cr_assert_eq(out.len, 1, "out touched");
	krx_buf_free(&out);
}

Test(kafka_apiversions, truncated_at_every_length)
{
	struct kt_frame	 f = kt_load("apiversions_v4_resp.bin");
	struct krx_buf	 out;
	size_t		 h, i;

	h = kt_resp_body(&f, KRX_API_API_VERSIONS, 4);
	krx_buf_init(&out, 0);
	for (i = 0; i < f.len - h; i++) {
		cr_assert_eq(krx_kafka_apiversions_clamp(f.data + h, i, 4,
		    &out), KRX_E_TRUNCATED, "prefix %zu", i);
		cr_assert_eq(out.len, 0);
	}
	krx_buf_free(&out);
	free(f.data);
}

Test(kafka_apiversions, trailing_rejected)
{
	struct kt_frame	 f = kt_load("apiversions_v2_resp.bin");
	struct krx_buf	 out;
	uint8_t		*b;
	size_t		 h, n;

	h = kt_resp_body(&f, KRX_API_API_VERSIONS, 2);
	n = f.len - h;
	b = malloc(n + 1);
	memcpy(b, f.data + h, n);
	b[n] = 0;
	krx_buf_init(&out, 0);
	cr_assert_eq(krx_kafka_apiversions_clamp(b, n + 1, 2, &out),
	    KRX_E_TRAILING);
	cr_assert_eq(out.len, 0);
	cr_assert_eq(krx_kafka_apiversions_clamp(b, n, 5, &out),
	    KRX_E_UNSUPPORTED);
	krx_buf_free(&out);
	free(b);
	free(f.data);
}

Test(kafka_apiversions, unsupported_answer)
{
	static const uint8_t	 want[] = { 0x00, 0x23, 0x00, 0x00, 0x00,
	    0x01, 0x00, 0x12, 0x00, 0x00, 0x00, 0x04 };
	struct krx_buf		 out;

	krx_buf_init(&out, 0);
	cr_assert_eq(krx_kafka_apiversions_unsupported(&out), KRX_OK);
	cr_assert_eq(out.len, sizeof(want));
	cr_assert_eq(memcmp(out.data, want, sizeof(want)), 0);
	krx_buf_free(&out);
}

/* Issue 14: whether the broker takes DescribeConfigs v1, read first. */
Test(kafka_apiversions, range_of_one_key)
{
	static const int16_t	 ent[][3] = {
		{ 0, 3, 13 },
		{ 32, 1, 4 },		/* DescribeConfigs */
		{ 3, 0, 13 },
	};
	static const uint8_t	 err[] = { 0x00, 0x23, 0x00, 0x00, 0x00,
	    0x01, 0x00, 0x12, 0x00, 0x00, 0x00, 0x04 };
	struct kt_frame		 f = kt_load("apiversions_v4_resp.bin");
	uint8_t			 body[64];
	int16_t			 min = -9, max = -9;
	size_t			 len, h, i;

	len = av_body(body, ent, 3);
	cr_assert_eq(krx_kafka_apiversions_range(body, len, 3,
	    KRX_API_DESCRIBE_CONFIGS, &min, &max), KRX_OK);
	cr_assert_eq(min, 1);
	cr_assert_eq(max, 4);
	cr_assert_eq(krx_kafka_apiversions_range(body, len, 3, 60, &min,
	    &max), KRX_E_NOTFOUND);
	cr_assert_eq(krx_kafka_apiversions_range(err, sizeof(err), 4,
	    KRX_API_DESCRIBE_CONFIGS, &min, &max), KRX_E_NOTFOUND);
	for (i = 0; i < len - 8; i++)
		cr_assert_lt(krx_kafka_apiversions_range(body, i, 3,
		    KRX_API_DESCRIBE_CONFIGS, &min, &max), 0);
	/* A real Kafka 4.1 broker's answer lists it. */
	h = kt_resp_body(&f, KRX_API_API_VERSIONS, 4);
	cr_assert_eq(krx_kafka_apiversions_range(f.data + h, f.len - h, 4,
	    KRX_API_DESCRIBE_CONFIGS, &min, &max), KRX_OK);
	cr_assert_leq(min, 1);
	cr_assert_geq(max, 1);
	free(f.data);
}
