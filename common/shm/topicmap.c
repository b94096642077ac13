/*
 * topicmap.c: the (virtual cluster, topic id) -> name map (see
 * topicmap.h). The master creates the shared region and is its only
 * writer; workers map it read-only (region.c) and keep what they learn
 * themselves in a private table of the same shape until the master has
 * written it (issue 9, finding 12). Trusts nothing read from the shared
 * region: lengths are checked on every copy.
 *
 * Open addressing; entries are seqlocked and reads retry a bounded
 * number of times (TOPIC_TRIES), so an entry that stays odd costs a
 * miss, never a spinning worker. Each virtual cluster has an equal
 * share of the slots, so one cluster's broker cannot fill the map.
 */
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/err.h"
#include "common/shm/region.h"
#include "common/shm/topicmap.h"

#define TOPIC_TRIES	1000	/* sched_yield rounds, then a miss */
/* At most 3/4 of the slots are used (short probes), shared equally by
 * the virtual clusters: one cluster's broker cannot fill the map. */
#define TOPIC_QUOTA_ALL	(KRX_TOPICMAP_SLOTS / 4 * 3)

enum topic_state {
	TOPIC_EMPTY = 0,
	TOPIC_USED = 1,
	TOPIC_BUSY = 2		/* stayed odd: give up */
};

struct topic_entry {
	_Atomic uint32_t	 seq;	/* odd while written */
	uint8_t			 used;
	uint32_t		 vc;
	uint8_t			 id[16];
	uint16_t		 len;
	char			 name[KRX_TOPIC_NAME_MAX + 1];
};

struct krx_topicmap {
	struct topic_entry	*e;		/* shared, SLOTS entries */
	struct topic_entry	*own;		/* workers: private */
	int			 fd;		/* memfd; -1 in workers */
	size_t			 n_vc;
	uint32_t		*count;		/* entries written, per vc */
	uint32_t		 quota;		/* per vc */
};

#define TOPIC_MAP_LEN	(KRX_TOPICMAP_SLOTS * sizeof(struct topic_entry))

struct krx_topicmap *
krx_topicmap_create(size_t n_vc)
{
	struct krx_topicmap	*tm;

	if (n_vc == 0 || n_vc > TOPIC_QUOTA_ALL ||
	    (tm = calloc(1, sizeof(*tm))) == NULL)
		return NULL;
	tm->n_vc = n_vc;
	tm->quota = (uint32_t)(TOPIC_QUOTA_ALL / n_vc);
	if ((tm->count = calloc(n_vc, sizeof(*tm->count))) == NULL ||
	    (tm->e = krx_region_create("krx-topicmap", TOPIC_MAP_LEN,
	    &tm->fd)) == NULL) {
		free(tm->count);
		free(tm);
		return NULL;
	}
	return tm;
}

int
krx_topicmap_readonly(struct krx_topicmap *tm)
{
	struct topic_entry	*ro, *own;

	own = mmap(NULL, TOPIC_MAP_LEN, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (own == MAP_FAILED)
		return KRX_E_NOMEM;
	if ((ro = krx_region_readonly(tm->e, TOPIC_MAP_LEN, tm->fd)) ==
	    NULL) {
		munmap(own, TOPIC_MAP_LEN);
		return KRX_E_IO;
	}
	tm->e = ro;
	tm->own = own;
	tm->fd = -1;
	memset(tm->count, 0, tm->n_vc * sizeof(*tm->count));
	return KRX_OK;
}

void
krx_topicmap_free(struct krx_topicmap *tm)
{
	if (tm == NULL)
		return;
	munmap(tm->e, TOPIC_MAP_LEN);
	if (tm->own != NULL)
		munmap(tm->own, TOPIC_MAP_LEN);
	if (tm->fd != -1)
		close(tm->fd);
	free(tm->count);
	free(tm);
}

static uint32_t
topic_slot(size_t vc, const uint8_t id[16])
{
	uint32_t	 h;

	memcpy(&h, id + 4, sizeof(h));	/* ids are random */
	return (h + (uint32_t)vc * 2654435761u) % KRX_TOPICMAP_SLOTS;
}

static int
topic_zero(const uint8_t id[16])
{
	static const uint8_t	 zero[16];

	return memcmp(id, zero, 16) == 0;
}

int
krx_topicmap_valid(const uint8_t id[16], const char *name, size_t len)
{
	size_t	 i;
	char	 ch;

	if (len == 0 || len > KRX_TOPIC_NAME_MAX || topic_zero(id))
		return 0;
	for (i = 0; i < len; i++) {
		ch = name[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
		    ch == '-'))
			return 0;
	}
	return 1;
}

/* Read entry e into a private copy. */
static enum topic_state
topic_read(struct topic_entry *e, struct topic_entry *copy)
{
	uint32_t	 s1, s2;
	int		 i;

	for (i = 0; i < TOPIC_TRIES; i++) {
		s1 = atomic_load_explicit(&e->seq, memory_order_acquire);
		if (s1 & 1) {
			sched_yield();
			continue;
		}
		copy->used = e->used;
		copy->vc = e->vc;
		memcpy(copy->id, e->id, 16);
		copy->len = e->len;
		memcpy(copy->name, e->name, sizeof(copy->name));
		atomic_thread_fence(memory_order_acquire);
		s2 = atomic_load_explicit(&e->seq, memory_order_relaxed);
		if (s1 == s2)
			return copy->used ? TOPIC_USED : TOPIC_EMPTY;
	}
	return TOPIC_BUSY;
}

static int
topic_is(const struct topic_entry *c, size_t vc, const uint8_t id[16])
{
	return c->vc == vc && memcmp(c->id, id, 16) == 0;
}

/* Look (vc, id) up in table t. */
static int
topic_find(struct topic_entry *t, size_t vc, const uint8_t id[16],
    char name[KRX_TOPIC_NAME_MAX + 1], size_t *len)
{
	struct topic_entry	 c;
	uint32_t		 i, s = topic_slot(vc, id);

	for (i = 0; i < KRX_TOPICMAP_SLOTS; i++) {
		if (topic_read(&t[(s + i) % KRX_TOPICMAP_SLOTS], &c) !=
		    TOPIC_USED)
			return KRX_E_NOTFOUND;
		if (!topic_is(&c, vc, id))
			continue;
		if (c.len == 0 || c.len > KRX_TOPIC_NAME_MAX)
			return KRX_E_NOTFOUND;
		memcpy(name, c.name, c.len);
		name[c.len] = '\0';
		*len = c.len;
		return KRX_OK;
	}
	return KRX_E_NOTFOUND;
}

int
krx_topicmap_get(struct krx_topicmap *tm, size_t vc, const uint8_t id[16],
    char name[KRX_TOPIC_NAME_MAX + 1], size_t *len)
{
	*len = 0;
	name[0] = '\0';
	if (topic_zero(id))
		return KRX_E_NOTFOUND;
	if (topic_find(tm->e, vc, id, name, len) == KRX_OK)
		return KRX_OK;
	if (tm->own != NULL)
		return topic_find(tm->own, vc, id, name, len);
	return KRX_E_NOTFOUND;
}

static void
topic_write(struct topic_entry *e, size_t vc, const uint8_t id[16],
    const char *name, size_t len)
{
	uint32_t	 s;

	s = atomic_load_explicit(&e->seq, memory_order_relaxed) | 1;
	atomic_store_explicit(&e->seq, s, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	e->used = 1;
	e->vc = (uint32_t)vc;
	memcpy(e->id, id, 16);
	memcpy(e->name, name, len);
	e->len = (uint16_t)len;
	atomic_store_explicit(&e->seq, s + 1, memory_order_release);
}

/*
 * Write (vc, id) -> name into table t, whose only writer we are; a new
 * entry counts against vc's quota.
 */
static int
topic_store(struct krx_topicmap *tm, struct topic_entry *t, size_t vc,
    const uint8_t id[16], const char *name, size_t len)
{
	struct topic_entry	*e;
	uint32_t		 i, s = topic_slot(vc, id);

	for (i = 0; i < KRX_TOPICMAP_SLOTS; i++) {
		e = &t[(s + i) % KRX_TOPICMAP_SLOTS];
		if (e->used && !topic_is(e, vc, id))
			continue;
		if (!e->used) {
			if (tm->count[vc] >= tm->quota)
				return KRX_E_RANGE;
			tm->count[vc]++;
		}
		topic_write(e, vc, id, name, len);
		return 1;
	}
	return KRX_E_RANGE;
}

int
krx_topicmap_put(struct krx_topicmap *tm, size_t vc, const uint8_t id[16],
    const char *name, size_t len)
{
	char	 old[KRX_TOPIC_NAME_MAX + 1];
	size_t	 old_len;

	if (!krx_topicmap_valid(id, name, len) || vc >= tm->n_vc)
		return KRX_E_RANGE;
	if (krx_topicmap_get(tm, vc, id, old, &old_len) == KRX_OK &&
	    old_len == len && memcmp(old, name, len) == 0)
		return 0;
	return topic_store(tm, tm->own != NULL ? tm->own : tm->e, vc, id,
	    name, len);
}

/* u32 vc | id[16] | u16 len | name, big-endian. */
size_t
krx_topicmap_msg_encode(uint8_t out[KRX_TOPICMAP_MSG_MAX], size_t vc,
    const uint8_t id[16], const char *name, size_t len)
{
	if (len > KRX_TOPIC_NAME_MAX || vc > UINT32_MAX)
		return 0;
	out[0] = (uint8_t)(vc >> 24);
	out[1] = (uint8_t)(vc >> 16);
	out[2] = (uint8_t)(vc >> 8);
	out[3] = (uint8_t)vc;
	memcpy(out + 4, id, 16);
	out[20] = (uint8_t)(len >> 8);
	out[21] = (uint8_t)len;
	memcpy(out + 22, name, len);
	return 22 + len;
}

int
krx_topicmap_msg_decode(const uint8_t *p, size_t len, size_t *vc,
    const uint8_t **id, const char **name, size_t *name_len)
{
	if (len < 22)
		return KRX_E_TRUNCATED;
	*vc = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 |
	    p[3];
	*id = p + 4;
	*name_len = (size_t)p[20] << 8 | p[21];
	*name = (const char *)p + 22;
	if (*name_len > KRX_TOPIC_NAME_MAX)
		return KRX_E_TOO_BIG;
	return len == 22 + *name_len ? KRX_OK : KRX_E_TRAILING;
}
