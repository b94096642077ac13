/*
 * topiclimit.c: per-worker table of topic batch size limits (see
 * topiclimit.h). A chained hash table keyed by virtual cluster and topic
 * name; when it holds KRX_TOPICLIMIT_MAX topics it is emptied and filled
 * again from the answers that follow, which costs one DescribeConfigs
 * round trip per topic then.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/xmalloc.h"
#include "worker/topiclimit.h"
#include "common/shm/topicmap.h"

#define TL_BUCKETS	1024

struct tl_entry {
	struct tl_entry	*next;
	size_t		 vc;
	char		 name[KRX_TOPIC_NAME_MAX];
	size_t		 len;
	size_t		 limit;
	int		 guessed;
	int64_t		 learned;	/* monotonic seconds */
};

struct krx_topiclimit {
	struct tl_entry	*b[TL_BUCKETS];
	size_t		 n;
};

static size_t
tl_hash(size_t vc, const char *name, size_t len)
{
	return krx_hash_fnv1a((uint32_t)vc, name, len) % TL_BUCKETS;
}

static struct tl_entry *
tl_find(struct krx_topiclimit *tl, size_t vc, const char *name, size_t len)
{
	struct tl_entry	*e;

	for (e = tl->b[tl_hash(vc, name, len)]; e != NULL; e = e->next)
		if (e->vc == vc && e->len == len &&
		    memcmp(e->name, name, len) == 0)
			return e;
	return NULL;
}

static void
tl_clear(struct krx_topiclimit *tl)
{
	struct tl_entry	*e;
	size_t		 i;

	for (i = 0; i < TL_BUCKETS; i++)
		while ((e = tl->b[i]) != NULL) {
			tl->b[i] = e->next;
			free(e);
		}
	tl->n = 0;
}

/* The entry of a topic, made if new; NULL for a name krx cannot keep. */
static struct tl_entry *
tl_entry(struct krx_topiclimit *tl, size_t vc, const char *name, size_t len)
{
	struct tl_entry	*e;
	size_t		 h;

	if (len == 0 || len > KRX_TOPIC_NAME_MAX)
		return NULL;
	if ((e = tl_find(tl, vc, name, len)) != NULL)
		return e;
	if (tl->n >= KRX_TOPICLIMIT_MAX)
		tl_clear(tl);
	e = xcalloc(1, sizeof(*e));
	e->vc = vc;
	memcpy(e->name, name, len);
	e->len = len;
	h = tl_hash(vc, name, len);
	e->next = tl->b[h];
	tl->b[h] = e;
	tl->n++;
	return e;
}

struct krx_topiclimit *
krx_topiclimit_new(void)
{
	return xcalloc(1, sizeof(struct krx_topiclimit));
}

void
krx_topiclimit_free(struct krx_topiclimit *tl)
{
	if (tl == NULL)
		return;
	tl_clear(tl);
	free(tl);
}

enum krx_topiclimit_state
krx_topiclimit_get(struct krx_topiclimit *tl, size_t vc, const char *name,
    size_t len, int64_t now, size_t *limit, int *guessed)
{
	struct tl_entry	*e = tl_find(tl, vc, name, len);

	if (e == NULL)
		return KRX_TOPICLIMIT_UNKNOWN;
	*limit = e->limit;
	*guessed = e->guessed;
	if (now - e->learned < KRX_TOPICLIMIT_REFRESH)
		return KRX_TOPICLIMIT_FRESH;
	/* Asked for now: fresh again for a while, or until the answer. */
	e->learned = now - KRX_TOPICLIMIT_REFRESH + KRX_TOPICLIMIT_RETRY;
	return KRX_TOPICLIMIT_STALE;
}

void
krx_topiclimit_set(struct krx_topiclimit *tl, size_t vc, const char *name,
    size_t len, int64_t now, size_t limit)
{
	struct tl_entry	*e = tl_entry(tl, vc, name, len);

	if (e == NULL)
		return;
	e->guessed = limit == 0;
	if (limit == 0)
		limit = KRX_TOPICLIMIT_DEFAULT;
	if (limit < KRX_TOPICLIMIT_MIN)
		limit = KRX_TOPICLIMIT_MIN;
	if (limit > INT32_MAX)
		limit = INT32_MAX;
	e->limit = limit;
	e->learned = now;
}

int
krx_topiclimit_lower(struct krx_topiclimit *tl, size_t vc, const char *name,
    size_t len, int64_t now, size_t size)
{
	struct tl_entry	*e = tl_entry(tl, vc, name, len);
	size_t		 base;

	if (e == NULL)
		return -1;
	if (e->limit == 0) {
		e->limit = KRX_TOPICLIMIT_DEFAULT;
		e->guessed = 1;
		e->learned = now;
	}
	if (e->limit <= KRX_TOPICLIMIT_MIN)
		return -1;
	base = size < e->limit ? size : e->limit;
	e->limit = base / 4 * 3;
	if (e->limit < KRX_TOPICLIMIT_MIN)
		e->limit = KRX_TOPICLIMIT_MIN;
	return 0;
}
