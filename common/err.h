/*
 * err.h: the error codes of krx's library-grade code.
 *
 * Library functions return 0 (or a positive count) on success and a
 * negative enum krx_err on failure; krx_strerror() names one.
 */
#ifndef KRX_COMMON_ERR_H
#define KRX_COMMON_ERR_H

enum krx_err {
	KRX_OK = 0,
	KRX_E_TRUNCATED = -1,	/* input ends before the field does */
	KRX_E_TOO_BIG = -2,	/* a length over its limit */
	KRX_E_NOMEM = -3,	/* allocation failed */
	KRX_E_MALFORMED = -4,	/* bytes that do not follow the format */
	KRX_E_UNSUPPORTED = -5,	/* a version or api key krx cannot handle */
	KRX_E_TRAILING = -6,	/* bytes left after a complete decode */
	KRX_E_RANGE = -7,	/* a value out of its allowed range */
	KRX_E_VERSION = -8,	/* peer speaks another protocol version */
	KRX_E_NOTFOUND = -9,	/* a lookup found nothing */
	KRX_E_IO = -10,		/* a system call failed, see errno */
	KRX_E_CONFIG = -11,	/* configuration unusable */
	KRX_E_CRYPTO = -12,	/* a cryptographic operation failed */
	KRX_E_LAST = -13
};

/* Returns a static, lower-case description of err (never NULL). */
const char *krx_strerror(int err);

#endif
