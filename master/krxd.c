/*
 * krxd.c: main of krxd. Parses arguments, loads the configuration
 * (`-t` only checks it), opens the listeners and the pid file, then runs
 * the master loop that forks the workers.
 *
 *   krxd [-g] [-c FILE]      run (in the foreground with -g)
 *   krxd -t [-c FILE]        check FILE, print FILE:LINE: errors
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/proctitle.h"
#include "common/shm/mstats.h"
#include "common/shm/stats.h"
#include "conf/conf.h"
#include "keysvc/keysvc.h"
#include "master/master.h"
#include "master/mstatus.h"

#ifndef KRX_VERSION		/* -D from GNUmakefile's VERSION */
#define KRX_VERSION	"0.1.0"
#endif

static void
usage(void)
{
	fprintf(stderr, "usage: krxd [-gtV] [-c config]\n");
	exit(2);
}

/* Every problem, as FILE:LINE: text, then the verdict (exit 78). */
static void __attribute__((noreturn))
krxd_config_errors(const char *path, struct krx_conf_errors *errs)
{
	size_t	 i;

	for (i = 0; i < errs->n; i++)
		fprintf(stderr, "%s\n", errs->msg[i]);
	if (errs->dropped > 0)
		fprintf(stderr, "%s: %zu more errors not shown\n", path,
		    errs->dropped);
	fprintf(stderr, "krxd: configuration %s is not valid\n", path);
	krx_conf_errors_free(errs);
	exit(KRX_EXIT_CONFIG);
}

/*
 * krxd -t: the TLS files of every virtual cluster read and checked (a
 * start reads them once, for its first generation); 0 or -1.
 */
static int
krxd_check_tls(struct krx_conf *conf, struct krx_conf_errors *errs)
{
	struct krx_cycle	 cy;
	int			 r;

	memset(&cy, 0, sizeof(cy));
	cy.conf = conf;
	r = krx_cycle_tls_open(&cy, errs);
	krx_cycle_tls_close(&cy);
	if (r != 0)
		krx_conf_free(conf);
	return r;
}

static struct krx_conf *
krxd_load(const char *path, int test_only)
{
	struct krx_conf_errors	 errs;
	struct krx_conf		*conf;

	memset(&errs, 0, sizeof(errs));
	if (krx_confload(path, &conf, &errs) != 0 ||
	    (test_only && krxd_check_tls(conf, &errs) != 0))
		krxd_config_errors(path, &errs);
	krx_conf_errors_free(&errs);
	if (test_only) {
		krx_conf_keystore_report(conf, stderr);
		printf("krxd: configuration %s is valid\n", path);
		krx_conf_free(conf);
		exit(0);
	}
	return conf;
}

/*
 * Issue 9, finding 14: the pid file is opened without following a
 * symlink (nor blocking on a FIFO), must be a regular file with one link
 * (no hard link to another file), and is locked for the master's
 * lifetime, so that a second krxd with the same pid file refuses to
 * start; it is truncated only once locked. Called before the listeners
 * are opened; the pid is written after daemon(3) (the lock belongs to
 * the open file, which daemon's fork keeps).
 */
static int
krxd_pidfile_lock(const char *path)
{
	struct stat	 st;
	char		 buf[32];
	ssize_t		 n;
	int		 fd;

	if ((fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC, 0644)) == -1) {
		if (errno == ELOOP)
			fatalx("pid file %s is a symbolic link: refusing to "
			    "use it", path);
		fatal("cannot open pid file %s", path);
	}
	if (fstat(fd, &st) == -1)
		fatal("pid file %s", path);
	if (!S_ISREG(st.st_mode) || st.st_nlink != 1)
		fatalx("pid file %s is not a plain file with one link: "
		    "refusing to use it", path);
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno != EWOULDBLOCK)
			fatal("cannot lock pid file %s", path);
		n = pread(fd, buf, sizeof(buf) - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		fatalx("pid file %s is locked by a running krxd (pid %s)",
		    path, buf[0] != '\0' ? buf : "?");
	}
	return fd;
}

static void
krxd_pidfile_write(int fd, const char *path)
{
	char	 buf[32];
	int	 n;

	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) == -1 || pwrite(fd, buf, n, 0) != n)
		fatal("cannot write pid file %s", path);
}

/*
 * Absolute config path (keysvc is exec'd after daemon's chdir, and a
 * reload reads it again), the counters region and the first generation
 * with its listeners; fatal on failure (before READY).
 */
static void
krxd_setup(struct krx_master *m, struct krx_conf *conf)
{
	struct krx_conf_errors	 errs;
	char			*abs;

	if ((abs = realpath(conf->path, NULL)) == NULL)
		fatal("realpath %s", conf->path);
	free(conf->path);
	conf->path = abs;
	if ((m->stats = krx_stats_create()) == NULL)
		fatal("mmap stats");
	m->cur = &m->gens[0];
	m->cur->master = m;
	m->cur->state = KRX_GEN_SERVING;
	m->cur->n_workers = krx_confload_workers(conf);
	m->last_gen = 1;
	krx_mstatus_init(m, KRX_VERSION);
	if ((m->cy = krx_cycle_new(conf, 1, 0, m->stats)) == NULL)
		fatalx("cannot make the first generation");
	m->cy->mshm = m->mshm;
	m->cur->cy = m->cy;
	memset(&errs, 0, sizeof(errs));
	if (krx_cycle_tls_open(m->cy, &errs) == -1)
		krxd_config_errors(conf->path, &errs);
	if (krx_sockets_open(m->cy, NULL, &errs) == -1)
		fatalx("%s", errs.n > 0 ? errs.msg[0] : "cannot listen");
}

static void
krxd_daemonize(void)
{
	int	 fd;

	if (daemon(0, 1) == -1)
		fatal("daemon");
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
}

int
main(int argc, char *argv[])
{
	static struct krx_master	 m;
	struct krx_conf			*conf;
	struct krx_gen			*other;
	const char			*path = KRX_CONF_DEFAULT_PATH;
	int				 ch, test_only = 0, keysvc = 0, status;

	/* Before getopt: optarg must point into the copy of argv. */
	krx_proctitle_init(argc, argv);
	while ((ch = getopt(argc, argv, "c:gtKVh")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'g':
			m.foreground = 1;
			break;
		case 't':
			test_only = 1;
			break;
		case 'K':
			keysvc = 1;	/* internal: exec'd by the master */
			break;
		case 'V':
			printf("krxd %s\n", KRX_VERSION);
			return 0;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (keysvc) {
		krx_proctitle_set("keysvc");
		/* exec'd through /proc/self/exe: named "exe" otherwise */
		prctl(PR_SET_NAME, "krxd", 0, 0, 0);
		krx_keysvc_main(path, m.foreground);
	}
	krx_proctitle_set("master");
	log_procname("master");
	log_init(1, KRX_LOG_INFO);
	log_fatal_status(KRX_EXIT_SOFTWARE);
	conf = krxd_load(path, test_only);
	log_setlevel(conf->log_level);
	m.started = time(NULL);
	m.pid_fd = krxd_pidfile_lock(conf->pid_file);
	krxd_setup(&m, conf);
	if (!m.foreground) {
		krxd_daemonize();
		log_init(0, m.cy->conf->log_level);
	}
	krxd_pidfile_write(m.pid_fd, m.cy->conf->pid_file);
	if (krx_confload_encrypts(m.cy->conf))
		krx_keysvc_prepare(&m);
	log_info("krxd %s starting with %d workers", KRX_VERSION,
	    m.cur->n_workers);
	status = krx_master_run(&m);
	unlink(m.cy->conf->pid_file);
	close(m.pid_fd);
	if ((other = krx_reload_other(&m)) != NULL)
		krx_cycle_free(other->cy, m.cy);
	krx_cycle_free(m.cy, NULL);
	krx_stats_free(m.stats);
	krx_mshm_free(m.mshm);
	return status;
}
