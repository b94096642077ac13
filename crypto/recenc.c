/*
 * recenc.c: encrypt and decrypt records fields (see recenc.h). Every
 * length comes from proto/record.c's strict iterators; values are sealed
 * straight into the output record (no per-record allocation).
 */
#include <string.h>

#include "crypto/recenc.h"
#include "crypto/wrapper.h"
#include "proto/compress.h"
#include "proto/record.h"

/* A decrypted batch more than this many times the broker's is
 * compressed again (recdec_emit). */
#define RECDEC_GROWTH	2

static const struct krx_header recenc_hdr = {
	.key = (const uint8_t *)KRX_WRAPPER_HDR_KEY,
	.key_len = KRX_WRAPPER_HDR_KEY_LEN,
	.value = (const uint8_t *)"\x02",
	.value_len = 1,
};

void
krx_recenc_scratch_init(struct krx_recenc_scratch *s, size_t max,
    struct krx_zctx *z)
{
	krx_buf_init(&s->plain, 0);
	krx_buf_init(&s->comp, 0);
	krx_buf_init(&s->parcel, 0);
	krx_buf_init(&s->hdrs, 0);
	krx_buf_init(&s->dec, 0);
	s->max_decompressed = max;
	s->budget = UINT64_MAX;
	s->z = z;
}

void
krx_recenc_scratch_free(struct krx_recenc_scratch *s)
{
	krx_buf_free(&s->plain);
	krx_buf_free(&s->comp);
	krx_buf_free_secret(&s->parcel);
	krx_buf_free(&s->hdrs);
	krx_buf_free_secret(&s->dec);
}

/* The uncompressed records area of b. */
static int
recenc_area(const struct krx_batch *b, struct krx_recenc_scratch *s,
    const uint8_t **p, size_t *n)
{
	krx_buf_reset(&s->plain);
	return krx_batch_records(b, s->z, &s->plain, s->max_decompressed, p,
	    n);
}

/* Produce batches: complete, magic 2, CRC right. 1: copy as is. */
static int
recenc_check_produce(int step, const struct krx_batch *b)
{
	int	 r;

	if (step == KRX_BATCH_TAIL)
		return KRX_E_TRUNCATED;
	if (b->legacy)
		return KRX_E_UNSUPPORTED;
	if ((r = krx_batch_verify_crc(b)) != KRX_OK)
		return r;
	return (b->attributes & KRX_BATCH_ATTR_CONTROL) ||
	    b->records_count == 0;
}

/*
 * Is the declared record count of b possible? Never negative, and at
 * most one record per KRX_RECORD_MIN_LEN bytes of the records area. A
 * compressed area is decompressed (up to the scratch cap) only when the
 * count is more than its compressed bytes could carry: such a count is
 * checked against the decompressed size. Issue 9, finding 1.
 */
static int
recenc_count_ok(const struct krx_batch *b, struct krx_recenc_scratch *s)
{
	const uint8_t	*p;
	size_t		 plen;
	int		 r;

	if (b->records_count < 0)
		return KRX_E_MALFORMED;
	if ((size_t)b->records_count <= b->records_len / KRX_RECORD_MIN_LEN)
		return KRX_OK;
	if ((b->attributes & KRX_BATCH_ATTR_CODEC) == KRX_CODEC_NONE)
		return KRX_E_MALFORMED;
	if ((r = recenc_area(b, s, &p, &plen)) != KRX_OK)
		return r;
	return (size_t)b->records_count <= plen / KRX_RECORD_MIN_LEN ?
	    KRX_OK : KRX_E_MALFORMED;
}

int
krx_recenc_count(const uint8_t *records, size_t len,
    struct krx_recenc_scratch *s, uint64_t *n)
{
	struct krx_batch_iter	 bi;
	struct krx_batch	 b;
	int			 step, r;

	*n = 0;
	krx_batch_iter_init(&bi, records, len);
	while ((step = krx_batch_next(&bi, &b)) > 0) {
		if ((r = recenc_check_produce(step, &b)) < 0)
			return r;
		if (r == 1)
			continue;
		if ((r = recenc_count_ok(&b, s)) != KRX_OK)
			return r;
		/* <= len / 7 each: the sum cannot wrap. */
		*n += (uint64_t)b.records_count;
	}
	return step;
}

/* KRX_E_UNSUPPORTED when rec carries the encryption header already. */
static int
recenc_refuse_marked(const struct krx_record *rec)
{
	struct krx_header_iter	 hi;
	struct krx_header	 h;
	int			 r;

	krx_header_iter_init(&hi, rec);
	while ((r = krx_header_next(&hi, &h)) == 1)
		if (h.key_len == KRX_WRAPPER_HDR_KEY_LEN && memcmp(h.key,
		    KRX_WRAPPER_HDR_KEY, KRX_WRAPPER_HDR_KEY_LEN) == 0)
			return KRX_E_UNSUPPORTED;
	return r;
}

int
krx_recenc_check_plain(const uint8_t *records, size_t len,
    struct krx_recenc_scratch *s)
{
	struct krx_batch_iter	 bi;
	struct krx_batch	 b;
	struct krx_record_iter	 ri;
	struct krx_record	 rec;
	const uint8_t		*p;
	size_t			 plen;
	int			 step, r;

	krx_batch_iter_init(&bi, records, len);
	while ((step = krx_batch_next(&bi, &b)) > 0) {
		if (step == KRX_BATCH_TAIL)
			return KRX_E_TRUNCATED;
		if (b.legacy || (b.records_count == 0 && b.records_len == 0))
			continue;	/* no headers below magic 2, or empty */
		if ((r = recenc_count_ok(&b, s)) != KRX_OK ||
		    (r = recenc_area(&b, s, &p, &plen)) != KRX_OK)
			return r;
		krx_record_iter_init(&ri, p, plen, b.records_count);
		while ((r = krx_record_next(&ri, &rec)) == 1)
			if ((r = recenc_refuse_marked(&rec)) != KRX_OK)
				return r;
		if (r < 0)
			return r;
	}
	return step;
}

static int
recenc_record(struct krx_buf *out, const struct krx_record *rec,
    struct krx_recenc_dek *d, krx_recenc_dek_fn fn, void *arg)
{
	struct krx_record	 enc = *rec;
	uint8_t			 iv[KRX_AEAD_IV_LEN], *slot;
	size_t			 wlen;
	int			 r;

	if ((r = recenc_refuse_marked(rec)) != KRX_OK)
		return r;
	if (rec->value_len < 0)
		return krx_buf_put(out, rec->raw, rec->raw_len);
	while (d->aead == NULL || krx_ivgen_next(d->iv, iv) == KRX_E_RANGE)
		if ((r = fn(arg, d)) != KRX_OK)
			return r;
	if ((wlen = krx_wrapper_size(d->edek_len, rec->value_len)) == 0 ||
	    wlen > INT32_MAX)
		return KRX_E_TOO_BIG;
	enc.value = NULL;
	enc.value_len = (int32_t)wlen;
	if ((r = krx_record_write(out, &enc, &recenc_hdr, &slot)) != KRX_OK)
		return r;
	return krx_wrapper_seal(d->aead, iv, d->edek, d->edek_len, rec->value,
	    rec->value_len, slot, wlen);
}

/*
 * Encrypt batch b into out. What krx_recenc_encrypt has written since
 * out was base bytes long stays within s->max_decompressed: a small
 * compressed batch of empty values would otherwise grow by a wrapper
 * per 7 bytes decompressed.
 */
static int
recenc_batch(const struct krx_batch *b, struct krx_recenc_dek *d,
    krx_recenc_dek_fn fn, void *arg, struct krx_recenc_scratch *s,
    struct krx_buf *out, size_t base)
{
	struct krx_batch_writer	 w;
	struct krx_record_iter	 ri;
	struct krx_record	 rec;
	const uint8_t		*p;
	size_t			 plen, nrec, room;
	int			 r;

	if ((r = recenc_area(b, s, &p, &plen)) != KRX_OK)
		return r;
	/*
	 * Room for the usual case: every value wrapped once. The count is
	 * the client's: no more records than the area can hold (the
	 * iterator fails the batch unless the count is exact).
	 */
	if (b->records_count < 0)
		return KRX_E_MALFORMED;
	nrec = (size_t)b->records_count;
	if (nrec > plen / KRX_RECORD_MIN_LEN)
		return KRX_E_MALFORMED;
	room = b->len + nrec * (64 + d->edek_len + KRX_WRAPPER_HDR_KEY_LEN);
	krx_buf_reserve(out, room < s->max_decompressed ? room :
	    s->max_decompressed);
	if ((r = krx_batch_write_header(&w, out, b, KRX_BATCH_CODEC_KEEP)) !=
	    KRX_OK)
		return r;
	krx_record_iter_init(&ri, p, plen, b->records_count);
	while ((r = krx_record_next(&ri, &rec)) == 1) {
		if ((r = recenc_record(out, &rec, d, fn, arg)) != KRX_OK)
			return r;
		if (out->len - base > s->max_decompressed)
			return KRX_E_TOO_BIG;
		if (rec.value_len >= 0)
			s->encrypted++;
	}
	if (r < 0)
		return r;
	krx_buf_reset(&s->comp);
	return krx_batch_write_finish(&w, s->z, out, &s->comp);
}

int
krx_recenc_encrypt(const uint8_t *records, size_t len, krx_recenc_dek_fn fn,
    void *arg, struct krx_recenc_scratch *s, struct krx_buf *out)
{
	struct krx_recenc_dek	 d;
	struct krx_batch_iter	 bi;
	struct krx_batch	 b;
	size_t			 base = out->len;
	int			 step, r;

	memset(&d, 0, sizeof(d));
	s->encrypted = 0;
	krx_batch_iter_init(&bi, records, len);
	while ((step = krx_batch_next(&bi, &b)) > 0) {
		if ((r = recenc_check_produce(step, &b)) < 0)
			return r;
		if (r == 1)
			r = krx_buf_put(out, b.data, b.len);
		else
			r = recenc_batch(&b, &d, fn, arg, s, out, base);
		if (r != KRX_OK)
			return r;
	}
	return step;
}

/* The records area of a fetched batch, paid for from s->budget. */
static int
recdec_area(const struct krx_batch *b, struct krx_recenc_scratch *s,
    const uint8_t **p, size_t *n)
{
	int	 r;

	if ((r = recenc_area(b, s, p, n)) == KRX_OK)
		s->budget -= *n < s->budget ? *n : s->budget;
	return r;
}

/*
 * Is rec encrypted? Returns 1 with *w parsed and *first set when the
 * encryption header is the record's first, 0 when the record carries
 * no such header, or an error for an unusable header or wrapper.
 */
static int
recdec_find(const struct krx_record *rec, struct krx_wrapper *w, int *first)
{
	struct krx_header_iter	 hi;
	struct krx_header	 h;
	int			 i, r;

	/* A null value has nothing encrypted: a tombstone, whatever its
	 * headers say (issue 9, finding 6). */
	if (rec->value_len < 0)
		return 0;
	krx_header_iter_init(&hi, rec);
	for (i = 0; (r = krx_header_next(&hi, &h)) == 1; i++) {
		if (h.key_len != KRX_WRAPPER_HDR_KEY_LEN || memcmp(h.key,
		    KRX_WRAPPER_HDR_KEY, KRX_WRAPPER_HDR_KEY_LEN) != 0)
			continue;
		if ((r = krx_wrapper_version(h.value, h.value_len < 0 ? 0 :
		    (size_t)h.value_len)) != KRX_WRAPPER_VERSION)
			return r < 0 ? r : KRX_E_UNSUPPORTED;
		*first = i == 0;
		r = krx_wrapper_parse(rec->value, (size_t)rec->value_len, w);
		if (r == KRX_E_UNSUPPORTED || r == KRX_E_TOO_BIG)
			return r;	/* other cipher or AAD; EDEK too big */
		return r == KRX_OK ? 1 : KRX_E_MALFORMED;
	}
	return r;
}

int
krx_recdec_scan(const uint8_t *records, size_t len, krx_recdec_edek_fn fn,
    void *arg, struct krx_recenc_scratch *s, uint64_t *n)
{
	struct krx_batch_iter	 bi;
	struct krx_record_iter	 ri;
	struct krx_batch	 b;
	struct krx_record	 rec;
	struct krx_wrapper	 w;
	const uint8_t		*p;
	size_t			 plen;
	int			 step, r, first;

	*n = 0;
	krx_batch_iter_init(&bi, records, len);
	while ((step = krx_batch_next(&bi, &b)) == KRX_BATCH_OK) {
		if (s->budget == 0)
			return KRX_OK;
		if (b.legacy || (b.attributes & KRX_BATCH_ATTR_CONTROL) ||
		    b.records_count == 0)
			continue;
		if ((r = recdec_area(&b, s, &p, &plen)) != KRX_OK)
			return r;
		krx_record_iter_init(&ri, p, plen, b.records_count);
		while ((r = krx_record_next(&ri, &rec)) == 1) {
			if ((r = recdec_find(&rec, &w, &first)) < 0)
				return r;
			if (r == 0)
				continue;
			(*n)++;
			if ((r = fn(arg, w.edek, w.edek_len)) != KRX_OK)
				return r;
		}
		if (r < 0)
			return r;
	}
	return step < 0 ? step : KRX_OK;
}

/* Parcel headers in the record header encoding, into s->hdrs. */
static int
recdec_parcel_headers(const struct krx_parcel *pc, struct krx_buf *hdrs)
{
	struct krx_parcel_iter	 it;
	struct krx_parcel_hdr	 h;
	int			 r;

	krx_buf_reset(hdrs);
	krx_parcel_iter_init(&it, pc);
	while ((r = krx_parcel_iter_next(&it, &h)) == 1) {
		krx_buf_put_varint(hdrs, (int64_t)h.key_len);
		krx_buf_put(hdrs, h.key, h.key_len);
		krx_buf_put_varint(hdrs, h.value_len);
		if (h.value_len > 0)
			krx_buf_put(hdrs, h.value, (size_t)h.value_len);
	}
	return r < 0 ? r : hdrs->err;
}

/* rec's headers without its first one (the encryption header). */
static int
recdec_drop_first(struct krx_record *out, const struct krx_record *rec)
{
	struct krx_header_iter	 hi;
	struct krx_header	 h;
	int			 r;

	krx_header_iter_init(&hi, rec);
	if ((r = krx_header_next(&hi, &h)) != 1)
		return r < 0 ? r : KRX_E_MALFORMED;
	out->headers = rec->headers + hi.cur.off;
	out->headers_len = rec->headers_len - hi.cur.off;
	out->header_count = rec->header_count - 1;
	return KRX_OK;
}

static int
recdec_record(struct krx_buf *out, const struct krx_record *rec,
    krx_recdec_dek_fn fn, void *arg, struct krx_recenc_scratch *s)
{
	struct krx_record	 dec = *rec;
	struct krx_wrapper	 w;
	struct krx_parcel	 pc;
	struct krx_aead		*aead;
	int			 r, first = 0;

	if ((r = recdec_find(rec, &w, &first)) < 0)
		return r;
	if (r == 0) {
		if (rec->value_len >= 0)
			s->clear++;
		return krx_buf_put(out, rec->raw, rec->raw_len);
	}
	if ((aead = fn(arg, w.edek, w.edek_len)) == NULL)
		return KRX_E_NOTFOUND;
	s->decrypted++;
	krx_buf_reset(&s->parcel);
	if ((r = krx_wrapper_open(aead, &w, &s->parcel)) != KRX_OK ||
	    (r = krx_parcel_parse(s->parcel.data, s->parcel.len, &pc)) !=
	    KRX_OK)
		return r;
	if (pc.value_len != KRX_PARCEL_ABSENT) {
		dec.value = pc.value;
		dec.value_len = pc.value_len;
	}
	if (pc.hdr_count == KRX_PARCEL_ABSENT) {
		if (first && (r = recdec_drop_first(&dec, rec)) != KRX_OK)
			return r;
	} else if (pc.hdr_count == KRX_PARCEL_NULL) {
		dec.header_count = 0;
		dec.headers_len = 0;
	} else {
		if ((r = recdec_parcel_headers(&pc, &s->hdrs)) != KRX_OK)
			return r;
		dec.headers = s->hdrs.data;
		dec.headers_len = s->hdrs.len;
		dec.header_count = pc.hdr_count;
	}
	return krx_record_write(out, &dec, NULL, NULL);
}

/* The offset of record rec of batch b (wrapping, as the broker's are not
 * trusted). */
static int64_t
recdec_offset(const struct krx_batch *b, const struct krx_record *rec)
{
	return (int64_t)((uint64_t)b->base_offset +
	    (uint64_t)(int64_t)rec->offset_delta);
}

/*
 * Append the batch rebuilt uncompressed in s->dec (w) to out. When it
 * is more than RECDEC_GROWTH times the broker's batch b, its records
 * are compressed again with b's codec on the way (issue 9, finding 5:
 * a small batch of compressible records must not come out many times
 * bigger than it went in); otherwise, the usual case (ciphertext does
 * not compress, so a decrypted batch is about as big as the encrypted
 * one), it goes out uncompressed, which costs no compression.
 */
static int
recdec_emit(struct krx_batch_writer *w, const struct krx_batch *b,
    struct krx_recenc_scratch *s, struct krx_buf *out)
{
	struct krx_batch_writer	 z;
	int			 r, codec;

	codec = b->attributes & KRX_BATCH_ATTR_CODEC;
	if ((r = krx_batch_write_finish(w, NULL, &s->dec, NULL)) != KRX_OK)
		return r;
	if (codec == KRX_CODEC_NONE || s->dec.len / RECDEC_GROWTH <= b->len)
		return krx_buf_put(out, s->dec.data, s->dec.len);
	if ((r = krx_batch_write_header(&z, out, b, KRX_BATCH_CODEC_KEEP)) !=
	    KRX_OK)
		return r;
	/* Compressed here, straight into out: _finish only seals it. */
	z.codec = KRX_CODEC_NONE;
	if ((r = krx_compress(s->z, codec, s->dec.data + w->records,
	    s->dec.len - w->records, out)) == KRX_OK)
		r = krx_batch_write_finish(&z, NULL, out, NULL);
	if (r != KRX_OK && out->err == KRX_OK)
		out->len = z.start;
	return r;
}

/*
 * One batch: copied as it is unless it holds an encrypted record; then
 * rebuilt in s->dec and appended to out by recdec_emit.
 */
static int
recdec_batch(const struct krx_batch *b, krx_recdec_dek_fn fn, void *arg,
    struct krx_recenc_scratch *s, struct krx_buf *out)
{
	struct krx_batch_writer	 w;
	struct krx_record_iter	 ri;
	struct krx_record	 rec;
	const uint8_t		*p;
	size_t			 plen;
	uint64_t		 before = s->decrypted, clear;
	int			 r;

	if (b->legacy && s->clear++ == 0)	/* magic 0, 1: no headers */
		s->clear_offset = b->base_offset;
	if (b->legacy || (b->attributes & KRX_BATCH_ATTR_CONTROL) ||
	    b->records_count == 0)
		return krx_buf_put(out, b->data, b->len);
	s->fail_offset = b->base_offset;
	if ((r = recdec_area(b, s, &p, &plen)) != KRX_OK)
		return r;
	krx_buf_reset(&s->dec);
	if ((r = krx_batch_write_header(&w, &s->dec, b, KRX_CODEC_NONE)) !=
	    KRX_OK)
		return r;
	krx_record_iter_init(&ri, p, plen, b->records_count);
	while ((r = krx_record_next(&ri, &rec)) == 1) {
		s->fail_offset = recdec_offset(b, &rec);
		clear = s->clear;
		if ((r = recdec_record(&s->dec, &rec, fn, arg, s)) != KRX_OK)
			return r;
		if (clear == 0 && s->clear > 0)
			s->clear_offset = s->fail_offset;
	}
	if (r < 0)
		return r;
	s->fail_offset = -1;
	/* No record turned out to be encrypted: the original bytes. */
	if (s->decrypted == before)
		return krx_buf_put(out, b->data, b->len);
	return recdec_emit(&w, b, s, out);
}

int
krx_recdec_decrypt(const uint8_t *records, size_t len, krx_recdec_dek_fn fn,
    void *arg, struct krx_recenc_scratch *s, struct krx_buf *out)
{
	struct krx_batch_iter	 bi;
	struct krx_batch	 b;
	int			 step, r;

	s->decrypted = 0;
	s->clear = 0;
	s->fail_offset = s->clear_offset = -1;
	s->truncated = 0;
	/* Clear records are smaller than the encrypted ones: grow once. */
	if ((r = krx_buf_reserve(out, len)) != KRX_OK)
		return r;
	krx_batch_iter_init(&bi, records, len);
	while ((step = krx_batch_next(&bi, &b)) == KRX_BATCH_OK) {
		if (s->budget == 0) {
			s->truncated = 1;
			return KRX_OK;
		}
		if ((r = recdec_batch(&b, fn, arg, s, out)) != KRX_OK)
			return r;
	}
	/* A truncated last batch is dropped: clients ignore it anyway. */
	return step < 0 ? step : KRX_OK;
}
