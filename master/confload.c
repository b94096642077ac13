/*
 * confload.c: loading a configuration for the master, at start-up
 * (krxd -t and krxd) and on reload, with the same checks: the parser's,
 * the cross-field ones, the root rule and the KMS providers this krxd
 * has. Every problem goes into a list as FILE:LINE: text; the caller
 * prints it (krxd.c) or logs and reports it (reload.c). A reload also
 * refuses the settings it cannot change, and needs a new key service
 * when the KMS settings changed. Runs in the master.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf.h"
#include "keysvc/kms.h"
#include "master/master.h"

/*
 * Every record_encryption names a provider keysvc has (krx_kms_known:
 * a configuration may name one this build lacks).
 */
static void
confload_kms(const struct krx_conf *conf, struct krx_conf_errors *errs)
{
	const struct krx_conf_encryption	*e;
	size_t					 i;

	for (i = 0; i < conf->n_vclusters; i++) {
		e = &conf->vclusters[i].enc;
		if (!e->enabled || e->kms == NULL || krx_kms_known(e->kms))
			continue;
		krx_conf_error(errs, conf->path, e->line, "kms \"%s\" is not "
		    "available in this version of krxd (LocalKms, "
		    "VaultKmsService, AwsKmsService and "
		    "AzureKeyVaultKmsService are)", e->kms);
	}
}

int
krx_confload(const char *path, struct krx_conf **out,
    struct krx_conf_errors *errs)
{
	struct krx_conf	*conf;

	*out = NULL;
	if (krx_conf_load(path, &conf, errs) != KRX_OK)
		return -1;
	/* Issue 9, finding 14: as root, children must not stay root. */
	krx_conf_check_root(conf, geteuid(), errs);
	confload_kms(conf, errs);
	if (errs->n > 0 || errs->dropped > 0) {
		krx_conf_free(conf);
		return -1;
	}
	*out = conf;
	return 0;
}

int
krx_confload_workers(const struct krx_conf *conf)
{
	long	 n = conf->workers;

	if (n <= 0)
		n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	return n > KRX_MAX_WORKERS ? KRX_MAX_WORKERS : (int)n;
}

static int
confload_str_eq(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	    (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/*
 * The line of a top-level setting, for messages: the first line of the
 * file that starts with key and then = or : (0 when none, e.g. it was
 * removed and the default differs).
 */
static int
confload_line(const char *path, const char *key)
{
	char	 line[1024], *p;
	size_t	 klen = strlen(key);
	int	 n = 0, found = 0;
	FILE	*f;

	if ((f = fopen(path, "re")) == NULL)
		return 0;
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		n++;
		for (p = line; isspace((unsigned char)*p); p++)
			;
		if (strncmp(p, key, klen) != 0)
			continue;
		for (p += klen; isspace((unsigned char)*p); p++)
			;
		found = *p == '=' || *p == ':';
	}
	fclose(f);
	return found ? n : 0;
}

static void
confload_fixed(const struct krx_conf *new, const char *key, const char *a,
    const char *b, struct krx_conf_errors *errs)
{
	const char	*dot = strchr(key, '.');
	char		 top[64];

	snprintf(top, sizeof(top), "%.*s", dot != NULL ? (int)(dot - key) :
	    (int)strlen(key), key);
	if (!confload_str_eq(a, b))
		krx_conf_error(errs, new->path, confload_line(new->path, top),
		    "%s cannot change by "
		    "reload (was \"%s\", now \"%s\"): restart krxd", key,
		    a != NULL ? a : "", b != NULL ? b : "");
}

int
krx_confload_encrypts(const struct krx_conf *conf)
{
	size_t	 i;

	for (i = 0; i < conf->n_vclusters; i++)
		if (conf->vclusters[i].enc.enabled)
			return 1;
	return 0;
}

/* A KMS connection's TLS settings (not in the KMS id). */
static int
confload_tls_same(const struct krx_conf_tls *a,
    const struct krx_conf_tls *b)
{
	return a->present == b->present && a->insecure == b->insecure &&
	    a->trust_type == b->trust_type &&
	    a->key_store_type == b->key_store_type &&
	    confload_str_eq(a->trust_file, b->trust_file) &&
	    confload_str_eq(a->trust_password_file, b->trust_password_file) &&
	    confload_str_eq(a->key_store_file, b->key_store_file) &&
	    confload_str_eq(a->key_store_password_file,
	    b->key_store_password_file) &&
	    confload_str_eq(a->key_file, b->key_file) &&
	    confload_str_eq(a->cert_file, b->cert_file) &&
	    confload_str_eq(a->key_password_file, b->key_password_file);
}

/* The KMS of one virtual cluster as keysvc runs it. */
static int
confload_vc_kms_same(const struct krx_conf_vcluster *a,
    const struct krx_conf_vcluster *b)
{
	const struct krx_conf_kms	*ka = &a->enc.kms_conf;
	const struct krx_conf_kms	*kb = &b->enc.kms_conf;
	char				 ida[1024], idb[1024];

	if (strcmp(a->name, b->name) != 0 || a->enc.enabled != b->enc.enabled)
		return 0;
	if (!a->enc.enabled)
		return 1;
	if (krx_conf_kms_id(&a->enc, ida, sizeof(ida)) != KRX_OK ||
	    krx_conf_kms_id(&b->enc, idb, sizeof(idb)) != KRX_OK)
		return 0;
	return strcmp(ida, idb) == 0 &&
	    a->enc.dek_expire_after == b->enc.dek_expire_after &&
	    ka->connect_timeout == kb->connect_timeout &&
	    ka->request_timeout == kb->request_timeout &&
	    confload_tls_same(&ka->tls, &kb->tls) &&
	    confload_tls_same(&ka->azure.oauth_tls, &kb->azure.oauth_tls);
}

int
krx_confload_same_keysvc(const struct krx_conf *old,
    const struct krx_conf *new)
{
	size_t	 i;

	if (!krx_confload_encrypts(old) || !krx_confload_encrypts(new) ||
	    old->cache_max_bytes != new->cache_max_bytes ||
	    old->keysvc_kms_rate != new->keysvc_kms_rate ||
	    old->n_vclusters != new->n_vclusters)
		return 0;
	for (i = 0; i < new->n_vclusters; i++)
		if (!confload_vc_kms_same(&old->vclusters[i],
		    &new->vclusters[i]))
			return 0;
	return 1;
}

void
krx_confload_reloadable(const struct krx_conf *old,
    const struct krx_conf *new, struct krx_conf_errors *errs)
{
	confload_fixed(new, "user", old->user, new->user, errs);
	confload_fixed(new, "keysvc_user", old->keysvc_user, new->keysvc_user,
	    errs);
	confload_fixed(new, "pid_file", old->pid_file, new->pid_file, errs);
	confload_fixed(new, "control_socket", old->control_socket,
	    new->control_socket, errs);
	/* The directory's owner and mode are set once, at start-up. */
	confload_fixed(new, "cache.path", old->cache_path, new->cache_path,
	    errs);
}
