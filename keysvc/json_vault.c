/*
 * json_vault.c: the bounded JSON reader of the Vault provider
 * (json_vault.h has the contract); runs in keysvc on bodies a KMS sent.
 * A cursor over the bytes: every step checks the end, recursion is
 * bounded by KRX_VJSON_MAX_DEPTH, and a lookup runs only on a document
 * that passed the whole check.
 */
#include <stdint.h>
#include <string.h>

#include "common/err.h"
#include "keysvc/json_vault.h"

struct vj {
	const char	*p;
	size_t		 len;
	size_t		 off;
};

static int	vj_skip_value(struct vj *, int);

static void
vj_ws(struct vj *j)
{
	while (j->off < j->len && (j->p[j->off] == ' ' ||
	    j->p[j->off] == '\t' || j->p[j->off] == '\n' ||
	    j->p[j->off] == '\r'))
		j->off++;
}

static int
vj_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Four hex digits at j->off (after "\u"); -1 when not. */
static long
vj_u4(struct vj *j)
{
	long	 v = 0;
	int	 i, d;

	if (j->len - j->off < 4)
		return -1;
	for (i = 0; i < 4; i++) {
		if ((d = vj_hex(j->p[j->off + i])) < 0)
			return -1;
		v = v * 16 + d;
	}
	j->off += 4;
	return v;
}

/* Append one byte to out when there is room; count it anyway. */
static void
vj_put(char *out, size_t outlen, size_t *n, char c)
{
	if (out != NULL && *n + 1 < outlen)
		out[*n] = c;
	(*n)++;
}

static void
vj_put_utf8(char *out, size_t outlen, size_t *n, unsigned long cp)
{
	if (cp < 0x80)
		vj_put(out, outlen, n, (char)cp);
	else if (cp < 0x800) {
		vj_put(out, outlen, n, (char)(0xc0 | (cp >> 6)));
		vj_put(out, outlen, n, (char)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		vj_put(out, outlen, n, (char)(0xe0 | (cp >> 12)));
		vj_put(out, outlen, n, (char)(0x80 | ((cp >> 6) & 0x3f)));
		vj_put(out, outlen, n, (char)(0x80 | (cp & 0x3f)));
	} else {
		vj_put(out, outlen, n, (char)(0xf0 | (cp >> 18)));
		vj_put(out, outlen, n, (char)(0x80 | ((cp >> 12) & 0x3f)));
		vj_put(out, outlen, n, (char)(0x80 | ((cp >> 6) & 0x3f)));
		vj_put(out, outlen, n, (char)(0x80 | (cp & 0x3f)));
	}
}

/* One escape after the backslash; -1 when bad. */
static int
vj_escape(struct vj *j, char *out, size_t outlen, size_t *n)
{
	unsigned long	 cp;
	long		 hi, lo;
	char		 c;

	if (j->off >= j->len)
		return -1;
	c = j->p[j->off++];
	switch (c) {
	case '"': case '\\': case '/':
		vj_put(out, outlen, n, c);
		return 0;
	case 'b': vj_put(out, outlen, n, '\b'); return 0;
	case 'f': vj_put(out, outlen, n, '\f'); return 0;
	case 'n': vj_put(out, outlen, n, '\n'); return 0;
	case 'r': vj_put(out, outlen, n, '\r'); return 0;
	case 't': vj_put(out, outlen, n, '\t'); return 0;
	case 'u':
		break;
	default:
		return -1;
	}
	if ((hi = vj_u4(j)) < 0 || (hi >= 0xdc00 && hi <= 0xdfff))
		return -1;
	cp = (unsigned long)hi;
	if (hi >= 0xd800 && hi <= 0xdbff) {
		/* A high surrogate: a low one must follow. */
		if (j->len - j->off < 2 || j->p[j->off] != '\\' ||
		    j->p[j->off + 1] != 'u')
			return -1;
		j->off += 2;
		if ((lo = vj_u4(j)) < 0xdc00 || lo > 0xdfff)
			return -1;
		cp = 0x10000 + (((unsigned long)hi - 0xd800) << 10) +
		    ((unsigned long)lo - 0xdc00);
	}
	vj_put_utf8(out, outlen, n, cp);
	return 0;
}

/*
 * A string at j->off (its opening quote); unescaped into out (may be
 * NULL) of outlen bytes, *n counting every byte it needs. -1 when bad.
 */
static int
vj_string(struct vj *j, char *out, size_t outlen, size_t *n)
{
	unsigned char	 c;

	*n = 0;
	if (j->off >= j->len || j->p[j->off] != '"')
		return -1;
	j->off++;
	while (j->off < j->len) {
		c = (unsigned char)j->p[j->off++];
		if (c == '"') {
			if (out != NULL && outlen > 0)
				out[*n < outlen ? *n : outlen - 1] = '\0';
			return 0;
		}
		if (c < 0x20)
			return -1;
		if (c == '\\') {
			if (vj_escape(j, out, outlen, n) != 0)
				return -1;
		} else
			vj_put(out, outlen, n, (char)c);
	}
	return -1;
}

/* A number per RFC 8259; *integral says: no fraction, no exponent. */
static int
vj_number(struct vj *j, int *integral)
{
	size_t	 d;

	*integral = 1;
	if (j->off < j->len && j->p[j->off] == '-')
		j->off++;
	if (j->off >= j->len)
		return -1;
	if (j->p[j->off] == '0')
		j->off++;
	else if (j->p[j->off] >= '1' && j->p[j->off] <= '9')
		while (j->off < j->len && j->p[j->off] >= '0' &&
		    j->p[j->off] <= '9')
			j->off++;
	else
		return -1;
	if (j->off < j->len && j->p[j->off] == '.') {
		*integral = 0;
		for (d = ++j->off; j->off < j->len && j->p[j->off] >= '0' &&
		    j->p[j->off] <= '9'; j->off++)
			;
		if (j->off == d)
			return -1;
	}
	if (j->off < j->len && (j->p[j->off] == 'e' || j->p[j->off] == 'E')) {
		*integral = 0;
		j->off++;
		if (j->off < j->len && (j->p[j->off] == '+' ||
		    j->p[j->off] == '-'))
			j->off++;
		for (d = j->off; j->off < j->len && j->p[j->off] >= '0' &&
		    j->p[j->off] <= '9'; j->off++)
			;
		if (j->off == d)
			return -1;
	}
	return 0;
}

static int
vj_literal(struct vj *j, const char *lit)
{
	size_t	 n = strlen(lit);

	if (j->len - j->off < n || memcmp(j->p + j->off, lit, n) != 0)
		return -1;
	j->off += n;
	return 0;
}

/* An object or array at j->off, members or elements skipped. */
static int
vj_skip_container(struct vj *j, int depth)
{
	char	 close = j->p[j->off] == '{' ? '}' : ']';
	size_t	 n;

	j->off++;
	vj_ws(j);
	if (j->off < j->len && j->p[j->off] == close) {
		j->off++;
		return 0;
	}
	for (;;) {
		if (close == '}') {
			if (vj_string(j, NULL, 0, &n) != 0)
				return -1;
			vj_ws(j);
			if (j->off >= j->len || j->p[j->off++] != ':')
				return -1;
		}
		if (vj_skip_value(j, depth + 1) != 0)
			return -1;
		vj_ws(j);
		if (j->off >= j->len)
			return -1;
		if (j->p[j->off] == ',') {
			j->off++;
			vj_ws(j);
			continue;
		}
		if (j->p[j->off++] != close)
			return -1;
		return 0;
	}
}

/* Skip one value (white space before it included). -1 when bad. */
static int
vj_skip_value(struct vj *j, int depth)
{
	size_t	 n;
	int	 integral;

	if (depth > KRX_VJSON_MAX_DEPTH)
		return -1;
	vj_ws(j);
	if (j->off >= j->len)
		return -1;
	switch (j->p[j->off]) {
	case '{':
	case '[':
		return vj_skip_container(j, depth);
	case '"':
		return vj_string(j, NULL, 0, &n);
	case 't':
		return vj_literal(j, "true");
	case 'f':
		return vj_literal(j, "false");
	case 'n':
		return vj_literal(j, "null");
	default:
		return vj_number(j, &integral);
	}
}

int
krx_vjson_check(const char *p, size_t len)
{
	struct vj	 j = { p, len, 0 };
	int		 depth;
	size_t		 i;

	if (p == NULL)
		return KRX_E_MALFORMED;
	/* Measure the nesting first so that too deep is told apart. */
	for (i = 0, depth = 0; i < len; i++) {
		if (p[i] == '"') {
			for (i++; i < len && p[i] != '"'; i++)
				if (p[i] == '\\')
					i++;
		} else if (p[i] == '{' || p[i] == '[') {
			if (++depth > KRX_VJSON_MAX_DEPTH)
				return KRX_E_TOO_BIG;
		} else if (p[i] == '}' || p[i] == ']')
			depth--;
	}
	if (vj_skip_value(&j, 0) != 0)
		return KRX_E_MALFORMED;
	vj_ws(&j);
	return j.off == len ? 0 : KRX_E_MALFORMED;
}

/* In the object at j->off, move to the value of member seg. */
static int
vj_member(struct vj *j, const char *seg, size_t seglen)
{
	char	 key[128];
	size_t	 n;

	j->off++;
	vj_ws(j);
	if (j->off < j->len && j->p[j->off] == '}')
		return -1;
	for (;;) {
		if (vj_string(j, key, sizeof(key), &n) != 0)
			return -1;
		vj_ws(j);
		if (j->off >= j->len || j->p[j->off++] != ':')
			return -1;
		vj_ws(j);
		if (n == seglen && n < sizeof(key) &&
		    memcmp(key, seg, n) == 0)
			return 0;
		if (vj_skip_value(j, 1) != 0)
			return -1;
		vj_ws(j);
		if (j->off >= j->len || j->p[j->off++] != ',')
			return -1;
		vj_ws(j);
	}
}

/* In the array at j->off, move to element idx. */
static int
vj_element(struct vj *j, unsigned long idx)
{
	unsigned long	 i;

	j->off++;
	vj_ws(j);
	if (j->off < j->len && j->p[j->off] == ']')
		return -1;
	for (i = 0; i < idx; i++) {
		if (vj_skip_value(j, 1) != 0)
			return -1;
		vj_ws(j);
		if (j->off >= j->len || j->p[j->off++] != ',')
			return -1;
	}
	vj_ws(j);
	return 0;
}

/* Position j at the value of path; KRX_E_NOTFOUND when absent. */
static int
vj_find(struct vj *j, const char *path)
{
	const char	*seg, *end;
	unsigned long	 idx;
	size_t		 seglen, k;
	int		 r;

	if ((r = krx_vjson_check(j->p, j->len)) != 0)
		return KRX_E_MALFORMED;
	vj_ws(j);
	for (seg = path; *seg != '\0'; seg = *end == '.' ? end + 1 : end) {
		end = seg + strcspn(seg, ".");
		seglen = (size_t)(end - seg);
		if (j->p[j->off] == '{') {
			if (vj_member(j, seg, seglen) != 0)
				return KRX_E_NOTFOUND;
			continue;
		}
		if (j->p[j->off] != '[' || seglen == 0 || seglen > 6)
			return KRX_E_NOTFOUND;
		for (idx = 0, k = 0; k < seglen; k++) {
			if (seg[k] < '0' || seg[k] > '9')
				return KRX_E_NOTFOUND;
			idx = idx * 10 + (unsigned long)(seg[k] - '0');
		}
		if (vj_element(j, idx) != 0)
			return KRX_E_NOTFOUND;
	}
	return 0;
}

int
krx_vjson_string(const char *p, size_t len, const char *path, char *out,
    size_t outlen, size_t *n)
{
	struct vj	 j = { p, len, 0 };
	size_t		 need;
	int		 r;

	if (n != NULL)
		*n = 0;
	if (outlen > 0)
		out[0] = '\0';
	if ((r = vj_find(&j, path)) != 0)
		return r;
	if (j.p[j.off] != '"')
		return KRX_E_NOTFOUND;
	if (vj_string(&j, out, outlen, &need) != 0)
		return KRX_E_MALFORMED;
	if (need >= outlen) {
		if (outlen > 0)
			memset(out, 0, outlen);
		return KRX_E_TOO_BIG;
	}
	if (n != NULL)
		*n = need;
	return 0;
}

int
krx_vjson_int(const char *p, size_t len, const char *path, int64_t *v)
{
	struct vj	 j = { p, len, 0 };
	size_t		 start;
	uint64_t	 u = 0, lim;
	int		 r, neg, integral;

	*v = 0;
	if ((r = vj_find(&j, path)) != 0)
		return r;
	if (j.p[j.off] != '-' && (j.p[j.off] < '0' || j.p[j.off] > '9'))
		return KRX_E_NOTFOUND;
	start = j.off;
	if (vj_number(&j, &integral) != 0)
		return KRX_E_MALFORMED;
	if (!integral)
		return KRX_E_RANGE;
	neg = j.p[start] == '-';
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (start += (size_t)neg; start < j.off; start++) {
		if (u > (lim - (uint64_t)(j.p[start] - '0')) / 10)
			return KRX_E_RANGE;
		u = u * 10 + (uint64_t)(j.p[start] - '0');
	}
	*v = neg ? (u == (uint64_t)INT64_MAX + 1 ? INT64_MIN :
	    -(int64_t)u) : (int64_t)u;
	return 0;
}
