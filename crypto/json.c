/*
 * json.c: the strict, bounded JSON reader and string writer of json.h,
 * for the KMS providers' HTTP answers and requests. Library grade. The
 * parser is recursive descent with an explicit depth bound; every
 * string is validated (UTF-8, escapes, surrogate pairs) once, so the
 * later decoders (_string, _base64, _string_eq) walk known-good bytes
 * and need no error paths of their own beyond their output bounds.
 */
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "crypto/json.h"

struct jp {
	const uint8_t		*s;
	size_t			 len;
	size_t			 pos;
	struct krx_json_tok	*t;
	size_t			 max;
	size_t			 n;
};

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void
jp_ws(struct jp *p)
{
	while (p->pos < p->len && (p->s[p->pos] == ' ' ||
	    p->s[p->pos] == '\t' || p->s[p->pos] == '\n' ||
	    p->s[p->pos] == '\r'))
		p->pos++;
}

/* Take a token: its index, or -1 when the array is full. */
static long
jp_tok(struct jp *p, enum krx_json_type type)
{
	struct krx_json_tok	*t;

	if (p->n >= p->max)
		return -1;
	t = &p->t[p->n];
	memset(t, 0, sizeof(*t));
	t->type = (uint8_t)type;
	t->start = (uint32_t)p->pos;
	return (long)p->n++;
}

static int
jp_hex(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * One UTF-8 sequence at p (n bytes left, n >= 1): its length, 0 when
 * invalid (overlong, surrogate, over U+10FFFF, bad continuation), -1
 * when cut short.
 */
static int
jp_utf8(const uint8_t *p, size_t n)
{
	uint8_t	 c = p[0], lo = 0x80, hi = 0xbf;
	int	 need, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		need = 1;
	else if (c >= 0xe0 && c <= 0xef) {
		need = 2;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 3;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	for (i = 1; i <= need; i++) {
		if ((size_t)i >= n)
			return -1;
		if (p[i] < lo || p[i] > hi)
			return 0;
		lo = 0x80;
		hi = 0xbf;
	}
	return need + 1;
}

/* Four hex digits at p->pos: the value, or a negative krx_err. */
static long
jp_u4(struct jp *p)
{
	long	 v = 0;
	int	 i, h;

	for (i = 0; i < 4; i++) {
		if (p->pos >= p->len)
			return KRX_E_TRUNCATED;
		if ((h = jp_hex(p->s[p->pos++])) < 0)
			return KRX_E_MALFORMED;
		v = v * 16 + h;
	}
	return v;
}

/* After '\': one escape. */
static int
jp_escape(struct jp *p)
{
	long	 u, lo;

	if (p->pos >= p->len)
		return KRX_E_TRUNCATED;
	switch (p->s[p->pos++]) {
	case '"': case '\\': case '/': case 'b': case 'f': case 'n':
	case 'r': case 't':
		return KRX_OK;
	case 'u':
		break;
	default:
		return KRX_E_MALFORMED;
	}
	if ((u = jp_u4(p)) < 0)
		return (int)u;
	if (u >= 0xdc00 && u <= 0xdfff)
		return KRX_E_MALFORMED;		/* a lone low surrogate */
	if (u < 0xd800 || u > 0xdbff)
		return KRX_OK;
	/* A high surrogate: "\uDC00".."\uDFFF" must follow. */
	if (p->pos >= p->len)
		return KRX_E_TRUNCATED;
	if (p->s[p->pos++] != '\\')
		return KRX_E_MALFORMED;
	if (p->pos >= p->len)
		return KRX_E_TRUNCATED;
	if (p->s[p->pos++] != 'u')
		return KRX_E_MALFORMED;
	if ((lo = jp_u4(p)) < 0)
		return (int)lo;
	return lo >= 0xdc00 && lo <= 0xdfff ? KRX_OK : KRX_E_MALFORMED;
}

/* At '"': a string token. */
static int
jp_string(struct jp *p)
{
	long	 i;
	int	 r, n;
	uint8_t	 c;

	p->pos++;
	if ((i = jp_tok(p, KRX_JSON_STRING)) < 0)
		return KRX_E_TOO_BIG;
	for (;;) {
		if (p->pos >= p->len)
			return KRX_E_TRUNCATED;
		c = p->s[p->pos];
		if (c == '"')
			break;
		if (c == '\\') {
			p->pos++;
			if ((r = jp_escape(p)) != KRX_OK)
				return r;
			continue;
		}
		if (c < 0x20)
			return KRX_E_MALFORMED;
		if ((n = jp_utf8(p->s + p->pos, p->len - p->pos)) < 0)
			return KRX_E_TRUNCATED;
		if (n == 0)
			return KRX_E_MALFORMED;
		p->pos += (size_t)n;
	}
	p->t[i].len = (uint32_t)(p->pos - p->t[i].start);
	p->t[i].next = (uint32_t)p->n;
	p->pos++;
	return KRX_OK;
}

/* One or more digits; 0 when there is none. */
static size_t
jp_digits(struct jp *p)
{
	size_t	 start = p->pos;

	while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
		p->pos++;
	return p->pos - start;
}

/* A digit must come next: TRUNCATED at the end, else MALFORMED. */
static int
jp_need_digits(struct jp *p)
{
	if (jp_digits(p) > 0)
		return KRX_OK;
	return p->pos >= p->len ? KRX_E_TRUNCATED : KRX_E_MALFORMED;
}

static int
jp_number(struct jp *p)
{
	long	 i;
	int	 r;

	if ((i = jp_tok(p, KRX_JSON_NUMBER)) < 0)
		return KRX_E_TOO_BIG;
	if (p->s[p->pos] == '-')
		p->pos++;
	if (p->pos >= p->len)
		return KRX_E_TRUNCATED;
	if (p->s[p->pos] == '0') {
		p->pos++;
		if (p->pos < p->len && p->s[p->pos] >= '0' &&
		    p->s[p->pos] <= '9')
			return KRX_E_MALFORMED;		/* leading zero */
	} else if ((r = jp_need_digits(p)) != KRX_OK)
		return r;
	if (p->pos < p->len && p->s[p->pos] == '.') {
		p->pos++;
		if ((r = jp_need_digits(p)) != KRX_OK)
			return r;
	}
	if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
		p->pos++;
		if (p->pos < p->len && (p->s[p->pos] == '+' ||
		    p->s[p->pos] == '-'))
			p->pos++;
		if ((r = jp_need_digits(p)) != KRX_OK)
			return r;
	}
	p->t[i].len = (uint32_t)(p->pos - p->t[i].start);
	p->t[i].next = (uint32_t)p->n;
	return KRX_OK;
}

static int
jp_literal(struct jp *p, const char *word, enum krx_json_type type)
{
	size_t	 n = strlen(word), left = p->len - p->pos;
	long	 i;

	if ((i = jp_tok(p, type)) < 0)
		return KRX_E_TOO_BIG;
	if (memcmp(p->s + p->pos, word, left < n ? left : n) != 0)
		return KRX_E_MALFORMED;
	if (left < n)
		return KRX_E_TRUNCATED;
	p->pos += n;
	p->t[i].len = (uint32_t)n;
	p->t[i].next = (uint32_t)p->n;
	return KRX_OK;
}

static int	jp_value(struct jp *, int);

/* At '{' or '[': members or elements up to the closing bracket. */
static int
jp_container(struct jp *p, int depth, int object)
{
	uint8_t	 close = object ? '}' : ']';
	long	 i;
	int	 r;

	if ((i = jp_tok(p, object ? KRX_JSON_OBJECT : KRX_JSON_ARRAY)) < 0)
		return KRX_E_TOO_BIG;
	p->pos++;
	jp_ws(p);
	if (p->pos < p->len && p->s[p->pos] == close)
		goto end;
	for (;;) {
		jp_ws(p);
		if (p->pos >= p->len)
			return KRX_E_TRUNCATED;
		if (object) {
			if (p->s[p->pos] != '"')
				return KRX_E_MALFORMED;
			if ((r = jp_string(p)) != KRX_OK)
				return r;
			jp_ws(p);
			if (p->pos >= p->len)
				return KRX_E_TRUNCATED;
			if (p->s[p->pos++] != ':')
				return KRX_E_MALFORMED;
		}
		if ((r = jp_value(p, depth + 1)) != KRX_OK)
			return r;
		p->t[i].count++;
		jp_ws(p);
		if (p->pos >= p->len)
			return KRX_E_TRUNCATED;
		if (p->s[p->pos] == close)
			break;
		if (p->s[p->pos++] != ',')
			return KRX_E_MALFORMED;
	}
end:
	p->pos++;
	p->t[i].len = (uint32_t)(p->pos - p->t[i].start);
	p->t[i].next = (uint32_t)p->n;
	return KRX_OK;
}

static int
jp_value(struct jp *p, int depth)
{
	jp_ws(p);
	if (p->pos >= p->len)
		return KRX_E_TRUNCATED;
	switch (p->s[p->pos]) {
	case '{':
	case '[':
		if (depth >= KRX_JSON_MAX_DEPTH)
			return KRX_E_TOO_BIG;
		return jp_container(p, depth, p->s[p->pos] == '{');
	case '"':
		return jp_string(p);
	case 't':
		return jp_literal(p, "true", KRX_JSON_TRUE);
	case 'f':
		return jp_literal(p, "false", KRX_JSON_FALSE);
	case 'n':
		return jp_literal(p, "null", KRX_JSON_NULL);
	default:
		if (p->s[p->pos] == '-' ||
		    (p->s[p->pos] >= '0' && p->s[p->pos] <= '9'))
			return jp_number(p);
		return KRX_E_MALFORMED;
	}
}

int
krx_json_parse(const char *s, size_t len, struct krx_json_tok *t,
    size_t max, size_t *ntok)
{
	struct jp	 p;
	int		 r;

	*ntok = 0;
	if (len > KRX_JSON_MAX_LEN)
		return KRX_E_TOO_BIG;
	memset(&p, 0, sizeof(p));
	p.s = (const uint8_t *)s;
	p.len = len;
	p.t = t;
	p.max = max;
	if ((r = jp_value(&p, 0)) != KRX_OK)
		return r;
	jp_ws(&p);
	if (p.pos != p.len)
		return KRX_E_TRAILING;
	*ntok = p.n;
	return KRX_OK;
}

/*
 * The next code point of a validated string token, from *pos (an
 * offset into s) up to end: 1 with *cp, 0 at the end.
 */
static int
json_next(const uint8_t *s, size_t *pos, size_t end, uint32_t *cp)
{
	uint32_t	 c, lo;
	size_t		 i = *pos;
	int		 n, k;

	if (i >= end)
		return 0;
	c = s[i];
	if (c == '\\') {
		switch (s[i + 1]) {
		case 'b': c = '\b'; break;
		case 'f': c = '\f'; break;
		case 'n': c = '\n'; break;
		case 'r': c = '\r'; break;
		case 't': c = '\t'; break;
		case 'u':
			c = 0;
			for (k = 0; k < 4; k++)
				c = c * 16 + (uint32_t)jp_hex(s[i + 2 + k]);
			i += 6;
			if (c >= 0xd800 && c <= 0xdbff) {
				lo = 0;
				for (k = 0; k < 4; k++)
					lo = lo * 16 +
					    (uint32_t)jp_hex(s[i + 2 + k]);
				i += 6;
				c = 0x10000 + ((c - 0xd800) << 10) +
				    (lo - 0xdc00);
			}
			*pos = i;
			*cp = c;
			return 1;
		default: c = s[i + 1]; break;	/* " \ / */
		}
		*pos = i + 2;
		*cp = c;
		return 1;
	}
	if (c < 0x80)
		n = 1;
	else if (c < 0xe0) {
		n = 2;
		c &= 0x1f;
	} else if (c < 0xf0) {
		n = 3;
		c &= 0x0f;
	} else {
		n = 4;
		c &= 0x07;
	}
	for (k = 1; k < n; k++)
		c = (c << 6) | (s[i + (size_t)k] & 0x3f);
	*pos = i + (size_t)n;
	*cp = c;
	return 1;
}

/* UTF-8 of cp into u (4 bytes): its length. */
static size_t
json_utf8(uint32_t cp, uint8_t *u)
{
	if (cp < 0x80) {
		u[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		u[0] = (uint8_t)(0xc0 | (cp >> 6));
		u[1] = (uint8_t)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		u[0] = (uint8_t)(0xe0 | (cp >> 12));
		u[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (uint8_t)(0x80 | (cp & 0x3f));
		return 3;
	}
	u[0] = (uint8_t)(0xf0 | (cp >> 18));
	u[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
	u[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
	u[3] = (uint8_t)(0x80 | (cp & 0x3f));
	return 4;
}

int
krx_json_string_eq(const char *s, const struct krx_json_tok *t, size_t i,
    const char *p, size_t n)
{
	const uint8_t	*d = (const uint8_t *)s;
	size_t		 pos = t[i].start, end = pos + t[i].len, off = 0, k;
	uint32_t	 cp;
	uint8_t		 u[4];

	if (t[i].type != KRX_JSON_STRING)
		return 0;
	while (json_next(d, &pos, end, &cp)) {
		k = json_utf8(cp, u);
		if (k > n - off || memcmp(p + off, u, k) != 0)
			return 0;
		off += k;
	}
	return off == n;
}

int
krx_json_string(const char *s, const struct krx_json_tok *t, size_t i,
    char *out, size_t outsz, size_t *outlen)
{
	const uint8_t	*d = (const uint8_t *)s;
	size_t		 pos = t[i].start, end = pos + t[i].len, off = 0, k;
	uint32_t	 cp;
	uint8_t		 u[4];
	int		 r = KRX_E_RANGE;

	if (outlen != NULL)
		*outlen = 0;
	if (outsz > 0)
		out[0] = '\0';
	if (t[i].type != KRX_JSON_STRING)
		goto fail;
	while (json_next(d, &pos, end, &cp)) {
		r = KRX_E_MALFORMED;
		if (cp == 0)
			goto fail;
		r = KRX_E_TOO_BIG;
		k = json_utf8(cp, u);
		if (outsz == 0 || k > outsz - 1 - off)
			goto fail;
		memcpy(out + off, u, k);
		off += k;
	}
	r = KRX_E_TOO_BIG;
	if (outsz == 0)
		goto fail;
	out[off] = '\0';
	if (outlen != NULL)
		*outlen = off;
	return KRX_OK;
fail:
	if (outsz > 0)
		memset(out, 0, off < outsz ? off + 1 : outsz);
	return r;
}

static int
json_b64val(uint32_t cp)
{
	const char	*q;

	if (cp == 0 || cp > 0x7f ||
	    (q = strchr(b64chars, (int)cp)) == NULL)
		return -1;
	return (int)(q - b64chars);
}

/* Decode one group of four (pad '=' of them at the end). */
static int
json_b64_group(const uint32_t q[4], int last, uint8_t *out, size_t *n)
{
	int	 v[4], pad = 0, k;

	for (k = 0; k < 4; k++) {
		if (q[k] == '=' && last && k >= 2) {
			pad++;
			v[k] = 0;
			continue;
		}
		if (pad > 0 || (v[k] = json_b64val(q[k])) < 0)
			return KRX_E_MALFORMED;
	}
	/* Canonical: the bits the padding leaves unused are zero. */
	if ((pad == 2 && (v[1] & 0x0f) != 0) ||
	    (pad == 1 && (v[2] & 0x03) != 0))
		return KRX_E_MALFORMED;
	out[0] = (uint8_t)((v[0] << 2) | (v[1] >> 4));
	out[1] = (uint8_t)(((v[1] & 0x0f) << 4) | (v[2] >> 2));
	out[2] = (uint8_t)(((v[2] & 0x03) << 6) | v[3]);
	*n = (size_t)(3 - pad);
	return KRX_OK;
}

int
krx_json_base64(const char *s, const struct krx_json_tok *t, size_t i,
    uint8_t *out, size_t outsz, size_t *outlen)
{
	const uint8_t	*d = (const uint8_t *)s;
	size_t		 pos = t[i].start, end = pos + t[i].len, off = 0, n;
	uint32_t	 q[4], cp;
	uint8_t		 grp[3];
	int		 k = 0, r = KRX_E_RANGE, more;

	*outlen = 0;
	if (t[i].type != KRX_JSON_STRING)
		goto fail;
	r = KRX_E_MALFORMED;
	more = json_next(d, &pos, end, &cp);
	while (more) {
		q[k++] = cp;
		more = json_next(d, &pos, end, &cp);
		if (k < 4)
			continue;
		k = 0;
		if ((r = json_b64_group(q, !more, grp, &n)) != KRX_OK)
			goto fail;
		r = KRX_E_TOO_BIG;
		if (n > outsz - off)
			goto fail;
		memcpy(out + off, grp, n);
		off += n;
		r = KRX_E_MALFORMED;
	}
	memset(grp, 0, sizeof(grp));
	if (k != 0)
		goto fail;
	*outlen = off;
	return KRX_OK;
fail:
	memset(grp, 0, sizeof(grp));
	memset(out, 0, outsz);
	return r;
}

int
krx_json_member(const char *s, const struct krx_json_tok *t, size_t ntok,
    size_t obj, const char *key, size_t *val)
{
	size_t		 i, k, klen = strlen(key), found = 0;
	int		 have = 0;

	*val = 0;
	if (klen > KRX_JSON_MAX_KEY)
		return KRX_E_RANGE;
	if (obj >= ntok || t[obj].type != KRX_JSON_OBJECT)
		return KRX_E_MALFORMED;
	i = obj + 1;
	for (k = 0; k < t[obj].count; k++) {
		if (i + 1 >= ntok)
			return KRX_E_MALFORMED;		/* not from _parse */
		if (krx_json_string_eq(s, t, i, key, klen)) {
			if (have)
				return KRX_E_MALFORMED;
			have = 1;
			found = i + 1;
		}
		i = t[i + 1].next;
	}
	if (!have)
		return KRX_E_NOTFOUND;
	*val = found;
	return KRX_OK;
}

int
krx_json_element(const struct krx_json_tok *t, size_t ntok, size_t arr,
    size_t idx, size_t *val)
{
	size_t	 i, k;

	*val = 0;
	if (arr >= ntok || t[arr].type != KRX_JSON_ARRAY)
		return KRX_E_MALFORMED;
	if (idx >= t[arr].count)
		return KRX_E_NOTFOUND;
	i = arr + 1;
	for (k = 0; k < idx; k++) {
		if (i >= ntok)
			return KRX_E_MALFORMED;		/* not from _parse */
		i = t[i].next;
	}
	if (i >= ntok)
		return KRX_E_MALFORMED;
	*val = i;
	return KRX_OK;
}

/* A path step of decimal digits without a leading zero: its value. */
static int
json_index(const char *p, size_t n, size_t *idx)
{
	size_t	 i, v = 0;

	if (n == 0 || n > 9 || (p[0] == '0' && n > 1))
		return 0;
	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return 0;
		v = v * 10 + (size_t)(p[i] - '0');
	}
	*idx = v;
	return 1;
}

int
krx_json_path(const char *s, const struct krx_json_tok *t, size_t ntok,
    const char *path, size_t *val)
{
	char		 step[KRX_JSON_MAX_KEY + 1];
	const char	*p = path, *dot;
	size_t		 at = 0, n, idx;
	int		 r;

	*val = 0;
	if (ntok == 0)
		return KRX_E_MALFORMED;
	for (;;) {
		dot = strchr(p, '.');
		n = dot != NULL ? (size_t)(dot - p) : strlen(p);
		if (n == 0 || n > KRX_JSON_MAX_KEY)
			return KRX_E_RANGE;
		memcpy(step, p, n);
		step[n] = '\0';
		if (t[at].type == KRX_JSON_ARRAY && json_index(step, n, &idx))
			r = krx_json_element(t, ntok, at, idx, &at);
		else
			r = krx_json_member(s, t, ntok, at, step, &at);
		if (r != KRX_OK) {
			*val = 0;
			return r;
		}
		if (dot == NULL)
			break;
		p = dot + 1;
	}
	*val = at;
	return KRX_OK;
}

int
krx_json_int64(const char *s, const struct krx_json_tok *t, size_t i,
    int64_t *v)
{
	const char	*p = s + t[i].start;
	uint64_t	 acc = 0, lim = (uint64_t)INT64_MAX;
	size_t		 k = 0, n = t[i].len;
	int		 neg = 0;

	*v = 0;
	if (t[i].type != KRX_JSON_NUMBER || n == 0)
		return KRX_E_RANGE;
	if (p[0] == '-') {
		neg = 1;
		lim++;
		k++;
	}
	/* The parser checked the form: digits, then '.', 'e' or the end. */
	for (; k < n; k++) {
		if (p[k] < '0' || p[k] > '9')
			return KRX_E_RANGE;
		if (acc > (lim - (uint64_t)(p[k] - '0')) / 10)
			return KRX_E_RANGE;
		acc = acc * 10 + (uint64_t)(p[k] - '0');
	}
	*v = neg ? (acc == lim ? INT64_MIN : -(int64_t)acc) : (int64_t)acc;
	return KRX_OK;
}

int
krx_json_put_string(struct krx_buf *b, const char *p, size_t n)
{
	static const char	 hex[] = "0123456789abcdef";
	char			 esc[6];
	size_t			 i, run = 0;
	uint8_t			 c;

	krx_buf_put_u8(b, '"');
	for (i = 0; i < n; i++) {
		c = (uint8_t)p[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		krx_buf_put(b, p + run, i - run);
		run = i + 1;
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			krx_buf_put(b, esc, 2);
			continue;
		}
		memcpy(esc, "\\u00", 4);
		esc[4] = hex[c >> 4];
		esc[5] = hex[c & 0x0f];
		krx_buf_put(b, esc, 6);
	}
	krx_buf_put(b, p + run, n - run);
	return krx_buf_put_u8(b, '"') == KRX_OK && b->err == KRX_OK ?
	    KRX_OK : KRX_E_NOMEM;
}

int
krx_json_put_base64(struct krx_buf *b, const uint8_t *p, size_t n)
{
	char		 q[4];
	uint32_t	 v;
	size_t		 i;

	krx_buf_put_u8(b, '"');
	for (i = 0; i < n; i += 3) {
		v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		q[0] = b64chars[(v >> 18) & 0x3f];
		q[1] = b64chars[(v >> 12) & 0x3f];
		q[2] = i + 1 < n ? b64chars[(v >> 6) & 0x3f] : '=';
		q[3] = i + 2 < n ? b64chars[v & 0x3f] : '=';
		krx_buf_put(b, q, 4);
	}
	return krx_buf_put_u8(b, '"') == KRX_OK && b->err == KRX_OK ?
	    KRX_OK : KRX_E_NOMEM;
}
