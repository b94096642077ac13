/*
 * aead_bench.c: seal throughput of krx_wrapper_seal (crypto/wrapper.c)
 * against raw OpenSSL EVP AES-256-GCM on this CPU, for 100-byte and
 * 1 KiB record values. Prints, asserts nothing; not run by the tests.
 *
 *   make BUILD=build-crypto build-crypto/libkrx.a
 *   cc -std=c17 -D_GNU_SOURCE -O2 -I. -o build-crypto/aead_bench \
 *       bench/aead_bench.c build-crypto/libkrx.a -lcrypto
 *   build-crypto/aead_bench [seconds per case, default 1]
 *
 * GB/s counts record value bytes (what the producer sent), records/s
 * counts values sealed. "raw EVP" seals the value alone (IV set per
 * record on a context keyed once, update, final, tag): the floor any
 * wrapper adds to. "wrapper pieces" seals the same wrapper as
 * krx_wrapper_seal from three pieces through krx_aead_seal_update
 * instead of laying the parcel out first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "common/err.h"
#include "crypto/aead.h"
#include "crypto/ivgen.h"
#include "crypto/wrapper.h"

#define EDEK_LEN	78	/* the in-memory KMS's; Vault's is ~100 */

static double
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

struct bench {
	EVP_CIPHER_CTX	*ctx;
	struct krx_aead	*aead;
	struct krx_ivgen iv;
	uint8_t		 edek[EDEK_LEN];
	uint8_t		*value;
	size_t		 len;
	uint8_t		*out;
	size_t		 out_len;
};

static int
seal_raw(struct bench *b, const uint8_t *iv)
{
	int	 outl;

	if (EVP_EncryptInit_ex2(b->ctx, NULL, NULL, iv, NULL) != 1 ||
	    EVP_EncryptUpdate(b->ctx, b->out, &outl, b->value,
	    (int)b->len) != 1 ||
	    EVP_EncryptFinal_ex(b->ctx, b->out + outl, &outl) != 1 ||
	    EVP_CIPHER_CTX_ctrl(b->ctx, EVP_CTRL_GCM_GET_TAG, 16,
	    b->out + b->len) != 1)
		return -1;
	return 0;
}

static int
seal_wrapper(struct bench *b, const uint8_t *iv)
{
	return krx_wrapper_seal(b->aead, iv, b->edek, EDEK_LEN, b->value,
	    b->len, b->out, b->out_len);
}

static int
seal_pieces(struct bench *b, const uint8_t *iv)
{
	uint8_t	 pre[5], post = 0x03, *o = b->out;
	size_t	 n = 0, off;
	uint64_t v = (uint64_t)b->len << 1;

	while (v >= 0x80) {
		pre[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	pre[n++] = (uint8_t)v;
	off = 0;
	o[off++] = 0;
	o[off++] = EDEK_LEN;
	memcpy(o + off, b->edek, EDEK_LEN);
	off += EDEK_LEN;
	o[off++] = 0;
	memcpy(o + off, iv, 12);
	off += 12;
	if (krx_aead_seal_begin(b->aead, iv) != 0 ||
	    krx_aead_seal_update(b->aead, pre, n, o + off) != 0 ||
	    krx_aead_seal_update(b->aead, b->value, b->len,
	    o + off + n) != 0 ||
	    krx_aead_seal_update(b->aead, &post, 1,
	    o + off + n + b->len) != 0 ||
	    krx_aead_seal_finish(b->aead, o + off + n + b->len + 1) != 0)
		return -1;
	return 0;
}

/* The pieces variant must write the very bytes krx_wrapper_seal does. */
static int
check(struct bench *b)
{
	static const uint8_t	 iv[12] = { 1 };
	uint8_t			*ref;
	int			 r = -1;

	if ((ref = malloc(b->out_len)) == NULL)
		return -1;
	if (seal_wrapper(b, iv) == 0) {
		memcpy(ref, b->out, b->out_len);
		memset(b->out, 0, b->out_len);
		if (seal_pieces(b, iv) == 0 &&
		    memcmp(ref, b->out, b->out_len) == 0)
			r = 0;
	}
	free(ref);
	return r;
}

static void
run(const char *name, int (*fn)(struct bench *, const uint8_t *),
    struct bench *b, double secs)
{
	uint8_t		 iv[12];
	double		 t0, t, best = 0;
	long		 n, i;
	int		 round;

	for (round = 0; round < 3; round++) {
		n = 0;
		t0 = now();
		do {
			for (i = 0; i < 4096; i++) {
				if (krx_ivgen_next(&b->iv, iv) != 0 ||
				    fn(b, iv) != 0) {
					fprintf(stderr, "%s failed\n", name);
					exit(1);
				}
			}
			n += 4096;
		} while ((t = now() - t0) < secs / 3);
		if (n / t > best)
			best = n / t;
	}
	printf("%-16s %6zu B  %8.3f GB/s  %12.0f records/s  %6.1f ns/rec\n",
	    name, b->len, best * b->len / 1e9, best, 1e9 / best);
}

int
main(int argc, char **argv)
{
	static const size_t lens[] = { 100, 1024 };
	uint8_t		 key[32];
	EVP_CIPHER	*cipher;
	struct bench	 b;
	double		 secs = argc > 1 ? atof(argv[1]) : 1.0;
	size_t		 i;

	memset(&b, 0, sizeof(b));
	memset(key, 0x42, sizeof(key));
	memset(b.edek, 0xed, sizeof(b.edek));
	if ((cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL)) == NULL ||
	    (b.ctx = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_EncryptInit_ex2(b.ctx, cipher, key, NULL, NULL) != 1 ||
	    (b.aead = krx_aead_new(key, sizeof(key))) == NULL ||
	    krx_ivgen_init(&b.iv, 0, KRX_IVGEN_MAX_BUDGET) != 0) {
		fprintf(stderr, "setup failed\n");
		return 1;
	}
	printf("%s\n", OpenSSL_version(OPENSSL_VERSION));
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		b.len = lens[i];
		b.out_len = krx_wrapper_size(EDEK_LEN, b.len);
		if ((b.value = malloc(b.len)) == NULL ||
		    (b.out = malloc(b.out_len)) == NULL)
			return 1;
		memset(b.value, 'v', b.len);
		if (check(&b) != 0) {
			fprintf(stderr, "pieces and wrapper differ\n");
			return 1;
		}
		run("raw EVP", seal_raw, &b, secs);
		run("krx_wrapper_seal", seal_wrapper, &b, secs);
		run("wrapper pieces", seal_pieces, &b, secs);
		free(b.value);
		free(b.out);
	}
	krx_aead_free(b.aead);
	EVP_CIPHER_CTX_free(b.ctx);
	EVP_CIPHER_free(cipher);
	return 0;
}
