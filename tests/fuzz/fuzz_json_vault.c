/*
 * fuzz_json_vault.c: libFuzzer harness for the Vault provider's bounded
 * JSON reader (keysvc/json_vault.c, built into this harness), which
 * reads the bodies a KMS sends. Each input is a document: it is checked
 * and the paths keysvc reads are looked up. Checks: results are the
 * documented codes; a string found fits its buffer and is NUL-terminated
 * at its length; a document that fails the check gives KRX_E_MALFORMED
 * to every lookup.
 * Seeds (tests/fuzz/corpus/json_vault): Vault's key read, datakey,
 * decrypt, login and error answers.
 */
#include <stdlib.h>
#include <string.h>

#include "keysvc/json_vault.c"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const char *const fz_paths[] = {
	"data.name", "data.plaintext", "data.ciphertext", "errors.0",
	"auth.client_token", "auth.lease_duration", "a.0.b.12", "",
};

int
LLVMFuzzerTestOneInput(const uint8_t *p, size_t len)
{
	char		 out[64];
	const char	*doc = (const char *)p;
	size_t		 i, n;
	int64_t		 v;
	int		 ok, r;

	ok = krx_vjson_check(doc, len);
	if (ok != 0 && ok != KRX_E_MALFORMED && ok != KRX_E_TOO_BIG)
		abort();
	for (i = 0; i < sizeof(fz_paths) / sizeof(fz_paths[0]); i++) {
		r = krx_vjson_string(doc, len, fz_paths[i], out, sizeof(out),
		    &n);
		if (ok != 0 && r != KRX_E_MALFORMED)
			abort();
		if (r == 0 && (n >= sizeof(out) || out[n] != '\0'))
			abort();
		if (r != 0 && (n != 0 || out[0] != '\0'))
			abort();
		if (r != 0 && r != KRX_E_NOTFOUND && r != KRX_E_TOO_BIG &&
		    r != KRX_E_MALFORMED)
			abort();
		r = krx_vjson_int(doc, len, fz_paths[i], &v);
		if (ok != 0 && r != KRX_E_MALFORMED)
			abort();
		if (r != 0 && v != 0)
			abort();
	}
	return 0;
}
