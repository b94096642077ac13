/*
 * kms_local.c: LocalKms, the embedded KMS. KEKs live in a keystore file
 * (crypto/localkms.c has its format and the EDEK format) that only
 * keysvc reads; the file is re-read when it changes on disk. Operations
 * complete before they return.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "crypto/localkms.h"
#include "keysvc/kms.h"

struct local_kms {
	struct krx_keystore	*ks;
	int			 broken;	/* keystore unreadable now */
	struct stat		 st;	/* of the file we loaded */
};

static int
local_load(struct krx_kms *k, struct local_kms *l)
{
	struct krx_keystore	*ks;
	struct stat		 st;
	int			 r, line = 0;

	if (stat(k->conf->keystore, &st) == -1) {
		if (errno != ENOENT) {
			/* Never "no KEK": that would let topics pass in clear. */
			log_warn("keystore %s", k->conf->keystore);
			l->broken = 1;
			return -1;
		}
		/* No file yet: an empty keystore, created by kek create. */
		l->broken = 0;
		if (l->ks == NULL)
			l->ks = krx_keystore_new();
		memset(&l->st, 0, sizeof(l->st));
		return l->ks == NULL ? -1 : 0;
	}
	l->broken = 0;
	if (l->ks != NULL && st.st_ino == l->st.st_ino &&
	    st.st_mtim.tv_sec == l->st.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == l->st.st_mtim.tv_nsec &&
	    st.st_size == l->st.st_size)
		return 0;
	if ((r = krx_keystore_load(k->conf->keystore, &ks, &line)) != KRX_OK) {
		log_warnx("keystore %s: %s%s%d", k->conf->keystore,
		    krx_strerror(r), line ? " at line " : "", line);
		l->broken = l->ks == NULL;	/* else keep the old one */
		return l->broken ? -1 : 0;
	}
	krx_keystore_free(l->ks);
	l->ks = ks;
	l->st = st;
	log_info("loaded keystore %s (%zu KEKs)", k->conf->keystore,
	    krx_keystore_count(ks));
	return 0;
}

static int
local_open(struct krx_kms *k)
{
	struct local_kms	*l = xcalloc(1, sizeof(*l));

	k->priv = l;
	/* An unreadable keystore fails each request until it is readable. */
	local_load(k, l);
	return 0;
}

static void
local_close(struct krx_kms *k)
{
	struct local_kms	*l = k->priv;

	if (l == NULL)
		return;
	krx_keystore_free(l->ks);
	free(l);
}

static enum krx_key_status
local_status(int r)
{
	switch (r) {
	case KRX_OK:
		return KRX_KEY_OK;
	case KRX_E_NOTFOUND:
		return KRX_KEY_NOT_FOUND;
	case KRX_E_CRYPTO:
	case KRX_E_MALFORMED:
	case KRX_E_TRUNCATED:
	case KRX_E_TRAILING:
		return KRX_KEY_INVALID;
	default:
		return KRX_KEY_UNAVAILABLE;
	}
}

static void
local_resolve(struct krx_kms *k, const char *alias, size_t len,
    krx_kms_cb cb, void *arg)
{
	struct local_kms	*l = k->priv;
	struct krx_kms_result	 res;

	memset(&res, 0, sizeof(res));
	if (local_load(k, l) != 0)
		res.status = KRX_KEY_UNAVAILABLE;
	else
		res.status = local_status(krx_localkms_resolve(l->ks, alias,
		    len));
	res.kek_id = alias;
	res.kek_len = len;
	cb(arg, &res);
}

static void
local_generate(struct krx_kms *k, const char *kek, size_t len,
    krx_kms_cb cb, void *arg)
{
	struct local_kms	*l = k->priv;
	struct krx_kms_result	 res;
	struct krx_buf		 edek;
	uint8_t			 dek[KRX_DEK_BYTES];

	memset(&res, 0, sizeof(res));
	krx_buf_init(&edek, 128);
	if (local_load(k, l) != 0)
		res.status = KRX_KEY_UNAVAILABLE;
	else
		res.status = local_status(krx_localkms_generate(l->ks, kek,
		    len, dek, &edek));
	res.edek = edek.data;
	res.edek_len = edek.len;
	res.dek = dek;
	cb(arg, &res);
	OPENSSL_cleanse(dek, sizeof(dek));
	krx_buf_free(&edek);
}

static void
local_decrypt(struct krx_kms *k, const uint8_t *edek, size_t len,
    krx_kms_cb cb, void *arg)
{
	struct local_kms	*l = k->priv;
	struct krx_kms_result	 res;
	uint8_t			 dek[KRX_DEK_BYTES];

	memset(&res, 0, sizeof(res));
	if (local_load(k, l) != 0)
		res.status = KRX_KEY_UNAVAILABLE;
	else
		res.status = local_status(krx_localkms_decrypt(l->ks, edek,
		    len, dek));
	res.dek = dek;
	cb(arg, &res);
	OPENSSL_cleanse(dek, sizeof(dek));
}

static int
local_save(struct krx_kms *k, struct local_kms *l, struct krx_buf *out)
{
	char	 msg[256];
	int	 r, n;

	if ((r = krx_keystore_save(l->ks, k->conf->keystore)) != KRX_OK) {
		n = snprintf(msg, sizeof(msg), "cannot write keystore %s: %s\n",
		    k->conf->keystore, krx_strerror(r));
		krx_buf_put(out, msg, (size_t)n);
		return -1;
	}
	stat(k->conf->keystore, &l->st);
	return 0;
}

static void
local_list(struct local_kms *l, struct krx_buf *out)
{
	const char	*name;
	uint32_t	 version;
	int64_t		 created;
	char		 line[512];
	size_t		 i;
	int		 n;

	for (i = 0; i < krx_keystore_count(l->ks); i++) {
		if (krx_keystore_info(l->ks, i, &name, &version, &created) !=
		    KRX_OK)
			continue;
		n = snprintf(line, sizeof(line), "%s version %u created %lld\n",
		    name, version, (long long)created);
		krx_buf_put(out, line, (size_t)n);
	}
}

static int
local_admin(struct krx_kms *k, int op, const char *arg, struct krx_buf *out)
{
	struct local_kms	*l = k->priv;
	char			 msg[512];
	const char		*verb;
	int			 r, n;

	if (local_load(k, l) != 0) {
		n = snprintf(msg, sizeof(msg), "keystore %s cannot be read\n",
		    k->conf->keystore);
		krx_buf_put(out, msg, (size_t)n);
		return -1;
	}
	switch (op) {
	case KRX_KEYS_KEK_LIST:
		local_list(l, out);
		return 0;
	case KRX_KEYS_KEK_CREATE:
		verb = "create";
		r = krx_keystore_create(l->ks, arg);
		break;
	case KRX_KEYS_KEK_ROTATE:
		verb = "rotate";
		r = krx_keystore_rotate(l->ks, arg);
		break;
	case KRX_KEYS_KEK_DELETE:
		verb = "delete";
		r = krx_keystore_delete(l->ks, arg);
		break;
	default:
		krx_buf_put(out, "unsupported operation\n", 22);
		return -1;
	}
	if (r != KRX_OK) {
		n = snprintf(msg, sizeof(msg), "cannot %s KEK %s: %s\n", verb,
		    arg, r == KRX_E_NOTFOUND ? "no such KEK" : r ==
		    KRX_E_RANGE ? "it exists already or the name is invalid" :
		    krx_strerror(r));
		krx_buf_put(out, msg, (size_t)n);
		local_load(k, l);
		return -1;
	}
	if (local_save(k, l, out) != 0)
		return -1;
	log_info("KEK %s: %s done", arg, verb);
	n = snprintf(msg, sizeof(msg), "KEK %s: %s done\n", arg, verb);
	krx_buf_put(out, msg, (size_t)n);
	return 0;
}

const struct krx_kms_ops krx_kms_local_ops = {
	.name = "LocalKms",
	.open = local_open,
	.close = local_close,
	.resolve = local_resolve,
	.generate = local_generate,
	.decrypt = local_decrypt,
	.admin = local_admin,
};
