/*
 * ctl_json_test.c: krx-ctl's JSON output helpers (ctl/json.c, built
 * into this test): strings escaped as RFC 8259 asks (quotes,
 * backslashes, control bytes), "name value" counter lines as one object
 * with numbers as numbers and anything else as a string, and failures
 * as {"error": ...} with -j or "krx-ctl: ..." on stderr without,
 * returning the exit code given.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "ctl/json.c"

/* What f prints on stdout, NUL-terminated (caller frees). */
static char *
capture(void (*f)(void *), void *arg)
{
	FILE	*saved = stdout, *mem;
	char	*text = NULL;
	size_t	 len = 0;

	mem = open_memstream(&text, &len);
	cr_assert_not_null(mem);
	stdout = mem;
	f(arg);
	fclose(mem);
	stdout = saved;
	return text;
}

static void
str_escaped(void *arg)
{
	ctl_json_str(stdout, "a\"b\\c\n\t\x01\x7f" "d", 10);
}

Test(ctl_json, string_escapes)
{
	char	*t = capture(str_escaped, NULL);

	cr_assert_str_eq(t, "\"a\\\"b\\\\c\\n\\t\\u0001\\u007fd\"");
	free(t);
}

static void
counters(void *arg)
{
	const char	*s = arg;

	ctl_json_counters(s, strlen(s));
}

Test(ctl_json, counters_object)
{
	char	*t = capture(counters, "keysvc.decrypt_edeks 12\n"
	    "workers.x 0\n\nstate ok now\nlonely\n");

	cr_assert_str_eq(t, "{\n  \"keysvc.decrypt_edeks\": 12,\n"
	    "  \"workers.x\": 0,\n  \"state\": \"ok now\",\n"
	    "  \"lonely\": null\n}\n");
	free(t);
	t = capture(counters, "");
	cr_assert_str_eq(t, "{\n}\n");
	free(t);
}

static void
fail_json(void *arg)
{
	ctl_json = 1;
	cr_assert_eq(ctl_fail(4, "permission denied: '%s'\n", "reload"), 4);
	ctl_json = 0;
}

Test(ctl_json, failure_as_json)
{
	char	*t = capture(fail_json, NULL);

	cr_assert_str_eq(t, "{\"error\":\"permission denied: 'reload'\"}\n");
	free(t);
}

static void
fail_text(void *arg)
{
	cr_assert_eq(ctl_fail(6, "krxd is not running"), 6);
}

Test(ctl_json, failure_as_text_prints_nothing_on_stdout)
{
	char	*t = capture(fail_text, NULL);

	cr_assert_str_eq(t, "");
	free(t);
}
