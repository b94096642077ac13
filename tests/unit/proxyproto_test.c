/*
 * proxyproto_test.c: the PROXY protocol parser (proto/proxyproto.c):
 * headers captured from HAProxy 2.6 (Debian 12's haproxy, TCP mode,
 * "send-proxy", "send-proxy-v2", "proxy-v2-options crc32c,unique-id",
 * and "check check-send-proxy" health checks; a python listener kept
 * what it received, the client's "hello" included: see
 * tests/data/proxyproto/capture.py), the spec's own
 * examples and limits, headers built here (v2 with TLVs and a CRC32C of
 * a bit-by-bit reference), every prefix of each valid header, and the
 * malformed cases.
 *
 * Every parse runs on a heap copy of exactly len bytes, so that the
 * ASan build (make check-asan) catches a read past len.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "common/err.h"
#include "proto/proxyproto.h"

/* HAProxy 2.6: send-proxy, client 127.0.0.1:37566 to 127.0.0.1:47321. */
static const uint8_t hap_v1_tcp4[] =
    "PROXY TCP4 127.0.0.1 127.0.0.1 37566 47321\r\nhello";
/* send-proxy, client [::1]:53858 to [::1]:47321. */
static const uint8_t hap_v1_tcp6[] =
    "PROXY TCP6 ::1 ::1 53858 47321\r\nhello";
/* A health check with check-send-proxy: its own connection's addresses. */
static const uint8_t hap_v1_check[] =
    "PROXY TCP4 127.0.0.1 127.0.0.1 51820 47314\r\n";
/* send-proxy-v2, client 127.0.0.1:48452 to 127.0.0.1:47322. */
static const uint8_t hap_v2_tcp4[] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
	0x21, 0x11, 0x00, 0x0c, 0x7f, 0x00, 0x00, 0x01, 0x7f, 0x00, 0x00, 0x01,
	0xbd, 0x44, 0xb8, 0xda, 0x68, 0x65, 0x6c, 0x6c, 0x6f,
};
/* send-proxy-v2, client [::1]:57996 to [::1]:47322. */
static const uint8_t hap_v2_tcp6[] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
	0x21, 0x21, 0x00, 0x24, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
	0xe2, 0x8c, 0xb8, 0xda, 0x68, 0x65, 0x6c, 0x6c, 0x6f,
};
/*
 * send-proxy-v2 with proxy-v2-options crc32c,unique-id: client
 * 127.0.0.1:33198 to 127.0.0.1:47323, a CRC32C TLV then a UNIQUE_ID TLV
 * of 41 bytes.
 */
static const uint8_t hap_v2_crc_uid[] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
	0x21, 0x11, 0x00, 0x3f, 0x7f, 0x00, 0x00, 0x01, 0x7f, 0x00, 0x00, 0x01,
	0x81, 0xae, 0xb8, 0xdb, 0x03, 0x00, 0x04, 0xb0, 0xba, 0x18, 0x53, 0x05,
	0x00, 0x29, 0x37, 0x46, 0x30, 0x30, 0x30, 0x30, 0x30, 0x31, 0x3a, 0x38,
	0x31, 0x41, 0x45, 0x5f, 0x37, 0x46, 0x30, 0x30, 0x30, 0x30, 0x30, 0x31,
	0x3a, 0x42, 0x38, 0x44, 0x42, 0x5f, 0x36, 0x42, 0x31, 0x35, 0x39, 0x46,
	0x45, 0x34, 0x5f, 0x30, 0x30, 0x30, 0x34, 0x68, 0x65, 0x6c, 0x6c, 0x6f,
};
/* A health check with send-proxy-v2 and check-send-proxy: LOCAL. */
static const uint8_t hap_v2_check_local[] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
	0x20, 0x00, 0x00, 0x00,
};

static const uint8_t v2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

/* Parse a heap copy of exactly len bytes. */
static int
pp(const void *p, size_t len, struct krx_proxyproto *out)
{
	uint8_t	*q = malloc(len ? len : 1);
	int	 r;

	cr_assert_not_null(q);
	memcpy(q, p, len);
	r = krx_proxyproto_parse(q, len, out);
	free(q);
	return r;
}

static int
pps(const char *s, struct krx_proxyproto *out)
{
	return pp(s, strlen(s), out);
}

/* s is one whole line: all of it is read. */
static void
expect_line(const char *s, struct krx_proxyproto *out)
{
	cr_assert_eq(pps(s, out), (int)strlen(s), "%s", s);
	cr_assert_eq(out->version, 1);
}

static void
expect_addr(const struct sockaddr_storage *ss, const char *want)
{
	char	 buf[KRX_PROXYPROTO_ADDRSTRLEN];
	int	 n;

	n = krx_proxyproto_format_addr(ss, buf, sizeof(buf));
	cr_assert_eq(n, (int)strlen(want), "%s vs %s", buf, want);
	cr_assert_str_eq(buf, want);
}

/*
 * p, len: a valid header of hlen bytes and maybe more. Every prefix
 * shorter than hlen gives 0 and a zeroed out, every longer one hlen.
 */
static void
expect_prefixes(const uint8_t *p, size_t len, size_t hlen)
{
	static const struct krx_proxyproto	 zero;
	struct krx_proxyproto			 out;
	size_t					 k;
	int					 r;

	for (k = 0; k <= len; k++) {
		memset(&out, 0x5a, sizeof(out));
		r = pp(p, k, &out);
		if (k < hlen) {
			cr_assert_eq(r, 0, "prefix %zu of %zu: %d", k, hlen, r);
			cr_assert(memcmp(&out, &zero, sizeof(out)) == 0);
		} else
			cr_assert_eq(r, (int)hlen, "len %zu: %d", k, r);
	}
}

/* The CRC-32C by definition, no table. */
static uint32_t
ref_crc32c(const uint8_t *p, size_t len)
{
	uint32_t	 c = 0xffffffff;
	int		 k;

	while (len-- > 0) {
		c ^= *p++;
		for (k = 0; k < 8; k++)
			c = (c >> 1) ^ ((c & 1) ? 0x82f63b78 : 0);
	}
	return ~c;
}

/*
 * A v2 header into buf: ver_cmd, fam, an address block of alen bytes
 * (0x11.. counting up), the TLVs tlv of tlen bytes; with crc, a CRC32C
 * TLV last, filled in. Returns the length.
 */
static size_t
v2_build(uint8_t *buf, uint8_t ver_cmd, uint8_t fam, size_t alen,
    const uint8_t *tlv, size_t tlen, int crc)
{
	size_t		 n = 16, blen = alen + tlen + (crc ? 7 : 0), i;
	uint32_t	 c;

	memcpy(buf, v2_sig, 12);
	buf[12] = ver_cmd;
	buf[13] = fam;
	buf[14] = (uint8_t)(blen >> 8);
	buf[15] = (uint8_t)blen;
	for (i = 0; i < alen; i++)
		buf[n++] = (uint8_t)(0x11 + i);
	if (tlen > 0)
		memcpy(buf + n, tlv, tlen);
	n += tlen;
	if (crc) {
		memcpy(buf + n, "\x03\x00\x04\x00\x00\x00\x00", 7);
		n += 7;
		c = ref_crc32c(buf, n);
		buf[n - 4] = (uint8_t)(c >> 24);
		buf[n - 3] = (uint8_t)(c >> 16);
		buf[n - 2] = (uint8_t)(c >> 8);
		buf[n - 1] = (uint8_t)c;
	}
	return n;
}

Test(proxyproto, haproxy_v1)
{
	struct krx_proxyproto	 out;

	cr_assert_eq(pp(hap_v1_tcp4, sizeof(hap_v1_tcp4) - 1, &out), 44);
	cr_assert_eq(out.version, 1);
	cr_assert_eq(out.command, KRX_PROXYPROTO_PROXY);
	cr_assert_eq(out.family, KRX_PROXYPROTO_TCP4);
	expect_addr(&out.src, "127.0.0.1:37566");
	expect_addr(&out.dst, "127.0.0.1:47321");
	cr_assert_eq(out.tlv_off, 0);
	cr_assert_eq(out.tlv_len, 0);
	expect_prefixes(hap_v1_tcp4, sizeof(hap_v1_tcp4) - 1, 44);

	cr_assert_eq(pp(hap_v1_tcp6, sizeof(hap_v1_tcp6) - 1, &out), 32);
	cr_assert_eq(out.family, KRX_PROXYPROTO_TCP6);
	expect_addr(&out.src, "[::1]:53858");
	expect_addr(&out.dst, "[::1]:47321");
	expect_prefixes(hap_v1_tcp6, sizeof(hap_v1_tcp6) - 1, 32);

	cr_assert_eq(pp(hap_v1_check, sizeof(hap_v1_check) - 1, &out), 44);
	expect_addr(&out.src, "127.0.0.1:51820");
	expect_prefixes(hap_v1_check, sizeof(hap_v1_check) - 1, 44);
}

Test(proxyproto, haproxy_v2)
{
	struct krx_proxyproto	 out;

	cr_assert_eq(pp(hap_v2_tcp4, sizeof(hap_v2_tcp4), &out), 28);
	cr_assert_eq(out.version, 2);
	cr_assert_eq(out.command, KRX_PROXYPROTO_PROXY);
	cr_assert_eq(out.family, KRX_PROXYPROTO_TCP4);
	expect_addr(&out.src, "127.0.0.1:48452");
	expect_addr(&out.dst, "127.0.0.1:47322");
	cr_assert_eq(out.tlv_len, 0);
	expect_prefixes(hap_v2_tcp4, sizeof(hap_v2_tcp4), 28);

	cr_assert_eq(pp(hap_v2_tcp6, sizeof(hap_v2_tcp6), &out), 52);
	cr_assert_eq(out.family, KRX_PROXYPROTO_TCP6);
	expect_addr(&out.src, "[::1]:57996");
	expect_addr(&out.dst, "[::1]:47322");
	expect_prefixes(hap_v2_tcp6, sizeof(hap_v2_tcp6), 52);

	cr_assert_eq(pp(hap_v2_check_local, sizeof(hap_v2_check_local), &out),
	    16);
	cr_assert_eq(out.version, 2);
	cr_assert_eq(out.command, KRX_PROXYPROTO_LOCAL);
	cr_assert_eq(out.family, KRX_PROXYPROTO_UNSPEC);
	cr_assert_eq(out.src.ss_family, AF_UNSPEC);
	cr_assert_eq(out.dst.ss_family, AF_UNSPEC);
	expect_prefixes(hap_v2_check_local, sizeof(hap_v2_check_local), 16);
}

/* HAProxy's CRC32C verifies (so byte order and coverage are right),
 * the unique id is found, and any changed byte of the header fails. */
Test(proxyproto, haproxy_v2_crc32c_tlvs)
{
	struct krx_proxyproto	 out;
	uint8_t			 buf[sizeof(hap_v2_crc_uid)];
	const uint8_t		*v;
	size_t			 vlen, i;
	int			 r;

	cr_assert_eq(pp(hap_v2_crc_uid, sizeof(hap_v2_crc_uid), &out), 79);
	expect_addr(&out.src, "127.0.0.1:33198");
	expect_addr(&out.dst, "127.0.0.1:47323");
	cr_assert_eq(out.tlv_off, 28);
	cr_assert_eq(out.tlv_len, 51);
	cr_assert_eq(krx_proxyproto_tlv_find(hap_v2_crc_uid, &out,
	    KRX_PROXYPROTO_TLV_UNIQUE_ID, &v, &vlen), KRX_OK);
	cr_assert_eq(vlen, 41);
	cr_assert(memcmp(v, "7F000001:81AE_7F000001:B8DB_6B159FE4_0004",
	    41) == 0);
	cr_assert_eq(krx_proxyproto_tlv_find(hap_v2_crc_uid, &out,
	    KRX_PROXYPROTO_TLV_CRC32C, &v, &vlen), KRX_OK);
	cr_assert_eq(vlen, 4);
	cr_assert_eq(v, hap_v2_crc_uid + 31);
	cr_assert_eq(krx_proxyproto_tlv_find(hap_v2_crc_uid, &out,
	    KRX_PROXYPROTO_TLV_AUTHORITY, &v, &vlen), KRX_E_NOTFOUND);
	cr_assert_null(v);
	cr_assert_eq(vlen, 0);
	expect_prefixes(hap_v2_crc_uid, sizeof(hap_v2_crc_uid), 79);

	/* A flipped bit anywhere in the header is a bad checksum, a
	 * broken TLV or field, never a success; but for the CRC32C TLV's
	 * own type (28): changed, there is no checksum left to check; and
	 * the high byte of the length (14): the header would be longer. */
	for (i = 0; i < 79; i++) {
		memcpy(buf, hap_v2_crc_uid, sizeof(buf));
		buf[i] ^= 0x01;
		r = pp(buf, sizeof(buf), &out);
		if (i == 28)
			cr_assert_eq(r, 79);
		else if (i == 14)
			cr_assert_eq(r, 0);
		else
			cr_assert(r < 0, "byte %zu: %d", i, r);
	}
}

/* The spec's examples and its longest lines. */
Test(proxyproto, v1_spec)
{
	static const char	 ex[] = "PROXY TCP4 192.168.0.1 192.168.0.11 "
	    "56324 443\r\nGET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n";
	static const char	 v4max[] = "PROXY TCP4 255.255.255.255 "
	    "255.255.255.255 65535 65535\r\n";
	static const char	 v6max[] = "PROXY TCP6 "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF 65535 65535\r\n";
	static const char	 unk_max[] = "PROXY UNKNOWN "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
	struct krx_proxyproto	 out;

	cr_assert_eq(pps(ex, &out), 47);
	expect_addr(&out.src, "192.168.0.1:56324");
	expect_addr(&out.dst, "192.168.0.11:443");
	cr_assert_eq(pps(v4max, &out), 56);
	expect_addr(&out.src, "255.255.255.255:65535");
	cr_assert_eq(pps(v6max, &out), 104);
	expect_addr(&out.dst,
	    "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
	expect_prefixes((const uint8_t *)v6max, 104, 104);

	cr_assert_eq(pps("PROXY UNKNOWN\r\n", &out), 15);
	cr_assert_eq(out.version, 1);
	cr_assert_eq(out.command, KRX_PROXYPROTO_PROXY);
	cr_assert_eq(out.family, KRX_PROXYPROTO_UNKNOWN);
	cr_assert_eq(out.src.ss_family, AF_UNSPEC);
	cr_assert_eq(pps(unk_max, &out), 107);
	cr_assert_eq(out.family, KRX_PROXYPROTO_UNKNOWN);
	expect_prefixes((const uint8_t *)unk_max, 107, 107);
	/* UNKNOWN: the rest of the line is ignored, whatever it is. */
	cr_assert_eq(pps("PROXY UNKNOWN x y\tz\r\n", &out), 21);
	cr_assert_eq(pps("PROXY UNKNOWN \r\n", &out), 16);
}

Test(proxyproto, v1_accepted_forms)
{
	struct krx_proxyproto	 out;

	expect_line("PROXY TCP4 0.0.0.0 10.0.0.1 0 9092\r\n", &out);
	expect_addr(&out.src, "0.0.0.0:0");
	expect_line("PROXY TCP6 2001:db8::1 ::ffff:10.0.0.1 1 65535\r\n", &out);
	expect_addr(&out.src, "[2001:db8::1]:1");
	expect_addr(&out.dst, "[::ffff:10.0.0.1]:65535");
	expect_line("PROXY TCP6 2001:DB8:0:0:0:0:0:2 :: 10 20\r\n", &out);
	expect_addr(&out.src, "[2001:db8::2]:10");
	expect_addr(&out.dst, "[::]:20");
}

Test(proxyproto, v1_malformed)
{
	static const char *const bad[] = {
		"PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 00\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 100000\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 -2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 0x1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1a 2\r\n",
		"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n",
		"PROXY TCP4 ::1 ::1 1 2\r\n",
		"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP6 ::1 ::g 1 2\r\n",
		"PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n",
		"PROXY TCP6 ::1::2 ::1 1 2\r\n",
		"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4\r\n",
		"PROXY TCP4 \r\n",
		"PROXY \r\n",
		"PROXY UNKNOWNX\r\n",
		"PROXY UNKNOWN\n",
		"PROXY UNKNOWN\rX\n",
		"PROXY UNKNOWN a\nb\r\n",
		"PROXY UNKNOWN a\rb\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n",
		"PROXY TCP4 1.2.3.4\n5.6.7.8 1 2\r\n",
		"PROXY\tTCP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"GET / HTTP/1.1\r\n",
		"\r\n\r\n\x01",
	};
	struct krx_proxyproto	 out;
	size_t			 i;
	int			 r;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&out, 0x5a, sizeof(out));
		r = pps(bad[i], &out);
		cr_assert_eq(r, KRX_E_MALFORMED, "%zu: %s: %d", i, bad[i], r);
		cr_assert_eq(out.version, 0);
		cr_assert_eq(out.src.ss_family, AF_UNSPEC);
	}
	/* A NUL inside a field is not the end of the field (found by
	 * fuzz_proxyproto: the port was read up to the NUL). */
	cr_assert_eq(pp("PROXY TCP4 1.2.3.4\0 5.6.7.8 1 2\r\n", 33, &out),
	    KRX_E_MALFORMED);
	cr_assert_eq(pp("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\0003\r\n", 34, &out),
	    KRX_E_MALFORMED);
	cr_assert_eq(pp("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\0\r\n", 33, &out),
	    KRX_E_MALFORMED);
}

/* Refused before the line ends: the first wrong byte decides. */
Test(proxyproto, v1_early)
{
	struct krx_proxyproto	 out;

	cr_assert_eq(pps("G", &out), KRX_E_MALFORMED);
	cr_assert_eq(pps("PROXZ", &out), KRX_E_MALFORMED);
	cr_assert_eq(pps("PROXY X", &out), KRX_E_MALFORMED);
	cr_assert_eq(pps("PROXY TCP", &out), 0);
	cr_assert_eq(pps("PROXY TCP7", &out), KRX_E_MALFORMED);
	cr_assert_eq(pps("PROXY TCP4 1.2.3.4 x", &out), KRX_E_MALFORMED);
	cr_assert_eq(pps("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", &out),
	    KRX_E_MALFORMED);
	cr_assert_eq(pps("PROXY UNKNOWN", &out), 0);
	cr_assert_eq(pps("PROXY UNKNOWN ", &out), 0);
	cr_assert_eq(pps("PROXY UNKNOWNN", &out), KRX_E_MALFORMED);
	/* A whole line waiting for its LF is already judged. */
	cr_assert_eq(pps("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r", &out), 0);
	cr_assert_eq(pps("PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r", &out),
	    KRX_E_MALFORMED);
}

/* No CRLF in the first 107 bytes: refused, however the bytes go on. */
Test(proxyproto, v1_too_long)
{
	char			 line[300];
	struct krx_proxyproto	 out;
	size_t			 k;

	memcpy(line, "PROXY UNKNOWN ", 14);
	memset(line + 14, 'a', sizeof(line) - 14);
	for (k = 0; k < 107; k++)
		cr_assert_eq(pp(line, k, &out), 0, "%zu", k);
	for (k = 107; k <= sizeof(line); k++)
		cr_assert_eq(pp(line, k, &out), KRX_E_TOO_BIG, "%zu", k);
	/* CRLF at 106..107: a 108-byte line. */
	memcpy(line + 106, "\r\n", 2);
	cr_assert_eq(pp(line, 108, &out), KRX_E_TOO_BIG);
	cr_assert_eq(pp(line, 107, &out), KRX_E_TOO_BIG);
	/* CRLF at 105..106: the longest line there is. */
	memcpy(line + 105, "\r\n", 2);
	cr_assert_eq(pp(line, 200, &out), 107);
	/* Same for TCP4: the limit holds before the address check. */
	memcpy(line, "PROXY TCP4 ", 11);
	memset(line + 11, '1', sizeof(line) - 11);
	cr_assert_eq(pp(line, 106, &out), 0);
	cr_assert_eq(pp(line, 107, &out), KRX_E_TOO_BIG);
}

Test(proxyproto, v2_built)
{
	static const uint8_t	 tlv[] = {
		0x04, 0x00, 0x00,			/* NOOP, empty */
		0x02, 0x00, 0x05, 'k', 'a', 'f', 'k', 'a', /* AUTHORITY */
		0x20, 0x00, 0x05, 0x01, 0, 0, 0, 0,	/* SSL, no sub-TLV */
	};
	struct krx_proxyproto	 out;
	uint8_t			 buf[512];
	const uint8_t		*v;
	size_t			 n, vlen;

	/* PROXY TCP4 with TLVs and a CRC32C. */
	n = v2_build(buf, 0x21, 0x11, 12, tlv, sizeof(tlv), 1);
	cr_assert_eq(n, 16 + 12 + sizeof(tlv) + 7);
	memcpy(buf + n, "tail", 4);
	cr_assert_eq(pp(buf, n + 4, &out), (int)n);
	expect_addr(&out.src, "17.18.19.20:6426");
	expect_addr(&out.dst, "21.22.23.24:6940");
	cr_assert_eq(out.tlv_off, 28);
	cr_assert_eq(out.tlv_len, sizeof(tlv) + 7);
	cr_assert_eq(krx_proxyproto_tlv_find(buf, &out,
	    KRX_PROXYPROTO_TLV_AUTHORITY, &v, &vlen), KRX_OK);
	cr_assert(vlen == 5 && memcmp(v, "kafka", 5) == 0);
	cr_assert_eq(krx_proxyproto_tlv_find(buf, &out,
	    KRX_PROXYPROTO_TLV_NOOP, &v, &vlen), KRX_OK);
	cr_assert(vlen == 0 && v == buf + 28 + 3);
	expect_prefixes(buf, n + 4, n);

	/* PROXY TCP6, no TLVs. */
	n = v2_build(buf, 0x21, 0x21, 36, NULL, 0, 0);
	cr_assert_eq(pp(buf, n, &out), 52);
	cr_assert_eq(out.family, KRX_PROXYPROTO_TCP6);
	expect_addr(&out.src,
	    "[1112:1314:1516:1718:191a:1b1c:1d1e:1f20]:12594");
	expect_addr(&out.dst,
	    "[2122:2324:2526:2728:292a:2b2c:2d2e:2f30]:13108");

	/* LOCAL over TCP4: the addresses are skipped and ignored. */
	n = v2_build(buf, 0x20, 0x11, 12, tlv, sizeof(tlv), 0);
	cr_assert_eq(pp(buf, n, &out), (int)n);
	cr_assert_eq(out.command, KRX_PROXYPROTO_LOCAL);
	cr_assert_eq(out.family, KRX_PROXYPROTO_UNSPEC);
	cr_assert_eq(out.src.ss_family, AF_UNSPEC);
	cr_assert_eq(out.tlv_off, 28);

	/* LOCAL, UNSPEC, with a CRC32C (what HAProxy's checks can send). */
	n = v2_build(buf, 0x20, 0x00, 0, NULL, 0, 1);
	cr_assert_eq(pp(buf, n, &out), 23);
	cr_assert_eq(out.tlv_off, 16);
	cr_assert_eq(out.tlv_len, 7);
}

/* Families krx does not serve fall back to UNSPEC (the spec's rule). */
Test(proxyproto, v2_unspec_families)
{
	static const struct {
		uint8_t	 fam;
		size_t	 alen;
	} f[] = {
		{ 0x00, 0 }, { 0x01, 0 }, { 0x02, 0 }, { 0x10, 12 },
		{ 0x12, 12 }, { 0x20, 36 }, { 0x22, 36 }, { 0x30, 216 },
		{ 0x31, 216 }, { 0x32, 216 },
	};
	struct krx_proxyproto	 out;
	uint8_t			 buf[512];
	size_t			 i, n;

	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		n = v2_build(buf, 0x21, f[i].fam, f[i].alen, NULL, 0, 1);
		cr_assert_eq(pp(buf, n, &out), (int)n, "fam %#x", f[i].fam);
		cr_assert_eq(out.command, KRX_PROXYPROTO_PROXY);
		cr_assert_eq(out.family, KRX_PROXYPROTO_UNSPEC);
		cr_assert_eq(out.src.ss_family, AF_UNSPEC);
		cr_assert_eq(out.tlv_off, 16 + f[i].alen);
	}
}

Test(proxyproto, v2_malformed)
{
	static const uint8_t	 overrun[] = { 0x04, 0x00, 0x02, 0xaa };
	static const uint8_t	 stub[] = { 0x04, 0x00 };
	static const uint8_t	 crc5[] = { 3, 0, 5, 0, 0, 0, 0, 0 };
	static const uint8_t	 crc0[] = { 3, 0, 4, 0, 0, 0, 0 };
	struct krx_proxyproto	 out;
	uint8_t			 buf[512];
	size_t			 n;

	/* Version nibble other than 2, at 16 bytes. */
	n = v2_build(buf, 0x11, 0x11, 12, NULL, 0, 0);
	cr_assert_eq(pp(buf, 16, &out), KRX_E_VERSION);
	cr_assert_eq(pp(buf, n, &out), KRX_E_VERSION);
	n = v2_build(buf, 0x31, 0x11, 12, NULL, 0, 0);
	cr_assert_eq(pp(buf, n, &out), KRX_E_VERSION);
	/* Command, family, transport out of the spec. */
	n = v2_build(buf, 0x22, 0x11, 12, NULL, 0, 0);
	cr_assert_eq(pp(buf, 16, &out), KRX_E_MALFORMED);
	n = v2_build(buf, 0x2f, 0x11, 12, NULL, 0, 0);
	cr_assert_eq(pp(buf, n, &out), KRX_E_MALFORMED);
	n = v2_build(buf, 0x21, 0x41, 12, NULL, 0, 0);
	cr_assert_eq(pp(buf, n, &out), KRX_E_MALFORMED);
	n = v2_build(buf, 0x21, 0x13, 12, NULL, 0, 0);
	cr_assert_eq(pp(buf, n, &out), KRX_E_MALFORMED);
	n = v2_build(buf, 0x20, 0xf0, 0, NULL, 0, 0);
	cr_assert_eq(pp(buf, n, &out), KRX_E_MALFORMED);
	/* A block shorter than its addresses, known at 16 bytes. */
	n = v2_build(buf, 0x21, 0x11, 11, NULL, 0, 0);
	cr_assert_eq(pp(buf, 16, &out), KRX_E_MALFORMED);
	n = v2_build(buf, 0x21, 0x21, 12, NULL, 0, 0);
	cr_assert_eq(pp(buf, n, &out), KRX_E_MALFORMED);
	n = v2_build(buf, 0x21, 0x31, 36, NULL, 0, 0);
	cr_assert_eq(pp(buf, n, &out), KRX_E_MALFORMED);
	/* TLVs: past the block, a stub of 1 or 2 bytes, bad CRC32C. */
	n = v2_build(buf, 0x21, 0x11, 12, overrun, sizeof(overrun), 0);
	cr_assert_eq(pp(buf, n, &out), KRX_E_MALFORMED);
	n = v2_build(buf, 0x21, 0x11, 12, stub, 2, 0);
	cr_assert_eq(pp(buf, n, &out), KRX_E_MALFORMED);
	n = v2_build(buf, 0x21, 0x11, 12, stub, 1, 0);
	cr_assert_eq(pp(buf, n, &out), KRX_E_MALFORMED);
	n = v2_build(buf, 0x21, 0x11, 12, crc5, sizeof(crc5), 0);
	cr_assert_eq(pp(buf, n, &out), KRX_E_MALFORMED);
	n = v2_build(buf, 0x21, 0x11, 12, NULL, 0, 1);
	buf[n - 1] ^= 0x80;
	cr_assert_eq(pp(buf, n, &out), KRX_E_MALFORMED);
	/* Two CRC32Cs, the first zero, the second right: refused. */
	n = v2_build(buf, 0x21, 0x11, 12, crc0, sizeof(crc0), 1);
	cr_assert_eq(pp(buf, n, &out), KRX_E_MALFORMED);
	/* The signature, wrong at its last byte. */
	n = v2_build(buf, 0x21, 0x11, 12, NULL, 0, 0);
	buf[11] = 0x0b;
	cr_assert_eq(pp(buf, 11, &out), 0);
	cr_assert_eq(pp(buf, 12, &out), KRX_E_MALFORMED);
	cr_assert_eq(out.version, 0);
}

/* The block's cap: 4096 is read, 4097 is refused from the fixed part. */
Test(proxyproto, v2_cap)
{
	struct krx_proxyproto	 out;
	uint8_t			*buf;
	size_t			 n = 16 + 65535 + 10;

	cr_assert_not_null(buf = calloc(1, n));
	memcpy(buf, v2_sig, 12);
	buf[12] = 0x21;
	buf[13] = 0x11;
	buf[14] = 0x10;
	buf[15] = 0x00;
	buf[28] = 0x04;			/* NOOP over the rest */
	buf[29] = (4096 - 12 - 3) >> 8;
	buf[30] = (4096 - 12 - 3) & 0xff;
	cr_assert_eq(pp(buf, 16, &out), 0);
	cr_assert_eq(pp(buf, 4111, &out), 0);
	cr_assert_eq(pp(buf, n, &out), 4112);
	buf[15] = 0x01;
	cr_assert_eq(pp(buf, 16, &out), KRX_E_TOO_BIG);
	cr_assert_eq(pp(buf, n, &out), KRX_E_TOO_BIG);
	buf[14] = buf[15] = 0xff;
	cr_assert_eq(pp(buf, 16, &out), KRX_E_TOO_BIG);
	free(buf);
}

Test(proxyproto, format_addr)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*in = (struct sockaddr_in *)&ss;
	char			 buf[KRX_PROXYPROTO_ADDRSTRLEN];

	memset(&ss, 0, sizeof(ss));
	cr_assert_eq(krx_proxyproto_format_addr(&ss, buf, sizeof(buf)),
	    KRX_E_UNSUPPORTED);
	cr_assert_str_eq(buf, "unknown");
	in->sin_family = AF_INET;
	in->sin_port = htons(9092);
	inet_pton(AF_INET, "10.1.2.3", &in->sin_addr);
	cr_assert_eq(krx_proxyproto_format_addr(&ss, buf, sizeof(buf)), 13);
	cr_assert_str_eq(buf, "10.1.2.3:9092");
	cr_assert_eq(krx_proxyproto_format_addr(&ss, buf, 13), KRX_E_TOO_BIG);
	cr_assert_str_eq(buf, "");
	cr_assert_eq(krx_proxyproto_format_addr(&ss, buf, 14), 13);
	/* The longest output: a full IPv6 address, port 65535. */
	{
		struct krx_proxyproto	 out;

		expect_line("PROXY TCP6 "
		    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ::1 65535 1\r\n",
		    &out);
		cr_assert_eq(krx_proxyproto_format_addr(&out.src, buf,
		    sizeof(buf)), 47);
		expect_addr(&out.dst, "[::1]:1");
	}
}
