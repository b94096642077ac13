/*
 * recenc.h: record encryption and decryption of whole records fields
 * (a Produce partition's or Fetch partition's concatenated batches),
 * byte-compatible with Kroxylicious' record encryption version 2.
 * Library grade: no logging, no globals; the caller supplies DEKs.
 *
 * Batch semantics (DESIGN.md section 4): one output batch per input
 * batch with every header field kept (base offset, deltas, producer
 * id/epoch, sequence, flags) but length and CRC; control, empty and
 * legacy batches copied as they are; null values (tombstones) untouched
 * and unmarked; the encryption header inserted first. A Produce record
 * that carries the encryption header already is refused, never passed
 * on (issue 9, finding 6).
 */
#ifndef KRX_CRYPTO_RECENC_H
#define KRX_CRYPTO_RECENC_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "crypto/aead.h"
#include "crypto/ivgen.h"

struct krx_zctx;

/* The DEK to encrypt with: key context, its EDEK, its IV counter. */
struct krx_recenc_dek {
	struct krx_aead		*aead;
	const uint8_t		*edek;
	size_t			 edek_len;
	struct krx_ivgen	*iv;
};

/*
 * Give the encryptor a DEK with budget left (called at the start and
 * whenever the current one's IV counter is exhausted). 0 or an error,
 * which aborts the encryption.
 */
typedef int (*krx_recenc_dek_fn)(void *arg, struct krx_recenc_dek *d);

/* Scratch space reused across calls (free with krx_recenc_scratch_free). */
struct krx_recenc_scratch {
	struct krx_buf	 plain;		/* decompressed records */
	struct krx_buf	 comp;		/* compression output */
	struct krx_buf	 parcel;	/* one decrypted parcel */
	struct krx_buf	 hdrs;		/* headers rebuilt from a parcel */
	struct krx_buf	 dec;		/* one decrypted batch, uncompressed */
	uint64_t	 decrypted;	/* by the last krx_recdec_decrypt */
	uint64_t	 clear;		/* its records sent in clear */
	int64_t		 fail_offset;	/* its failing record's offset, or -1 */
	int64_t		 clear_offset;	/* its first clear record's, or -1 */
	uint64_t	 budget;	/* record bytes decrypt may still go
					 * through (set by the caller,
					 * UINT64_MAX at init) */
	int		 truncated;	/* the last decrypt stopped there */
	uint64_t	 encrypted;	/* by the last krx_recenc_encrypt */
	size_t		 max_decompressed;
	struct krx_zctx	*z;		/* the caller's zstd contexts, or
					 * NULL (see compress.h) */
};

/* max: decompressed bytes per batch; z: borrowed, may be NULL. */
void	krx_recenc_scratch_init(struct krx_recenc_scratch *s, size_t max,
	    struct krx_zctx *z);
void	krx_recenc_scratch_free(struct krx_recenc_scratch *s);

/*
 * At most how many records encrypting a Produce records field will take
 * from the DEK budget: the record counts of the batches to encrypt
 * (tombstones included), read from their headers. Checks the batch
 * structure and every CRC: KRX_E_MALFORMED, KRX_E_UNSUPPORTED (magic <
 * 2). A count below 0 or above the records area's bytes divided by
 * KRX_RECORD_MIN_LEN is KRX_E_MALFORMED; a compressed area is
 * decompressed (errors of krx_batch_records) only when its count is
 * above its compressed bytes / KRX_RECORD_MIN_LEN. *n is at most
 * len / KRX_RECORD_MIN_LEN.
 */
int	krx_recenc_count(const uint8_t *records, size_t len,
	    struct krx_recenc_scratch *s, uint64_t *n);

/*
 * A Produce records field that goes upstream unencrypted: KRX_OK, or
 * KRX_E_UNSUPPORTED when a record carries the encryption header (a
 * client must not plant what consumers would take for a krx wrapper),
 * KRX_E_MALFORMED / KRX_E_TRUNCATED for batches or records krx cannot
 * walk (the header could hide there), errors of krx_batch_records.
 * CRCs are left to the broker.
 */
int	krx_recenc_check_plain(const uint8_t *records, size_t len,
	    struct krx_recenc_scratch *s);

/*
 * Encrypt every non-null value of a Produce records field into out
 * (appended). Batches are recompressed with their own codec. A batch
 * whose record count is not the number of records it holds is
 * KRX_E_MALFORMED; a record (tombstones too) that carries the encryption
 * header already is KRX_E_UNSUPPORTED. More than s->max_decompressed
 * bytes of output (before recompression) is KRX_E_TOO_BIG.
 */
int	krx_recenc_encrypt(const uint8_t *records, size_t len,
	    krx_recenc_dek_fn fn, void *arg, struct krx_recenc_scratch *s,
	    struct krx_buf *out);

/*
 * Fetch side. krx_recdec_scan calls fn for the EDEK of every encrypted
 * record (repeats included) and sets *n to their count; 0 means the
 * field can be forwarded as it is. A header with an unknown version,
 * cipher or AAD id is KRX_E_UNSUPPORTED; a truncated last batch is fine.
 */
typedef int (*krx_recdec_edek_fn)(void *arg, const uint8_t *edek,
    size_t len);
int	krx_recdec_scan(const uint8_t *records, size_t len,
	    krx_recdec_edek_fn fn, void *arg, struct krx_recenc_scratch *s,
	    uint64_t *n);

/* The DEK context for an EDEK; NULL fails the decryption (KRX_E_NOTFOUND). */
typedef struct krx_aead *(*krx_recdec_dek_fn)(void *arg, const uint8_t *edek,
    size_t len);

/*
 * Decrypt a Fetch records field into out (appended) in one pass:
 * batches without an encrypted record are copied byte for byte; the
 * others are rebuilt with values and headers restored, uncompressed
 * unless that is more than twice the broker's batch, then compressed
 * again with their own codec (a small batch of compressible records
 * must not come out many times bigger). A null value
 * is never encrypted: a tombstone carrying the encryption header is
 * passed on as it is. A truncated last batch is dropped (clients ignore
 * it). s->decrypted counts the records decrypted (0: out equals the
 * input but for a dropped tail), s->clear the records with a value and
 * no encryption header (control batches aside; a legacy batch counts
 * as one). KRX_E_CRYPTO when a value does not authenticate,
 * KRX_E_NOTFOUND when fn has no DEK for an EDEK, KRX_E_TOO_BIG for an
 * EDEK over KRX_WRAPPER_EDEK_MAX or a batch over s->max_decompressed;
 * on an error s->fail_offset is the offset of the record (or batch) at
 * fault, -1 when unknown; s->clear_offset that of the first clear record.
 *
 * Each batch taken subtracts its uncompressed records area from
 * s->budget; once it is spent, decrypt stops before the next batch and
 * sets s->truncated: out then holds the batches before it, which is
 * still a valid answer (a Fetch may return fewer records). The scan
 * stops there too.
 */
int	krx_recdec_decrypt(const uint8_t *records, size_t len,
	    krx_recdec_dek_fn fn, void *arg, struct krx_recenc_scratch *s,
	    struct krx_buf *out);

#endif
