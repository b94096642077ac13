/*
 * kms_azure_test.c: AzureKeyVaultKmsService's pure parts
 * (keysvc/kms_azure_wire.c) and the answer handling of kms_azure.c,
 * built into this test with the keysvc files they call: key names,
 * wrap algorithms, KEK ids both ways, URLs and wrap bodies (unpadded
 * base64url), base64url decoding (strict), KeyBundle checks (key_ops,
 * enabled, kty, kid version), wrapkey answers with a separate iv/tag
 * refused, error answers to statuses with details, the token form
 * (URL encoding as Java's URLEncoder) and answers (expires_in as number
 * or string, bounds, no token or secret in any detail), the EDEK a wrap
 * answer makes (Kroxylicious' v0 vector byte for byte, v1 for other
 * versions), an unwrapped DEK that is not 32 bytes, and an EDEK of
 * another vault refused without a call.
 */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "keysvc/http.c"
#include "keysvc/kms_flight.c"
#include "keysvc/kms_tls.c"
#include "keysvc/kms_azure_auth.c"
#include "keysvc/kms_azure_wire.c"
#include "keysvc/kms_azure.c"
#include "keysvc/kms_common.c"
/* Not kms.c: its table names every provider. */

#define HEXV	"78deebed173b48e48f55abf87ed4cf71"

static char	 D[KRX_AZURE_DETAIL];

static const uint8_t *
u8(const char *s)
{
	return (const uint8_t *)s;
}

/* ---- names, algorithms, KEK ids ---- */

Test(kms_azure, names_and_algs)
{
	char	 n[130];

	cr_assert(krx_azure_name_ok("KEK-a1", 6));
	cr_assert(!krx_azure_name_ok("", 0));
	cr_assert(!krx_azure_name_ok("a_b", 3));
	cr_assert(!krx_azure_name_ok("a/b", 3));
	cr_assert(!krx_azure_name_ok("a.b", 3));
	memset(n, 'k', sizeof(n));
	cr_assert(krx_azure_name_ok(n, 127));
	cr_assert(!krx_azure_name_ok(n, 128));
	cr_assert_str_eq(krx_azure_alg(KRX_EDEK_AZURE_RSA), "RSA-OAEP-256");
	cr_assert_str_eq(krx_azure_alg(KRX_EDEK_AZURE_RSA_HSM),
	    "RSA-OAEP-256");
	cr_assert_str_eq(krx_azure_alg(KRX_EDEK_AZURE_OCT), "A256GCM");
	cr_assert_str_eq(krx_azure_alg(KRX_EDEK_AZURE_OCT_HSM), "A256GCM");
}

Test(kms_azure, kek_id_round_trip)
{
	struct krx_azure_kek	 k, back;
	char			 id[KRX_AZURE_KEK_MAX + 1];
	size_t			 len;

	memset(&k, 0, sizeof(k));
	strcpy(k.vault, "myvault");
	strcpy(k.name, "key-name");
	strcpy(k.version, HEXV);
	k.kty = KRX_EDEK_AZURE_OCT_HSM;
	cr_assert_eq(krx_azure_kek_format(&k, id, sizeof(id), &len), 0);
	cr_assert_str_eq(id, "myvault/key-name/" HEXV "/oct-HSM");
	cr_assert_eq(len, strlen(id));
	cr_assert_eq(krx_azure_kek_parse(id, len, &back), 0);
	cr_assert_eq(memcmp(&k, &back, sizeof(k)), 0);
}

Test(kms_azure, kek_id_refused)
{
	static const char *const bad[] = {
		"myvault/key-name/" HEXV,			/* no kty */
		"myvault/key-name/" HEXV "/EC",			/* kty */
		"myvault/key-name/" HEXV "/RSA/x",		/* extra */
		"my/key-name/" HEXV "/RSA",			/* vault < 3 */
		"myvault/key_name/" HEXV "/RSA",		/* name */
		"myvault/key-name/abc/RSA",			/* version */
		"myvault//" HEXV "/RSA",			/* empty */
		"myvault/key-name/" HEXV "/RSA/",
		"",
	};
	static const char	 nul[] = "myvault/key\0name/" HEXV "/RSA";
	struct krx_azure_kek	 k;
	size_t			 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(krx_azure_kek_parse(bad[i], strlen(bad[i]), &k),
		    -1, "%s", bad[i]);
	/* A NUL inside is never a KEK id. */
	cr_assert_eq(krx_azure_kek_parse(nul, sizeof(nul) - 1, &k), -1);
}

/* ---- requests ---- */

Test(kms_azure, urls)
{
	char	*u;

	u = krx_azure_key_url("https://krx.vault.azure.net", "KEK-a", NULL,
	    NULL);
	cr_assert_str_eq(u, "https://krx.vault.azure.net/keys/KEK-a"
	    "?api-version=7.4");
	free(u);
	u = krx_azure_key_url("https://krx.vault.azure.net:8443", "KEK-a",
	    "v 1/\xce\xb1", "unwrapkey");
	cr_assert_str_eq(u, "https://krx.vault.azure.net:8443/keys/KEK-a/"
	    "v%201%2F%CE%B1/unwrapkey?api-version=7.4");
	free(u);
	u = krx_azure_imds_url("http://169.254.169.254/",
	    "https://vault.azure.net");
	cr_assert_str_eq(u, "http://169.254.169.254/metadata/identity/oauth2/"
	    "token?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure."
	    "net");
	free(u);
}

Test(kms_azure, wrap_body_unpadded_base64url)
{
	static const uint8_t	 v[] = { 0xfb, 0xff, 0xfe, 0x05 };
	struct krx_buf		 b;

	krx_buf_init(&b, 0);
	krx_azure_wrap_body(&b, KRX_EDEK_AZURE_RSA, v, sizeof(v));
	krx_buf_put_u8(&b, 0);
	cr_assert_str_eq((char *)b.data,
	    "{\"alg\":\"RSA-OAEP-256\",\"value\":\"-__-BQ\"}");
	krx_buf_free(&b);
	krx_buf_init(&b, 0);
	krx_azure_wrap_body(&b, KRX_EDEK_AZURE_OCT, v, 3);
	krx_buf_put_u8(&b, 0);
	cr_assert_str_eq((char *)b.data,
	    "{\"alg\":\"A256GCM\",\"value\":\"-__-\"}");
	krx_buf_free(&b);
}

Test(kms_azure, base64url_decode)
{
	uint8_t	 out[8];
	size_t	 n = 0;

	cr_assert_eq(krx_azure_b64url_decode("-__-BQ", 6, out, sizeof(out),
	    &n), 0);
	cr_assert_eq(n, 4);
	cr_assert_eq(out[0], 0xfb);
	cr_assert_eq(out[3], 0x05);
	/* Padded (Java's URL encoder pads) is accepted too. */
	cr_assert_eq(krx_azure_b64url_decode("-__-BQ==", 8, out, sizeof(out),
	    &n), 0);
	cr_assert_eq(n, 4);
	cr_assert_eq(krx_azure_b64url_decode("", 0, out, sizeof(out), &n), 0);
	cr_assert_eq(n, 0);
	/* Standard alphabet, stray padding, bad lengths, non-zero bits. */
	cr_assert_eq(krx_azure_b64url_decode("+//+BQ", 6, out, 8, &n), -1);
	cr_assert_eq(krx_azure_b64url_decode("-__-BQ=", 7, out, 8, &n), -1);
	cr_assert_eq(krx_azure_b64url_decode("-_=_BQ", 6, out, 8, &n), -1);
	cr_assert_eq(krx_azure_b64url_decode("-__-B", 5, out, 8, &n), -1);
	cr_assert_eq(krx_azure_b64url_decode("-__-BR", 6, out, 8, &n), -1);
	/* Over the output's size. */
	cr_assert_eq(krx_azure_b64url_decode("-__-BQ", 6, out, 3, &n), -1);
}

Test(kms_azure, form_as_java_urlencoder)
{
	struct krx_buf	 b;
	const char	*v = "a b+c/d=e&f%~*._-\xc3\xa9";

	krx_buf_init(&b, 0);
	krx_azure_form_put(&b, "grant_type", u8("client_credentials"), 18, 1);
	krx_azure_form_put(&b, "client_secret", u8(v), strlen(v), 0);
	krx_buf_put_u8(&b, 0);
	cr_assert_str_eq((char *)b.data, "grant_type=client_credentials&"
	    "client_secret=a+b%2Bc%2Fd%3De%26f%25%7E*._-%C3%A9");
	krx_buf_free(&b);
}

/* ---- answers ---- */

#define BUNDLE(kid, kty, ops, enabled)					\
	"{\"key\":{\"kid\":\"" kid "\",\"kty\":\"" kty "\",\"key_ops\":"	\
	"[" ops "],\"n\":\"AQAB\",\"e\":\"AQAB\"},\"attributes\":{"	\
	"\"enabled\":" enabled ",\"created\":1,\"updated\":1},\"tags\":{}}"
#define KID	"https://krx.vault.azure.net/keys/KEK-a/" HEXV
#define OPS	"\"encrypt\",\"wrapKey\",\"unwrapKey\""

static enum krx_key_status
key(const char *body, struct krx_azure_kek *k)
{
	return krx_azure_parse_key("krx", "KEK-a", u8(body), strlen(body), k,
	    D, sizeof(D));
}

Test(kms_azure, key_bundle_accepted)
{
	struct krx_azure_kek	 k;

	cr_assert_eq(key(BUNDLE(KID, "RSA", OPS, "true"), &k), KRX_KEY_OK,
	    "%s", D);
	cr_assert_str_eq(k.vault, "krx");
	cr_assert_str_eq(k.name, "KEK-a");
	cr_assert_str_eq(k.version, HEXV);
	cr_assert_eq(k.kty, KRX_EDEK_AZURE_RSA);
	cr_assert_eq(key(BUNDLE(KID "?x=1", "oct-HSM", OPS, "true"), &k),
	    KRX_KEY_OK, "%s", D);
	cr_assert_str_eq(k.version, HEXV);
	cr_assert_eq(k.kty, KRX_EDEK_AZURE_OCT_HSM);
}

Test(kms_azure, key_bundle_unusable)
{
	struct krx_azure_kek	 k;

	cr_assert_eq(key(BUNDLE(KID, "RSA", "\"wrapKey\"", "true"), &k),
	    KRX_KEY_DENIED);
	cr_assert(strstr(D, "wrapKey and unwrapKey") != NULL, "%s", D);
	cr_assert_eq(key(BUNDLE(KID, "RSA", OPS, "false"), &k),
	    KRX_KEY_DENIED);
	cr_assert(strstr(D, "not enabled") != NULL, "%s", D);
	cr_assert_eq(key(BUNDLE(KID, "EC", OPS, "true"), &k), KRX_KEY_DENIED);
	cr_assert(strstr(D, "key type EC is not supported") != NULL, "%s", D);
	/* Malformed answers are the KMS's trouble, not a missing key. */
	cr_assert_eq(key(BUNDLE("https://krx.vault.azure.net/keys/KEK-a/",
	    "RSA", OPS, "true"), &k), KRX_KEY_UNAVAILABLE);
	cr_assert_eq(key(BUNDLE("KEK-a", "RSA", OPS, "true"), &k),
	    KRX_KEY_UNAVAILABLE);
	cr_assert_eq(key(BUNDLE(KID, "RSA", OPS, "\"yes\""), &k),
	    KRX_KEY_UNAVAILABLE);
	cr_assert_eq(key("{\"key\":{}}", &k), KRX_KEY_UNAVAILABLE);
	cr_assert_eq(key("<html>", &k), KRX_KEY_UNAVAILABLE);
	cr_assert(strstr(D, "not a JSON object") != NULL, "%s", D);
}

static enum krx_key_status
value(enum krx_azure_op op, const char *body, uint8_t *out, size_t outsz,
    size_t *n)
{
	return krx_azure_parse_value(op, u8(body), strlen(body), out, outsz, n,
	    D, sizeof(D));
}

Test(kms_azure, wrap_answers)
{
	uint8_t	 out[64];
	size_t	 n = 0;

	cr_assert_eq(value(KRX_AZURE_WRAP, "{\"kid\":\"" KID "\",\"value\":"
	    "\"BQQD\"}", out, sizeof(out), &n), KRX_KEY_OK);
	cr_assert_eq(n, 3);
	/* The "split" A256GCM reading: never an EDEK that cannot unwrap. */
	cr_assert_eq(value(KRX_AZURE_WRAP, "{\"kid\":\"" KID "\",\"value\":"
	    "\"BQQD\",\"iv\":\"AAAAAAAAAAAAAAAA\",\"tag\":\"AAAA\"}", out,
	    sizeof(out), &n), KRX_KEY_INVALID);
	cr_assert(strstr(D, "separate iv/tag") != NULL, "%s", D);
	cr_assert_eq(value(KRX_AZURE_WRAP, "{\"value\":\"BQQD\",\"aad\":"
	    "\"AQ\"}", out, sizeof(out), &n), KRX_KEY_INVALID);
	/* Empty or null iv/tag fields say nothing: fine. */
	cr_assert_eq(value(KRX_AZURE_WRAP, "{\"value\":\"BQQD\",\"iv\":null,"
	    "\"tag\":\"\"}", out, sizeof(out), &n), KRX_KEY_OK);
	/* Unwrap answers may carry anything else; only value counts. */
	cr_assert_eq(value(KRX_AZURE_UNWRAP, "{\"value\":\"BQQD\",\"iv\":"
	    "\"AAAA\"}", out, sizeof(out), &n), KRX_KEY_OK);
	cr_assert_eq(value(KRX_AZURE_UNWRAP, "{\"value\":\"B+QD\"}", out,
	    sizeof(out), &n), KRX_KEY_INVALID);
	cr_assert_eq(value(KRX_AZURE_WRAP, "{\"value\":\"\"}", out,
	    sizeof(out), &n), KRX_KEY_UNAVAILABLE);
	cr_assert_eq(value(KRX_AZURE_WRAP, "{\"kid\":\"x\"}", out,
	    sizeof(out), &n), KRX_KEY_UNAVAILABLE);
	/* Over the caller's bound. */
	cr_assert_eq(value(KRX_AZURE_UNWRAP, "{\"value\":\"BQQDBQQD\"}", out,
	    4, &n), KRX_KEY_INVALID);
}

static enum krx_key_status
err(enum krx_azure_op op, long status, const char *body)
{
	return krx_azure_error(op, status, u8(body), strlen(body), D,
	    sizeof(D));
}

Test(kms_azure, error_answers)
{
	cr_assert_eq(err(KRX_AZURE_GET_KEY, 404, "{\"error\":{\"code\":"
	    "\"KeyNotFound\",\"message\":\"A key with (name/id) KEK-a was not "
	    "found in this key vault.\"}}"), KRX_KEY_NOT_FOUND);
	cr_assert_str_eq(D, "not found (HTTP 404, KeyNotFound: A key with "
	    "(name/id) KEK-a was not found in this key vault.)");
	cr_assert_eq(err(KRX_AZURE_WRAP, 403, "{\"error\":{\"code\":"
	    "\"Forbidden\",\"message\":\"disabled\",\"innererror\":{\"code\":"
	    "\"KeyDisabled\"}}}"), KRX_KEY_DENIED);
	cr_assert_str_eq(D, "access denied (HTTP 403, Forbidden/KeyDisabled: "
	    "disabled)");
	cr_assert_eq(err(KRX_AZURE_GET_KEY, 401, ""), KRX_KEY_DENIED);
	cr_assert_str_eq(D, "access denied (HTTP 401)");
	cr_assert_eq(err(KRX_AZURE_UNWRAP, 400, "{\"error\":{\"code\":"
	    "\"BadParameter\",\"message\":\"bad\"}}"), KRX_KEY_INVALID);
	cr_assert_eq(err(KRX_AZURE_WRAP, 400, "{}"), KRX_KEY_UNAVAILABLE);
	cr_assert_str_eq(D, "refused (HTTP 400)");
	cr_assert_eq(err(KRX_AZURE_UNWRAP, 503, "oops"), KRX_KEY_UNAVAILABLE);
	cr_assert_str_eq(D, "unavailable (HTTP 503)");
	/* Untrusted text is cleaned and cut. */
	cr_assert_eq(err(KRX_AZURE_GET_KEY, 429, "{\"error\":{\"code\":\"T\","
	    "\"message\":\"a\\nb\\u00e9" "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "\"}}"), KRX_KEY_UNAVAILABLE);
	cr_assert(strncmp(D, "unavailable (HTTP 429, T: a?b??xxx", 34) == 0,
	    "%s", D);
	cr_assert(strlen(D) < 200, "%s", D);
}

/* ---- tokens ---- */

static int
token(const char *body, struct krx_secret **t, long *life)
{
	return krx_azure_parse_token(u8(body), strlen(body), t, life, D,
	    sizeof(D));
}

Test(kms_azure, token_answers)
{
	struct krx_secret	*t;
	long			 life = 0;
	char			*big;
	size_t			 n;

	cr_assert_eq(token("{\"token_type\":\"Bearer\",\"expires_in\":3599,"
	    "\"ext_expires_in\":3599,\"access_token\":\"eyJ0.eyJ1.c2ln\"}",
	    &t, &life), 0, "%s", D);
	cr_assert_eq(life, 3599);
	cr_assert_eq(t->len, 14);
	cr_assert_eq(memcmp(t->data, "eyJ0.eyJ1.c2ln", 14), 0);
	krx_secret_free(t);
	/* IMDS sends numbers as strings. */
	cr_assert_eq(token("{\"access_token\":\"abc\",\"expires_in\":\"86399\","
	    "\"token_type\":\"Bearer\",\"resource\":\"x\"}", &t, &life), 0);
	cr_assert_eq(life, 86399);
	krx_secret_free(t);
	cr_assert_eq(token("{\"access_token\":\"abc\",\"expires_in\":"
	    "99999999999,\"token_type\":\"bearer\"}", &t, &life), 0);
	cr_assert_eq(life, KRX_AZURE_TOKEN_LIFE_MAX);
	krx_secret_free(t);

	cr_assert_eq(token("{\"access_token\":\"abc\",\"expires_in\":0,"
	    "\"token_type\":\"Bearer\"}", &t, &life), -1);
	cr_assert_null(t);
	cr_assert_eq(token("{\"access_token\":\"abc\",\"expires_in\":-5,"
	    "\"token_type\":\"Bearer\"}", &t, &life), -1);
	cr_assert_eq(token("{\"access_token\":\"abc\",\"expires_in\":\"1h\","
	    "\"token_type\":\"Bearer\"}", &t, &life), -1);
	cr_assert_eq(token("{\"access_token\":\"abc\",\"expires_in\":60,"
	    "\"token_type\":\"MAC\"}", &t, &life), -1);
	cr_assert_eq(token("{\"access_token\":\"a secret\",\"expires_in\":60,"
	    "\"token_type\":\"Bearer\"}", &t, &life), -1);
	cr_assert(strstr(D, "a secret") == NULL, "%s", D);
	cr_assert_eq(token("{\"expires_in\":60,\"token_type\":\"Bearer\"}",
	    &t, &life), -1);
	/* A token over KRX_AZURE_TOKEN_MAX bytes. */
	big = malloc(KRX_AZURE_TOKEN_MAX + 100);
	snprintf(big, 80, "{\"token_type\":\"Bearer\",\"expires_in\":60,"
	    "\"access_token\":\"");
	n = strlen(big);
	memset(big + n, 'a', KRX_AZURE_TOKEN_MAX + 1);
	strcpy(big + n + KRX_AZURE_TOKEN_MAX + 1, "\"}");
	cr_assert_eq(token(big, &t, &life), -1);
	cr_assert_null(t);
	free(big);
}

static enum krx_key_status
terr(int imds, long status, const char *body)
{
	return krx_azure_token_error(imds, status, u8(body), strlen(body), D,
	    sizeof(D));
}

Test(kms_azure, token_errors)
{
	cr_assert_eq(terr(0, 401, "{\"error\":\"invalid_client\","
	    "\"error_description\":\"AADSTS7000215: Invalid client secret "
	    "provided: s3cr3t\",\"error_codes\":[7000215]}"), KRX_KEY_DENIED);
	cr_assert_str_eq(D, "OAuth token refused (HTTP 401, invalid_client, "
	    "AADSTS7000215)");
	cr_assert_eq(terr(0, 400, "{\"error\":\"unauthorized_client\"}"),
	    KRX_KEY_DENIED);
	cr_assert_eq(terr(0, 503, "down"), KRX_KEY_UNAVAILABLE);
	cr_assert_str_eq(D, "OAuth token unavailable (HTTP 503)");
	cr_assert_eq(terr(1, 400, "{\"error\":\"invalid_request\","
	    "\"error_description\":\"Identity not found\"}"), KRX_KEY_DENIED);
	cr_assert_str_eq(D, "managed identity token refused (HTTP 400, "
	    "invalid_request: Identity not found)");
}

/* ---- the provider's answer handling ---- */

static struct krx_conf_kms_azure	 ZC;
static struct az_kms			 Z;

static void
zsetup(void)
{
	ZC.vault_name = (char *)"myvault";
	ZC.vault_url = (char *)"https://myvault.vault.azure.net";
	memset(&Z, 0, sizeof(Z));
	Z.conf = &ZC;
	TAILQ_INIT(&Z.calls);
}

static enum krx_key_status
generated(const char *version, int kty, const char *body,
    struct krx_buf *edek, struct krx_kms_result *res)
{
	struct az_call		 c;
	struct krx_http_resp	 r;

	zsetup();
	memset(&c, 0, sizeof(c));
	c.z = &Z;
	c.op = KRX_KMS_OP_GENERATE;
	strcpy(c.kek.vault, "myvault");
	strcpy(c.kek.name, "key-name");
	strcpy(c.kek.version, version);
	c.kek.kty = kty;
	memset(c.dek, 7, sizeof(c.dek));
	memset(&r, 0, sizeof(r));
	r.status = 200;
	r.body = u8(body);
	r.body_len = strlen(body);
	memset(res, 0, sizeof(*res));
	krx_buf_init(edek, 0);
	return az_generated(&c, &r, res, edek);
}

Test(kms_azure, generate_makes_kroxylicious_v0_edek)
{
	/* research 2.6's vector: wrapped bytes 05 04 03 = "BQQD". */
	static const uint8_t	 want[] = {
		0x00, 0x08, 'k', 'e', 'y', '-', 'n', 'a', 'm', 'e',
		0x07, 'm', 'y', 'v', 'a', 'u', 'l', 't', 0x00,
		0x78, 0xde, 0xeb, 0xed, 0x17, 0x3b, 0x48, 0xe4,
		0x8f, 0x55, 0xab, 0xf8, 0x7e, 0xd4, 0xcf, 0x71,
		0x05, 0x04, 0x03
	};
	struct krx_kms_result	 res;
	struct krx_buf		 e;

	cr_assert_eq(generated(HEXV, KRX_EDEK_AZURE_RSA, "{\"kid\":\"x\","
	    "\"value\":\"BQQD\"}", &e, &res), KRX_KEY_OK, "%s", D);
	cr_assert_eq(e.len, sizeof(want));
	cr_assert_eq(memcmp(e.data, want, sizeof(want)), 0);
	cr_assert_eq(res.edek, e.data);
	cr_assert_eq(res.dek[0], 7);
	krx_buf_free(&e);
}

Test(kms_azure, generate_v1_for_other_versions_and_refusals)
{
	struct krx_kms_result	 res;
	struct krx_edek_azure	 p;
	struct krx_buf		 e;
	const char		*upper = "78DEEBED173B48E48F55ABF87ED4CF71";

	cr_assert_eq(generated(upper, KRX_EDEK_AZURE_OCT, "{\"value\":"
	    "\"BQQD\"}", &e, &res), KRX_KEY_OK);
	cr_assert_eq(e.data[0], KRX_EDEK_AZURE_V1_STRING);
	cr_assert_eq(krx_edek_azure_parse(e.data, e.len, &p), KRX_OK);
	cr_assert_str_eq(p.version, upper);
	cr_assert_eq(p.key_type, KRX_EDEK_AZURE_OCT);
	krx_buf_free(&e);
	cr_assert_eq(generated(HEXV, KRX_EDEK_AZURE_OCT, "{\"value\":\"BQQD\","
	    "\"iv\":\"AAAA\",\"tag\":\"AAAA\"}", &e, &res), KRX_KEY_INVALID);
	cr_assert_eq(e.len, 0);
	cr_assert_null(res.edek);
	krx_buf_free(&e);
}

Test(kms_azure, decrypt_wants_32_bytes)
{
	struct krx_kms_result	 res;
	struct krx_http_resp	 r;
	struct az_call		 c;
	uint8_t			 dek[KRX_DEK_LEN];
	const char		*b33 = "{\"value\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	    "AAAAAAAAAAAAAA\"}", *b32 = "{\"value\":\"AQEBAQEBAQEBAQEBAQEBAQE"
	    "BAQEBAQEBAQEBAQEBAQE\"}";

	zsetup();
	memset(&c, 0, sizeof(c));
	c.z = &Z;
	memset(&r, 0, sizeof(r));
	r.status = 200;
	r.body = u8(b33);
	r.body_len = strlen(b33);
	memset(&res, 0, sizeof(res));
	cr_assert_eq(az_decrypted(&c, &r, &res, dek), KRX_KEY_INVALID);
	cr_assert_null(res.dek);
	r.body = u8(b32);
	r.body_len = strlen(b32);
	cr_assert_eq(az_decrypted(&c, &r, &res, dek), KRX_KEY_OK, "%s",
	    c.detail);
	cr_assert_eq(res.dek[31], 1);
}

static struct krx_kms_result	 R;
static char			 RD[KRX_AZURE_DETAIL];

static void
keep(void *arg, const struct krx_kms_result *r)
{
	(void)arg;
	R = *r;
	snprintf(RD, sizeof(RD), "%s", r->detail != NULL ? r->detail : "");
}

Test(kms_azure, decrypt_other_vault_not_asked)
{
	static const uint8_t	 other[] = {
		0x00, 0x08, 'k', 'e', 'y', '-', 'n', 'a', 'm', 'e',
		0x05, 'o', 't', 'h', 'e', 'r', 0x00,
		0x78, 0xde, 0xeb, 0xed, 0x17, 0x3b, 0x48, 0xe4,
		0x8f, 0x55, 0xab, 0xf8, 0x7e, 0xd4, 0xcf, 0x71,
		0x05, 0x04, 0x03
	};
	struct krx_kms		 k;

	zsetup();
	memset(&k, 0, sizeof(k));
	k.priv = &Z;	/* no HTTP client, no flight: a call would crash */
	az_decrypt(&k, other, sizeof(other), keep, NULL);
	cr_assert_eq(R.status, KRX_KEY_NOT_FOUND);
	cr_assert(strstr(RD, "vault other, not in this provider's vault "
	    "myvault") != NULL, "%s", RD);
	az_decrypt(&k, other, 5, keep, NULL);
	cr_assert_eq(R.status, KRX_KEY_INVALID);
	/* An alias no key can have, a KEK id of another vault: no call. */
	az_resolve(&k, "KEK_a", 5, keep, NULL);
	cr_assert_eq(R.status, KRX_KEY_NOT_FOUND);
	az_generate(&k, "other/key-name/" HEXV "/RSA",
	    strlen("other/key-name/" HEXV "/RSA"), keep, NULL);
	cr_assert_eq(R.status, KRX_KEY_NOT_FOUND);
	cr_assert(TAILQ_EMPTY(&Z.calls));
}
