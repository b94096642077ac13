/*
 * localkms_test.c: LocalKms (crypto/localkms.c): the keystore (create,
 * rotate, delete, save, load, strict parsing, file mode) and its EDEKs
 * (round trips across rotation and deletion, every tampered byte, every
 * truncated prefix).
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "common/buf.h"
#include "common/err.h"
#include "crypto/localkms.h"

#define ZERO_KEY_B64 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

static char *
tmpdir(void)
{
	char	*d = strdup("/tmp/krx-localkms-XXXXXX");

	cr_assert_not_null(d);
	cr_assert_not_null(mkdtemp(d));
	return d;
}

/* Remove a flat directory and everything in it. */
static void
rmtree(char *dir)
{
	struct dirent	*de;
	char		 p[512];
	DIR		*d;

	cr_assert_not_null(d = opendir(dir));
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		unlink(p);
	}
	closedir(d);
	cr_assert_eq(rmdir(dir), 0);
	free(dir);
}

static size_t
dir_entries(const char *dir)
{
	struct dirent	*de;
	size_t		 n = 0;
	DIR		*d;

	cr_assert_not_null(d = opendir(dir));
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	int	 fd;

	unlink(path);
	cr_assert_neq(fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode), -1);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	cr_assert_eq(fchmod(fd, mode), 0);
	close(fd);
}

static void
gen(const struct krx_keystore *ks, const char *name, uint8_t dek[32],
    struct krx_buf *edek)
{
	cr_assert_eq(krx_buf_init(edek, 0), KRX_OK);
	cr_assert_eq(krx_localkms_generate(ks, name, strlen(name), dek, edek),
	    KRX_OK, "generate under %s", name);
}

static void
expect_dek(const struct krx_keystore *ks, const struct krx_buf *edek,
    const uint8_t want[32])
{
	uint8_t	 dek[KRX_DEK_LEN];

	cr_assert_eq(krx_localkms_decrypt(ks, edek->data, edek->len, dek),
	    KRX_OK);
	cr_assert_arr_eq(dek, want, KRX_DEK_LEN);
}

static uint32_t
edek_version(const struct krx_buf *edek, const char *want_name)
{
	const uint8_t	*name;
	size_t		 name_len;
	uint32_t	 v;

	cr_assert_eq(krx_localkms_edek_parse(edek->data, edek->len, &name,
	    &name_len, &v), KRX_OK);
	cr_assert_eq(name_len, strlen(want_name));
	cr_assert_arr_eq(name, want_name, name_len);
	return v;
}

Test(localkms, round_trip)
{
	struct krx_keystore	*ks;
	struct krx_buf		 e1, e2;
	uint8_t			 d1[KRX_DEK_LEN], d2[KRX_DEK_LEN];
	uint8_t			 zero[KRX_DEK_LEN] = { 0 };

	cr_assert_not_null(ks = krx_keystore_new());
	cr_assert_eq(krx_keystore_count(ks), 0);
	cr_assert_eq(krx_keystore_create(ks, "orders"), KRX_OK);
	cr_assert_eq(krx_keystore_count(ks), 1);
	cr_assert_eq(krx_localkms_resolve(ks, "orders", 6), KRX_OK);
	gen(ks, "orders", d1, &e1);
	gen(ks, "orders", d2, &e2);
	cr_assert_eq(e1.len, 65 + 1 + 6);
	cr_assert_eq(e1.data[0], KRX_LOCALKMS_FORMAT);
	cr_assert_eq(edek_version(&e1, "orders"), 1);
	cr_assert(memcmp(d1, zero, sizeof(d1)) != 0);
	cr_assert(memcmp(d1, d2, sizeof(d1)) != 0, "two DEKs are equal");
	cr_assert(memcmp(e1.data, e2.data, e1.len) != 0);
	expect_dek(ks, &e1, d1);
	expect_dek(ks, &e2, d2);
	/* Appends: a non-empty buffer keeps its prefix. */
	cr_assert_eq(krx_localkms_generate(ks, "orders", 6, d2, &e1), KRX_OK);
	cr_assert_eq(e1.len, 2 * (65 + 1 + 6));
	krx_buf_free(&e1);
	krx_buf_free(&e2);
	krx_keystore_free(ks);
	krx_keystore_free(NULL);
}

Test(localkms, long_name_uses_a_two_byte_length)
{
	struct krx_keystore	*ks;
	struct krx_buf		 e;
	uint8_t			 d[KRX_DEK_LEN];
	char			 name[KRX_LOCALKMS_NAME_MAX + 1];

	memset(name, 'k', KRX_LOCALKMS_NAME_MAX);
	name[KRX_LOCALKMS_NAME_MAX] = '\0';
	cr_assert_not_null(ks = krx_keystore_new());
	cr_assert_eq(krx_keystore_create(ks, name), KRX_OK);
	gen(ks, name, d, &e);
	cr_assert_eq(e.len, KRX_LOCALKMS_EDEK_MAX);
	cr_assert_eq(edek_version(&e, name), 1);
	expect_dek(ks, &e, d);
	krx_buf_free(&e);
	krx_keystore_free(ks);
}

Test(localkms, rotation_keeps_old_versions)
{
	struct krx_keystore	*ks;
	struct krx_buf		 e1, e2, e3;
	uint8_t			 d1[KRX_DEK_LEN], d2[KRX_DEK_LEN];
	uint8_t			 d3[KRX_DEK_LEN];
	const char		*name;
	uint32_t		 cur;
	int64_t			 created;

	cr_assert_not_null(ks = krx_keystore_new());
	cr_assert_eq(krx_keystore_create(ks, "pay.v-1_x"), KRX_OK);
	gen(ks, "pay.v-1_x", d1, &e1);
	cr_assert_eq(krx_keystore_rotate(ks, "pay.v-1_x"), KRX_OK);
	cr_assert_eq(krx_keystore_info(ks, 0, &name, &cur, &created), KRX_OK);
	cr_assert_str_eq(name, "pay.v-1_x");
	cr_assert_eq(cur, 2);
	cr_assert_gt(created, 1600000000);
	gen(ks, "pay.v-1_x", d2, &e2);
	cr_assert_eq(edek_version(&e1, "pay.v-1_x"), 1);
	cr_assert_eq(edek_version(&e2, "pay.v-1_x"), 2);
	cr_assert_eq(krx_keystore_rotate(ks, "pay.v-1_x"), KRX_OK);
	gen(ks, "pay.v-1_x", d3, &e3);
	cr_assert_eq(edek_version(&e3, "pay.v-1_x"), 3);
	expect_dek(ks, &e1, d1);
	expect_dek(ks, &e2, d2);
	expect_dek(ks, &e3, d3);
	krx_buf_free(&e1);
	krx_buf_free(&e2);
	krx_buf_free(&e3);
	krx_keystore_free(ks);
}

Test(localkms, unknown_and_invalid_names)
{
	struct krx_keystore	*ks;
	struct krx_buf		 e;
	uint8_t			 d[KRX_DEK_LEN], zero[KRX_DEK_LEN] = { 0 };
	char			 big[KRX_LOCALKMS_NAME_MAX + 2];

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cr_assert_not_null(ks = krx_keystore_new());
	cr_assert_eq(krx_keystore_create(ks, "a"), KRX_OK);
	cr_assert_eq(krx_localkms_resolve(ks, "nope", 4), KRX_E_NOTFOUND);
	cr_assert_eq(krx_localkms_resolve(ks, "ab", 1), KRX_OK);
	cr_assert_eq(krx_localkms_resolve(ks, "", 0), KRX_E_NOTFOUND);
	cr_assert_eq(krx_localkms_resolve(ks, "a b", 3), KRX_E_NOTFOUND);
	cr_assert_eq(krx_localkms_resolve(NULL, "a", 1), KRX_E_NOTFOUND);
	cr_assert_eq(krx_buf_init(&e, 0), KRX_OK);
	memset(d, 0x5a, sizeof(d));
	cr_assert_eq(krx_localkms_generate(ks, "nope", 4, d, &e),
	    KRX_E_NOTFOUND);
	cr_assert_arr_eq(d, zero, sizeof(d));
	cr_assert_eq(e.len, 0);
	cr_assert_eq(krx_keystore_create(ks, "a"), KRX_E_RANGE);
	cr_assert_eq(krx_keystore_create(ks, ""), KRX_E_RANGE);
	cr_assert_eq(krx_keystore_create(ks, "a/b"), KRX_E_RANGE);
	cr_assert_eq(krx_keystore_create(ks, "a b"), KRX_E_RANGE);
	cr_assert_eq(krx_keystore_create(ks, "\xc3\xa9t\xc3\xa9"),
	    KRX_E_RANGE);
	cr_assert_eq(krx_keystore_create(ks, big), KRX_E_RANGE);
	big[KRX_LOCALKMS_NAME_MAX] = '\0';
	cr_assert_eq(krx_keystore_create(ks, big), KRX_OK);
	cr_assert_eq(krx_keystore_rotate(ks, "nope"), KRX_E_NOTFOUND);
	cr_assert_eq(krx_keystore_delete(ks, "nope"), KRX_E_NOTFOUND);
	cr_assert_eq(krx_keystore_count(ks), 2);
	cr_assert_eq(krx_keystore_info(ks, 2, NULL, NULL, NULL), KRX_E_RANGE);
	krx_buf_free(&e);
	krx_keystore_free(ks);
}

static int
bad_edek_code(int r)
{
	return r == KRX_E_CRYPTO || r == KRX_E_MALFORMED ||
	    r == KRX_E_NOTFOUND;
}

Test(localkms, every_tampered_byte_is_rejected)
{
	static const uint8_t	 flips[] = { 0x01, 0x80, 0xff };
	struct krx_keystore	*ks;
	struct krx_buf		 e;
	uint8_t			 d[KRX_DEK_LEN], out[KRX_DEK_LEN];
	uint8_t			 zero[KRX_DEK_LEN] = { 0 }, *t;
	size_t			 i, f;
	int			 r, crypto = 0;

	cr_assert_not_null(ks = krx_keystore_new());
	cr_assert_eq(krx_keystore_create(ks, "orders"), KRX_OK);
	cr_assert_eq(krx_keystore_create(ks, "orderz"), KRX_OK);
	gen(ks, "orders", d, &e);
	cr_assert_not_null(t = malloc(e.len));
	for (i = 0; i < e.len; i++) {
		for (f = 0; f < sizeof(flips); f++) {
			memcpy(t, e.data, e.len);
			t[i] ^= flips[f];
			memset(out, 0x5a, sizeof(out));
			r = krx_localkms_decrypt(ks, t, e.len, out);
			cr_assert(bad_edek_code(r),
			    "byte %zu ^ %02x: got %d", i, flips[f], r);
			cr_assert_arr_eq(out, zero, sizeof(out));
			crypto += r == KRX_E_CRYPTO;
		}
	}
	/* IV, ciphertext, tag and version-compatible flips reach GCM. */
	cr_assert_geq(crypto, 3 * (12 + 32 + 16));
	/* "orders" to "orderz" is another KEK: the AAD binds the name. */
	memcpy(t, e.data, e.len);
	t[2 + 5] = 'z';
	cr_assert_eq(krx_localkms_decrypt(ks, t, e.len, out), KRX_E_CRYPTO);
	expect_dek(ks, &e, d);
	free(t);
	krx_buf_free(&e);
	krx_keystore_free(ks);
}

Test(localkms, every_truncation_is_rejected)
{
	struct krx_keystore	*ks;
	struct krx_buf		 e;
	const uint8_t		*name;
	size_t			 i, name_len;
	uint32_t		 v;
	uint8_t			 d[KRX_DEK_LEN], out[KRX_DEK_LEN], *t;

	cr_assert_not_null(ks = krx_keystore_new());
	cr_assert_eq(krx_keystore_create(ks, "orders"), KRX_OK);
	gen(ks, "orders", d, &e);
	for (i = 0; i < e.len; i++) {
		/* A copy of exactly i bytes, so ASan sees any overread. */
		cr_assert_not_null(t = malloc(i == 0 ? 1 : i));
		memcpy(t, e.data, i);
		cr_assert_eq(krx_localkms_decrypt(ks, t, i, out),
		    KRX_E_MALFORMED, "prefix of %zu bytes", i);
		cr_assert_eq(krx_localkms_edek_parse(t, i, &name, &name_len,
		    &v), KRX_E_MALFORMED, "prefix of %zu bytes", i);
		cr_assert_null(name);
		cr_assert_eq(name_len, 0);
		cr_assert_eq(v, 0);
		free(t);
	}
	/* One byte too many is as bad. */
	cr_assert_eq(krx_buf_put_u8(&e, 0), KRX_OK);
	cr_assert_eq(krx_localkms_decrypt(ks, e.data, e.len, out),
	    KRX_E_MALFORMED);
	krx_buf_free(&e);
	krx_keystore_free(ks);
}

Test(localkms, crafted_headers_are_malformed)
{
	/* Non-canonical length, zero length, bad name byte, version 0. */
	static const uint8_t	 hdrs[][9] = {
		{ 0x01, 0x81, 0x00, 'a', 0, 0, 0, 1 },
		{ 0x02, 0x01, 'a', 0, 0, 0, 1 },
		{ 0x01, 0x00, 0, 0, 0, 1 },
		{ 0x01, 0x01, '/', 0, 0, 0, 1 },
		{ 0x01, 0x01, 'a', 0, 0, 0, 0 },
	};
	static const size_t	 hlen[] = { 8, 7, 6, 7, 7 };
	struct krx_keystore	*ks;
	uint8_t			 buf[128], out[KRX_DEK_LEN];
	size_t			 i;

	cr_assert_not_null(ks = krx_keystore_new());
	cr_assert_eq(krx_keystore_create(ks, "a"), KRX_OK);
	for (i = 0; i < sizeof(hlen) / sizeof(hlen[0]); i++) {
		memset(buf, 0, sizeof(buf));
		memcpy(buf, hdrs[i], hlen[i]);
		cr_assert_eq(krx_localkms_decrypt(ks, buf, hlen[i] + 60, out),
		    KRX_E_MALFORMED, "header %zu", i);
	}
	krx_keystore_free(ks);
}

Test(localkms, deleted_kek_gives_notfound)
{
	struct krx_keystore	*ks;
	struct krx_buf		 ea, eb;
	uint8_t			 da[KRX_DEK_LEN], db[KRX_DEK_LEN];
	uint8_t			 out[KRX_DEK_LEN];
	const char		*name;

	cr_assert_not_null(ks = krx_keystore_new());
	cr_assert_eq(krx_keystore_create(ks, "a"), KRX_OK);
	cr_assert_eq(krx_keystore_create(ks, "b"), KRX_OK);
	cr_assert_eq(krx_keystore_rotate(ks, "a"), KRX_OK);
	gen(ks, "a", da, &ea);
	gen(ks, "b", db, &eb);
	cr_assert_eq(krx_keystore_delete(ks, "a"), KRX_OK);
	cr_assert_eq(krx_keystore_count(ks), 1);
	cr_assert_eq(krx_keystore_info(ks, 0, &name, NULL, NULL), KRX_OK);
	cr_assert_str_eq(name, "b");
	cr_assert_eq(krx_localkms_decrypt(ks, ea.data, ea.len, out),
	    KRX_E_NOTFOUND);
	cr_assert_eq(krx_localkms_resolve(ks, "a", 1), KRX_E_NOTFOUND);
	expect_dek(ks, &eb, db);
	/* A new KEK under the old name has version 1 only. */
	cr_assert_eq(krx_keystore_create(ks, "a"), KRX_OK);
	cr_assert_eq(krx_localkms_decrypt(ks, ea.data, ea.len, out),
	    KRX_E_NOTFOUND);
	cr_assert_eq(krx_keystore_rotate(ks, "a"), KRX_OK);
	/* ...and version 2 now exists with another key. */
	cr_assert_eq(krx_localkms_decrypt(ks, ea.data, ea.len, out),
	    KRX_E_CRYPTO);
	krx_buf_free(&ea);
	krx_buf_free(&eb);
	krx_keystore_free(ks);
}

Test(localkms, save_and_load_keep_keys)
{
	struct krx_keystore	*ks, *ks2;
	struct krx_buf		 ea1, ea2, eb;
	uint8_t			 da1[KRX_DEK_LEN], da2[KRX_DEK_LEN];
	uint8_t			 db[KRX_DEK_LEN];
	const char		*n1, *n2;
	uint32_t		 v1, v2;
	int64_t			 c1, c2;
	struct stat		 st;
	char			*dir = tmpdir(), path[256], line[64];
	size_t			 i;
	FILE			*f;
	int			 bad = -1;

	snprintf(path, sizeof(path), "%s/keks", dir);
	cr_assert_not_null(ks = krx_keystore_new());
	cr_assert_eq(krx_keystore_create(ks, "a"), KRX_OK);
	gen(ks, "a", da1, &ea1);
	cr_assert_eq(krx_keystore_rotate(ks, "a"), KRX_OK);
	gen(ks, "a", da2, &ea2);
	cr_assert_eq(krx_keystore_create(ks, "b"), KRX_OK);
	gen(ks, "b", db, &eb);
	umask(022);
	cr_assert_eq(krx_keystore_save(ks, path), KRX_OK);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0600, "mode %o", st.st_mode);
	cr_assert_eq(dir_entries(dir), 1, "a temporary file was left");
	cr_assert_not_null(f = fopen(path, "r"));
	cr_assert_not_null(fgets(line, sizeof(line), f));
	cr_assert_str_eq(line, "krx-keystore 1\n");
	fclose(f);

	cr_assert_eq(krx_keystore_load(path, &ks2, &bad), KRX_OK);
	cr_assert_eq(bad, 0);
	cr_assert_eq(krx_keystore_count(ks2), 2);
	for (i = 0; i < 2; i++) {
		cr_assert_eq(krx_keystore_info(ks, i, &n1, &v1, &c1), KRX_OK);
		cr_assert_eq(krx_keystore_info(ks2, i, &n2, &v2, &c2), KRX_OK);
		cr_assert_str_eq(n1, n2);
		cr_assert_eq(v1, v2);
		cr_assert_eq(c1, c2);
	}
	expect_dek(ks2, &ea1, da1);
	expect_dek(ks2, &ea2, da2);
	expect_dek(ks2, &eb, db);

	/* Saving over an existing file: still 0600, still one file. */
	cr_assert_eq(krx_keystore_rotate(ks2, "b"), KRX_OK);
	cr_assert_eq(chmod(path, 0400), 0);
	cr_assert_eq(krx_keystore_save(ks2, path), KRX_OK);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0600);
	cr_assert_eq(dir_entries(dir), 1);
	krx_keystore_free(ks2);
	cr_assert_eq(krx_keystore_load(path, &ks2, NULL), KRX_OK);
	cr_assert_eq(krx_keystore_info(ks2, 1, NULL, &v2, NULL), KRX_OK);
	cr_assert_eq(v2, 2);
	expect_dek(ks2, &eb, db);

	/* An empty keystore saves and loads. */
	krx_keystore_free(ks2);
	krx_keystore_free(ks);
	cr_assert_not_null(ks = krx_keystore_new());
	cr_assert_eq(krx_keystore_save(ks, path), KRX_OK);
	cr_assert_eq(krx_keystore_load(path, &ks2, NULL), KRX_OK);
	cr_assert_eq(krx_keystore_count(ks2), 0);
	krx_keystore_free(ks2);
	krx_keystore_free(ks);

	/* A directory that does not exist: an error, nothing written. */
	snprintf(path, sizeof(path), "%s/no/keks", dir);
	cr_assert_not_null(ks = krx_keystore_new());
	cr_assert_eq(krx_keystore_save(ks, path), KRX_E_IO);
	krx_keystore_free(ks);
	krx_buf_free(&ea1);
	krx_buf_free(&ea2);
	krx_buf_free(&eb);
	rmtree(dir);
}

Test(localkms, load_checks_mode_and_existence)
{
	static const mode_t	 bad_modes[] = { 0644, 0640, 0604, 0620, 0602,
	    0610, 0601 };
	struct krx_keystore	*ks;
	char			*dir = tmpdir(), path[256];
	size_t			 i;
	int			 bad = -1;

	snprintf(path, sizeof(path), "%s/keks", dir);
	cr_assert_eq(krx_keystore_load(path, &ks, &bad), KRX_E_NOTFOUND);
	cr_assert_null(ks);
	cr_assert_eq(bad, 0);
	write_file(path, "krx-keystore 1\nkek a 1 " ZERO_KEY_B64 " 5\n", 0600);
	cr_assert_eq(krx_keystore_load(path, &ks, &bad), KRX_OK);
	krx_keystore_free(ks);
	for (i = 0; i < sizeof(bad_modes) / sizeof(bad_modes[0]); i++) {
		cr_assert_eq(chmod(path, bad_modes[i]), 0);
		cr_assert_eq(krx_keystore_load(path, &ks, &bad), KRX_E_RANGE,
		    "mode %o", bad_modes[i]);
		cr_assert_null(ks);
	}
	cr_assert_eq(chmod(path, 0400), 0);
	cr_assert_eq(krx_keystore_load(path, &ks, &bad), KRX_OK);
	krx_keystore_free(ks);
	/* A directory is not a keystore. */
	cr_assert_eq(krx_keystore_load(dir, &ks, &bad), KRX_E_RANGE);
	rmtree(dir);
}

/*
 * issue 9, finding 14: the path must be absolute and the file must
 * belong to the effective uid (checked as root, where a chown is
 * possible).
 */
Test(localkms, load_checks_owner_and_absolute_path)
{
	struct krx_keystore	*ks;
	char			*dir = tmpdir(), path[256];
	int			 bad = -1;

	snprintf(path, sizeof(path), "%s/keks", dir);
	write_file(path, "krx-keystore 1\nkek a 1 " ZERO_KEY_B64 " 5\n", 0600);
	cr_assert_eq(krx_keystore_load(path, &ks, &bad), KRX_OK);
	cr_assert_eq(chdir(dir), 0);
	{
		struct krx_keystore	*rel = NULL;

		cr_assert_eq(krx_keystore_load("keks", &rel, &bad),
		    KRX_E_RANGE);
		cr_assert_null(rel);
	}
	cr_assert_eq(krx_keystore_save(ks, "keks"), KRX_E_IO);
	cr_assert_eq(krx_keystore_save(ks, path), KRX_OK);
	krx_keystore_free(ks);
	if (geteuid() == 0) {
		cr_assert_eq(chown(path, 65534, 65534), 0);
		cr_assert_eq(krx_keystore_load(path, &ks, &bad), KRX_E_RANGE);
		cr_assert_null(ks);
		cr_assert_eq(chown(path, 0, 0), 0);
		cr_assert_eq(krx_keystore_load(path, &ks, &bad), KRX_OK);
		krx_keystore_free(ks);
	}
	cr_assert_eq(chdir("/"), 0);
	rmtree(dir);
}

struct bad_case {
	const char	*text;
	int		 err;
	int		 line;
};

#define K	ZERO_KEY_B64
#define HDR	"krx-keystore 1\n"
#define GOOD	"kek a 1 " K " 10\n"

static const struct bad_case bad_cases[] = {
	{ "", KRX_E_MALFORMED, 1 },
	{ "krx-keystore 1", KRX_E_MALFORMED, 1 },
	{ "krx-keystore 2\n", KRX_E_UNSUPPORTED, 1 },
	{ "krx-keystore 01\n", KRX_E_MALFORMED, 1 },
	{ "krx-keystore  1\n", KRX_E_MALFORMED, 1 },
	{ "krx-keystore\n", KRX_E_MALFORMED, 1 },
	{ "krx-keystore 1\r\n", KRX_E_MALFORMED, 1 },
	{ "# keys\n" HDR, KRX_E_MALFORMED, 1 },
	{ HDR GOOD "kek b 1 " K " 10 \n", KRX_E_MALFORMED, 3 },
	{ HDR GOOD "kek  b 1 " K " 10\n", KRX_E_MALFORMED, 3 },
	{ HDR GOOD " kek b 1 " K " 10\n", KRX_E_MALFORMED, 3 },
	{ HDR GOOD "kek b 1 " K " 10\r\n", KRX_E_MALFORMED, 3 },
	{ HDR GOOD "kek b 1 " K "\n", KRX_E_MALFORMED, 3 },
	{ HDR GOOD "kek b 1 " K " 10 x\n", KRX_E_MALFORMED, 3 },
	{ HDR GOOD "kex b 1 " K " 10\n", KRX_E_MALFORMED, 3 },
	{ HDR GOOD "kek b/c 1 " K " 10\n", KRX_E_MALFORMED, 3 },
	{ HDR GOOD "kek b 0 " K " 10\n", KRX_E_MALFORMED, 3 },
	{ HDR GOOD "kek b 01 " K " 10\n", KRX_E_MALFORMED, 3 },
	{ HDR GOOD "kek b -1 " K " 10\n", KRX_E_MALFORMED, 3 },
	{ HDR GOOD "kek b 4294967296 " K " 10\n", KRX_E_MALFORMED, 3 },
	{ HDR GOOD "kek b 1 " K " -10\n", KRX_E_MALFORMED, 3 },
	{ HDR GOOD "kek b 1 " K " 9223372036854775808\n", KRX_E_MALFORMED,
	  3 },
	{ HDR GOOD "kek b 1 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB= 10\n",
	  KRX_E_MALFORMED, 3 },
	{ HDR GOOD "kek b 1 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA 10\n",
	  KRX_E_MALFORMED, 3 },
	{ HDR GOOD "kek b 1 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= 10\n",
	  KRX_E_MALFORMED, 3 },
	{ HDR GOOD "kek b 1 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA*= 10\n",
	  KRX_E_MALFORMED, 3 },
	{ HDR GOOD GOOD, KRX_E_MALFORMED, 3 },
	{ HDR GOOD "\n" GOOD, KRX_E_MALFORMED, 3 },
	{ HDR GOOD "kek b 1 " K " 10", KRX_E_MALFORMED, 3 },
	{ HDR GOOD GOOD "kek b 1 " K " 10\n", KRX_E_MALFORMED, 3 },
	{ HDR GOOD "kek b 2 " K " 10\nkek b 1 " K " 10\n\n",
	  KRX_E_MALFORMED, 5 },
};

Test(localkms, malformed_lines_are_reported)
{
	struct krx_keystore	*ks;
	char			*dir = tmpdir(), path[256];
	size_t			 i;
	int			 bad;

	snprintf(path, sizeof(path), "%s/keks", dir);
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		write_file(path, bad_cases[i].text, 0600);
		bad = -1;
		ks = (struct krx_keystore *)1;
		cr_assert_eq(krx_keystore_load(path, &ks, &bad),
		    bad_cases[i].err, "case %zu", i);
		cr_assert_eq(bad, bad_cases[i].line, "case %zu: line %d", i,
		    bad);
		cr_assert_null(ks);
	}
	/* Version lines in any order: the highest is current. */
	write_file(path, HDR "kek b 7 " K " 10\nkek a 1 " K " 0\n"
	    "kek b 3 " K " 9223372036854775807\n", 0600);
	cr_assert_eq(krx_keystore_load(path, &ks, &bad), KRX_OK);
	cr_assert_eq(bad, 0);
	cr_assert_eq(krx_keystore_count(ks), 2);
	cr_assert_eq(krx_localkms_resolve(ks, "b", 1), KRX_OK);
	krx_keystore_free(ks);
	rmtree(dir);
}

Test(localkms, saved_file_is_canonical)
{
	struct krx_keystore	*ks;
	char			*dir = tmpdir(), path[256], text[512];
	const char		*want = HDR "kek b 3 " K " 10\nkek b 7 " K
	    " 10\nkek a 1 " K " 0\n";
	FILE			*f;
	size_t			 n;

	snprintf(path, sizeof(path), "%s/keks", dir);
	write_file(path, HDR "kek b 7 " K " 10\nkek a 1 " K " 0\n"
	    "kek b 3 " K " 10\n", 0600);
	cr_assert_eq(krx_keystore_load(path, &ks, NULL), KRX_OK);
	cr_assert_eq(krx_keystore_save(ks, path), KRX_OK);
	cr_assert_not_null(f = fopen(path, "r"));
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	cr_assert_str_eq(text, want);
	krx_keystore_free(ks);
	rmtree(dir);
}

Test(localkms, aad_binds_name_and_version)
{
	struct krx_keystore	*ks;
	struct krx_buf		 e;
	uint8_t			 d[KRX_DEK_LEN], out[KRX_DEK_LEN], *t;
	char			*dir = tmpdir(), path[256];

	/* Three KEK versions with one key: only the AAD tells them apart. */
	snprintf(path, sizeof(path), "%s/keks", dir);
	write_file(path, HDR "kek a 1 " K " 0\nkek a 2 " K " 0\nkek b 2 " K
	    " 0\n", 0600);
	cr_assert_eq(krx_keystore_load(path, &ks, NULL), KRX_OK);
	gen(ks, "a", d, &e);
	cr_assert_eq(edek_version(&e, "a"), 2);
	expect_dek(ks, &e, d);
	cr_assert_not_null(t = malloc(e.len));
	memcpy(t, e.data, e.len);
	t[2] = 'b';
	cr_assert_eq(krx_localkms_decrypt(ks, t, e.len, out), KRX_E_CRYPTO);
	memcpy(t, e.data, e.len);
	t[3 + 3] = 1;
	cr_assert_eq(krx_localkms_decrypt(ks, t, e.len, out), KRX_E_CRYPTO);
	free(t);
	krx_buf_free(&e);
	krx_keystore_free(ks);
	rmtree(dir);
}
