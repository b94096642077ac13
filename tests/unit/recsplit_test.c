/*
 * recsplit_test.c: crypto/recsplit.c, splitting the over-limit batches
 * of a Produce records field into pieces. Batches are built here with
 * proto/record.h's writers (values made like the encryption wrapper's:
 * a repeated 60-byte block, as the EDEK, then random bytes; keys, null
 * keys, tombstones, headers, timestamps out of order) or taken from the
 * captures of tests/data (every codec, librdkafka and the Java
 * producer). Every piece is checked against the original batch: within
 * the limit, one valid batch with its CRC, the original's header fields
 * but for those a piece owns (count, deltas 0..n-1, lastOffsetDelta,
 * maxTimestamp, the continued and wrapping base sequence, codec), and
 * the records, concatenated, are the original's in order. Then
 * determinism, the codec rules and fallback, and errors.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "common/buf.h"
#include "common/err.h"
#include "crypto/recsplit.h"
#include "proto/compress.h"
#include "proto/crc32c.h"
#include "proto/record.h"
#include "kafka_testutil.h"

#define KIB		1024
#define MAXDEC		(64 << 20)
#define BLOCK_LEN	60		/* the repeated part of every value */
#define MAX_PIECES	4096

/* A batch to build: header fields and records. */
struct bspec {
	int64_t		 base_offset;
	int32_t		 leader_epoch;
	int16_t		 attributes;	/* codec bits: the batch's codec */
	int64_t		 base_ts;
	int64_t		 producer_id;
	int16_t		 producer_epoch;
	int32_t		 base_sequence;
	int32_t		 count;
	size_t		 vlen;		/* value bytes: block, then random */
	uint64_t	 seed;		/* of the random bytes */
	int32_t		 big_first;	/* > 0: only the first big_first */
	size_t		 vlen_small;	/* records have vlen, others this */
};

static const struct bspec	 def_spec = {
	.base_offset = 0,
	.leader_epoch = -1,
	.attributes = 0,
	.base_ts = 1700000000000,
	.producer_id = 4242,
	.producer_epoch = 3,
	.base_sequence = 1000,
	.count = 100,
	.vlen = 90,
	.seed = 1,
};

/* Everything a test needs around one krx_recsplit call. */
struct fx {
	struct krx_buf		 in, plain, comp;
	struct krx_recsplit	 sp;
};

static void
fx_init(struct fx *f)
{
	krx_buf_init(&f->in, 0);
	krx_buf_init(&f->plain, 0);
	krx_buf_init(&f->comp, 0);
	krx_recsplit_init(&f->sp);
}

static void
fx_free(struct fx *f)
{
	krx_buf_free(&f->in);
	krx_buf_free(&f->plain);
	krx_buf_free(&f->comp);
	krx_recsplit_free(&f->sp);
}

static int
fx_split(struct fx *f, size_t limit, int out_codec)
{
	return krx_recsplit(f->in.data, f->in.len, limit, out_codec, MAXDEC,
	    NULL, &f->plain, &f->comp, &f->sp);
}

static uint64_t
rng_next(uint64_t *s)
{
	uint64_t	 z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Timestamps out of order, so that the last is not the largest. */
static int64_t
ts_delta(int32_t i)
{
	return (int64_t)((i * 37) % 1000);
}

/* The 61 header bytes of s, as a krx_batch for krx_batch_write_header. */
static void
put_header(struct krx_buf *h, const struct bspec *s, int64_t max_ts)
{
	krx_buf_put_be64(h, (uint64_t)s->base_offset);
	krx_buf_put_be32(h, 0);
	krx_buf_put_be32(h, (uint32_t)s->leader_epoch);
	krx_buf_put_u8(h, 2);
	krx_buf_put_be32(h, 0);
	krx_buf_put_be16(h, (uint16_t)s->attributes);
	krx_buf_put_be32(h, (uint32_t)(s->count - 1));
	krx_buf_put_be64(h, (uint64_t)s->base_ts);
	krx_buf_put_be64(h, (uint64_t)max_ts);
	krx_buf_put_be64(h, (uint64_t)s->producer_id);
	krx_buf_put_be16(h, (uint16_t)s->producer_epoch);
	krx_buf_put_be32(h, (uint32_t)s->base_sequence);
	krx_buf_put_be32(h, (uint32_t)s->count);
	cr_assert_eq(h->err, KRX_OK);
	cr_assert_eq(h->len, KRX_BATCH_HDR_LEN);
}

/*
 * Record i of s into out: a key but every fifth, a tombstone every 97th,
 * a header every third, the value a block then random bytes (its first
 * bytes only when shorter).
 */
static void
put_record(struct krx_buf *out, const struct bspec *s, int32_t i,
    uint64_t *rng)
{
	struct krx_record	 r;
	struct krx_buf		 h;
	char			 key[32];
	uint8_t			*v;
	size_t			 j, vlen;

	memset(&r, 0, sizeof(r));
	krx_buf_init(&h, 0);
	r.timestamp_delta = ts_delta(i);
	r.offset_delta = i;
	r.key_len = -1;
	if (i % 5 != 0) {
		r.key_len = snprintf(key, sizeof(key), "key-%d", i);
		r.key = (const uint8_t *)key;
	}
	vlen = s->vlen;
	if (s->big_first > 0 && i >= s->big_first)
		vlen = s->vlen_small;
	r.value_len = i % 97 == 13 ? -1 : (int32_t)vlen;
	if (i % 3 == 0) {
		krx_buf_put_varint(&h, 6);
		krx_buf_put(&h, "trace-", 6);
		krx_buf_put_varint(&h, 2);
		krx_buf_put(&h, i % 2 ? "ab" : "cd", 2);
		r.header_count = 1;
		r.headers = h.data;
		r.headers_len = h.len;
	}
	cr_assert_eq(krx_record_write(out, &r, NULL, &v), KRX_OK);
	for (j = 0; v != NULL && j < vlen; j++)
		v[j] = j < BLOCK_LEN ? (uint8_t)(0xe0 + j) :
		    (uint8_t)rng_next(rng);
	krx_buf_free(&h);
}

/* Append the batch s describes, compressed with its codec bits, to out. */
static void
mkbatch(struct krx_buf *out, const struct bspec *s)
{
	struct krx_batch_writer	 w;
	struct krx_batch	 b;
	struct krx_buf		 h, z;
	int64_t			 max_ts = s->base_ts;
	uint64_t		 rng = s->seed;
	int32_t			 i;

	for (i = 0; i < s->count; i++)
		if (s->base_ts + ts_delta(i) > max_ts)
			max_ts = s->base_ts + ts_delta(i);
	krx_buf_init(&h, 0);
	krx_buf_init(&z, 0);
	put_header(&h, s, max_ts);
	memset(&b, 0, sizeof(b));
	b.magic = 2;
	b.attributes = s->attributes;
	b.data = h.data;
	b.len = h.len;
	b.records = h.data + h.len;
	cr_assert_eq(krx_batch_write_header(&w, out, &b,
	    KRX_BATCH_CODEC_KEEP), KRX_OK);
	for (i = 0; i < s->count; i++)
		put_record(out, s, i, &rng);
	cr_assert_eq(krx_batch_write_finish(&w, NULL, out, &z), KRX_OK);
	krx_buf_free(&h);
	krx_buf_free(&z);
}

/* The only batch at p; its CRC must be right. */
static struct krx_batch
one_batch(const uint8_t *p, size_t len)
{
	struct krx_batch_iter	 it;
	struct krx_batch	 b, end;

	krx_batch_iter_init(&it, p, len);
	cr_assert_eq(krx_batch_next(&it, &b), KRX_BATCH_OK);
	cr_assert_eq(krx_batch_next(&it, &end), KRX_BATCH_END);
	cr_assert_eq(krx_batch_verify_crc(&b), KRX_OK);
	return b;
}

static const uint8_t *
piece(const struct krx_recsplit *sp, size_t i, size_t *len)
{
	size_t	 start = i == 0 ? 0 : sp->ends[i - 1];

	cr_assert_lt(i, sp->n);
	cr_assert_gt(sp->ends[i], start);
	*len = sp->ends[i] - start;
	return sp->out.data + start;
}

/* Kafka's sequence arithmetic, written as modulo 2^31. */
static int32_t
seq_add(int32_t seq, int64_t inc)
{
	return (int32_t)(((int64_t)seq + inc) % ((int64_t)INT32_MAX + 1));
}

static void
same_bytes(const uint8_t *a, int32_t alen, const uint8_t *b, int32_t blen)
{
	cr_assert_eq(alen, blen);
	if (alen > 0)
		cr_assert_eq(memcmp(a, b, (size_t)alen), 0);
}

/* a (from a piece, renumbered to delta) carries what o carried. */
static void
same_record(const struct krx_record *a, const struct krx_record *o,
    int32_t delta)
{
	cr_assert_eq(a->offset_delta, delta);
	cr_assert_eq(a->attributes, o->attributes);
	cr_assert_eq(a->timestamp_delta, o->timestamp_delta);
	same_bytes(a->key, a->key_len, o->key, o->key_len);
	same_bytes(a->value, a->value_len, o->value, o->value_len);
	cr_assert_eq(a->header_count, o->header_count);
	same_bytes(a->headers, (int32_t)a->headers_len, o->headers,
	    (int32_t)o->headers_len);
}

/* What check_split expects of the pieces. */
struct want {
	int		 codec;		/* of every piece */
	bool		 greedy;	/* no piece could take one more */
	size_t		 limit;
};

/* Header fields of piece pb, which holds records from before on. */
static void
check_header(const struct krx_batch *pb, const struct krx_batch *ob,
    int64_t before, const struct want *w)
{
	int32_t	 seq = ob->base_sequence;

	if (ob->producer_id >= 0 && seq >= 0)
		seq = seq_add(seq, before);
	cr_assert_eq(pb->base_offset, ob->base_offset);
	cr_assert_eq(pb->partition_leader_epoch, ob->partition_leader_epoch);
	cr_assert_eq(pb->magic, 2);
	cr_assert_eq(pb->attributes & ~KRX_BATCH_ATTR_CODEC,
	    ob->attributes & ~KRX_BATCH_ATTR_CODEC);
	cr_assert_eq(pb->attributes & KRX_BATCH_ATTR_CODEC, w->codec);
	cr_assert_eq(pb->base_timestamp, ob->base_timestamp);
	cr_assert_eq(pb->producer_id, ob->producer_id);
	cr_assert_eq(pb->producer_epoch, ob->producer_epoch);
	cr_assert_eq(pb->base_sequence, seq, "piece from %lld: seq %d, not %d",
	    (long long)before, pb->base_sequence, seq);
	cr_assert_gt(pb->records_count, 0);
	cr_assert_eq(pb->last_offset_delta, pb->records_count - 1);
}

/*
 * The records of piece pb against the original's next ones (oi); with
 * prev (the previous piece's length and count), check that its first
 * record did not fit there. The piece's largest timestamp.
 */
static int64_t
check_records(const struct krx_batch *pb, struct krx_record_iter *oi,
    const struct want *w, const size_t *prev)
{
	struct krx_record_iter	 ri;
	struct krx_record	 r, o;
	struct krx_buf		 s;
	const uint8_t		*p;
	size_t			 n;
	int64_t			 max_ts = INT64_MIN;
	int32_t			 i;

	krx_buf_init(&s, 0);
	cr_assert_eq(krx_batch_records(pb, NULL, &s, MAXDEC, &p, &n), KRX_OK);
	krx_record_iter_init(&ri, p, n, pb->records_count);
	for (i = 0; krx_record_next(&ri, &r) == 1; i++) {
		cr_assert_eq(krx_record_next(oi, &o), 1, "more records");
		same_record(&r, &o, i);
		if (pb->base_timestamp + r.timestamp_delta > max_ts)
			max_ts = pb->base_timestamp + r.timestamp_delta;
		if (i > 0 || prev == NULL)
			continue;
		o.offset_delta = (int32_t)prev[1];
		cr_assert_gt(prev[0] + krx_record_size(&o, NULL), w->limit,
		    "the previous piece had room for this record");
	}
	cr_assert_eq(i, pb->records_count);
	krx_buf_free(&s);
	return max_ts;
}

/*
 * sp holds the pieces of the one batch at in: check them all. Returns
 * the number of pieces; counts[i] (when not NULL) is piece i's records.
 */
static size_t
check_split(const uint8_t *in, size_t inlen, const struct krx_recsplit *sp,
    const struct want *w, int32_t *counts)
{
	struct krx_batch	 ob, pb;
	struct krx_record_iter	 oi;
	struct krx_record	 o;
	struct krx_buf		 os;
	const uint8_t		*op, *pp;
	size_t			 on, plen, i, prev[2];
	int64_t			 before = 0;

	ob = one_batch(in, inlen);
	krx_buf_init(&os, 0);
	cr_assert_eq(krx_batch_records(&ob, NULL, &os, MAXDEC, &op, &on),
	    KRX_OK);
	krx_record_iter_init(&oi, op, on, ob.records_count);
	cr_assert_gt(sp->n, 0);
	for (i = 0; i < sp->n; i++) {
		pp = piece(sp, i, &plen);
		cr_assert_leq(plen, w->limit, "piece %zu: %zu bytes", i, plen);
		pb = one_batch(pp, plen);
		check_header(&pb, &ob, before, w);
		cr_assert_eq(check_records(&pb, &oi, w,
		    w->greedy && i > 0 ? prev : NULL), pb.max_timestamp);
		if (counts != NULL)
			counts[i] = pb.records_count;
		before += pb.records_count;
		prev[0] = plen;
		prev[1] = (size_t)pb.records_count;
	}
	cr_assert_eq(krx_record_next(&oi, &o), 0, "records left over");
	cr_assert_eq(before, ob.records_count);
	krx_buf_free(&os);
	return sp->n;
}

/* Two splits gave the same boundaries. */
static void
same_ends(const struct krx_recsplit *a, const int32_t *ca,
    const struct krx_recsplit *b, const int32_t *cb)
{
	cr_assert_eq(a->n, b->n);
	cr_assert_eq(memcmp(ca, cb, a->n * sizeof(*ca)), 0);
}

/* A magic 0 message set entry with a 5-byte value, or vlen bytes. */
static void
put_legacy(struct krx_buf *out, int32_t vlen)
{
	int32_t	 i;

	krx_buf_put_be64(out, 7);
	krx_buf_put_be32(out, (uint32_t)(14 + vlen));
	krx_buf_put_be32(out, 0x12345678);	/* crc, not checked */
	krx_buf_put_u8(out, 0);			/* magic */
	krx_buf_put_u8(out, 0);			/* attributes */
	krx_buf_put_be32(out, UINT32_MAX);	/* null key */
	krx_buf_put_be32(out, (uint32_t)vlen);
	for (i = 0; i < vlen; i++)
		krx_buf_put_u8(out, (uint8_t)i);
	cr_assert_eq(out->err, KRX_OK);
}

static void
fix_crc(uint8_t *b, size_t len)
{
	uint32_t	 crc;

	crc = krx_crc32c(0, b + KRX_BATCH_ATTR_OFF, len - KRX_BATCH_ATTR_OFF);
	b[KRX_BATCH_CRC_OFF] = (uint8_t)(crc >> 24);
	b[KRX_BATCH_CRC_OFF + 1] = (uint8_t)(crc >> 16);
	b[KRX_BATCH_CRC_OFF + 2] = (uint8_t)(crc >> 8);
	b[KRX_BATCH_CRC_OFF + 3] = (uint8_t)crc;
}

static void
set_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* The split failed with err and left no piece. */
static void
failed(struct fx *f, size_t limit, int out_codec, int err)
{
	cr_assert_eq(fx_split(f, limit, out_codec), err, "not %s",
	    krx_strerror(err));
	cr_assert_eq(f->sp.n, 0);
	cr_assert_eq(f->sp.out.len, 0);
}

Test(recsplit, under_limit_copied)
{
	struct fx	 f;
	struct bspec	 s = def_spec;
	size_t		 ends[3], len, i;
	const uint8_t	*p;

	fx_init(&f);
	mkbatch(&f.in, &s);
	ends[0] = f.in.len;
	put_legacy(&f.in, 5);
	ends[1] = f.in.len;
	s.attributes = KRX_CODEC_LZ4;
	mkbatch(&f.in, &s);
	ends[2] = f.in.len;
	cr_assert_lt(ends[0], 64 * KIB);
	cr_assert_eq(fx_split(&f, 64 * KIB, KRX_CODEC_ZSTD), KRX_OK);
	cr_assert_eq(f.sp.n, 3);
	for (i = 0; i < 3; i++) {
		p = piece(&f.sp, i, &len);
		cr_assert_eq(len, ends[i] - (i == 0 ? 0 : ends[i - 1]));
		cr_assert_eq(memcmp(p, f.in.data + (ends[i] - len), len), 0);
	}
	/* Exactly the limit is still one piece. */
	cr_assert_eq(fx_split(&f, ends[0], KRX_CODEC_NONE), KRX_OK);
	cr_assert_eq(f.sp.n, 3);
	cr_assert_eq(memcmp(f.sp.out.data, f.in.data, f.in.len), 0);
	/* Nothing in, nothing out. */
	cr_assert_eq(krx_recsplit(NULL, 0, 1024, 0, MAXDEC, NULL, &f.plain,
	    &f.comp,
	    &f.sp), KRX_OK);
	cr_assert_eq(f.sp.n, 0);
	fx_free(&f);
}

Test(recsplit, ten_thousand_records)
{
	struct fx	 f;
	struct bspec	 s = def_spec;
	struct want	 w = { KRX_CODEC_NONE, true, 64 * KIB };
	int32_t		 counts[MAX_PIECES];
	size_t		 n, i;

	fx_init(&f);
	s.count = 10000;
	s.attributes = KRX_BATCH_ATTR_TRANSACTIONAL;
	s.producer_id = 9000000001;
	s.producer_epoch = 17;
	s.leader_epoch = 5;
	mkbatch(&f.in, &s);
	cr_assert_gt(f.in.len, 1000000);
	cr_assert_eq(fx_split(&f, w.limit, KRX_CODEC_NONE), KRX_OK);
	n = check_split(f.in.data, f.in.len, &f.sp, &w, counts);
	cr_assert_geq(n, f.in.len / w.limit + 1);
	cr_assert_leq(n, f.in.len / (w.limit - 200) + 1);
	for (i = 0; i + 1 < n; i++)
		cr_assert_gt(counts[i], 500);
	fx_free(&f);
}

static void
check_seq(int64_t pid, int32_t seq)
{
	struct fx	 f;
	struct bspec	 s = def_spec;
	struct want	 w = { KRX_CODEC_NONE, true, 4 * KIB };
	struct krx_batch b;
	size_t		 len, n;
	const uint8_t	*p;

	fx_init(&f);
	s.count = 1000;
	s.producer_id = pid;
	s.base_sequence = seq;
	mkbatch(&f.in, &s);
	cr_assert_eq(fx_split(&f, w.limit, KRX_CODEC_NONE), KRX_OK);
	n = check_split(f.in.data, f.in.len, &f.sp, &w, NULL);
	cr_assert_gt(n, 20);
	p = piece(&f.sp, n - 1, &len);
	b = one_batch(p, len);
	if (pid >= 0 && seq >= 0)
		cr_assert_neq(b.base_sequence, seq);
	else
		cr_assert_eq(b.base_sequence, seq);
	if (seq > INT32_MAX - 1000)
		cr_assert_lt(b.base_sequence, 1000, "no wrap");
	fx_free(&f);
}

Test(recsplit, sequences)
{
	check_seq(4242, 0);
	check_seq(4242, 1000);
	check_seq(4242, INT32_MAX - 150);	/* wraps in the middle */
	check_seq(4242, INT32_MAX);		/* wraps at once */
	check_seq(-1, -1);			/* not idempotent: kept */
	check_seq(4242, -1);
	check_seq(-1, 77);
}

Test(recsplit, deterministic)
{
	struct fx	 f, g;
	struct bspec	 s = def_spec;
	struct want	 w = { KRX_CODEC_NONE, true, 16 * KIB };
	int32_t		 ca[MAX_PIECES], cb[MAX_PIECES];

	fx_init(&f);
	fx_init(&g);
	s.count = 3000;
	mkbatch(&f.in, &s);
	s.seed = 99;			/* other bytes, same sizes */
	mkbatch(&g.in, &s);
	cr_assert_neq(memcmp(f.in.data, g.in.data, f.in.len), 0);
	cr_assert_eq(fx_split(&f, w.limit, KRX_CODEC_NONE), KRX_OK);
	cr_assert_eq(fx_split(&g, w.limit, KRX_CODEC_NONE), KRX_OK);
	check_split(f.in.data, f.in.len, &f.sp, &w, ca);
	check_split(g.in.data, g.in.len, &g.sp, &w, cb);
	same_ends(&f.sp, ca, &g.sp, cb);
	cr_assert_eq(memcmp(f.sp.ends, g.sp.ends, f.sp.n * sizeof(size_t)),
	    0);
	/* The same input again: the same bytes (sp reused). */
	memcpy(g.in.data, f.in.data, f.in.len);
	cr_assert_eq(fx_split(&g, w.limit, KRX_CODEC_NONE), KRX_OK);
	cr_assert_eq(g.sp.out.len, f.sp.out.len);
	cr_assert_eq(memcmp(g.sp.out.data, f.sp.out.data, f.sp.out.len), 0);
	/* Compressed: same input, same boundaries. */
	w.codec = KRX_CODEC_ZSTD;
	w.greedy = false;
	cr_assert_eq(fx_split(&f, w.limit, KRX_CODEC_ZSTD), KRX_OK);
	cr_assert_eq(fx_split(&g, w.limit, KRX_CODEC_ZSTD), KRX_OK);
	check_split(f.in.data, f.in.len, &f.sp, &w, ca);
	check_split(g.in.data, g.in.len, &g.sp, &w, cb);
	same_ends(&f.sp, ca, &g.sp, cb);
	fx_free(&f);
	fx_free(&g);
}

/* Compressed pieces hold equal counts, the first ones one more. */
static void
check_equal_counts(const int32_t *c, size_t n, int32_t total)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		cr_assert_eq(c[i], total / (int32_t)n +
		    ((int32_t)i < total % (int32_t)n), "piece %zu of %zu: %d",
		    i, n, c[i]);
}

Test(recsplit, zstd_fewer_pieces)
{
	struct fx	 f;
	struct bspec	 s = def_spec;
	struct want	 w = { KRX_CODEC_NONE, true, 256 * KIB };
	int32_t		 counts[MAX_PIECES];
	size_t		 plain_n, zstd_n;

	fx_init(&f);
	s.count = 49999;
	s.vlen = BLOCK_LEN + 37;
	mkbatch(&f.in, &s);
	cr_assert_eq(fx_split(&f, w.limit, KRX_CODEC_NONE), KRX_OK);
	plain_n = check_split(f.in.data, f.in.len, &f.sp, &w, NULL);
	w.codec = KRX_CODEC_ZSTD;
	w.greedy = false;
	cr_assert_eq(fx_split(&f, w.limit, KRX_CODEC_ZSTD), KRX_OK);
	zstd_n = check_split(f.in.data, f.in.len, &f.sp, &w, counts);
	cr_assert_lt(zstd_n, plain_n, "zstd %zu pieces, plain %zu", zstd_n,
	    plain_n);
	cr_assert_gt(zstd_n, 1);
	check_equal_counts(counts, zstd_n, s.count);
	fx_free(&f);
}

/* A batch compressed with codec, over the limit: pieces keep its codec. */
static void
check_compressed_input(int codec, int out_codec)
{
	struct fx	 f;
	struct bspec	 s = def_spec;
	struct want	 w = { codec, false, 16 * KIB };
	int32_t		 counts[MAX_PIECES];
	size_t		 n;

	fx_init(&f);
	s.count = 2999;
	s.vlen = BLOCK_LEN + 37;
	s.attributes = (int16_t)codec;
	mkbatch(&f.in, &s);
	cr_assert_gt(f.in.len, w.limit);
	/* The scratch buffers are left as they were. */
	krx_buf_put(&f.plain, "abc", 3);
	krx_buf_put(&f.comp, "xyz", 3);
	cr_assert_eq(fx_split(&f, w.limit, out_codec), KRX_OK);
	cr_assert(f.plain.len == 3 && memcmp(f.plain.data, "abc", 3) == 0);
	cr_assert(f.comp.len == 3 && memcmp(f.comp.data, "xyz", 3) == 0);
	n = check_split(f.in.data, f.in.len, &f.sp, &w, counts);
	cr_assert_gt(n, 1);
	check_equal_counts(counts, n, s.count);
	fx_free(&f);
}

Test(recsplit, compressed_input)
{
	check_compressed_input(KRX_CODEC_GZIP, KRX_CODEC_NONE);
	check_compressed_input(KRX_CODEC_LZ4, KRX_CODEC_NONE);
	check_compressed_input(KRX_CODEC_SNAPPY, KRX_CODEC_ZSTD);
	check_compressed_input(KRX_CODEC_ZSTD, KRX_CODEC_GZIP);
}

/* Compressible records a little over the limit: one compressed piece. */
Test(recsplit, one_compressed_piece)
{
	struct fx	 f;
	struct bspec	 s = def_spec;
	struct want	 w = { KRX_CODEC_LZ4, false, 64 * KIB };

	fx_init(&f);
	s.count = 2000;
	s.vlen = BLOCK_LEN;
	mkbatch(&f.in, &s);
	cr_assert_gt(f.in.len, w.limit);
	cr_assert_eq(fx_split(&f, w.limit, KRX_CODEC_LZ4), KRX_OK);
	cr_assert_eq(check_split(f.in.data, f.in.len, &f.sp, &w, NULL), 1);
	fx_free(&f);
}

/*
 * A record that fits the limit only uncompressed (its random bytes grow
 * by the frame's overhead): no count of compressed pieces works, the
 * pieces are made uncompressed.
 */
Test(recsplit, compressed_falls_back)
{
	struct fx	 f;
	struct bspec	 s = def_spec;
	struct want	 w = { KRX_CODEC_NONE, true, 1024 };
	int32_t		 counts[MAX_PIECES];

	fx_init(&f);
	s.count = 21;
	s.big_first = 1;
	s.vlen = 944;			/* 61 + 963 bytes */
	s.vlen_small = 10;
	mkbatch(&f.in, &s);
	cr_assert_eq(fx_split(&f, w.limit, KRX_CODEC_ZSTD), KRX_OK);
	cr_assert_eq(check_split(f.in.data, f.in.len, &f.sp, &w, counts), 2);
	cr_assert_eq(counts[0], 1);
	/* Only big records: more pieces than records needed, none tried. */
	krx_buf_reset(&f.in);
	s.count = 3;
	s.big_first = 0;
	mkbatch(&f.in, &s);
	cr_assert_eq(fx_split(&f, w.limit, KRX_CODEC_ZSTD), KRX_OK);
	cr_assert_eq(check_split(f.in.data, f.in.len, &f.sp, &w, NULL), 3);
	fx_free(&f);
}

/* The one batch of in compressed whole with zstd, as krx does. */
static size_t
ztotal(const struct krx_buf *in)
{
	struct krx_batch	 b;
	struct krx_buf		 z;
	size_t			 t;

	krx_buf_init(&z, 0);
	b = one_batch(in->data, in->len);
	cr_assert_eq(krx_compress(NULL, KRX_CODEC_ZSTD, b.records,
	    b.records_len,
	    &z), KRX_OK);
	t = KRX_BATCH_HDR_LEN + z.len;
	krx_buf_free(&z);
	return t;
}

/*
 * Big random records first, small ones after: the two pieces the
 * compressed total asks for are uneven in bytes, the first over the
 * limit; three fit.
 */
Test(recsplit, compressed_more_pieces)
{
	struct fx	 f;
	struct bspec	 s = def_spec;
	struct want	 w = { KRX_CODEC_ZSTD, false, 4 * KIB };
	int32_t		 counts[MAX_PIECES];
	size_t		 n, room;

	fx_init(&f);
	s.count = 40;
	s.big_first = 20;
	s.vlen = 300;
	s.vlen_small = 10;
	mkbatch(&f.in, &s);
	cr_assert_eq(fx_split(&f, w.limit, KRX_CODEC_ZSTD), KRX_OK);
	n = check_split(f.in.data, f.in.len, &f.sp, &w, counts);
	room = w.limit - w.limit / 16;
	cr_assert_eq((ztotal(&f.in) + room - 1) / room, 2);
	cr_assert_eq(n, 3);
	check_equal_counts(counts, n, s.count);
	fx_free(&f);
}

/*
 * The 1/16 margin: a batch that compresses to T bytes is one piece when
 * T <= limit - limit / 16, two when T is within the limit but not the
 * margin. T is measured here with the same compressor.
 */
Test(recsplit, compressed_margin)
{
	struct fx	 f;
	struct bspec	 s = def_spec;
	struct want	 w = { KRX_CODEC_ZSTD, false, 0 };
	size_t		 t;

	fx_init(&f);
	s.count = 400;
	mkbatch(&f.in, &s);
	t = ztotal(&f.in);
	cr_assert_gt(f.in.len, t + t / 15 + 1);
	w.limit = t;
	cr_assert_eq(fx_split(&f, w.limit, KRX_CODEC_ZSTD), KRX_OK);
	cr_assert_eq(check_split(f.in.data, f.in.len, &f.sp, &w, NULL), 2);
	w.limit = t + t / 15 + 1;
	cr_assert_eq(fx_split(&f, w.limit, KRX_CODEC_ZSTD), KRX_OK);
	cr_assert_eq(check_split(f.in.data, f.in.len, &f.sp, &w, NULL), 1);
	cr_assert_eq(f.sp.out.len, t);
	fx_free(&f);
}

Test(recsplit, several_batches)
{
	struct fx		 f;
	struct bspec		 s = def_spec;
	struct want		 w = { KRX_CODEC_NONE, true, 8 * KIB };
	struct krx_recsplit	 mid;
	size_t			 a, b, len, i;
	const uint8_t		*p;

	fx_init(&f);
	s.count = 10;
	mkbatch(&f.in, &s);
	a = f.in.len;
	s.count = 500;
	s.base_sequence = 10;
	mkbatch(&f.in, &s);
	b = f.in.len;
	s.count = 10;
	s.base_sequence = 510;
	mkbatch(&f.in, &s);
	cr_assert_eq(fx_split(&f, w.limit, KRX_CODEC_NONE), KRX_OK);
	cr_assert_gt(f.sp.n, 3);
	p = piece(&f.sp, 0, &len);
	cr_assert(len == a && memcmp(p, f.in.data, a) == 0);
	p = piece(&f.sp, f.sp.n - 1, &len);
	cr_assert(len == f.in.len - b && memcmp(p, f.in.data + b, len) == 0);
	/* The middle pieces, as a split of their own. */
	memset(&mid, 0, sizeof(mid));
	mid.out.data = f.sp.out.data + a;
	mid.n = f.sp.n - 2;
	cr_assert_not_null(mid.ends = calloc(mid.n, sizeof(size_t)));
	for (i = 0; i < mid.n; i++)
		mid.ends[i] = f.sp.ends[i + 1] - a;
	check_split(f.in.data + a, b - a, &mid, &w, NULL);
	free(mid.ends);
	fx_free(&f);
}

/*
 * Real clients' batches, one byte over the limit: split with their own
 * codec. The 40000-byte record of librdkafka's raw snappy batch fits
 * only compressed, and snappy-java framing (what krx writes) is
 * bigger: no count of pieces fits, uncompressed it is too big.
 */
Test(recsplit, captures)
{
	static const struct {
		const char	*name;
		int		 r;
	} caps[] = {
		{ "batch_none_java.bin", KRX_OK },
		{ "batch_none_rdk.bin", KRX_OK },
		{ "batch_gzip_java.bin", KRX_OK },
		{ "batch_gzip_rdk.bin", KRX_OK },
		{ "batch_lz4_java.bin", KRX_OK },
		{ "batch_lz4_rdk.bin", KRX_OK },
		{ "batch_snappy_java.bin", KRX_OK },
		{ "batch_snappy_rdk.bin", KRX_E_TOO_BIG },
		{ "batch_zstd_java.bin", KRX_OK },
		{ "batch_zstd_rdk.bin", KRX_OK },
	};
	struct fx		 f;
	struct kt_frame		 fr;
	struct krx_batch	 b;
	struct want		 w;
	size_t			 i;

	fx_init(&f);
	for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		fr = kt_load(caps[i].name);
		b = one_batch(fr.data, fr.len);
		w.codec = b.attributes & KRX_BATCH_ATTR_CODEC;
		w.greedy = w.codec == KRX_CODEC_NONE;
		w.limit = fr.len - 1;
		cr_assert_eq(krx_recsplit(fr.data, fr.len, w.limit,
		    KRX_CODEC_NONE, MAXDEC, NULL, &f.plain, &f.comp, &f.sp),
		    caps[i].r, "%s", caps[i].name);
		if (caps[i].r == KRX_OK)
			cr_assert_gt(check_split(fr.data, fr.len, &f.sp, &w,
			    NULL), 1, "%s", caps[i].name);
		free(fr.data);
	}
	/* A transaction's batch and its COMMIT marker: copied. */
	fr = kt_load("batch_txn_java.bin");
	cr_assert_eq(krx_recsplit(fr.data, fr.len, 1024, KRX_CODEC_NONE,
	    MAXDEC, NULL, &f.plain, &f.comp, &f.sp), KRX_OK);
	cr_assert(f.sp.n == 2 && f.sp.out.len == fr.len &&
	    memcmp(f.sp.out.data, fr.data, fr.len) == 0);
	free(fr.data);
	fx_free(&f);
}

Test(recsplit, record_too_big)
{
	struct fx	 f;
	struct bspec	 s = def_spec;

	fx_init(&f);
	s.count = 3;
	s.vlen = 2000;
	mkbatch(&f.in, &s);
	failed(&f, 1024, KRX_CODEC_NONE, KRX_E_TOO_BIG);
	failed(&f, 1024, KRX_CODEC_ZSTD, KRX_E_TOO_BIG);
	/* After a batch copied and another split: nothing kept. */
	krx_buf_reset(&f.in);
	s.count = 4;
	s.vlen = 10;
	mkbatch(&f.in, &s);
	s.count = 300;
	mkbatch(&f.in, &s);
	s.count = 10;
	s.big_first = 1;
	s.vlen = 2000;
	mkbatch(&f.in, &s);
	failed(&f, 1024, KRX_CODEC_NONE, KRX_E_TOO_BIG);
	fx_free(&f);
}

Test(recsplit, limit_and_arguments)
{
	struct fx	 f;
	struct bspec	 s = def_spec;

	fx_init(&f);
	mkbatch(&f.in, &s);
	failed(&f, 1023, KRX_CODEC_NONE, KRX_E_RANGE);
	failed(&f, 0, KRX_CODEC_NONE, KRX_E_RANGE);
	failed(&f, 1024, 5, KRX_E_UNSUPPORTED);
	failed(&f, 1024, -1, KRX_E_UNSUPPORTED);
	cr_assert_eq(krx_recsplit(f.in.data, f.in.len, 1024, 0, MAXDEC,
	    NULL, &f.plain, &f.plain, &f.sp), KRX_E_RANGE);
	cr_assert_eq(krx_recsplit(f.in.data, f.in.len, 1024, 0, MAXDEC,
	    NULL, &f.plain, &f.sp.out, &f.sp), KRX_E_RANGE);
	cr_assert_eq(fx_split(&f, 1024, KRX_CODEC_NONE), KRX_OK);
	fx_free(&f);
}

Test(recsplit, bad_batches)
{
	struct fx	 f;
	struct bspec	 s = def_spec;
	struct krx_buf	 orig;
	size_t		 len;

	fx_init(&f);
	s.count = 40;
	mkbatch(&f.in, &s);
	len = f.in.len;
	krx_buf_init(&orig, 0);
	krx_buf_put(&orig, f.in.data, len);
	/* A wrong CRC, over the limit: not re-signed. */
	f.in.data[100] ^= 1;
	failed(&f, 1024, KRX_CODEC_NONE, KRX_E_MALFORMED);
	/* A count that is not the records'. */
	memcpy(f.in.data, orig.data, len);
	set_be32(f.in.data + 57, 41);
	fix_crc(f.in.data, len);
	failed(&f, 1024, KRX_CODEC_NONE, KRX_E_MALFORMED);
	set_be32(f.in.data + 57, 39);
	fix_crc(f.in.data, len);
	failed(&f, 1024, KRX_CODEC_LZ4, KRX_E_MALFORMED);
	set_be32(f.in.data + 57, 0);
	fix_crc(f.in.data, len);
	failed(&f, 1024, KRX_CODEC_NONE, KRX_E_MALFORMED);
	set_be32(f.in.data + 57, UINT32_MAX);
	fix_crc(f.in.data, len);
	failed(&f, 1024, KRX_CODEC_NONE, KRX_E_MALFORMED);
	/* An incomplete batch: copied when small, else refused. */
	memcpy(f.in.data, orig.data, len);
	f.in.len = len - 1;
	failed(&f, 1024, KRX_CODEC_NONE, KRX_E_UNSUPPORTED);
	f.in.len = 1000;
	cr_assert_eq(fx_split(&f, 1024, KRX_CODEC_NONE), KRX_OK);
	cr_assert(f.sp.n == 1 && f.sp.ends[0] == 1000);
	/* Magic 3. */
	f.in.len = len;
	f.in.data[KRX_BATCH_MAGIC_OFF] = 3;
	failed(&f, 1024, KRX_CODEC_NONE, KRX_E_UNSUPPORTED);
	/* A control batch over the limit. */
	krx_buf_reset(&f.in);
	s.attributes = KRX_BATCH_ATTR_CONTROL | KRX_BATCH_ATTR_TRANSACTIONAL;
	mkbatch(&f.in, &s);
	failed(&f, 1024, KRX_CODEC_NONE, KRX_E_UNSUPPORTED);
	/* A legacy batch over the limit. */
	krx_buf_reset(&f.in);
	put_legacy(&f.in, 2000);
	failed(&f, 1024, KRX_CODEC_NONE, KRX_E_UNSUPPORTED);
	/* More decompressed bytes than allowed. */
	krx_buf_reset(&f.in);
	s.attributes = KRX_CODEC_ZSTD;
	s.count = 1000;
	mkbatch(&f.in, &s);
	cr_assert_eq(krx_recsplit(f.in.data, f.in.len, 1024, KRX_CODEC_NONE,
	    4096, NULL, &f.plain, &f.comp, &f.sp), KRX_E_TOO_BIG);
	cr_assert_eq(f.sp.n, 0);
	krx_buf_free(&orig);
	fx_free(&f);
}

/* Whatever krx_recsplit accepted: pieces within the limit, CRCs right. */
static void
check_any(const struct krx_recsplit *sp, size_t limit)
{
	struct krx_batch_iter	 it;
	struct krx_batch	 b;
	const uint8_t		*p;
	size_t			 i, len;

	for (i = 0; i < sp->n; i++) {
		p = piece(sp, i, &len);
		cr_assert_leq(len, limit);
		krx_batch_iter_init(&it, p, len);
		if (krx_batch_next(&it, &b) == KRX_BATCH_OK && !b.legacy &&
		    b.len > 1024)
			cr_assert_eq(krx_batch_verify_crc(&b), KRX_OK);
	}
}

/* Random bytes, and valid batches with bytes changed (CRC fixed). */
Test(recsplit, garbage)
{
	struct fx	 f;
	struct bspec	 s = def_spec;
	struct krx_buf	 orig;
	uint64_t	 rng = 7, x;
	size_t		 i, j, n;
	int		 r;

	fx_init(&f);
	krx_buf_init(&orig, 0);
	for (i = 0; i < 300; i++) {
		krx_buf_reset(&f.in);
		n = rng_next(&rng) % 3000;
		for (j = 0; j < n; j++)
			krx_buf_put_u8(&f.in, (uint8_t)rng_next(&rng));
		if ((r = fx_split(&f, 1024, KRX_CODEC_ZSTD)) != KRX_OK)
			cr_assert(r < 0 && f.sp.n == 0);
	}
	s.count = 30;
	for (i = 0; i < 600; i++) {
		if (i % 200 == 0) {
			krx_buf_reset(&orig);
			s.attributes = (int16_t)(i / 200 * 2);	/* 0 2 4 */
			mkbatch(&orig, &s);
		}
		krx_buf_reset(&f.in);
		krx_buf_put(&f.in, orig.data, orig.len);
		for (j = 0; j < 1 + i % 4; j++) {
			x = rng_next(&rng);
			f.in.data[KRX_BATCH_ATTR_OFF + x % (orig.len -
			    KRX_BATCH_ATTR_OFF)] ^= (uint8_t)(x >> 32 | 1);
		}
		fix_crc(f.in.data, f.in.len);
		r = fx_split(&f, 1024, (int)(i % 5));
		cr_assert(r <= 0 && (r == KRX_OK || f.sp.n == 0));
		check_any(&f.sp, 1024);
	}
	krx_buf_free(&orig);
	fx_free(&f);
}
