/*
 * kafka_scan_test.c: the requests krx-ctl scan sends on its own and the
 * responses it reads (proto/kafka_scan.c): Metadata v4, ListOffsets v2
 * and Fetch v11 requests byte by byte against the schema, the Fetch
 * body also through krx's own Fetch request walker; Metadata and
 * ListOffsets responses built here field by field, with the errors a
 * broker's bytes can cause.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "common/err.h"
#include "proto/kafka.h"
#include "proto/kafka_msg.h"
#include "proto/kafka_scan.h"

/* Header v1 of api/version, correlation id, client id "krx-scan". */
static void
st_head(struct krx_buf *b, int16_t api, int16_t version, int32_t corr)
{
	krx_buf_put_be16(b, (uint16_t)api);
	krx_buf_put_be16(b, (uint16_t)version);
	krx_buf_put_be32(b, (uint32_t)corr);
	krx_buf_put_be16(b, 8);
	krx_buf_put(b, "krx-scan", 8);
}

static void
st_str(struct krx_buf *b, const char *s)
{
	krx_buf_put_be16(b, (uint16_t)strlen(s));
	krx_buf_put(b, s, strlen(s));
}

/* out holds size prefix + want. */
static void
st_frame_eq(const struct krx_buf *out, const struct krx_buf *want)
{
	cr_assert_eq(out->len, 4 + want->len);
	cr_assert_eq(((uint32_t)out->data[0] << 24 | out->data[1] << 16 |
	    out->data[2] << 8 | out->data[3]), want->len);
	cr_assert_eq(memcmp(out->data + 4, want->data, want->len), 0);
}

Test(kafka_scan, metadata_request)
{
	struct krx_buf	 out, want;

	krx_buf_init(&out, 0);
	krx_buf_init(&want, 0);
	cr_assert_eq(krx_scan_metadata_req(&out, 7, "orders"), KRX_OK);
	st_head(&want, KRX_API_METADATA, 4, 7);
	krx_buf_put_be32(&want, 1);
	st_str(&want, "orders");
	krx_buf_put_u8(&want, 0);
	st_frame_eq(&out, &want);
	cr_assert_eq(krx_scan_metadata_req(&out, 7, ""), KRX_E_RANGE);
	cr_assert_eq(out.len, 4 + want.len, "a refused request adds nothing");
	krx_buf_free(&out);
	krx_buf_free(&want);
}

static void
st_broker(struct krx_buf *b, int32_t node, const char *host, int32_t port)
{
	krx_buf_put_be32(b, (uint32_t)node);
	st_str(b, host);
	krx_buf_put_be32(b, (uint32_t)port);
	krx_buf_put_be16(b, 0xffff);		/* rack null */
}

static void
st_part(struct krx_buf *b, int16_t err, int32_t idx, int32_t leader)
{
	krx_buf_put_be16(b, (uint16_t)err);
	krx_buf_put_be32(b, (uint32_t)idx);
	krx_buf_put_be32(b, (uint32_t)leader);
	krx_buf_put_be32(b, 1);			/* replicas */
	krx_buf_put_be32(b, (uint32_t)leader);
	krx_buf_put_be32(b, 0);			/* isr: empty */
}

/* A Metadata v4 body: two brokers, topics "other" (1) and "orders" (2). */
static void
st_metadata(struct krx_buf *b, const char *host2)
{
	krx_buf_put_be32(b, 0);			/* throttle */
	krx_buf_put_be32(b, 2);
	st_broker(b, 1, "b1.example", 9092);
	st_broker(b, 2, host2, 9093);
	krx_buf_put_be16(b, 0xffff);		/* cluster id null */
	krx_buf_put_be32(b, 1);			/* controller */
	krx_buf_put_be32(b, 2);
	krx_buf_put_be16(b, 0);
	st_str(b, "other");
	krx_buf_put_u8(b, 0);
	krx_buf_put_be32(b, 1);
	st_part(b, 0, 0, 1);
	krx_buf_put_be16(b, 0);
	st_str(b, "orders");
	krx_buf_put_u8(b, 0);
	krx_buf_put_be32(b, 2);
	st_part(b, 0, 1, 2);
	st_part(b, 5, 0, -1);			/* LEADER_NOT_AVAILABLE */
}

Test(kafka_scan, metadata_parse)
{
	struct krx_scan_md	 md;
	struct krx_buf		 b;

	krx_buf_init(&b, 0);
	st_metadata(&b, "b2.example");
	cr_assert_eq(krx_scan_metadata_parse(b.data, b.len, "orders", &md),
	    KRX_OK);
	cr_assert_eq(md.nbrokers, 2);
	cr_assert_str_eq(md.brokers[1].host, "b2.example");
	cr_assert_eq(md.brokers[1].node, 2);
	cr_assert_eq(md.brokers[1].port, 9093);
	cr_assert_eq(md.topic_error, 0);
	cr_assert_eq(md.nparts, 2);
	cr_assert_eq(md.parts[0].index, 1);
	cr_assert_eq(md.parts[0].leader, 2);
	cr_assert_eq(md.parts[1].error, 5);
	krx_scan_md_free(&md);
	cr_assert_eq(krx_scan_metadata_parse(b.data, b.len, "other", &md),
	    KRX_OK);
	cr_assert_eq(md.nparts, 1);
	krx_scan_md_free(&md);
	cr_assert_eq(krx_scan_metadata_parse(b.data, b.len, "nope", &md),
	    KRX_OK);
	cr_assert_eq(md.topic_error, 3);
	cr_assert_eq(md.nparts, 0);
	krx_scan_md_free(&md);
	cr_assert_eq(krx_scan_metadata_parse(b.data, b.len - 1, "orders",
	    &md), KRX_E_TRUNCATED);
	cr_assert_null(md.brokers, "nothing kept on error");
	krx_buf_put_u8(&b, 0);
	cr_assert_eq(krx_scan_metadata_parse(b.data, b.len, "orders", &md),
	    KRX_E_TRAILING);
	krx_buf_free(&b);
}

Test(kafka_scan, metadata_bad_host)
{
	struct krx_scan_md	 md;
	struct krx_buf		 b;

	krx_buf_init(&b, 0);
	st_metadata(&b, "-evil host");
	cr_assert_eq(krx_scan_metadata_parse(b.data, b.len, "orders", &md),
	    KRX_E_MALFORMED);
	krx_buf_free(&b);
}

Test(kafka_scan, metadata_too_many_brokers)
{
	struct krx_scan_md	 md;
	struct krx_buf		 b;
	int			 i;

	krx_buf_init(&b, 0);
	krx_buf_put_be32(&b, 0);
	krx_buf_put_be32(&b, KRX_SCAN_MAX_BROKERS + 1);
	for (i = 0; i <= KRX_SCAN_MAX_BROKERS; i++)
		st_broker(&b, i, "h", 1);
	krx_buf_put_be16(&b, 0xffff);
	krx_buf_put_be32(&b, 1);
	krx_buf_put_be32(&b, 0);
	cr_assert_eq(krx_scan_metadata_parse(b.data, b.len, "t", &md),
	    KRX_E_TOO_BIG);
	krx_buf_free(&b);
}

Test(kafka_scan, listoffsets)
{
	struct krx_buf	 out, want, r;
	int64_t		 off = 0;
	int16_t		 err = -1;

	krx_buf_init(&out, 0);
	krx_buf_init(&want, 0);
	cr_assert_eq(krx_scan_listoffsets_req(&out, 9, "orders", 3,
	    KRX_SCAN_TS_EARLIEST), KRX_OK);
	st_head(&want, KRX_API_LIST_OFFSETS, 2, 9);
	krx_buf_put_be32(&want, 0xffffffff);	/* replica */
	krx_buf_put_u8(&want, 0);		/* isolation */
	krx_buf_put_be32(&want, 1);
	st_str(&want, "orders");
	krx_buf_put_be32(&want, 1);
	krx_buf_put_be32(&want, 3);
	krx_buf_put_be64(&want, (uint64_t)-2);
	st_frame_eq(&out, &want);

	krx_buf_init(&r, 0);
	krx_buf_put_be32(&r, 0);		/* throttle */
	krx_buf_put_be32(&r, 1);
	st_str(&r, "orders");
	krx_buf_put_be32(&r, 2);
	krx_buf_put_be32(&r, 2);		/* partition 2 */
	krx_buf_put_be16(&r, 0);
	krx_buf_put_be64(&r, (uint64_t)-1);
	krx_buf_put_be64(&r, 11);
	krx_buf_put_be32(&r, 3);		/* partition 3 */
	krx_buf_put_be16(&r, 6);
	krx_buf_put_be64(&r, (uint64_t)-1);
	krx_buf_put_be64(&r, 42);
	cr_assert_eq(krx_scan_listoffsets_parse(r.data, r.len, 3, &err, &off),
	    KRX_OK);
	cr_assert_eq(err, 6);
	cr_assert_eq(off, 42);
	cr_assert_eq(krx_scan_listoffsets_parse(r.data, r.len, 2, &err, &off),
	    KRX_OK);
	cr_assert_eq(off, 11);
	cr_assert_eq(krx_scan_listoffsets_parse(r.data, r.len, 4, &err, &off),
	    KRX_E_NOTFOUND);
	cr_assert_eq(krx_scan_listoffsets_parse(r.data, r.len - 2, 3, &err,
	    &off), KRX_E_TRUNCATED);
	krx_buf_free(&r);
	krx_buf_free(&out);
	krx_buf_free(&want);
}

struct st_limits {
	size_t	 offs[4];
	int	 n;
};

static int
st_limit(void *arg, size_t off, bool whole)
{
	struct st_limits	*l = arg;

	if (l->n < 4)
		l->offs[l->n] = off;
	l->n++;
	return KRX_OK;
}

Test(kafka_scan, fetch_request)
{
	struct krx_buf		 out, want;
	struct st_limits	 l = { { 0 }, 0 };
	size_t			 hlen = 2 + 2 + 4 + 2 + 8;

	krx_buf_init(&out, 0);
	krx_buf_init(&want, 0);
	cr_assert_eq(krx_scan_fetch_req(&out, 5, "orders", 1, 1234,
	    1048576), KRX_OK);
	st_head(&want, KRX_API_FETCH, 11, 5);
	krx_buf_put_be32(&want, 0xffffffff);	/* replica */
	krx_buf_put_be32(&want, 0);		/* max wait */
	krx_buf_put_be32(&want, 0);		/* min bytes */
	krx_buf_put_be32(&want, 1048576);
	krx_buf_put_u8(&want, 0);
	krx_buf_put_be32(&want, 0);		/* session */
	krx_buf_put_be32(&want, 0xffffffff);	/* epoch */
	krx_buf_put_be32(&want, 1);
	st_str(&want, "orders");
	krx_buf_put_be32(&want, 1);
	krx_buf_put_be32(&want, 1);
	krx_buf_put_be32(&want, 0xffffffff);	/* leader epoch */
	krx_buf_put_be64(&want, 1234);
	krx_buf_put_be64(&want, (uint64_t)-1);
	krx_buf_put_be32(&want, 1048576);
	krx_buf_put_be32(&want, 0);		/* forgotten */
	krx_buf_put_be16(&want, 0);		/* rack "" */
	st_frame_eq(&out, &want);
	/* krx's own Fetch request walker reads it whole, both limits. */
	cr_assert_eq(krx_kafka_fetch_req_limits(out.data + 4 + hlen,
	    out.len - 4 - hlen, 11, st_limit, &l), KRX_OK);
	cr_assert_eq(l.n, 2);
	cr_assert_eq(l.offs[0], 12);
	cr_assert_eq(krx_scan_fetch_req(&out, 5, "orders", 1, -1, 1),
	    KRX_E_RANGE);
	cr_assert_eq(krx_scan_fetch_req(&out, 5, "orders", 1, 0, 0),
	    KRX_E_RANGE);
	krx_buf_free(&out);
	krx_buf_free(&want);
}
