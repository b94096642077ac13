/*
 * json.c: krx-ctl's output helpers: JSON (-j: one document on stdout,
 * strings escaped as RFC 8259 asks; the callers write the structure)
 * and failures, printed as text or as {"error": ...}.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ctl/ctl.h"

int	ctl_json;

void
ctl_json_str(FILE *f, const char *s, size_t n)
{
	fputc('"', f);
	ctl_json_chars(f, s, n);
	fputc('"', f);
}

void
ctl_json_chars(FILE *f, const char *s, size_t n)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i;

	for (i = 0; i < n; i++) {
		if (p[i] == '"' || p[i] == '\\')
			fprintf(f, "\\%c", p[i]);
		else if (p[i] == '\n')
			fputs("\\n", f);
		else if (p[i] == '\t')
			fputs("\\t", f);
		else if (p[i] < 0x20 || p[i] == 0x7f)
			fprintf(f, "\\u%04x", p[i]);
		else
			fputc(p[i], f);
	}
}

void
ctl_json_cstr(FILE *f, const char *s)
{
	ctl_json_str(f, s, strlen(s));
}

void
ctl_json_error(const char *msg)
{
	printf("{\"error\":");
	ctl_json_cstr(stdout, msg);
	printf("}\n");
}

int
ctl_fail(int code, const char *fmt, ...)
{
	char	 msg[1024];
	va_list	 ap;
	size_t	 n;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	if (ctl_json)
		ctl_json_error(msg);
	else
		fprintf(stderr, "krx-ctl: %s\n", msg);
	return code;
}

/* One "name value" line: "name": value (value a number, else string). */
static void
json_counter_line(const char *s, size_t n, int first)
{
	const char	*sp = memchr(s, ' ', n);
	size_t		 i, klen = sp != NULL ? (size_t)(sp - s) : n;
	int		 num = sp != NULL && (size_t)(sp - s) + 1 < n;

	for (i = klen + 1; num && i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			num = 0;
	printf("%s\n  ", first ? "" : ",");
	ctl_json_str(stdout, s, klen);
	printf(": ");
	if (num)
		printf("%.*s", (int)(n - klen - 1), s + klen + 1);
	else if (sp != NULL)
		ctl_json_str(stdout, sp + 1, n - klen - 1);
	else
		printf("null");
}

void
ctl_json_counters(const char *text, size_t len)
{
	const char	*p = text, *end = text + len, *nl;
	int		 first = 1;

	printf("{");
	while (p < end) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		if (nl > p) {
			json_counter_line(p, (size_t)(nl - p), first);
			first = 0;
		}
		p = nl + 1;
	}
	printf("\n}\n");
}
