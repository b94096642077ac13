/*
 * dekcache.c: the shared DEK cache: DEKs sealed with AES-256-GCM under
 * an in-memory cache key, stored in LMDB. Library grade. keysvc runs the
 * writer side, workers the read-only side. Trusts nothing read from the
 * file: a value is used only after its GCM tag verifies. dekcache.h
 * documents the files, the key and the value layout.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/err.h"
#include "crypto/aead.h"
#include "crypto/dekcache.h"

#define DC_VERSION	1
#define DC_IV_OFF	9
#define DC_IV_LEN	12
#define DC_CT_OFF	(DC_IV_OFF + DC_IV_LEN)
#define DC_TAG_OFF	(DC_CT_OFF + KRX_DEK_LEN)
#define DC_TAG_LEN	16
#define DC_DATA		"/data.mdb"
#define DC_LOCK		"/lock.mdb"
/* keysvc's alone (issue 9, finding 7): no process of another uid maps them. */
#define DC_DIR_MODE	0700
#define DC_DATA_MODE	0600
#define DC_LOCK_MODE	0600
#define DC_EVICT_BATCH	1024	/* deletions per write transaction */
/* Evict expired entries early once the file fills 3/4 of the map. */
#define DC_EVICT_AT_NUM	3
#define DC_EVICT_AT_DEN	4

struct krx_dekcache {
	MDB_env		*env;
	MDB_dbi		 dbi;
	char		*data_path;
	dev_t		 dev;		/* of the data file we opened */
	ino_t		 ino;
	size_t		 map_pages;
	int64_t		 next_evict;	/* no entry expires before */
};

/* An LMDB return code as a krx_err (errno set for system errors). */
static int
dc_err(int rc)
{
	switch (rc) {
	case MDB_SUCCESS:
		return KRX_OK;
	case MDB_NOTFOUND:
		return KRX_E_NOTFOUND;
	case MDB_MAP_FULL:
		return KRX_E_TOO_BIG;
	case MDB_INVALID:
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
		return KRX_E_MALFORMED;
	case MDB_VERSION_MISMATCH:
		return KRX_E_VERSION;
	case ENOMEM:
		return KRX_E_NOMEM;
	default:
		errno = rc > 0 ? rc : EIO;
		return KRX_E_IO;
	}
}

static int
dc_key_zero(const uint8_t key[KRX_DEKCACHE_KEY_LEN])
{
	uint8_t	 acc = 0;
	size_t	 i;

	for (i = 0; i < KRX_DEKCACHE_KEY_LEN; i++)
		acc |= key[i];
	return acc == 0;
}

static void
dc_put_be64(uint8_t *p, uint64_t v)
{
	int	 i;

	for (i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t
dc_get_be64(const uint8_t *p)
{
	uint64_t	 v = 0;
	int		 i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static char *
dc_join(const char *dir, const char *file)
{
	size_t	 dl = strlen(dir), fl = strlen(file);
	char	*p;

	if ((p = malloc(dl + fl + 1)) == NULL)
		return NULL;
	memcpy(p, dir, dl);
	memcpy(p + dl, file, fl + 1);
	return p;
}

/* Writer: the directory exists, old files are gone. */
static int
dc_prepare(const char *path, const char *data, const char *lock)
{
	struct stat	 st;

	if (mkdir(path, DC_DIR_MODE) == -1 && errno != EEXIST)
		return KRX_E_IO;
	if (stat(path, &st) == -1)
		return KRX_E_IO;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return KRX_E_IO;
	}
	if ((unlink(data) == -1 && errno != ENOENT) ||
	    (unlink(lock) == -1 && errno != ENOENT))
		return KRX_E_IO;
	return KRX_OK;
}

static int
dc_env_open(struct krx_dekcache *c, const char *path, size_t max_bytes,
    int writer)
{
	MDB_envinfo	 info;
	MDB_txn		*txn;
	struct stat	 st;
	size_t		 page = (size_t)sysconf(_SC_PAGESIZE);
	int		 rc, fd;

	if ((rc = mdb_env_create(&c->env)) != MDB_SUCCESS)
		return dc_err(rc);
	if (writer && (rc = mdb_env_set_mapsize(c->env,
	    (max_bytes + page - 1) / page * page)) != MDB_SUCCESS)
		return dc_err(rc);
	rc = mdb_env_open(c->env, path, writer ? MDB_NOTLS | MDB_NOSYNC :
	    MDB_NOTLS | MDB_RDONLY, writer ? DC_DATA_MODE : DC_LOCK_MODE);
	if (rc == ENOENT)
		return KRX_E_NOTFOUND;
	if (rc != MDB_SUCCESS)
		return dc_err(rc);
	if ((rc = mdb_txn_begin(c->env, NULL, writer ? 0 : MDB_RDONLY,
	    &txn)) != MDB_SUCCESS)
		return dc_err(rc);
	if ((rc = mdb_dbi_open(txn, NULL, 0, &c->dbi)) != MDB_SUCCESS) {
		mdb_txn_abort(txn);
		return dc_err(rc);
	}
	if ((rc = mdb_txn_commit(txn)) != MDB_SUCCESS)
		return dc_err(rc);
	if ((rc = mdb_env_get_fd(c->env, &fd)) != MDB_SUCCESS)
		return dc_err(rc);
	if (fstat(fd, &st) == -1)
		return KRX_E_IO;
	c->dev = st.st_dev;
	c->ino = st.st_ino;
	if ((rc = mdb_env_info(c->env, &info)) != MDB_SUCCESS)
		return dc_err(rc);
	c->map_pages = info.me_mapsize / page;
	c->next_evict = INT64_MAX;
	return KRX_OK;
}

int
krx_dekcache_open(const char *path, size_t max_bytes, int writer,
    struct krx_dekcache **out)
{
	struct krx_dekcache	*c = NULL;
	struct stat		 st;
	char			*lock = NULL;
	int			 r = KRX_E_RANGE, saved;

	*out = NULL;
	if (writer && max_bytes < KRX_DEKCACHE_MIN_BYTES)
		goto out;
	r = KRX_E_NOMEM;
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->data_path = dc_join(path, DC_DATA)) == NULL ||
	    (lock = dc_join(path, DC_LOCK)) == NULL)
		goto out;
	if (writer)
		r = dc_prepare(path, c->data_path, lock);
	else if (stat(c->data_path, &st) == -1)
		r = errno == ENOENT ? KRX_E_NOTFOUND : KRX_E_IO;
	else
		r = KRX_OK;
	if (r != KRX_OK ||
	    (r = dc_env_open(c, path, max_bytes, writer)) != KRX_OK)
		goto out;
	/* Explicit modes: mdb_env_open's are filtered by the umask. */
	if (writer && (chmod(c->data_path, DC_DATA_MODE) == -1 ||
	    chmod(lock, DC_LOCK_MODE) == -1)) {
		r = KRX_E_IO;
		goto out;
	}
	*out = c;
	c = NULL;
out:
	saved = errno;
	krx_dekcache_close(c);
	free(lock);
	errno = saved;
	return r;
}

void
krx_dekcache_close(struct krx_dekcache *c)
{
	if (c == NULL)
		return;
	if (c->env != NULL)
		mdb_env_close(c->env);
	free(c->data_path);
	free(c);
}

int
krx_dekcache_stale(struct krx_dekcache *c)
{
	struct stat	 st;

	if (stat(c->data_path, &st) == -1)
		return 1;
	return st.st_dev != c->dev || st.st_ino != c->ino;
}

int
krx_dekcache_key(const char *kms_id, const uint8_t *edek, size_t edek_len,
    uint8_t key[KRX_DEKCACHE_KEY_LEN])
{
	EVP_MD_CTX	*ctx;
	size_t		 idlen = strlen(kms_id);
	uint8_t		 be[4];
	unsigned int	 n = 0;
	int		 r = KRX_E_CRYPTO;

	memset(key, 0, KRX_DEKCACHE_KEY_LEN);
	be[0] = (uint8_t)(idlen >> 24);
	be[1] = (uint8_t)(idlen >> 16);
	be[2] = (uint8_t)(idlen >> 8);
	be[3] = (uint8_t)idlen;
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return KRX_E_NOMEM;
	if (idlen <= UINT32_MAX &&
	    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, be, sizeof(be)) == 1 &&
	    EVP_DigestUpdate(ctx, kms_id, idlen) == 1 &&
	    EVP_DigestUpdate(ctx, edek, edek_len) == 1 &&
	    EVP_DigestFinal_ex(ctx, key, &n) == 1 &&
	    n == KRX_DEKCACHE_KEY_LEN)
		r = KRX_OK;
	EVP_MD_CTX_free(ctx);
	if (r != KRX_OK)
		memset(key, 0, KRX_DEKCACHE_KEY_LEN);
	return r;
}

/* One put in its own write transaction; an LMDB return code. */
static int
dc_store(struct krx_dekcache *c, const uint8_t *key, uint8_t *val)
{
	MDB_txn	*txn;
	MDB_val	 k, v;
	int	 rc;

	if ((rc = mdb_txn_begin(c->env, NULL, 0, &txn)) != MDB_SUCCESS)
		return rc;
	k.mv_size = KRX_DEKCACHE_KEY_LEN;
	k.mv_data = (void *)key;
	v.mv_size = KRX_DEKCACHE_VALUE_LEN;
	v.mv_data = val;
	if ((rc = mdb_put(txn, c->dbi, &k, &v, 0)) != MDB_SUCCESS) {
		mdb_txn_abort(txn);
		return rc;
	}
	return mdb_txn_commit(txn);
}

/* A value that is not ours, or expired at now. */
static int
dc_stale(const MDB_val *k, const MDB_val *v, int64_t now)
{
	const uint8_t	*p = v->mv_data;

	return k->mv_size != KRX_DEKCACHE_KEY_LEN ||
	    v->mv_size != KRX_DEKCACHE_VALUE_LEN || p[0] != DC_VERSION ||
	    (int64_t)dc_get_be64(p + 1) <= now;
}

/*
 * Delete up to batch stale entries from key *from on, in one write
 * transaction. *from becomes the key where the next batch starts, *more
 * says whether there is one; *first is lowered to the earliest expiry of
 * the entries kept. An LMDB return code.
 */
static int
dc_evict_batch(struct krx_dekcache *c, int64_t now, size_t batch,
    uint8_t from[KRX_DEKCACHE_KEY_LEN], int *more, int64_t *first)
{
	MDB_cursor_op	 op = MDB_SET_RANGE;
	MDB_cursor	*cur;
	MDB_txn		*txn;
	MDB_val		 k, v;
	int64_t		 exp, low = *first;
	size_t		 n = 0;
	int		 rc;

	*more = 0;
	if ((rc = mdb_txn_begin(c->env, NULL, 0, &txn)) != MDB_SUCCESS)
		return rc;
	if ((rc = mdb_cursor_open(txn, c->dbi, &cur)) != MDB_SUCCESS) {
		mdb_txn_abort(txn);
		return rc;
	}
	k.mv_size = KRX_DEKCACHE_KEY_LEN;
	k.mv_data = from;
	while ((rc = mdb_cursor_get(cur, &k, &v, op)) == MDB_SUCCESS) {
		op = MDB_NEXT;
		if (!dc_stale(&k, &v, now)) {
			exp = (int64_t)dc_get_be64((const uint8_t *)v.mv_data +
			    1);
			low = exp < low ? exp : low;
			continue;
		}
		if (n == batch) {
			/* A key of another size sorts near its prefix. */
			memset(from, 0, KRX_DEKCACHE_KEY_LEN);
			memcpy(from, k.mv_data,
			    k.mv_size < KRX_DEKCACHE_KEY_LEN ? k.mv_size :
			    KRX_DEKCACHE_KEY_LEN);
			*more = 1;
			break;
		}
		/* The cursor then stands before the next entry: MDB_NEXT. */
		if ((rc = mdb_cursor_del(cur, 0)) != MDB_SUCCESS)
			break;
		n++;
	}
	mdb_cursor_close(cur);
	if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		*more = 0;
		return rc;
	}
	if ((rc = mdb_txn_commit(txn)) == MDB_SUCCESS)
		*first = low;
	return rc;
}

/*
 * Delete the entries expired at now (and any value not in this format)
 * in batches. A write transaction can only use pages freed before the
 * previous commit, so in a full map a batch that does not fit is halved
 * and retried (and doubled again after a success). Best effort:
 * c->next_evict becomes the earliest expiry left, or a second from now
 * when a batch failed.
 */
static void
dc_evict_expired(struct krx_dekcache *c, int64_t now)
{
	uint8_t	 from[KRX_DEKCACHE_KEY_LEN];
	size_t	 batch = DC_EVICT_BATCH;
	int64_t	 first = INT64_MAX;
	int	 rc, more = 1;

	memset(from, 0, sizeof(from));
	while (more) {
		rc = dc_evict_batch(c, now, batch, from, &more, &first);
		if (rc == MDB_MAP_FULL && batch > 1) {
			batch /= 2;
			more = 1;
		} else if (rc != MDB_SUCCESS) {
			c->next_evict = now + 1;
			return;
		} else if (batch < DC_EVICT_BATCH)
			batch *= 2;
	}
	c->next_evict = first;
}

/* Empty the database. An LMDB return code. */
static int
dc_drop(struct krx_dekcache *c)
{
	MDB_txn	*txn;
	int	 rc;

	if ((rc = mdb_txn_begin(c->env, NULL, 0, &txn)) != MDB_SUCCESS)
		return rc;
	if ((rc = mdb_drop(txn, c->dbi, 0)) != MDB_SUCCESS) {
		mdb_txn_abort(txn);
		return rc;
	}
	if ((rc = mdb_txn_commit(txn)) == MDB_SUCCESS)
		c->next_evict = INT64_MAX;
	return rc;
}

int
krx_dekcache_clear(struct krx_dekcache *c)
{
	return dc_err(dc_drop(c));
}

/*
 * Has the data file grown to 3/4 of the map? Its size is a high water
 * mark (freed pages are reused, never returned), so once crowded the
 * writer scans whenever an entry is due. A scan removes everything that
 * expired up to now, so entries stored unexpired cause at most one scan
 * a second. Evicting early matters: in a full map, deleting needs free
 * pages too, and only dropping everything is sure to work.
 */
static int
dc_crowded(struct krx_dekcache *c)
{
	MDB_envinfo	 info;

	if (mdb_env_info(c->env, &info) != MDB_SUCCESS)
		return 1;
	return ((size_t)info.me_last_pgno + 1) * DC_EVICT_AT_DEN >=
	    c->map_pages * DC_EVICT_AT_NUM;
}

int
krx_dekcache_put(struct krx_dekcache *c,
    const uint8_t seal_key[KRX_DEKCACHE_SEAL_LEN],
    const uint8_t key[KRX_DEKCACHE_KEY_LEN], const uint8_t dek[KRX_DEK_LEN],
    int64_t expires_unix)
{
	uint8_t	 val[KRX_DEKCACHE_VALUE_LEN];
	int64_t	 now = (int64_t)time(NULL);
	int	 r, rc, dead;

	if (dc_key_zero(key))
		return KRX_E_RANGE;
	val[0] = DC_VERSION;
	dc_put_be64(val + 1, (uint64_t)expires_unix);
	if (RAND_bytes(val + DC_IV_OFF, DC_IV_LEN) != 1)
		return KRX_E_CRYPTO;
	if ((r = krx_aead_keyblock(1, seal_key, val + DC_IV_OFF, key,
	    KRX_DEKCACHE_KEY_LEN, val, DC_IV_OFF, dek, val + DC_CT_OFF,
	    val + DC_TAG_OFF)) != KRX_OK)
		return r;
	/* Evict early, while there is room to work in; only when due. */
	if (now >= c->next_evict && dc_crowded(c))
		dc_evict_expired(c, now);
	rc = dc_store(c, key, val);
	if (rc == MDB_MAP_FULL) {
		/* Readers that died keep old pages pinned: free them. */
		(void)mdb_reader_check(c->env, &dead);
		dc_evict_expired(c, now);
		rc = dc_store(c, key, val);
	}
	if (rc == MDB_MAP_FULL && dc_drop(c) == MDB_SUCCESS)
		rc = dc_store(c, key, val);
	if (rc == MDB_SUCCESS && expires_unix < c->next_evict)
		c->next_evict = expires_unix;
	return dc_err(rc);
}

int
krx_dekcache_get(struct krx_dekcache *c,
    const uint8_t seal_key[KRX_DEKCACHE_SEAL_LEN],
    const uint8_t key[KRX_DEKCACHE_KEY_LEN], int64_t now_unix,
    uint8_t dek[KRX_DEK_LEN])
{
	uint8_t	 val[KRX_DEKCACHE_VALUE_LEN];
	MDB_txn	*txn;
	MDB_val	 k, v;
	int	 rc, size_ok = 0;

	memset(dek, 0, KRX_DEK_LEN);
	if (dc_key_zero(key))
		return KRX_E_RANGE;
	if ((rc = mdb_txn_begin(c->env, NULL, MDB_RDONLY, &txn)) !=
	    MDB_SUCCESS)
		return dc_err(rc);
	k.mv_size = KRX_DEKCACHE_KEY_LEN;
	k.mv_data = (void *)key;
	/* Copy out before the snapshot ends: v points into the map. */
	if ((rc = mdb_get(txn, c->dbi, &k, &v)) == MDB_SUCCESS &&
	    v.mv_size == sizeof(val)) {
		memcpy(val, v.mv_data, sizeof(val));
		size_ok = 1;
	}
	mdb_txn_abort(txn);
	if (rc != MDB_SUCCESS)
		return dc_err(rc);
	if (!size_ok || val[0] != DC_VERSION)
		return KRX_E_MALFORMED;
	if (now_unix >= (int64_t)dc_get_be64(val + 1))
		return KRX_E_NOTFOUND;
	return krx_aead_keyblock(0, seal_key, val + DC_IV_OFF, key, KRX_DEKCACHE_KEY_LEN,
	    val, DC_IV_OFF, val + DC_CT_OFF, dek, val + DC_TAG_OFF);
}

int
krx_dekcache_stats(struct krx_dekcache *c, uint64_t *entries,
    uint64_t *bytes)
{
	MDB_txn	*txn;
	MDB_stat st;
	int	 rc;

	*entries = 0;
	*bytes = 0;
	if ((rc = mdb_txn_begin(c->env, NULL, MDB_RDONLY, &txn)) !=
	    MDB_SUCCESS)
		return dc_err(rc);
	rc = mdb_stat(txn, c->dbi, &st);
	mdb_txn_abort(txn);
	if (rc != MDB_SUCCESS)
		return dc_err(rc);
	*entries = st.ms_entries;
	*bytes = (uint64_t)(st.ms_branch_pages + st.ms_leaf_pages +
	    st.ms_overflow_pages) * st.ms_psize;
	return KRX_OK;
}
