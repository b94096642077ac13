/*
 * fuzz_proxyproto.c: libFuzzer harness for the PROXY protocol parser
 * (proto/proxyproto.c), the first bytes a client (or whatever sits in
 * front of krx) sends. The input is those bytes. Checks:
 *   - the answer is a length <= the input, 0, or one of the documented
 *     errors; out is zero unless it is a length;
 *   - a header is whole and self-consistent: v1 at most 107 bytes and
 *     ending in CRLF, v2 16 + its length field; TCP4/TCP6 give AF_INET/
 *     AF_INET6 addresses, every other family zero ones; LOCAL only in
 *     v2 and then UNSPEC; the TLV block ends with the header, every TLV
 *     found lies in it;
 *   - a TCP4 line is canonical: formatting the parsed addresses gives
 *     the input line back, byte for byte; a TCP6 line reparses, written
 *     from the parsed addresses, to the same addresses;
 *   - prefixes (each a heap copy of exactly its length, so that a read
 *     past len is caught): a prefix of a header gives 0, the header
 *     itself and anything longer its length; a prefix of an incomplete
 *     input gives 0; a prefix of a refused input never succeeds.
 * Seeds (tests/fuzz/corpus/proxyproto, made by hand): HAProxy 2.6's
 * headers of tests/unit/proxyproto_test.c (v1 and v2, TCP4 and TCP6,
 * CRC32C and UNIQUE_ID TLVs, LOCAL health check) and the spec's
 * longest v1 lines.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "proto/proxyproto.h"
#include "tests/fuzz/fuzz_common.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int
fz_zero(const void *p, size_t n)
{
	const uint8_t	*q = p;
	size_t		 i;

	for (i = 0; i < n; i++)
		if (q[i] != 0)
			return 0;
	return 1;
}

/* Parse a heap copy of the first k bytes. */
static int
fz_parse(const uint8_t *p, size_t k, struct krx_proxyproto *out)
{
	uint8_t	*q = malloc(k ? k : 1);
	int	 r;

	fz_check(q != NULL);
	memcpy(q, p, k);
	r = krx_proxyproto_parse(q, k, out);
	free(q);
	return r;
}

static int
fz_same(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

/* A v1 TCP line, written again from what was parsed. */
static void
fz_v1_again(const uint8_t *p, int r, const struct krx_proxyproto *h)
{
	char			 line[256], s[64], d[64];
	int			 af = h->family == KRX_PROXYPROTO_TCP4 ?
				    AF_INET : AF_INET6, n;
	const void		*sa, *da;
	unsigned		 sp, dp;
	struct krx_proxyproto	 again;

	if (af == AF_INET) {
		sa = &((const struct sockaddr_in *)&h->src)->sin_addr;
		da = &((const struct sockaddr_in *)&h->dst)->sin_addr;
		sp = ntohs(((const struct sockaddr_in *)&h->src)->sin_port);
		dp = ntohs(((const struct sockaddr_in *)&h->dst)->sin_port);
	} else {
		sa = &((const struct sockaddr_in6 *)&h->src)->sin6_addr;
		da = &((const struct sockaddr_in6 *)&h->dst)->sin6_addr;
		sp = ntohs(((const struct sockaddr_in6 *)&h->src)->sin6_port);
		dp = ntohs(((const struct sockaddr_in6 *)&h->dst)->sin6_port);
	}
	fz_check(inet_ntop(af, sa, s, sizeof(s)) != NULL &&
	    inet_ntop(af, da, d, sizeof(d)) != NULL);
	n = snprintf(line, sizeof(line), "PROXY TCP%c %s %s %u %u\r\n",
	    af == AF_INET ? '4' : '6', s, d, sp, dp);
	fz_check(n > 0 && (size_t)n < sizeof(line));
	if (af == AF_INET)
		fz_check(n == r && memcmp(line, p, (size_t)r) == 0);
	fz_check(fz_parse((const uint8_t *)line, (size_t)n, &again) == n);
	fz_check(again.family == h->family && fz_same(&again.src, &h->src) &&
	    fz_same(&again.dst, &h->dst));
}

static void
fz_header(const uint8_t *p, int r, const struct krx_proxyproto *h)
{
	char		 buf[KRX_PROXYPROTO_ADDRSTRLEN];
	const uint8_t	*v;
	size_t		 vlen;
	int		 t, af;

	fz_check(h->version == 1 || h->version == 2);
	if (h->version == 1) {
		fz_check(r <= KRX_PROXYPROTO_V1_MAX && p[r - 2] == '\r' &&
		    p[r - 1] == '\n' && memchr(p, '\n', (size_t)r - 1) == NULL);
		fz_check(h->command == KRX_PROXYPROTO_PROXY &&
		    h->family != KRX_PROXYPROTO_UNSPEC);
		fz_check(h->tlv_off == 0 && h->tlv_len == 0);
	} else {
		fz_check(r == KRX_PROXYPROTO_V2_HDR + (p[14] << 8 | p[15]));
		fz_check(h->family != KRX_PROXYPROTO_UNKNOWN);
		fz_check(h->command == KRX_PROXYPROTO_PROXY ||
		    h->family == KRX_PROXYPROTO_UNSPEC);
		fz_check(h->tlv_len == 0 ? h->tlv_off == 0 :
		    h->tlv_off >= KRX_PROXYPROTO_V2_HDR &&
		    h->tlv_off + h->tlv_len == (size_t)r);
	}
	if (h->family == KRX_PROXYPROTO_TCP4 ||
	    h->family == KRX_PROXYPROTO_TCP6) {
		af = h->family == KRX_PROXYPROTO_TCP4 ? AF_INET : AF_INET6;
		fz_check(h->src.ss_family == af && h->dst.ss_family == af);
		fz_check(krx_proxyproto_format_addr(&h->src, buf,
		    sizeof(buf)) > 0);
		fz_check(krx_proxyproto_format_addr(&h->dst, buf,
		    sizeof(buf)) > 0);
		if (h->version == 1)
			fz_v1_again(p, r, h);
	} else
		fz_check(fz_zero(&h->src, sizeof(h->src)) &&
		    fz_zero(&h->dst, sizeof(h->dst)));
	for (t = 0; t < 256; t++) {
		if (krx_proxyproto_tlv_find(p, h, (uint8_t)t, &v, &vlen) !=
		    KRX_OK) {
			fz_check(v == NULL && vlen == 0);
			continue;
		}
		fz_check(v >= p + h->tlv_off + 3 && v[-3] == t &&
		    v + vlen <= p + r);
	}
}

/* Prefix lengths worth a parse: all for short inputs, else a few. */
static void
fz_prefixes(const uint8_t *p, size_t len, int r)
{
	struct krx_proxyproto	 out;
	size_t			 k, step = len <= 128 ? 1 : len / 13 + 1;
	int			 rk;

	for (k = 0; k < len; k += step) {
		rk = fz_parse(p, k, &out);
		if (r > 0 && k < (size_t)r)
			fz_check(rk == 0);
		else if (r > 0)
			fz_check(rk == r);
		else if (r == 0)
			fz_check(rk == 0);
		else
			fz_check(rk <= 0);
		if (rk <= 0)
			fz_check(fz_zero(&out, sizeof(out)));
	}
	if (r > 0) {
		fz_check(fz_parse(p, (size_t)r, &out) == r);
		fz_check(fz_parse(p, (size_t)r - 1, &out) == 0);
	} else if (len > 0)
		fz_check(fz_parse(p, len - 1, &out) <= 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct krx_proxyproto	 out;
	int			 r;

	memset(&out, 0xa5, sizeof(out));
	r = krx_proxyproto_parse(data, size, &out);
	if (r > 0) {
		fz_check((size_t)r <= size && r <= KRX_PROXYPROTO_MAX);
		fz_header(data, r, &out);
	} else {
		fz_check(r == 0 || r == KRX_E_MALFORMED ||
		    r == KRX_E_TOO_BIG || r == KRX_E_VERSION);
		fz_check(fz_zero(&out, sizeof(out)));
		if (r == 0)
			fz_check(size < KRX_PROXYPROTO_MAX);
	}
	fz_prefixes(data, size, r);
	return 0;
}
