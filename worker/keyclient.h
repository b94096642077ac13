/*
 * keyclient.h: the worker's side of the key service. Asynchronous
 * requests with deadlines over the keysvc channel, an alias cache
 * (found: refreshed after 8 min, expired after 10; not found: 30 s), a
 * bounded LRU of decrypted DEKs (expired an hour after they were
 * fetched), and a bounded minute-long memory of EDEKs keysvc called
 * unknown or invalid. Workers never open the LMDB cache: keysvc answers
 * from it. Program grade; trusts keysvc's framing, checks every length.
 */
#ifndef KRX_WORKER_KEYCLIENT_H
#define KRX_WORKER_KEYCLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "common/limits.h"
#include "proto/ipc.h"


struct krx_worker;
struct krx_keyclient;

struct krx_key_answer {
	enum krx_key_status	 status;
	const char		*kek_id;	/* resolve */
	size_t			 kek_len;
	const uint8_t		*edek;		/* generate; decrypt: asked */
	size_t			 edek_len;
	const uint8_t		*dek;		/* generate, decrypt */
};

/* Called exactly once per pending request; a is valid during the call. */
typedef void (*krx_key_fn)(void *arg, const struct krx_key_answer *a);

struct krx_keyclient *krx_keyclient_new(struct krx_worker *w);
/* Fails every pending request (UNAVAILABLE) and frees. */
void	krx_keyclient_free(struct krx_keyclient *kc);
/* A new channel to keysvc (fd owned from now on; -1: none). */
void	krx_keyclient_set_channel(struct krx_keyclient *kc, int fd);

/*
 * Each returns 1 when answered at once (*a filled, valid until the next
 * keyclient call), 0 when pending (fn will be called), never both.
 */
int	krx_keyclient_resolve(struct krx_keyclient *kc, size_t vc,
	    const char *alias, size_t len, krx_key_fn fn, void *arg,
	    struct krx_key_answer *a);
int	krx_keyclient_generate(struct krx_keyclient *kc, size_t vc,
	    const char *kek, size_t len, krx_key_fn fn, void *arg,
	    struct krx_key_answer *a);
int	krx_keyclient_decrypt(struct krx_keyclient *kc, size_t vc,
	    const uint8_t *edek, size_t len, krx_key_fn fn, void *arg,
	    struct krx_key_answer *a);
/*
 * The AES-GCM context of a DEK already in the worker's cache (after a
 * krx_keyclient_decrypt that answered OK), or NULL. Valid until the
 * next keyclient call.
 */
struct krx_aead;
struct krx_aead *krx_keyclient_aead(struct krx_keyclient *kc, size_t vc,
	    const uint8_t *edek, size_t len);
/* Forget a callback's arg (its owner is gone): fn will not be called. */
void	krx_keyclient_cancel(struct krx_keyclient *kc, void *arg);
/*
 * krx-ctl cache flush: forget every alias resolution and decrypted DEK
 * (answers in flight are not kept); the decrypted DEKs dropped.
 */
size_t	krx_keyclient_drop_all(struct krx_keyclient *kc);
/* The EDEK form (crypto/edek_name.h) of a KMS's EDEKs, to name KEKs. */
struct krx_conf_kms;
int	krx_keyclient_edek_form(const struct krx_conf_kms *kms);

#endif
