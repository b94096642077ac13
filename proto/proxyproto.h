/*
 * proxyproto.h: the PROXY protocol header of HAProxy (versions 1 and 2,
 * HAProxy's doc/proxy-protocol.txt) that a load balancer sends before a
 * client's first byte, so that krx sees the real client address.
 * Library grade: no globals, no allocation, no logging.
 *
 * The input is a client's first bytes, trusted for nothing: the parser
 * reads only [p, p + len), decides as early as it can, and answers the
 * same for a header however it is split over reads (a prefix of a valid
 * header always gives 0, never an error nor a shorter success).
 */
#ifndef KRX_PROTO_PROXYPROTO_H
#define KRX_PROTO_PROXYPROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Version 1: the longest line, CRLF included (the spec's worst case). */
#define KRX_PROXYPROTO_V1_MAX		107
/* Version 2: the fixed part, and krx's cap on the block that follows it
 * (the spec allows 65535; HAProxy sends far less than this). */
#define KRX_PROXYPROTO_V2_HDR		16
#define KRX_PROXYPROTO_V2_MAX_BLOCK	4096
/* Enough bytes to hold any header krx accepts. */
#define KRX_PROXYPROTO_MAX	(KRX_PROXYPROTO_V2_HDR + \
				 KRX_PROXYPROTO_V2_MAX_BLOCK)
/* "[v6addr]:65535" and a NUL, for krx_proxyproto_format_addr. */
#define KRX_PROXYPROTO_ADDRSTRLEN	(46 + 2 + 6 + 1)

/* The v2 TLV types of the spec (section 2.2). */
#define KRX_PROXYPROTO_TLV_ALPN		0x01
#define KRX_PROXYPROTO_TLV_AUTHORITY	0x02
#define KRX_PROXYPROTO_TLV_CRC32C	0x03
#define KRX_PROXYPROTO_TLV_NOOP		0x04
#define KRX_PROXYPROTO_TLV_UNIQUE_ID	0x05
#define KRX_PROXYPROTO_TLV_SSL		0x20
#define KRX_PROXYPROTO_TLV_NETNS	0x30

enum krx_proxyproto_cmd {
	KRX_PROXYPROTO_LOCAL = 0,	/* v2 only: the balancer's own
					   connection (health check) */
	KRX_PROXYPROTO_PROXY = 1	/* relayed for a client */
};

enum krx_proxyproto_family {
	KRX_PROXYPROTO_UNSPEC = 0,	/* v2: LOCAL, AF_UNSPEC, UNIX, UDP */
	KRX_PROXYPROTO_TCP4 = 1,
	KRX_PROXYPROTO_TCP6 = 2,
	KRX_PROXYPROTO_UNKNOWN = 3	/* v1 "UNKNOWN" */
};

struct krx_proxyproto {
	int				 version;	/* 1 or 2 */
	enum krx_proxyproto_cmd		 command;
	enum krx_proxyproto_family	 family;
	/* The client (src) and the address it connected to (dst), with
	 * their ports; AF_INET or AF_INET6 when family is TCP4 or TCP6,
	 * else zero (AF_UNSPEC): then use the connection's own. */
	struct sockaddr_storage		 src;
	struct sockaddr_storage		 dst;
	/* v2: where the TLVs are, as offsets from p (0, 0 if none). */
	size_t				 tlv_off;
	size_t				 tlv_len;
};

/*
 * Parse the PROXY header at the start of [p, p + len).
 * Returns the header's length in bytes (> 0: the caller drops that many,
 * what follows is the client's own data, never consumed here); 0 when
 * the bytes so far are a valid beginning of a header but not a whole
 * one (read more, under a deadline); or a negative enum krx_err:
 *   KRX_E_MALFORMED	not a PROXY header, or one that breaks the spec
 *			(addresses, ports, family, TLVs, CRC32C...)
 *   KRX_E_TOO_BIG	v1 line without CRLF in its first 107 bytes, v2
 *			block over KRX_PROXYPROTO_V2_MAX_BLOCK
 *   KRX_E_VERSION	v2 signature with a version other than 2
 * The version is told from the first bytes ("PROXY " or the v2
 * signature). A v2 PP2_TYPE_CRC32C TLV, if any, is verified. *out is
 * zeroed first and filled only on success.
 */
int	krx_proxyproto_parse(const uint8_t *p, size_t len,
	    struct krx_proxyproto *out);

/*
 * Find the first v2 TLV of type type in the header that p, out describe
 * (p as given to a successful krx_proxyproto_parse, still unchanged).
 * Returns KRX_OK with *val, *vlen pointing into p, or KRX_E_NOTFOUND.
 * Sub-TLVs of PP2_TYPE_SSL are not searched.
 */
int	krx_proxyproto_tlv_find(const uint8_t *p,
	    const struct krx_proxyproto *out, uint8_t type,
	    const uint8_t **val, size_t *vlen);

/*
 * Write sa as "1.2.3.4:5678" or "[2001:db8::1]:5678" into buf of size
 * size (KRX_PROXYPROTO_ADDRSTRLEN is enough). Returns the length written
 * (NUL excluded), KRX_E_UNSUPPORTED for a family other than AF_INET or
 * AF_INET6 (buf gets "unknown" if it fits), KRX_E_TOO_BIG when size is
 * too small (buf then holds "" if size > 0).
 */
int	krx_proxyproto_format_addr(const struct sockaddr_storage *sa,
	    char *buf, size_t size);

#endif
