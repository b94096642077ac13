/*
 * conf_util.c: checked readers of settings shared by the files of conf/
 * (see conf_int.h): groups, bounded strings, absolute paths, password
 * files. Every problem is reported with file and line.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

#include "conf/conf.h"
#include "conf/conf_int.h"

static const char *const password_keys[] = {
	"passwordFile", "password", NULL
};

/* Printable ASCII without the space. */
int
krx_conf_graph(int ch)
{
	return ch > ' ' && ch < 0x7f;
}

static int
conf_all_graph(const char *s)
{
	for (; *s != '\0'; s++)
		if (!krx_conf_graph((unsigned char)*s))
			return 0;
	return 1;
}

char *
krx_conf_dup(struct conf_ctx *c, int line, const char *s)
{
	char	*r;

	if ((r = strdup(s)) == NULL)
		krx_conf_error(c->errs, c->file, line, "out of memory");
	return r;
}

/* A member group of g, or NULL (with an error when it is not a group). */
const config_setting_t *
krx_conf_group(struct conf_ctx *c, const config_setting_t *g,
    const char *where, const char *name)
{
	const config_setting_t	*s = config_setting_get_member(g, name);

	if (s != NULL && !config_setting_is_group(s)) {
		krx_conf_error(c->errs, c->file, config_setting_source_line(s),
		    "%s.%s must be a group { ... }", where, name);
		return NULL;
	}
	return s;
}

/* The line of member name of g, or of g when there is none. */
int
krx_conf_line(const config_setting_t *g, const char *name)
{
	const config_setting_t	*s = config_setting_get_member(g, name);

	return config_setting_source_line(s != NULL ? s : g);
}

void
krx_conf_missing(struct conf_ctx *c, const config_setting_t *g,
    const char *where, const char *name)
{
	krx_conf_error(c->errs, c->file, config_setting_source_line(g),
	    "%s: missing setting \"%s\"", where, name);
}

/*
 * A string member, copied: 1..max characters, all from set (printable
 * ASCII without spaces when set is NULL); what names the set in the
 * error. NULL when absent (an error if required) or bad.
 */
char *
krx_conf_str(struct conf_ctx *c, const config_setting_t *g, const char *where,
    const char *name, int required, size_t max, const char *set,
    const char *what)
{
	const config_setting_t	*s = config_setting_get_member(g, name);
	const char		*v;
	int			 line;

	if (s == NULL) {
		if (required)
			krx_conf_missing(c, g, where, name);
		return NULL;
	}
	line = config_setting_source_line(s);
	if ((v = config_setting_get_string(s)) == NULL) {
		krx_conf_error(c->errs, c->file, line, "%s.%s must be a "
		    "string", where, name);
		return NULL;
	}
	if (*v == '\0' || strlen(v) > max) {
		krx_conf_error(c->errs, c->file, line, "%s.%s must have 1 to "
		    "%zu characters", where, name, max);
		return NULL;
	}
	if (set != NULL ? v[strspn(v, set)] != '\0' : !conf_all_graph(v)) {
		krx_conf_error(c->errs, c->file, line, "%s.%s must be %s",
		    where, name, what != NULL ? what :
		    "printable ASCII without spaces");
		return NULL;
	}
	return krx_conf_dup(c, line, v);
}

/* An absolute path without control characters. */
char *
krx_conf_path(struct conf_ctx *c, const config_setting_t *g,
    const char *where, const char *name, int required)
{
	const config_setting_t	*s = config_setting_get_member(g, name);
	const char		*v, *p;
	int			 line;

	if (s == NULL) {
		if (required)
			krx_conf_missing(c, g, where, name);
		return NULL;
	}
	line = config_setting_source_line(s);
	if ((v = config_setting_get_string(s)) == NULL || v[0] != '/' ||
	    strlen(v) >= PATH_MAX) {
		krx_conf_error(c->errs, c->file, line, "%s.%s must be an "
		    "absolute path", where, name);
		return NULL;
	}
	for (p = v; *p != '\0'; p++)
		if ((unsigned char)*p < ' ' || *p == 0x7f) {
			krx_conf_error(c->errs, c->file, line, "%s.%s must "
			    "not hold control characters", where, name);
			return NULL;
		}
	return krx_conf_dup(c, line, v);
}

/*
 * A password provider, { passwordFile = "/path"; }: returns the path.
 * An inline password = "..." is refused.
 */
char *
krx_conf_password(struct conf_ctx *c, const config_setting_t *g,
    const char *where, const char *name, int required)
{
	const config_setting_t	*s = config_setting_get_member(g, name);
	const config_setting_t	*inl;
	char			 w[128];

	if (s == NULL) {
		if (required)
			krx_conf_missing(c, g, where, name);
		return NULL;
	}
	if (!config_setting_is_group(s)) {
		krx_conf_error(c->errs, c->file, config_setting_source_line(s),
		    "%s.%s must be { passwordFile = \"/path\"; } (secrets "
		    "are never inline)", where, name);
		return NULL;
	}
	snprintf(w, sizeof(w), "%s.%s", where, name);
	krx_conf_check_keys(c, s, password_keys, w);
	if ((inl = config_setting_get_member(s, "password")) != NULL) {
		krx_conf_error(c->errs, c->file,
		    config_setting_source_line(inl), "%s: inline password "
		    "refused: put the secret in a file only krxd can read and "
		    "write passwordFile = \"/path\";", w);
		return NULL;
	}
	return krx_conf_path(c, s, w, "passwordFile", 1);
}
