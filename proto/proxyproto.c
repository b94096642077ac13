/*
 * proxyproto.c: the PROXY protocol header, versions 1 (a text line) and
 * 2 (binary), that HAProxy and other balancers put before a client's
 * bytes (HAProxy's doc/proxy-protocol.txt). Library grade, run in
 * workers on a client's first bytes; trusts nothing but len.
 *
 * The parser is strict where the spec is: "PROXY" and exactly one space
 * between fields, TCP4/TCP6 addresses in their family's form (inet_pton,
 * which refuses IPv4 leading zeroes), ports 0..65535 without leading
 * zeroes, CRLF within 107 bytes and no lone CR or LF; v2 version 2,
 * command LOCAL or PROXY, a known family and transport, a block at
 * least as long as its addresses, TLVs that tile the rest of it, and a
 * PP2_TYPE_CRC32C (at most one) that matches. It answers early: a bad
 * signature, v2 fixed part or v1 character is refused before the rest
 * of the header arrives, but a prefix of a valid header is never
 * refused (see proxyproto.h).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "proto/crc32c.h"
#include "proto/proxyproto.h"

static const uint8_t pp_v1_sig[6] = { 'P', 'R', 'O', 'X', 'Y', ' ' };
static const uint8_t pp_v2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

/* The v1 protocol words, each with what must follow it. */
static const char pp_v1_tcp4[] = "TCP4 ";
static const char pp_v1_tcp6[] = "TCP6 ";
static const char pp_v1_unknown[] = "UNKNOWN";

static size_t
pp_min(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* Do the first len bytes of p match the first len of word (NUL ended)? */
static int
pp_prefix(const uint8_t *p, size_t len, const char *word)
{
	return memcmp(p, word, pp_min(len, strlen(word))) == 0;
}

static int
pp_v1_addrchar(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F') || c == '.' || c == ':' || c == ' ';
}

/*
 * An incomplete v1 line (no CR yet), len bytes after "PROXY ": 0 if it
 * may still become a valid line, else KRX_E_MALFORMED.
 */
static int
pp_v1_partial(const uint8_t *p, size_t len)
{
	size_t	 i;

	if (pp_prefix(p, len, pp_v1_unknown)) {
		if (len > 7 && p[7] != ' ')
			return KRX_E_MALFORMED;
		return 0;
	}
	if (!pp_prefix(p, len, pp_v1_tcp4) && !pp_prefix(p, len, pp_v1_tcp6))
		return KRX_E_MALFORMED;
	for (i = 5; i < len; i++)
		if (!pp_v1_addrchar(p[i]))
			return KRX_E_MALFORMED;
	return 0;
}

/* A decimal port: "0" or 1-5 digits without a leading zero, <= 65535. */
static int
pp_v1_port(const char *s, in_port_t *port)
{
	unsigned long	 v = 0;
	size_t		 i, n = strlen(s);

	if (n == 0 || n > 5 || (s[0] == '0' && n > 1))
		return KRX_E_MALFORMED;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return KRX_E_MALFORMED;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 65535)
		return KRX_E_MALFORMED;
	*port = htons((in_port_t)v);
	return KRX_OK;
}

static int
pp_v1_addr(int af, const char *host, const char *port,
    struct sockaddr_storage *ss)
{
	struct sockaddr_in	*in = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (af == AF_INET) {
		in->sin_family = AF_INET;
		if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
			return KRX_E_MALFORMED;
		return pp_v1_port(port, &in->sin_port);
	}
	in6->sin6_family = AF_INET6;
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
		return KRX_E_MALFORMED;
	return pp_v1_port(port, &in6->sin6_port);
}

/*
 * Split s at single spaces into at most max fields. Returns the count,
 * or -1 for an empty field (two spaces, a space at an end) or too many.
 */
static int
pp_v1_split(char *s, char **f, int max)
{
	int	 n = 0;

	for (;;) {
		if (*s == ' ' || *s == '\0' || n == max)
			return -1;
		f[n++] = s;
		if ((s = strchr(s, ' ')) == NULL)
			return n;
		*s++ = '\0';
	}
}

/*
 * A whole v1 line: the n bytes after "PROXY " up to (not including) the
 * CR. Fills h; returns KRX_OK or KRX_E_MALFORMED.
 */
static int
pp_v1_line(const uint8_t *p, size_t n, struct krx_proxyproto *h)
{
	char	 line[KRX_PROXYPROTO_V1_MAX + 1], *f[5];
	int	 af, r;

	h->version = 1;
	h->command = KRX_PROXYPROTO_PROXY;
	if (n >= 7 && memcmp(p, pp_v1_unknown, 7) == 0 &&
	    (n == 7 || p[7] == ' ')) {
		h->family = KRX_PROXYPROTO_UNKNOWN;
		return KRX_OK;
	}
	/* Only address characters: no NUL to cut a field short. */
	if (pp_v1_partial(p, n) != 0)
		return KRX_E_MALFORMED;
	memcpy(line, p, n);
	line[n] = '\0';
	if (pp_v1_split(line, f, 5) != 5)
		return KRX_E_MALFORMED;
	if (strcmp(f[0], "TCP4") == 0) {
		af = AF_INET;
		h->family = KRX_PROXYPROTO_TCP4;
	} else if (strcmp(f[0], "TCP6") == 0) {
		af = AF_INET6;
		h->family = KRX_PROXYPROTO_TCP6;
	} else
		return KRX_E_MALFORMED;
	if ((r = pp_v1_addr(af, f[1], f[3], &h->src)) != KRX_OK ||
	    (r = pp_v1_addr(af, f[2], f[4], &h->dst)) != KRX_OK)
		return r;
	return KRX_OK;
}

/* Version 1: p starts with a prefix of "PROXY ". */
static int
pp_v1(const uint8_t *p, size_t len, struct krx_proxyproto *h)
{
	size_t	 i, lim = pp_min(len, KRX_PROXYPROTO_V1_MAX);
	int	 r;

	/* The signature matched: no CR or LF in it. */
	for (i = sizeof(pp_v1_sig); i < lim; i++) {
		if (p[i] == '\n')
			return KRX_E_MALFORMED;
		if (p[i] != '\r')
			continue;
		if (i + 2 > KRX_PROXYPROTO_V1_MAX)
			return KRX_E_TOO_BIG;
		if (i + 1 < len && p[i + 1] != '\n')
			return KRX_E_MALFORMED;
		/* The line is whole even when its LF is still to come. */
		if ((r = pp_v1_line(p + 6, i - 6, h)) != KRX_OK)
			return r;
		return i + 1 == len ? 0 : (int)(i + 2);
	}
	if (len >= KRX_PROXYPROTO_V1_MAX)
		return KRX_E_TOO_BIG;
	if (len <= sizeof(pp_v1_sig))
		return 0;
	return pp_v1_partial(p + 6, len - 6);
}

static size_t
pp_be16(const uint8_t *p)
{
	return (size_t)p[0] << 8 | p[1];
}

/*
 * The TLVs of a v2 header of end bytes, from off: each within the
 * block, at most one CRC32C, 4 bytes long and matching the header's
 * checksum with its own value taken as zero.
 */
static int
pp_v2_tlvs(const uint8_t *p, size_t off, size_t end)
{
	static const uint8_t	 zero[4];
	size_t			 vlen, crc_at = 0;
	uint32_t		 crc, want;

	while (off < end) {
		if (end - off < 3)
			return KRX_E_MALFORMED;
		vlen = pp_be16(p + off + 1);
		if (vlen > end - off - 3)
			return KRX_E_MALFORMED;
		if (p[off] == KRX_PROXYPROTO_TLV_CRC32C) {
			if (vlen != 4 || crc_at != 0)
				return KRX_E_MALFORMED;
			crc_at = off + 3;
		}
		off += 3 + vlen;
	}
	if (crc_at == 0)
		return KRX_OK;
	want = (uint32_t)p[crc_at] << 24 | (uint32_t)p[crc_at + 1] << 16 |
	    (uint32_t)p[crc_at + 2] << 8 | p[crc_at + 3];
	crc = krx_crc32c(0, p, crc_at);
	crc = krx_crc32c(crc, zero, sizeof(zero));
	crc = krx_crc32c(crc, p + crc_at + 4, end - crc_at - 4);
	return crc == want ? KRX_OK : KRX_E_MALFORMED;
}

/* The v2 address block at a of a TCP header of family fam (1 or 2). */
static void
pp_v2_addrs(const uint8_t *a, unsigned fam, struct krx_proxyproto *h)
{
	struct sockaddr_in	*s4 = (struct sockaddr_in *)&h->src;
	struct sockaddr_in	*d4 = (struct sockaddr_in *)&h->dst;
	struct sockaddr_in6	*s6 = (struct sockaddr_in6 *)&h->src;
	struct sockaddr_in6	*d6 = (struct sockaddr_in6 *)&h->dst;

	if (fam == 1) {
		h->family = KRX_PROXYPROTO_TCP4;
		s4->sin_family = d4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, a, 4);
		memcpy(&d4->sin_addr, a + 4, 4);
		memcpy(&s4->sin_port, a + 8, 2);
		memcpy(&d4->sin_port, a + 10, 2);
		return;
	}
	h->family = KRX_PROXYPROTO_TCP6;
	s6->sin6_family = d6->sin6_family = AF_INET6;
	memcpy(&s6->sin6_addr, a, 16);
	memcpy(&d6->sin6_addr, a + 16, 16);
	memcpy(&s6->sin6_port, a + 32, 2);
	memcpy(&d6->sin6_port, a + 34, 2);
}

/* Version 2: p starts with a prefix of the signature. */
static int
pp_v2(const uint8_t *p, size_t len, struct krx_proxyproto *h)
{
	static const size_t	 addrlen[4] = { 0, 12, 36, 216 };
	unsigned		 cmd, fam, proto;
	size_t			 blen, end;
	int			 r;

	if (len < KRX_PROXYPROTO_V2_HDR)
		return 0;
	if (p[12] >> 4 != 2)
		return KRX_E_VERSION;
	cmd = p[12] & 0x0f;
	fam = p[13] >> 4;
	proto = p[13] & 0x0f;
	if (cmd > 1 || fam > 3 || proto > 2)
		return KRX_E_MALFORMED;
	if ((blen = pp_be16(p + 14)) > KRX_PROXYPROTO_V2_MAX_BLOCK)
		return KRX_E_TOO_BIG;
	if (blen < addrlen[fam])
		return KRX_E_MALFORMED;
	end = KRX_PROXYPROTO_V2_HDR + blen;
	if (len < end)
		return 0;
	h->tlv_off = KRX_PROXYPROTO_V2_HDR + addrlen[fam];
	if ((r = pp_v2_tlvs(p, h->tlv_off, end)) != KRX_OK)
		return r;
	h->tlv_len = end - h->tlv_off;
	if (h->tlv_len == 0)
		h->tlv_off = 0;
	h->version = 2;
	h->command = cmd;
	if (cmd == KRX_PROXYPROTO_PROXY && proto == 1 && (fam == 1 || fam == 2))
		pp_v2_addrs(p + KRX_PROXYPROTO_V2_HDR, fam, h);
	return (int)end;
}

int
krx_proxyproto_parse(const uint8_t *p, size_t len,
    struct krx_proxyproto *out)
{
	struct krx_proxyproto	 h;
	int			 r;

	memset(out, 0, sizeof(*out));
	memset(&h, 0, sizeof(h));
	if (len == 0)
		return 0;
	if (memcmp(p, pp_v1_sig, pp_min(len, sizeof(pp_v1_sig))) == 0)
		r = pp_v1(p, len, &h);
	else if (memcmp(p, pp_v2_sig, pp_min(len, sizeof(pp_v2_sig))) == 0)
		r = pp_v2(p, len, &h);
	else
		r = KRX_E_MALFORMED;
	if (r > 0)
		*out = h;
	return r;
}

int
krx_proxyproto_tlv_find(const uint8_t *p, const struct krx_proxyproto *out,
    uint8_t type, const uint8_t **val, size_t *vlen)
{
	size_t	 off = out->tlv_off, end = out->tlv_off + out->tlv_len, n;

	*val = NULL;
	*vlen = 0;
	while (end - off >= 3) {
		n = pp_be16(p + off + 1);
		if (n > end - off - 3)
			break;
		if (p[off] == type) {
			*val = p + off + 3;
			*vlen = n;
			return KRX_OK;
		}
		off += 3 + n;
	}
	return KRX_E_NOTFOUND;
}

int
krx_proxyproto_format_addr(const struct sockaddr_storage *sa, char *buf,
    size_t size)
{
	const struct sockaddr_in	*in = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6	*in6 = (const struct sockaddr_in6 *)sa;
	char				 host[INET6_ADDRSTRLEN];
	int				 n;

	if (sa->ss_family == AF_INET) {
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		n = snprintf(buf, size, "%s:%u", host,
		    (unsigned)ntohs(in->sin_port));
	} else if (sa->ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		n = snprintf(buf, size, "[%s]:%u", host,
		    (unsigned)ntohs(in6->sin6_port));
	} else {
		if (size >= sizeof("unknown"))
			memcpy(buf, "unknown", sizeof("unknown"));
		else if (size > 0)
			buf[0] = '\0';
		return KRX_E_UNSUPPORTED;
	}
	if (n < 0 || (size_t)n >= size) {
		if (size > 0)
			buf[0] = '\0';
		return KRX_E_TOO_BIG;
	}
	return n;
}
