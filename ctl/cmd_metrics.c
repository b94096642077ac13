/*
 * cmd_metrics.c: krx-ctl metrics: the Prometheus text (format 0.0.4)
 * the master renders from the shared counters, the same text the
 * workers serve at /metrics. With -j, one JSON document:
 * {"samples":[{"name":..,"labels":{..},"value":..},..]}, a value that is
 * not a finite number ("+Inf", "NaN") as a string.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "ctl/ctl.h"
#include "proto/ipc.h"

/* One label value, escaped as the text format does; past its quote. */
static const char *
metrics_json_label(const char *p, const char *end)
{
	char	 c;

	fputc('"', stdout);
	while (p < end && *p != '"') {
		c = *p++;
		if (c == '\\' && p < end) {
			c = *p++;
			c = c == 'n' ? '\n' : c;
		}
		ctl_json_chars(stdout, &c, 1);
	}
	fputc('"', stdout);
	return p < end ? p + 1 : end;
}

/* name{a="x",b="y"} value: 0, or -1 for a line not of that shape. */
static int
metrics_json_sample(const char *p, const char *end, int first)
{
	const char	*n = p, *eq;
	char		 num[64], *e;
	double		 v;
	size_t		 len;

	while (p < end && *p != '{' && *p != ' ')
		p++;
	if (p == n || p == end)
		return -1;
	printf("%s{\"name\":", first ? "" : ",");
	ctl_json_str(stdout, n, (size_t)(p - n));
	printf(",\"labels\":{");
	if (*p == '{') {
		for (p++; p < end && *p != '}';) {
			if ((eq = memchr(p, '=', (size_t)(end - p))) == NULL ||
			    eq + 1 >= end || eq[1] != '"')
				return -1;
			ctl_json_str(stdout, p, (size_t)(eq - p));
			fputc(':', stdout);
			p = metrics_json_label(eq + 2, end);
			if (p < end && *p == ',' && p + 1 < end && p[1] != '}')
				fputc(',', stdout);
			if (p < end && *p == ',')
				p++;
		}
		p = p < end ? p + 1 : end;
	}
	while (p < end && *p == ' ')
		p++;
	len = (size_t)(end - p) < sizeof(num) - 1 ? (size_t)(end - p) :
	    sizeof(num) - 1;
	memcpy(num, p, len);
	num[len] = '\0';
	v = strtod(num, &e);
	printf("},\"value\":");
	if (e != num && *e == '\0' && isfinite(v))
		printf("%s}", num);
	else {
		ctl_json_str(stdout, num, len);
		fputc('}', stdout);
	}
	return 0;
}

static int
metrics_json(const char *text, size_t len)
{
	const char	*p = text, *end = text + len, *nl;
	int		 first = 1;

	printf("{\"samples\":[");
	for (; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		if (nl == p || *p == '#')
			continue;
		if (metrics_json_sample(p, nl, first) != 0)
			return ctl_fail(1, "malformed metrics line");
		first = 0;
	}
	printf("]}\n");
	return 0;
}

int
cmd_metrics(int fd, int argc, char **argv)
{
	struct krx_ipc_hdr	 h;
	struct krx_buf		 p;
	int			 r = 1;

	if (argc != 1)
		ctl_usage();
	krx_buf_init(&p, 0);
	if (ctl_call_text(fd, KRX_IPC_CTL_METRICS, NULL, 0, &h, &p) == 0 &&
	    h.type == KRX_IPC_CTL_OK) {
		if (ctl_json)
			r = metrics_json((const char *)p.data, p.len);
		else if (fwrite(p.data, 1, p.len, stdout) == p.len &&
		    fflush(stdout) == 0)
			r = 0;
	}
	krx_buf_free(&p);
	return r;
}
