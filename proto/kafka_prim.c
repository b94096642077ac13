/*
 * kafka_prim.c: Kafka wire primitives (strings, bytes, arrays, tag
 * sections) in classic and compact form. Library grade: runs in any
 * process, trusts none of its input, keeps no state.
 */
#include "common/err.h"
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
