/*
 * topicmap.c: the shared (virtual cluster, topic id) -> name map (see
 * topicmap.h). Runs in the workers (put, get) and the master (create,
 * repair); trusts nothing in the shared region.
 *
 * Entries are locked like the node map's (nodemap.c): an owner word
 * claimed with the writer's pid, then a seqlock; every wait is bounded
 * (TOPIC_TRIES) and the master releases what a dead worker held
 * (issue 9, finding 12). An entry the master repairs keeps its place in
 * the probe chains but matches no id again.
 */
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/err.h"
#include "worker/topicmap.h"

#define TOPIC_TRIES	1000	/* sched_yield rounds before giving up */

enum topic_state {
	TOPIC_EMPTY = 0,
	TOPIC_USED = 1,
	TOPIC_BUSY = 2		/* stayed locked: give up */
};

struct topic_entry {
	_Atomic uint32_t	 seq;	/* odd while written */
	_Atomic int32_t		 owner;	/* pid of the writer, 0: none */
	uint8_t			 used;
	uint32_t		 vc;
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
topic_match(const struct topic_entry *c, size_t vc, const uint8_t id[16])
{
	return c->vc == vc && memcmp(c->id, id, 16) == 0 &&
	    c->len > 0 && c->len <= KRX_TOPIC_NAME_MAX;
}

int
krx_topicmap_get(struct krx_topicmap *tm, size_t vc, const uint8_t id[16],
    char name[KRX_TOPIC_NAME_MAX + 1], size_t *len)
{
	struct topic_entry	 c;
	uint32_t		 i, s = topic_slot(vc, id);

	*len = 0;
	name[0] = '\0';
	if (topic_zero(id))
		return KRX_E_NOTFOUND;
	for (i = 0; i < KRX_TOPICMAP_SLOTS; i++) {
		if (topic_read(&tm->e[(s + i) % KRX_TOPICMAP_SLOTS], &c) !=
		    TOPIC_USED)
			return KRX_E_NOTFOUND;
		if (topic_match(&c, vc, id)) {
			memcpy(name, c.name, c.len);
			name[c.len] = '\0';
			*len = c.len;
			return KRX_OK;
		}
	}
	return KRX_E_NOTFOUND;
}

/* Claim e's owner word; 0, or -1 when it stays taken. */
static int
topic_lock(struct topic_entry *e, int32_t me)
{
	int32_t	 none;
	int	 i;

	for (i = 0; i < TOPIC_TRIES; i++) {
		none = 0;
		if (atomic_compare_exchange_strong(&e->owner, &none, me))
			return 0;
		sched_yield();
	}
	return -1;
}

/*
 * Under e's lock: write the entry when it is free or holds this id.
 * Returns 1 when written, 0 when it holds another topic.
 */
static int
topic_write(struct topic_entry *e, size_t vc, const uint8_t id[16],
    const char *name, size_t len)
{
	uint32_t	 s;

	if (e->used && !(e->vc == vc && memcmp(e->id, id, 16) == 0))
		return 0;
	s = atomic_load_explicit(&e->seq, memory_order_relaxed) | 1;
	atomic_store_explicit(&e->seq, s, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	e->used = 1;
	e->vc = (uint32_t)vc;
	memcpy(e->id, id, 16);
	memcpy(e->name, name, len);
	e->len = (uint16_t)len;
	atomic_store_explicit(&e->seq, s + 1, memory_order_release);
	return 1;
}

int
krx_topicmap_put(struct krx_topicmap *tm, size_t vc, const uint8_t id[16],
    const char *name, size_t len)
{
	struct topic_entry	*e, c;
	enum topic_state	 st;
	int32_t			 me = (int32_t)getpid();
	uint32_t		 i, s = topic_slot(vc, id);
	int			 w;

	if (len == 0 || len > KRX_TOPIC_NAME_MAX || topic_zero(id) ||
	    vc > UINT32_MAX)
		return KRX_E_RANGE;
	for (i = 0; i < KRX_TOPICMAP_SLOTS; i++) {
		e = &tm->e[(s + i) % KRX_TOPICMAP_SLOTS];
		if ((st = topic_read(e, &c)) == TOPIC_BUSY)
			return KRX_E_NOTFOUND;
		if (st == TOPIC_USED && !(c.vc == vc &&
		    memcmp(c.id, id, 16) == 0))
			continue;	/* another topic: no lock needed */
		if (st == TOPIC_USED && c.len == len &&
		    memcmp(c.name, name, len) == 0)
			return KRX_OK;	/* already known */
		if (topic_lock(e, me) == -1)
			return KRX_E_NOTFOUND;
		w = topic_write(e, vc, id, name, len);
		atomic_store_explicit(&e->owner, 0, memory_order_release);
		if (w)
			return KRX_OK;
	}
	return KRX_E_RANGE;
}

size_t
krx_topicmap_repair(struct krx_topicmap *tm, int32_t pid)
{
	struct topic_entry	*e;
	size_t			 i, n = 0;
	uint32_t		 s;

	if (tm == NULL || pid <= 0)
		return 0;
	for (i = 0; i < KRX_TOPICMAP_SLOTS; i++) {
		e = &tm->e[i];
		if (atomic_load_explicit(&e->owner, memory_order_acquire) !=
		    pid)
			continue;
		s = atomic_load_explicit(&e->seq, memory_order_relaxed);
		if (s & 1) {
			/* Half written: a tombstone that matches no id. */
			e->used = 1;
			memset(e->id, 0, sizeof(e->id));
			e->len = 0;
			atomic_store_explicit(&e->seq, s + 1,
			    memory_order_release);
		}
		atomic_store_explicit(&e->owner, 0, memory_order_release);
		n++;
	}
	return n;
}
