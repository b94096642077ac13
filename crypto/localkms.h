/*
 * localkms.h: LocalKms, the embedded KMS: a keystore file of named,
 * versioned 256-bit KEKs, and the EDEKs it makes. Library grade: no
 * logging, no globals. keysvc runs it (and only keysvc reads the file);
 * it trusts the keystore file once its mode is right, and nothing in an
 * EDEK.
 *
 * Keystore file, version 1 (text, strict: any other byte is an error):
 *
 *	krx-keystore 1\n
 *	kek <name> <version> <key> <created>\n	(zero or more)
 *
 * Fields are separated by exactly one space, every line ends with "\n"
 * (no "\r", no blank or comment lines, no trailing space). <name> is
 * [A-Za-z0-9._-]{1,200}; <version> a decimal in 1..4294967295 and
 * <created> a decimal in 0..INT64_MAX (Unix seconds), both without
 * leading zeros; <key> the canonical padded base64 of 32 key bytes (44
 * characters). A (name, version) pair appears at most once; a KEK's lines
 * may come in any order and its highest version is the current one. The
 * file must be a regular file with no group or other permission bits;
 * krx_keystore_save writes KEKs in order, versions ascending, mode 0600.
 *
 * EDEK, format 1 (all integers big-endian):
 *
 *	offset	size	field
 *	0	1	0x01, the format version
 *	1	1..2	n, the KEK name length, unsigned LEB128, canonical
 *			(shortest form), 1..200
 *	.	n	the KEK name, [A-Za-z0-9._-]
 *	.	4	the KEK version
 *	.	12	IV, random
 *	.	32	AES-256-GCM(KEK version, IV) ciphertext of the DEK
 *	.	16	GCM tag
 *
 * The GCM additional data is the 14 ASCII bytes "krx-localkms-1"
 * followed by every EDEK byte before the ciphertext (format byte through
 * IV), so the name and version cannot be swapped. An EDEK is exactly
 * 65 + n + 1 (n < 128) or 65 + n + 2 bytes; decoders end at its end.
 */
#ifndef KRX_CRYPTO_LOCALKMS_H
#define KRX_CRYPTO_LOCALKMS_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/limits.h"	/* KRX_DEK_LEN */

#define KRX_LOCALKMS_KEK_LEN	32	/* an AES-256 KEK */
#define KRX_LOCALKMS_NAME_MAX	200	/* bytes in a KEK name */
#define KRX_LOCALKMS_FORMAT	1	/* the EDEK format byte */
/* The longest EDEK: format, 2-byte length, name, version, IV, ct, tag. */
#define KRX_LOCALKMS_EDEK_MAX	(1 + 2 + KRX_LOCALKMS_NAME_MAX + 4 + 12 + \
				    KRX_DEK_LEN + 16)

struct krx_keystore;

/*
 * Read the keystore at path into a new keystore (*out, NULL on error;
 * the caller frees it). Returns 0; KRX_E_NOTFOUND when the file does not
 * exist; KRX_E_RANGE when path is not absolute, or the file is not a
 * regular file, has any group or other permission bit or belongs to
 * another uid than the effective one; KRX_E_TOO_BIG over 16 MiB; KRX_E_UNSUPPORTED for
 * another keystore version; KRX_E_MALFORMED for a bad line; KRX_E_IO
 * (errno set); KRX_E_NOMEM. *bad_line (may be NULL) is the 1-based line
 * number of a KRX_E_MALFORMED or KRX_E_UNSUPPORTED error, 0 otherwise.
 */
int	krx_keystore_load(const char *path, struct krx_keystore **out,
	    int *bad_line);

/* A new, empty keystore, or NULL when out of memory. */
struct krx_keystore *krx_keystore_new(void);

/*
 * Write ks to path atomically: a temporary file (mode 0600) in the same
 * directory, fsync, rename over path, fsync of the directory. A symlink
 * at path is replaced, not followed. Returns 0, KRX_E_IO (errno set;
 * EINVAL for a path that is not absolute) or KRX_E_NOMEM; path is
 * untouched on error.
 */
int	krx_keystore_save(const struct krx_keystore *ks, const char *path);

/* Zero every key byte and free ks. NULL is a no-op. */
void	krx_keystore_free(struct krx_keystore *ks);

/*
 * Add KEK name with version 1, a fresh RAND_bytes key, created now.
 * Returns 0; KRX_E_RANGE if name is invalid or exists; KRX_E_CRYPTO;
 * KRX_E_NOMEM.
 */
int	krx_keystore_create(struct krx_keystore *ks, const char *name);

/*
 * Add version current + 1 of KEK name, a fresh key that becomes the
 * current version; older versions stay for decryption. Returns 0;
 * KRX_E_NOTFOUND; KRX_E_RANGE at version 4294967295; KRX_E_CRYPTO;
 * KRX_E_NOMEM.
 */
int	krx_keystore_rotate(struct krx_keystore *ks, const char *name);

/*
 * Remove every version of KEK name (its keys zeroed): its EDEKs can no
 * longer be decrypted. Returns 0 or KRX_E_NOTFOUND. Later KEKs move
 * down one index.
 */
int	krx_keystore_delete(struct krx_keystore *ks, const char *name);

/* Number of KEKs. */
size_t	krx_keystore_count(const struct krx_keystore *ks);

/*
 * The i-th KEK (file or creation order): its name (NUL-terminated, owned
 * by ks, valid until ks changes), current version and the creation time
 * of that version (Unix seconds). Any output may be NULL. Returns 0 or
 * KRX_E_RANGE when i >= count.
 */
int	krx_keystore_info(const struct krx_keystore *ks, size_t i,
	    const char **name, uint32_t *current_version, int64_t *created);

/*
 * KMS operations. A LocalKms KEK id is the KEK name (alias == name);
 * names are not NUL-terminated here (len bytes at alias / name).
 */

/* KRX_OK when KEK alias exists, KRX_E_NOTFOUND otherwise (also for an
 * invalid name). */
int	krx_localkms_resolve(const struct krx_keystore *ks, const char *alias,
	    size_t len);

/*
 * A fresh random DEK (written to dek) wrapped under the current version
 * of KEK name; the EDEK is appended to edek (an initialised buffer).
 * Returns 0; KRX_E_NOTFOUND; KRX_E_CRYPTO; KRX_E_NOMEM. On error dek is
 * zeroed and edek keeps its old length.
 */
int	krx_localkms_generate(const struct krx_keystore *ks, const char *name,
	    size_t len, uint8_t dek[KRX_DEK_LEN], struct krx_buf *edek);

/*
 * Unwrap the len-byte EDEK into dek. Returns 0; KRX_E_MALFORMED when the
 * bytes are not a format-1 EDEK (short, long, bad name, unknown format);
 * KRX_E_NOTFOUND when its KEK or KEK version is not in ks (deleted, or
 * another keystore); KRX_E_CRYPTO when the tag does not verify (tampered,
 * or a KEK recreated under the same name). dek is zeroed on error.
 */
int	krx_localkms_decrypt(const struct krx_keystore *ks,
	    const uint8_t *edek, size_t len, uint8_t dek[KRX_DEK_LEN]);

/*
 * The KEK name (a view into edek, *name_len bytes, not NUL-terminated)
 * and version of an EDEK, for log lines; nothing is verified beyond the
 * format. Returns 0 or KRX_E_MALFORMED (outputs zeroed).
 */
int	krx_localkms_edek_parse(const uint8_t *edek, size_t len,
	    const uint8_t **name, size_t *name_len, uint32_t *version);

#endif
