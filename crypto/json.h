/*
 * json.h: a small, strict, bounded JSON (RFC 8259) reader for the
 * answers of KMS HTTP APIs, and a string writer for their requests.
 * Library grade: no globals, no logging, no allocation; the caller
 * gives the token array. Trusts nothing in the document: a KMS, or
 * whatever answers at its address, wrote it.
 *
 * krx_json_parse checks the whole document before anything is looked
 * up: exactly one value, optional whitespace around it; no BOM,
 * comments, trailing commas, single quotes, leading zeros, "+1", ".5",
 * NaN; strings are valid UTF-8 without control characters (no
 * overlong forms, no surrogates), escapes are the eight of RFC 8259
 * plus \uXXXX with surrogate pairs properly paired; nesting is at most
 * KRX_JSON_MAX_DEPTH deep. It fills one token per value and per object
 * key, in document order; a container's token comes before its
 * children, and `next` skips its whole subtree.
 *
 * Tokens point into the document by offset, so the document must stay
 * in place while they are used. Values are never converted: strings are
 * unescaped on demand (krx_json_string, krx_json_base64) straight into
 * the caller's buffer (which may then hold a secret: the caller wipes).
 */
#ifndef KRX_CRYPTO_JSON_H
#define KRX_CRYPTO_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define KRX_JSON_MAX_DEPTH	32
#define KRX_JSON_MAX_LEN	(16u * 1024 * 1024)	/* document bytes */
#define KRX_JSON_MAX_KEY	256	/* longest key krx_json_member finds */

enum krx_json_type {
	KRX_JSON_NONE = 0,
	KRX_JSON_OBJECT = 1,
	KRX_JSON_ARRAY = 2,
	KRX_JSON_STRING = 3,	/* also every object key */
	KRX_JSON_NUMBER = 4,
	KRX_JSON_TRUE = 5,
	KRX_JSON_FALSE = 6,
	KRX_JSON_NULL = 7
};

struct krx_json_tok {
	uint8_t		 type;	/* enum krx_json_type */
	uint32_t	 start;	/* first byte; of a string: after the '"' */
	uint32_t	 len;	/* bytes; of a string: raw, without quotes */
	uint32_t	 next;	/* the token after this one's subtree */
	uint32_t	 count;	/* object: members; array: elements */
};

/*
 * Parse len bytes at s into at most max tokens; *ntok is the number
 * used (token 0 is the document's value). Returns 0, or:
 * KRX_E_TRUNCATED when the document ends inside a value (or is empty),
 * KRX_E_TRAILING for anything but whitespace after the value,
 * KRX_E_TOO_BIG over max tokens, KRX_JSON_MAX_DEPTH or
 * KRX_JSON_MAX_LEN bytes, KRX_E_MALFORMED for anything else. *ntok is
 * 0 on error.
 */
int	krx_json_parse(const char *s, size_t len, struct krx_json_tok *t,
	    size_t max, size_t *ntok);

/*
 * The value of member key (a NUL-terminated UTF-8 string, compared with
 * the unescaped key) of the object at index obj: 0 with *val its token
 * index; KRX_E_NOTFOUND when absent; KRX_E_MALFORMED when the key is
 * there twice (an ambiguous document) or obj is not an object;
 * KRX_E_RANGE for a key over KRX_JSON_MAX_KEY bytes.
 */
int	krx_json_member(const char *s, const struct krx_json_tok *t,
	    size_t ntok, size_t obj, const char *key, size_t *val);
/*
 * As krx_json_member along a path of keys separated by '.' from token
 * 0 ("KeyMetadata.KeyId"); every step but the last must be an object,
 * or an array when the next step is a decimal index without a leading
 * zero ("errors.0": the first element; KRX_E_NOTFOUND past the end).
 * KRX_E_RANGE also for an empty step.
 */
int	krx_json_path(const char *s, const struct krx_json_tok *t,
	    size_t ntok, const char *path, size_t *val);

/*
 * Element idx of the array at index arr: 0 with *val its token index;
 * KRX_E_NOTFOUND past its end; KRX_E_MALFORMED when arr is not an
 * array.
 */
int	krx_json_element(const struct krx_json_tok *t, size_t ntok,
	    size_t arr, size_t idx, size_t *val);

/*
 * The number token t[i] as an int64_t: 0; KRX_E_RANGE when t[i] is not
 * a number, has a fraction or an exponent, or is out of range. *v is 0
 * on error.
 */
int	krx_json_int64(const char *s, const struct krx_json_tok *t,
	    size_t i, int64_t *v);

/*
 * The string token t[i] unescaped into out (size outsz), NUL-terminated;
 * *outlen (may be NULL) its length. Returns 0; KRX_E_RANGE when t[i] is
 * not a string; KRX_E_TOO_BIG when it does not fit (out is then empty);
 * KRX_E_MALFORMED when it holds U+0000 (which no C string can).
 */
int	krx_json_string(const char *s, const struct krx_json_tok *t,
	    size_t i, char *out, size_t outsz, size_t *outlen);
/*
 * The string token t[i] decoded as standard base64 with padding (the
 * JSON form of AWS binary fields) into out: 0 with *outlen the byte
 * count; KRX_E_RANGE when not a string; KRX_E_MALFORMED when not
 * canonical base64 (length a multiple of 4, padding only at the end,
 * zero bits in the last group's unused bits); KRX_E_TOO_BIG when over
 * outsz. out is wiped (zeroed) on error.
 */
int	krx_json_base64(const char *s, const struct krx_json_tok *t,
	    size_t i, uint8_t *out, size_t outsz, size_t *outlen);

/* Whether the string token t[i] equals the n bytes at p, unescaped. */
int	krx_json_string_eq(const char *s, const struct krx_json_tok *t,
	    size_t i, const char *p, size_t n);

/*
 * Append n bytes at p as a JSON string (quotes included): '"', '\\'
 * and control characters escaped, other bytes copied. The caller gives
 * valid UTF-8. Returns 0, or KRX_E_NOMEM (b's sticky error).
 */
int	krx_json_put_string(struct krx_buf *b, const char *p, size_t n);
/* Append standard base64 with padding of n bytes, quoted. */
int	krx_json_put_base64(struct krx_buf *b, const uint8_t *p, size_t n);

#endif
