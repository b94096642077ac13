/*
 * edek_name_test.c: the KEK an EDEK names for log lines
 * (crypto/edek_name.c): every form (LocalKms, Vault, AWS, Azure v0 and
 * v1) gives its name and version and no key material; an EDEK read as
 * the wrong form, cut short or unknown gives "?"; the output is cut to
 * its buffer and NUL-terminated.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "common/buf.h"
#include "common/err.h"
#include "crypto/edek_kms.h"
#include "crypto/edek_name.h"
#include "crypto/localkms.h"

static char	 out[600];

static int
name(int form, const struct krx_buf *b)
{
	return krx_edek_kek_name(form, b->data, b->len, out, sizeof(out));
}

/* A LocalKms EDEK: format 1 | uvarint n | name | be32 version | IV,
 * DEK and tag (60 bytes). */
static void
local_edek(struct krx_buf *b, const char *kek, uint32_t version)
{
	uint8_t	 rest[60];

	krx_buf_init(b, 128);
	krx_buf_put_u8(b, KRX_LOCALKMS_FORMAT);
	krx_buf_put_u8(b, (uint8_t)strlen(kek));
	krx_buf_put(b, kek, strlen(kek));
	krx_buf_put_u8(b, (uint8_t)(version >> 24));
	krx_buf_put_u8(b, (uint8_t)(version >> 16));
	krx_buf_put_u8(b, (uint8_t)(version >> 8));
	krx_buf_put_u8(b, (uint8_t)version);
	memset(rest, 0xab, sizeof(rest));
	krx_buf_put(b, rest, sizeof(rest));
}

Test(edek_name, every_form)
{
	static const uint8_t	 blob[] = { 0x01, 0x02, 0x03, 0xfe, 0xff };
	struct krx_edek_vault	 v;
	struct krx_edek_aws	 a;
	struct krx_edek_azure	 z;
	struct krx_buf		 b;

	local_edek(&b, "KEK-orders", 7);
	cr_assert_eq(name(KRX_EDEK_FORM_LOCAL, &b), KRX_OK);
	cr_assert_str_eq(out, "KEK-orders version 7");
	/* The same bytes read as another form: not that form. */
	cr_assert_eq(name(KRX_EDEK_FORM_AWS, &b), KRX_E_MALFORMED);
	cr_assert_str_eq(out, "?");
	krx_buf_free(&b);

	memset(&v, 0, sizeof(v));
	v.key_name = "KEK-vault";
	v.key_name_len = 9;
	v.ciphertext = "vault:v12:c2VjcmV0LWRlaw==";
	v.ciphertext_len = strlen(v.ciphertext);
	krx_buf_init(&b, 64);
	cr_assert_eq(krx_edek_vault_serialize(&v, &b), KRX_OK);
	cr_assert_eq(name(KRX_EDEK_FORM_VAULT, &b), KRX_OK);
	cr_assert_str_eq(out, "KEK-vault version 12");
	cr_assert_null(strstr(out, "c2VjcmV0"));
	krx_buf_free(&b);

	memset(&a, 0, sizeof(a));
	a.key_id = "arn:aws:kms:us-east-1:123456789012:key/1234abcd";
	a.key_id_len = strlen(a.key_id);
	a.blob = blob;
	a.blob_len = sizeof(blob);
	krx_buf_init(&b, 64);
	cr_assert_eq(krx_edek_aws_serialize(&a, &b), KRX_OK);
	cr_assert_eq(name(KRX_EDEK_FORM_AWS, &b), KRX_OK);
	cr_assert_str_eq(out, a.key_id);
	/* Cut short: the blob is gone. */
	b.len -= sizeof(blob);
	cr_assert_eq(name(KRX_EDEK_FORM_AWS, &b), KRX_E_MALFORMED);
	cr_assert_str_eq(out, "?");
	krx_buf_free(&b);

	memset(&z, 0, sizeof(z));
	z.key_name = "KEK-az";
	z.key_name_len = 6;
	z.vault_name = "myvault";
	z.vault_name_len = 7;
	z.key_type = KRX_EDEK_AZURE_RSA;
	z.wrapped = blob;
	z.wrapped_len = sizeof(blob);
	cr_assert_eq(krx_edek_azure_set_version(&z,
	    "78deebed173b48e48f55abf87ed4cf71", 32), KRX_OK);
	krx_buf_init(&b, 64);
	cr_assert_eq(krx_edek_azure_serialize(&z, &b), KRX_OK);
	cr_assert_eq(name(KRX_EDEK_FORM_AZURE, &b), KRX_OK);
	cr_assert_str_eq(out, "KEK-az version 78deebed173b48e48f55abf87ed4cf71 "
	    "in vault myvault");
	krx_buf_free(&b);
	cr_assert_eq(krx_edek_azure_set_version(&z,
	    "V2-NOT-HEX-0123456789abcdefghijk", 32), KRX_OK);
	krx_buf_init(&b, 64);
	cr_assert_eq(krx_edek_azure_serialize(&z, &b), KRX_OK);
	cr_assert_eq(name(KRX_EDEK_FORM_AZURE, &b), KRX_OK);
	cr_assert_str_eq(out, "KEK-az version V2-NOT-HEX-0123456789abcdefghijk "
	    "in vault myvault");
	cr_assert_eq(name(99, &b), KRX_E_MALFORMED);
	cr_assert_str_eq(out, "?");
	krx_buf_free(&b);
}

Test(edek_name, cut_to_the_buffer)
{
	struct krx_buf	 b;
	char		 small[8];

	local_edek(&b, "KEK-a-long-name", 1);
	memset(small, 'x', sizeof(small));
	cr_assert_eq(krx_edek_kek_name(KRX_EDEK_FORM_LOCAL, b.data, b.len,
	    small, sizeof(small)), KRX_OK);
	cr_assert_str_eq(small, "KEK-a-l");
	cr_assert_eq(krx_edek_kek_name(KRX_EDEK_FORM_LOCAL, b.data, b.len,
	    small, 0), KRX_E_RANGE);
	cr_assert_eq(krx_edek_kek_name(KRX_EDEK_FORM_LOCAL, b.data, 0,
	    small, sizeof(small)), KRX_E_MALFORMED);
	krx_buf_free(&b);
}
