/*
 * kafka_scan.h: the three requests krx-ctl scan sends to the brokers on
 * its own (worker/scan*.c), and the two responses it reads beyond
 * Fetch (kafka_msg.h parses that): Metadata v4 for one topic (brokers,
 * partition leaders), ListOffsets v2 (earliest, latest) and Fetch v11
 * (zstd needs v10+). Requests are whole frames: size prefix, header v1,
 * client id "krx-scan". Library grade: no logging, no globals; parsers
 * trust none of their input and end exactly at the body's end.
 */
#ifndef KRX_PROTO_KAFKA_SCAN_H
#define KRX_PROTO_KAFKA_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define KRX_SCAN_METADATA_VERSION	4
#define KRX_SCAN_LISTOFFSETS_VERSION	2
#define KRX_SCAN_FETCH_VERSION		11
#define KRX_API_LIST_OFFSETS		2
#define KRX_SCAN_TS_EARLIEST		(-2)
#define KRX_SCAN_TS_LATEST		(-1)
/* What a scan keeps of a Metadata response, at most. */
#define KRX_SCAN_MAX_BROKERS		1024
#define KRX_SCAN_MAX_PARTITIONS		20000

struct krx_scan_broker {
	int32_t		 node;
	char		 host[256];	/* NUL-terminated */
	int32_t		 port;
};

struct krx_scan_mdpart {
	int32_t		 index;
	int32_t		 leader;
	int16_t		 error;
};

/* The topic's brokers and partitions; arrays owned, see _md_free. */
struct krx_scan_md {
	struct krx_scan_broker	*brokers;
	size_t			 nbrokers;
	int16_t			 topic_error;	/* 3: unknown topic */
	struct krx_scan_mdpart	*parts;
	size_t			 nparts;
};

/* Metadata v4 request for topic, no auto-creation. */
int	krx_scan_metadata_req(struct krx_buf *out, int32_t corr,
	    const char *topic);
/*
 * Parse a Metadata v4 response body: its brokers and the partitions of
 * topic (topic_error 3 when the response does not list it). KRX_OK,
 * KRX_E_TOO_BIG (over the caps above), parse errors; md empty on error.
 */
int	krx_scan_metadata_parse(const uint8_t *body, size_t len,
	    const char *topic, struct krx_scan_md *md);
void	krx_scan_md_free(struct krx_scan_md *md);

/* ListOffsets v2 (read uncommitted) for one partition at ts. */
int	krx_scan_listoffsets_req(struct krx_buf *out, int32_t corr,
	    const char *topic, int32_t part, int64_t ts);
/* Its response: the partition's error code and offset. */
int	krx_scan_listoffsets_parse(const uint8_t *body, size_t len,
	    int32_t part, int16_t *err, int64_t *offset);

/* Fetch v11, no session, read uncommitted, wait 0: one partition. */
int	krx_scan_fetch_req(struct krx_buf *out, int32_t corr,
	    const char *topic, int32_t part, int64_t offset,
	    int32_t max_bytes);

#endif
