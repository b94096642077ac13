/*
 * proctitle.c: process titles (see proctitle.h), after nginx's
 * ngx_setproctitle.c: the strings of argv and then of environ usually
 * sit back to back; that span is the room for a title, once both have
 * been copied elsewhere.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/proctitle.h"
#include "common/xmalloc.h"

static char	*pt_start;	/* the original argv[0] */
static char	*pt_end;	/* past the last contiguous string */

/* The end of the strings of v (n of them, or up to NULL) that follow
 * one another from end on. */
static char *
proctitle_span(char *end, char **v, int n)
{
	int	 i;

	for (i = 0; (n < 0 ? v[i] != NULL : i < n); i++)
		if (v[i] == end)
			end = v[i] + strlen(v[i]) + 1;
	return end;
}

void
krx_proctitle_init(int argc, char *argv[])
{
	char	**env;
	size_t	  n, i;

	if (argc < 1 || argv[0] == NULL)
		return;
	pt_start = argv[0];
	pt_end = proctitle_span(argv[0], argv, argc);
	pt_end = proctitle_span(pt_end, environ, -1);
	for (n = 0; environ[n] != NULL; n++)
		;
	env = xcalloc(n + 1, sizeof(*env));	/* owner: the process */
	for (i = 0; i < n; i++)
		env[i] = xstrdup(environ[i]);
	environ = env;
	for (i = 0; i < (size_t)argc; i++)
		argv[i] = xstrdup(argv[i]);
}

void
krx_proctitle_set(const char *fmt, ...)
{
	va_list	 ap;
	size_t	 room;
	int	 n;

	if (pt_start == NULL)
		return;
	room = (size_t)(pt_end - pt_start);
	/* All NUL past the title: ps shows no stale argument. */
	memset(pt_start, 0, room);
	n = snprintf(pt_start, room, "krxd: ");
	if (n < 0 || (size_t)n >= room)
		return;
	va_start(ap, fmt);
	vsnprintf(pt_start + n, room - (size_t)n, fmt, ap);
	va_end(ap);
}
