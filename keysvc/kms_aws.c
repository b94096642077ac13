/*
 * kms_aws.c: AwsKmsService, AWS KMS over its JSON 1.1 protocol (as
 * Kroxylicious speaks it, without an SDK), run by keysvc. Every call is
 * POST {endpointUrl} with X-Amz-Target: TrentService.<Op>, SigV4
 * signed by libcurl (service kms, the configured region):
 *
 *   resolve(alias)   DescribeKey {"KeyId":"alias/<alias>"}
 *                    -> KeyMetadata.KeyId is the KEK id
 *   generate(kekId)  GenerateDataKey {"KeyId":k,"KeySpec":"AES_256"}
 *                    -> Plaintext (32 bytes) is the DEK; the EDEK is
 *                    Kroxylicious' AWS form of (kekId, CiphertextBlob)
 *   decrypt(edek)    Decrypt {"KeyId":kekRef,"CiphertextBlob":b64}
 *                    -> Plaintext
 *
 * Credentials: the long-term access key id and secret (and a session
 * token, krx's own option), read from their files at open into locked
 * memory (wiped at close); or web identity (kms_aws_sts.c); or EC2
 * instance metadata (kms_aws_imds.c). TLS: the kmsConfig tls group's
 * trust and key stores (PEM, PKCS12, JKS: keysvc/kms_tls.c) for the
 * KMS; STS and IMDS have their own client with the system's trust, as
 * in Kroxylicious. Resolve and decrypt go through a krx_flight, so
 * concurrent misses for one alias or EDEK make one KMS call, and
 * failures are remembered briefly. Errors: a non-2xx answer's
 * {"__type","message"} names it; NotFoundException, or
 * KMSInvalidStateException "pending deletion", is not-found (never
 * retried); throttling, 408, 429 and 5xx are retried by krx_http, then
 * unavailable. Trusts its configuration; trusts nothing the KMS (or
 * whatever answers at its address) sends, nor the EDEKs, which come
 * from brokers. Never logs a credential, a DEK or a body.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <openssl/crypto.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "crypto/edek_kms.h"
#include "crypto/json.h"
#include "crypto/secret.h"
#include "crypto/wrapper.h"
#include "keysvc/http.h"
#include "keysvc/kms.h"
#include "keysvc/kms_aws.h"
#include "keysvc/kms_flight.h"
#include "keysvc/kms_tls.h"

#define AWS_TOKENS		512	/* JSON tokens of an answer */
#define AWS_ALIAS_PREFIX	"alias/"
#define AWS_ALIAS_MAX		256	/* with the prefix */

struct aws_kms;

struct aws_call {
	TAILQ_ENTRY(aws_call)	 link;
	struct aws_kms		*a;
	enum krx_kms_op		 op;
	struct krx_http_call	*hc;
	krx_kms_cb		 cb;		/* generate only */
	void			*arg;
	uint8_t			*key;		/* flight key: alias or EDEK */
	size_t			 key_len;
	char			 kek[KRX_EDEK_AWS_KEY_ID_MAX + 1];
	char			 detail[KRX_KMS_AWS_DETAIL];
};

struct aws_kms {
	struct krx_kms		*k;
	const struct krx_conf_kms_aws *conf;
	struct krx_http		*http;		/* the KMS's */
	struct krx_http		*cred_http;	/* STS's or IMDS's */
	struct krx_kms_tls	 tls;
	struct krx_flight	*flight;
	struct krx_kms_aws_creds creds;
	struct krx_aws_sts	*sts;		/* web identity, else NULL */
	struct krx_aws_imds	*imds;		/* ec2Metadata, else NULL */
	TAILQ_HEAD(, aws_call)	 calls;
	struct krx_kms_counters	 ctr;
	struct krx_kms_lograte	 log[KRX_KMS_OP_N];
};

static const char *const aws_targets[KRX_KMS_OP_N] = {
	"X-Amz-Target: TrentService.GenerateDataKey",
	"X-Amz-Target: TrentService.Decrypt",
	"X-Amz-Target: TrentService.DescribeKey",
};

/* ---- error mapping (also for tests) ---- */

/*
 * Error types whose message may repeat what was signed (the canonical
 * request, with the session token) or says nothing useful: the message
 * is left out of details.
 */
static int
aws_quiet_type(const char *type)
{
	static const char *const quiet[] = {
		"InvalidSignatureException", "IncompleteSignature",
		"SignatureDoesNotMatch", "MissingAuthenticationToken",
		"InvalidClientTokenId", "UnrecognizedClientException",
		"ExpiredTokenException", NULL
	};
	size_t	 i;

	for (i = 0; quiet[i] != NULL; i++)
		if (strcmp(type, quiet[i]) == 0)
			return 1;
	return 0;
}

static int
aws_type_in(const char *type, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(type, *list) == 0)
			return 1;
	return 0;
}

enum krx_key_status
krx_kms_aws_error(long status, const uint8_t *body, size_t len,
    char *detail, size_t dlen)
{
	static const char *const denied[] = {
		"AccessDeniedException", "InvalidSignatureException",
		"IncompleteSignature", "SignatureDoesNotMatch",
		"MissingAuthenticationToken", "InvalidClientTokenId",
		"UnrecognizedClientException", "ExpiredTokenException",
		"InvalidGrantTokenException", NULL
	};
	static const char *const invalid[] = {
		"InvalidCiphertextException", "IncorrectKeyException",
		"InvalidKeyUsageException", NULL
	};
	struct krx_json_tok	 t[AWS_TOKENS];
	const char		*b = (const char *)body, *what, *hash;
	char			 type[128], msg[512], ctype[128], cmsg[160];
	enum krx_key_status	 st;
	size_t			 n, v;

	type[0] = msg[0] = '\0';
	if (krx_json_parse(b, len, t, AWS_TOKENS, &n) == KRX_OK) {
		if (krx_json_member(b, t, n, 0, "__type", &v) == KRX_OK)
			krx_json_string(b, t, v, type, sizeof(type), NULL);
		/* "message", or "Message" in some services' errors. */
		if (krx_json_member(b, t, n, 0, "message", &v) == KRX_OK ||
		    krx_json_member(b, t, n, 0, "Message", &v) == KRX_OK)
			krx_json_string(b, t, v, msg, sizeof(msg), NULL);
	}
	/* "com.amazonaws.kms#NotFoundException": the part after '#'. */
	if ((hash = strrchr(type, '#')) != NULL)
		memmove(type, hash + 1, strlen(hash + 1) + 1);
	if (strcmp(type, "NotFoundException") == 0 ||
	    (strcmp(type, "KMSInvalidStateException") == 0 &&
	    strstr(msg, "pending deletion") != NULL)) {
		st = KRX_KEY_NOT_FOUND;
		what = "not found";
	} else if (aws_type_in(type, denied) || status == 401 ||
	    status == 403) {
		st = KRX_KEY_DENIED;
		what = "access denied";
	} else if (aws_type_in(type, invalid)) {
		st = KRX_KEY_INVALID;
		what = "EDEK rejected";
	} else {
		st = KRX_KEY_UNAVAILABLE;
		what = status >= 500 || status == 429 || status == 408 ||
		    strstr(type, "Throttl") != NULL ? "unavailable" :
		    "refused";
	}
	krx_kms_clean(ctype, sizeof(ctype), type, strlen(type));
	if (aws_quiet_type(type))
		msg[0] = '\0';
	krx_kms_clean(cmsg, sizeof(cmsg), msg, strlen(msg));
	snprintf(detail, dlen, "%s (HTTP %ld%s%s%s%s)", what, status,
	    ctype[0] != '\0' ? ", " : "", ctype, cmsg[0] != '\0' ? ": " : "",
	    cmsg);
	OPENSSL_cleanse(msg, sizeof(msg));
	return st;
}

int
krx_kms_aws_retry(long status, const uint8_t *body, size_t len)
{
	static const char	 thr[] = "Throttl";

	if (status == 408 || status == 429 || status >= 500)
		return 1;
	/* KMS throttles with 400 ThrottlingException. */
	if (status == 400 && len > 0 &&
	    memmem(body, len, thr, sizeof(thr) - 1) != NULL) {
		char	 d[KRX_KMS_AWS_DETAIL];

		krx_kms_aws_error(status, body, len, d, sizeof(d));
		return strncmp(d, "unavailable", 11) == 0;
	}
	return 0;
}

/* Transport failures: a status and a detail naming the failure. */
static enum krx_key_status
aws_transport(const struct krx_http_resp *r, char *detail, size_t dlen)
{
	const char	*what;
	char		 why[160];

	switch (r->error) {
	case KRX_HTTP_E_TLS:
		what = "TLS failure";
		break;
	case KRX_HTTP_E_TIMEOUT:
		what = "unreachable (timeout)";
		break;
	case KRX_HTTP_E_CONNECT:
		what = "unreachable";
		break;
	case KRX_HTTP_E_TOO_LARGE:
		what = "answer too large";
		break;
	default:
		what = "unreachable (transfer failed)";
		break;
	}
	krx_kms_clean(why, sizeof(why), r->why, strlen(r->why));
	snprintf(detail, dlen, "%s: %s", what, why);
	return KRX_KEY_UNAVAILABLE;
}

/* ---- calls ---- */

/* A failure line per operation at most every KRX_KMS_LOG_EVERY s. */
static void
aws_log_failure(struct aws_kms *a, struct aws_call *c, enum krx_key_status st)
{
	char		 subj[KRX_EDEK_AWS_KEY_ID_MAX + 16];
	int		 earlier;

	if (!krx_kms_log_due(&a->log[c->op], &earlier))
		return;
	if (c->op == KRX_KMS_OP_RESOLVE)
		snprintf(subj, sizeof(subj), "alias %.*s", (int)c->key_len,
		    (const char *)c->key);
	else
		snprintf(subj, sizeof(subj), "KEK %s", c->kek);
	if (st == KRX_KEY_NOT_FOUND)
		log_info("AWS KMS %s of %s: %s", krx_kms_op_name(c->op), subj,
		    c->detail);
	else
		log_warnx("AWS KMS %s of %s failed: %s%s", krx_kms_op_name(
		    c->op), subj, c->detail, earlier ?
		    " (and earlier failures not logged)" : "");
}

static void
aws_call_free(struct aws_call *c)
{
	TAILQ_REMOVE(&c->a->calls, c, link);
	if (c->key != NULL) {
		OPENSSL_cleanse(c->key, c->key_len);
		free(c->key);
	}
	free(c);
}

/* A KEK id as AWS names keys: [A-Za-z0-9:/_-], 1..256. */
static int
aws_key_id_ok(const char *s, size_t n)
{
	size_t	 i;

	if (n == 0 || n > KRX_EDEK_AWS_KEY_ID_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == ':' ||
		    s[i] == '/' || s[i] == '_' || s[i] == '-'))
			return 0;
	return 1;
}

/* The parsed answer of a 2xx, or a detail (returns -1). */
static int
aws_answer(struct aws_call *c, const struct krx_http_resp *r,
    struct krx_json_tok *t, size_t *n)
{
	if (krx_json_parse((const char *)r->body, r->body_len, t, AWS_TOKENS,
	    n) != KRX_OK || t[0].type != KRX_JSON_OBJECT) {
		snprintf(c->detail, sizeof(c->detail), "invalid answer "
		    "(HTTP %ld: not a JSON object)", r->status);
		return -1;
	}
	return 0;
}

static void
aws_bad_field(struct aws_call *c, const char *field)
{
	snprintf(c->detail, sizeof(c->detail), "invalid answer (%s missing "
	    "or malformed)", field);
}

/* resolve: KeyMetadata.KeyId. */
static enum krx_key_status
aws_resolved(struct aws_call *c, const struct krx_http_resp *r,
    struct krx_kms_result *res)
{
	struct krx_json_tok	 t[AWS_TOKENS];
	const char		*b = (const char *)r->body;
	size_t			 n, v, len;

	if (aws_answer(c, r, t, &n) != 0)
		return KRX_KEY_UNAVAILABLE;
	if (krx_json_path(b, t, n, "KeyMetadata.KeyId", &v) != KRX_OK ||
	    krx_json_string(b, t, v, c->kek, sizeof(c->kek), &len) !=
	    KRX_OK || !aws_key_id_ok(c->kek, len)) {
		aws_bad_field(c, "KeyMetadata.KeyId");
		return KRX_KEY_UNAVAILABLE;
	}
	res->kek_id = c->kek;
	res->kek_len = len;
	return KRX_KEY_OK;
}

/* A 32-byte Plaintext into dek. */
static int
aws_plaintext(struct aws_call *c, const char *b, struct krx_json_tok *t,
    size_t n, uint8_t *dek)
{
	uint8_t	 tmp[KRX_DEK_LEN + 1];
	size_t	 v, len = 0;
	int	 ok;

	ok = krx_json_member(b, t, n, 0, "Plaintext", &v) == KRX_OK &&
	    krx_json_base64(b, t, v, tmp, sizeof(tmp), &len) == KRX_OK &&
	    len == KRX_DEK_LEN;
	if (ok)
		memcpy(dek, tmp, KRX_DEK_LEN);
	OPENSSL_cleanse(tmp, sizeof(tmp));
	if (!ok)
		snprintf(c->detail, sizeof(c->detail), "invalid answer "
		    "(Plaintext missing, not base64 or not %d bytes)",
		    KRX_DEK_LEN);
	return ok ? 0 : -1;
}

/* generate: Plaintext and CiphertextBlob, into an AWS EDEK. */
static enum krx_key_status
aws_generated(struct aws_call *c, const struct krx_http_resp *r,
    struct krx_kms_result *res, uint8_t *dek, struct krx_buf *edek)
{
	struct krx_json_tok	 t[AWS_TOKENS];
	struct krx_edek_aws	 e;
	uint8_t			 blob[KRX_WRAPPER_EDEK_MAX];
	const char		*b = (const char *)r->body;
	size_t			 n, v, len;

	if (aws_answer(c, r, t, &n) != 0)
		return KRX_KEY_UNAVAILABLE;
	if (krx_json_member(b, t, n, 0, "CiphertextBlob", &v) != KRX_OK ||
	    krx_json_base64(b, t, v, blob, sizeof(blob), &len) != KRX_OK ||
	    len == 0) {
		aws_bad_field(c, "CiphertextBlob");
		return KRX_KEY_UNAVAILABLE;
	}
	if (aws_plaintext(c, b, t, n, dek) != 0)
		return KRX_KEY_UNAVAILABLE;
	memset(&e, 0, sizeof(e));
	e.key_id = c->kek;
	e.key_id_len = strlen(c->kek);
	e.blob = blob;
	e.blob_len = len;
	if (krx_edek_aws_serialize(&e, edek) != KRX_OK) {
		snprintf(c->detail, sizeof(c->detail), "invalid answer "
		    "(CiphertextBlob of %zu bytes does not fit an EDEK)", len);
		OPENSSL_cleanse(dek, KRX_DEK_LEN);
		return KRX_KEY_UNAVAILABLE;
	}
	res->edek = edek->data;
	res->edek_len = edek->len;
	res->dek = dek;
	return KRX_KEY_OK;
}

/* decrypt: Plaintext. */
static enum krx_key_status
aws_decrypted(struct aws_call *c, const struct krx_http_resp *r,
    struct krx_kms_result *res, uint8_t *dek)
{
	struct krx_json_tok	 t[AWS_TOKENS];
	size_t			 n;

	if (aws_answer(c, r, t, &n) != 0 ||
	    aws_plaintext(c, (const char *)r->body, t, n, dek) != 0)
		return KRX_KEY_UNAVAILABLE;
	res->dek = dek;
	return KRX_KEY_OK;
}

static enum krx_http_verdict
aws_classify(void *arg, const struct krx_http_resp *r)
{
	struct aws_call		*c = arg;
	enum krx_key_status	 st;
	int			 retry;

	if (r->error != KRX_HTTP_OK) {
		retry = r->error != KRX_HTTP_E_TLS &&
		    r->error != KRX_HTTP_E_TOO_LARGE;
		st = KRX_KEY_UNAVAILABLE;
	} else if (r->status >= 200 && r->status < 300) {
		return KRX_HTTP_DONE;	/* counted by aws_done */
	} else {
		retry = krx_kms_aws_retry(r->status, r->body, r->body_len);
		st = krx_kms_aws_error(r->status, r->body, r->body_len,
		    c->detail, sizeof(c->detail));
	}
	if (!retry)
		return KRX_HTTP_DONE;
	krx_kms_count(&c->a->ctr, c->op, st);
	return KRX_HTTP_RETRY;
}

static void
aws_finish(struct aws_call *c, const struct krx_kms_result *res)
{
	krx_flight_deliver(c->a->flight, c->op, c->key, c->key_len, c->cb,
	    c->arg, res);
}

static void
aws_done(void *arg, const struct krx_http_resp *r)
{
	struct aws_call		*c = arg;
	struct krx_kms_result	 res;
	struct krx_buf		 edek;
	uint8_t			 dek[KRX_DEK_LEN];

	memset(&res, 0, sizeof(res));
	krx_buf_init(&edek, 0);
	c->hc = NULL;
	if (r->error != KRX_HTTP_OK)
		res.status = aws_transport(r, c->detail, sizeof(c->detail));
	else if (r->status < 200 || r->status >= 300)
		res.status = krx_kms_aws_error(r->status, r->body, r->body_len,
		    c->detail, sizeof(c->detail));
	else if (c->op == KRX_KMS_OP_RESOLVE)
		res.status = aws_resolved(c, r, &res);
	else if (c->op == KRX_KMS_OP_GENERATE)
		res.status = aws_generated(c, r, &res, dek, &edek);
	else
		res.status = aws_decrypted(c, r, &res, dek);
	krx_kms_count(&c->a->ctr, c->op, res.status);
	if (res.status != KRX_KEY_OK) {
		res.detail = c->detail;
		aws_log_failure(c->a, c, res.status);
	}
	aws_finish(c, &res);
	OPENSSL_cleanse(dek, sizeof(dek));
	krx_buf_free_secret(&edek);
	aws_call_free(c);
}

/* Fail c at once (before or instead of its request). */
static void
aws_fail_now(struct aws_call *c, enum krx_key_status st)
{
	struct krx_kms_result	 res;

	memset(&res, 0, sizeof(res));
	res.status = st;
	res.detail = c->detail;
	aws_finish(c, &res);
	aws_call_free(c);
}

/* Why there are no credentials (for a detail). */
static const char *
aws_no_creds_why(const struct aws_kms *a)
{
	if (a->sts != NULL)
		return krx_aws_sts_why(a->sts);
	if (a->imds != NULL)
		return krx_aws_imds_why(a->imds);
	return "none";
}

/*
 * Send c with body (a JSON object). On refusal (the client's queue is
 * full) c is answered UNAVAILABLE at once.
 */
static void
aws_send(struct aws_call *c, struct krx_buf *body)
{
	struct aws_kms		*a = c->a;
	struct krx_http_sigv4	 sig;
	struct krx_http_req	 req;
	const char		*hdrs[2];

	if (body->err != KRX_OK)
		fatalx("out of memory for a KMS request");
	if (a->creds.access_key == NULL) {
		snprintf(c->detail, sizeof(c->detail), "unavailable (no "
		    "credentials yet: %.200s)", aws_no_creds_why(a));
		aws_fail_now(c, KRX_KEY_UNAVAILABLE);
		return;
	}
	memset(&sig, 0, sizeof(sig));
	sig.region = a->conf->region;
	sig.service = "kms";
	sig.access_key = (const char *)a->creds.access_key->data;
	sig.secret_key = (const char *)a->creds.secret_key->data;
	if (a->creds.session_token != NULL)
		sig.session_token = (const char *)a->creds.session_token->data;
	hdrs[0] = "Content-Type: application/x-amz-json-1.1";
	hdrs[1] = aws_targets[c->op];
	memset(&req, 0, sizeof(req));
	req.method = KRX_HTTP_POST;
	req.url = a->conf->endpoint_url;
	req.headers = hdrs;
	req.nheaders = 2;
	req.body = body->data;
	req.body_len = body->len;
	req.sigv4 = &sig;
	req.classify = aws_classify;
	if ((c->hc = krx_http_request(a->http, &req, aws_done, c)) == NULL) {
		snprintf(c->detail, sizeof(c->detail), "unavailable (too many "
		    "KMS requests queued)");
		krx_kms_count(&a->ctr, c->op, KRX_KEY_UNAVAILABLE);
		aws_fail_now(c, KRX_KEY_UNAVAILABLE);
	}
}

static struct aws_call *
aws_call_new(struct aws_kms *a, enum krx_kms_op op, const void *key,
    size_t len)
{
	struct aws_call	*c = xcalloc(1, sizeof(*c));

	c->a = a;
	c->op = op;
	if (len > 0) {
		c->key = xmalloc(len);
		memcpy(c->key, key, len);
		c->key_len = len;
	}
	TAILQ_INSERT_TAIL(&a->calls, c, link);
	return c;
}

/* An alias AWS can hold: "alias/" + [A-Za-z0-9/_-], not "aws/...". */
static int
aws_alias_ok(const char *s, size_t n)
{
	size_t	 i;

	if (n == 0 || n > AWS_ALIAS_MAX - strlen(AWS_ALIAS_PREFIX) ||
	    (n >= 4 && memcmp(s, "aws/", 4) == 0))
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '/' ||
		    s[i] == '_' || s[i] == '-'))
			return 0;
	return 1;
}

static void
aws_resolve(struct krx_kms *k, const char *alias, size_t len, krx_kms_cb cb,
    void *arg)
{
	struct aws_kms	*a = k->priv;
	struct aws_call	*c;
	struct krx_buf	 body;

	/* No such alias can exist: not found, as AWS would say. */
	if (!aws_alias_ok(alias, len)) {
		krx_kms_answer_now(cb, arg, KRX_KEY_NOT_FOUND, "not found (not a "
		    "name AWS KMS allows for an alias)");
		return;
	}
	if (krx_flight_join(a->flight, KRX_FLIGHT_RESOLVE, alias, len, cb,
	    arg) != KRX_FLIGHT_FIRST)
		return;
	c = aws_call_new(a, KRX_KMS_OP_RESOLVE, alias, len);
	krx_buf_init(&body, 64 + len);
	krx_buf_put(&body, "{\"KeyId\":\"" AWS_ALIAS_PREFIX, 16);
	krx_buf_put(&body, alias, len);
	krx_buf_put(&body, "\"}", 2);
	aws_send(c, &body);
	krx_buf_free(&body);
}

static void
aws_generate(struct krx_kms *k, const char *kek, size_t len, krx_kms_cb cb,
    void *arg)
{
	struct aws_kms	*a = k->priv;
	struct aws_call	*c;
	struct krx_buf	 body;

	if (!aws_key_id_ok(kek, len)) {
		krx_kms_answer_now(cb, arg, KRX_KEY_NOT_FOUND, "not found (not a "
		    "KeyId AWS KMS can have)");
		return;
	}
	c = aws_call_new(a, KRX_KMS_OP_GENERATE, NULL, 0);
	c->cb = cb;
	c->arg = arg;
	memcpy(c->kek, kek, len);
	c->kek[len] = '\0';
	krx_buf_init(&body, 64 + len);
	krx_buf_put(&body, "{\"KeyId\":", 9);
	krx_json_put_string(&body, kek, len);
	krx_buf_put(&body, ",\"KeySpec\":\"AES_256\"}", 21);
	aws_send(c, &body);
	krx_buf_free(&body);
}

static void
aws_decrypt(struct krx_kms *k, const uint8_t *edek, size_t len,
    krx_kms_cb cb, void *arg)
{
	struct aws_kms		*a = k->priv;
	struct aws_call		*c;
	struct krx_edek_aws	 e;
	struct krx_buf		 body;

	if (krx_edek_aws_parse(edek, len, &e) != KRX_OK ||
	    !aws_key_id_ok(e.key_id, e.key_id_len)) {
		krx_kms_answer_now(cb, arg, KRX_KEY_INVALID, "not an AWS KMS "
		    "EDEK");
		return;
	}
	if (krx_flight_join(a->flight, KRX_FLIGHT_DECRYPT, edek, len, cb,
	    arg) != KRX_FLIGHT_FIRST)
		return;
	c = aws_call_new(a, KRX_KMS_OP_DECRYPT, edek, len);
	memcpy(c->kek, e.key_id, e.key_id_len);
	c->kek[e.key_id_len] = '\0';
	krx_buf_init(&body, 64 + e.key_id_len + e.blob_len * 4 / 3);
	krx_buf_put(&body, "{\"KeyId\":", 9);
	krx_json_put_string(&body, e.key_id, e.key_id_len);
	krx_buf_put(&body, ",\"CiphertextBlob\":", 18);
	krx_json_put_base64(&body, e.blob, e.blob_len);
	krx_buf_put(&body, "}", 1);
	aws_send(c, &body);
	krx_buf_free(&body);
}

/* ---- open, close ---- */

/* The KMS's client: the tls group's stores installed by kms_tls.c. */
static int
aws_http_new(struct krx_kms *k, struct aws_kms *a)
{
	const struct krx_conf_kms	*kc = &k->conf->kms_conf;
	struct krx_http_opts		 o;

	memset(&o, 0, sizeof(o));
	o.connect_timeout_ms = (long)kc->connect_timeout * 1000;
	o.timeout_ms = (long)kc->request_timeout * 1000;
	if (krx_kms_tls_load(&a->tls, &kc->tls, kc->aws.endpoint_url) != 0)
		return -1;
	krx_kms_tls_opts(&o, &kc->tls, &a->tls, kc->aws.endpoint_url);
	return (a->http = krx_http_new(k->base, &o)) != NULL ? 0 : -1;
}

/* Long-term credentials from their files. */
static int
aws_long_term(struct aws_kms *a)
{
	const struct krx_conf_kms_aws	*conf = a->conf;

	if (krx_kms_aws_read_secret(conf->access_key_id_file,
	    "access key id", &a->creds.access_key) != 0 ||
	    krx_kms_aws_read_secret(conf->secret_access_key_file,
	    "secret access key", &a->creds.secret_key) != 0)
		return -1;
	if (conf->session_token_file != NULL &&
	    krx_kms_aws_read_secret(conf->session_token_file,
	    "session token", &a->creds.session_token) != 0)
		return -1;
	return 0;
}

/* New credentials: failures seen without them are not the KMS's. */
static void
aws_fresh(void *arg)
{
	struct aws_kms	*a = arg;

	krx_flight_forget(a->flight);
}

/* Temporary credentials: STS or IMDS, on their own client. */
static int
aws_temporary(struct krx_kms *k, struct aws_kms *a)
{
	struct krx_http_opts	 o;

	memset(&o, 0, sizeof(o));
	o.max_body = 64 * 1024;
	if ((a->cred_http = krx_http_new(k->base, &o)) == NULL)
		return -1;
	if (a->conf->creds == KRX_CONF_AWS_WEB_IDENTITY)
		a->sts = krx_aws_sts_new(k->base, a->conf, a->cred_http,
		    &a->creds, aws_fresh, a);
	else
		a->imds = krx_aws_imds_new(k->base, a->conf, a->cred_http,
		    &a->creds, aws_fresh, a);
	return a->sts != NULL || a->imds != NULL ? 0 : -1;
}

static int
aws_open(struct krx_kms *k)
{
	static const char *const kinds[] = {
		"long-term", "EC2 metadata", "web identity"
	};
	const struct krx_conf_kms_aws	*conf = &k->conf->kms_conf.aws;
	struct aws_kms			*a;

	a = xcalloc(1, sizeof(*a));
	k->priv = a;
	a->k = k;
	a->conf = conf;
	TAILQ_INIT(&a->calls);
	if (k->conf->kms_conf.kind != KRX_CONF_KMS_AWS ||
	    conf->endpoint_url == NULL || conf->region == NULL ||
	    conf->creds < KRX_CONF_AWS_LONG_TERM ||
	    conf->creds > KRX_CONF_AWS_WEB_IDENTITY) {
		log_warnx("AwsKmsService: kmsConfig has no endpointUrl, "
		    "region or credentials");
		return -1;
	}
	if (conf->creds == KRX_CONF_AWS_LONG_TERM && aws_long_term(a) != 0)
		return -1;
	if (aws_http_new(k, a) != 0)
		return -1;
	a->flight = krx_flight_new(NULL);
	if (conf->creds != KRX_CONF_AWS_LONG_TERM && aws_temporary(k, a) != 0)
		return -1;
	log_info("AwsKmsService %s (region %s, %s credentials%s%s)",
	    conf->endpoint_url, conf->region, kinds[conf->creds],
	    a->creds.session_token != NULL && conf->creds ==
	    KRX_CONF_AWS_LONG_TERM ? " with a session token" : "",
	    a->tls.store != NULL ? ", own TLS stores" : "");
	return 0;
}

static void
aws_close(struct krx_kms *k)
{
	struct aws_kms	*a = k->priv;

	if (a == NULL)
		return;
	krx_aws_sts_free(a->sts);
	krx_aws_imds_free(a->imds);
	/* Cancel every request: no callback comes. */
	krx_http_free(a->cred_http);
	krx_http_free(a->http);
	krx_kms_tls_free(&a->tls);
	while (!TAILQ_EMPTY(&a->calls))
		aws_call_free(TAILQ_FIRST(&a->calls));
	krx_flight_free(a->flight);
	krx_kms_aws_creds_clear(&a->creds);
	free(a);
	k->priv = NULL;
}

static void
aws_counters(const struct krx_kms *k, struct krx_kms_counters *out)
{
	const struct aws_kms	*a = k->priv;

	krx_kms_counters_add(out, &a->ctr);
}

const struct krx_kms_ops krx_kms_aws_ops = {
	.name = "AwsKmsService",
	.open = aws_open,
	.close = aws_close,
	.resolve = aws_resolve,
	.generate = aws_generate,
	.decrypt = aws_decrypt,
	.admin = NULL,
	.counters = aws_counters,
};
