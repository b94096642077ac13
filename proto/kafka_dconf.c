/*
 * kafka_dconf.c: DescribeConfigs version 1 (not flexible), which krx
 * sends to learn one config of some topics (max.message.bytes): the
 * request body and a walk over the response reporting, per topic, that
 * config's value.
 *
 * Library grade: runs in workers on broker bytes and trusts none of
 * them; the body is walked field by field and must end exactly at its
 * end before any result is reported.
 */
#include <string.h>

#include "common/err.h"
#include "proto/kafka_msg.h"
#include "proto/kafka_prim.h"

#define DC_TOPIC	2	/* resource_type TOPIC */
#define DC_NAME_MAX	249	/* longest topic name */

int
krx_kafka_dconf_request(const char *const *names, const size_t *lens,
    size_t n, const char *key, struct krx_buf *out)
{
	size_t	 i, klen, start = out->len;
	int	 r;

	if (n == 0 || n > INT32_MAX || names == NULL || lens == NULL ||
	    key == NULL || (klen = strlen(key)) == 0 || klen > KRX_KP_STR_MAX)
		return KRX_E_RANGE;
	for (i = 0; i < n; i++)
		if (names[i] == NULL || lens[i] == 0 || lens[i] > DC_NAME_MAX)
			return KRX_E_RANGE;
	/* resources[]: resource_type, resource_name, configuration_keys[] */
	krx_kp_put_array_len(out, false, (int32_t)n);
	for (i = 0; i < n; i++) {
		krx_buf_put_u8(out, DC_TOPIC);
		krx_kp_put_str(out, false, names[i], (int32_t)lens[i]);
		krx_kp_put_array_len(out, false, 1);
		krx_kp_put_str(out, false, key, (int32_t)klen);
	}
	krx_buf_put_u8(out, 0);		/* include_synonyms */
	if ((r = out->err) != KRX_OK && out->len > start)
		out->len = start;
	return r;
}

struct dc_walk {
	struct krx_cur	 c;
	const char	*key;
	size_t		 key_len;
	krx_dconf_fn	 fn;	/* NULL: check only */
	void		*arg;
};

/* synonyms[]: name, value (nullable), source. */
static int
dc_synonyms(struct dc_walk *w)
{
	int32_t	 i, n;
	int	 r;

	if ((r = krx_kp_get_array(&w->c, false, false, 2 + 2 + 1, &n)) !=
	    KRX_OK)
		return r;
	for (i = 0; i < n; i++)
		if ((r = krx_kp_skip_str(&w->c, false, false)) != KRX_OK ||
		    (r = krx_kp_skip_str(&w->c, false, true)) != KRX_OK ||
		    (r = krx_cur_skip(&w->c, 1)) != KRX_OK)
			return r;
	return KRX_OK;
}

/*
 * One config: name, value (nullable), read_only, config_source,
 * is_sensitive, synonyms[]. The first one named key fills *value and
 * *value_len and sets *found.
 */
static int
dc_config(struct dc_walk *w, bool *found, const uint8_t **value,
    int32_t *value_len)
{
	const uint8_t	*name, *v;
	int32_t		 name_len, v_len;
	int		 r;

	if ((r = krx_kp_get_str(&w->c, false, false, &name, &name_len)) !=
	    KRX_OK ||
	    (r = krx_kp_get_str(&w->c, false, true, &v, &v_len)) != KRX_OK ||
	    (r = krx_cur_skip(&w->c, 3)) != KRX_OK ||
	    (r = dc_synonyms(w)) != KRX_OK)
		return r;
	if (!*found && (size_t)name_len == w->key_len &&
	    memcmp(name, w->key, w->key_len) == 0) {
		*found = true;
		*value = v;
		*value_len = v_len;
	}
	return KRX_OK;
}

/*
 * One result: error_code, error_message (nullable), resource_type,
 * resource_name, configs[]; reported to fn when of type TOPIC.
 */
static int
dc_result(struct dc_walk *w)
{
	const uint8_t	*name, *value = NULL;
	int32_t		 name_len, value_len = -1, i, n;
	int16_t		 err;
	uint8_t		 type;
	bool		 found = false;
	int		 r;

	if ((r = krx_cur_get_i16(&w->c, &err)) != KRX_OK ||
	    (r = krx_kp_skip_str(&w->c, false, true)) != KRX_OK ||
	    (r = krx_cur_get_u8(&w->c, &type)) != KRX_OK ||
	    (r = krx_kp_get_str(&w->c, false, false, &name, &name_len)) !=
	    KRX_OK)
		return r;
	/* A config: two strings, three bytes, the synonyms length. */
	if ((r = krx_kp_get_array(&w->c, false, false, 2 + 2 + 3 + 4,
	    &n)) != KRX_OK)
		return r;
	for (i = 0; i < n; i++)
		if ((r = dc_config(w, &found, &value, &value_len)) != KRX_OK)
			return r;
	if (w->fn == NULL || type != DC_TOPIC)
		return KRX_OK;
	if (err != 0 || !found) {
		value = NULL;
		value_len = -1;
	}
	w->fn(w->arg, name, (size_t)name_len, err, value, value_len);
	return KRX_OK;
}

/* throttle_time_ms, results[]. */
static int
dc_body(struct dc_walk *w)
{
	int32_t	 i, n;
	int	 r;

	if ((r = krx_cur_skip(&w->c, 4)) != KRX_OK)
		return r;
	/* A result: error_code, two strings, type, the configs length. */
	if ((r = krx_kp_get_array(&w->c, false, false, 2 + 2 + 1 + 2 + 4,
	    &n)) != KRX_OK)
		return r;
	for (i = 0; i < n; i++)
		if ((r = dc_result(w)) != KRX_OK)
			return r;
	return krx_cur_end(&w->c);
}

int
krx_kafka_dconf_parse(const uint8_t *body, size_t len, const char *key,
    krx_dconf_fn fn, void *arg)
{
	struct dc_walk	 w;
	int		 r;

	if (key == NULL)
		return KRX_E_RANGE;
	memset(&w, 0, sizeof(w));
	krx_cur_init(&w.c, body, len);
	w.key = key;
	w.key_len = strlen(key);
	/* Check the whole body first, then report the results. */
	if ((r = dc_body(&w)) != KRX_OK || fn == NULL)
		return r;
	krx_cur_init(&w.c, body, len);
	w.fn = fn;
	w.arg = arg;
	return dc_body(&w);
}
