/*
 * conf_test.c: configuration loading and checks (conf/): defaults,
 * every error carries file and line, unknown keys and bad values are
 * refused, port ranges may not collide.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "common/log.h"
#include "conf/conf.h"

#define VC(extra)							\
	"virtual_clusters = ( { name = \"a\";\n"				\
	"  bootstrap = \"127.0.0.1:9192\";\n"				\
	"  upstream = { bootstrap = \"localhost:9092, [::1]:9093\"; };\n" \
	extra "} );\n"

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

/* Load text that must fail; every message must contain want. */
static void
load_fails(const char *text, const char *want)
{
	struct krx_conf_errors	 errs;
	struct krx_conf		*conf = NULL;
	size_t			 i;
	int			 found = 0;

	memset(&errs, 0, sizeof(errs));
	cr_assert_eq(krx_conf_load_string(text, "t.conf", &conf, &errs),
	    KRX_E_CONFIG);
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

Test(conf, defaults)
{
	struct krx_conf	*c = load_ok(VC(""));

	cr_assert_eq(c->workers, 0);
	cr_assert_eq(c->max_frame_bytes, 100 * 1024 * 1024);
	cr_assert_eq(c->log_level, KRX_LOG_INFO);
	cr_assert_str_eq(c->control_socket, "/run/krx/control.sock");
	cr_assert_null(c->user);
	cr_assert_eq(c->n_vclusters, 1);
	cr_assert_eq(c->vclusters[0].node_start_port, 9193);
	cr_assert_eq(c->vclusters[0].max_node_id, 2);
	cr_assert_str_eq(c->vclusters[0].advertised_host, "127.0.0.1");
	cr_assert_eq(c->vclusters[0].n_upstream, 2);
	cr_assert_str_eq(c->vclusters[0].upstream[1].host, "::1");
	cr_assert_eq(c->vclusters[0].upstream[1].port, 9093);
	cr_assert_eq(c->keysvc_kms_rate, 2000);
	krx_conf_free(c);
}

/* issue 9, finding 7: the per-worker KMS request rate in keysvc. */
Test(conf, keysvc_kms_rate)
{
	struct krx_conf	*c = load_ok("keysvc_kms_rate = 50;\n" VC(""));

	cr_assert_eq(c->keysvc_kms_rate, 50);
	krx_conf_free(c);
	load_fails("keysvc_kms_rate = 0;\n" VC(""), "keysvc_kms_rate");
}

Test(conf, explicit_values)
{
	struct krx_conf	*c = load_ok("workers = 3;\nlog = { level = \"debug\"; "
	    "};\nmax_frame_bytes = 2048;\n"
	    VC("  advertised_host = \"proxy.example\";\n"
	    "  node_start_port = 10000; max_node_id = 9;\n"));

	cr_assert_eq(c->workers, 3);
	cr_assert_eq(c->log_level, KRX_LOG_DEBUG);
	cr_assert_eq(c->max_frame_bytes, 2048);
	cr_assert_str_eq(c->vclusters[0].advertised_host, "proxy.example");
	cr_assert_eq(c->vclusters[0].node_start_port, 10000);
	cr_assert_eq(c->vclusters[0].max_node_id, 9);
	krx_conf_free(c);
}

Test(conf, errors_have_lines)
{
	load_fails("workers = 2;\nbogus = 1;\n" VC(""),
	    "t.conf:2: unknown setting \"bogus\"");
	load_fails(VC("  colour = \"red\";\n"), "t.conf:4: unknown setting \"colour\"");
	load_fails("workers = ;\n", "t.conf:1:");
	load_fails("workers = \"many\";\n" VC(""), "\"auto\" or a number");
	load_fails("workers = 0;\n" VC(""), "out of range");
	load_fails("log = { level = \"loud\"; };\n" VC(""), "log level");
}

Test(conf, bad_addresses_and_ports)
{
	load_fails("virtual_clusters = ( { name = \"a\"; bootstrap = \"x\";\n"
	    "upstream = { bootstrap = \"h:1\"; }; } );", "not host:port");
	load_fails("virtual_clusters = ( { name = \"a\"; bootstrap = "
	    "\"h:70000\";\nupstream = { bootstrap = \"h:1\"; }; } );",
	    "not host:port");
	load_fails(VC("  node_start_port = 9190;\n"),
	    "inside the node port range");
	load_fails("virtual_clusters = ( { name = \"a\"; bootstrap = "
	    "\"h:1\";\n} );", "upstream");
	load_fails("", "no virtual_clusters");
}

Test(conf, clusters_may_not_share_ports)
{
	load_fails("virtual_clusters = (\n"
	    "{ name = \"a\"; bootstrap = \"h:9192\"; upstream = { bootstrap ="
	    " \"b:1\"; }; },\n"
	    "{ name = \"b\"; bootstrap = \"h:9194\"; upstream = { bootstrap ="
	    " \"b:1\"; }; } );", "overlap");
}

Test(conf, hostport_parse)
{
	struct krx_hostport	 hp;

	cr_assert_eq(krx_hostport_parse("[fe80::1]:443", &hp), KRX_OK);
	cr_assert_str_eq(hp.host, "fe80::1");
	cr_assert_eq(hp.port, 443);
	krx_hostport_free(&hp);
	cr_assert_eq(krx_hostport_parse("fe80::1:443", &hp), KRX_E_MALFORMED);
	cr_assert_eq(krx_hostport_parse(":443", &hp), KRX_E_MALFORMED);
	cr_assert_eq(krx_hostport_parse("h:", &hp), KRX_E_MALFORMED);
	cr_assert_eq(krx_hostport_parse("h:0", &hp), KRX_E_MALFORMED);
	cr_assert_eq(krx_hostport_parse("h:12x", &hp), KRX_E_MALFORMED);
}

#define ENC(body)							\
	VC("  record_encryption = {\n" body "  };\n")

Test(conf, record_encryption)
{
	struct krx_conf	*c = load_ok(ENC(
	    "    kms = \"LocalKms\"; kmsConfig = { keystore = \"/k\"; };\n"
	    "    selector = \"TemplateKekSelector\";\n"
	    "    selectorConfig = { template = \"KEK-$(topicName)\"; };\n"
	    "    unresolvedKeyPolicy = \"REJECT\";\n"
	    "    experimental = { maxEncryptionsPerDek = 100; };\n"));
	const struct krx_conf_encryption *e = &c->vclusters[0].enc;
	char	 alias[64];

	cr_assert(e->enabled);
	cr_assert(e->reject_unresolved);
	cr_assert_eq(e->max_encryptions_per_dek, 100);
	cr_assert_eq(e->dek_refresh_after, 3600);
	cr_assert_eq(e->dek_expire_after, 7200);
	cr_assert_eq(krx_conf_kek_alias(e->template, "orders", 6, alias,
	    sizeof(alias)), KRX_OK);
	cr_assert_str_eq(alias, "KEK-orders");
	cr_assert_eq(krx_conf_kek_alias(e->template, "orders", 6, alias, 8),
	    KRX_E_TOO_BIG);
	krx_conf_free(c);
}

Test(conf, record_encryption_errors)
{
	load_fails(ENC("    kms = \"FortanixDsmKmsService\";\n"),
	    "not supported");
	load_fails(ENC("    kms = \"LocalKms\"; kmsConfig = { keystore = "
	    "\"/k\"; };\n    selector = \"TemplateKekSelector\";\n"
	    "    selectorConfig = { template = \"$(topic)\"; };\n"),
	    "only placeholder");
	load_fails(ENC("    kms = \"LocalKms\"; kmsConfig = { keystore = "
	    "\"/k\"; };\n    selector = \"TemplateKekSelector\";\n"
	    "    selectorConfig = { template = \"x\"; };\n"
	    "    experimental = { maxEncryptionsPerDek = 5000000000L; };\n"),
	    "out of range");
	load_fails(ENC("    kms = \"LocalKms\"; kmsConfig = { keystore = "
	    "\"/k\"; };\n    selector = \"TemplateKekSelector\";\n"
	    "    selectorConfig = { template = \"x\"; };\n"
	    "    unresolvedKeyPolicy = \"DROP\";\n"), "unresolvedKeyPolicy");
	/* issue 9, finding 14: keysvc runs from "/" */
	load_fails(ENC("    kms = \"LocalKms\"; kmsConfig = { keystore = "
	    "\"keks/ks\"; };\n    selector = \"TemplateKekSelector\";\n"
	    "    selectorConfig = { template = \"x\"; };\n"),
	    "not an absolute path");
}

/* Issue 9: requireEncryption, a boolean, false by default. */
Test(conf, record_encryption_require)
{
#define ENC_BASE							\
	"    kms = \"LocalKms\";\n"						\
	"    kmsConfig = { keystore = \"/k\"; };\n"			\
	"    selector = \"TemplateKekSelector\";\n"				\
	"    selectorConfig = { template = \"KEK-$(topicName)\"; };\n"
	struct krx_conf	*c;

	c = load_ok(ENC(ENC_BASE));
	cr_assert_eq(c->vclusters[0].enc.require_encryption, 0);
	krx_conf_free(c);
	c = load_ok(ENC(ENC_BASE "    requireEncryption = true;\n"));
	cr_assert_eq(c->vclusters[0].enc.require_encryption, 1);
	krx_conf_free(c);
	c = load_ok(ENC(ENC_BASE "    requireEncryption = false;\n"));
	cr_assert_eq(c->vclusters[0].enc.require_encryption, 0);
	krx_conf_free(c);
	load_fails(ENC(ENC_BASE "    requireEncryption = 1;\n"),
	    "true or false");
	load_fails(ENC(ENC_BASE "    requireEncryption = \"yes\";\n"),
	    "true or false");
#undef ENC_BASE
}

/* Issue 9, finding 4: connection, buffer and time limits. */
Test(conf, limits_defaults)
{
	struct krx_conf	*c = load_ok(VC(""));

	cr_assert_eq(c->max_frame_bytes_unauth, 512 * 1024);
	cr_assert_eq(c->worker_buffer_bytes, 128 * 1024 * 1024);
	cr_assert_eq(c->max_connections, 10000);
	cr_assert_eq(c->max_connections_per_addr, 1000);
	cr_assert_eq(c->handshake_timeout, 30);
	cr_assert_eq(c->idle_timeout, 600);
	cr_assert_eq(c->request_timeout, 30);
	krx_conf_free(c);
	/* The byte limits' defaults follow max_frame_bytes. */
	c = load_ok("max_frame_bytes = 2048;\n" VC(""));
	cr_assert_eq(c->max_frame_bytes_unauth, 2048);
	krx_conf_free(c);
	c = load_ok("max_frame_bytes = 209715200;\n" VC(""));
	cr_assert_eq(c->worker_buffer_bytes, 209715204);
	krx_conf_free(c);
}

Test(conf, limits_explicit)
{
	struct krx_conf	*c = load_ok("max_frame_bytes_unauthenticated = "
	    "65536;\nworker_buffer_bytes = 268435456;\nmax_connections = 50;\n"
	    "max_connections_per_client_address = 5;\nhandshake_timeout = 7;\n"
	    "idle_timeout = 60;\nrequest_timeout = 9;\n" VC(""));

	cr_assert_eq(c->max_frame_bytes_unauth, 65536);
	cr_assert_eq(c->worker_buffer_bytes, 268435456);
	cr_assert_eq(c->max_connections, 50);
	cr_assert_eq(c->max_connections_per_addr, 5);
	cr_assert_eq(c->handshake_timeout, 7);
	cr_assert_eq(c->idle_timeout, 60);
	cr_assert_eq(c->request_timeout, 9);
	krx_conf_free(c);
}

Test(conf, limits_errors_have_lines)
{
	load_fails("workers = 1;\nmax_connections = 0;\n" VC(""),
	    "t.conf:2: \"max_connections\" = 0 is out of range");
	load_fails("max_connections_per_client_address = -1;\n" VC(""),
	    "t.conf:1: \"max_connections_per_client_address\" = -1 is out");
	load_fails("\nhandshake_timeout = 0;\n" VC(""), "t.conf:2:");
	load_fails("idle_timeout = \"long\";\n" VC(""),
	    "t.conf:1: \"idle_timeout\" must be an integer");
	load_fails("request_timeout = 3601;\n" VC(""), "t.conf:1:");
	load_fails("worker_buffer_bytes = 1000;\n" VC(""), "t.conf:1:");
	load_fails("max_frame_bytes = 2048;\n"
	    "max_frame_bytes_unauthenticated = 4096;\n" VC(""),
	    "t.conf:2: max_frame_bytes_unauthenticated 4096 is larger");
	load_fails("\n\nworker_buffer_bytes = 2097152;\n" VC(""),
	    "t.conf:3: worker_buffer_bytes 2097152 cannot hold one frame");
}

/*
 * conf->text, what a key service parses later: the file as parsed, an
 * @include inlined, read back to the same settings.
 */
Test(conf, text_snapshot_reads_back)
{
	char			 dir[] = "/tmp/krxconfXXXXXX", main[64], inc[64];
	struct krx_conf_errors	 errs;
	struct krx_conf		*a = NULL, *b;
	FILE			*f;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(main, sizeof(main), "%s/krxd.conf", dir);
	snprintf(inc, sizeof(inc), "%s/vc.conf", dir);
	cr_assert_not_null(f = fopen(inc, "w"));
	fputs(VC("  advertised_host = \"k.example\";\n"), f);
	fclose(f);
	cr_assert_not_null(f = fopen(main, "w"));
	fprintf(f, "workers = 3;\nmax_connections = 77;\n"
	    "@include \"%s\"\n", inc);
	fclose(f);
	memset(&errs, 0, sizeof(errs));
	cr_assert_eq(krx_conf_load(main, &a, &errs), KRX_OK, "%s",
	    errs.n ? errs.msg[0] : "");
	cr_assert(a->text != NULL && a->text_len == strlen(a->text));
	cr_assert_null(strstr(a->text, "@include"));
	unlink(inc);
	unlink(main);
	rmdir(dir);
	b = load_ok(a->text);
	cr_assert_eq(b->workers, 3);
	cr_assert_eq(b->max_connections, 77);
	cr_assert_eq(b->n_vclusters, 1);
	cr_assert_str_eq(b->vclusters[0].name, "a");
	cr_assert_str_eq(b->vclusters[0].advertised_host, "k.example");
	cr_assert_eq(b->vclusters[0].n_upstream, 2);
	krx_conf_free(a);
	krx_conf_free(b);
}

#define VCT(tls, up)							\
	"virtual_clusters = ( { name = \"a\";\n"				\
	"  bootstrap = \"127.0.0.1:9192\";\n" tls			\
	"  upstream = { bootstrap = \"b:9092\";\n" up " };\n} );\n"

/* A virtual cluster's and an upstream's tls groups. */
Test(conf, tls_groups)
{
	struct krx_conf	*c;

	c = load_ok(VCT("  tls = { key = { privateKeyFile = \"/k.pem\";\n"
	    "    certificateFile = \"/c.pem\";\n"
	    "    keyPassword = { passwordFile = \"/pw\"; }; };\n"
	    "    trust = { storeFile = \"/ca.p12\"; storeType = \"PKCS12\";\n"
	    "      trustOptions = { clientAuth = \"REQUIRED\"; }; };\n"
	    "    protocols = { allowed = [ \"TLSv1.3\" ]; };\n"
	    "    cipherSuites = { denied = [ \"TLS_AES_128_GCM_SHA256\" ];"
	    " }; };\n",
	    "  tls = { trust = { storeFile = \"/ca.pem\"; storeType = "
	    "\"PEM\"; }; key = { storeFile = \"/c.jks\"; storeType = "
	    "\"JKS\"; }; };\n"));
	cr_assert(c->vclusters[0].tls.present);
	cr_assert_str_eq(c->vclusters[0].tls.key_file, "/k.pem");
	cr_assert_str_eq(c->vclusters[0].tls.key_password_file, "/pw");
	cr_assert_eq(c->vclusters[0].tls.client_auth,
	    KRX_CONF_CLIENT_AUTH_REQUIRED);
	cr_assert_eq(c->vclusters[0].tls.protocols_allowed.n, 1);
	cr_assert_str_eq(c->vclusters[0].tls.ciphers_denied.v[0],
	    "TLS_AES_128_GCM_SHA256");
	cr_assert_str_eq(c->vclusters[0].upstream_tls.trust_file, "/ca.pem");
	cr_assert_eq(c->vclusters[0].upstream_tls.key_store_type,
	    KRX_CONF_STORE_JKS);
	krx_conf_free(c);
	c = load_ok(VCT("", "  tls = { trust = { insecure = true; }; };\n"));
	cr_assert(c->vclusters[0].upstream_tls.insecure);
	cr_assert(!c->vclusters[0].tls.present);
	krx_conf_free(c);
	load_fails(VCT("  tls = { trust = { storeFile = \"/ca.pem\"; }; };\n",
	    ""), "needs a key");
	load_fails(VCT("  tls = { key = { privateKeyFile = \"/k\"; "
	    "certificateFile = \"/c\"; }; trust = { trustOptions = { "
	    "clientAuth = \"REQUIRED\"; }; }; };\n", ""),
	    "clientAuth needs a trust store");
	load_fails(VCT("", "  tls = { trust = { storeFile = \"/ca.pem\"; "
	    "trustOptions = { clientAuth = \"REQUIRED\"; }; }; };\n"),
	    "clientAuth is for a server");
	load_fails(VCT("", "  tls = { protocols = { allowed = \"TLSv1.3\"; "
	    "}; };\n"), "must be a list");
	load_fails(VCT("", "  tls = { key = { privateKeyFile = \"/k\"; "
	    "certificateFile = \"/c\"; keyPassword = { password = \"x\"; "
	    "}; }; };\n"), "inline password refused");
	load_fails(VCT("", "  tls = { sni = true; };\n"), "sni");
}

#define TLSKEY	"  tls = { key = { privateKeyFile = \"/k\"; "		\
		"certificateFile = \"/c\"; }; };\n"

/* SNI routing: one port, a broker pattern with $(nodeId), tls needed. */
Test(conf, sni_routing)
{
	struct krx_conf	*c;

	c = load_ok(VCT(TLSKEY "  sni = { bootstrap = \"b.k.example\"; "
	    "broker = \"broker-$(nodeId).k.example\"; };\n"
	    "  node_start_port = 9100;\n", ""));
	cr_assert_str_eq(c->vclusters[0].sni_bootstrap, "b.k.example");
	cr_assert_str_eq(c->vclusters[0].sni_prefix, "broker-");
	cr_assert_str_eq(c->vclusters[0].sni_suffix, ".k.example");
	krx_conf_free(c);
	load_fails(VCT("  sni = { bootstrap = \"b\"; broker = "
	    "\"n$(nodeId)\"; };\n", ""), "needs tls");
	load_fails(VCT(TLSKEY "  sni = { bootstrap = \"b\"; broker = "
	    "\"broker.k\"; };\n", ""), "$(nodeId) once");
	load_fails(VCT(TLSKEY "  sni = { bootstrap = \"b\"; broker = "
	    "\"$(nodeId)-$(nodeId).k\"; };\n", ""), "$(nodeId) once");
	load_fails(VCT(TLSKEY "  sni = { bootstrap = \"b\"; broker = "
	    "\"a/$(nodeId)\"; };\n", ""), "$(nodeId) once");
	load_fails(VCT(TLSKEY "  sni = { broker = \"b$(nodeId)\"; };\n", ""),
	    "bootstrap");
}
