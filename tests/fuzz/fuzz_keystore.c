/*
 * fuzz_keystore.c: libFuzzer harness for the LocalKms keystore file
 * (crypto/localkms.c: krx_keystore_load and what a loaded keystore
 * does).
 *
 * The input is the keystore file. It is written to a memfd of mode 0600
 * and loaded through /proc/self/fd/N, the path keysvc would open. Besides
 * "no crash, no leak" it checks:
 *   - the result is one localkms.h documents, *bad_line is set exactly
 *     for KRX_E_MALFORMED and KRX_E_UNSUPPORTED, and no keystore comes
 *     back on error;
 *   - a loaded keystore lists only valid names and versions, resolves
 *     each name, generates an EDEK under each of its first KEKs that
 *     parses to that name and current version and decrypts to the same
 *     DEK (also after a rotation, which adds exactly one version);
 *   - krx_keystore_save then krx_keystore_load gives the same KEKs.
 * The save goes to a scratch directory under /dev/shm (or TMPDIR),
 * removed at exit.
 *
 * Seeds (tests/fuzz/corpus/keystore, made by mkcorpus.py): keystores
 * with one or more KEKs and versions, and broken ones.
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

#define FZ_MAX_KEKS	4	/* KEKs exercised per input */

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int	 fz_fd = -1;
static char	 fz_path[64];
static char	 fz_dir[256];
static char	 fz_saved[300];

/* The scratch directory and all in it, at exit. */
static void
fz_cleanup(void)
{
	fz_rmtree(fz_dir);
}

static void
fz_init(void)
{
	const char	*base = "/dev/shm";

	if ((fz_fd = memfd_create("fuzz_keystore", MFD_CLOEXEC)) == -1 ||
	    fchmod(fz_fd, 0600) == -1)
		abort();
	snprintf(fz_path, sizeof(fz_path), "/proc/self/fd/%d", fz_fd);
	if (access(base, W_OK) != 0 && (base = getenv("TMPDIR")) == NULL)
		base = "/tmp";
	snprintf(fz_dir, sizeof(fz_dir), "%s/fuzz_keystore.XXXXXX", base);
	if (mkdtemp(fz_dir) == NULL)
		abort();
	snprintf(fz_saved, sizeof(fz_saved), "%s/keks", fz_dir);
	atexit(fz_cleanup);
}

static int
fz_name_ok(const char *s)
{
	size_t	 i, n = strlen(s);

	if (n == 0 || n > KRX_LOCALKMS_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789._-", s[i]) == NULL)
			return 0;
	return 1;
}

/* Generate under name, check the EDEK's header, decrypt it again. */
static void
fz_generate(const struct krx_keystore *ks, const char *name,
    uint32_t version, struct krx_buf *edek, uint8_t dek[KRX_DEK_LEN])
{
	const uint8_t	*n;
	size_t		 nlen, len = strlen(name);
	uint32_t	 v;
	uint8_t		 again[KRX_DEK_LEN];

	krx_buf_reset(edek);
	fz_check(krx_localkms_generate(ks, name, len, dek, edek) == KRX_OK);
	fz_check(edek->len <= KRX_LOCALKMS_EDEK_MAX);
	fz_check(krx_localkms_edek_parse(edek->data, edek->len, &n, &nlen,
	    &v) == KRX_OK && nlen == len && memcmp(n, name, len) == 0 &&
	    v == version);
	fz_check(krx_localkms_decrypt(ks, edek->data, edek->len, again) ==
	    KRX_OK && memcmp(again, dek, KRX_DEK_LEN) == 0);
}

static void
fz_keys(struct krx_keystore *ks)
{
	const char	*name;
	struct krx_buf	 edek;
	uint8_t		 dek[KRX_DEK_LEN], again[KRX_DEK_LEN];
	uint32_t	 v, v2;
	int64_t		 created;
	size_t		 i, n = krx_keystore_count(ks);
	char		*copy;
	int		 r;

	fz_check(krx_keystore_info(ks, n, &name, &v, &created) ==
	    KRX_E_RANGE);
	krx_buf_init(&edek, 0);
	for (i = 0; i < n; i++) {
		fz_check(krx_keystore_info(ks, i, &name, &v, &created) ==
		    KRX_OK && fz_name_ok(name) && v >= 1 && created >= 0);
		fz_check(krx_localkms_resolve(ks, name, strlen(name)) ==
		    KRX_OK);
		if (i >= FZ_MAX_KEKS)
			continue;
		fz_generate(ks, name, v, &edek, dek);
		/* Rotation adds one version; old EDEKs still decrypt. */
		copy = strdup(name);
		fz_check(copy != NULL);
		r = krx_keystore_rotate(ks, copy);
		fz_check(krx_keystore_info(ks, i, NULL, &v2, NULL) == KRX_OK);
		if (r == KRX_OK)
			fz_check(v2 == v + 1);
		else
			fz_check(r == KRX_E_RANGE && v == UINT32_MAX &&
			    v2 == v);
		fz_check(krx_localkms_decrypt(ks, edek.data, edek.len,
		    again) == KRX_OK && memcmp(again, dek, sizeof(dek)) == 0);
		free(copy);
	}
	krx_buf_free_secret(&edek);
}

/* Save and load again: the same KEKs, versions and times. */
static void
fz_roundtrip(const struct krx_keystore *ks)
{
	struct krx_keystore	*again;
	const char		*n1, *n2;
	uint32_t		 v1, v2;
	int64_t			 c1, c2;
	size_t			 i;

	fz_check(krx_keystore_save(ks, fz_saved) == KRX_OK);
	fz_check(krx_keystore_load(fz_saved, &again, NULL) == KRX_OK);
	fz_check(krx_keystore_count(again) == krx_keystore_count(ks));
	for (i = 0; i < krx_keystore_count(ks); i++) {
		fz_check(krx_keystore_info(ks, i, &n1, &v1, &c1) == KRX_OK &&
		    krx_keystore_info(again, i, &n2, &v2, &c2) == KRX_OK);
		fz_check(strcmp(n1, n2) == 0 && v1 == v2 && c1 == c2);
	}
	krx_keystore_free(again);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct krx_keystore	*ks = (struct krx_keystore *)1;
	int			 r, line = -1;

	if (fz_fd == -1)
		fz_init();
	if (ftruncate(fz_fd, 0) == -1 ||
	    (size > 0 && pwrite(fz_fd, data, size, 0) != (ssize_t)size))
		abort();
	r = krx_keystore_load(fz_path, &ks, &line);
	if (r != KRX_OK) {
		fz_check(ks == NULL);
		fz_check(r == KRX_E_MALFORMED || r == KRX_E_UNSUPPORTED ||
		    r == KRX_E_NOMEM);
		fz_check((r == KRX_E_MALFORMED || r == KRX_E_UNSUPPORTED) ?
		    line >= 1 : line == 0);
		return 0;
	}
	fz_check(ks != NULL && line == 0);
	fz_roundtrip(ks);
	fz_keys(ks);
	fz_roundtrip(ks);
	krx_keystore_free(ks);
	return 0;
}
