/*
 * crc32c.h: CRC-32C (Castagnoli), the checksum of Kafka record batches.
 * Library grade: no globals, no allocation, never fails.
 *
 * Reflected polynomial 0x82F63B78, initial value and final XOR
 * 0xFFFFFFFF; krx_crc32c(0, "123456789", 9) is 0xE3069283. The functions
 * follow zlib's crc32() convention so a CRC can be computed piecewise:
 *
 *	crc = krx_crc32c(0, a, alen);
 *	crc = krx_crc32c(crc, b, blen);	 == krx_crc32c(0, a||b, alen+blen)
 */
#ifndef KRX_PROTO_CRC32C_H
#define KRX_PROTO_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Extend crc (0 to start) over len bytes at p and return the new value.
 * Uses the SSE4.2 CRC32 instruction when the CPU has it, else
 * krx_crc32c_sw. p may be NULL when len is 0.
 */
uint32_t	krx_crc32c(uint32_t crc, const void *p, size_t len);

/* The portable slicing-by-8 implementation, same contract. */
uint32_t	krx_crc32c_sw(uint32_t crc, const void *p, size_t len);

/*
 * The SSE4.2 implementation, same contract. Call it only when
 * krx_crc32c_hw_available() is true; on other architectures it is
 * krx_crc32c_sw.
 */
uint32_t	krx_crc32c_hw(uint32_t crc, const void *p, size_t len);
bool		krx_crc32c_hw_available(void);

#endif
