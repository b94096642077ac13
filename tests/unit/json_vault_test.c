/*
 * json_vault_test.c: the bounded JSON reader of the Vault provider
 * (keysvc/json_vault.c, built into this test): Vault's answers read by
 * path, escapes, integers and their range, and refusal of what is not
 * one JSON value (truncated, trailing bytes, bad escapes, control
 * characters, nesting too deep).
 */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "keysvc/json_vault.c"

static const char vault_datakey[] =
	"{\"request_id\":\"6f\",\"lease_id\":\"\",\"renewable\":false,"
	"\"lease_duration\":0,\"data\":{\"ciphertext\":\"vault:v1:abcd\","
	"\"key_version\":1,\"plaintext\":\"QUJD\"},\"wrap_info\":null,"
	"\"warnings\":null,\"auth\":null,\"mount_type\":\"transit\"}";

static const char vault_login[] =
	"{ \"auth\" : { \"client_token\" : \"hvs.x\", \"policies\":[\"a\","
	"\"b\"], \"lease_duration\" : 3600, \"renewable\": true },"
	" \"data\" : null }\n";

static int
str(const char *doc, const char *path, char *out, size_t len)
{
	return krx_vjson_string(doc, strlen(doc), path, out, len, NULL);
}

Test(json_vault, vault_answers)
{
	char	 s[64];
	size_t	 n;
	int64_t	 v;

	cr_assert_eq(krx_vjson_string(vault_datakey, strlen(vault_datakey),
	    "data.plaintext", s, sizeof(s), &n), 0);
	cr_assert_str_eq(s, "QUJD");
	cr_assert_eq(n, 4);
	cr_assert_eq(str(vault_datakey, "data.ciphertext", s, sizeof(s)), 0);
	cr_assert_str_eq(s, "vault:v1:abcd");
	cr_assert_eq(krx_vjson_int(vault_datakey, strlen(vault_datakey),
	    "data.key_version", &v), 0);
	cr_assert_eq(v, 1);
	cr_assert_eq(str(vault_datakey, "auth.client_token", s, sizeof(s)),
	    KRX_E_NOTFOUND);
	cr_assert_eq(str(vault_datakey, "wrap_info", s, sizeof(s)),
	    KRX_E_NOTFOUND);
	cr_assert_eq(str(vault_datakey, "data.nope", s, sizeof(s)),
	    KRX_E_NOTFOUND);
	cr_assert_eq(str(vault_datakey, "data.key_version", s, sizeof(s)),
	    KRX_E_NOTFOUND);
	cr_assert_eq(str(vault_login, "auth.client_token", s, sizeof(s)), 0);
	cr_assert_str_eq(s, "hvs.x");
	cr_assert_eq(str(vault_login, "auth.policies.1", s, sizeof(s)), 0);
	cr_assert_str_eq(s, "b");
	cr_assert_eq(str(vault_login, "auth.policies.2", s, sizeof(s)),
	    KRX_E_NOTFOUND);
	cr_assert_eq(krx_vjson_int(vault_login, strlen(vault_login),
	    "auth.lease_duration", &v), 0);
	cr_assert_eq(v, 3600);
}

Test(json_vault, errors_array)
{
	const char	*doc = "{\"errors\":[\"permission denied\"]}";
	const char	*empty = "{\"errors\":[]}";
	char		 s[64];

	cr_assert_eq(str(doc, "errors.0", s, sizeof(s)), 0);
	cr_assert_str_eq(s, "permission denied");
	cr_assert_eq(str(empty, "errors.0", s, sizeof(s)), KRX_E_NOTFOUND);
	cr_assert_str_eq(s, "");
}

Test(json_vault, escapes)
{
	const char	*doc = "{\"a\\u0062\":\"x\\\"\\\\\\/\\n\\u00e9"
	    "\\ud83d\\ude00\"}";
	char		 s[64];

	cr_assert_eq(str(doc, "ab", s, sizeof(s)), 0);
	cr_assert_str_eq(s, "x\"\\/\n\xc3\xa9\xf0\x9f\x98\x80");
	cr_assert_eq(str("{\"a\":\"\\ud83d\"}", "a", s, sizeof(s)),
	    KRX_E_MALFORMED);
	cr_assert_eq(str("{\"a\":\"\\ude00\"}", "a", s, sizeof(s)),
	    KRX_E_MALFORMED);
	cr_assert_eq(str("{\"a\":\"\\x\"}", "a", s, sizeof(s)),
	    KRX_E_MALFORMED);
	cr_assert_eq(str("{\"a\":\"\\u12\"}", "a", s, sizeof(s)),
	    KRX_E_MALFORMED);
	cr_assert_eq(str("{\"a\":\"tab\there\"}", "a", s, sizeof(s)),
	    KRX_E_MALFORMED);
}

Test(json_vault, too_big_for_out)
{
	char	 s[4];
	size_t	 n = 9;

	cr_assert_eq(krx_vjson_string("{\"a\":\"abcd\"}", 12, "a", s,
	    sizeof(s), &n), KRX_E_TOO_BIG);
	cr_assert_eq(n, 0);
	cr_assert_eq(s[0], '\0');
	cr_assert_eq(krx_vjson_string("{\"a\":\"abc\"}", 11, "a", s,
	    sizeof(s), &n), 0);
	cr_assert_str_eq(s, "abc");
}

Test(json_vault, integers)
{
	int64_t	 v;

	cr_assert_eq(krx_vjson_int("{\"a\":-9223372036854775808}", 26, "a",
	    &v), 0);
	cr_assert_eq(v, INT64_MIN);
	cr_assert_eq(krx_vjson_int("{\"a\":9223372036854775807}", 25, "a",
	    &v), 0);
	cr_assert_eq(v, INT64_MAX);
	cr_assert_eq(krx_vjson_int("{\"a\":9223372036854775808}", 25, "a",
	    &v), KRX_E_RANGE);
	cr_assert_eq(v, 0);
	cr_assert_eq(krx_vjson_int("{\"a\":1.5}", 9, "a", &v), KRX_E_RANGE);
	cr_assert_eq(krx_vjson_int("{\"a\":1e3}", 9, "a", &v), KRX_E_RANGE);
	cr_assert_eq(krx_vjson_int("{\"a\":\"1\"}", 9, "a", &v),
	    KRX_E_NOTFOUND);
	cr_assert_eq(krx_vjson_int("{\"a\":01}", 8, "a", &v),
	    KRX_E_MALFORMED);
}

Test(json_vault, not_json)
{
	static const char *const bad[] = {
		"", " ", "{", "{\"a\":1", "{\"a\":1}}", "{\"a\":1} x",
		"{\"a\" 1}", "{a:1}", "{\"a\":1,}", "[1,]", "[1 2]", "tru",
		"nul", "-", "1.", "1e", "\"abc", "{\"a\":[}", "{\"a\":1,\"b\"}",
	};
	char	 deep[200];
	size_t	 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(krx_vjson_check(bad[i], strlen(bad[i])),
		    KRX_E_MALFORMED, "accepted %s", bad[i]);
	cr_assert_eq(krx_vjson_check("{\"a\":1}", 7), 0);
	cr_assert_eq(krx_vjson_check(" [true,false,null,-0.5e+3,\"\"] ", 30),
	    0);
	/* Bytes after the value are never read past len. */
	cr_assert_eq(krx_vjson_check("{\"a\":1}garbage", 7), 0);
	memset(deep, '[', KRX_VJSON_MAX_DEPTH + 1);
	memset(deep + KRX_VJSON_MAX_DEPTH + 1, ']', KRX_VJSON_MAX_DEPTH + 1);
	cr_assert_eq(krx_vjson_check(deep, 2 * (KRX_VJSON_MAX_DEPTH + 1)),
	    KRX_E_TOO_BIG);
	cr_assert_eq(krx_vjson_check(deep + 1, 2 * KRX_VJSON_MAX_DEPTH), 0);
}

Test(json_vault, duplicate_member_first_wins)
{
	char	 s[8];

	cr_assert_eq(str("{\"a\":\"1\",\"a\":\"2\"}", "a", s, sizeof(s)), 0);
	cr_assert_str_eq(s, "1");
}
