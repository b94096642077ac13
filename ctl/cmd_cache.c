/*
 * cmd_cache.c: krx-ctl cache stats (keysvc's counters and the workers',
 * read-only) and cache flush (keysvc empties its DEK cache, every
 * worker drops its DEKs and alias resolutions: later fetches of old
 * records ask the KMS again).
 */
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "ctl/ctl.h"
#include "proto/ipc.h"

static int
cache_stats(int fd)
{
	struct krx_buf	 t;
	int		 r;

	krx_buf_init(&t, 0);
	r = ctl_keys_call(fd, KRX_KEYS_STATS, "", &t);
	if (r != 0 && t.len > 0)
		ctl_fail(r, "%.*s", (int)t.len, (const char *)t.data);
	else if (r == 0 && ctl_json)
		ctl_json_counters((const char *)t.data, t.len);
	else if (r == 0)
		printf("%.*s", (int)t.len, (const char *)t.data);
	krx_buf_free(&t);
	return r;
}

/* u32 workers | u64 dropped | u8 keysvc | str keysvc's text. */
static int
cache_flush_print(struct krx_cur *c)
{
	const uint8_t	*text;
	uint64_t	 dropped, entries = 0;
	uint32_t	 workers, len;
	uint8_t		 ks;

	if (krx_cur_get_be32(c, &workers) || krx_cur_get_be64(c, &dropped) ||
	    krx_cur_get_u8(c, &ks) || krx_cur_get_be32(c, &len) ||
	    krx_cur_get_ref(c, len, &text) || krx_cur_end(c) != KRX_OK)
		return -1;
	if (ks)
		sscanf((const char *)text, "keysvc.cache_entries_dropped %llu",
		    (unsigned long long *)&entries);
	if (ctl_json)
		printf("{\"workers\": %u, \"worker_deks_dropped\": %llu, "
		    "\"keysvc\": %s, \"keysvc_cache_entries_dropped\": %llu}\n",
		    workers, (unsigned long long)dropped, ks ? "true" : "false",
		    (unsigned long long)entries);
	else
		printf("flushed: %u workers dropped %llu DEKs; %s\n", workers,
		    (unsigned long long)dropped, ks ? "" : "no key service");
	if (!ctl_json && ks)
		printf("%.*s", (int)len, (const char *)text);
	return 0;
}

static int
cache_flush(int fd)
{
	struct krx_ipc_hdr	 h;
	struct krx_buf		 p;
	struct krx_cur		 c;
	int			 r = CTL_EXIT_FAILED;

	krx_buf_init(&p, 0);
	/* The keysvc text is NUL-ended for sscanf (reserved past len). */
	if (ctl_call_text(fd, KRX_IPC_CTL_CACHE_FLUSH, NULL, 0, &h, &p) ==
	    0 && krx_buf_put_u8(&p, 0) == KRX_OK) {
		krx_cur_init(&c, p.data, p.len - 1);
		if (h.type != KRX_IPC_CTL_OK || cache_flush_print(&c) != 0)
			ctl_fail(r, "malformed cache flush reply");
		else
			r = 0;
	}
	krx_buf_free(&p);
	return r;
}

int
cmd_cache(int fd, int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "stats") == 0)
		return cache_stats(fd);
	if (argc == 2 && strcmp(argv[1], "flush") == 0)
		return cache_flush(fd);
	ctl_usage();
}
