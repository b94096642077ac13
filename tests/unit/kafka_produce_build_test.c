/*
 * kafka_produce_build_test.c: the Produce requests krx sends itself
 * (krx_kafka_produce_build, proto/kafka_produce.c) and the parser of
 * their responses (proto/kafka_produce_resp.c). Inputs are frames
 * captured from a Kafka 4.1.1 broker (tests/data), bodies built here
 * field by field, and the error responses of kafka_produce.c.
 *
 * A built request is checked three ways: byte for byte against the
 * same request written here by a writer of its own, parsed back with
 * krx_kafka_produce_parse, and (captured requests) rebuilt with every
 * partition and its own records into the very bytes captured.
 *
 * Java verification (offline, kafka-clients 4.1.1 of .cache/kafka/libs,
 * with a throwaway program, not in the tree): the 704 requests of
 * every_subset_every_version (v3..13) and the 16 responses of
 * built_all_versions decode with ProduceRequestData and
 * ProduceResponseData through ByteBufferAccessor with nothing left
 * over, and Java writes them back byte for byte. Java refuses tag 0 in
 * a v9 partition response (CurrentLeader is v10+), so the v9 bodies
 * here use tag 1; krx skips either.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "common/err.h"
#include "proto/kafka.h"
#include "proto/kafka_msg.h"
#include "proto/kafka_prim.h"
#include "kafka_testutil.h"
#include "kafka_testbodies.h"

/* A Produce request written here: topics of partitions. */
struct tb_part {
	int32_t		 index;
	const uint8_t	*rec;
	int32_t		 len;		/* -1: null */
};

struct tb_topic {
	const char	*name;
	uint8_t		 id;		/* the id is 16 bytes of it */
	size_t		 n;
	struct tb_part	 parts[4];
};

static void
tb_request(struct krx_buf *b, int16_t v, const struct tb_topic *t,
    size_t nt)
{
	uint8_t		 id[KRX_KAFKA_UUID_LEN];
	bool		 flex = v >= 9;
	size_t		 i, k;

	krx_kp_put_str(b, flex, "txn-7", 5);
	krx_buf_put_be16(b, (uint16_t)-1);
	krx_buf_put_be32(b, 1500);
	krx_kp_put_array_len(b, flex, (int32_t)nt);
	for (i = 0; i < nt; i++) {
		if (v >= 13) {
			memset(id, t[i].id, sizeof(id));
			krx_buf_put(b, id, sizeof(id));
		} else
			krx_kp_put_str(b, flex, t[i].name,
			    (int32_t)strlen(t[i].name));
		krx_kp_put_array_len(b, flex, (int32_t)t[i].n);
		for (k = 0; k < t[i].n; k++) {
			krx_buf_put_be32(b, (uint32_t)t[i].parts[k].index);
			krx_kafka_records_field(b, flex, t[i].parts[k].rec,
			    t[i].parts[k].len);
			if (flex)
				krx_buf_put_u8(b, 0);
		}
		if (flex)
			krx_buf_put_u8(b, 0);
	}
	if (flex)
		krx_buf_put_u8(b, 0);
	cr_assert_eq(b->err, KRX_OK);
}

static uint8_t	 old_rec[300], new_rec[70000];

static void
tb_fill(void)
{
	size_t	 i;

	for (i = 0; i < sizeof(old_rec); i++)
		old_rec[i] = (uint8_t)(i * 3 + 1);
	for (i = 0; i < sizeof(new_rec); i++)
		new_rec[i] = (uint8_t)(i * 7 + 5);
}

/*
 * The client's request: alpha (partitions 0, 5, 7), beta-topic (2),
 * gamma (1, 3); parts[] 0..5 in that order.
 */
#define TB_NPARTS	6

static const struct tb_topic *
tb_client(void)
{
	static struct tb_topic	 t[3] = {
		{ "alpha", 0x11, 3, { { 0, old_rec, 70 }, { 5, old_rec, 200 },
		    { 7, NULL, -1 } } },
		{ "beta-topic", 0x22, 1, { { 2, old_rec, 10 } } },
		{ "gamma", 0x33, 2, { { 1, old_rec, 0 }, { 3, old_rec,
		    300 } } },
	};

	return t;
}

/* New records for parts[i]: lengths that try every prefix width. */
static size_t
tb_new_len(size_t i)
{
	static const size_t	 lens[TB_NPARTS] = { 127, 0, 70000, 1,
	    16384, 200 };

	return lens[i];
}

/*
 * Build the request carrying the parts of mask (bit i: req->parts[i])
 * with new records; compare with the same request written by
 * tb_request, and parse it back.
 */
static void
tb_subset(const struct krx_produce_req *req, int16_t v, unsigned mask)
{
	const struct tb_topic		*c = tb_client();
	struct krx_produce_piece	 pc[TB_NPARTS];
	struct krx_produce_req		 again;
	struct tb_topic			 want[3];
	struct krx_buf			 out, exp;
	size_t				 i, k, n = 0, nt = 0, ti, pi = 0;

	memset(want, 0, sizeof(want));
	for (ti = 0; ti < 3; ti++) {
		for (k = 0; k < c[ti].n; k++, pi++) {
			if (!(mask & 1u << pi))
				continue;
			pc[n++] = (struct krx_produce_piece){ pi, new_rec,
			    tb_new_len(pi) };
			if (want[nt].n == 0)
				want[nt] = (struct tb_topic){ c[ti].name,
				    c[ti].id, 0, { { 0, NULL, 0 } } };
			want[nt].parts[want[nt].n++] = (struct tb_part){
			    c[ti].parts[k].index, new_rec,
			    (int32_t)tb_new_len(pi) };
		}
		if (want[nt].n > 0)
			nt++;
	}
	krx_buf_init(&out, 0);
	krx_buf_init(&exp, 0);
	krx_buf_put(&out, "xy", 2);
	cr_assert_eq(krx_kafka_produce_build(req, pc, n, &out), KRX_OK,
	    "v%d mask %x", v, mask);
	tb_request(&exp, v, want, nt);
	cr_assert_eq(memcmp(out.data, "xy", 2), 0);
	cr_assert_eq(out.len - 2, exp.len, "v%d mask %x: %zu bytes, want %zu",
	    v, mask, out.len - 2, exp.len);
	cr_assert_eq(memcmp(out.data + 2, exp.data, exp.len), 0,
	    "v%d mask %x", v, mask);
	cr_assert_eq(krx_kafka_produce_parse(out.data + 2, out.len - 2, v,
	    &again), KRX_OK);
	cr_assert_eq(again.transactional_id_len, 5);
	cr_assert_eq(memcmp(again.transactional_id, "txn-7", 5), 0);
	cr_assert_eq(again.acks, -1);
	cr_assert_eq(again.timeout_ms, 1500);
	cr_assert_eq(again.ntopics, nt);
	cr_assert_eq(again.nparts, n);
	for (i = 0; i < n; i++) {
		k = pc[i].part;
		ti = again.parts[i].topic;
		cr_assert_eq(again.parts[i].index, req->parts[k].index);
		if (v >= 13)
			cr_assert_eq(memcmp(again.topics[ti].topic_id,
			    req->topics[req->parts[k].topic].topic_id,
			    KRX_KAFKA_UUID_LEN), 0);
		else
			cr_assert(again.topics[ti].name_len ==
			    req->topics[req->parts[k].topic].name_len &&
			    memcmp(again.topics[ti].name,
			    req->topics[req->parts[k].topic].name,
			    (size_t)again.topics[ti].name_len) == 0);
		cr_assert_eq(again.parts[i].records_len,
		    (int32_t)tb_new_len(k));
		cr_assert_eq(memcmp(again.parts[i].records, new_rec,
		    tb_new_len(k)), 0);
	}
	krx_produce_req_free(&again);
	krx_buf_free(&out);
	krx_buf_free(&exp);
}

/* Every subset of the six partitions, every version. */
Test(kafka_produce_build, every_subset_every_version)
{
	struct krx_produce_req	 req;
	struct krx_buf		 b;
	unsigned		 mask;
	int16_t			 v;

	tb_fill();
	for (v = 3; v <= 13; v++) {
		krx_buf_init(&b, 0);
		tb_request(&b, v, tb_client(), 3);
		cr_assert_eq(krx_kafka_produce_parse(b.data, b.len, v, &req),
		    KRX_OK, "v%d", v);
		cr_assert_eq(req.nparts, TB_NPARTS);
		for (mask = 0; mask < 1u << TB_NPARTS; mask++)
			tb_subset(&req, v, mask);
		krx_produce_req_free(&req);
		krx_buf_free(&b);
	}
}

/*
 * Every partition with its own records gives the client's body back
 * (written without tagged fields), but for the null records of alpha's
 * partition 7, which become empty ones.
 */
Test(kafka_produce_build, rebuild_is_identity)
{
	static const int16_t		 vers[] = { 3, 8, 9, 12, 13 };
	struct krx_produce_piece	 pc[TB_NPARTS];
	struct krx_produce_req		 req;
	struct tb_topic			 t[3];
	struct krx_buf			 b, exp, out;
	size_t				 i, k;

	tb_fill();
	memcpy(t, tb_client(), sizeof(t));
	t[0].parts[2].len = 0;
	for (i = 0; i < sizeof(vers) / sizeof(vers[0]); i++) {
		krx_buf_init(&b, 0);
		krx_buf_init(&exp, 0);
		krx_buf_init(&out, 0);
		tb_request(&b, vers[i], tb_client(), 3);
		tb_request(&exp, vers[i], t, 3);
		cr_assert_eq(krx_kafka_produce_parse(b.data, b.len, vers[i],
		    &req), KRX_OK);
		for (k = 0; k < TB_NPARTS; k++)
			pc[k] = (struct krx_produce_piece){ k,
			    req.parts[k].records,
			    req.parts[k].records_len < 0 ? 0 :
			    (size_t)req.parts[k].records_len };
		cr_assert_eq(krx_kafka_produce_build(&req, pc, TB_NPARTS,
		    &out), KRX_OK);
		cr_assert_eq(out.len, exp.len, "v%d", vers[i]);
		cr_assert_eq(memcmp(out.data, exp.data, exp.len), 0, "v%d",
		    vers[i]);
		/* The same size: a null length is as long as an empty one. */
		cr_assert_eq(out.len, b.len);
		krx_produce_req_free(&req);
		krx_buf_free(&b);
		krx_buf_free(&exp);
		krx_buf_free(&out);
	}
}

struct tb_body {
	struct kt_frame	 f;
	const uint8_t	*p;
	size_t		 len;
};

static struct tb_body
tb_req_body(const char *name)
{
	struct krx_kafka_req_hdr	 h;
	struct tb_body			 b;

	b.f = kt_load(name);
	cr_assert_eq(krx_kafka_req_hdr_parse(b.f.data, b.f.len, &h), KRX_OK);
	b.p = b.f.data + h.len;
	b.len = b.f.len - h.len;
	return b;
}

static struct tb_body
tb_resp_body(const char *name, int16_t v)
{
	struct tb_body	 b;
	size_t		 h;

	b.f = kt_load(name);
	h = kt_resp_body(&b.f, KRX_API_PRODUCE, v);
	b.p = b.f.data + h;
	b.len = b.f.len - h;
	return b;
}

/*
 * Captured requests (Java producer): all partitions with their records
 * give the captured body back, new records parse back.
 */
static void
tb_captured(const char *file, int16_t v)
{
	struct krx_produce_piece	 pc;
	struct krx_produce_req		 req, again;
	struct krx_buf			 out;
	struct tb_body			 b = tb_req_body(file);

	tb_fill();
	cr_assert_eq(krx_kafka_produce_parse(b.p, b.len, v, &req), KRX_OK);
	cr_assert_eq(req.nparts, 1);
	krx_buf_init(&out, 0);
	pc = (struct krx_produce_piece){ 0, req.parts[0].records,
	    (size_t)req.parts[0].records_len };
	cr_assert_eq(krx_kafka_produce_build(&req, &pc, 1, &out), KRX_OK);
	cr_assert_eq(out.len, b.len, "%s", file);
	cr_assert_eq(memcmp(out.data, b.p, b.len), 0, "%s", file);
	krx_buf_reset(&out);
	pc = (struct krx_produce_piece){ 0, new_rec, 20000 };
	cr_assert_eq(krx_kafka_produce_build(&req, &pc, 1, &out), KRX_OK);
	cr_assert_eq(krx_kafka_produce_parse(out.data, out.len, v, &again),
	    KRX_OK);
	cr_assert_eq(again.ntopics, 1);
	cr_assert_eq(again.nparts, 1);
	cr_assert_eq(again.acks, req.acks);
	cr_assert_eq(again.timeout_ms, req.timeout_ms);
	cr_assert_eq(again.transactional_id_len, req.transactional_id_len);
	cr_assert_eq(again.parts[0].index, req.parts[0].index);
	cr_assert_eq(again.parts[0].records_len, 20000);
	cr_assert_eq(memcmp(again.parts[0].records, new_rec, 20000), 0);
	if (v >= 13)
		cr_assert_eq(memcmp(again.topics[0].topic_id,
		    req.topics[0].topic_id, KRX_KAFKA_UUID_LEN), 0);
	else
		cr_assert(again.topics[0].name_len == 8 &&
		    memcmp(again.topics[0].name, "krx-test", 8) == 0);
	krx_produce_req_free(&again);
	krx_produce_req_free(&req);
	krx_buf_free(&out);
	free(b.f.data);
}

Test(kafka_produce_build, captured)
{
	tb_captured("produce_v3_req.bin", 3);
	tb_captured("produce_v9_req.bin", 9);
	tb_captured("produce_v11_req.bin", 11);
	tb_captured("produce_err_v12_req.bin", 12);
	tb_captured("produce_v13_req.bin", 13);
}

Test(kafka_produce_build, no_pieces)
{
	struct krx_produce_req	 req, again;
	struct krx_buf		 b, out;
	int16_t			 v;

	tb_fill();
	for (v = 3; v <= 13; v++) {
		krx_buf_init(&b, 0);
		krx_buf_init(&out, 0);
		tb_request(&b, v, tb_client(), 3);
		cr_assert_eq(krx_kafka_produce_parse(b.data, b.len, v, &req),
		    KRX_OK);
		cr_assert_eq(krx_kafka_produce_build(&req, NULL, 0, &out),
		    KRX_OK);
		/* txn-7, acks, timeout, topics length, tags */
		cr_assert_eq(out.len, v >= 9 ? 1 + 5 + 6 + 1 + 1 :
		    2 + 5 + 6 + 4);
		cr_assert_eq(krx_kafka_produce_parse(out.data, out.len, v,
		    &again), KRX_OK);
		cr_assert_eq(again.ntopics, 0);
		cr_assert_eq(again.nparts, 0);
		krx_produce_req_free(&again);
		krx_produce_req_free(&req);
		krx_buf_free(&b);
		krx_buf_free(&out);
	}
}

/* A null transactional id stays null. */
Test(kafka_produce_build, null_transactional_id)
{
	struct krx_produce_piece	 pc = { 0, NULL, 0 };
	struct krx_produce_req		 req, again;
	struct tb_body			 b = tb_req_body("produce_v9_req.bin");
	struct krx_buf			 out;

	cr_assert_eq(krx_kafka_produce_parse(b.p, b.len, 9, &req), KRX_OK);
	cr_assert_eq(req.transactional_id_len, -1);
	krx_buf_init(&out, 0);
	cr_assert_eq(krx_kafka_produce_build(&req, &pc, 1, &out), KRX_OK);
	cr_assert_eq(krx_kafka_produce_parse(out.data, out.len, 9, &again),
	    KRX_OK);
	cr_assert_eq(again.transactional_id_len, -1);
	cr_assert_null(again.transactional_id);
	cr_assert_eq(again.parts[0].records_len, 0);
	krx_produce_req_free(&again);
	krx_produce_req_free(&req);
	krx_buf_free(&out);
	free(b.f.data);
}

static void
tb_refused(const struct krx_produce_req *req,
    const struct krx_produce_piece *pc, size_t n, int want)
{
	struct krx_buf	 out;

	krx_buf_init(&out, 0);
	krx_buf_put(&out, "ab", 2);
	cr_assert_eq(krx_kafka_produce_build(req, pc, n, &out), want);
	cr_assert_eq(out.len, 2);
	cr_assert_eq(out.err, KRX_OK);
	krx_buf_free(&out);
}

Test(kafka_produce_build, refused)
{
	struct krx_produce_piece	 pc[3];
	struct krx_produce_req		 req;
	struct krx_buf			 b, out;
	const uint8_t			*name;
	size_t				 topic;

	tb_fill();
	krx_buf_init(&b, 0);
	tb_request(&b, 11, tb_client(), 3);
	cr_assert_eq(krx_kafka_produce_parse(b.data, b.len, 11, &req),
	    KRX_OK);
	/* Not strictly ascending: equal, descending. */
	pc[0] = (struct krx_produce_piece){ 1, new_rec, 3 };
	pc[1] = (struct krx_produce_piece){ 1, new_rec, 3 };
	tb_refused(&req, pc, 2, KRX_E_RANGE);
	pc[1].part = 0;
	tb_refused(&req, pc, 2, KRX_E_RANGE);
	pc[0].part = 4;
	pc[1].part = 3;
	tb_refused(&req, pc, 2, KRX_E_RANGE);
	/* Outside req, first and later. */
	pc[0].part = TB_NPARTS;
	tb_refused(&req, pc, 1, KRX_E_RANGE);
	pc[0].part = 2;
	pc[1].part = TB_NPARTS;
	tb_refused(&req, pc, 2, KRX_E_RANGE);
	pc[1].part = 5;
	tb_refused(&req, NULL, 2, KRX_E_RANGE);
	/* Records missing, records too big. */
	pc[1].records = NULL;
	tb_refused(&req, pc, 2, KRX_E_RANGE);
	pc[1].records = new_rec;
	pc[1].records_len = (size_t)INT32_MAX;
	tb_refused(&req, pc, 2, KRX_E_TOO_BIG);
	pc[1].records_len = 3;
	krx_buf_init(&out, 0);
	cr_assert_eq(krx_kafka_produce_build(&req, pc, 2, &out), KRX_OK);
	/* A part whose topic goes back: a topic would be written twice. */
	topic = req.parts[4].topic;
	req.parts[4].topic = 0;
	pc[0].part = 1;
	pc[1].part = 3;
	pc[2] = (struct krx_produce_piece){ 4, new_rec, 5 };
	tb_refused(&req, pc, 3, KRX_E_RANGE);
	/* A part outside its topic's range, a topic outside req. */
	tb_refused(&req, &pc[2], 1, KRX_E_RANGE);
	req.parts[4].topic = 7;
	tb_refused(&req, &pc[2], 1, KRX_E_RANGE);
	req.parts[4].topic = topic;
	krx_buf_reset(&out);
	cr_assert_eq(krx_kafka_produce_build(&req, pc, 3, &out), KRX_OK);
	krx_buf_free(&out);
	/* Strings that do not fit, versions outside 3-13. */
	name = req.topics[0].name;
	req.topics[0].name = NULL;
	tb_refused(&req, pc, 1, KRX_E_RANGE);
	req.topics[0].name = name;
	req.topics[0].name_len = 40000;
	tb_refused(&req, pc, 1, KRX_E_RANGE);
	req.topics[0].name_len = 5;
	req.transactional_id_len = -2;
	tb_refused(&req, pc, 1, KRX_E_RANGE);
	req.transactional_id_len = 5;
	req.version = 2;
	tb_refused(&req, pc, 1, KRX_E_UNSUPPORTED);
	req.version = 14;
	tb_refused(&req, pc, 1, KRX_E_UNSUPPORTED);
	krx_produce_req_free(&req);
	krx_buf_free(&b);
}

/* Produce responses. */

static int64_t
tr_be64(const uint8_t *p)
{
	uint64_t	 v = 0;
	int		 i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return (int64_t)v;
}

static int16_t
tr_be16(const uint8_t *p)
{
	return (int16_t)(p[0] << 8 | p[1]);
}

/* The partitions of tr_response, in response order. */
struct tr_part {
	const char	*topic;
	uint8_t		 id;
	int32_t		 index;
	int16_t		 err;
	int64_t		 base;
};

static const struct tr_part	 tr_parts[] = {
	{ "alpha", 0x11, 0, 0, 42 },
	{ "alpha", 0x11, 5, 87, -1 },
	{ "beta-topic", 0x22, 2, KB_NOT_LEADER, -1 },
};
#define TR_NPARTS	(sizeof(tr_parts) / sizeof(tr_parts[0]))

/*
 * A partition's tags: tag 0 CurrentLeader (v10+; at v9 the same bytes
 * as an unknown tag 1: Kafka refuses tag 0 there) and an unknown tag 3
 * of one byte.
 */
static void
tr_part_tags(struct krx_buf *b, int16_t v)
{
	krx_buf_put_uvarint(b, 2);
	krx_buf_put_uvarint(b, v >= 10 ? 0 : 1);
	krx_buf_put_uvarint(b, 9);
	kb_leader(b);
	krx_buf_put_uvarint(b, 3);
	krx_buf_put_uvarint(b, 1);
	krx_buf_put_u8(b, 0x5a);
}

/* An empty tag section, or (tags) one unknown tag 4 of two bytes. */
static void
tr_tags(struct krx_buf *b, bool tags)
{
	if (!tags) {
		krx_buf_put_u8(b, 0);
		return;
	}
	krx_buf_put_uvarint(b, 1);
	krx_buf_put_uvarint(b, 4);
	krx_buf_put_uvarint(b, 2);
	kb_i16(b, 0x1234);
}

/*
 * One partition response; the second of alpha carries two record
 * errors (one with a null message) and an error message (v8+).
 */
static void
tr_partition(struct krx_buf *b, int16_t v, const struct tr_part *p,
    bool tags)
{
	bool	 flex = v >= 9, bad = p->err == 87;

	kb_i32(b, p->index);
	kb_i16(b, p->err);
	kb_i64(b, p->base);
	kb_i64(b, -1);			/* log_append_time_ms */
	if (v >= 5)
		kb_i64(b, 0);		/* log_start_offset */
	if (v >= 8) {
		krx_kp_put_array_len(b, flex, bad ? 2 : 0);
		if (bad) {
			kb_i32(b, 0);
			krx_kp_put_str(b, flex, "bad record", 10);
			if (flex)
				tr_tags(b, tags);
			kb_i32(b, 3);
			krx_kp_put_str(b, flex, NULL, -1);
			if (flex)
				tr_tags(b, false);
		}
		krx_kp_put_str(b, flex, bad ? "records were refused" : NULL,
		    bad ? 20 : -1);
	}
	if (flex && tags && p->err == KB_NOT_LEADER)
		tr_part_tags(b, v);
	else if (flex)
		tr_tags(b, tags);
}

static void
tr_topic(struct krx_buf *b, int16_t v, const char *name, uint8_t id)
{
	if (v >= 13)
		kb_uuid(b, id);
	else
		krx_kp_put_str(b, v >= 9, name, (int32_t)strlen(name));
}

/*
 * A Produce response: tr_parts under alpha and beta-topic, then gamma
 * (0x33) without partitions; throttle 12; with tags, unknown tags
 * everywhere, CurrentLeader for beta-topic's partition and (v10+)
 * NodeEndpoints at the top.
 */
static void
tr_response(struct krx_buf *b, int16_t v, bool tags)
{
	bool	 flex = v >= 9;
	size_t	 i;

	krx_kp_put_array_len(b, flex, 3);
	tr_topic(b, v, "alpha", 0x11);
	krx_kp_put_array_len(b, flex, 2);
	for (i = 0; i < 2; i++)
		tr_partition(b, v, &tr_parts[i], tags);
	if (flex)
		tr_tags(b, tags);
	tr_topic(b, v, "beta-topic", 0x22);
	krx_kp_put_array_len(b, flex, 1);
	tr_partition(b, v, &tr_parts[2], tags);
	if (flex)
		tr_tags(b, false);
	tr_topic(b, v, "gamma", 0x33);
	krx_kp_put_array_len(b, flex, 0);
	if (flex)
		tr_tags(b, tags);
	kb_i32(b, 12);
	if (flex && tags && v >= 10)
		kb_top_tags(b);
	else if (flex)
		tr_tags(b, tags);
	cr_assert_eq(b->err, KRX_OK);
}

/* A part's topic, index, error and base offset, and their offsets. */
static void
tr_check_part(const uint8_t *body, size_t len, int16_t v,
    const struct krx_produce_resp_part *p, const char *topic, uint8_t id,
    int32_t index, int16_t err, int64_t base)
{
	uint8_t	 want[KRX_KAFKA_UUID_LEN];

	if (v >= 13) {
		memset(want, id, sizeof(want));
		cr_assert_null(p->name);
		cr_assert_eq(memcmp(p->topic_id, want, sizeof(want)), 0);
	} else {
		cr_assert_eq(p->name_len, (int32_t)strlen(topic));
		cr_assert_eq(memcmp(p->name, topic, strlen(topic)), 0);
		cr_assert(p->name >= body && p->name + p->name_len <=
		    body + len);
	}
	cr_assert_eq(p->index, index, "v%d", v);
	cr_assert_eq(p->error_code, err);
	cr_assert_eq(p->base_offset, base);
	cr_assert_leq(p->error_off + 2, len);
	cr_assert_eq(p->base_offset_off, p->error_off + 2);
	cr_assert_leq(p->base_offset_off + 8, len);
	cr_assert_eq(tr_be16(body + p->error_off), err);
	cr_assert_eq(tr_be64(body + p->base_offset_off), base);
}

/* Every strict prefix is truncated, one more byte is trailing. */
static void
tr_prefixes(const uint8_t *body, size_t len, int16_t v)
{
	struct krx_produce_resp	 resp;
	uint8_t			*p;
	size_t			 n;

	for (n = 0; n < len; n++) {
		/* Each prefix in a buffer of its own size, for ASan. */
		p = malloc(n + 1);
		memcpy(p, body, n);
		cr_assert_eq(krx_kafka_produce_resp_parse(n == 0 ? NULL : p,
		    n, v, &resp), KRX_E_TRUNCATED, "v%d prefix %zu of %zu", v,
		    n, len);
		cr_assert_null(resp.parts);
		cr_assert_eq(resp.nparts, 0);
		free(p);
	}
	p = malloc(len + 1);
	memcpy(p, body, len);
	p[len] = 0;
	cr_assert_eq(krx_kafka_produce_resp_parse(p, len + 1, v, &resp),
	    KRX_E_TRAILING);
	cr_assert_null(resp.parts);
	free(p);
}

Test(kafka_produce_resp, built_all_versions)
{
	struct krx_produce_resp	 resp;
	struct krx_buf		 b;
	const struct tr_part	*t;
	int16_t			 v;
	size_t			 i;
	int			 tags;

	for (v = 3; v <= 13; v++) {
		for (tags = 0; tags < (v >= 9 ? 2 : 1); tags++) {
			krx_buf_init(&b, 0);
			tr_response(&b, v, tags);
			cr_assert_eq(krx_kafka_produce_resp_parse(b.data, b.len,
			    v, &resp), KRX_OK, "v%d tags %d", v, tags);
			cr_assert_eq(resp.nparts, TR_NPARTS);
			cr_assert_eq(resp.throttle_time_ms, 12);
			for (i = 0; i < TR_NPARTS; i++) {
				t = &tr_parts[i];
				tr_check_part(b.data, b.len, v, &resp.parts[i],
				    t->topic, t->id, t->index, t->err,
				    t->base);
			}
			krx_produce_resp_free(&resp);
			cr_assert_null(resp.parts);
			tr_prefixes(b.data, b.len, v);
			krx_buf_free(&b);
		}
	}
	krx_produce_resp_free(NULL);
}

/* What krx_kafka_produce_error_response writes, every version. */
Test(kafka_produce_resp, error_responses)
{
	static const int16_t	 errs[TB_NPARTS] = { 100, 87, 7, 3, 0, 6 };
	static const char	*names[] = { "alpha", "beta-topic", "gamma" };
	static const uint8_t	 ids[] = { 0x11, 0x22, 0x33 };
	struct krx_produce_resp	 resp;
	struct krx_produce_req	 req;
	struct krx_buf		 b, out;
	size_t			 i, t;
	int16_t			 v;

	tb_fill();
	for (v = 3; v <= 13; v++) {
		krx_buf_init(&b, 0);
		krx_buf_init(&out, 0);
		tb_request(&b, v, tb_client(), 3);
		cr_assert_eq(krx_kafka_produce_parse(b.data, b.len, v, &req),
		    KRX_OK);
		cr_assert_eq(krx_kafka_produce_error_response(&req, v, errs,
		    v % 2 ? "krx: refused" : NULL, &out), KRX_OK);
		cr_assert_eq(krx_kafka_produce_resp_parse(out.data, out.len, v,
		    &resp), KRX_OK, "v%d", v);
		cr_assert_eq(resp.nparts, TB_NPARTS);
		cr_assert_eq(resp.throttle_time_ms, 0);
		for (i = 0; i < TB_NPARTS; i++) {
			t = req.parts[i].topic;
			tr_check_part(out.data, out.len, v, &resp.parts[i],
			    names[t], ids[t], req.parts[i].index, errs[i], -1);
		}
		krx_produce_resp_free(&resp);
		if (v == 3 || v == 8 || v == 9 || v == 13)
			tr_prefixes(out.data, out.len, v);
		krx_produce_req_free(&req);
		krx_buf_free(&b);
		krx_buf_free(&out);
	}
}

/* Responses of a Kafka 4.1.1 broker: two records each time. */
Test(kafka_produce_resp, captured)
{
	static const int16_t	 vers[] = { 3, 9, 11, 13 };
	struct krx_produce_resp	 resp;
	struct tb_body		 b, q;
	struct krx_produce_req	 req;
	char			 name[64];
	size_t			 i;

	for (i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "produce_v%d_resp.bin", vers[i]);
		b = tb_resp_body(name, vers[i]);
		snprintf(name, sizeof(name), "produce_v%d_req.bin", vers[i]);
		q = tb_req_body(name);
		cr_assert_eq(krx_kafka_produce_parse(q.p, q.len, vers[i],
		    &req), KRX_OK);
		cr_assert_eq(krx_kafka_produce_resp_parse(b.p, b.len, vers[i],
		    &resp), KRX_OK, "v%d", vers[i]);
		cr_assert_eq(resp.nparts, 1);
		cr_assert_eq(resp.throttle_time_ms, 0);
		if (vers[i] >= 13)
			cr_assert_eq(memcmp(resp.parts[0].topic_id,
			    req.topics[0].topic_id, KRX_KAFKA_UUID_LEN), 0);
		else
			tr_check_part(b.p, b.len, vers[i], &resp.parts[0],
			    "krx-test", 0, 0, 0, (int64_t)(2 * i));
		cr_assert_eq(resp.parts[0].index, 0);
		cr_assert_eq(resp.parts[0].error_code, 0);
		cr_assert_eq(resp.parts[0].base_offset, (int64_t)(2 * i));
		krx_produce_resp_free(&resp);
		tr_prefixes(b.p, b.len, vers[i]);
		krx_produce_req_free(&req);
		free(b.f.data);
		free(q.f.data);
	}
	/* Partition 99: UNKNOWN_TOPIC_OR_PARTITION. */
	b = tb_resp_body("produce_err_v12_resp.bin", 12);
	cr_assert_eq(krx_kafka_produce_resp_parse(b.p, b.len, 12, &resp),
	    KRX_OK);
	cr_assert_eq(resp.nparts, 1);
	tr_check_part(b.p, b.len, 12, &resp.parts[0], "krx-test", 0, 99, 3,
	    -1);
	krx_produce_resp_free(&resp);
	free(b.f.data);
}

/* The NOT_LEADER body of the endpoint tests, at v10 to v12. */
Test(kafka_produce_resp, leader_and_endpoints)
{
	struct krx_produce_resp	 resp;
	struct krx_buf		 b;
	int16_t			 v;

	krx_buf_init(&b, 0);
	kb_produce_v11(&b);
	for (v = 10; v <= 12; v++) {
		cr_assert_eq(krx_kafka_produce_resp_parse(b.data, b.len, v,
		    &resp), KRX_OK);
		cr_assert_eq(resp.nparts, 1);
		tr_check_part(b.data, b.len, v, &resp.parts[0], "krx-test", 0,
		    0, KB_NOT_LEADER, -1);
		krx_produce_resp_free(&resp);
	}
	tr_prefixes(b.data, b.len, 11);
	krx_buf_free(&b);
}

static int
tr_parse(const struct krx_buf *b, int16_t v)
{
	struct krx_produce_resp	 resp;
	int			 r;

	r = krx_kafka_produce_resp_parse(b->data, b->len, v, &resp);
	if (r != KRX_OK)
		cr_assert(resp.parts == NULL && resp.nparts == 0);
	krx_produce_resp_free(&resp);
	return r;
}

/* v10: one topic, one partition with tags tag[0..tlen), top tags. */
static void
tr_v10(struct krx_buf *b, const uint8_t *tag, size_t tlen,
    const uint8_t *top, size_t top_len)
{
	krx_buf_reset(b);
	krx_buf_put_uvarint(b, 2);
	kb_cstr(b, "t");
	krx_buf_put_uvarint(b, 2);
	kb_i32(b, 0);
	kb_i16(b, 0);
	kb_i64(b, 1);
	kb_i64(b, -1);
	kb_i64(b, 0);
	krx_buf_put_uvarint(b, 1);
	kb_cstr(b, NULL);
	krx_buf_put(b, tag, tlen);
	krx_buf_put_u8(b, 0);
	kb_i32(b, 0);
	krx_buf_put(b, top, top_len);
}

Test(kafka_produce_resp, malformed)
{
	static const uint8_t	 none[] = { 0 };
	/* CurrentLeader one byte short, one byte long, tags bad. */
	static const uint8_t	 short_leader[] = { 1, 0, 8, 0, 0, 0, 2, 0,
	    0, 0, 5 };
	static const uint8_t	 long_leader[] = { 1, 0, 10, 0, 0, 0, 2, 0,
	    0, 0, 5, 0, 0 };
	static const uint8_t	 leader[] = { 1, 0, 9, 0, 0, 0, 2, 0, 0, 0,
	    5, 0 };
	static const uint8_t	 unordered[] = { 2, 3, 0, 1, 0 };
	/* NodeEndpoints: one node with a null host; an empty array. */
	static const uint8_t	 null_host[] = { 1, 0, 12, 2, 0, 0, 0, 1, 0,
	    0, 0, 35, 0x84, 0, 0 };
	static const uint8_t	 no_nodes[] = { 1, 0, 1, 1 };
	struct krx_buf		 b;

	krx_buf_init(&b, 0);
	tr_v10(&b, none, 1, none, 1);
	cr_assert_eq(tr_parse(&b, 10), KRX_OK);
	cr_assert_eq(tr_parse(&b, 2), KRX_E_UNSUPPORTED);
	cr_assert_eq(tr_parse(&b, 14), KRX_E_UNSUPPORTED);
	tr_v10(&b, leader, sizeof(leader), no_nodes, sizeof(no_nodes));
	cr_assert_eq(tr_parse(&b, 10), KRX_OK);
	tr_v10(&b, short_leader, sizeof(short_leader), none, 1);
	cr_assert_eq(tr_parse(&b, 10), KRX_E_MALFORMED);
	/* Tag 0 is not read before v10 (Kafka's classes refuse it). */
	cr_assert_eq(tr_parse(&b, 9), KRX_OK);
	tr_v10(&b, long_leader, sizeof(long_leader), none, 1);
	cr_assert_eq(tr_parse(&b, 10), KRX_E_MALFORMED);
	tr_v10(&b, unordered, sizeof(unordered), none, 1);
	cr_assert_eq(tr_parse(&b, 10), KRX_E_MALFORMED);
	tr_v10(&b, none, 1, null_host, sizeof(null_host));
	cr_assert_eq(tr_parse(&b, 10), KRX_E_MALFORMED);
	cr_assert_eq(tr_parse(&b, 9), KRX_OK);
	/* A null topic name; a null record_errors array. */
	tr_v10(&b, none, 1, none, 1);
	b.data[1] = 0;
	cr_assert_eq(tr_parse(&b, 10), KRX_E_MALFORMED);
	tr_v10(&b, none, 1, none, 1);
	b.data[1 + 2 + 1 + 4 + 2 + 24] = 0;
	cr_assert_eq(tr_parse(&b, 10), KRX_E_MALFORMED);
	/* Counts the bytes cannot hold: nothing allocated. */
	krx_buf_reset(&b);
	kb_i32(&b, 0x7fffffff);
	kb_i32(&b, 0);
	cr_assert_eq(tr_parse(&b, 3), KRX_E_TRUNCATED);
	krx_buf_reset(&b);
	kb_i32(&b, 1);
	kb_i16(&b, 1);
	krx_buf_put_u8(&b, 't');
	kb_i32(&b, 1000);
	krx_buf_put(&b, new_rec, 29 * 1000);
	cr_assert_eq(tr_parse(&b, 5), KRX_E_TRUNCATED);
	krx_buf_free(&b);
}
