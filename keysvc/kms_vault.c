/*
 * kms_vault.c: VaultKmsService, HashiCorp Vault's Transit engine as
 * Kroxylicious uses it, in keysvc (the only process holding the token).
 * Trusts its configuration; trusts nothing Vault sends (bodies are read
 * with the bounded reader of crypto/json.c, DEKs must be 32 bytes,
 * ciphertexts must be Vault's form).
 *
 *   resolve(alias)  GET  {url}/keys/{alias}            data.name
 *   generate(kek)   POST {url}/datakey/plaintext/{kek} data.plaintext,
 *                                                      data.ciphertext
 *   decrypt(edek)   POST {url}/decrypt/{name} {"ciphertext": "vault:vN:.."}
 *                                                      data.plaintext
 * with X-Vault-Token and Accept: application/json; the EDEK is
 * Kroxylicious' VaultEdekSerde (crypto/edek_kms.h). 400 and 404 are
 * "not found" and never retried, 403 "access denied", other answers and
 * transport failures are retried by keysvc/http.c, then "unavailable".
 * Resolve and decrypt go through a single flight (kms_flight.h), so
 * that many workers asking for one EDEK make one Vault call.
 *
 * The token is a static one from vaultToken's passwordFile, or (krx's
 * own) one from Vault's Kubernetes auth method: POST {origin}/v1/
 * [namespace/]auth/{mount}/login {"role", "jwt"} with the service
 * account token read from its file at each login. The login is renewed
 * at 0.8 of its lease and after a 403, one login at a time; requests
 * wait for it. After a 403 a static token's file is read again, and a
 * new token in it is used. A request is sent again at most once after
 * a 403. Tokens live in struct krx_secret and are never logged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "crypto/edek_kms.h"
#include "crypto/json.h"
#include "crypto/secret.h"
#include "keysvc/http.h"
#include "keysvc/kms.h"
#include "keysvc/kms_flight.h"
#include "keysvc/kms_tls.h"

#define VAULT_TOKEN_MAX		4096	/* bytes of a Vault token */
#define VAULT_JWT_MAX		65536	/* bytes of a service account token */
#define VAULT_RENEW_FACTOR	0.8	/* of the lease, to log in again */
#define VAULT_RETRY_LOGIN_S	5	/* after a failed renewal */
#define VAULT_LOG_EVERY		10	/* seconds between trouble lines */
#define VAULT_DETAIL		160
#define VAULT_REDIRECTS		3
#define VAULT_B64_DEK		44	/* padded base64 of 32 bytes */
/* JSON tokens of an answer at most (a key read lists every version). */
#define VAULT_JSON_TOKENS	16384

enum vault_kind {
	VOP_RESOLVE = 0,
	VOP_GENERATE,
	VOP_DECRYPT
};

static const char *const vault_kind_name[] = {
	"resolve", "generate", "decrypt"
};

struct vault_kms;

/* One Transit request, from its start to its one result. */
struct vault_op {
	TAILQ_ENTRY(vault_op)	 link;		/* v->ops or v->waiting */
	struct vault_kms	*v;
	enum vault_kind		 kind;
	krx_kms_cb		 cb;		/* generate; else the flight's */
	void			*arg;
	uint8_t			*key;		/* alias, KEK (NUL-ended) or
						 * EDEK: the flight's key */
	size_t			 key_len;
	char			*url;
	char			*body;		/* NULL: GET */
	size_t			 body_len;
	struct krx_http_call	*call;
	uint64_t		 token_gen;	/* of the token it carried */
	int			 waiting;	/* on v->waiting */
	int			 relogged;	/* a 403 made it log in once */
};

TAILQ_HEAD(vault_ops, vault_op);

struct vault_kms {
	struct krx_kms			*k;
	const struct krx_conf_kms	*c;
	struct krx_http			*http;
	struct krx_flight		*flight;
	struct krx_kms_tls		 tls;
	struct krx_secret		*token;		/* NULL: none yet */
	uint64_t			 token_gen;
	char				*login_url;	/* Kubernetes auth */
	struct krx_http_call		*login;
	struct event			*renew;
	struct vault_ops		 ops;		/* in HTTP */
	struct vault_ops		 waiting;	/* for a token */
	int				 trouble;	/* last request failed */
	time_t				 log_after;
	struct krx_kms_counters		 ctr;		/* each attempt */
};

/* The guide's operation of a Transit request. */
static const enum krx_kms_op vault_kind_op[] = {
	KRX_KMS_OP_RESOLVE, KRX_KMS_OP_GENERATE, KRX_KMS_OP_DECRYPT
};

static void	vault_send(struct vault_op *);
static void	vault_login(struct vault_kms *);

static time_t
vault_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/*
 * A failure reaching Vault: logged at once after a success, then at
 * most once per VAULT_LOG_EVERY seconds (the negative cache and the
 * retries would otherwise repeat it).
 */
static void
vault_trouble(struct vault_kms *v, const char *what, const char *detail)
{
	time_t	 now = vault_now();

	if (v->trouble && now < v->log_after)
		return;
	v->trouble = 1;
	v->log_after = now + VAULT_LOG_EVERY;
	log_warnx("vault %s: %s: %s", v->c->vault.url, what, detail);
}

static void
vault_fine(struct vault_kms *v)
{
	if (!v->trouble)
		return;
	v->trouble = 0;
	log_info("vault %s: answering again", v->c->vault.url);
}

/* A token or JWT: printable ASCII, no blank, quote or backslash. */
static int
vault_token_ok(const struct krx_secret *s)
{
	size_t	 i;

	for (i = 0; i < s->len; i++)
		if (s->data[i] <= 0x20 || s->data[i] >= 0x7f ||
		    s->data[i] == '"' || s->data[i] == '\\')
			return 0;
	return 1;
}

/* Percent-encode all but RFC 3986's unreserved characters. */
static char *
vault_url(const char *base, const char *op, const uint8_t *name,
    size_t len)
{
	static const char	 hex[] = "0123456789ABCDEF";
	char			*u, *p;
	size_t			 i;

	u = xmalloc(strlen(base) + strlen(op) + 3 * len + 1);
	p = u + sprintf(u, "%s%s", base, op);
	for (i = 0; i < len; i++) {
		if ((name[i] >= 'A' && name[i] <= 'Z') ||
		    (name[i] >= 'a' && name[i] <= 'z') ||
		    (name[i] >= '0' && name[i] <= '9') ||
		    (name[i] != '\0' && strchr("-._~", name[i]) != NULL))
			*p++ = (char)name[i];
		else {
			*p++ = '%';
			*p++ = hex[name[i] >> 4];
			*p++ = hex[name[i] & 15];
		}
	}
	*p = '\0';
	return u;
}

/* Exactly 32 bytes from padded base64 (44 characters). */
static int
vault_b64_dek(const char *s, size_t n, uint8_t dek[KRX_DEK_LEN])
{
	unsigned char	 raw[33];
	int		 r = -1;

	if (n != VAULT_B64_DEK || s[43] != '=' || s[42] == '=')
		return -1;
	if (EVP_DecodeBlock(raw, (const unsigned char *)s, (int)n) == 33) {
		memcpy(dek, raw, KRX_DEK_LEN);
		r = 0;
	}
	OPENSSL_cleanse(raw, sizeof(raw));
	return r;
}

/*
 * Vault's answer r as JSON (crypto/json.h) with the value at path:
 * 0 with *at, else an error. The tokens (at most VAULT_JSON_TOKENS,
 * fewer for a short body) are the caller's to free.
 */
static int
vault_json_at(const struct krx_http_resp *r, const char *path,
    struct krx_json_tok **t, size_t *at)
{
	size_t	 max = r->body_len / 2 + 2, n;
	int	 e;

	if (max > VAULT_JSON_TOKENS)
		max = VAULT_JSON_TOKENS;
	*t = xcalloc(max, sizeof(**t));
	if ((e = krx_json_parse((const char *)r->body, r->body_len, *t, max,
	    &n)) != KRX_OK)
		return e;
	return krx_json_path((const char *)r->body, *t, n, path, at);
}

/* The string at path into out (NUL-terminated; "" on error): 0 or -1. */
static int
vault_json_string(const struct krx_http_resp *r, const char *path,
    char *out, size_t len, size_t *n)
{
	struct krx_json_tok	*t;
	size_t			 at;
	int			 e;

	if ((e = vault_json_at(r, path, &t, &at)) == KRX_OK)
		e = krx_json_string((const char *)r->body, t, at, out, len, n);
	free(t);
	if (e != KRX_OK && len > 0)
		out[0] = '\0';
	return e == KRX_OK ? 0 : -1;
}

/* The integer at path (0 when absent or not one): 0 or -1. */
static int
vault_json_int(const struct krx_http_resp *r, const char *path, int64_t *v)
{
	struct krx_json_tok	*t;
	size_t			 at;
	int			 e;

	*v = 0;
	if ((e = vault_json_at(r, path, &t, &at)) == KRX_OK)
		e = krx_json_int64((const char *)r->body, t, at, v);
	free(t);
	return e == KRX_OK ? 0 : -1;
}

/*
 * Vault's first error text, printable ASCII only and short, for a
 * detail: "encryption key not found". Vault's errors carry no secrets.
 */
static void
vault_errtext(const struct krx_http_resp *r, char *out, size_t len)
{
	size_t	 i;

	if (vault_json_string(r, "errors.0", out, len, NULL) != 0 &&
	    len > 0) {
		out[0] = '\0';
		if (r->body_len > 0 && r->body[0] != '{' && r->body_len < len)
			snprintf(out, len, "%s", (const char *)r->body);
	}
	for (i = 0; out[i] != '\0'; i++)
		if ((unsigned char)out[i] < 0x20 ||
		    (unsigned char)out[i] >= 0x7f)
			out[i] = '?';
	if (i > 80)
		memcpy(out + 77, "...", 4);
}

static void
vault_op_free(struct vault_op *op)
{
	if (op->body != NULL) {
		OPENSSL_cleanse(op->body, op->body_len);
		free(op->body);
	}
	free(op->url);
	free(op->key);
	free(op);
}

/* Hand res to the op's callers and free it; op is off every list. */
static void
vault_finish(struct vault_op *op, struct krx_kms_result *res)
{
	struct vault_kms	*v = op->v;

	krx_kms_count(&v->ctr, vault_kind_op[op->kind], res->status);
	krx_flight_deliver(v->flight, vault_kind_op[op->kind], op->key,
	    op->key_len, op->cb, op->arg, res);
	vault_op_free(op);
}

static void
vault_fail(struct vault_op *op, enum krx_key_status st, const char *detail)
{
	struct krx_kms_result	 res;

	memset(&res, 0, sizeof(res));
	res.status = st;
	res.detail = detail;
	vault_finish(op, &res);
}

static void
vault_op_unlink(struct vault_op *op)
{
	if (op->waiting)
		TAILQ_REMOVE(&op->v->waiting, op, link);
	else
		TAILQ_REMOVE(&op->v->ops, op, link);
	op->waiting = 0;
}

/* A 200 answer to a resolve: data.name is the KEK id. */
static void
vault_resolved(struct vault_op *op, const struct krx_http_resp *r)
{
	struct krx_kms_result	 res;
	struct krx_edek_vault	 e;
	struct krx_buf		 b;
	char			 name[KRX_EDEK_VAULT_NAME_MAX + 1];
	size_t			 n;

	memset(&res, 0, sizeof(res));
	if (vault_json_string(r, "data.name", name, sizeof(name), &n) != 0) {
		vault_fail(op, KRX_KEY_UNAVAILABLE, "vault: key read answer "
		    "without data.name");
		return;
	}
	/* The name must be one an EDEK can carry. */
	memset(&e, 0, sizeof(e));
	e.key_name = name;
	e.key_name_len = n;
	e.ciphertext = "vault:v1:AAAA";
	e.ciphertext_len = 13;
	krx_buf_init(&b, 300);
	if (krx_edek_vault_serialize(&e, &b) != KRX_OK) {
		krx_buf_free(&b);
		vault_fail(op, KRX_KEY_INVALID, "vault: key name not usable "
		    "in an EDEK");
		return;
	}
	krx_buf_free(&b);
	res.status = KRX_KEY_OK;
	res.kek_id = name;
	res.kek_len = n;
	vault_finish(op, &res);
}

/* A 200 answer to datakey/plaintext: the DEK and its EDEK. */
static void
vault_generated(struct vault_op *op, const struct krx_http_resp *r)
{
	struct krx_kms_result	 res;
	struct krx_edek_vault	 e;
	struct krx_buf		 edek;
	char			 b64[VAULT_B64_DEK + 8];
	char			 ct[KRX_EDEK_MAX];
	uint8_t			 dek[KRX_DEK_LEN];
	size_t			 n, ctlen;
	const char		*bad = NULL;

	memset(&res, 0, sizeof(res));
	krx_buf_init(&edek, 256);
	if (vault_json_string(r, "data.plaintext", b64, sizeof(b64),
	    &n) != 0 || vault_b64_dek(b64, n, dek) != 0)
		bad = "vault: datakey answer without a 32-byte plaintext";
	else if (vault_json_string(r, "data.ciphertext", ct, sizeof(ct),
	    &ctlen) != 0)
		bad = "vault: datakey answer without a ciphertext";
	else {
		memset(&e, 0, sizeof(e));
		e.key_name = (const char *)op->key;
		e.key_name_len = op->key_len;
		e.ciphertext = ct;
		e.ciphertext_len = ctlen;
		if (krx_edek_vault_serialize(&e, &edek) != KRX_OK)
			bad = "vault: datakey ciphertext not of the form "
			    "vault:vN:<base64>";
	}
	if (bad != NULL) {
		res.status = KRX_KEY_UNAVAILABLE;
		res.detail = bad;
	} else {
		res.status = KRX_KEY_OK;
		res.edek = edek.data;
		res.edek_len = edek.len;
		res.dek = dek;
	}
	vault_finish(op, &res);
	OPENSSL_cleanse(b64, sizeof(b64));
	OPENSSL_cleanse(dek, sizeof(dek));
	krx_buf_free(&edek);
}

/* A 200 answer to decrypt: data.plaintext is the DEK. */
static void
vault_decrypted(struct vault_op *op, const struct krx_http_resp *r)
{
	struct krx_kms_result	 res;
	char			 b64[VAULT_B64_DEK + 8];
	uint8_t			 dek[KRX_DEK_LEN];
	size_t			 n;

	memset(&res, 0, sizeof(res));
	if (vault_json_string(r, "data.plaintext", b64, sizeof(b64),
	    &n) != 0 || vault_b64_dek(b64, n, dek) != 0) {
		res.status = KRX_KEY_INVALID;
		res.detail = "vault: decrypt answer without a 32-byte "
		    "plaintext";
	} else {
		res.status = KRX_KEY_OK;
		res.dek = dek;
	}
	vault_finish(op, &res);
	OPENSSL_cleanse(b64, sizeof(b64));
	OPENSSL_cleanse(dek, sizeof(dek));
}

/*
 * A static token refused: the file may hold a new one (a Vault Agent
 * sink, an operator's rotation). 1 when it changed and is in use now.
 */
static int
vault_reread_token(struct vault_kms *v)
{
	struct krx_secret	*t;
	const char		*why;

	if ((t = krx_tlsctx_read_secret(v->c->vault.token_file,
	    VAULT_TOKEN_MAX, &why)) == NULL || !vault_token_ok(t) ||
	    (t->len == v->token->len && CRYPTO_memcmp(t->data,
	    v->token->data, t->len) == 0)) {
		krx_secret_free(t);
		return 0;
	}
	log_info("vault %s: token refused (HTTP 403); using the new token "
	    "of %s", v->c->vault.url, v->c->vault.token_file);
	krx_secret_free(v->token);
	v->token = t;
	v->token_gen++;
	return 1;
}

/*
 * After a 403: a Kubernetes token is dropped (if still current) and a
 * login started; a static one is read again. op is then sent again,
 * once; 1 when it was, 0 when the 403 stands.
 */
static int
vault_relogin(struct vault_op *op)
{
	struct vault_kms	*v = op->v;

	op->relogged = 1;
	if (v->login_url == NULL) {
		if (op->token_gen == v->token_gen && !vault_reread_token(v))
			return 0;
		vault_send(op);
		return 1;
	}
	if (op->token_gen == v->token_gen && v->token != NULL) {
		log_info("vault %s: token refused (HTTP 403); logging in "
		    "again", v->c->vault.url);
		krx_secret_free(v->token);
		v->token = NULL;
	}
	vault_send(op);
	return 1;
}

static void
vault_done(void *arg, const struct krx_http_resp *r)
{
	struct vault_op		*op = arg;
	struct vault_kms	*v = op->v;
	char			 detail[VAULT_DETAIL], err[96];

	op->call = NULL;
	vault_op_unlink(op);
	if (r->error != KRX_HTTP_OK) {
		snprintf(detail, sizeof(detail), "vault: %s: %s",
		    r->error == KRX_HTTP_E_TLS ? "TLS" : "unreachable", r->why);
		vault_trouble(v, r->error == KRX_HTTP_E_TLS ? "TLS failure "
		    "(check kmsConfig.tls: does the trust store hold the CA "
		    "of Vault's certificate, and does the URL's host match "
		    "it?)" : "cannot reach Vault", r->why);
		vault_fail(op, KRX_KEY_UNAVAILABLE, detail);
		return;
	}
	if (r->status == 200) {
		vault_fine(v);
		if (op->kind == VOP_RESOLVE)
			vault_resolved(op, r);
		else if (op->kind == VOP_GENERATE)
			vault_generated(op, r);
		else
			vault_decrypted(op, r);
		return;
	}
	if (r->status == 403 && !op->relogged && vault_relogin(op)) {
		krx_kms_count(&v->ctr, vault_kind_op[op->kind],
		    KRX_KEY_DENIED);
		return;
	}
	vault_errtext(r, err, sizeof(err));
	switch (r->status) {
	case 400:
	case 404:
		vault_fine(v);
		snprintf(detail, sizeof(detail), "vault: key not found "
		    "(HTTP %ld%s%s)", r->status, err[0] ? ": " : "", err);
		log_debug("vault %s: %s %s: %s", v->c->vault.url,
		    vault_kind_name[op->kind], op->kind == VOP_DECRYPT ?
		    "of an EDEK" : (const char *)op->key, detail);
		vault_fail(op, KRX_KEY_NOT_FOUND, detail);
		return;
	case 403:
		snprintf(detail, sizeof(detail), "vault: access denied "
		    "(HTTP 403%s%s)", err[0] ? ": " : "", err);
		vault_trouble(v, "access denied (does the token's policy "
		    "allow the Transit paths?)", detail);
		vault_fail(op, KRX_KEY_DENIED, detail);
		return;
	default:
		snprintf(detail, sizeof(detail), "vault: unavailable (HTTP "
		    "%ld%s%s, after %d attempts)", r->status, err[0] ? ": " :
		    "", err, r->attempt);
		vault_trouble(v, "unavailable", detail);
		vault_fail(op, KRX_KEY_UNAVAILABLE, detail);
		return;
	}
}

/*
 * Retry what may pass on a second try: transport failures other than
 * TLS and an over-large answer, 408, 412 (a performance standby
 * behind), 429 and 5xx. 400, 403 and 404 never are.
 */
static enum krx_http_verdict
vault_classify(void *arg, const struct krx_http_resp *r)
{
	(void)arg;
	if (r->error != KRX_HTTP_OK)
		return r->error == KRX_HTTP_E_TLS ||
		    r->error == KRX_HTTP_E_TOO_LARGE ? KRX_HTTP_DONE :
		    KRX_HTTP_RETRY;
	if (r->status == 408 || r->status == 412 || r->status == 429 ||
	    (r->status >= 500 && r->status <= 599))
		return KRX_HTTP_RETRY;
	return KRX_HTTP_DONE;
}

/* A Transit request's attempt: retried ones are counted here. */
static enum krx_http_verdict
vault_op_classify(void *arg, const struct krx_http_resp *r)
{
	struct vault_op		*op = arg;
	enum krx_http_verdict	 v = vault_classify(NULL, r);

	if (v == KRX_HTTP_RETRY)
		krx_kms_count(&op->v->ctr, vault_kind_op[op->kind],
		    KRX_KEY_UNAVAILABLE);
	return v;
}

/* Send op with the current token, or queue it for the login. */
static void
vault_send(struct vault_op *op)
{
	struct vault_kms	*v = op->v;
	struct krx_http_req	 req;
	const char		*hdr[3];
	char			*tok;
	size_t			 toklen;

	if (v->token == NULL) {
		op->waiting = 1;
		TAILQ_INSERT_TAIL(&v->waiting, op, link);
		vault_login(v);
		return;
	}
	toklen = sizeof("X-Vault-Token: ") + v->token->len;
	tok = xmalloc(toklen);
	memcpy(tok, "X-Vault-Token: ", 15);
	memcpy(tok + 15, v->token->data, v->token->len);
	tok[15 + v->token->len] = '\0';
	hdr[0] = tok;
	hdr[1] = "Accept: application/json";
	hdr[2] = "Content-Type: application/json";
	memset(&req, 0, sizeof(req));
	req.method = op->body != NULL ? KRX_HTTP_POST : KRX_HTTP_GET;
	req.url = op->url;
	req.headers = hdr;
	req.nheaders = op->body != NULL ? 3 : 2;
	req.body = op->body;
	req.body_len = op->body_len;
	req.redirects = VAULT_REDIRECTS;
	req.classify = vault_op_classify;
	op->token_gen = v->token_gen;
	op->waiting = 0;
	TAILQ_INSERT_TAIL(&v->ops, op, link);
	op->call = krx_http_request(v->http, &req, vault_done, op);
	OPENSSL_cleanse(tok, toklen);
	free(tok);
	if (op->call == NULL) {
		TAILQ_REMOVE(&v->ops, op, link);
		vault_fail(op, KRX_KEY_UNAVAILABLE, "vault: too many requests "
		    "in flight");
	}
}

static struct vault_op *
vault_op_new(struct vault_kms *v, enum vault_kind kind, const void *key,
    size_t len)
{
	struct vault_op	*op = xcalloc(1, sizeof(*op));

	op->v = v;
	op->kind = kind;
	op->key = xmalloc(len + 1);
	memcpy(op->key, key, len);
	op->key[len] = '\0';
	op->key_len = len;
	return op;
}

/* Fail every op waiting for a token. */
static void
vault_fail_waiting(struct vault_kms *v, enum krx_key_status st,
    const char *detail)
{
	struct vault_ops	 list;
	struct vault_op		*op;

	TAILQ_INIT(&list);
	TAILQ_CONCAT(&list, &v->waiting, link);
	while ((op = TAILQ_FIRST(&list)) != NULL) {
		TAILQ_REMOVE(&list, op, link);
		op->waiting = 0;
		vault_fail(op, st, detail);
	}
}

static void
vault_renew_cb(int fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	vault_login(arg);
}

static void
vault_login_done(void *arg, const struct krx_http_resp *r)
{
	struct vault_kms	*v = arg;
	struct vault_ops	 list;
	struct vault_op		*op;
	struct krx_secret	*tok;
	char			*buf, detail[VAULT_DETAIL], err[96];
	int64_t			 lease = 0;
	size_t			 n;
	enum krx_key_status	 st;

	v->login = NULL;
	if (r->error != KRX_HTTP_OK || r->status != 200) {
		if (r->error != KRX_HTTP_OK) {
			snprintf(detail, sizeof(detail), "vault: Kubernetes "
			    "login: %s: %s", r->error == KRX_HTTP_E_TLS ?
			    "TLS" : "unreachable", r->why);
			st = KRX_KEY_UNAVAILABLE;
		} else {
			vault_errtext(r, err, sizeof(err));
			snprintf(detail, sizeof(detail), "vault: Kubernetes "
			    "login refused (HTTP %ld%s%s)", r->status,
			    err[0] ? ": " : "", err);
			st = r->status == 400 || r->status == 403 ?
			    KRX_KEY_DENIED : KRX_KEY_UNAVAILABLE;
		}
		vault_trouble(v, "cannot log in", detail);
		if (v->token != NULL)	/* a renewal: the old token lasts */
			krx_kms_timer_in(v->renew, VAULT_RETRY_LOGIN_S);
		vault_fail_waiting(v, st, detail);
		return;
	}
	buf = xmalloc(VAULT_TOKEN_MAX + 1);
	tok = NULL;
	if (vault_json_string(r, "auth.client_token", buf,
	    VAULT_TOKEN_MAX + 1, &n) == 0 && n > 0)
		tok = krx_secret_new_copy(buf, n);
	OPENSSL_cleanse(buf, VAULT_TOKEN_MAX + 1);
	free(buf);
	if (tok == NULL || !vault_token_ok(tok)) {
		krx_secret_free(tok);
		vault_trouble(v, "cannot log in", "login answer without a "
		    "usable auth.client_token");
		vault_fail_waiting(v, KRX_KEY_UNAVAILABLE, "vault: Kubernetes "
		    "login answer without a token");
		return;
	}
	vault_json_int(r, "auth.lease_duration", &lease);
	krx_secret_free(v->token);
	v->token = tok;
	v->token_gen++;
	vault_fine(v);
	log_info("vault %s: logged in with Kubernetes role %s (lease %lld "
	    "s)", v->c->vault.url, v->c->vault.k8s_role, (long long)lease);
	evtimer_del(v->renew);
	if (lease > 0)
		krx_kms_timer_in(v->renew,
		    (long)((double)lease * VAULT_RENEW_FACTOR));
	TAILQ_INIT(&list);
	TAILQ_CONCAT(&list, &v->waiting, link);
	while ((op = TAILQ_FIRST(&list)) != NULL) {
		TAILQ_REMOVE(&list, op, link);
		op->waiting = 0;
		vault_send(op);
	}
}

/* Start a Kubernetes login unless one is under way. */
static void
vault_login(struct vault_kms *v)
{
	struct krx_http_req	 req;
	struct krx_secret	*jwt;
	const char		*hdr[2], *why;
	char			*body, detail[VAULT_DETAIL];
	size_t			 len;

	if (v->login != NULL || v->login_url == NULL)
		return;
	if ((jwt = krx_tlsctx_read_secret(v->c->vault.k8s_token_file,
	    VAULT_JWT_MAX, &why)) == NULL || !vault_token_ok(jwt)) {
		snprintf(detail, sizeof(detail), "vault: service account "
		    "token file %s: %s", v->c->vault.k8s_token_file,
		    jwt == NULL ? why : "not a JWT");
		krx_secret_free(jwt);
		vault_trouble(v, "cannot log in", detail);
		if (v->token != NULL)
			krx_kms_timer_in(v->renew, VAULT_RETRY_LOGIN_S);
		vault_fail_waiting(v, KRX_KEY_UNAVAILABLE, detail);
		return;
	}
	len = strlen(v->c->vault.k8s_role) + jwt->len + 32;
	body = xmalloc(len);
	memcpy(body, "{\"role\":\"", 9);
	len = 9;
	memcpy(body + len, v->c->vault.k8s_role, strlen(v->c->vault.k8s_role));
	len += strlen(v->c->vault.k8s_role);
	memcpy(body + len, "\",\"jwt\":\"", 9);
	len += 9;
	memcpy(body + len, jwt->data, jwt->len);
	len += jwt->len;
	memcpy(body + len, "\"}", 2);
	len += 2;
	krx_secret_free(jwt);
	hdr[0] = "Accept: application/json";
	hdr[1] = "Content-Type: application/json";
	memset(&req, 0, sizeof(req));
	req.method = KRX_HTTP_POST;
	req.url = v->login_url;
	req.headers = hdr;
	req.nheaders = 2;
	req.body = body;
	req.body_len = len;
	req.redirects = VAULT_REDIRECTS;
	req.classify = vault_classify;
	v->login = krx_http_request(v->http, &req, vault_login_done, v);
	OPENSSL_cleanse(body, len);
	free(body);
	if (v->login == NULL)
		vault_fail_waiting(v, KRX_KEY_UNAVAILABLE, "vault: too many "
		    "requests in flight");
}

/* scheme://host[:port] of the transit URL, + the login path. */
static char *
vault_login_url(const struct krx_conf_kms_vault *c)
{
	const char	*h = strstr(c->url, "://");
	size_t		 olen;
	char		*u;

	h = h != NULL ? h + 3 : c->url;
	olen = (size_t)(h - c->url) + strcspn(h, "/");
	u = xmalloc(olen + strlen(c->k8s_mount) + (c->k8s_namespace != NULL ?
	    strlen(c->k8s_namespace) : 0) + 32);
	sprintf(u, "%.*s/v1/%s%sauth/%s/login", (int)olen, c->url,
	    c->k8s_namespace != NULL ? c->k8s_namespace : "",
	    c->k8s_namespace != NULL ? "/" : "", c->k8s_mount);
	return u;
}

static void	vault_close(struct krx_kms *);

static int
vault_setup(struct krx_kms *k)
{
	const struct krx_conf_kms	*c = &k->conf->kms_conf;
	struct vault_kms		*v = xcalloc(1, sizeof(*v));
	struct krx_http_opts		 o;
	const char			*why;

	k->priv = v;
	v->k = k;
	v->c = c;
	TAILQ_INIT(&v->ops);
	TAILQ_INIT(&v->waiting);
	v->renew = evtimer_new(k->base, vault_renew_cb, v);
	if (c->kind != KRX_CONF_KMS_VAULT || c->vault.url == NULL) {
		log_err("VaultKmsService without a kmsConfig for Vault");
		return -1;
	}
	if (c->vault.token_file != NULL) {
		if ((v->token = krx_tlsctx_read_secret(c->vault.token_file,
		    VAULT_TOKEN_MAX, &why)) == NULL) {
			log_err("vault %s: token file %s: %s", c->vault.url,
			    c->vault.token_file, why);
			return -1;
		}
		if (!vault_token_ok(v->token)) {
			log_err("vault %s: token file %s: not one line of "
			    "printable characters", c->vault.url,
			    c->vault.token_file);
			return -1;
		}
	} else if (c->vault.k8s_role != NULL)
		v->login_url = vault_login_url(&c->vault);
	if (krx_kms_tls_load(&v->tls, &c->tls, c->vault.url) != 0)
		return -1;
	memset(&o, 0, sizeof(o));
	o.connect_timeout_ms = (long)c->connect_timeout * 1000;
	o.timeout_ms = (long)c->request_timeout * 1000;
	krx_kms_tls_opts(&o, &c->tls, &v->tls, c->vault.url);
	if ((v->http = krx_http_new(k->base, &o)) == NULL)
		return -1;
	v->flight = krx_flight_new(NULL);
	log_info("vault %s: %s auth%s", c->vault.url, v->login_url != NULL ?
	    "Kubernetes" : "token", v->tls.store != NULL ? ", own TLS stores" :
	    "");
	/* Log in now: the first key request need not wait, and a bad
	 * role or service account token shows at start. */
	if (v->login_url != NULL)
		vault_login(v);
	return 0;
}

/* On failure nothing is left behind (the token file's copy wiped). */
static int
vault_open(struct krx_kms *k)
{
	if (vault_setup(k) == 0)
		return 0;
	vault_close(k);
	return -1;
}

static void
vault_close(struct krx_kms *k)
{
	struct vault_kms	*v = k->priv;
	struct vault_op		*op;

	if (v == NULL)
		return;
	while ((op = TAILQ_FIRST(&v->ops)) != NULL) {
		TAILQ_REMOVE(&v->ops, op, link);
		krx_http_cancel(op->call);
		vault_op_free(op);
	}
	while ((op = TAILQ_FIRST(&v->waiting)) != NULL) {
		TAILQ_REMOVE(&v->waiting, op, link);
		vault_op_free(op);
	}
	krx_http_cancel(v->login);
	krx_http_free(v->http);
	krx_flight_free(v->flight);
	if (v->renew != NULL)
		event_free(v->renew);
	krx_secret_free(v->token);
	krx_kms_tls_free(&v->tls);
	free(v->login_url);
	free(v);
	k->priv = NULL;
}

static void
vault_resolve(struct krx_kms *k, const char *alias, size_t len,
    krx_kms_cb cb, void *arg)
{
	struct vault_kms	*v = k->priv;
	struct vault_op		*op;

	if (krx_flight_join(v->flight, KRX_FLIGHT_RESOLVE, alias, len, cb,
	    arg) != KRX_FLIGHT_FIRST)
		return;
	op = vault_op_new(v, VOP_RESOLVE, alias, len);
	op->url = vault_url(v->c->vault.url, "/keys/", op->key, len);
	vault_send(op);
}

/* Each GENERATE is a request of its own (kms_flight.h says why). */
static void
vault_generate(struct krx_kms *k, const char *kek, size_t len,
    krx_kms_cb cb, void *arg)
{
	struct vault_kms	*v = k->priv;
	struct vault_op		*op;

	op = vault_op_new(v, VOP_GENERATE, kek, len);
	op->cb = cb;
	op->arg = arg;
	op->url = vault_url(v->c->vault.url, "/datakey/plaintext/", op->key,
	    len);
	op->body = xstrdup("{}");
	op->body_len = 2;
	vault_send(op);
}

static void
vault_decrypt(struct krx_kms *k, const uint8_t *edek, size_t len,
    krx_kms_cb cb, void *arg)
{
	struct vault_kms	*v = k->priv;
	struct krx_kms_result	 res;
	struct krx_edek_vault	 e;
	struct vault_op		*op;

	if (krx_edek_vault_parse(edek, len, &e) != KRX_OK) {
		memset(&res, 0, sizeof(res));
		res.status = KRX_KEY_INVALID;
		res.detail = "vault: not a Vault EDEK";
		cb(arg, &res);
		return;
	}
	if (krx_flight_join(v->flight, KRX_FLIGHT_DECRYPT, edek, len, cb,
	    arg) != KRX_FLIGHT_FIRST)
		return;
	op = vault_op_new(v, VOP_DECRYPT, edek, len);
	op->url = vault_url(v->c->vault.url, "/decrypt/",
	    (const uint8_t *)e.key_name, e.key_name_len);
	/* The ciphertext's characters need no JSON escape (parse checked). */
	op->body_len = e.ciphertext_len + 17;
	op->body = xmalloc(op->body_len + 1);
	snprintf(op->body, op->body_len + 1, "{\"ciphertext\":\"%.*s\"}",
	    (int)e.ciphertext_len, e.ciphertext);
	vault_send(op);
}

static void
vault_counters(const struct krx_kms *k, struct krx_kms_counters *out)
{
	const struct vault_kms	*v = k->priv;

	krx_kms_counters_add(out, &v->ctr);
}

const struct krx_kms_ops krx_kms_vault_ops = {
	.name = "VaultKmsService",
	.open = vault_open,
	.close = vault_close,
	.resolve = vault_resolve,
	.generate = vault_generate,
	.decrypt = vault_decrypt,
	.admin = NULL,
	.counters = vault_counters,
};
