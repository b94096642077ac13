/*
 * json_vault.h: a small, bounded JSON reader for the answers of
 * HashiCorp Vault (Transit and auth methods), inside keysvc. It reads
 * no more than it is asked: a value found by a path of object member
 * names (and array indexes) in a document checked whole first. Library
 * style (no globals, no logging, no allocation); trusts nothing in the
 * document: every read is bounded by its length, nesting by
 * KRX_VJSON_MAX_DEPTH.
 *
 * Paths are member names separated by '.'; a segment of digits indexes
 * an array: "data.plaintext", "auth.client_token", "errors.0". When an
 * object has a member twice, the first is used.
 *
 * To be merged with the AWS provider's reader later.
 */
#ifndef KRX_KEYSVC_JSON_VAULT_H
#define KRX_KEYSVC_JSON_VAULT_H

#include <stddef.h>
#include <stdint.h>

#define KRX_VJSON_MAX_DEPTH	32

/*
 * Is p (len bytes) exactly one JSON value (RFC 8259), surrounded by
 * white space at most, nested at most KRX_VJSON_MAX_DEPTH deep, without
 * control characters in strings or bad escapes? Returns 0 or
 * KRX_E_MALFORMED (KRX_E_TOO_BIG when nested too deep).
 */
int	krx_vjson_check(const char *p, size_t len);

/*
 * The string at path, unescaped (\uXXXX as UTF-8) into out, NUL
 * terminated; *n (may be NULL) gets its length without the NUL. Returns
 * 0; KRX_E_NOTFOUND when the path is absent or the value is not a
 * string (null included); KRX_E_TOO_BIG when it needs more than outlen
 * bytes with the NUL; KRX_E_MALFORMED when the document fails
 * krx_vjson_check. out is "" on error (when outlen > 0), and may hold
 * secrets: the caller wipes it.
 */
int	krx_vjson_string(const char *p, size_t len, const char *path,
	    char *out, size_t outlen, size_t *n);

/*
 * The integer at path (a JSON number without fraction or exponent, in
 * int64_t). Returns 0; KRX_E_NOTFOUND when absent or not a number;
 * KRX_E_RANGE for a fraction, exponent or one out of range;
 * KRX_E_MALFORMED as above. *v is 0 on error.
 */
int	krx_vjson_int(const char *p, size_t len, const char *path,
	    int64_t *v);

#endif
