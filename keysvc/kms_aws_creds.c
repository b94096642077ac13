/*
 * kms_aws_creds.c: what AwsKmsService's credential sources share (the
 * contract is in kms_aws.h): credential files read into locked memory,
 * the three secrets freed together, AWS's ISO 8601 times, and when to
 * renew temporary credentials or try again after a failure. Runs in
 * keysvc; trusts the configuration's paths, nothing in the files or
 * the times (bounded, checked); logs never carry file contents.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "crypto/secret.h"
#include "keysvc/kms_aws.h"
#include "keysvc/kms_tls.h"

#define AWS_SECRET_MAX		8192	/* bytes of a credential file */
#define AWS_RENEW_MIN		5	/* seconds: never renew more often */
#define AWS_RETRY_MIN		5	/* seconds after a first failure */
#define AWS_RETRY_MAX		60

/*
 * A credential file: its first line, surrounding blanks removed, into a
 * NUL-terminated secret. 0, or -1 (logged, without the content).
 */
int
krx_kms_aws_read_secret(const char *path, const char *what,
    struct krx_secret **out)
{
	struct krx_secret	*f;
	const uint8_t		*d;
	const char		*why;
	size_t			 b, e, i;
	int			 r = -1;

	*out = NULL;
	if ((f = krx_tlsctx_read_secret(path, AWS_SECRET_MAX, &why)) == NULL) {
		log_warnx("AwsKmsService: the %s file %s: %s", what, path,
		    why);
		return -1;
	}
	d = f->data;
	for (e = 0; e < f->len && d[e] != '\n' && d[e] != '\r'; e++)
		;
	for (b = 0; b < e && (d[b] == ' ' || d[b] == '\t'); b++)
		;
	while (e > b && (d[e - 1] == ' ' || d[e - 1] == '\t'))
		e--;
	for (i = b; i < e && d[i] >= 0x21 && d[i] <= 0x7e; i++)
		;
	if (e == b)
		log_warnx("AwsKmsService: the %s file %s is empty", what, path);
	else if (i < e)
		log_warnx("AwsKmsService: the %s file %s holds characters a "
		    "credential cannot have", what, path);
	else {
		if ((*out = krx_secret_new(e - b + 1)) == NULL)
			fatalx("out of memory for a credential");
		memcpy((*out)->data, d + b, e - b);
		(*out)->data[e - b] = '\0';
		r = 0;
	}
	krx_secret_free(f);
	return r;
}

void
krx_kms_aws_creds_clear(struct krx_kms_aws_creds *c)
{
	krx_secret_free(c->access_key);
	krx_secret_free(c->secret_key);
	krx_secret_free(c->session_token);
	memset(c, 0, sizeof(*c));
}

time_t
krx_kms_aws_time(const char *s, size_t len)
{
	char		 buf[40];
	struct tm	 tm;
	size_t		 i;
	int		 n = 0;

	/* 2026-01-02T03:04:05Z, or with a fraction: .123Z */
	if (len < 20 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	memset(&tm, 0, sizeof(tm));
	if (sscanf(buf, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year,
	    &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec,
	    &n) != 6 || n != 19)
		return -1;
	i = (size_t)n;
	if (buf[i] == '.')
		for (i++; buf[i] >= '0' && buf[i] <= '9'; i++)
			;
	/* Z, or the same offset spelled +00:00 */
	if (!((buf[i] == 'Z' && i + 1 == len) ||
	    (strcmp(buf + i, "+00:00") == 0)) || tm.tm_year < 1970 ||
	    tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
	    tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
	    tm.tm_sec > 60)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return timegm(&tm);
}

long
krx_kms_aws_renew_in(double factor, long life)
{
	long	 r;

	if (!(factor > 0 && factor < 1))
		factor = 0.8;
	r = life > 0 ? (long)(factor * (double)life) : 0;
	return r < AWS_RENEW_MIN ? AWS_RENEW_MIN : r;
}

long
krx_kms_aws_retry_in(int failures)
{
	long	 secs = AWS_RETRY_MIN;
	int	 i;

	for (i = 0; i < failures && secs < AWS_RETRY_MAX; i++)
		secs *= 2;
	return secs > AWS_RETRY_MAX ? AWS_RETRY_MAX : secs;
}
