/*
 * kafka_prim.c: Kafka wire primitives (strings, bytes, arrays, tag
 * sections) in classic and compact form, and the field writers and
 * splice writer of kafka_msg.h. Library grade: runs in any process,
 * trusts none of its input, keeps no state.
 */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "proto/kafka_msg.h"
#include "proto/kafka_prim.h"

int
krx_kp_get_uvarint32(struct krx_cur *c, uint32_t *v)
{
	size_t		 start = c->off;
	uint64_t	 u;
	int		 r;

	if ((r = krx_cur_get_uvarint(c, &u, 5)) != KRX_OK)
		return r;
	if (u > UINT32_MAX) {
		c->off = start;
		return KRX_E_MALFORMED;
	}
	*v = (uint32_t)u;
	return KRX_OK;
}

int
krx_kp_get_clen(struct krx_cur *c, int32_t *n)
{
	size_t		 start = c->off;
	uint32_t	 u;
	int		 r;

	if ((r = krx_kp_get_uvarint32(c, &u)) != KRX_OK)
		return r;
	if (u > INT32_MAX) {
		c->off = start;
		return KRX_E_MALFORMED;
	}
	*n = (int32_t)u - 1;
	return KRX_OK;
}

/* Read a length: int16 (classic strings), int32 or compact. */
static int
prim_get_len(struct krx_cur *c, bool flex, bool wide, bool nullable,
    int32_t *n)
{
	size_t	 start = c->off;
	int16_t	 s;
	int	 r;

	if (flex)
		r = krx_kp_get_clen(c, n);
	else if (wide)
		r = krx_cur_get_i32(c, n);
	else if ((r = krx_cur_get_i16(c, &s)) == KRX_OK)
		*n = s;
	if (r != KRX_OK)
		return r;
	if (*n < -1 || (*n == -1 && !nullable)) {
		c->off = start;
		return KRX_E_MALFORMED;
	}
	return KRX_OK;
}

static int
prim_get_blob(struct krx_cur *c, bool flex, bool wide, bool nullable,
    const uint8_t **p, int32_t *len)
{
	size_t	 start = c->off;
	int32_t	 n;
	int	 r;

	if ((r = prim_get_len(c, flex, wide, nullable, &n)) != KRX_OK)
		return r;
	if (n == -1) {
		*p = NULL;
		*len = -1;
		return KRX_OK;
	}
	if ((r = krx_cur_get_ref(c, (size_t)n, p)) != KRX_OK) {
		c->off = start;
		return r;
	}
	*len = n;
	return KRX_OK;
}

int
krx_kp_get_str(struct krx_cur *c, bool flex, bool nullable,
    const uint8_t **p, int32_t *len)
{
	size_t	 start = c->off;
	int	 r;

	if ((r = prim_get_blob(c, flex, false, nullable, p, len)) != KRX_OK)
		return r;
	if (*len > KRX_KP_STR_MAX) {
		c->off = start;
		return KRX_E_MALFORMED;
	}
	return KRX_OK;
}

int
krx_kp_skip_str(struct krx_cur *c, bool flex, bool nullable)
{
	const uint8_t	*p;
	int32_t		 len;

	return krx_kp_get_str(c, flex, nullable, &p, &len);
}

int
krx_kp_get_bytes(struct krx_cur *c, bool flex, bool nullable,
    const uint8_t **p, int32_t *len)
{
	return prim_get_blob(c, flex, true, nullable, p, len);
}

int
krx_kp_get_array(struct krx_cur *c, bool flex, bool nullable,
    size_t min_elem, int32_t *n)
{
	size_t	 start = c->off;
	int	 r;

	if ((r = prim_get_len(c, flex, true, nullable, n)) != KRX_OK)
		return r;
	if (*n > 0 && min_elem > 0 &&
	    (size_t)*n > krx_cur_left(c) / min_elem) {
		c->off = start;
		return KRX_E_TRUNCATED;
	}
	return KRX_OK;
}

int
krx_kp_skip_fixed_array(struct krx_cur *c, bool flex, bool nullable,
    size_t elem)
{
	size_t	 start = c->off;
	int32_t	 n;
	int	 r;

	if ((r = krx_kp_get_array(c, flex, nullable, elem, &n)) != KRX_OK)
		return r;
	if (n > 0 && (r = krx_cur_skip(c, (size_t)n * elem)) != KRX_OK) {
		c->off = start;
		return r;
	}
	return KRX_OK;
}

int
krx_kp_find_tag(struct krx_cur *c, uint32_t want, bool *found,
    size_t *off, size_t *len)
{
	size_t		 start = c->off;
	uint32_t	 count, i, tag, size;
	int64_t		 prev = -1;
	int		 r;

	*found = false;
	*off = *len = 0;
	if ((r = krx_kp_get_uvarint32(c, &count)) != KRX_OK)
		goto fail;
	/* Each entry takes at least two bytes: tag and size. */
	r = KRX_E_TRUNCATED;
	if (count > krx_cur_left(c) / 2)
		goto fail;
	for (i = 0; i < count; i++) {
		if ((r = krx_kp_get_uvarint32(c, &tag)) != KRX_OK ||
		    (r = krx_kp_get_uvarint32(c, &size)) != KRX_OK)
			goto fail;
		r = KRX_E_MALFORMED;
		if ((int64_t)tag <= prev)
			goto fail;
		prev = tag;
		if (tag == want) {
			*found = true;
			*off = c->off;
			*len = size;
		}
		if ((r = krx_cur_skip(c, size)) != KRX_OK)
			goto fail;
	}
	return KRX_OK;
fail:
	*found = false;
	*off = *len = 0;
	c->off = start;
	return r;
}

int
krx_kp_skip_tags(struct krx_cur *c)
{
	bool	 found;
	size_t	 off, len;

	return krx_kp_find_tag(c, UINT32_MAX, &found, &off, &len);
}

int
krx_kp_put_str(struct krx_buf *b, bool flex, const void *p, int32_t len)
{
	if (len < -1 || (!flex && len > KRX_KP_STR_MAX))
		return KRX_E_RANGE;
	if (flex)
		krx_buf_put_uvarint(b, (uint64_t)(len + 1));
	else
		krx_buf_put_be16(b, (uint16_t)(int16_t)len);
	if (len > 0)
		krx_buf_put(b, p, (size_t)len);
	return b->err;
}

int
krx_kp_put_array_len(struct krx_buf *b, bool flex, int32_t n)
{
	if (n < -1)
		return KRX_E_RANGE;
	if (flex)
		return krx_buf_put_uvarint(b, (uint64_t)n + 1);
	return krx_buf_put_be32(b, (uint32_t)n);
}

void *
krx_kp_grow(void *arr, size_t *cap, size_t need, size_t elem)
{
	size_t	 ncap;
	void	*na;

	if (need <= *cap)
		return arr;
	ncap = *cap < 8 ? 8 : *cap;
	while (ncap < need && ncap <= SIZE_MAX / 2)
		ncap *= 2;
	if (ncap < need)
		return NULL;
	if ((na = reallocarray(arr, ncap, elem)) == NULL)
		return NULL;
	*cap = ncap;
	return na;
}

/* Field writers and the splice writer (kafka_msg.h). */

size_t
krx_kafka_records_field_len(int flexible, int32_t len)
{
	size_t	 n = len > 0 ? (size_t)len : 0;

	if (flexible)
		return krx_uvarint_len((uint64_t)((int64_t)len + 1)) + n;
	return 4 + n;
}

int
krx_kafka_records_field(struct krx_buf *out, int flexible,
    const uint8_t *records, int32_t len)
{
	if (len < -1 || (len > 0 && records == NULL))
		return KRX_E_RANGE;
	if (flexible)
		krx_buf_put_uvarint(out, (uint64_t)((int64_t)len + 1));
	else
		krx_buf_put_be32(out, (uint32_t)len);
	if (len > 0)
		krx_buf_put(out, records, (size_t)len);
	return out->err;
}

size_t
krx_kafka_str_field_len(int flexible, const char *s)
{
	size_t	 n = s == NULL ? 0 : strlen(s);

	if (flexible)
		return krx_uvarint_len(s == NULL ? 0 : (uint64_t)n + 1) + n;
	return 2 + n;
}

int
krx_kafka_str_field(struct krx_buf *out, int flexible, const char *s)
{
	size_t	 n = s == NULL ? 0 : strlen(s);

	if (n > KRX_KP_STR_MAX)
		return KRX_E_RANGE;
	return krx_kp_put_str(out, flexible != 0, s,
	    s == NULL ? -1 : (int32_t)n);
}

int
krx_kafka_records_prefix(struct krx_buf *out, int flexible, size_t len)
{
	if (len > INT32_MAX - 1)
		return KRX_E_TOO_BIG;
	if (flexible)
		return krx_buf_put_uvarint(out, (uint64_t)len + 1);
	return krx_buf_put_be32(out, (uint32_t)len);
}

int
krx_kafka_splice_size(size_t len, const struct krx_splice *edits, size_t n,
    size_t *total)
{
	const struct krx_splice	*e;
	size_t			 i, pos = 0;

	*total = len;
	for (i = 0; i < n; i++) {
		e = &edits[i];
		if (e->off < pos || e->off > len || e->len > len - e->off ||
		    (e->data == NULL && e->data_len > 0))
			return KRX_E_RANGE;
		pos = e->off + e->len;
		*total -= e->len;
		if (e->data_len > SIZE_MAX / 2 - *total)
			return KRX_E_TOO_BIG;
		*total += e->data_len;
	}
	return KRX_OK;
}

int
krx_kafka_splice(const uint8_t *body, size_t len,
    const struct krx_splice *edits, size_t n, struct krx_buf *out)
{
	const struct krx_splice	*e;
	size_t			 i, pos, total, start = out->len;
	int			 r;

	if ((r = krx_kafka_splice_size(len, edits, n, &total)) != KRX_OK)
		return r;
	if ((r = krx_buf_reserve(out, total)) != KRX_OK)
		return r;
	for (pos = 0, i = 0; i < n; i++) {
		e = &edits[i];
		if (e->off > pos)
			krx_buf_put(out, body + pos, e->off - pos);
		krx_buf_put(out, e->data, e->data_len);
		pos = e->off + e->len;
	}
	if (len > pos)
		krx_buf_put(out, body + pos, len - pos);
	if ((r = out->err) != KRX_OK && out->len > start)
		out->len = start;
	return r;
}
