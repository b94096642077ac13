/*
 * admin.c: krx-ctl requests relayed by the master: kek create, rotate,
 * delete and list (LocalKms), kms check (a generate + decrypt round
 * trip proving keysvc's identity and the KMS policy work) and stats.
 * Replies are text (never key bytes) behind a one-byte exit code.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/buf.h"
#include "common/chan.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "keysvc/keysvc.h"
#include "keysvc/kms.h"

enum admin_code {
	ADMIN_OK = 0,
	ADMIN_FAILED = 1,
	ADMIN_NOT_FOUND = 3,
	ADMIN_DENIED = 4,
	ADMIN_UNAVAILABLE = 5
};

struct admin_check {
	struct krx_keysvc	*ks;
	struct krx_kms		*kms;
	uint32_t		 id;
	char			 kek[256];
	uint8_t			 dek[KRX_DEK_BYTES];
};

/* The reply is sent by admin_reply, now or when a KMS answers. */
#define ADMIN_DEFERRED	(-1)

static void	admin_reply(struct krx_keysvc *, uint32_t, int,
		    struct krx_buf *);

static int
admin_code(enum krx_key_status st)
{
	switch (st) {
	case KRX_KEY_OK:
		return ADMIN_OK;
	case KRX_KEY_NOT_FOUND:
		return ADMIN_NOT_FOUND;
	case KRX_KEY_DENIED:
		return ADMIN_DENIED;
	case KRX_KEY_UNAVAILABLE:
		return ADMIN_UNAVAILABLE;
	default:
		return ADMIN_FAILED;
	}
}

static const char *
admin_status_text(enum krx_key_status st)
{
	switch (st) {
	case KRX_KEY_NOT_FOUND:
		return "KEK not found";
	case KRX_KEY_DENIED:
		return "access denied";
	case KRX_KEY_UNAVAILABLE:
		return "KMS unreachable";
	case KRX_KEY_INVALID:
		return "EDEK rejected by the KMS";
	default:
		return "ok";
	}
}

/* Answer the ctl request of a check and free it. */
static void
admin_check_end(struct admin_check *a, const struct krx_kms_result *res,
    const char *step)
{
	struct krx_buf	 out;
	char		 msg[512];
	int		 code = admin_code(res->status);

	if (res->status != KRX_KEY_OK)
		snprintf(msg, sizeof(msg), "%s with KEK %s failed: %s%s%s%s\n",
		    step, a->kek, admin_status_text(res->status),
		    res->detail != NULL && res->detail[0] != '\0' ? " (" : "",
		    res->detail != NULL ? res->detail : "",
		    res->detail != NULL && res->detail[0] != '\0' ? ")" : "");
	else if (CRYPTO_memcmp(res->dek, a->dek, KRX_DEK_BYTES) != 0) {
		code = ADMIN_FAILED;
		snprintf(msg, sizeof(msg), "KEK %s: the decrypted DEK "
		    "differs from the generated one\n", a->kek);
	} else
		snprintf(msg, sizeof(msg), "Ok\n");
	krx_buf_init(&out, 256);
	krx_buf_put_u8(&out, 0);
	krx_buf_put(&out, msg, strlen(msg));
	admin_reply(a->ks, a->id, code, &out);
	krx_buf_free(&out);
	OPENSSL_cleanse(a->dek, sizeof(a->dek));
	free(a);
}

static void
admin_check_decrypted(void *arg, const struct krx_kms_result *res)
{
	admin_check_end(arg, res, "decrypt");
}

static void
admin_check_generated(void *arg, const struct krx_kms_result *res)
{
	struct admin_check	*a = arg;

	if (res->status != KRX_KEY_OK) {
		admin_check_end(a, res, "generate DEK");
		return;
	}
	memcpy(a->dek, res->dek, KRX_DEK_BYTES);
	a->kms->ops->decrypt(a->kms, res->edek, res->edek_len,
	    admin_check_decrypted, a);
}

/*
 * A generate + decrypt round trip. Providers answer before returning
 * (LocalKms) or later from the loop (HTTP ones): the reply is sent by
 * the last callback either way. Should keysvc close first, the ctl
 * request is answered by the master ("the key service is not running").
 */
static int
admin_kms_check(struct krx_keysvc *ks, uint32_t id, struct krx_kms *k,
    const char *kek)
{
	struct admin_check	*a = xcalloc(1, sizeof(*a));

	a->ks = ks;
	a->kms = k;
	a->id = id;
	snprintf(a->kek, sizeof(a->kek), "%s", kek);
	k->ops->generate(k, kek, strlen(kek), admin_check_generated, a);
	return ADMIN_DEFERRED;
}

static void
admin_stats(struct krx_keysvc *ks, struct krx_buf *out)
{
	char	 line[128];
	int	 i, n;

	for (i = 0; i < KRX_KS_N; i++) {
		n = snprintf(line, sizeof(line), "keysvc.%s %llu\n",
		    krx_keysvc_stat_name(i), (unsigned long long)ks->stats[i]);
		krx_buf_put(out, line, (size_t)n);
	}
}

static struct krx_kms *
admin_find_kms(struct krx_keysvc *ks, const uint8_t *name, size_t len,
    uint32_t *vc)
{
	size_t	 i;

	for (i = 0; i < ks->conf->n_vclusters; i++) {
		if (ks->kms[i] == NULL)
			continue;
		if (len == 0 || (strlen(ks->conf->vclusters[i].name) == len &&
		    memcmp(ks->conf->vclusters[i].name, name, len) == 0)) {
			*vc = (uint32_t)i;
			return ks->kms[i];
		}
	}
	return NULL;
}

/*
 * A KEK rotated or deleted: no cache may keep using it (issue 9,
 * finding 10). Every virtual cluster sharing this KMS is flushed.
 */
static void
admin_flush(struct krx_keysvc *ks, const struct krx_kms *k, uint8_t op,
    const char *kek)
{
	uint32_t	 flush;
	size_t		 i;

	if (op != KRX_KEYS_KEK_ROTATE && op != KRX_KEYS_KEK_DELETE)
		return;
	flush = op == KRX_KEYS_KEK_ROTATE ? KRX_KEY_FLUSH_ROTATE :
	    KRX_KEY_FLUSH_DELETE;
	for (i = 0; i < ks->conf->n_vclusters; i++)
		if (ks->kms[i] != NULL && (ks->kms[i] == k ||
		    strcmp(ks->kms[i]->id, k->id) == 0))
			krx_keysvc_flush(ks, (uint32_t)i, flush, kek);
}

static int
admin_get_str(struct krx_cur *c, const uint8_t **p, size_t *len, size_t max)
{
	uint32_t	 n;

	if (krx_cur_get_be32(c, &n) != KRX_OK || n > max)
		return -1;
	*len = n;
	return krx_cur_get_ref(c, n, p) == KRX_OK ? 0 : -1;
}

static int
admin_run(struct krx_keysvc *ks, uint32_t id, const uint8_t *p, size_t len,
    struct krx_buf *out)
{
	struct krx_cur	 c;
	struct krx_kms	*k;
	const uint8_t	*vc, *arg;
	size_t		 vclen, arglen;
	char		 name[256];
	uint32_t	 vci = 0;
	uint8_t		 op;

	krx_cur_init(&c, p, len);
	if (krx_cur_get_u8(&c, &op) != KRX_OK ||
	    admin_get_str(&c, &vc, &vclen, 255) != 0 ||
	    admin_get_str(&c, &arg, &arglen, sizeof(name) - 1) != 0 ||
	    krx_cur_end(&c) != KRX_OK) {
		krx_buf_put(out, "malformed request\n", 18);
		return ADMIN_FAILED;
	}
	memcpy(name, arg, arglen);
	name[arglen] = '\0';
	if (op == KRX_KEYS_STATS) {
		admin_stats(ks, out);
		return ADMIN_OK;
	}
	if ((k = admin_find_kms(ks, vc, vclen, &vci)) == NULL) {
		krx_buf_put(out, "no such virtual cluster with "
		    "record_encryption\n", 47);
		return ADMIN_FAILED;
	}
	if (op == KRX_KEYS_KMS_CHECK)
		return admin_kms_check(ks, id, k, name);
	if (k->ops->admin == NULL) {
		krx_buf_put(out, "this KMS has no kek commands\n", 29);
		return ADMIN_FAILED;
	}
	if (k->ops->admin(k, op, name, out) != 0)
		return ADMIN_FAILED;
	admin_flush(ks, k, op, name);
	return ADMIN_OK;
}

static void
admin_reply(struct krx_keysvc *ks, uint32_t id, int code, struct krx_buf *out)
{
	if (out->err != KRX_OK || ks->master == NULL)
		return;
	out->data[0] = (uint8_t)code;
	krx_chan_send(ks->master, KRX_IPC_KS_ADMIN_REPLY, id,
	    code == ADMIN_OK ? 0 : KRX_IPC_F_ERROR, out->data, out->len, -1);
}

void
krx_keysvc_admin(struct krx_keysvc *ks, uint32_t id, const uint8_t *p,
    size_t len)
{
	struct krx_buf	 out;
	int		 code;

	krx_buf_init(&out, 256);
	krx_buf_put_u8(&out, 0);
	code = admin_run(ks, id, p, len, &out);
	if (code != ADMIN_DEFERRED)
		admin_reply(ks, id, code, &out);
	krx_buf_free(&out);
}
