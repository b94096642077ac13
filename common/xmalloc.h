/*
 * xmalloc.h: allocators that never return NULL (program grade only:
 * they call fatal on failure).
 */
#ifndef KRX_COMMON_XMALLOC_H
#define KRX_COMMON_XMALLOC_H

#include <stddef.h>

void	*xmalloc(size_t n);
void	*xcalloc(size_t nmemb, size_t size);
void	*xreallocarray(void *p, size_t nmemb, size_t size);
char	*xstrdup(const char *s);

#endif
