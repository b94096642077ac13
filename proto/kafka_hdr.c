/*
 * kafka_hdr.c: Kafka request and response headers, the acks field of a
 * Produce request, and the Metadata request krx sends on its own.
 * Library grade: runs in workers on bytes from clients and brokers,
 * trusts none of them.
 */
#include <string.h>

#include "common/err.h"
#include "proto/kafka.h"
#include "proto/kafka_prim.h"

int
krx_kafka_req_hdr_parse(const uint8_t *p, size_t len,
    struct krx_kafka_req_hdr *h)
{
	struct krx_cur	 c;
	const uint8_t	*id;
	int32_t		 id_len;
	int		 r;

	memset(h, 0, sizeof(*h));
	krx_cur_init(&c, p, len);
	if (krx_cur_get_i16(&c, &h->api_key) != KRX_OK ||
	    krx_cur_get_i16(&c, &h->api_version) != KRX_OK ||
	    krx_cur_get_i32(&c, &h->correlation_id) != KRX_OK)
		return KRX_E_TRUNCATED;
	if (!krx_kafka_api_known(h->api_key))
		return KRX_E_UNSUPPORTED;
	if (h->api_version < 0)
		return KRX_E_MALFORMED;
	/* client_id keeps its int16 length even in header v2. */
	if ((r = krx_kp_get_str(&c, false, true, &id, &id_len)) != KRX_OK)
		return r;
	if (krx_kafka_req_hdr_flexible(h->api_key, h->api_version) &&
	    (r = krx_kp_skip_tags(&c)) != KRX_OK)
		return r;
	h->client_id = id;
	h->client_id_len = (int16_t)id_len;
	h->len = c.off;
	return KRX_OK;
}

int
krx_kafka_resp_hdr_len(const uint8_t *p, size_t len, int16_t api_key,
    int16_t version, size_t *hdr_len)
{
	struct krx_cur	 c;
	int		 r;

	*hdr_len = 0;
	if (!krx_kafka_api_known(api_key))
		return KRX_E_UNSUPPORTED;
	krx_cur_init(&c, p, len);
	if ((r = krx_cur_skip(&c, 4)) != KRX_OK)
		return r;
	if (krx_kafka_resp_hdr_flexible(api_key, version) &&
	    (r = krx_kp_skip_tags(&c)) != KRX_OK)
		return r;
	*hdr_len = c.off;
	return KRX_OK;
}

int
krx_kafka_produce_acks(const uint8_t *body, size_t len, int16_t version,
    int16_t *acks)
{
	struct krx_cur	 c;
	bool		 flex;
	int		 r;

	*acks = 0;
	if (version < 0 || version > 13)
		return KRX_E_UNSUPPORTED;
	flex = version >= krx_kafka_api_first_flexible(KRX_API_PRODUCE);
	krx_cur_init(&c, body, len);
	/* transactional_id (v3+): skip N bytes of a compact N+1 length. */
	if (version >= 3 && (r = krx_kp_skip_str(&c, flex, true)) != KRX_OK)
		return r;
	return krx_cur_get_i16(&c, acks);
}

/* Metadata request body for no topic: brokers and cluster data only. */
static void
hdr_metadata_body(struct krx_buf *b, int16_t version)
{
	bool	 flex = version >= 9;

	/* Topics: empty, not null (null asks for every topic). */
	krx_kp_put_array_len(b, flex, 0);
	if (version >= 4)
		krx_buf_put_u8(b, 0);	/* AllowAutoTopicCreation */
	if (version >= 8 && version <= 10)
		krx_buf_put_u8(b, 0);	/* IncludeClusterAuthorizedOps */
	if (version >= 8)
		krx_buf_put_u8(b, 0);	/* IncludeTopicAuthorizedOps */
	if (flex)
		krx_buf_put_uvarint(b, 0);
}

int
krx_kafka_metadata_request(struct krx_buf *out, int16_t version,
    int32_t correlation_id, const char *client_id)
{
	size_t	 start = out->len, id_len = 0;

	/* v0 cannot ask for no topic: an empty list means all of them. */
	if (version < 1 || version > 13)
		return KRX_E_UNSUPPORTED;
	if (client_id != NULL && (id_len = strlen(client_id)) > KRX_KP_STR_MAX)
		return KRX_E_RANGE;
	krx_buf_put_be32(out, 0);
	krx_buf_put_be16(out, KRX_API_METADATA);
	krx_buf_put_be16(out, (uint16_t)version);
	krx_buf_put_be32(out, (uint32_t)correlation_id);
	krx_kp_put_str(out, false, client_id,
	    client_id == NULL ? -1 : (int32_t)id_len);
	if (krx_kafka_req_hdr_flexible(KRX_API_METADATA, version))
		krx_buf_put_uvarint(out, 0);
	hdr_metadata_body(out, version);
	return krx_kafka_frame_finish(out, start);
}

int
krx_kafka_frame_finish(struct krx_buf *out, size_t start)
{
	if (out->err != KRX_OK) {
		if (out->len > start)
			out->len = start;
		return out->err;
	}
	krx_buf_set_be32(out, start, (uint32_t)(out->len - start - 4));
	return KRX_OK;
}
