/*
 * conf.h: krxd's configuration, loaded from a libconfig file into an
 * immutable struct krx_conf. Library grade: problems are collected as
 * "FILE:LINE: message" strings, never logged here.
 */
#ifndef KRX_CONF_CONF_H
#define KRX_CONF_CONF_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "common/err.h"

#define KRX_CONF_DEFAULT_PATH	"/etc/krx/krxd.conf"
#define KRX_CONF_MAX_NODE_ID	1023
#define KRX_CONF_MAX_ERRORS	64

struct krx_hostport {
	char	*host;		/* as written, brackets removed */
	int	 port;
};

/* record_encryption of a virtual cluster (Kroxylicious' key names). */
struct krx_conf_encryption {
	int			 enabled;
	char			*kms;		/* "LocalKms" */
	char			*keystore;	/* LocalKms kmsConfig.keystore */
	char			*template;	/* selectorConfig.template */
	int			 reject_unresolved;
	int64_t			 dek_refresh_after;	/* seconds */
	int64_t			 dek_expire_after;	/* seconds */
	int64_t			 max_encryptions_per_dek;
	int			 line;
	int			 require_encryption;	/* fetch refuses clear
							 * records of topics
							 * with a KEK */
	int			 split_codec;	/* enum krx_codec for
						 * oversized encrypted
						 * batches (issue 14) */
};

struct krx_conf_vcluster {
	char			*name;
	struct krx_hostport	 bootstrap;	/* listen address */
	char			*advertised_host;
	int			 node_start_port;
	int			 max_node_id;
	struct krx_hostport	*upstream;	/* upstream bootstrap list */
	size_t			 n_upstream;
	struct krx_conf_encryption enc;
	int			 line;
	char			**allowed_hosts;	/* upstream globs */
	size_t			 n_allowed_hosts;	/* 0: any host */
};

struct krx_conf {
	char			*path;
	int			 workers;	/* 0: one per CPU */
	char			*user;		/* NULL: no switch */
	char			*keysvc_user;	/* NULL: no switch */
	char			*cache_path;	/* LMDB DEK cache */
	int64_t			 cache_max_bytes;
	char			*pid_file;
	char			*control_socket;
	int			 log_level;	/* enum krx_log_level */
	uint32_t		 max_frame_bytes;
	int			 drain_timeout;	/* seconds */
	struct krx_conf_vcluster *vclusters;
	size_t			 n_vclusters;
	int			 keysvc_kms_rate; /* per worker, per second */
	int			 allow_root;	/* children may stay root */
	/* Limits per worker process (issue 9, finding 4). */
	uint32_t		 max_frame_bytes_unauth;	/* before
							   ApiVersions/SASL */
	int64_t			 worker_buffer_bytes;
	int			 max_connections;
	int			 max_connections_per_addr;
	int			 handshake_timeout;	/* seconds */
	int			 idle_timeout;		/* seconds */
	int			 request_timeout;	/* seconds */
};

struct krx_conf_errors {
	char	*msg[KRX_CONF_MAX_ERRORS];
	size_t	 n;
	size_t	 dropped;
};

/*
 * Load and check path. On success returns 0 and *out owns a new
 * configuration (free with krx_conf_free). On failure returns
 * KRX_E_CONFIG (or KRX_E_NOMEM) and errs holds every problem found;
 * release errs with krx_conf_errors_free either way.
 */
int	krx_conf_load(const char *path, struct krx_conf **out,
	    struct krx_conf_errors *errs);
/* Same, from a string (tests, fuzzing); name is used in messages. */
int	krx_conf_load_string(const char *text, const char *name,
	    struct krx_conf **out, struct krx_conf_errors *errs);
void	krx_conf_free(struct krx_conf *conf);
void	krx_conf_errors_free(struct krx_conf_errors *errs);

/* Split "host:port" / "[v6]:port"; returns 0 or KRX_E_MALFORMED. */
int	krx_hostport_parse(const char *s, struct krx_hostport *hp);
void	krx_hostport_free(struct krx_hostport *hp);

/* Internal to conf/: report a problem (printf-style). */
void	krx_conf_error(struct krx_conf_errors *errs, const char *file,
	    int line, const char *fmt, ...)
	    __attribute__((format(printf, 4, 5)));
/* Expand a KEK selector template for a topic into out (NUL-ended). */
int	krx_conf_kek_alias(const char *template, const char *topic,
	    size_t topic_len, char *out, size_t outlen);
/* The identity of a virtual cluster's KMS, shared by keysvc and workers
 * in DEK cache keys ("LocalKms:/var/lib/krx/keks"). */
int	krx_conf_kms_id(const struct krx_conf_encryption *e, char *out,
	    size_t len);
/*
 * krxd -t: a warning line on out for each enabled LocalKms keystore
 * that does not exist or is not a regular file (issue 9, finding 9).
 */
void	krx_conf_keystore_report(const struct krx_conf *conf, FILE *out);
/* Cross-field checks shared by -t and reload (conf_check.c). */
void	krx_conf_check(const struct krx_conf *conf,
	    struct krx_conf_errors *errs);
/*
 * Issue 9, finding 14: started by euid 0, workers need "user" and, when
 * a virtual cluster encrypts, keysvc needs "keysvc_user", unless
 * "allow_root = true;" says that staying root is meant. Reports each
 * missing one into errs.
 */
/*
 * Issue 9, finding 12: whether a broker-advertised host (NUL-terminated)
 * may be connected to: 1 when vc has no allowed_hosts or one of its
 * fnmatch(3) globs matches, case-insensitively; 0 otherwise.
 */
int	krx_conf_host_allowed(const struct krx_conf_vcluster *vc,
	    const char *host);
void	krx_conf_check_root(const struct krx_conf *conf, unsigned euid,
	    struct krx_conf_errors *errs);

#endif
