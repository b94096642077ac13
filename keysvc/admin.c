/*
 * admin.c: krx-ctl requests relayed by the master: kek create, rotate,
 * delete and list (LocalKms), kms check (resolve, then a generate +
 * decrypt round trip proving keysvc's identity and the KMS policy
 * work; answered when the KMS has, from the loop), stats and cache
 * flush.
 * Replies are text (never key bytes) behind a one-byte exit code.
 * kms check asks the KMS itself: its resolve and decrypt skip the
 * providers' negative cache (kms_flight.h, "fresh joins"), so a check
 * right after an outage reports the KMS as it is now.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <openssl/crypto.h>

#include "common/buf.h"
#include "common/chan.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "crypto/dekcache.h"
#include "keysvc/keysvc.h"
#include "keysvc/kms.h"
#include "keysvc/kms_flight.h"

enum admin_code {
	ADMIN_OK = 0,
	ADMIN_FAILED = 1,
	ADMIN_NOT_FOUND = 3,
	ADMIN_DENIED = 4,
	ADMIN_UNAVAILABLE = 5,
	ADMIN_DEFERRED = -1	/* the reply comes later */
};

/*
 * A kms check in progress: resolve the alias, generate a DEK under the
 * KEK, decrypt its EDEK, compare. Providers answer before returning
 * (LocalKms) or later from the loop (HTTP): the reply to the master is
 * sent when the last step ends, whichever way.
 */
struct admin_check {
	LIST_ENTRY(admin_check) entry;
	struct krx_keysvc *ks;
	uint32_t	 id;		/* of the master's request */
	struct krx_kms	*kms;
	char		 kek[256];	/* as asked: the alias */
	char		 kek_id[256];	/* as resolved */
	uint8_t		 dek[KRX_DEK_LEN];
};

/* Checks under way, freed by krx_keysvc_admin_free if keysvc exits. */
static LIST_HEAD(, admin_check) admin_checks =
    LIST_HEAD_INITIALIZER(admin_checks);

static void
admin_check_free(struct admin_check *a)
{
	LIST_REMOVE(a, entry);
	OPENSSL_cleanse(a->dek, sizeof(a->dek));
	free(a);
}

void
krx_keysvc_admin_free(void)
{
	while (!LIST_EMPTY(&admin_checks))
		admin_check_free(LIST_FIRST(&admin_checks));
}

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

static void
admin_reply(struct krx_keysvc *ks, uint32_t id, int code,
    struct krx_buf *out)
{
	if (out->err == KRX_OK) {
		out->data[0] = (uint8_t)code;
		krx_chan_send(ks->master, KRX_IPC_KS_ADMIN_REPLY, id,
		    code == ADMIN_OK ? 0 : KRX_IPC_F_ERROR, out->data,
		    out->len, -1);
	}
	krx_buf_free(out);
}

/* End a check with code and a line of text; frees a. */
static void __attribute__((format(printf, 3, 4)))
admin_check_end(struct admin_check *a, int code, const char *fmt, ...)
{
	struct krx_buf	 out;
	char		 msg[512];
	va_list		 ap;
	int		 n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(msg))
		n = (int)sizeof(msg) - 1;
	krx_buf_init(&out, (size_t)n + 1);
	krx_buf_put_u8(&out, 0);
	krx_buf_put(&out, msg, (size_t)n);
	admin_reply(a->ks, a->id, code, &out);
	admin_check_free(a);
}

/* A failed step: "<step> failed: KEK not found (detail)". */
static void
admin_check_failed(struct admin_check *a, const char *step,
    const struct krx_kms_result *res)
{
	const char	*d = res->detail;

	admin_check_end(a, admin_code(res->status), "%s with KEK %s failed: "
	    "%s%s%s%s\n", step, a->kek, admin_status_text(res->status),
	    d != NULL ? " (" : "", d != NULL ? d : "", d != NULL ? ")" : "");
}

static void
admin_check_decrypted(void *arg, const struct krx_kms_result *res)
{
	struct admin_check	*a = arg;

	if (res->status != KRX_KEY_OK)
		admin_check_failed(a, "decrypt", res);
	else if (CRYPTO_memcmp(res->dek, a->dek, KRX_DEK_LEN) != 0)
		admin_check_end(a, ADMIN_FAILED, "KEK %s: the decrypted DEK "
		    "differs from the generated one\n", a->kek);
	else
		admin_check_end(a, ADMIN_OK, "Ok\n");
}

static void
admin_check_generated(void *arg, const struct krx_kms_result *res)
{
	struct admin_check	*a = arg;

	if (res->status != KRX_KEY_OK) {
		admin_check_failed(a, "generate DEK", res);
		return;
	}
	memcpy(a->dek, res->dek, KRX_DEK_LEN);
	krx_flight_fresh(a);
	a->kms->ops->decrypt(a->kms, res->edek, res->edek_len,
	    admin_check_decrypted, a);
	krx_flight_fresh(NULL);
}

static void
admin_check_resolved(void *arg, const struct krx_kms_result *res)
{
	struct admin_check	*a = arg;

	if (res->status != KRX_KEY_OK) {
		admin_check_failed(a, "resolve", res);
		return;
	}
	if (res->kek_len >= sizeof(a->kek_id)) {
		admin_check_end(a, ADMIN_FAILED, "KEK %s resolves to an "
		    "over-long KEK id\n", a->kek);
		return;
	}
	memcpy(a->kek_id, res->kek_id, res->kek_len);
	a->kek_id[res->kek_len] = '\0';
	a->kms->ops->generate(a->kms, a->kek_id, res->kek_len,
	    admin_check_generated, a);
}

/* The reply is sent by the last step (ADMIN_DEFERRED). */
static int
admin_kms_check(struct krx_keysvc *ks, uint32_t id, struct krx_kms *k,
    const char *kek)
{
	struct admin_check	*a;

	a = xcalloc(1, sizeof(*a));
	LIST_INSERT_HEAD(&admin_checks, a, entry);
	a->ks = ks;
	a->id = id;
	a->kms = k;
	snprintf(a->kek, sizeof(a->kek), "%s", kek);
	krx_flight_fresh(a);
	k->ops->resolve(k, a->kek, strlen(a->kek), admin_check_resolved, a);
	krx_flight_fresh(NULL);
	return ADMIN_DEFERRED;
}

/*
 * keysvc's counters, then the KMS calls of every provider that counts
 * them, summed (as Kroxylicious' counters, without a virtual cluster).
 */
static void
admin_stats(struct krx_keysvc *ks, struct krx_buf *out)
{
	struct krx_kms_counters	 c;
	char			 line[128];
	size_t			 v;
	int			 i, j, n, any = 0;

	for (i = 0; i < KRX_KS_N; i++) {
		n = snprintf(line, sizeof(line), "keysvc.%s %llu\n",
		    krx_keysvc_stat_name(i), (unsigned long long)ks->stats[i]);
		krx_buf_put(out, line, (size_t)n);
	}
	memset(&c, 0, sizeof(c));
	for (v = 0; v < ks->conf->n_vclusters; v++)
		if (ks->kms[v] != NULL && ks->kms[v]->ops->counters != NULL) {
			ks->kms[v]->ops->counters(ks->kms[v], &c);
			any = 1;
		}
	for (i = 0; any && i < KRX_KMS_OP_N; i++) {
		n = snprintf(line, sizeof(line), "keysvc.kms_%s_attempts "
		    "%llu\n", krx_kms_op_name(i),
		    (unsigned long long)c.attempts[i]);
		krx_buf_put(out, line, (size_t)n);
		for (j = 0; j < KRX_KMS_OUTCOME_N; j++) {
			n = snprintf(line, sizeof(line), "keysvc.kms_%s_%s "
			    "%llu\n", krx_kms_op_name(i),
			    krx_kms_outcome_name(j),
			    (unsigned long long)c.outcomes[i][j]);
			krx_buf_put(out, line, (size_t)n);
		}
	}
}

/*
 * krx-ctl cache flush: the LMDB DEK cache emptied (keysvc holds no
 * other DEK); the master tells the workers. Later decrypts go to the
 * KMS again.
 */
static int
admin_cache_flush(struct krx_keysvc *ks, struct krx_buf *out)
{
	uint64_t	 entries = 0, bytes = 0;
	char		 line[96];
	int		 n, r;

	if (ks->cache == NULL) {
		krx_buf_put(out, "keysvc.cache_entries_dropped 0\n", 31);
		return ADMIN_OK;
	}
	(void)krx_dekcache_stats(ks->cache, &entries, &bytes);
	if ((r = krx_dekcache_clear(ks->cache)) != KRX_OK) {
		n = snprintf(line, sizeof(line), "cannot empty the DEK cache: "
		    "%s\n", krx_strerror(r));
		krx_buf_put(out, line, (size_t)n);
		return ADMIN_FAILED;
	}
	log_info("krx-ctl cache flush: %llu DEK cache entries dropped",
	    (unsigned long long)entries);
	n = snprintf(line, sizeof(line), "keysvc.cache_entries_dropped %llu\n",
	    (unsigned long long)entries);
	krx_buf_put(out, line, (size_t)n);
	return ADMIN_OK;
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
 * finding 10). A KEK created: no worker may keep its "not found" for
 * the name (under PASSTHROUGH_UNENCRYPTED that would leave records in
 * clear after the operator made the KEK). Every virtual cluster
 * sharing this KMS is flushed.
 */
static void
admin_flush(struct krx_keysvc *ks, const struct krx_kms *k, uint8_t op,
    const char *kek)
{
	uint32_t	 flush;
	size_t		 i;

	if (op == KRX_KEYS_KEK_ROTATE)
		flush = KRX_KEY_FLUSH_ROTATE;
	else if (op == KRX_KEYS_KEK_DELETE)
		flush = KRX_KEY_FLUSH_DELETE;
	else if (op == KRX_KEYS_KEK_CREATE)
		flush = KRX_KEY_FLUSH_CREATE;
	else
		return;
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
	if (op == KRX_KEYS_CACHE_FLUSH)
		return admin_cache_flush(ks, out);
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

void
krx_keysvc_admin(struct krx_keysvc *ks, uint32_t id, const uint8_t *p,
    size_t len)
{
	struct krx_buf	 out;
	int		 code;

	krx_buf_init(&out, 256);
	krx_buf_put_u8(&out, 0);
	if ((code = admin_run(ks, id, p, len, &out)) == ADMIN_DEFERRED) {
		krx_buf_free(&out);
		return;
	}
	admin_reply(ks, id, code, &out);
}
