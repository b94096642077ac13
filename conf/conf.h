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

/*
 * The kms of record_encryption and its kmsConfig (conf_kms.c). Remote
 * providers take Kroxylicious' key names; secrets are only ever paths
 * of files (passwordFile), absolute, read by keysvc, never by conf/.
 */
enum krx_conf_kms_kind {
	KRX_CONF_KMS_LOCAL = 0,		/* LocalKms: enc.keystore */
	KRX_CONF_KMS_VAULT,		/* VaultKmsService */
	KRX_CONF_KMS_AWS,		/* AwsKmsService */
	KRX_CONF_KMS_AZURE		/* AzureKeyVaultKmsService */
};

enum krx_conf_store_type {
	KRX_CONF_STORE_PKCS12 = 0,	/* the default */
	KRX_CONF_STORE_JKS,
	KRX_CONF_STORE_PEM
};

#define KRX_CONF_KMS_TIMEOUT	20	/* seconds, connect and request */

/*
 * A KMS connection's tls group. No group, or no trust: the system's
 * trust store. All paths absolute; NULL when not set.
 */
/* A list of names (protocols, cipher suites); given: the list was set. */
struct krx_conf_names {
	char	**v;
	size_t	 n;
	int	 given;
};

enum krx_conf_client_auth {
	KRX_CONF_CLIENT_AUTH_NONE = 0,
	KRX_CONF_CLIENT_AUTH_REQUESTED,
	KRX_CONF_CLIENT_AUTH_REQUIRED
};

/* A tls group (conf/conf_tls.c has the schema). */
struct krx_conf_tls {
	int	 present;		/* a tls group was written */
	int	 insecure;		/* trust = { insecure = true; }: no
					 * certificate or host name check */
	char	*trust_file;		/* trust.storeFile */
	char	*trust_password_file;	/* trust.storePassword.passwordFile */
	int	 trust_type;		/* trust.storeType */
	char	*key_store_file;	/* key.storeFile, or: */
	char	*key_store_password_file; /* key.storePassword.passwordFile */
	int	 key_store_type;	/* key.storeType */
	char	*key_file;		/* key.privateKeyFile (PEM) with */
	char	*cert_file;		/* key.certificateFile (PEM) */
	char	*key_password_file;	/* key.keyPassword.passwordFile */
	int	 client_auth;		/* trust.trustOptions.clientAuth */
	struct krx_conf_names protocols_allowed, protocols_denied;
	struct krx_conf_names ciphers_allowed, ciphers_denied;
};

/* VaultKmsService: exactly one of token_file and k8s_role is set. */
struct krx_conf_kms_vault {
	char	*url;		/* vaultTransitEngineUrl, path /v1/...,
				 * trailing '/' removed */
	char	*token_file;	/* vaultToken.passwordFile */
	char	*k8s_role;	/* kubernetesAuth.role (krx's own) */
	char	*k8s_token_file; /* .serviceAccountTokenFile */
	char	*k8s_mount;	/* .mountPath, default "kubernetes" */
	char	*k8s_namespace;	/* .namespace, NULL: none */
};

enum krx_conf_aws_creds {
	KRX_CONF_AWS_LONG_TERM = 0,	/* access key id and secret files */
	KRX_CONF_AWS_EC2_METADATA,	/* IMDSv2, iam_role */
	KRX_CONF_AWS_WEB_IDENTITY	/* STS AssumeRoleWithWebIdentity */
};

/* AwsKmsService. */
struct krx_conf_kms_aws {
	char	*endpoint_url;		/* endpointUrl */
	char	*region;		/* region */
	int	 creds;			/* enum krx_conf_aws_creds */
	char	*access_key_id_file;	/* longTerm */
	char	*secret_access_key_file;
	char	*session_token_file;	/* longTerm.sessionToken (krx's
					 * own), NULL: none */
	char	*iam_role;		/* ec2Metadata */
	char	*metadata_endpoint;	/* default http://169.254.169.254/ */
	/* webIdentity: NULL falls back to the AWS_* environment of keysvc
	 * (AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE, ...) at run time. */
	char	*role_arn;
	char	*web_identity_token_file;
	char	*role_session_name;
	char	*sts_endpoint_url;	/* NULL: https://sts.<region>.
					 * amazonaws.com */
	int	 duration_seconds;	/* 0: the role's maximum */
	double	 lifetime_factor;	/* credentialLifetimeFactor (0.8) */
};

enum krx_conf_azure_auth {
	KRX_CONF_AZURE_OAUTH2 = 0,	/* oauth2ClientCredentials */
	KRX_CONF_AZURE_MANAGED_IDENTITY	/* managedIdentityCredentials */
};

/* AzureKeyVaultKmsService (also written AzureKeyVault). */
struct krx_conf_kms_azure {
	char	*vault_name;		/* keyVaultName */
	char	*vault_host;		/* keyVaultHost */
	char	*scheme;		/* keyVaultScheme, default "https" */
	int	 port;			/* keyVaultPort, 0: none */
	char	*vault_url;		/* scheme://name.host[:port] */
	int	 auth;			/* enum krx_conf_azure_auth */
	char	*oauth_endpoint;	/* default https://login.
					 * microsoftonline.com */
	char	*tenant_id;
	char	*client_id_file;	/* clientId.passwordFile */
	char	*client_secret_file;	/* clientSecret.passwordFile */
	char	*scope;
	struct krx_conf_tls oauth_tls; /* oauth2ClientCredentials.tls */
	char	*target_resource;	/* managedIdentityCredentials */
	char	*identity_endpoint;	/* default http://169.254.169.254 */
};

struct krx_conf_kms {
	int			 kind;		/* enum krx_conf_kms_kind */
	int			 line;		/* of kmsConfig */
	int			 connect_timeout; /* seconds */
	int			 request_timeout; /* seconds */
	struct krx_conf_tls	 tls;		/* kmsConfig.tls */
	struct krx_conf_kms_vault vault;
	struct krx_conf_kms_aws	 aws;
	struct krx_conf_kms_azure azure;
};

/* record_encryption of a virtual cluster (Kroxylicious' key names). */
struct krx_conf_encryption {
	int			 enabled;
	/* "LocalKms", "VaultKmsService", "AwsKmsService" or
	 * "AzureKeyVaultKmsService" ("AzureKeyVault" is renamed so) */
	char			*kms;
	char			*keystore;	/* LocalKms kmsConfig.keystore */
	struct krx_conf_kms	 kms_conf;	/* kind, remote settings */
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
	struct krx_conf_tls	 tls;		/* clients to krx */
	int			 proxy_protocol; /* a PROXY header first */
	/* SNI routing (sni = { bootstrap; broker; }): one port, the
	 * bootstrap's; the TLS server name picks the broker. */
	char			*sni_bootstrap;	/* NULL: port per broker */
	char			*sni_prefix;	/* broker name before and */
	char			*sni_suffix;	/* after $(nodeId) */
	struct krx_conf_tls	 upstream_tls;	/* krx to the brokers */
};

struct krx_conf {
	char			*path;
	char			*text;		/* as parsed, @includes inlined
					 * (libconfig's writer): what a
					 * key service started later
					 * parses, whatever the file
					 * holds by then */
	size_t			 text_len;
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
	int			 reload_timeout; /* seconds: new workers READY */
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
	char			*metrics_listen; /* metrics.listen "host:port",
						 * NULL: no /metrics listener */
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
void	krx_conf_tls_free(struct krx_conf_tls *t);
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
/*
 * The identity of a virtual cluster's KMS, shared by keysvc and workers
 * in DEK cache keys: "LocalKms:/var/lib/krx/keks"; for a remote KMS its
 * name, its URL (AWS: and region) and a digest of the credential
 * settings, so that two virtual clusters share cached DEKs only when
 * they reach the same KMS as the same principal:
 * "VaultKmsService:https://vault:8200/v1/transit#<32 hex>".
 * Returns 0 or KRX_E_TOO_BIG (out NUL-terminated when len > 0).
 */
int	krx_conf_kms_id(const struct krx_conf_encryption *e, char *out,
	    size_t len);
/* Free what k holds (not k itself) and zero it. */
void	krx_conf_kms_free(struct krx_conf_kms *k);
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
