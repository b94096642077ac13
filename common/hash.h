/*
 * hash.h: FNV-1a over bytes, seeded (the virtual cluster index, say),
 * for the workers' small in-memory tables. Not for anything an attacker
 * must not steer: tables that use it bound their size instead.
 */
#ifndef KRX_COMMON_HASH_H
#define KRX_COMMON_HASH_H

#include <stddef.h>
#include <stdint.h>

static inline uint32_t
krx_hash_fnv1a(uint32_t seed, const void *p, size_t len)
{
	const uint8_t	*b = p;
	uint32_t	 h = 2166136261u ^ seed;
	size_t		 i;

	for (i = 0; i < len; i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}

#endif
