/* See mp_sys.h for the contract: 0 / fd on success, -errno on failure. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <signal.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mp_sys.h"

/* Retry on EINTR; turn -1/errno into -errno. */
#define RETURN_SYSCALL(expr)                                                 \
  do                                                                         \
    {                                                                        \
      long ret_;                                                             \
      do                                                                     \
        ret_ = (long) (expr);                                                \
      while (ret_ < 0 && errno == EINTR);                                    \
      return ret_ < 0 ? -errno : (int) ret_;                                 \
    }                                                                        \
  while (0)

int
mp_setns (int fd, int nstype)
{
  RETURN_SYSCALL (setns (fd, nstype));
}

int
mp_unshare (int flags)
{
  RETURN_SYSCALL (unshare (flags));
}

int
mp_mount (const char *source, const char *target, const char *fstype,
          unsigned long flags, const char *data)
{
  RETURN_SYSCALL (mount (source, target, fstype, flags, data));
}

int
mp_umount2 (const char *target, int flags)
{
  RETURN_SYSCALL (umount2 (target, flags));
}

int
mp_prctl (int option, unsigned long arg2)
{
  RETURN_SYSCALL (prctl (option, arg2, 0UL, 0UL, 0UL));
}

/* Every signal back to SIG_DFL, glibc's own two real-time ones included
   (its sigaction refuses 32 and 33, so an ignored one would survive exec).
   A zeroed kernel sigaction is SIG_DFL with no flags on every 64-bit
   layout, with or without sa_restorer; the kernel sigset is 8 bytes. */
int
mp_default_signals (void)
{
  unsigned long act[4] = { 0, 0, 0, 0 };

  for (int signo = 1; signo < NSIG; signo++)
    if (signo != SIGKILL && signo != SIGSTOP)
      syscall (SYS_rt_sigaction, signo, act, NULL, 8);
  return 0;
}
