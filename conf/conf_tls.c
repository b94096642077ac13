/*
 * conf_tls.c: the tls groups of the configuration, one schema for every
 * TLS endpoint krx has (Kroxylicious' names):
 *
 *   tls = {
 *     key = { privateKeyFile = "/k.pem"; certificateFile = "/c.pem";
 *             keyPassword = { passwordFile = "/pw"; }; };
 *       or  { storeFile = "/s.p12"; storePassword = { passwordFile = ...; };
 *             keyPassword = { ... }; storeType = "PKCS12" | "JKS" | "PEM"; };
 *     trust = { storeFile = "/ca.pem"; storeType = "PEM"; storePassword = ...;
 *               trustOptions = { clientAuth = "REQUIRED"; }; };
 *       or  { insecure = true; };
 *     protocols = { allowed = [ "TLSv1.3" ]; denied = [ ... ]; };
 *     cipherSuites = { allowed = [ ... ]; denied = [ ... ]; };
 *   };
 *
 * A KMS's kmsConfig takes key and trust (a client); a virtual cluster's
 * tls (krx as the server its clients reach) needs a key and takes
 * clientAuth; an upstream's tls (krx as the brokers' client) takes all
 * but clientAuth. Only names and paths are checked here; the files are
 * read where they are used (crypto/tlsctx.c, keysvc/kms_tls.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

#include "conf/conf.h"
#include "conf/conf_int.h"

#define TLS_NAMES_MAX	64	/* protocols or cipher suites in a list */
#define TLS_NAME_MAX	64

static const char *const tls_keys[] = {
	"trust", "key", "protocols", "cipherSuites", NULL
};
static const char *const kms_tls_keys[] = { "trust", "key", NULL };
static const char *const trust_keys[] = {
	"storeFile", "storePassword", "storeType", "insecure", "trustOptions",
	NULL
};
static const char *const trust_options_keys[] = { "clientAuth", NULL };
static const char *const key_keys[] = {
	"storeFile", "storePassword", "keyPassword", "storeType",
	"privateKeyFile", "certificateFile", NULL
};
static const char *const list_keys[] = { "allowed", "denied", NULL };

/* trust.trustOptions.clientAuth (a server's). */
static void
tls_trust_options(struct conf_ctx *c, const config_setting_t *t,
    const char *where, struct krx_conf_tls *tls)
{
	static const char *const names[] = { "NONE", "REQUESTED", "REQUIRED" };
	const config_setting_t	*o;
	char			 w[192];
	char			*v;
	int			 i;

	snprintf(w, sizeof(w), "%s.trustOptions", where);
	if ((o = krx_conf_group(c, t, where, "trustOptions")) == NULL)
		return;
	krx_conf_check_keys(c, o, trust_options_keys, w);
	if ((v = krx_conf_str(c, o, w, "clientAuth", 0, 16, NULL,
	    NULL)) == NULL)
		return;
	for (i = 0; i < 3 && strcmp(v, names[i]) != 0; i++)
		;
	if (i < 3)
		tls->client_auth = i;
	else
		krx_conf_error(c->errs, c->file, krx_conf_line(o, "clientAuth"),
		    "%s.clientAuth must be NONE, REQUESTED or REQUIRED", w);
	free(v);
}

static void
tls_store_type(struct conf_ctx *c, const config_setting_t *g,
    const char *where, int *type)
{
	static const char *const names[] = { "PKCS12", "JKS", "PEM" };
	char	*v;
	int	 i;

	*type = KRX_CONF_STORE_PKCS12;
	if ((v = krx_conf_str(c, g, where, "storeType", 0, 16, NULL, NULL)) ==
	    NULL)
		return;
	for (i = 0; i < 3 && strcmp(v, names[i]) != 0; i++)
		;
	if (i < 3)
		*type = i;
	else
		krx_conf_error(c->errs, c->file, krx_conf_line(g, "storeType"),
		    "%s.storeType must be PKCS12, JKS or PEM", where);
	free(v);
}

static void
tls_trust(struct conf_ctx *c, const config_setting_t *t, const char *where,
    struct krx_conf_tls *tls)
{
	const config_setting_t	*ins = config_setting_get_member(t,
	    "insecure");

	krx_conf_check_keys(c, t, trust_keys, where);
	tls_trust_options(c, t, where, tls);
	if (ins != NULL) {
		if (config_setting_type(ins) != CONFIG_TYPE_BOOL) {
			krx_conf_error(c->errs, c->file,
			    config_setting_source_line(ins), "%s.insecure "
			    "must be true or false", where);
			return;
		}
		tls->insecure = config_setting_get_bool(ins) != 0;
		if (tls->insecure && config_setting_length(t) > 1 +
		    (config_setting_get_member(t, "trustOptions") != NULL)) {
			krx_conf_error(c->errs, c->file,
			    config_setting_source_line(ins), "%s: insecure = "
			    "true takes no storeFile, storePassword or "
			    "storeType", where);
			return;
		}
		if (tls->insecure || config_setting_get_member(t,
		    "storeFile") == NULL)
			return;	/* insecure = false alone: the defaults */
	}
	tls->trust_file = krx_conf_path(c, t, where, "storeFile", 1);
	tls->trust_password_file = krx_conf_password(c, t, where,
	    "storePassword", 0);
	tls_store_type(c, t, where, &tls->trust_type);
	if (tls->trust_type == KRX_CONF_STORE_PEM &&
	    tls->trust_password_file != NULL)
		krx_conf_error(c->errs, c->file, config_setting_source_line(t),
		    "%s: a PEM store takes no storePassword", where);
}

static void
tls_key(struct conf_ctx *c, const config_setting_t *k, const char *where,
    struct krx_conf_tls *tls)
{
	int	 store = config_setting_get_member(k, "storeFile") != NULL;
	int	 pem = config_setting_get_member(k, "privateKeyFile") != NULL ||
	    config_setting_get_member(k, "certificateFile") != NULL;
	int	 line = config_setting_source_line(k);

	krx_conf_check_keys(c, k, key_keys, where);
	if (store == pem) {
		krx_conf_error(c->errs, c->file, line, "%s takes either "
		    "storeFile or privateKeyFile and certificateFile", where);
		return;
	}
	tls->key_password_file = krx_conf_password(c, k, where, "keyPassword",
	    0);
	if (!store) {
		if (config_setting_get_member(k, "storePassword") != NULL ||
		    config_setting_get_member(k, "storeType") != NULL)
			krx_conf_error(c->errs, c->file, line, "%s: "
			    "storePassword and storeType go with storeFile",
			    where);
		tls->key_file = krx_conf_path(c, k, where, "privateKeyFile",
		    1);
		tls->cert_file = krx_conf_path(c, k, where, "certificateFile",
		    1);
		return;
	}
	tls->key_store_file = krx_conf_path(c, k, where, "storeFile", 1);
	tls->key_store_password_file = krx_conf_password(c, k, where,
	    "storePassword", 0);
	tls_store_type(c, k, where, &tls->key_store_type);
	if (tls->key_store_type == KRX_CONF_STORE_PEM &&
	    tls->key_store_password_file != NULL)
		krx_conf_error(c->errs, c->file, line, "%s: a PEM store takes "
		    "no storePassword (keyPassword decrypts the key)", where);
}

/* One list of names, [ "a", "b" ], into *out. */
static void
tls_names(struct conf_ctx *c, const config_setting_t *g, const char *where,
    const char *name, struct krx_conf_names *out)
{
	const config_setting_t	*l = config_setting_get_member(g, name);
	const char		*v;
	int			 i, n, line;

	if (l == NULL)
		return;
	line = config_setting_source_line(l);
	out->given = 1;
	if (!config_setting_is_array(l) && !config_setting_is_list(l)) {
		krx_conf_error(c->errs, c->file, line, "%s.%s must be a list "
		    "of names [ \"...\", ... ]", where, name);
		return;
	}
	if ((n = config_setting_length(l)) > TLS_NAMES_MAX) {
		krx_conf_error(c->errs, c->file, line, "%s.%s: more than %d "
		    "names", where, name, TLS_NAMES_MAX);
		return;
	}
	if (n > 0 && (out->v = calloc(n, sizeof(*out->v))) == NULL)
		return;
	for (i = 0; i < n; i++) {
		v = config_setting_get_string_elem(l, i);
		if (v == NULL || *v == '\0' || strlen(v) > TLS_NAME_MAX ||
		    v[strspn(v,
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvw"
		    "xyz0123456789_.-")] != '\0') {
			krx_conf_error(c->errs, c->file, line, "%s.%s: each "
			    "name must be 1 to %d letters, digits, '_', '.' "
			    "or '-'", where, name, TLS_NAME_MAX);
			return;
		}
		if ((out->v[out->n] = strdup(v)) == NULL)
			return;
		out->n++;
	}
}

/* protocols or cipherSuites = { allowed = [...]; denied = [...]; }. */
static void
tls_lists(struct conf_ctx *c, const config_setting_t *t, const char *where,
    const char *name, struct krx_conf_names *allowed,
    struct krx_conf_names *denied)
{
	const config_setting_t	*g;
	char			 w[192];

	if ((g = krx_conf_group(c, t, where, name)) == NULL)
		return;
	snprintf(w, sizeof(w), "%s.%s", where, name);
	krx_conf_check_keys(c, g, list_keys, w);
	tls_names(c, g, w, "allowed", allowed);
	tls_names(c, g, w, "denied", denied);
}

/* The role's rules on what a tls group holds. */
static void
tls_role_check(struct conf_ctx *c, const config_setting_t *t,
    const char *w, struct krx_conf_tls *tls, enum krx_conf_tls_role role)
{
	int	 line = config_setting_source_line(t);

	if (role == KRX_CONF_TLS_SERVER) {
		if (tls->key_file == NULL && tls->key_store_file == NULL)
			krx_conf_error(c->errs, c->file, line, "%s needs a key "
			    "(the certificate krx presents to clients)", w);
		if (tls->insecure)
			krx_conf_error(c->errs, c->file, line, "%s: insecure "
			    "is for a client's trust, not a server's", w);
		if (tls->client_auth != KRX_CONF_CLIENT_AUTH_NONE &&
		    tls->trust_file == NULL)
			krx_conf_error(c->errs, c->file, line, "%s: clientAuth "
			    "needs a trust store (storeFile) to check client "
			    "certificates against", w);
		return;
	}
	if (tls->client_auth != KRX_CONF_CLIENT_AUTH_NONE)
		krx_conf_error(c->errs, c->file, line, "%s: clientAuth is "
		    "for a server's trust (a virtual cluster's tls)", w);
}

void
krx_conf_tls(struct conf_ctx *c, const config_setting_t *g, const char *where,
    struct krx_conf_tls *tls, enum krx_conf_tls_role role)
{
	const config_setting_t	*t, *s;
	char			 w[128], ws[160];

	if ((t = krx_conf_group(c, g, where, "tls")) == NULL)
		return;
	tls->present = 1;
	snprintf(w, sizeof(w), "%s.tls", where);
	krx_conf_check_keys(c, t, role == KRX_CONF_TLS_KMS ? kms_tls_keys :
	    tls_keys, w);
	snprintf(ws, sizeof(ws), "%s.trust", w);
	if ((s = krx_conf_group(c, t, w, "trust")) != NULL)
		tls_trust(c, s, ws, tls);
	snprintf(ws, sizeof(ws), "%s.key", w);
	if ((s = krx_conf_group(c, t, w, "key")) != NULL)
		tls_key(c, s, ws, tls);
	tls_lists(c, t, w, "protocols", &tls->protocols_allowed,
	    &tls->protocols_denied);
	tls_lists(c, t, w, "cipherSuites", &tls->ciphers_allowed,
	    &tls->ciphers_denied);
	tls_role_check(c, t, w, tls, role);
}

static void
tls_names_free(struct krx_conf_names *n)
{
	size_t	 i;

	for (i = 0; i < n->n; i++)
		free(n->v[i]);
	free(n->v);
	memset(n, 0, sizeof(*n));
}

void
krx_conf_tls_free(struct krx_conf_tls *t)
{
	free(t->trust_file);
	free(t->trust_password_file);
	free(t->key_store_file);
	free(t->key_store_password_file);
	free(t->key_file);
	free(t->cert_file);
	free(t->key_password_file);
	tls_names_free(&t->protocols_allowed);
	tls_names_free(&t->protocols_denied);
	tls_names_free(&t->ciphers_allowed);
	tls_names_free(&t->ciphers_denied);
	memset(t, 0, sizeof(*t));
}
