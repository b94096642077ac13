/*
 * kafka_endpoints_test.c: endpoint rewriting (proto/kafka_endpoints.c)
 * on Metadata, FindCoordinator, DescribeCluster, Produce, Fetch,
 * ShareFetch and ShareAcknowledge responses captured from a Kafka 4.1.1
 * broker (tests/data/capture.py), and on hand-built bodies where the
 * broker only sends endpoints after a leader change
 * (kafka_testbodies.h).
 *
 * The main check is a round trip: rewriting every endpoint to a proxy
 * address and then back must give the original bytes, which proves that
 * every other byte (tags included) was copied and every length redone.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "common/err.h"
#include "proto/kafka.h"
#include "proto/kafka_prim.h"
#include "kafka_testutil.h"
#include "kafka_testbodies.h"

#define MAP_MAX	16

struct map {
	int		 calls;
	int		 fail;		/* error to return, 0 for none */
	bool		 back;		/* restore the recorded upstream */
	size_t		 long_host;	/* answer a host this long */
	int32_t		 node[MAP_MAX];
	char		 host[MAP_MAX][64];
	int32_t		 port[MAP_MAX];
	char		 adv[64];
	char		*big;
};

static int
map_fn(void *arg, const struct krx_kafka_endpoint *up,
    struct krx_kafka_endpoint *adv)
{
	struct map	*m = arg;
	int		 i;

	if (m->fail != 0)
		return m->fail;
	cr_assert_eq(adv->node_id, up->node_id);
	if (m->long_host > 0) {
		m->big = calloc(1, m->long_host);
		memset(m->big, 'h', m->long_host);
		adv->host = m->big;
		adv->host_len = m->long_host;
		return 0;
	}
	if (m->back) {
		i = m->calls++;
		cr_assert_lt(i, MAP_MAX);
		cr_assert_eq(up->node_id, m->node[i]);
		adv->host = m->host[i];
		adv->host_len = strlen(m->host[i]);
		adv->port = m->port[i];
		return 0;
	}
	i = m->calls++;
	cr_assert_lt(i, MAP_MAX);
	cr_assert_lt(up->host_len, sizeof(m->host[i]));
	m->node[i] = up->node_id;
	memcpy(m->host[i], up->host, up->host_len);
	m->host[i][up->host_len] = '\0';
	m->port[i] = up->port;
	snprintf(m->adv, sizeof(m->adv), "krx-node-%d.proxy.example",
	    up->node_id);
	adv->host = m->adv;
	adv->host_len = strlen(m->adv);
	adv->port = 19000 + up->node_id;
	return 0;
}

/*
 * Rewrite body to proxy addresses and back. Returns the number of
 * endpoints seen; the body must come back byte for byte.
 */
static int
round_trip(int16_t key, int16_t v, const uint8_t *body, size_t len)
{
	struct map	 m;
	struct krx_buf	 fwd, bwd;
	int		 r, n;

	memset(&m, 0, sizeof(m));
	krx_buf_init(&fwd, 0);
	krx_buf_init(&bwd, 0);
	r = krx_kafka_rewrite_endpoints(key, v, body, len, map_fn, &m, &fwd);
	cr_assert(r == 0 || r == 1, "%s v%d: %s", krx_kafka_api_name(key), v,
	    krx_strerror(r));
	if (r == 0) {
		cr_assert_eq(fwd.len, 0, "written without endpoints");
		n = m.calls;
		goto out;
	}
	cr_assert_gt(m.calls, 0);
	cr_assert_not_null(memmem(fwd.data, fwd.len, "proxy.example", 13));
	cr_assert(fwd.len != len || memcmp(fwd.data, body, len) != 0);
	n = m.calls;
	m.calls = 0;
	m.back = true;
	cr_assert_eq(krx_kafka_rewrite_endpoints(key, v, fwd.data, fwd.len,
	    map_fn, &m, &bwd), 1);
	cr_assert_eq(m.calls, n);
	cr_assert_eq(bwd.len, len, "%s v%d: length %zu, want %zu",
	    krx_kafka_api_name(key), v, bwd.len, len);
	cr_assert_eq(memcmp(bwd.data, body, len), 0);
out:
	krx_buf_free(&fwd);
	krx_buf_free(&bwd);
	return n;
}

/* Round trip of a captured response; returns the endpoints seen. */
static int
captured(const char *file, int16_t key, int16_t v)
{
	struct kt_frame	 f = kt_load(file);
	size_t		 h = kt_resp_body(&f, key, v);
	int		 n;

	n = round_trip(key, v, f.data + h, f.len - h);
	free(f.data);
	return n;
}

Test(kafka_endpoints, metadata_captured_all_versions)
{
	static const int16_t	 vs[] = { 0, 1, 4, 9, 12, 13 };
	char			 name[64];
	size_t			 i;

	for (i = 0; i < sizeof(vs) / sizeof(vs[0]); i++) {
		snprintf(name, sizeof(name), "metadata_v%d_resp.bin", vs[i]);
		cr_assert_eq(captured(name, KRX_API_METADATA, vs[i]), 1,
		    "v%d", vs[i]);
	}
}

Test(kafka_endpoints, find_coordinator_captured)
{
	cr_assert_eq(captured("findcoordinator_v0_resp.bin",
	    KRX_API_FIND_COORDINATOR, 0), 1);
	cr_assert_eq(captured("findcoordinator_v1_resp.bin",
	    KRX_API_FIND_COORDINATOR, 1), 1);
	cr_assert_eq(captured("findcoordinator_v3_resp.bin",
	    KRX_API_FIND_COORDINATOR, 3), 1);
	/* Batched: two keys, two coordinators. */
	cr_assert_eq(captured("findcoordinator_v4_resp.bin",
	    KRX_API_FIND_COORDINATOR, 4), 2);
	cr_assert_eq(captured("findcoordinator_v6_resp.bin",
	    KRX_API_FIND_COORDINATOR, 6), 2);
}

Test(kafka_endpoints, find_coordinator_none_is_skipped)
{
	/* COORDINATOR_NOT_AVAILABLE with node id -1: nothing to rewrite. */
	cr_assert_eq(captured("findcoordinator_txn_v6_resp.bin",
	    KRX_API_FIND_COORDINATOR, 6), 0);
}

Test(kafka_endpoints, describe_cluster_captured)
{
	cr_assert_eq(captured("describecluster_v0_resp.bin",
	    KRX_API_DESCRIBE_CLUSTER, 0), 1);
	cr_assert_eq(captured("describecluster_v1_resp.bin",
	    KRX_API_DESCRIBE_CLUSTER, 1), 1);
	cr_assert_eq(captured("describecluster_v2_resp.bin",
	    KRX_API_DESCRIBE_CLUSTER, 2), 1);
}

Test(kafka_endpoints, produce_captured_has_none)
{
	cr_assert_eq(captured("produce_v3_resp.bin", KRX_API_PRODUCE, 3), 0);
	cr_assert_eq(captured("produce_v9_resp.bin", KRX_API_PRODUCE, 9), 0);
	cr_assert_eq(captured("produce_v11_resp.bin", KRX_API_PRODUCE, 11),
	    0);
	cr_assert_eq(captured("produce_v13_resp.bin", KRX_API_PRODUCE, 13),
	    0);
	cr_assert_eq(captured("produce_err_v12_resp.bin", KRX_API_PRODUCE,
	    12), 0);
}

Test(kafka_endpoints, fetch_captured_has_none)
{
	static const int16_t	 vs[] = { 4, 11, 12, 13, 16, 17, 18 };
	char			 name[64];
	size_t			 i;

	for (i = 0; i < sizeof(vs) / sizeof(vs[0]); i++) {
		snprintf(name, sizeof(name), "fetch_v%d_resp.bin", vs[i]);
		cr_assert_eq(captured(name, KRX_API_FETCH, vs[i]), 0);
	}
}

Test(kafka_endpoints, share_captured)
{
	cr_assert_eq(captured("sharefetch_v1_resp.bin", KRX_API_SHARE_FETCH,
	    1), 0);
	cr_assert_eq(captured("shareacknowledge_v1_resp.bin",
	    KRX_API_SHARE_ACKNOWLEDGE, 1), 0);
}

Test(kafka_endpoints, produce_node_endpoints_built)
{
	struct krx_buf	 b;

	krx_buf_init(&b, 0);
	kb_produce_v11(&b);
	cr_assert_eq(round_trip(KRX_API_PRODUCE, 11, b.data, b.len), 2);
	/* Before v10 tag 0 is no NodeEndpoints: an unknown tag, kept. */
	cr_assert_eq(round_trip(KRX_API_PRODUCE, 9, b.data, b.len), 0);
	krx_buf_free(&b);
}

/* The captured Fetch v17 body with tag 0 NodeEndpoints added. */
static void
fetch_with_tags(struct krx_buf *b)
{
	struct kt_frame	 f = kt_load("fetch_v17_resp.bin");
	size_t		 h = kt_resp_body(&f, KRX_API_FETCH, 17);

	/* It ends with an empty tag section: replace it. */
	cr_assert_eq(f.data[f.len - 1], 0);
	krx_buf_put(b, f.data + h, f.len - h - 1);
	kb_top_tags(b);
	free(f.data);
}

Test(kafka_endpoints, fetch_node_endpoints_built)
{
	struct map	 m;
	struct krx_buf	 b, out;

	krx_buf_init(&b, 0);
	fetch_with_tags(&b);
	cr_assert_eq(round_trip(KRX_API_FETCH, 17, b.data, b.len), 2);
	cr_assert_eq(round_trip(KRX_API_FETCH, 15, b.data, b.len), 0);
	/* The records and the unknown tag 7 are still there. */
	memset(&m, 0, sizeof(m));
	krx_buf_init(&out, 0);
	cr_assert_eq(krx_kafka_rewrite_endpoints(KRX_API_FETCH, 18, b.data,
	    b.len, map_fn, &m, &out), 1);
	cr_assert_not_null(memmem(out.data, out.len, "hello from krx", 14));
	cr_assert_eq(out.data[out.len - 4], 7);
	cr_assert_eq(out.data[out.len - 1], 0xad);
	cr_assert_null(memmem(out.data, out.len, "internal", 8));
	krx_buf_free(&out);
	krx_buf_free(&b);
}

Test(kafka_endpoints, share_node_endpoints_built)
{
	struct krx_buf	 b;
	int16_t		 v;

	for (v = 1; v <= 2; v++) {
		krx_buf_init(&b, 0);
		kb_share(&b, true, v);
		cr_assert_eq(round_trip(KRX_API_SHARE_FETCH, v, b.data,
		    b.len), 2);
		krx_buf_free(&b);
		krx_buf_init(&b, 0);
		kb_share(&b, false, v);
		cr_assert_eq(round_trip(KRX_API_SHARE_ACKNOWLEDGE, v, b.data,
		    b.len), 2);
		krx_buf_free(&b);
	}
}

/* Every strict prefix of body must be KRX_E_TRUNCATED, out untouched. */
static void
all_prefixes_truncated(int16_t key, int16_t v, const uint8_t *body,
    size_t len)
{
	struct map	 m;
	struct krx_buf	 out;
	size_t		 i;

	krx_buf_init(&out, 0);
	for (i = 0; i < len; i++) {
		memset(&m, 0, sizeof(m));
		cr_assert_eq(krx_kafka_rewrite_endpoints(key, v, body, i,
		    map_fn, &m, &out), KRX_E_TRUNCATED, "%s v%d prefix %zu",
		    krx_kafka_api_name(key), v, i);
		cr_assert_eq(out.len, 0);
	}
	krx_buf_free(&out);
}

Test(kafka_endpoints, truncated_at_every_length)
{
	struct kt_frame	 f = kt_load("metadata_v12_resp.bin");
	struct krx_buf	 b;
	size_t		 h = kt_resp_body(&f, KRX_API_METADATA, 12);

	all_prefixes_truncated(KRX_API_METADATA, 12, f.data + h, f.len - h);
	free(f.data);
	krx_buf_init(&b, 0);
	fetch_with_tags(&b);
	all_prefixes_truncated(KRX_API_FETCH, 17, b.data, b.len);
	b.len = 0;
	kb_share(&b, true, 1);
	all_prefixes_truncated(KRX_API_SHARE_FETCH, 1, b.data, b.len);
	krx_buf_free(&b);
	f = kt_load("findcoordinator_v6_resp.bin");
	h = kt_resp_body(&f, KRX_API_FIND_COORDINATOR, 6);
	all_prefixes_truncated(KRX_API_FIND_COORDINATOR, 6, f.data + h,
	    f.len - h);
	free(f.data);
}

static int
rewrite_plus_byte(const char *file, int16_t key, int16_t v)
{
	struct kt_frame	 f = kt_load(file);
	struct map	 m;
	struct krx_buf	 out;
	uint8_t		*b;
	size_t		 h = kt_resp_body(&f, key, v), n = f.len - h;
	int		 r;

	b = malloc(n + 1);
	memcpy(b, f.data + h, n);
	b[n] = 0;
	memset(&m, 0, sizeof(m));
	krx_buf_init(&out, 0);
	r = krx_kafka_rewrite_endpoints(key, v, b, n + 1, map_fn, &m, &out);
	cr_assert_eq(out.len, 0);
	krx_buf_free(&out);
	free(b);
	free(f.data);
	return r;
}

Test(kafka_endpoints, trailing_rejected)
{
	cr_assert_eq(rewrite_plus_byte("metadata_v4_resp.bin",
	    KRX_API_METADATA, 4), KRX_E_TRAILING);
	cr_assert_eq(rewrite_plus_byte("describecluster_v2_resp.bin",
	    KRX_API_DESCRIBE_CLUSTER, 2), KRX_E_TRAILING);
	cr_assert_eq(rewrite_plus_byte("fetch_v18_resp.bin", KRX_API_FETCH,
	    18), KRX_E_TRAILING);
	cr_assert_eq(rewrite_plus_byte("produce_v3_resp.bin", KRX_API_PRODUCE,
	    3), KRX_E_TRAILING);
}

Test(kafka_endpoints, trailing_after_tag_section_rejected)
{
	struct map	 m;
	struct krx_buf	 b, out;

	krx_buf_init(&b, 0);
	kb_produce_v11(&b);
	krx_buf_put_u8(&b, 0);
	memset(&m, 0, sizeof(m));
	krx_buf_init(&out, 0);
	cr_assert_eq(krx_kafka_rewrite_endpoints(KRX_API_PRODUCE, 11, b.data,
	    b.len, map_fn, &m, &out), KRX_E_TRAILING);
	cr_assert_eq(out.len, 0);
	krx_buf_free(&out);
	krx_buf_free(&b);
}

Test(kafka_endpoints, callback_error_aborts)
{
	struct kt_frame	 f = kt_load("metadata_v9_resp.bin");
	struct map	 m;
	struct krx_buf	 out;
	size_t		 h = kt_resp_body(&f, KRX_API_METADATA, 9);

	memset(&m, 0, sizeof(m));
	m.fail = KRX_E_NOTFOUND;
	krx_buf_init(&out, 0);
	krx_buf_put(&out, "x", 1);
	cr_assert_eq(krx_kafka_rewrite_endpoints(KRX_API_METADATA, 9,
	    f.data + h, f.len - h, map_fn, &m, &out), KRX_E_NOTFOUND);
	cr_assert_eq(out.len, 1, "out not restored");
	krx_buf_free(&out);
	free(f.data);
}

Test(kafka_endpoints, advertised_host_too_long)
{
	struct kt_frame	 f = kt_load("describecluster_v1_resp.bin");
	struct map	 m;
	struct krx_buf	 out;
	size_t		 h = kt_resp_body(&f, KRX_API_DESCRIBE_CLUSTER, 1);

	memset(&m, 0, sizeof(m));
	m.long_host = (size_t)INT16_MAX + 1;
	krx_buf_init(&out, 0);
	cr_assert_eq(krx_kafka_rewrite_endpoints(KRX_API_DESCRIBE_CLUSTER, 1,
	    f.data + h, f.len - h, map_fn, &m, &out), KRX_E_RANGE);
	cr_assert_eq(out.len, 0);
	free(m.big);
	krx_buf_free(&out);
	free(f.data);
}

Test(kafka_endpoints, has_endpoints)
{
	cr_assert(krx_kafka_has_endpoints(KRX_API_METADATA, 0));
	cr_assert(krx_kafka_has_endpoints(KRX_API_METADATA, 14));
	cr_assert(krx_kafka_has_endpoints(KRX_API_FIND_COORDINATOR, 6));
	cr_assert(krx_kafka_has_endpoints(KRX_API_DESCRIBE_CLUSTER, 0));
	cr_assert_not(krx_kafka_has_endpoints(KRX_API_PRODUCE, 9));
	cr_assert(krx_kafka_has_endpoints(KRX_API_PRODUCE, 10));
	cr_assert_not(krx_kafka_has_endpoints(KRX_API_FETCH, 15));
	cr_assert(krx_kafka_has_endpoints(KRX_API_FETCH, 16));
	cr_assert(krx_kafka_has_endpoints(KRX_API_SHARE_FETCH, 1));
	cr_assert(krx_kafka_has_endpoints(KRX_API_SHARE_ACKNOWLEDGE, 2));
	cr_assert_not(krx_kafka_has_endpoints(2, 10));
	/* StreamsGroup endpoints are application endpoints: left alone. */
	cr_assert_not(krx_kafka_has_endpoints(88, 0));
}

Test(kafka_endpoints, versions_out_of_range)
{
	static const uint8_t	 b[] = { 0 };
	struct map		 m;
	struct krx_buf		 out;

	memset(&m, 0, sizeof(m));
	krx_buf_init(&out, 0);
	cr_assert_eq(krx_kafka_rewrite_endpoints(KRX_API_METADATA, 14, b, 1,
	    map_fn, &m, &out), KRX_E_UNSUPPORTED);
	cr_assert_eq(krx_kafka_rewrite_endpoints(KRX_API_FETCH, 3, b, 1,
	    map_fn, &m, &out), KRX_E_UNSUPPORTED);
	cr_assert_eq(krx_kafka_rewrite_endpoints(KRX_API_SHARE_FETCH, 0, b, 1,
	    map_fn, &m, &out), KRX_E_UNSUPPORTED);
	/* An API without endpoints: nothing to do, nothing read. */
	cr_assert_eq(krx_kafka_rewrite_endpoints(2, 5, b, 1, map_fn, &m,
	    &out), 0);
	cr_assert_eq(m.calls, 0);
	krx_buf_free(&out);
}

Test(kafka_endpoints, duplicate_tag_zero_rejected)
{
	struct map	 m;
	struct krx_buf	 b, out;
	size_t		 end;

	/* Two NodeEndpoints tags could smuggle an unrewritten address. */
	krx_buf_init(&b, 0);
	kb_produce_v11(&b);
	end = b.len;
	b.len = 0;
	kb_produce_v11(&b);
	cr_assert_eq(b.len, end);
	/* Turn tag 7 (tag, size 2, 2 bytes at the end) into tag 0. */
	b.data[b.len - 4] = 0;
	memset(&m, 0, sizeof(m));
	krx_buf_init(&out, 0);
	cr_assert_eq(krx_kafka_rewrite_endpoints(KRX_API_PRODUCE, 12, b.data,
	    b.len, map_fn, &m, &out), KRX_E_MALFORMED);
	cr_assert_eq(out.len, 0);
	krx_buf_free(&out);
	krx_buf_free(&b);
}

Test(kafka_endpoints, null_host_rejected)
{
	/* Metadata v9: throttle, one broker with a null (0) host. */
	static const uint8_t	 b[] = { 0, 0, 0, 0, 0x02, 0, 0, 0, 1, 0x00,
	    0, 0, 0x23, 0x84, 0x00, 0x00, 0x01, 0, 0, 0, 1, 0x01, 0x00 };
	struct map		 m;
	struct krx_buf		 out;

	memset(&m, 0, sizeof(m));
	krx_buf_init(&out, 0);
	cr_assert_eq(krx_kafka_rewrite_endpoints(KRX_API_METADATA, 9, b,
	    sizeof(b), map_fn, &m, &out), KRX_E_MALFORMED);
	cr_assert_eq(m.calls, 0);
	krx_buf_free(&out);
}

/* Same-length answers: the host's letters become 'x', port 9999. */
static int
same_len_fn(void *arg, const struct krx_kafka_endpoint *up,
    struct krx_kafka_endpoint *adv)
{
	static char	 xs[64];
	int		*calls = arg;

	cr_assert_lt(up->host_len, sizeof(xs));
	memset(xs, 'x', up->host_len);
	adv->host = xs;
	adv->host_len = up->host_len;
	adv->port = 9999;
	(*calls)++;
	return 0;
}

static int
seen_fn(void *arg, const struct krx_kafka_endpoint *up,
    struct krx_kafka_endpoint *adv)
{
	(void)adv;
	cr_assert_eq(up->port, 9999);
	cr_assert_eq(up->host[0], 'x');
	(*(int *)arg)++;
	return 0;
}

Test(kafka_endpoints, fetch_inplace_same_length)
{
	struct krx_buf	 b, out;
	int		 calls = 0, seen = 0;

	krx_buf_init(&b, 0);
	fetch_with_tags(&b);
	cr_assert_eq(krx_kafka_fetch_endpoints_inplace(b.data, b.len, 17, 100,
	    same_len_fn, &calls), KRX_OK);
	cr_assert_eq(calls, 2);
	cr_assert_null(memmem(b.data, b.len, "internal", 8));
	/* Still a valid body, now with krx's endpoints. */
	krx_buf_init(&out, 0);
	cr_assert_eq(krx_kafka_rewrite_endpoints(KRX_API_FETCH, 17, b.data,
	    b.len, seen_fn, &seen, &out), 1);
	cr_assert_eq(seen, 2);
	krx_buf_free(&out);
	krx_buf_free(&b);
}

Test(kafka_endpoints, fetch_inplace_padded)
{
	struct map	 m;
	struct krx_buf	 b, orig, out;
	size_t		 tags;
	int		 seen = 0;

	krx_buf_init(&b, 0);
	krx_buf_init(&orig, 0);
	fetch_with_tags(&b);
	krx_buf_put(&orig, b.data, b.len);
	{
		struct kt_frame	 f = kt_load("fetch_v17_resp.bin");

		tags = f.len - kt_resp_body(&f, KRX_API_FETCH, 17) - 1;
		free(f.data);
	}
	memset(&m, 0, sizeof(m));
	/* krx's names are longer: tag 0 is emptied, the section padded. */
	cr_assert_eq(krx_kafka_fetch_endpoints_inplace(b.data, b.len, 18, 100,
	    map_fn, &m), KRX_OK);
	cr_assert_eq(m.calls, 2, "both brokers learned");
	cr_assert_null(memmem(b.data, b.len, "internal", 8));
	cr_assert_null(memmem(b.data, b.len, "proxy.example", 13));
	/* The records are untouched; the body still parses to its end,
	 * without endpoints now, unknown tag 7 kept. */
	cr_assert_eq(memcmp(b.data, orig.data, tags), 0);
	krx_buf_init(&out, 0);
	cr_assert_eq(krx_kafka_rewrite_endpoints(KRX_API_FETCH, 18, b.data,
	    b.len, seen_fn, &seen, &out), 0);
	cr_assert_eq(seen, 0);
	/* count 3; tag 0: []; tag 7 as it was; tag 8: the padding */
	cr_assert_eq(b.data[tags], 3);
	cr_assert_eq(memcmp(b.data + tags + 1, "\x00\x01\x01\x07\x02\xde\xad"
	    "\x08", 8), 0);
	krx_buf_free(&out);
	krx_buf_free(&orig);
	krx_buf_free(&b);
}

Test(kafka_endpoints, fetch_inplace_refused)
{
	struct map	 m;
	struct krx_buf	 b, orig;
	struct kt_frame	 f = kt_load("fetch_v17_resp.bin");
	size_t		 h = kt_resp_body(&f, KRX_API_FETCH, 17);

	krx_buf_init(&b, 0);
	krx_buf_init(&orig, 0);
	fetch_with_tags(&b);
	krx_buf_put(&orig, b.data, b.len);
	memset(&m, 0, sizeof(m));
	/* The tag section is already on its way: nothing may change. */
	cr_assert_eq(krx_kafka_fetch_endpoints_inplace(b.data, b.len, 17,
	    b.len - 1, map_fn, &m), KRX_E_RANGE);
	cr_assert_eq(memcmp(b.data, orig.data, b.len), 0);
	cr_assert_eq(krx_kafka_fetch_endpoints_inplace(b.data, b.len, 19, 0,
	    map_fn, &m), KRX_E_UNSUPPORTED);
	cr_assert_eq(krx_kafka_fetch_endpoints_inplace(b.data, b.len - 1, 17,
	    0, map_fn, &m), KRX_E_TRUNCATED);
	/* No endpoints: nothing to do, nothing called. */
	memset(&m, 0, sizeof(m));
	cr_assert_eq(krx_kafka_fetch_endpoints_inplace(f.data + h, f.len - h,
	    17, f.len - h, map_fn, &m), KRX_OK);
	cr_assert_eq(m.calls, 0);
	krx_buf_free(&orig);
	krx_buf_free(&b);
	free(f.data);
}

/* Metadata v9 with one broker, node 1, host host (hlen <= 32), port. */
static size_t
metadata_v9_one(uint8_t *b, const char *host, size_t hlen, int32_t port)
{
	static const uint8_t	 head[] = { 0, 0, 0, 0, 0x02, 0, 0, 0, 1 };
	/* rack, tags, cluster id, controller, topics, cluster ops, tags */
	static const uint8_t	 tail[] = { 0x00, 0x00, 0x01, 0, 0, 0, 1,
	    0x01, 0, 0, 0, 0, 0x00 };
	size_t			 n = 0;

	memcpy(b, head, sizeof(head));
	n += sizeof(head);
	b[n++] = (uint8_t)(hlen + 1);
	memcpy(b + n, host, hlen);
	n += hlen;
	b[n++] = (uint8_t)((uint32_t)port >> 24);
	b[n++] = (uint8_t)((uint32_t)port >> 16);
	b[n++] = (uint8_t)((uint32_t)port >> 8);
	b[n++] = (uint8_t)port;
	memcpy(b + n, tail, sizeof(tail));
	return n + sizeof(tail);
}

/*
 * Issue 9, finding 12: a broker's port outside 1..65535 or a host that
 * is no host name or IP literal never reaches the callback (the node
 * map, connect(2)); the whole response is refused.
 */
Test(kafka_endpoints, bad_broker_address_refused)
{
	static const struct {
		const char	*host;
		int32_t		 port;
		int		 want;
	} cases[] = {
		{ "b-1.example", 9092, 1 },
		{ "127.0.0.1", 1, 1 },
		{ "fd00::1", 65535, 1 },
		{ "b-1.example", 0, KRX_E_MALFORMED },
		{ "b-1.example", 70000, KRX_E_MALFORMED },
		{ "b-1.example", -1, KRX_E_MALFORMED },
		{ "", 9092, KRX_E_MALFORMED },
		{ "b 1", 9092, KRX_E_MALFORMED },
		{ "b/1", 9092, KRX_E_MALFORMED },
		{ "-oProxy", 9092, KRX_E_MALFORMED },
		{ "b\n1", 9092, KRX_E_MALFORMED },
	};
	uint8_t		 b[64];
	struct map	 m;
	struct krx_buf	 out;
	size_t		 i, len;
	int		 r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		len = metadata_v9_one(b, cases[i].host,
		    strlen(cases[i].host), cases[i].port);
		memset(&m, 0, sizeof(m));
		krx_buf_init(&out, 0);
		r = krx_kafka_rewrite_endpoints(KRX_API_METADATA, 9, b, len,
		    map_fn, &m, &out);
		cr_assert_eq(r, cases[i].want, "%s:%d: %s", cases[i].host,
		    cases[i].port, krx_strerror(r));
		cr_assert_eq(m.calls, r == 1 ? 1 : 0);
		krx_buf_free(&out);
	}
}

Test(kafka_endpoints, endpoint_valid)
{
	char	 long_host[300];

	memset(long_host, 'a', sizeof(long_host));
	cr_assert(krx_kafka_endpoint_valid(long_host, 255, 9092));
	cr_assert_not(krx_kafka_endpoint_valid(long_host, 256, 9092));
	cr_assert_not(krx_kafka_endpoint_valid(NULL, 0, 9092));
	cr_assert_not(krx_kafka_endpoint_valid(".x", 2, 9092));
	cr_assert_not(krx_kafka_endpoint_valid("a%b", 3, 9092));
	cr_assert(krx_kafka_endpoint_valid("kafka_1", 7, 9092));
}
