/*
 * compress.c: record batch codecs for proto/record.c callers. Library
 * grade, run in workers. Compressed input comes from clients (Produce)
 * and brokers (Fetch) and is trusted for nothing: every decoder bounds
 * its output by the caller's cap, treats truncation, corruption and
 * trailing bytes as errors, and never reads outside [in, in + len).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <lz4frame.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "common/err.h"
#include "proto/compress.h"

#define CZ_CHUNK	(64 * 1024)	/* output grown this much a step */
#define CZ_IN_MAX	((size_t)INT32_MAX)	/* largest input accepted */
/*
 * The batches krx compresses are mostly ciphertext, which no level
 * shrinks: the fastest regular level costs half of the usual 3 and
 * stores the same.
 */
#define CZ_ZSTD_LEVEL	1
#define CZ_XERIAL_HDR	16		/* magic, version, compatible */

static const uint8_t	 xerial_magic[8] = {
	0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0x00
};

/*
 * Make room for the next piece of decompressed output: CZ_CHUNK bytes,
 * but never beyond max_out + 1 bytes since start, so that one byte over
 * the cap is seen without storing more. Returns the room, 0 on failure
 * (out->err set).
 */
static size_t
cz_room(struct krx_buf *out, size_t start, size_t max_out)
{
	size_t	 done = out->len - start, n = CZ_CHUNK;

	if (max_out - done < n)
		n = max_out - done + 1;
	if (krx_buf_reserve(out, n) != KRX_OK)
		return 0;
	return n;
}

static int
cz_gzip_compress(const uint8_t *in, size_t len, struct krx_buf *out)
{
	z_stream	 zs;
	uLong		 bound;
	int		 r = KRX_E_NOMEM;

	memset(&zs, 0, sizeof(zs));
	if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
	    Z_DEFAULT_STRATEGY) != Z_OK)
		return KRX_E_NOMEM;
	bound = deflateBound(&zs, (uLong)len);
	if (krx_buf_reserve(out, bound) != KRX_OK) {
		r = out->err;
		goto out;
	}
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)len;
	zs.next_out = out->data + out->len;
	zs.avail_out = (uInt)bound;
	if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
		goto out;
	out->len += zs.total_out;
	r = KRX_OK;
out:
	deflateEnd(&zs);
	return r;
}

/* Map a zlib return code of inflate() to krx's. */
static int
cz_zlib_err(int zr, const z_stream *zs)
{
	if (zr == Z_MEM_ERROR)
		return KRX_E_NOMEM;
	if (zr == Z_BUF_ERROR && zs->avail_in == 0)
		return KRX_E_TRUNCATED;
	return KRX_E_MALFORMED;
}

static int
cz_gzip_decompress(const uint8_t *in, size_t len, size_t max_out,
    struct krx_buf *out, size_t start)
{
	z_stream	 zs;
	size_t		 room;
	int		 zr, r;

	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, 15 + 32) != Z_OK)
		return KRX_E_NOMEM;
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)len;
	for (;;) {
		if ((room = cz_room(out, start, max_out)) == 0) {
			r = out->err;
			goto out;
		}
		zs.next_out = out->data + out->len;
		zs.avail_out = (uInt)room;
		zr = inflate(&zs, Z_NO_FLUSH);
		out->len += room - zs.avail_out;
		if (out->len - start > max_out) {
			r = KRX_E_TOO_BIG;
			goto out;
		}
		if (zr == Z_STREAM_END) {
			if (zs.avail_in == 0)
				break;
			/* Another member: Java's GZIPInputStream reads on. */
			if (inflateReset(&zs) != Z_OK) {
				r = KRX_E_MALFORMED;
				goto out;
			}
		} else if (zr != Z_OK) {
			r = cz_zlib_err(zr, &zs);
			goto out;
		}
	}
	r = KRX_OK;
out:
	inflateEnd(&zs);
	return r;
}

/* Append one raw snappy block's compression of len bytes at in. */
static int
cz_snappy_block(const uint8_t *in, size_t len, struct krx_buf *out)
{
	size_t	 n = snappy_max_compressed_length(len);

	if (krx_buf_reserve(out, n) != KRX_OK)
		return out->err;
	if (snappy_compress((const char *)in, len,
	    (char *)out->data + out->len, &n) != SNAPPY_OK)
		return KRX_E_NOMEM;
	out->len += n;
	return KRX_OK;
}

int
krx_compress_snappy(const uint8_t *in, size_t len, bool xerial,
    struct krx_buf *out)
{
	size_t	 start = out->len, off, n, at;
	int	 r;

	if (out->err != KRX_OK)
		return out->err;
	if (len > CZ_IN_MAX)
		return KRX_E_TOO_BIG;
	if (!xerial) {
		r = cz_snappy_block(in, len, out);
		goto out;
	}
	krx_buf_put(out, xerial_magic, sizeof(xerial_magic));
	krx_buf_put_be32(out, 1);	/* version */
	krx_buf_put_be32(out, 1);	/* minimum compatible version */
	for (off = 0, r = out->err; off < len && r == KRX_OK; off += n) {
		n = len - off;
		if (n > KRX_SNAPPY_XERIAL_BLOCK)
			n = KRX_SNAPPY_XERIAL_BLOCK;
		at = out->len;
		if ((r = krx_buf_put_be32(out, 0)) != KRX_OK)
			break;
		if ((r = cz_snappy_block(in + off, n, out)) == KRX_OK)
			krx_buf_set_be32(out, at,
			    (uint32_t)(out->len - at - 4));
	}
out:
	if (r != KRX_OK)
		out->len = start;
	return r;
}

/*
 * Decompress one raw snappy block. The block states its decompressed
 * length first, so the cap is checked before anything is stored.
 */
static int
cz_snappy_raw(const uint8_t *in, size_t len, size_t max_out,
    struct krx_buf *out, size_t start)
{
	size_t	 n;

	if (snappy_uncompressed_length((const char *)in, len, &n) !=
	    SNAPPY_OK)
		return len == 0 ? KRX_E_TRUNCATED : KRX_E_MALFORMED;
	if (n > max_out - (out->len - start))
		return KRX_E_TOO_BIG;
	if (krx_buf_reserve(out, n > 0 ? n : 1) != KRX_OK)
		return out->err;
	if (snappy_uncompress((const char *)in, len,
	    (char *)out->data + out->len, &n) != SNAPPY_OK)
		return KRX_E_MALFORMED;
	out->len += n;
	return KRX_OK;
}

/*
 * snappy-java's stream: the 16-byte header, then chunks of a big-endian
 * int32 length and a raw block. Like snappy-java, a second header where a
 * length would be (concatenated streams) is skipped.
 */
static int
cz_snappy_xerial(const uint8_t *in, size_t len, size_t max_out,
    struct krx_buf *out, size_t start)
{
	struct krx_cur	 c;
	const uint8_t	*blk;
	uint32_t	 n;
	int		 r;

	krx_cur_init(&c, in + CZ_XERIAL_HDR, len - CZ_XERIAL_HDR);
	while (krx_cur_left(&c) > 0) {
		if (krx_cur_left(&c) >= CZ_XERIAL_HDR &&
		    memcmp(c.p + c.off, xerial_magic, 8) == 0) {
			krx_cur_skip(&c, CZ_XERIAL_HDR);
			continue;
		}
		if (krx_cur_get_be32(&c, &n) != KRX_OK ||
		    krx_cur_get_ref(&c, n, &blk) != KRX_OK)
			return KRX_E_TRUNCATED;
		if ((r = cz_snappy_raw(blk, n, max_out, out, start)) !=
		    KRX_OK)
			return r;
	}
	return KRX_OK;
}

static int
cz_snappy_decompress(const uint8_t *in, size_t len, size_t max_out,
    struct krx_buf *out, size_t start)
{
	if (len >= CZ_XERIAL_HDR &&
	    memcmp(in, xerial_magic, sizeof(xerial_magic)) == 0)
		return cz_snappy_xerial(in, len, max_out, out, start);
	return cz_snappy_raw(in, len, max_out, out, start);
}

static int
cz_lz4_compress(const uint8_t *in, size_t len, struct krx_buf *out)
{
	LZ4F_preferences_t	 prefs;
	size_t			 bound, n;

	memset(&prefs, 0, sizeof(prefs));
	prefs.frameInfo.blockSizeID = LZ4F_max64KB;
	prefs.frameInfo.blockMode = LZ4F_blockIndependent;
	prefs.frameInfo.contentChecksumFlag = LZ4F_noContentChecksum;
	prefs.frameInfo.blockChecksumFlag = LZ4F_noBlockChecksum;
	prefs.frameInfo.contentSize = 0;
	bound = LZ4F_compressFrameBound(len, &prefs);
	if (krx_buf_reserve(out, bound) != KRX_OK)
		return out->err;
	n = LZ4F_compressFrame(out->data + out->len, bound, in, len, &prefs);
	if (LZ4F_isError(n))
		return KRX_E_NOMEM;
	out->len += n;
	return KRX_OK;
}

/* Exactly one LZ4 frame, which must end at the end of the input. */
static int
cz_lz4_decompress(const uint8_t *in, size_t len, size_t max_out,
    struct krx_buf *out, size_t start)
{
	LZ4F_dctx	*dc = NULL;
	size_t		 ret = 1, off = 0, room, src_n, dst_n;
	int		 r = KRX_E_MALFORMED;

	if (LZ4F_isError(LZ4F_createDecompressionContext(&dc, LZ4F_VERSION)))
		return KRX_E_NOMEM;
	while (ret != 0) {
		if (off == len) {
			r = KRX_E_TRUNCATED;
			goto out;
		}
		if ((room = cz_room(out, start, max_out)) == 0) {
			r = out->err;
			goto out;
		}
		dst_n = room;
		src_n = len - off;
		ret = LZ4F_decompress(dc, out->data + out->len, &dst_n,
		    in + off, &src_n, NULL);
		if (LZ4F_isError(ret) || (src_n == 0 && dst_n == 0))
			goto out;
		off += src_n;
		out->len += dst_n;
		if (out->len - start > max_out) {
			r = KRX_E_TOO_BIG;
			goto out;
		}
	}
	if (off == len)
		r = KRX_OK;
out:
	LZ4F_freeDecompressionContext(dc);
	return r;
}

/*
 * The zstd contexts a caller keeps (krx_zctx_new): setting them up for
 * every batch costs about as much as compressing a 16 KiB batch. A call
 * without one makes its own and frees it.
 */
struct krx_zctx {
	ZSTD_CCtx	*cctx;
	ZSTD_DCtx	*dctx;
};

struct krx_zctx *
krx_zctx_new(void)
{
	struct krx_zctx	*z;

	if ((z = calloc(1, sizeof(*z))) == NULL)
		return NULL;
	z->cctx = ZSTD_createCCtx();
	z->dctx = ZSTD_createDCtx();
	if (z->cctx == NULL || z->dctx == NULL) {
		krx_zctx_free(z);
		return NULL;
	}
	return z;
}

void
krx_zctx_free(struct krx_zctx *z)
{
	if (z == NULL)
		return;
	ZSTD_freeCCtx(z->cctx);
	ZSTD_freeDCtx(z->dctx);
	free(z);
}

static int
cz_zstd_compress(struct krx_zctx *z, const uint8_t *in, size_t len,
    struct krx_buf *out)
{
	ZSTD_CCtx	*cc = z != NULL ? z->cctx : ZSTD_createCCtx();
	size_t		 bound = ZSTD_compressBound(len), n;
	int		 r = KRX_OK;

	if (cc == NULL)
		return KRX_E_NOMEM;
	if (krx_buf_reserve(out, bound) != KRX_OK)
		r = out->err;
	else if (ZSTD_isError(n = ZSTD_compressCCtx(cc, out->data + out->len,
	    bound, in, len, CZ_ZSTD_LEVEL)))
		r = KRX_E_NOMEM;
	else
		out->len += n;
	if (z == NULL)
		ZSTD_freeCCtx(cc);
	return r;
}

static int
cz_zstd_err(size_t ret)
{
	switch (ZSTD_getErrorCode(ret)) {
	case ZSTD_error_memory_allocation:
		return KRX_E_NOMEM;
	case ZSTD_error_frameParameter_windowTooLarge:
		return KRX_E_TOO_BIG;
	default:
		return KRX_E_MALFORMED;
	}
}

/*
 * Streaming, since producers rarely state the content size. The window
 * is limited by libzstd's default (2^27), as in the Java consumer.
 */
static int
cz_zstd_decompress(struct krx_zctx *z, const uint8_t *in, size_t len,
    size_t max_out, struct krx_buf *out, size_t start)
{
	ZSTD_DCtx	*dc = z != NULL ? z->dctx : ZSTD_createDCtx();
	ZSTD_inBuffer	 ib = { in, len, 0 };
	ZSTD_outBuffer	 ob;
	size_t		 ret;
	int		 r;

	if (dc == NULL)
		return KRX_E_NOMEM;
	ZSTD_DCtx_reset(dc, ZSTD_reset_session_only);
	for (;;) {
		if ((ob.size = cz_room(out, start, max_out)) == 0) {
			r = out->err;
			goto out;
		}
		ob.dst = out->data + out->len;
		ob.pos = 0;
		ret = ZSTD_decompressStream(dc, &ob, &ib);
		if (ZSTD_isError(ret)) {
			r = cz_zstd_err(ret);
			goto out;
		}
		out->len += ob.pos;
		if (out->len - start > max_out) {
			r = KRX_E_TOO_BIG;
			goto out;
		}
		if (ib.pos == ib.size && ret == 0)
			break;
		if (ib.pos == ib.size && ob.pos < ob.size) {
			r = KRX_E_TRUNCATED;
			goto out;
		}
	}
	r = KRX_OK;
out:
	if (z == NULL)
		ZSTD_freeDCtx(dc);
	return r;
}

int
krx_compress(struct krx_zctx *z, int codec, const uint8_t *in, size_t len,
    struct krx_buf *out)
{
	size_t	 start = out->len;
	int	 r;

	if (out->err != KRX_OK)
		return out->err;
	if (len > CZ_IN_MAX)
		return KRX_E_TOO_BIG;
	switch (codec) {
	case KRX_CODEC_NONE:
		r = krx_buf_put(out, in, len);
		break;
	case KRX_CODEC_GZIP:
		r = cz_gzip_compress(in, len, out);
		break;
	case KRX_CODEC_SNAPPY:
		return krx_compress_snappy(in, len, true, out);
	case KRX_CODEC_LZ4:
		r = cz_lz4_compress(in, len, out);
		break;
	case KRX_CODEC_ZSTD:
		r = cz_zstd_compress(z, in, len, out);
		break;
	default:
		return KRX_E_UNSUPPORTED;
	}
	if (r != KRX_OK)
		out->len = start;
	return r;
}

int
krx_decompress(struct krx_zctx *z, int codec, const uint8_t *in,
    size_t len, size_t max_out, struct krx_buf *out)
{
	size_t	 start = out->len;
	int	 r;

	if (out->err != KRX_OK)
		return out->err;
	if (len > CZ_IN_MAX)
		return KRX_E_TOO_BIG;
	switch (codec) {
	case KRX_CODEC_NONE:
		r = len > max_out ? KRX_E_TOO_BIG : krx_buf_put(out, in, len);
		break;
	case KRX_CODEC_GZIP:
		r = cz_gzip_decompress(in, len, max_out, out, start);
		break;
	case KRX_CODEC_SNAPPY:
		r = cz_snappy_decompress(in, len, max_out, out, start);
		break;
	case KRX_CODEC_LZ4:
		r = cz_lz4_decompress(in, len, max_out, out, start);
		break;
	case KRX_CODEC_ZSTD:
		r = cz_zstd_decompress(z, in, len, max_out, out, start);
		break;
	default:
		return KRX_E_UNSUPPORTED;
	}
	if (r != KRX_OK)
		out->len = start;
	return r;
}
