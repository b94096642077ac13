/*
 * status_page_test.c: the embedded status page is worker/status.html,
 * byte for byte, NUL-terminated, and names no other origin.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "worker/status_page.c"

Test(status_page, is_the_html_file)
{
	const char	*page;
	char		*file;
	size_t		 len, n;
	long		 size;
	FILE		*f;

	page = krx_status_page(&len);
	cr_assert_not_null(page);
	cr_assert_eq(page[len], '\0');
	cr_assert_eq(strlen(page), len, "the page holds a NUL byte");
	cr_assert(strncmp(page, "<!DOCTYPE html>", 15) == 0);
	f = fopen("worker/status.html", "rb");
	cr_assert_not_null(f, "run from the top of the tree");
	cr_assert_eq(fseek(f, 0, SEEK_END), 0);
	size = ftell(f);
	rewind(f);
	cr_assert_eq((size_t)size, len);
	file = malloc(len);
	cr_assert_not_null(file);
	n = fread(file, 1, len, f);
	fclose(f);
	cr_assert_eq(n, len);
	cr_assert(memcmp(file, page, len) == 0);
	free(file);
}

Test(status_page, no_other_origin)
{
	const char	*page;
	size_t		 len;

	page = krx_status_page(&len);
	cr_assert_null(strstr(page, "http://"));
	cr_assert_null(strstr(page, "https://"));
	cr_assert_null(strstr(page, "src=\"//"));
	cr_assert_null(strstr(page, "href=\"//"));
	cr_assert_not_null(strstr(page, "fetch(\"/metrics\""));
	cr_assert_not_null(strstr(page, "connect-src 'self'"));
}
