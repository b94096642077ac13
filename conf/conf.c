/*
 * conf.c: libconfig file to struct krx_conf. Library grade: every
 * problem is collected with its file and line; unknown keys are errors
 * (a typo must not silently change behaviour).
 */
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

#include "common/err.h"
#include "common/log.h"
#include "conf/conf.h"
#include "conf/conf_int.h"

static const char *const top_keys[] = {
	"workers", "user", "keysvc_user", "pid_file", "control_socket",
	"log", "cache", "max_frame_bytes", "drain_timeout", "reload_timeout",
	"virtual_clusters", "keysvc_kms_rate", "allow_root",
	"max_frame_bytes_unauthenticated", "worker_buffer_bytes",
	"max_connections", "max_connections_per_client_address",
	"handshake_timeout", "idle_timeout", "request_timeout", "metrics",
	NULL
};
static const char *const log_keys[] = { "level", NULL };
static const char *const cache_keys[] = { "path", "max_bytes", NULL };
static const char *const vc_keys[] = {
	"name", "bootstrap", "advertised_host", "node_start_port",
	"max_node_id", "upstream", "record_encryption", "tls", "sni",
	"proxy_protocol", NULL
};
static const char *const sni_keys[] = { "bootstrap", "broker", NULL };
static const char *const upstream_keys[] = { "bootstrap", "allowed_hosts",
	"tls", NULL };

void
krx_conf_error(struct krx_conf_errors *errs, const char *file, int line,
    const char *fmt, ...)
{
	char	 msg[512], *s;
	va_list	 ap;

	if (errs->n == KRX_CONF_MAX_ERRORS) {
		errs->dropped++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (asprintf(&s, "%s:%d: %s", file, line, msg) == -1) {
		errs->dropped++;
		return;
	}
	errs->msg[errs->n++] = s;
}

void
krx_conf_errors_free(struct krx_conf_errors *errs)
{
	size_t	 i;

	for (i = 0; i < errs->n; i++)
		free(errs->msg[i]);
	memset(errs, 0, sizeof(*errs));
}

int
krx_hostport_parse(const char *s, struct krx_hostport *hp)
{
	const char	*colon, *h = s;
	size_t		 hlen;
	char		*end;
	long		 port;

	memset(hp, 0, sizeof(*hp));
	if ((colon = strrchr(s, ':')) == NULL || colon == s)
		return KRX_E_MALFORMED;
	hlen = colon - s;
	if (s[0] == '[') {
		if (hlen < 3 || s[hlen - 1] != ']')
			return KRX_E_MALFORMED;
		h = s + 1;
		hlen -= 2;
	} else if (memchr(s, ':', hlen) != NULL)
		return KRX_E_MALFORMED;
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || colon[1] == '\0' || port < 1 || port > 65535)
		return KRX_E_MALFORMED;
	if ((hp->host = strndup(h, hlen)) == NULL)
		return KRX_E_NOMEM;
	hp->port = (int)port;
	return KRX_OK;
}

void
krx_hostport_free(struct krx_hostport *hp)
{
	free(hp->host);
	hp->host = NULL;
}

void
krx_conf_check_keys(struct conf_ctx *c, const config_setting_t *group,
    const char *const *allowed, const char *where)
{
	const config_setting_t	*s;
	const char		*name;
	int			 i, j, n = config_setting_length(group);

	for (i = 0; i < n; i++) {
		s = config_setting_get_elem(group, i);
		if ((name = config_setting_name(s)) == NULL)
			continue;
		for (j = 0; allowed[j] != NULL; j++)
			if (strcmp(allowed[j], name) == 0)
				break;
		if (allowed[j] == NULL)
			krx_conf_error(c->errs, c->file,
			    config_setting_source_line(s),
			    "unknown setting \"%s\" in %s", name, where);
	}
}

/* A string member, copied; NULL (no error) when absent and !required. */
char *
krx_conf_string(struct conf_ctx *c, const config_setting_t *g, const char *name,
    int required, int line)
{
	const config_setting_t	*s = config_setting_get_member(g, name);
	const char		*v;
	char			*r;

	if (s == NULL) {
		if (required)
			krx_conf_error(c->errs, c->file, line,
			    "missing setting \"%s\"", name);
		return NULL;
	}
	if ((v = config_setting_get_string(s)) == NULL) {
		krx_conf_error(c->errs, c->file, config_setting_source_line(s),
		    "\"%s\" must be a string", name);
		return NULL;
	}
	if (*v == '\0') {
		krx_conf_error(c->errs, c->file, config_setting_source_line(s),
		    "\"%s\" must not be empty", name);
		return NULL;
	}
	if ((r = strdup(v)) == NULL)
		krx_conf_error(c->errs, c->file, line, "out of memory");
	return r;
}

/* An integer member within [lo, hi]; def when absent and !required. */
long long
krx_conf_int(struct conf_ctx *c, const config_setting_t *g, const char *name,
    long long lo, long long hi, long long def, int required, int line)
{
	const config_setting_t	*s = config_setting_get_member(g, name);
	long long		 v;
	int			 t;

	if (s == NULL) {
		if (required)
			krx_conf_error(c->errs, c->file, line,
			    "missing setting \"%s\"", name);
		return def;
	}
	t = config_setting_type(s);
	if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) {
		krx_conf_error(c->errs, c->file, config_setting_source_line(s),
		    "\"%s\" must be an integer", name);
		return def;
	}
	v = config_setting_get_int64(s);
	if (v < lo || v > hi) {
		krx_conf_error(c->errs, c->file, config_setting_source_line(s),
		    "\"%s\" = %lld is out of range %lld..%lld", name, v, lo,
		    hi);
		return def;
	}
	return v;
}

static void
conf_hostport(struct conf_ctx *c, const config_setting_t *g,
    const char *name, struct krx_hostport *hp, int line)
{
	char	*s;

	if ((s = krx_conf_string(c, g, name, 1, line)) == NULL)
		return;
	if (krx_hostport_parse(s, hp) != KRX_OK)
		krx_conf_error(c->errs, c->file, line,
		    "\"%s\" = \"%s\" is not host:port", name, s);
	free(s);
}

#define CONF_ALLOWED_MAX	256

/* upstream.allowed_hosts: a list of host globs (issue 9, finding 12). */
static void
conf_allowed_hosts(struct conf_ctx *c, const config_setting_t *u,
    struct krx_conf_vcluster *vc)
{
	const config_setting_t	*a;
	const char		*v;
	int			 i, n, line;

	if ((a = config_setting_get_member(u, "allowed_hosts")) == NULL)
		return;
	line = config_setting_source_line(a);
	n = config_setting_length(a);
	if ((!config_setting_is_list(a) && !config_setting_is_array(a)) ||
	    n < 1 || n > CONF_ALLOWED_MAX) {
		krx_conf_error(c->errs, c->file, line, "\"allowed_hosts\" "
		    "must be a list of 1 to %d host patterns",
		    CONF_ALLOWED_MAX);
		return;
	}
	if ((vc->allowed_hosts = calloc((size_t)n, sizeof(char *))) == NULL) {
		krx_conf_error(c->errs, c->file, line, "out of memory");
		return;
	}
	for (i = 0; i < n; i++) {
		v = config_setting_get_string_elem(a, i);
		if (v == NULL || *v == '\0' || strlen(v) > 255) {
			krx_conf_error(c->errs, c->file, line,
			    "\"allowed_hosts\" entry %d must be a host "
			    "pattern of 1 to 255 characters", i + 1);
			continue;
		}
		if ((vc->allowed_hosts[vc->n_allowed_hosts] = strdup(v)) ==
		    NULL) {
			krx_conf_error(c->errs, c->file, line, "out of memory");
			return;
		}
		vc->n_allowed_hosts++;
	}
}

static void
conf_upstream(struct conf_ctx *c, const config_setting_t *vcs,
    struct krx_conf_vcluster *vc)
{
	const config_setting_t	*u = config_setting_get_member(vcs, "upstream");
	char			*list, *tok, *save = NULL;
	int			 line;

	if (u == NULL || !config_setting_is_group(u)) {
		krx_conf_error(c->errs, c->file, vc->line,
		    "virtual cluster needs an \"upstream\" group");
		return;
	}
	line = config_setting_source_line(u);
	krx_conf_check_keys(c, u, upstream_keys, "upstream");
	if ((list = krx_conf_string(c, u, "bootstrap", 1, line)) == NULL)
		return;
	for (tok = strtok_r(list, ", ", &save); tok != NULL;
	    tok = strtok_r(NULL, ", ", &save)) {
		struct krx_hostport	*n;

		n = reallocarray(vc->upstream, vc->n_upstream + 1, sizeof(*n));
		if (n == NULL)
			break;
		vc->upstream = n;
		if (krx_hostport_parse(tok, &n[vc->n_upstream]) != KRX_OK) {
			krx_conf_error(c->errs, c->file, line,
			    "upstream bootstrap \"%s\" is not host:port", tok);
			continue;
		}
		vc->n_upstream++;
	}
	free(list);
	if (vc->n_upstream == 0)
		krx_conf_error(c->errs, c->file, line,
		    "upstream bootstrap lists no broker");
	conf_allowed_hosts(c, u, vc);
	krx_conf_tls(c, u, "upstream", &vc->upstream_tls, KRX_CONF_TLS_CLIENT);
}

/* A true/false member of g; 0 when absent (an error when not a bool). */
static int
conf_bool(struct conf_ctx *c, const config_setting_t *g, const char *name,
    int line)
{
	const config_setting_t	*s;

	if ((s = config_setting_get_member(g, name)) == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
		krx_conf_error(c->errs, c->file,
		    config_setting_source_line(s),
		    "\"%s\" must be true or false", name);
		return 0;
	}
	return config_setting_get_bool(s);
}

/*
 * sni = { bootstrap = "bootstrap.kafka.example";
 *         broker = "broker-$(nodeId).kafka.example"; };
 * Kroxylicious' sniHostIdentifiesNode: host names only (the port is the
 * bootstrap's); $(nodeId) exactly once in broker.
 */
static void
conf_sni(struct conf_ctx *c, const config_setting_t *s,
    struct krx_conf_vcluster *vc)
{
	static const char	 host[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789.-";
	const config_setting_t	*g;
	char			*b;
	const char		*at;

	if ((g = krx_conf_group(c, s, "virtual cluster", "sni")) == NULL)
		return;
	krx_conf_check_keys(c, g, sni_keys, "sni");
	vc->sni_bootstrap = krx_conf_str(c, g, "sni", "bootstrap", 1, 253,
	    host, "a host name");
	if ((b = krx_conf_str(c, g, "sni", "broker", 1, 253, NULL,
	    NULL)) == NULL)
		return;
	if ((at = strstr(b, "$(nodeId)")) == NULL ||
	    strstr(at + 1, "$(nodeId)") != NULL ||
	    strspn(b, host) != (size_t)(at - b) ||
	    at[9 + strspn(at + 9, host)] != '\0' || (at == b && !at[9]))
		krx_conf_error(c->errs, c->file, krx_conf_line(g, "broker"),
		    "sni.broker must be a host name with $(nodeId) once, "
		    "such as \"broker-$(nodeId).kafka.example\"");
	else {
		vc->sni_prefix = strndup(b, (size_t)(at - b));
		vc->sni_suffix = strdup(at + 9);
	}
	free(b);
	if (!vc->tls.present)
		krx_conf_error(c->errs, c->file, config_setting_source_line(g),
		    "sni routing needs tls: clients name the broker in the "
		    "TLS handshake");
}

static void
conf_vcluster(struct conf_ctx *c, const config_setting_t *s,
    struct krx_conf_vcluster *vc)
{
	int	 line = config_setting_source_line(s);

	vc->line = line;
	if (!config_setting_is_group(s)) {
		krx_conf_error(c->errs, c->file, line,
		    "each virtual cluster must be a group { ... }");
		return;
	}
	krx_conf_check_keys(c, s, vc_keys, "virtual cluster");
	vc->name = krx_conf_string(c, s, "name", 1, line);
	conf_hostport(c, s, "bootstrap", &vc->bootstrap, line);
	vc->advertised_host = krx_conf_string(c, s, "advertised_host", 0, line);
	if (vc->advertised_host == NULL && vc->bootstrap.host != NULL)
		vc->advertised_host = strdup(vc->bootstrap.host);
	vc->max_node_id = (int)krx_conf_int(c, s, "max_node_id", 0,
	    KRX_CONF_MAX_NODE_ID, 2, 0, line);
	vc->node_start_port = (int)krx_conf_int(c, s, "node_start_port", 1, 65535,
	    vc->bootstrap.port + 1, 0, line);
	conf_upstream(c, s, vc);
	krx_conf_tls(c, s, "virtual cluster", &vc->tls, KRX_CONF_TLS_SERVER);
	conf_sni(c, s, vc);
	vc->proxy_protocol = conf_bool(c, s, "proxy_protocol", line);
	krx_conf_encryption(c, s, &vc->enc);
	if (vc->name == NULL)
		vc->name = strdup("?");
}

static void
conf_vclusters(struct conf_ctx *c, const config_setting_t *root)
{
	const config_setting_t	*l;
	int			 i, n;

	l = config_setting_get_member(root, "virtual_clusters");
	if (l == NULL)
		return;
	if (!config_setting_is_list(l)) {
		krx_conf_error(c->errs, c->file, config_setting_source_line(l),
		    "virtual_clusters must be a list ( {...}, ... )");
		return;
	}
	n = config_setting_length(l);
	if (n == 0)
		return;
	c->conf->vclusters = calloc(n, sizeof(*c->conf->vclusters));
	if (c->conf->vclusters == NULL)
		return;
	c->conf->n_vclusters = n;
	for (i = 0; i < n; i++)
		conf_vcluster(c, config_setting_get_elem(l, i),
		    &c->conf->vclusters[i]);
}

static void
conf_workers(struct conf_ctx *c, const config_setting_t *root)
{
	const config_setting_t	*s;
	const char		*v;

	c->conf->workers = 0;
	if ((s = config_setting_get_member(root, "workers")) == NULL)
		return;
	if ((v = config_setting_get_string(s)) != NULL) {
		if (strcmp(v, "auto") != 0)
			krx_conf_error(c->errs, c->file,
			    config_setting_source_line(s),
			    "workers must be \"auto\" or a number");
		return;
	}
	c->conf->workers = (int)krx_conf_int(c, root, "workers", 1, 256, 0, 0, 0);
}

static void
conf_log(struct conf_ctx *c, const config_setting_t *root)
{
	const config_setting_t	*g = config_setting_get_member(root, "log");
	char			*lv;
	int			 line;

	c->conf->log_level = KRX_LOG_INFO;
	if (g == NULL)
		return;
	line = config_setting_source_line(g);
	if (!config_setting_is_group(g)) {
		krx_conf_error(c->errs, c->file, line, "log must be a group");
		return;
	}
	krx_conf_check_keys(c, g, log_keys, "log");
	if ((lv = krx_conf_string(c, g, "level", 0, line)) == NULL)
		return;
	if ((c->conf->log_level = log_level_parse(lv)) == -1) {
		krx_conf_error(c->errs, c->file, line,
		    "log level \"%s\" is not debug, info, warn or error", lv);
		c->conf->log_level = KRX_LOG_INFO;
	}
	free(lv);
}

static void
conf_cache(struct conf_ctx *c, const config_setting_t *root)
{
	const config_setting_t	*g = config_setting_get_member(root, "cache");
	int			 line = 0;

	c->conf->cache_max_bytes = 64 * 1024 * 1024;
	if (g != NULL) {
		line = config_setting_source_line(g);
		krx_conf_check_keys(c, g, cache_keys, "cache");
		c->conf->cache_path = krx_conf_string(c, g, "path", 0, line);
		c->conf->cache_max_bytes = krx_conf_int(c, g, "max_bytes",
		    1024 * 1024, (long long)1 << 40, 64 * 1024 * 1024, 0, line);
	}
	if (c->conf->cache_path == NULL)
		c->conf->cache_path = strdup("/run/krx/dekcache");
}

/* The line of a top-level setting, for errors across settings. */
static int
conf_line(const config_setting_t *root, const char *name)
{
	const config_setting_t	*s = config_setting_get_member(root, name);

	return s != NULL ? config_setting_source_line(s) : 0;
}

/*
 * Per-worker bounds on connections, buffered bytes and time. The
 * defaults of the two byte limits follow max_frame_bytes when it is set
 * beyond them; set explicitly, they must fit it.
 */
static void
conf_limits(struct conf_ctx *c, const config_setting_t *root)
{
	struct krx_conf	*conf = c->conf;
	long long	 mfb = conf->max_frame_bytes;

	conf->max_frame_bytes_unauth = (uint32_t)krx_conf_int(c, root,
	    "max_frame_bytes_unauthenticated", 1024, INT32_MAX,
	    mfb < 512 * 1024 ? mfb : 512 * 1024, 0, 0);
	conf->worker_buffer_bytes = krx_conf_int(c, root,
	    "worker_buffer_bytes", 1024 * 1024, (long long)1 << 40,
	    mfb + 4 > 128 * 1024 * 1024 ? mfb + 4 : 128 * 1024 * 1024, 0, 0);
	conf->max_connections = (int)krx_conf_int(c, root, "max_connections",
	    1, 1000000, 10000, 0, 0);
	conf->max_connections_per_addr = (int)krx_conf_int(c, root,
	    "max_connections_per_client_address", 1, 1000000, 1000, 0, 0);
	conf->handshake_timeout = (int)krx_conf_int(c, root,
	    "handshake_timeout", 1, 3600, 30, 0, 0);
	conf->idle_timeout = (int)krx_conf_int(c, root, "idle_timeout", 1,
	    7 * 86400, 600, 0, 0);
	conf->request_timeout = (int)krx_conf_int(c, root, "request_timeout",
	    1, 3600, 30, 0, 0);
	if (conf->max_frame_bytes_unauth > conf->max_frame_bytes)
		krx_conf_error(c->errs, c->file, conf_line(root,
		    "max_frame_bytes_unauthenticated"),
		    "max_frame_bytes_unauthenticated %u is larger than "
		    "max_frame_bytes %u", conf->max_frame_bytes_unauth,
		    conf->max_frame_bytes);
	if (conf->worker_buffer_bytes < mfb + 4)
		krx_conf_error(c->errs, c->file, conf_line(root,
		    "worker_buffer_bytes"), "worker_buffer_bytes %lld cannot "
		    "hold one frame of max_frame_bytes %lld",
		    (long long)conf->worker_buffer_bytes, mfb);
}

static void
conf_root(struct conf_ctx *c, const config_setting_t *root)
{
	struct krx_conf	*conf = c->conf;

	krx_conf_check_keys(c, root, top_keys, "the top level");
	conf_workers(c, root);
	conf_log(c, root);
	conf->user = krx_conf_string(c, root, "user", 0, 0);
	conf->keysvc_user = krx_conf_string(c, root, "keysvc_user", 0, 0);
	c->conf->allow_root = conf_bool(c, root, "allow_root", 0);
	conf_cache(c, root);
	conf->pid_file = krx_conf_string(c, root, "pid_file", 0, 0);
	if (conf->pid_file == NULL)
		conf->pid_file = strdup("/run/krx/krxd.pid");
	conf->control_socket = krx_conf_string(c, root, "control_socket", 0, 0);
	if (conf->control_socket == NULL)
		conf->control_socket = strdup("/run/krx/control.sock");
	conf->max_frame_bytes = (uint32_t)krx_conf_int(c, root, "max_frame_bytes",
	    1024, INT32_MAX, 100 * 1024 * 1024, 0, 0);
	conf->drain_timeout = (int)krx_conf_int(c, root, "drain_timeout", 0, 3600,
	    30, 0, 0);
	conf->reload_timeout = (int)krx_conf_int(c, root, "reload_timeout", 1,
	    3600, 60, 0, 0);
	conf->keysvc_kms_rate = (int)krx_conf_int(c, root, "keysvc_kms_rate",
	    1, 1000000, 2000, 0, 0);
	conf_limits(c, root);
	krx_conf_metrics(c, root);
	conf_vclusters(c, root);
}

/* conf->text: the parsed tree written out again (no secret is inline). */
static void
conf_snapshot(config_t *cfg, struct krx_conf *conf,
    struct krx_conf_errors *errs)
{
	FILE	*f;

	if ((f = open_memstream(&conf->text, &conf->text_len)) == NULL) {
		krx_conf_error(errs, conf->path, 0, "out of memory");
		return;
	}
	config_write(cfg, f);
	if (fclose(f) != 0 || conf->text == NULL)
		krx_conf_error(errs, conf->path, 0, "out of memory");
}

static int
conf_finish(config_t *cfg, int read_ok, const char *name,
    struct krx_conf **out, struct krx_conf_errors *errs)
{
	struct conf_ctx	 c;
	struct krx_conf	*conf;

	*out = NULL;
	if (!read_ok) {
		krx_conf_error(errs, config_error_file(cfg) ?
		    config_error_file(cfg) : name, config_error_line(cfg),
		    "%s", config_error_text(cfg));
		return KRX_E_CONFIG;
	}
	if ((conf = calloc(1, sizeof(*conf))) == NULL ||
	    (conf->path = strdup(name)) == NULL) {
		free(conf);
		return KRX_E_NOMEM;
	}
	c.conf = conf;
	c.errs = errs;
	c.file = name;
	conf_root(&c, config_root_setting(cfg));
	if (errs->n == 0)
		krx_conf_check(conf, errs);
	if (errs->n == 0)
		conf_snapshot(cfg, conf, errs);
	if (errs->n > 0 || errs->dropped > 0) {
		krx_conf_free(conf);
		return KRX_E_CONFIG;
	}
	*out = conf;
	return KRX_OK;
}

int
krx_conf_load(const char *path, struct krx_conf **out,
    struct krx_conf_errors *errs)
{
	config_t	 cfg;
	int		 r;

	config_init(&cfg);
	r = conf_finish(&cfg, config_read_file(&cfg, path) == CONFIG_TRUE,
	    path, out, errs);
	if (r != KRX_OK && errs->n == 0)
		krx_conf_error(errs, path, 0, "%s", krx_strerror(r));
	config_destroy(&cfg);
	return r;
}

int
krx_conf_load_string(const char *text, const char *name,
    struct krx_conf **out, struct krx_conf_errors *errs)
{
	config_t	 cfg;
	int		 r;

	config_init(&cfg);
	r = conf_finish(&cfg, config_read_string(&cfg, text) == CONFIG_TRUE,
	    name, out, errs);
	config_destroy(&cfg);
	return r;
}

void
krx_conf_free(struct krx_conf *conf)
{
	struct krx_conf_vcluster	*vc;
	size_t				 i, j;

	if (conf == NULL)
		return;
	free(conf->text);
	for (i = 0; i < conf->n_vclusters; i++) {
		vc = &conf->vclusters[i];
		free(vc->name);
		krx_hostport_free(&vc->bootstrap);
		free(vc->advertised_host);
		for (j = 0; j < vc->n_upstream; j++)
			krx_hostport_free(&vc->upstream[j]);
		free(vc->upstream);
		krx_conf_encryption_free(&vc->enc);
		for (j = 0; j < vc->n_allowed_hosts; j++)
			free(vc->allowed_hosts[j]);
		free(vc->allowed_hosts);
		krx_conf_tls_free(&vc->tls);
		krx_conf_tls_free(&vc->upstream_tls);
		free(vc->sni_bootstrap);
		free(vc->sni_prefix);
		free(vc->sni_suffix);
	}
	free(conf->vclusters);
	free(conf->path);
	free(conf->user);
	free(conf->keysvc_user);
	free(conf->cache_path);
	free(conf->pid_file);
	free(conf->control_socket);
	free(conf->metrics_listen);
	free(conf);
}

int
krx_conf_host_allowed(const struct krx_conf_vcluster *vc, const char *host)
{
	size_t	 i;

	if (vc->n_allowed_hosts == 0)
		return 1;
	for (i = 0; i < vc->n_allowed_hosts; i++)
		if (fnmatch(vc->allowed_hosts[i], host, FNM_CASEFOLD) == 0)
			return 1;
	return 0;
}
