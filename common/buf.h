/*
 * buf.h: a growable output buffer with a sticky error, and a bounded
 * read cursor. Library grade: no logging, no globals.
 *
 * Writers: every krx_buf_put_* appends or, once an allocation failed,
 * does nothing and leaves b->err set to KRX_E_NOMEM; check b->err (or the
 * return of krx_buf_put_*) once at the end. Integers are big-endian
 * (Kafka order) unless the name says otherwise.
 *
 * Readers: each krx_cur_get_* fills its output and advances, or returns
 * KRX_E_TRUNCATED without moving. krx_cur_end() is the "must be at end"
 * check every decoder finishes with.
 */
#ifndef KRX_COMMON_BUF_H
#define KRX_COMMON_BUF_H

#include <stddef.h>
#include <stdarg.h>
#include <stdint.h>

#include "common/err.h"

struct krx_buf {
	uint8_t	*data;
	size_t	 len;
	size_t	 cap;
	int	 err;
};

/* Start empty with room for cap bytes (0: allocate on first put). */
int	krx_buf_init(struct krx_buf *b, size_t cap);
/* Free the storage; the buffer may be reused after krx_buf_init. */
void	krx_buf_free(struct krx_buf *b);
/* Forget the contents, keep the storage. */
void	krx_buf_reset(struct krx_buf *b);
/* Zero the contents (OPENSSL_cleanse) then free: for secrets. */
void	krx_buf_free_secret(struct krx_buf *b);
/* Make room for n more bytes. */
int	krx_buf_reserve(struct krx_buf *b, size_t n);
/* Append n bytes and return a pointer to them (NULL on error). */
uint8_t	*krx_buf_extend(struct krx_buf *b, size_t n);
/* Transfer ownership of the storage to the caller; b becomes empty. */
uint8_t	*krx_buf_take(struct krx_buf *b, size_t *len);

int	krx_buf_put(struct krx_buf *b, const void *p, size_t n);
int	krx_buf_put_u8(struct krx_buf *b, uint8_t v);
int	krx_buf_put_be16(struct krx_buf *b, uint16_t v);
int	krx_buf_put_be32(struct krx_buf *b, uint32_t v);
int	krx_buf_put_be64(struct krx_buf *b, uint64_t v);
/*
 * Append printf's text, cut to at most max - 1 bytes (max > 0); the
 * bytes appended (0 on error, which b keeps).
 */
size_t	krx_buf_printf(struct krx_buf *b, size_t max, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
size_t	krx_buf_vprintf(struct krx_buf *b, size_t max, const char *fmt,
	    va_list ap) __attribute__((format(printf, 3, 0)));
/* Unsigned LEB128 (Kafka compact lengths, tags). */
int	krx_buf_put_uvarint(struct krx_buf *b, uint64_t v);
/* Zigzag signed varint (record fields). */
int	krx_buf_put_varint(struct krx_buf *b, int64_t v);
/* Overwrite 4 bytes at off with v, big-endian (off+4 <= len). */
void	krx_buf_set_be32(struct krx_buf *b, size_t off, uint32_t v);

/* Number of bytes krx_buf_put_uvarint / _varint would write. */
size_t	krx_uvarint_len(uint64_t v);
size_t	krx_varint_len(int64_t v);

struct krx_cur {
	const uint8_t	*p;
	size_t		 len;
	size_t		 off;
};

void	krx_cur_init(struct krx_cur *c, const void *p, size_t len);
size_t	krx_cur_left(const struct krx_cur *c);
/* KRX_OK when every byte was consumed, KRX_E_TRAILING otherwise. */
int	krx_cur_end(const struct krx_cur *c);
int	krx_cur_skip(struct krx_cur *c, size_t n);
/* Point *p at the next n bytes and advance. */
int	krx_cur_get_ref(struct krx_cur *c, size_t n, const uint8_t **p);
int	krx_cur_get(struct krx_cur *c, void *out, size_t n);
int	krx_cur_get_u8(struct krx_cur *c, uint8_t *v);
int	krx_cur_get_be16(struct krx_cur *c, uint16_t *v);
int	krx_cur_get_be32(struct krx_cur *c, uint32_t *v);
int	krx_cur_get_be64(struct krx_cur *c, uint64_t *v);
int	krx_cur_get_i16(struct krx_cur *c, int16_t *v);
int	krx_cur_get_i32(struct krx_cur *c, int32_t *v);
int	krx_cur_get_i64(struct krx_cur *c, int64_t *v);
/* Unsigned LEB128, at most 10 bytes (max_bytes 5 for 32-bit fields). */
int	krx_cur_get_uvarint(struct krx_cur *c, uint64_t *v, int max_bytes);
/* Zigzag signed varints: 32-bit (5 bytes) and 64-bit (10 bytes). */
int	krx_cur_get_varint(struct krx_cur *c, int32_t *v);
int	krx_cur_get_varlong(struct krx_cur *c, int64_t *v);

#endif
