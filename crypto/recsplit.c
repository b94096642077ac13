/*
 * recsplit.c: split the over-limit batches of a Produce records field
 * into pieces (see recsplit.h). Library grade, run in workers on the
 * output of krx_recenc_encrypt, that is on a client's batches: every
 * length comes from proto/record.c's strict iterators, a batch is
 * rebuilt only when its CRC is right, and there are never more pieces
 * than records.
 */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "crypto/recsplit.h"
#include "proto/compress.h"
#include "proto/record.h"

/* Header fields a piece rewrites: their offsets in the batch. */
#define SPLIT_LAST_DELTA_OFF	23
#define SPLIT_MAX_TS_OFF	35
#define SPLIT_BASE_SEQ_OFF	53
#define SPLIT_COUNT_OFF		57

/* The over-limit batch being split. */
struct split_ctx {
	struct krx_recsplit	*sp;
	struct krx_buf		*comp;		/* compression scratch */
	struct krx_zctx		*z;		/* zstd contexts, or NULL */
	size_t			 limit;
	const struct krx_batch	*b;
	const uint8_t		*p;		/* its records, uncompressed */
	size_t			 plen;
	size_t			 big;		/* largest piece written */
};

/* A piece being written at the end of sp->out. */
struct split_piece {
	struct krx_batch_writer	 w;
	int32_t			 count;		/* records in it */
	int64_t			 max_ts;
	int32_t			 before;	/* records in earlier pieces */
};

void
krx_recsplit_init(struct krx_recsplit *sp)
{
	memset(sp, 0, sizeof(*sp));
	krx_buf_init(&sp->out, 0);
}

void
krx_recsplit_reset(struct krx_recsplit *sp)
{
	krx_buf_reset(&sp->out);
	sp->n = 0;
}

void
krx_recsplit_free(struct krx_recsplit *sp)
{
	if (sp == NULL)
		return;
	krx_buf_free(&sp->out);
	free(sp->ends);
	memset(sp, 0, sizeof(*sp));
}

/* A piece ends at the end of sp->out. */
static int
split_push(struct krx_recsplit *sp)
{
	size_t	 ncap, *ne;

	if (sp->out.err != KRX_OK)
		return sp->out.err;
	if (sp->n == sp->cap) {
		ncap = sp->cap < 8 ? 8 : sp->cap * 2;
		if ((ne = reallocarray(sp->ends, ncap, sizeof(*ne))) == NULL)
			return KRX_E_NOMEM;
		sp->ends = ne;
		sp->cap = ncap;
	}
	sp->ends[sp->n++] = sp->out.len;
	return KRX_OK;
}

/* Drop the pieces written after sp held n pieces in len bytes. */
static void
split_cut(struct krx_recsplit *sp, size_t len, size_t n)
{
	sp->out.len = len;
	sp->n = n;
}

/* Kafka's DefaultRecordBatch.incrementSequence; seq, inc >= 0. */
static int32_t
split_seq(int32_t seq, int32_t inc)
{
	if (seq > INT32_MAX - inc)
		return inc - (INT32_MAX - seq) - 1;
	return seq + inc;
}

static void
split_set_be64(uint8_t *p, uint64_t v)
{
	int	 i;

	for (i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static int
split_open(struct split_ctx *x, struct split_piece *pc, int codec)
{
	pc->count = 0;
	pc->max_ts = INT64_MIN;
	return krx_batch_write_header(&pc->w, &x->sp->out, x->b, codec);
}

/* Append rec to the piece, its offset delta renumbered. */
static int
split_add(struct split_ctx *x, struct split_piece *pc,
    struct krx_record *rec)
{
	int64_t	 ts;
	int	 r;

	rec->offset_delta = pc->count;
	if ((r = krx_record_write(&x->sp->out, rec, NULL, NULL)) != KRX_OK)
		return r == KRX_E_RANGE ? KRX_E_TOO_BIG : r;
	/* Wrapping as Java's long arithmetic does. */
	ts = (int64_t)((uint64_t)x->b->base_timestamp +
	    (uint64_t)rec->timestamp_delta);
	if (pc->count == 0 || ts > pc->max_ts)
		pc->max_ts = ts;
	pc->count++;
	return KRX_OK;
}

/* Write the piece's own header fields, length and CRC; it ends there. */
static int
split_close(struct split_ctx *x, struct split_piece *pc)
{
	struct krx_buf	*out = &x->sp->out;
	int32_t		 seq = x->b->base_sequence;
	size_t		 h = pc->w.start;
	int		 r;

	if (out->err != KRX_OK)
		return out->err;
	if (x->b->producer_id >= 0 && seq >= 0)
		seq = split_seq(seq, pc->before);
	krx_buf_set_be32(out, h + SPLIT_LAST_DELTA_OFF,
	    (uint32_t)(pc->count - 1));
	split_set_be64(out->data + h + SPLIT_MAX_TS_OFF, (uint64_t)pc->max_ts);
	krx_buf_set_be32(out, h + SPLIT_BASE_SEQ_OFF, (uint32_t)seq);
	krx_buf_set_be32(out, h + SPLIT_COUNT_OFF, (uint32_t)pc->count);
	if ((r = krx_batch_write_finish(&pc->w, x->z, out, x->comp)) !=
	    KRX_OK)
		return r;
	if (out->len - h > x->big)
		x->big = out->len - h;
	pc->before += pc->count;
	return split_push(x->sp);
}

/*
 * Uncompressed pieces, filled in order while the header and the
 * records' encoded sizes (offset deltas renumbered) stay within the
 * limit: boundaries that depend on sizes only.
 */
static int
split_greedy(struct split_ctx *x)
{
	struct krx_record_iter	 ri;
	struct krx_record	 rec;
	struct split_piece	 pc;
	size_t			 size, used;
	int			 r;

	memset(&pc, 0, sizeof(pc));
	if ((r = split_open(x, &pc, KRX_CODEC_NONE)) != KRX_OK)
		return r;
	krx_record_iter_init(&ri, x->p, x->plen, x->b->records_count);
	while ((r = krx_record_next(&ri, &rec)) == 1) {
		rec.offset_delta = pc.count;
		size = krx_record_size(&rec, NULL);
		used = x->sp->out.len - pc.w.start;	/* <= limit */
		if (pc.count > 0 && size > x->limit - used) {
			if ((r = split_close(x, &pc)) != KRX_OK ||
			    (r = split_open(x, &pc, KRX_CODEC_NONE)) != KRX_OK)
				return r;
			rec.offset_delta = 0;
			size = krx_record_size(&rec, NULL);
		}
		if (size == 0 || size > x->limit - KRX_BATCH_HDR_LEN)
			return KRX_E_TOO_BIG;
		if ((r = split_add(x, &pc, &rec)) != KRX_OK)
			return r;
	}
	if (r < 0)
		return r;
	return split_close(x, &pc);
}

/*
 * The records in k pieces (1 <= k <= records) with codec, the first
 * count % k of them holding one record more than the others.
 */
static int
split_groups(struct split_ctx *x, int codec, int32_t k)
{
	struct krx_record_iter	 ri;
	struct krx_record	 rec;
	struct split_piece	 pc;
	int32_t			 q, extra, want, g = 0;
	int			 r;

	q = x->b->records_count / k;
	extra = x->b->records_count % k;
	want = q + (extra > 0);
	memset(&pc, 0, sizeof(pc));
	if ((r = split_open(x, &pc, codec)) != KRX_OK)
		return r;
	krx_record_iter_init(&ri, x->p, x->plen, x->b->records_count);
	while ((r = krx_record_next(&ri, &rec)) == 1) {
		if (pc.count == want) {
			if ((r = split_close(x, &pc)) != KRX_OK ||
			    (r = split_open(x, &pc, codec)) != KRX_OK)
				return r;
			g++;
			want = q + (g < extra);
		}
		if ((r = split_add(x, &pc, &rec)) != KRX_OK)
			return r;
	}
	if (r < 0)
		return r;
	return split_close(x, &pc);
}

/*
 * Compressed pieces: the whole batch when it is within limit - limit /
 * 16, else k equal pieces, from k = its size over that upwards, until
 * every piece is within the limit. The margin absorbs the few bytes a
 * compressed size varies by from one encryption to the next. Returns 1,
 * sp as it was, when no k up to KRX_RECSPLIT_TRIES counts on fits.
 */
static int
split_compressed(struct split_ctx *x, int codec)
{
	struct krx_recsplit	*sp = x->sp;
	size_t			 len0 = sp->out.len, n0 = sp->n;
	size_t			 room = x->limit - x->limit / 16;
	uint64_t		 k, last;
	int			 r;

	x->big = 0;
	if ((r = split_groups(x, codec, 1)) != KRX_OK || x->big <= room)
		return r;
	k = ((uint64_t)x->big - 1) / room + 1;
	last = k + KRX_RECSPLIT_TRIES - 1;
	if (last > (uint64_t)x->b->records_count)
		last = (uint64_t)x->b->records_count;
	for (; k <= last; k++) {
		split_cut(sp, len0, n0);
		x->big = 0;
		if ((r = split_groups(x, codec, (int32_t)k)) != KRX_OK ||
		    x->big <= x->limit)
			return r;
	}
	split_cut(sp, len0, n0);
	return 1;
}

/* Batch b, over the limit, into pieces. */
static int
split_batch(struct split_ctx *x, const struct krx_batch *b, int out_codec,
    size_t max_decompressed, struct krx_buf *plain)
{
	size_t	 plain0 = plain->len;
	int	 codec = b->attributes & KRX_BATCH_ATTR_CODEC, r;

	if ((r = krx_batch_verify_crc(b)) != KRX_OK)
		return r;
	if (b->records_count <= 0)
		return KRX_E_MALFORMED;
	r = krx_batch_records(b, x->z, plain, max_decompressed, &x->p,
	    &x->plen);
	if (r != KRX_OK)
		goto out;
	/* At most one record per KRX_RECORD_MIN_LEN bytes. */
	r = KRX_E_MALFORMED;
	if ((size_t)b->records_count > x->plen / KRX_RECORD_MIN_LEN)
		goto out;
	x->b = b;
	if (codec == KRX_CODEC_NONE)
		codec = out_codec;
	r = codec == KRX_CODEC_NONE ? 1 : split_compressed(x, codec);
	if (r == 1)
		r = split_greedy(x);
out:
	plain->len = plain0;
	return r;
}

int
krx_recsplit(const uint8_t *records, size_t len, size_t limit,
    int out_codec, size_t max_decompressed, struct krx_zctx *z,
    struct krx_buf *plain, struct krx_buf *comp, struct krx_recsplit *sp)
{
	struct krx_batch_iter	 bi;
	struct krx_batch	 b;
	struct split_ctx	 x;
	int			 step, r = KRX_E_RANGE;

	krx_recsplit_reset(sp);
	if (limit < KRX_RECSPLIT_MIN_LIMIT || plain == comp ||
	    plain == &sp->out || comp == &sp->out)
		goto out;
	r = KRX_E_UNSUPPORTED;
	if (out_codec < KRX_CODEC_NONE || out_codec > KRX_CODEC_MAX)
		goto out;
	memset(&x, 0, sizeof(x));
	x.sp = sp;
	x.comp = comp;
	x.z = z;
	x.limit = limit;
	krx_batch_iter_init(&bi, records, len);
	while ((step = krx_batch_next(&bi, &b)) > 0) {
		if (b.len <= limit) {
			r = krx_buf_put(&sp->out, b.data, b.len);
			if (r != KRX_OK || (r = split_push(sp)) != KRX_OK)
				goto out;
			continue;
		}
		r = KRX_E_UNSUPPORTED;
		if (step == KRX_BATCH_TAIL || b.legacy ||
		    (b.attributes & KRX_BATCH_ATTR_CONTROL))
			goto out;
		r = split_batch(&x, &b, out_codec, max_decompressed, plain);
		if (r != KRX_OK)
			goto out;
	}
	r = step;
out:
	if (r != KRX_OK)
		krx_recsplit_reset(sp);
	return r;
}
