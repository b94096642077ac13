/*
 * kms_azure_auth.c: the bearer tokens of AzureKeyVaultKmsService
 * (kms_azure.h has the contract), as Kroxylicious gets them:
 *
 *   oauth2ClientCredentials    POST {oauthEndpoint}/{tenantId}/oauth2/
 *                              v2.0/token, form grant_type=
 *                              client_credentials&client_id&
 *                              client_secret&scope, over that group's
 *                              own tls settings
 *   managedIdentityCredentials GET {identityServiceEndpoint}/metadata/
 *                              identity/oauth2/token?api-version=
 *                              2018-02-01&resource=<target>, with
 *                              Metadata: true
 *
 * One token is cached, valid from the request's sending until
 * expires_in later. Within KRX_AZURE_REFRESH_MS of that a refresh starts
 * on demand and the old token serves meanwhile; a failed refresh keeps
 * it while it lasts (tried again after AZ_RETRY_MS). Without a valid
 * token callers wait: one fetch serves every waiter. A failed fetch is
 * remembered for AZ_RETRY_MS so that a wrong secret does not flood the
 * identity platform. The vault's 401 drops the token it refused.
 *
 * The client id and secret are read from their files at start and again
 * before each fetch (a rotated secret is picked up), into struct
 * krx_secret; the form body holding them is wiped after use. Tokens are
 * secrets too. Logs name the endpoint and the failure, never a token,
 * secret or form body.
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
#include "crypto/secret.h"
#include "keysvc/http.h"
#include "keysvc/kms_azure.h"
#include "keysvc/kms_tls.h"

#define AZ_RETRY_MS	5000	/* a failed fetch answers this long */
#define AZ_WAITERS_MAX	4096
#define AZ_LOG_EVERY_MS	10000
#define AZ_SECRET_MAX	4096	/* bytes of a client id or secret file */

struct aa_waiter {
	TAILQ_ENTRY(aa_waiter)	 link;
	krx_azure_auth_cb	 cb;
	void			*arg;
};

TAILQ_HEAD(aa_waiters, aa_waiter);

struct krx_azure_auth {
	const struct krx_conf_kms_azure	*c;
	int			 imds;
	char			*url;		/* the token endpoint */
	struct krx_http		*http;
	struct krx_kms_tls	 tls;		/* oauth2 group's stores */
	struct krx_secret	*client_id;
	struct krx_secret	*client_secret;
	struct krx_secret	*token;		/* NULL: none */
	uint64_t		 gen;
	int64_t			 expires_ms;	/* monotonic */
	struct krx_http_call	*fetch;
	int64_t			 fetch_sent_ms;
	struct aa_waiters	 waiters;
	size_t			 nwaiters;
	int64_t			 retry_ms;	/* no fetch before */
	enum krx_key_status	 fail_st;	/* of the last fetch */
	char			 fail[KRX_AZURE_DETAIL];
	int64_t			 log_ms;	/* no failure line before */
	int			 failing;
};

static int64_t
aa_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A secret file's content: one line of printable ASCII. NULL logged. */
static struct krx_secret *
aa_read(const char *path, const char *what)
{
	struct krx_secret	*s;
	const char		*why;
	size_t			 i;

	if ((s = krx_tlsctx_read_secret(path, AZ_SECRET_MAX, &why)) == NULL) {
		log_warnx("AzureKeyVault: %s file %s: %s", what, path, why);
		return NULL;
	}
	for (i = 0; i < s->len; i++)
		if (s->data[i] < 0x20 || s->data[i] >= 0x7f) {
			log_warnx("AzureKeyVault: %s file %s: not one line of "
			    "printable characters", what, path);
			krx_secret_free(s);
			return NULL;
		}
	return s;
}

/* Read the client id and secret again; keep the old ones on failure. */
static void
aa_reread(struct krx_azure_auth *a)
{
	struct krx_secret	*id, *sec;

	if ((id = aa_read(a->c->client_id_file, "clientId")) == NULL)
		return;
	if ((sec = aa_read(a->c->client_secret_file, "clientSecret")) ==
	    NULL) {
		krx_secret_free(id);
		return;
	}
	krx_secret_free(a->client_id);
	krx_secret_free(a->client_secret);
	a->client_id = id;
	a->client_secret = sec;
}

/* Failures: a line at once after a success, then every 10 s at most. */
static void
aa_trouble(struct krx_azure_auth *a, const char *detail)
{
	int64_t	 now = aa_now_ms();

	if (a->failing && now < a->log_ms)
		return;
	a->failing = 1;
	a->log_ms = now + AZ_LOG_EVERY_MS;
	log_warnx("AzureKeyVault: cannot get a bearer token from %s: %s",
	    a->url, detail);
}

/* Hand the outcome to every waiter (each may wait again). */
static void
aa_notify(struct krx_azure_auth *a, enum krx_key_status st,
    const char *detail)
{
	struct aa_waiters	 list;
	struct aa_waiter	*w;

	TAILQ_INIT(&list);
	TAILQ_CONCAT(&list, &a->waiters, link);
	a->nwaiters = 0;
	while ((w = TAILQ_FIRST(&list)) != NULL) {
		TAILQ_REMOVE(&list, w, link);
		w->cb(w->arg, st, detail);
		free(w);
	}
}

static void
aa_fetch_failed(struct krx_azure_auth *a, enum krx_key_status st)
{
	int64_t	 now = aa_now_ms();

	a->retry_ms = now + AZ_RETRY_MS;
	a->fail_st = st;
	aa_trouble(a, a->fail);
	if (a->token != NULL && now < a->expires_ms) {
		/* A refresh: the old token lasts a while yet. */
		aa_notify(a, KRX_KEY_OK, NULL);
		return;
	}
	aa_notify(a, st, a->fail);
}

static void
aa_fetch_done(void *arg, const struct krx_http_resp *r)
{
	struct krx_azure_auth	*a = arg;
	struct krx_secret	*tok;
	long			 life;

	a->fetch = NULL;
	if (r->error != KRX_HTTP_OK) {
		snprintf(a->fail, sizeof(a->fail), "%s: %.160s",
		    r->error == KRX_HTTP_E_TLS ? "TLS failure" :
		    r->error == KRX_HTTP_E_TOO_LARGE ? "answer too large" :
		    "unreachable", r->why);
		aa_fetch_failed(a, KRX_KEY_UNAVAILABLE);
		return;
	}
	if (r->status != 200) {
		aa_fetch_failed(a, krx_azure_token_error(a->imds, r->status,
		    r->body, r->body_len, a->fail, sizeof(a->fail)));
		return;
	}
	if (krx_azure_parse_token(r->body, r->body_len, &tok, &life, a->fail,
	    sizeof(a->fail)) != 0) {
		aa_fetch_failed(a, KRX_KEY_UNAVAILABLE);
		return;
	}
	krx_secret_free(a->token);
	a->token = tok;
	a->gen++;
	a->expires_ms = a->fetch_sent_ms + life * 1000;
	a->retry_ms = 0;
	if (a->failing)
		log_info("AzureKeyVault: bearer token from %s obtained again",
		    a->url);
	else
		log_debug("AzureKeyVault: bearer token from %s, valid %ld s",
		    a->url, life);
	a->failing = 0;
	aa_notify(a, KRX_KEY_OK, NULL);
}

/* The oauth2 form body (secret: wipe and free it). */
static void
aa_form(struct krx_azure_auth *a, struct krx_buf *b)
{
	const char	*scope = a->c->scope;

	krx_buf_init(b, 256 + 3 * (a->client_id->len +
	    a->client_secret->len + strlen(scope)));
	krx_azure_form_put(b, "grant_type",
	    (const uint8_t *)"client_credentials", 18, 1);
	krx_azure_form_put(b, "client_id", a->client_id->data,
	    a->client_id->len, 0);
	krx_azure_form_put(b, "client_secret", a->client_secret->data,
	    a->client_secret->len, 0);
	krx_azure_form_put(b, "scope", (const uint8_t *)scope, strlen(scope),
	    0);
	if (b->err != KRX_OK)
		fatalx("out of memory for a token request");
}

/* Start a fetch unless one runs. 0, or -1 when the client refused. */
static int
aa_fetch(struct krx_azure_auth *a)
{
	static const char *const form_hdr[] = {
		"Content-Type: application/x-www-form-urlencoded",
		"Accept: application/json"
	}, *const imds_hdr[] = { "Metadata: true", "Accept: application/json" };
	struct krx_http_req	 req;
	struct krx_buf		 body;

	if (a->fetch != NULL)
		return 0;
	memset(&req, 0, sizeof(req));
	krx_buf_init(&body, 0);
	req.url = a->url;
	req.nheaders = 2;
	if (a->imds) {
		req.method = KRX_HTTP_GET;
		req.headers = imds_hdr;
	} else {
		aa_reread(a);
		aa_form(a, &body);
		req.method = KRX_HTTP_POST;
		req.headers = form_hdr;
		req.body = body.data;
		req.body_len = body.len;
	}
	a->fetch_sent_ms = aa_now_ms();
	a->fetch = krx_http_request(a->http, &req, aa_fetch_done, a);
	krx_buf_free_secret(&body);
	return a->fetch != NULL ? 0 : -1;
}

const struct krx_secret *
krx_azure_auth_token(struct krx_azure_auth *a, uint64_t *gen)
{
	int64_t	 now = aa_now_ms();

	if (a->token != NULL && now >= a->expires_ms) {
		krx_secret_free(a->token);
		a->token = NULL;
	}
	if (a->token == NULL)
		return NULL;
	if (a->expires_ms - now < KRX_AZURE_REFRESH_MS && now >= a->retry_ms)
		(void)aa_fetch(a);
	*gen = a->gen;
	return a->token;
}

int
krx_azure_auth_wait(struct krx_azure_auth *a, krx_azure_auth_cb cb,
    void *arg, enum krx_key_status *st, const char **detail)
{
	struct aa_waiter	*w;

	if (a->fetch == NULL && aa_now_ms() < a->retry_ms) {
		*st = a->fail_st;
		*detail = a->fail;
		return -1;
	}
	if (a->nwaiters >= AZ_WAITERS_MAX || aa_fetch(a) != 0) {
		*st = KRX_KEY_UNAVAILABLE;
		*detail = "unavailable (too many requests waiting for a "
		    "bearer token)";
		return -1;
	}
	w = xcalloc(1, sizeof(*w));
	w->cb = cb;
	w->arg = arg;
	TAILQ_INSERT_TAIL(&a->waiters, w, link);
	a->nwaiters++;
	return 0;
}

void
krx_azure_auth_unwait(struct krx_azure_auth *a, void *arg)
{
	struct aa_waiter	*w, *next;

	for (w = TAILQ_FIRST(&a->waiters); w != NULL; w = next) {
		next = TAILQ_NEXT(w, link);
		if (w->arg != arg)
			continue;
		TAILQ_REMOVE(&a->waiters, w, link);
		a->nwaiters--;
		free(w);
	}
}

void
krx_azure_auth_refused(struct krx_azure_auth *a, uint64_t gen)
{
	if (a->token == NULL || gen != a->gen)
		return;
	log_info("AzureKeyVault: the vault refused the bearer token (HTTP "
	    "401); getting a new one from %s", a->url);
	krx_secret_free(a->token);
	a->token = NULL;
	a->retry_ms = 0;
}

/* The token endpoint's URL, the client's options, the secrets. */
static int
aa_setup(struct krx_azure_auth *a, struct event_base *base,
    const struct krx_conf_kms *kc)
{
	struct krx_http_opts	 o;
	size_t			 n;

	memset(&o, 0, sizeof(o));
	o.connect_timeout_ms = (long)kc->connect_timeout * 1000;
	o.timeout_ms = (long)kc->request_timeout * 1000;
	o.max_body = KRX_AZURE_BODY_MAX;
	if (a->imds) {
		a->url = krx_azure_imds_url(a->c->identity_endpoint,
		    a->c->target_resource);
	} else {
		n = strlen(a->c->oauth_endpoint);
		while (n > 0 && a->c->oauth_endpoint[n - 1] == '/')
			n--;
		a->url = xmalloc(n + strlen(a->c->tenant_id) + 32);
		sprintf(a->url, "%.*s/%s/oauth2/v2.0/token", (int)n,
		    a->c->oauth_endpoint, a->c->tenant_id);
		if ((a->client_id = aa_read(a->c->client_id_file,
		    "clientId")) == NULL || (a->client_secret = aa_read(
		    a->c->client_secret_file, "clientSecret")) == NULL)
			return -1;
		if (krx_kms_tls_load(&a->tls, &a->c->oauth_tls, a->url) != 0)
			return -1;
		krx_kms_tls_opts(&o, &a->c->oauth_tls, &a->tls, a->url);
	}
	return (a->http = krx_http_new(base, &o)) != NULL ? 0 : -1;
}

struct krx_azure_auth *
krx_azure_auth_new(struct event_base *base, const struct krx_conf_kms *kc)
{
	struct krx_azure_auth	*a = xcalloc(1, sizeof(*a));

	a->c = &kc->azure;
	a->imds = kc->azure.auth == KRX_CONF_AZURE_MANAGED_IDENTITY;
	TAILQ_INIT(&a->waiters);
	if ((a->imds && (a->c->identity_endpoint == NULL ||
	    a->c->target_resource == NULL)) || (!a->imds &&
	    (a->c->oauth_endpoint == NULL || a->c->tenant_id == NULL ||
	    a->c->client_id_file == NULL || a->c->client_secret_file ==
	    NULL || a->c->scope == NULL))) {
		log_warnx("AzureKeyVault: incomplete credentials settings");
		krx_azure_auth_free(a);
		return NULL;
	}
	if (aa_setup(a, base, kc) != 0) {
		krx_azure_auth_free(a);
		return NULL;
	}
	log_info("AzureKeyVault: bearer tokens from %s (%s)", a->url,
	    a->imds ? "managed identity" : "OAuth 2.0 client credentials");
	return a;
}

void
krx_azure_auth_free(struct krx_azure_auth *a)
{
	struct aa_waiter	*w;

	if (a == NULL)
		return;
	/* Cancels the fetch: no callback comes. */
	krx_http_free(a->http);
	while ((w = TAILQ_FIRST(&a->waiters)) != NULL) {
		TAILQ_REMOVE(&a->waiters, w, link);
		free(w);
	}
	krx_secret_free(a->token);
	krx_secret_free(a->client_id);
	krx_secret_free(a->client_secret);
	krx_kms_tls_free(&a->tls);
	free(a->url);
	free(a);
}
