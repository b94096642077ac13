/*
 * fuzz_common.h: what several libFuzzer harnesses share: the fixed
 * LocalKms keystore of fuzz_edek and fuzz_keysvc (mkcorpus.py writes
 * the same), the check that aborts, and the removal of a scratch
 * directory. Included by one harness file each (static, no linking).
 */
#ifndef KRX_TESTS_FUZZ_COMMON_H
#define KRX_TESTS_FUZZ_COMMON_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static const char fz_keystore_text[] __attribute__((unused)) =
    "krx-keystore 1\n"
    "kek KEK-a 1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8= 1700000000\n"
    "kek KEK-a 2 ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8= 1700000100\n"
    "kek KEK-orders 1 ERERERERERERERERERERERERERERERERERERERERERE= "
    "1700000200\n";

static inline void
fz_check(int ok)
{
	if (!ok)
		abort();
}

static inline int
fz_remove(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	remove(path);
	return 0;
}

/* dir and all in it. */
static inline void
fz_rmtree(const char *dir)
{
	nftw(dir, fz_remove, 8, FTW_DEPTH | FTW_PHYS);
}

#endif
