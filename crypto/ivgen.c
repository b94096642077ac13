/*
 * ivgen.c: per-DEK IV counter. Library grade; runs in workers. Trusts its
 * caller to keep one generator per DEK (see ivgen.h).
 */
#include <string.h>

#include <openssl/rand.h>

#include "common/err.h"
#include "crypto/ivgen.h"

int
krx_ivgen_init(struct krx_ivgen *g, uint32_t prefix, uint64_t budget)
{
	memset(g, 0, sizeof(*g));
	if (budget > KRX_IVGEN_MAX_BUDGET)
		return KRX_E_RANGE;
	g->prefix = prefix;
	g->budget = budget;
	return KRX_OK;
}

int
krx_ivgen_init_random(struct krx_ivgen *g, uint64_t budget)
{
	uint8_t	 p[4];

	memset(g, 0, sizeof(*g));
	if (RAND_bytes(p, sizeof(p)) != 1)
		return KRX_E_CRYPTO;
	return krx_ivgen_init(g, (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3], budget);
}

int
krx_ivgen_next(struct krx_ivgen *g, uint8_t iv[KRX_AEAD_IV_LEN])
{
	uint64_t	 c;
	int		 i;

	if (g->next >= g->budget) {
		memset(iv, 0, KRX_AEAD_IV_LEN);
		return KRX_E_RANGE;
	}
	c = g->next++;
	iv[0] = g->prefix >> 24;
	iv[1] = g->prefix >> 16;
	iv[2] = g->prefix >> 8;
	iv[3] = g->prefix;
	for (i = 0; i < 8; i++)
		iv[4 + i] = (uint8_t)(c >> (56 - 8 * i));
	return KRX_OK;
}

uint64_t
krx_ivgen_remaining(const struct krx_ivgen *g)
{
	return g->budget - g->next;
}
