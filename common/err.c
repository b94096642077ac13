/*
 * err.c: names for enum krx_err. Library grade.
 */
#include "common/err.h"

static const char *const err_names[] = {
	"success",
	"truncated input",
	"length over limit",
	"out of memory",
	"malformed input",
	"unsupported version or api",
	"trailing bytes after message",
	"value out of range",
	"protocol version mismatch",
	"not found",
	"system call failed",
	"configuration unusable",
	"cryptographic operation failed",
};

const char *
krx_strerror(int err)
{
	int i = -err;

	if (err > 0 || i >= -KRX_E_LAST)
		return "unknown error";
	return err_names[i];
}
