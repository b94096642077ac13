/*
 * fuzz_kafka.c: libFuzzer harness for the Kafka codec (proto/kafka_*.c).
 *
 * The first input byte picks a target, the next ones its parameters:
 *   0  request header parser             [0] frame
 *   1  ApiVersions clamp                 [1] version body
 *   2  endpoint rewriter                 [2] api_key version body
 *   3  response header and Produce acks  [3] api_key version frame
 * Besides "no crash, no leak", it checks properties: a rewritten body
 * rewrites again (it is well formed) and a clamped ApiVersions body
 * clamps to itself. Seeds: tests/fuzz/corpus/kafka (tests/fuzz/README).
 */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "proto/kafka.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int
fz_endpoint(void *arg, const struct krx_kafka_endpoint *up,
    struct krx_kafka_endpoint *adv)
{
	static const char	 host[] = "krx-node.proxy.example.internal";

	(void)arg;
	if (up->node_id == 0x7ffffff0)
		return KRX_E_NOTFOUND;
	/*
	 * A host whose length depends on the node: lengths must change. The
	 * rewritten endpoint stays valid (a host of 1 or more characters, a
	 * port in 1..65535), so that rewriting the output again succeeds.
	 */
	adv->host = host;
	adv->host_len = 1 + (size_t)(up->node_id & 0x1f) % (sizeof(host) - 1);
	adv->port = up->port == 1 ? 2 : up->port ^ 1;
	return 0;
}

static void
fz_req_hdr(const uint8_t *p, size_t len)
{
	struct krx_kafka_req_hdr	 h;

	if (krx_kafka_req_hdr_parse(p, len, &h) == KRX_OK &&
	    (h.len > len || (h.client_id != NULL &&
	    h.client_id + h.client_id_len > p + len)))
		abort();
}

static void
fz_apiversions(int16_t v, const uint8_t *p, size_t len)
{
	struct krx_buf	 a, b;

	krx_buf_init(&a, 0);
	krx_buf_init(&b, 0);
	if (krx_kafka_apiversions_clamp(p, len, v, &a) == 1) {
		if (krx_kafka_apiversions_clamp(a.data, a.len, v, &b) != 1 ||
		    a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
			abort();
	} else if (a.len != 0)
		abort();
	krx_buf_free(&a);
	krx_buf_free(&b);
}

static void
fz_endpoints(int16_t key, int16_t v, const uint8_t *p, size_t len)
{
	struct krx_buf	 a, b;
	int		 r;

	krx_buf_init(&a, 0);
	krx_buf_init(&b, 0);
	(void)krx_kafka_has_endpoints(key, v);
	r = krx_kafka_rewrite_endpoints(key, v, p, len, fz_endpoint, NULL,
	    &a);
	if (r != 1 && a.len != 0)
		abort();
	if (r == 1 && krx_kafka_rewrite_endpoints(key, v, a.data, a.len,
	    fz_endpoint, NULL, &b) != 1)
		abort();
	krx_buf_free(&a);
	krx_buf_free(&b);
}

static void
fz_resp(int16_t key, int16_t v, const uint8_t *p, size_t len)
{
	size_t	 hlen;
	int16_t	 acks;

	if (krx_kafka_resp_hdr_len(p, len, key, v, &hlen) == KRX_OK &&
	    hlen > len)
		abort();
	(void)krx_kafka_produce_acks(p, len, v, &acks);
	(void)krx_kafka_api_name(key);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	switch (data[0] & 3) {
	case 0:
		fz_req_hdr(data + 1, size - 1);
		break;
	case 1:
		fz_apiversions(data[1] % 6, data + 2, size - 2);
		break;
	case 2:
		fz_endpoints(data[1], data[2] % 20, data + 3, size - 3);
		break;
	default:
		fz_resp(data[1], data[2] % 20, data + 3, size - 3);
		break;
	}
	return 0;
}
