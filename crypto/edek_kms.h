/*
 * edek_kms.h: the EDEK byte formats Kroxylicious' remote KMS providers
 * write into field 3 of the wrapper, byte for byte, so that krx and
 * Kroxylicious read each other's records under the same KMS. Library
 * grade: no logging, no globals, no allocation. Parsers trust nothing:
 * EDEKs come from record values on a broker.
 *
 *   Vault  uvarint(N) | key name (N) | "vault:v<version>:<base64>" to
 *          the end (VaultEdekSerde; no version byte)
 *   AWS    0x00 | uvarint(N) | KeyId (N) | CiphertextBlob to the end
 *          (AwsKmsEdekSerde)
 *   Azure  0x00 | u8 N | key name | u8 V | vault name | u8 key type |
 *          16 raw version bytes | wrapped DEK to the end, when the key
 *          version is exactly 32 lowercase hex characters; otherwise
 *          0x01 | ... | u8 key type | u8 L | version (L, UTF-8) |
 *          wrapped DEK to the end (AzureKeyVaultEdekSerde)
 *
 * Every parser is strict: the whole EDEK is at most KRX_WRAPPER_EDEK_MAX
 * bytes, each length is bounded, varints are minimal, character sets are
 * checked, and the trailing field is at least one byte. Every serializer
 * applies the same checks to its input, so what it writes parses back
 * to the same fields.
 *
 * Reference: ../shared/research/kroxylicious-encryption.md section 2.6.
 */
#ifndef KRX_CRYPTO_EDEK_KMS_H
#define KRX_CRYPTO_EDEK_KMS_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/*
 * Vault: a transit key name is what Vault's path pattern admits,
 * [A-Za-z0-9_] at both ends and [A-Za-z0-9_.-] between; the ciphertext
 * is "vault:v" | version (decimal, 1..2^31-1, no leading zero) | ":" |
 * standard base64 with padding (a multiple of 4 characters, at least 4).
 */
#define KRX_EDEK_VAULT_NAME_MAX		255
#define KRX_EDEK_VAULT_VERSION_MAX	0x7fffffffu

/* AWS: a KeyId (a key UUID, "mrk-" + hex, or an ARN) of [A-Za-z0-9:/_-]. */
#define KRX_EDEK_AWS_VERSION		0x00
#define KRX_EDEK_AWS_KEY_ID_MAX		256

/*
 * Azure: key names 1..127 of [A-Za-z0-9-]; vault names 3..24 of
 * [A-Za-z0-9-]; a v1 key version is valid UTF-8 of exactly 32 UTF-16
 * units (as Kroxylicious counts them), at most 127 bytes, without
 * control characters or '/'.
 */
#define KRX_EDEK_AZURE_V0_HEX		0x00
#define KRX_EDEK_AZURE_V1_STRING	0x01
#define KRX_EDEK_AZURE_NAME_MAX		127
#define KRX_EDEK_AZURE_VAULT_MIN	3
#define KRX_EDEK_AZURE_VAULT_MAX	24
#define KRX_EDEK_AZURE_VERSION_UNITS	32
#define KRX_EDEK_AZURE_VERSION_MAX	127	/* bytes */
#define KRX_EDEK_AZURE_VERSION_RAW	16	/* v0 */

enum krx_edek_azure_kty {
	KRX_EDEK_AZURE_RSA = 0,
	KRX_EDEK_AZURE_RSA_HSM = 1,
	KRX_EDEK_AZURE_OCT = 2,
	KRX_EDEK_AZURE_OCT_HSM = 3
};

/* A Vault EDEK: views into the bytes it was parsed from (or is built of). */
struct krx_edek_vault {
	const char	*key_name;	/* not NUL-terminated */
	size_t		 key_name_len;
	const char	*ciphertext;	/* "vault:vN:...", not NUL-terminated */
	size_t		 ciphertext_len;
	uint32_t	 key_version;	/* N; set by parse, ignored by
					 * serialize (the string carries it) */
};

/* An AWS EDEK: views. */
struct krx_edek_aws {
	const char	*key_id;	/* not NUL-terminated */
	size_t		 key_id_len;
	const uint8_t	*blob;		/* CiphertextBlob */
	size_t		 blob_len;
};

/*
 * An Azure EDEK: views, except the key version, held here as text (a v0
 * EDEK carries it as 16 raw bytes, given back as 32 lowercase hex).
 */
struct krx_edek_azure {
	const char	*key_name;	/* not NUL-terminated */
	size_t		 key_name_len;
	const char	*vault_name;	/* not NUL-terminated */
	size_t		 vault_name_len;
	int		 key_type;	/* enum krx_edek_azure_kty */
	/* NUL-terminated */
	char		 version[KRX_EDEK_AZURE_VERSION_MAX + 1];
	size_t		 version_len;
	int		 format;	/* parse: the version byte read (0 or
					 * 1); serialize ignores it */
	const uint8_t	*wrapped;	/* the wrapped DEK */
	size_t		 wrapped_len;
};

/*
 * Parse len bytes at p. Return 0, or: KRX_E_TOO_BIG for an EDEK over
 * KRX_WRAPPER_EDEK_MAX bytes or a length over its bound;
 * KRX_E_TRUNCATED when the input ends inside a field or the trailing
 * field is empty; KRX_E_UNSUPPORTED for an AWS or Azure version byte or
 * an Azure key type krx does not know; KRX_E_MALFORMED for anything
 * else (a character set, a zero or non-minimal length, the Vault
 * ciphertext's form). *e is zeroed on error. The views point into p.
 *
 * An Azure v1 EDEK whose version happens to be 32 lowercase hex
 * characters is accepted (Kroxylicious reads it), although
 * krx_edek_azure_serialize writes such a version in the v0 form.
 */
int	krx_edek_vault_parse(const uint8_t *p, size_t len,
	    struct krx_edek_vault *e);
int	krx_edek_aws_parse(const uint8_t *p, size_t len,
	    struct krx_edek_aws *e);
int	krx_edek_azure_parse(const uint8_t *p, size_t len,
	    struct krx_edek_azure *e);

/*
 * Append e's serialized form to out. Return 0; KRX_E_MALFORMED or
 * KRX_E_RANGE (a key type) when a field breaks the rules above;
 * KRX_E_TOO_BIG when a field or the whole EDEK is over its bound;
 * KRX_E_NOMEM. On error out keeps its previous length (and, for
 * KRX_E_NOMEM, its sticky error).
 */
int	krx_edek_vault_serialize(const struct krx_edek_vault *e,
	    struct krx_buf *out);
int	krx_edek_aws_serialize(const struct krx_edek_aws *e,
	    struct krx_buf *out);
int	krx_edek_azure_serialize(const struct krx_edek_azure *e,
	    struct krx_buf *out);

/*
 * Set e->version from s (n bytes): 0, or KRX_E_MALFORMED when it is not
 * a valid key version (see above), KRX_E_TOO_BIG when over 127 bytes.
 */
int	krx_edek_azure_set_version(struct krx_edek_azure *e, const char *s,
	    size_t n);

/*
 * Azure key types by their "kty" names: "RSA", "RSA-HSM", "oct",
 * "oct-HSM" (exact case). _kty returns the enum value or -1; _kty_name
 * returns the name or NULL for a value out of range.
 */
int		 krx_edek_azure_kty(const char *s, size_t n);
const char	*krx_edek_azure_kty_name(int kty);

#endif
