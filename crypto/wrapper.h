/*
 * wrapper.h: Kroxylicious record encryption version 2, byte for byte:
 * the record header that marks an encrypted record, the wrapper (v2)
 * that replaces the record value, and the parcel (v1) sealed inside it.
 * Library grade: no logging, no globals.
 *
 *   header  "kroxylicious.io/encryption" = 0x02, the record's first header
 *   wrapper 0x00 (AES-256-GCM) | uvarint(E) | EDEK (E bytes) |
 *           0x00 (no AAD) | IV (12) | AES-GCM(DEK, IV, parcel) | tag (16)
 *   parcel  zigzag(value length) | value | header count or marker
 *           (krx writes 0x03, zigzag(-2): headers absent)
 *
 * Reference: ../shared/research/kroxylicious-encryption.md section 1.
 */
#ifndef KRX_CRYPTO_WRAPPER_H
#define KRX_CRYPTO_WRAPPER_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "crypto/aead.h"

#define KRX_WRAPPER_HDR_KEY	"kroxylicious.io/encryption"
#define KRX_WRAPPER_HDR_KEY_LEN	26
#define KRX_WRAPPER_VERSION	0x02	/* the header's one-byte value */
#define KRX_WRAPPER_VERSION_V1	0x01	/* pre-release, rejected */
#define KRX_WRAPPER_CIPHER_AES_GCM 0x00
#define KRX_WRAPPER_CIPHER_CHACHA 0x01	/* defined, not enabled in V2 */
#define KRX_WRAPPER_AAD_NONE	0x00
/*
 * The longest EDEK krx accepts, on either path: keysvc refuses longer ones
 * (KS_MAX_EDEK), so a longer one in a fetched record is refused here,
 * before it costs a key service round trip (issue 9, finding 2).
 */
#define KRX_WRAPPER_EDEK_MAX	4096

/* Parcel length markers (value length and header count). */
#define KRX_PARCEL_NULL		(-1)
#define KRX_PARCEL_ABSENT	(-2)

/* A parsed wrapper: views into the value it was parsed from. */
struct krx_wrapper {
	uint8_t		 cipher;	/* KRX_WRAPPER_CIPHER_AES_GCM */
	const uint8_t	*edek;
	size_t		 edek_len;	/* > 0 */
	uint8_t		 aad;		/* KRX_WRAPPER_AAD_NONE */
	const uint8_t	*iv;		/* KRX_AEAD_IV_LEN bytes */
	const uint8_t	*ct;		/* sealed parcel, then tag */
	size_t		 ct_len;	/* >= KRX_AEAD_TAG_LEN + 2 */
};

/* A parsed parcel: views into the plaintext it was parsed from. */
struct krx_parcel {
	const uint8_t	*value;
	int32_t		 value_len;	/* >= 0, or _NULL, _ABSENT */
	int32_t		 hdr_count;	/* >= 0, or _NULL, _ABSENT */
	const uint8_t	*hdrs;		/* encoded headers, validated */
	size_t		 hdrs_len;
};

/* One header of a parcel. */
struct krx_parcel_hdr {
	const uint8_t	*key;
	size_t		 key_len;
	const uint8_t	*value;
	int32_t		 value_len;	/* >= 0 or KRX_PARCEL_NULL */
};

struct krx_parcel_iter {
	struct krx_cur	 cur;
	int32_t		 left;
};

/*
 * Check a record header's value (the header keyed KRX_WRAPPER_HDR_KEY).
 * Returns KRX_WRAPPER_VERSION (2) when it is 0x02; KRX_E_UNSUPPORTED for
 * 0x01 ("V1 wrappers are unsupported") and any other byte;
 * KRX_E_MALFORMED when len is not 1.
 */
int	krx_wrapper_version(const uint8_t *v, size_t len);

/*
 * The exact length of the wrapper krx_wrapper_seal writes for an EDEK of
 * edek_len bytes and a value of value_len bytes, or 0 when either is
 * over INT32_MAX (not encodable) or edek_len is 0.
 */
size_t	krx_wrapper_size(size_t edek_len, size_t value_len);

/*
 * Seal value (value_len bytes, NULL allowed when 0) with a (the DEK)
 * under iv into out, a caller buffer of out_len bytes where out_len must
 * equal krx_wrapper_size(edek_len, value_len). No allocation. Returns 0;
 * KRX_E_TOO_BIG when the size is 0; KRX_E_RANGE when out_len differs;
 * KRX_E_CRYPTO (out is then zeroed). value and out must not overlap.
 */
int	krx_wrapper_seal(struct krx_aead *a,
	    const uint8_t iv[KRX_AEAD_IV_LEN], const uint8_t *edek,
	    size_t edek_len, const uint8_t *value, size_t value_len,
	    uint8_t *out, size_t out_len);

/*
 * Split a record value into its wrapper fields; *w points into p, which
 * must outlive it. Returns 0; KRX_E_UNSUPPORTED for a cipher or AAD id
 * other than 0 (ChaCha20-Poly1305 included); KRX_E_TOO_BIG for an EDEK
 * longer than KRX_WRAPPER_EDEK_MAX; KRX_E_TRUNCATED or KRX_E_MALFORMED
 * for bad bytes. *w is zeroed on error.
 */
int	krx_wrapper_parse(const uint8_t *p, size_t len,
	    struct krx_wrapper *w);

/*
 * Verify and decrypt the parcel of w with a (the DEK named by w->edek),
 * appending w->ct_len - KRX_AEAD_TAG_LEN bytes to plain. Returns 0;
 * KRX_E_CRYPTO when the tag does not verify; KRX_E_NOMEM. On error plain
 * is left as it was (the appended bytes are zeroed and dropped).
 */
int	krx_wrapper_open(struct krx_aead *a, const struct krx_wrapper *w,
	    struct krx_buf *plain);

/*
 * Parse a decrypted parcel of len bytes at p, strictly: every header is
 * validated and the parcel must end exactly after them. *pc points into
 * p. Returns 0; KRX_E_TRUNCATED, KRX_E_MALFORMED (a negative length other
 * than the markers, a bad varint) or KRX_E_TRAILING. *pc zeroed on error.
 *
 * Applying it to a record: value ABSENT keeps the record's value, NULL
 * makes it null. Headers ABSENT keep the record's own headers without the
 * first one if, and only if, its key is KRX_WRAPPER_HDR_KEY; NULL or a
 * count replace all of the record's headers.
 */
int	krx_parcel_parse(const uint8_t *p, size_t len,
	    struct krx_parcel *pc);

/* Iterate over the headers of pc (none unless hdr_count > 0). */
void	krx_parcel_iter_init(struct krx_parcel_iter *it,
	    const struct krx_parcel *pc);
/* Returns 1 with *h filled, 0 at the end, or a negative krx_err. */
int	krx_parcel_iter_next(struct krx_parcel_iter *it,
	    struct krx_parcel_hdr *h);

#endif
