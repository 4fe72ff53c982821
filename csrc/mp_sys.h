/* minipod syscall wrappers: one function per syscall CPython 3.11 lacks.
 * Contract (see README): return 0 or a non-negative fd on success, -errno on
 * failure; never print, never exit, retry EINTR. */
#ifndef MP_SYS_H
#define MP_SYS_H

int mp_setns (int fd, int nstype);
int mp_unshare (int flags);
int mp_mount (const char *source, const char *target, const char *fstype,
              unsigned long flags, const char *data);
int mp_umount2 (const char *target, int flags);
int mp_default_signals (void);
int mp_pivot_root (const char *new_root, const char *put_old);

#endif
