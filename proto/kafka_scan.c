/*
 * kafka_scan.c: the requests krx-ctl scan sends to the brokers itself
 * (Metadata v4, ListOffsets v2, Fetch v11) and the Metadata and
 * ListOffsets responses it reads. See kafka_scan.h. Non-flexible
 * versions only: classic lengths, no tag sections.
 */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "proto/kafka.h"
#include "proto/kafka_prim.h"
#include "proto/kafka_scan.h"

/* Size prefix and request header v1; returns where the frame starts. */
static size_t
ks_head(struct krx_buf *out, int16_t api, int16_t version, int32_t corr)
{
	size_t	 start = out->len;

	krx_buf_put_be32(out, 0);
	krx_buf_put_be16(out, (uint16_t)api);
	krx_buf_put_be16(out, (uint16_t)version);
	krx_buf_put_be32(out, (uint32_t)corr);
	krx_kp_put_str(out, false, "krx-scan", 8);
	return start;
}

static int
ks_topic_ok(const char *topic)
{
	size_t	 n = topic != NULL ? strlen(topic) : 0;

	return n > 0 && n <= 249;
}

int
krx_scan_metadata_req(struct krx_buf *out, int32_t corr, const char *topic)
{
	size_t	 start;

	if (!ks_topic_ok(topic))
		return KRX_E_RANGE;
	start = ks_head(out, KRX_API_METADATA, KRX_SCAN_METADATA_VERSION, corr);
	krx_kp_put_array_len(out, false, 1);
	krx_kp_put_str(out, false, topic, (int32_t)strlen(topic));
	krx_buf_put_u8(out, 0);		/* allow_auto_topic_creation */
	return krx_kafka_frame_finish(out, start);
}

void
krx_scan_md_free(struct krx_scan_md *md)
{
	if (md == NULL)
		return;
	free(md->brokers);
	free(md->parts);
	memset(md, 0, sizeof(*md));
}

static int
ks_brokers(struct krx_cur *c, struct krx_scan_md *md)
{
	const uint8_t	*host;
	int32_t		 n, i, hlen, node, port;
	int		 r;

	if ((r = krx_kp_get_array(c, false, false, 12, &n)) != KRX_OK)
		return r;
	if (n > KRX_SCAN_MAX_BROKERS)
		return KRX_E_TOO_BIG;
	if (n > 0 && (md->brokers = calloc((size_t)n,
	    sizeof(*md->brokers))) == NULL)
		return KRX_E_NOMEM;
	for (i = 0; i < n; i++) {
		if ((r = krx_cur_get_i32(c, &node)) != KRX_OK ||
		    (r = krx_kp_get_str(c, false, false, &host, &hlen)) !=
		    KRX_OK || (r = krx_cur_get_i32(c, &port)) != KRX_OK ||
		    (r = krx_kp_skip_str(c, false, true)) != KRX_OK)
			return r;
		if (!krx_kafka_endpoint_valid((const char *)host,
		    (size_t)hlen, port))
			return KRX_E_MALFORMED;
		md->brokers[i].node = node;
		memcpy(md->brokers[i].host, host, (size_t)hlen);
		md->brokers[i].port = port;
	}
	md->nbrokers = (size_t)n;
	return KRX_OK;
}

/* One topic's partitions; kept when keep. */
static int
ks_parts(struct krx_cur *c, struct krx_scan_md *md, int keep)
{
	int32_t	 n, i, idx, leader;
	int16_t	 err;
	int	 r;

	if ((r = krx_kp_get_array(c, false, false, 18, &n)) != KRX_OK)
		return r;
	if (n > KRX_SCAN_MAX_PARTITIONS)
		return KRX_E_TOO_BIG;
	if (keep && n > 0 && (md->parts = calloc((size_t)n,
	    sizeof(*md->parts))) == NULL)
		return KRX_E_NOMEM;
	for (i = 0; i < n; i++) {
		if ((r = krx_cur_get_i16(c, &err)) != KRX_OK ||
		    (r = krx_cur_get_i32(c, &idx)) != KRX_OK ||
		    (r = krx_cur_get_i32(c, &leader)) != KRX_OK ||
		    (r = krx_kp_skip_fixed_array(c, false, false, 4)) !=
		    KRX_OK ||
		    (r = krx_kp_skip_fixed_array(c, false, false, 4)) != KRX_OK)
			return r;
		if (!keep)
			continue;
		md->parts[i].index = idx;
		md->parts[i].leader = leader;
		md->parts[i].error = err;
	}
	if (keep)
		md->nparts = (size_t)n;
	return KRX_OK;
}

static int
ks_topics(struct krx_cur *c, const char *topic, struct krx_scan_md *md)
{
	const uint8_t	*name;
	int32_t		 n, i, nlen;
	int16_t		 err;
	int		 r, keep, found = 0;
	uint8_t		 internal;

	if ((r = krx_kp_get_array(c, false, false, 9, &n)) != KRX_OK)
		return r;
	for (i = 0; i < n; i++) {
		if ((r = krx_cur_get_i16(c, &err)) != KRX_OK ||
		    (r = krx_kp_get_str(c, false, false, &name, &nlen)) !=
		    KRX_OK || (r = krx_cur_get_u8(c, &internal)) != KRX_OK)
			return r;
		keep = !found && (size_t)nlen == strlen(topic) &&
		    memcmp(name, topic, (size_t)nlen) == 0;
		if ((r = ks_parts(c, md, keep)) != KRX_OK)
			return r;
		if (keep) {
			found = 1;
			md->topic_error = err;
		}
	}
	if (!found)
		md->topic_error = 3;	/* UNKNOWN_TOPIC_OR_PARTITION */
	return KRX_OK;
}

int
krx_scan_metadata_parse(const uint8_t *body, size_t len, const char *topic,
    struct krx_scan_md *md)
{
	struct krx_cur	 c;
	int32_t		 v;
	int		 r;

	memset(md, 0, sizeof(*md));
	krx_cur_init(&c, body, len);
	if ((r = krx_cur_get_i32(&c, &v)) != KRX_OK ||	/* throttle */
	    (r = ks_brokers(&c, md)) != KRX_OK ||
	    (r = krx_kp_skip_str(&c, false, true)) != KRX_OK ||
	    (r = krx_cur_get_i32(&c, &v)) != KRX_OK ||	/* controller */
	    (r = ks_topics(&c, topic, md)) != KRX_OK ||
	    (r = krx_cur_end(&c)) != KRX_OK) {
		krx_scan_md_free(md);
		return r;
	}
	return KRX_OK;
}

int
krx_scan_listoffsets_req(struct krx_buf *out, int32_t corr,
    const char *topic, int32_t part, int64_t ts)
{
	size_t	 start;

	if (!ks_topic_ok(topic))
		return KRX_E_RANGE;
	start = ks_head(out, KRX_API_LIST_OFFSETS,
	    KRX_SCAN_LISTOFFSETS_VERSION, corr);
	krx_buf_put_be32(out, (uint32_t)-1);	/* replica_id */
	krx_buf_put_u8(out, 0);			/* read uncommitted */
	krx_kp_put_array_len(out, false, 1);
	krx_kp_put_str(out, false, topic, (int32_t)strlen(topic));
	krx_kp_put_array_len(out, false, 1);
	krx_buf_put_be32(out, (uint32_t)part);
	krx_buf_put_be64(out, (uint64_t)ts);
	return krx_kafka_frame_finish(out, start);
}

int
krx_scan_listoffsets_parse(const uint8_t *body, size_t len, int32_t part,
    int16_t *err, int64_t *offset)
{
	struct krx_cur	 c;
	int32_t		 nt, np, i, j, idx, throttle;
	int64_t		 ts, off;
	int16_t		 e;
	int		 r, found = 0;

	krx_cur_init(&c, body, len);
	if ((r = krx_cur_get_i32(&c, &throttle)) != KRX_OK ||
	    (r = krx_kp_get_array(&c, false, false, 6, &nt)) != KRX_OK)
		return r;
	for (i = 0; i < nt; i++) {
		if ((r = krx_kp_skip_str(&c, false, false)) != KRX_OK ||
		    (r = krx_kp_get_array(&c, false, false, 22, &np)) != KRX_OK)
			return r;
		for (j = 0; j < np; j++) {
			if ((r = krx_cur_get_i32(&c, &idx)) != KRX_OK ||
			    (r = krx_cur_get_i16(&c, &e)) != KRX_OK ||
			    (r = krx_cur_get_i64(&c, &ts)) != KRX_OK ||
			    (r = krx_cur_get_i64(&c, &off)) != KRX_OK)
				return r;
			if (idx == part && !found) {
				found = 1;
				*err = e;
				*offset = off;
			}
		}
	}
	if ((r = krx_cur_end(&c)) != KRX_OK)
		return r;
	return found ? KRX_OK : KRX_E_NOTFOUND;
}

int
krx_scan_fetch_req(struct krx_buf *out, int32_t corr, const char *topic,
    int32_t part, int64_t offset, int32_t max_bytes)
{
	size_t	 start;

	if (!ks_topic_ok(topic) || max_bytes <= 0 || offset < 0)
		return KRX_E_RANGE;
	start = ks_head(out, KRX_API_FETCH, KRX_SCAN_FETCH_VERSION, corr);
	krx_buf_put_be32(out, (uint32_t)-1);	/* replica_id */
	krx_buf_put_be32(out, 0);		/* max_wait_ms */
	krx_buf_put_be32(out, 0);		/* min_bytes */
	krx_buf_put_be32(out, (uint32_t)max_bytes);
	krx_buf_put_u8(out, 0);			/* read uncommitted */
	krx_buf_put_be32(out, 0);		/* session_id */
	krx_buf_put_be32(out, (uint32_t)-1);	/* session_epoch: none */
	krx_kp_put_array_len(out, false, 1);
	krx_kp_put_str(out, false, topic, (int32_t)strlen(topic));
	krx_kp_put_array_len(out, false, 1);
	krx_buf_put_be32(out, (uint32_t)part);
	krx_buf_put_be32(out, (uint32_t)-1);	/* current_leader_epoch */
	krx_buf_put_be64(out, (uint64_t)offset);
	krx_buf_put_be64(out, (uint64_t)-1);	/* log_start_offset */
	krx_buf_put_be32(out, (uint32_t)max_bytes);
	krx_kp_put_array_len(out, false, 0);	/* forgotten topics */
	krx_kp_put_str(out, false, "", 0);	/* rack_id */
	return krx_kafka_frame_finish(out, start);
}
