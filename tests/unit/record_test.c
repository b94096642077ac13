/*
 * record_test.c: proto/record.c on batches written by real clients
 * (librdkafka through kcat, the Java producer; every codec, captured from
 * a Kafka 4.1.1 log segment: tests/data/README.md): decoding keys, values
 * and headers, re-encoding unchanged (byte equality uncompressed, valid
 * CRC and equal content compressed), rewriting values through the slot,
 * truncated tails, every-prefix truncation, control and legacy batches,
 * and the strictness of the record and header decoders.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "common/buf.h"
#include "common/err.h"
#include "proto/compress.h"
#include "proto/crc32c.h"
#include "proto/record.h"
#include "kafka_testutil.h"

#define CAP	(1 << 20)

static bool
eq(const uint8_t *p, int32_t len, const char *s)
{
	if (s == NULL)
		return len == -1 && p == NULL;
	return len == (int32_t)strlen(s) && memcmp(p, s, (size_t)len) == 0;
}

/* The one batch of a capture file. */
static struct krx_batch
only_batch(const struct kt_frame *f)
{
	struct krx_batch_iter	 it;
	struct krx_batch	 b, b2;

	krx_batch_iter_init(&it, f->data, f->len);
	cr_assert_eq(krx_batch_next(&it, &b), KRX_BATCH_OK);
	cr_assert_eq(krx_batch_next(&it, &b2), KRX_BATCH_END);
	cr_assert_eq(b.len, f->len);
	return b;
}

struct want_hdr {
	const char	*k, *v;
};

struct want_rec {
	const char	*key, *value;
	int32_t		 value_len;
	struct want_hdr	 h[2];
	int		 nh;
};

/* What tests/data/README.md says was produced. */
static const struct want_rec	 rdk_recs[5] = {
	{ "k1", "hello world", 11, { { "h1", "v1" }, { "h2", "" } }, 2 },
	{ "k2", NULL, -1, { { "h1", "v1" }, { "h2", "" } }, 2 },
	{ NULL, "nokeyvalue", 10, { { "h1", "v1" }, { "h2", "" } }, 2 },
	{ "k4", NULL, 320, { { "h1", "v1" }, { "h2", "" } }, 2 },
	{ "k5", NULL, 40000, { { "h1", "v1" }, { "h2", "" } }, 2 },
};
static const struct want_rec	 java_recs[5] = {
	{ "k1", "hello world", 11, { { "h1", "v1" }, { "hnull", NULL } }, 2 },
	{ "k2", NULL, -1, { { "h1", "v1" } }, 1 },
	{ NULL, "nokeyvalue", 10, { { "h3", "" } }, 1 },
	{ "k4", NULL, 320, { { "h1", "v1" } }, 1 },
	{ "k5", NULL, 40000, { { "h1", "v1" } }, 1 },
};

static void
check_record(const struct krx_record *r, const struct want_rec *w, int i)
{
	struct krx_header_iter	 hi;
	struct krx_header	 h;
	int			 j;

	cr_assert_eq(r->attributes, 0);
	cr_assert_eq(r->offset_delta, i);
	cr_assert(eq(r->key, r->key_len, w->key), "record %d key", i);
	cr_assert_eq(r->value_len, w->value_len, "record %d value", i);
	if (w->value != NULL)
		cr_assert(eq(r->value, r->value_len, w->value));
	if (w->value_len == 320)
		cr_assert_eq(memcmp(r->value, "abcdefghabcdefgh", 16), 0);
	if (w->value_len == 40000)
		cr_assert_eq(memcmp(r->value, "partition14 kafka94 ", 20), 0);
	cr_assert_eq(r->header_count, w->nh);
	krx_header_iter_init(&hi, r);
	for (j = 0; j < w->nh; j++) {
		cr_assert_eq(krx_header_next(&hi, &h), 1);
		cr_assert(eq(h.key, h.key_len, w->h[j].k));
		cr_assert(eq(h.value, h.value_len, w->h[j].v),
		    "record %d header %d", i, j);
	}
	cr_assert_eq(krx_header_next(&hi, &h), 0);
	cr_assert_eq(r->raw_len, krx_record_size(r, NULL));
}

static void
check_capture(const char *name, int codec, const struct want_rec *want)
{
	struct kt_frame		 f = kt_load(name);
	struct krx_batch	 b = only_batch(&f);
	struct krx_record_iter	 ri;
	struct krx_record	 r;
	struct krx_buf		 scratch;
	const uint8_t		*p;
	size_t			 n;
	int			 i;

	cr_assert_eq(b.magic, 2);
	cr_assert(!b.legacy);
	cr_assert_eq(b.base_offset, 0);
	cr_assert_eq(b.attributes & KRX_BATCH_ATTR_CODEC, codec, "%s", name);
	cr_assert_eq(b.attributes & ~KRX_BATCH_ATTR_CODEC, 0);
	cr_assert_eq(b.records_count, 5);
	cr_assert_eq(b.last_offset_delta, 4);
	cr_assert_eq(b.batch_length + 12, (int32_t)f.len);
	cr_assert_geq(b.max_timestamp, b.base_timestamp);
	cr_assert_eq(krx_batch_verify_crc(&b), KRX_OK, "%s", name);
	krx_buf_init(&scratch, 0);
	cr_assert_eq(krx_batch_records(&b, NULL, &scratch, CAP, &p, &n),
	    KRX_OK);
	cr_assert_eq(scratch.len, codec == 0 ? 0 : n);
	krx_record_iter_init(&ri, p, n, b.records_count);
	for (i = 0; i < 5; i++) {
		cr_assert_eq(krx_record_next(&ri, &r), 1, "%s %d", name, i);
		check_record(&r, &want[i], i);
	}
	cr_assert_eq(krx_record_next(&ri, &r), 0);
	krx_buf_free(&scratch);
	free(f.data);
}

struct capture {
	const char		*name;
	int			 codec;
	const struct want_rec	*want;
};

static const struct capture	 captures[] = {
	{ "batch_none_rdk.bin", 0, rdk_recs },
	{ "batch_gzip_rdk.bin", 1, rdk_recs },
	{ "batch_snappy_rdk.bin", 2, rdk_recs },
	{ "batch_lz4_rdk.bin", 3, rdk_recs },
	{ "batch_zstd_rdk.bin", 4, rdk_recs },
	{ "batch_none_java.bin", 0, java_recs },
	{ "batch_gzip_java.bin", 1, java_recs },
	{ "batch_snappy_java.bin", 2, java_recs },
	{ "batch_lz4_java.bin", 3, java_recs },
	{ "batch_zstd_java.bin", 4, java_recs },
};
#define NCAPTURES	(sizeof(captures) / sizeof(captures[0]))

Test(record, decode_every_capture)
{
	size_t	 i;

	for (i = 0; i < NCAPTURES; i++)
		check_capture(captures[i].name, captures[i].codec,
		    captures[i].want);
}

Test(record, snappy_forms_of_each_client)
{
	struct kt_frame		 j = kt_load("batch_snappy_java.bin");
	struct kt_frame		 r = kt_load("batch_snappy_rdk.bin");

	cr_assert_eq(memcmp(j.data + 61, "\x82SNAPPY\0", 8), 0, "xerial");
	cr_assert_neq(memcmp(r.data + 61, "\x82SNAPPY\0", 8), 0, "raw");
	free(j.data);
	free(r.data);
}

/* Rebuild b record by record into out with codec; returns krx_err. */
static int
reencode(const struct krx_batch *b, int codec, struct krx_buf *out)
{
	struct krx_batch_writer	 w;
	struct krx_record_iter	 ri;
	struct krx_record	 r;
	struct krx_buf		 scratch, cz;
	const uint8_t		*p;
	size_t			 n;
	int			 rv;

	krx_buf_init(&scratch, 0);
	krx_buf_init(&cz, 0);
	if ((rv = krx_batch_records(b, NULL, &scratch, CAP, &p,
	    &n)) != KRX_OK ||
	    (rv = krx_batch_write_header(&w, out, b, codec)) != KRX_OK)
		goto out;
	krx_record_iter_init(&ri, p, n, b->records_count);
	while ((rv = krx_record_next(&ri, &r)) == 1)
		if ((rv = krx_record_write(out, &r, NULL, NULL)) != KRX_OK)
			goto out;
	if (rv == 0)
		rv = krx_batch_write_finish(&w, NULL, out, &cz);
out:
	krx_buf_free(&scratch);
	krx_buf_free(&cz);
	return rv;
}

/* The records of two batches agree field by field (not timestamps). */
static void
same_records(const struct krx_batch *a, const struct krx_batch *b,
    bool same_ts)
{
	struct krx_buf		 sa, sb;
	struct krx_record_iter	 ia, ib;
	struct krx_record	 ra, rb;
	const uint8_t		*pa, *pb;
	size_t			 na, nb;
	int			 x, y;

	krx_buf_init(&sa, 0);
	krx_buf_init(&sb, 0);
	cr_assert_eq(krx_batch_records(a, NULL, &sa, CAP, &pa, &na), KRX_OK);
	cr_assert_eq(krx_batch_records(b, NULL, &sb, CAP, &pb, &nb), KRX_OK);
	cr_assert_eq(a->records_count, b->records_count);
	krx_record_iter_init(&ia, pa, na, a->records_count);
	krx_record_iter_init(&ib, pb, nb, b->records_count);
	do {
		x = krx_record_next(&ia, &ra);
		y = krx_record_next(&ib, &rb);
		cr_assert_eq(x, y);
		cr_assert_geq(x, 0);
		if (x == 0)
			break;
		cr_assert_eq(ra.offset_delta, rb.offset_delta);
		if (same_ts)
			cr_assert_eq(ra.timestamp_delta, rb.timestamp_delta);
		cr_assert_eq(ra.key_len, rb.key_len);
		cr_assert_eq(ra.value_len, rb.value_len);
		cr_assert_eq(ra.header_count, rb.header_count);
		cr_assert_eq(ra.headers_len, rb.headers_len);
		cr_assert(ra.key_len <= 0 ||
		    memcmp(ra.key, rb.key, (size_t)ra.key_len) == 0);
		cr_assert(ra.value_len <= 0 ||
		    memcmp(ra.value, rb.value, (size_t)ra.value_len) == 0);
		cr_assert(ra.headers_len == 0 ||
		    memcmp(ra.headers, rb.headers, ra.headers_len) == 0);
	} while (x == 1);
	krx_buf_free(&sa);
	krx_buf_free(&sb);
}

/* Same header fields but batchLength, crc and (maybe) the codec. */
static void
same_header(const struct krx_batch *a, const struct krx_batch *b,
    bool same_codec)
{
	int16_t	 mask = same_codec ? -1 : ~KRX_BATCH_ATTR_CODEC;

	cr_assert_eq(a->base_offset, b->base_offset);
	cr_assert_eq(a->partition_leader_epoch, b->partition_leader_epoch);
	cr_assert_eq(a->magic, b->magic);
	cr_assert_eq(a->attributes & mask, b->attributes & mask);
	cr_assert_eq(a->last_offset_delta, b->last_offset_delta);
	cr_assert_eq(a->base_timestamp, b->base_timestamp);
	cr_assert_eq(a->max_timestamp, b->max_timestamp);
	cr_assert_eq(a->producer_id, b->producer_id);
	cr_assert_eq(a->producer_epoch, b->producer_epoch);
	cr_assert_eq(a->base_sequence, b->base_sequence);
	cr_assert_eq(a->records_count, b->records_count);
}

/* Re-encode one batch unchanged, then uncompressed; append to all. */
static void
check_reencode_batch(const struct krx_batch *b, struct krx_buf *all)
{
	struct krx_batch_iter	 it;
	struct krx_batch	 nb;
	struct krx_buf		 out;
	size_t			 start = all->len;

	cr_assert_eq(reencode(b, KRX_BATCH_CODEC_KEEP, all), KRX_OK);
	krx_batch_iter_init(&it, all->data + start, all->len - start);
	cr_assert_eq(krx_batch_next(&it, &nb), KRX_BATCH_OK);
	cr_assert_eq(krx_batch_next(&it, &nb), KRX_BATCH_END);
	krx_batch_iter_init(&it, all->data + start, all->len - start);
	krx_batch_next(&it, &nb);
	cr_assert_eq(krx_batch_verify_crc(&nb), KRX_OK);
	same_header(b, &nb, true);
	same_records(b, &nb, true);
	/* Uncompressed on request: only the codec bits change. */
	krx_buf_init(&out, 0);
	cr_assert_eq(reencode(b, KRX_CODEC_NONE, &out), KRX_OK);
	krx_batch_iter_init(&it, out.data, out.len);
	cr_assert_eq(krx_batch_next(&it, &nb), KRX_BATCH_OK);
	cr_assert_eq(nb.attributes & KRX_BATCH_ATTR_CODEC, 0);
	cr_assert_eq(krx_batch_verify_crc(&nb), KRX_OK);
	same_header(b, &nb, false);
	same_records(b, &nb, true);
	krx_buf_free(&out);
}

static void
check_reencode(const char *name)
{
	struct kt_frame		 f = kt_load(name);
	struct krx_batch_iter	 it;
	struct krx_batch	 b;
	struct krx_buf		 all;
	bool			 compressed = false;
	int			 rv;

	krx_buf_init(&all, 0);
	krx_batch_iter_init(&it, f.data, f.len);
	while ((rv = krx_batch_next(&it, &b)) == KRX_BATCH_OK) {
		compressed |= (b.attributes & KRX_BATCH_ATTR_CODEC) != 0;
		check_reencode_batch(&b, &all);
	}
	cr_assert_eq(rv, KRX_BATCH_END);
	if (!compressed) {
		cr_assert_eq(all.len, f.len, "%s", name);
		cr_assert_eq(memcmp(all.data, f.data, f.len), 0, "%s", name);
	}
	krx_buf_free(&all);
	free(f.data);
}

Test(record, reencode_every_capture)
{
	size_t	 i;

	for (i = 0; i < NCAPTURES; i++)
		check_reencode(captures[i].name);
	check_reencode("batch_txn_java.bin");
}

/* Compressed content equals the uncompressed capture's, every codec. */
Test(record, codecs_agree_with_uncompressed)
{
	static const char	*names[] = { "gzip", "snappy", "lz4", "zstd" };
	static const char	*clients[] = { "rdk", "java" };
	char			 fn[64];
	struct kt_frame		 fa, fb;
	struct krx_batch	 a, b;
	int			 i, c;

	for (c = 0; c < 2; c++) {
		snprintf(fn, sizeof(fn), "batch_none_%s.bin", clients[c]);
		fa = kt_load(fn);
		a = only_batch(&fa);
		for (i = 0; i < 4; i++) {
			snprintf(fn, sizeof(fn), "batch_%s_%s.bin", names[i],
			    clients[c]);
			fb = kt_load(fn);
			b = only_batch(&fb);
			same_records(&a, &b, false);
			free(fb.data);
		}
		free(fa.data);
	}
}

/* Recompress an uncompressed batch with each codec, read it back. */
Test(record, recompress_with_every_codec)
{
	struct kt_frame		 f = kt_load("batch_none_java.bin");
	struct krx_batch	 b = only_batch(&f), nb;
	struct krx_buf		 out;
	struct kt_frame		 o;
	int			 codec;

	for (codec = 1; codec <= KRX_CODEC_MAX; codec++) {
		krx_buf_init(&out, 0);
		cr_assert_eq(reencode(&b, codec, &out), KRX_OK);
		cr_assert_lt(out.len, f.len);
		o.data = out.data;
		o.len = out.len;
		nb = only_batch(&o);
		cr_assert_eq(nb.attributes & KRX_BATCH_ATTR_CODEC, codec);
		cr_assert_eq(krx_batch_verify_crc(&nb), KRX_OK);
		same_header(&b, &nb, false);
		same_records(&b, &nb, true);
		krx_buf_free(&out);
	}
	free(f.data);
}

Test(record, decompress_cap)
{
	struct kt_frame		 f = kt_load("batch_zstd_rdk.bin");
	struct krx_batch	 b = only_batch(&f);
	struct krx_buf		 s;
	const uint8_t		*p;
	size_t			 n;

	krx_buf_init(&s, 0);
	cr_assert_eq(krx_batch_records(&b, NULL, &s, 40000, &p, &n),
	    KRX_E_TOO_BIG);
	cr_assert_null(p);
	cr_assert_eq(s.len, 0);
	krx_buf_put(&s, "x", 1);
	cr_assert_eq(krx_batch_records(&b, NULL, &s, CAP, &p, &n), KRX_OK);
	cr_assert_eq(p, s.data + 1);
	cr_assert_eq(n, s.len - 1);
	krx_buf_free(&s);
	free(f.data);
}

static const struct krx_header	 mark = { (const uint8_t *)"enc", 3,
    (const uint8_t *)"v1", 2 };

/*
 * The encryptor's path: each record gets the marker header first and
 * its value, if not null, written in place as '!' + value. Uncompressed.
 */
static void
mark_batch(const struct krx_batch *b, struct krx_buf *out)
{
	struct krx_batch_writer	 w;
	struct krx_record_iter	 ri;
	struct krx_record	 r, nr;
	struct krx_buf		 s, cz;
	const uint8_t		*p;
	uint8_t			*slot;
	size_t			 n, before;

	krx_buf_init(&s, 0);
	krx_buf_init(&cz, 0);
	cr_assert_eq(krx_batch_records(b, NULL, &s, CAP, &p, &n), KRX_OK);
	cr_assert_eq(krx_batch_write_header(&w, out, b, KRX_CODEC_NONE),
	    KRX_OK);
	krx_record_iter_init(&ri, p, n, b->records_count);
	while (krx_record_next(&ri, &r) == 1) {
		nr = r;
		if (r.value_len >= 0) {
			nr.value = NULL;
			nr.value_len = r.value_len + 1;
		}
		before = out->len;
		cr_assert_eq(krx_record_write(out, &nr, &mark, &slot), KRX_OK);
		cr_assert_eq(out->len - before, krx_record_size(&nr, &mark));
		if (r.value_len < 0) {
			cr_assert_null(slot);
			continue;
		}
		cr_assert_not_null(slot);
		slot[0] = '!';
		memcpy(slot + 1, r.value, (size_t)r.value_len);
	}
	cr_assert_eq(krx_batch_write_finish(&w, NULL, out, &cz), KRX_OK);
	krx_buf_free(&s);
	krx_buf_free(&cz);
}

/* The decryptor's path: drop the marker header and the '!'. */
static void
unmark_batch(const struct krx_batch *b, int codec, struct krx_buf *out)
{
	struct krx_batch_writer	 w;
	struct krx_record_iter	 ri;
	struct krx_header_iter	 hi;
	struct krx_record	 r, nr;
	struct krx_header	 h;
	struct krx_buf		 cz;

	krx_buf_init(&cz, 0);
	cr_assert_eq(krx_batch_write_header(&w, out, b, codec), KRX_OK);
	krx_record_iter_init(&ri, b->records, b->records_len,
	    b->records_count);
	while (krx_record_next(&ri, &r) == 1) {
		nr = r;
		krx_header_iter_init(&hi, &r);
		cr_assert_eq(krx_header_next(&hi, &h), 1);
		cr_assert(eq(h.key, h.key_len, "enc"));
		krx_header_iter_rest(&hi, &nr.headers, &nr.headers_len,
		    &nr.header_count);
		cr_assert_eq(nr.header_count, r.header_count - 1);
		if (r.value_len >= 0) {
			cr_assert_eq(r.value[0], '!');
			nr.value = r.value + 1;
			nr.value_len = r.value_len - 1;
		}
		cr_assert_eq(krx_record_write(out, &nr, NULL, NULL), KRX_OK);
	}
	cr_assert_eq(krx_batch_write_finish(&w, NULL, out, &cz), KRX_OK);
	krx_buf_free(&cz);
}

Test(record, rewrite_values_through_slot)
{
	struct kt_frame		 f = kt_load("batch_snappy_java.bin");
	struct krx_batch	 b = only_batch(&f), nb;
	struct krx_record_iter	 ri;
	struct krx_header_iter	 hi;
	struct krx_record	 r;
	struct krx_header	 h;
	struct krx_buf		 out;
	struct kt_frame		 o;
	int			 i;

	krx_buf_init(&out, 0);
	mark_batch(&b, &out);
	o.data = out.data;
	o.len = out.len;
	nb = only_batch(&o);
	cr_assert_eq(krx_batch_verify_crc(&nb), KRX_OK);
	same_header(&b, &nb, false);
	krx_record_iter_init(&ri, nb.records, nb.records_len,
	    nb.records_count);
	for (i = 0; i < 5; i++) {
		cr_assert_eq(krx_record_next(&ri, &r), 1);
		cr_assert_eq(r.offset_delta, i);
		cr_assert_eq(r.header_count, java_recs[i].nh + 1);
		krx_header_iter_init(&hi, &r);
		cr_assert_eq(krx_header_next(&hi, &h), 1);
		cr_assert(eq(h.key, h.key_len, "enc"));
		cr_assert(eq(h.value, h.value_len, "v1"));
		cr_assert_eq(krx_header_next(&hi, &h), 1);
		cr_assert(eq(h.key, h.key_len, java_recs[i].h[0].k));
		if (java_recs[i].value_len < 0) {
			cr_assert_eq(r.value_len, -1, "null stays null");
			continue;
		}
		cr_assert_eq(r.value_len, java_recs[i].value_len + 1);
		cr_assert_eq(r.value[0], '!');
	}
	cr_assert_eq(krx_record_next(&ri, &r), 0);
	krx_buf_free(&out);
	free(f.data);
}

/* mark then unmark gives the uncompressed original back, byte for byte. */
Test(record, unmark_restores_original)
{
	static const char	*names[] = { "batch_none_java.bin",
	    "batch_snappy_java.bin", "batch_zstd_rdk.bin",
	    "batch_lz4_rdk.bin" };
	struct krx_batch	 b, mb;
	struct krx_buf		 m, u, plain;
	struct kt_frame		 f, o;
	size_t			 i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		f = kt_load(names[i]);
		b = only_batch(&f);
		krx_buf_init(&m, 0);
		krx_buf_init(&u, 0);
		krx_buf_init(&plain, 0);
		mark_batch(&b, &m);
		o.data = m.data;
		o.len = m.len;
		mb = only_batch(&o);
		unmark_batch(&mb, KRX_BATCH_CODEC_KEEP, &u);
		cr_assert_eq(reencode(&b, KRX_CODEC_NONE, &plain), KRX_OK);
		cr_assert_eq(u.len, plain.len, "%s", names[i]);
		cr_assert_eq(memcmp(u.data, plain.data, u.len), 0);
		if ((b.attributes & KRX_BATCH_ATTR_CODEC) == 0)
			cr_assert_eq(memcmp(u.data, f.data, f.len), 0);
		krx_buf_free(&m);
		krx_buf_free(&u);
		krx_buf_free(&plain);
		free(f.data);
	}
}

Test(record, record_size_matches_write)
{
	static const int32_t	 lens[] = { -1, 0, 1, 63, 64, 127, 8191, 8192,
	    70000 };
	static const int64_t	 ts[] = { 0, -1, 63, -64, 1LL << 40 };
	struct krx_record	 r;
	struct krx_header	 x = { (const uint8_t *)"k", 1, NULL, -1 };
	struct krx_buf		 out;
	uint8_t			*big = calloc(1, 70000), *slot;
	size_t			 i, j, k;

	krx_buf_init(&out, 0);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
	for (j = 0; j < sizeof(lens) / sizeof(lens[0]); j++)
	for (k = 0; k < sizeof(ts) / sizeof(ts[0]); k++) {
		memset(&r, 0, sizeof(r));
		r.timestamp_delta = ts[k];
		r.offset_delta = (int32_t)(i * 1000);
		r.key = lens[i] < 0 ? NULL : big;
		r.key_len = lens[i];
		r.value_len = lens[j];
		r.headers = big;
		r.headers_len = 0;
		krx_buf_reset(&out);
		cr_assert_eq(krx_record_write(&out, &r, (k & 1) ? &x : NULL,
		    &slot), KRX_OK);
		cr_assert_eq(out.len, krx_record_size(&r, (k & 1) ? &x : NULL));
		cr_assert_eq(slot == NULL, lens[j] < 0);
	}
	r.key_len = -2;
	cr_assert_eq(krx_record_size(&r, NULL), 0);
	cr_assert_eq(krx_record_write(&out, &r, NULL, &slot), KRX_E_RANGE);
	r.key_len = 0;
	x.key_len = -1;
	cr_assert_eq(krx_record_size(&r, &x), 0);
	r.header_count = INT32_MAX;
	cr_assert_neq(krx_record_size(&r, NULL), 0);
	x.key_len = 1;
	cr_assert_eq(krx_record_size(&r, &x), 0, "count overflows");
	krx_buf_free(&out);
	free(big);
}

Test(record, transactional_and_control_batches)
{
	struct kt_frame		 f = kt_load("batch_txn_java.bin");
	struct krx_batch_iter	 it;
	struct krx_batch	 b;
	struct krx_record_iter	 ri;
	struct krx_record	 r;

	krx_batch_iter_init(&it, f.data, f.len);
	cr_assert_eq(krx_batch_next(&it, &b), KRX_BATCH_OK);
	cr_assert(b.attributes & KRX_BATCH_ATTR_TRANSACTIONAL);
	cr_assert_eq(b.attributes & KRX_BATCH_ATTR_CONTROL, 0);
	cr_assert_eq(b.records_count, 6);
	cr_assert_geq(b.producer_id, 0);
	cr_assert_eq(krx_batch_verify_crc(&b), KRX_OK);
	cr_assert_eq(krx_batch_next(&it, &b), KRX_BATCH_OK);
	cr_assert_eq(b.pos, 223);
	cr_assert_eq(b.base_offset, 6);
	cr_assert(b.attributes & KRX_BATCH_ATTR_CONTROL);
	cr_assert(b.attributes & KRX_BATCH_ATTR_TRANSACTIONAL);
	cr_assert_eq(krx_batch_verify_crc(&b), KRX_OK);
	krx_record_iter_init(&ri, b.records, b.records_len, b.records_count);
	cr_assert_eq(krx_record_next(&ri, &r), 1);
	/* Key: version 0, type 1 (commit); value: version, epoch. */
	cr_assert_eq(r.key_len, 4);
	cr_assert_eq(memcmp(r.key, "\0\0\0\1", 4), 0);
	cr_assert_eq(r.value_len, 6);
	cr_assert_eq(krx_record_next(&ri, &r), 0);
	cr_assert_eq(krx_batch_next(&it, &b), KRX_BATCH_END);
	free(f.data);
}

Test(record, truncated_tail)
{
	struct kt_frame		 f = kt_load("batch_txn_java.bin");
	struct krx_batch_iter	 it;
	struct krx_batch	 b;
	size_t			 cut;

	for (cut = 224; cut < f.len; cut++) {
		krx_batch_iter_init(&it, f.data, cut);
		cr_assert_eq(krx_batch_next(&it, &b), KRX_BATCH_OK);
		cr_assert_eq(krx_batch_next(&it, &b), KRX_BATCH_TAIL);
		cr_assert_eq(b.pos, 223);
		cr_assert_eq(b.data, f.data + 223);
		cr_assert_eq(b.len, cut - 223);
		cr_assert_null(b.records);
		if (cut - 223 >= 12) {
			cr_assert_eq(b.base_offset, 6);
			cr_assert_eq(b.batch_length, 78 - 12);
		}
		cr_assert_eq(krx_batch_verify_crc(&b), KRX_E_UNSUPPORTED);
		cr_assert_eq(krx_batch_next(&it, &b), KRX_BATCH_END);
	}
	free(f.data);
}

/* Every prefix of every capture: batches, tails or errors, no crash. */
Test(record, every_prefix_never_crashes)
{
	static const char	*names[] = { "batch_none_rdk.bin",
	    "batch_gzip_java.bin", "batch_snappy_java.bin",
	    "batch_snappy_rdk.bin", "batch_lz4_java.bin",
	    "batch_zstd_rdk.bin", "batch_txn_java.bin" };
	struct krx_batch_iter	 it;
	struct krx_batch	 b;
	struct krx_record_iter	 ri;
	struct krx_record	 r;
	struct krx_buf		 s;
	const uint8_t		*p;
	size_t			 i, cut, n;
	struct kt_frame		 f;
	int			 rv;
	bool			 edge;

	krx_buf_init(&s, 0);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		f = kt_load(names[i]);
		for (cut = 0; cut <= f.len; cut++) {
			krx_batch_iter_init(&it, f.data, cut);
			while ((rv = krx_batch_next(&it, &b)) == KRX_BATCH_OK)
				;
			edge = cut == 0 || cut == f.len || (cut == 223 &&
			    strcmp(names[i], "batch_txn_java.bin") == 0);
			cr_assert_eq(rv, edge ? KRX_BATCH_END : KRX_BATCH_TAIL,
			    "%s %zu", names[i], cut);
			/* A batch cut short, as a records area. */
			krx_batch_iter_init(&it, f.data, f.len);
			cr_assert_eq(krx_batch_next(&it, &b), KRX_BATCH_OK);
			if (cut < 61 || cut >= b.len)
				continue;
			b.records_len = cut - 61;
			krx_buf_reset(&s);
			if (krx_batch_records(&b, NULL, &s, CAP, &p,
			    &n) != KRX_OK)
				continue;
			/* Decoded (xerial cut at a chunk): records missing. */
			krx_record_iter_init(&ri, p, n, b.records_count);
			while ((rv = krx_record_next(&ri, &r)) == 1)
				;
			cr_assert_eq(rv, KRX_E_MALFORMED, "%s %zu", names[i],
			    cut);
		}
		free(f.data);
	}
	krx_buf_free(&s);
}

/* A batch header with the given length, magic and count. */
static void
mkbatch(uint8_t *p, int32_t len, uint8_t magic, int32_t count)
{
	memset(p, 0, 61);
	p[8] = (uint8_t)(len >> 24);
	p[9] = (uint8_t)(len >> 16);
	p[10] = (uint8_t)(len >> 8);
	p[11] = (uint8_t)len;
	p[16] = magic;
	p[57] = (uint8_t)(count >> 24);
	p[60] = (uint8_t)count;
}

Test(record, header_errors)
{
	uint8_t			 buf[200];
	struct krx_batch_iter	 it;
	struct krx_batch	 b;
	uint32_t		 crc;

	mkbatch(buf, 13, 2, 0);
	krx_batch_iter_init(&it, buf, 61);
	cr_assert_eq(krx_batch_next(&it, &b), KRX_E_MALFORMED);
	cr_assert_eq(it.off, 0);
	krx_batch_iter_init(&it, buf, 12);
	cr_assert_eq(krx_batch_next(&it, &b), KRX_E_MALFORMED, "even a tail");
	mkbatch(buf, -5, 2, 0);
	krx_batch_iter_init(&it, buf, 61);
	cr_assert_eq(krx_batch_next(&it, &b), KRX_E_MALFORMED);
	mkbatch(buf, 30, 2, 0);
	krx_batch_iter_init(&it, buf, 61);
	cr_assert_eq(krx_batch_next(&it, &b), KRX_E_MALFORMED, "v2 < 61");
	mkbatch(buf, 49, 3, 0);
	krx_batch_iter_init(&it, buf, 61);
	cr_assert_eq(krx_batch_next(&it, &b), KRX_E_UNSUPPORTED);
	mkbatch(buf, 49, 0xff, 0);
	krx_batch_iter_init(&it, buf, 61);
	cr_assert_eq(krx_batch_next(&it, &b), KRX_E_UNSUPPORTED);
	/* An empty v2 batch (compaction leaves them) is fine. */
	mkbatch(buf, 49, 2, 0);
	krx_batch_iter_init(&it, buf, 61);
	cr_assert_eq(krx_batch_next(&it, &b), KRX_BATCH_OK);
	cr_assert_eq(b.records_len, 0);
	cr_assert_eq(krx_batch_verify_crc(&b), KRX_E_MALFORMED);
	crc = krx_crc32c(0, buf + 21, 40);
	buf[17] = (uint8_t)(crc >> 24);
	buf[18] = (uint8_t)(crc >> 16);
	buf[19] = (uint8_t)(crc >> 8);
	buf[20] = (uint8_t)crc;
	krx_batch_iter_init(&it, buf, 61);
	cr_assert_eq(krx_batch_next(&it, &b), KRX_BATCH_OK);
	cr_assert_eq(b.crc, crc);
	cr_assert_eq(krx_batch_verify_crc(&b), KRX_OK);
}

Test(record, crc_mismatch_detected)
{
	struct kt_frame		 f = kt_load("batch_none_rdk.bin");
	struct krx_batch	 b;
	size_t			 at;

	for (at = 17; at < f.len; at += 997) {
		f.data[at] ^= 0x10;
		b = only_batch(&f);
		cr_assert_eq(krx_batch_verify_crc(&b), KRX_E_MALFORMED,
		    "byte %zu", at);
		f.data[at] ^= 0x10;
	}
	/* Bytes before 21 but the crc are outside it. */
	f.data[0] ^= 1;
	f.data[13] ^= 1;
	b = only_batch(&f);
	cr_assert_eq(krx_batch_verify_crc(&b), KRX_OK);
	free(f.data);
}

Test(record, legacy_batches_passed_through)
{
	/* A magic 1 message (offset 5, value "abc"), then a v2 batch. */
	uint8_t			 buf[37 + 61];
	struct krx_batch_iter	 it;
	struct krx_batch	 b;
	struct krx_batch_writer	 w;
	struct krx_buf		 out;
	const uint8_t		*p;
	size_t			 n;

	memset(buf, 0, sizeof(buf));
	buf[7] = 5;
	buf[11] = 25;
	buf[16] = 1;
	memset(buf + 26, 0xff, 4);	/* key -1 */
	buf[33] = 3;
	memcpy(buf + 34, "abc", 3);
	mkbatch(buf + 37, 49, 2, 0);
	krx_batch_iter_init(&it, buf, sizeof(buf));
	cr_assert_eq(krx_batch_next(&it, &b), KRX_BATCH_OK);
	cr_assert(b.legacy);
	cr_assert_eq(b.magic, 1);
	cr_assert_eq(b.base_offset, 5);
	cr_assert_eq(b.len, 37);
	cr_assert_eq(b.data, buf);
	cr_assert_eq(krx_batch_verify_crc(&b), KRX_E_UNSUPPORTED);
	krx_buf_init(&out, 0);
	cr_assert_eq(krx_batch_records(&b, NULL, &out, CAP, &p, &n),
	    KRX_E_UNSUPPORTED);
	cr_assert_eq(krx_batch_write_header(&w, &out, &b, 0),
	    KRX_E_UNSUPPORTED);
	cr_assert_eq(out.len, 0);
	cr_assert_eq(krx_batch_next(&it, &b), KRX_BATCH_OK);
	cr_assert(!b.legacy);
	cr_assert_eq(b.pos, 37);
	cr_assert_eq(krx_batch_next(&it, &b), KRX_BATCH_END);
	/* A magic 0 message cut short is a tail too. */
	buf[16] = 0;
	krx_batch_iter_init(&it, buf, 30);
	cr_assert_eq(krx_batch_next(&it, &b), KRX_BATCH_TAIL);
	cr_assert_eq(b.magic, 0);
	cr_assert_eq(b.len, 30);
	krx_buf_free(&out);
}

Test(record, writer_codec_checks)
{
	struct kt_frame		 f = kt_load("batch_lz4_rdk.bin");
	struct krx_batch	 b = only_batch(&f);
	struct krx_batch_writer	 w;
	struct krx_buf		 out;

	krx_buf_init(&out, 0);
	cr_assert_eq(krx_batch_write_header(&w, &out, &b, 5),
	    KRX_E_UNSUPPORTED);
	cr_assert_eq(krx_batch_write_header(&w, &out, &b, -2),
	    KRX_E_UNSUPPORTED);
	cr_assert_eq(out.len, 0);
	/* Compressing without a scratch buffer fails and cuts out back. */
	krx_buf_put(&out, "pre", 3);
	cr_assert_eq(krx_batch_write_header(&w, &out, &b,
	    KRX_BATCH_CODEC_KEEP), KRX_OK);
	cr_assert_eq(out.len, 3 + 61);
	cr_assert_eq(krx_batch_write_finish(&w, NULL, &out, NULL), KRX_E_RANGE);
	cr_assert_eq(out.len, 3);
	/* Codec bits 5-7 cannot be decompressed nor kept. */
	b.attributes |= 7;
	cr_assert_eq(krx_batch_write_header(&w, &out, &b,
	    KRX_BATCH_CODEC_KEEP), KRX_E_UNSUPPORTED);
	krx_buf_free(&out);
	free(f.data);
}

/* Records area fixtures: one record is 07 00 00 00 01 01 00 etc. */
static int
iterate(const uint8_t *p, size_t len, int32_t count, int *seen)
{
	struct krx_record_iter	 ri;
	struct krx_record	 r;
	int			 rv;

	*seen = 0;
	krx_record_iter_init(&ri, p, len, count);
	while ((rv = krx_record_next(&ri, &r)) == 1)
		(*seen)++;
	return rv;
}

Test(record, record_strictness)
{
	/* len 6: attr, ts 0, off 0, key null (01), value "" (00), 0 hdrs */
	static const uint8_t	 ok[] = { 0x0c, 0, 0, 0, 0x01, 0x00, 0x00 };
	static const uint8_t	 two[] = { 0x0c, 0, 0, 0, 0x01, 0x00, 0x00,
	    0x0c, 0, 0, 2, 0x01, 0x00, 0x00 };
	static const uint8_t	 longer[] = { 0x0e, 0, 0, 0, 0x01, 0x00, 0x00,
	    0x00 };
	static const uint8_t	 shorter[] = { 0x0a, 0, 0, 0, 0x01, 0x00,
	    0x00 };
	static const uint8_t	 neg_len[] = { 0x01 };
	static const uint8_t	 key_m2[] = { 0x0c, 0, 0, 0, 0x03, 0x00,
	    0x00 };
	static const uint8_t	 neg_hdrs[] = { 0x0c, 0, 0, 0, 0x01, 0x00,
	    0x01 };
	/* one header, key null: rejected; key "" value null: fine */
	static const uint8_t	 hdr_null_key[] = { 0x10, 0, 0, 0, 0x01, 0x00,
	    0x02, 0x01, 0x01 };
	static const uint8_t	 hdr_ok[] = { 0x10, 0, 0, 0, 0x01, 0x00,
	    0x02, 0x00, 0x01 };
	static const uint8_t	 hdr_short[] = { 0x10, 0, 0, 0, 0x01, 0x00,
	    0x04, 0x00, 0x01 };
	int			 seen;

	cr_assert_eq(iterate(ok, sizeof(ok), 1, &seen), 0);
	cr_assert_eq(seen, 1);
	cr_assert_eq(iterate(two, sizeof(two), 2, &seen), 0);
	cr_assert_eq(iterate(two, sizeof(two), 1, &seen), KRX_E_MALFORMED);
	cr_assert_eq(seen, 1, "count below the records");
	cr_assert_eq(iterate(two, sizeof(two), 3, &seen), KRX_E_MALFORMED);
	cr_assert_eq(seen, 2, "count above the records");
	cr_assert_eq(iterate(ok, sizeof(ok), -1, &seen), KRX_E_MALFORMED);
	cr_assert_eq(iterate(NULL, 0, 0, &seen), 0);
	cr_assert_eq(iterate(NULL, 0, 1, &seen), KRX_E_MALFORMED);
	cr_assert_eq(iterate(longer, sizeof(longer), 1, &seen),
	    KRX_E_MALFORMED);
	cr_assert_eq(iterate(shorter, sizeof(shorter), 1, &seen),
	    KRX_E_MALFORMED);
	cr_assert_eq(iterate(neg_len, sizeof(neg_len), 1, &seen),
	    KRX_E_MALFORMED);
	cr_assert_eq(iterate(key_m2, sizeof(key_m2), 1, &seen),
	    KRX_E_MALFORMED);
	cr_assert_eq(iterate(neg_hdrs, sizeof(neg_hdrs), 1, &seen),
	    KRX_E_MALFORMED);
	cr_assert_eq(iterate(hdr_null_key, sizeof(hdr_null_key), 1, &seen),
	    KRX_E_MALFORMED);
	cr_assert_eq(iterate(hdr_ok, sizeof(hdr_ok), 1, &seen), 0);
	cr_assert_eq(iterate(hdr_short, sizeof(hdr_short), 1, &seen),
	    KRX_E_MALFORMED);
}

Test(record, header_iter_bounds)
{
	static const uint8_t	 hdr_ok[] = { 0x10, 0, 0, 0, 0x01, 0x00,
	    0x02, 0x00, 0x01 };
	struct krx_record_iter	 ri;
	struct krx_record	 r;
	struct krx_header_iter	 hi;
	struct krx_header	 h;

	krx_record_iter_init(&ri, hdr_ok, sizeof(hdr_ok), 1);
	cr_assert_eq(krx_record_next(&ri, &r), 1);
	cr_assert_eq(r.key_len, -1);
	cr_assert_null(r.key);
	cr_assert_eq(r.value_len, 0);
	cr_assert_not_null(r.value);
	cr_assert_eq(r.raw, hdr_ok);
	cr_assert_eq(r.raw_len, sizeof(hdr_ok));
	krx_header_iter_init(&hi, &r);
	cr_assert_eq(krx_header_next(&hi, &h), 1);
	cr_assert_eq(h.key_len, 0);
	cr_assert_eq(h.value_len, -1);
	cr_assert_null(h.value);
	cr_assert_eq(krx_header_next(&hi, &h), 0);
	cr_assert_eq(krx_header_next(&hi, &h), 0);
	/* A count that disagrees with the area. */
	r.header_count = 2;
	krx_header_iter_init(&hi, &r);
	cr_assert_eq(krx_header_next(&hi, &h), 1);
	cr_assert_eq(krx_header_next(&hi, &h), KRX_E_MALFORMED);
	r.header_count = 0;
	krx_header_iter_init(&hi, &r);
	cr_assert_eq(krx_header_next(&hi, &h), KRX_E_MALFORMED);
}
