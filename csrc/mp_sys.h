/* minipod syscall wrappers: one function per syscall CPython 3.11 lacks.
 * Contract (see README): return 0 or a non-negative fd on success, -errno on
 * failure; never print, never exit, retry EINTR. */
#ifndef MP_SYS_H
#define MP_SYS_H

#include <sched.h>
#include <sys/mount.h>

/* The system's flags Python passes to these calls and puts in mp_start's ops
   (minipod/kernel/sys.py), under our names: cffi declares each #define of
   these headers as "#define NAME ..." (csrc/build_native.py), and so takes
   its value from the system's headers when it compiles. */
#define MP_CLONE_NEWNS CLONE_NEWNS
#define MP_CLONE_NEWUTS CLONE_NEWUTS
#define MP_CLONE_NEWIPC CLONE_NEWIPC
#define MP_CLONE_NEWPID CLONE_NEWPID
#define MP_CLONE_NEWNET CLONE_NEWNET
#define MP_CLONE_NEWCGROUP CLONE_NEWCGROUP
#define MP_CLONE_NEWUSER CLONE_NEWUSER

#define MP_MS_RDONLY MS_RDONLY
#define MP_MS_NOSUID MS_NOSUID
#define MP_MS_NODEV MS_NODEV
#define MP_MS_NOEXEC MS_NOEXEC
#define MP_MS_REMOUNT MS_REMOUNT
#define MP_MS_BIND MS_BIND
#define MP_MS_REC MS_REC
#define MP_MS_PRIVATE MS_PRIVATE
#define MP_MS_SLAVE MS_SLAVE
#define MP_MS_STRICTATIME MS_STRICTATIME
#define MP_MS_RELATIME MS_RELATIME

/* mount_setattr's and fsmount's (rootfs.py's CloneTree, MountFs) */
#define MP_MOUNT_ATTR_RDONLY MOUNT_ATTR_RDONLY
#define MP_MOUNT_ATTR_NOSUID MOUNT_ATTR_NOSUID
#define MP_MOUNT_ATTR_NODEV MOUNT_ATTR_NODEV
#define MP_MOUNT_ATTR_NOEXEC MOUNT_ATTR_NOEXEC
#define MP_MOUNT_ATTR_STRICTATIME MOUNT_ATTR_STRICTATIME

#define MP_MNT_DETACH MNT_DETACH
#define MP_MNT_FORCE MNT_FORCE

int mp_setns (int fd, int nstype);
int mp_unshare (int flags);
int mp_mount (const char *source, const char *target, const char *fstype,
              unsigned long flags, const char *data);
int mp_umount2 (const char *target, int flags);
/* Every signal to SIG_DFL (mp_exec.c's and mp_start.c's children, before
   they exec). */
int mp_default_signals (void);
/* prctl(2) with one argument: PR_SET_CHILD_SUBREAPER, PR_GET_DUMPABLE... */
int mp_prctl (int option, unsigned long arg2);

#endif
