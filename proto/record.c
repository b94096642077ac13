/*
 * record.c: RecordBatch v2 iterators and writers (see record.h). Library
 * grade, run in workers on Produce requests from clients and Fetch and
 * ShareFetch responses from brokers; trusts none of those bytes: every
 * length is checked against what is left, sizes and counts must agree,
 * and errors never leave a view pointing outside the input.
 */
#include <string.h>

#include "common/err.h"
#include "proto/compress.h"
#include "proto/crc32c.h"
#include "proto/record.h"

#define RB_V2_MIN_LEN	(KRX_BATCH_HDR_LEN - KRX_BATCH_LOG_OVERHEAD)

void
krx_batch_iter_init(struct krx_batch_iter *it, const uint8_t *p, size_t len)
{
	it->p = p;
	it->len = len;
	it->off = 0;
}

/* The fields after batchLength; c is at byte 12 of a complete batch. */
static void
rb_parse_v2(struct krx_cur *c, struct krx_batch *b)
{
	uint8_t	 magic;

	krx_cur_get_i32(c, &b->partition_leader_epoch);
	krx_cur_get_u8(c, &magic);
	b->magic = (int8_t)magic;
	krx_cur_get_be32(c, &b->crc);
	krx_cur_get_i16(c, &b->attributes);
	krx_cur_get_i32(c, &b->last_offset_delta);
	krx_cur_get_i64(c, &b->base_timestamp);
	krx_cur_get_i64(c, &b->max_timestamp);
	krx_cur_get_i64(c, &b->producer_id);
	krx_cur_get_i16(c, &b->producer_epoch);
	krx_cur_get_i32(c, &b->base_sequence);
	krx_cur_get_i32(c, &b->records_count);
	b->records = b->data + KRX_BATCH_HDR_LEN;
	b->records_len = b->len - KRX_BATCH_HDR_LEN;
}

int
krx_batch_next(struct krx_batch_iter *it, struct krx_batch *b)
{
	struct krx_cur	 c;
	size_t		 left = it->len - it->off, total;
	uint8_t		 magic = 0;

	memset(b, 0, sizeof(*b));
	if (left == 0)
		return KRX_BATCH_END;
	b->pos = it->off;
	b->data = it->p + it->off;
	b->len = left;
	if (left < KRX_BATCH_LOG_OVERHEAD) {
		it->off = it->len;
		return KRX_BATCH_TAIL;
	}
	krx_cur_init(&c, b->data, left);
	krx_cur_get_i64(&c, &b->base_offset);
	krx_cur_get_i32(&c, &b->batch_length);
	if (b->batch_length < KRX_BATCH_LEGACY_MIN)
		return KRX_E_MALFORMED;
	if (left > KRX_BATCH_MAGIC_OFF) {
		magic = b->data[KRX_BATCH_MAGIC_OFF];
		b->magic = (int8_t)magic;
		if (magic > 2)
			return KRX_E_UNSUPPORTED;
		if (magic == 2 && b->batch_length < RB_V2_MIN_LEN)
			return KRX_E_MALFORMED;
	}
	total = KRX_BATCH_LOG_OVERHEAD + (size_t)b->batch_length;
	if (left < total) {
		it->off = it->len;
		return KRX_BATCH_TAIL;
	}
	b->len = total;
	b->legacy = magic < 2;
	if (!b->legacy)
		rb_parse_v2(&c, b);
	it->off += total;
	return KRX_BATCH_OK;
}

int
krx_batch_verify_crc(const struct krx_batch *b)
{
	uint32_t	 crc;

	if (b->legacy || b->records == NULL)
		return KRX_E_UNSUPPORTED;
	crc = krx_crc32c(0, b->data + KRX_BATCH_ATTR_OFF,
	    b->len - KRX_BATCH_ATTR_OFF);
	return crc == b->crc ? KRX_OK : KRX_E_MALFORMED;
}

int
krx_batch_records(const struct krx_batch *b, struct krx_zctx *z,
    struct krx_buf *scratch, size_t max_len, const uint8_t **p, size_t *len)
{
	int	 codec = b->attributes & KRX_BATCH_ATTR_CODEC, r;
	size_t	 start;

	*p = NULL;
	*len = 0;
	if (b->legacy || b->records == NULL)
		return KRX_E_UNSUPPORTED;
	if (codec == KRX_CODEC_NONE) {
		*p = b->records;
		*len = b->records_len;
		return KRX_OK;
	}
	start = scratch->len;
	r = krx_decompress(z, codec, b->records, b->records_len, max_len,
	    scratch);
	if (r != KRX_OK)
		return r;
	if (scratch->data != NULL)
		*p = scratch->data + start;
	*len = scratch->len - start;
	return KRX_OK;
}

/* Length-prefixed bytes of a record: varint length, -1 for null. */
static int
rb_get_bytes(struct krx_cur *c, const uint8_t **p, int32_t *len)
{
	if (krx_cur_get_varint(c, len) != KRX_OK || *len < -1)
		return KRX_E_MALFORMED;
	*p = NULL;
	if (*len == -1)
		return KRX_OK;
	if (krx_cur_get_ref(c, (size_t)*len, p) != KRX_OK)
		return KRX_E_MALFORMED;
	return KRX_OK;
}

static int
rb_get_header(struct krx_cur *c, struct krx_header *h)
{
	if (rb_get_bytes(c, &h->key, &h->key_len) != KRX_OK ||
	    h->key_len < 0 ||
	    rb_get_bytes(c, &h->value, &h->value_len) != KRX_OK)
		return KRX_E_MALFORMED;
	return KRX_OK;
}

/* A record's fields, which must fill body exactly. */
static int
rb_parse_record(struct krx_cur *body, struct krx_record *r)
{
	struct krx_header	 h;
	uint8_t			 attr;
	int32_t			 i;
	size_t			 hstart;

	if (krx_cur_get_u8(body, &attr) != KRX_OK ||
	    krx_cur_get_varlong(body, &r->timestamp_delta) != KRX_OK ||
	    krx_cur_get_varint(body, &r->offset_delta) != KRX_OK ||
	    rb_get_bytes(body, &r->key, &r->key_len) != KRX_OK ||
	    rb_get_bytes(body, &r->value, &r->value_len) != KRX_OK ||
	    krx_cur_get_varint(body, &r->header_count) != KRX_OK ||
	    r->header_count < 0)
		return KRX_E_MALFORMED;
	r->attributes = (int8_t)attr;
	hstart = body->off;
	for (i = 0; i < r->header_count; i++)
		if (rb_get_header(body, &h) != KRX_OK)
			return KRX_E_MALFORMED;
	r->headers = body->p + hstart;
	r->headers_len = body->off - hstart;
	return krx_cur_end(body) == KRX_OK ? KRX_OK : KRX_E_MALFORMED;
}

void
krx_record_iter_init(struct krx_record_iter *it, const uint8_t *p,
    size_t len, int32_t count)
{
	krx_cur_init(&it->cur, p, len);
	it->left = count;
}

int
krx_record_next(struct krx_record_iter *it, struct krx_record *r)
{
	struct krx_cur	 c = it->cur, body;
	const uint8_t	*bp;
	int32_t		 len;

	memset(r, 0, sizeof(*r));
	if (it->left < 0)
		return KRX_E_MALFORMED;
	if (it->left == 0)
		return krx_cur_end(&c) == KRX_OK ? 0 : KRX_E_MALFORMED;
	if (krx_cur_get_varint(&c, &len) != KRX_OK || len < 0 ||
	    krx_cur_get_ref(&c, (size_t)len, &bp) != KRX_OK)
		return KRX_E_MALFORMED;
	krx_cur_init(&body, bp, (size_t)len);
	if (rb_parse_record(&body, r) != KRX_OK) {
		memset(r, 0, sizeof(*r));
		return KRX_E_MALFORMED;
	}
	r->raw = it->cur.p + it->cur.off;
	r->raw_len = c.off - it->cur.off;
	it->cur = c;
	it->left--;
	return 1;
}

void
krx_header_iter_init(struct krx_header_iter *it, const struct krx_record *r)
{
	krx_cur_init(&it->cur, r->headers, r->headers_len);
	it->left = r->header_count;
}

int
krx_header_next(struct krx_header_iter *it, struct krx_header *h)
{
	struct krx_cur	 c = it->cur;

	memset(h, 0, sizeof(*h));
	if (it->left <= 0)
		return krx_cur_end(&c) == KRX_OK && it->left == 0 ? 0 :
		    KRX_E_MALFORMED;
	if (rb_get_header(&c, h) != KRX_OK) {
		memset(h, 0, sizeof(*h));
		return KRX_E_MALFORMED;
	}
	it->cur = c;
	it->left--;
	return 1;
}

void
krx_header_iter_rest(const struct krx_header_iter *it, const uint8_t **p,
    size_t *len, int32_t *count)
{
	*p = it->cur.p != NULL ? it->cur.p + it->cur.off : NULL;
	*len = krx_cur_left(&it->cur);
	*count = it->left;
}

/* Encoded size of length-prefixed bytes; 0 for a length below -1. */
static size_t
rb_bytes_size(int32_t len)
{
	if (len < -1)
		return 0;
	return krx_varint_len(len) + (len > 0 ? (size_t)len : 0);
}

/* The record without its length prefix, 0 if it cannot be encoded. */
static size_t
rb_body_size(const struct krx_record *r, const struct krx_header *extra)
{
	size_t	 n, k, v;
	int64_t	 count = (int64_t)r->header_count + (extra != NULL);

	if ((k = rb_bytes_size(r->key_len)) == 0 ||
	    (v = rb_bytes_size(r->value_len)) == 0 ||
	    r->header_count < 0 || count > INT32_MAX ||
	    r->headers_len > INT32_MAX)
		return 0;
	n = 1 + krx_varint_len(r->timestamp_delta) +
	    krx_varint_len(r->offset_delta) + k + v +
	    krx_varint_len(count) + r->headers_len;
	if (extra != NULL) {
		if (extra->key_len < 0 ||
		    (v = rb_bytes_size(extra->value_len)) == 0)
			return 0;
		n += rb_bytes_size(extra->key_len) + v;
	}
	return n > INT32_MAX ? 0 : n;
}

size_t
krx_record_size(const struct krx_record *r, const struct krx_header *extra)
{
	size_t	 n;

	if ((n = rb_body_size(r, extra)) == 0)
		return 0;
	return krx_varint_len((int64_t)n) + n;
}

/* Length-prefixed bytes; room is reserved, so this cannot fail. */
static uint8_t *
rb_put_bytes(struct krx_buf *out, const uint8_t *p, int32_t len)
{
	uint8_t	*d;

	krx_buf_put_varint(out, len);
	if (len < 0)
		return NULL;
	d = out->data + out->len;
	out->len += (size_t)len;
	if (p != NULL && len > 0)
		memcpy(d, p, (size_t)len);
	return d;
}

int
krx_record_write(struct krx_buf *out, const struct krx_record *r,
    const struct krx_header *extra, uint8_t **value_slot)
{
	size_t	 body, total;
	uint8_t	*slot;

	if (value_slot != NULL)
		*value_slot = NULL;
	if (out->err != KRX_OK)
		return out->err;
	if ((body = rb_body_size(r, extra)) == 0)
		return KRX_E_RANGE;
	total = krx_varint_len((int64_t)body) + body;
	if (krx_buf_reserve(out, total) != KRX_OK)
		return out->err;
	krx_buf_put_varint(out, (int64_t)body);
	krx_buf_put_u8(out, (uint8_t)r->attributes);
	krx_buf_put_varint(out, r->timestamp_delta);
	krx_buf_put_varint(out, r->offset_delta);
	rb_put_bytes(out, r->key, r->key_len);
	slot = rb_put_bytes(out, r->value, r->value_len);
	krx_buf_put_varint(out, (int64_t)r->header_count + (extra != NULL));
	if (extra != NULL) {
		rb_put_bytes(out, extra->key, extra->key_len);
		rb_put_bytes(out, extra->value, extra->value_len);
	}
	krx_buf_put(out, r->headers, r->headers_len);
	if (value_slot != NULL)
		*value_slot = slot;
	return out->err;
}

int
krx_batch_write_header(struct krx_batch_writer *w, struct krx_buf *out,
    const struct krx_batch *b, int codec)
{
	uint8_t		*h;
	uint16_t	 attr;

	memset(w, 0, sizeof(*w));
	if (out->err != KRX_OK)
		return out->err;
	if (b->legacy || b->records == NULL)
		return KRX_E_UNSUPPORTED;
	attr = (uint16_t)b->attributes;
	if (codec == KRX_BATCH_CODEC_KEEP)
		codec = attr & KRX_BATCH_ATTR_CODEC;
	else if (codec >= 0)
		attr = (uint16_t)((attr & ~KRX_BATCH_ATTR_CODEC) | codec);
	if (codec < 0 || codec > KRX_CODEC_MAX)
		return KRX_E_UNSUPPORTED;
	w->start = out->len;
	if ((h = krx_buf_extend(out, KRX_BATCH_HDR_LEN)) == NULL)
		return out->err;
	memcpy(h, b->data, KRX_BATCH_HDR_LEN);
	h[KRX_BATCH_ATTR_OFF] = (uint8_t)(attr >> 8);
	h[KRX_BATCH_ATTR_OFF + 1] = (uint8_t)attr;
	w->records = out->len;
	w->codec = codec;
	return KRX_OK;
}

/* Replace out's records area by its compression (through scratch). */
static int
rb_compress_area(struct krx_batch_writer *w, struct krx_zctx *z,
    struct krx_buf *out, struct krx_buf *scratch)
{
	size_t	 s0;
	int	 r;

	if (scratch == NULL || scratch == out)
		return KRX_E_RANGE;
	if (scratch->err != KRX_OK)
		return scratch->err;
	s0 = scratch->len;
	r = krx_compress(z, w->codec, out->data + w->records,
	    out->len - w->records, scratch);
	if (r != KRX_OK)
		return r;
	out->len = w->records;
	krx_buf_put(out, scratch->data + s0, scratch->len - s0);
	scratch->len = s0;
	return out->err;
}

int
krx_batch_write_finish(struct krx_batch_writer *w, struct krx_zctx *z,
    struct krx_buf *out, struct krx_buf *scratch)
{
	size_t	 total;
	int	 r;

	if (out->err != KRX_OK)
		return out->err;
	if (w->codec != KRX_CODEC_NONE &&
	    (r = rb_compress_area(w, z, out, scratch)) != KRX_OK)
		goto fail;
	total = out->len - w->start;
	if (total - KRX_BATCH_LOG_OVERHEAD > INT32_MAX) {
		r = KRX_E_TOO_BIG;
		goto fail;
	}
	krx_buf_set_be32(out, w->start + 8,
	    (uint32_t)(total - KRX_BATCH_LOG_OVERHEAD));
	krx_buf_set_be32(out, w->start + KRX_BATCH_CRC_OFF,
	    krx_crc32c(0, out->data + w->start + KRX_BATCH_ATTR_OFF,
	    total - KRX_BATCH_ATTR_OFF));
	return KRX_OK;
fail:
	if (out->err == KRX_OK)
		out->len = w->start;
	return r;
}
