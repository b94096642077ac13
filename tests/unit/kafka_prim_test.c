/*
 * kafka_prim_test.c: the Kafka wire primitives of proto/kafka_prim.c:
 * varints, classic and compact strings, bytes and arrays, nullability,
 * tag sections, and the writers.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "common/err.h"
#include "proto/kafka_prim.h"

#define CUR(c, ...) \
	static const uint8_t c##_bytes[] = { __VA_ARGS__ }; \
	struct krx_cur c; \
	krx_cur_init(&c, c##_bytes, sizeof(c##_bytes))

Test(kafka_prim, uvarint_one_and_two_bytes)
{
	uint32_t	 v;
	CUR(c, 0x7f, 0xac, 0x02);

	cr_assert_eq(krx_kp_get_uvarint32(&c, &v), KRX_OK);
	cr_assert_eq(v, 127);
	cr_assert_eq(krx_kp_get_uvarint32(&c, &v), KRX_OK);
	cr_assert_eq(v, 300);
	cr_assert_eq(krx_cur_end(&c), KRX_OK);
}

Test(kafka_prim, uvarint_five_bytes_max)
{
	uint32_t	 v;
	CUR(c, 0xff, 0xff, 0xff, 0xff, 0x0f);

	cr_assert_eq(krx_kp_get_uvarint32(&c, &v), KRX_OK);
	cr_assert_eq(v, UINT32_MAX);
	cr_assert_eq(c.off, 5);
}

Test(kafka_prim, uvarint_five_bytes_over_32_bits)
{
	uint32_t	 v = 7;
	CUR(c, 0xff, 0xff, 0xff, 0xff, 0x1f);

	cr_assert_eq(krx_kp_get_uvarint32(&c, &v), KRX_E_MALFORMED);
	cr_assert_eq(c.off, 0, "cursor moved on error");
	cr_assert_eq(v, 7);
}

Test(kafka_prim, uvarint_overlong_six_bytes)
{
	uint32_t	 v;
	CUR(c, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00);

	cr_assert_eq(krx_kp_get_uvarint32(&c, &v), KRX_E_MALFORMED);
	cr_assert_eq(c.off, 0);
}

Test(kafka_prim, uvarint_truncated)
{
	uint32_t	 v;
	CUR(c, 0x80, 0x80);

	cr_assert_eq(krx_kp_get_uvarint32(&c, &v), KRX_E_TRUNCATED);
	cr_assert_eq(c.off, 0);
}

Test(kafka_prim, compact_length_null_empty_and_too_big)
{
	int32_t	 n;
	CUR(c, 0x00, 0x01, 0x81, 0x80, 0x80, 0x80, 0x08);

	cr_assert_eq(krx_kp_get_clen(&c, &n), KRX_OK);
	cr_assert_eq(n, -1);
	cr_assert_eq(krx_kp_get_clen(&c, &n), KRX_OK);
	cr_assert_eq(n, 0);
	/* 2^31 + 1 does not fit an int32 length. */
	cr_assert_eq(krx_kp_get_clen(&c, &n), KRX_E_MALFORMED);
	cr_assert_eq(c.off, 2);
}

Test(kafka_prim, classic_string)
{
	const uint8_t	*p;
	int32_t		 len;
	CUR(c, 0x00, 0x03, 'a', 'b', 'c', 0xff, 0xff, 0x00, 0x00);

	cr_assert_eq(krx_kp_get_str(&c, false, false, &p, &len), KRX_OK);
	cr_assert_eq(len, 3);
	cr_assert_eq(memcmp(p, "abc", 3), 0);
	cr_assert_eq(krx_kp_get_str(&c, false, true, &p, &len), KRX_OK);
	cr_assert_eq(len, -1);
	cr_assert_null(p);
	cr_assert_eq(krx_kp_get_str(&c, false, false, &p, &len), KRX_OK);
	cr_assert_eq(len, 0);
	cr_assert_eq(krx_cur_end(&c), KRX_OK);
}

Test(kafka_prim, null_rejected_where_not_nullable)
{
	const uint8_t	*p;
	int32_t		 len;
	CUR(c, 0xff, 0xff);
	CUR(d, 0x00);

	cr_assert_eq(krx_kp_get_str(&c, false, false, &p, &len),
	    KRX_E_MALFORMED);
	cr_assert_eq(c.off, 0);
	cr_assert_eq(krx_kp_get_str(&d, true, false, &p, &len),
	    KRX_E_MALFORMED);
	cr_assert_eq(d.off, 0);
}

Test(kafka_prim, negative_length_malformed)
{
	const uint8_t	*p;
	int32_t		 len;
	CUR(c, 0xff, 0xfe, 'x');

	cr_assert_eq(krx_kp_get_str(&c, false, true, &p, &len),
	    KRX_E_MALFORMED);
	cr_assert_eq(c.off, 0);
}

Test(kafka_prim, compact_string_null_empty_value)
{
	const uint8_t	*p;
	int32_t		 len;
	CUR(c, 0x00, 0x01, 0x03, 'h', 'i');

	cr_assert_eq(krx_kp_get_str(&c, true, true, &p, &len), KRX_OK);
	cr_assert_eq(len, -1);
	cr_assert_eq(krx_kp_get_str(&c, true, true, &p, &len), KRX_OK);
	cr_assert_eq(len, 0);
	cr_assert_eq(krx_kp_get_str(&c, true, false, &p, &len), KRX_OK);
	cr_assert_eq(len, 2);
	cr_assert_eq(memcmp(p, "hi", 2), 0);
	cr_assert_eq(krx_cur_end(&c), KRX_OK);
}

Test(kafka_prim, string_longer_than_input)
{
	const uint8_t	*p;
	int32_t		 len;
	CUR(c, 0x05, 'a', 'b');
	CUR(d, 0x00, 0x04, 'a');

	cr_assert_eq(krx_kp_get_str(&c, true, false, &p, &len),
	    KRX_E_TRUNCATED);
	cr_assert_eq(c.off, 0);
	cr_assert_eq(krx_kp_get_str(&d, false, false, &p, &len),
	    KRX_E_TRUNCATED);
	cr_assert_eq(d.off, 0);
}

Test(kafka_prim, compact_string_over_int16)
{
	static uint8_t	 buf[3 + 40000];
	const uint8_t	*p;
	int32_t		 len;
	struct krx_cur	 c;

	/* 40001 = N + 1 with N = 40000 > INT16_MAX. */
	buf[0] = 0xc1;
	buf[1] = 0xb8;
	buf[2] = 0x02;
	krx_cur_init(&c, buf, sizeof(buf));
	cr_assert_eq(krx_kp_get_str(&c, true, false, &p, &len),
	    KRX_E_MALFORMED);
	cr_assert_eq(c.off, 0);
}

Test(kafka_prim, bytes_classic_and_compact)
{
	const uint8_t	*p;
	int32_t		 len;
	CUR(c, 0x00, 0x00, 0x00, 0x02, 0xaa, 0xbb, 0xff, 0xff, 0xff, 0xff,
	    0x02, 0xcc, 0x00);

	cr_assert_eq(krx_kp_get_bytes(&c, false, true, &p, &len), KRX_OK);
	cr_assert_eq(len, 2);
	cr_assert_eq(p[1], 0xbb);
	cr_assert_eq(krx_kp_get_bytes(&c, false, true, &p, &len), KRX_OK);
	cr_assert_eq(len, -1);
	cr_assert_eq(krx_kp_get_bytes(&c, true, true, &p, &len), KRX_OK);
	cr_assert_eq(len, 1);
	cr_assert_eq(*p, 0xcc);
	cr_assert_eq(krx_kp_get_bytes(&c, true, true, &p, &len), KRX_OK);
	cr_assert_eq(len, -1);
	cr_assert_eq(krx_cur_end(&c), KRX_OK);
}

Test(kafka_prim, nullable_array)
{
	int32_t	 n;
	CUR(c, 0xff, 0xff, 0xff, 0xff, 0x00);

	cr_assert_eq(krx_kp_get_array(&c, false, true, 1, &n), KRX_OK);
	cr_assert_eq(n, -1);
	cr_assert_eq(krx_kp_get_array(&c, true, false, 1, &n),
	    KRX_E_MALFORMED);
	cr_assert_eq(krx_kp_get_array(&c, true, true, 1, &n), KRX_OK);
	cr_assert_eq(n, -1);
}

Test(kafka_prim, array_count_beyond_input)
{
	int32_t	 n;
	CUR(c, 0x7f, 0xff, 0xff, 0xff, 0x00, 0x00);

	cr_assert_eq(krx_kp_get_array(&c, false, false, 1, &n),
	    KRX_E_TRUNCATED);
	cr_assert_eq(c.off, 0);
}

Test(kafka_prim, fixed_array_skip)
{
	CUR(c, 0x03, 0, 0, 0, 1, 0, 0, 0, 2, 0x7f);
	CUR(d, 0x03, 0, 0, 0, 1, 0, 0, 0);

	cr_assert_eq(krx_kp_skip_fixed_array(&c, true, false, 4), KRX_OK);
	cr_assert_eq(c.off, 9);
	cr_assert_eq(krx_kp_skip_fixed_array(&d, true, false, 4),
	    KRX_E_TRUNCATED);
	cr_assert_eq(d.off, 0);
}

Test(kafka_prim, tags_skip_and_find)
{
	bool	 found;
	size_t	 off, len;
	CUR(c, 0x02, 0x00, 0x02, 0xaa, 0xbb, 0x05, 0x01, 0xcc);

	cr_assert_eq(krx_kp_find_tag(&c, 5, &found, &off, &len), KRX_OK);
	cr_assert(found);
	cr_assert_eq(off, 7);
	cr_assert_eq(len, 1);
	cr_assert_eq(krx_cur_end(&c), KRX_OK);
	c.off = 0;
	cr_assert_eq(krx_kp_find_tag(&c, 1, &found, &off, &len), KRX_OK);
	cr_assert_not(found);
	c.off = 0;
	cr_assert_eq(krx_kp_skip_tags(&c), KRX_OK);
	cr_assert_eq(c.off, sizeof(c_bytes));
}

Test(kafka_prim, tags_must_ascend)
{
	CUR(c, 0x02, 0x03, 0x00, 0x01, 0x00);
	CUR(d, 0x02, 0x00, 0x00, 0x00, 0x00);

	cr_assert_eq(krx_kp_skip_tags(&c), KRX_E_MALFORMED);
	cr_assert_eq(c.off, 0);
	cr_assert_eq(krx_kp_skip_tags(&d), KRX_E_MALFORMED);
}

Test(kafka_prim, tags_truncated)
{
	CUR(c, 0x01, 0x00, 0x05, 0xaa);
	CUR(d, 0x03, 0x00, 0x00);

	cr_assert_eq(krx_kp_skip_tags(&c), KRX_E_TRUNCATED);
	cr_assert_eq(c.off, 0);
	cr_assert_eq(krx_kp_skip_tags(&d), KRX_E_TRUNCATED);
}

Test(kafka_prim, writers)
{
	static const uint8_t	 want[] = { 0x00, 0x02, 'o', 'k', 0xff, 0xff,
	    0x03, 'o', 'k', 0x00, 0x01, 0x00, 0x00, 0x00, 0x05, 0x00 };
	struct krx_buf		 b;

	krx_buf_init(&b, 0);
	cr_assert_eq(krx_kp_put_str(&b, false, "ok", 2), KRX_OK);
	cr_assert_eq(krx_kp_put_str(&b, false, NULL, -1), KRX_OK);
	cr_assert_eq(krx_kp_put_str(&b, true, "ok", 2), KRX_OK);
	cr_assert_eq(krx_kp_put_str(&b, true, NULL, -1), KRX_OK);
	cr_assert_eq(krx_kp_put_str(&b, true, "", 0), KRX_OK);
	cr_assert_eq(krx_kp_put_array_len(&b, false, 5), KRX_OK);
	cr_assert_eq(krx_kp_put_array_len(&b, true, -1), KRX_OK);
	cr_assert_eq(b.len, sizeof(want));
	cr_assert_eq(memcmp(b.data, want, sizeof(want)), 0);
	cr_assert_eq(krx_kp_put_str(&b, false, "x", 40000), KRX_E_RANGE);
	cr_assert_eq(b.len, sizeof(want));
	krx_buf_free(&b);
}
