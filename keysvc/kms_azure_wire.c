/*
 * kms_azure_wire.c: the bytes AzureKeyVaultKmsService sends and reads
 * (kms_azure.h has the contract): Key Vault 7.4 URLs and wrapkey/
 * unwrapkey bodies, KeyBundle and KeyOperationResult answers, error
 * answers, the token endpoints' form and answers, base64url, krx's KEK
 * id for an Azure key. Pure functions: no I/O, no logging. Trusts
 * nothing it parses (answers are bounded by the caller's HTTP client
 * and parsed with crypto/json.c's strict reader).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "crypto/edek_kms.h"
#include "crypto/json.h"
#include "crypto/secret.h"
#include "keysvc/kms.h"
#include "keysvc/kms_azure.h"

#define AZ_TOKENS	256	/* JSON tokens of an answer */

static const char az_hex[] = "0123456789ABCDEF";

int
krx_azure_name_ok(const char *s, size_t n)
{
	size_t	 i;

	if (n == 0 || n > KRX_EDEK_AZURE_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

const char *
krx_azure_alg(int kty)
{
	return kty == KRX_EDEK_AZURE_OCT || kty == KRX_EDEK_AZURE_OCT_HSM ?
	    "A256GCM" : "RSA-OAEP-256";
}

/* ---- KEK ids ---- */

int
krx_azure_kek_format(const struct krx_azure_kek *k, char *out, size_t outsz,
    size_t *len)
{
	const char	*kty = krx_edek_azure_kty_name(k->kty);
	int		 n;

	if (kty == NULL)
		return -1;
	n = snprintf(out, outsz, "%s/%s/%s/%s", k->vault, k->name,
	    k->version, kty);
	if (n < 0 || (size_t)n >= outsz || n > KRX_AZURE_KEK_MAX)
		return -1;
	*len = (size_t)n;
	return 0;
}

/* The next '/'-separated field of [*p, end) into out (size outsz). */
static int
az_field(const char **p, const char *end, char *out, size_t outsz, int last)
{
	const char	*q = *p;
	size_t		 n;

	while (q < end && *q != '/')
		q++;
	if ((q < end) == last)
		return -1;
	n = (size_t)(q - *p);
	if (n == 0 || n >= outsz)
		return -1;
	memcpy(out, *p, n);
	out[n] = '\0';
	*p = q < end ? q + 1 : q;
	return 0;
}

int
krx_azure_kek_parse(const char *s, size_t n, struct krx_azure_kek *k)
{
	struct krx_edek_azure	 e;
	const char		*p = s, *end = s + n;
	char			 kty[16];
	size_t			 vn;

	memset(k, 0, sizeof(*k));
	if (n > KRX_AZURE_KEK_MAX || memchr(s, '\0', n) != NULL ||
	    az_field(&p, end, k->vault, sizeof(k->vault), 0) != 0 ||
	    az_field(&p, end, k->name, sizeof(k->name), 0) != 0 ||
	    az_field(&p, end, k->version, sizeof(k->version), 0) != 0 ||
	    az_field(&p, end, kty, sizeof(kty), 1) != 0)
		goto bad;
	vn = strlen(k->vault);
	memset(&e, 0, sizeof(e));
	if (vn < KRX_EDEK_AZURE_VAULT_MIN || !krx_azure_name_ok(k->vault, vn) ||
	    !krx_azure_name_ok(k->name, strlen(k->name)) ||
	    krx_edek_azure_set_version(&e, k->version,
	    strlen(k->version)) != KRX_OK ||
	    (k->kty = krx_edek_azure_kty(kty, strlen(kty))) < 0)
		goto bad;
	return 0;
bad:
	memset(k, 0, sizeof(*k));
	return -1;
}

/* ---- requests ---- */

/* Percent-encode all but RFC 3986's unreserved characters. */
static void
az_pct_put(struct krx_buf *b, const uint8_t *s, size_t n)
{
	char	 e[3];
	size_t	 i;

	for (i = 0; i < n; i++) {
		if ((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' &&
		    s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '-' || s[i] == '.' || s[i] == '_' || s[i] == '~') {
			krx_buf_put(b, &s[i], 1);
			continue;
		}
		e[0] = '%';
		e[1] = az_hex[s[i] >> 4];
		e[2] = az_hex[s[i] & 15];
		krx_buf_put(b, e, 3);
	}
}

/* The buffer's bytes as a new NUL-terminated string; b is freed. */
static char *
az_buf_str(struct krx_buf *b)
{
	char	*s;

	krx_buf_put_u8(b, 0);
	if (b->err != KRX_OK)
		fatalx("out of memory for a KMS request");
	s = xmalloc(b->len);
	memcpy(s, b->data, b->len);
	krx_buf_free(b);
	return s;
}

char *
krx_azure_key_url(const char *vault_url, const char *name,
    const char *version, const char *op)
{
	struct krx_buf	 b;

	krx_buf_init(&b, 256);
	krx_buf_put(&b, vault_url, strlen(vault_url));
	krx_buf_put(&b, "/keys/", 6);
	az_pct_put(&b, (const uint8_t *)name, strlen(name));
	if (op != NULL) {
		krx_buf_put(&b, "/", 1);
		az_pct_put(&b, (const uint8_t *)version, strlen(version));
		krx_buf_put(&b, "/", 1);
		krx_buf_put(&b, op, strlen(op));
	}
	krx_buf_put(&b, "?api-version=" KRX_AZURE_API_VERSION,
	    strlen("?api-version=" KRX_AZURE_API_VERSION));
	return az_buf_str(&b);
}

void
krx_azure_b64url_put(struct krx_buf *b, const uint8_t *p, size_t n)
{
	unsigned char	*t;
	size_t		 tlen = 4 * ((n + 2) / 3) + 1, i;
	int		 m;

	t = xmalloc(tlen);
	m = EVP_EncodeBlock(t, p, (int)n);
	while (m > 0 && t[m - 1] == '=')
		m--;
	for (i = 0; i < (size_t)m; i++)
		t[i] = t[i] == '+' ? '-' : t[i] == '/' ? '_' : t[i];
	krx_buf_put(b, t, (size_t)m);
	OPENSSL_cleanse(t, tlen);
	free(t);
}

static int
az_b64url_val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '-' ? 62 : c == '_' ? 63 : -1;
}

int
krx_azure_b64url_decode(const char *s, size_t n, uint8_t *out, size_t outsz,
    size_t *outlen)
{
	uint32_t	 acc = 0;
	size_t		 i, o = 0, bits = 0;
	int		 v;

	/* Padding, when there is any, must make a multiple of 4. */
	if (n > 0 && s[n - 1] == '=') {
		if (n % 4 != 0)
			return -1;
		n -= n >= 2 && s[n - 2] == '=' ? 2 : 1;
	}
	if (n % 4 == 1)
		goto bad;
	for (i = 0; i < n; i++) {
		if ((v = az_b64url_val(s[i])) < 0)
			goto bad;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= outsz)
				goto bad;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	/* The unused low bits of the last character must be zero. */
	if ((acc & ((1u << bits) - 1)) != 0)
		goto bad;
	*outlen = o;
	return 0;
bad:
	OPENSSL_cleanse(out, outsz);
	return -1;
}

void
krx_azure_wrap_body(struct krx_buf *b, int kty, const uint8_t *v, size_t n)
{
	const char	*alg = krx_azure_alg(kty);

	krx_buf_put(b, "{\"alg\":\"", 8);
	krx_buf_put(b, alg, strlen(alg));
	krx_buf_put(b, "\",\"value\":\"", 11);
	krx_azure_b64url_put(b, v, n);
	krx_buf_put(b, "\"}", 2);
}

/* ---- answers ---- */

static int
az_parse(const uint8_t *body, size_t len, struct krx_json_tok *t,
    size_t *n, char *detail, size_t dlen)
{
	if (krx_json_parse((const char *)body, len, t, AZ_TOKENS, n) !=
	    KRX_OK || t[0].type != KRX_JSON_OBJECT) {
		snprintf(detail, dlen, "invalid answer (not a JSON object)");
		return -1;
	}
	return 0;
}

/* Whether the array at t[a] holds the string op. */
static int
az_array_has(const char *b, const struct krx_json_tok *t, size_t a,
    const char *op)
{
	size_t	 i, k;

	for (i = a + 1, k = 0; k < t[a].count; k++, i = t[i].next)
		if (t[i].type == KRX_JSON_STRING &&
		    krx_json_string_eq(b, t, i, op, strlen(op)))
			return 1;
	return 0;
}

/* The last '/'-separated segment of kid's path, without query. */
static int
az_kid_version(const char *kid, size_t n, struct krx_azure_kek *k)
{
	struct krx_edek_azure	 e;
	const char		*end = kid + n, *q, *s;

	if ((q = memchr(kid, '?', n)) != NULL)
		end = q;
	if ((q = memchr(kid, '#', (size_t)(end - kid))) != NULL)
		end = q;
	if (end == kid || end[-1] == '/')
		return -1;
	for (s = end; s > kid && s[-1] != '/'; s--)
		;
	if (s == kid || (size_t)(end - s) > KRX_EDEK_AZURE_VERSION_MAX)
		return -1;
	memcpy(k->version, s, (size_t)(end - s));
	k->version[end - s] = '\0';
	memset(&e, 0, sizeof(e));
	return krx_edek_azure_set_version(&e, k->version,
	    strlen(k->version)) == KRX_OK ? 0 : -1;
}

enum krx_key_status
krx_azure_parse_key(const char *vault, const char *name, const uint8_t *body,
    size_t len, struct krx_azure_kek *k, char *detail, size_t dlen)
{
	struct krx_json_tok	 t[AZ_TOKENS];
	const char		*b = (const char *)body;
	char			 kid[KRX_AZURE_ID_MAX + 1], kty[16], ckty[20];
	size_t			 n, v, ops, en, kidlen, ktylen = 0;

	memset(k, 0, sizeof(*k));
	if (az_parse(body, len, t, &n, detail, dlen) != 0)
		return KRX_KEY_UNAVAILABLE;
	if (krx_json_path(b, t, n, "key.kid", &v) != KRX_OK ||
	    krx_json_string(b, t, v, kid, sizeof(kid), &kidlen) != KRX_OK ||
	    az_kid_version(kid, kidlen, k) != 0) {
		snprintf(detail, dlen, "invalid answer (key.kid missing or "
		    "without a usable version)");
		return KRX_KEY_UNAVAILABLE;
	}
	if (krx_json_path(b, t, n, "key.key_ops", &ops) != KRX_OK ||
	    t[ops].type != KRX_JSON_ARRAY ||
	    krx_json_path(b, t, n, "attributes.enabled", &en) != KRX_OK ||
	    (t[en].type != KRX_JSON_TRUE && t[en].type != KRX_JSON_FALSE) ||
	    krx_json_path(b, t, n, "key.kty", &v) != KRX_OK ||
	    krx_json_string(b, t, v, kty, sizeof(kty), &ktylen) != KRX_OK)
		kty[0] = '\0';
	if (kty[0] == '\0') {
		snprintf(detail, dlen, "invalid answer (key.kty, key.key_ops "
		    "or attributes.enabled missing)");
		return KRX_KEY_UNAVAILABLE;
	}
	if (!az_array_has(b, t, ops, "wrapKey") ||
	    !az_array_has(b, t, ops, "unwrapKey")) {
		snprintf(detail, dlen, "key %s cannot be used: its key_ops do "
		    "not hold both wrapKey and unwrapKey", name);
		return KRX_KEY_DENIED;
	}
	if (t[en].type != KRX_JSON_TRUE) {
		snprintf(detail, dlen, "key %s cannot be used: it is not "
		    "enabled", name);
		return KRX_KEY_DENIED;
	}
	if ((k->kty = krx_edek_azure_kty(kty, ktylen)) < 0) {
		krx_kms_clean(ckty, sizeof(ckty), kty, ktylen);
		snprintf(detail, dlen, "key %s cannot be used: key type %s is "
		    "not supported (RSA, RSA-HSM, oct, oct-HSM are)", name,
		    ckty);
		return KRX_KEY_DENIED;
	}
	snprintf(k->vault, sizeof(k->vault), "%s", vault);
	snprintf(k->name, sizeof(k->name), "%s", name);
	return KRX_KEY_OK;
}

/* Whether member key of the answer is there and not empty or null. */
static int
az_has(const char *b, const struct krx_json_tok *t, size_t n,
    const char *key)
{
	size_t	 v;

	if (krx_json_member(b, t, n, 0, key, &v) != KRX_OK)
		return 0;
	return t[v].type != KRX_JSON_NULL && !(t[v].type == KRX_JSON_STRING &&
	    t[v].len == 0);
}

enum krx_key_status
krx_azure_parse_value(enum krx_azure_op op, const uint8_t *body, size_t len,
    uint8_t *out, size_t outsz, size_t *outlen, char *detail, size_t dlen)
{
	struct krx_json_tok	 t[AZ_TOKENS];
	const char		*b = (const char *)body;
	char			*s;
	size_t			 n, v, slen = 0, smax = 4 * (outsz / 3 + 1) + 4;
	int			 r;

	if (az_parse(body, len, t, &n, detail, dlen) != 0)
		return KRX_KEY_UNAVAILABLE;
	/*
	 * Kroxylicious sends and keeps `value` only (no iv, tag or aad in
	 * the request or the EDEK), and so does krx. A wrapkey answer that
	 * puts the A256GCM IV and tag beside the value (one reading of the
	 * KeyOperationResult docs) makes a wrapped DEK that value alone can
	 * never unwrap: refuse it rather than write such an EDEK.
	 */
	if (op == KRX_AZURE_WRAP && (az_has(b, t, n, "iv") ||
	    az_has(b, t, n, "tag") || az_has(b, t, n, "aad"))) {
		snprintf(detail, dlen, "refused: the wrapkey answer carries a "
		    "separate iv/tag (A256GCM); the Azure EDEK format keeps "
		    "only the wrapped value, so the DEK could never be "
		    "unwrapped");
		return KRX_KEY_INVALID;
	}
	s = xmalloc(smax);
	r = krx_json_member(b, t, n, 0, "value", &v) == KRX_OK &&
	    krx_json_string(b, t, v, s, smax, &slen) == KRX_OK &&
	    slen > 0 && krx_azure_b64url_decode(s, slen, out, outsz,
	    outlen) == 0 && *outlen > 0 ? 0 : -1;
	OPENSSL_cleanse(s, smax);
	free(s);
	if (r != 0) {
		snprintf(detail, dlen, "invalid answer (value missing, empty, "
		    "not base64url or over %zu bytes)", outsz);
		return op == KRX_AZURE_UNWRAP ? KRX_KEY_INVALID :
		    KRX_KEY_UNAVAILABLE;
	}
	return KRX_KEY_OK;
}

/* The string member key of object obj, cleaned, or "". */
static void
az_str(const char *b, const struct krx_json_tok *t, size_t n, size_t obj,
    const char *key, char *out, size_t outsz)
{
	char	 raw[512];
	size_t	 v, len;

	out[0] = '\0';
	if (krx_json_member(b, t, n, obj, key, &v) == KRX_OK &&
	    krx_json_string(b, t, v, raw, sizeof(raw), &len) == KRX_OK)
		krx_kms_clean(out, outsz, raw, len);
}

enum krx_key_status
krx_azure_error(enum krx_azure_op op, long status, const uint8_t *body,
    size_t len, char *detail, size_t dlen)
{
	struct krx_json_tok	 t[AZ_TOKENS];
	const char		*b = (const char *)body, *what;
	char			 code[64], inner[64], msg[161];
	enum krx_key_status	 st;
	size_t			 n, e, ie;

	code[0] = inner[0] = msg[0] = '\0';
	if (krx_json_parse(b, len, t, AZ_TOKENS, &n) == KRX_OK &&
	    krx_json_member(b, t, n, 0, "error", &e) == KRX_OK &&
	    t[e].type == KRX_JSON_OBJECT) {
		az_str(b, t, n, e, "code", code, sizeof(code));
		az_str(b, t, n, e, "message", msg, sizeof(msg));
		if (krx_json_member(b, t, n, e, "innererror", &ie) == KRX_OK &&
		    t[ie].type == KRX_JSON_OBJECT)
			az_str(b, t, n, ie, "code", inner, sizeof(inner));
	}
	if (status == 404) {
		st = KRX_KEY_NOT_FOUND;
		what = "not found";
	} else if (status == 401 || status == 403) {
		st = KRX_KEY_DENIED;
		what = "access denied";
	} else if (status == 400 && op == KRX_AZURE_UNWRAP) {
		st = KRX_KEY_INVALID;
		what = "EDEK rejected";
	} else {
		st = KRX_KEY_UNAVAILABLE;
		what = status >= 500 || status == 429 || status == 408 ?
		    "unavailable" : "refused";
	}
	snprintf(detail, dlen, "%s (HTTP %ld%s%s%s%s%s%s)", what, status,
	    code[0] != '\0' ? ", " : "", code, inner[0] != '\0' ? "/" : "",
	    inner, msg[0] != '\0' ? ": " : "", msg);
	return st;
}

/* ---- tokens ---- */

void
krx_azure_form_put(struct krx_buf *b, const char *key, const uint8_t *v,
    size_t n, int first)
{
	char	 e[3];
	size_t	 i;

	if (!first)
		krx_buf_put(b, "&", 1);
	krx_buf_put(b, key, strlen(key));
	krx_buf_put(b, "=", 1);
	for (i = 0; i < n; i++) {
		if ((v[i] >= 'A' && v[i] <= 'Z') || (v[i] >= 'a' &&
		    v[i] <= 'z') || (v[i] >= '0' && v[i] <= '9') ||
		    v[i] == '.' || v[i] == '-' || v[i] == '*' || v[i] == '_') {
			krx_buf_put(b, &v[i], 1);
			continue;
		}
		if (v[i] == ' ') {
			krx_buf_put(b, "+", 1);
			continue;
		}
		e[0] = '%';
		e[1] = az_hex[v[i] >> 4];
		e[2] = az_hex[v[i] & 15];
		krx_buf_put(b, e, 3);
	}
	OPENSSL_cleanse(e, sizeof(e));
}

char *
krx_azure_imds_url(const char *endpoint, const char *resource)
{
	struct krx_buf	 b;
	size_t		 n = strlen(endpoint);

	while (n > 0 && endpoint[n - 1] == '/')
		n--;
	krx_buf_init(&b, 256);
	krx_buf_put(&b, endpoint, n);
	krx_buf_put(&b, "/metadata/identity/oauth2/token?api-version="
	    "2018-02-01", strlen("/metadata/identity/oauth2/token?"
	    "api-version=2018-02-01"));
	krx_azure_form_put(&b, "resource", (const uint8_t *)resource,
	    strlen(resource), 0);
	return az_buf_str(&b);
}

/* A positive count of seconds from digits (a number or a string). */
static int
az_seconds(const char *s, size_t n, long *out)
{
	long	 v = 0;
	size_t	 i;

	if (n == 0 || n > 12)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v <= 0)
		return -1;
	*out = v > KRX_AZURE_TOKEN_LIFE_MAX ? KRX_AZURE_TOKEN_LIFE_MAX : v;
	return 0;
}

static int
az_expires_in(const char *b, const struct krx_json_tok *t, size_t n,
    long *out)
{
	char	 s[16];
	size_t	 v, len;

	if (krx_json_member(b, t, n, 0, "expires_in", &v) != KRX_OK)
		return -1;
	if (t[v].type == KRX_JSON_NUMBER)
		return az_seconds(b + t[v].start, t[v].len, out);
	if (krx_json_string(b, t, v, s, sizeof(s), &len) != KRX_OK)
		return -1;
	return az_seconds(s, len, out);
}

int
krx_azure_parse_token(const uint8_t *body, size_t len,
    struct krx_secret **tok, long *expires_in, char *detail, size_t dlen)
{
	struct krx_json_tok	 t[AZ_TOKENS];
	const char		*b = (const char *)body;
	char			*s;
	size_t			 n, v, slen = 0, i;
	int			 ok;

	*tok = NULL;
	if (az_parse(body, len, t, &n, detail, dlen) != 0)
		return -1;
	if (krx_json_member(b, t, n, 0, "token_type", &v) != KRX_OK ||
	    !(t[v].type == KRX_JSON_STRING && t[v].len == 6 &&
	    strncasecmp(b + t[v].start, "Bearer", 6) == 0)) {
		snprintf(detail, dlen, "invalid token answer (token_type is "
		    "not Bearer)");
		return -1;
	}
	if (az_expires_in(b, t, n, expires_in) != 0) {
		snprintf(detail, dlen, "invalid token answer (expires_in "
		    "missing or not a positive number)");
		return -1;
	}
	s = xmalloc(KRX_AZURE_TOKEN_MAX + 1);
	ok = krx_json_member(b, t, n, 0, "access_token", &v) == KRX_OK &&
	    krx_json_string(b, t, v, s, KRX_AZURE_TOKEN_MAX + 1, &slen) ==
	    KRX_OK && slen > 0;
	for (i = 0; ok && i < slen; i++)
		ok = s[i] > 0x20 && s[i] < 0x7f;
	if (ok && (*tok = krx_secret_new_copy(s, slen)) == NULL)
		fatalx("out of memory for a bearer token");
	OPENSSL_cleanse(s, KRX_AZURE_TOKEN_MAX + 1);
	free(s);
	if (!ok) {
		snprintf(detail, dlen, "invalid token answer (access_token "
		    "missing, empty, over %d bytes or not printable)",
		    KRX_AZURE_TOKEN_MAX);
		return -1;
	}
	return 0;
}

enum krx_key_status
krx_azure_token_error(int imds, long status, const uint8_t *body,
    size_t len, char *detail, size_t dlen)
{
	struct krx_json_tok	 t[AZ_TOKENS];
	const char		*b = (const char *)body;
	char			 err[64], desc[121], codes[24];
	enum krx_key_status	 st;
	size_t			 n, v;

	err[0] = desc[0] = codes[0] = '\0';
	if (krx_json_parse(b, len, t, AZ_TOKENS, &n) == KRX_OK &&
	    t[0].type == KRX_JSON_OBJECT) {
		az_str(b, t, n, 0, "error", err, sizeof(err));
		if (imds)
			az_str(b, t, n, 0, "error_description", desc,
			    sizeof(desc));
		else if (krx_json_member(b, t, n, 0, "error_codes", &v) ==
		    KRX_OK && t[v].type == KRX_JSON_ARRAY && t[v].count > 0 &&
		    t[v + 1].type == KRX_JSON_NUMBER && t[v + 1].len < 12)
			snprintf(codes, sizeof(codes), "AADSTS%.*s",
			    (int)t[v + 1].len, b + t[v + 1].start);
	}
	st = status == 400 || status == 401 || status == 403 ?
	    KRX_KEY_DENIED : KRX_KEY_UNAVAILABLE;
	snprintf(detail, dlen, "%s %s (HTTP %ld%s%s%s%s%s%s)", imds ?
	    "managed identity token" : "OAuth token", st == KRX_KEY_DENIED ?
	    "refused" : "unavailable", status, err[0] != '\0' ? ", " : "",
	    err, codes[0] != '\0' ? ", " : "", codes, desc[0] != '\0' ?
	    ": " : "", desc);
	return st;
}
