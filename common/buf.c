/*
 * buf.c: growable output buffer and bounded read cursor. Library grade.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/buf.h"
#include "common/err.h"

int
krx_buf_init(struct krx_buf *b, size_t cap)
{
	memset(b, 0, sizeof(*b));
	if (cap == 0)
		return KRX_OK;
	if ((b->data = malloc(cap)) == NULL) {
		b->err = KRX_E_NOMEM;
		return KRX_E_NOMEM;
	}
	b->cap = cap;
	return KRX_OK;
}

void
krx_buf_free(struct krx_buf *b)
{
	if (b == NULL)
		return;
	free(b->data);
	memset(b, 0, sizeof(*b));
}

void
krx_buf_free_secret(struct krx_buf *b)
{
	if (b == NULL)
		return;
	if (b->data != NULL)
		OPENSSL_cleanse(b->data, b->cap);
	krx_buf_free(b);
}

void
krx_buf_reset(struct krx_buf *b)
{
	b->len = 0;
	b->err = KRX_OK;
}

int
krx_buf_reserve(struct krx_buf *b, size_t n)
{
	size_t	 ncap;
	uint8_t	*nd;

	if (b->err != KRX_OK)
		return b->err;
	if (n <= b->cap - b->len)
		return KRX_OK;
	if (n > SIZE_MAX / 2 - b->len) {
		b->err = KRX_E_TOO_BIG;
		return b->err;
	}
	ncap = b->cap < 64 ? 64 : b->cap;
	while (ncap - b->len < n)
		ncap *= 2;
	if ((nd = realloc(b->data, ncap)) == NULL) {
		b->err = KRX_E_NOMEM;
		return b->err;
	}
	b->data = nd;
	b->cap = ncap;
	return KRX_OK;
}

uint8_t *
krx_buf_extend(struct krx_buf *b, size_t n)
{
	uint8_t	*p;

	if (krx_buf_reserve(b, n) != KRX_OK)
		return NULL;
	p = b->data + b->len;
	b->len += n;
	return p;
}

uint8_t *
krx_buf_take(struct krx_buf *b, size_t *len)
{
	uint8_t	*p = b->data;

	*len = b->len;
	memset(b, 0, sizeof(*b));
	return p;
}

int
krx_buf_put(struct krx_buf *b, const void *p, size_t n)
{
	uint8_t	*d;

	if (n == 0)
		return b->err;
	if ((d = krx_buf_extend(b, n)) == NULL)
		return b->err;
	memcpy(d, p, n);
	return KRX_OK;
}

int
krx_buf_put_u8(struct krx_buf *b, uint8_t v)
{
	return krx_buf_put(b, &v, 1);
}

int
krx_buf_put_be16(struct krx_buf *b, uint16_t v)
{
	uint8_t	 d[2] = { v >> 8, v };

	return krx_buf_put(b, d, sizeof(d));
}

int
krx_buf_put_be32(struct krx_buf *b, uint32_t v)
{
	uint8_t	 d[4] = { v >> 24, v >> 16, v >> 8, v };

	return krx_buf_put(b, d, sizeof(d));
}

int
krx_buf_put_be64(struct krx_buf *b, uint64_t v)
{
	int	 r;

	if ((r = krx_buf_put_be32(b, v >> 32)) != KRX_OK)
		return r;
	return krx_buf_put_be32(b, (uint32_t)v);
}

int
krx_buf_put_uvarint(struct krx_buf *b, uint64_t v)
{
	uint8_t	 d[10];
	size_t	 n = 0;

	while (v >= 0x80) {
		d[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	d[n++] = (uint8_t)v;
	return krx_buf_put(b, d, n);
}

int
krx_buf_put_varint(struct krx_buf *b, int64_t v)
{
	return krx_buf_put_uvarint(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

void
krx_buf_set_be32(struct krx_buf *b, size_t off, uint32_t v)
{
	b->data[off] = v >> 24;
	b->data[off + 1] = v >> 16;
	b->data[off + 2] = v >> 8;
	b->data[off + 3] = v;
}

size_t
krx_uvarint_len(uint64_t v)
{
	size_t	 n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

size_t
krx_varint_len(int64_t v)
{
	return krx_uvarint_len(((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

void
krx_cur_init(struct krx_cur *c, const void *p, size_t len)
{
	c->p = p;
	c->len = len;
	c->off = 0;
}

size_t
krx_cur_left(const struct krx_cur *c)
{
	return c->len - c->off;
}

int
krx_cur_end(const struct krx_cur *c)
{
	return c->off == c->len ? KRX_OK : KRX_E_TRAILING;
}

int
krx_cur_skip(struct krx_cur *c, size_t n)
{
	if (n > c->len - c->off)
		return KRX_E_TRUNCATED;
	c->off += n;
	return KRX_OK;
}

int
krx_cur_get_ref(struct krx_cur *c, size_t n, const uint8_t **p)
{
	if (n > c->len - c->off)
		return KRX_E_TRUNCATED;
	*p = c->p + c->off;
	c->off += n;
	return KRX_OK;
}

int
krx_cur_get(struct krx_cur *c, void *out, size_t n)
{
	const uint8_t	*p;
	int		 r;

	if ((r = krx_cur_get_ref(c, n, &p)) != KRX_OK)
		return r;
	if (n > 0)
		memcpy(out, p, n);
	return KRX_OK;
}

int
krx_cur_get_u8(struct krx_cur *c, uint8_t *v)
{
	return krx_cur_get(c, v, 1);
}

int
krx_cur_get_be16(struct krx_cur *c, uint16_t *v)
{
	const uint8_t	*p;

	if (krx_cur_get_ref(c, 2, &p) != KRX_OK)
		return KRX_E_TRUNCATED;
	*v = (uint16_t)(p[0] << 8 | p[1]);
	return KRX_OK;
}

int
krx_cur_get_be32(struct krx_cur *c, uint32_t *v)
{
	const uint8_t	*p;

	if (krx_cur_get_ref(c, 4, &p) != KRX_OK)
		return KRX_E_TRUNCATED;
	*v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
	return KRX_OK;
}

int
krx_cur_get_be64(struct krx_cur *c, uint64_t *v)
{
	uint32_t	 hi, lo;

	if (krx_cur_left(c) < 8)
		return KRX_E_TRUNCATED;
	krx_cur_get_be32(c, &hi);
	krx_cur_get_be32(c, &lo);
	*v = (uint64_t)hi << 32 | lo;
	return KRX_OK;
}

int
krx_cur_get_i16(struct krx_cur *c, int16_t *v)
{
	return krx_cur_get_be16(c, (uint16_t *)v);
}

int
krx_cur_get_i32(struct krx_cur *c, int32_t *v)
{
	return krx_cur_get_be32(c, (uint32_t *)v);
}

int
krx_cur_get_i64(struct krx_cur *c, int64_t *v)
{
	return krx_cur_get_be64(c, (uint64_t *)v);
}

int
krx_cur_get_uvarint(struct krx_cur *c, uint64_t *v, int max_bytes)
{
	uint64_t	 x = 0;
	size_t		 i, left = krx_cur_left(c);
	uint8_t		 byte;

	for (i = 0; i < (size_t)max_bytes; i++) {
		if (i >= left)
			return KRX_E_TRUNCATED;
		byte = c->p[c->off + i];
		x |= (uint64_t)(byte & 0x7f) << (7 * i);
		if ((byte & 0x80) == 0) {
			c->off += i + 1;
			*v = x;
			return KRX_OK;
		}
	}
	return KRX_E_MALFORMED;
}

int
krx_cur_get_varint(struct krx_cur *c, int32_t *v)
{
	uint64_t	 u;
	int		 r;

	if ((r = krx_cur_get_uvarint(c, &u, 5)) != KRX_OK)
		return r;
	if (u > UINT32_MAX) {
		c->off -= 5;
		return KRX_E_MALFORMED;
	}
	*v = (int32_t)((uint32_t)(u >> 1) ^ -(uint32_t)(u & 1));
	return KRX_OK;
}

int
krx_cur_get_varlong(struct krx_cur *c, int64_t *v)
{
	uint64_t	 u;
	int		 r;

	if ((r = krx_cur_get_uvarint(c, &u, 10)) != KRX_OK)
		return r;
	*v = (int64_t)((u >> 1) ^ -(u & 1));
	return KRX_OK;
}

size_t
krx_buf_printf(struct krx_buf *b, size_t max, const char *fmt, ...)
{
	va_list	 ap;
	size_t	 n;

	va_start(ap, fmt);
	n = krx_buf_vprintf(b, max, fmt, ap);
	va_end(ap);
	return n;
}

size_t
krx_buf_vprintf(struct krx_buf *b, size_t max, const char *fmt, va_list ap)
{
	int	 n;

	if (max == 0 || max > INT32_MAX || krx_buf_reserve(b, max) != KRX_OK)
		return 0;
	n = vsnprintf((char *)b->data + b->len, max, fmt, ap);
	if (n < 0)
		return 0;
	if ((size_t)n >= max)
		n = (int)(max - 1);
	b->len += (size_t)n;
	return (size_t)n;
}
