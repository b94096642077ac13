/*
 * fetch_request.c: a Fetch request on a virtual cluster with record
 * encryption gets its size limits (max_bytes, partition_max_bytes)
 * raised by the session's fetch_ratio, the encrypted/clear byte ratio
 * seen on its responses, so that the client gets about as many records
 * per fetch as from a clear topic (capped: 3/4 of max_frame_bytes). The
 * request is edited in place; one that does not parse goes on unchanged
 * (the broker judges it). Program grade; runs in workers, trusts nothing
 * of the request.
 */
#include <endian.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "common/xmalloc.h"
#include "conf/conf.h"
#include "proto/kafka_msg.h"
#include "worker/session.h"

struct fr_offs {
	size_t	*off;
	size_t	 n;
};

static int
fr_collect(void *arg, size_t off, bool whole)
{
	struct fr_offs	*o = arg;

	(void)whole;
	o->off = xreallocarray(o->off, o->n + 1, sizeof(*o->off));
	o->off[o->n++] = off;
	return KRX_OK;
}

void
krx_filter_fetch_request(struct krx_session *s, struct evbuffer *in,
    uint32_t size, const struct krx_kafka_req_hdr *h)
{
	struct fr_offs	 o = { NULL, 0 };
	uint8_t		*body;
	uint64_t	 v, nv, cap = s->w->conf->max_frame_bytes / 4 * 3;
	uint32_t	 be;
	size_t		 i;

	body = evbuffer_pullup(in, 4 + (size_t)size) + 4 + h->len;
	if (krx_kafka_fetch_req_limits(body, size - h->len, h->api_version,
	    fr_collect, &o) == KRX_OK) {
		for (i = 0; i < o.n; i++) {
			memcpy(&be, body + o.off[i], 4);
			v = be32toh(be);
			if (v == 0 || v > INT32_MAX)
				continue;	/* zero or negative: as is */
			nv = v * s->fetch_ratio / KRX_RATIO_ONE;
			if (nv > (v > cap ? v : cap))
				nv = v > cap ? v : cap;
			be = htobe32((uint32_t)nv);
			memcpy(body + o.off[i], &be, 4);
		}
	}
	/* One that does not parse goes on unchanged: the broker judges. */
	free(o.off);
}
