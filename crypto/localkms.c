/*
 * localkms.c: LocalKms, the embedded KMS: the keystore file (load, save,
 * create, rotate, delete) and the EDEKs made under its KEKs. Library
 * grade. keysvc runs it. Trusts the keystore file once its mode is
 * checked (a group- or world-accessible file is refused); trusts nothing
 * in an EDEK. localkms.h documents both formats.
 *
 * Key bytes live in version arrays that are never realloc'ed (grown by
 * copy, cleanse, free), held in struct krx_secret pages (locked, left
 * out of core dumps: issue 9, finding 11), and every buffer that held
 * key material is cleansed before it is freed. The keystore path must be
 * absolute and the file owned by the process's effective uid (finding
 * 14).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/buf.h"
#include "common/err.h"
#include "crypto/aead.h"
#include "crypto/localkms.h"
#include "crypto/secret.h"

#define LK_MAGIC	"krx-keystore "
#define LK_FILE_VERSION	1
#define LK_FILE_MAX	(16 * 1024 * 1024)
#define LK_B64_LEN	44		/* base64 of 32 bytes, padded */
#define LK_IV_LEN	12
#define LK_TAG_LEN	16
#define LK_AAD_PREFIX	"krx-localkms-1"
#define LK_AAD_PREFIX_LEN (sizeof(LK_AAD_PREFIX) - 1)
#define LK_FIELDS	5		/* kek name version key created */

struct lk_version {
	uint32_t	 version;
	int64_t		 created;
	uint8_t		 key[KRX_LOCALKMS_KEK_LEN];
};

struct lk_kek {
	char			*name;		/* NUL-terminated */
	size_t			 name_len;
	struct lk_version	*v;		/* ascending versions */
	struct krx_secret	*vmem;		/* holds v */
	size_t			 nv;
	size_t			 cap;
};

struct krx_keystore {
	struct lk_kek	*keks;
	size_t		 n;
	size_t		 cap;
};

static int
lk_name_ok(const char *p, size_t len)
{
	size_t	 i;
	char	 ch;

	if (len == 0 || len > KRX_LOCALKMS_NAME_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		ch = p[i];
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
		    ch == '-'))
			return 0;
	}
	return 1;
}

static struct lk_kek *
lk_find(const struct krx_keystore *ks, const char *name, size_t len)
{
	size_t	 i;

	if (ks == NULL)
		return NULL;
	for (i = 0; i < ks->n; i++)
		if (ks->keks[i].name_len == len &&
		    memcmp(ks->keks[i].name, name, len) == 0)
			return &ks->keks[i];
	return NULL;
}

static const struct lk_version *
lk_find_version(const struct lk_kek *k, uint32_t version)
{
	size_t	 lo = 0, hi = k->nv, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (k->v[mid].version == version)
			return &k->v[mid];
		if (k->v[mid].version < version)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static void
lk_kek_clear(struct lk_kek *k)
{
	krx_secret_free(k->vmem);
	free(k->name);
	memset(k, 0, sizeof(*k));
}

/* A new KEK with no version yet, appended to ks. */
static struct lk_kek *
lk_kek_add(struct krx_keystore *ks, const char *name, size_t len)
{
	struct lk_kek	*nk, *k;
	size_t		 ncap;

	if (ks->n == ks->cap) {
		ncap = ks->cap == 0 ? 8 : ks->cap * 2;
		if ((nk = reallocarray(ks->keks, ncap, sizeof(*nk))) == NULL)
			return NULL;
		ks->keks = nk;
		ks->cap = ncap;
	}
	k = &ks->keks[ks->n];
	memset(k, 0, sizeof(*k));
	if ((k->name = malloc(len + 1)) == NULL)
		return NULL;
	memcpy(k->name, name, len);
	k->name[len] = '\0';
	k->name_len = len;
	ks->n++;
	return k;
}

/*
 * Insert a version, keeping the array sorted. The array grows by copy
 * and cleanse, never realloc, so no stale key bytes stay on the heap.
 * Returns 0, KRX_E_MALFORMED for a duplicate version or KRX_E_NOMEM.
 */
static int
lk_version_add(struct lk_kek *k, uint32_t version, int64_t created,
    const uint8_t key[KRX_LOCALKMS_KEK_LEN])
{
	struct krx_secret	*nm;
	size_t			 i, ncap;

	if (lk_find_version(k, version) != NULL)
		return KRX_E_MALFORMED;
	if (k->nv == k->cap) {
		ncap = k->cap == 0 ? 4 : k->cap * 2;
		if (ncap > SIZE_MAX / sizeof(*k->v) ||
		    (nm = krx_secret_new(ncap * sizeof(*k->v))) == NULL)
			return KRX_E_NOMEM;
		if (k->v != NULL)
			memcpy(nm->data, k->v, k->nv * sizeof(*k->v));
		krx_secret_free(k->vmem);
		k->vmem = nm;
		k->v = (struct lk_version *)(void *)nm->data;
		k->cap = ncap;
	}
	for (i = k->nv; i > 0 && k->v[i - 1].version > version; i--)
		k->v[i] = k->v[i - 1];
	k->v[i].version = version;
	k->v[i].created = created;
	memcpy(k->v[i].key, key, KRX_LOCALKMS_KEK_LEN);
	k->nv++;
	return KRX_OK;
}

struct krx_keystore *
krx_keystore_new(void)
{
	return calloc(1, sizeof(struct krx_keystore));
}

void
krx_keystore_free(struct krx_keystore *ks)
{
	size_t	 i;

	if (ks == NULL)
		return;
	for (i = 0; i < ks->n; i++)
		lk_kek_clear(&ks->keks[i]);
	free(ks->keks);
	free(ks);
}

/* A decimal without sign or leading zero, at most max. */
static int
lk_dec(const char *s, size_t n, uint64_t max, uint64_t *v)
{
	uint64_t	 x = 0;
	size_t		 i;
	unsigned int	 d;

	if (n == 0 || n > 20 || (n > 1 && s[0] == '0'))
		return KRX_E_MALFORMED;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return KRX_E_MALFORMED;
		d = (unsigned int)(s[i] - '0');
		if (x > (max - d) / 10)
			return KRX_E_MALFORMED;
		x = x * 10 + d;
	}
	*v = x;
	return KRX_OK;
}

/* Decode the canonical padded base64 of exactly one key. */
static int
lk_b64_key(const char *s, size_t n, uint8_t key[KRX_LOCALKMS_KEK_LEN])
{
	unsigned char	 dec[KRX_LOCALKMS_KEK_LEN + 3];
	unsigned char	 enc[LK_B64_LEN + 1];
	int		 r = KRX_E_MALFORMED;

	if (n != LK_B64_LEN)
		return r;
	/* 44 characters decode to 33 bytes: the key and one pad byte. */
	if (EVP_DecodeBlock(dec, (const unsigned char *)s, LK_B64_LEN) !=
	    KRX_LOCALKMS_KEK_LEN + 1)
		goto out;
	/* Re-encoding must give the input back: no stray bits, one pad. */
	if (EVP_EncodeBlock(enc, dec, KRX_LOCALKMS_KEK_LEN) != LK_B64_LEN ||
	    CRYPTO_memcmp(enc, s, LK_B64_LEN) != 0)
		goto out;
	memcpy(key, dec, KRX_LOCALKMS_KEK_LEN);
	r = KRX_OK;
out:
	OPENSSL_cleanse(dec, sizeof(dec));
	OPENSSL_cleanse(enc, sizeof(enc));
	return r;
}

/* Split a line into exactly LK_FIELDS non-empty fields at single spaces. */
static int
lk_fields(const char *s, size_t n, const char *f[LK_FIELDS],
    size_t fl[LK_FIELDS])
{
	size_t	 i, nf = 0, start = 0;

	for (i = 0; i <= n; i++) {
		if (i < n && s[i] != ' ')
			continue;
		if (i == start || nf == LK_FIELDS)
			return KRX_E_MALFORMED;
		f[nf] = s + start;
		fl[nf] = i - start;
		nf++;
		start = i + 1;
	}
	return nf == LK_FIELDS ? KRX_OK : KRX_E_MALFORMED;
}

static int
lk_parse_kek(struct krx_keystore *ks, const char *s, size_t n)
{
	const char	*f[LK_FIELDS];
	size_t		 fl[LK_FIELDS];
	uint8_t		 key[KRX_LOCALKMS_KEK_LEN];
	uint64_t	 version, created;
	struct lk_kek	*k;
	int		 r;

	if ((r = lk_fields(s, n, f, fl)) != KRX_OK)
		return r;
	if (fl[0] != 3 || memcmp(f[0], "kek", 3) != 0 ||
	    !lk_name_ok(f[1], fl[1]) ||
	    lk_dec(f[2], fl[2], UINT32_MAX, &version) != KRX_OK ||
	    version == 0 ||
	    lk_dec(f[4], fl[4], INT64_MAX, &created) != KRX_OK)
		return KRX_E_MALFORMED;
	if ((r = lk_b64_key(f[3], fl[3], key)) != KRX_OK)
		return r;
	if ((k = lk_find(ks, f[1], fl[1])) == NULL &&
	    (k = lk_kek_add(ks, f[1], fl[1])) == NULL)
		r = KRX_E_NOMEM;
	else
		r = lk_version_add(k, (uint32_t)version, (int64_t)created,
		    key);
	OPENSSL_cleanse(key, sizeof(key));
	return r;
}

static int
lk_parse(struct krx_keystore *ks, const char *p, size_t len, int *line)
{
	const char	*s, *nl, *end = p + len;
	uint64_t	 version;
	size_t		 n;
	int		 r;

	*line = 0;
	for (s = p; s < end || *line == 0; s = nl + 1) {
		(*line)++;
		if ((nl = memchr(s, '\n', (size_t)(end - s))) == NULL)
			return KRX_E_MALFORMED;	/* no final newline */
		n = (size_t)(nl - s);
		if (*line > 1)
			r = lk_parse_kek(ks, s, n);
		else if (n <= sizeof(LK_MAGIC) - 1 ||
		    memcmp(s, LK_MAGIC, sizeof(LK_MAGIC) - 1) != 0 ||
		    lk_dec(s + sizeof(LK_MAGIC) - 1,
		    n - (sizeof(LK_MAGIC) - 1), UINT32_MAX, &version) !=
		    KRX_OK)
			r = KRX_E_MALFORMED;
		else if (version != LK_FILE_VERSION)
			r = KRX_E_UNSUPPORTED;
		else
			r = KRX_OK;
		if (r != KRX_OK)
			return r;
	}
	*line = 0;
	return KRX_OK;
}

/* Read at most max bytes of fd, until EOF. */
static int
lk_read(int fd, char *p, size_t max, size_t *len)
{
	ssize_t	 n;

	*len = 0;
	while (*len < max) {
		n = read(fd, p + *len, max - *len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return KRX_E_IO;
		if (n == 0)
			break;
		*len += (size_t)n;
	}
	return KRX_OK;
}

int
krx_keystore_load(const char *path, struct krx_keystore **out,
    int *bad_line)
{
	struct krx_keystore	*ks = NULL;
	struct stat		 st;
	char			*p = NULL;
	size_t			 cap = 0, len;
	int			 fd = -1, r, line = 0;

	*out = NULL;
	r = KRX_E_RANGE;
	if (path[0] != '/')
		goto out;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		r = errno == ENOENT ? KRX_E_NOTFOUND : KRX_E_IO;
		goto out;
	}
	r = KRX_E_IO;
	if (fstat(fd, &st) == -1)
		goto out;
	r = KRX_E_RANGE;
	if (!S_ISREG(st.st_mode) || (st.st_mode & (S_IRWXG | S_IRWXO)) != 0 ||
	    st.st_uid != geteuid())
		goto out;
	r = KRX_E_TOO_BIG;
	if (st.st_size > LK_FILE_MAX)
		goto out;
	r = KRX_E_NOMEM;
	cap = (size_t)st.st_size;
	if ((p = malloc(cap + 1)) == NULL ||
	    (ks = krx_keystore_new()) == NULL)
		goto out;
	if ((r = lk_read(fd, p, cap, &len)) != KRX_OK)
		goto out;
	if ((r = lk_parse(ks, p, len, &line)) != KRX_OK)
		goto out;
	*out = ks;
	ks = NULL;
out:
	if (fd != -1)
		close(fd);
	if (p != NULL) {
		OPENSSL_cleanse(p, cap + 1);
		free(p);
	}
	krx_keystore_free(ks);
	if (bad_line != NULL)
		*bad_line = r == KRX_E_MALFORMED || r == KRX_E_UNSUPPORTED ?
		    line : 0;
	return r;
}

/* The keystore as text in a buffer sized once (no realloc of keys). */
static int
lk_format(const struct krx_keystore *ks, char **out, size_t *outlen)
{
	const struct lk_kek	*k;
	const struct lk_version	*v;
	unsigned char		 b64[LK_B64_LEN + 1];
	size_t			 i, j, cap, len;
	char			*p;
	int			 n, r = KRX_E_NOMEM;

	*out = NULL;
	cap = sizeof(LK_MAGIC) + 16;
	for (i = 0; i < ks->n; i++)
		cap += ks->keks[i].nv * (ks->keks[i].name_len + LK_B64_LEN +
		    sizeof("kek    \n") + 10 + 20);
	if ((p = malloc(cap)) == NULL)
		return r;
	n = snprintf(p, cap, "%s%d\n", LK_MAGIC, LK_FILE_VERSION);
	len = (size_t)n;
	for (i = 0; i < ks->n; i++) {
		k = &ks->keks[i];
		for (j = 0; j < k->nv; j++) {
			v = &k->v[j];
			EVP_EncodeBlock(b64, v->key, KRX_LOCALKMS_KEK_LEN);
			n = snprintf(p + len, cap - len, "kek %s %u %s %lld\n",
			    k->name, (unsigned int)v->version, (char *)b64,
			    (long long)v->created);
			if (n < 0 || (size_t)n >= cap - len) {
				r = KRX_E_RANGE;	/* cannot happen */
				goto out;
			}
			len += (size_t)n;
		}
	}
	*out = p;
	*outlen = len;
	p = NULL;
	r = KRX_OK;
out:
	OPENSSL_cleanse(b64, sizeof(b64));
	if (p != NULL) {
		OPENSSL_cleanse(p, cap);
		free(p);
	}
	return r;
}

static int
lk_write_all(int fd, const char *p, size_t len)
{
	ssize_t	 n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return KRX_E_IO;
		p += n;
		len -= (size_t)n;
	}
	return KRX_OK;
}

/* Best effort: make the rename durable. */
static void
lk_sync_dir(const char *path)
{
	const char	*slash = strrchr(path, '/');
	char		*dir;
	int		 fd;

	if (slash == NULL)
		dir = strdup(".");
	else if (slash == path)
		dir = strdup("/");
	else
		dir = strndup(path, (size_t)(slash - path));
	if (dir == NULL)
		return;
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		(void)fsync(fd);
		close(fd);
	}
	free(dir);
}

int
krx_keystore_save(const struct krx_keystore *ks, const char *path)
{
	char	*text = NULL, *tmp = NULL;
	size_t	 len = 0, plen = strlen(path);
	int	 fd = -1, r, saved;

	if (path[0] != '/') {
		errno = EINVAL;
		return KRX_E_IO;
	}
	if ((r = lk_format(ks, &text, &len)) != KRX_OK)
		goto out;
	r = KRX_E_NOMEM;
	if ((tmp = malloc(plen + sizeof(".tmpXXXXXX"))) == NULL)
		goto out;
	memcpy(tmp, path, plen);
	memcpy(tmp + plen, ".tmpXXXXXX", sizeof(".tmpXXXXXX"));
	r = KRX_E_IO;
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
		free(tmp);
		tmp = NULL;
		goto out;
	}
	if (fchmod(fd, S_IRUSR | S_IWUSR) == -1 ||
	    lk_write_all(fd, text, len) != KRX_OK || fsync(fd) == -1)
		goto out;
	r = close(fd);
	fd = -1;
	if (r == -1 || rename(tmp, path) == -1) {
		r = KRX_E_IO;
		goto out;
	}
	free(tmp);
	tmp = NULL;
	lk_sync_dir(path);
	r = KRX_OK;
out:
	saved = errno;
	if (fd != -1)
		close(fd);
	if (tmp != NULL) {
		(void)unlink(tmp);
		free(tmp);
	}
	if (text != NULL) {
		OPENSSL_cleanse(text, len);
		free(text);
	}
	errno = saved;
	return r;
}

static int
lk_new_key(uint8_t key[KRX_LOCALKMS_KEK_LEN])
{
	if (RAND_bytes(key, KRX_LOCALKMS_KEK_LEN) != 1) {
		OPENSSL_cleanse(key, KRX_LOCALKMS_KEK_LEN);
		return KRX_E_CRYPTO;
	}
	return KRX_OK;
}

int
krx_keystore_create(struct krx_keystore *ks, const char *name)
{
	uint8_t		 key[KRX_LOCALKMS_KEK_LEN];
	struct lk_kek	*k;
	size_t		 len = strnlen(name, KRX_LOCALKMS_NAME_MAX + 1);
	int		 r;

	if (!lk_name_ok(name, len) || lk_find(ks, name, len) != NULL)
		return KRX_E_RANGE;
	if ((r = lk_new_key(key)) != KRX_OK)
		return r;
	if ((k = lk_kek_add(ks, name, len)) == NULL)
		r = KRX_E_NOMEM;
	else if ((r = lk_version_add(k, 1, (int64_t)time(NULL), key)) !=
	    KRX_OK) {
		lk_kek_clear(k);
		ks->n--;
	}
	OPENSSL_cleanse(key, sizeof(key));
	return r;
}

int
krx_keystore_rotate(struct krx_keystore *ks, const char *name)
{
	uint8_t		 key[KRX_LOCALKMS_KEK_LEN];
	struct lk_kek	*k;
	uint32_t	 cur;
	int		 r;

	if ((k = lk_find(ks, name, strnlen(name,
	    KRX_LOCALKMS_NAME_MAX + 1))) == NULL)
		return KRX_E_NOTFOUND;
	cur = k->v[k->nv - 1].version;
	if (cur == UINT32_MAX)
		return KRX_E_RANGE;
	if ((r = lk_new_key(key)) != KRX_OK)
		return r;
	r = lk_version_add(k, cur + 1, (int64_t)time(NULL), key);
	OPENSSL_cleanse(key, sizeof(key));
	return r;
}

int
krx_keystore_delete(struct krx_keystore *ks, const char *name)
{
	struct lk_kek	*k;
	size_t		 i;

	if ((k = lk_find(ks, name, strnlen(name,
	    KRX_LOCALKMS_NAME_MAX + 1))) == NULL)
		return KRX_E_NOTFOUND;
	i = (size_t)(k - ks->keks);
	lk_kek_clear(k);
	memmove(&ks->keks[i], &ks->keks[i + 1],
	    (ks->n - i - 1) * sizeof(*ks->keks));
	ks->n--;
	return KRX_OK;
}

size_t
krx_keystore_count(const struct krx_keystore *ks)
{
	return ks == NULL ? 0 : ks->n;
}

int
krx_keystore_info(const struct krx_keystore *ks, size_t i,
    const char **name, uint32_t *current_version, int64_t *created)
{
	const struct lk_version	*v;

	if (ks == NULL || i >= ks->n)
		return KRX_E_RANGE;
	v = &ks->keks[i].v[ks->keks[i].nv - 1];
	if (name != NULL)
		*name = ks->keks[i].name;
	if (current_version != NULL)
		*current_version = v->version;
	if (created != NULL)
		*created = v->created;
	return KRX_OK;
}


/*
 * Check the structure of an EDEK; *hdr_len is the length of the bytes
 * before the ciphertext (they end with the IV).
 */
static int
lk_edek_split(const uint8_t *edek, size_t len, const uint8_t **name,
    size_t *name_len, uint32_t *version, size_t *hdr_len)
{
	struct krx_cur	 c;
	uint64_t	 n;
	uint8_t		 fmt;
	size_t		 vlen;

	krx_cur_init(&c, edek, len);
	if (krx_cur_get_u8(&c, &fmt) != KRX_OK ||
	    fmt != KRX_LOCALKMS_FORMAT ||
	    krx_cur_get_uvarint(&c, &n, 2) != KRX_OK)
		return KRX_E_MALFORMED;
	vlen = c.off - 1;
	if (n == 0 || n > KRX_LOCALKMS_NAME_MAX || krx_uvarint_len(n) != vlen ||
	    krx_cur_get_ref(&c, (size_t)n, name) != KRX_OK ||
	    !lk_name_ok((const char *)*name, (size_t)n) ||
	    krx_cur_get_be32(&c, version) != KRX_OK || *version == 0 ||
	    krx_cur_skip(&c, LK_IV_LEN) != KRX_OK)
		return KRX_E_MALFORMED;
	*hdr_len = c.off;
	if (krx_cur_skip(&c, KRX_DEK_LEN + LK_TAG_LEN) != KRX_OK ||
	    krx_cur_end(&c) != KRX_OK)
		return KRX_E_MALFORMED;
	*name_len = (size_t)n;
	return KRX_OK;
}

int
krx_localkms_edek_parse(const uint8_t *edek, size_t len,
    const uint8_t **name, size_t *name_len, uint32_t *version)
{
	size_t	 hdr_len;
	int	 r;

	*name = NULL;
	*name_len = 0;
	*version = 0;
	r = lk_edek_split(edek, len, name, name_len, version, &hdr_len);
	if (r != KRX_OK) {
		*name = NULL;
		*name_len = 0;
		*version = 0;
	}
	return r;
}

int
krx_localkms_resolve(const struct krx_keystore *ks, const char *alias,
    size_t len)
{
	if (!lk_name_ok(alias, len) || lk_find(ks, alias, len) == NULL)
		return KRX_E_NOTFOUND;
	return KRX_OK;
}

int
krx_localkms_generate(const struct krx_keystore *ks, const char *name,
    size_t len, uint8_t dek[KRX_DEK_LEN], struct krx_buf *edek)
{
	const struct lk_version	*v;
	const struct lk_kek	*k;
	uint8_t			 iv[LK_IV_LEN], *hdr;
	size_t			 start = edek->len, hdr_len;
	int			 r;

	memset(dek, 0, KRX_DEK_LEN);
	if (!lk_name_ok(name, len) || (k = lk_find(ks, name, len)) == NULL)
		return KRX_E_NOTFOUND;
	v = &k->v[k->nv - 1];
	hdr_len = 1 + krx_uvarint_len(len) + len + 4 + LK_IV_LEN;
	/* One reservation: the EDEK is written without a realloc. */
	if ((r = krx_buf_reserve(edek, hdr_len + KRX_DEK_LEN +
	    LK_TAG_LEN)) != KRX_OK)
		return r;
	r = KRX_E_CRYPTO;
	if (RAND_bytes(dek, KRX_DEK_LEN) != 1 ||
	    RAND_bytes(iv, sizeof(iv)) != 1)
		goto out;
	krx_buf_put_u8(edek, KRX_LOCALKMS_FORMAT);
	krx_buf_put_uvarint(edek, len);
	krx_buf_put(edek, name, len);
	krx_buf_put_be32(edek, v->version);
	krx_buf_put(edek, iv, sizeof(iv));
	if (krx_buf_extend(edek, KRX_DEK_LEN + LK_TAG_LEN) == NULL ||
	    edek->err != KRX_OK) {
		r = edek->err != KRX_OK ? edek->err : KRX_E_NOMEM;
		goto out;
	}
	hdr = edek->data + start;
	r = krx_aead_keyblock(1, v->key, iv, (const uint8_t *)LK_AAD_PREFIX,
	    LK_AAD_PREFIX_LEN, hdr, hdr_len, dek, hdr + hdr_len,
	    hdr + hdr_len + KRX_DEK_LEN);
out:
	if (r != KRX_OK) {
		OPENSSL_cleanse(dek, KRX_DEK_LEN);
		if (edek->data != NULL && edek->len > start)
			memset(edek->data + start, 0, edek->len - start);
		edek->len = start;
	}
	return r;
}

int
krx_localkms_decrypt(const struct krx_keystore *ks, const uint8_t *edek,
    size_t len, uint8_t dek[KRX_DEK_LEN])
{
	const struct lk_version	*v;
	const struct lk_kek	*k;
	const uint8_t		*name;
	uint8_t			 tag[LK_TAG_LEN];
	size_t			 name_len, hdr_len;
	uint32_t		 version;
	int			 r;

	memset(dek, 0, KRX_DEK_LEN);
	if ((r = lk_edek_split(edek, len, &name, &name_len, &version,
	    &hdr_len)) != KRX_OK)
		return r;
	if ((k = lk_find(ks, (const char *)name, name_len)) == NULL ||
	    (v = lk_find_version(k, version)) == NULL)
		return KRX_E_NOTFOUND;
	memcpy(tag, edek + hdr_len + KRX_DEK_LEN, sizeof(tag));
	return krx_aead_keyblock(0, v->key, edek + hdr_len - LK_IV_LEN,
	    (const uint8_t *)LK_AAD_PREFIX, LK_AAD_PREFIX_LEN, edek, hdr_len,
	    edek + hdr_len, dek, tag);
}
