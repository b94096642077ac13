/*
 * conf_kms_test.c: the remote KMS settings of record_encryption
 * (conf/conf_kms.c): a valid configuration of each provider and each
 * credential kind, each required key missing, inline passwords
 * refused, relative paths, bad URLs and Vault paths, Azure vault names,
 * AWS credential kinds (none, two, deprecated forms), tls groups,
 * timeouts, unknown keys with file and line, and the cache identity.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "conf/conf.h"

/* kmsConfig's first line is line 9 of the file. */
#define KMS(kms, cfg)							\
	"virtual_clusters = ( { name = \"a\";\n"			\
	"  bootstrap = \"127.0.0.1:9192\";\n"				\
	"  upstream = { bootstrap = \"localhost:9092\"; };\n"		\
	"  record_encryption = {\n"					\
	"    selector = \"TemplateKekSelector\";\n"			\
	"    selectorConfig = { template = \"KEK-$(topicName)\"; };\n"	\
	"    kms = \"" kms "\";\n"					\
	"    kmsConfig = {\n"						\
	cfg								\
	"    };\n"							\
	"  };\n"							\
	"} );\n"

#define VAULT(cfg)	KMS("VaultKmsService", cfg)
#define AWS(cfg)	KMS("AwsKmsService", cfg)
#define AZURE(cfg)	KMS("AzureKeyVaultKmsService", cfg)

#define VAULT_URL							\
	"vaultTransitEngineUrl = \"https://vault:8200/v1/transit\";\n"
#define VAULT_TOKEN							\
	"vaultToken = { passwordFile = \"/etc/krx/token\"; };\n"
#define AWS_BASE							\
	"endpointUrl = \"https://kms.us-east-1.amazonaws.com\";\n"	\
	"region = \"us-east-1\";\n"
#define AWS_LONG	"credentials = { longTerm = {\n"		\
	"  accessKeyId = { passwordFile = \"/etc/krx/aws-id\"; };\n"	\
	"  secretAccessKey = { passwordFile = \"/etc/krx/aws-secret\"; };\n" \
	"}; };\n"
#define AZ_BASE		"keyVaultName = \"my-key-vault\";\n"		\
	"keyVaultHost = \"vault.azure.net\";\n"
#define AZ_OAUTH	"oauth2ClientCredentials = {\n"			\
	"  tenantId = \"00000000-0000-0000-0000-000000000000\";\n"	\
	"  clientId = { passwordFile = \"/etc/krx/az-id\"; };\n"	\
	"  clientSecret = { passwordFile = \"/etc/krx/az-secret\"; };\n" \
	"  scope = \"https://vault.azure.net/.default\";\n"		\
	"};\n"
#define AZ_MANAGED	"managedIdentityCredentials = {\n"		\
	"  targetResource = \"https://vault.azure.net\"; };\n"

static struct krx_conf *
load_ok(const char *text)
{
	struct krx_conf_errors	 errs;
	struct krx_conf		*conf = NULL;
	size_t			 i;

	memset(&errs, 0, sizeof(errs));
	if (krx_conf_load_string(text, "t.conf", &conf, &errs) != KRX_OK)
		for (i = 0; i < errs.n; i++)
			cr_log_error("%s", errs.msg[i]);
	cr_assert_not_null(conf);
	cr_assert_eq(errs.n, 0);
	krx_conf_errors_free(&errs);
	return conf;
}

/* Load text that must fail; one message must contain want. */
static void
load_fails(const char *text, const char *want)
{
	struct krx_conf_errors	 errs;
	struct krx_conf		*conf = NULL;
	size_t			 i;
	int			 found = 0;

	memset(&errs, 0, sizeof(errs));
	cr_assert_eq(krx_conf_load_string(text, "t.conf", &conf, &errs),
	    KRX_E_CONFIG, "loaded: %s", want);
	cr_assert_null(conf);
	cr_assert_gt(errs.n, 0);
	for (i = 0; i < errs.n; i++) {
		cr_assert_eq(strncmp(errs.msg[i], "t.conf:", 7), 0, "%s",
		    errs.msg[i]);
		if (strstr(errs.msg[i], want) != NULL)
			found = 1;
	}
	cr_assert(found, "no error mentions \"%s\" (first: %s)", want,
	    errs.msg[0]);
	krx_conf_errors_free(&errs);
}

static const struct krx_conf_kms *
kms_of(const struct krx_conf *c)
{
	return &c->vclusters[0].enc.kms_conf;
}

static void
id_of(const struct krx_conf *c, char *out, size_t len)
{
	cr_assert_eq(krx_conf_kms_id(&c->vclusters[0].enc, out, len), KRX_OK);
}

/* "<prefix>#" and 32 lower-case hex digits. */
static void
id_shape(const char *id, const char *prefix)
{
	size_t	 n = strlen(prefix);

	cr_assert_eq(strncmp(id, prefix, n), 0, "%s", id);
	cr_assert_eq(id[n], '#', "%s", id);
	cr_assert_eq(strlen(id + n + 1), 32, "%s", id);
	cr_assert_eq(strspn(id + n + 1, "0123456789abcdef"), 32, "%s", id);
}

/* --- Vault --- */

Test(conf_kms, vault_token)
{
	struct krx_conf			*c = load_ok(VAULT(
	    "vaultTransitEngineUrl = \"https://vault:8200/v1/ns1/transit/\";\n"
	    VAULT_TOKEN));
	const struct krx_conf_kms	*k = kms_of(c);
	char				 id[1024];

	cr_assert_str_eq(c->vclusters[0].enc.kms, "VaultKmsService");
	cr_assert_null(c->vclusters[0].enc.keystore);
	cr_assert_eq(k->kind, KRX_CONF_KMS_VAULT);
	cr_assert_eq(k->line, 8);
	cr_assert_str_eq(k->vault.url, "https://vault:8200/v1/ns1/transit");
	cr_assert_str_eq(k->vault.token_file, "/etc/krx/token");
	cr_assert_null(k->vault.k8s_role);
	cr_assert_eq(k->connect_timeout, 20);
	cr_assert_eq(k->request_timeout, 20);
	cr_assert_eq(k->tls.present, 0);
	id_of(c, id, sizeof(id));
	id_shape(id, "VaultKmsService:https://vault:8200/v1/ns1/transit");
	krx_conf_free(c);
}

Test(conf_kms, vault_kubernetes)
{
	struct krx_conf			*c = load_ok(VAULT(VAULT_URL
	    "kubernetesAuth = { role = \"krx\"; };\n"));
	const struct krx_conf_kms	*k = kms_of(c);

	cr_assert_null(k->vault.token_file);
	cr_assert_str_eq(k->vault.k8s_role, "krx");
	cr_assert_str_eq(k->vault.k8s_mount, "kubernetes");
	cr_assert_str_eq(k->vault.k8s_token_file,
	    "/var/run/secrets/kubernetes.io/serviceaccount/token");
	cr_assert_null(k->vault.k8s_namespace);
	krx_conf_free(c);
	c = load_ok(VAULT(VAULT_URL
	    "kubernetesAuth = { role = \"krx-proxy\"; mountPath = \"k8s/a\";\n"
	    "  serviceAccountTokenFile = \"/run/token\";\n"
	    "  namespace = \"ns1/ns2\"; };\n"));
	k = kms_of(c);
	cr_assert_str_eq(k->vault.k8s_mount, "k8s/a");
	cr_assert_str_eq(k->vault.k8s_token_file, "/run/token");
	cr_assert_str_eq(k->vault.k8s_namespace, "ns1/ns2");
	krx_conf_free(c);
	c = load_ok(VAULT("vaultTransitEngineUrl = \"http://[::1]:8200/v1/"
	    "transit\";\n" VAULT_TOKEN));
	cr_assert_str_eq(kms_of(c)->vault.url, "http://[::1]:8200/v1/transit");
	krx_conf_free(c);
}

Test(conf_kms, vault_errors)
{
	load_fails(VAULT(VAULT_TOKEN),
	    "t.conf:8: kmsConfig: missing setting \"vaultTransitEngineUrl\"");
	load_fails(VAULT(VAULT_URL), "exactly one of vaultToken");
	load_fails(VAULT(VAULT_URL VAULT_TOKEN
	    "kubernetesAuth = { role = \"krx\"; };\n"),
	    "exactly one of vaultToken");
	load_fails(VAULT("vaultTransitEngineUrl = \"https://vault:8200/"
	    "transit\";\n" VAULT_TOKEN), "t.conf:9: kmsConfig."
	    "vaultTransitEngineUrl \"https://vault:8200/transit\" must have "
	    "a path /v1/");
	load_fails(VAULT("vaultTransitEngineUrl = \"https://vault/v1/\";\n"
	    VAULT_TOKEN), "must have a path /v1/");
	load_fails(VAULT("vaultTransitEngineUrl = \"https://vault/v1\";\n"
	    VAULT_TOKEN), "must have a path /v1/");
	load_fails(VAULT("vaultTransitEngineUrl = \"https://vault/v2/x\";\n"
	    VAULT_TOKEN), "must have a path /v1/");
	load_fails(VAULT("vaultTransitEngineUrl = \"vault:8200/v1/t\";\n"
	    VAULT_TOKEN), "must start with http:// or https://");
	load_fails(VAULT("vaultTransitEngineUrl = \"ftp://vault/v1/t\";\n"
	    VAULT_TOKEN), "must start with http:// or https://");
	load_fails(VAULT("vaultTransitEngineUrl = \"https://u:p@vault/v1/t"
	    "\";\n" VAULT_TOKEN), "must not carry user credentials");
	load_fails(VAULT("vaultTransitEngineUrl = \"https://vault/v1/t?x=1"
	    "\";\n" VAULT_TOKEN), "must not have a query");
	load_fails(VAULT("vaultTransitEngineUrl = \"https://vault:0/v1/t"
	    "\";\n" VAULT_TOKEN), "bad port");
	load_fails(VAULT("vaultTransitEngineUrl = \"https://vault:65536/v1/"
	    "t\";\n" VAULT_TOKEN), "bad port");
	load_fails(VAULT("vaultTransitEngineUrl = \"https://[fe80::zz]/v1/t"
	    "\";\n" VAULT_TOKEN), "bad [IPv6] host");
	load_fails(VAULT("vaultTransitEngineUrl = \"https://[::1/v1/t\";\n"
	    VAULT_TOKEN), "bad [IPv6] host");
	load_fails(VAULT("vaultTransitEngineUrl = \"https:///v1/t\";\n"
	    VAULT_TOKEN), "has no host");
	load_fails(VAULT("vaultTransitEngineUrl = \"https://vault/v1/a b\";\n"
	    VAULT_TOKEN), "a URL");
	load_fails(VAULT(VAULT_URL
	    "kubernetesAuth = { mountPath = \"k\"; };\n"),
	    "t.conf:10: kmsConfig.kubernetesAuth: missing setting \"role\"");
	load_fails(VAULT(VAULT_URL "kubernetesAuth = { role = \"krx\";\n"
	    "  mountPath = \"../sys\"; };\n"), "must be path segments");
	load_fails(VAULT(VAULT_URL "kubernetesAuth = { role = \"krx\";\n"
	    "  mountPath = \"/kubernetes\"; };\n"), "must be path segments");
	load_fails(VAULT(VAULT_URL "kubernetesAuth = { role = \"krx\";\n"
	    "  namespace = \"a//b\"; };\n"), "must be path segments");
	load_fails(VAULT(VAULT_URL "kubernetesAuth = { role = \"k rx\"; };\n"),
	    "a Vault role name");
	load_fails(VAULT(VAULT_URL "kubernetesAuth = { role = \"krx\";\n"
	    "  serviceAccountTokenFile = \"token\"; };\n"),
	    "serviceAccountTokenFile must be an absolute path");
	load_fails(VAULT(VAULT_URL "kubernetesAuth = { role = \"krx\";\n"
	    "  jwt = \"x\"; };\n"),
	    "t.conf:11: unknown setting \"jwt\" in kmsConfig.kubernetesAuth");
}

/* Secrets are only ever files. */
Test(conf_kms, inline_password_refused)
{
	load_fails(VAULT(VAULT_URL "vaultToken = { password = \"s.abc\"; };\n"),
	    "t.conf:10: kmsConfig.vaultToken: inline password refused");
	load_fails(VAULT(VAULT_URL "vaultToken = { password = \"s.abc\";\n"
	    "  passwordFile = \"/t\"; };\n"), "inline password refused");
	load_fails(VAULT(VAULT_URL "vaultToken = \"s.abc\";\n"),
	    "kmsConfig.vaultToken must be { passwordFile = \"/path\"; }");
	load_fails(VAULT(VAULT_URL "vaultToken = { passwordFile = \"t\"; };\n"),
	    "kmsConfig.vaultToken.passwordFile must be an absolute path");
	load_fails(VAULT(VAULT_URL "vaultToken = { };\n"),
	    "kmsConfig.vaultToken: missing setting \"passwordFile\"");
	load_fails(VAULT(VAULT_URL "vaultToken = { passwordFile = \"/t\";\n"
	    "  filePath = \"/u\"; };\n"),
	    "t.conf:11: unknown setting \"filePath\" in kmsConfig.vaultToken");
	load_fails(AWS(AWS_BASE "credentials = { longTerm = {\n"
	    "  accessKeyId = { password = \"AKIA\"; };\n"
	    "  secretAccessKey = { passwordFile = \"/s\"; }; }; };\n"),
	    "t.conf:12: kmsConfig.credentials.longTerm.accessKeyId: inline "
	    "password refused");
	load_fails(AZURE(AZ_BASE "oauth2ClientCredentials = {\n"
	    "  tenantId = \"t\"; scope = \"s\";\n"
	    "  clientId = { passwordFile = \"/i\"; };\n"
	    "  clientSecret = { password = \"x\"; }; };\n"),
	    "t.conf:14: kmsConfig.oauth2ClientCredentials.clientSecret: "
	    "inline password refused");
	load_fails(VAULT(VAULT_URL VAULT_TOKEN "tls = { trust = {\n"
	    "  storeFile = \"/ca.p12\";\n"
	    "  storePassword = { password = \"x\"; };\n"
	    "}; };\n"), "kmsConfig.tls.trust.storePassword: inline password");
}

/* --- AWS --- */

Test(conf_kms, aws_long_term)
{
	struct krx_conf			*c = load_ok(AWS(AWS_BASE AWS_LONG));
	const struct krx_conf_kms	*k = kms_of(c);
	char				 id[1024];

	cr_assert_eq(k->kind, KRX_CONF_KMS_AWS);
	cr_assert_str_eq(k->aws.endpoint_url,
	    "https://kms.us-east-1.amazonaws.com");
	cr_assert_str_eq(k->aws.region, "us-east-1");
	cr_assert_eq(k->aws.creds, KRX_CONF_AWS_LONG_TERM);
	cr_assert_str_eq(k->aws.access_key_id_file, "/etc/krx/aws-id");
	cr_assert_str_eq(k->aws.secret_access_key_file, "/etc/krx/aws-secret");
	id_of(c, id, sizeof(id));
	id_shape(id, "AwsKmsService:https://kms.us-east-1.amazonaws.com "
	    "us-east-1");
	krx_conf_free(c);
	/* The guide's (deprecated) form. */
	c = load_ok(AWS(AWS_BASE "longTermCredentials = {\n"
	    "  accessKeyId = { passwordFile = \"/etc/krx/aws-id\"; };\n"
	    "  secretAccessKey = { passwordFile = \"/etc/krx/aws-secret\"; };\n"
	    "};\n"));
	k = kms_of(c);
	cr_assert_eq(k->aws.creds, KRX_CONF_AWS_LONG_TERM);
	cr_assert_str_eq(k->aws.access_key_id_file, "/etc/krx/aws-id");
	cr_assert_str_eq(k->aws.secret_access_key_file, "/etc/krx/aws-secret");
	cr_assert_null(k->aws.session_token_file);
	krx_conf_free(c);
	/* krx's own sessionToken, a password file like the others. */
	c = load_ok(AWS(AWS_BASE "credentials = { longTerm = {\n"
	    "  accessKeyId = { passwordFile = \"/etc/krx/aws-id\"; };\n"
	    "  secretAccessKey = { passwordFile = \"/etc/krx/aws-secret\"; };\n"
	    "  sessionToken = { passwordFile = \"/etc/krx/aws-token\"; };\n"
	    "}; };\n"));
	cr_assert_str_eq(kms_of(c)->aws.session_token_file,
	    "/etc/krx/aws-token");
	krx_conf_free(c);
	load_fails(AWS(AWS_BASE "credentials = { longTerm = {\n"
	    "  accessKeyId = { passwordFile = \"/etc/krx/aws-id\"; };\n"
	    "  secretAccessKey = { passwordFile = \"/etc/krx/aws-secret\"; };\n"
	    "  sessionToken = { password = \"inline\"; };\n"
	    "}; };\n"), "inline password refused");
}

Test(conf_kms, aws_ec2_and_web_identity)
{
	struct krx_conf			*c = load_ok(AWS(AWS_BASE
	    "credentials = { ec2Metadata = { iamRole = \"krx-role\"; }; };\n"));
	const struct krx_conf_kms	*k = kms_of(c);

	cr_assert_eq(k->aws.creds, KRX_CONF_AWS_EC2_METADATA);
	cr_assert_str_eq(k->aws.iam_role, "krx-role");
	cr_assert_str_eq(k->aws.metadata_endpoint, "http://169.254.169.254/");
	cr_assert(k->aws.lifetime_factor > 0.79 && k->aws.lifetime_factor <
	    0.81);
	krx_conf_free(c);
	c = load_ok(AWS(AWS_BASE "ec2MetadataCredentials = { iamRole = \"r\";"
	    "\n  metadataEndpoint = \"http://127.0.0.1:1338\";\n"
	    "  credentialLifetimeFactor = 0.5; };\n"));
	k = kms_of(c);
	cr_assert_eq(k->aws.creds, KRX_CONF_AWS_EC2_METADATA);
	cr_assert_str_eq(k->aws.metadata_endpoint, "http://127.0.0.1:1338");
	cr_assert(k->aws.lifetime_factor > 0.49 && k->aws.lifetime_factor <
	    0.51);
	krx_conf_free(c);
	c = load_ok(AWS(AWS_BASE "credentials = { webIdentity = {\n"
	    "  roleArn = \"arn:aws:iam::111122223333:role/krx\";\n"
	    "  webIdentityTokenFile = \"/var/run/secrets/eks/token\";\n"
	    "  roleSessionName = \"krx@node-1\";\n"
	    "  stsEndpointUrl = \"https://sts.us-east-1.amazonaws.com\";\n"
	    "  durationSeconds = 3600; }; };\n"));
	k = kms_of(c);
	cr_assert_eq(k->aws.creds, KRX_CONF_AWS_WEB_IDENTITY);
	cr_assert_str_eq(k->aws.role_arn, "arn:aws:iam::111122223333:role/krx");
	cr_assert_str_eq(k->aws.web_identity_token_file,
	    "/var/run/secrets/eks/token");
	cr_assert_str_eq(k->aws.role_session_name, "krx@node-1");
	cr_assert_str_eq(k->aws.sts_endpoint_url,
	    "https://sts.us-east-1.amazonaws.com");
	cr_assert_eq(k->aws.duration_seconds, 3600);
	krx_conf_free(c);
	/* Everything from keysvc's environment. */
	c = load_ok(AWS(AWS_BASE "credentials = { webIdentity = { }; };\n"));
	k = kms_of(c);
	cr_assert_eq(k->aws.creds, KRX_CONF_AWS_WEB_IDENTITY);
	cr_assert_null(k->aws.role_arn);
	cr_assert_null(k->aws.web_identity_token_file);
	cr_assert_eq(k->aws.duration_seconds, 0);
	krx_conf_free(c);
}

Test(conf_kms, aws_credential_kinds)
{
	load_fails(AWS(AWS_BASE), "t.conf:8: kmsConfig: AwsKmsService needs "
	    "credentials");
	load_fails(AWS(AWS_BASE "credentials = { };\n"),
	    "AwsKmsService needs credentials");
	load_fails(AWS(AWS_BASE AWS_LONG "longTermCredentials = {\n"
	    "  accessKeyId = { passwordFile = \"/i\"; };\n"
	    "  secretAccessKey = { passwordFile = \"/s\"; }; };\n"),
	    "AwsKmsService takes exactly one kind of credentials");
	load_fails(AWS(AWS_BASE "credentials = {\n"
	    "  ec2Metadata = { iamRole = \"r\"; };\n"
	    "  webIdentity = { }; };\n"),
	    "t.conf:13: kmsConfig.credentials.ec2Metadata and "
	    "kmsConfig.credentials.webIdentity: AwsKmsService takes exactly "
	    "one kind");
	load_fails(AWS(AWS_BASE "longTermCredentials = {\n"
	    "  accessKeyId = { passwordFile = \"/i\"; };\n"
	    "  secretAccessKey = { passwordFile = \"/s\"; }; };\n"
	    "ec2MetadataCredentials = { iamRole = \"r\"; };\n"),
	    "takes exactly one kind");
	load_fails(AWS(AWS_BASE AWS_LONG "longTermCredentials = {\n"
	    "  accessKeyId = { password = \"x\"; };\n"
	    "  secretAccessKey = { passwordFile = \"/s\"; }; };\n"),
	    "t.conf:16: kmsConfig.longTermCredentials.accessKeyId: inline");
	load_fails(AWS(AWS_BASE "credentials = { podIdentity = { }; };\n"),
	    "podIdentity is not supported by krx");
	load_fails(AWS(AWS_BASE "credentials = { longTerm = {\n"
	    "  accessKeyId = { passwordFile = \"/i\"; }; }; };\n"),
	    "t.conf:11: kmsConfig.credentials.longTerm: missing setting "
	    "\"secretAccessKey\"");
	load_fails(AWS(AWS_BASE "credentials = { ec2Metadata = { }; };\n"),
	    "kmsConfig.credentials.ec2Metadata: missing setting \"iamRole\"");
	load_fails(AWS(AWS_BASE "credentials = { ec2Metadata = {\n"
	    "  iamRole = \"a/b\"; }; };\n"), "an IAM role name");
	load_fails(AWS(AWS_BASE "credentials = { sso = { }; };\n"),
	    "t.conf:11: unknown setting \"sso\" in kmsConfig.credentials");
	load_fails(AWS(AWS_BASE "credentials = { longTerm = \"x\"; };\n"),
	    "kmsConfig.credentials.longTerm must be a group");
}

Test(conf_kms, aws_errors)
{
	load_fails(AWS("region = \"us-east-1\";\n" AWS_LONG),
	    "t.conf:8: kmsConfig: missing setting \"endpointUrl\"");
	load_fails(AWS("endpointUrl = \"https://kms\";\n" AWS_LONG),
	    "missing setting \"region\"");
	load_fails(AWS("endpointUrl = \"https://kms\";\n"
	    "region = \"US_EAST_1\";\n" AWS_LONG), "an AWS region");
	load_fails(AWS("endpointUrl = \"kms.amazonaws.com\";\n"
	    "region = \"us-east-1\";\n" AWS_LONG), "http:// or https://");
	load_fails(AWS(AWS_BASE "credentials = { webIdentity = {\n"
	    "  roleArn = \"krx\"; }; };\n"), "is not an ARN");
	load_fails(AWS(AWS_BASE "credentials = { webIdentity = {\n"
	    "  roleSessionName = \"k\"; }; };\n"), "roleSessionName must be 2");
	load_fails(AWS(AWS_BASE "credentials = { webIdentity = {\n"
	    "  roleSessionName = \"k r\"; }; };\n"), "2 to 64 of");
	load_fails(AWS(AWS_BASE "credentials = { webIdentity = {\n"
	    "  durationSeconds = 60; }; };\n"), "out of range 900..43200");
	load_fails(AWS(AWS_BASE "credentials = { webIdentity = {\n"
	    "  webIdentityTokenFile = \"token\"; }; };\n"),
	    "must be an absolute path");
	load_fails(AWS(AWS_BASE "credentials = { webIdentity = {\n"
	    "  credentialLifetimeFactor = 1.5; }; };\n"),
	    "credentialLifetimeFactor must be a number between 0 and 1");
	load_fails(AWS(AWS_BASE "credentials = { webIdentity = {\n"
	    "  credentialLifetimeFactor = 1; }; };\n"),
	    "credentialLifetimeFactor must be a number between 0 and 1");
	load_fails(AWS(AWS_BASE AWS_LONG "accessKey = \"x\";\n"),
	    "t.conf:15: unknown setting \"accessKey\" in kmsConfig");
}

/* --- Azure --- */

Test(conf_kms, azure_oauth2)
{
	struct krx_conf			*c = load_ok(KMS("AzureKeyVault",
	    AZ_BASE AZ_OAUTH));
	const struct krx_conf_kms	*k = kms_of(c);
	char				 id[1024];

	cr_assert_str_eq(c->vclusters[0].enc.kms, "AzureKeyVaultKmsService");
	cr_assert_eq(k->kind, KRX_CONF_KMS_AZURE);
	cr_assert_str_eq(k->azure.vault_name, "my-key-vault");
	cr_assert_str_eq(k->azure.vault_host, "vault.azure.net");
	cr_assert_str_eq(k->azure.scheme, "https");
	cr_assert_eq(k->azure.port, 0);
	cr_assert_str_eq(k->azure.vault_url,
	    "https://my-key-vault.vault.azure.net");
	cr_assert_eq(k->azure.auth, KRX_CONF_AZURE_OAUTH2);
	cr_assert_str_eq(k->azure.oauth_endpoint,
	    "https://login.microsoftonline.com");
	cr_assert_str_eq(k->azure.tenant_id,
	    "00000000-0000-0000-0000-000000000000");
	cr_assert_str_eq(k->azure.client_id_file, "/etc/krx/az-id");
	cr_assert_str_eq(k->azure.client_secret_file, "/etc/krx/az-secret");
	cr_assert_str_eq(k->azure.scope, "https://vault.azure.net/.default");
	cr_assert_eq(k->azure.oauth_tls.present, 0);
	id_of(c, id, sizeof(id));
	id_shape(id, "AzureKeyVaultKmsService:"
	    "https://my-key-vault.vault.azure.net");
	krx_conf_free(c);
}

Test(conf_kms, azure_managed_identity)
{
	struct krx_conf			*c = load_ok(AZURE(AZ_BASE
	    "keyVaultScheme = \"http\"; keyVaultPort = 8443;\n"
	    "managedIdentityCredentials = {\n"
	    "  targetResource = \"https://vault.azure.net\";\n"
	    "  identityServiceEndpoint = \"http://127.0.0.1:8080\"; };\n"));
	const struct krx_conf_kms	*k = kms_of(c);

	cr_assert_eq(k->azure.auth, KRX_CONF_AZURE_MANAGED_IDENTITY);
	cr_assert_str_eq(k->azure.vault_url,
	    "http://my-key-vault.vault.azure.net:8443");
	cr_assert_str_eq(k->azure.target_resource, "https://vault.azure.net");
	cr_assert_str_eq(k->azure.identity_endpoint, "http://127.0.0.1:8080");
	krx_conf_free(c);
	c = load_ok(AZURE(AZ_BASE AZ_MANAGED));
	k = kms_of(c);
	cr_assert_str_eq(k->azure.identity_endpoint, "http://169.254.169.254");
	krx_conf_free(c);
}

Test(conf_kms, azure_errors)
{
	static const char *const bad_names[] = {
		"ab", "-vault", "vault-", "my--vault", "my_vault",
		"abcdefghijklmnopqrstuvwxy", "my.vault",
	};
	char	 text[2048];
	size_t	 i;

	for (i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		snprintf(text, sizeof(text), AZURE("keyVaultName = \"%s\";\n"
		    "keyVaultHost = \"vault.azure.net\";\n" AZ_MANAGED),
		    bad_names[i]);
		load_fails(text, "keyVaultName");
	}
	load_fails(AZURE("keyVaultName = \"v-1\";\n" AZ_MANAGED),
	    "t.conf:8: kmsConfig: missing setting \"keyVaultHost\"");
	load_fails(AZURE("keyVaultHost = \"vault.azure.net\";\n" AZ_MANAGED),
	    "missing setting \"keyVaultName\"");
	load_fails(AZURE(AZ_BASE), "needs exactly one of "
	    "oauth2ClientCredentials and managedIdentityCredentials");
	load_fails(AZURE(AZ_BASE AZ_OAUTH AZ_MANAGED), "needs exactly one of");
	load_fails(AZURE(AZ_BASE "oauth2ClientCredentials = {\n"
	    "  clientId = { passwordFile = \"/i\"; };\n"
	    "  clientSecret = { passwordFile = \"/s\"; };\n"
	    "  scope = \"s\"; };\n"), "t.conf:11: kmsConfig."
	    "oauth2ClientCredentials: missing setting \"tenantId\"");
	load_fails(AZURE(AZ_BASE "oauth2ClientCredentials = {\n"
	    "  tenantId = \"t\"; clientSecret = { passwordFile = \"/s\"; };\n"
	    "  scope = \"s\"; };\n"), "missing setting \"clientId\"");
	load_fails(AZURE(AZ_BASE "oauth2ClientCredentials = {\n"
	    "  tenantId = \"t\"; clientId = { passwordFile = \"/i\"; };\n"
	    "  clientSecret = { passwordFile = \"/s\"; }; };\n"),
	    "missing setting \"scope\"");
	load_fails(AZURE(AZ_BASE "managedIdentityCredentials = { };\n"),
	    "missing setting \"targetResource\"");
	load_fails(AZURE(AZ_BASE "keyVaultScheme = \"ftp\";\n" AZ_MANAGED),
	    "keyVaultScheme must be https or http");
	load_fails(AZURE(AZ_BASE "keyVaultPort = 0;\n" AZ_MANAGED),
	    "out of range 1..65535");
	load_fails(AZURE("keyVaultName = \"vault\";\n"
	    "keyVaultHost = \"https://vault.azure.net\";\n" AZ_MANAGED),
	    "a host name");
	load_fails(AZURE("keyVaultName = \"vault\";\n"
	    "keyVaultHost = \"vault..azure.net\";\n" AZ_MANAGED),
	    "is not a host name");
	load_fails(AZURE(AZ_BASE "managedIdentityCredentials = {\n"
	    "  targetResource = \"r\";\n"
	    "  identityServiceEndpoint = \"169.254.169.254\"; };\n"),
	    "http:// or https://");
	load_fails(AZURE(AZ_BASE AZ_MANAGED "keyVaultBaseUri = \"x\";\n"),
	    "t.conf:13: unknown setting \"keyVaultBaseUri\" in kmsConfig");
}

/* --- tls, timeouts, names --- */

Test(conf_kms, tls_groups)
{
	struct krx_conf			*c = load_ok(VAULT(VAULT_URL VAULT_TOKEN
	    "tls = {\n"
	    "  trust = { storeFile = \"/etc/krx/ca.p12\";\n"
	    "    storePassword = { passwordFile = \"/etc/krx/ca.pw\"; }; };\n"
	    "  key = { storeFile = \"/etc/krx/client.jks\";\n"
	    "    storeType = \"JKS\";\n"
	    "    storePassword = { passwordFile = \"/etc/krx/ks.pw\"; };\n"
	    "    keyPassword = { passwordFile = \"/etc/krx/key.pw\"; }; };\n"
	    "};\n"));
	const struct krx_conf_kms	*k = kms_of(c);

	cr_assert(k->tls.present);
	cr_assert_eq(k->tls.insecure, 0);
	cr_assert_str_eq(k->tls.trust_file, "/etc/krx/ca.p12");
	cr_assert_str_eq(k->tls.trust_password_file, "/etc/krx/ca.pw");
	cr_assert_eq(k->tls.trust_type, KRX_CONF_STORE_PKCS12);
	cr_assert_str_eq(k->tls.key_store_file, "/etc/krx/client.jks");
	cr_assert_eq(k->tls.key_store_type, KRX_CONF_STORE_JKS);
	cr_assert_str_eq(k->tls.key_store_password_file, "/etc/krx/ks.pw");
	cr_assert_str_eq(k->tls.key_password_file, "/etc/krx/key.pw");
	cr_assert_null(k->tls.key_file);
	krx_conf_free(c);
	c = load_ok(VAULT(VAULT_URL VAULT_TOKEN "tls = {\n"
	    "  trust = { insecure = true; };\n"
	    "  key = { privateKeyFile = \"/k.pem\";\n"
	    "    certificateFile = \"/c.pem\"; }; };\n"));
	k = kms_of(c);
	cr_assert(k->tls.insecure);
	cr_assert_null(k->tls.trust_file);
	cr_assert_str_eq(k->tls.key_file, "/k.pem");
	cr_assert_str_eq(k->tls.cert_file, "/c.pem");
	cr_assert_null(k->tls.key_store_file);
	krx_conf_free(c);
	c = load_ok(AZURE(AZ_BASE "oauth2ClientCredentials = {\n"
	    "  tenantId = \"contoso.onmicrosoft.com\"; scope = \"s\";\n"
	    "  clientId = { passwordFile = \"/i\"; };\n"
	    "  clientSecret = { passwordFile = \"/s\"; };\n"
	    "  tls = { trust = { storeFile = \"/ca.pem\";\n"
	    "    storeType = \"PEM\"; }; }; };\n"
	    "tls = { trust = { insecure = false; }; };\n"));
	k = kms_of(c);
	cr_assert(k->azure.oauth_tls.present);
	cr_assert_str_eq(k->azure.oauth_tls.trust_file, "/ca.pem");
	cr_assert_eq(k->azure.oauth_tls.trust_type, KRX_CONF_STORE_PEM);
	cr_assert(k->tls.present);
	cr_assert_eq(k->tls.insecure, 0);
	cr_assert_null(k->tls.trust_file);
	krx_conf_free(c);
}

Test(conf_kms, tls_errors)
{
	load_fails(VAULT(VAULT_URL VAULT_TOKEN "tls = { trust = {\n"
	    "  insecure = true; storeFile = \"/ca.p12\"; }; };\n"),
	    "t.conf:12: kmsConfig.tls.trust: insecure = true takes no");
	load_fails(VAULT(VAULT_URL VAULT_TOKEN "tls = { trust = {\n"
	    "  insecure = \"yes\"; }; };\n"), "insecure must be true or false");
	load_fails(VAULT(VAULT_URL VAULT_TOKEN "tls = { trust = { }; };\n"),
	    "kmsConfig.tls.trust: missing setting \"storeFile\"");
	load_fails(VAULT(VAULT_URL VAULT_TOKEN "tls = { trust = {\n"
	    "  storeFile = \"ca.p12\"; }; };\n"), "must be an absolute path");
	load_fails(VAULT(VAULT_URL VAULT_TOKEN "tls = { trust = {\n"
	    "  storeFile = \"/ca.p12\"; storeType = \"P12\"; }; };\n"),
	    "storeType must be PKCS12, JKS or PEM");
	load_fails(VAULT(VAULT_URL VAULT_TOKEN "tls = { trust = {\n"
	    "  storeFile = \"/ca.pem\"; storeType = \"PEM\";\n"
	    "  storePassword = { passwordFile = \"/p\"; }; }; };\n"),
	    "a PEM store takes no storePassword");
	load_fails(VAULT(VAULT_URL VAULT_TOKEN "tls = { key = {\n"
	    "  storeFile = \"/k.p12\"; privateKeyFile = \"/k.pem\"; }; };\n"),
	    "kmsConfig.tls.key takes either storeFile or privateKeyFile");
	load_fails(VAULT(VAULT_URL VAULT_TOKEN "tls = { key = { }; };\n"),
	    "kmsConfig.tls.key takes either");
	load_fails(VAULT(VAULT_URL VAULT_TOKEN "tls = { key = {\n"
	    "  privateKeyFile = \"/k.pem\"; }; };\n"),
	    "kmsConfig.tls.key: missing setting \"certificateFile\"");
	load_fails(VAULT(VAULT_URL VAULT_TOKEN "tls = { key = {\n"
	    "  privateKeyFile = \"/k.pem\"; certificateFile = \"/c.pem\";\n"
	    "  storeType = \"PEM\"; }; };\n"),
	    "storePassword and storeType go with storeFile");
	load_fails(VAULT(VAULT_URL VAULT_TOKEN "tls = {\n"
	    "  protocols = { allowed = [ \"TLSv1.3\" ]; }; };\n"),
	    "t.conf:12: unknown setting \"protocols\" in kmsConfig.tls");
	load_fails(VAULT(VAULT_URL VAULT_TOKEN "tls = \"on\";\n"),
	    "kmsConfig.tls must be a group");
}

Test(conf_kms, timeouts)
{
	struct krx_conf			*c = load_ok(VAULT(VAULT_URL VAULT_TOKEN
	    "connectTimeoutSeconds = 5; requestTimeoutSeconds = 60;\n"));
	const struct krx_conf_kms	*k = kms_of(c);

	cr_assert_eq(k->connect_timeout, 5);
	cr_assert_eq(k->request_timeout, 60);
	krx_conf_free(c);
	load_fails(VAULT(VAULT_URL VAULT_TOKEN "connectTimeoutSeconds = 0;\n"),
	    "t.conf:11: \"connectTimeoutSeconds\" = 0 is out of range 1..300");
	load_fails(AWS(AWS_BASE AWS_LONG "requestTimeoutSeconds = 301;\n"),
	    "\"requestTimeoutSeconds\" = 301 is out of range");
	load_fails(AZURE(AZ_BASE AZ_MANAGED "requestTimeoutSeconds = \"5\";\n"),
	    "\"requestTimeoutSeconds\" must be an integer");
}

Test(conf_kms, kms_names)
{
	load_fails(KMS("FortanixDsmKmsService", "endpointUrl = \"https://x\";"
	    "\n"), "t.conf:4: kms \"FortanixDsmKmsService\" is not supported");
	load_fails(KMS("vaultkmsservice", VAULT_URL VAULT_TOKEN),
	    "is not supported");
	load_fails("virtual_clusters = ( { name = \"a\";\n"
	    "  bootstrap = \"127.0.0.1:9192\";\n"
	    "  upstream = { bootstrap = \"localhost:9092\"; };\n"
	    "  record_encryption = { kms = \"VaultKmsService\";\n"
	    "    selector = \"TemplateKekSelector\";\n"
	    "    selectorConfig = { template = \"$(topicName)\"; }; };\n"
	    "} );\n", "t.conf:4: VaultKmsService needs kmsConfig");
}

static void
id_for(const char *text, char *out, size_t len)
{
	struct krx_conf	*c = load_ok(text);

	id_of(c, out, len);
	krx_conf_free(c);
}

/* One DEK cache identity per KMS instance and principal. */
Test(conf_kms, cache_identity)
{
	static const char *const texts[] = {
		VAULT(VAULT_URL VAULT_TOKEN),
		VAULT("vaultTransitEngineUrl = \"https://vault:8200/v1/t2\";\n"
		    VAULT_TOKEN),
		VAULT("vaultTransitEngineUrl = \"https://vault2:8200/v1/"
		    "transit\";\n" VAULT_TOKEN),
		VAULT(VAULT_URL
		    "vaultToken = { passwordFile = \"/other\"; };\n"),
		VAULT(VAULT_URL "kubernetesAuth = { role = \"krx\"; };\n"),
		VAULT(VAULT_URL "kubernetesAuth = { role = \"krx2\"; };\n"),
		AWS(AWS_BASE AWS_LONG),
		AWS("endpointUrl = \"https://kms.us-east-1.amazonaws.com\";\n"
		    "region = \"us-east-2\";\n" AWS_LONG),
		AWS(AWS_BASE "credentials = { ec2Metadata = {\n"
		    "  iamRole = \"r\"; }; };\n"),
		AWS(AWS_BASE "credentials = { webIdentity = { }; };\n"),
		AZURE(AZ_BASE AZ_OAUTH),
		AZURE(AZ_BASE AZ_MANAGED),
		AZURE("keyVaultName = \"other-vault\";\n"
		    "keyVaultHost = \"vault.azure.net\";\n" AZ_MANAGED),
		AZURE(AZ_BASE "keyVaultPort = 444;\n" AZ_MANAGED),
	};
	char	 ids[sizeof(texts) / sizeof(texts[0])][1024], again[1024];
	size_t	 i, j, n = sizeof(texts) / sizeof(texts[0]);

	for (i = 0; i < n; i++) {
		id_for(texts[i], ids[i], sizeof(ids[i]));
		for (j = 0; j < i; j++)
			cr_assert_str_neq(ids[i], ids[j], "%zu and %zu: %s", j,
			    i, ids[i]);
	}
	/* Stable, and the same for both spellings of the Azure name. */
	id_for(texts[0], again, sizeof(again));
	cr_assert_str_eq(again, ids[0]);
	id_for(KMS("AzureKeyVault", AZ_BASE AZ_OAUTH), again, sizeof(again));
	cr_assert_str_eq(again, ids[10]);
	/* LocalKms keeps its identity. */
	id_for(KMS("LocalKms", "keystore = \"/var/lib/krx/keks\";\n"), again,
	    sizeof(again));
	cr_assert_str_eq(again, "LocalKms:/var/lib/krx/keks");
}

Test(conf_kms, cache_identity_too_long)
{
	struct krx_conf	*c = load_ok(VAULT(VAULT_URL VAULT_TOKEN));
	char		 id[40];

	memset(id, 'x', sizeof(id));
	cr_assert_eq(krx_conf_kms_id(&c->vclusters[0].enc, id, sizeof(id)),
	    KRX_E_TOO_BIG);
	cr_assert_not_null(memchr(id, '\0', sizeof(id)));
	krx_conf_free(c);
}
