/*
 * conf_hardening_test.c: issue 9 options of conf/: the root check
 * (finding 14: children must not silently stay root) and the upstream
 * allow-list (finding 12: brokers choose the addresses krx dials).
 */
#include <string.h>

#include <criterion/criterion.h>

#include "conf/conf.h"

#define VC(up, enc)							\
	"virtual_clusters = ( { name = \"a\";\n"				\
	"  bootstrap = \"127.0.0.1:9192\";\n"				\
	"  upstream = { bootstrap = \"localhost:9092\";" up " };\n"	\
	enc "} );\n"

#define ENC								\
	"  record_encryption = { kms = \"LocalKms\";\n"			\
	"    kmsConfig = { keystore = \"/tmp/k\"; };\n"			\
	"    selector = \"TemplateKekSelector\";\n"			\
	"    selectorConfig = { template = \"K-$(topicName)\"; }; };\n"

static struct krx_conf *
load(const char *text, struct krx_conf_errors *errs)
{
	struct krx_conf	*conf = NULL;

	memset(errs, 0, sizeof(*errs));
	krx_conf_load_string(text, "t.conf", &conf, errs);
	return conf;
}

static struct krx_conf *
load_ok(const char *text)
{
	struct krx_conf_errors	 errs;
	struct krx_conf		*conf = load(text, &errs);
	size_t			 i;

	for (i = 0; i < errs.n; i++)
		cr_log_error("%s", errs.msg[i]);
	cr_assert_not_null(conf);
	krx_conf_errors_free(&errs);
	return conf;
}

/* Errors of krx_conf_check_root(conf, euid) joined, "" for none. */
static void
root_errors(const struct krx_conf *conf, unsigned euid, char *out,
    size_t len)
{
	struct krx_conf_errors	 errs;
	size_t			 i;

	memset(&errs, 0, sizeof(errs));
	out[0] = '\0';
	krx_conf_check_root(conf, euid, &errs);
	for (i = 0; i < errs.n; i++) {
		strncat(out, errs.msg[i], len - strlen(out) - 1);
		strncat(out, "\n", len - strlen(out) - 1);
	}
	krx_conf_errors_free(&errs);
}

/* Issue 9, finding 14. */
Test(conf_hardening, root_needs_users)
{
	struct krx_conf	*conf;
	char		 msg[2048];

	conf = load_ok(VC("", ENC));
	root_errors(conf, 0, msg, sizeof(msg));
	cr_assert(strstr(msg, "\"user\"") != NULL, "%s", msg);
	cr_assert(strstr(msg, "\"keysvc_user\"") != NULL, "%s", msg);
	root_errors(conf, 1000, msg, sizeof(msg));
	cr_assert_str_empty(msg);
	krx_conf_free(conf);

	conf = load_ok("user = \"krx\";\n" VC("", ENC));
	root_errors(conf, 0, msg, sizeof(msg));
	cr_assert(strstr(msg, "\"keysvc_user\"") != NULL, "%s", msg);
	cr_assert(strstr(msg, "\"user\" for") == NULL, "%s", msg);
	krx_conf_free(conf);

	conf = load_ok("user = \"krx\";\nkeysvc_user = \"krx-keys\";\n"
	    VC("", ENC));
	root_errors(conf, 0, msg, sizeof(msg));
	cr_assert_str_empty(msg);
	krx_conf_free(conf);

	/* No key service without encryption: user alone will do. */
	conf = load_ok("user = \"krx\";\n" VC("", ""));
	root_errors(conf, 0, msg, sizeof(msg));
	cr_assert_str_empty(msg);
	krx_conf_free(conf);

	conf = load_ok("allow_root = true;\n" VC("", ENC));
	cr_assert_eq(conf->allow_root, 1);
	root_errors(conf, 0, msg, sizeof(msg));
	cr_assert_str_empty(msg);
	krx_conf_free(conf);
}

Test(conf_hardening, allow_root_must_be_bool)
{
	struct krx_conf_errors	 errs;
	struct krx_conf		*conf;

	conf = load("allow_root = 1;\n" VC("", ""), &errs);
	cr_assert_null(conf);
	cr_assert_eq(errs.n, 1);
	cr_assert(strstr(errs.msg[0], "allow_root") != NULL, "%s",
	    errs.msg[0]);
	krx_conf_errors_free(&errs);
}

/* Issue 9, finding 12. */
Test(conf_hardening, allowed_hosts)
{
	struct krx_conf			*conf;
	const struct krx_conf_vcluster	*vc;

	conf = load_ok(VC("", ""));
	vc = &conf->vclusters[0];
	cr_assert_eq(vc->n_allowed_hosts, 0);
	cr_assert(krx_conf_host_allowed(vc, "anything.example"));
	krx_conf_free(conf);

	conf = load_ok(VC(" allowed_hosts = ( \"kafka-*.internal\", "
	    "\"10.1.2.3\" );", ""));
	vc = &conf->vclusters[0];
	cr_assert_eq(vc->n_allowed_hosts, 2);
	cr_assert(krx_conf_host_allowed(vc, "kafka-1.internal"));
	cr_assert(krx_conf_host_allowed(vc, "KAFKA-2.Internal"));
	cr_assert(krx_conf_host_allowed(vc, "10.1.2.3"));
	cr_assert_not(krx_conf_host_allowed(vc, "10.1.2.30"));
	cr_assert_not(krx_conf_host_allowed(vc, "metadata.internal"));
	cr_assert_not(krx_conf_host_allowed(vc, "kafka-1.internal.evil"));
	cr_assert_not(krx_conf_host_allowed(vc, "127.0.0.1"));
	krx_conf_free(conf);
}

Test(conf_hardening, allowed_hosts_errors)
{
	static const char *const bad[] = {
		VC(" allowed_hosts = ( );", ""),
		VC(" allowed_hosts = \"x\";", ""),
		VC(" allowed_hosts = ( \"\" );", ""),
		VC(" allowed_hosts = ( 3 );", ""),
	};
	struct krx_conf_errors	 errs;
	size_t			 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_null(load(bad[i], &errs), "%s", bad[i]);
		cr_assert_geq(errs.n, 1);
		cr_assert(strstr(errs.msg[0], "allowed_hosts") != NULL, "%s",
		    errs.msg[0]);
		krx_conf_errors_free(&errs);
	}
}
