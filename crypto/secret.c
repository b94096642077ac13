/*
 * secret.c: locked, zeroed-on-free storage for key material. Library
 * grade; runs in keysvc and in workers. Trusts its caller only: it never
 * looks at the bytes it holds.
 */
#include <sys/mman.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "crypto/secret.h"

struct krx_secret *
krx_secret_new(size_t len)
{
	struct krx_secret	*s;
	long			 pg;
	size_t			 page;
	void			*p;

	if (len == 0)
		return NULL;
	if ((pg = sysconf(_SC_PAGESIZE)) <= 0)
		page = 4096;
	else
		page = (size_t)pg;
	if (len > SIZE_MAX - page)
		return NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->len = len;
	s->map_len = (len + page - 1) / page * page;
	if (posix_memalign(&p, page, s->map_len) != 0) {
		free(s);
		return NULL;
	}
	s->data = p;
	memset(s->data, 0, s->map_len);
	/* Best effort: EPERM and ENOMEM (the rlimit) leave it unlocked. */
	if (mlock(s->data, s->map_len) == 0)
		s->locked = 1;
	(void)madvise(s->data, s->map_len, MADV_DONTDUMP);
	return s;
}

struct krx_secret *
krx_secret_new_copy(const void *p, size_t len)
{
	struct krx_secret	*s;

	if ((s = krx_secret_new(len)) == NULL)
		return NULL;
	memcpy(s->data, p, len);
	return s;
}

void
krx_secret_free(struct krx_secret *s)
{
	if (s == NULL)
		return;
	OPENSSL_cleanse(s->data, s->map_len);
	(void)madvise(s->data, s->map_len, MADV_DODUMP);
	if (s->locked)
		(void)munlock(s->data, s->map_len);
	free(s->data);
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
}
