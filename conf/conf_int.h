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
/* conf_util.c: checked readers; each reports its problem, file, line. */
int	krx_conf_graph(int ch);		/* printable ASCII, no space */
char	*krx_conf_dup(struct conf_ctx *c, int line, const char *s);
/* A member group of g, or NULL (an error when it is not a group). */
const config_setting_t *krx_conf_group(struct conf_ctx *c,
	    const config_setting_t *g, const char *where, const char *name);
/* The line of member name of g, or of g when there is none. */
int	krx_conf_line(const config_setting_t *g, const char *name);
void	krx_conf_missing(struct conf_ctx *c, const config_setting_t *g,
	    const char *where, const char *name);
/*
 * A string member, copied: 1..max characters, all from set (printable
 * ASCII without spaces when set is NULL); what names the set in the
 * error. NULL when absent (an error if required) or bad.
 */
char	*krx_conf_str(struct conf_ctx *c, const config_setting_t *g,
	    const char *where, const char *name, int required, size_t max,
	    const char *set, const char *what);
/* An absolute path without control characters. */
char	*krx_conf_path(struct conf_ctx *c, const config_setting_t *g,
	    const char *where, const char *name, int required);
/* { passwordFile = "/path"; }: the path (inline passwords refused). */
char	*krx_conf_password(struct conf_ctx *c, const config_setting_t *g,
	    const char *where, const char *name, int required);

/* conf_tls.c: where's tls group, if any, into *tls, as role allows. */
enum krx_conf_tls_role {
	KRX_CONF_TLS_KMS,	/* krx is a KMS's client: trust and key */
	KRX_CONF_TLS_SERVER,	/* a virtual cluster: key needed */
	KRX_CONF_TLS_CLIENT	/* an upstream cluster */
};
void	krx_conf_tls(struct conf_ctx *c, const config_setting_t *g,
	    const char *where, struct krx_conf_tls *tls,
	    enum krx_conf_tls_role role);

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

/* conf_metrics.c: the optional metrics group (conf->metrics_listen). */
void	krx_conf_metrics(struct conf_ctx *c, const config_setting_t *root);

#endif
