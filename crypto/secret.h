/*
 * secret.h: locked, zeroed-on-free storage for key material (DEKs, KEKs,
 * tokens). Library grade: no logging, no globals.
 *
 * The bytes live in whole pages of their own, so that mlock(2) and
 * munlock(2) of one secret never touch another's page, and are marked
 * MADV_DONTDUMP so that a core dump does not carry them. A failed mlock
 * (EPERM, ENOMEM: RLIMIT_MEMLOCK reached) is not an error; the secret is
 * then simply not locked (s->locked says which).
 */
#ifndef KRX_CRYPTO_SECRET_H
#define KRX_CRYPTO_SECRET_H

#include <stddef.h>
#include <stdint.h>

struct krx_secret {
	uint8_t	*data;		/* len bytes of key material */
	size_t	 len;
	size_t	 map_len;	/* private: whole pages behind data */
	int	 locked;	/* 1 when mlock succeeded */
};

/*
 * A zero-filled secret of len bytes (len > 0) for the caller to fill in
 * place. Returns NULL when len is 0 or memory is short.
 */
struct krx_secret	*krx_secret_new(size_t len);
/* A secret holding a copy of the len bytes at p (len > 0). NULL on error. */
struct krx_secret	*krx_secret_new_copy(const void *p, size_t len);
/*
 * Zero the bytes (OPENSSL_cleanse), unlock and free them and s itself.
 * krx_secret_free(NULL) is a no-op.
 */
void			 krx_secret_free(struct krx_secret *s);

#endif
