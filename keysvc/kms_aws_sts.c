/*
 * kms_aws_sts.c: web identity credentials for AwsKmsService (IRSA and
 * the like), run by keysvc. STS AssumeRoleWithWebIdentity (the query
 * protocol: a form POST, unsigned, answered in XML) with the token read
 * afresh from its file each time, since the platform rotates it. The
 * temporary credentials are put in place of the previous ones and
 * renewed at credentialLifetimeFactor (0.8) of their lifetime; a failed
 * renewal is retried with a backoff (5 s doubling to 60 s) while the
 * old credentials last, and when they expire requests fail unavailable
 * until a renewal succeeds. Settings not in the configuration come from
 * keysvc's environment (AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE,
 * AWS_ROLE_SESSION_NAME). Trusts nothing STS sends: values are bounded
 * and checked; logs never carry the token or the credentials.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "crypto/secret.h"
#include "keysvc/http.h"
#include "keysvc/kms.h"
#include "keysvc/kms_aws.h"

#define STS_VALUE_MAX		4096	/* bytes of a credential value */
#define STS_VERSION		"2011-06-15"

struct krx_aws_sts {
	struct krx_http			*http;
	struct krx_kms_aws_creds	*creds;
	void				(*fresh)(void *);
	void				*arg;
	struct event			*timer;
	struct krx_http_call		*hc;
	char				*role_arn;
	char				*token_file;
	char				*session_name;
	char				*url;
	int				 duration;
	double				 factor;
	time_t				 expires;	/* 0: none held */
	int				 failures;
	char				 why[KRX_KMS_AWS_DETAIL];
};

static void	sts_fetch(struct krx_aws_sts *);

static const char *
sts_setting(const char *conf, const char *env)
{
	const char	*v;

	if (conf != NULL)
		return conf;
	return (v = getenv(env)) != NULL && v[0] != '\0' ? v : NULL;
}

/* application/x-www-form-urlencoded: unreserved bytes kept. */
static void
sts_put_form(struct krx_buf *b, const char *name, const char *v, size_t n)
{
	static const char	 hex[] = "0123456789ABCDEF";
	char			 e[3];
	size_t			 i;
	uint8_t			 c;

	if (b->len > 0)
		krx_buf_put_u8(b, '&');
	krx_buf_put(b, name, strlen(name));
	krx_buf_put_u8(b, '=');
	for (i = 0; i < n; i++) {
		c = (uint8_t)v[i];
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~') {
			krx_buf_put_u8(b, c);
			continue;
		}
		e[0] = '%';
		e[1] = hex[c >> 4];
		e[2] = hex[c & 0x0f];
		krx_buf_put(b, e, 3);
	}
}

/*
 * The text of the first <tag> element within [p, end), XML's five
 * entities decoded, into a new NUL-terminated secret: NULL when absent,
 * empty, over STS_VALUE_MAX or holding anything but printable ASCII
 * without blanks.
 */
static struct krx_secret *
sts_xml_value(const char *p, const char *end, const char *tag)
{
	static const struct { const char *ent; char c; } ents[] = {
		{ "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' },
		{ "&quot;", '"' }, { "&apos;", '\'' },
	};
	struct krx_secret	*s;
	char			 open[64], close[64];
	const char		*v, *ve;
	size_t			 i, k, n = 0, ol, cl;

	ol = (size_t)snprintf(open, sizeof(open), "<%s>", tag);
	cl = (size_t)snprintf(close, sizeof(close), "</%s>", tag);
	if ((v = memmem(p, (size_t)(end - p), open, ol)) == NULL)
		return NULL;
	v += ol;
	if ((ve = memmem(v, (size_t)(end - v), close, cl)) == NULL ||
	    ve == v || ve - v > STS_VALUE_MAX)
		return NULL;
	if ((s = krx_secret_new((size_t)(ve - v) + 1)) == NULL)
		fatalx("out of memory for a credential");
	for (i = 0; v + i < ve; i++) {
		if (v[i] == '&') {
			for (k = 0; k < sizeof(ents) / sizeof(ents[0]); k++)
				if (strncmp(v + i, ents[k].ent,
				    strlen(ents[k].ent)) == 0 && v + i +
				    strlen(ents[k].ent) <= ve)
					break;
			if (k == sizeof(ents) / sizeof(ents[0]))
				goto bad;
			s->data[n++] = (uint8_t)ents[k].c;
			i += strlen(ents[k].ent) - 1;
			continue;
		}
		if (v[i] < 0x21 || v[i] > 0x7e)
			goto bad;
		s->data[n++] = (uint8_t)v[i];
	}
	s->data[n] = '\0';
	return s;
bad:
	krx_secret_free(s);
	return NULL;
}

static void
sts_failed(struct krx_aws_sts *s)
{
	long	 secs = krx_kms_aws_retry_in(s->failures);

	s->failures++;
	log_warnx("AwsKmsService: web identity for role %s: %s; trying "
	    "again in %ld s%s", s->role_arn, s->why, secs, s->expires != 0 ?
	    " (the current credentials are kept until they expire)" : "");
	krx_kms_timer_in(s->timer, secs);
}

/* A 200 answer: 0 with the credentials in place, -1 with s->why. */
static int
sts_take(struct krx_aws_sts *s, const char *body, size_t len)
{
	struct krx_kms_aws_creds	 c;
	struct krx_secret		*exp;
	const char			*p, *end;
	time_t				 t, now = time(NULL);
	long				 life, renew;

	memset(&c, 0, sizeof(c));
	exp = NULL;
	if ((p = memmem(body, len, "<Credentials>", 13)) == NULL ||
	    (end = memmem(p, len - (size_t)(p - body), "</Credentials>",
	    14)) == NULL ||
	    (c.access_key = sts_xml_value(p, end, "AccessKeyId")) == NULL ||
	    (c.secret_key = sts_xml_value(p, end, "SecretAccessKey")) ==
	    NULL ||
	    (c.session_token = sts_xml_value(p, end, "SessionToken")) ==
	    NULL ||
	    (exp = sts_xml_value(p, end, "Expiration")) == NULL ||
	    (t = krx_kms_aws_time((const char *)exp->data,
	    strlen((const char *)exp->data))) == -1) {
		snprintf(s->why, sizeof(s->why), "STS answered without "
		    "usable Credentials");
		goto fail;
	}
	if ((life = (long)(t - now)) <= 0) {
		snprintf(s->why, sizeof(s->why), "STS answered credentials "
		    "that have expired (check the clock)");
		goto fail;
	}
	krx_kms_aws_creds_clear(s->creds);
	*s->creds = c;
	s->expires = t;
	s->failures = 0;
	s->why[0] = '\0';
	renew = krx_kms_aws_renew_in(s->factor, life);
	log_info("AwsKmsService: web identity credentials for role %s "
	    "obtained, valid %ld s, renewed in %ld s", s->role_arn, life,
	    renew);
	krx_kms_timer_in(s->timer, renew);
	krx_secret_free(exp);
	s->fresh(s->arg);
	return 0;
fail:
	krx_kms_aws_creds_clear(&c);
	krx_secret_free(exp);
	return -1;
}

static void
sts_done(void *arg, const struct krx_http_resp *r)
{
	struct krx_aws_sts	*s = arg;
	struct krx_secret	*code;
	const char		*b = (const char *)r->body;

	s->hc = NULL;
	if (r->error != KRX_HTTP_OK) {
		snprintf(s->why, sizeof(s->why), "STS unreachable (%s: %.120s)",
		    krx_http_strerror(r->error), r->why);
	} else if (r->status == 200) {
		if (sts_take(s, b, r->body_len) == 0)
			return;
	} else {
		/* <Error><Code>..</Code>: the code only (no message). */
		code = sts_xml_value(b, b + r->body_len, "Code");
		snprintf(s->why, sizeof(s->why), "STS refused "
		    "AssumeRoleWithWebIdentity (HTTP %ld%s%.64s)", r->status,
		    code != NULL ? ", " : "", code != NULL ?
		    (const char *)code->data : "");
		krx_secret_free(code);
	}
	sts_failed(s);
}

static void
sts_fetch(struct krx_aws_sts *s)
{
	struct krx_http_req	 req;
	struct krx_secret	*tok;
	struct krx_buf		 body;
	const char		*hdrs[1];
	char			 dur[16];

	if (s->expires != 0 && time(NULL) >= s->expires) {
		krx_kms_aws_creds_clear(s->creds);
		s->expires = 0;
		log_warnx("AwsKmsService: web identity credentials for role "
		    "%s expired", s->role_arn);
	}
	if (krx_kms_aws_read_secret(s->token_file, "web identity token",
	    &tok) != 0) {
		snprintf(s->why, sizeof(s->why), "cannot read the web "
		    "identity token file %.120s", s->token_file);
		sts_failed(s);
		return;
	}
	krx_buf_init(&body, 1024 + tok->len * 3);
	sts_put_form(&body, "Action", "AssumeRoleWithWebIdentity", 25);
	sts_put_form(&body, "Version", STS_VERSION, strlen(STS_VERSION));
	sts_put_form(&body, "RoleArn", s->role_arn, strlen(s->role_arn));
	sts_put_form(&body, "RoleSessionName", s->session_name,
	    strlen(s->session_name));
	sts_put_form(&body, "WebIdentityToken", (const char *)tok->data,
	    strlen((const char *)tok->data));
	if (s->duration > 0) {
		snprintf(dur, sizeof(dur), "%d", s->duration);
		sts_put_form(&body, "DurationSeconds", dur, strlen(dur));
	}
	krx_secret_free(tok);
	if (body.err != KRX_OK)
		fatalx("out of memory for an STS request");
	hdrs[0] = "Content-Type: application/x-www-form-urlencoded";
	memset(&req, 0, sizeof(req));
	req.method = KRX_HTTP_POST;
	req.url = s->url;
	req.headers = hdrs;
	req.nheaders = 1;
	req.body = body.data;
	req.body_len = body.len;
	s->hc = krx_http_request(s->http, &req, sts_done, s);
	krx_buf_free_secret(&body);
	if (s->hc == NULL) {
		snprintf(s->why, sizeof(s->why), "STS request refused "
		    "(too many KMS requests queued)");
		sts_failed(s);
	}
}

static void
sts_timer(evutil_socket_t fd, short what, void *arg)
{
	sts_fetch(arg);
}

struct krx_aws_sts *
krx_aws_sts_new(struct event_base *base, const struct krx_conf_kms_aws *conf,
    struct krx_http *http, struct krx_kms_aws_creds *creds,
    void (*fresh)(void *), void *arg)
{
	struct krx_aws_sts	*s;
	const char		*arn, *file, *name;
	char			 url[512];

	arn = sts_setting(conf->role_arn, "AWS_ROLE_ARN");
	file = sts_setting(conf->web_identity_token_file,
	    "AWS_WEB_IDENTITY_TOKEN_FILE");
	name = sts_setting(conf->role_session_name, "AWS_ROLE_SESSION_NAME");
	if (arn == NULL || file == NULL) {
		log_warnx("AwsKmsService: webIdentity needs roleArn and "
		    "webIdentityTokenFile (or AWS_ROLE_ARN and "
		    "AWS_WEB_IDENTITY_TOKEN_FILE in the environment)");
		return NULL;
	}
	if (strpbrk(arn, "\r\n") != NULL || file[0] != '/') {
		log_warnx("AwsKmsService: webIdentity: a malformed roleArn, "
		    "or a webIdentityTokenFile that is not an absolute path");
		return NULL;
	}
	s = xcalloc(1, sizeof(*s));
	s->http = http;
	s->creds = creds;
	s->fresh = fresh;
	s->arg = arg;
	s->role_arn = xstrdup(arn);
	s->token_file = xstrdup(file);
	s->session_name = xstrdup(name != NULL ? name : "krx-keysvc");
	if (conf->sts_endpoint_url != NULL)
		s->url = xstrdup(conf->sts_endpoint_url);
	else {
		snprintf(url, sizeof(url), "https://sts.%s.amazonaws.com/",
		    conf->region);
		s->url = xstrdup(url);
	}
	s->duration = conf->duration_seconds;
	s->factor = conf->lifetime_factor > 0 && conf->lifetime_factor < 1 ?
	    conf->lifetime_factor : 0.8;
	snprintf(s->why, sizeof(s->why), "waiting for STS");
	if ((s->timer = evtimer_new(base, sts_timer, s)) == NULL)
		fatalx("evtimer_new failed");
	sts_fetch(s);
	return s;
}

void
krx_aws_sts_free(struct krx_aws_sts *s)
{
	if (s == NULL)
		return;
	krx_http_cancel(s->hc);
	if (s->timer != NULL)
		event_free(s->timer);
	free(s->role_arn);
	free(s->token_file);
	free(s->session_name);
	free(s->url);
	free(s);
}

const char *
krx_aws_sts_why(const struct krx_aws_sts *s)
{
	return s->why[0] != '\0' ? s->why : "credentials expired";
}
