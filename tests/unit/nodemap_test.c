/*
 * nodemap_test.c: the node address map (common/shm/nodemap.c and
 * region.c, built into this test): issue 9, finding 12. Only the master
 * writes the shared region; a worker's mapping is read-only and
 * cannot be made writable, and what it learns stays in its own overlay.
 * Waits on an entry left odd are bounded; out-of-range ports never
 * enter the map; the worker -> master message is checked.
 */
#include <errno.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "common/shm/nodemap.c"
#include "common/shm/region.c"

static struct krx_conf_vcluster	 vcs[2];
static struct krx_conf		 conf;

static struct krx_nodemap *
make_map(void)
{
	vcs[0].max_node_id = 2;
	vcs[1].max_node_id = 3;
	conf.vclusters = vcs;
	conf.n_vclusters = 2;
	return krx_nodemap_create(&conf);
}

static double
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

Test(nodemap, set_get)
{
	struct krx_nodemap	*nm = make_map();
	char			 host[KRX_NODEMAP_HOST_MAX + 1];
	int32_t			 port;

	cr_assert_eq(krx_nodemap_get(nm, 0, 1, host, &port), KRX_E_NOTFOUND);
	cr_assert_eq(krx_nodemap_set(nm, 0, 1, "b-1", 3, 9092), 1);
	cr_assert_eq(krx_nodemap_set(nm, 0, 1, "b-1", 3, 9092), 0);
	cr_assert_eq(krx_nodemap_get(nm, 0, 1, host, &port), KRX_OK);
	cr_assert_str_eq(host, "b-1");
	cr_assert_eq(port, 9092);
	/* The other cluster's node 1 is another entry. */
	cr_assert_eq(krx_nodemap_get(nm, 1, 1, host, &port), KRX_E_NOTFOUND);
	cr_assert_eq(krx_nodemap_set(nm, 0, 3, "b", 1, 1), KRX_E_RANGE);
	cr_assert_eq(krx_nodemap_set(nm, 2, 0, "b", 1, 1), KRX_E_RANGE);
	krx_nodemap_free(nm);
}

Test(nodemap, ports_out_of_range_refused)
{
	struct krx_nodemap	*nm = make_map();
	char			 host[KRX_NODEMAP_HOST_MAX + 1];
	int32_t			 port;

	cr_assert_eq(krx_nodemap_set(nm, 0, 0, "b", 1, 0), KRX_E_RANGE);
	cr_assert_eq(krx_nodemap_set(nm, 0, 0, "b", 1, -1), KRX_E_RANGE);
	cr_assert_eq(krx_nodemap_set(nm, 0, 0, "b", 1, 70000), KRX_E_RANGE);
	cr_assert_eq(krx_nodemap_set(nm, 0, 0, "b", 1, 65535), 1);
	cr_assert_eq(krx_nodemap_get(nm, 0, 0, host, &port), KRX_OK);
	/* Whatever the region holds is checked on the way out. */
	nm->entries[0].port = 70000;
	cr_assert_eq(krx_nodemap_get(nm, 0, 0, host, &port), KRX_E_NOTFOUND);
	nm->entries[0].host_len = 4000;
	nm->entries[0].port = 9092;
	cr_assert_eq(krx_nodemap_get(nm, 0, 0, host, &port), KRX_E_NOTFOUND);
	krx_nodemap_free(nm);
}

/* An entry left odd costs a bounded wait and a miss, not a spin. */
Test(nodemap, odd_entry_bounded)
{
	struct krx_nodemap	*nm = make_map();
	char			 host[KRX_NODEMAP_HOST_MAX + 1];
	int32_t			 port;
	double			 t0;

	cr_assert_eq(krx_nodemap_set(nm, 1, 2, "b-2", 3, 9093), 1);
	atomic_store(&nm->entries[nm->first[1] + 2].seq, 7);
	t0 = now();
	cr_assert_eq(krx_nodemap_get(nm, 1, 2, host, &port), KRX_E_NOTFOUND);
	cr_assert_lt(now() - t0, 2.0, "waited %.3f s", now() - t0);
	cr_assert_eq(krx_nodemap_set(nm, 1, 1, "b-1", 3, 9092), 1);
	/* The master's next write makes it even again. */
	cr_assert_eq(krx_nodemap_set(nm, 1, 2, "b-3", 3, 9094), 1);
	cr_assert_eq(krx_nodemap_get(nm, 1, 2, host, &port), KRX_OK);
	cr_assert_str_eq(host, "b-3");
	krx_nodemap_free(nm);
}

/* In a forked "worker": returns 0 when every check holds. */
static int
worker_side(struct krx_nodemap *nm, int go)
{
	char	 host[KRX_NODEMAP_HOST_MAX + 1], c;
	int32_t	 port;

	krx_nodemap_readonly(nm);
	if (mprotect(nm->entries, nm->map_len, PROT_READ | PROT_WRITE) !=
	    -1 || errno != EACCES)
		return 1;
	if (krx_nodemap_get(nm, 0, 1, host, &port) != KRX_OK ||
	    strcmp(host, "b-1") != 0)
		return 2;
	/* What the worker learns stays its own. */
	if (krx_nodemap_set(nm, 0, 2, "w-2", 3, 9099) != 1 ||
	    krx_nodemap_get(nm, 0, 2, host, &port) != KRX_OK ||
	    strcmp(host, "w-2") != 0 || port != 9099)
		return 3;
	if (atomic_load(&nm->entries[2].seq) != 0)
		return 4;
	/* The master's later writes show through. */
	if (read(go, &c, 1) != 1)
		return 5;
	if (krx_nodemap_get(nm, 1, 0, host, &port) != KRX_OK ||
	    strcmp(host, "m-0") != 0)
		return 6;
	return 0;
}

Test(nodemap, worker_mapping_read_only)
{
	struct krx_nodemap	*nm = make_map();
	char			 host[KRX_NODEMAP_HOST_MAX + 1];
	int32_t			 port;
	pid_t			 pid;
	int			 go[2], st;

	cr_assert_eq(krx_nodemap_set(nm, 0, 1, "b-1", 3, 9092), 1);
	cr_assert_eq(pipe(go), 0);
	if ((pid = fork()) == 0)
		_exit(worker_side(nm, go[0]));
	cr_assert_eq(krx_nodemap_set(nm, 1, 0, "m-0", 3, 9000), 1);
	cr_assert_eq(write(go[1], "g", 1), 1);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "worker check %d",
	    WEXITSTATUS(st));
	cr_assert_eq(krx_nodemap_get(nm, 0, 2, host, &port), KRX_E_NOTFOUND);
	close(go[0]);
	close(go[1]);
	krx_nodemap_free(nm);
}

Test(nodemap, sealed_region)
{
	struct krx_nodemap	*nm = make_map();
	void			*p;

	/* No second writable mapping, not even the master's. */
	p = mmap(NULL, nm->map_len, PROT_READ | PROT_WRITE, MAP_SHARED,
	    nm->fd, 0);
	cr_assert_eq(p, MAP_FAILED);
	cr_assert_eq(write(nm->fd, "x", 1), -1);
	krx_nodemap_free(nm);
}

Test(nodemap, message)
{
	uint8_t		 msg[KRX_NODEMAP_MSG_MAX + 1];
	const char	*host;
	size_t		 n, vc, hlen;
	int32_t		 node, port;
	char		 big[300];

	n = krx_nodemap_msg_encode(msg, 1, 2, "b-2.example", 11, 9093);
	cr_assert_eq(n, 14 + 11);
	cr_assert_eq(krx_nodemap_msg_decode(msg, n, &vc, &node, &host, &hlen,
	    &port), KRX_OK);
	cr_assert_eq(vc, 1);
	cr_assert_eq(node, 2);
	cr_assert_eq(port, 9093);
	cr_assert_eq(hlen, 11);
	cr_assert_eq(memcmp(host, "b-2.example", 11), 0);
	cr_assert_eq(krx_nodemap_msg_decode(msg, n - 1, &vc, &node, &host,
	    &hlen, &port), KRX_E_TRAILING);
	cr_assert_eq(krx_nodemap_msg_decode(msg, 13, &vc, &node, &host,
	    &hlen, &port), KRX_E_TRUNCATED);
	msg[n] = 0;
	cr_assert_eq(krx_nodemap_msg_decode(msg, n + 1, &vc, &node, &host,
	    &hlen, &port), KRX_E_TRAILING);
	msg[12] = 0x01;		/* 256 + 11 */
	cr_assert_eq(krx_nodemap_msg_decode(msg, n, &vc, &node, &host,
	    &hlen, &port), KRX_E_TOO_BIG);
	memset(big, 'a', sizeof(big));
	cr_assert_eq(krx_nodemap_msg_encode(msg, 0, 0, big, 256, 1), 0);
}
