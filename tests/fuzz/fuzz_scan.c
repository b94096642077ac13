/*
 * fuzz_scan.c: libFuzzer harness for the Metadata v4 and ListOffsets
 * v2 response parsers and the request writers of krx-ctl scan
 * (proto/kafka_scan.c): bytes a broker sends to a scanning worker.
 *
 * The first input byte picks a target (its low two bits):
 *   0  Metadata v4 response   [0] n, topic (n bytes, n <= 32), body
 *   1  ListOffsets v2         [1] partition (4 bytes), body
 *   2  requests               [2] partition (4), offset (8), topic
 *   3  as 0 with topic "orders"
 * Besides "no crash, no leak": a Metadata response that parses also
 * walks cleanly with krx's Metadata topic walker (kafka_metadata.c),
 * its brokers are valid endpoints, NUL-terminated, within the caps; on
 * an error nothing is kept. A Fetch request written parses with krx's
 * own Fetch request walker (two limits) and states its length.
 *
 * Seeds (tests/fuzz/corpus/scan): the responses of
 * tests/unit/kafka_scan_test.c.
 */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "proto/kafka.h"
#include "proto/kafka_msg.h"
#include "proto/kafka_scan.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fz_check(int ok)
{
	if (!ok)
		abort();
}

static void
fz_metadata(const uint8_t *p, size_t len, const char *topic)
{
	struct krx_scan_md	 md;
	size_t			 i;
	int			 r;

	r = krx_scan_metadata_parse(p, len, topic, &md);
	if (r != KRX_OK) {
		fz_check(md.brokers == NULL && md.parts == NULL &&
		    md.nbrokers == 0 && md.nparts == 0);
		return;
	}
	fz_check(krx_kafka_metadata_topics(p, len, 4, NULL, NULL) == KRX_OK);
	fz_check(md.nbrokers <= KRX_SCAN_MAX_BROKERS);
	fz_check(md.nparts <= KRX_SCAN_MAX_PARTITIONS);
	for (i = 0; i < md.nbrokers; i++) {
		fz_check(memchr(md.brokers[i].host, 0,
		    sizeof(md.brokers[i].host)) != NULL);
		fz_check(krx_kafka_endpoint_valid(md.brokers[i].host,
		    strlen(md.brokers[i].host), md.brokers[i].port));
	}
	fz_check(md.topic_error != 0 || md.nparts == 0 || md.parts != NULL);
	krx_scan_md_free(&md);
}

static int
fz_limit(void *arg, size_t off, bool whole)
{
	(*(int *)arg)++;
	return KRX_OK;
}

static void
fz_requests(const uint8_t *p, size_t len)
{
	struct krx_buf	 b;
	char		 topic[300];
	int32_t		 part;
	int64_t		 off;
	size_t		 n, hlen;
	int		 limits = 0;

	if (len < 12)
		return;
	memcpy(&part, p, 4);
	memcpy(&off, p + 4, 8);
	n = len - 12 < sizeof(topic) - 1 ? len - 12 : sizeof(topic) - 1;
	memcpy(topic, p + 12, n);
	topic[n] = '\0';
	krx_buf_init(&b, 0);
	if (krx_scan_fetch_req(&b, 1, topic, part, off, 1 << 20) == KRX_OK) {
		hlen = 4 + 2 + 2 + 4 + 2 + 8;
		fz_check(b.len > hlen);
		fz_check(krx_kafka_fetch_req_limits(b.data + hlen,
		    b.len - hlen, 11, fz_limit, &limits) == KRX_OK);
		fz_check(limits == 2);
	}
	krx_buf_reset(&b);
	(void)krx_scan_listoffsets_req(&b, 1, topic, part, off);
	krx_buf_reset(&b);
	(void)krx_scan_metadata_req(&b, 1, topic);
	krx_buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	 topic[33];
	int64_t	 off;
	int32_t	 part;
	int16_t	 err;
	size_t	 n;

	if (size < 1)
		return 0;
	switch (data[0] & 3) {
	case 0:
		if (size < 2 || (n = data[1]) > 32 || size < 2 + n)
			return 0;
		memcpy(topic, data + 2, n);
		topic[n] = '\0';
		fz_metadata(data + 2 + n, size - 2 - n, topic);
		break;
	case 1:
		if (size < 5)
			return 0;
		memcpy(&part, data + 1, 4);
		(void)krx_scan_listoffsets_parse(data + 5, size - 5, part, &err,
		    &off);
		break;
	case 2:
		fz_requests(data + 1, size - 1);
		break;
	default:
		fz_metadata(data + 1, size - 1, "orders");
		break;
	}
	return 0;
}
