/*
 * region.h: shared memory regions the master writes and workers only
 * read (the node and topic maps). Issue 9, finding 12: a region is a
 * sealed memfd; the master keeps the one writable mapping, made before
 * the seal, and a worker swaps its inherited writable mapping for a
 * read-only one that mprotect(2) cannot make writable again.
 */
#ifndef KRX_SHM_REGION_H
#define KRX_SHM_REGION_H

#include <stddef.h>

/*
 * A zeroed region of len bytes mapped shared and writable, sealed
 * against growing, shrinking and any later writable mapping or write.
 * Returns the mapping and its memfd (close-on-exec) in *fd, or NULL.
 */
void	*krx_region_create(const char *name, size_t len, int *fd);
/*
 * In a worker: map fd read-only, unmap the writable mapping p and
 * close fd. Returns the read-only mapping, or NULL (p is left as it
 * was).
 */
void	*krx_region_readonly(void *p, size_t len, int fd);

#endif
