/*
 * kms_aws_test.c: AwsKmsService's error mapping and credential files
 * (keysvc/kms_aws.c, built into this test with the keysvc files it
 * calls): each AWS error type to its key status and whether it is
 * retried (a not-found never is), the guide's "pending deletion"
 * answer, namespaced __type values, details that name the failure and
 * never carry what an authentication error may quote, untrusted text
 * cut and cleaned, bodies that are not JSON; credential files trimmed,
 * refused when empty, spaced or missing.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "keysvc/http.c"
#include "keysvc/kms.c"
#include "keysvc/kms_aws.c"
#include "keysvc/kms_aws_sts.c"
#include "keysvc/kms_flight.c"
#include "keysvc/kms_local.c"

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
