/*
 * buf_test.c: the growable buffer and the bounded cursor (common/buf.c).
 */
#include <string.h>

#include <criterion/criterion.h>

#include "common/buf.h"

Test(buf, grows_and_writes_big_endian)
{
	struct krx_buf	 b;
	static const uint8_t want[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
	    0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09 };
	int		 i;

	krx_buf_init(&b, 0);
	krx_buf_put_u8(&b, 1);
	krx_buf_put_be16(&b, 0x0203);
	krx_buf_put_be32(&b, 0x04050607);
	krx_buf_put_be64(&b, 9);
	cr_assert_eq(b.err, KRX_OK);
	cr_assert_eq(b.len, sizeof(want));
	cr_assert_arr_eq(b.data, want, sizeof(want));
	for (i = 0; i < 10000; i++)
		krx_buf_put_u8(&b, (uint8_t)i);
	cr_assert_eq(b.len, sizeof(want) + 10000);
	cr_assert_eq(b.data[sizeof(want) + 257], 1);
	krx_buf_free(&b);
}

Test(buf, varints_roundtrip)
{
	static const int64_t vals[] = { 0, 1, -1, 63, -64, 64, 300, -300,
	    INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN };
	struct krx_buf	 b;
	struct krx_cur	 c;
	int64_t		 v;
	int32_t		 v32;
	size_t		 i, before;

	krx_buf_init(&b, 0);
	for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		before = b.len;
		krx_buf_put_varint(&b, vals[i]);
		cr_assert_eq(b.len - before, krx_varint_len(vals[i]));
	}
	krx_cur_init(&c, b.data, b.len);
	for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		cr_assert_eq(krx_cur_get_varlong(&c, &v), KRX_OK);
		cr_assert_eq(v, vals[i], "value %zu: %lld", i, (long long)v);
	}
	cr_assert_eq(krx_cur_end(&c), KRX_OK);
	/* zigzag: -1 is 0x01, 1 is 0x02 */
	krx_buf_reset(&b);
	krx_buf_put_varint(&b, -1);
	krx_buf_put_varint(&b, 1);
	cr_assert_eq(b.data[0], 0x01);
	cr_assert_eq(b.data[1], 0x02);
	krx_cur_init(&c, b.data, b.len);
	cr_assert_eq(krx_cur_get_varint(&c, &v32), KRX_OK);
	cr_assert_eq(v32, -1);
	krx_buf_free(&b);
}

Test(buf, cursor_truncation_does_not_move)
{
	static const uint8_t d[] = { 0x80, 0x80, 0x01, 0xaa };
	struct krx_cur	 c;
	uint32_t	 v32;
	uint64_t	 u;

	krx_cur_init(&c, d, 3);
	cr_assert_eq(krx_cur_get_be32(&c, &v32), KRX_E_TRUNCATED);
	cr_assert_eq(c.off, 0);
	cr_assert_eq(krx_cur_get_uvarint(&c, &u, 5), KRX_OK);
	cr_assert_eq(u, 1u << 14);
	cr_assert_eq(krx_cur_end(&c), KRX_OK);
	krx_cur_init(&c, d, 2);
	cr_assert_eq(krx_cur_get_uvarint(&c, &u, 5), KRX_E_TRUNCATED);
	cr_assert_eq(c.off, 0);
	krx_cur_init(&c, d, 4);
	cr_assert_eq(krx_cur_skip(&c, 5), KRX_E_TRUNCATED);
	cr_assert_eq(krx_cur_skip(&c, 3), KRX_OK);
	cr_assert_eq(krx_cur_end(&c), KRX_E_TRAILING);
}

Test(buf, overlong_varint_rejected)
{
	static const uint8_t d[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
	struct krx_cur	 c;
	uint64_t	 u;
	int32_t		 v;

	krx_cur_init(&c, d, sizeof(d));
	cr_assert_eq(krx_cur_get_uvarint(&c, &u, 5), KRX_E_MALFORMED);
	krx_cur_init(&c, d, sizeof(d));
	cr_assert_eq(krx_cur_get_varint(&c, &v), KRX_E_MALFORMED);
}

Test(buf, take_transfers_ownership)
{
	struct krx_buf	 b;
	uint8_t		*p;
	size_t		 len;

	krx_buf_init(&b, 8);
	krx_buf_put(&b, "abc", 3);
	p = krx_buf_take(&b, &len);
	cr_assert_eq(len, 3);
	cr_assert_eq(memcmp(p, "abc", 3), 0);
	cr_assert_null(b.data);
	cr_assert_eq(b.len, 0);
	free(p);
}
