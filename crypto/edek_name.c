/*
 * edek_name.c: the KEK of an EDEK as text for log lines (edek_name.h).
 * Library grade. Each form is parsed by its own strict parser
 * (localkms.c, edek_kms.c); only names and versions are printed.
 */
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "crypto/edek_kms.h"
#include "crypto/edek_name.h"
#include "crypto/localkms.h"

/* Append n bytes at s to out (used bytes *at), non-printables as '?'. */
static void
en_put(char *out, size_t outsz, size_t *at, const char *s, size_t n)
{
	size_t	 i;

	for (i = 0; i < n && *at + 1 < outsz; i++)
		out[(*at)++] = s[i] > 0x20 && s[i] < 0x7f ? s[i] : '?';
	out[*at] = '\0';
}

/* Append our own text s, as it is. */
static void
en_puts(char *out, size_t outsz, size_t *at, const char *s)
{
	for (; *s != '\0' && *at + 1 < outsz; s++)
		out[(*at)++] = *s;
	out[*at] = '\0';
}

static void
en_version(char *out, size_t outsz, size_t *at, uint32_t v)
{
	char	 num[16];

	snprintf(num, sizeof(num), "%u", v);
	en_puts(out, outsz, at, " version ");
	en_puts(out, outsz, at, num);
}

int
krx_edek_kek_name(int form, const uint8_t *edek, size_t len, char *out,
    size_t outsz)
{
	struct krx_edek_vault	 v;
	struct krx_edek_aws	 a;
	struct krx_edek_azure	 z;
	const uint8_t		*name;
	size_t			 nlen, at = 0;
	uint32_t		 ver;

	if (outsz == 0)
		return KRX_E_RANGE;
	out[0] = '\0';
	if (form == KRX_EDEK_FORM_LOCAL && krx_localkms_edek_parse(edek, len,
	    &name, &nlen, &ver) == KRX_OK && nlen > 0) {
		en_put(out, outsz, &at, (const char *)name, nlen);
		en_version(out, outsz, &at, ver);
	} else if (form == KRX_EDEK_FORM_VAULT &&
	    krx_edek_vault_parse(edek, len, &v) == KRX_OK) {
		en_put(out, outsz, &at, v.key_name, v.key_name_len);
		en_version(out, outsz, &at, v.key_version);
	} else if (form == KRX_EDEK_FORM_AWS &&
	    krx_edek_aws_parse(edek, len, &a) == KRX_OK) {
		en_put(out, outsz, &at, a.key_id, a.key_id_len);
	} else if (form == KRX_EDEK_FORM_AZURE &&
	    krx_edek_azure_parse(edek, len, &z) == KRX_OK) {
		en_put(out, outsz, &at, z.key_name, z.key_name_len);
		en_puts(out, outsz, &at, " version ");
		en_put(out, outsz, &at, z.version, z.version_len);
		en_puts(out, outsz, &at, " in vault ");
		en_put(out, outsz, &at, z.vault_name, z.vault_name_len);
	} else {
		en_puts(out, outsz, &at, "?");
		return KRX_E_MALFORMED;
	}
	return KRX_OK;
}
