/*
 * recsplit.h: split an encrypted Produce records field whose batches
 * are over the broker's max.message.bytes into several batches
 * ("pieces"), each to go upstream in its own Produce request, in order.
 * Library grade: no logging, no globals.
 *
 * Encryption makes records larger, so a batch the client sized for the
 * broker can come out of crypto/recenc.c over the limit (the broker
 * compares each batch's krx_batch.len, log overhead included, with its
 * max.message.bytes and answers MESSAGE_TOO_LARGE). Each piece is a
 * valid v2 batch with the original's header fields but for the record
 * count, the offset deltas (0, 1, 2... in each piece), lastOffsetDelta,
 * maxTimestamp, baseSequence (continued across pieces, wrapping as
 * Kafka's DefaultRecordBatch.incrementSequence does), the codec bits,
 * batchLength and the CRC.
 *
 * An idempotent producer's retry is encrypted again (other IVs, other
 * ciphertext) and split again; the broker recognises each piece only by
 * its first and last sequence, so the boundaries must come out the
 * same. Uncompressed pieces depend on the records' encoded sizes only,
 * which encryption keeps. Compressed pieces depend on the record count
 * and on the compressed total, which varies by a few bytes between
 * encryptions: the 1/16 margin makes another count of pieces unlikely,
 * though not impossible (a total within those bytes of a multiple of
 * limit - limit / 16, or a piece within them of the limit).
 */
#ifndef KRX_CRYPTO_RECSPLIT_H
#define KRX_CRYPTO_RECSPLIT_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define KRX_RECSPLIT_MIN_LIMIT	1024	/* smallest limit accepted */
#define KRX_RECSPLIT_TRIES	9	/* counts of compressed pieces tried */

/* The pieces of one split; reused across calls. */
struct krx_recsplit {
	struct krx_buf	 out;		/* the pieces, back to back */
	size_t		*ends;		/* end offset of piece i in out */
	size_t		 n, cap;	/* pieces, room in ends */
};

/* Start empty (nothing allocated). */
void	krx_recsplit_init(struct krx_recsplit *sp);
/* Forget the pieces, keep the storage. */
void	krx_recsplit_reset(struct krx_recsplit *sp);
/* Free the storage; sp may be reused after krx_recsplit_init. */
void	krx_recsplit_free(struct krx_recsplit *sp);

/*
 * Split a Produce records field (v2 batches, normally exactly one) into
 * pieces of at most limit bytes each (krx_batch.len; limit >=
 * KRX_RECSPLIT_MIN_LIMIT, else KRX_E_RANGE). sp is reset first; piece i
 * is out.data[i == 0 ? 0 : ends[i - 1], ends[i]), in the order the
 * records came. The batches are handled in turn:
 *
 * - a batch of len <= limit is one piece, copied verbatim; so is a
 *   legacy (magic < 2) or control batch, or an incomplete last batch,
 *   of len <= limit (over it: KRX_E_UNSUPPORTED);
 * - a batch over the limit must have a valid CRC (else KRX_E_MALFORMED:
 *   the pieces get new CRCs, a corrupt batch is not passed off as
 *   sound) and at least one record; its records area is decompressed
 *   into plain, at most max_decompressed bytes (errors of
 *   krx_batch_records), and regrouped. The pieces' codec c is the
 *   batch's own when it is compressed, else out_codec (an enum
 *   krx_codec; KRX_CODEC_NONE: no compression; another value is
 *   KRX_E_UNSUPPORTED). With a codec, the whole batch is compressed
 *   once: if that piece is within limit - limit / 16 it is the one
 *   piece; otherwise the records go into k pieces of equal counts
 *   (the first ones take one more), k from the total over limit -
 *   limit / 16 upwards until every piece is within limit (at most
 *   KRX_RECSPLIT_TRIES counts of pieces, never more pieces than
 *   records). Without a codec, or when that fails, the pieces are
 *   uncompressed and filled greedily: each takes records while its
 *   header and their encoded sizes stay within limit; a record that
 *   does not fit alone is KRX_E_TOO_BIG.
 *
 * There are never more pieces than records plus batches copied. z: the
 * caller's zstd contexts, or NULL (see compress.h). plain and comp are
 * scratch buffers, used and left as long as they were;
 * distinct from each other and from sp->out, else KRX_E_RANGE. At
 * most 1 + KRX_RECSPLIT_TRIES compressions of a batch's records (and
 * one decompression) are done. Returns KRX_OK, or
 * KRX_E_MALFORMED (batch or record structure, a record count that is
 * not the records'), KRX_E_UNSUPPORTED, KRX_E_TOO_BIG, KRX_E_RANGE,
 * KRX_E_NOMEM, errors of krx_decompress and krx_compress; on error sp
 * holds no piece.
 */
struct krx_zctx;
int	krx_recsplit(const uint8_t *records, size_t len, size_t limit,
	    int out_codec, size_t max_decompressed, struct krx_zctx *z,
	    struct krx_buf *plain, struct krx_buf *comp,
	    struct krx_recsplit *sp);

#endif
