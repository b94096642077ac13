/*
 * kms_aws_sts.c: web identity credentials of AwsKmsService (STS
 * AssumeRoleWithWebIdentity). Not written yet: refused at open.
 */
#include <stddef.h>

#include "common/log.h"
#include "keysvc/kms_aws.h"

struct krx_aws_sts *
krx_aws_sts_new(struct event_base *base, const struct krx_conf_kms_aws *conf,
    struct krx_http *http, struct krx_kms_aws_creds *creds)
{
	log_warnx("AwsKmsService: webIdentity credentials are not supported "
	    "yet");
	return NULL;
}

void
krx_aws_sts_free(struct krx_aws_sts *s)
{
}

const char *
krx_aws_sts_why(const struct krx_aws_sts *s)
{
	return "no web identity";
}
