/*
 * kms.c: KMS provider lookup by the names Kroxylicious uses.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"
#include "conf/conf.h"
#include "keysvc/kms.h"

static const struct krx_kms_ops *const kms_providers[] = {
	&krx_kms_local_ops,
	&krx_kms_vault_ops,
	&krx_kms_aws_ops,
	&krx_kms_azure_ops,
	NULL
};

int
krx_kms_known(const char *name)
{
	const struct krx_kms_ops	*const *o;

	for (o = kms_providers; *o != NULL; o++)
		if (strcmp((*o)->name, name) == 0)
			return 1;
	return 0;
}

struct krx_kms *
krx_kms_open(struct event_base *base, const char *vcluster,
    const struct krx_conf_encryption *conf, const char **why)
{
	const struct krx_kms_ops	*const *o;
	struct krx_kms			*k;

	*why = NULL;
	for (o = kms_providers; *o != NULL; o++)
		if (strcmp((*o)->name, conf->kms) == 0)
			break;
	if (*o == NULL) {
		*why = "unknown kms";
		return NULL;
	}
	k = xcalloc(1, sizeof(*k));
	k->ops = *o;
	k->conf = conf;
	k->base = base;
	k->id = xcalloc(1, 1024);
	if (krx_conf_kms_id(conf, k->id, 1024) != KRX_OK ||
	    k->ops->open(k) != 0) {
		*why = "cannot open the kms";
		if (k->priv != NULL)
			k->ops->close(k);	/* wipes what open read */
		free(k->id);
		free(k);
		return NULL;
	}
	return k;
}

void
krx_kms_close(struct krx_kms *k)
{
	if (k == NULL)
		return;
	k->ops->close(k);
	free(k->id);
	free(k);
}
