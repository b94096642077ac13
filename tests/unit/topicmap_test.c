/*
 * topicmap_test.c: the shared topic map (worker/topicmap.c, built into
 * this test): issue 9, finding 12. Names are keyed by virtual cluster
 * and topic id, waits on a locked entry are bounded, and the master's
 * repair after a dead writer frees the entry without mapping an id to a
 * half-written name.
 */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "worker/topicmap.c"

static const uint8_t	 ID1[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
	13, 14, 15, 16 };
static const uint8_t	 ID2[16] = { 2, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
	13, 14, 15, 17 };

static double
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
assert_name(struct krx_topicmap *tm, size_t vc, const uint8_t id[16],
    const char *want)
{
	char	 name[KRX_TOPIC_NAME_MAX + 1];
	size_t	 len;

	cr_assert_eq(krx_topicmap_get(tm, vc, id, name, &len), KRX_OK);
	cr_assert_str_eq(name, want);
	cr_assert_eq(len, strlen(want));
}

static void
assert_unknown(struct krx_topicmap *tm, size_t vc, const uint8_t id[16])
{
	char	 name[KRX_TOPIC_NAME_MAX + 1];
	size_t	 len;

	cr_assert_eq(krx_topicmap_get(tm, vc, id, name, &len),
	    KRX_E_NOTFOUND);
}

/* Another cluster's broker cannot rename this cluster's topic. */
Test(topicmap, keyed_by_virtual_cluster)
{
	struct krx_topicmap	*tm = krx_topicmap_create();

	cr_assert_not_null(tm);
	cr_assert_eq(krx_topicmap_put(tm, 0, ID1, "secret", 6), KRX_OK);
	assert_unknown(tm, 1, ID1);
	cr_assert_eq(krx_topicmap_put(tm, 1, ID1, "no-kek", 6), KRX_OK);
	assert_name(tm, 0, ID1, "secret");
	assert_name(tm, 1, ID1, "no-kek");
	cr_assert_eq(krx_topicmap_put(tm, 0, ID1, "secret", 6), KRX_OK);
	cr_assert_eq(krx_topicmap_put(tm, 0, ID2, "other", 5), KRX_OK);
	assert_name(tm, 0, ID2, "other");
	assert_unknown(tm, 1, ID2);
	assert_unknown(tm, 7, ID1);
	krx_topicmap_free(tm);
}

Test(topicmap, bad_input)
{
	struct krx_topicmap	*tm = krx_topicmap_create();
	static const uint8_t	 zero[16];
	char			 big[KRX_TOPIC_NAME_MAX + 2];

	memset(big, 'a', sizeof(big));
	cr_assert_eq(krx_topicmap_put(tm, 0, zero, "t", 1), KRX_E_RANGE);
	cr_assert_eq(krx_topicmap_put(tm, 0, ID1, "", 0), KRX_E_RANGE);
	cr_assert_eq(krx_topicmap_put(tm, 0, ID1, big, sizeof(big)),
	    KRX_E_RANGE);
	assert_unknown(tm, 0, zero);
	krx_topicmap_free(tm);
}

/*
 * A writer SIGKILLed in the middle of writing (vc 0, ID1): lookups and
 * writes on that entry give up in bounded time; the master's repair
 * leaves a tombstone that keeps the probe chain (ID2, put after ID1 in
 * the same slot, stays found) and maps ID1 to nothing.
 */
Test(topicmap, dead_writer_bounded_and_repaired)
{
	struct krx_topicmap	*tm = krx_topicmap_create();
	struct topic_entry	*e;
	uint8_t			 id2[16];
	pid_t			 pid;
	double			 t0;
	int			 st;

	memcpy(id2, ID2, 16);
	memcpy(id2 + 4, ID1 + 4, 4);	/* same slot as ID1 */
	cr_assert_eq(krx_topicmap_put(tm, 0, ID1, "secret", 6), KRX_OK);
	cr_assert_eq(krx_topicmap_put(tm, 0, id2, "second", 6), KRX_OK);
	e = &tm->e[topic_slot(0, ID1)];
	cr_assert_eq(memcmp(e->id, ID1, 16), 0);
	if ((pid = fork()) == 0) {
		atomic_store(&e->owner, (int32_t)getpid());
		atomic_store(&e->seq, atomic_load(&e->seq) | 1);
		memcpy(e->name, "sec", 3);
		e->len = 3;
		raise(SIGKILL);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFSIGNALED(st));

	t0 = now();
	assert_unknown(tm, 0, ID1);
	cr_assert_eq(krx_topicmap_put(tm, 0, ID1, "secret", 6),
	    KRX_E_NOTFOUND);
	cr_assert_lt(now() - t0, 2.0, "waited %.3f s", now() - t0);

	cr_assert_eq(krx_topicmap_repair(tm, pid), 1);
	assert_unknown(tm, 0, ID1);
	assert_name(tm, 0, id2, "second");
	cr_assert_eq(krx_topicmap_put(tm, 0, ID1, "secret", 6), KRX_OK);
	assert_name(tm, 0, ID1, "secret");
	krx_topicmap_free(tm);
}
