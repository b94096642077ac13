/*
 * region.c: sealed shared regions (see region.h). Used by the master
 * before it forks (create) and by each worker as it starts (readonly).
 */
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/shm/region.h"

void *
krx_region_create(const char *name, size_t len, int *fd)
{
	void	*p = MAP_FAILED;
	int	 f;

	*fd = -1;
	if ((f = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING)) == -1)
		return NULL;
	if (ftruncate(f, (off_t)len) == -1 || (p = mmap(NULL, len,
	    PROT_READ | PROT_WRITE, MAP_SHARED, f, 0)) == MAP_FAILED)
		goto fail;
	if (fcntl(f, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
	    F_SEAL_FUTURE_WRITE | F_SEAL_SEAL) == -1)
		goto fail;
	*fd = f;
	return p;
fail:
	if (p != MAP_FAILED)
		munmap(p, len);
	close(f);
	return NULL;
}

void *
krx_region_readonly(void *p, size_t len, int fd)
{
	void	*ro;

	if ((ro = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0)) ==
	    MAP_FAILED)
		return NULL;
	munmap(p, len);
	close(fd);
	return ro;
}
