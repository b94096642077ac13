/*
 * fuzz_recsplit.c: libFuzzer harness for crypto/recsplit.c.
 *
 * The input is a selector byte then a Produce records field. The byte
 * picks the limit (1024 + 64 * (b & 0x1f)) and the pieces' codec
 * ((b >> 5) % 5). Every complete v2 batch gets its CRC fixed first, so
 * that the splitter's decoding is reached. Besides "no crash, no leak"
 * it checks: on an error no piece is left; otherwise every piece is
 * within the limit, a batch within the limit is one piece copied byte
 * for byte, the pieces of a split batch are valid batches (CRC, base
 * offset, producer id, non-codec attributes kept, offset deltas from 0)
 * whose record counts add up to the batch's, and splitting again gives
 * the same bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "crypto/recsplit.h"
#include "proto/compress.h"
#include "proto/crc32c.h"
#include "proto/record.h"

#define FZ_MAXDEC	(256 * 1024)

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

/* Fix the CRC of every complete v2 batch of p. */
static void
fz_fix_crcs(uint8_t *p, size_t len)
{
	struct krx_batch_iter	 it;
	struct krx_batch	 b;
	uint8_t			*c;
	uint32_t		 crc;

	krx_batch_iter_init(&it, p, len);
	while (krx_batch_next(&it, &b) == KRX_BATCH_OK) {
		if (b.legacy)
			continue;
		crc = krx_crc32c(0, b.data + KRX_BATCH_ATTR_OFF,
		    b.len - KRX_BATCH_ATTR_OFF);
		c = p + b.pos + KRX_BATCH_CRC_OFF;
		c[0] = (uint8_t)(crc >> 24);
		c[1] = (uint8_t)(crc >> 16);
		c[2] = (uint8_t)(crc >> 8);
		c[3] = (uint8_t)crc;
	}
}

/* Piece i of sp, as the one batch it must be. */
static struct krx_batch
fz_piece(const struct krx_recsplit *sp, size_t i)
{
	struct krx_batch_iter	 it;
	struct krx_batch	 b, end;
	size_t			 start = i == 0 ? 0 : sp->ends[i - 1];

	krx_batch_iter_init(&it, sp->out.data + start, sp->ends[i] - start);
	fz_check(krx_batch_next(&it, &b) == KRX_BATCH_OK);
	fz_check(krx_batch_next(&it, &end) == KRX_BATCH_END);
	return b;
}

/* The first record of a piece has offset delta 0. */
static void
fz_first_delta(const struct krx_batch *pb)
{
	struct krx_record_iter	 ri;
	struct krx_record	 r;
	struct krx_buf		 s;
	const uint8_t		*p;
	size_t			 n;

	krx_buf_init(&s, 0);
	fz_check(krx_batch_records(pb, NULL, &s, FZ_MAXDEC * 2, &p,
	    &n) == KRX_OK);
	krx_record_iter_init(&ri, p, n, pb->records_count);
	fz_check(krx_record_next(&ri, &r) == 1 && r.offset_delta == 0);
	krx_buf_free(&s);
}

/* The pieces of batch b from *i on; *i moves past them. */
static void
fz_split_batch(const struct krx_batch *b, const struct krx_recsplit *sp,
    size_t *i, size_t limit)
{
	struct krx_batch	 pb;
	int64_t			 sum = 0;

	while (sum < b->records_count) {
		fz_check(*i < sp->n);
		pb = fz_piece(sp, (*i)++);
		fz_check(pb.len <= limit && !pb.legacy);
		fz_check(krx_batch_verify_crc(&pb) == KRX_OK);
		fz_check(pb.base_offset == b->base_offset &&
		    pb.producer_id == b->producer_id &&
		    pb.producer_epoch == b->producer_epoch);
		fz_check((pb.attributes & ~KRX_BATCH_ATTR_CODEC) ==
		    (b->attributes & ~KRX_BATCH_ATTR_CODEC));
		fz_check(pb.records_count > 0 &&
		    pb.last_offset_delta == pb.records_count - 1);
		fz_first_delta(&pb);
		sum += pb.records_count;
	}
	fz_check(sum == b->records_count);
}

static void
fz_verify(const uint8_t *in, size_t len, const struct krx_recsplit *sp,
    size_t limit)
{
	struct krx_batch_iter	 it;
	struct krx_batch	 b;
	size_t			 i = 0, start;

	krx_batch_iter_init(&it, in, len);
	while (krx_batch_next(&it, &b) > 0) {
		if (b.len > limit) {
			fz_split_batch(&b, sp, &i, limit);
			continue;
		}
		fz_check(i < sp->n);
		start = i == 0 ? 0 : sp->ends[i - 1];
		fz_check(sp->ends[i] - start == b.len &&
		    memcmp(sp->out.data + start, b.data, b.len) == 0);
		i++;
	}
	fz_check(i == sp->n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct krx_recsplit	 sp, again;
	struct krx_buf		 plain, comp;
	uint8_t			*in;
	size_t			 limit, len;
	int			 codec, r;

	if (size < 1)
		return 0;
	limit = KRX_RECSPLIT_MIN_LIMIT + 64 * (size_t)(data[0] & 0x1f);
	codec = (data[0] >> 5) % (KRX_CODEC_MAX + 1);
	len = size - 1;
	if ((in = malloc(len + 1)) == NULL)
		return 0;
	memcpy(in, data + 1, len);
	fz_fix_crcs(in, len);
	krx_buf_init(&plain, 0);
	krx_buf_init(&comp, 0);
	krx_recsplit_init(&sp);
	krx_recsplit_init(&again);
	r = krx_recsplit(in, len, limit, codec, FZ_MAXDEC, fz_zctx(), &plain, &comp,
	    &sp);
	fz_check(r <= 0 && plain.len == 0 && comp.len == 0);
	if (r != KRX_OK) {
		fz_check(sp.n == 0 && sp.out.len == 0);
		goto out;
	}
	fz_verify(in, len, &sp, limit);
	fz_check(krx_recsplit(in, len, limit, codec, FZ_MAXDEC, fz_zctx(), &plain,
	    &comp, &again) == KRX_OK);
	fz_check(again.n == sp.n && again.out.len == sp.out.len);
	fz_check(sp.out.len == 0 ||
	    memcmp(again.out.data, sp.out.data, sp.out.len) == 0);
out:
	krx_recsplit_free(&sp);
	krx_recsplit_free(&again);
	krx_buf_free(&plain);
	krx_buf_free(&comp);
	free(in);
	return 0;
}
