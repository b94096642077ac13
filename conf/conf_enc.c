/*
 * conf_enc.c: the record_encryption group of a virtual cluster, with
 * Kroxylicious' key names (kms, kmsConfig, selector, selectorConfig,
 * unresolvedKeyPolicy, experimental.*) so its users can carry their
 * settings over, and krx's own requireEncryption. Library grade.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libconfig.h>

#include "conf/conf.h"
#include "conf/conf_int.h"
#include "proto/compress.h"

#define TOPIC_PLACEHOLDER	"$(topicName)"

static const char *const enc_keys[] = {
	"kms", "kmsConfig", "selector", "selectorConfig",
	"unresolvedKeyPolicy", "experimental", "requireEncryption",
	"splitCompression", NULL
};
static const char *const local_keys[] = { "keystore", NULL };
static const char *const selector_keys[] = { "template", NULL };
static const char *const exp_keys[] = {
	"encryptionDekRefreshAfterWriteSeconds",
	"encryptionDekExpireAfterWriteSeconds", "maxEncryptionsPerDek", NULL
};

int
krx_conf_kek_alias(const char *template, const char *topic,
    size_t topic_len, char *out, size_t outlen)
{
	const char	*p = template, *ph;
	size_t		 n, used = 0, plen = strlen(TOPIC_PLACEHOLDER);

	while ((ph = strstr(p, TOPIC_PLACEHOLDER)) != NULL) {
		n = ph - p;
		if (used + n + topic_len >= outlen)
			return KRX_E_TOO_BIG;
		memcpy(out + used, p, n);
		memcpy(out + used + n, topic, topic_len);
		used += n + topic_len;
		p = ph + plen;
	}
	n = strlen(p);
	if (used + n >= outlen)
		return KRX_E_TOO_BIG;
	memcpy(out + used, p, n + 1);
	return KRX_OK;
}

int
krx_conf_kms_id(const struct krx_conf_encryption *e, char *out, size_t len)
{
	int	 n;

	if (e->kms_conf.kind != KRX_CONF_KMS_LOCAL)
		return krx_conf_kms_remote_id(e, out, len);
	n = snprintf(out, len, "%s:%s", e->kms ? e->kms : "",
	    e->keystore ? e->keystore : "");
	return n < 0 || (size_t)n >= len ? KRX_E_TOO_BIG : KRX_OK;
}

static void
enc_template(struct conf_ctx *c, struct krx_conf_encryption *e, int line)
{
	const char	*p;

	if (e->template == NULL)
		return;
	for (p = e->template; (p = strstr(p, "$(")) != NULL; p += 2)
		if (strncmp(p, TOPIC_PLACEHOLDER, strlen(TOPIC_PLACEHOLDER)))
			krx_conf_error(c->errs, c->file, line, "selector "
			    "template \"%s\": the only placeholder is "
			    TOPIC_PLACEHOLDER, e->template);
}

static void
enc_kms(struct conf_ctx *c, const config_setting_t *g,
    struct krx_conf_encryption *e)
{
	const config_setting_t	*k = config_setting_get_member(g,
	    "kmsConfig");

	e->kms = krx_conf_string(c, g, "kms", 1, e->line);
	if (e->kms == NULL)
		return;
	if (strcmp(e->kms, "LocalKms") != 0) {
		krx_conf_kms(c, g, e);
		return;
	}
	if (k == NULL || !config_setting_is_group(k)) {
		krx_conf_error(c->errs, c->file, e->line,
		    "LocalKms needs kmsConfig = { keystore = \"...\"; }");
		return;
	}
	krx_conf_check_keys(c, k, local_keys, "kmsConfig");
	e->keystore = krx_conf_string(c, k, "keystore", 1,
	    config_setting_source_line(k));
	/* keysvc runs from "/" after daemonising (issue 9, finding 14). */
	if (e->keystore != NULL && e->keystore[0] != '/')
		krx_conf_error(c->errs, c->file, config_setting_source_line(k),
		    "keystore \"%s\" is not an absolute path", e->keystore);
}

void
krx_conf_keystore_report(const struct krx_conf *conf, FILE *out)
{
	const struct krx_conf_encryption	*e;
	struct stat				 st;
	size_t					 i;

	for (i = 0; i < conf->n_vclusters; i++) {
		e = &conf->vclusters[i].enc;
		if (!e->enabled || e->keystore == NULL)
			continue;
		if (stat(e->keystore, &st) == -1)
			fprintf(out, "krxd: warning: virtual cluster %s: "
			    "keystore %s: %s (key requests fail until "
			    "it exists; kek create makes it)\n",
			    conf->vclusters[i].name, e->keystore,
			    strerror(errno));
		else if (!S_ISREG(st.st_mode))
			fprintf(out, "krxd: warning: virtual cluster %s: "
			    "keystore %s is not a regular file\n",
			    conf->vclusters[i].name, e->keystore);
	}
}

static void
enc_selector(struct conf_ctx *c, const config_setting_t *g,
    struct krx_conf_encryption *e)
{
	const config_setting_t	*s = config_setting_get_member(g,
	    "selectorConfig");
	char			*sel;

	if ((sel = krx_conf_string(c, g, "selector", 1, e->line)) != NULL &&
	    strcmp(sel, "TemplateKekSelector") != 0)
		krx_conf_error(c->errs, c->file, e->line, "selector \"%s\" "
		    "is not supported (TemplateKekSelector is)", sel);
	free(sel);
	if (s == NULL || !config_setting_is_group(s)) {
		krx_conf_error(c->errs, c->file, e->line, "TemplateKekSelector "
		    "needs selectorConfig = { template = \"...\"; }");
		return;
	}
	krx_conf_check_keys(c, s, selector_keys, "selectorConfig");
	e->template = krx_conf_string(c, s, "template", 1,
	    config_setting_source_line(s));
	enc_template(c, e, config_setting_source_line(s));
}

static void
enc_experimental(struct conf_ctx *c, const config_setting_t *g,
    struct krx_conf_encryption *e)
{
	const config_setting_t	*x = config_setting_get_member(g,
	    "experimental");
	int			 line;

	e->dek_refresh_after = 3600;
	e->dek_expire_after = 7200;
	e->max_encryptions_per_dek = 5000000;
	if (x == NULL)
		return;
	line = config_setting_source_line(x);
	krx_conf_check_keys(c, x, exp_keys, "experimental");
	e->dek_refresh_after = krx_conf_int(c, x,
	    "encryptionDekRefreshAfterWriteSeconds", 1, INT32_MAX, 3600, 0,
	    line);
	e->dek_expire_after = krx_conf_int(c, x,
	    "encryptionDekExpireAfterWriteSeconds", 1, INT32_MAX, 7200, 0,
	    line);
	e->max_encryptions_per_dek = krx_conf_int(c, x,
	    "maxEncryptionsPerDek", 1, (long long)1 << 32, 5000000, 0, line);
	if (e->dek_refresh_after > e->dek_expire_after)
		krx_conf_error(c->errs, c->file, line, "encryptionDekRefresh"
		    "AfterWriteSeconds must not exceed encryptionDekExpire"
		    "AfterWriteSeconds");
}

/*
 * requireEncryption (default false): on fetch, a partition of a topic
 * whose KEK resolves that holds a record with a value and without the
 * encryption header is refused (issue 9, finding 15).
 */
static void
enc_require(struct conf_ctx *c, const config_setting_t *g,
    struct krx_conf_encryption *e)
{
	const config_setting_t	*s = config_setting_get_member(g,
	    "requireEncryption");

	e->require_encryption = 0;
	if (s == NULL)
		return;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
		krx_conf_error(c->errs, c->file, config_setting_source_line(s),
		    "\"requireEncryption\" must be true or false");
		return;
	}
	e->require_encryption = config_setting_get_bool(s) != 0;
}

/*
 * splitCompression (default "zstd"): the codec an uncompressed batch
 * whose encryption outgrows the topic's batch size limit is compressed
 * with before it is split (issue 14); "none" splits it as it is.
 */
static void
enc_split(struct conf_ctx *c, const config_setting_t *g,
    struct krx_conf_encryption *e)
{
	static const char *const names[] = { "none", "gzip", "snappy", "lz4",
	    "zstd" };
	char	*v;
	size_t	 i;

	e->split_codec = KRX_CODEC_ZSTD;
	if ((v = krx_conf_string(c, g, "splitCompression", 0, e->line)) ==
	    NULL)
		return;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(v, names[i]) == 0)
			break;
	if (i < sizeof(names) / sizeof(names[0]))
		e->split_codec = (int)i;
	else
		krx_conf_error(c->errs, c->file, e->line, "splitCompression "
		    "must be none, gzip, snappy, lz4 or zstd");
	free(v);
}

void
krx_conf_encryption(struct conf_ctx *c, const config_setting_t *vcs,
    struct krx_conf_encryption *e)
{
	const config_setting_t	*g = config_setting_get_member(vcs,
	    "record_encryption");
	char			*pol;

	if (g == NULL)
		return;
	e->line = config_setting_source_line(g);
	if (!config_setting_is_group(g)) {
		krx_conf_error(c->errs, c->file, e->line,
		    "record_encryption must be a group");
		return;
	}
	e->enabled = 1;
	krx_conf_check_keys(c, g, enc_keys, "record_encryption");
	enc_kms(c, g, e);
	enc_selector(c, g, e);
	enc_experimental(c, g, e);
	enc_require(c, g, e);
	enc_split(c, g, e);
	if ((pol = krx_conf_string(c, g, "unresolvedKeyPolicy", 0,
	    e->line)) == NULL)
		return;
	if (strcmp(pol, "REJECT") == 0)
		e->reject_unresolved = 1;
	else if (strcmp(pol, "PASSTHROUGH_UNENCRYPTED") != 0)
		krx_conf_error(c->errs, c->file, e->line, "unresolvedKeyPolicy"
		    " must be PASSTHROUGH_UNENCRYPTED or REJECT");
	free(pol);
}

void
krx_conf_encryption_free(struct krx_conf_encryption *e)
{
	free(e->kms);
	free(e->keystore);
	free(e->template);
	krx_conf_kms_free(&e->kms_conf);
}
