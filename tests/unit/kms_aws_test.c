/*
 * kms_aws_test.c: AwsKmsService's error mapping and credential files
 * (keysvc/kms_aws.c, built into this test with the keysvc files it
 * calls): each AWS error type to its key status and whether it is
 * retried (a not-found never is), the guide's "pending deletion"
 * answer, namespaced __type values, details that name the failure and
 * never carry what an authentication error may quote, untrusted text
 * cut and cleaned, bodies that are not JSON; credential files trimmed,
 * refused when empty, spaced or missing; STS's XML answer; AWS times,
 * renewal and retry delays; IMDS's base URL and credentials document;
 * and the provider against a loopback server: 1,000 concurrent
 * decrypts of one EDEK make one signed KMS request, whose headers and
 * body are as AWS wants them and carry no secret key.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <openssl/pem.h>

#include "keysvc/http.c"
#include "keysvc/kms.c"
#include "keysvc/kms_common.c"
#include "keysvc/kms_aws.c"
#include "keysvc/kms_aws_creds.c"
#include "keysvc/kms_aws_imds.c"
#include "keysvc/kms_aws_sts.c"
#include "keysvc/kms_flight.c"
#include "keysvc/kms_local.c"
#include "keysvc/kms_tls.c"

/*
 * kms.c's table names every provider; the Vault one is not under test
 * here (tests/integration/test_kms_vault.py is its test).
 */
const struct krx_kms_ops krx_kms_vault_ops = { .name = "VaultKmsService" };
const struct krx_kms_ops krx_kms_azure_ops = { .name = "AzureKeyVaultKmsService" };
#include "tests/unit/http_testsrv.h"

static char	 D[KRX_KMS_AWS_DETAIL];

static enum krx_key_status
map(long status, const char *body)
{
	return krx_kms_aws_error(status, (const uint8_t *)body, strlen(body),
	    D, sizeof(D));
}

static int
retry(long status, const char *body)
{
	return krx_kms_aws_retry(status, (const uint8_t *)body, strlen(body));
}

Test(kms_aws, not_found)
{
	static const char	 nf[] = "{\"__type\":\"NotFoundException\","
	    "\"message\":\"Alias arn:aws:kms:us-east-1:1:alias/KEK-x is not "
	    "found.\"}";

	cr_assert_eq(map(400, nf), KRX_KEY_NOT_FOUND);
	cr_assert(strncmp(D, "not found", 9) == 0, "%s", D);
	cr_assert(strstr(D, "NotFoundException") != NULL, "%s", D);
	cr_assert(strstr(D, "alias/KEK-x is not found.") != NULL, "%s", D);
	cr_assert(strstr(D, "HTTP 400") != NULL, "%s", D);
	cr_assert_eq(retry(400, nf), 0);
	/* Namespaced type, and "Message" spelled as some services do. */
	cr_assert_eq(map(400, "{\"__type\":\"com.amazonaws.kms#"
	    "NotFoundException\",\"Message\":\"gone\"}"), KRX_KEY_NOT_FOUND);
	cr_assert(strstr(D, ", NotFoundException: gone)") != NULL, "%s", D);
}

Test(kms_aws, pending_deletion_is_not_found)
{
	/* The answer quoted by the product guide's "lost KEK" page. */
	static const char	 pd[] = "{\"__type\":\"KMSInvalidStateException"
	    "\",\"message\":\"arn:aws:kms:us-east-1:000000000000:key/"
	    "d691a642-d8b4-4445-b668-d390df7000bb is pending deletion.\"}";

	cr_assert_eq(map(400, pd), KRX_KEY_NOT_FOUND);
	cr_assert(strstr(D, "pending deletion") != NULL, "%s", D);
	cr_assert_eq(retry(400, pd), 0);
	/* Another invalid state (disabled) is not a missing key. */
	cr_assert_eq(map(400, "{\"__type\":\"KMSInvalidStateException\","
	    "\"message\":\"key/abc is disabled.\"}"), KRX_KEY_UNAVAILABLE);
	cr_assert_eq(map(400, "{\"__type\":\"DisabledException\","
	    "\"message\":\"key/abc is disabled.\"}"), KRX_KEY_UNAVAILABLE);
	cr_assert(strncmp(D, "refused", 7) == 0, "%s", D);
}

Test(kms_aws, access_denied)
{
	cr_assert_eq(map(400, "{\"__type\":\"AccessDeniedException\","
	    "\"message\":\"User: arn:aws:iam::1:user/krx is not authorized "
	    "to perform: kms:Decrypt\"}"), KRX_KEY_DENIED);
	cr_assert(strncmp(D, "access denied", 13) == 0, "%s", D);
	cr_assert(strstr(D, "kms:Decrypt") != NULL, "%s", D);
	cr_assert_eq(map(403, "not json"), KRX_KEY_DENIED);
	cr_assert_eq(retry(400, "{\"__type\":\"AccessDeniedException\"}"), 0);
}

Test(kms_aws, authentication_messages_left_out)
{
	static const char	 sig[] = "{\"__type\":\"InvalidSignatureException"
	    "\",\"message\":\"The request signature we calculated does not "
	    "match. The Canonical String for this request should have been "
	    "'POST / x-amz-security-token:SESSION-TOKEN-VALUE'\"}";

	cr_assert_eq(map(400, sig), KRX_KEY_DENIED);
	cr_assert(strstr(D, "SESSION-TOKEN-VALUE") == NULL, "%s", D);
	cr_assert(strstr(D, "InvalidSignatureException") != NULL, "%s", D);
	cr_assert_eq(map(400, "{\"__type\":\"UnrecognizedClientException\","
	    "\"message\":\"The security token AKIDSECRET is invalid.\"}"),
	    KRX_KEY_DENIED);
	cr_assert(strstr(D, "AKIDSECRET") == NULL, "%s", D);
	cr_assert_eq(map(400, "{\"__type\":\"ExpiredTokenException\"}"),
	    KRX_KEY_DENIED);
}

Test(kms_aws, invalid_ciphertext)
{
	cr_assert_eq(map(400, "{\"__type\":\"InvalidCiphertextException\"}"),
	    KRX_KEY_INVALID);
	cr_assert(strncmp(D, "EDEK rejected", 13) == 0, "%s", D);
	cr_assert_eq(map(400, "{\"__type\":\"IncorrectKeyException\"}"),
	    KRX_KEY_INVALID);
}

Test(kms_aws, throttling_and_server_errors_retried)
{
	static const char	 thr[] = "{\"__type\":\"ThrottlingException\","
	    "\"message\":\"Rate exceeded\"}";

	cr_assert_eq(retry(400, thr), 1);
	cr_assert_eq(map(400, thr), KRX_KEY_UNAVAILABLE);
	cr_assert(strncmp(D, "unavailable", 11) == 0, "%s", D);
	cr_assert_eq(retry(500, "{\"__type\":\"KMSInternalException\"}"), 1);
	cr_assert_eq(retry(503, ""), 1);
	cr_assert_eq(retry(429, ""), 1);
	cr_assert_eq(retry(408, ""), 1);
	cr_assert_eq(map(503, "<html>busy</html>"), KRX_KEY_UNAVAILABLE);
	cr_assert_eq(strcmp(D, "unavailable (HTTP 503)"), 0, "%s", D);
	/* "Throttl" inside a message is not a throttling type. */
	cr_assert_eq(retry(400, "{\"__type\":\"ValidationException\","
	    "\"message\":\"Throttling is not it\"}"), 0);
	cr_assert_eq(retry(400, "{\"__type\":\"ValidationException\"}"), 0);
	cr_assert_eq(retry(404, "{}"), 0);
}

Test(kms_aws, untrusted_bodies)
{
	char	 big[4096];
	size_t	 n;

	/* Not JSON, truncated JSON, JSON without the fields. */
	cr_assert_eq(map(400, "{\"__type\":\"NotFoundExc"),
	    KRX_KEY_UNAVAILABLE);
	cr_assert_eq(map(418, "[]"), KRX_KEY_UNAVAILABLE);
	cr_assert_eq(strcmp(D, "refused (HTTP 418)"), 0, "%s", D);
	cr_assert_eq(map(400, "{\"__type\":7}"), KRX_KEY_UNAVAILABLE);
	/* A duplicated __type is ambiguous: ignored. */
	cr_assert_eq(map(400, "{\"__type\":\"NotFoundException\","
	    "\"__type\":\"AccessDeniedException\"}"), KRX_KEY_UNAVAILABLE);
	/* Control characters and non-ASCII become '?'. */
	cr_assert_eq(map(400, "{\"__type\":\"AccessDeniedException\","
	    "\"message\":\"a\\nb\\u001b[31m\\u00e9\"}"), KRX_KEY_DENIED);
	cr_assert(strstr(D, "a?b?[31m??") != NULL, "%s", D);
	/* A long message is cut; the detail stays bounded. */
	n = (size_t)snprintf(big, sizeof(big), "{\"__type\":"
	    "\"NotFoundException\",\"message\":\"");
	memset(big + n, 'm', 3000);
	snprintf(big + n + 3000, sizeof(big) - n - 3000, "\"}");
	cr_assert_eq(map(400, big), KRX_KEY_NOT_FOUND);
	cr_assert(strlen(D) < sizeof(D));
	/* Never past len: a body cut inside a string. */
	cr_assert_eq(krx_kms_aws_error(400, (const uint8_t *)
	    "{\"__type\":\"NotFoundException\"}", 20, D, sizeof(D)),
	    KRX_KEY_UNAVAILABLE);
}

static const char *
tmpfile_with(const char *content)
{
	static char	 path[64];
	FILE		*f;

	snprintf(path, sizeof(path), "/tmp/krx-aws-test-%d", (int)getpid());
	cr_assert_not_null(f = fopen(path, "w"));
	fputs(content, f);
	fclose(f);
	return path;
}

Test(kms_aws, credential_files)
{
	static const struct { const char *in, *want; } cases[] = {
		{ "AKIDEXAMPLE\n", "AKIDEXAMPLE" },
		{ "  wJalr/K7MDENG+bPxRfiCY\t\r\nsecond line\n",
		    "wJalr/K7MDENG+bPxRfiCY" },
		{ "no-newline", "no-newline" },
		{ "", NULL },
		{ "\n\n", NULL },
		{ "two words\n", NULL },
		{ "bad\x01" "char\n", NULL },
	};
	struct krx_secret	*s;
	const char		*p;
	size_t			 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		p = tmpfile_with(cases[i].in);
		if (cases[i].want == NULL) {
			cr_assert_eq(krx_kms_aws_read_secret(p, "test", &s), -1,
			    "case %zu", i);
			cr_assert_null(s);
			continue;
		}
		cr_assert_eq(krx_kms_aws_read_secret(p, "test", &s), 0,
		    "case %zu", i);
		cr_assert_str_eq((const char *)s->data, cases[i].want);
		krx_secret_free(s);
	}
	unlink(p);
	cr_assert_eq(krx_kms_aws_read_secret("/nonexistent/krx", "test", &s),
	    -1);
	cr_assert_eq(krx_kms_aws_read_secret("/tmp", "test", &s), -1);
}

Test(kms_aws, alias_and_key_id_sets)
{
	cr_assert(aws_alias_ok("KEK-orders", 10));
	cr_assert(aws_alias_ok("team/KEK_1", 10));
	cr_assert(!aws_alias_ok("KEK-orders.v1", 13));	/* AWS has no '.' */
	cr_assert(!aws_alias_ok("aws/ebs", 7));		/* AWS managed */
	cr_assert(!aws_alias_ok("", 0));
	cr_assert(aws_key_id_ok("1234abcd-12ab-34cd-56ef-1234567890ab", 36));
	cr_assert(aws_key_id_ok("arn:aws:kms:us-east-1:1:key/mrk-1", 33));
	cr_assert(!aws_key_id_ok("a\"b", 3));
	cr_assert(!aws_key_id_ok("", 0));
}

Test(kms_aws, sts_xml)
{
	static const char	 x[] = "<R><Credentials><AccessKeyId>ASIAX"
	    "</AccessKeyId><SecretAccessKey>a+b/c&amp;d</SecretAccessKey>"
	    "<SessionToken>tok=</SessionToken><Empty></Empty>"
	    "<Spaced>a b</Spaced><Ent>&bogus;</Ent>"
	    "<Expiration>2026-01-02T03:04:05.123456Z</Expiration>"
	    "</Credentials></R>";
	const char		*end = x + sizeof(x) - 1;
	struct krx_secret	*v;

	v = sts_xml_value(x, end, "AccessKeyId");
	cr_assert_str_eq((const char *)v->data, "ASIAX");
	krx_secret_free(v);
	v = sts_xml_value(x, end, "SecretAccessKey");
	cr_assert_str_eq((const char *)v->data, "a+b/c&d");
	krx_secret_free(v);
	cr_assert_null(sts_xml_value(x, end, "Empty"));
	cr_assert_null(sts_xml_value(x, end, "Spaced"));
	cr_assert_null(sts_xml_value(x, end, "Ent"));
	cr_assert_null(sts_xml_value(x, end, "Missing"));
	/* Cut before the closing tag. */
	cr_assert_null(sts_xml_value(x, strstr(x, "</SessionToken>") + 3,
	    "SessionToken"));
	v = sts_xml_value(x, end, "Expiration");
	cr_assert_eq(krx_kms_aws_time((const char *)v->data,
	    strlen((const char *)v->data)), (time_t)1767323045);
	krx_secret_free(v);
}

static time_t
awstime(const char *s)
{
	return krx_kms_aws_time(s, strlen(s));
}

Test(kms_aws, times)
{
	static const char *const bad[] = {
		"", "2026-01-02T03:04:05", "2026-01-02T03:04:05ZZ",
		"2026-01-02 03:04:05Z", "2026-13-02T03:04:05Z",
		"2026-01-02T24:04:05Z", "2026-01-02T03:04:05+01:00",
		"2026-01-02T03:04:05.Zx", "26-01-02T03:04:05Z",
		"2026-01-02T03:04:05.123456789012345678901Z",
	};
	size_t	 i;

	cr_assert_eq(awstime("2026-01-02T03:04:05Z"), (time_t)1767323045);
	cr_assert_eq(awstime("2026-01-02T03:04:05.5Z"), (time_t)1767323045);
	cr_assert_eq(awstime("2026-01-02T03:04:05+00:00"),
	    (time_t)1767323045);
	cr_assert_eq(awstime("1970-01-01T00:00:00Z"), (time_t)0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(awstime(bad[i]), (time_t)-1, "%s", bad[i]);
	/* Not NUL-terminated: only len bytes are read. */
	cr_assert_eq(krx_kms_aws_time("2026-01-02T03:04:05Zjunk", 20),
	    (time_t)1767323045);
}

Test(kms_aws, renewal_and_retry_times)
{
	cr_assert_eq(krx_kms_aws_renew_in(0.8, 3600), 2880);
	cr_assert_eq(krx_kms_aws_renew_in(0.5, 3600), 1800);
	/* Out of (0, 1): Kroxylicious' default. */
	cr_assert_eq(krx_kms_aws_renew_in(0, 100), 80);
	cr_assert_eq(krx_kms_aws_renew_in(1.5, 100), 80);
	/* Never sooner than 5 s, even for nearly expired credentials. */
	cr_assert_eq(krx_kms_aws_renew_in(0.8, 4), 5);
	cr_assert_eq(krx_kms_aws_renew_in(0.8, -10), 5);
	cr_assert_eq(krx_kms_aws_retry_in(0), 5);
	cr_assert_eq(krx_kms_aws_retry_in(1), 10);
	cr_assert_eq(krx_kms_aws_retry_in(3), 40);
	cr_assert_eq(krx_kms_aws_retry_in(4), 60);
	cr_assert_eq(krx_kms_aws_retry_in(1000), 60);
}

Test(kms_aws, imds_base)
{
	char	 b[64];

	cr_assert_eq(krx_kms_aws_imds_base("http://169.254.169.254/", b,
	    sizeof(b)), 0);
	cr_assert_str_eq(b, "http://169.254.169.254");
	cr_assert_eq(krx_kms_aws_imds_base("http://[fd00:ec2::254]:80/x/y?q",
	    b, sizeof(b)), 0);
	cr_assert_str_eq(b, "http://[fd00:ec2::254]:80");
	cr_assert_eq(krx_kms_aws_imds_base("http://127.0.0.1:8080", b,
	    sizeof(b)), 0);
	cr_assert_str_eq(b, "http://127.0.0.1:8080");
	cr_assert_eq(krx_kms_aws_imds_base("ftp://h/", b, sizeof(b)), -1);
	cr_assert_eq(krx_kms_aws_imds_base("http:///x", b, sizeof(b)), -1);
	cr_assert_eq(krx_kms_aws_imds_base("http://u:p@h/", b, sizeof(b)),
	    -1);
	cr_assert_eq(krx_kms_aws_imds_base("http://169.254.169.254/", b, 10),
	    -1);
}

static int
imds(const char *doc, struct krx_kms_aws_creds *c, time_t *exp,
    const char **why)
{
	return krx_kms_aws_imds_parse(doc, strlen(doc), c, exp, why);
}

Test(kms_aws, imds_document)
{
	static const char	 ok[] = "{\"Code\" : \"Success\", "
	    "\"LastUpdated\" : \"2026-01-02T02:04:05Z\", \"Type\" : "
	    "\"AWS-HMAC\", \"AccessKeyId\" : \"ASIAIMDS\", "
	    "\"SecretAccessKey\" : \"s3cr\\/et\", \"Token\" : \"tok+en=\", "
	    "\"Expiration\" : \"2026-01-02T03:04:05Z\"}";
	static const char *const bad[] = {
		"not json", "[]", "{}",
		"{\"Code\":\"Failure\",\"AccessKeyId\":\"a\","
		    "\"SecretAccessKey\":\"b\",\"Token\":\"c\","
		    "\"Expiration\":\"2026-01-02T03:04:05Z\"}",
		"{\"Code\":\"Success\",\"AccessKeyId\":\"a\","
		    "\"SecretAccessKey\":\"b\",\"Token\":\"c\","
		    "\"Expiration\":\"soon\"}",
		"{\"Code\":\"Success\",\"AccessKeyId\":\"a\","
		    "\"SecretAccessKey\":\"b\","
		    "\"Expiration\":\"2026-01-02T03:04:05Z\"}",
		"{\"Code\":\"Success\",\"AccessKeyId\":\"a b\","
		    "\"SecretAccessKey\":\"b\",\"Token\":\"c\","
		    "\"Expiration\":\"2026-01-02T03:04:05Z\"}",
		"{\"Code\":\"Success\",\"AccessKeyId\":\"a\","
		    "\"SecretAccessKey\":\"\",\"Token\":\"c\","
		    "\"Expiration\":\"2026-01-02T03:04:05Z\"}",
		"{\"Code\":\"Success\",\"AccessKeyId\":\"a\","
		    "\"AccessKeyId\":\"z\",\"SecretAccessKey\":\"b\","
		    "\"Token\":\"c\",\"Expiration\":\"2026-01-02T03:04:05Z\"}",
		"{\"Code\":\"Success\",\"AccessKeyId\":1,"
		    "\"SecretAccessKey\":\"b\",\"Token\":\"c\","
		    "\"Expiration\":\"2026-01-02T03:04:05Z\"}",
	};
	struct krx_kms_aws_creds	 c;
	const char			*why = NULL;
	char				 big[IMDS_VALUE_MAX + 200];
	time_t				 exp;
	size_t				 i;

	cr_assert_eq(imds(ok, &c, &exp, &why), 0);
	cr_assert_str_eq((const char *)c.access_key->data, "ASIAIMDS");
	cr_assert_str_eq((const char *)c.secret_key->data, "s3cr/et");
	cr_assert_str_eq((const char *)c.session_token->data, "tok+en=");
	cr_assert_eq(exp, (time_t)1767323045);
	krx_kms_aws_creds_clear(&c);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		cr_assert_eq(imds(bad[i], &c, &exp, &why), -1, "%s", bad[i]);
		cr_assert_not_null(why);
		cr_assert_null(c.access_key);
		cr_assert_null(c.session_token);
		/* The reason never quotes the document. */
		cr_assert_null(strstr(why, "a b"));
	}
	/* A value over IMDS_VALUE_MAX bytes is refused, not cut. */
	snprintf(big, sizeof(big), "{\"Code\":\"Success\",\"AccessKeyId\":"
	    "\"a\",\"SecretAccessKey\":\"b\",\"Expiration\":"
	    "\"2026-01-02T03:04:05Z\",\"Token\":\"");
	i = strlen(big);
	memset(big + i, 'x', IMDS_VALUE_MAX + 1);
	memcpy(big + i + IMDS_VALUE_MAX + 1, "\"}", 3);
	cr_assert_eq(imds(big, &c, &exp, &why), -1);
	big[i + IMDS_VALUE_MAX] = '"';
	big[i + IMDS_VALUE_MAX + 1] = '}';
	big[i + IMDS_VALUE_MAX + 2] = '\0';
	cr_assert_eq(imds(big, &c, &exp, &why), 0);
	cr_assert_eq(strlen((const char *)c.session_token->data),
	    IMDS_VALUE_MAX);
	krx_kms_aws_creds_clear(&c);
	/* More values than IMDS_TOKENS: refused. */
	snprintf(big, sizeof(big), "{\"Code\":\"Success\",\"x\":[");
	for (i = 0; i < IMDS_TOKENS; i++)
		strcat(big, "1,");
	strcat(big, "1]}");
	cr_assert_eq(imds(big, &c, &exp, &why), -1);
}

/* ---- the provider against a loopback server ---- */

static struct event_base		*base;
static int				 answers, want;
static enum krx_key_status		 tls_status;	/* keeps a detail */
static struct krx_conf_encryption	 enc;
static struct krx_kms			 K;
static char				 url[64], ak[64], sk[64];

static void
on_answer(void *arg, const struct krx_kms_result *r)
{
	enum krx_key_status	*st = arg;

	*st = r->status;
	if (arg == &tls_status)
		snprintf(D, sizeof(D), "%s", r->detail ? r->detail : "");
	if (++answers == want)
		event_base_loopbreak(base);
}

static void
on_guard(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(base);
}

static void
run_until(int n)
{
	struct timeval	 tv = { 10, 0 };
	struct event	*guard = evtimer_new(base, on_guard, NULL);

	want = n;
	evtimer_add(guard, &tv);
	if (answers < want)
		event_base_dispatch(base);
	event_free(guard);
	cr_assert_eq(answers, n);
}

static void
write_file(const char *path, const char *text)
{
	FILE	*f;

	cr_assert_not_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
}

/* K: AwsKmsService at url (scheme given), long-term credentials. */
static void
provider_open(const char *scheme, const char *ca_file)
{
	signal(SIGPIPE, SIG_IGN);
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("https_proxy");
	unsetenv("HTTPS_PROXY");
	cr_assert_not_null(base = event_base_new());
	snprintf(url, sizeof(url), "%s://127.0.0.1:%d", scheme, S.port);
	snprintf(ak, sizeof(ak), "/tmp/krx-aws-ak-%d", (int)getpid());
	snprintf(sk, sizeof(sk), "/tmp/krx-aws-sk-%d", (int)getpid());
	write_file(ak, "AKIDTEST\n");
	write_file(sk, "SECRETKEYVALUE\n");
	memset(&enc, 0, sizeof(enc));
	enc.kms = "AwsKmsService";
	enc.kms_conf.kind = KRX_CONF_KMS_AWS;
	enc.kms_conf.connect_timeout = 5;
	enc.kms_conf.request_timeout = 5;
	enc.kms_conf.aws.endpoint_url = url;
	enc.kms_conf.aws.region = "eu-west-1";
	enc.kms_conf.aws.creds = KRX_CONF_AWS_LONG_TERM;
	enc.kms_conf.aws.access_key_id_file = ak;
	enc.kms_conf.aws.secret_access_key_file = sk;
	enc.kms_conf.tls.present = ca_file != NULL;
	enc.kms_conf.tls.trust_file = (char *)ca_file;
	enc.kms_conf.tls.trust_type = KRX_CONF_STORE_PEM;
	memset(&K, 0, sizeof(K));
	K.ops = &krx_kms_aws_ops;
	K.conf = &enc;
	K.base = base;
	cr_assert_eq(K.ops->open(&K), 0);
}

static void
provider_close(void)
{
	K.ops->close(&K);
	event_base_free(base);
	unlink(ak);
	unlink(sk);
}

/* Decrypt attempts counted, all exceptions. */
static uint64_t
decrypt_attempts(const struct krx_kms *k)
{
	struct krx_kms_counters	 c;

	memset(&c, 0, sizeof(c));
	k->ops->counters(k, &c);
	cr_assert_eq(c.outcomes[KRX_KMS_OP_DECRYPT][KRX_KMS_EXCEPTION],
	    c.attempts[KRX_KMS_OP_DECRYPT]);
	return c.attempts[KRX_KMS_OP_DECRYPT];
}

Test(kms_aws, one_request_for_many_decrypts, .timeout = 30)
{
	static enum krx_key_status	 st[1000];
	struct krx_edek_aws		 e;
	struct krx_buf			 edek;
	struct srv_seen			 s;
	size_t				 i;

	memset(&S, 0, sizeof(S));
	srv_start();
	provider_open("http", NULL);
	memset(&e, 0, sizeof(e));
	e.key_id = "1234abcd-12ab-34cd-56ef-1234567890ab";
	e.key_id_len = 36;
	e.blob = (const uint8_t *)"\x01\x02\x03" "blob";
	e.blob_len = 7;
	krx_buf_init(&edek, 0);
	cr_assert_eq(krx_edek_aws_serialize(&e, &edek), KRX_OK);
	answers = 0;
	for (i = 0; i < 1000; i++)
		K.ops->decrypt(&K, edek.data, edek.len, on_answer, &st[i]);
	run_until(1000);
	/* "hello" is no JSON answer: every waiter gets the one failure. */
	for (i = 0; i < 1000; i++)
		cr_assert_eq(st[i], KRX_KEY_UNAVAILABLE);
	s = seen();
	cr_assert_eq(s.requests, 1);
	cr_assert(strncmp(s.last, "POST / HTTP/1.1\r\n", 17) == 0, "%s",
	    s.last);
	cr_assert_not_null(strstr(s.last,
	    "\r\nX-Amz-Target: TrentService.Decrypt\r\n"));
	cr_assert_not_null(strstr(s.last,
	    "\r\nContent-Type: application/x-amz-json-1.1\r\n"));
	cr_assert_not_null(strstr(s.last, "Authorization: AWS4-HMAC-SHA256 "
	    "Credential=AKIDTEST/"), "%s", s.last);
	cr_assert_not_null(strstr(s.last, "/eu-west-1/kms/aws4_request"));
	cr_assert_not_null(strstr(s.last, "\r\nX-Amz-Date: "));
	cr_assert_null(strstr(s.last, "SECRETKEYVALUE"));
	cr_assert_str_eq(strstr(s.last, "\r\n\r\n") + 4,
	    "{\"KeyId\":\"1234abcd-12ab-34cd-56ef-1234567890ab\","
	    "\"CiphertextBlob\":\"AQIDYmxvYg==\"}");
	cr_assert_eq(decrypt_attempts(&K), 1);
	/* Not an AWS EDEK: answered at once, no request. */
	answers = 0;
	K.ops->decrypt(&K, (const uint8_t *)"\x01\x02xx", 4, on_answer,
	    &st[0]);
	cr_assert_eq(answers, 1);
	cr_assert_eq(st[0], KRX_KEY_INVALID);
	/* An alias AWS cannot hold: not found at once. */
	answers = 0;
	K.ops->resolve(&K, "KEK-a.b", 7, on_answer, &st[0]);
	cr_assert_eq(answers, 1);
	cr_assert_eq(st[0], KRX_KEY_NOT_FOUND);
	cr_assert_eq(seen().requests, 1);
	provider_close();
	krx_buf_free(&edek);
	srv_stop();
}

Test(kms_aws, tls_failure_is_named, .timeout = 30)
{
	char	 ca[] = "/tmp/krx-aws-ca-XXXXXX";
	FILE	*fp;
	int	 fd;

	memset(&S, 0, sizeof(S));
	tls_start();
	/* System trust only: the self-signed server is refused. */
	provider_open("https", NULL);
	answers = 0;
	K.ops->resolve(&K, "KEK-x", 5, on_answer, &tls_status);
	run_until(1);
	cr_assert_eq(tls_status, KRX_KEY_UNAVAILABLE);
	cr_assert(strncmp(D, "TLS failure: ", 13) == 0, "%s", D);
	provider_close();
	/* Its certificate as the PEM trust store: TLS works. */
	cr_assert_neq(fd = mkstemp(ca), -1);
	cr_assert_not_null(fp = fdopen(fd, "w"));
	cr_assert_eq(PEM_write_X509(fp, tls_cert), 1);
	fclose(fp);
	provider_open("https", ca);
	answers = 0;
	K.ops->resolve(&K, "KEK-x", 5, on_answer, &tls_status);
	run_until(1);
	cr_assert_eq(tls_status, KRX_KEY_UNAVAILABLE);
	cr_assert(strstr(D, "invalid answer") != NULL, "%s", D);
	provider_close();
	unlink(ca);
	tls_stop();
}
