/*
 * fuzz_edek.c: libFuzzer harness for LocalKms EDEKs (crypto/localkms.c:
 * krx_localkms_edek_parse, krx_localkms_decrypt, krx_localkms_resolve),
 * the bytes keysvc gets from a worker, that is from a record header on
 * a broker. The Kroxylicious in-memory EDEK (crypto/edek_inmem.c) and
 * the wrapper that carries EDEKs (crypto/wrapper.c) are fuzzed by
 * fuzz_wrapper.c (its targets 0 and 2), not again here.
 *
 * The keystore is fixed (FZ_KEYSTORE: KEK-a versions 1 and 2,
 * KEK-orders version 1, known keys), so seeds that are real EDEKs
 * decrypt. The first input byte picks a target, the rest is its input:
 *   0  EDEK: parse and decrypt. Checks: parse and decrypt agree on the
 *      format (decrypt never answers KRX_E_MALFORMED for an EDEK that
 *      parses, nor anything else for one that does not); a parsed EDEK
 *      has the documented length (65 + n + 1 or 2), a valid name and
 *      version >= 1, views inside the input; decrypt answers
 *      KRX_E_NOTFOUND exactly when the KEK or version is not in the
 *      keystore; the DEK is zero on error. An EDEK that decrypts is
 *      also checked to fail once any byte of it is changed (the byte
 *      picked by the EDEK's own last byte).
 *   1  KEK name: resolve it, generate an EDEK under it when it exists,
 *      parse and decrypt that EDEK.
 * Seeds (tests/fuzz/corpus/edek, made by mkcorpus.py): EDEKs made under
 * the keystore's KEKs with names of 1, 127, 128 and 200 bytes, and
 * variants (unknown KEK or version, two-byte length for a short name).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/err.h"
#include "crypto/localkms.h"
#include "tests/fuzz/fuzz_common.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct krx_keystore *fz_ks;

static void
fz_init(void)
{
	char	 path[64];
	size_t	 n = sizeof(fz_keystore_text) - 1;
	int	 fd;

	if ((fd = memfd_create("fuzz_edek", MFD_CLOEXEC)) == -1 ||
	    fchmod(fd, 0600) == -1 ||
	    write(fd, fz_keystore_text, n) != (ssize_t)n)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (krx_keystore_load(path, &fz_ks, NULL) != KRX_OK ||
	    krx_keystore_count(fz_ks) != 2)
		abort();
	close(fd);
}

static int
fz_zero(const uint8_t *p, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

/* Is version v of KEK name in the fixed keystore? */
static int
fz_known(const uint8_t *name, size_t len, uint32_t v)
{
	if (len == 5 && memcmp(name, "KEK-a", 5) == 0)
		return v == 1 || v == 2;
	if (len == 10 && memcmp(name, "KEK-orders", 10) == 0)
		return v == 1;
	return 0;
}

static void
fz_tamper(const uint8_t *p, size_t len)
{
	uint8_t	 dek[KRX_DEK_LEN], *q;
	size_t	 at = p[len - 1] % len;
	int	 r;

	if ((q = malloc(len)) == NULL)
		return;
	memcpy(q, p, len);
	q[at] ^= 0x01;
	r = krx_localkms_decrypt(fz_ks, q, len, dek);
	fz_check(r != KRX_OK && fz_zero(dek, sizeof(dek)));
	free(q);
}

static void
fz_edek(const uint8_t *p, size_t len)
{
	const uint8_t	*name = (const uint8_t *)"x";
	size_t		 nlen = 1;
	uint32_t	 v = 7;
	uint8_t		 dek[KRX_DEK_LEN];
	int		 pr, dr;

	pr = krx_localkms_edek_parse(p, len, &name, &nlen, &v);
	memset(dek, 0xa5, sizeof(dek));
	dr = krx_localkms_decrypt(fz_ks, p, len, dek);
	if (pr != KRX_OK) {
		fz_check(pr == KRX_E_MALFORMED && name == NULL && nlen == 0 &&
		    v == 0);
		fz_check(dr == KRX_E_MALFORMED && fz_zero(dek, sizeof(dek)));
		return;
	}
	fz_check(nlen >= 1 && nlen <= KRX_LOCALKMS_NAME_MAX && v >= 1);
	fz_check(name == p + 1 + (nlen < 128 ? 1 : 2));
	fz_check(len == 65 + nlen + (nlen < 128 ? 1 : 2));
	fz_check(len <= KRX_LOCALKMS_EDEK_MAX);
	fz_check(krx_localkms_resolve(fz_ks, (const char *)name, nlen) ==
	    (fz_known(name, nlen, 1) ? KRX_OK : KRX_E_NOTFOUND));
	if (!fz_known(name, nlen, v)) {
		fz_check(dr == KRX_E_NOTFOUND && fz_zero(dek, sizeof(dek)));
		return;
	}
	fz_check(dr == KRX_OK || dr == KRX_E_CRYPTO);
	if (dr != KRX_OK) {
		fz_check(fz_zero(dek, sizeof(dek)));
		return;
	}
	fz_tamper(p, len);
}

static void
fz_kek(const uint8_t *p, size_t len)
{
	struct krx_buf	 edek;
	const uint8_t	*name;
	size_t		 nlen;
	uint32_t	 v;
	uint8_t		 dek[KRX_DEK_LEN], again[KRX_DEK_LEN];
	int		 r;

	r = krx_localkms_resolve(fz_ks, (const char *)p, len);
	fz_check(r == (fz_known(p, len, 1) ? KRX_OK : KRX_E_NOTFOUND));
	krx_buf_init(&edek, 0);
	krx_buf_put(&edek, "pre", 3);
	r = krx_localkms_generate(fz_ks, (const char *)p, len, dek, &edek);
	if (r != KRX_OK) {
		fz_check(r == KRX_E_NOTFOUND && edek.len == 3 &&
		    fz_zero(dek, sizeof(dek)));
		krx_buf_free(&edek);
		return;
	}
	fz_check(krx_localkms_edek_parse(edek.data + 3, edek.len - 3, &name,
	    &nlen, &v) == KRX_OK && nlen == len && memcmp(name, p, len) == 0 &&
	    v == (len == 5 ? 2u : 1u));
	fz_check(krx_localkms_decrypt(fz_ks, edek.data + 3, edek.len - 3,
	    again) == KRX_OK && memcmp(dek, again, sizeof(dek)) == 0);
	fz_tamper(edek.data + 3, edek.len - 3);
	krx_buf_free_secret(&edek);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (fz_ks == NULL)
		fz_init();
	if (size == 0)
		return 0;
	switch (data[0]) {
	case 0:
		fz_edek(data + 1, size - 1);
		break;
	case 1:
		fz_kek(data + 1, size - 1);
		break;
	}
	return 0;
}
