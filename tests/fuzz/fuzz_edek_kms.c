/*
 * fuzz_edek_kms.c: libFuzzer harness for the Vault, AWS and Azure EDEK
 * formats (crypto/edek_kms.c), the bytes keysvc gets from a worker, that
 * is from a record on a broker. The first input byte picks a target, the
 * rest is its input:
 *   0, 1, 2  Vault, AWS, Azure EDEK: parse. Checks: an error is one of
 *      the documented codes and leaves the struct zeroed; a parsed EDEK
 *      has its views inside the input, its lengths within their bounds,
 *      and serializes (after a prefix already in the buffer) back to the
 *      input byte for byte, except an Azure v1 EDEK with a lower-case hex
 *      version, which comes back as v0 and parses to the same fields.
 *   3  Azure fields from the input (key type, three lengths, then the
 *      bytes of the key name, vault name, version and wrapped DEK):
 *      serialize; on success parse back to the same fields, on error the
 *      buffer is as it was.
 * Seeds (tests/fuzz/corpus/edek_kms): Kroxylicious' four Azure vectors,
 * a Vault and an AWS EDEK, and target 3 inputs for v0 and v1.
 */
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "crypto/edek_kms.h"
#include "crypto/wrapper.h"
#include "tests/fuzz/fuzz_common.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int
fz_inside(const void *v, size_t n, const uint8_t *p, size_t len)
{
	const uint8_t	*q = v;

	return q >= p && n <= len && q - p <= (ptrdiff_t)(len - n);
}

static int
fz_zero(const void *v, size_t n)
{
	const uint8_t	*p = v;
	size_t		 i;

	for (i = 0; i < n; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

static int
fz_err_ok(int r)
{
	return r == KRX_E_TRUNCATED || r == KRX_E_TOO_BIG ||
	    r == KRX_E_MALFORMED || r == KRX_E_UNSUPPORTED;
}

/* The serialized form, after "pre", equals p. */
static void
fz_same(const struct krx_buf *b, const uint8_t *p, size_t len)
{
	fz_check(b->err == KRX_OK && b->len == 3 + len &&
	    memcmp(b->data, "pre", 3) == 0 &&
	    memcmp(b->data + 3, p, len) == 0);
}

static void
fz_vault(const uint8_t *p, size_t len)
{
	struct krx_edek_vault	 e;
	struct krx_buf		 b;
	int			 r;

	r = krx_edek_vault_parse(p, len, &e);
	if (r != KRX_OK) {
		fz_check(fz_err_ok(r) && r != KRX_E_UNSUPPORTED &&
		    fz_zero(&e, sizeof(e)));
		return;
	}
	fz_check(len <= KRX_WRAPPER_EDEK_MAX &&
	    e.key_name_len >= 1 && e.key_name_len <= KRX_EDEK_VAULT_NAME_MAX &&
	    fz_inside(e.key_name, e.key_name_len, p, len) &&
	    fz_inside(e.ciphertext, e.ciphertext_len, p, len) &&
	    (const uint8_t *)e.ciphertext + e.ciphertext_len == p + len &&
	    e.ciphertext_len >= 13 && memcmp(e.ciphertext, "vault:v", 7) == 0 &&
	    e.key_version >= 1 && e.key_version <= KRX_EDEK_VAULT_VERSION_MAX);
	krx_buf_init(&b, 0);
	krx_buf_put(&b, "pre", 3);
	fz_check(krx_edek_vault_serialize(&e, &b) == KRX_OK);
	fz_same(&b, p, len);
	krx_buf_free(&b);
}

static void
fz_aws(const uint8_t *p, size_t len)
{
	struct krx_edek_aws	 e;
	struct krx_buf		 b;
	int			 r;

	r = krx_edek_aws_parse(p, len, &e);
	if (r != KRX_OK) {
		fz_check(fz_err_ok(r) && fz_zero(&e, sizeof(e)));
		fz_check(r != KRX_E_UNSUPPORTED || (len > 0 && p[0] != 0 &&
		    len <= KRX_WRAPPER_EDEK_MAX));
		return;
	}
	fz_check(len <= KRX_WRAPPER_EDEK_MAX && p[0] == KRX_EDEK_AWS_VERSION &&
	    e.key_id_len >= 1 && e.key_id_len <= KRX_EDEK_AWS_KEY_ID_MAX &&
	    fz_inside(e.key_id, e.key_id_len, p, len) &&
	    fz_inside(e.blob, e.blob_len, p, len) && e.blob_len >= 1 &&
	    e.blob + e.blob_len == p + len);
	krx_buf_init(&b, 0);
	krx_buf_put(&b, "pre", 3);
	fz_check(krx_edek_aws_serialize(&e, &b) == KRX_OK);
	fz_same(&b, p, len);
	krx_buf_free(&b);
}

static int
fz_lower_hex32(const char *s, size_t n)
{
	return n == 32 && strspn(s, "0123456789abcdef") == 32;
}

static int
fz_azure_eq(const struct krx_edek_azure *a, const struct krx_edek_azure *b)
{
	return a->key_name_len == b->key_name_len &&
	    memcmp(a->key_name, b->key_name, a->key_name_len) == 0 &&
	    a->vault_name_len == b->vault_name_len &&
	    memcmp(a->vault_name, b->vault_name, a->vault_name_len) == 0 &&
	    a->key_type == b->key_type && a->version_len == b->version_len &&
	    memcmp(a->version, b->version, a->version_len + 1) == 0 &&
	    a->wrapped_len == b->wrapped_len &&
	    memcmp(a->wrapped, b->wrapped, a->wrapped_len) == 0;
}

static void
fz_azure(const uint8_t *p, size_t len)
{
	struct krx_edek_azure	 e, back;
	struct krx_buf		 b;
	int			 r;

	r = krx_edek_azure_parse(p, len, &e);
	if (r != KRX_OK) {
		fz_check(fz_err_ok(r) && fz_zero(&e, sizeof(e)));
		return;
	}
	fz_check(len <= KRX_WRAPPER_EDEK_MAX && e.format == p[0] &&
	    e.key_name_len >= 1 && e.key_name_len <= KRX_EDEK_AZURE_NAME_MAX &&
	    fz_inside(e.key_name, e.key_name_len, p, len) &&
	    e.vault_name_len >= KRX_EDEK_AZURE_VAULT_MIN &&
	    e.vault_name_len <= KRX_EDEK_AZURE_VAULT_MAX &&
	    fz_inside(e.vault_name, e.vault_name_len, p, len) &&
	    e.key_type >= KRX_EDEK_AZURE_RSA &&
	    e.key_type <= KRX_EDEK_AZURE_OCT_HSM &&
	    e.version_len >= 32 &&
	    e.version_len <= KRX_EDEK_AZURE_VERSION_MAX &&
	    strlen(e.version) == e.version_len &&
	    fz_inside(e.wrapped, e.wrapped_len, p, len) &&
	    e.wrapped_len >= 1 && e.wrapped + e.wrapped_len == p + len);
	if (e.format == KRX_EDEK_AZURE_V0_HEX)
		fz_check(fz_lower_hex32(e.version, e.version_len));
	krx_buf_init(&b, 0);
	krx_buf_put(&b, "pre", 3);
	fz_check(krx_edek_azure_serialize(&e, &b) == KRX_OK);
	if (e.format == KRX_EDEK_AZURE_V1_STRING &&
	    fz_lower_hex32(e.version, e.version_len)) {
		fz_check(b.len == 3 + len - 17 && b.data[3] == 0);
		fz_check(krx_edek_azure_parse(b.data + 3, b.len - 3, &back) ==
		    KRX_OK && back.format == 0 && fz_azure_eq(&e, &back));
	} else
		fz_same(&b, p, len);
	krx_buf_free(&b);
}

/* kty, three lengths, then name, vault name, version, the rest wrapped. */
static void
fz_azure_fields(const uint8_t *p, size_t len)
{
	struct krx_edek_azure	 e, back;
	struct krx_buf		 b;
	size_t			 nl, vl, verl;
	int			 r;

	if (len < 4)
		return;
	memset(&e, 0, sizeof(e));
	e.key_type = (int)(p[0] % 6) - 1;
	nl = p[1];
	vl = p[2];
	verl = p[3] % (KRX_EDEK_AZURE_VERSION_MAX + 1);
	p += 4;
	len -= 4;
	if (nl + vl + verl > len)
		return;
	e.key_name = (const char *)p;
	e.key_name_len = nl;
	e.vault_name = (const char *)p + nl;
	e.vault_name_len = vl;
	memcpy(e.version, p + nl + vl, verl);
	e.version_len = verl;
	e.wrapped = p + nl + vl + verl;
	e.wrapped_len = len - nl - vl - verl;
	krx_buf_init(&b, 0);
	krx_buf_put(&b, "pre", 3);
	r = krx_edek_azure_serialize(&e, &b);
	if (r != KRX_OK) {
		fz_check((r == KRX_E_MALFORMED || r == KRX_E_TOO_BIG ||
		    r == KRX_E_RANGE) && b.len == 3 && b.err == KRX_OK);
		krx_buf_free(&b);
		return;
	}
	fz_check(b.len > 3 && b.len - 3 <= KRX_WRAPPER_EDEK_MAX);
	fz_check(krx_edek_azure_parse(b.data + 3, b.len - 3, &back) ==
	    KRX_OK && fz_azure_eq(&e, &back) &&
	    back.format == (fz_lower_hex32(e.version, e.version_len) ? 0 : 1));
	krx_buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	switch (data[0]) {
	case 0:
		fz_vault(data + 1, size - 1);
		break;
	case 1:
		fz_aws(data + 1, size - 1);
		break;
	case 2:
		fz_azure(data + 1, size - 1);
		break;
	case 3:
		fz_azure_fields(data + 1, size - 1);
		break;
	}
	return 0;
}
