/*
 * nodemap_test.c: the shared node address map (worker/nodemap.c, built
 * into this test): issue 9, finding 12. Waits on a locked entry are
 * bounded, the master's repair after a dead writer frees the entry, and
 * out-of-range ports never enter the map.
 */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "worker/nodemap.c"

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
	/* A port a writer put in the region by hand is not used either. */
	nm->entries[0].port = 70000;
	cr_assert_eq(krx_nodemap_get(nm, 0, 0, host, &port), KRX_E_NOTFOUND);
	nm->entries[0].host_len = 4000;
	nm->entries[0].port = 9092;
	cr_assert_eq(krx_nodemap_get(nm, 0, 0, host, &port), KRX_E_NOTFOUND);
	krx_nodemap_free(nm);
}

/*
 * A writer SIGKILLed between taking the entry and releasing it: readers
 * and writers give up after a bounded wait instead of spinning, and the
 * master's repair forgets the half-written address and frees the entry.
 */
Test(nodemap, dead_writer_bounded_and_repaired)
{
	struct krx_nodemap	*nm = make_map();
	struct nodemap_entry	*e;
	char			 host[KRX_NODEMAP_HOST_MAX + 1];
	int32_t			 port;
	pid_t			 pid;
	double			 t0;
	int			 st;

	cr_assert_eq(krx_nodemap_set(nm, 1, 2, "b-2", 3, 9093), 1);
	e = nodemap_entry(nm, 1, 2);
	if ((pid = fork()) == 0) {
		/* krx_nodemap_set's first steps, then death. */
		atomic_store(&e->owner, (int32_t)getpid());
		atomic_store(&e->seq, atomic_load(&e->seq) | 1);
		memcpy(e->host, "evil", 4);
		raise(SIGKILL);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFSIGNALED(st));

	t0 = now();
	cr_assert_eq(krx_nodemap_get(nm, 1, 2, host, &port), KRX_E_NOTFOUND);
	cr_assert_eq(krx_nodemap_set(nm, 1, 2, "b-3", 3, 9094),
	    KRX_E_NOTFOUND);
	cr_assert_lt(now() - t0, 2.0, "waited %.3f s", now() - t0);
	/* Other entries are not affected. */
	cr_assert_eq(krx_nodemap_set(nm, 1, 1, "b-1", 3, 9092), 1);

	cr_assert_eq(krx_nodemap_repair(nm, 12345), 0);
	cr_assert_eq(krx_nodemap_repair(nm, pid), 1);
	cr_assert_eq(atomic_load(&e->seq) & 1, 0);
	cr_assert_eq(krx_nodemap_get(nm, 1, 2, host, &port), KRX_E_NOTFOUND,
	    "a half-written address survived the repair");
	cr_assert_eq(krx_nodemap_set(nm, 1, 2, "b-3", 3, 9094), 1);
	cr_assert_eq(krx_nodemap_get(nm, 1, 2, host, &port), KRX_OK);
	cr_assert_str_eq(host, "b-3");
	krx_nodemap_free(nm);
}

/* Killed after the write but before releasing the owner word. */
Test(nodemap, dead_owner_after_write_repaired)
{
	struct krx_nodemap	*nm = make_map();
	struct nodemap_entry	*e;
	char			 host[KRX_NODEMAP_HOST_MAX + 1];
	int32_t			 port;

	cr_assert_eq(krx_nodemap_set(nm, 0, 2, "b-2", 3, 9093), 1);
	e = nodemap_entry(nm, 0, 2);
	atomic_store(&e->owner, 4242);
	cr_assert_eq(krx_nodemap_get(nm, 0, 2, host, &port), KRX_OK);
	cr_assert_eq(krx_nodemap_set(nm, 0, 2, "b-9", 3, 9099),
	    KRX_E_NOTFOUND);
	cr_assert_eq(krx_nodemap_repair(nm, 4242), 1);
	cr_assert_eq(krx_nodemap_get(nm, 0, 2, host, &port), KRX_OK);
	cr_assert_str_eq(host, "b-2");
	cr_assert_eq(krx_nodemap_set(nm, 0, 2, "b-9", 3, 9099), 1);
	krx_nodemap_free(nm);
}
