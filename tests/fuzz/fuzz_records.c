/*
 * fuzz_records.c: libFuzzer harness for the record batch codec
 * (proto/record.c, proto/compress.c, proto/crc32c.c).
 *
 * The input is a Produce or Fetch "records" field. Each complete batch
 * has its CRC checked, its records area decompressed under a 64 KiB cap,
 * its records and headers walked, and is rebuilt twice: uncompressed and
 * with its own codec. Besides "no crash, no leak" it checks properties:
 * every view lies inside its input, a tail ends the input, the rebuilt
 * batches parse with a valid CRC and the same records, and rebuilding
 * a rebuilt batch gives the same bytes. Seeds: tests/fuzz/corpus/records
 * (the tests/data/batch_*.bin captures and smaller ones, see
 * tests/data/README.md).
 */
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "proto/compress.h"
#include "proto/record.h"

#define FZ_CAP	(64 * 1024)

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* One set of zstd contexts for every input, as a worker keeps them. */
static struct krx_zctx *
fz_zctx(void)
{
	static struct krx_zctx	*z;

	if (z == NULL)
		z = krx_zctx_new();
	return z;
}

static void
fz_check(int cond)
{
	if (!cond)
		abort();
}

/* p[0, len) inside base[0, n); NULL only for length -1 or 0. */
static void
fz_inside(const uint8_t *p, int64_t len, const uint8_t *base, size_t n)
{
	if (len < 0) {
		fz_check(len == -1 && p == NULL);
		return;
	}
	if (len == 0 && p == NULL)
		return;
	fz_check(p >= base && (size_t)(p - base) <= n &&
	    (uint64_t)len <= n - (size_t)(p - base));
}

static void
fz_headers(const struct krx_record *r)
{
	struct krx_header_iter	 hi;
	struct krx_header	 h;
	int32_t			 n = 0;
	int			 rv;

	krx_header_iter_init(&hi, r);
	while ((rv = krx_header_next(&hi, &h)) == 1) {
		fz_inside(h.key, h.key_len, r->headers, r->headers_len);
		fz_check(h.key_len >= 0);
		fz_inside(h.value, h.value_len, r->headers, r->headers_len);
		n++;
	}
	fz_check(rv == 0 && n == r->header_count);
}

/*
 * r written alone with a marker header first (the encryptor's form, the
 * value left for the caller) parses back: the marker, then r's headers.
 */
static void
fz_marked(const struct krx_record *r)
{
	static const struct krx_header	 mark = { (const uint8_t *)"m", 1,
	    NULL, -1 };
	struct krx_buf		 out;
	struct krx_record_iter	 ri;
	struct krx_header_iter	 hi;
	struct krx_record	 nr;
	struct krx_header	 h;
	const uint8_t		*rest;
	size_t			 rest_len;
	int32_t			 rest_count;
	uint8_t			*slot;

	krx_buf_init(&out, 0);
	nr = *r;
	nr.value = NULL;
	fz_check(krx_record_write(&out, &nr, &mark, &slot) == KRX_OK);
	fz_check(out.len == krx_record_size(r, &mark));
	fz_check((slot == NULL) == (r->value_len < 0));
	if (slot != NULL && r->value_len > 0)
		memset(slot, 0xa5, (size_t)r->value_len);
	krx_record_iter_init(&ri, out.data, out.len, 1);
	fz_check(krx_record_next(&ri, &nr) == 1);
	fz_check(nr.header_count == r->header_count + 1);
	krx_header_iter_init(&hi, &nr);
	fz_check(krx_header_next(&hi, &h) == 1 && h.key_len == 1 &&
	    h.value_len == -1);
	krx_header_iter_rest(&hi, &rest, &rest_len, &rest_count);
	fz_check(rest_count == r->header_count &&
	    rest_len == r->headers_len &&
	    (rest_len == 0 || memcmp(rest, r->headers, rest_len) == 0));
	fz_check(krx_record_next(&ri, &nr) == 0);
	krx_buf_free(&out);
}

/*
 * Rebuild b into out with codec; with check, also walk every record.
 * Returns the number of records, or a negative krx_err.
 */
static int
fz_rebuild(const struct krx_batch *b, int codec, struct krx_buf *out,
    int check)
{
	struct krx_batch_writer	 w;
	struct krx_record_iter	 ri;
	struct krx_record	 r;
	struct krx_buf		 s, cz;
	const uint8_t		*p;
	size_t			 n, before;
	int			 rv, count = 0;

	krx_buf_init(&s, 0);
	krx_buf_init(&cz, 0);
	if ((rv = krx_batch_records(b, fz_zctx(), &s, FZ_CAP, &p, &n)) != KRX_OK)
		goto out;
	if ((rv = krx_batch_write_header(&w, out, b, codec)) != KRX_OK)
		goto out;
	krx_record_iter_init(&ri, p, n, b->records_count);
	while ((rv = krx_record_next(&ri, &r)) == 1) {
		if (check) {
			fz_inside(r.raw, (int64_t)r.raw_len, p, n);
			fz_inside(r.key, r.key_len, r.raw, r.raw_len);
			fz_inside(r.value, r.value_len, r.raw, r.raw_len);
			fz_inside(r.headers, (int64_t)r.headers_len, r.raw,
			    r.raw_len);
			fz_headers(&r);
			fz_marked(&r);
		}
		before = out->len;
		if ((rv = krx_record_write(out, &r, NULL, NULL)) != KRX_OK)
			goto out;
		fz_check(out->len - before == krx_record_size(&r, NULL));
		count++;
	}
	if (rv == 0 && (rv = krx_batch_write_finish(&w, fz_zctx(), out,
	    &cz)) == KRX_OK)
		rv = count;
out:
	krx_buf_free(&s);
	krx_buf_free(&cz);
	return rv;
}

/* The one batch of buf, which must parse with a valid CRC. */
static struct krx_batch
fz_only(const struct krx_buf *buf)
{
	struct krx_batch_iter	 it;
	struct krx_batch	 b, end;

	krx_batch_iter_init(&it, buf->data, buf->len);
	fz_check(krx_batch_next(&it, &b) == KRX_BATCH_OK);
	fz_check(krx_batch_next(&it, &end) == KRX_BATCH_END);
	fz_check(krx_batch_verify_crc(&b) == KRX_OK);
	return b;
}

static void
fz_batch(const struct krx_batch *b)
{
	struct krx_buf		 a, c, d;
	struct krx_batch	 nb;
	int			 n, m;

	(void)krx_batch_verify_crc(b);
	krx_buf_init(&a, 0);
	krx_buf_init(&c, 0);
	krx_buf_init(&d, 0);
	if ((n = fz_rebuild(b, KRX_CODEC_NONE, &a, 1)) < 0)
		goto out;
	fz_check(n == b->records_count);
	nb = fz_only(&a);
	fz_check(nb.records_count == b->records_count &&
	    nb.last_offset_delta == b->last_offset_delta &&
	    (nb.attributes & KRX_BATCH_ATTR_CODEC) == 0);
	/* Canonical now: rebuilding it again is the identity. */
	fz_check(fz_rebuild(&nb, KRX_BATCH_CODEC_KEEP, &c, 0) == n);
	fz_check(c.len == a.len && memcmp(c.data, a.data, a.len) == 0);
	/* With the batch's own codec, then back. */
	krx_buf_reset(&c);
	m = fz_rebuild(b, KRX_BATCH_CODEC_KEEP, &c, 0);
	fz_check(m == n);
	nb = fz_only(&c);
	fz_check(fz_rebuild(&nb, KRX_CODEC_NONE, &d, 0) == n);
	fz_check(d.len == a.len && memcmp(d.data, a.data, a.len) == 0);
out:
	krx_buf_free(&a);
	krx_buf_free(&c);
	krx_buf_free(&d);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct krx_batch_iter	 it;
	struct krx_batch	 b;
	int			 rv;

	krx_batch_iter_init(&it, data, size);
	while ((rv = krx_batch_next(&it, &b)) == KRX_BATCH_OK) {
		fz_inside(b.data, (int64_t)b.len, data, size);
		fz_check(b.len == (size_t)b.batch_length + 12);
		if (b.legacy)
			continue;
		fz_inside(b.records, (int64_t)b.records_len, b.data, b.len);
		fz_batch(&b);
	}
	if (rv == KRX_BATCH_TAIL)
		fz_check(b.data + b.len == data + size &&
		    krx_batch_next(&it, &b) == KRX_BATCH_END);
	return 0;
}
