/*
 * kafka_dconf_test.c: DescribeConfigs v1, the request krx sends to learn
 * a config of some topics and the walk over its response
 * (proto/kafka_dconf.c). The request is checked byte by byte against
 * the bytes written out below from the schema; the response is built
 * here field by field.
 *
 * Java verification (offline, kafka-clients 4.1.1, a throwaway program
 * not in the tree): the request of request_bytes is what
 * DescribeConfigsRequestData writes at v1 for the same resources, and
 * the response of dt_response decodes with DescribeConfigsResponseData
 * v1 with nothing left over.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "common/err.h"
#include "proto/kafka.h"
#include "proto/kafka_msg.h"
#include "proto/kafka_prim.h"

#define DT_KEY		"max.message.bytes"
#define DT_TOPIC_AUTHORIZATION_FAILED	29

Test(kafka_dconf, request_bytes)
{
	static const uint8_t	 want[] = {
		0, 0, 0, 2,			/* resources[] */
		2,				/* resource_type TOPIC */
		0, 5, 'a', 'l', 'p', 'h', 'a',	/* resource_name */
		0, 0, 0, 1,			/* configuration_keys[] */
		0, 17, 'm', 'a', 'x', '.', 'm', 'e', 's', 's', 'a', 'g',
		'e', '.', 'b', 'y', 't', 'e', 's',
		2,
		0, 3, 'b', '-', '2',		/* "b-2x": 3 bytes of it */
		0, 0, 0, 1,
		0, 17, 'm', 'a', 'x', '.', 'm', 'e', 's', 's', 'a', 'g',
		'e', '.', 'b', 'y', 't', 'e', 's',
		0,				/* include_synonyms */
	};
	const char		*names[] = { "alpha", "b-2x" };
	size_t			 lens[] = { 5, 3 };
	struct krx_buf		 out;

	krx_buf_init(&out, 0);
	krx_buf_put(&out, "xy", 2);
	cr_assert_eq(krx_kafka_dconf_request(names, lens, 2, DT_KEY, &out),
	    KRX_OK);
	cr_assert_eq(out.len, 2 + sizeof(want));
	cr_assert_eq(memcmp(out.data, "xy", 2), 0);
	cr_assert_eq(memcmp(out.data + 2, want, sizeof(want)), 0);
	cr_assert_eq(KRX_DCONF_VERSION, 1);
	cr_assert_eq(KRX_API_DESCRIBE_CONFIGS, 32);
	cr_assert_str_eq(krx_kafka_api_name(KRX_API_DESCRIBE_CONFIGS),
	    "DescribeConfigs");
	cr_assert_eq(krx_kafka_api_first_flexible(KRX_API_DESCRIBE_CONFIGS),
	    4);
	krx_buf_free(&out);
}

Test(kafka_dconf, request_refused)
{
	char		 n249[249], n250[250];
	const char	*names[] = { "alpha", n249 };
	size_t		 lens[] = { 5, sizeof(n249) };
	struct krx_buf	 out;

	memset(n249, 't', sizeof(n249));
	memset(n250, 't', sizeof(n250));
	krx_buf_init(&out, 0);
	krx_buf_put(&out, "xy", 2);
	cr_assert_eq(krx_kafka_dconf_request(names, lens, 0, DT_KEY, &out),
	    KRX_E_RANGE);
	cr_assert_eq(krx_kafka_dconf_request(NULL, lens, 1, DT_KEY, &out),
	    KRX_E_RANGE);
	cr_assert_eq(krx_kafka_dconf_request(names, NULL, 1, DT_KEY, &out),
	    KRX_E_RANGE);
	cr_assert_eq(krx_kafka_dconf_request(names, lens, 1, NULL, &out),
	    KRX_E_RANGE);
	cr_assert_eq(krx_kafka_dconf_request(names, lens, 1, "", &out),
	    KRX_E_RANGE);
	lens[0] = 0;
	cr_assert_eq(krx_kafka_dconf_request(names, lens, 2, DT_KEY, &out),
	    KRX_E_RANGE);
	lens[0] = 5;
	names[1] = n250;
	lens[1] = sizeof(n250);
	cr_assert_eq(krx_kafka_dconf_request(names, lens, 2, DT_KEY, &out),
	    KRX_E_RANGE);
	names[1] = NULL;
	lens[1] = 3;
	cr_assert_eq(krx_kafka_dconf_request(names, lens, 2, DT_KEY, &out),
	    KRX_E_RANGE);
	cr_assert_eq(out.len, 2);
	cr_assert_eq(out.err, KRX_OK);
	/* 249 bytes are fine. */
	names[1] = n249;
	lens[1] = sizeof(n249);
	cr_assert_eq(krx_kafka_dconf_request(names, lens, 2, DT_KEY, &out),
	    KRX_OK);
	cr_assert_eq(out.len, 2 + 4 + 2 * (1 + 2 + 4 + 2 + 17) + 5 + 249 + 1);
	krx_buf_free(&out);
}

/* Response writers. */

static void
dt_str(struct krx_buf *b, const char *s)
{
	krx_kp_put_str(b, false, s, s == NULL ? -1 : (int32_t)strlen(s));
}

/*
 * A config: name, value, read_only, config_source, is_sensitive, and
 * nsyn synonyms (name, value, source), the value of the first null.
 */
static void
dt_config(struct krx_buf *b, const char *name, const char *value,
    int nsyn)
{
	int	 i;

	dt_str(b, name);
	dt_str(b, value);
	krx_buf_put_u8(b, 0);
	krx_buf_put_u8(b, 5);		/* DEFAULT_CONFIG */
	krx_buf_put_u8(b, 0);
	krx_buf_put_be32(b, (uint32_t)nsyn);
	for (i = 0; i < nsyn; i++) {
		dt_str(b, i == 0 ? "message.max.bytes" : name);
		dt_str(b, i == 0 ? NULL : value);
		krx_buf_put_u8(b, (uint8_t)(4 + i));
	}
}

static void
dt_result(struct krx_buf *b, int16_t err, const char *msg, uint8_t type,
    const char *name, int nconfigs)
{
	krx_buf_put_be16(b, (uint16_t)err);
	dt_str(b, msg);
	krx_buf_put_u8(b, type);
	dt_str(b, name);
	krx_buf_put_be32(b, (uint32_t)nconfigs);
}

/*
 * Six results: alpha (the key among others, with synonyms), secret
 * (TOPIC_AUTHORIZATION_FAILED), a broker resource (type 4, not
 * reported), nullval (the key with a null value), nokey (other keys
 * only) and twice (the key twice: the first counts).
 */
static void
dt_response(struct krx_buf *b)
{
	krx_buf_put_be32(b, 7);		/* throttle_time_ms */
	krx_buf_put_be32(b, 6);
	dt_result(b, 0, NULL, 2, "alpha", 3);
	dt_config(b, "cleanup.policy", "delete", 0);
	dt_config(b, DT_KEY, "1048588", 2);
	dt_config(b, "max.message.bytes.x", "1", 1);
	dt_result(b, DT_TOPIC_AUTHORIZATION_FAILED,
	    "Authorization failed.", 2, "secret", 0);
	dt_result(b, 0, NULL, 4, "1", 1);
	dt_config(b, DT_KEY, "5", 0);
	dt_result(b, 0, NULL, 2, "nullval", 1);
	dt_config(b, DT_KEY, NULL, 1);
	dt_result(b, 0, "", 2, "nokey", 2);
	dt_config(b, "max.message", "1", 0);
	dt_config(b, "retention.ms", NULL, 0);
	dt_result(b, 0, NULL, 2, "twice", 2);
	dt_config(b, DT_KEY, "100", 0);
	dt_config(b, DT_KEY, "200", 0);
	cr_assert_eq(b->err, KRX_OK);
}

struct dt_seen {
	size_t		 n;
	const uint8_t	*end;
	struct {
		char	 name[32];
		int16_t	 err;
		char	 value[32];
		int32_t	 value_len;
		bool	 null;
	} r[8];
};

static void
dt_fn(void *arg, const uint8_t *name, size_t name_len, int16_t err,
    const uint8_t *value, int32_t value_len)
{
	struct dt_seen	*s = arg;

	cr_assert_lt(s->n, 8);
	cr_assert_lt(name_len, sizeof(s->r[0].name));
	cr_assert(name + name_len <= s->end);
	memcpy(s->r[s->n].name, name, name_len);
	s->r[s->n].name[name_len] = '\0';
	s->r[s->n].err = err;
	s->r[s->n].value_len = value_len;
	s->r[s->n].null = value == NULL;
	if (value != NULL) {
		cr_assert_geq(value_len, 0);
		cr_assert_lt(value_len, (int32_t)sizeof(s->r[0].value));
		cr_assert(value + value_len <= s->end);
		memcpy(s->r[s->n].value, value, (size_t)value_len);
		s->r[s->n].value[value_len] = '\0';
	} else
		cr_assert_eq(value_len, -1);
	s->n++;
}

static void
dt_expect(const struct dt_seen *s, size_t i, const char *name,
    int16_t err, const char *value)
{
	cr_assert_str_eq(s->r[i].name, name);
	cr_assert_eq(s->r[i].err, err, "%s", name);
	if (value == NULL) {
		cr_assert(s->r[i].null, "%s", name);
		cr_assert_eq(s->r[i].value_len, -1);
	} else {
		cr_assert_not(s->r[i].null, "%s", name);
		cr_assert_str_eq(s->r[i].value, value);
	}
}

Test(kafka_dconf, response)
{
	struct dt_seen	 s;
	struct krx_buf	 b;

	krx_buf_init(&b, 0);
	dt_response(&b);
	memset(&s, 0, sizeof(s));
	s.end = b.data + b.len;
	cr_assert_eq(krx_kafka_dconf_parse(b.data, b.len, DT_KEY, dt_fn, &s),
	    KRX_OK);
	cr_assert_eq(s.n, 5);
	dt_expect(&s, 0, "alpha", 0, "1048588");
	dt_expect(&s, 1, "secret", DT_TOPIC_AUTHORIZATION_FAILED, NULL);
	dt_expect(&s, 2, "nullval", 0, NULL);
	dt_expect(&s, 3, "nokey", 0, NULL);
	dt_expect(&s, 4, "twice", 0, "100");
	/* Another key; check only. */
	memset(&s, 0, sizeof(s));
	s.end = b.data + b.len;
	cr_assert_eq(krx_kafka_dconf_parse(b.data, b.len, "retention.ms",
	    dt_fn, &s), KRX_OK);
	cr_assert_eq(s.n, 5);
	dt_expect(&s, 0, "alpha", 0, NULL);
	dt_expect(&s, 3, "nokey", 0, NULL);
	memset(&s, 0, sizeof(s));
	s.end = b.data + b.len;
	cr_assert_eq(krx_kafka_dconf_parse(b.data, b.len, "cleanup.policy",
	    dt_fn, &s), KRX_OK);
	dt_expect(&s, 0, "alpha", 0, "delete");
	cr_assert_eq(krx_kafka_dconf_parse(b.data, b.len, DT_KEY, NULL,
	    NULL), KRX_OK);
	cr_assert_eq(krx_kafka_dconf_parse(b.data, b.len, NULL, dt_fn, &s),
	    KRX_E_RANGE);
	krx_buf_free(&b);
}

/* An error result still carrying the key: reported without a value. */
Test(kafka_dconf, error_hides_value)
{
	struct dt_seen	 s;
	struct krx_buf	 b;

	krx_buf_init(&b, 0);
	krx_buf_put_be32(&b, 0);
	krx_buf_put_be32(&b, 1);
	dt_result(&b, 3, NULL, 2, "gone", 1);
	dt_config(&b, DT_KEY, "10", 0);
	memset(&s, 0, sizeof(s));
	s.end = b.data + b.len;
	cr_assert_eq(krx_kafka_dconf_parse(b.data, b.len, DT_KEY, dt_fn, &s),
	    KRX_OK);
	cr_assert_eq(s.n, 1);
	dt_expect(&s, 0, "gone", 3, NULL);
	/* No results at all. */
	krx_buf_reset(&b);
	krx_buf_put_be32(&b, 0);
	krx_buf_put_be32(&b, 0);
	cr_assert_eq(krx_kafka_dconf_parse(b.data, b.len, DT_KEY, dt_fn, &s),
	    KRX_OK);
	cr_assert_eq(s.n, 1);
	krx_buf_free(&b);
}

Test(kafka_dconf, truncated_at_every_length)
{
	struct dt_seen	 s;
	struct krx_buf	 b;
	uint8_t		*p;
	size_t		 n;

	krx_buf_init(&b, 0);
	dt_response(&b);
	memset(&s, 0, sizeof(s));
	for (n = 0; n < b.len; n++) {
		/* Each prefix in a buffer of its own size, for ASan. */
		p = malloc(n + 1);
		memcpy(p, b.data, n);
		s.end = p + n;
		cr_assert_eq(krx_kafka_dconf_parse(n == 0 ? NULL : p, n,
		    DT_KEY, dt_fn, &s), KRX_E_TRUNCATED, "prefix %zu of %zu",
		    n, b.len);
		cr_assert_eq(s.n, 0, "fn called on prefix %zu", n);
		free(p);
	}
	p = malloc(b.len + 1);
	memcpy(p, b.data, b.len);
	p[b.len] = 0;
	cr_assert_eq(krx_kafka_dconf_parse(p, b.len + 1, DT_KEY, dt_fn, &s),
	    KRX_E_TRAILING);
	cr_assert_eq(s.n, 0);
	free(p);
	krx_buf_free(&b);
}

Test(kafka_dconf, malformed)
{
	struct dt_seen	 s;
	struct krx_buf	 b;

	memset(&s, 0, sizeof(s));
	krx_buf_init(&b, 0);
	/* A null resource name. */
	krx_buf_put_be32(&b, 0);
	krx_buf_put_be32(&b, 1);
	dt_result(&b, 0, NULL, 2, NULL, 0);
	cr_assert_eq(krx_kafka_dconf_parse(b.data, b.len, DT_KEY, dt_fn, &s),
	    KRX_E_MALFORMED);
	/* A null config name, after a valid result. */
	krx_buf_reset(&b);
	krx_buf_put_be32(&b, 0);
	krx_buf_put_be32(&b, 2);
	dt_result(&b, 0, NULL, 2, "ok", 0);
	dt_result(&b, 0, NULL, 2, "bad", 1);
	dt_config(&b, NULL, "1", 0);
	cr_assert_eq(krx_kafka_dconf_parse(b.data, b.len, DT_KEY, dt_fn, &s),
	    KRX_E_MALFORMED);
	cr_assert_eq(s.n, 0, "nothing reported before the check");
	/* A null synonym name; null configs and synonyms arrays. */
	krx_buf_reset(&b);
	krx_buf_put_be32(&b, 0);
	krx_buf_put_be32(&b, 1);
	dt_result(&b, 0, NULL, 2, "t", 1);
	dt_str(&b, DT_KEY);
	dt_str(&b, "1");
	krx_buf_put(&b, "\0\5\0", 3);
	krx_buf_put_be32(&b, 1);
	dt_str(&b, NULL);
	dt_str(&b, "1");
	krx_buf_put_u8(&b, 5);
	cr_assert_eq(krx_kafka_dconf_parse(b.data, b.len, DT_KEY, dt_fn, &s),
	    KRX_E_MALFORMED);
	krx_buf_reset(&b);
	krx_buf_put_be32(&b, 0);
	krx_buf_put_be32(&b, 1);
	dt_result(&b, 0, NULL, 2, "t", -1);
	cr_assert_eq(krx_kafka_dconf_parse(b.data, b.len, DT_KEY, dt_fn, &s),
	    KRX_E_MALFORMED);
	krx_buf_reset(&b);
	krx_buf_put_be32(&b, 0);
	krx_buf_put_be32(&b, 1);
	dt_result(&b, 0, NULL, 2, "t", 1);
	dt_str(&b, DT_KEY);
	dt_str(&b, "1");
	krx_buf_put(&b, "\0\5\0", 3);
	krx_buf_put_be32(&b, (uint32_t)-1);
	cr_assert_eq(krx_kafka_dconf_parse(b.data, b.len, DT_KEY, dt_fn, &s),
	    KRX_E_MALFORMED);
	/* Counts the bytes cannot hold. */
	krx_buf_reset(&b);
	krx_buf_put_be32(&b, 0);
	krx_buf_put_be32(&b, 0x7fffffff);
	krx_buf_put_be32(&b, 0);
	cr_assert_eq(krx_kafka_dconf_parse(b.data, b.len, DT_KEY, dt_fn, &s),
	    KRX_E_TRUNCATED);
	cr_assert_eq(s.n, 0);
	krx_buf_free(&b);
}
