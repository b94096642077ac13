/*
 * compress.h: the Kafka record batch codecs (attributes bits 0-2):
 * gzip, snappy (raw and snappy-java "xerial" framing), lz4 (frame
 * format) and zstd, over zlib, libsnappy, liblz4 and libzstd. Library
 * grade: no globals, no logging; errors are negative enum krx_err. The
 * zstd contexts worth keeping between calls are the caller's
 * (struct krx_zctx, one per worker).
 *
 * Every function appends to out. On failure out->len is put back where
 * it was (no partial output) and the error is returned; out->err is set
 * only when out itself failed to grow (KRX_E_NOMEM, sticky as usual). A
 * call on an out whose err is already set returns that error at once.
 */
#ifndef KRX_PROTO_COMPRESS_H
#define KRX_PROTO_COMPRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

enum krx_codec {
	KRX_CODEC_NONE = 0,
	KRX_CODEC_GZIP = 1,
	KRX_CODEC_SNAPPY = 2,
	KRX_CODEC_LZ4 = 3,
	KRX_CODEC_ZSTD = 4
};
#define KRX_CODEC_MAX		KRX_CODEC_ZSTD

/* Bytes of input per xerial chunk, as snappy-java writes them. */
#define KRX_SNAPPY_XERIAL_BLOCK	(32 * 1024)

/*
 * zstd compression and decompression contexts, reused by every call
 * given them (NULL: out of memory). Not for two threads at once.
 */
struct krx_zctx;
struct krx_zctx *krx_zctx_new(void);
void	krx_zctx_free(struct krx_zctx *z);

/*
 * Compress len bytes at in with codec and append the result to out, in
 * the form Kafka's Java clients write:
 *   gzip    RFC 1952, default level;
 *   snappy  xerial framing (krx_compress_snappy(..., true, ...));
 *   lz4     one LZ4 frame, independent 64 KiB blocks, no content size,
 *           no checksums (the Java reader rejects linked blocks);
 *   zstd    one frame, level 1 (the batches krx compresses are
 *           mostly ciphertext, which no level shrinks);
 *   none    the input copied.
 * z: the contexts to use, or NULL to make them for this call.
 * Returns KRX_OK, KRX_E_UNSUPPORTED for an unknown codec, KRX_E_TOO_BIG
 * for an input over 2 GiB, KRX_E_NOMEM.
 */
int	krx_compress(struct krx_zctx *z, int codec, const uint8_t *in,
	    size_t len, struct krx_buf *out);

/*
 * Snappy with a choice of form: xerial framing (snappy-java, what the
 * Java producer writes; header then 32 KiB chunks) or one raw snappy
 * block (what librdkafka writes). Every Kafka client reads both.
 */
int	krx_compress_snappy(const uint8_t *in, size_t len, bool xerial,
	    struct krx_buf *out);

/*
 * Decompress len bytes at in, written with codec, and append them to out.
 * At most max_out bytes are appended: a stream that would give more is
 * KRX_E_TOO_BIG (the decompression-bomb guard), detected before the
 * excess is stored. Reads gzip (also several members, and zlib), snappy
 * raw or xerial (recognised by its magic), any LZ4 frame (linked blocks
 * and checksums included; exactly one frame) and zstd (streaming, so no
 * content size is needed; concatenated frames accepted). z as for
 * krx_compress.
 * Returns KRX_OK, KRX_E_TRUNCATED (the stream stops early),
 * KRX_E_MALFORMED (corrupt data, checksum mismatch, bytes after the
 * stream), KRX_E_TOO_BIG, KRX_E_UNSUPPORTED (codec), KRX_E_NOMEM.
 */
int	krx_decompress(struct krx_zctx *z, int codec, const uint8_t *in,
	    size_t len, size_t max_out, struct krx_buf *out);

#endif
