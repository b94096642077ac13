/*
 * privdrop.c: drop privileges in a new worker or keysvc (see
 * privdrop.h). Library grade; runs in the child, trusts its caller's
 * user name (from the configuration the master checked).
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/err.h"
#include "common/privdrop.h"

static int
privdrop_fail(const char **step, const char *what)
{
	if (step != NULL)
		*step = what;
	return KRX_E_IO;
}

/* Become pw: groups first, while still allowed to change them. */
static int
privdrop_become(const struct passwd *pw, const char **step)
{
	if (setgroups(1, &pw->pw_gid) == -1)
		return privdrop_fail(step, "setgroups");
	if (setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == -1)
		return privdrop_fail(step, "setresgid");
	if (setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1)
		return privdrop_fail(step, "setresuid");
	return KRX_OK;
}

int
krx_privdrop(const char *user, const char **step)
{
	struct passwd	*pw;
	int		 r;

	if (user != NULL && geteuid() == 0) {
		errno = 0;
		if ((pw = getpwnam(user)) == NULL) {
			if (step != NULL)
				*step = "getpwnam";
			return errno != 0 ? KRX_E_IO : KRX_E_NOTFOUND;
		}
		if ((r = privdrop_become(pw, step)) != KRX_OK)
			return r;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		return privdrop_fail(step, "prctl no_new_privs");
	return KRX_OK;
}

int
krx_privdrop_undumpable(const char **step)
{
	struct rlimit	 rl = { 0, 0 };

	if (setrlimit(RLIMIT_CORE, &rl) == -1)
		return privdrop_fail(step, "setrlimit core");
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		return privdrop_fail(step, "prctl dumpable");
	return KRX_OK;
}
