/*
 * dekcache_test.c: the sealed LMDB DEK cache (crypto/dekcache.c): round
 * trips, expiry, absent keys, file modes, recreation, a copied data file
 * that gives nothing away without the cache key, a reader in another
 * process (including one racing the writer on one key), and a tiny map
 * that stays usable through thousands of puts.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <lmdb.h>
#include <openssl/rand.h>

#include "common/err.h"
#include "crypto/dekcache.h"

#define MAP	(1024 * 1024)
#define FAR	INT64_C(4102444800)	/* 2100-01-01 */

static char *
tmpdir(void)
{
	char	*d = strdup("/tmp/krx-dekcache-XXXXXX");

	cr_assert_not_null(d);
	cr_assert_not_null(mkdtemp(d));
	return d;
}

/* Remove a directory tree two levels deep at most. */
static void
rmtree(const char *dir)
{
	struct dirent	*de;
	struct stat	 st;
	char		 p[512];
	DIR		*d;

	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			rmtree(p);
		else
			unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

static void
rnd(void *p, size_t n)
{
	cr_assert_eq(RAND_bytes(p, (int)n), 1);
}

static void
key_of(int i, uint8_t key[KRX_DEKCACHE_KEY_LEN])
{
	uint8_t	 edek[8];

	memcpy(edek, "edek", 4);
	edek[4] = (uint8_t)(i >> 24);
	edek[5] = (uint8_t)(i >> 16);
	edek[6] = (uint8_t)(i >> 8);
	edek[7] = (uint8_t)i;
	cr_assert_eq(krx_dekcache_key("LocalKms", edek, sizeof(edek), key),
	    KRX_OK);
}

static char *
path_in(const char *dir, const char *file)
{
	static char	 p[512];
	int		 n;

	n = snprintf(p, sizeof(p), "%s/%s", dir, file);
	cr_assert(n > 0 && (size_t)n < sizeof(p));
	return p;
}

Test(dekcache, round_trip_and_modes)
{
	struct krx_dekcache	*c;
	uint8_t			 seal[32], key[32], key2[32], dek[32], out[32];
	uint64_t		 n, bytes;
	struct stat		 st;
	char			*dir = tmpdir(), sub[256];

	snprintf(sub, sizeof(sub), "%s/cache", dir);
	rnd(seal, sizeof(seal));
	rnd(dek, sizeof(dek));
	umask(022);
	cr_assert_eq(krx_dekcache_open(sub, MAP, 1, &c), KRX_OK);
	cr_assert_eq(stat(sub, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0700);
	cr_assert_eq(stat(path_in(sub, "data.mdb"), &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0600, "data %o", st.st_mode);
	cr_assert_eq(stat(path_in(sub, "lock.mdb"), &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0600, "lock %o", st.st_mode);

	cr_assert_eq(krx_dekcache_key("kms-a", (const uint8_t *)"E", 1, key),
	    KRX_OK);
	cr_assert_eq(krx_dekcache_key("kms-b", (const uint8_t *)"E", 1, key2),
	    KRX_OK);
	cr_assert(memcmp(key, key2, 32) != 0);
	/* Length-prefixed: "ab"+"c" and "a"+"bc" differ. */
	cr_assert_eq(krx_dekcache_key("ab", (const uint8_t *)"c", 1, key2),
	    KRX_OK);
	cr_assert_eq(krx_dekcache_key("a", (const uint8_t *)"bc", 2, out),
	    KRX_OK);
	cr_assert(memcmp(out, key2, 32) != 0);

	cr_assert_eq(krx_dekcache_put(c, seal, key, dek, FAR), KRX_OK);
	cr_assert_eq(krx_dekcache_get(c, seal, key, 1000, out), KRX_OK);
	cr_assert_arr_eq(out, dek, 32);
	cr_assert_eq(krx_dekcache_key("kms-b", (const uint8_t *)"E", 1, key2),
	    KRX_OK);
	cr_assert_eq(krx_dekcache_get(c, seal, key2, 1000, out),
	    KRX_E_NOTFOUND);
	/* Overwrite. */
	rnd(dek, sizeof(dek));
	cr_assert_eq(krx_dekcache_put(c, seal, key, dek, FAR), KRX_OK);
	cr_assert_eq(krx_dekcache_get(c, seal, key, 1000, out), KRX_OK);
	cr_assert_arr_eq(out, dek, 32);
	cr_assert_eq(krx_dekcache_stats(c, &n, &bytes), KRX_OK);
	cr_assert_eq(n, 1);
	cr_assert_gt(bytes, 0);
	krx_dekcache_close(c);
	krx_dekcache_close(NULL);

	/* The writer starts empty at every open. */
	cr_assert_eq(krx_dekcache_open(sub, MAP, 1, &c), KRX_OK);
	cr_assert_eq(krx_dekcache_get(c, seal, key, 1000, out),
	    KRX_E_NOTFOUND);
	krx_dekcache_close(c);
	cr_assert_eq(krx_dekcache_open(sub, 4096, 1, &c), KRX_E_RANGE);
	cr_assert_null(c);
	rmtree(dir);
	free(dir);
}

Test(dekcache, expiry_and_absent_keys)
{
	struct krx_dekcache	*c;
	uint8_t			 seal[32], key[32], dek[32], out[32];
	uint8_t			 zero[32] = { 0 };
	char			*dir = tmpdir();

	rnd(seal, sizeof(seal));
	rnd(dek, sizeof(dek));
	key_of(1, key);
	cr_assert_eq(krx_dekcache_open(dir, MAP, 1, &c), KRX_OK);
	cr_assert_eq(krx_dekcache_put(c, seal, key, dek, 1000), KRX_OK);
	cr_assert_eq(krx_dekcache_get(c, seal, key, 999, out), KRX_OK);
	cr_assert_arr_eq(out, dek, 32);
	memset(out, 0x5a, sizeof(out));
	cr_assert_eq(krx_dekcache_get(c, seal, key, 1000, out),
	    KRX_E_NOTFOUND);
	cr_assert_arr_eq(out, zero, 32);
	cr_assert_eq(krx_dekcache_get(c, seal, key, FAR, out),
	    KRX_E_NOTFOUND);
	/* Absent. */
	key_of(2, key);
	cr_assert_eq(krx_dekcache_get(c, seal, key, 0, out), KRX_E_NOTFOUND);
	/* The all-zero key of a failed krx_dekcache_key is refused. */
	cr_assert_eq(krx_dekcache_put(c, seal, zero, dek, FAR), KRX_E_RANGE);
	cr_assert_eq(krx_dekcache_get(c, seal, zero, 0, out), KRX_E_RANGE);
	krx_dekcache_close(c);
	rmtree(dir);
	free(dir);
}

static int
file_has(const uint8_t *file, size_t n, const uint8_t *needle, size_t len)
{
	return memmem(file, n, needle, len) != NULL;
}

static uint8_t *
slurp(const char *path, size_t *n)
{
	struct stat	 st;
	uint8_t		*p;
	FILE		*f;

	cr_assert_eq(stat(path, &st), 0);
	cr_assert_not_null(p = malloc((size_t)st.st_size + 1));
	cr_assert_not_null(f = fopen(path, "rb"));
	*n = fread(p, 1, (size_t)st.st_size, f);
	cr_assert_eq(*n, (size_t)st.st_size);
	fclose(f);
	return p;
}

#define NCOPY	64

Test(dekcache, copied_file_reveals_nothing)
{
	struct krx_dekcache	*c;
	uint8_t			 seal[32], other[32], keys[NCOPY][32];
	uint8_t			 deks[NCOPY][32], out[32], *file;
	char			*dir = tmpdir(), *copy = tmpdir(), src[512];
	size_t			 i, n;
	int			 fd;

	rnd(seal, sizeof(seal));
	rnd(other, sizeof(other));
	cr_assert_eq(krx_dekcache_open(dir, MAP, 1, &c), KRX_OK);
	for (i = 0; i < NCOPY; i++) {
		key_of((int)i, keys[i]);
		rnd(deks[i], 32);
		cr_assert_eq(krx_dekcache_put(c, seal, keys[i], deks[i], FAR),
		    KRX_OK);
	}
	krx_dekcache_close(c);

	snprintf(src, sizeof(src), "%s", path_in(dir, "data.mdb"));
	file = slurp(src, &n);
	cr_assert_neq(fd = open(path_in(copy, "data.mdb"),
	    O_WRONLY | O_CREAT | O_EXCL, 0600), -1);
	cr_assert_eq(write(fd, file, n), (ssize_t)n);
	close(fd);

	/* (a) No DEK, and not the cache key, is in the bytes... */
	for (i = 0; i < NCOPY; i++)
		cr_assert(!file_has(file, n, deks[i], 32), "DEK %zu in clear",
		    i);
	cr_assert(!file_has(file, n, seal, 32));
	/* ...although the scan does find what is stored in clear. */
	for (i = 0; i < NCOPY; i++)
		cr_assert(file_has(file, n, keys[i], 32), "key %zu missing",
		    i);
	free(file);

	/* (b) The copy under another cache key gives no DEK. */
	cr_assert_eq(krx_dekcache_open(copy, 0, 0, &c), KRX_OK);
	for (i = 0; i < NCOPY; i++) {
		memset(out, 0x5a, sizeof(out));
		cr_assert_eq(krx_dekcache_get(c, other, keys[i], 0, out),
		    KRX_E_CRYPTO, "entry %zu", i);
		cr_assert(memcmp(out, deks[i], 32) != 0);
	}
	/* (c) Under the right key the same copy works: the test can fail. */
	for (i = 0; i < NCOPY; i++) {
		cr_assert_eq(krx_dekcache_get(c, seal, keys[i], 0, out),
		    KRX_OK, "entry %zu", i);
		cr_assert_arr_eq(out, deks[i], 32);
	}
	krx_dekcache_close(c);
	rmtree(dir);
	rmtree(copy);
	free(dir);
	free(copy);
}

Test(dekcache, tampered_value_does_not_open)
{
	struct krx_dekcache	*c;
	uint8_t			 seal[32], key[32], dek[32], out[32], *file;
	uint8_t			*hit, flip;
	char			*dir = tmpdir();
	size_t			 n, off;
	int			 fd;

	rnd(seal, sizeof(seal));
	rnd(dek, sizeof(dek));
	key_of(7, key);
	cr_assert_eq(krx_dekcache_open(dir, MAP, 1, &c), KRX_OK);
	cr_assert_eq(krx_dekcache_put(c, seal, key, dek, FAR), KRX_OK);
	krx_dekcache_close(c);
	/* LMDB stores the value right after its key: flip a tag byte. */
	file = slurp(path_in(dir, "data.mdb"), &n);
	cr_assert_not_null(hit = memmem(file, n, key, 32));
	off = (size_t)(hit - file) + 32 + KRX_DEKCACHE_VALUE_LEN - 1;
	flip = file[off] ^ 0x01;	/* always a change */
	free(file);
	cr_assert_neq(fd = open(path_in(dir, "data.mdb"), O_RDWR), -1);
	cr_assert_eq(pwrite(fd, &flip, 1, (off_t)off), 1);
	close(fd);
	cr_assert_eq(krx_dekcache_open(dir, 0, 0, &c), KRX_OK);
	cr_assert_eq(krx_dekcache_get(c, seal, key, 0, out), KRX_E_CRYPTO);
	krx_dekcache_close(c);
	rmtree(dir);
	free(dir);
}

/* Write raw values with LMDB itself, as someone with the file could. */
static void
raw_put(const char *dir, const uint8_t *key, const uint8_t *val)
{
	MDB_env	*env;
	MDB_txn	*txn;
	MDB_dbi	 dbi;
	MDB_val	 k, v;

	cr_assert_eq(mdb_env_create(&env), 0);
	cr_assert_eq(mdb_env_open(env, dir, 0, 0600), 0);
	cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	cr_assert_eq(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
	k.mv_size = 32;
	k.mv_data = (void *)key;
	v.mv_size = KRX_DEKCACHE_VALUE_LEN;
	v.mv_data = (void *)val;
	cr_assert_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
	cr_assert_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static void
raw_get(const char *dir, const uint8_t *key, uint8_t *val)
{
	MDB_env	*env;
	MDB_txn	*txn;
	MDB_dbi	 dbi;
	MDB_val	 k, v;

	cr_assert_eq(mdb_env_create(&env), 0);
	cr_assert_eq(mdb_env_open(env, dir, MDB_RDONLY, 0600), 0);
	cr_assert_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	cr_assert_eq(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
	k.mv_size = 32;
	k.mv_data = (void *)key;
	cr_assert_eq(mdb_get(txn, dbi, &k, &v), 0);
	cr_assert_eq(v.mv_size, KRX_DEKCACHE_VALUE_LEN);
	memcpy(val, v.mv_data, v.mv_size);
	mdb_txn_abort(txn);
	mdb_env_close(env);
}

Test(dekcache, values_are_bound_to_key_and_expiry)
{
	struct krx_dekcache	*c;
	uint8_t			 seal[32], ka[32], kb[32], dek[32], out[32];
	uint8_t			 val[KRX_DEKCACHE_VALUE_LEN];
	char			*dir = tmpdir();

	rnd(seal, sizeof(seal));
	rnd(dek, sizeof(dek));
	key_of(1, ka);
	key_of(2, kb);
	cr_assert_eq(krx_dekcache_open(dir, MAP, 1, &c), KRX_OK);
	cr_assert_eq(krx_dekcache_put(c, seal, ka, dek, 1000), KRX_OK);
	krx_dekcache_close(c);
	raw_get(dir, ka, val);
	cr_assert_eq(val[0], 1);
	cr_assert_eq(val[8], 1000 & 0xff);
	cr_assert_eq(val[7], 1000 >> 8);
	/* The same sealed value under another key does not open. */
	raw_put(dir, kb, val);
	/* An extended expiry does not open either. */
	val[1] = 0x7f;
	raw_put(dir, ka, val);
	/* Nor a value of another version. */
	val[1] = 0;
	val[0] = 2;
	key_of(3, kb);
	raw_put(dir, kb, val);
	cr_assert_eq(krx_dekcache_open(dir, 0, 0, &c), KRX_OK);
	key_of(2, kb);
	cr_assert_eq(krx_dekcache_get(c, seal, kb, 0, out), KRX_E_CRYPTO);
	cr_assert_eq(krx_dekcache_get(c, seal, ka, 2000, out), KRX_E_CRYPTO);
	key_of(3, kb);
	cr_assert_eq(krx_dekcache_get(c, seal, kb, 0, out), KRX_E_MALFORMED);
	krx_dekcache_close(c);
	rmtree(dir);
	free(dir);
}

Test(dekcache, reader_before_writer_and_reader_cannot_write)
{
	struct krx_dekcache	*c, *w;
	uint8_t			 seal[32], key[32], dek[32];
	char			*dir = tmpdir();

	rnd(seal, sizeof(seal));
	rnd(dek, sizeof(dek));
	key_of(1, key);
	cr_assert_eq(krx_dekcache_open(dir, MAP, 0, &c), KRX_E_NOTFOUND);
	cr_assert_null(c);
	cr_assert_eq(access(path_in(dir, "lock.mdb"), F_OK), -1,
	    "a failed reader left a lock file");
	cr_assert_eq(krx_dekcache_open(path_in(dir, "none"), MAP, 0, &c),
	    KRX_E_NOTFOUND);
	cr_assert_eq(krx_dekcache_open(dir, MAP, 1, &w), KRX_OK);
	cr_assert_eq(krx_dekcache_open(dir, MAP, 0, &c), KRX_OK);
	cr_assert_eq(krx_dekcache_stale(c), 0);
	errno = 0;
	cr_assert_eq(krx_dekcache_put(c, seal, key, dek, FAR), KRX_E_IO);
	cr_assert_eq(errno, EACCES);
	/* The writer restarts: the reader learns its file is stale. */
	krx_dekcache_close(w);
	cr_assert_eq(krx_dekcache_open(dir, MAP, 1, &w), KRX_OK);
	cr_assert_eq(krx_dekcache_stale(c), 1);
	krx_dekcache_close(c);
	cr_assert_eq(krx_dekcache_open(dir, MAP, 0, &c), KRX_OK);
	cr_assert_eq(krx_dekcache_stale(c), 0);
	krx_dekcache_close(c);
	krx_dekcache_close(w);
	rmtree(dir);
	free(dir);
}

static void
xread(int fd)
{
	char	 b;

	if (read(fd, &b, 1) != 1)
		_exit(90);
}

static void
xwrite(int fd)
{
	if (write(fd, "x", 1) != 1)
		_exit(91);
}

/*
 * The child: open a reader, find the entry made before it opened, tell
 * the parent, wait, then find the entry made after it opened.
 */
static void
child_reader(const char *dir, const uint8_t *seal, int rfd, int wfd)
{
	struct krx_dekcache	*c;
	uint8_t			 key[32], want[32], out[32];

	if (krx_dekcache_open(dir, 0, 0, &c) != KRX_OK)
		_exit(10);
	key_of(1, key);
	memset(want, 0x11, sizeof(want));
	if (krx_dekcache_get(c, seal, key, 0, out) != KRX_OK ||
	    memcmp(out, want, 32) != 0)
		_exit(11);
	key_of(2, key);
	if (krx_dekcache_get(c, seal, key, 0, out) != KRX_E_NOTFOUND)
		_exit(12);
	xwrite(wfd);
	xread(rfd);
	memset(want, 0x22, sizeof(want));
	if (krx_dekcache_get(c, seal, key, 0, out) != KRX_OK ||
	    memcmp(out, want, 32) != 0)
		_exit(13);
	krx_dekcache_close(c);
	_exit(0);
}

static int
wait_child(pid_t pid)
{
	int	 st;

	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st), "child died: status %d", st);
	return WEXITSTATUS(st);
}

Test(dekcache, reader_in_another_process)
{
	struct krx_dekcache	*w;
	uint8_t			 seal[32], key[32], dek[32];
	char			*dir = tmpdir();
	int			 up[2], down[2];
	pid_t			 pid;

	rnd(seal, sizeof(seal));
	cr_assert_eq(krx_dekcache_open(dir, MAP, 1, &w), KRX_OK);
	key_of(1, key);
	memset(dek, 0x11, sizeof(dek));
	cr_assert_eq(krx_dekcache_put(w, seal, key, dek, FAR), KRX_OK);
	cr_assert_eq(pipe(up), 0);
	cr_assert_eq(pipe(down), 0);
	cr_assert_neq(pid = fork(), -1);
	if (pid == 0)
		child_reader(dir, seal, down[0], up[1]);
	close(up[1]);
	close(down[0]);
	cr_assert_eq(read(up[0], key, 1), 1, "child failed before opening");
	key_of(2, key);
	memset(dek, 0x22, sizeof(dek));
	cr_assert_eq(krx_dekcache_put(w, seal, key, dek, FAR), KRX_OK);
	cr_assert_eq(write(down[1], "x", 1), 1);
	cr_assert_eq(wait_child(pid), 0);
	krx_dekcache_close(w);
	rmtree(dir);
	free(dir);
}

#define RACE	3000

/* Read one key while the parent keeps rewriting it: never torn. */
static void
child_racer(const char *dir, const uint8_t *seal)
{
	struct krx_dekcache	*c;
	uint8_t			 key[32], a[32], b[32], out[32];
	int			 i, seen_a = 0, seen_b = 0;

	if (krx_dekcache_open(dir, 0, 0, &c) != KRX_OK)
		_exit(20);
	key_of(9, key);
	memset(a, 0xaa, sizeof(a));
	memset(b, 0xbb, sizeof(b));
	for (i = 0; i < RACE; i++) {
		if (krx_dekcache_get(c, seal, key, 0, out) != KRX_OK)
			_exit(21);
		if (memcmp(out, a, 32) == 0)
			seen_a = 1;
		else if (memcmp(out, b, 32) == 0)
			seen_b = 1;
		else
			_exit(22);
	}
	krx_dekcache_close(c);
	_exit(seen_a || seen_b ? 0 : 23);
}

Test(dekcache, concurrent_reader_never_sees_a_torn_entry)
{
	struct krx_dekcache	*w;
	uint8_t			 seal[32], key[32], dek[32];
	char			*dir = tmpdir();
	pid_t			 pid;
	int			 i;

	rnd(seal, sizeof(seal));
	cr_assert_eq(krx_dekcache_open(dir, MAP, 1, &w), KRX_OK);
	key_of(9, key);
	memset(dek, 0xaa, sizeof(dek));
	cr_assert_eq(krx_dekcache_put(w, seal, key, dek, FAR), KRX_OK);
	cr_assert_neq(pid = fork(), -1);
	if (pid == 0)
		child_racer(dir, seal);
	for (i = 0; i < RACE; i++) {
		memset(dek, i % 2 ? 0xaa : 0xbb, sizeof(dek));
		cr_assert_eq(krx_dekcache_put(w, seal, key, dek, FAR), KRX_OK);
	}
	cr_assert_eq(wait_child(pid), 0);
	krx_dekcache_close(w);
	rmtree(dir);
	free(dir);
}

#define FILL	5000

Test(dekcache, tiny_map_keeps_working)
{
	struct krx_dekcache	*c;
	uint8_t			 seal[32], key[32], dek[32], out[32];
	uint64_t		 n, bytes;
	char			*dir = tmpdir();
	int			 i;

	rnd(seal, sizeof(seal));
	cr_assert_eq(krx_dekcache_open(dir, KRX_DEKCACHE_MIN_BYTES, 1, &c),
	    KRX_OK);
	for (i = 0; i < FILL; i++) {
		key_of(i, key);
		memset(dek, i, sizeof(dek));
		cr_assert_eq(krx_dekcache_put(c, seal, key, dek, FAR), KRX_OK,
		    "put %d", i);
		cr_assert_eq(krx_dekcache_get(c, seal, key, 0, out), KRX_OK,
		    "get %d", i);
		cr_assert_arr_eq(out, dek, 32);
	}
	cr_assert_eq(krx_dekcache_stats(c, &n, &bytes), KRX_OK);
	cr_assert_gt(n, 0);
	cr_assert_lt(n, FILL, "%llu entries in 64 KiB", (unsigned long long)n);
	cr_assert_leq(bytes, KRX_DEKCACHE_MIN_BYTES);
	krx_dekcache_close(c);
	rmtree(dir);
	free(dir);
}

Test(dekcache, full_map_evicts_expired_entries_first)
{
	struct krx_dekcache	*c;
	uint8_t			 seal[32], key[32], dek[32], out[32];
	uint64_t		 n, bytes;
	char			*dir = tmpdir();
	int			 i;

	rnd(seal, sizeof(seal));
	cr_assert_eq(krx_dekcache_open(dir, KRX_DEKCACHE_MIN_BYTES, 1, &c),
	    KRX_OK);
	/* Expired long ago (by the clock), but readable at time 0. */
	for (i = 0; i < FILL; i++) {
		key_of(i, key);
		memset(dek, i, sizeof(dek));
		cr_assert_eq(krx_dekcache_put(c, seal, key, dek, 1000), KRX_OK,
		    "put %d", i);
	}
	/* Fresh entries: room is made from expired ones only. */
	for (i = FILL; i < FILL + 100; i++) {
		key_of(i, key);
		memset(dek, i, sizeof(dek));
		cr_assert_eq(krx_dekcache_put(c, seal, key, dek, FAR), KRX_OK,
		    "put %d", i);
	}
	/* Evictions ran... */
	cr_assert_eq(krx_dekcache_stats(c, &n, &bytes), KRX_OK);
	cr_assert_lt(n, FILL + 100);
	/* ...and keep running while more expired entries come in. */
	for (i = FILL + 100; i < 2 * FILL; i++) {
		key_of(i, key);
		memset(dek, i, sizeof(dek));
		cr_assert_eq(krx_dekcache_put(c, seal, key, dek, 1000), KRX_OK,
		    "put %d", i);
	}
	for (i = FILL; i < FILL + 100; i++) {
		key_of(i, key);
		memset(dek, i, sizeof(dek));
		cr_assert_eq(krx_dekcache_get(c, seal, key, 0, out), KRX_OK,
		    "fresh entry %d was evicted", i);
		cr_assert_arr_eq(out, dek, 32);
	}
	krx_dekcache_close(c);
	rmtree(dir);
	free(dir);
}

/* issue 9, finding 10: kek delete drops every cached DEK. */
Test(dekcache, clear_drops_every_entry)
{
	struct krx_dekcache	*c;
	uint8_t			 seal[32], key[32], dek[32], out[32];
	uint64_t		 n, bytes;
	char			*dir = tmpdir(), sub[256];

	snprintf(sub, sizeof(sub), "%s/cache", dir);
	rnd(seal, sizeof(seal));
	rnd(dek, sizeof(dek));
	cr_assert_eq(krx_dekcache_open(sub, MAP, 1, &c), KRX_OK);
	cr_assert_eq(krx_dekcache_key("kms-a", (const uint8_t *)"E", 1, key),
	    KRX_OK);
	cr_assert_eq(krx_dekcache_put(c, seal, key, dek, FAR), KRX_OK);
	cr_assert_eq(krx_dekcache_get(c, seal, key, 1000, out), KRX_OK);
	cr_assert_eq(krx_dekcache_clear(c), KRX_OK);
	cr_assert_eq(krx_dekcache_get(c, seal, key, 1000, out),
	    KRX_E_NOTFOUND);
	cr_assert_eq(krx_dekcache_stats(c, &n, &bytes), KRX_OK);
	cr_assert_eq(n, 0);
	/* Still usable afterwards. */
	cr_assert_eq(krx_dekcache_put(c, seal, key, dek, FAR), KRX_OK);
	cr_assert_eq(krx_dekcache_get(c, seal, key, 1000, out), KRX_OK);
	krx_dekcache_close(c);
	rmtree(dir);
	free(dir);
}
