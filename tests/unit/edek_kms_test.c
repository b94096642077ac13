/*
 * edek_kms_test.c: the Vault, AWS and Azure EDEK formats
 * (crypto/edek_kms.c): Kroxylicious' Azure vectors (v0 and the three v1
 * forms) parse and re-serialize byte for byte, round trips, every
 * truncated prefix, bad version bytes and key types, character sets,
 * length bounds, the Vault ciphertext's form, minimal varints, and
 * serializers that leave their buffer alone on error.
 */
#include <string.h>

#include <openssl/evp.h>

#include <criterion/criterion.h>

#include "common/buf.h"
#include "common/err.h"
#include "crypto/edek_kms.h"
#include "crypto/wrapper.h"

/*
 * research/kroxylicious-encryption.md 2.6: 00 08 "key-name" 07 "myvault"
 * 00 (RSA) 78deebed173b48e48f55abf87ed4cf71 050403.
 */
static const uint8_t azure_v0[] = {
	0x00, 0x08, 'k', 'e', 'y', '-', 'n', 'a', 'm', 'e',
	0x07, 'm', 'y', 'v', 'a', 'u', 'l', 't', 0x00,
	0x78, 0xde, 0xeb, 0xed, 0x17, 0x3b, 0x48, 0xe4,
	0x8f, 0x55, 0xab, 0xf8, 0x7e, 0xd4, 0xcf, 0x71,
	0x05, 0x04, 0x03
};
#define AZURE_V0_HDR	35	/* everything before the wrapped DEK */
#define HEX_VERSION	"78deebed173b48e48f55abf87ed4cf71"
#define UPPER_VERSION	"78DEEBED173B48e48f55abf87ed4cf71"
#define NONHEX_VERSION	"ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ"
/* 32 Greek letters, 2 bytes each in UTF-8. */
#define GREEK_VERSION	"\xce\xb1\xce\xb2\xce\xb3\xce\xb4\xce\xb5\xce\xb6" \
	"\xce\xb7\xce\xb8\xce\xb9\xce\xba\xce\xbb\xce\xbc\xce\xbd\xce\xbe" \
	"\xce\xbf\xcf\x80\xcf\x81\xcf\x83\xcf\x84\xcf\x85\xcf\x86\xcf\x87" \
	"\xcf\x88\xcf\x89\xce\xb1\xce\xb2\xce\xb3\xce\xb4\xce\xb5\xce\xb6" \
	"\xce\xb7\xce\xb8"

/* Kroxylicious' AzureKeyVaultEdekSerdeTest encodings, same fields. */
static const struct {
	const char	*b64;
	const char	*version;
	int		 format;
} azure_vectors[] = {
	{ "AAhrZXktbmFtZQdteXZhdWx0AHje6+0XO0jkj1Wr+H7Uz3EFBAM=",
	    HEX_VERSION, 0 },
	{ "AQhrZXktbmFtZQdteXZhdWx0ACBaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpa"
	    "WlpaWgUEAw==", NONHEX_VERSION, 1 },
	{ "AQhrZXktbmFtZQdteXZhdWx0AEDOsc6yzrPOtM61zrbOt864zrnOus67zrzOvc6+"
	    "zr/PgM+Bz4PPhM+Fz4bPh8+Iz4nOsc6yzrPOtM61zrbOt864BQQD",
	    GREEK_VERSION, 1 },
	{ "AQhrZXktbmFtZQdteXZhdWx0ACA3OERFRUJFRDE3M0I0OGU0OGY1NWFiZjg3ZWQ0"
	    "Y2Y3MQUEAw==", UPPER_VERSION, 1 },
};

#define VAULT_CT	"vault:v1:" \
	"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v" \
	"MDEyMzQ1Njc4OTo7"
#define AWS_KEY_ID	"1234abcd-12ab-34cd-56ef-1234567890ab"

static size_t
unbase64(const char *b64, uint8_t *out)
{
	size_t	 n = strlen(b64);
	int	 r = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)n);

	cr_assert_gt(r, 0);
	while (n > 0 && b64[--n] == '=')
		r--;
	return (size_t)r;
}

static void
buf_eq(const struct krx_buf *b, size_t off, const uint8_t *p, size_t n)
{
	cr_assert_eq(b->len, off + n, "len %zu, want %zu", b->len, off + n);
	cr_assert_eq(memcmp(b->data + off, p, n), 0);
}

/* --- Azure --- */

Test(edek_kms, azure_v0_vector)
{
	struct krx_edek_azure	 e;
	struct krx_buf		 b;

	cr_assert_eq(krx_edek_azure_parse(azure_v0, sizeof(azure_v0), &e),
	    KRX_OK);
	cr_assert_eq(e.format, 0);
	cr_assert_eq(e.key_name_len, 8);
	cr_assert_eq(memcmp(e.key_name, "key-name", 8), 0);
	cr_assert_eq(e.key_name, (const char *)azure_v0 + 2);
	cr_assert_eq(e.vault_name_len, 7);
	cr_assert_eq(memcmp(e.vault_name, "myvault", 7), 0);
	cr_assert_eq(e.key_type, KRX_EDEK_AZURE_RSA);
	cr_assert_str_eq(e.version, HEX_VERSION);
	cr_assert_eq(e.version_len, 32);
	cr_assert_eq(e.wrapped, azure_v0 + AZURE_V0_HDR);
	cr_assert_eq(e.wrapped_len, 3);
	krx_buf_init(&b, 0);
	cr_assert_eq(krx_edek_azure_serialize(&e, &b), KRX_OK);
	buf_eq(&b, 0, azure_v0, sizeof(azure_v0));
	krx_buf_free(&b);
}

Test(edek_kms, azure_kroxylicious_vectors)
{
	struct krx_edek_azure	 e;
	struct krx_buf		 b;
	uint8_t			 raw[256];
	size_t			 i, n;

	for (i = 0; i < sizeof(azure_vectors) / sizeof(azure_vectors[0]);
	    i++) {
		n = unbase64(azure_vectors[i].b64, raw);
		cr_assert_eq(krx_edek_azure_parse(raw, n, &e), KRX_OK,
		    "vector %zu", i);
		cr_assert_eq(e.format, azure_vectors[i].format);
		cr_assert_eq(e.key_name_len, 8);
		cr_assert_eq(memcmp(e.vault_name, "myvault", 7), 0);
		cr_assert_str_eq(e.version, azure_vectors[i].version);
		cr_assert_eq(e.wrapped_len, 3);
		cr_assert_eq(memcmp(e.wrapped, "\x05\x04\x03", 3), 0);
		krx_buf_init(&b, 0);
		cr_assert_eq(krx_edek_azure_serialize(&e, &b), KRX_OK);
		buf_eq(&b, 0, raw, n);
		krx_buf_free(&b);
	}
	/* The v0 vector is the same bytes as the research's. */
	n = unbase64(azure_vectors[0].b64, raw);
	cr_assert_eq(n, sizeof(azure_v0));
	cr_assert_eq(memcmp(raw, azure_v0, n), 0);
}

static struct krx_edek_azure
azure_fields(const char *version, int kty, const uint8_t *w, size_t wn)
{
	struct krx_edek_azure	 e;

	memset(&e, 0, sizeof(e));
	e.key_name = "KEK-orders";
	e.key_name_len = 10;
	e.vault_name = "my-key-vault";
	e.vault_name_len = 12;
	e.key_type = kty;
	cr_assert_eq(krx_edek_azure_set_version(&e, version,
	    strlen(version)), KRX_OK, "%s", version);
	e.wrapped = w;
	e.wrapped_len = wn;
	return e;
}

/* Non-hex and upper-case versions take the v1 form; lower-case hex v0. */
Test(edek_kms, azure_form_choice_and_round_trip)
{
	static const char *const versions[] = {
		HEX_VERSION, UPPER_VERSION, NONHEX_VERSION, GREEK_VERSION,
		"0123456789abcdef0123456789abcdeF",
		"0123456789abcdef0123456789abcdeg",
		"\xf0\x9f\x94\x91" "0123456789abcdef0123456789abcd",
	};
	struct krx_edek_azure	 e, back;
	struct krx_buf		 b;
	uint8_t			 w[256];
	size_t			 i;
	int			 kty;

	memset(w, 0xa7, sizeof(w));
	for (i = 0; i < sizeof(versions) / sizeof(versions[0]); i++)
		for (kty = 0; kty <= KRX_EDEK_AZURE_OCT_HSM; kty++) {
			e = azure_fields(versions[i], kty, w, sizeof(w));
			krx_buf_init(&b, 0);
			cr_assert_eq(krx_edek_azure_serialize(&e, &b), KRX_OK);
			cr_assert_eq(b.data[0], i == 0 ? 0 : 1, "%s",
			    versions[i]);
			cr_assert_eq(b.len, 1 + 1 + 10 + 1 + 12 + 1 +
			    (i == 0 ? 16 : 1 + strlen(versions[i])) + 256);
			cr_assert_eq(krx_edek_azure_parse(b.data, b.len,
			    &back), KRX_OK);
			cr_assert_str_eq(back.version, versions[i]);
			cr_assert_eq(back.key_type, kty);
			cr_assert_eq(back.key_name_len, 10);
			cr_assert_eq(memcmp(back.key_name, "KEK-orders", 10),
			    0);
			cr_assert_eq(back.vault_name_len, 12);
			cr_assert_eq(back.wrapped_len, sizeof(w));
			cr_assert_eq(memcmp(back.wrapped, w, sizeof(w)), 0);
			krx_buf_free(&b);
		}
}

/* A v1 EDEK with a lower-case hex version reads; it is rewritten as v0. */
Test(edek_kms, azure_v1_with_hex_version)
{
	struct krx_edek_azure	 e;
	struct krx_buf		 b;
	uint8_t			 v1[64];
	size_t			 n = 0;

	memcpy(v1, "\x01\x08key-name\x07myvault\x00\x20", 20);
	n = 20;
	memcpy(v1 + n, HEX_VERSION, 32);
	n += 32;
	memcpy(v1 + n, "\x05\x04\x03", 3);
	n += 3;
	cr_assert_eq(krx_edek_azure_parse(v1, n, &e), KRX_OK);
	cr_assert_eq(e.format, 1);
	cr_assert_str_eq(e.version, HEX_VERSION);
	krx_buf_init(&b, 0);
	cr_assert_eq(krx_edek_azure_serialize(&e, &b), KRX_OK);
	buf_eq(&b, 0, azure_v0, sizeof(azure_v0));
	krx_buf_free(&b);
}

static int
azure_parse_mod(size_t at, uint8_t v)
{
	struct krx_edek_azure	 e;
	uint8_t			 p[sizeof(azure_v0)];

	memcpy(p, azure_v0, sizeof(p));
	p[at] = v;
	return krx_edek_azure_parse(p, sizeof(p), &e);
}

Test(edek_kms, azure_bad_bytes)
{
	struct krx_edek_azure	 e;
	uint8_t			 p[4200];

	cr_assert_eq(azure_parse_mod(0, 2), KRX_E_UNSUPPORTED);
	cr_assert_eq(azure_parse_mod(0, 0xff), KRX_E_UNSUPPORTED);
	/* Key type, at 18. */
	cr_assert_eq(azure_parse_mod(18, 4), KRX_E_UNSUPPORTED);
	cr_assert_eq(azure_parse_mod(18, 0x80), KRX_E_UNSUPPORTED);
	cr_assert_eq(azure_parse_mod(1, 0), KRX_E_MALFORMED);	/* name len */
	cr_assert_eq(azure_parse_mod(1, 128), KRX_E_TOO_BIG);
	cr_assert_eq(azure_parse_mod(5, '_'), KRX_E_MALFORMED);
	cr_assert_eq(azure_parse_mod(5, 0xc3), KRX_E_MALFORMED);
	cr_assert_eq(azure_parse_mod(5, '.'), KRX_E_MALFORMED);
	cr_assert_eq(azure_parse_mod(10, 2), KRX_E_MALFORMED);	/* vault len */
	cr_assert_eq(azure_parse_mod(10, 25), KRX_E_TOO_BIG);
	cr_assert_eq(azure_parse_mod(12, '.'), KRX_E_MALFORMED);
	/* A name length that runs into the rest: another field goes bad. */
	cr_assert_neq(azure_parse_mod(1, 9), KRX_OK);
	/* Over KRX_WRAPPER_EDEK_MAX in all. */
	memset(p, 0x11, sizeof(p));
	memcpy(p, azure_v0, AZURE_V0_HDR);
	cr_assert_eq(krx_edek_azure_parse(p, KRX_WRAPPER_EDEK_MAX, &e),
	    KRX_OK);
	cr_assert_eq(krx_edek_azure_parse(p, KRX_WRAPPER_EDEK_MAX + 1, &e),
	    KRX_E_TOO_BIG);
	cr_assert_null(e.key_name);
	cr_assert_eq(e.version_len, 0);
}

static int
azure_v1_with(const char *version, size_t vlen)
{
	struct krx_edek_azure	 e;
	uint8_t			 p[300];
	size_t			 n;

	memcpy(p, "\x01\x08key-name\x07myvault\x02", 19);
	p[19] = (uint8_t)vlen;
	memcpy(p + 20, version, vlen);
	n = 20 + vlen;
	p[n++] = 0x42;
	return krx_edek_azure_parse(p, n, &e);
}

Test(edek_kms, azure_v1_versions)
{
	cr_assert_eq(azure_v1_with(NONHEX_VERSION, 32), KRX_OK);
	cr_assert_eq(azure_v1_with(GREEK_VERSION, 64), KRX_OK);
	cr_assert_eq(azure_v1_with(NONHEX_VERSION, 31), KRX_E_MALFORMED);
	cr_assert_eq(azure_v1_with(NONHEX_VERSION "Z", 33), KRX_E_MALFORMED);
	cr_assert_eq(azure_v1_with("", 0), KRX_E_MALFORMED);
	cr_assert_eq(azure_v1_with(GREEK_VERSION GREEK_VERSION, 128),
	    KRX_E_TOO_BIG);
	/* Bad UTF-8: cut sequence, overlong, surrogate, stray continuation. */
	cr_assert_eq(azure_v1_with("\xce" "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ",
	    32), KRX_E_MALFORMED);
	cr_assert_eq(azure_v1_with("\xc0\xaf" "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ",
	    32), KRX_E_MALFORMED);
	cr_assert_eq(azure_v1_with("\xed\xa0\x80"
	    "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ", 34), KRX_E_MALFORMED);
	cr_assert_eq(azure_v1_with("\x80" "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ",
	    32), KRX_E_MALFORMED);
	cr_assert_eq(azure_v1_with("\xf4\x90\x80\x80"
	    "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ", 34), KRX_E_MALFORMED);
	/* A 4-byte character counts as two UTF-16 units. */
	cr_assert_eq(azure_v1_with("\xf0\x9f\x94\x91"
	    "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ", 34), KRX_OK);
	/* Control characters and '/' are refused. */
	cr_assert_eq(azure_v1_with("ZZZZZZZZZZZZZZZZ/ZZZZZZZZZZZZZZZ", 32),
	    KRX_E_MALFORMED);
	cr_assert_eq(azure_v1_with("ZZZZZZZZZZZZZZZZ\nZZZZZZZZZZZZZZZ", 32),
	    KRX_E_MALFORMED);
	cr_assert_eq(azure_v1_with("ZZZZZZZZZZZZZZZZ\0ZZZZZZZZZZZZZZZ", 32),
	    KRX_E_MALFORMED);
}

/* Every prefix: inside the header it fails; past it, less DEK. */
Test(edek_kms, azure_truncations)
{
	struct krx_edek_azure	 e;
	uint8_t			 raw[256];
	size_t			 i, n, hdr;
	int			 r;

	for (i = 0; i < sizeof(azure_vectors) / sizeof(azure_vectors[0]);
	    i++) {
		n = unbase64(azure_vectors[i].b64, raw);
		hdr = n - 3;
		for (size_t k = 0; k < n; k++) {
			r = krx_edek_azure_parse(raw, k, &e);
			if (k <= hdr) {
				cr_assert_eq(r, KRX_E_TRUNCATED,
				    "vector %zu k %zu: %d", i, k, r);
				cr_assert_null(e.key_name);
				cr_assert_null(e.wrapped);
			} else {
				cr_assert_eq(r, KRX_OK);
				cr_assert_eq(e.wrapped_len, k - hdr);
			}
		}
	}
}

Test(edek_kms, azure_serialize_refuses)
{
	struct krx_edek_azure	 e;
	struct krx_buf		 b;
	uint8_t			 w[KRX_WRAPPER_EDEK_MAX];

	memset(w, 1, sizeof(w));
	krx_buf_init(&b, 0);
	krx_buf_put(&b, "pre", 3);
	e = azure_fields(HEX_VERSION, 0, w, 3);
	e.key_type = 4;
	cr_assert_eq(krx_edek_azure_serialize(&e, &b), KRX_E_RANGE);
	e.key_type = -1;
	cr_assert_eq(krx_edek_azure_serialize(&e, &b), KRX_E_RANGE);
	e = azure_fields(HEX_VERSION, 0, w, 0);
	cr_assert_eq(krx_edek_azure_serialize(&e, &b), KRX_E_MALFORMED);
	e = azure_fields(HEX_VERSION, 0, w, 3);
	e.key_name = "bad_name";
	e.key_name_len = 8;
	cr_assert_eq(krx_edek_azure_serialize(&e, &b), KRX_E_MALFORMED);
	e.key_name_len = 0;
	cr_assert_eq(krx_edek_azure_serialize(&e, &b), KRX_E_MALFORMED);
	e.key_name_len = 128;
	cr_assert_eq(krx_edek_azure_serialize(&e, &b), KRX_E_TOO_BIG);
	e = azure_fields(HEX_VERSION, 0, w, 3);
	e.vault_name_len = 2;
	cr_assert_eq(krx_edek_azure_serialize(&e, &b), KRX_E_MALFORMED);
	e.vault_name_len = 25;
	cr_assert_eq(krx_edek_azure_serialize(&e, &b), KRX_E_TOO_BIG);
	e = azure_fields(HEX_VERSION, 0, w, 3);
	e.version_len = 31;
	cr_assert_eq(krx_edek_azure_serialize(&e, &b), KRX_E_MALFORMED);
	/* 42 bytes before the wrapped DEK. */
	e = azure_fields(HEX_VERSION, 0, w, sizeof(w) - 41);
	cr_assert_eq(krx_edek_azure_serialize(&e, &b), KRX_E_TOO_BIG);
	cr_assert_eq(b.len, 3);
	e = azure_fields(HEX_VERSION, 0, w, sizeof(w) - 42);
	cr_assert_eq(krx_edek_azure_serialize(&e, &b), KRX_OK);
	cr_assert_eq(b.len, 3 + KRX_WRAPPER_EDEK_MAX);
	krx_buf_free(&b);
	cr_assert_eq(krx_edek_azure_set_version(&e, NONHEX_VERSION, 31),
	    KRX_E_MALFORMED);
	cr_assert_eq(krx_edek_azure_set_version(&e, GREEK_VERSION
	    GREEK_VERSION, 128), KRX_E_TOO_BIG);
}

Test(edek_kms, azure_kty_names)
{
	cr_assert_eq(krx_edek_azure_kty("RSA", 3), KRX_EDEK_AZURE_RSA);
	cr_assert_eq(krx_edek_azure_kty("RSA-HSM", 7), KRX_EDEK_AZURE_RSA_HSM);
	cr_assert_eq(krx_edek_azure_kty("oct", 3), KRX_EDEK_AZURE_OCT);
	cr_assert_eq(krx_edek_azure_kty("oct-HSM", 7), KRX_EDEK_AZURE_OCT_HSM);
	cr_assert_eq(krx_edek_azure_kty("OCT", 3), -1);
	cr_assert_eq(krx_edek_azure_kty("EC", 2), -1);
	cr_assert_eq(krx_edek_azure_kty("RSA-HSMX", 8), -1);
	cr_assert_str_eq(krx_edek_azure_kty_name(3), "oct-HSM");
	cr_assert_null(krx_edek_azure_kty_name(4));
	cr_assert_null(krx_edek_azure_kty_name(-1));
}

/* --- Vault --- */

static size_t
vault_bytes(uint8_t *p, const char *name, const char *ct)
{
	size_t	 n = strlen(name), m = strlen(ct), at = 0;

	if (n >= 128)
		p[at++] = (uint8_t)(n | 0x80);
	p[at++] = (uint8_t)(n >= 128 ? n >> 7 : n);
	memcpy(p + at, name, n);
	memcpy(p + at + n, ct, m);
	return at + n + m;
}

static int
vault_parse_str(const char *name, const char *ct)
{
	struct krx_edek_vault	 e;
	uint8_t			 p[600];

	return krx_edek_vault_parse(p, vault_bytes(p, name, ct), &e);
}

Test(edek_kms, vault_round_trip)
{
	struct krx_edek_vault	 e;
	struct krx_buf		 b;
	uint8_t			 p[600];
	size_t			 n = vault_bytes(p, "KEK-trades", VAULT_CT);

	cr_assert_eq(strlen(VAULT_CT), 89);
	cr_assert_eq(p[0], 0x0a);
	cr_assert_eq(krx_edek_vault_parse(p, n, &e), KRX_OK);
	cr_assert_eq(e.key_name, (const char *)p + 1);
	cr_assert_eq(e.key_name_len, 10);
	cr_assert_eq(e.ciphertext, (const char *)p + 11);
	cr_assert_eq(e.ciphertext_len, 89);
	cr_assert_eq(e.key_version, 1);
	krx_buf_init(&b, 0);
	krx_buf_put(&b, "pre", 3);
	cr_assert_eq(krx_edek_vault_serialize(&e, &b), KRX_OK);
	buf_eq(&b, 3, p, n);
	krx_buf_free(&b);
}

Test(edek_kms, vault_names)
{
	char	 name[300];

	cr_assert_eq(vault_parse_str("a", VAULT_CT), KRX_OK);
	cr_assert_eq(vault_parse_str("_", VAULT_CT), KRX_OK);
	cr_assert_eq(vault_parse_str("a.b-c_d", VAULT_CT), KRX_OK);
	cr_assert_eq(vault_parse_str("-a", VAULT_CT), KRX_E_MALFORMED);
	cr_assert_eq(vault_parse_str("a.", VAULT_CT), KRX_E_MALFORMED);
	cr_assert_eq(vault_parse_str("a/b", VAULT_CT), KRX_E_MALFORMED);
	cr_assert_eq(vault_parse_str("a b", VAULT_CT), KRX_E_MALFORMED);
	cr_assert_eq(vault_parse_str("a@b", VAULT_CT), KRX_E_MALFORMED);
	cr_assert_eq(vault_parse_str("caf\xc3\xa9", VAULT_CT),
	    KRX_E_MALFORMED);
	memset(name, 'k', sizeof(name));
	name[255] = '\0';
	cr_assert_eq(vault_parse_str(name, VAULT_CT), KRX_OK);
	name[255] = 'k';
	name[256] = '\0';
	cr_assert_eq(vault_parse_str(name, VAULT_CT), KRX_E_TOO_BIG);
}

Test(edek_kms, vault_ciphertexts)
{
	cr_assert_eq(vault_parse_str("k", "vault:v1:AAAA"), KRX_OK);
	cr_assert_eq(vault_parse_str("k", "vault:v1:AA=="), KRX_OK);
	cr_assert_eq(vault_parse_str("k", "vault:v1:AAA="), KRX_OK);
	cr_assert_eq(vault_parse_str("k", "vault:v2147483647:a+/9"), KRX_OK);
	cr_assert_eq(vault_parse_str("k", "vault:v2147483648:AAAA"),
	    KRX_E_MALFORMED);
	cr_assert_eq(vault_parse_str("k", "vault:v99999999999:AAAA"),
	    KRX_E_MALFORMED);
	cr_assert_eq(vault_parse_str("k", "vault:v0:AAAA"), KRX_E_MALFORMED);
	cr_assert_eq(vault_parse_str("k", "vault:v01:AAAA"), KRX_E_MALFORMED);
	cr_assert_eq(vault_parse_str("k", "vault:v:AAAA"), KRX_E_MALFORMED);
	cr_assert_eq(vault_parse_str("k", "vault:v1AAAA"), KRX_E_MALFORMED);
	cr_assert_eq(vault_parse_str("k", "vault:v1"), KRX_E_MALFORMED);
	cr_assert_eq(vault_parse_str("k", "vault:v1:"), KRX_E_MALFORMED);
	cr_assert_eq(vault_parse_str("k", "vault:v1:AAA"), KRX_E_MALFORMED);
	cr_assert_eq(vault_parse_str("k", "vault:v1:AAAAA"), KRX_E_MALFORMED);
	cr_assert_eq(vault_parse_str("k", "vault:v1:A==="), KRX_E_MALFORMED);
	cr_assert_eq(vault_parse_str("k", "vault:v1:A=AA"), KRX_E_MALFORMED);
	cr_assert_eq(vault_parse_str("k", "vault:v1:AA-_"), KRX_E_MALFORMED);
	cr_assert_eq(vault_parse_str("k", "vault:v1:AAAA\n"),
	    KRX_E_MALFORMED);
	cr_assert_eq(vault_parse_str("k", "Vault:v1:AAAA"), KRX_E_MALFORMED);
	cr_assert_eq(vault_parse_str("k", "vault:V1:AAAA"), KRX_E_MALFORMED);
	cr_assert_eq(vault_parse_str("k", "vault:v-1:AAAA"), KRX_E_MALFORMED);
	cr_assert_eq(vault_parse_str("k", ""), KRX_E_TRUNCATED);
}

Test(edek_kms, vault_lengths_and_truncations)
{
	struct krx_edek_vault	 e;
	uint8_t			 p[5000];
	size_t			 n, k;
	int			 r;

	/* Non-minimal varint for 10, and a three-byte varint. */
	n = vault_bytes(p + 1, "KEK-trades", VAULT_CT);
	p[0] = 0x8a;
	p[1] = 0x00;
	cr_assert_eq(krx_edek_vault_parse(p, n + 1, &e), KRX_E_MALFORMED);
	memcpy(p, "\x80\x80\x01", 3);
	cr_assert_eq(krx_edek_vault_parse(p, 3, &e), KRX_E_MALFORMED);
	p[0] = 0;
	cr_assert_eq(krx_edek_vault_parse(p, 14, &e), KRX_E_MALFORMED);
	cr_assert_eq(krx_edek_vault_parse(p, 0, &e), KRX_E_TRUNCATED);
	/* Every prefix. */
	n = vault_bytes(p, "KEK-trades", VAULT_CT);
	for (k = 0; k < n; k++) {
		r = krx_edek_vault_parse(p, k, &e);
		if (k >= 11 + 9 + 4 && (k - 20) % 4 == 0) {
			cr_assert_eq(r, KRX_OK, "k %zu", k);
			cr_assert_eq(e.ciphertext_len, k - 11);
			continue;
		}
		cr_assert_neq(r, KRX_OK, "k %zu", k);
		cr_assert_null(e.key_name);
		if (k <= 11)
			cr_assert_eq(r, KRX_E_TRUNCATED, "k %zu", k);
	}
	/* Over KRX_WRAPPER_EDEK_MAX in all. */
	n = vault_bytes(p, "k", "vault:v1:");
	memset(p + n, 'A', sizeof(p) - n);
	k = KRX_WRAPPER_EDEK_MAX - n;
	k -= k % 4;
	cr_assert_eq(krx_edek_vault_parse(p, n + k, &e), KRX_OK);
	cr_assert_eq(krx_edek_vault_parse(p, n + k + 4, &e), KRX_E_TOO_BIG);
}

Test(edek_kms, vault_serialize_refuses)
{
	struct krx_edek_vault	 e;
	struct krx_buf		 b;
	char			 big[KRX_WRAPPER_EDEK_MAX + 8];

	krx_buf_init(&b, 0);
	krx_buf_put(&b, "pre", 3);
	memset(&e, 0, sizeof(e));
	e.key_name = "KEK-x";
	e.key_name_len = 5;
	e.ciphertext = "vault:v1:AAA";
	e.ciphertext_len = 12;
	cr_assert_eq(krx_edek_vault_serialize(&e, &b), KRX_E_MALFORMED);
	e.ciphertext_len = 0;
	cr_assert_eq(krx_edek_vault_serialize(&e, &b), KRX_E_MALFORMED);
	e.ciphertext = VAULT_CT;
	e.ciphertext_len = strlen(VAULT_CT);
	e.key_name = "KEK x";
	cr_assert_eq(krx_edek_vault_serialize(&e, &b), KRX_E_MALFORMED);
	e.key_name_len = 0;
	cr_assert_eq(krx_edek_vault_serialize(&e, &b), KRX_E_MALFORMED);
	e.key_name_len = 256;
	cr_assert_eq(krx_edek_vault_serialize(&e, &b), KRX_E_TOO_BIG);
	memcpy(big, "vault:v7:", 9);
	memset(big + 9, 'Q', sizeof(big) - 9);
	e.key_name = "k";
	e.key_name_len = 1;
	e.ciphertext = big;
	e.ciphertext_len = KRX_WRAPPER_EDEK_MAX - 2 + 1;
	e.ciphertext_len -= (e.ciphertext_len - 9) % 4;
	cr_assert_eq(krx_edek_vault_serialize(&e, &b), KRX_OK);
	cr_assert_leq(b.len - 3, KRX_WRAPPER_EDEK_MAX);
	b.len = 3;
	e.ciphertext_len += 4;
	cr_assert_eq(krx_edek_vault_serialize(&e, &b), KRX_E_TOO_BIG);
	cr_assert_eq(b.len, 3);
	krx_buf_free(&b);
}

/* --- AWS --- */

static size_t
aws_bytes(uint8_t *p, uint8_t version, const char *id, size_t blob_len)
{
	size_t	 n = strlen(id), at = 0, i;

	p[at++] = version;
	if (n >= 128)
		p[at++] = (uint8_t)(n | 0x80);
	p[at++] = (uint8_t)(n >= 128 ? n >> 7 : n);
	memcpy(p + at, id, n);
	at += n;
	for (i = 0; i < blob_len; i++)
		p[at++] = (uint8_t)(i * 7 + 1);
	return at;
}

static int
aws_parse_id(const char *id)
{
	struct krx_edek_aws	 e;
	uint8_t			 p[600];

	return krx_edek_aws_parse(p, aws_bytes(p, 0, id, 184), &e);
}

Test(edek_kms, aws_round_trip)
{
	struct krx_edek_aws	 e;
	struct krx_buf		 b;
	uint8_t			 p[600];
	size_t			 n = aws_bytes(p, 0, AWS_KEY_ID, 184);

	cr_assert_eq(p[1], 0x24);
	cr_assert_eq(krx_edek_aws_parse(p, n, &e), KRX_OK);
	cr_assert_eq(e.key_id, (const char *)p + 2);
	cr_assert_eq(e.key_id_len, 36);
	cr_assert_eq(e.blob, p + 38);
	cr_assert_eq(e.blob_len, 184);
	krx_buf_init(&b, 0);
	cr_assert_eq(krx_edek_aws_serialize(&e, &b), KRX_OK);
	buf_eq(&b, 0, p, n);
	krx_buf_free(&b);
}

Test(edek_kms, aws_versions_and_ids)
{
	struct krx_edek_aws	 e;
	uint8_t			 p[600];
	char			 id[300];
	size_t			 n;

	n = aws_bytes(p, 1, AWS_KEY_ID, 10);
	cr_assert_eq(krx_edek_aws_parse(p, n, &e), KRX_E_UNSUPPORTED);
	p[0] = 0xff;
	cr_assert_eq(krx_edek_aws_parse(p, n, &e), KRX_E_UNSUPPORTED);
	cr_assert_null(e.key_id);
	cr_assert_eq(aws_parse_id("mrk-1234abcd12ab34cd56ef1234567890ab"),
	    KRX_OK);
	cr_assert_eq(aws_parse_id("arn:aws:kms:us-east-1:111122223333:key/"
	    AWS_KEY_ID), KRX_OK);
	cr_assert_eq(aws_parse_id("alias/x_y"), KRX_OK);
	cr_assert_eq(aws_parse_id("a b"), KRX_E_MALFORMED);
	cr_assert_eq(aws_parse_id("a.b"), KRX_E_MALFORMED);
	cr_assert_eq(aws_parse_id("a\x01"), KRX_E_MALFORMED);
	memset(id, 'a', sizeof(id));
	id[256] = '\0';
	cr_assert_eq(aws_parse_id(id), KRX_OK);
	id[256] = 'a';
	id[257] = '\0';
	cr_assert_eq(aws_parse_id(id), KRX_E_TOO_BIG);
	/* Zero length, non-minimal length. */
	memcpy(p, "\x00\x00\x01\x02", 4);
	cr_assert_eq(krx_edek_aws_parse(p, 4, &e), KRX_E_MALFORMED);
	memcpy(p, "\x00\x81\x00" "abc", 6);
	cr_assert_eq(krx_edek_aws_parse(p, 6, &e), KRX_E_MALFORMED);
}

Test(edek_kms, aws_truncations)
{
	struct krx_edek_aws	 e;
	uint8_t			 p[5000];
	size_t			 n = aws_bytes(p, 0, AWS_KEY_ID, 184), k;
	int			 r;

	for (k = 0; k < n; k++) {
		r = krx_edek_aws_parse(p, k, &e);
		if (k <= 38) {
			cr_assert_eq(r, KRX_E_TRUNCATED, "k %zu", k);
			cr_assert_null(e.key_id);
		} else {
			cr_assert_eq(r, KRX_OK);
			cr_assert_eq(e.blob_len, k - 38);
		}
	}
	memset(p + n, 0x33, sizeof(p) - n);
	cr_assert_eq(krx_edek_aws_parse(p, KRX_WRAPPER_EDEK_MAX, &e), KRX_OK);
	cr_assert_eq(krx_edek_aws_parse(p, KRX_WRAPPER_EDEK_MAX + 1, &e),
	    KRX_E_TOO_BIG);
}

Test(edek_kms, aws_serialize_refuses)
{
	struct krx_edek_aws	 e;
	struct krx_buf		 b;
	uint8_t			 blob[KRX_WRAPPER_EDEK_MAX];

	memset(blob, 9, sizeof(blob));
	krx_buf_init(&b, 0);
	krx_buf_put(&b, "pre", 3);
	e.key_id = AWS_KEY_ID;
	e.key_id_len = 36;
	e.blob = blob;
	e.blob_len = 0;
	cr_assert_eq(krx_edek_aws_serialize(&e, &b), KRX_E_MALFORMED);
	e.blob_len = sizeof(blob) - 38;
	cr_assert_eq(krx_edek_aws_serialize(&e, &b), KRX_OK);
	cr_assert_eq(b.len, 3 + KRX_WRAPPER_EDEK_MAX);
	b.len = 3;
	e.blob_len++;
	cr_assert_eq(krx_edek_aws_serialize(&e, &b), KRX_E_TOO_BIG);
	e.blob_len = 10;
	e.key_id = "key id";
	e.key_id_len = 6;
	cr_assert_eq(krx_edek_aws_serialize(&e, &b), KRX_E_MALFORMED);
	e.key_id_len = 0;
	cr_assert_eq(krx_edek_aws_serialize(&e, &b), KRX_E_MALFORMED);
	e.key_id_len = 257;
	cr_assert_eq(krx_edek_aws_serialize(&e, &b), KRX_E_TOO_BIG);
	cr_assert_eq(b.len, 3);
	krx_buf_free(&b);
}

/* A buffer whose allocation already failed is left as it was. */
Test(edek_kms, serialize_sticky_error)
{
	struct krx_edek_aws	 e;
	struct krx_buf		 b;
	uint8_t			 blob[4] = { 1, 2, 3, 4 };

	krx_buf_init(&b, 0);
	krx_buf_put(&b, "pre", 3);
	b.err = KRX_E_NOMEM;
	e.key_id = AWS_KEY_ID;
	e.key_id_len = 36;
	e.blob = blob;
	e.blob_len = sizeof(blob);
	cr_assert_eq(krx_edek_aws_serialize(&e, &b), KRX_E_NOMEM);
	cr_assert_eq(b.len, 3);
	krx_buf_free(&b);
}
