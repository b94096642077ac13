/*
 * kms.h: the KMS provider interface inside keysvc. Operations complete
 * through a callback, possibly before the call returns (LocalKms) or
 * later from keysvc's event loop (HTTP providers), so a slow KMS never
 * holds up other requests. Program grade; runs in keysvc only.
 */
#ifndef KRX_KEYSVC_KMS_H
#define KRX_KEYSVC_KMS_H

#include <stddef.h>
#include <stdint.h>

#include "common/limits.h"	/* KRX_DEK_LEN */
#include "proto/ipc.h"

struct event_base;
struct krx_buf;
struct krx_conf_encryption;
struct krx_kms;

struct krx_kms_result {
	enum krx_key_status	 status;
	const char		*detail;	/* for logs and ctl; no secrets */
	const char		*kek_id;	/* resolve */
	size_t			 kek_len;
	const uint8_t		*edek;		/* generate */
	size_t			 edek_len;
	const uint8_t		*dek;		/* generate, decrypt: 32 bytes */
};

typedef void (*krx_kms_cb)(void *arg, const struct krx_kms_result *r);

/*
 * Per provider counters of KMS calls, as Kroxylicious' InstrumentedKms
 * counts them (below the retries: each attempt and its outcome).
 */
enum krx_kms_op {
	KRX_KMS_OP_GENERATE = 0,	/* generate_dek_pair */
	KRX_KMS_OP_DECRYPT = 1,		/* decrypt_edek */
	KRX_KMS_OP_RESOLVE = 2,		/* resolve_alias */
	KRX_KMS_OP_N
};

enum krx_kms_outcome {
	KRX_KMS_SUCCESS = 0,
	KRX_KMS_NOT_FOUND = 1,
	KRX_KMS_EXCEPTION = 2,
	KRX_KMS_OUTCOME_N
};

struct krx_kms_counters {
	uint64_t	 attempts[KRX_KMS_OP_N];
	uint64_t	 outcomes[KRX_KMS_OP_N][KRX_KMS_OUTCOME_N];
};

struct krx_kms_ops {
	const char	*name;
	int		(*open)(struct krx_kms *k);
	void		(*close)(struct krx_kms *k);
	void		(*resolve)(struct krx_kms *k, const char *alias,
			    size_t len, krx_kms_cb cb, void *arg);
	void		(*generate)(struct krx_kms *k, const char *kek,
			    size_t len, krx_kms_cb cb, void *arg);
	void		(*decrypt)(struct krx_kms *k, const uint8_t *edek,
			    size_t len, krx_kms_cb cb, void *arg);
	/* ctl: kek create|rotate|list|delete; text answer in out. */
	int		(*admin)(struct krx_kms *k, int op, const char *arg,
			    struct krx_buf *out);
	/* Optional: add this provider's counters to c. */
	void		(*counters)(const struct krx_kms *k,
			    struct krx_kms_counters *c);
};

struct krx_kms {
	const struct krx_kms_ops		*ops;
	const struct krx_conf_encryption	*conf;
	struct event_base			*base;
	char					*id;	/* cache identity */
	void					*priv;
};

/*
 * 1 when this build has the provider named name (a configuration may
 * name providers krxd -t knows but keysvc cannot run yet).
 */
int	krx_kms_known(const char *name);
/* Open the provider named in conf (fatal-free: NULL with *why set). */
struct krx_kms *krx_kms_open(struct event_base *base, const char *vcluster,
	    const struct krx_conf_encryption *conf, const char **why);
void	krx_kms_close(struct krx_kms *k);

/*
 * What the HTTP providers share: count one attempt of op that ended in
 * st (every attempt, retried ones included); add the counters in to
 * out; answer cb at once, without the KMS.
 */
void	krx_kms_count(struct krx_kms_counters *c, enum krx_kms_op op,
	    enum krx_key_status st);
/* keysvc's metrics row (common/shm/mstats.h), NULL: none; krx_kms_count
 * (c may be NULL) adds there too. */
struct krx_kmrow;
extern struct krx_kmrow *krx_kms_mrow;
void	krx_kms_counters_add(struct krx_kms_counters *out,
	    const struct krx_kms_counters *in);
void	krx_kms_answer_now(krx_kms_cb cb, void *arg, enum krx_key_status st,
	    const char *detail);
/* n bytes of a KMS's untrusted text for a detail: printable ASCII, the
 * rest as '?', cut to outsz - 1 and NUL-ended. */
void	krx_kms_clean(char *out, size_t outsz, const char *s, size_t n);
/*
 * One operation's failure lines, at most one every `every` seconds:
 * krx_kms_log_due says 1 when a line may be logged now (*earlier: 1
 * when lines were held back since the last), else counts one held back.
 */
struct krx_kms_lograte {
	int64_t		 next;		/* monotonic seconds */
	unsigned	 suppressed;
};
#define KRX_KMS_LOG_EVERY	10	/* seconds between failure lines */
int	krx_kms_log_due(struct krx_kms_lograte *l, int *earlier);
/* (Re)arm the timer ev to fire in secs seconds (at least 1): token and
 * credential renewals and retries. */
struct event;
void	krx_kms_timer_in(struct event *ev, long secs);

/* "generate_dek_pair", ...; "success", "not_found", "exception". */
const char	*krx_kms_op_name(int op);
const char	*krx_kms_outcome_name(int outcome);

extern const struct krx_kms_ops krx_kms_local_ops;
extern const struct krx_kms_ops krx_kms_vault_ops;
extern const struct krx_kms_ops krx_kms_aws_ops;
extern const struct krx_kms_ops krx_kms_azure_ops;

#endif
