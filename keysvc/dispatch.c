/*
 * dispatch.c: requests from workers. A table of {type, length bounds,
 * handler} is enforced before any handler runs; each handler decodes
 * with a bounded cursor that must end exactly at the payload's end, and
 * checks the virtual cluster index against the configuration. A
 * violation closes that worker's channel (keysvc.c). Buffers that held
 * DEKs are zeroed (krx_chan zeroes what it sent).
 */
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

#define KS_MAX_NAME	512
#define KS_MAX_EDEK	4096
#define KS_MAX_BATCH	64
#define KS_DEK_TTL	3600	/* seconds a decrypted DEK stays cached */

struct ks_req {
	struct krx_keysvc	*ks;
	struct krx_chan		*chan;
	int			 slot;
	uint32_t		 id;
	struct krx_kms		*kms;
	uint32_t		 n;		/* EDEKs in a decrypt */
	uint32_t		 done;
	const uint8_t		*edek;		/* current, for the cache */
	size_t			 cur_len;	/* its length */
	size_t			 edek_len;	/* the whole EDEK list */
	struct krx_buf		 reply;
};

typedef int (*ks_handler)(struct ks_req *r, struct krx_cur *c);

static int	ks_resolve(struct ks_req *, struct krx_cur *);
static int	ks_generate(struct ks_req *, struct krx_cur *);
static int	ks_decrypt(struct ks_req *, struct krx_cur *);
static int	ks_stats(struct ks_req *, struct krx_cur *);

static const struct {
	uint32_t	 type;
	size_t		 min, max;
	ks_handler	 fn;
} ks_table[] = {
	{ KRX_IPC_KEY_RESOLVE, 8 + 1, 8 + KS_MAX_NAME, ks_resolve },
	{ KRX_IPC_KEY_GENERATE, 8 + 1, 8 + KS_MAX_NAME, ks_generate },
	{ KRX_IPC_KEY_DECRYPT, 8 + 5, 8 + KS_MAX_BATCH * (4 + KS_MAX_EDEK),
	    ks_decrypt },
	{ KRX_IPC_KEY_STATS, 0, 0, ks_stats },
};

static void
ks_send(struct ks_req *r)
{
	if (r->ks->workers[r->slot] == r->chan && r->reply.err == KRX_OK)
		krx_chan_send(r->chan, KRX_IPC_KEY_REPLY, r->id, 0,
		    r->reply.data, r->reply.len, -1);
	krx_buf_free_secret(&r->reply);
	free(r);
}

/* A length-prefixed string of at most max bytes, at least one. */
static int
ks_get_str(struct krx_cur *c, size_t max, const uint8_t **p, size_t *len)
{
	uint32_t	 n;

	if (krx_cur_get_be32(c, &n) != KRX_OK || n == 0 || n > max)
		return -1;
	*len = n;
	return krx_cur_get_ref(c, n, p) == KRX_OK ? 0 : -1;
}

static int
ks_get_kms(struct ks_req *r, struct krx_cur *c)
{
	uint32_t	 vc;

	if (krx_cur_get_be32(c, &vc) != KRX_OK ||
	    vc >= r->ks->conf->n_vclusters || r->ks->kms[vc] == NULL)
		return -1;
	r->kms = r->ks->kms[vc];
	return 0;
}

static void
ks_count(struct ks_req *r, enum krx_key_status st)
{
	if (st == KRX_KEY_NOT_FOUND)
		r->ks->stats[KRX_KS_NOT_FOUND]++;
	else if (st != KRX_KEY_OK)
		r->ks->stats[KRX_KS_KMS_ERRORS]++;
}

static void
ks_resolve_done(void *arg, const struct krx_kms_result *res)
{
	struct ks_req	*r = arg;

	ks_count(r, res->status);
	krx_buf_put_u8(&r->reply, res->status);
	krx_buf_put_be32(&r->reply, res->status == KRX_KEY_OK ?
	    (uint32_t)res->kek_len : 0);
	if (res->status == KRX_KEY_OK)
		krx_buf_put(&r->reply, res->kek_id, res->kek_len);
	ks_send(r);
}

static int
ks_resolve(struct ks_req *r, struct krx_cur *c)
{
	const uint8_t	*alias;
	size_t		 len;
	char		 name[KS_MAX_NAME + 1];

	if (ks_get_kms(r, c) != 0 || ks_get_str(c, KS_MAX_NAME, &alias,
	    &len) != 0 || krx_cur_end(c) != KRX_OK)
		return -1;
	memcpy(name, alias, len);
	name[len] = '\0';
	r->ks->stats[KRX_KS_RESOLVE]++;
	r->kms->ops->resolve(r->kms, name, len, ks_resolve_done, r);
	return 0;
}

static void
ks_generate_done(void *arg, const struct krx_kms_result *res)
{
	struct ks_req	*r = arg;

	ks_count(r, res->status);
	krx_buf_put_u8(&r->reply, res->status);
	if (res->status != KRX_KEY_OK) {
		log_warnx("generate DEK with KMS %s: %s", r->kms->id,
		    res->status == KRX_KEY_NOT_FOUND ? "KEK not found" :
		    "KMS error");
		krx_buf_put_be32(&r->reply, 0);
		krx_buf_put_be32(&r->reply, 0);
		ks_send(r);
		return;
	}
	krx_buf_put_be32(&r->reply, (uint32_t)res->edek_len);
	krx_buf_put(&r->reply, res->edek, res->edek_len);
	krx_buf_put_be32(&r->reply, KRX_DEK_BYTES);
	krx_buf_put(&r->reply, res->dek, KRX_DEK_BYTES);
	/* A tail consumer finds the producer's DEK without the KMS. */
	krx_keysvc_cache_put(r->ks, r->kms, res->edek, res->edek_len,
	    res->dek, r->kms->conf->dek_expire_after + KS_DEK_TTL);
	ks_send(r);
}

static int
ks_generate(struct ks_req *r, struct krx_cur *c)
{
	const uint8_t	*kek;
	size_t		 len;
	char		 name[KS_MAX_NAME + 1];

	if (ks_get_kms(r, c) != 0 || ks_get_str(c, KS_MAX_NAME, &kek,
	    &len) != 0 || krx_cur_end(c) != KRX_OK)
		return -1;
	memcpy(name, kek, len);
	name[len] = '\0';
	r->ks->stats[KRX_KS_GENERATE]++;
	r->kms->ops->generate(r->kms, name, len, ks_generate_done, r);
	return 0;
}

static void	ks_decrypt_next(struct ks_req *);

static void
ks_decrypt_done(void *arg, const struct krx_kms_result *res)
{
	struct ks_req	*r = arg;

	ks_count(r, res->status);
	krx_buf_put_u8(&r->reply, res->status);
	if (res->status == KRX_KEY_OK) {
		krx_buf_put_be32(&r->reply, KRX_DEK_BYTES);
		krx_buf_put(&r->reply, res->dek, KRX_DEK_BYTES);
		krx_keysvc_cache_put(r->ks, r->kms, r->edek, r->cur_len,
		    res->dek, KS_DEK_TTL);
	} else
		krx_buf_put_be32(&r->reply, 0);
	r->done++;
	ks_decrypt_next(r);
}

/* The EDEKs were copied after the reply area: [u32 len | bytes]... */
static void
ks_decrypt_next(struct ks_req *r)
{
	struct krx_cur	 c;
	uint32_t	 len;
	uint32_t	 i;

	if (r->done == r->n) {
		ks_send(r);
		return;
	}
	krx_cur_init(&c, r->reply.data + r->reply.cap - r->edek_len,
	    r->edek_len);
	for (i = 0; i <= r->done; i++) {
		krx_cur_get_be32(&c, &len);
		krx_cur_get_ref(&c, len, &r->edek);
	}
	r->cur_len = len;
	r->ks->stats[KRX_KS_DECRYPT]++;
	r->kms->ops->decrypt(r->kms, r->edek, len, ks_decrypt_done, r);
}

/*
 * The reply area is reserved up front for n answers; the EDEK list is
 * copied behind it (the payload dies with the message callback).
 */
static int
ks_decrypt(struct ks_req *r, struct krx_cur *c)
{
	const uint8_t	*edek, *start;
	size_t		 len, listlen;
	uint32_t	 n, i;

	if (ks_get_kms(r, c) != 0 || krx_cur_get_be32(c, &n) != KRX_OK ||
	    n == 0 || n > KS_MAX_BATCH)
		return -1;
	start = c->p + c->off;
	for (i = 0; i < n; i++)
		if (ks_get_str(c, KS_MAX_EDEK, &edek, &len) != 0)
			return -1;
	if (krx_cur_end(c) != KRX_OK)
		return -1;
	listlen = (size_t)(c->p + c->off - start);
	r->n = n;
	krx_buf_free(&r->reply);
	krx_buf_init(&r->reply, 4 + n * (5 + KRX_DEK_BYTES) + listlen);
	if (r->reply.err != KRX_OK)
		return -1;
	memcpy(r->reply.data + r->reply.cap - listlen, start, listlen);
	r->edek_len = listlen;
	krx_buf_put_be32(&r->reply, n);
	ks_decrypt_next(r);
	return 0;
}

static int
ks_stats(struct ks_req *r, struct krx_cur *c)
{
	int	 i;

	krx_buf_put_be32(&r->reply, KRX_KS_N);
	for (i = 0; i < KRX_KS_N; i++)
		krx_buf_put_be64(&r->reply, r->ks->stats[i]);
	ks_send(r);
	return 0;
}

int
krx_keysvc_dispatch(struct krx_keysvc *ks, int slot,
    const struct krx_ipc_hdr *h, const uint8_t *p, size_t len)
{
	struct ks_req	*r;
	struct krx_cur	 c;
	size_t		 i;

	for (i = 0; i < sizeof(ks_table) / sizeof(ks_table[0]); i++)
		if (ks_table[i].type == h->type)
			break;
	if (i == sizeof(ks_table) / sizeof(ks_table[0]) ||
	    len < ks_table[i].min || len > ks_table[i].max ||
	    (h->flags & KRX_IPC_F_FD) || !ks->ready)
		return -1;
	r = xcalloc(1, sizeof(*r));
	r->ks = ks;
	r->chan = ks->workers[slot];
	r->slot = slot;
	r->id = h->id;
	krx_buf_init(&r->reply, 128);
	krx_cur_init(&c, p, len);
	if (ks_table[i].fn(r, &c) != 0) {
		krx_buf_free(&r->reply);
		free(r);
		return -1;
	}
	return 0;
}
