/*
 * compress_test.c: proto/compress.c: round trips for every codec, both
 * snappy forms read, the LZ4 frame flags Kafka's Java reader needs, the
 * decompression cap, streams from other writers (linked LZ4 blocks, zstd
 * without content size, gzip members), and corrupt or truncated input
 * rejected without a crash.
 */
#include <string.h>

#include <criterion/criterion.h>
#include <lz4frame.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include "common/buf.h"
#include "common/err.h"
#include "proto/compress.h"

static const int	 codecs[] = { KRX_CODEC_NONE, KRX_CODEC_GZIP,
    KRX_CODEC_SNAPPY, KRX_CODEC_LZ4, KRX_CODEC_ZSTD };
#define NCODECS	(sizeof(codecs) / sizeof(codecs[0]))

/* Half random, half text: compressible but not trivially. */
static uint8_t *
mkdata(size_t len, uint64_t seed)
{
	static const char	 w[] = "kafka record batch proxy value ";
	uint8_t			*p = malloc(len + 1);
	size_t			 i;

	cr_assert_not_null(p);
	for (i = 0; i < len; i++) {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		p[i] = (i / 512) % 2 ? (uint8_t)seed : (uint8_t)w[i % 31];
	}
	return p;
}

static void
roundtrip(struct krx_zctx *z, int codec, size_t len)
{
	struct krx_buf	 c, d;
	uint8_t		*in = mkdata(len, len + 1);

	krx_buf_init(&c, 0);
	krx_buf_init(&d, 0);
	cr_assert_eq(krx_compress(z, codec, in, len, &c), KRX_OK,
	    "codec %d len %zu", codec, len);
	cr_assert_eq(krx_decompress(z, codec, c.data, c.len, len, &d), KRX_OK,
	    "codec %d len %zu", codec, len);
	cr_assert_eq(d.len, len);
	cr_assert(len == 0 || memcmp(d.data, in, len) == 0);
	krx_buf_free(&c);
	krx_buf_free(&d);
	free(in);
}

/* Each length with contexts made per call, then with one kept. */
Test(compress, roundtrip_every_codec)
{
	static const size_t	 lens[] = { 0, 1, 7, 100, 32768, 32769, 65536,
	    70000, 300001 };
	struct krx_zctx		*z = krx_zctx_new();
	size_t			 i, j;

	cr_assert_not_null(z);
	for (i = 0; i < NCODECS; i++)
		for (j = 0; j < sizeof(lens) / sizeof(lens[0]); j++) {
			roundtrip(NULL, codecs[i], lens[j]);
			roundtrip(z, codecs[i], lens[j]);
		}
	krx_zctx_free(z);
}

/*
 * A kept context is clean after a failed call: a stream cut short, one
 * over the cap and one corrupt each leave it able to read the next.
 */
Test(compress, zctx_reused_after_errors)
{
	struct krx_zctx	*z = krx_zctx_new();
	struct krx_buf	 c, d;
	uint8_t		*in = mkdata(200000, 5);

	cr_assert_not_null(z);
	krx_buf_init(&c, 0);
	krx_buf_init(&d, 0);
	cr_assert_eq(krx_compress(z, KRX_CODEC_ZSTD, in, 200000, &c), KRX_OK);
	cr_assert_eq(krx_decompress(z, KRX_CODEC_ZSTD, c.data, c.len / 2,
	    200000, &d), KRX_E_TRUNCATED);
	cr_assert_eq(krx_decompress(z, KRX_CODEC_ZSTD, c.data, c.len,
	    199999, &d), KRX_E_TOO_BIG);
	c.data[0] ^= 0xff;		/* the frame magic */
	cr_assert_eq(krx_decompress(z, KRX_CODEC_ZSTD, c.data, c.len,
	    200000, &d), KRX_E_MALFORMED);
	c.data[0] ^= 0xff;
	cr_assert_eq(d.len, 0);
	cr_assert_eq(krx_decompress(z, KRX_CODEC_ZSTD, c.data, c.len,
	    200000, &d), KRX_OK);
	cr_assert(d.len == 200000 && memcmp(d.data, in, d.len) == 0);
	krx_buf_free(&c);
	krx_buf_free(&d);
	free(in);
	krx_zctx_free(z);
}

Test(compress, appends_to_out)
{
	struct krx_buf	 c, d;
	uint8_t		*in = mkdata(5000, 3);
	size_t		 i;

	for (i = 0; i < NCODECS; i++) {
		krx_buf_init(&c, 0);
		krx_buf_init(&d, 0);
		krx_buf_put(&c, "abc", 3);
		krx_buf_put(&d, "xyz", 3);
		cr_assert_eq(krx_compress(NULL, codecs[i], in, 5000, &c),
		    KRX_OK);
		cr_assert_eq(memcmp(c.data, "abc", 3), 0);
		cr_assert_eq(krx_decompress(NULL, codecs[i], c.data + 3,
		    c.len - 3,
		    5000, &d), KRX_OK);
		cr_assert_eq(d.len, 5003);
		cr_assert_eq(memcmp(d.data, "xyz", 3), 0);
		cr_assert_eq(memcmp(d.data + 3, in, 5000), 0);
		krx_buf_free(&c);
		krx_buf_free(&d);
	}
	free(in);
}

Test(compress, unknown_codec)
{
	struct krx_buf	 b;

	krx_buf_init(&b, 0);
	cr_assert_eq(krx_compress(NULL, 5, (const uint8_t *)"a", 1, &b),
	    KRX_E_UNSUPPORTED);
	cr_assert_eq(krx_decompress(NULL, 7, (const uint8_t *)"a", 1, 10, &b),
	    KRX_E_UNSUPPORTED);
	cr_assert_eq(krx_decompress(NULL, -1, (const uint8_t *)"a", 1, 10, &b),
	    KRX_E_UNSUPPORTED);
	cr_assert_eq(b.len, 0);
	krx_buf_free(&b);
}

Test(compress, sticky_error_returned)
{
	struct krx_buf	 b;

	krx_buf_init(&b, 0);
	b.err = KRX_E_NOMEM;
	cr_assert_eq(krx_compress(NULL, 1, (const uint8_t *)"a", 1, &b),
	    KRX_E_NOMEM);
	cr_assert_eq(krx_decompress(NULL, 0, (const uint8_t *)"a", 1, 9, &b),
	    KRX_E_NOMEM);
	krx_buf_free(&b);
}

Test(compress, snappy_xerial_layout_and_default)
{
	struct krx_buf	 a, b;
	uint8_t		*in = mkdata(70000, 9);
	size_t		 off, chunks = 0;
	uint32_t	 n;
	static const uint8_t hdr[] = { 0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0,
	    0, 0, 0, 1, 0, 0, 0, 1 };

	krx_buf_init(&a, 0);
	krx_buf_init(&b, 0);
	cr_assert_eq(krx_compress(NULL, KRX_CODEC_SNAPPY, in, 70000, &a),
	    KRX_OK);
	cr_assert_eq(krx_compress_snappy(in, 70000, true, &b), KRX_OK);
	cr_assert_eq(a.len, b.len);
	cr_assert_eq(memcmp(a.data, b.data, a.len), 0, "default is xerial");
	cr_assert_eq(memcmp(a.data, hdr, sizeof(hdr)), 0);
	for (off = sizeof(hdr); off < a.len; off += 4 + n, chunks++) {
		n = (uint32_t)a.data[off] << 24 | a.data[off + 1] << 16 |
		    a.data[off + 2] << 8 | a.data[off + 3];
		cr_assert_leq(off + 4 + n, a.len);
	}
	cr_assert_eq(off, a.len);
	cr_assert_eq(chunks, 3, "32 KiB chunks");
	krx_buf_free(&a);
	krx_buf_free(&b);
	free(in);
}

Test(compress, snappy_raw_written_and_both_read)
{
	struct krx_buf	 raw, d;
	uint8_t		*in = mkdata(70000, 10);
	size_t		 n;

	krx_buf_init(&raw, 0);
	krx_buf_init(&d, 0);
	cr_assert_eq(krx_compress_snappy(in, 70000, false, &raw), KRX_OK);
	/* A raw block starts with the length varint, not the magic. */
	cr_assert_eq(snappy_uncompressed_length((const char *)raw.data,
	    raw.len, &n), SNAPPY_OK);
	cr_assert_eq(n, 70000);
	cr_assert_eq(krx_decompress(NULL, KRX_CODEC_SNAPPY, raw.data, raw.len,
	    70000, &d), KRX_OK);
	cr_assert_eq(d.len, 70000);
	cr_assert_eq(memcmp(d.data, in, 70000), 0);
	krx_buf_free(&raw);
	krx_buf_free(&d);
	free(in);
}

Test(compress, snappy_xerial_concatenated_streams)
{
	struct krx_buf	 a, d;
	uint8_t		*in = mkdata(1000, 11);

	krx_buf_init(&a, 0);
	krx_buf_init(&d, 0);
	cr_assert_eq(krx_compress_snappy(in, 600, true, &a), KRX_OK);
	cr_assert_eq(krx_compress_snappy(in + 600, 400, true, &a), KRX_OK);
	cr_assert_eq(krx_decompress(NULL, KRX_CODEC_SNAPPY, a.data, a.len, 1000,
	    &d), KRX_OK);
	cr_assert_eq(d.len, 1000);
	cr_assert_eq(memcmp(d.data, in, 1000), 0);
	krx_buf_free(&a);
	krx_buf_free(&d);
	free(in);
}

Test(compress, lz4_frame_flags_for_java)
{
	struct krx_buf	 c;
	uint8_t		*in = mkdata(200000, 12);

	krx_buf_init(&c, 0);
	cr_assert_eq(krx_compress(NULL, KRX_CODEC_LZ4, in, 200000, &c), KRX_OK);
	cr_assert_eq(c.data[0], 0x04);
	cr_assert_eq(c.data[1], 0x22);
	cr_assert_eq(c.data[2], 0x4d);
	cr_assert_eq(c.data[3], 0x18);
	/* FLG: version 01, block independence, nothing else. */
	cr_assert_eq(c.data[4] & 0xc0, 0x40);
	cr_assert(c.data[4] & 0x20, "linked blocks");
	cr_assert_eq(c.data[4] & 0x10, 0, "block checksum");
	cr_assert_eq(c.data[4] & 0x08, 0, "content size");
	cr_assert_eq(c.data[4] & 0x04, 0, "content checksum");
	cr_assert_eq(c.data[4] & 0x01, 0, "dictionary id");
	/* BD: 64 KiB blocks. */
	cr_assert_eq(c.data[5], 0x40);
	krx_buf_free(&c);
	free(in);
}

Test(compress, lz4_linked_blocks_and_checksums_read)
{
	LZ4F_preferences_t	 prefs;
	struct krx_buf		 d;
	uint8_t			*in = mkdata(300000, 13), *c;
	size_t			 bound, n;

	memset(&prefs, 0, sizeof(prefs));
	prefs.frameInfo.blockMode = LZ4F_blockLinked;
	prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
	prefs.frameInfo.blockChecksumFlag = LZ4F_blockChecksumEnabled;
	prefs.frameInfo.contentSize = 300000;
	bound = LZ4F_compressFrameBound(300000, &prefs);
	c = malloc(bound);
	n = LZ4F_compressFrame(c, bound, in, 300000, &prefs);
	cr_assert(!LZ4F_isError(n));
	krx_buf_init(&d, 0);
	cr_assert_eq(krx_decompress(NULL, KRX_CODEC_LZ4, c, n, 300000, &d),
	    KRX_OK);
	cr_assert_eq(memcmp(d.data, in, 300000), 0);
	/* A flipped content byte is caught by the checksums. */
	c[n / 2] ^= 0x01;
	krx_buf_reset(&d);
	cr_assert_eq(krx_decompress(NULL, KRX_CODEC_LZ4, c, n, 300000, &d),
	    KRX_E_MALFORMED);
	cr_assert_eq(d.len, 0);
	krx_buf_free(&d);
	free(c);
	free(in);
}

Test(compress, zstd_without_content_size)
{
	ZSTD_CCtx	*cc = ZSTD_createCCtx();
	ZSTD_inBuffer	 ib;
	ZSTD_outBuffer	 ob;
	struct krx_buf	 d;
	uint8_t		*in = mkdata(200000, 14), *c;
	size_t		 cap = ZSTD_compressBound(200000), r;

	c = malloc(cap);
	ib = (ZSTD_inBuffer){ in, 200000, 0 };
	ob = (ZSTD_outBuffer){ c, cap, 0 };
	r = ZSTD_compressStream2(cc, &ob, &ib, ZSTD_e_continue);
	cr_assert(!ZSTD_isError(r));
	do {
		r = ZSTD_compressStream2(cc, &ob, &ib, ZSTD_e_end);
		cr_assert(!ZSTD_isError(r));
	} while (r != 0);
	cr_assert_eq(ZSTD_getFrameContentSize(c, ob.pos),
	    ZSTD_CONTENTSIZE_UNKNOWN);
	krx_buf_init(&d, 0);
	cr_assert_eq(krx_decompress(NULL, KRX_CODEC_ZSTD, c, ob.pos, 200000,
	    &d),
	    KRX_OK);
	cr_assert_eq(memcmp(d.data, in, 200000), 0);
	krx_buf_reset(&d);
	cr_assert_eq(krx_decompress(NULL, KRX_CODEC_ZSTD, c, ob.pos, 199999,
	    &d),
	    KRX_E_TOO_BIG);
	krx_buf_free(&d);
	ZSTD_freeCCtx(cc);
	free(c);
	free(in);
}

Test(compress, gzip_two_members_read)
{
	struct krx_buf	 c, d;
	uint8_t		*in = mkdata(3000, 15);

	krx_buf_init(&c, 0);
	krx_buf_init(&d, 0);
	cr_assert_eq(krx_compress(NULL, KRX_CODEC_GZIP, in, 1000, &c), KRX_OK);
	cr_assert_eq(krx_compress(NULL, KRX_CODEC_GZIP, in + 1000, 2000, &c),
	    KRX_OK);
	cr_assert_eq(krx_decompress(NULL, KRX_CODEC_GZIP, c.data, c.len, 3000,
	    &d),
	    KRX_OK);
	cr_assert_eq(d.len, 3000);
	cr_assert_eq(memcmp(d.data, in, 3000), 0);
	krx_buf_free(&c);
	krx_buf_free(&d);
	free(in);
}

Test(compress, cap_enforced_every_codec)
{
	struct krx_buf	 c, d;
	uint8_t		*in = mkdata(100000, 16);
	size_t		 i;

	for (i = 0; i < NCODECS; i++) {
		krx_buf_init(&c, 0);
		krx_buf_init(&d, 0);
		krx_buf_put(&d, "keep", 4);
		cr_assert_eq(krx_compress(NULL, codecs[i], in, 100000, &c),
		    KRX_OK);
		cr_assert_eq(krx_decompress(NULL, codecs[i], c.data, c.len,
		    99999,
		    &d), KRX_E_TOO_BIG, "codec %d", codecs[i]);
		cr_assert_eq(d.len, 4, "partial output left");
		cr_assert_eq(d.err, KRX_OK);
		cr_assert_eq(krx_decompress(NULL, codecs[i], c.data, c.len, 0,
		    &d),
		    KRX_E_TOO_BIG);
		cr_assert_eq(krx_decompress(NULL, codecs[i], c.data, c.len,
		    100000,
		    &d), KRX_OK);
		cr_assert_eq(d.len, 100004);
		krx_buf_free(&c);
		krx_buf_free(&d);
	}
	free(in);
}

/* A bomb: 64 MiB of zeros compresses to little; the cap stops it early. */
Test(compress, bomb_stopped_at_cap)
{
	size_t		 big = 64 << 20, i;
	uint8_t		*zeros = calloc(1, big);
	struct krx_buf	 c, d;

	cr_assert_not_null(zeros);
	for (i = 1; i < NCODECS; i++) {
		krx_buf_init(&c, 0);
		krx_buf_init(&d, 0);
		cr_assert_eq(krx_compress(NULL, codecs[i], zeros, big, &c),
		    KRX_OK);
		cr_assert_lt(c.len, big / 20);
		cr_assert_eq(krx_decompress(NULL, codecs[i], c.data, c.len,
		    1 << 20,
		    &d), KRX_E_TOO_BIG, "codec %d", codecs[i]);
		cr_assert_leq(d.cap, (size_t)4 << 20, "grew past the cap");
		krx_buf_free(&c);
		krx_buf_free(&d);
	}
	free(zeros);
}

Test(compress, trailing_bytes_rejected)
{
	static const int	 strict[] = { KRX_CODEC_GZIP, KRX_CODEC_LZ4,
	    KRX_CODEC_ZSTD };
	struct krx_buf		 c, d;
	uint8_t			*in = mkdata(2000, 17);
	size_t			 i;

	for (i = 0; i < 3; i++) {
		krx_buf_init(&c, 0);
		krx_buf_init(&d, 0);
		cr_assert_eq(krx_compress(NULL, strict[i], in, 2000, &c),
		    KRX_OK);
		krx_buf_put(&c, "\x00garbage", 8);
		cr_assert_lt(krx_decompress(NULL, strict[i], c.data, c.len,
		    4000,
		    &d), 0, "codec %d", strict[i]);
		cr_assert_eq(d.len, 0);
		krx_buf_free(&c);
		krx_buf_free(&d);
	}
	free(in);
}

/* Every prefix of every stream: an error (never OK), never a crash. */
Test(compress, every_prefix_rejected)
{
	struct krx_buf	 c, d;
	uint8_t		*in = mkdata(3000, 18);
	size_t		 i, n;
	int		 r;

	for (i = 1; i < NCODECS; i++) {
		krx_buf_init(&c, 0);
		krx_buf_init(&d, 0);
		cr_assert_eq(krx_compress(NULL, codecs[i], in, 3000, &c),
		    KRX_OK);
		for (n = 0; n < c.len; n++) {
			r = krx_decompress(NULL, codecs[i], c.data, n, 3000,
			    &d);
			/* xerial has no end mark: its bare header is empty. */
			if (codecs[i] == KRX_CODEC_SNAPPY && n == 16) {
				cr_assert_eq(r, KRX_OK);
				cr_assert_eq(d.len, 0);
				continue;
			}
			cr_assert_lt(r, 0, "codec %d prefix %zu", codecs[i], n);
			/* A short xerial prefix reads as a raw length. */
			cr_assert(r == KRX_E_TRUNCATED ||
			    r == KRX_E_MALFORMED || r == KRX_E_TOO_BIG,
			    "codec %d prefix %zu: %d", codecs[i], n, r);
			cr_assert_eq(d.len, 0);
		}
		krx_buf_free(&c);
		krx_buf_free(&d);
	}
	free(in);
}

/* Flipped bytes: checksummed codecs fail, none crash or pass the cap. */
Test(compress, corrupt_input_never_crashes)
{
	struct krx_buf	 c, d;
	uint8_t		*in = mkdata(3000, 19);
	size_t		 i, n;
	int		 r;

	for (i = 1; i < NCODECS; i++) {
		krx_buf_init(&c, 0);
		krx_buf_init(&d, 0);
		cr_assert_eq(krx_compress(NULL, codecs[i], in, 3000, &c),
		    KRX_OK);
		for (n = 0; n < c.len; n++) {
			c.data[n] ^= 0x5a;
			krx_buf_reset(&d);
			r = krx_decompress(NULL, codecs[i], c.data, c.len, 3000,
			    &d);
			cr_assert(r == KRX_OK || r == KRX_E_TRUNCATED ||
			    r == KRX_E_MALFORMED || r == KRX_E_TOO_BIG);
			cr_assert_leq(d.len, 3000);
			if (codecs[i] == KRX_CODEC_GZIP && r == KRX_OK)
				cr_assert_eq(memcmp(d.data, in, 3000), 0);
			c.data[n] ^= 0x5a;
		}
		krx_buf_free(&c);
		krx_buf_free(&d);
	}
	free(in);
}

Test(compress, garbage_rejected)
{
	static const uint8_t	 junk[] = { 0x82, 'S', 'N', 'A', 'P', 'P', 'Y',
	    0, 0, 0, 0, 1, 0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff, 1, 2 };
	struct krx_buf		 d;
	size_t			 i;

	krx_buf_init(&d, 0);
	for (i = 1; i < NCODECS; i++) {
		cr_assert_lt(krx_decompress(NULL, codecs[i], junk, sizeof(junk),
		    1000, &d), 0, "codec %d", codecs[i]);
		cr_assert_lt(krx_decompress(NULL, codecs[i], NULL, 0, 1000, &d),
		    0);
		cr_assert_eq(d.len, 0);
	}
	krx_buf_free(&d);
}
