/*
 * dekcache.h: the shared DEK cache, an LMDB environment in which every
 * DEK is sealed under an in-memory cache key. Library grade: no logging,
 * no globals. keysvc opens it as the writer and serves cache hits to
 * workers itself; the read-only side (another process of the same uid)
 * remains for tools and tests.
 * Trusts nothing it reads from the file: a value is used only once its
 * GCM tag verifies under the caller's cache key.
 *
 * Files: the directory path holds LMDB's data.mdb and lock.mdb, both
 * 0600 (issue 9, finding 7: a process that can write lock.mdb can freeze
 * or corrupt the writer, so no other uid may open them); MDB_NOSUBDIR is
 * not used. The writer deletes both and starts empty at every open, so
 * the cache never outlives the cache key it was sealed under (readers
 * that still map the old files keep seeing the old entries until they
 * reopen; krx_dekcache_stale tells them).
 *
 * One entry: key = SHA-256(u32 BE length of kms_id || kms_id || EDEK)
 * (krx_dekcache_key), 32 bytes. Value, version 1, 69 bytes:
 *
 *	offset	size	field
 *	0	1	0x01, the value version
 *	1	8	expiry, Unix seconds, big-endian (two's complement)
 *	9	12	IV, random
 *	21	32	AES-256-GCM(cache key, IV) ciphertext of the DEK
 *	53	16	GCM tag
 *
 * The GCM additional data is the 32-byte LMDB key followed by bytes 0..8
 * of the value (version and expiry), so a value cannot be moved to
 * another key nor its expiry extended. A copy of the file without the
 * cache key reveals no DEK.
 *
 * Size: max_bytes is the LMDB map size and never grows. Once the data
 * file has grown to 3/4 of the map, a put first deletes the entries that
 * have expired (if any is due: the writer tracks the earliest expiry). A
 * put that still finds the map full deletes the expired entries and
 * retries, then empties the database and retries once more. Expired
 * entries are never returned, whether evicted yet or not.
 *
 * Environment flags: MDB_NOTLS everywhere (read transactions are not tied
 * to threads; each get opens and ends its own), MDB_NOSYNC for the writer
 * (the file is recreated at every start, durability buys nothing; readers
 * see commits through the shared page cache). MDB_NOMEMINIT is not used:
 * LMDB zeroes unused page bytes, so no stray heap bytes reach the file.
 */
#ifndef KRX_CRYPTO_DEKCACHE_H
#define KRX_CRYPTO_DEKCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/limits.h"	/* KRX_DEK_LEN */

#define KRX_DEKCACHE_KEY_LEN	32	/* LMDB key: a SHA-256 */
#define KRX_DEKCACHE_SEAL_LEN	32	/* the cache key: AES-256 */
#define KRX_DEKCACHE_VALUE_LEN	69	/* one sealed value */
#define KRX_DEKCACHE_MIN_BYTES	(64 * 1024)

struct krx_dekcache;

/*
 * Open the cache in directory path, into *out (NULL on error; close it
 * with krx_dekcache_close).
 *
 * writer != 0: create path (0700) if missing, delete any old data.mdb and
 * lock.mdb, create fresh ones (both 0600) with a map
 * of max_bytes (>= KRX_DEKCACHE_MIN_BYTES, rounded up to whole pages).
 * writer == 0: open the existing files read-only (MDB_RDONLY); max_bytes
 * is ignored, the writer's map size is used. The environment must not be
 * used across fork(): open it in the process that uses it.
 *
 * Returns 0; KRX_E_NOTFOUND (reader) when the writer has not created the
 * cache yet; KRX_E_RANGE for max_bytes below the minimum; KRX_E_MALFORMED
 * when the file is not an LMDB environment; KRX_E_VERSION for another
 * LMDB format; KRX_E_NOMEM; KRX_E_IO (errno set, e.g. EACCES).
 */
int	krx_dekcache_open(const char *path, size_t max_bytes, int writer,
	    struct krx_dekcache **out);

/* Close the environment and free c. NULL is a no-op. */
void	krx_dekcache_close(struct krx_dekcache *c);

/*
 * 1 when the data file at the cache's path is no longer the one c has
 * open (the writer recreated the cache, or removed it): reopen. 0
 * otherwise.
 */
int	krx_dekcache_stale(struct krx_dekcache *c);

/*
 * The LMDB key of an EDEK: SHA-256(u32 BE strlen(kms_id) || kms_id ||
 * edek). Returns 0 or KRX_E_CRYPTO / KRX_E_NOMEM, in which case key is
 * all zero, a key krx_dekcache_put and _get refuse (KRX_E_RANGE): a
 * caller that ignores the error only misses the cache.
 */
int	krx_dekcache_key(const char *kms_id, const uint8_t *edek,
	    size_t edek_len, uint8_t key[KRX_DEKCACHE_KEY_LEN]);

/*
 * Seal dek under seal_key and store it at key until expires_unix
 * (replacing any entry at key). Writer only. Returns 0; KRX_E_RANGE for
 * an all-zero key; KRX_E_TOO_BIG when the map stays full even empty;
 * KRX_E_CRYPTO; KRX_E_NOMEM; KRX_E_IO (errno set, EACCES for a reader).
 */
int	krx_dekcache_put(struct krx_dekcache *c,
	    const uint8_t seal_key[KRX_DEKCACHE_SEAL_LEN],
	    const uint8_t key[KRX_DEKCACHE_KEY_LEN],
	    const uint8_t dek[KRX_DEK_LEN], int64_t expires_unix);

/*
 * The DEK stored at key into dek, read in its own read transaction (never
 * a torn entry). Returns 0; KRX_E_NOTFOUND when absent or expired
 * (now_unix >= expiry, checked before the seal is opened); KRX_E_CRYPTO
 * when the seal does not open (another cache key, or tampered);
 * KRX_E_MALFORMED for a value of another size or version; KRX_E_RANGE
 * for an all-zero key; KRX_E_IO. dek is zeroed unless 0 is returned.
 */
int	krx_dekcache_get(struct krx_dekcache *c,
	    const uint8_t seal_key[KRX_DEKCACHE_SEAL_LEN],
	    const uint8_t key[KRX_DEKCACHE_KEY_LEN], int64_t now_unix,
	    uint8_t dek[KRX_DEK_LEN]);

/*
 * Delete every entry (krx-ctl kek delete: the cache holds no KEK name,
 * so all are dropped). Writer only. Returns 0, KRX_E_IO or KRX_E_NOMEM.
 */
int	krx_dekcache_clear(struct krx_dekcache *c);

/*
 * Number of entries (expired ones included until a put evicts them) and
 * the bytes of the pages the database tree uses. Returns 0 or KRX_E_IO.
 */
int	krx_dekcache_stats(struct krx_dekcache *c, uint64_t *entries,
	    uint64_t *bytes);

#endif
