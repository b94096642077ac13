/*
 * conf_kms.c: the kms and kmsConfig of record_encryption for the remote
 * providers, with Kroxylicious' key names (camelCase, as in its YAML) so
 * that its users carry their settings over. Library grade; trusts
 * nothing in the file. LocalKms stays in conf_enc.c.
 *
 * For krxd.conf(5), "Record encryption" (defaults in brackets):
 *
 * kms = "VaultKmsService"; kmsConfig = {
 *   vaultTransitEngineUrl = "https://vault:8200/v1/transit";  path /v1/...,
 *	namespaces first (/v1/ns1/ns2/transit)
 *   vaultToken = { passwordFile = "/etc/krx/vault-token"; };
 *   or krx's own, Vault's Kubernetes auth method: kubernetesAuth = {
 *	role = "krx"; serviceAccountTokenFile = "/path"
 *	[/var/run/secrets/kubernetes.io/serviceaccount/token];
 *	mountPath = "kubernetes" [kubernetes: the -path of "vault auth
 *	enable"]; namespace = "ns1/ns2" [none]; }
 *	keysvc logs in with POST <scheme://host:port of the URL>/v1/
 *	[<namespace>/]auth/<mountPath>/login {"role", "jwt"} and renews the
 *	token as its lease asks. Exactly one of vaultToken, kubernetesAuth.
 * };
 * kms = "AwsKmsService"; kmsConfig = {
 *   endpointUrl = "https://kms.us-east-1.amazonaws.com"; region = "...";
 *   credentials = { longTerm = { accessKeyId = { passwordFile = "..."; };
 *	secretAccessKey = { passwordFile = "..."; };
 *	sessionToken = { passwordFile = "..."; } [none; krx's own: for
 *	temporary credentials, sent as X-Amz-Security-Token]; }; };
 *   or credentials = { ec2Metadata = { iamRole = "..."; metadataEndpoint
 *	= "..." [http://169.254.169.254/]; credentialLifetimeFactor = 0.8; };
 *   or credentials = { webIdentity = { roleArn; webIdentityTokenFile;
 *	roleSessionName; stsEndpointUrl; durationSeconds (900-43200);
 *	credentialLifetimeFactor; }; }  each unset one comes from keysvc's
 *	AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_SESSION_NAME
 *   The deprecated longTermCredentials and ec2MetadataCredentials groups
 *   at this level are accepted. Exactly one kind; podIdentity refused.
 * };
 * kms = "AzureKeyVaultKmsService" (or "AzureKeyVault"); kmsConfig = {
 *   keyVaultName = "..." (3-24 of [A-Za-z0-9-], no '-' at an end or two
 *   in a row); keyVaultHost = "vault.azure.net"; keyVaultScheme = "https"
 *   [https; or http]; keyVaultPort = 443 [none in the URL];
 *   oauth2ClientCredentials = { oauthEndpoint = "..."
 *	[https://login.microsoftonline.com]; tenantId = "...";
 *	clientId = { passwordFile = "..."; }; clientSecret = { ... };
 *	scope = "https://vault.azure.net/.default"; tls = { ... }; };
 *   or managedIdentityCredentials = { targetResource = "...";
 *	identityServiceEndpoint = "..." [http://169.254.169.254]; };
 * };
 * Each remote kmsConfig also takes tls = { ... } and krx's own
 * connectTimeoutSeconds and requestTimeoutSeconds (1-300) [20].
 *
 * tls = { trust = { storeFile = "/path"; storePassword = { passwordFile
 *	= "..."; }; storeType = "PKCS12" [PKCS12; or JKS, PEM]; }
 *	or trust = { insecure = true; } (tests only: nothing is checked);
 *   key = { storeFile; storePassword; keyPassword; storeType; }
 *	or key = { privateKeyFile; certificateFile; keyPassword; }; }
 * No tls, or no trust: the system's trust store.
 *
 * Secrets are never inline: password = "..." is refused, only
 * passwordFile = "/absolute/path". Every file is an absolute path
 * (keysvc runs from "/"), read by keysvc, never here.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libconfig.h>
#include <openssl/evp.h>

#include "common/buf.h"
#include "conf/conf.h"
#include "conf/conf_int.h"

#define KMS_URL_MAX		1024
#define KMS_NAME_MAX		255
#define KMS_TIMEOUT_MAX		300
#define KMS_DIGEST_HEX		32

/* Character sets of names. */
#define KMS_ALNUM	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" \
			"0123456789"
#define KMS_HOST	KMS_ALNUM ".-"
#define KMS_IAM		KMS_ALNUM "_+=,.@-"	/* IAM role, session names */
#define KMS_REGION	"abcdefghijklmnopqrstuvwxyz0123456789-"

static const char *const vault_keys[] = {
	"vaultTransitEngineUrl", "vaultToken", "kubernetesAuth", "tls",
	"connectTimeoutSeconds", "requestTimeoutSeconds", NULL
};
static const char *const k8s_keys[] = {
	"role", "serviceAccountTokenFile", "mountPath", "namespace", NULL
};
static const char *const aws_keys[] = {
	"endpointUrl", "region", "credentials", "longTermCredentials",
	"ec2MetadataCredentials", "tls", "connectTimeoutSeconds",
	"requestTimeoutSeconds", NULL
};
static const char *const aws_cred_keys[] = {
	"longTerm", "ec2Metadata", "webIdentity", "podIdentity", NULL
};
static const char *const long_term_keys[] = {
	"accessKeyId", "secretAccessKey", "sessionToken", NULL
};
static const char *const ec2_keys[] = {
	"iamRole", "metadataEndpoint", "credentialLifetimeFactor", NULL
};
static const char *const web_identity_keys[] = {
	"roleArn", "webIdentityTokenFile", "roleSessionName",
	"stsEndpointUrl", "durationSeconds", "credentialLifetimeFactor", NULL
};
static const char *const azure_keys[] = {
	"keyVaultName", "keyVaultHost", "keyVaultScheme", "keyVaultPort",
	"oauth2ClientCredentials", "managedIdentityCredentials", "tls",
	"connectTimeoutSeconds", "requestTimeoutSeconds", NULL
};
static const char *const oauth2_keys[] = {
	"oauthEndpoint", "tenantId", "clientId", "clientSecret", "scope",
	"tls", NULL
};
static const char *const managed_keys[] = {
	"targetResource", "identityServiceEndpoint", NULL
};

static int
kms_alnum(int ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
	    (ch >= '0' && ch <= '9');
}

/* *p = a copy of def when nothing was set. */
static void
kms_default(struct conf_ctx *c, int line, char **p, const char *def)
{
	if (*p == NULL)
		*p = krx_conf_dup(c, line, def);
}

/*
 * An http or https URL: no user part, a host name or [IPv6] address, an
 * optional port 1-65535, then a path (maybe empty) without query or
 * fragment. Returns NULL, or what is wrong; *path is the path's offset.
 */
static const char *
kms_url_check(const char *u, size_t *path)
{
	const char	*h, *p, *end;
	long		 port = 0;

	if (strncasecmp(u, "https://", 8) == 0)
		h = u + 8;
	else if (strncasecmp(u, "http://", 7) == 0)
		h = u + 7;
	else
		return "must start with http:// or https://";
	end = h + strcspn(h, "/?#");
	if (memchr(h, '@', end - h) != NULL)
		return "must not carry user credentials";
	p = h;
	if (*p == '[') {
		p += 1 + strspn(p + 1, "0123456789abcdefABCDEF:.");
		if (p == h + 1 || p == end || *p != ']')
			return "has a bad [IPv6] host";
		p++;
	} else {
		p += strspn(p, KMS_HOST);
		if (p == h)
			return "has no host";
	}
	if (p < end) {
		if (*p != ':' || p + 1 == end || end - p > 6)
			return "has a bad host or port";
		for (p++; p < end; p++) {
			if (*p < '0' || *p > '9')
				return "has a bad port";
			port = port * 10 + (*p - '0');
		}
		if (port < 1 || port > 65535)
			return "has a bad port";
	}
	for (p = end; *p != '\0'; p++) {
		if (*p == '?' || *p == '#')
			return "must not have a query or fragment";
		if (!krx_conf_graph((unsigned char)*p) ||
		    strchr("\"<>\\^`{|}", *p) != NULL)
			return "has a character not allowed in a URL";
	}
	*path = end - u;
	return NULL;
}

/* A URL member (kms_url_check); vault: the path must be /v1/... */
static char *
kms_url(struct conf_ctx *c, const config_setting_t *g, const char *where,
    const char *name, int required, int vault)
{
	const char	*why;
	char		*u;
	size_t		 path, n;
	int		 line;

	if ((u = krx_conf_str(c, g, where, name, required, KMS_URL_MAX, NULL,
	    "a URL")) == NULL)
		return NULL;
	line = krx_conf_line(g, name);
	if ((why = kms_url_check(u, &path)) == NULL && vault) {
		/* Kroxylicious: the path must match ^/?v1/.+ */
		if (strncmp(u + path, "/v1/", 4) != 0 ||
		    u[path + 4 + strspn(u + path + 4, "/")] == '\0')
			why = "must have a path /v1/<transit mount> (with any "
			    "namespaces first: /v1/ns1/transit)";
		for (n = strlen(u); why == NULL && u[n - 1] == '/'; n--)
			u[n - 1] = '\0';
	}
	if (why != NULL) {
		krx_conf_error(c->errs, c->file, line, "%s.%s \"%s\" %s",
		    where, name, u, why);
		free(u);
		return NULL;
	}
	return u;
}

/* Vault mount paths and namespaces: segments of [A-Za-z0-9_.-] by '/'. */
static char *
kms_vault_path(struct conf_ctx *c, const config_setting_t *g,
    const char *where, const char *name)
{
	const char	*seg;
	char		*v;
	size_t		 n;

	if ((v = krx_conf_str(c, g, where, name, 0, KMS_NAME_MAX, NULL,
	    NULL)) == NULL)
		return NULL;
	for (seg = v; ; seg += n + 1) {
		n = strcspn(seg, "/");
		if (n == 0 || (n == 1 && seg[0] == '.') ||
		    (n == 2 && seg[0] == '.' && seg[1] == '.') ||
		    strspn(seg, KMS_ALNUM "_.-") != n) {
			krx_conf_error(c->errs, c->file, krx_conf_line(g, name),
			    "%s.%s \"%s\" must be path segments of "
			    "[A-Za-z0-9_.-] joined by '/'", where, name, v);
			free(v);
			return NULL;
		}
		if (seg[n] == '\0')
			break;
	}
	return v;
}

static void
kms_vault_k8s(struct conf_ctx *c, const config_setting_t *k,
    struct krx_conf_kms_vault *v)
{
	static const char	 w[] = "kmsConfig.kubernetesAuth";
	const config_setting_t	*a;
	int			 line;

	if ((a = krx_conf_group(c, k, "kmsConfig", "kubernetesAuth")) == NULL)
		return;
	line = config_setting_source_line(a);
	krx_conf_check_keys(c, a, k8s_keys, w);
	v->k8s_role = krx_conf_str(c, a, w, "role", 1, KMS_NAME_MAX,
	    KMS_ALNUM "_.@-", "a Vault role name of [A-Za-z0-9_.@-]");
	v->k8s_token_file = krx_conf_path(c, a, w, "serviceAccountTokenFile",
	    0);
	kms_default(c, line, &v->k8s_token_file,
	    "/var/run/secrets/kubernetes.io/serviceaccount/token");
	v->k8s_mount = kms_vault_path(c, a, w, "mountPath");
	kms_default(c, line, &v->k8s_mount, "kubernetes");
	v->k8s_namespace = kms_vault_path(c, a, w, "namespace");
}

static void
kms_vault(struct conf_ctx *c, const config_setting_t *k,
    struct krx_conf_kms_vault *v)
{
	int	 tok = config_setting_get_member(k, "vaultToken") != NULL;
	int	 k8s = config_setting_get_member(k, "kubernetesAuth") != NULL;

	krx_conf_check_keys(c, k, vault_keys, "kmsConfig");
	v->url = kms_url(c, k, "kmsConfig", "vaultTransitEngineUrl", 1, 1);
	if (tok == k8s)
		krx_conf_error(c->errs, c->file, config_setting_source_line(k),
		    "kmsConfig: VaultKmsService needs exactly one of "
		    "vaultToken = { passwordFile = \"...\"; } and "
		    "kubernetesAuth = { role = \"...\"; }");
	else if (tok)
		v->token_file = krx_conf_password(c, k, "kmsConfig",
		    "vaultToken", 1);
	else
		kms_vault_k8s(c, k, v);
}

/* credentialLifetimeFactor: a number in (0, 1), default 0.8. */
static void
kms_factor(struct conf_ctx *c, const config_setting_t *g, const char *where,
    double *f)
{
	const config_setting_t	*s = config_setting_get_member(g,
	    "credentialLifetimeFactor");
	double			 v;

	*f = 0.8;
	if (s == NULL)
		return;
	v = config_setting_type(s) == CONFIG_TYPE_FLOAT ?
	    config_setting_get_float(s) : -1;
	if (!(v > 0 && v < 1)) {
		krx_conf_error(c->errs, c->file, config_setting_source_line(s),
		    "%s.credentialLifetimeFactor must be a number between 0 "
		    "and 1 (0.8)", where);
		return;
	}
	*f = v;
}

static void
kms_aws_long_term(struct conf_ctx *c, const config_setting_t *g,
    const char *where, struct krx_conf_kms_aws *a)
{
	krx_conf_check_keys(c, g, long_term_keys, where);
	a->access_key_id_file = krx_conf_password(c, g, where, "accessKeyId",
	    1);
	a->secret_access_key_file = krx_conf_password(c, g, where,
	    "secretAccessKey", 1);
	a->session_token_file = krx_conf_password(c, g, where, "sessionToken",
	    0);
}

static void
kms_aws_ec2(struct conf_ctx *c, const config_setting_t *g,
    const char *where, struct krx_conf_kms_aws *a)
{
	krx_conf_check_keys(c, g, ec2_keys, where);
	a->iam_role = krx_conf_str(c, g, where, "iamRole", 1, 64, KMS_IAM,
	    "an IAM role name of [A-Za-z0-9_+=,.@-]");
	a->metadata_endpoint = kms_url(c, g, where, "metadataEndpoint", 0, 0);
	kms_default(c, config_setting_source_line(g), &a->metadata_endpoint,
	    "http://169.254.169.254/");
	kms_factor(c, g, where, &a->lifetime_factor);
}

static void
kms_aws_web(struct conf_ctx *c, const config_setting_t *g,
    const char *where, struct krx_conf_kms_aws *a)
{
	int	 line = config_setting_source_line(g);

	krx_conf_check_keys(c, g, web_identity_keys, where);
	a->role_arn = krx_conf_str(c, g, where, "roleArn", 0, 2048, NULL, NULL);
	if (a->role_arn != NULL && strncmp(a->role_arn, "arn:", 4) != 0) {
		krx_conf_error(c->errs, c->file, krx_conf_line(g, "roleArn"),
		    "%s.roleArn \"%s\" is "
		    "not an ARN (arn:aws:iam::<account>:role/<name>)", where,
		    a->role_arn);
	}
	a->web_identity_token_file = krx_conf_path(c, g, where,
	    "webIdentityTokenFile", 0);
	a->role_session_name = krx_conf_str(c, g, where, "roleSessionName", 0,
	    64, KMS_IAM, "2 to 64 of [A-Za-z0-9_+=,.@-]");
	if (a->role_session_name != NULL && a->role_session_name[1] == '\0')
		krx_conf_error(c->errs, c->file,
		    krx_conf_line(g, "roleSessionName"), "%s.roleSessionName "
		    "must be 2 to 64 of [A-Za-z0-9_+=,.@-]", where);
	a->sts_endpoint_url = kms_url(c, g, where, "stsEndpointUrl", 0, 0);
	a->duration_seconds = (int)krx_conf_int(c, g, "durationSeconds", 900,
	    43200, 0, 0, line);
	kms_factor(c, g, where, &a->lifetime_factor);
}

/* One credential source, as found: its group, name and kind. */
struct kms_aws_src {
	const config_setting_t	*g;
	char			 where[64];
	int			 kind;
};

static size_t
kms_aws_sources(struct conf_ctx *c, const config_setting_t *k,
    struct kms_aws_src *src)
{
	static const struct { const char *name; int kind; } flat[] = {
		{ "longTermCredentials", KRX_CONF_AWS_LONG_TERM },
		{ "ec2MetadataCredentials", KRX_CONF_AWS_EC2_METADATA },
	}, nested[] = {
		{ "longTerm", KRX_CONF_AWS_LONG_TERM },
		{ "ec2Metadata", KRX_CONF_AWS_EC2_METADATA },
		{ "webIdentity", KRX_CONF_AWS_WEB_IDENTITY },
	};
	const config_setting_t	*cr, *s;
	size_t			 i, n = 0;

	for (i = 0; i < 2; i++)
		if ((s = krx_conf_group(c, k, "kmsConfig",
		    flat[i].name)) != NULL) {
			src[n].g = s;
			src[n].kind = flat[i].kind;
			snprintf(src[n++].where, sizeof(src[0].where),
			    "kmsConfig.%s", flat[i].name);
		}
	if ((cr = krx_conf_group(c, k, "kmsConfig", "credentials")) == NULL)
		return n;
	krx_conf_check_keys(c, cr, aws_cred_keys, "kmsConfig.credentials");
	if ((s = config_setting_get_member(cr, "podIdentity")) != NULL)
		krx_conf_error(c->errs, c->file, config_setting_source_line(s),
		    "kmsConfig.credentials.podIdentity is not supported by "
		    "krx (webIdentity is)");
	for (i = 0; i < 3; i++)
		if ((s = krx_conf_group(c, cr, "kmsConfig.credentials",
		    nested[i].name)) != NULL) {
			src[n].g = s;
			src[n].kind = nested[i].kind;
			snprintf(src[n++].where, sizeof(src[0].where),
			    "kmsConfig.credentials.%s", nested[i].name);
		}
	return n;
}

static void
kms_aws(struct conf_ctx *c, const config_setting_t *k,
    struct krx_conf_kms_aws *a)
{
	struct kms_aws_src	 src[5];
	struct krx_conf_kms	 extra;
	struct krx_conf_kms_aws	*to;
	size_t			 i, n;

	krx_conf_check_keys(c, k, aws_keys, "kmsConfig");
	a->endpoint_url = kms_url(c, k, "kmsConfig", "endpointUrl", 1, 0);
	a->region = krx_conf_str(c, k, "kmsConfig", "region", 1, 64,
	    KMS_REGION, "an AWS region of [a-z0-9-] (us-east-1)");
	if ((n = kms_aws_sources(c, k, src)) == 0) {
		krx_conf_error(c->errs, c->file, config_setting_source_line(k),
		    "kmsConfig: AwsKmsService needs credentials = { longTerm "
		    "| ec2Metadata | webIdentity = { ... }; }");
		return;
	}
	if (n > 1)
		krx_conf_error(c->errs, c->file,
		    config_setting_source_line(src[1].g), "%s and %s: "
		    "AwsKmsService takes exactly one kind of credentials",
		    src[0].where, src[1].where);
	/* Each is read, for its own errors; the first one counts. */
	a->creds = src[0].kind;
	for (i = 0; i < n; i++) {
		memset(&extra, 0, sizeof(extra));
		to = i == 0 ? a : &extra.aws;
		if (src[i].kind == KRX_CONF_AWS_LONG_TERM)
			kms_aws_long_term(c, src[i].g, src[i].where, to);
		else if (src[i].kind == KRX_CONF_AWS_EC2_METADATA)
			kms_aws_ec2(c, src[i].g, src[i].where, to);
		else
			kms_aws_web(c, src[i].g, src[i].where, to);
		krx_conf_kms_free(&extra);
	}
}

static void
kms_azure_oauth2(struct conf_ctx *c, const config_setting_t *g,
    struct krx_conf_kms_azure *z)
{
	static const char	 w[] = "kmsConfig.oauth2ClientCredentials";

	krx_conf_check_keys(c, g, oauth2_keys, w);
	z->oauth_endpoint = kms_url(c, g, w, "oauthEndpoint", 0, 0);
	kms_default(c, config_setting_source_line(g), &z->oauth_endpoint,
	    "https://login.microsoftonline.com");
	z->tenant_id = krx_conf_str(c, g, w, "tenantId", 1, 128, KMS_HOST,
	    "a tenant id or domain of [A-Za-z0-9.-]");
	z->client_id_file = krx_conf_password(c, g, w, "clientId", 1);
	z->client_secret_file = krx_conf_password(c, g, w, "clientSecret", 1);
	z->scope = krx_conf_str(c, g, w, "scope", 1, 512, NULL, NULL);
	krx_conf_tls(c, g, w, &z->oauth_tls, KRX_CONF_TLS_KMS);
}

static void
kms_azure_managed(struct conf_ctx *c, const config_setting_t *g,
    struct krx_conf_kms_azure *z)
{
	static const char	 w[] = "kmsConfig.managedIdentityCredentials";

	krx_conf_check_keys(c, g, managed_keys, w);
	z->target_resource = krx_conf_str(c, g, w, "targetResource", 1, 512,
	    NULL,
	    NULL);
	z->identity_endpoint = kms_url(c, g, w, "identityServiceEndpoint", 0,
	    0);
	kms_default(c, config_setting_source_line(g), &z->identity_endpoint,
	    "http://169.254.169.254");
}

/* keyVaultName and keyVaultHost: no '-' or '.' at either end, none twice. */
static int
kms_azure_label_ok(const char *s)
{
	size_t	 n = strlen(s);

	return n > 0 && kms_alnum(s[0]) && kms_alnum(s[n - 1]) &&
	    strstr(s, "--") == NULL && strstr(s, "..") == NULL &&
	    strstr(s, ".-") == NULL && strstr(s, "-.") == NULL;
}

static void
kms_azure_vault(struct conf_ctx *c, const config_setting_t *k,
    struct krx_conf_kms_azure *z)
{
	int	 line = config_setting_source_line(k);

	z->vault_name = krx_conf_str(c, k, "kmsConfig", "keyVaultName", 1, 24,
	    KMS_ALNUM "-", "3 to 24 of [A-Za-z0-9-]");
	if (z->vault_name != NULL && (strlen(z->vault_name) < 3 ||
	    !kms_azure_label_ok(z->vault_name)))
		krx_conf_error(c->errs, c->file, krx_conf_line(k,
		    "keyVaultName"),
		    "kmsConfig.keyVaultName "
		    "\"%s\" must be 3 to 24 of [A-Za-z0-9-], without '-' at "
		    "either end or twice in a row", z->vault_name);
	z->vault_host = krx_conf_str(c, k, "kmsConfig", "keyVaultHost", 1, 253,
	    KMS_HOST, "a host name (vault.azure.net)");
	if (z->vault_host != NULL && !kms_azure_label_ok(z->vault_host))
		krx_conf_error(c->errs, c->file, krx_conf_line(k,
		    "keyVaultHost"),
		    "kmsConfig.keyVaultHost "
		    "\"%s\" is not a host name (vault.azure.net)",
		    z->vault_host);
	z->scheme = krx_conf_str(c, k, "kmsConfig", "keyVaultScheme", 0, 8,
	    NULL,
	    NULL);
	if (z->scheme != NULL && strcmp(z->scheme, "https") != 0 &&
	    strcmp(z->scheme, "http") != 0)
		krx_conf_error(c->errs, c->file, krx_conf_line(k,
		    "keyVaultScheme"),
		    "kmsConfig.keyVaultScheme must be https or http");
	kms_default(c, line, &z->scheme, "https");
	z->port = (int)krx_conf_int(c, k, "keyVaultPort", 1, 65535, 0, 0,
	    line);
	if (z->vault_name == NULL || z->vault_host == NULL ||
	    z->scheme == NULL)
		return;
	if ((z->port != 0 ? asprintf(&z->vault_url, "%s://%s.%s:%d",
	    z->scheme, z->vault_name, z->vault_host, z->port) :
	    asprintf(&z->vault_url, "%s://%s.%s", z->scheme, z->vault_name,
	    z->vault_host)) == -1) {
		z->vault_url = NULL;
		krx_conf_error(c->errs, c->file, line, "out of memory");
	}
}

static void
kms_azure(struct conf_ctx *c, const config_setting_t *k,
    struct krx_conf_kms_azure *z)
{
	const config_setting_t	*o, *m;

	krx_conf_check_keys(c, k, azure_keys, "kmsConfig");
	kms_azure_vault(c, k, z);
	o = krx_conf_group(c, k, "kmsConfig", "oauth2ClientCredentials");
	m = krx_conf_group(c, k, "kmsConfig", "managedIdentityCredentials");
	if ((o == NULL) == (m == NULL)) {
		krx_conf_error(c->errs, c->file, config_setting_source_line(k),
		    "kmsConfig: AzureKeyVaultKmsService needs exactly one of "
		    "oauth2ClientCredentials and managedIdentityCredentials");
		return;
	}
	if (o != NULL) {
		z->auth = KRX_CONF_AZURE_OAUTH2;
		kms_azure_oauth2(c, o, z);
	} else {
		z->auth = KRX_CONF_AZURE_MANAGED_IDENTITY;
		kms_azure_managed(c, m, z);
	}
}

static const struct {
	const char	*name;
	int		 kind;
} kms_names[] = {
	{ "VaultKmsService", KRX_CONF_KMS_VAULT },
	{ "AwsKmsService", KRX_CONF_KMS_AWS },
	{ "AzureKeyVaultKmsService", KRX_CONF_KMS_AZURE },
	{ "AzureKeyVault", KRX_CONF_KMS_AZURE },	/* as the guide says */
};

void
krx_conf_kms(struct conf_ctx *c, const config_setting_t *g,
    struct krx_conf_encryption *e)
{
	struct krx_conf_kms	*kc = &e->kms_conf;
	const config_setting_t	*k;
	size_t			 i;
	int			 line;

	for (i = 0; i < sizeof(kms_names) / sizeof(kms_names[0]); i++)
		if (strcmp(e->kms, kms_names[i].name) == 0)
			break;
	if (i == sizeof(kms_names) / sizeof(kms_names[0])) {
		krx_conf_error(c->errs, c->file, e->line, "kms \"%s\" is not "
		    "supported (LocalKms, VaultKmsService, AwsKmsService and "
		    "AzureKeyVaultKmsService are)", e->kms);
		return;
	}
	if (i == 3) {
		free(e->kms);
		if ((e->kms = krx_conf_dup(c, e->line,
		    kms_names[2].name)) == NULL)
			return;
	}
	k = config_setting_get_member(g, "kmsConfig");
	if (k == NULL || !config_setting_is_group(k)) {
		krx_conf_error(c->errs, c->file, e->line, "%s needs kmsConfig "
		    "= { ... }", e->kms);
		return;
	}
	kc->kind = kms_names[i].kind;
	kc->line = line = config_setting_source_line(k);
	kc->connect_timeout = (int)krx_conf_int(c, k, "connectTimeoutSeconds",
	    1, KMS_TIMEOUT_MAX, KRX_CONF_KMS_TIMEOUT, 0, line);
	kc->request_timeout = (int)krx_conf_int(c, k, "requestTimeoutSeconds",
	    1, KMS_TIMEOUT_MAX, KRX_CONF_KMS_TIMEOUT, 0, line);
	if (kc->kind == KRX_CONF_KMS_VAULT)
		kms_vault(c, k, &kc->vault);
	else if (kc->kind == KRX_CONF_KMS_AWS)
		kms_aws(c, k, &kc->aws);
	else
		kms_azure(c, k, &kc->azure);
	krx_conf_tls(c, k, "kmsConfig", &kc->tls, KRX_CONF_TLS_KMS);
}

/* Length-prefixed fields (NULL: 0xffffffff), SHA-256, 32 hex digits. */
static int
kms_digest(const char *const *f, size_t n, char hex[KMS_DIGEST_HEX + 1])
{
	static const char	 digits[] = "0123456789abcdef";
	struct krx_buf		 b;
	unsigned char		 md[EVP_MAX_MD_SIZE];
	unsigned int		 mdlen;
	size_t			 i;
	int			 r = KRX_E_NOMEM;

	krx_buf_init(&b, 0);
	for (i = 0; i < n; i++) {
		krx_buf_put_be32(&b, f[i] == NULL ? UINT32_MAX :
		    (uint32_t)strlen(f[i]));
		if (f[i] != NULL)
			krx_buf_put(&b, f[i], strlen(f[i]));
	}
	if (b.err != KRX_OK)
		goto out;
	r = KRX_E_CRYPTO;
	if (EVP_Digest(b.data, b.len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen < KMS_DIGEST_HEX / 2)
		goto out;
	for (i = 0; i < KMS_DIGEST_HEX / 2; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 0x0f];
	}
	hex[KMS_DIGEST_HEX] = '\0';
	r = KRX_OK;
out:
	krx_buf_free(&b);
	return r;
}

int
krx_conf_kms_remote_id(const struct krx_conf_encryption *e, char *out,
    size_t len)
{
	static const char *const creds[] = {
		"longTerm", "ec2Metadata", "webIdentity"
	}, *const auths[] = { "oauth2", "managedIdentity" };
	const struct krx_conf_kms	*k = &e->kms_conf;
	const char			*f[12], *where, *region = NULL;
	char				 hex[KMS_DIGEST_HEX + 1];
	size_t				 n = 0;
	int				 r;

	if (len > 0)
		out[0] = '\0';
	f[n++] = e->kms;
	if (k->kind == KRX_CONF_KMS_VAULT) {
		where = k->vault.url;
		f[n++] = k->vault.url;
		f[n++] = k->vault.token_file;
		f[n++] = k->vault.k8s_role;
		f[n++] = k->vault.k8s_mount;
		f[n++] = k->vault.k8s_namespace;
		f[n++] = k->vault.k8s_token_file;
	} else if (k->kind == KRX_CONF_KMS_AWS) {
		where = k->aws.endpoint_url;
		region = k->aws.region;
		f[n++] = k->aws.endpoint_url;
		f[n++] = k->aws.region;
		f[n++] = creds[k->aws.creds];
		f[n++] = k->aws.access_key_id_file;
		f[n++] = k->aws.iam_role;
		f[n++] = k->aws.metadata_endpoint;
		f[n++] = k->aws.role_arn;
		f[n++] = k->aws.web_identity_token_file;
		f[n++] = k->aws.sts_endpoint_url;
	} else {
		where = k->azure.vault_url;
		f[n++] = k->azure.vault_url;
		f[n++] = auths[k->azure.auth];
		f[n++] = k->azure.oauth_endpoint;
		f[n++] = k->azure.tenant_id;
		f[n++] = k->azure.client_id_file;
		f[n++] = k->azure.target_resource;
		f[n++] = k->azure.identity_endpoint;
	}
	if ((r = kms_digest(f, n, hex)) != KRX_OK)
		return r;
	r = snprintf(out, len, "%s:%s%s%s#%s", e->kms != NULL ? e->kms : "",
	    where != NULL ? where : "", region != NULL ? " " : "",
	    region != NULL ? region : "", hex);
	return r < 0 || (size_t)r >= len ? KRX_E_TOO_BIG : KRX_OK;
}

void
krx_conf_kms_free(struct krx_conf_kms *k)
{
	struct krx_conf_kms_vault	*v = &k->vault;
	struct krx_conf_kms_aws		*a = &k->aws;
	struct krx_conf_kms_azure	*z = &k->azure;

	krx_conf_tls_free(&k->tls);
	free(v->url);
	free(v->token_file);
	free(v->k8s_role);
	free(v->k8s_token_file);
	free(v->k8s_mount);
	free(v->k8s_namespace);
	free(a->endpoint_url);
	free(a->region);
	free(a->access_key_id_file);
	free(a->secret_access_key_file);
	free(a->session_token_file);
	free(a->iam_role);
	free(a->metadata_endpoint);
	free(a->role_arn);
	free(a->web_identity_token_file);
	free(a->role_session_name);
	free(a->sts_endpoint_url);
	free(z->vault_name);
	free(z->vault_host);
	free(z->scheme);
	free(z->vault_url);
	free(z->oauth_endpoint);
	free(z->tenant_id);
	free(z->client_id_file);
	free(z->client_secret_file);
	free(z->scope);
	krx_conf_tls_free(&z->oauth_tls);
	free(z->target_resource);
	free(z->identity_endpoint);
	memset(k, 0, sizeof(*k));
}
