/*
 * kms_azure.c: AzureKeyVaultKmsService, Azure Key Vault (REST API 7.4)
 * as Kroxylicious uses it, run by keysvc. Every call carries a bearer
 * token (kms_azure_auth.c) to {scheme}://{keyVaultName}.{keyVaultHost}
 * [:keyVaultPort]:
 *
 *   resolve(alias)  GET  /keys/{alias}: key_ops must hold wrapKey and
 *                   unwrapKey, the key be enabled and of type RSA,
 *                   RSA-HSM, oct or oct-HSM; the KEK id is
 *                   "<vault>/<name>/<version>/<kty>", the version the
 *                   last path segment of key.kid
 *   generate(kek)   32 random bytes (RAND_priv_bytes) are the DEK;
 *                   POST /keys/{name}/{version}/wrapkey {"alg","value"}
 *                   (RSA-OAEP-256, or A256GCM for oct keys); the EDEK is
 *                   Kroxylicious' Azure form (crypto/edek_kms.h: v0 for
 *                   a 32 lowercase hex version, else v1) of the value
 *   decrypt(edek)   POST .../unwrapkey with the EDEK's value: 32 bytes
 *
 * all with ?api-version=7.4. An EDEK naming another vault is refused
 * without a call (tokens go to the configured vault only). A wrapkey
 * answer with a separate iv/tag is refused (kms_azure_wire.c says why).
 * 404 is not-found, never retried; 408, 429, 5xx and transport failures
 * other than TLS are retried by keysvc/http.c; a 401 drops the token
 * and sends the request again once with a new one. Resolve and decrypt
 * go through a krx_flight (one call for concurrent misses, failures
 * remembered briefly). Trusts its configuration; nothing the vault (or
 * whatever answers at its address) sends, nor the EDEKs, which come
 * from brokers. Never logs a token, a secret, a DEK or a body.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "crypto/edek_kms.h"
#include "crypto/secret.h"
#include "crypto/wrapper.h"
#include "keysvc/http.h"
#include "keysvc/kms.h"
#include "keysvc/kms_azure.h"
#include "keysvc/kms_flight.h"
#include "keysvc/kms_tls.h"

#define AZ_AUTH_HDR	"Authorization: Bearer "

struct az_kms;

struct az_call {
	TAILQ_ENTRY(az_call)	 link;
	struct az_kms		*z;
	enum krx_kms_op		 op;
	struct krx_http_call	*hc;
	krx_kms_cb		 cb;		/* generate only */
	void			*arg;
	uint8_t			*key;		/* flight key: alias or EDEK */
	size_t			 key_len;
	struct krx_azure_kek	 kek;
	char			*url;
	struct krx_buf		 body;		/* a secret; empty: GET */
	uint8_t			 dek[KRX_DEK_LEN];	/* generate */
	uint64_t		 gen;		/* of the token sent */
	int			 waiting;	/* for a token */
	int			 resent;	/* after a 401 */
	char			 detail[KRX_AZURE_DETAIL];
};

struct az_kms {
	struct krx_kms			*k;
	const struct krx_conf_kms_azure	*conf;
	struct krx_http			*http;
	struct krx_kms_tls		 tls;
	struct krx_flight		*flight;
	struct krx_azure_auth		*auth;
	TAILQ_HEAD(, az_call)		 calls;
	struct krx_kms_counters		 ctr;
	struct krx_kms_lograte		 log[KRX_KMS_OP_N];
};

static void	az_send(struct az_call *);

/* A failure line per operation at most every KRX_KMS_LOG_EVERY s. */
static void
az_log_failure(struct az_call *c, enum krx_key_status st)
{
	struct az_kms	*z = c->z;
	char		 subj[KRX_AZURE_KEK_MAX + 16];
	int		 earlier;

	if (!krx_kms_log_due(&z->log[c->op], &earlier))
		return;
	if (c->op == KRX_KMS_OP_RESOLVE)
		snprintf(subj, sizeof(subj), "key %.*s", (int)c->key_len,
		    (const char *)c->key);
	else
		snprintf(subj, sizeof(subj), "key %s version %s", c->kek.name,
		    c->kek.version);
	if (st == KRX_KEY_NOT_FOUND)
		log_info("AzureKeyVault %s %s of %s: %s", z->conf->vault_url,
		    krx_kms_op_name(c->op), subj, c->detail);
	else
		log_warnx("AzureKeyVault %s %s of %s failed: %s%s",
		    z->conf->vault_url, krx_kms_op_name(c->op), subj,
		    c->detail, earlier ?
		    " (and earlier failures not logged)" : "");
}

static void
az_call_free(struct az_call *c)
{
	TAILQ_REMOVE(&c->z->calls, c, link);
	if (c->waiting)
		krx_azure_auth_unwait(c->z->auth, c);
	krx_http_cancel(c->hc);
	if (c->key != NULL) {
		OPENSSL_cleanse(c->key, c->key_len);
		free(c->key);
	}
	free(c->url);
	krx_buf_free_secret(&c->body);
	OPENSSL_cleanse(c->dek, sizeof(c->dek));
	free(c);
}

static void
az_finish(struct az_call *c, const struct krx_kms_result *res)
{
	krx_flight_deliver(c->z->flight, c->op, c->key, c->key_len, c->cb,
	    c->arg, res);
}

/* End c with st and its detail (counted, logged unless OK). */
static void
az_end(struct az_call *c, struct krx_kms_result *res)
{
	krx_kms_count(&c->z->ctr, c->op, res->status);
	if (res->status != KRX_KEY_OK) {
		res->detail = c->detail;
		az_log_failure(c, res->status);
	}
	az_finish(c, res);
	az_call_free(c);
}

static void
az_fail(struct az_call *c, enum krx_key_status st, const char *detail)
{
	struct krx_kms_result	 res;

	if (detail != c->detail)
		snprintf(c->detail, sizeof(c->detail), "%s", detail);
	memset(&res, 0, sizeof(res));
	res.status = st;
	az_end(c, &res);
}

/* Transport failures: a status and a detail naming the failure. */
static void
az_transport(struct az_call *c, const struct krx_http_resp *r)
{
	const char	*what;

	switch (r->error) {
	case KRX_HTTP_E_TLS:
		what = "TLS failure";
		break;
	case KRX_HTTP_E_TIMEOUT:
		what = "unreachable (timeout)";
		break;
	case KRX_HTTP_E_TOO_LARGE:
		what = "answer too large";
		break;
	default:
		what = "unreachable";
		break;
	}
	snprintf(c->detail, sizeof(c->detail), "%s: %.160s", what, r->why);
}

/* resolve: the KEK id of the key bundle. */
static enum krx_key_status
az_resolved(struct az_call *c, const struct krx_http_resp *r,
    struct krx_kms_result *res, char *kek)
{
	enum krx_key_status	 st;
	char			 name[KRX_EDEK_AZURE_NAME_MAX + 1];
	size_t			 len;

	snprintf(name, sizeof(name), "%.*s", (int)c->key_len,
	    (const char *)c->key);
	st = krx_azure_parse_key(c->z->conf->vault_name, name, r->body,
	    r->body_len, &c->kek, c->detail, sizeof(c->detail));
	if (st != KRX_KEY_OK)
		return st;
	if (krx_azure_kek_format(&c->kek, kek, KRX_AZURE_KEK_MAX + 1,
	    &len) != 0) {
		snprintf(c->detail, sizeof(c->detail), "key %s: its version "
		    "makes a KEK id over %d bytes", name, KRX_AZURE_KEK_MAX);
		return KRX_KEY_DENIED;
	}
	res->kek_id = kek;
	res->kek_len = len;
	return KRX_KEY_OK;
}

/* generate: the wrapped DEK into an Azure EDEK. */
static enum krx_key_status
az_generated(struct az_call *c, const struct krx_http_resp *r,
    struct krx_kms_result *res, struct krx_buf *edek)
{
	struct krx_edek_azure	 e;
	uint8_t			 w[KRX_WRAPPER_EDEK_MAX];
	enum krx_key_status	 st;
	size_t			 wlen;

	st = krx_azure_parse_value(KRX_AZURE_WRAP, r->body, r->body_len, w,
	    sizeof(w), &wlen, c->detail, sizeof(c->detail));
	if (st != KRX_KEY_OK)
		return st;
	memset(&e, 0, sizeof(e));
	e.key_name = c->kek.name;
	e.key_name_len = strlen(c->kek.name);
	e.vault_name = c->z->conf->vault_name;
	e.vault_name_len = strlen(c->z->conf->vault_name);
	e.key_type = c->kek.kty;
	if (krx_edek_azure_set_version(&e, c->kek.version,
	    strlen(c->kek.version)) != KRX_OK) {
		snprintf(c->detail, sizeof(c->detail), "key version not "
		    "usable in an EDEK");
		return KRX_KEY_INVALID;
	}
	e.wrapped = w;
	e.wrapped_len = wlen;
	if (krx_edek_azure_serialize(&e, edek) != KRX_OK) {
		snprintf(c->detail, sizeof(c->detail), "invalid answer "
		    "(a wrapped DEK of %zu bytes does not fit an EDEK)", wlen);
		return KRX_KEY_UNAVAILABLE;
	}
	res->edek = edek->data;
	res->edek_len = edek->len;
	res->dek = c->dek;
	return KRX_KEY_OK;
}

/* decrypt: exactly 32 bytes. */
static enum krx_key_status
az_decrypted(struct az_call *c, const struct krx_http_resp *r,
    struct krx_kms_result *res, uint8_t *dek)
{
	uint8_t			 out[KRX_DEK_LEN + 1];
	enum krx_key_status	 st;
	size_t			 n = 0;

	st = krx_azure_parse_value(KRX_AZURE_UNWRAP, r->body, r->body_len,
	    out, sizeof(out), &n, c->detail, sizeof(c->detail));
	if (st == KRX_KEY_OK && n != KRX_DEK_LEN) {
		snprintf(c->detail, sizeof(c->detail), "EDEK rejected (the "
		    "unwrapped DEK is not %d bytes)", KRX_DEK_LEN);
		st = KRX_KEY_INVALID;
	}
	if (st == KRX_KEY_OK) {
		memcpy(dek, out, KRX_DEK_LEN);
		res->dek = dek;
	}
	OPENSSL_cleanse(out, sizeof(out));
	return st;
}

static enum krx_azure_op
az_wire_op(enum krx_kms_op op)
{
	return op == KRX_KMS_OP_RESOLVE ? KRX_AZURE_GET_KEY :
	    op == KRX_KMS_OP_GENERATE ? KRX_AZURE_WRAP : KRX_AZURE_UNWRAP;
}

static enum krx_http_verdict
az_classify(void *arg, const struct krx_http_resp *r)
{
	struct az_call	*c = arg;
	int		 retry;

	if (r->error != KRX_HTTP_OK)
		retry = r->error != KRX_HTTP_E_TLS &&
		    r->error != KRX_HTTP_E_TOO_LARGE;
	else
		retry = r->status == 408 || r->status == 429 ||
		    (r->status >= 500 && r->status <= 599);
	if (!retry)
		return KRX_HTTP_DONE;
	krx_kms_count(&c->z->ctr, c->op, KRX_KEY_UNAVAILABLE);
	return KRX_HTTP_RETRY;
}

static void
az_done(void *arg, const struct krx_http_resp *r)
{
	struct az_call		*c = arg;
	struct krx_kms_result	 res;
	struct krx_buf		 edek;
	uint8_t			 dek[KRX_DEK_LEN];
	char			 kek[KRX_AZURE_KEK_MAX + 1];

	c->hc = NULL;
	memset(&res, 0, sizeof(res));
	if (r->error == KRX_HTTP_OK && r->status == 401 && !c->resent) {
		/* An expired or revoked token: once more with a new one. */
		krx_kms_count(&c->z->ctr, c->op, KRX_KEY_DENIED);
		c->resent = 1;
		krx_azure_auth_refused(c->z->auth, c->gen);
		az_send(c);
		return;
	}
	krx_buf_init(&edek, 0);
	if (r->error != KRX_HTTP_OK) {
		az_transport(c, r);
		res.status = KRX_KEY_UNAVAILABLE;
	} else if (r->status < 200 || r->status >= 300)
		res.status = krx_azure_error(az_wire_op(c->op), r->status,
		    r->body, r->body_len, c->detail, sizeof(c->detail));
	else if (c->op == KRX_KMS_OP_RESOLVE)
		res.status = az_resolved(c, r, &res, kek);
	else if (c->op == KRX_KMS_OP_GENERATE)
		res.status = az_generated(c, r, &res, &edek);
	else
		res.status = az_decrypted(c, r, &res, dek);
	az_end(c, &res);
	OPENSSL_cleanse(dek, sizeof(dek));
	krx_buf_free_secret(&edek);
}

/* The wait for a token ended. */
static void
az_token_ready(void *arg, enum krx_key_status st, const char *detail)
{
	struct az_call	*c = arg;

	c->waiting = 0;
	if (st != KRX_KEY_OK)
		az_fail(c, st, detail);
	else
		az_send(c);
}

/* Send c with the current token, or wait for one. */
static void
az_send(struct az_call *c)
{
	const struct krx_secret	*tok;
	struct krx_http_req	 req;
	enum krx_key_status	 st;
	const char		*hdrs[3], *why;
	char			*auth;
	size_t			 alen;

	if ((tok = krx_azure_auth_token(c->z->auth, &c->gen)) == NULL) {
		if (krx_azure_auth_wait(c->z->auth, az_token_ready, c, &st,
		    &why) == 0)
			c->waiting = 1;
		else
			az_fail(c, st, why);
		return;
	}
	alen = strlen(AZ_AUTH_HDR) + tok->len + 1;
	auth = xmalloc(alen);
	memcpy(auth, AZ_AUTH_HDR, strlen(AZ_AUTH_HDR));
	memcpy(auth + strlen(AZ_AUTH_HDR), tok->data, tok->len);
	auth[alen - 1] = '\0';
	hdrs[0] = auth;
	hdrs[1] = "Accept: application/json";
	hdrs[2] = "Content-Type: application/json";
	memset(&req, 0, sizeof(req));
	req.method = c->body.len > 0 ? KRX_HTTP_POST : KRX_HTTP_GET;
	req.url = c->url;
	req.headers = hdrs;
	req.nheaders = c->body.len > 0 ? 3 : 2;
	req.body = c->body.data;
	req.body_len = c->body.len;
	req.classify = az_classify;
	c->hc = krx_http_request(c->z->http, &req, az_done, c);
	OPENSSL_cleanse(auth, alen);
	free(auth);
	if (c->hc == NULL)
		az_fail(c, KRX_KEY_UNAVAILABLE, "unavailable (too many KMS "
		    "requests queued)");
}

static struct az_call *
az_call_new(struct az_kms *z, enum krx_kms_op op, const void *key,
    size_t len)
{
	struct az_call	*c = xcalloc(1, sizeof(*c));

	c->z = z;
	c->op = op;
	krx_buf_init(&c->body, 0);
	if (len > 0) {
		c->key = xmalloc(len);
		memcpy(c->key, key, len);
		c->key_len = len;
	}
	TAILQ_INSERT_TAIL(&z->calls, c, link);
	return c;
}

static void
az_resolve(struct krx_kms *k, const char *alias, size_t len, krx_kms_cb cb,
    void *arg)
{
	struct az_kms	*z = k->priv;
	struct az_call	*c;

	/* No key can have such a name: not found, as Azure would say. */
	if (!krx_azure_name_ok(alias, len)) {
		krx_kms_answer_now(cb, arg, KRX_KEY_NOT_FOUND, "not found (not a "
		    "name Azure Key Vault allows for a key: 1-127 of "
		    "[A-Za-z0-9-])");
		return;
	}
	if (krx_flight_join(z->flight, KRX_FLIGHT_RESOLVE, alias, len, cb,
	    arg) != KRX_FLIGHT_FIRST)
		return;
	c = az_call_new(z, KRX_KMS_OP_RESOLVE, alias, len);
	snprintf(c->kek.name, sizeof(c->kek.name), "%.*s", (int)len, alias);
	c->url = krx_azure_key_url(z->conf->vault_url, c->kek.name, NULL,
	    NULL);
	az_send(c);
}

static void
az_generate(struct krx_kms *k, const char *kek, size_t len, krx_kms_cb cb,
    void *arg)
{
	struct az_kms		*z = k->priv;
	struct az_call		*c;
	struct krx_azure_kek	 kk;

	if (krx_azure_kek_parse(kek, len, &kk) != 0 ||
	    strcasecmp(kk.vault, z->conf->vault_name) != 0) {
		krx_kms_answer_now(cb, arg, KRX_KEY_NOT_FOUND, "not found (not a "
		    "KEK id of this vault)");
		return;
	}
	c = az_call_new(z, KRX_KMS_OP_GENERATE, NULL, 0);
	c->cb = cb;
	c->arg = arg;
	c->kek = kk;
	if (RAND_priv_bytes(c->dek, sizeof(c->dek)) != 1) {
		az_fail(c, KRX_KEY_UNAVAILABLE, "no random bytes for a DEK");
		return;
	}
	c->url = krx_azure_key_url(z->conf->vault_url, kk.name, kk.version,
	    "wrapkey");
	/* Room for all of it: no realloc leaves a copy of the DEK behind. */
	krx_buf_free(&c->body);
	krx_buf_init(&c->body, 128);
	krx_azure_wrap_body(&c->body, kk.kty, c->dek, sizeof(c->dek));
	if (c->body.err != KRX_OK)
		fatalx("out of memory for a KMS request");
	az_send(c);
}

static void
az_decrypt(struct krx_kms *k, const uint8_t *edek, size_t len,
    krx_kms_cb cb, void *arg)
{
	struct az_kms		*z = k->priv;
	struct az_call		*c;
	struct krx_edek_azure	 e;
	char			 d[KRX_AZURE_DETAIL];

	if (krx_edek_azure_parse(edek, len, &e) != KRX_OK) {
		krx_kms_answer_now(cb, arg, KRX_KEY_INVALID, "not an Azure Key "
		    "Vault EDEK");
		return;
	}
	if (e.vault_name_len != strlen(z->conf->vault_name) ||
	    strncasecmp(e.vault_name, z->conf->vault_name,
	    e.vault_name_len) != 0) {
		snprintf(d, sizeof(d), "not found (the EDEK's key is in vault "
		    "%.*s, not in this provider's vault %s: not asked)",
		    (int)e.vault_name_len, e.vault_name, z->conf->vault_name);
		krx_kms_answer_now(cb, arg, KRX_KEY_NOT_FOUND, d);
		return;
	}
	if (krx_flight_join(z->flight, KRX_FLIGHT_DECRYPT, edek, len, cb,
	    arg) != KRX_FLIGHT_FIRST)
		return;
	c = az_call_new(z, KRX_KMS_OP_DECRYPT, edek, len);
	snprintf(c->kek.vault, sizeof(c->kek.vault), "%s",
	    z->conf->vault_name);
	snprintf(c->kek.name, sizeof(c->kek.name), "%.*s",
	    (int)e.key_name_len, e.key_name);
	snprintf(c->kek.version, sizeof(c->kek.version), "%s", e.version);
	c->kek.kty = e.key_type;
	c->url = krx_azure_key_url(z->conf->vault_url, c->kek.name,
	    c->kek.version, "unwrapkey");
	krx_azure_wrap_body(&c->body, e.key_type, e.wrapped, e.wrapped_len);
	if (c->body.err != KRX_OK)
		fatalx("out of memory for a KMS request");
	az_send(c);
}

/* ---- open, close ---- */

static void	az_close(struct krx_kms *);

static int
az_setup(struct krx_kms *k, struct az_kms *z)
{
	const struct krx_conf_kms	*kc = &k->conf->kms_conf;
	struct krx_http_opts		 o;

	if (kc->kind != KRX_CONF_KMS_AZURE || z->conf->vault_url == NULL ||
	    z->conf->vault_name == NULL) {
		log_warnx("AzureKeyVault: kmsConfig has no keyVaultName or "
		    "keyVaultHost");
		return -1;
	}
	if (krx_kms_tls_load(&z->tls, &kc->tls, z->conf->vault_url) != 0)
		return -1;
	memset(&o, 0, sizeof(o));
	o.connect_timeout_ms = (long)kc->connect_timeout * 1000;
	o.timeout_ms = (long)kc->request_timeout * 1000;
	o.max_body = KRX_AZURE_BODY_MAX;
	krx_kms_tls_opts(&o, &kc->tls, &z->tls, z->conf->vault_url);
	if ((z->http = krx_http_new(k->base, &o)) == NULL ||
	    (z->auth = krx_azure_auth_new(k->base, kc)) == NULL)
		return -1;
	z->flight = krx_flight_new(NULL);
	log_info("AzureKeyVault %s (vault %s, %s)", z->conf->vault_url,
	    z->conf->vault_name, z->conf->auth == KRX_CONF_AZURE_OAUTH2 ?
	    "OAuth 2.0 client credentials" : "managed identity");
	return 0;
}

/* On failure nothing is left behind. */
static int
az_open(struct krx_kms *k)
{
	struct az_kms	*z = xcalloc(1, sizeof(*z));

	k->priv = z;
	z->k = k;
	z->conf = &k->conf->kms_conf.azure;
	TAILQ_INIT(&z->calls);
	if (az_setup(k, z) == 0)
		return 0;
	az_close(k);
	return -1;
}

static void
az_close(struct krx_kms *k)
{
	struct az_kms	*z = k->priv;

	if (z == NULL)
		return;
	while (!TAILQ_EMPTY(&z->calls))
		az_call_free(TAILQ_FIRST(&z->calls));
	krx_azure_auth_free(z->auth);
	krx_http_free(z->http);
	krx_flight_free(z->flight);
	krx_kms_tls_free(&z->tls);
	free(z);
	k->priv = NULL;
}

static void
az_counters(const struct krx_kms *k, struct krx_kms_counters *out)
{
	const struct az_kms	*z = k->priv;

	krx_kms_counters_add(out, &z->ctr);
}

const struct krx_kms_ops krx_kms_azure_ops = {
	.name = "AzureKeyVaultKmsService",
	.open = az_open,
	.close = az_close,
	.resolve = az_resolve,
	.generate = az_generate,
	.decrypt = az_decrypt,
	.admin = NULL,	/* kek commands: operators use az keyvault key */
	.counters = az_counters,
};
