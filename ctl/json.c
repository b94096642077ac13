/*
 * json.c: krx-ctl's JSON output (-j): one document on stdout, strings
 * escaped as RFC 8259 asks. The callers write the structure.
 */
#include <stdio.h>

#include "ctl/ctl.h"

int	ctl_json;

void
ctl_json_str(FILE *f, const char *s, size_t n)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i;

	fputc('"', f);
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
	fputc('"', f);
}

void
ctl_json_error(const char *msg)
{
	size_t	 n = 0;

	while (msg[n] != '\0')
		n++;
	printf("{\"error\":");
	ctl_json_str(stdout, msg, n);
	printf("}\n");
}
