/*
 * kms_azure.h: what AzureKeyVaultKmsService's files share: kms_azure.c
 * (the provider: calls to the vault), kms_azure_wire.c (pure functions:
 * URLs, request bodies, answers, KEK ids, error mapping; exposed for
 * unit tests) and kms_azure_auth.c (bearer tokens from the Microsoft
 * identity platform or the managed identity endpoint). Program grade;
 * keysvc only. Nothing here logs a token, a client secret or a DEK.
 */
#ifndef KRX_KEYSVC_KMS_AZURE_H
#define KRX_KEYSVC_KMS_AZURE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "crypto/edek_kms.h"
#include "proto/ipc.h"

struct event_base;
struct krx_conf_kms;
struct krx_secret;

#define KRX_AZURE_API_VERSION	"7.4"
#define KRX_AZURE_DETAIL	256	/* bytes of a failure's detail */
#define KRX_AZURE_BODY_MAX	65536	/* bytes of any answer */
#define KRX_AZURE_TOKEN_MAX	16384	/* bytes of a bearer token */
#define KRX_AZURE_ID_MAX	1024	/* bytes of a key's kid */
#define KRX_AZURE_KEK_MAX	255	/* bytes of a krx KEK id */
#define KRX_AZURE_REFRESH_MS	60000	/* refresh this near expiry */
#define KRX_AZURE_TOKEN_LIFE_MAX (366L * 86400)	/* seconds believed */

/* What a resolved key is, and what its EDEKs carry. */
struct krx_azure_kek {
	char	 vault[KRX_EDEK_AZURE_VAULT_MAX + 1];
	char	 name[KRX_EDEK_AZURE_NAME_MAX + 1];
	char	 version[KRX_EDEK_AZURE_VERSION_MAX + 1];
	int	 kty;		/* enum krx_edek_azure_kty */
};

/* The operation an answer belongs to (error mapping). */
enum krx_azure_op {
	KRX_AZURE_GET_KEY = 0,
	KRX_AZURE_WRAP = 1,
	KRX_AZURE_UNWRAP = 2
};

/* ---- kms_azure_wire.c ---- */

/* A key name Azure allows: 1..127 of [A-Za-z0-9-]. */
int	krx_azure_name_ok(const char *s, size_t n);
/* "RSA-OAEP-256" for RSA and RSA-HSM, "A256GCM" for oct and oct-HSM. */
const char *krx_azure_alg(int kty);

/*
 * The KEK id krx hands around for a key: "<vault>/<name>/<version>/
 * <kty>". _format: 0, or -1 when over KRX_AZURE_KEK_MAX bytes. _parse:
 * 0, or -1 unless every field is valid (names, version as the EDEK
 * wants it, a known key type).
 */
int	krx_azure_kek_format(const struct krx_azure_kek *k, char *out,
	    size_t outsz, size_t *len);
int	krx_azure_kek_parse(const char *s, size_t n, struct krx_azure_kek *k);

/*
 * {vault_url}/keys/{name}[/{version}/{op}]?api-version=7.4 (version
 * percent-encoded); op NULL for the key itself. A new string.
 */
char	*krx_azure_key_url(const char *vault_url, const char *name,
	    const char *version, const char *op);
/*
 * {"alg":"<alg of kty>","value":"<unpadded base64url of v>"} to b;
 * with a secret v, give b the room first (a realloc is not wiped).
 */
void	krx_azure_wrap_body(struct krx_buf *b, int kty, const uint8_t *v,
	    size_t n);

/* Unpadded base64url (RFC 7515) of n bytes, appended to b. */
void	krx_azure_b64url_put(struct krx_buf *b, const uint8_t *p, size_t n);
/*
 * Decode base64url, with or without padding: 0 with *outlen, or -1
 * (malformed, or over outsz). out is wiped on error.
 */
int	krx_azure_b64url_decode(const char *s, size_t n, uint8_t *out,
	    size_t outsz, size_t *outlen);

/*
 * A GET key answer (KeyBundle) for key name in vault: key_ops must hold
 * wrapKey and unwrapKey, attributes.enabled be true, kty one of RSA,
 * RSA-HSM, oct, oct-HSM; the version is key.kid's last path segment.
 * KRX_KEY_OK with *k filled, else a status (DENIED for a key that exists
 * but cannot be used; UNAVAILABLE for a malformed answer) and a detail.
 */
enum krx_key_status krx_azure_parse_key(const char *vault, const char *name,
	    const uint8_t *body, size_t len, struct krx_azure_kek *k,
	    char *detail, size_t dlen);
/*
 * A wrapkey or unwrapkey answer (KeyOperationResult): its "value",
 * decoded into out. A wrapkey answer that also carries a non-empty iv,
 * tag or aad is refused (KRX_KEY_INVALID): the Azure EDEK keeps the
 * value only, so what needs more could never be unwrapped.
 */
enum krx_key_status krx_azure_parse_value(enum krx_azure_op op,
	    const uint8_t *body, size_t len, uint8_t *out, size_t outsz,
	    size_t *outlen, char *detail, size_t dlen);
/*
 * A non-2xx vault answer, {"error":{"code","message","innererror"}}, as
 * a status and a detail naming it: 404 NOT_FOUND; 401 and 403 DENIED;
 * 400 to unwrapkey INVALID; the rest UNAVAILABLE. Message text is
 * cleaned to printable ASCII and cut.
 */
enum krx_key_status krx_azure_error(enum krx_azure_op op, long status,
	    const uint8_t *body, size_t len, char *detail, size_t dlen);

/*
 * Append key=value, form-urlencoded (as Java's URLEncoder: [A-Za-z0-9.
 * -*_] kept, space as '+', the rest %XX), after a '&' unless first.
 */
void	krx_azure_form_put(struct krx_buf *b, const char *key,
	    const uint8_t *v, size_t n, int first);
/* The managed identity token URL for resource. A new string. */
char	*krx_azure_imds_url(const char *endpoint, const char *resource);
/*
 * A token answer: access_token (1..KRX_AZURE_TOKEN_MAX bytes of
 * printable ASCII without blanks) as a new secret, expires_in (a number,
 * or a string of digits as IMDS sends it; > 0, capped at
 * KRX_AZURE_TOKEN_LIFE_MAX) in *expires_in. 0, or -1 with a detail
 * that never holds the token.
 */
int	krx_azure_parse_token(const uint8_t *body, size_t len,
	    struct krx_secret **tok, long *expires_in, char *detail,
	    size_t dlen);
/*
 * A refused token request: 400, 401, 403 DENIED (bad secret, client,
 * tenant, scope), else UNAVAILABLE. The detail names the AAD error and
 * code (never its description, which could quote the request) or, from
 * IMDS, its error and description.
 */
enum krx_key_status krx_azure_token_error(int imds, long status,
	    const uint8_t *body, size_t len, char *detail, size_t dlen);

/* ---- kms_azure_auth.c ---- */

struct krx_azure_auth;

/* A wait for a token ended: KRX_KEY_OK (ask for it again) or why not. */
typedef void (*krx_azure_auth_cb)(void *arg, enum krx_key_status st,
    const char *detail);

/*
 * Tokens for the configuration kc (oauth2ClientCredentials or
 * managedIdentityCredentials). NULL when unusable (logged: a missing
 * secret file, a TLS store).
 */
struct krx_azure_auth *krx_azure_auth_new(struct event_base *base,
	    const struct krx_conf_kms *kc);
/* Cancel the fetch, drop waiters (never called), wipe secrets. */
void	krx_azure_auth_free(struct krx_azure_auth *a);
/*
 * The token to send now and its generation, or NULL when none is
 * valid. Less than KRX_AZURE_REFRESH_MS from its expiry, a refresh
 * starts in the background and the old token is given meanwhile.
 */
const struct krx_secret *krx_azure_auth_token(struct krx_azure_auth *a,
	    uint64_t *gen);
/*
 * Wait for a token (one fetch for every waiter): 0 and cb(arg) comes
 * later from the loop; -1 answered now (a failure remembered for a few
 * seconds, or too many waiters) with *st and *detail.
 */
int	krx_azure_auth_wait(struct krx_azure_auth *a, krx_azure_auth_cb cb,
	    void *arg, enum krx_key_status *st, const char **detail);
/* Forget arg's wait (its cb is never called). */
void	krx_azure_auth_unwait(struct krx_azure_auth *a, void *arg);
/* The vault answered 401 to token gen: drop it if still the current. */
void	krx_azure_auth_refused(struct krx_azure_auth *a, uint64_t gen);

#endif
