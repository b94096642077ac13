/*
 * fuzz_json.c: libFuzzer harness for the JSON reader (crypto/json.c),
 * which keysvc runs on what a KMS (or whatever answers at its address)
 * sends. The input is a document. Checks: an error leaves *ntok 0; a
 * parsed document's tokens lie inside the input, each `next` is past
 * its token and no further than its parent's, containers' children fit;
 * every string token unescapes within its raw length, equals itself by
 * krx_json_string_eq, and as base64 decodes to at most 3/4 of it or
 * fails cleanly; member lookups of the AWS names never fail otherwise
 * than as documented, nor those of Vault and IMDS (array indexes too);
 * every number reads as an int64 or fails with KRX_E_RANGE; a document
 * written back with krx_json_put_string around a string parses again
 * to the same bytes.
 * Seeds (tests/fuzz/corpus/json): AWS KMS and Vault answers and errors.
 */
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "crypto/json.h"
#include "tests/fuzz/fuzz_common.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FZ_TOKENS	256

static void
fz_string(const char *s, const struct krx_json_tok *t, size_t i)
{
	static char		 out[KRX_JSON_MAX_LEN / 256];
	static uint8_t		 bin[KRX_JSON_MAX_LEN / 256];
	struct krx_json_tok	 t2[2];
	struct krx_buf		 b;
	size_t			 len, n;
	int			 r;

	if (t[i].len >= sizeof(out))
		return;
	r = krx_json_string(s, t, i, out, sizeof(out), &len);
	fz_check(r == KRX_OK || r == KRX_E_MALFORMED);
	if (r != KRX_OK)
		return;
	fz_check(len <= t[i].len && out[len] == '\0');
	fz_check(krx_json_string_eq(s, t, i, out, len));
	r = krx_json_base64(s, t, i, bin, sizeof(bin), &n);
	fz_check(r == KRX_OK || r == KRX_E_MALFORMED);
	fz_check(r != KRX_OK || n <= len / 4 * 3);
	/* Written back, read again. */
	krx_buf_init(&b, len + 16);
	fz_check(krx_json_put_string(&b, out, len) == KRX_OK);
	fz_check(krx_json_parse((const char *)b.data, b.len, t2, 2, &n) ==
	    KRX_OK && n == 1 && t2[0].type == KRX_JSON_STRING);
	fz_check(krx_json_string_eq((const char *)b.data, t2, 0, out, len));
	krx_buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const paths[] = { "KeyMetadata.KeyId", "Plaintext",
	    "CiphertextBlob", "__type", "message", "a.b.c", "errors.0",
	    "data.plaintext", "data.keys.1", "auth.lease_duration", "0.1",
	    "Expiration", NULL };
	struct krx_json_tok	 t[FZ_TOKENS];
	const char		*s = (const char *)data;
	size_t			 n, i, v, k;
	int64_t			 iv;
	int			 r;

	r = krx_json_parse(s, size, t, FZ_TOKENS, &n);
	if (r != KRX_OK) {
		fz_check(n == 0 && r < 0);
		return 0;
	}
	fz_check(n >= 1 && t[0].next == n);
	for (i = 0; i < n; i++) {
		fz_check(t[i].start <= size && t[i].len <= size - t[i].start);
		fz_check(t[i].next > i && t[i].next <= n);
		fz_check(t[i].type >= KRX_JSON_OBJECT &&
		    t[i].type <= KRX_JSON_NULL);
		if (t[i].type == KRX_JSON_OBJECT)
			fz_check(t[i].next - i - 1 >= 2 * (size_t)t[i].count);
		if (t[i].type == KRX_JSON_ARRAY)
			fz_check(t[i].next - i - 1 >= t[i].count);
		if (t[i].type == KRX_JSON_STRING)
			fz_string(s, t, i);
		r = krx_json_int64(s, t, i, &iv);
		fz_check(r == KRX_OK || (r == KRX_E_RANGE && iv == 0));
		fz_check(r != KRX_OK || t[i].type == KRX_JSON_NUMBER);
	}
	for (k = 0; paths[k] != NULL; k++) {
		r = krx_json_path(s, t, n, paths[k], &v);
		fz_check(r == KRX_OK || r == KRX_E_NOTFOUND ||
		    r == KRX_E_MALFORMED);
		fz_check(r != KRX_OK || (v > 0 && v < n));
	}
	return 0;
}
