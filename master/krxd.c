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
#include "conf/conf.h"
#include "keysvc/keysvc.h"
#include "keysvc/kms.h"
#include "master/master.h"

#define KRX_VERSION	"0.1.0"

static void
usage(void)
{
	fprintf(stderr, "usage: krxd [-gtV] [-c config]\n");
	exit(2);
}

/*
 * Issue 9, finding 14: as root, workers and keysvc must not silently
 * stay root. `krxd -t` and start-up refuse such a configuration.
 */
static int
krxd_check_root(const struct krx_conf *conf)
{
	struct krx_conf_errors	 errs;
	size_t			 i;

	memset(&errs, 0, sizeof(errs));
	krx_conf_check_root(conf, geteuid(), &errs);
	for (i = 0; i < errs.n; i++)
		fprintf(stderr, "%s\n", errs.msg[i]);
	i = errs.n;
	krx_conf_errors_free(&errs);
	return i == 0 ? 0 : -1;
}

/*
 * Every record_encryption names a provider keysvc has (krx_kms_known:
 * a configuration may name one this build lacks).
 */
static int
krxd_check_kms(const struct krx_conf *conf)
{
	const struct krx_conf_encryption	*e;
	size_t					 i;
	int					 r = 0;

	for (i = 0; i < conf->n_vclusters; i++) {
		e = &conf->vclusters[i].enc;
		if (!e->enabled || e->kms == NULL || krx_kms_known(e->kms))
			continue;
		fprintf(stderr, "%s:%d: kms \"%s\" is not available in this "
		    "version of krxd (LocalKms, VaultKmsService, AwsKmsService "
		    "and AzureKeyVaultKmsService are)\n",
		    conf->path, e->line, e->kms);
		r = -1;
	}
	return r;
}

static struct krx_conf *
krxd_load(const char *path, int test_only)
{
	struct krx_conf_errors	 errs;
	struct krx_conf		*conf;
	size_t			 i;

	memset(&errs, 0, sizeof(errs));
	if (krx_conf_load(path, &conf, &errs) != KRX_OK) {
		for (i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msg[i]);
		if (errs.dropped > 0)
			fprintf(stderr, "%s: %zu more errors not shown\n", path,
			    errs.dropped);
		fprintf(stderr, "krxd: configuration %s is not valid\n", path);
		krx_conf_errors_free(&errs);
		exit(KRX_EXIT_CONFIG);
	}
	krx_conf_errors_free(&errs);
	if (krxd_check_root(conf) == -1 || krxd_check_kms(conf) == -1) {
		fprintf(stderr, "krxd: configuration %s is not valid\n", path);
		krx_conf_free(conf);
		exit(KRX_EXIT_CONFIG);
	}
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

/* Absolute config path (keysvc is exec'd after daemon's chdir) and
 * the first generation. */
static void
krxd_setup(struct krx_master *m, struct krx_conf *conf)
{
	char	*abs;
	size_t	 i;

	if ((abs = realpath(conf->path, NULL)) == NULL)
		fatal("realpath %s", conf->path);
	free(conf->path);
	conf->path = abs;
	for (i = 0; i < conf->n_vclusters; i++)
		if (conf->vclusters[i].enc.enabled)
			m->use_keysvc = 1;
	m->cy = krx_cycle_new(conf, 1);
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
	krxd_setup(&m, krxd_load(path, test_only));
	log_setlevel(m.cy->conf->log_level);
	m.n_workers = m.cy->conf->workers > 0 ? m.cy->conf->workers :
	    (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (m.n_workers < 1)
		m.n_workers = 1;
	if (m.n_workers > KRX_MAX_WORKERS)
		m.n_workers = KRX_MAX_WORKERS;
	m.started = time(NULL);
	m.pid_fd = krxd_pidfile_lock(m.cy->conf->pid_file);
	krx_sockets_open(&m);
	if (!m.foreground) {
		krxd_daemonize();
		log_init(0, m.cy->conf->log_level);
	}
	krxd_pidfile_write(m.pid_fd, m.cy->conf->pid_file);
	if (m.use_keysvc)
		krx_keysvc_prepare(&m);
	log_info("krxd %s starting with %d workers", KRX_VERSION, m.n_workers);
	status = krx_master_run(&m);
	unlink(m.cy->conf->pid_file);
	close(m.pid_fd);
	krx_sockets_close(&m);
	krx_cycle_free(m.cy);
	return status;
}
