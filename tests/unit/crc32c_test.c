/*
 * crc32c_test.c: proto/crc32c.c: the check value, the table against a
 * bit-by-bit reference, incremental use, and the SSE4.2 and slicing
 * paths against each other on random data of many lengths and
 * alignments.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "proto/crc32c.h"

/* The definition: one bit at a time, no table. */
static uint32_t
ref_crc32c(uint32_t crc, const uint8_t *p, size_t len)
{
	uint32_t	 c = ~crc;
	int		 k;

	while (len-- > 0) {
		c ^= *p++;
		for (k = 0; k < 8; k++)
			c = (c >> 1) ^ ((c & 1) ? 0x82f63b78 : 0);
	}
	return ~c;
}

/* xorshift64: reproducible test data. */
static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void
fill(uint8_t *p, size_t len, uint64_t *s)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)rnd(s);
}

Test(crc32c, check_value)
{
	static const char	 s[] = "123456789";

	cr_assert_eq(krx_crc32c(0, s, 9), 0xe3069283);
	cr_assert_eq(krx_crc32c_sw(0, s, 9), 0xe3069283);
	cr_assert_eq(ref_crc32c(0, (const uint8_t *)s, 9), 0xe3069283);
	if (krx_crc32c_hw_available())
		cr_assert_eq(krx_crc32c_hw(0, s, 9), 0xe3069283);
}

Test(crc32c, empty_and_null)
{
	cr_assert_eq(krx_crc32c(0, NULL, 0), 0);
	cr_assert_eq(krx_crc32c(0x1234, NULL, 0), 0x1234);
	cr_assert_eq(krx_crc32c_sw(0, NULL, 0), 0);
}

/* RFC 3720 B.4 vectors (iSCSI uses CRC-32C). */
Test(crc32c, rfc3720_vectors)
{
	uint8_t	 b[32];
	int	 i;

	memset(b, 0, sizeof(b));
	cr_assert_eq(krx_crc32c(0, b, 32), 0x8a9136aa);
	memset(b, 0xff, sizeof(b));
	cr_assert_eq(krx_crc32c(0, b, 32), 0x62a8ab43);
	for (i = 0; i < 32; i++)
		b[i] = (uint8_t)i;
	cr_assert_eq(krx_crc32c(0, b, 32), 0x46dd794e);
	for (i = 0; i < 32; i++)
		b[i] = (uint8_t)(31 - i);
	cr_assert_eq(krx_crc32c(0, b, 32), 0x113fdb5c);
}

Test(crc32c, single_bytes_match_reference)
{
	uint8_t	 b;
	int	 n;

	for (n = 0; n < 256; n++) {
		b = (uint8_t)n;
		cr_assert_eq(krx_crc32c_sw(0, &b, 1), ref_crc32c(0, &b, 1),
		    "byte %d", n);
		cr_assert_eq(krx_crc32c(0, &b, 1), ref_crc32c(0, &b, 1));
	}
}

Test(crc32c, paths_agree_on_random_data)
{
	uint8_t		*buf;
	uint64_t	 s = 0x9e3779b97f4a7c15ULL;
	size_t		 len, align;
	uint32_t	 want;
	bool		 hw = krx_crc32c_hw_available();

	/* Up to 4 triples of 4 KiB blocks: every path of the hw code. */
	buf = malloc(50000 + 16);
	cr_assert_not_null(buf);
	fill(buf, 50000 + 16, &s);
	for (len = 0; len <= 50000; len += len < 80 ? 1 : len < 4096 ? 61 :
	    997) {
		for (align = 0; align < 16; align++) {
			want = ref_crc32c(0, buf + align, len);
			cr_assert_eq(krx_crc32c_sw(0, buf + align, len), want,
			    "sw len %zu align %zu", len, align);
			cr_assert_eq(krx_crc32c(0, buf + align, len), want);
			if (hw)
				cr_assert_eq(krx_crc32c_hw(0, buf + align,
				    len), want, "hw len %zu align %zu", len,
				    align);
		}
	}
	free(buf);
}

Test(crc32c, large_buffer_paths_agree)
{
	size_t		 len = (1 << 20) + 13;
	uint8_t		*buf = malloc(len);
	uint64_t	 s = 42;
	uint32_t	 sw;

	cr_assert_not_null(buf);
	fill(buf, len, &s);
	sw = krx_crc32c_sw(0, buf, len);
	cr_assert_eq(sw, ref_crc32c(0, buf, len));
	if (krx_crc32c_hw_available())
		cr_assert_eq(krx_crc32c_hw(0, buf, len), sw);
	free(buf);
}

Test(crc32c, incremental_equals_one_shot)
{
	uint8_t		 buf[1000];
	uint64_t	 s = 7;
	uint32_t	 want, c, h;
	size_t		 cut, cut2;

	fill(buf, sizeof(buf), &s);
	want = krx_crc32c(0, buf, sizeof(buf));
	for (cut = 0; cut <= sizeof(buf); cut += 37) {
		for (cut2 = cut; cut2 <= sizeof(buf); cut2 += 101) {
			c = krx_crc32c_sw(0, buf, cut);
			c = krx_crc32c(c, buf + cut, cut2 - cut);
			c = krx_crc32c_sw(c, buf + cut2, sizeof(buf) - cut2);
			cr_assert_eq(c, want, "cuts %zu %zu", cut, cut2);
			if (!krx_crc32c_hw_available())
				continue;
			h = krx_crc32c_hw(0, buf, cut);
			h = krx_crc32c_sw(h, buf + cut, cut2 - cut);
			h = krx_crc32c_hw(h, buf + cut2, sizeof(buf) - cut2);
			cr_assert_eq(h, want);
		}
	}
}
