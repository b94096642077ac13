/*
 * record.h: Kafka RecordBatch v2 (magic 2), the unit of Produce and Fetch
 * "records" fields: batch and record iterators that return views into
 * the input (zero copy, no allocation), CRC-32C checking, decompression
 * into a caller's scratch buffer, and writers that rebuild a batch with
 * new record values while keeping every other header field verbatim.
 * Library grade: no globals, no logging; errors are negative enum krx_err.
 *
 * Layout (big-endian): baseOffset int64, batchLength int32 (bytes after
 * it), partitionLeaderEpoch int32, magic int8, crc uint32 (CRC-32C of
 * byte 21 to the end), attributes int16, lastOffsetDelta int32,
 * baseTimestamp int64, maxTimestamp int64, producerId int64,
 * producerEpoch int16, baseSequence int32, recordsCount int32, then the
 * records area (one compressed stream when the codec bits are not 0).
 *
 * A typical rewrite (Fetch decryption, Produce encryption):
 *
 *	krx_batch_iter_init(&bi, records, len);
 *	while ((r = krx_batch_next(&bi, &b)) == KRX_BATCH_OK) {
 *		if (b.legacy || (b.attributes & KRX_BATCH_ATTR_CONTROL))
 *			copy b.data, b.len;
 *		krx_batch_verify_crc(&b);
 *		krx_batch_records(&b, z, &scratch, cap, &p, &n);
 *		krx_batch_write_header(&w, out, &b, KRX_CODEC_NONE);
 *		krx_record_iter_init(&ri, p, n, b.records_count);
 *		while (krx_record_next(&ri, &rec) == 1)
 *			krx_record_write(out, &rec', &marker, &slot);
 *		krx_batch_write_finish(&w, z, out, &scratch2);
 *	}
 *	if (r == KRX_BATCH_TAIL) copy b.data, b.len (or drop it);
 */
#ifndef KRX_PROTO_RECORD_H
#define KRX_PROTO_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define KRX_BATCH_LOG_OVERHEAD	12	/* baseOffset + batchLength */
#define KRX_BATCH_HDR_LEN	61	/* header up to the records area */
#define KRX_BATCH_MAGIC_OFF	16
#define KRX_BATCH_CRC_OFF	17
#define KRX_BATCH_ATTR_OFF	21	/* also where the CRC starts */
#define KRX_BATCH_LEGACY_MIN	14	/* smallest magic 0 message size */
/*
 * Smallest v2 record: length, attributes, timestamp delta, offset delta,
 * key length, value length and header count, one byte each.
 */
#define KRX_RECORD_MIN_LEN	7

/* attributes */
#define KRX_BATCH_ATTR_CODEC		0x0007	/* enum krx_codec */
#define KRX_BATCH_ATTR_LOG_APPEND_TIME	0x0008
#define KRX_BATCH_ATTR_TRANSACTIONAL	0x0010
#define KRX_BATCH_ATTR_CONTROL		0x0020
#define KRX_BATCH_ATTR_DELETE_HORIZON	0x0040

/*
 * One batch, as a view into the records field it came from. For a
 * legacy batch (magic 0 or 1: a message set entry, offset(8) size(4)
 * then the message) only base_offset, batch_length, magic, legacy, pos,
 * data and len are set.
 */
struct krx_batch {
	int64_t		 base_offset;
	int32_t		 batch_length;
	int32_t		 partition_leader_epoch;
	int8_t		 magic;
	uint32_t	 crc;
	int16_t		 attributes;
	int32_t		 last_offset_delta;
	int64_t		 base_timestamp;
	int64_t		 max_timestamp;
	int64_t		 producer_id;
	int16_t		 producer_epoch;
	int32_t		 base_sequence;
	int32_t		 records_count;
	bool		 legacy;	/* magic 0/1: pass through as is */
	size_t		 pos;		/* offset in the records field */
	const uint8_t	*data;		/* the whole batch */
	size_t		 len;		/* 12 + batch_length */
	const uint8_t	*records;	/* records area, maybe compressed */
	size_t		 records_len;
};

/* What krx_batch_next found. */
enum krx_batch_step {
	KRX_BATCH_END = 0,	/* nothing left */
	KRX_BATCH_OK = 1,	/* *b is a complete batch */
	KRX_BATCH_TAIL = 2	/* the rest is an incomplete batch */
};

struct krx_batch_iter {
	const uint8_t	*p;
	size_t		 len;
	size_t		 off;
};

void	krx_batch_iter_init(struct krx_batch_iter *it, const uint8_t *p,
	    size_t len);

/*
 * The next batch of the records field. Returns KRX_BATCH_OK with *b
 * filled; KRX_BATCH_TAIL when the bytes left are the start of a batch
 * that does not fit (a Fetch response may end so): b->pos, b->data and
 * b->len cover those bytes, and the header fields that are present are
 * set; KRX_BATCH_END when no byte is left (also after a tail). Errors,
 * after which the iterator stays where it was: KRX_E_MALFORMED (a size
 * below the format's minimum) and KRX_E_UNSUPPORTED (magic above 2),
 * detected as soon as the bytes holding them are present, tail or not.
 */
int	krx_batch_next(struct krx_batch_iter *it, struct krx_batch *b);

/*
 * Check the batch's CRC-32C. KRX_OK, KRX_E_MALFORMED on a mismatch,
 * KRX_E_UNSUPPORTED for a legacy batch or a tail.
 */
int	krx_batch_verify_crc(const struct krx_batch *b);

/*
 * The uncompressed records area of b in *p, *len. Codec 0: the area
 * itself (a view into the batch, max_len does not apply). Otherwise it is
 * decompressed and appended to scratch, at most max_len bytes
 * (KRX_E_TOO_BIG beyond), and *p points into scratch: valid until scratch
 * next grows or is freed. z: the caller's zstd contexts, or NULL (see
 * compress.h). Errors of krx_decompress, KRX_E_UNSUPPORTED for codecs 5-7
 * and legacy batches.
 */
struct krx_zctx;
int	krx_batch_records(const struct krx_batch *b, struct krx_zctx *z,
	    struct krx_buf *scratch, size_t max_len, const uint8_t **p,
	    size_t *len);

/*
 * One record, as a view into its records area. A length of -1 means null
 * (key, value); headers/headers_len is the raw area holding header_count
 * headers; raw/raw_len is the whole record with its length prefix.
 */
struct krx_record {
	int8_t		 attributes;
	int64_t		 timestamp_delta;
	int32_t		 offset_delta;
	const uint8_t	*key;
	int32_t		 key_len;
	const uint8_t	*value;
	int32_t		 value_len;
	int32_t		 header_count;
	const uint8_t	*headers;
	size_t		 headers_len;
	const uint8_t	*raw;
	size_t		 raw_len;
};

struct krx_header {
	const uint8_t	*key;
	int32_t		 key_len;	/* never null */
	const uint8_t	*value;
	int32_t		 value_len;	/* -1: null */
};

struct krx_record_iter {
	struct krx_cur	 cur;
	int32_t		 left;		/* records still expected */
};

struct krx_header_iter {
	struct krx_cur	 cur;
	int32_t		 left;
};

/* Iterate over an uncompressed records area said to hold count records. */
void	krx_record_iter_init(struct krx_record_iter *it, const uint8_t *p,
	    size_t len, int32_t count);

/*
 * The next record: 1 with *r filled, 0 after the last one. Strict: each
 * record's length must cover exactly its fields, headers are checked
 * whole (key never null), and the area must hold exactly count records
 * (fewer or more is KRX_E_MALFORMED, as is a negative count). Any error is
 * KRX_E_MALFORMED and the iterator stays where it was.
 */
int	krx_record_next(struct krx_record_iter *it, struct krx_record *r);

/* Iterate over r's headers, in order. */
void	krx_header_iter_init(struct krx_header_iter *it,
	    const struct krx_record *r);

/* 1 with *h filled, 0 after the last header, KRX_E_MALFORMED. */
int	krx_header_next(struct krx_header_iter *it, struct krx_header *h);

/*
 * The raw area and count of the headers not yet returned: after reading
 * a leading marker header, the headers to write back without it
 * (krx_record.headers, headers_len, header_count).
 */
void	krx_header_iter_rest(const struct krx_header_iter *it,
	    const uint8_t **p, size_t *len, int32_t *count);

/*
 * Encoded size of a record, length prefix included, as krx_record_write
 * will write it: r's attributes, deltas, key and value lengths, then
 * header_count + (extra != NULL) headers: extra first, then r's raw
 * headers area copied verbatim (headers, headers_len). r->value and
 * r->raw are not read. Returns 0 when the record cannot be encoded
 * (a length below -1, a null extra key, or over INT32_MAX bytes).
 */
size_t	krx_record_size(const struct krx_record *r,
	    const struct krx_header *extra);

/*
 * Append the record krx_record_size describes to out. The value: if
 * r->value_len >= 0 and r->value is NULL, value_len bytes are left for
 * the caller to fill (an encryptor writes its ciphertext there, no copy);
 * otherwise r->value is copied. *value_slot (if value_slot is not NULL)
 * points at the value bytes in out, NULL for a null value; it is valid
 * until out next grows. r's buffers must not lie inside out. Returns
 * KRX_OK, KRX_E_RANGE (not encodable), or out->err.
 */
int	krx_record_write(struct krx_buf *out, const struct krx_record *r,
	    const struct krx_header *extra, uint8_t **value_slot);

/* A batch being written into an output buffer. */
struct krx_batch_writer {
	size_t		 start;		/* the batch's offset in out */
	size_t		 records;	/* its records area's offset */
	int		 codec;		/* applied by _finish */
};

#define KRX_BATCH_CODEC_KEEP	(-1)

/*
 * Start a batch in out: b's 61 header bytes copied verbatim (batchLength
 * and crc are fixed by _finish). codec is KRX_BATCH_CODEC_KEEP to
 * compress the records with b's codec, leaving the attributes untouched,
 * or an enum krx_codec (KRX_CODEC_NONE to send them uncompressed), then
 * written into the attributes' codec bits. Records are then appended
 * uncompressed to out with krx_record_write; the caller keeps
 * recordsCount and the offset deltas as they were. Returns KRX_OK,
 * KRX_E_UNSUPPORTED (legacy or tail batch, unknown codec), out->err.
 */
int	krx_batch_write_header(struct krx_batch_writer *w,
	    struct krx_buf *out, const struct krx_batch *b, int codec);

/*
 * Finish the batch: compress the records area (with z, as for
 * krx_compress; scratch, distinct from out, is used and left as it was;
 * NULL is fine for codec 0), then write
 * batchLength and the CRC-32C. On failure out is cut back to where the
 * batch started. Returns KRX_OK, KRX_E_TOO_BIG (over INT32_MAX bytes),
 * errors of krx_compress, out->err.
 */
int	krx_batch_write_finish(struct krx_batch_writer *w,
	    struct krx_zctx *z, struct krx_buf *out, struct krx_buf *scratch);

#endif
