/*
 * kms_aws.h: what AwsKmsService's files share (kms_aws.c, the provider;
 * kms_aws_creds.c, credential files and renewal times; kms_aws_sts.c,
 * web identity credentials; kms_aws_imds.c, EC2 instance metadata
 * credentials), and the pure functions exposed for unit tests. Program
 * grade; keysvc only.
 */
#ifndef KRX_KEYSVC_KMS_AWS_H
#define KRX_KEYSVC_KMS_AWS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "proto/ipc.h"

struct event_base;
struct krx_conf_kms_aws;
struct krx_http;
struct krx_secret;
struct krx_aws_sts;
struct krx_aws_imds;

/* Bytes of a failure's detail (logs, krx-ctl kms check). */
#define KRX_KMS_AWS_DETAIL	256

/*
 * The credentials requests are signed with: NUL-terminated secrets;
 * access_key NULL while there are none (web identity before its first
 * answer). session_token only with temporary credentials.
 */
struct krx_kms_aws_creds {
	struct krx_secret	*access_key;
	struct krx_secret	*secret_key;
	struct krx_secret	*session_token;
};

/*
 * A non-2xx answer of AWS KMS (status, body) as a key status, with a
 * detail for logs naming the failure ("not found (HTTP 400,
 * NotFoundException: ...)"): NotFoundException, or
 * KMSInvalidStateException whose message says "pending deletion", is
 * KRX_KEY_NOT_FOUND; AccessDeniedException and the authentication
 * errors (and 401, 403) KRX_KEY_DENIED; InvalidCiphertextException and
 * IncorrectKeyException KRX_KEY_INVALID; anything else
 * KRX_KEY_UNAVAILABLE. The message of authentication errors is left
 * out (it may quote what was signed); other messages are cut to
 * printable ASCII. Never reads past len.
 */
enum krx_key_status krx_kms_aws_error(long status, const uint8_t *body,
	    size_t len, char *detail, size_t dlen);
/*
 * Whether such an answer is worth another attempt: 408, 429, 5xx, and
 * a 400 ThrottlingException. Never a not-found.
 */
int	krx_kms_aws_retry(long status, const uint8_t *body, size_t len);

/*
 * Read the first line of a credential file (blanks around it removed;
 * printable ASCII without spaces) into a new NUL-terminated secret.
 * Returns 0, or -1 logged with the path and what it is, never the
 * content.
 */
int	krx_kms_aws_read_secret(const char *path, const char *what,
	    struct krx_secret **out);
/* Free the three secrets (wiped) and zero c. */
void	krx_kms_aws_creds_clear(struct krx_kms_aws_creds *c);

/*
 * An AWS time, len bytes at s: "2026-01-02T03:04:05Z", optionally with
 * a fraction of a second, and "+00:00" for the Z; seconds since the
 * epoch, or -1 for anything else.
 */
time_t	krx_kms_aws_time(const char *s, size_t len);
/*
 * Seconds until temporary credentials valid life more seconds are
 * renewed: factor (credentialLifetimeFactor; 0.8 when not in (0, 1))
 * of life, as Kroxylicious does, but never under 5 s.
 */
long	krx_kms_aws_renew_in(double factor, long life);
/*
 * Seconds before another attempt after failures consecutive failures
 * (0 before the first retry): 5 doubling to 60.
 */
long	krx_kms_aws_retry_in(int failures);

/*
 * Web identity (kms_aws_sts.c): STS AssumeRoleWithWebIdentity with the
 * token file, now and again at credentialLifetimeFactor of each
 * lifetime, filling *creds (kept by the provider, updated in place).
 * fresh(arg) is called after each change of credentials (the provider
 * forgets failures remembered without them). NULL when the settings
 * are unusable (logged). _why: a short text on why there are no
 * credentials yet (for details).
 */
struct krx_aws_sts *krx_aws_sts_new(struct event_base *base,
	    const struct krx_conf_kms_aws *conf, struct krx_http *http,
	    struct krx_kms_aws_creds *creds, void (*fresh)(void *),
	    void *arg);
void	krx_aws_sts_free(struct krx_aws_sts *s);
const char *krx_aws_sts_why(const struct krx_aws_sts *s);

/*
 * EC2 instance metadata (kms_aws_imds.c), IMDSv2: a session token from
 * PUT {metadataEndpoint}/latest/api/token, then the role's credentials
 * from GET /latest/meta-data/iam/security-credentials/{iamRole}, now
 * and again at credentialLifetimeFactor of each lifetime, on http (its
 * own client: plain HTTP, no tls group). As krx_aws_sts_new otherwise.
 */
struct krx_aws_imds *krx_aws_imds_new(struct event_base *base,
	    const struct krx_conf_kms_aws *conf, struct krx_http *http,
	    struct krx_kms_aws_creds *creds, void (*fresh)(void *),
	    void *arg);
void	krx_aws_imds_free(struct krx_aws_imds *m);
const char *krx_aws_imds_why(const struct krx_aws_imds *m);

/*
 * The scheme, host and port of a metadataEndpoint URL (its path,
 * query and fragment dropped, as Kroxylicious resolves the absolute
 * IMDS paths against it) into out: 0, or -1 when it is not an
 * http:// or https:// URL with a host, or does not fit.
 */
int	krx_kms_aws_imds_base(const char *url, char *out, size_t outsz);
/*
 * The security credentials document of IMDS (len bytes of JSON at
 * body: Code "Success", AccessKeyId, SecretAccessKey, Token,
 * Expiration) into *c (new secrets, the caller's) and *expires.
 * Returns 0, or -1 with why (a constant text, never a value) and *c
 * empty.
 */
int	krx_kms_aws_imds_parse(const char *body, size_t len,
	    struct krx_kms_aws_creds *c, time_t *expires, const char **why);

#endif
