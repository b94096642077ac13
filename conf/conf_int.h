/*
 * conf_int.h: helpers shared by the files of conf/ only.
 */
#ifndef KRX_CONF_CONF_INT_H
#define KRX_CONF_CONF_INT_H

#include <libconfig.h>

#include "conf/conf.h"

struct conf_ctx {
	struct krx_conf		*conf;
	struct krx_conf_errors	*errs;
	const char		*file;
};

/* Report every member of group whose name is not in allowed. */
void	krx_conf_check_keys(struct conf_ctx *c, const config_setting_t *group,
	    const char *const *allowed, const char *where);
/* A string member, copied; NULL when absent (an error if required). */
char	*krx_conf_string(struct conf_ctx *c, const config_setting_t *g,
	    const char *name, int required, int line);
/* An integer member within [lo, hi]; def when absent or wrong. */
long long krx_conf_int(struct conf_ctx *c, const config_setting_t *g,
	    const char *name, long long lo, long long hi, long long def,
	    int required, int line);
void	krx_conf_encryption(struct conf_ctx *c, const config_setting_t *vcs,
	    struct krx_conf_encryption *e);
void	krx_conf_encryption_free(struct krx_conf_encryption *e);
/*
 * conf_kms.c: a kms other than LocalKms (e->kms set, g the
 * record_encryption group): sets e->kms_conf from kmsConfig, reporting
 * every problem; renames AzureKeyVault to AzureKeyVaultKmsService.
 */
void	krx_conf_kms(struct conf_ctx *c, const config_setting_t *g,
	    struct krx_conf_encryption *e);
/* krx_conf_kms_id for a remote KMS. */
int	krx_conf_kms_remote_id(const struct krx_conf_encryption *e,
	    char *out, size_t len);

#endif
