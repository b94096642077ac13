/*
 * cmd_scan.c: krx-ctl scan, the lost-KEK recovery aid (guide §5.1.3).
 *
 *   krx-ctl [-C CLUSTER] scan --topic T [--partition P] [--group G]
 *       [--timeout SECONDS] [--out DIR] [-j]
 *
 * One worker of krxd reads the topic from the brokers and tests every
 * encrypted record's EDEK (worker/scan.c); the report arrives in pieces
 * (CTL_SCAN_DATA) and ends with CTL_OK. This file sends the request,
 * reads the pieces (bounded, with a deadline of its own) and parses the
 * report; cmd_scan_out.c prints it.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "ctl/ctl.h"
#include "ctl/scan.h"
#include "proto/ipc.h"

#define SCAN_DEFAULT_TIMEOUT	600
#define SCAN_REPLY_MAX		(16 * 1024 * 1024)

static void
scan_usage(FILE *f)
{
	fprintf(f, "usage: krx-ctl [-C cluster] scan --topic T [--partition P] "
	    "[--group G]\n"
	    "           [--timeout SECONDS] [--out DIR] [-j]\n"
	    "Find, per partition, the first offset from which every record "
	    "decrypts\n(first_good), the undecryptable ranges before it and "
	    "their KEKs, and print\nthe kafka-delete-records.sh and "
	    "kafka-consumer-groups.sh commands that\ndrop them. A KMS that "
	    "cannot be reached is reported as an error, never\nas "
	    "undecryptable records.\n");
}

static int
scan_read_all(int fd, uint8_t *p, size_t len, int ms)
{
	struct pollfd	 pfd = { fd, POLLIN, 0 };
	ssize_t		 n;
	int		 r;

	while (len > 0) {
		if ((r = poll(&pfd, 1, ms)) == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		if ((n = read(fd, p, len)) == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One message: 0, or -1 (printed). */
static int
scan_read_msg(int fd, int ms, struct krx_ipc_hdr *h, struct krx_buf *p)
{
	uint8_t	 raw[KRX_IPC_HDR_LEN];
	int	 r;

	if (scan_read_all(fd, raw, sizeof(raw), ms) != 0) {
		fprintf(stderr, "krx-ctl: krxd closed the connection or did "
		    "not answer in time\n");
		return -1;
	}
	if ((r = krx_ipc_hdr_parse(raw, sizeof(raw), KRX_IPC_MAX_CTL, h)) !=
	    KRX_OK) {
		fprintf(stderr, "krx-ctl: %s\n", krx_strerror(r));
		return -1;
	}
	p->len = 0;
	if (krx_buf_reserve(p, h->len - sizeof(raw)) != KRX_OK ||
	    scan_read_all(fd, p->data, h->len - sizeof(raw), ms) != 0) {
		fprintf(stderr, "krx-ctl: krxd closed the connection\n");
		return -1;
	}
	p->len = h->len - sizeof(raw);
	return 0;
}

/* Send the request and gather the report into text: 0, 1 error, -1. */
static int
scan_call(int fd, const char *topic, int32_t part, unsigned timeout,
    struct krx_buf *text)
{
	struct krx_ipc_hdr	 h;
	struct krx_buf		 req, msg, p;
	int			 r = -1, ms = (int)(timeout + 60) * 1000;

	krx_buf_init(&req, 64);
	krx_buf_init(&msg, 64);
	krx_buf_init(&p, 0);
	krx_buf_put_be32(&req, (uint32_t)strlen(ctl_cluster));
	krx_buf_put(&req, ctl_cluster, strlen(ctl_cluster));
	krx_buf_put_be32(&req, (uint32_t)strlen(topic));
	krx_buf_put(&req, topic, strlen(topic));
	krx_buf_put_be32(&req, (uint32_t)part);
	krx_buf_put_be32(&req, timeout);
	if (req.err != KRX_OK || krx_ipc_compose(&msg, KRX_IPC_CTL_SCAN, 1, 0,
	    req.data, req.len) != KRX_OK || write(fd, msg.data, msg.len) !=
	    (ssize_t)msg.len) {
		fprintf(stderr, "krx-ctl: cannot send the request\n");
		goto out;
	}
	while (scan_read_msg(fd, ms, &h, &p) == 0) {
		if (h.type == KRX_IPC_CTL_SCAN_DATA &&
		    text->len + p.len <= SCAN_REPLY_MAX) {
			krx_buf_put(text, p.data, p.len);
			continue;
		}
		if (h.type != KRX_IPC_CTL_OK) {
			fprintf(stderr, "krx-ctl: malformed reply\n");
			break;
		}
		r = (h.flags & KRX_IPC_F_ERROR) ? 1 : 0;
		if (r == 1) {
			krx_buf_reset(text);
			krx_buf_put(text, p.data, p.len);
		}
		break;
	}
out:
	krx_buf_put_u8(text, 0);
	krx_buf_free(&req);
	krx_buf_free(&msg);
	krx_buf_free(&p);
	return text->err != KRX_OK ? -1 : r;
}

static int
scan_number(const char *s, long long min, long long max, long long *v)
{
	char	*end;

	errno = 0;
	*v = strtoll(s, &end, 10);
	return errno == 0 && *s != '\0' && *end == '\0' && *v >= min &&
	    *v <= max ? 0 : -1;
}

static const struct option scan_opts[] = {
	{ "topic", required_argument, NULL, 't' },
	{ "partition", required_argument, NULL, 'p' },
	{ "group", required_argument, NULL, 'g' },
	{ "timeout", required_argument, NULL, 'T' },
	{ "out", required_argument, NULL, 'o' },
	{ "json", no_argument, NULL, 'j' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 }
};

/* Options into sc; 0, or 2 (usage printed). */
static int
scan_args(int argc, char **argv, struct ctl_scan *sc, const char **topic,
    int32_t *part, unsigned *timeout)
{
	long long	 v;
	int		 ch;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "+t:p:g:T:o:jh", scan_opts,
	    NULL)) != -1) {
		switch (ch) {
		case 't':
			*topic = optarg;
			break;
		case 'p':
			if (scan_number(optarg, 0, INT32_MAX, &v) != 0)
				goto bad;
			*part = (int32_t)v;
			break;
		case 'g':
			sc->group = optarg;
			break;
		case 'T':
			if (scan_number(optarg, 1, 86400, &v) != 0)
				goto bad;
			*timeout = (unsigned)v;
			break;
		case 'o':
			sc->out_dir = optarg;
			break;
		case 'j':
			ctl_json = 1;
			break;
		case 'h':
			scan_usage(stdout);
			exit(0);
		default:
			goto bad;
		}
	}
	if (optind == argc && *topic != NULL && **topic != '\0' &&
	    strlen(*topic) <= 249)
		return 0;
bad:
	scan_usage(stderr);
	return 2;
}

int
cmd_scan(int fd, int argc, char **argv)
{
	struct ctl_scan	 sc;
	struct krx_buf	 text;
	const char	*topic = NULL;
	int32_t		 part = -1;
	unsigned	 timeout = SCAN_DEFAULT_TIMEOUT;
	int		 r;

	memset(&sc, 0, sizeof(sc));
	if (scan_args(argc, argv, &sc, &topic, &part, &timeout) != 0)
		return 2;
	krx_buf_init(&text, 4096);
	if ((r = scan_call(fd, topic, part, timeout, &text)) != 0) {
		if (r == 1 && ctl_json)
			ctl_json_error((const char *)text.data);
		else if (r == 1)
			fprintf(stderr, "krx-ctl: krxd: %s\n",
			    (const char *)text.data);
		krx_buf_free(&text);
		return 1;
	}
	if (ctl_scan_parse((char *)text.data, &sc) != 0) {
		fprintf(stderr, "krx-ctl: malformed scan report\n");
		r = 1;
	} else
		r = ctl_scan_print(&sc);
	ctl_scan_free(&sc);
	krx_buf_free(&text);
	return r;
}
