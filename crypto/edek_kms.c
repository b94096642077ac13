/*
 * edek_kms.c: parse and serialize the EDEKs of Kroxylicious' Vault, AWS
 * KMS and Azure Key Vault providers (see edek_kms.h for the layouts).
 * Library grade; keysvc runs it on EDEKs that came from a broker, so
 * nothing in the bytes is trusted: every length is bounded, every
 * character set checked, every parse ends exactly at the input's end.
 */
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "crypto/edek_kms.h"
#include "crypto/wrapper.h"

#define VAULT_PREFIX		"vault:v"
#define VAULT_PREFIX_LEN	7
#define VAULT_VERSION_DIGITS	10

static const char hexdigits[] = "0123456789abcdef";

static int
ek_alnum(unsigned char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
	    (ch >= '0' && ch <= '9');
}

/* Vault's GenericNameRegex: \w(([\w-.]+)?\w)? in ASCII. */
static int
ek_vault_name_ok(const char *s, size_t n)
{
	size_t	 i;

	if (n == 0 || n > KRX_EDEK_VAULT_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		if (ek_alnum(s[i]) || s[i] == '_')
			continue;
		if ((s[i] == '-' || s[i] == '.') && i > 0 && i < n - 1)
			continue;
		return 0;
	}
	return 1;
}

/* Standard base64 with padding: groups of 4, '=' only at the end. */
static int
ek_base64_ok(const char *s, size_t n)
{
	size_t	 i, pad = 0;

	if (n < 4 || n % 4 != 0)
		return 0;
	if (s[n - 1] == '=')
		pad = s[n - 2] == '=' ? 2 : 1;
	for (i = 0; i < n - pad; i++)
		if (!ek_alnum(s[i]) && s[i] != '+' && s[i] != '/')
			return 0;
	return 1;
}

/* "vault:v<N>:<base64>"; *version = N. */
static int
ek_vault_ct(const char *s, size_t n, uint32_t *version)
{
	uint64_t	 v = 0;
	size_t		 i;

	if (n == 0)
		return KRX_E_TRUNCATED;
	if (n < VAULT_PREFIX_LEN ||
	    memcmp(s, VAULT_PREFIX, VAULT_PREFIX_LEN) != 0)
		return KRX_E_MALFORMED;
	for (i = VAULT_PREFIX_LEN; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
		if (i - VAULT_PREFIX_LEN == VAULT_VERSION_DIGITS)
			return KRX_E_MALFORMED;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (i == VAULT_PREFIX_LEN || s[VAULT_PREFIX_LEN] == '0' ||
	    v > KRX_EDEK_VAULT_VERSION_MAX || i == n || s[i] != ':')
		return KRX_E_MALFORMED;
	if (!ek_base64_ok(s + i + 1, n - i - 1))
		return KRX_E_MALFORMED;
	*version = (uint32_t)v;
	return KRX_OK;
}

/* A uvarint length that must be minimal and within 1..max. */
static int
ek_get_len(struct krx_cur *c, size_t max, size_t *n)
{
	uint64_t	 v;
	size_t		 at = c->off;
	int		 r;

	if ((r = krx_cur_get_uvarint(c, &v, 2)) != KRX_OK)
		return r;
	if (v == 0 || krx_uvarint_len(v) != c->off - at)
		return KRX_E_MALFORMED;
	if (v > max)
		return KRX_E_TOO_BIG;
	*n = (size_t)v;
	return KRX_OK;
}

int
krx_edek_vault_parse(const uint8_t *p, size_t len, struct krx_edek_vault *e)
{
	struct krx_cur	 c;
	const uint8_t	*name, *ct;
	size_t		 n;
	int		 r = KRX_E_TOO_BIG;

	memset(e, 0, sizeof(*e));
	if (len > KRX_WRAPPER_EDEK_MAX)
		goto out;
	krx_cur_init(&c, p, len);
	if ((r = ek_get_len(&c, KRX_EDEK_VAULT_NAME_MAX, &n)) != KRX_OK ||
	    (r = krx_cur_get_ref(&c, n, &name)) != KRX_OK)
		goto out;
	if (!ek_vault_name_ok((const char *)name, n)) {
		r = KRX_E_MALFORMED;
		goto out;
	}
	e->key_name = (const char *)name;
	e->key_name_len = n;
	n = krx_cur_left(&c);
	if ((r = krx_cur_get_ref(&c, n, &ct)) != KRX_OK ||
	    (r = ek_vault_ct((const char *)ct, n, &e->key_version)) != KRX_OK)
		goto out;
	e->ciphertext = (const char *)ct;
	e->ciphertext_len = n;
	r = krx_cur_end(&c);
out:
	if (r != KRX_OK)
		memset(e, 0, sizeof(*e));
	return r;
}

/* Append the n bytes of parts (already checked) or leave out as it was. */
static int
ek_put(struct krx_buf *out, size_t total, const void *const *parts,
    const size_t *lens, size_t nparts)
{
	size_t	 i, at = out->len;

	if (total > KRX_WRAPPER_EDEK_MAX)
		return KRX_E_TOO_BIG;
	if (krx_buf_reserve(out, total) != KRX_OK)
		return KRX_E_NOMEM;
	for (i = 0; i < nparts; i++)
		krx_buf_put(out, parts[i], lens[i]);
	if (out->err != KRX_OK || out->len != at + total) {
		out->len = at;
		return KRX_E_NOMEM;
	}
	return KRX_OK;
}

/* The minimal uvarint of v (< 2^14) into b; returns its length. */
static size_t
ek_uvarint(uint8_t b[2], size_t v)
{
	if (v < 0x80) {
		b[0] = (uint8_t)v;
		return 1;
	}
	b[0] = (uint8_t)(v | 0x80);
	b[1] = (uint8_t)(v >> 7);
	return 2;
}

int
krx_edek_vault_serialize(const struct krx_edek_vault *e, struct krx_buf *out)
{
	const void	*parts[3];
	size_t		 lens[3];
	uint8_t		 vlen[2];
	uint32_t	 version;

	if (e->key_name_len > KRX_EDEK_VAULT_NAME_MAX ||
	    e->ciphertext_len > KRX_WRAPPER_EDEK_MAX)
		return KRX_E_TOO_BIG;
	if (!ek_vault_name_ok(e->key_name, e->key_name_len) ||
	    ek_vault_ct(e->ciphertext, e->ciphertext_len, &version) != KRX_OK)
		return KRX_E_MALFORMED;
	parts[0] = vlen;
	lens[0] = ek_uvarint(vlen, e->key_name_len);
	parts[1] = e->key_name;
	lens[1] = e->key_name_len;
	parts[2] = e->ciphertext;
	lens[2] = e->ciphertext_len;
	return ek_put(out, lens[0] + lens[1] + lens[2], parts, lens, 3);
}

static int
ek_aws_key_id_ok(const char *s, size_t n)
{
	size_t	 i;

	if (n == 0 || n > KRX_EDEK_AWS_KEY_ID_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!ek_alnum(s[i]) && s[i] != '-' && s[i] != '_' &&
		    s[i] != ':' && s[i] != '/')
			return 0;
	return 1;
}

int
krx_edek_aws_parse(const uint8_t *p, size_t len, struct krx_edek_aws *e)
{
	struct krx_cur	 c;
	const uint8_t	*id;
	size_t		 n;
	uint8_t		 version;
	int		 r = KRX_E_TOO_BIG;

	memset(e, 0, sizeof(*e));
	if (len > KRX_WRAPPER_EDEK_MAX)
		goto out;
	krx_cur_init(&c, p, len);
	if ((r = krx_cur_get_u8(&c, &version)) != KRX_OK)
		goto out;
	if (version != KRX_EDEK_AWS_VERSION) {
		r = KRX_E_UNSUPPORTED;
		goto out;
	}
	if ((r = ek_get_len(&c, KRX_EDEK_AWS_KEY_ID_MAX, &n)) != KRX_OK ||
	    (r = krx_cur_get_ref(&c, n, &id)) != KRX_OK)
		goto out;
	if (!ek_aws_key_id_ok((const char *)id, n)) {
		r = KRX_E_MALFORMED;
		goto out;
	}
	e->key_id = (const char *)id;
	e->key_id_len = n;
	if ((n = krx_cur_left(&c)) == 0) {
		r = KRX_E_TRUNCATED;
		goto out;
	}
	if ((r = krx_cur_get_ref(&c, n, &e->blob)) != KRX_OK)
		goto out;
	e->blob_len = n;
	r = krx_cur_end(&c);
out:
	if (r != KRX_OK)
		memset(e, 0, sizeof(*e));
	return r;
}

int
krx_edek_aws_serialize(const struct krx_edek_aws *e, struct krx_buf *out)
{
	static const uint8_t	 version = KRX_EDEK_AWS_VERSION;
	const void		*parts[4];
	size_t			 lens[4];
	uint8_t			 vlen[2];

	if (e->key_id_len > KRX_EDEK_AWS_KEY_ID_MAX ||
	    e->blob_len > KRX_WRAPPER_EDEK_MAX)
		return KRX_E_TOO_BIG;
	if (!ek_aws_key_id_ok(e->key_id, e->key_id_len) || e->blob_len == 0)
		return KRX_E_MALFORMED;
	parts[0] = &version;
	lens[0] = 1;
	parts[1] = vlen;
	lens[1] = ek_uvarint(vlen, e->key_id_len);
	parts[2] = e->key_id;
	lens[2] = e->key_id_len;
	parts[3] = e->blob;
	lens[3] = e->blob_len;
	return ek_put(out, lens[0] + lens[1] + lens[2] + lens[3], parts, lens,
	    4);
}

/* [A-Za-z0-9-], min..max characters. */
static int
ek_azure_name_ok(const char *s, size_t n, size_t min, size_t max)
{
	size_t	 i;

	if (n < min || n > max)
		return 0;
	for (i = 0; i < n; i++)
		if (!ek_alnum(s[i]) && s[i] != '-')
			return 0;
	return 1;
}

static int
ek_lower_hex32(const char *s, size_t n)
{
	size_t	 i;

	if (n != 2 * KRX_EDEK_AZURE_VERSION_RAW)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/*
 * Valid UTF-8 (no overlong form, surrogate or code point past U+10FFFF)
 * without C0 controls, DEL or '/'; returns its length in UTF-16 units,
 * or -1.
 */
static long
ek_utf16_units(const unsigned char *s, size_t n)
{
	unsigned long	 cp;
	size_t		 i = 0, k, more;
	long		 units = 0;

	while (i < n) {
		cp = s[i];
		if (cp < 0x80) {
			if (cp < 0x20 || cp == 0x7f || cp == '/')
				return -1;
			more = 0;
		} else if ((cp & 0xe0) == 0xc0) {
			cp &= 0x1f;
			more = 1;
		} else if ((cp & 0xf0) == 0xe0) {
			cp &= 0x0f;
			more = 2;
		} else if ((cp & 0xf8) == 0xf0) {
			cp &= 0x07;
			more = 3;
		} else
			return -1;
		if (n - i - 1 < more)
			return -1;
		for (k = 1; k <= more; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return -1;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((more == 1 && cp < 0x80) || (more == 2 && cp < 0x800) ||
		    (more == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return -1;
		units += cp >= 0x10000 ? 2 : 1;
		i += more + 1;
	}
	return units;
}

int
krx_edek_azure_set_version(struct krx_edek_azure *e, const char *s,
    size_t n)
{
	if (n > KRX_EDEK_AZURE_VERSION_MAX)
		return KRX_E_TOO_BIG;
	if (ek_utf16_units((const unsigned char *)s, n) !=
	    KRX_EDEK_AZURE_VERSION_UNITS)
		return KRX_E_MALFORMED;
	memcpy(e->version, s, n);
	e->version[n] = '\0';
	e->version_len = n;
	return KRX_OK;
}

/* A u8 length in min..max, then that many bytes of [A-Za-z0-9-]. */
static int
ek_azure_name(struct krx_cur *c, size_t min, size_t max, const char **s,
    size_t *n)
{
	const uint8_t	*p;
	uint8_t		 len;
	int		 r;

	if ((r = krx_cur_get_u8(c, &len)) != KRX_OK)
		return r;
	if (len > max)
		return KRX_E_TOO_BIG;
	if (len < min)
		return KRX_E_MALFORMED;
	if ((r = krx_cur_get_ref(c, len, &p)) != KRX_OK)
		return r;
	if (!ek_azure_name_ok((const char *)p, len, min, max))
		return KRX_E_MALFORMED;
	*s = (const char *)p;
	*n = len;
	return KRX_OK;
}

static int
ek_azure_version(struct krx_cur *c, struct krx_edek_azure *e)
{
	const uint8_t	*p;
	uint8_t		 len;
	size_t		 i;
	int		 r;

	if (e->format == KRX_EDEK_AZURE_V0_HEX) {
		if ((r = krx_cur_get_ref(c, KRX_EDEK_AZURE_VERSION_RAW, &p)) !=
		    KRX_OK)
			return r;
		for (i = 0; i < KRX_EDEK_AZURE_VERSION_RAW; i++) {
			e->version[2 * i] = hexdigits[p[i] >> 4];
			e->version[2 * i + 1] = hexdigits[p[i] & 0x0f];
		}
		e->version_len = 2 * KRX_EDEK_AZURE_VERSION_RAW;
		e->version[e->version_len] = '\0';
		return KRX_OK;
	}
	if ((r = krx_cur_get_u8(c, &len)) != KRX_OK)
		return r;
	if (len > KRX_EDEK_AZURE_VERSION_MAX)
		return KRX_E_TOO_BIG;
	if (len == 0)
		return KRX_E_MALFORMED;
	if ((r = krx_cur_get_ref(c, len, &p)) != KRX_OK)
		return r;
	return krx_edek_azure_set_version(e, (const char *)p, len);
}

int
krx_edek_azure_parse(const uint8_t *p, size_t len, struct krx_edek_azure *e)
{
	struct krx_cur	 c;
	uint8_t		 version, kty;
	size_t		 n;
	int		 r = KRX_E_TOO_BIG;

	memset(e, 0, sizeof(*e));
	if (len > KRX_WRAPPER_EDEK_MAX)
		goto out;
	krx_cur_init(&c, p, len);
	if ((r = krx_cur_get_u8(&c, &version)) != KRX_OK)
		goto out;
	if (version != KRX_EDEK_AZURE_V0_HEX &&
	    version != KRX_EDEK_AZURE_V1_STRING) {
		r = KRX_E_UNSUPPORTED;
		goto out;
	}
	e->format = version;
	if ((r = ek_azure_name(&c, 1, KRX_EDEK_AZURE_NAME_MAX, &e->key_name,
	    &e->key_name_len)) != KRX_OK ||
	    (r = ek_azure_name(&c, KRX_EDEK_AZURE_VAULT_MIN,
	    KRX_EDEK_AZURE_VAULT_MAX, &e->vault_name,
	    &e->vault_name_len)) != KRX_OK ||
	    (r = krx_cur_get_u8(&c, &kty)) != KRX_OK)
		goto out;
	if (kty > KRX_EDEK_AZURE_OCT_HSM) {
		r = KRX_E_UNSUPPORTED;
		goto out;
	}
	e->key_type = kty;
	if ((r = ek_azure_version(&c, e)) != KRX_OK)
		goto out;
	if ((n = krx_cur_left(&c)) == 0) {
		r = KRX_E_TRUNCATED;
		goto out;
	}
	if ((r = krx_cur_get_ref(&c, n, &e->wrapped)) != KRX_OK)
		goto out;
	e->wrapped_len = n;
	r = krx_cur_end(&c);
out:
	if (r != KRX_OK)
		memset(e, 0, sizeof(*e));
	return r;
}

static uint8_t
ek_hexval(char ch)
{
	return (uint8_t)(ch <= '9' ? ch - '0' : ch - 'a' + 10);
}

int
krx_edek_azure_serialize(const struct krx_edek_azure *e, struct krx_buf *out)
{
	const void	*parts[9];
	size_t		 lens[9], i, np = 0, total = 0;
	uint8_t		 head[4], raw[KRX_EDEK_AZURE_VERSION_RAW], vlen;
	int		 v0;

	if (e->key_name_len > KRX_EDEK_AZURE_NAME_MAX ||
	    e->vault_name_len > KRX_EDEK_AZURE_VAULT_MAX ||
	    e->version_len > KRX_EDEK_AZURE_VERSION_MAX ||
	    e->wrapped_len > KRX_WRAPPER_EDEK_MAX)
		return KRX_E_TOO_BIG;
	if (e->key_type < KRX_EDEK_AZURE_RSA ||
	    e->key_type > KRX_EDEK_AZURE_OCT_HSM)
		return KRX_E_RANGE;
	if (!ek_azure_name_ok(e->key_name, e->key_name_len, 1,
	    KRX_EDEK_AZURE_NAME_MAX) ||
	    !ek_azure_name_ok(e->vault_name, e->vault_name_len,
	    KRX_EDEK_AZURE_VAULT_MIN, KRX_EDEK_AZURE_VAULT_MAX) ||
	    ek_utf16_units((const unsigned char *)e->version,
	    e->version_len) != KRX_EDEK_AZURE_VERSION_UNITS ||
	    e->wrapped_len == 0)
		return KRX_E_MALFORMED;
	v0 = ek_lower_hex32(e->version, e->version_len);
	head[0] = v0 ? KRX_EDEK_AZURE_V0_HEX : KRX_EDEK_AZURE_V1_STRING;
	head[1] = (uint8_t)e->key_name_len;
	head[2] = (uint8_t)e->vault_name_len;
	head[3] = (uint8_t)e->key_type;
	vlen = (uint8_t)e->version_len;
#define EK_PART(p, n)	do { parts[np] = (p); lens[np++] = (n); } while (0)
	EK_PART(head, 2);
	EK_PART(e->key_name, e->key_name_len);
	EK_PART(head + 2, 1);
	EK_PART(e->vault_name, e->vault_name_len);
	EK_PART(head + 3, 1);
	if (v0) {
		for (i = 0; i < KRX_EDEK_AZURE_VERSION_RAW; i++)
			raw[i] = (uint8_t)(ek_hexval(e->version[2 * i]) << 4 |
			    ek_hexval(e->version[2 * i + 1]));
		EK_PART(raw, sizeof(raw));
	} else {
		EK_PART(&vlen, 1);
		EK_PART(e->version, e->version_len);
	}
	EK_PART(e->wrapped, e->wrapped_len);
#undef EK_PART
	for (i = 0; i < np; i++)
		total += lens[i];
	return ek_put(out, total, parts, lens, np);
}

static const char *const azure_kty_names[] = {
	"RSA", "RSA-HSM", "oct", "oct-HSM"
};

int
krx_edek_azure_kty(const char *s, size_t n)
{
	size_t	 i;

	for (i = 0; i < sizeof(azure_kty_names) / sizeof(azure_kty_names[0]);
	    i++)
		if (strlen(azure_kty_names[i]) == n &&
		    memcmp(azure_kty_names[i], s, n) == 0)
			return (int)i;
	return -1;
}

const char *
krx_edek_azure_kty_name(int kty)
{
	if (kty < KRX_EDEK_AZURE_RSA || kty > KRX_EDEK_AZURE_OCT_HSM)
		return NULL;
	return azure_kty_names[kty];
}
