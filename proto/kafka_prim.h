/*
 * kafka_prim.h: Kafka wire primitives over struct krx_cur (read) and
 * struct krx_buf (write), internal to proto/kafka_*.c. Library grade.
 *
 * "flex" selects the encoding of a flexible version (compact lengths:
 * unsigned varint N+1, 0 for null) over the classic one (int16 string
 * lengths, int32 byte and array lengths, -1 for null). Every getter either
 * fills its outputs and advances or returns a negative enum krx_err and
 * leaves the cursor where it was. Lengths are checked against the bytes
 * left, so a short input gives KRX_E_TRUNCATED, never a large loop.
 */
#ifndef KRX_PROTO_KAFKA_PRIM_H
#define KRX_PROTO_KAFKA_PRIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define KRX_KP_UUID_LEN		16
#define KRX_KP_STR_MAX		INT16_MAX	/* longest Kafka string */

/*
 * Unsigned varint of at most 5 bytes holding a 32-bit value (compact
 * lengths, tags, tag sizes). Longer or wider encodings: KRX_E_MALFORMED.
 */
int	krx_kp_get_uvarint32(struct krx_cur *c, uint32_t *v);

/* A compact length: *n is N (-1 for null), at most INT32_MAX - 1. */
int	krx_kp_get_clen(struct krx_cur *c, int32_t *n);

/*
 * A string: *p points into the input, *len is -1 for null. Null is
 * accepted only when nullable is true (else KRX_E_MALFORMED).
 */
int	krx_kp_get_str(struct krx_cur *c, bool flex, bool nullable,
	    const uint8_t **p, int32_t *len);
int	krx_kp_skip_str(struct krx_cur *c, bool flex, bool nullable);

/* Bytes (int32 or compact length); *len is -1 for null. */
int	krx_kp_get_bytes(struct krx_cur *c, bool flex, bool nullable,
	    const uint8_t **p, int32_t *len);

/*
 * An array count: *n is -1 for null (only when nullable). min_elem is
 * the smallest encoded size of one element; a count that cannot fit in
 * the bytes left gives KRX_E_TRUNCATED.
 */
int	krx_kp_get_array(struct krx_cur *c, bool flex, bool nullable,
	    size_t min_elem, int32_t *n);
/* Skip an array of fixed-size elements (e.g. []int32: elem 4). */
int	krx_kp_skip_fixed_array(struct krx_cur *c, bool flex, bool nullable,
	    size_t elem);

/*
 * A tag section (uvarint count, then tag, size, bytes). Tags must be
 * strictly ascending. krx_kp_find_tag also reports where tag `want`
 * (its payload) lies: *found false when absent.
 */
int	krx_kp_skip_tags(struct krx_cur *c);
int	krx_kp_find_tag(struct krx_cur *c, uint32_t want, bool *found,
	    size_t *off, size_t *len);

/* Writers, sticky errors as in common/buf.h; len -1 writes null. */
int	krx_kp_put_str(struct krx_buf *b, bool flex, const void *p,
	    int32_t len);
int	krx_kp_put_array_len(struct krx_buf *b, bool flex, int32_t n);

/*
 * Grow an array of elem-sized entries to hold at least need of them
 * (capacity doubles). Returns the new array, or NULL with arr untouched
 * when allocation fails or the size overflows.
 */
void	*krx_kp_grow(void *arr, size_t *cap, size_t need, size_t elem);

#endif
