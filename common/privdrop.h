/*
 * privdrop.h: the one privilege drop of krxd's children (workers and
 * keysvc): become the configured user (uid, gid and supplementary
 * groups, real, effective and saved) when started as root, then
 * PR_SET_NO_NEW_PRIVS; and the undumpable step (no core file, no ptrace
 * by the same uid). Library grade: errors are returned, the caller
 * (program grade, before READY) makes them fatal.
 */
#ifndef KRX_COMMON_PRIVDROP_H
#define KRX_COMMON_PRIVDROP_H

/*
 * Become user (NULL, or not running as root: no change of identity),
 * then set no_new_privs in every case. Returns 0, KRX_E_NOTFOUND when
 * user does not exist, or KRX_E_IO with errno set; *step (if not NULL)
 * names what failed ("getpwnam", "setgroups", ..., "no_new_privs").
 */
int	krx_privdrop(const char *user, const char **step);
/*
 * No core dumps (RLIMIT_CORE 0) and not dumpable (no ptrace, /proc
 * entries owned by root). The kernel resets the dumpable flag when the
 * uid changes: call it after krx_privdrop. 0, or KRX_E_IO with errno
 * and *step set.
 */
int	krx_privdrop_undumpable(const char **step);

#endif
