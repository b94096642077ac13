/*
 * status_page.c: the status page's bytes. worker/status.html becomes
 * $(BUILD)/gen/status_html.h (an unsigned char array, NUL-terminated) by a
 * GNUmakefile rule, so the page ships inside krxd and needs no file at
 * run time. Runs in the workers; the content is ours, built in.
 */
#include <stddef.h>

#include "worker/status_page.h"

#include "status_html.h"	/* krx_status_html[], generated */

const char *
krx_status_page(size_t *len)
{
	*len = sizeof(krx_status_html) - 1;
	return (const char *)krx_status_html;
}
