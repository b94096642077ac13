/*
 * kafka_hdr_test.c: the API table (proto/kafka_api.c), request and
 * response headers, Produce acks and krx's own Metadata request
 * (proto/kafka_hdr.c). Request and response frames were captured from a
 * Kafka 4.1.1 broker by tests/data/capture.py.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "common/err.h"
#include "proto/kafka.h"
#include "proto/kafka_prim.h"
#include "kafka_testutil.h"

Test(kafka_api, known_keys)
{
	cr_assert(krx_kafka_api_known(KRX_API_PRODUCE));
	cr_assert(krx_kafka_api_known(KRX_API_SHARE_ACKNOWLEDGE));
	cr_assert(krx_kafka_api_known(92));	/* DeleteShareGroupOffsets */
	cr_assert_not(krx_kafka_api_known(4));	/* LeaderAndIsr, gone */
	cr_assert_not(krx_kafka_api_known(52));	/* Vote, controller only */
	cr_assert_not(krx_kafka_api_known(93));
	cr_assert_not(krx_kafka_api_known(-1));
	cr_assert_not(krx_kafka_api_known(INT16_MAX));
}

Test(kafka_api, first_flexible)
{
	cr_assert_eq(krx_kafka_api_first_flexible(KRX_API_PRODUCE), 9);
	cr_assert_eq(krx_kafka_api_first_flexible(KRX_API_FETCH), 12);
	cr_assert_eq(krx_kafka_api_first_flexible(KRX_API_METADATA), 9);
	cr_assert_eq(krx_kafka_api_first_flexible(KRX_API_FIND_COORDINATOR),
	    3);
	cr_assert_eq(krx_kafka_api_first_flexible(KRX_API_API_VERSIONS), 3);
	cr_assert_eq(krx_kafka_api_first_flexible(KRX_API_SASL_HANDSHAKE),
	    INT16_MAX);
	cr_assert_eq(krx_kafka_api_first_flexible(47), INT16_MAX);
	cr_assert_eq(krx_kafka_api_first_flexible(44), 1);
	cr_assert_eq(krx_kafka_api_first_flexible(KRX_API_SHARE_FETCH), 0);
	cr_assert_eq(krx_kafka_api_first_flexible(999), INT16_MAX);
}

Test(kafka_api, ranges)
{
	int16_t	 min, max;

	cr_assert_eq(krx_kafka_api_range(KRX_API_PRODUCE, &min, &max), 0);
	cr_assert_eq(max, 13);
	cr_assert_eq(krx_kafka_api_range(KRX_API_FETCH, &min, &max), 0);
	cr_assert_eq(min, 4);
	cr_assert_eq(max, 18);
	cr_assert_eq(krx_kafka_api_range(KRX_API_SASL_HANDSHAKE, &min, &max),
	    0);
	cr_assert_eq(min, 1);
	cr_assert_eq(max, 1);
	cr_assert_eq(krx_kafka_api_range(KRX_API_SHARE_FETCH, &min, &max),
	    0);
	cr_assert_eq(max, 2);
	cr_assert_eq(krx_kafka_api_range(2, &min, &max), 0);
	cr_assert_eq(min, 0);
	cr_assert_eq(max, INT16_MAX);
	cr_assert_eq(krx_kafka_api_range(200, &min, &max), KRX_E_UNSUPPORTED);
}

Test(kafka_api, header_versions)
{
	cr_assert(krx_kafka_req_hdr_flexible(KRX_API_METADATA, 9));
	cr_assert_not(krx_kafka_req_hdr_flexible(KRX_API_METADATA, 8));
	cr_assert(krx_kafka_req_hdr_flexible(KRX_API_API_VERSIONS, 3));
	cr_assert_not(krx_kafka_resp_hdr_flexible(KRX_API_API_VERSIONS, 4));
	cr_assert(krx_kafka_resp_hdr_flexible(KRX_API_FETCH, 12));
	cr_assert_not(krx_kafka_req_hdr_flexible(KRX_API_SASL_HANDSHAKE, 1));
	cr_assert_not(krx_kafka_req_hdr_flexible(300, 0));
}

Test(kafka_api, names)
{
	cr_assert_str_eq(krx_kafka_api_name(KRX_API_PRODUCE), "Produce");
	cr_assert_str_eq(krx_kafka_api_name(KRX_API_DESCRIBE_CLUSTER),
	    "DescribeCluster");
	cr_assert_str_eq(krx_kafka_api_name(52), "Vote");
	cr_assert_str_eq(krx_kafka_api_name(1234), "unknown");
	cr_assert_str_eq(krx_kafka_api_name(-3), "unknown");
}

/* Parse a captured request and check what it says about itself. */
static void
check_req(const char *file, int16_t key, int16_t version, size_t hlen)
{
	struct kt_frame			 f = kt_load(file);
	struct krx_kafka_req_hdr	 h;

	cr_assert_eq(krx_kafka_req_hdr_parse(f.data, f.len, &h), KRX_OK,
	    "%s", file);
	cr_assert_eq(h.api_key, key);
	cr_assert_eq(h.api_version, version);
	cr_assert_eq(h.client_id_len, 11);
	cr_assert_eq(memcmp(h.client_id, "krx-capture", 11), 0);
	cr_assert_eq(h.len, hlen, "%s: header %zu", file, h.len);
	free(f.data);
}

Test(kafka_hdr, captured_v1_headers)
{
	check_req("metadata_v4_req.bin", KRX_API_METADATA, 4, 21);
	check_req("apiversions_v2_req.bin", KRX_API_API_VERSIONS, 2, 21);
	check_req("produce_v3_req.bin", KRX_API_PRODUCE, 3, 21);
	check_req("fetch_v11_req.bin", KRX_API_FETCH, 11, 21);
}

Test(kafka_hdr, captured_v2_headers)
{
	check_req("metadata_v12_req.bin", KRX_API_METADATA, 12, 22);
	check_req("apiversions_v4_req.bin", KRX_API_API_VERSIONS, 4, 22);
	check_req("fetch_v18_req.bin", KRX_API_FETCH, 18, 22);
	check_req("sharefetch_v1_req.bin", KRX_API_SHARE_FETCH, 1, 22);
	check_req("describecluster_v0_req.bin", KRX_API_DESCRIBE_CLUSTER, 0,
	    22);
}

Test(kafka_hdr, v2_header_with_tags_and_null_client_id)
{
	static const uint8_t	 f[] = { 0x00, 0x03, 0x00, 0x0c, 0x00, 0x00,
	    0x00, 0x2a, 0xff, 0xff, 0x01, 0x07, 0x02, 0xaa, 0xbb, 0x99 };
	struct krx_kafka_req_hdr h;

	cr_assert_eq(krx_kafka_req_hdr_parse(f, sizeof(f), &h), KRX_OK);
	cr_assert_eq(h.correlation_id, 42);
	cr_assert_null(h.client_id);
	cr_assert_eq(h.client_id_len, -1);
	cr_assert_eq(h.len, 15);
}

Test(kafka_hdr, unknown_api_key)
{
	static const uint8_t	 f[] = { 0x00, 0xc8, 0x00, 0x01, 0x00, 0x00,
	    0x01, 0x00, 0x00, 0x00 };
	struct krx_kafka_req_hdr h;

	cr_assert_eq(krx_kafka_req_hdr_parse(f, sizeof(f), &h),
	    KRX_E_UNSUPPORTED);
	cr_assert_eq(h.api_key, 200);
	cr_assert_eq(h.api_version, 1);
	cr_assert_eq(h.correlation_id, 256);
}

Test(kafka_hdr, truncated_at_every_length)
{
	struct kt_frame			 f = kt_load("metadata_v12_req.bin");
	struct krx_kafka_req_hdr	 h;
	size_t				 i;

	for (i = 0; i < 22; i++)
		cr_assert_eq(krx_kafka_req_hdr_parse(f.data, i, &h),
		    KRX_E_TRUNCATED, "prefix %zu", i);
	cr_assert_eq(krx_kafka_req_hdr_parse(f.data, 22, &h), KRX_OK);
	free(f.data);
}

Test(kafka_hdr, response_header_lengths)
{
	struct kt_frame	 a = kt_load("apiversions_v4_resp.bin");
	struct kt_frame	 m = kt_load("metadata_v12_resp.bin");
	struct kt_frame	 o = kt_load("metadata_v4_resp.bin");
	size_t		 len;

	/* ApiVersions answers with header v0 even for a flexible body. */
	cr_assert_eq(krx_kafka_resp_hdr_len(a.data, a.len,
	    KRX_API_API_VERSIONS, 4, &len), KRX_OK);
	cr_assert_eq(len, 4);
	cr_assert_eq(krx_kafka_resp_hdr_len(m.data, m.len, KRX_API_METADATA,
	    12, &len), KRX_OK);
	cr_assert_eq(len, 5);
	cr_assert_eq(krx_kafka_resp_hdr_len(o.data, o.len, KRX_API_METADATA,
	    4, &len), KRX_OK);
	cr_assert_eq(len, 4);
	cr_assert_eq(krx_kafka_resp_hdr_len(m.data, 4, KRX_API_METADATA, 12,
	    &len), KRX_E_TRUNCATED);
	cr_assert_eq(krx_kafka_resp_hdr_len(m.data, m.len, 93, 0, &len),
	    KRX_E_UNSUPPORTED);
	free(a.data);
	free(m.data);
	free(o.data);
}

static int16_t
captured_acks(const char *file)
{
	struct kt_frame			 f = kt_load(file);
	struct krx_kafka_req_hdr	 h;
	int16_t				 acks;

	cr_assert_eq(krx_kafka_req_hdr_parse(f.data, f.len, &h), KRX_OK);
	cr_assert_eq(krx_kafka_produce_acks(f.data + h.len, f.len - h.len,
	    h.api_version, &acks), KRX_OK, "%s", file);
	free(f.data);
	return acks;
}

Test(kafka_hdr, produce_acks_captured)
{
	cr_assert_eq(captured_acks("produce_v3_req.bin"), -1);
	cr_assert_eq(captured_acks("produce_v9_req.bin"), -1);
	cr_assert_eq(captured_acks("produce_v13_req.bin"), -1);
}

Test(kafka_hdr, produce_acks_transactional)
{
	/* Compact "tx" is 0x03 't' 'x': skip 2 bytes, not 3 (N+1). */
	static const uint8_t	 flex[] = { 0x03, 't', 'x', 0x00, 0x01 };
	static const uint8_t	 classic[] = { 0x00, 0x02, 't', 'x', 0xff,
	    0xff };
	static const uint8_t	 v2[] = { 0x00, 0x00 };
	int16_t			 acks;

	cr_assert_eq(krx_kafka_produce_acks(flex, sizeof(flex), 11, &acks),
	    KRX_OK);
	cr_assert_eq(acks, 1);
	cr_assert_eq(krx_kafka_produce_acks(classic, sizeof(classic), 8,
	    &acks), KRX_OK);
	cr_assert_eq(acks, -1);
	cr_assert_eq(krx_kafka_produce_acks(v2, sizeof(v2), 2, &acks),
	    KRX_OK);
	cr_assert_eq(acks, 0);
	cr_assert_eq(krx_kafka_produce_acks(flex, 4, 11, &acks),
	    KRX_E_TRUNCATED);
	cr_assert_eq(krx_kafka_produce_acks(flex, sizeof(flex), 14, &acks),
	    KRX_E_UNSUPPORTED);
}

Test(kafka_hdr, metadata_request_v4)
{
	static const uint8_t	 body[] = { 0x00, 0x00, 0x00, 0x00, 0x00 };
	struct krx_kafka_req_hdr h;
	struct krx_buf		 b;

	krx_buf_init(&b, 0);
	cr_assert_eq(krx_kafka_metadata_request(&b, 4, 77, "krx"), KRX_OK);
	cr_assert_eq(b.len, 4 + 13 + sizeof(body));
	cr_assert_eq(b.data[3], b.len - 4);
	cr_assert_eq(krx_kafka_req_hdr_parse(b.data + 4, b.len - 4, &h),
	    KRX_OK);
	cr_assert_eq(h.api_key, KRX_API_METADATA);
	cr_assert_eq(h.api_version, 4);
	cr_assert_eq(h.correlation_id, 77);
	cr_assert_eq(h.len, 13);
	cr_assert_eq(memcmp(b.data + 4 + h.len, body, sizeof(body)), 0);
	krx_buf_free(&b);
}

Test(kafka_hdr, metadata_request_v12_and_limits)
{
	/* Topics empty (0x01), no auto-create, no topic ops, no tags. */
	static const uint8_t	 body[] = { 0x01, 0x00, 0x00, 0x00 };
	struct krx_kafka_req_hdr h;
	struct krx_buf		 b;

	krx_buf_init(&b, 0);
	cr_assert_eq(krx_kafka_metadata_request(&b, 12, 1, NULL), KRX_OK);
	cr_assert_eq(krx_kafka_req_hdr_parse(b.data + 4, b.len - 4, &h),
	    KRX_OK);
	cr_assert_eq(h.client_id_len, -1);
	cr_assert_eq(h.len, 11);
	cr_assert_eq(b.len - 4 - h.len, sizeof(body));
	cr_assert_eq(memcmp(b.data + 4 + h.len, body, sizeof(body)), 0);
	b.len = 0;
	cr_assert_eq(krx_kafka_metadata_request(&b, 0, 1, "x"),
	    KRX_E_UNSUPPORTED);
	cr_assert_eq(krx_kafka_metadata_request(&b, 14, 1, "x"),
	    KRX_E_UNSUPPORTED);
	cr_assert_eq(b.len, 0);
	krx_buf_free(&b);
}
