/*
 * kms_local.c: LocalKms, the embedded KMS. KEKs live in a keystore file
 * (crypto/localkms.c has its format and the EDEK format) that only
 * keysvc reads; the file is re-read when it changes on disk. A keystore
 * that is missing or unreadable makes requests UNAVAILABLE, never "no
 * KEK" (issue 9, finding 9). Replies to krx-ctl are clamped to their
 * buffer (finding 13). Operations complete before they return.
 */
#include <errno.h>
#include <stdarg.h>
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

/*
 * The keystore's state, logged once per change (issue 9, finding 9): a
 * keystore that is missing or unreadable is never an empty one, since
 * "no KEK" lets topics pass in clear; requests get UNAVAILABLE until it
 * is back. The one exception: kek commands before any keystore was ever
 * read by this process, so that the first `kek create` can make it.
 */
enum local_state {
	LS_OK = 0,
	LS_MISSING,		/* no file */
	LS_UNREADABLE,		/* stat or load failed, nothing loaded */
	LS_STALE		/* changed file unreadable: old KEKs kept */
};

struct local_kms {
	struct krx_keystore	*ks;
	enum local_state	 state;
	int			 loaded;	/* a keystore was read once */
	struct stat		 st;	/* of the file we loaded */
};

/* At most 511 bytes of a formatted line (finding 13). */
#define local_printf(out, ...)	krx_buf_printf((out), 512, __VA_ARGS__)

static void
local_set_state(struct krx_kms *k, struct local_kms *l, enum local_state s,
    const char *why)
{
	if (s == l->state)
		return;
	l->state = s;
	switch (s) {
	case LS_OK:
		log_info("keystore %s is readable again", k->conf->keystore);
		break;
	case LS_MISSING:
		log_err("keystore %s does not exist: key requests fail "
		    "(unavailable) until it does", k->conf->keystore);
		break;
	case LS_UNREADABLE:
		log_err("keystore %s cannot be read (%s): key requests fail "
		    "(unavailable) until it can", k->conf->keystore, why);
		break;
	case LS_STALE:
		log_err("keystore %s changed and cannot be read (%s); using "
		    "the KEKs read before", k->conf->keystore, why);
		break;
	}
}

/* 0: l->ks is the keystore to use; -1: UNAVAILABLE. */
static int
local_load(struct krx_kms *k, struct local_kms *l)
{
	struct krx_keystore	*ks;
	struct stat		 st;
	char			 why[128];
	int			 r, line = 0;

	if (stat(k->conf->keystore, &st) == -1) {
		if (errno == ENOENT)
			local_set_state(k, l, LS_MISSING, NULL);
		else
			local_set_state(k, l, LS_UNREADABLE, strerror(errno));
		return -1;
	}
	if (l->ks != NULL && l->state == LS_OK &&
	    st.st_ino == l->st.st_ino &&
	    st.st_mtim.tv_sec == l->st.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == l->st.st_mtim.tv_nsec &&
	    st.st_size == l->st.st_size)
		return 0;
	if ((r = krx_keystore_load(k->conf->keystore, &ks, &line)) != KRX_OK) {
		snprintf(why, sizeof(why), "%s%s%d", r == KRX_E_RANGE ?
		    "not a regular file of keysvc's user, or group or world "
		    "accessible" : krx_strerror(r), line ? " at line " : "",
		    line);
		if (l->ks != NULL && l->loaded) {
			local_set_state(k, l, LS_STALE, why);
			return 0;
		}
		local_set_state(k, l, LS_UNREADABLE, why);
		return -1;
	}
	krx_keystore_free(l->ks);
	l->ks = ks;
	l->st = st;
	l->loaded = 1;
	log_info("loaded keystore %s (%zu KEKs)", k->conf->keystore,
	    krx_keystore_count(ks));
	local_set_state(k, l, LS_OK, NULL);
	return 0;
}

static int
local_open(struct krx_kms *k)
{
	struct local_kms	*l = xcalloc(1, sizeof(*l));

	k->priv = l;
	if (k->conf->keystore[0] != '/') {
		log_err("keystore %s: not an absolute path", k->conf->keystore);
		return -1;
	}
	/* A missing or unreadable keystore fails requests until it is fine. */
	l->state = LS_OK;
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
	uint8_t			 dek[KRX_DEK_LEN];

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
	uint8_t			 dek[KRX_DEK_LEN];

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
	int	 r;

	if ((r = krx_keystore_save(l->ks, k->conf->keystore)) != KRX_OK) {
		local_printf(out, "cannot write keystore %s: %s\n",
		    k->conf->keystore, krx_strerror(r));
		return -1;
	}
	stat(k->conf->keystore, &l->st);
	l->loaded = 1;
	local_set_state(k, l, LS_OK, NULL);
	return 0;
}

static void
local_list(struct local_kms *l, struct krx_buf *out)
{
	const char	*name;
	uint32_t	 version;
	int64_t		 created;
	size_t		 i;

	for (i = 0; i < krx_keystore_count(l->ks); i++) {
		if (krx_keystore_info(l->ks, i, &name, &version, &created) !=
		    KRX_OK)
			continue;
		local_printf(out, "%s version %u created %lld\n", name,
		    version, (long long)created);
	}
}

static int
local_admin(struct krx_kms *k, int op, const char *arg, struct krx_buf *out)
{
	struct local_kms	*l = k->priv;
	const char		*verb;
	int			 r;

	if (local_load(k, l) != 0) {
		if (l->state != LS_MISSING || l->loaded) {
			local_printf(out, "keystore %s %s\n", k->conf->keystore,
			    l->state == LS_MISSING ? "has gone missing; "
			    "restore it (no new keystore is started in its "
			    "place)" : "cannot be read");
			return -1;
		}
		/* First use: kek commands start an empty keystore. */
		if (l->ks == NULL && (l->ks = krx_keystore_new()) == NULL) {
			local_printf(out, "out of memory\n");
			return -1;
		}
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
		local_printf(out, "cannot %s KEK %s: %s\n", verb, arg,
		    r == KRX_E_NOTFOUND ? "no such KEK" : r == KRX_E_RANGE ?
		    "it exists already or the name is invalid" :
		    krx_strerror(r));
		return -1;
	}
	if (local_save(k, l, out) != 0) {
		/* Forget the unsaved change: re-read the file next time. */
		krx_keystore_free(l->ks);
		l->ks = NULL;
		return -1;
	}
	log_info("KEK %s: %s done", arg, verb);
	local_printf(out, "KEK %s: %s done\n", arg, verb);
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
