/*
 * spawn_test.c: which child exits count toward the master's crash loop
 * (master/master.h krx_spawn_exit_is_crash). Issue 9, finding 2: a
 * SIGKILL (the master's own kill of a worker keysvc reported, or the OOM
 * killer's) must not, or one bad record takes the whole proxy down.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "master/master.h"

/* A real wait status: fork a child that dies as told. */
static int
status_of(int sig, int code)
{
	pid_t	 pid;
	int	 status;

	pid = fork();
	cr_assert(pid != -1);
	if (pid == 0) {
		if (sig != 0) {
			signal(sig, SIG_DFL);
			raise(sig);
		}
		_exit(code);
	}
	cr_assert(waitpid(pid, &status, 0) == pid);
	return status;
}

Test(spawn, sigkill_is_not_a_crash)
{
	int	 st = status_of(SIGKILL, 0);

	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	cr_assert_not(krx_spawn_exit_is_crash(st));
}

Test(spawn, other_deaths_are_crashes)
{
	cr_assert(krx_spawn_exit_is_crash(status_of(SIGSEGV, 0)));
	cr_assert(krx_spawn_exit_is_crash(status_of(SIGABRT, 0)));
	cr_assert(krx_spawn_exit_is_crash(status_of(SIGTERM, 0)));
	cr_assert(krx_spawn_exit_is_crash(status_of(0, KRX_EXIT_SOFTWARE)));
	cr_assert(krx_spawn_exit_is_crash(status_of(0, 1)));
}
