/*
 * kms_aws_imds.c: EC2 instance metadata credentials for AwsKmsService
 * (credentials = { ec2Metadata = { iamRole; metadataEndpoint; }; }),
 * run by keysvc. IMDSv2, as Kroxylicious and AWS's SDKs speak it:
 *
 *   PUT {endpoint}/latest/api/token
 *       X-aws-ec2-metadata-token-ttl-seconds: 60      -> a session token
 *   GET {endpoint}/latest/meta-data/iam/security-credentials/{iamRole}
 *       X-aws-ec2-metadata-token: <token>
 *       -> {"Code":"Success","AccessKeyId","SecretAccessKey","Token",
 *           "Expiration":"2026-01-02T03:04:05Z", ...}
 *
 * A fresh session token per fetch (it lives 60 s). The credentials are
 * put in place of the previous ones and fetched again at
 * credentialLifetimeFactor (0.8) of their lifetime; only the timer
 * starts a fetch and only after the previous one ended, so there is one
 * at a time. A failed fetch is retried with a backoff (5 s doubling to
 * 60 s) while the old credentials last; once they expire requests fail
 * unavailable until a fetch succeeds. IMDS is plain HTTP on a link-local
 * address: its own krx_http client, without the kmsConfig tls group, no
 * redirects, answers bounded (IMDS_BODY_MAX) and checked. Logs never
 * carry the session token or the credentials.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "common/err.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "crypto/json.h"
#include "crypto/secret.h"
#include "keysvc/http.h"
#include "keysvc/kms.h"
#include "keysvc/kms_aws.h"

#define IMDS_TOKEN_TTL		"60"	/* seconds, as Kroxylicious asks */
#define IMDS_TOKEN_MAX		1024	/* bytes of a session token */
#define IMDS_VALUE_MAX		4096	/* bytes of a credential value */
#define IMDS_TOKENS		64	/* JSON values of the document */
#define IMDS_URL_MAX		1024
#define IMDS_TOKEN_PATH		"/latest/api/token"
#define IMDS_CREDS_PATH		"/latest/meta-data/iam/security-credentials/"
#define IMDS_TOKEN_HDR		"X-aws-ec2-metadata-token: "

struct krx_aws_imds {
	struct krx_http			*http;
	struct krx_kms_aws_creds	*creds;
	void				(*fresh)(void *);
	void				*arg;
	struct event			*timer;
	struct krx_http_call		*hc;
	char				*role;
	char				*token_url;
	char				*creds_url;
	double				 factor;
	time_t				 expires;	/* 0: none held */
	int				 failures;
	char				 why[KRX_KMS_AWS_DETAIL];
};

static void	imds_fetch(struct krx_aws_imds *);

/* ---- pure parts (unit tested) ---- */

int
krx_kms_aws_imds_base(const char *url, char *out, size_t outsz)
{
	const char	*h, *e;
	size_t		 n;

	if (strncmp(url, "http://", 7) == 0)
		h = url + 7;
	else if (strncmp(url, "https://", 8) == 0)
		h = url + 8;
	else
		return -1;
	e = h + strcspn(h, "/?#");
	if (e == h || memchr(h, '@', (size_t)(e - h)) != NULL ||
	    (n = (size_t)(e - url)) >= outsz)
		return -1;
	memcpy(out, url, n);
	out[n] = '\0';
	return 0;
}

/* Printable ASCII without blanks, at least one byte. */
static int
imds_printable(const char *s, size_t n)
{
	size_t	 i;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return 0;
	return 1;
}

/* Member key of the document as a new NUL-terminated secret, or NULL. */
static struct krx_secret *
imds_value(const char *b, const struct krx_json_tok *t, size_t n,
    const char *key)
{
	struct krx_secret	*s = NULL;
	char			 buf[IMDS_VALUE_MAX + 1];
	size_t			 v, len;

	if (krx_json_member(b, t, n, 0, key, &v) == KRX_OK &&
	    krx_json_string(b, t, v, buf, sizeof(buf), &len) == KRX_OK &&
	    imds_printable(buf, len)) {
		if ((s = krx_secret_new_copy(buf, len + 1)) == NULL)
			fatalx("out of memory for a credential");
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	return s;
}

int
krx_kms_aws_imds_parse(const char *body, size_t len,
    struct krx_kms_aws_creds *c, time_t *expires, const char **why)
{
	struct krx_json_tok	 t[IMDS_TOKENS];
	char			 code[32], exp[40];
	size_t			 n, v, elen;

	memset(c, 0, sizeof(*c));
	*expires = -1;
	if (krx_json_parse(body, len, t, IMDS_TOKENS, &n) != KRX_OK ||
	    t[0].type != KRX_JSON_OBJECT) {
		*why = "IMDS answered something other than a JSON object";
		return -1;
	}
	if (krx_json_member(body, t, n, 0, "Code", &v) != KRX_OK ||
	    krx_json_string(body, t, v, code, sizeof(code), NULL) !=
	    KRX_OK || strcasecmp(code, "Success") != 0) {
		*why = "IMDS answered without Code \"Success\"";
		return -1;
	}
	if (krx_json_member(body, t, n, 0, "Expiration", &v) != KRX_OK ||
	    krx_json_string(body, t, v, exp, sizeof(exp), &elen) != KRX_OK ||
	    (*expires = krx_kms_aws_time(exp, elen)) == -1) {
		*why = "IMDS answered without a usable Expiration";
		return -1;
	}
	c->access_key = imds_value(body, t, n, "AccessKeyId");
	c->secret_key = imds_value(body, t, n, "SecretAccessKey");
	c->session_token = imds_value(body, t, n, "Token");
	if (c->access_key == NULL || c->secret_key == NULL ||
	    c->session_token == NULL) {
		krx_kms_aws_creds_clear(c);
		*expires = -1;
		*why = "IMDS answered without a usable AccessKeyId, "
		    "SecretAccessKey and Token";
		return -1;
	}
	return 0;
}

/* ---- fetching ---- */

static void
imds_failed(struct krx_aws_imds *m)
{
	long	 secs = krx_kms_aws_retry_in(m->failures);

	m->failures++;
	log_warnx("AwsKmsService: EC2 metadata credentials for role %s: %s; "
	    "trying again in %ld s%s", m->role, m->why, secs, m->expires != 0 ?
	    " (the current credentials are kept until they expire)" : "");
	krx_kms_timer_in(m->timer, secs);
}

/* A transport failure or a non-200 status as m->why; 0 on a 200. */
static int
imds_status(struct krx_aws_imds *m, const struct krx_http_resp *r,
    const char *what)
{
	if (r->error != KRX_HTTP_OK) {
		snprintf(m->why, sizeof(m->why), "IMDS unreachable for %s "
		    "(%s: %.120s)", what, krx_http_strerror(r->error), r->why);
		return -1;
	}
	if (r->status == 200)
		return 0;
	snprintf(m->why, sizeof(m->why), "IMDS refused %s (HTTP %ld%s)", what,
	    r->status, r->status == 404 ? ": is the IAM role attached to "
	    "this instance?" : "");
	return -1;
}

static void
imds_creds_done(void *arg, const struct krx_http_resp *r)
{
	struct krx_aws_imds		*m = arg;
	struct krx_kms_aws_creds	 c;
	const char			*why;
	time_t				 exp, now = time(NULL);
	long				 life, renew;

	m->hc = NULL;
	if (imds_status(m, r, "the role's credentials") != 0)
		goto fail;
	if (krx_kms_aws_imds_parse((const char *)r->body, r->body_len, &c,
	    &exp, &why) != 0) {
		snprintf(m->why, sizeof(m->why), "%s", why);
		goto fail;
	}
	if ((life = (long)(exp - now)) <= 0) {
		krx_kms_aws_creds_clear(&c);
		snprintf(m->why, sizeof(m->why), "IMDS answered credentials "
		    "that have expired (check the clock)");
		goto fail;
	}
	krx_kms_aws_creds_clear(m->creds);
	*m->creds = c;
	m->expires = exp;
	m->failures = 0;
	m->why[0] = '\0';
	renew = krx_kms_aws_renew_in(m->factor, life);
	log_info("AwsKmsService: EC2 metadata credentials for role %s "
	    "obtained, valid %ld s, renewed in %ld s", m->role, life, renew);
	krx_kms_timer_in(m->timer, renew);
	m->fresh(m->arg);
	return;
fail:
	imds_failed(m);
}

/* With a session token: ask for the role's credentials. */
static void
imds_token_done(void *arg, const struct krx_http_resp *r)
{
	struct krx_aws_imds	*m = arg;
	struct krx_http_req	 req;
	struct krx_secret	*hdr;
	const char		*hdrs[1];
	size_t			 pre = strlen(IMDS_TOKEN_HDR);

	m->hc = NULL;
	if (imds_status(m, r, "a session token") != 0)
		goto fail;
	if (r->body_len > IMDS_TOKEN_MAX ||
	    !imds_printable((const char *)r->body, r->body_len)) {
		snprintf(m->why, sizeof(m->why), "IMDS answered a session "
		    "token that is empty, over %d bytes or not printable",
		    IMDS_TOKEN_MAX);
		goto fail;
	}
	if ((hdr = krx_secret_new(pre + r->body_len + 1)) == NULL)
		fatalx("out of memory for an IMDS token");
	memcpy(hdr->data, IMDS_TOKEN_HDR, pre);
	memcpy(hdr->data + pre, r->body, r->body_len);
	hdr->data[pre + r->body_len] = '\0';
	hdrs[0] = (const char *)hdr->data;
	memset(&req, 0, sizeof(req));
	req.method = KRX_HTTP_GET;
	req.url = m->creds_url;
	req.headers = hdrs;
	req.nheaders = 1;
	m->hc = krx_http_request(m->http, &req, imds_creds_done, m);
	krx_secret_free(hdr);
	if (m->hc != NULL)
		return;
	snprintf(m->why, sizeof(m->why), "IMDS request refused (too many "
	    "requests queued)");
fail:
	imds_failed(m);
}

static void
imds_fetch(struct krx_aws_imds *m)
{
	struct krx_http_req	 req;
	const char		*hdrs[1];

	if (m->hc != NULL)
		return;		/* one at a time */
	if (m->expires != 0 && time(NULL) >= m->expires) {
		krx_kms_aws_creds_clear(m->creds);
		m->expires = 0;
		log_warnx("AwsKmsService: EC2 metadata credentials for role "
		    "%s expired", m->role);
	}
	hdrs[0] = "X-aws-ec2-metadata-token-ttl-seconds: " IMDS_TOKEN_TTL;
	memset(&req, 0, sizeof(req));
	req.method = KRX_HTTP_PUT;
	req.url = m->token_url;
	req.headers = hdrs;
	req.nheaders = 1;
	if ((m->hc = krx_http_request(m->http, &req, imds_token_done, m)) ==
	    NULL) {
		snprintf(m->why, sizeof(m->why), "IMDS request refused (too "
		    "many requests queued)");
		imds_failed(m);
	}
}

static void
imds_timer(evutil_socket_t fd, short what, void *arg)
{
	imds_fetch(arg);
}

struct krx_aws_imds *
krx_aws_imds_new(struct event_base *base, const struct krx_conf_kms_aws *conf,
    struct krx_http *http, struct krx_kms_aws_creds *creds,
    void (*fresh)(void *), void *arg)
{
	struct krx_aws_imds	*m;
	char			 b[IMDS_URL_MAX], u[IMDS_URL_MAX + 256];

	if (conf->iam_role == NULL || conf->metadata_endpoint == NULL ||
	    krx_kms_aws_imds_base(conf->metadata_endpoint, b, sizeof(b)) != 0 ||
	    strlen(conf->iam_role) > 128) {
		log_warnx("AwsKmsService: ec2Metadata needs an iamRole and an "
		    "http:// metadataEndpoint");
		return NULL;
	}
	m = xcalloc(1, sizeof(*m));
	m->http = http;
	m->creds = creds;
	m->fresh = fresh;
	m->arg = arg;
	m->role = xstrdup(conf->iam_role);
	snprintf(u, sizeof(u), "%s%s", b, IMDS_TOKEN_PATH);
	m->token_url = xstrdup(u);
	snprintf(u, sizeof(u), "%s%s%s", b, IMDS_CREDS_PATH, conf->iam_role);
	m->creds_url = xstrdup(u);
	m->factor = conf->lifetime_factor;
	snprintf(m->why, sizeof(m->why), "waiting for EC2 instance metadata");
	if ((m->timer = evtimer_new(base, imds_timer, m)) == NULL)
		fatalx("evtimer_new failed");
	imds_fetch(m);
	return m;
}

void
krx_aws_imds_free(struct krx_aws_imds *m)
{
	if (m == NULL)
		return;
	krx_http_cancel(m->hc);
	if (m->timer != NULL)
		event_free(m->timer);
	free(m->role);
	free(m->token_url);
	free(m->creds_url);
	free(m);
}

const char *
krx_aws_imds_why(const struct krx_aws_imds *m)
{
	return m->why[0] != '\0' ? m->why : "credentials expired";
}
