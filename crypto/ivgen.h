/*
 * ivgen.h: the 96-bit IVs of one DEK. Library grade: no logging, no
 * globals.
 *
 * An IV is a 32-bit prefix followed by a 64-bit counter, both big-endian
 * (NIST SP 800-38D section 8.2.1, the deterministic construction: the
 * prefix is the "fixed field", the counter the "invocation field"). krx
 * gives each worker its own DEK and a DEK's generator lives in exactly one
 * process, so a per-DEK in-process counter never repeats an IV under that
 * DEK. The prefix adds nothing to that guarantee; a random one (see
 * krx_ivgen_init_random) only makes a collision unlikely should a bug
 * ever run two generators under one DEK. A DEK used for encryption must
 * therefore never outlive its generator: never restore an encrypting DEK
 * with a fresh counter (e.g. from a cache after a restart).
 *
 * Kroxylicious reads the IV from the wire, so any unique-IV scheme is
 * compatible with it.
 */
#ifndef KRX_CRYPTO_IVGEN_H
#define KRX_CRYPTO_IVGEN_H

#include <stdint.h>

#include "crypto/aead.h"

/* The most IVs one DEK may hand out (DESIGN.md: maxEncryptionsPerDek). */
#define KRX_IVGEN_MAX_BUDGET	(UINT64_C(1) << 32)

struct krx_ivgen {
	uint32_t	 prefix;
	uint64_t	 next;		/* the counter of the next IV */
	uint64_t	 budget;	/* IVs allowed in total */
};

/*
 * Start a generator with this prefix that hands out budget IVs
 * (budget <= KRX_IVGEN_MAX_BUDGET, 0 allowed: exhausted at once).
 * Returns 0 or KRX_E_RANGE.
 */
int		krx_ivgen_init(struct krx_ivgen *g, uint32_t prefix,
		    uint64_t budget);
/* The same with a prefix from OpenSSL's DRBG; KRX_E_CRYPTO if it fails. */
int		krx_ivgen_init_random(struct krx_ivgen *g, uint64_t budget);
/*
 * Write the next IV to iv. Returns 0, or KRX_E_RANGE once budget IVs
 * were handed out (iv is then zeroed and the generator stays exhausted).
 */
int		krx_ivgen_next(struct krx_ivgen *g,
		    uint8_t iv[KRX_AEAD_IV_LEN]);
/* How many IVs are left: reserve a whole batch before sealing it. */
uint64_t	krx_ivgen_remaining(const struct krx_ivgen *g);

#endif
