/*
 * mstats.c: making and mapping the metrics regions (see mstats.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "common/shm/mstats.h"
#include "common/shm/region.h"

const uint64_t krx_m_bounds_us[KRX_M_BUCKETS] = {
	500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,
	500000, 1000000, 2500000, 5000000, 10000000
};

void
krx_mhist_observe(struct krx_mhist *h, uint64_t us)
{
	int	 i;

	for (i = 0; i < KRX_M_BUCKETS; i++)
		if (us <= krx_m_bounds_us[i]) {
			krx_m_add(&h->b[i], 1);
			break;
		}
	krx_m_add(&h->sum_us, us);
	krx_m_add(&h->count, 1);
}

uint64_t
krx_m_now_us(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* A read-only mapping of memfd fd that can never become writable. */
static void *
mshm_map_ro(int fd, size_t len)
{
	char	 path[64];
	void	*p;
	int	 ro;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if ((ro = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return NULL;
	p = mmap(NULL, len, PROT_READ, MAP_SHARED, ro, 0);
	close(ro);
	return p == MAP_FAILED ? NULL : p;
}

static int
mshm_keysvc(struct krx_mshm *m, int i)
{
	if ((m->ks_fd[i] = memfd_create("krx-kmstats", MFD_CLOEXEC)) == -1 ||
	    ftruncate(m->ks_fd[i], sizeof(struct krx_kmrow)) == -1)
		return -1;
	return (m->ks[i] = mshm_map_ro(m->ks_fd[i],
	    sizeof(struct krx_kmrow))) == NULL ? -1 : 0;
}

struct krx_mshm *
krx_mshm_create(void)
{
	struct krx_mshm	*m;
	void		*p;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	m->ks_fd[0] = m->ks_fd[1] = m->status_fd = -1;
	p = mmap(NULL, sizeof(struct krx_mrows), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		goto fail;
	m->rows = p;
	if (mshm_keysvc(m, 0) == -1 || mshm_keysvc(m, 1) == -1)
		goto fail;
	if ((m->status = krx_region_create("krx-mstatus",
	    sizeof(struct krx_mstatus), &m->status_fd)) == NULL)
		goto fail;
	return m;
fail:
	krx_mshm_free(m);
	return NULL;
}

void
krx_mshm_free(struct krx_mshm *m)
{
	int	 i;

	if (m == NULL)
		return;
	if (m->rows != NULL)
		munmap(m->rows, sizeof(struct krx_mrows));
	for (i = 0; i < 2; i++) {
		if (m->ks[i] != NULL)
			munmap(m->ks[i], sizeof(struct krx_kmrow));
		if (m->ks_fd[i] != -1)
			close(m->ks_fd[i]);
	}
	if (m->status != NULL)
		munmap(m->status, sizeof(struct krx_mstatus));
	if (m->status_fd != -1)
		close(m->status_fd);
	free(m);
}

int
krx_mshm_child(struct krx_mshm *m)
{
	void	*ro;
	int	 i;

	for (i = 0; i < 2; i++)
		if (m->ks_fd[i] != -1) {
			close(m->ks_fd[i]);
			m->ks_fd[i] = -1;
		}
	if (m->status_fd == -1)
		return 0;
	ro = krx_region_readonly(m->status, sizeof(struct krx_mstatus),
	    m->status_fd);
	if (ro == NULL)
		return -1;
	m->status = ro;
	m->status_fd = -1;
	return 0;
}

struct krx_kmrow *
krx_kmrow_map(int fd)
{
	void	*p;

	p = mmap(NULL, sizeof(struct krx_kmrow), PROT_READ | PROT_WRITE,
	    MAP_SHARED, fd, 0);
	return p == MAP_FAILED ? NULL : p;
}
