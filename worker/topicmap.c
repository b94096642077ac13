/*
 * topicmap.c: the shared topic id -> name map (see topicmap.h).
 */
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#include "common/err.h"
#include "worker/topicmap.h"

struct topic_entry {
	_Atomic uint32_t	 seq;	/* odd while written */
	uint8_t			 used;
	uint8_t			 id[16];
	uint16_t		 len;
	char			 name[KRX_TOPIC_NAME_MAX + 1];
};

struct krx_topicmap {
	struct topic_entry	 e[KRX_TOPICMAP_SLOTS];
};

struct krx_topicmap *
krx_topicmap_create(void)
{
	void	*p;

	p = mmap(NULL, sizeof(struct krx_topicmap), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void
krx_topicmap_free(struct krx_topicmap *tm)
{
	if (tm != NULL)
		munmap(tm, sizeof(*tm));
}

static uint32_t
topic_slot(const uint8_t id[16])
{
	uint32_t	 h;

	memcpy(&h, id + 4, sizeof(h));	/* ids are random */
	return h % KRX_TOPICMAP_SLOTS;
}

static int
topic_zero(const uint8_t id[16])
{
	static const uint8_t	 zero[16];

	return memcmp(id, zero, 16) == 0;
}

/* Read entry e into a private copy; returns its used flag. */
static int
topic_read(struct topic_entry *e, struct topic_entry *copy)
{
	uint32_t	 s1, s2;

	for (;;) {
		s1 = atomic_load_explicit(&e->seq, memory_order_acquire);
		if (s1 & 1) {
			sched_yield();
			continue;
		}
		copy->used = e->used;
		memcpy(copy->id, e->id, 16);
		copy->len = e->len;
		memcpy(copy->name, e->name, sizeof(copy->name));
		atomic_thread_fence(memory_order_acquire);
		s2 = atomic_load_explicit(&e->seq, memory_order_relaxed);
		if (s1 == s2)
			return copy->used;
	}
}

int
krx_topicmap_get(struct krx_topicmap *tm, const uint8_t id[16],
    char name[KRX_TOPIC_NAME_MAX + 1], size_t *len)
{
	struct topic_entry	 c;
	uint32_t		 i, s = topic_slot(id);

	for (i = 0; i < KRX_TOPICMAP_SLOTS; i++) {
		if (!topic_read(&tm->e[(s + i) % KRX_TOPICMAP_SLOTS], &c))
			return KRX_E_NOTFOUND;
		if (memcmp(c.id, id, 16) == 0 && c.len <= KRX_TOPIC_NAME_MAX) {
			memcpy(name, c.name, c.len);
			name[c.len] = '\0';
			*len = c.len;
			return KRX_OK;
		}
	}
	return KRX_E_NOTFOUND;
}

int
krx_topicmap_put(struct krx_topicmap *tm, const uint8_t id[16],
    const char *name, size_t len)
{
	struct topic_entry	*e;
	uint32_t		 i, s = topic_slot(id), seq;

	if (len == 0 || len > KRX_TOPIC_NAME_MAX || topic_zero(id))
		return KRX_E_RANGE;
	for (i = 0; i < KRX_TOPICMAP_SLOTS; i++) {
		e = &tm->e[(s + i) % KRX_TOPICMAP_SLOTS];
		for (;;) {
			seq = atomic_load_explicit(&e->seq,
			    memory_order_acquire);
			if ((seq & 1) == 0 && atomic_compare_exchange_weak(
			    &e->seq, &seq, seq + 1))
				break;
			sched_yield();
		}
		if (!e->used || memcmp(e->id, id, 16) == 0) {
			e->used = 1;
			memcpy(e->id, id, 16);
			memcpy(e->name, name, len);
			e->len = (uint16_t)len;
			atomic_store_explicit(&e->seq, seq + 2,
			    memory_order_release);
			return KRX_OK;
		}
		atomic_store_explicit(&e->seq, seq + 2, memory_order_release);
	}
	return KRX_E_RANGE;
}
