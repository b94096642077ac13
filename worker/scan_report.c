/*
 * scan_report.c: a scan's result as lines of text for krx-ctl (relayed
 * by the master; ctl/cmd_scan.c reads them). Fields are separated by
 * one space; the last field of error and range lines is free text.
 *
 *	krx-scan 1
 *	topic T
 *	vcluster NAME
 *	bootstrap HOST:PORT		the upstream bootstrap server used
 *	error TEXT			the scan ended early (optional)
 *	part P EARLIEST LATEST FIRST_GOOD RECORDS ENCRYPTED BAD TRUNC STATE
 *	perror P TEXT			STATE error or unscanned
 *	range P FROM TO REASON KEK	REASON not_found|invalid|malformed
 *	end
 *
 * STATE is ok, error or unscanned (the scan ended first). FIRST_GOOD is
 * EARLIEST with nothing bad, else one past the last bad record (LATEST
 * when the last record is bad); TRUNC 1: more ranges than listed.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "conf/conf.h"
#include "worker/scan_int.h"
#include "worker/session.h"

static const char *
report_reason(int r)
{
	switch (r) {
	case SCAN_R_NOT_FOUND:
		return "not_found";
	case SCAN_R_INVALID:
		return "invalid";
	default:
		return "malformed";
	}
}

static void
report_line(struct krx_buf *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
report_line(struct krx_buf *out, const char *fmt, ...)
{
	va_list	 ap;
	size_t	 n, i;

	va_start(ap, fmt);
	n = krx_buf_vprintf(out, 512, fmt, ap);
	va_end(ap);
	/* Free text stays on its line. */
	for (i = out->len - n; i < out->len; i++)
		if (out->data[i] == '\n' || out->data[i] == '\r')
			out->data[i] = ' ';
	krx_buf_put_u8(out, '\n');
}

static void
report_part(const struct krx_scan *sc, const struct scan_part *p,
    struct krx_buf *out)
{
	const char	*state = p->error[0] ? "error" : p->done ? "ok" :
			    "unscanned";
	int64_t		 first = p->last_bad < 0 ? p->earliest :
			    p->last_bad + 1;
	size_t		 i;

	report_line(out, "part %d %lld %lld %lld %llu %llu %llu %d %s",
	    (int)p->index, (long long)p->earliest, (long long)p->latest,
	    (long long)first, (unsigned long long)p->records,
	    (unsigned long long)p->encrypted, (unsigned long long)p->bad,
	    p->truncated, state);
	if (p->error[0])
		report_line(out, "perror %d %s", (int)p->index, p->error);
	else if (!p->done)
		report_line(out, "perror %d not scanned: %s", (int)p->index,
		    sc->error[0] ? sc->error : "the scan ended");
	for (i = 0; i < p->nranges && out->len < SCAN_REPORT_MAX; i++)
		report_line(out, "range %d %lld %lld %s %s", (int)p->index,
		    (long long)p->ranges[i].from, (long long)p->ranges[i].to,
		    report_reason(p->ranges[i].reason), p->ranges[i].kek);
}

int
scan_report(const struct krx_scan *sc, struct krx_buf *out)
{
	const struct krx_conf_vcluster	*vc = &sc->w->conf->vclusters[sc->vc];
	const struct krx_hostport	*hp = &vc->upstream[sc->boot];
	size_t				 i;

	report_line(out, "krx-scan 1");
	report_line(out, "topic %s", sc->topic);
	report_line(out, "vcluster %s", vc->name);
	report_line(out, "bootstrap %s:%d", hp->host, hp->port);
	if (sc->error[0])
		report_line(out, "error %s", sc->error);
	for (i = 0; i < sc->nparts; i++)
		report_part(sc, &sc->parts[i], out);
	report_line(out, "end");
	return out->err;
}
