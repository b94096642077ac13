/*
 * json_test.c: the strict JSON reader and writer (crypto/json.c): AWS
 * KMS answers as they come, lookups by member and path, duplicate keys,
 * every kind of malformed document (with the error class), truncation
 * at every prefix, token and depth bounds, UTF-8 and escapes (surrogate
 * pairs), base64 (canonical only, bounded output), and the writer's
 * escapes read back by the reader.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "common/buf.h"
#include "common/err.h"
#include "crypto/json.h"

#define NTOK	128

static struct krx_json_tok	 T[NTOK];
static size_t			 N;

static int
parse(const char *s)
{
	return krx_json_parse(s, strlen(s), T, NTOK, &N);
}

static const char describe_key[] =
    "{\"KeyMetadata\":{\"AWSAccountId\":\"123456789012\","
    "\"Arn\":\"arn:aws:kms:us-east-1:123456789012:key/"
    "1234abcd-12ab-34cd-56ef-1234567890ab\",\"CreationDate\":1.7E9,"
    "\"Enabled\":true,\"EncryptionAlgorithms\":[\"SYMMETRIC_DEFAULT\"],"
    "\"KeyId\":\"1234abcd-12ab-34cd-56ef-1234567890ab\","
    "\"KeyManager\":\"CUSTOMER\",\"MultiRegion\":false,"
    "\"Origin\":\"AWS_KMS\",\"Description\":null,"
    "\"KeyState\":\"Enabled\"}}";

Test(json, describe_key)
{
	char	 out[64];
	size_t	 v, len;

	cr_assert_eq(parse(describe_key), KRX_OK);
	cr_assert_eq(T[0].type, KRX_JSON_OBJECT);
	cr_assert_eq(T[0].count, 1);
	cr_assert_eq(T[0].next, N);
	cr_assert_eq(krx_json_path(describe_key, T, N, "KeyMetadata.KeyId",
	    &v), KRX_OK);
	cr_assert_eq(krx_json_string(describe_key, T, v, out, sizeof(out),
	    &len), KRX_OK);
	cr_assert_str_eq(out, "1234abcd-12ab-34cd-56ef-1234567890ab");
	cr_assert_eq(len, 36);
	cr_assert_eq(krx_json_path(describe_key, T, N, "KeyMetadata.KeyState",
	    &v), KRX_OK);
	cr_assert(krx_json_string_eq(describe_key, T, v, "Enabled", 7));
	cr_assert_eq(krx_json_path(describe_key, T, N, "KeyMetadata.Enabled",
	    &v), KRX_OK);
	cr_assert_eq(T[v].type, KRX_JSON_TRUE);
	cr_assert_eq(krx_json_path(describe_key, T, N,
	    "KeyMetadata.Description", &v), KRX_OK);
	cr_assert_eq(T[v].type, KRX_JSON_NULL);
	cr_assert_eq(krx_json_path(describe_key, T, N, "KeyMetadata.Nope",
	    &v), KRX_E_NOTFOUND);
	cr_assert_eq(krx_json_path(describe_key, T, N, "KeyId", &v),
	    KRX_E_NOTFOUND);	/* only at depth 2 */
	/* Through a string: not an object. */
	cr_assert_eq(krx_json_path(describe_key, T, N,
	    "KeyMetadata.KeyId.x", &v), KRX_E_MALFORMED);
	cr_assert_eq(krx_json_path(describe_key, T, N, "KeyMetadata..KeyId",
	    &v), KRX_E_RANGE);
	/* A number is no string. */
	cr_assert_eq(krx_json_path(describe_key, T, N,
	    "KeyMetadata.CreationDate", &v), KRX_OK);
	cr_assert_eq(T[v].type, KRX_JSON_NUMBER);
	cr_assert_eq(krx_json_string(describe_key, T, v, out, sizeof(out),
	    &len), KRX_E_RANGE);
}

Test(json, members_skip_subtrees)
{
	static const char	 s[] = "{\"a\":{\"b\":[1,{\"b\":2},[[]]],"
	    "\"c\":{}},\"b\":\"top\",\"d\":[]}";
	size_t			 v;

	cr_assert_eq(parse(s), KRX_OK);
	cr_assert_eq(T[0].count, 3);
	cr_assert_eq(krx_json_member(s, T, N, 0, "b", &v), KRX_OK);
	cr_assert(krx_json_string_eq(s, T, v, "top", 3));
	cr_assert_eq(krx_json_member(s, T, N, 0, "d", &v), KRX_OK);
	cr_assert_eq(T[v].type, KRX_JSON_ARRAY);
	cr_assert_eq(T[v].count, 0);
	cr_assert_eq(krx_json_path(s, T, N, "a.c", &v), KRX_OK);
	cr_assert_eq(T[v].type, KRX_JSON_OBJECT);
	cr_assert_eq(krx_json_path(s, T, N, "a.b", &v), KRX_OK);
	cr_assert_eq(T[v].count, 3);
	/* Not an object. */
	cr_assert_eq(krx_json_member(s, T, N, v, "b", &v), KRX_E_MALFORMED);
}

Test(json, duplicate_key_is_ambiguous)
{
	static const char	 s[] = "{\"KeyId\":\"a\",\"KeyId\":\"b\"}";
	static const char	 e[] = "{\"K\\u0065yId\":\"a\",\"KeyId\":\"b\"}";
	size_t			 v;

	cr_assert_eq(parse(s), KRX_OK);
	cr_assert_eq(krx_json_member(s, T, N, 0, "KeyId", &v),
	    KRX_E_MALFORMED);
	/* Also when one of them is spelled with an escape. */
	cr_assert_eq(parse(e), KRX_OK);
	cr_assert_eq(krx_json_member(e, T, N, 0, "KeyId", &v),
	    KRX_E_MALFORMED);
}

Test(json, scalars_at_top)
{
	static const char *const ok[] = {
		"0", "-0", "12", "-1.5e+3", "1E-2", "0.0", "true", "false",
		"null", "\"\"", " \t\r\n[ ] \n", "{}", "[1,[2,[3]]]",
		"\"\\u00e9\\ud83d\\ude00\\\"\\\\\\/\\b\\f\\n\\r\\t\"",
		"\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"",
	};
	size_t	 i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		cr_assert_eq(parse(ok[i]), KRX_OK, "%s", ok[i]);
}

Test(json, malformed)
{
	static const struct { const char *s; int r; } bad[] = {
		{ "", KRX_E_TRUNCATED },
		{ "   ", KRX_E_TRUNCATED },
		{ "{", KRX_E_TRUNCATED },
		{ "{\"a\"", KRX_E_TRUNCATED },
		{ "{\"a\":", KRX_E_TRUNCATED },
		{ "{\"a\":1", KRX_E_TRUNCATED },
		{ "[1,", KRX_E_TRUNCATED },
		{ "\"abc", KRX_E_TRUNCATED },
		{ "\"\\u12", KRX_E_TRUNCATED },
		{ "tru", KRX_E_TRUNCATED },
		{ "-", KRX_E_TRUNCATED },
		{ "1.", KRX_E_TRUNCATED },
		{ "1e", KRX_E_TRUNCATED },
		{ "{} x", KRX_E_TRAILING },
		{ "{}{}", KRX_E_TRAILING },
		{ "1 2", KRX_E_TRAILING },
		{ "{,}", KRX_E_MALFORMED },
		{ "{\"a\":1,}", KRX_E_MALFORMED },
		{ "[1,]", KRX_E_MALFORMED },
		{ "[1 2]", KRX_E_MALFORMED },
		{ "{'a':1}", KRX_E_MALFORMED },
		{ "{a:1}", KRX_E_MALFORMED },
		{ "{\"a\" 1}", KRX_E_MALFORMED },
		{ "{\"a\":1 \"b\":2}", KRX_E_MALFORMED },
		{ "01", KRX_E_MALFORMED },
		{ "+1", KRX_E_MALFORMED },
		{ ".5", KRX_E_MALFORMED },
		{ "1.e5", KRX_E_MALFORMED },
		{ "-a", KRX_E_MALFORMED },
		{ "NaN", KRX_E_MALFORMED },
		{ "True", KRX_E_MALFORMED },
		{ "nul1", KRX_E_MALFORMED },
		{ "\"a\tb\"", KRX_E_MALFORMED },
		{ "\"\\x\"", KRX_E_MALFORMED },
		{ "\"\\u12g4\"", KRX_E_MALFORMED },
		{ "\"\\udc00\"", KRX_E_MALFORMED },	/* lone low */
		{ "\"\\ud800\"", KRX_E_MALFORMED },	/* lone high */
		{ "\"\\ud800\\u0041\"", KRX_E_MALFORMED },
		{ "\"\xc0\xaf\"", KRX_E_MALFORMED },	/* overlong */
		{ "\"\xed\xa0\x80\"", KRX_E_MALFORMED },	/* surrogate */
		{ "\"\xf4\x90\x80\x80\"", KRX_E_MALFORMED },	/* > 10FFFF */
		{ "\"\x80\"", KRX_E_MALFORMED },
		{ "\"\xe2\x82\"", KRX_E_MALFORMED },	/* cut, then '"' */
		{ "\xef\xbb\xbf{}", KRX_E_MALFORMED },	/* BOM */
		{ "/* c */ {}", KRX_E_MALFORMED },
	};
	size_t	 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(parse(bad[i].s), bad[i].r, "%s: %d", bad[i].s,
		    parse(bad[i].s));
		cr_assert_eq(N, 0);
	}
	/* A NUL byte inside the given length. */
	cr_assert_eq(krx_json_parse("[1,\0]", 5, T, NTOK, &N),
	    KRX_E_MALFORMED);
	cr_assert_eq(krx_json_parse("\"a\0\"", 4, T, NTOK, &N),
	    KRX_E_MALFORMED);
}

Test(json, every_prefix_is_truncated)
{
	size_t	 i, len = strlen(describe_key);

	for (i = 0; i < len; i++)
		cr_assert_eq(krx_json_parse(describe_key, i, T, NTOK, &N),
		    KRX_E_TRUNCATED, "prefix %zu", i);
	cr_assert_eq(krx_json_parse(describe_key, len, T, NTOK, &N), KRX_OK);
}

Test(json, bounds)
{
	char	 deep[2 * KRX_JSON_MAX_DEPTH + 3];
	size_t	 d;
	int	 r;

	/* Exactly the depth allowed, then one more. */
	for (d = KRX_JSON_MAX_DEPTH; d <= KRX_JSON_MAX_DEPTH + 1; d++) {
		memset(deep, '[', d);
		memset(deep + d, ']', d);
		deep[2 * d] = '\0';
		r = parse(deep);
		cr_assert_eq(r, d == KRX_JSON_MAX_DEPTH ? KRX_OK :
		    KRX_E_TOO_BIG, "depth %zu: %d", d, r);
	}
	/* Tokens: [1,2] needs 3. */
	cr_assert_eq(krx_json_parse("[1,2]", 5, T, 2, &N), KRX_E_TOO_BIG);
	cr_assert_eq(krx_json_parse("[1,2]", 5, T, 3, &N), KRX_OK);
	cr_assert_eq(N, 3);
	cr_assert_eq(krx_json_parse("{}", KRX_JSON_MAX_LEN + 1, T, NTOK, &N),
	    KRX_E_TOO_BIG);
}

Test(json, strings_unescape)
{
	static const char	 s[] =
	    "[\"a\\\"b\\\\c\\/d\\n\", \"\\u00e9\\ud83d\\ude00x\", \"\\u0000\","
	    "\"0123456789\"]";
	char			 out[16];
	size_t			 len;

	cr_assert_eq(parse(s), KRX_OK);
	cr_assert_eq(krx_json_string(s, T, 1, out, sizeof(out), &len),
	    KRX_OK);
	cr_assert_str_eq(out, "a\"b\\c/d\n");
	cr_assert_eq(krx_json_string(s, T, 2, out, sizeof(out), &len),
	    KRX_OK);
	cr_assert_str_eq(out, "\xc3\xa9\xf0\x9f\x98\x80x");
	cr_assert_eq(len, 7);
	cr_assert(krx_json_string_eq(s, T, 2, "\xc3\xa9\xf0\x9f\x98\x80x",
	    7));
	cr_assert(!krx_json_string_eq(s, T, 2, "\xc3\xa9", 2));
	cr_assert_eq(krx_json_string(s, T, 3, out, sizeof(out), &len),
	    KRX_E_MALFORMED);
	/* 10 bytes need 11. */
	cr_assert_eq(krx_json_string(s, T, 4, out, 10, &len), KRX_E_TOO_BIG);
	cr_assert_str_eq(out, "");
	cr_assert_eq(krx_json_string(s, T, 4, out, 11, &len), KRX_OK);
	cr_assert_eq(krx_json_string(s, T, 0, out, sizeof(out), &len),
	    KRX_E_RANGE);
}

Test(json, base64)
{
	static const char	 s[] =
	    "[\"\", \"Zg==\", \"Zm8=\", \"Zm9v\", \"Zm9vYmFy\", \"Zh==\","
	    "\"Zm9=\", \"Zm9\", \"Zg=a\", \"Z===\", \"Zg==Zg==\", \"Zm 9v\","
	    "\"Zm\\u0039v\", \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\","
	    "\"-_8=\"]";
	uint8_t			 out[32];
	size_t			 len, i;

	cr_assert_eq(parse(s), KRX_OK);
	cr_assert_eq(krx_json_base64(s, T, 1, out, 32, &len), KRX_OK);
	cr_assert_eq(len, 0);
	cr_assert_eq(krx_json_base64(s, T, 2, out, 32, &len), KRX_OK);
	cr_assert(len == 1 && out[0] == 'f');
	cr_assert_eq(krx_json_base64(s, T, 3, out, 32, &len), KRX_OK);
	cr_assert(len == 2 && memcmp(out, "fo", 2) == 0);
	cr_assert_eq(krx_json_base64(s, T, 4, out, 32, &len), KRX_OK);
	cr_assert(len == 3 && memcmp(out, "foo", 3) == 0);
	cr_assert_eq(krx_json_base64(s, T, 5, out, 32, &len), KRX_OK);
	cr_assert(len == 6 && memcmp(out, "foobar", 6) == 0);
	/* Not canonical, or not base64. */
	for (i = 6; i <= 12; i++)
		cr_assert_eq(krx_json_base64(s, T, i, out, 32, &len),
		    KRX_E_MALFORMED, "element %zu", i - 1);
	/* An escape spelling a base64 character is still that character. */
	cr_assert_eq(krx_json_base64(s, T, 13, out, 32, &len), KRX_OK);
	cr_assert(len == 3 && memcmp(out, "foo", 3) == 0);
	/* 32 bytes: fits exactly; one byte less does not (wiped). */
	cr_assert_eq(krx_json_base64(s, T, 14, out, 32, &len), KRX_OK);
	cr_assert_eq(len, 32);
	for (i = 0; i < 32; i++)
		cr_assert_eq(out[i], i);
	cr_assert_eq(krx_json_base64(s, T, 14, out, 31, &len), KRX_E_TOO_BIG);
	cr_assert_eq(len, 0);
	for (i = 0; i < 31; i++)
		cr_assert_eq(out[i], 0);
	/* URL-safe alphabet refused. */
	cr_assert_eq(krx_json_base64(s, T, 15, out, 32, &len),
	    KRX_E_MALFORMED);
	cr_assert_eq(krx_json_base64(s, T, 0, out, 32, &len), KRX_E_RANGE);
}

Test(json, writer_round_trip)
{
	static const char	 in[] = "al\"ias\\/\x01\x1f\n\xc3\xa9";
	static const uint8_t	 bin[] = { 0, 1, 2, 0xfe, 0xff };
	struct krx_buf		 b;
	char			 out[64];
	uint8_t			 dec[8];
	size_t			 len, n;

	krx_buf_init(&b, 0);
	krx_buf_put(&b, "[", 1);
	cr_assert_eq(krx_json_put_string(&b, in, sizeof(in) - 1), KRX_OK);
	krx_buf_put(&b, ",", 1);
	cr_assert_eq(krx_json_put_base64(&b, bin, sizeof(bin)), KRX_OK);
	for (n = 0; n <= 3; n++) {
		krx_buf_put(&b, ",", 1);
		cr_assert_eq(krx_json_put_base64(&b, bin, n), KRX_OK);
	}
	krx_buf_put(&b, "]", 1);
	cr_assert_eq(krx_json_parse((const char *)b.data, b.len, T, NTOK, &N),
	    KRX_OK, "%.*s", (int)b.len, b.data);
	cr_assert_eq(krx_json_string((const char *)b.data, T, 1, out,
	    sizeof(out), &len), KRX_OK);
	cr_assert_eq(len, sizeof(in) - 1);
	cr_assert_eq(memcmp(out, in, len), 0);
	cr_assert_eq(krx_json_base64((const char *)b.data, T, 2, dec,
	    sizeof(dec), &len), KRX_OK);
	cr_assert(len == sizeof(bin) && memcmp(dec, bin, len) == 0);
	for (n = 0; n <= 3; n++) {
		cr_assert_eq(krx_json_base64((const char *)b.data, T, 3 + n,
		    dec, sizeof(dec), &len), KRX_OK);
		cr_assert(len == n && memcmp(dec, bin, n) == 0);
	}
	krx_buf_free(&b);
}

/* Vault's answers (from the retired keysvc/json_vault.c tests). */
static const char vault_datakey[] =
	"{\"request_id\":\"6f\",\"lease_id\":\"\",\"renewable\":false,"
	"\"lease_duration\":0,\"data\":{\"ciphertext\":\"vault:v1:abcd\","
	"\"key_version\":1,\"plaintext\":\"QUJD\",\"keys\":{\"1\":17,"
	"\"2\":18}},\"wrap_info\":null,\"warnings\":null,\"auth\":null}";
static const char vault_login[] =
	"{ \"auth\" : { \"client_token\" : \"hvs.x\", \"policies\":[\"a\","
	"[\"b0\"],\"c\"], \"lease_duration\" : 3600 }, \"errors\":[] }\n";

Test(json, vault_paths_and_indexes)
{
	char	 s[64];
	size_t	 v;
	int64_t	 i;

	cr_assert_eq(parse(vault_datakey), KRX_OK);
	cr_assert_eq(krx_json_path(vault_datakey, T, N, "data.plaintext",
	    &v), KRX_OK);
	cr_assert_eq(krx_json_string(vault_datakey, T, v, s, sizeof(s),
	    NULL), KRX_OK);
	cr_assert_str_eq(s, "QUJD");
	/* A digit step on an object is a member name. */
	cr_assert_eq(krx_json_path(vault_datakey, T, N, "data.keys.2", &v),
	    KRX_OK);
	cr_assert_eq(krx_json_int64(vault_datakey, T, v, &i), KRX_OK);
	cr_assert_eq(i, 18);
	cr_assert_eq(krx_json_path(vault_datakey, T, N, "auth.client_token",
	    &v), KRX_E_MALFORMED);	/* auth is null */
	cr_assert_eq(krx_json_path(vault_datakey, T, N, "data.nope", &v),
	    KRX_E_NOTFOUND);
	cr_assert_eq(krx_json_path(vault_datakey, T, N, "data.key_version",
	    &v), KRX_OK);
	cr_assert_eq(krx_json_string(vault_datakey, T, v, s, sizeof(s),
	    NULL), KRX_E_RANGE);

	cr_assert_eq(parse(vault_login), KRX_OK);
	cr_assert_eq(krx_json_path(vault_login, T, N, "auth.policies.2", &v),
	    KRX_OK);
	cr_assert(krx_json_string_eq(vault_login, T, v, "c", 1));
	/* Index 1 is an array: its subtree is skipped on the way to 2. */
	cr_assert_eq(krx_json_path(vault_login, T, N, "auth.policies.1.0",
	    &v), KRX_OK);
	cr_assert(krx_json_string_eq(vault_login, T, v, "b0", 2));
	cr_assert_eq(krx_json_path(vault_login, T, N, "auth.policies.3", &v),
	    KRX_E_NOTFOUND);
	cr_assert_eq(v, 0);
	cr_assert_eq(krx_json_path(vault_login, T, N, "errors.0", &v),
	    KRX_E_NOTFOUND);
	/* Not an index: a leading zero, a sign, a name. */
	cr_assert_eq(krx_json_path(vault_login, T, N, "auth.policies.01",
	    &v), KRX_E_MALFORMED);
	cr_assert_eq(krx_json_path(vault_login, T, N, "auth.policies.-1",
	    &v), KRX_E_MALFORMED);
	cr_assert_eq(krx_json_path(vault_login, T, N, "auth.policies.x",
	    &v), KRX_E_MALFORMED);
	cr_assert_eq(krx_json_path(vault_login, T, N, "auth.lease_duration",
	    &v), KRX_OK);
	cr_assert_eq(krx_json_int64(vault_login, T, v, &i), KRX_OK);
	cr_assert_eq(i, 3600);
	cr_assert_eq(krx_json_element(T, N, 0, 0, &v), KRX_E_MALFORMED);
}

Test(json, int64_bounds)
{
	static const struct { const char *doc; int r; int64_t v; } c[] = {
		{ "-9223372036854775808", KRX_OK, INT64_MIN },
		{ "9223372036854775807", KRX_OK, INT64_MAX },
		{ "-0", KRX_OK, 0 },
		{ "0", KRX_OK, 0 },
		{ "9223372036854775808", KRX_E_RANGE, 0 },
		{ "-9223372036854775809", KRX_E_RANGE, 0 },
		{ "99999999999999999999", KRX_E_RANGE, 0 },
		{ "1.5", KRX_E_RANGE, 0 },
		{ "1e3", KRX_E_RANGE, 0 },
		{ "\"1\"", KRX_E_RANGE, 0 },
		{ "true", KRX_E_RANGE, 0 },
	};
	int64_t	 v;
	size_t	 i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		cr_assert_eq(parse(c[i].doc), KRX_OK, "%s", c[i].doc);
		v = 42;
		cr_assert_eq(krx_json_int64(c[i].doc, T, 0, &v), c[i].r, "%s",
		    c[i].doc);
		cr_assert_eq(v, c[i].v, "%s", c[i].doc);
	}
}
