/*
 * kafka_testutil.h: helpers shared by unit test suites (kafka_*, record,
 * recenc): loading frames captured from a real broker (tests/data, or the
 * directory in $KRX_TEST_DATA) and splitting off their headers.
 */
#ifndef KRX_TESTS_KAFKA_TESTUTIL_H
#define KRX_TESTS_KAFKA_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>

#include <criterion/criterion.h>

#include "common/err.h"
#include "proto/kafka.h"

struct kt_frame {
	uint8_t	*data;
	size_t	 len;
};

/* Read tests/data/<name> whole; fails the test if it cannot. */
static inline struct kt_frame
kt_load(const char *name)
{
	struct kt_frame	 f = { NULL, 0 };
	const char	*dir = getenv("KRX_TEST_DATA");
	char		 path[1024];
	FILE		*fp;
	long		 n;

	if (dir == NULL || *dir == '\0')
		dir = "tests/data";
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "rb");
	cr_assert_not_null(fp, "cannot open %s", path);
	cr_assert_eq(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	cr_assert_gt(n, 0, "%s is empty", path);
	rewind(fp);
	f.data = malloc((size_t)n);
	cr_assert_not_null(f.data);
	cr_assert_eq(fread(f.data, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	f.len = (size_t)n;
	return f;
}

/* Offset of the body in a captured response frame. */
static inline size_t
kt_resp_body(const struct kt_frame *f, int16_t api_key, int16_t version)
{
	size_t	 hlen;

	cr_assert_eq(krx_kafka_resp_hdr_len(f->data, f->len, api_key,
	    version, &hlen), KRX_OK);
	return hlen;
}

#endif
