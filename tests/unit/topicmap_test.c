/*
 * topicmap_test.c: the topic map (common/shm/topicmap.c and region.c,
 * built into this test): issue 9, finding 12. Names are keyed by virtual
 * cluster and topic id and must be Kafka topic names; only the master
 * writes the shared region, a worker's mapping is read-only and what it
 * learns stays in its own table; waits on an entry left odd are
 * bounded; the worker -> master message is checked.
 */
#include <errno.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "common/shm/region.c"
#include "common/shm/topicmap.c"

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

static int
name_is(struct krx_topicmap *tm, size_t vc, const uint8_t id[16],
    const char *want)
{
	char	 name[KRX_TOPIC_NAME_MAX + 1];
	size_t	 len;

	return krx_topicmap_get(tm, vc, id, name, &len) == KRX_OK &&
	    strcmp(name, want) == 0 && len == strlen(want);
}

static int
unknown(struct krx_topicmap *tm, size_t vc, const uint8_t id[16])
{
	char	 name[KRX_TOPIC_NAME_MAX + 1];
	size_t	 len;

	return krx_topicmap_get(tm, vc, id, name, &len) == KRX_E_NOTFOUND &&
	    len == 0 && name[0] == '\0';
}

/* Another cluster's broker cannot rename this cluster's topic. */
Test(topicmap, keyed_by_virtual_cluster)
{
	struct krx_topicmap	*tm = krx_topicmap_create(8);

	cr_assert_not_null(tm);
	cr_assert_eq(krx_topicmap_put(tm, 0, ID1, "secret", 6), 1);
	cr_assert(unknown(tm, 1, ID1));
	cr_assert_eq(krx_topicmap_put(tm, 1, ID1, "no-kek", 6), 1);
	cr_assert(name_is(tm, 0, ID1, "secret"));
	cr_assert(name_is(tm, 1, ID1, "no-kek"));
	cr_assert_eq(krx_topicmap_put(tm, 0, ID1, "secret", 6), 0);
	cr_assert_eq(krx_topicmap_put(tm, 0, ID2, "other", 5), 1);
	cr_assert(name_is(tm, 0, ID2, "other"));
	cr_assert(unknown(tm, 1, ID2));
	cr_assert(unknown(tm, 7, ID1));
	krx_topicmap_free(tm);
}

Test(topicmap, bad_input)
{
	struct krx_topicmap	*tm = krx_topicmap_create(8);
	static const uint8_t	 zero[16];
	char			 big[KRX_TOPIC_NAME_MAX + 2];

	memset(big, 'a', sizeof(big));
	cr_assert_eq(krx_topicmap_put(tm, 0, zero, "t", 1), KRX_E_RANGE);
	cr_assert_eq(krx_topicmap_put(tm, 0, ID1, "", 0), KRX_E_RANGE);
	cr_assert_eq(krx_topicmap_put(tm, 0, ID1, big, sizeof(big)),
	    KRX_E_RANGE);
	cr_assert_eq(krx_topicmap_put(tm, 0, ID1, "a b", 3), KRX_E_RANGE);
	cr_assert_eq(krx_topicmap_put(tm, 0, ID1, "../x", 4), KRX_E_RANGE);
	cr_assert_eq(krx_topicmap_put(tm, 0, ID1, "a\0b", 3), KRX_E_RANGE);
	cr_assert_eq(krx_topicmap_put(tm, 0, ID1, big, KRX_TOPIC_NAME_MAX), 1);
	cr_assert(unknown(tm, 0, zero));
	krx_topicmap_free(tm);
}

/* An entry left odd costs a bounded wait and a miss, not a spin. */
Test(topicmap, odd_entry_bounded)
{
	struct krx_topicmap	*tm = krx_topicmap_create(8);
	double			 t0;

	cr_assert_eq(krx_topicmap_put(tm, 0, ID1, "secret", 6), 1);
	atomic_store(&tm->e[topic_slot(0, ID1)].seq, 9);
	t0 = now();
	cr_assert(unknown(tm, 0, ID1));
	cr_assert_lt(now() - t0, 2.0, "waited %.3f s", now() - t0);
	krx_topicmap_free(tm);
}

/* In a forked "worker": returns 0 when every check holds. */
static int
worker_side(struct krx_topicmap *tm, int go)
{
	char	 c;

	if (krx_topicmap_readonly(tm) != KRX_OK)
		return 1;
	if (mprotect(tm->e, TOPIC_MAP_LEN, PROT_READ | PROT_WRITE) != -1 ||
	    errno != EACCES)
		return 2;
	if (!name_is(tm, 0, ID1, "secret"))
		return 3;
	if (krx_topicmap_put(tm, 0, ID2, "mine", 4) != 1 ||
	    !name_is(tm, 0, ID2, "mine") ||
	    krx_topicmap_put(tm, 0, ID2, "mine", 4) != 0)
		return 4;
	if (read(go, &c, 1) != 1)
		return 5;
	if (!name_is(tm, 1, ID1, "later"))
		return 6;
	return 0;
}

Test(topicmap, worker_mapping_read_only)
{
	struct krx_topicmap	*tm = krx_topicmap_create(8);
	pid_t			 pid;
	int			 go[2], st;

	cr_assert_eq(krx_topicmap_put(tm, 0, ID1, "secret", 6), 1);
	cr_assert_eq(pipe(go), 0);
	if ((pid = fork()) == 0)
		_exit(worker_side(tm, go[0]));
	cr_assert_eq(krx_topicmap_put(tm, 1, ID1, "later", 5), 1);
	cr_assert_eq(write(go[1], "g", 1), 1);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "worker check %d",
	    WEXITSTATUS(st));
	cr_assert(unknown(tm, 0, ID2), "the worker wrote the shared map");
	close(go[0]);
	close(go[1]);
	krx_topicmap_free(tm);
}

Test(topicmap, message)
{
	uint8_t		 msg[KRX_TOPICMAP_MSG_MAX + 1];
	const uint8_t	*id;
	const char	*name;
	size_t		 n, vc, len;

	n = krx_topicmap_msg_encode(msg, 3, ID1, "orders", 6);
	cr_assert_eq(n, 22 + 6);
	cr_assert_eq(krx_topicmap_msg_decode(msg, n, &vc, &id, &name, &len),
	    KRX_OK);
	cr_assert_eq(vc, 3);
	cr_assert_eq(memcmp(id, ID1, 16), 0);
	cr_assert_eq(len, 6);
	cr_assert_eq(memcmp(name, "orders", 6), 0);
	cr_assert_eq(krx_topicmap_msg_decode(msg, n - 1, &vc, &id, &name,
	    &len), KRX_E_TRAILING);
	cr_assert_eq(krx_topicmap_msg_decode(msg, 21, &vc, &id, &name, &len),
	    KRX_E_TRUNCATED);
	msg[20] = 0x01;
	cr_assert_eq(krx_topicmap_msg_decode(msg, n, &vc, &id, &name, &len),
	    KRX_E_TOO_BIG);
	cr_assert(krx_topicmap_valid(ID1, "a.b_c-D9", 8));
	cr_assert_not(krx_topicmap_valid(ID1, "a/b", 3));
}

/* One cluster's broker naming topics without end cannot fill the map. */
Test(topicmap, quota_per_virtual_cluster)
{
	struct krx_topicmap	*tm = krx_topicmap_create(2);
	uint8_t			 id[16];
	uint32_t		 i, quota = KRX_TOPICMAP_SLOTS / 4 * 3 / 2;

	cr_assert_eq(krx_topicmap_put(tm, 2, ID1, "t", 1), KRX_E_RANGE);
	memset(id, 0x5a, sizeof(id));
	for (i = 0; i < quota; i++) {
		memcpy(id, &i, sizeof(i));
		memcpy(id + 4, &i, sizeof(i));
		cr_assert_eq(krx_topicmap_put(tm, 1, id, "flood", 5), 1,
		    "topic %u", i);
	}
	memcpy(id, &i, sizeof(i));
	memcpy(id + 4, &i, sizeof(i));
	cr_assert_eq(krx_topicmap_put(tm, 1, id, "flood", 5), KRX_E_RANGE);
	/* A known id may still be renamed; the other cluster is not full. */
	i = 0;
	memcpy(id, &i, sizeof(i));
	memcpy(id + 4, &i, sizeof(i));
	cr_assert_eq(krx_topicmap_put(tm, 1, id, "renamed", 7), 1);
	cr_assert_eq(krx_topicmap_put(tm, 0, ID1, "secret", 6), 1);
	cr_assert(name_is(tm, 0, ID1, "secret"));
	krx_topicmap_free(tm);
}
