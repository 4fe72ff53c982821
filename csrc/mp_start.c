/* Start a container: see mp_start.h.

   supervisor (pid_for_children already set to the pod's pid namespace, or a
   new one)
     --clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD)--> C
   C   runs container_main's recipe (minipod/kernel/launch.py, rootfs.py; same
       steps, order and mount flags) and execs the container's command.
   The supervisor is suspended until C has exec'd or _exited, so the call
   returns with the outcome known, as spawn.spawn does, but without copying
   the interpreter (a fork of it costs milliseconds) and without Python in
   the child. C shares our memory until then, hence mp_exec.c's rules: every
   signal blocked around the call (C resets dispositions before it unblocks),
   raw system calls for credentials, nothing allocated, C's stack carved from
   this frame, failures written into the spec, the memory non-dumpable for
   the call. C has its own copy of the fd table: what it opens or dup2s is
   its own, and exec closes it (CLOEXEC). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mp_exec.h"
#include "mp_start.h"
#include "mp_sys.h"


#define CHILD_STACK (64 * 1024)
#define OLD_ROOT "/.minipod-oldroot"
#define NOSUID_NODEV_NOEXEC (MS_NOSUID | MS_NODEV | MS_NOEXEC)

/* rootfs.DEV_SYMLINKS: target, link */
static const char *const dev_symlinks[][2] = {
  { "/proc/self/fd", "/dev/fd" },
  { "/proc/self/fd/0", "/dev/stdin" },
  { "/proc/self/fd/1", "/dev/stdout" },
  { "/proc/self/fd/2", "/dev/stderr" },
  { "pts/ptmx", "/dev/ptmx" },
  { "/proc/kcore", "/dev/core" },
};

/* C cannot go on: the step is set already; record errno and exit as a shell
   does when exec fails. */
static void __attribute__ ((noreturn))
fail (struct mp_start_spec *s)
{
  s->err = errno;
  s->failed = 1;
  _exit (127);
}

static void
step (struct mp_start_spec *s, int now, int arg)
{
  s->step = now;
  s->step_arg = arg;
}

/* "/proc/self/fd/N" into buf (no snprintf in the child). */
static const char *
fd_path (char buf[32], int fd)
{
  char digits[12];
  int n = 0;

  do
    digits[n++] = (char) ('0' + fd % 10);
  while ((fd /= 10) > 0);
  memcpy (buf, "/proc/self/fd/", 14);
  for (int i = 0; i < n; i++)
    buf[14 + i] = digits[n - 1 - i];
  buf[14 + n] = '\0';
  return buf;
}

/* os.makedirs(path, mode, exist_ok=True): parents 0777, the leaf ``mode``,
   an existing leaf must be a directory (else EEXIST). 0 or -1 with errno. */
static int
mkdir_p (const char *path, mode_t mode)
{
  char buf[PATH_MAX];
  size_t len = strlen (path);
  struct stat st;

  while (len > 1 && path[len - 1] == '/')
    len--;
  if (len >= sizeof buf)
    {
      errno = ENAMETOOLONG;
      return -1;
    }
  memcpy (buf, path, len);
  buf[len] = '\0';
  for (char *p = buf + 1; *p != '\0'; p++)
    if (*p == '/' && p[-1] != '/')
      {
        *p = '\0';
        if (mkdir (buf, 0777) < 0 && errno != EEXIST)
          return -1;
        *p = '/';
      }
  if (mkdir (buf, mode) == 0)
    return 0;
  if (errno != EEXIST || stat (buf, &st) < 0)
    return -1;
  if (!S_ISDIR (st.st_mode))
    {
      errno = EEXIST;
      return -1;
    }
  return 0;
}

/* rootfs._bind: create the target, bind the O_PATH fd through its
   /proc/self/fd link (runc's trick), remount read-only if asked. */
static int
bind_at (int source_fd, const char *target, int flags)
{
  char fdbuf[32];

  if (flags & MP_START_BIND_FILE)
    {
      /* rootfs._mkfile_in_root: the parent directory, then an empty file */
      char parent[PATH_MAX];
      const char *slash = strrchr (target, '/');
      size_t len = slash == NULL ? 0 : (size_t) (slash - target);
      struct stat st;

      if (len >= sizeof parent)
        {
          errno = ENAMETOOLONG;
          return -1;
        }
      memcpy (parent, target, len);
      parent[len] = '\0';
      if (len > 0 && mkdir_p (parent, 0755) < 0)
        return -1;
      if (stat (target, &st) < 0)
        {
          int fd = open (target, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
          if (fd < 0)
            return -1;
          close (fd);
        }
    }
  else if (mkdir_p (target, 0755) < 0)
    return -1;
  if (mount (fd_path (fdbuf, source_fd), target, NULL, MS_BIND | MS_REC, NULL) < 0)
    return -1;
  if ((flags & MP_START_BIND_RO)
      && mount (NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC, NULL) < 0)
    return -1;
  return 0;
}

/* rootfs.build_rootfs: on return C is inside its new root. */
static void
build_rootfs (struct mp_start_spec *s)
{
  int *fds = s->source_fds;
  char fdbuf[32];

  step (s, MP_START_STEP_UNSHARE_MNT, 0);
  if (unshare (CLONE_NEWNS) < 0)
    fail (s);
  /* before anything is mounted, so nothing propagates back to the host */
  step (s, MP_START_STEP_PRIVATE, 0);
  if (mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
    fail (s);
  for (int i = 0; i < s->n_sources; i++)  /* while host paths still resolve */
    {
      step (s, MP_START_STEP_OPEN, i);
      if ((fds[i] = open (s->sources[i], O_PATH | O_CLOEXEC)) < 0)
        fail (s);
    }
  step (s, MP_START_STEP_OVERLAY, 0);
  if (mount ("overlay", s->merged, "overlay", 0, s->overlay_data) < 0)
    fail (s);
  step (s, MP_START_STEP_PIVOT, 0);
  if (mkdir (s->put_old, 0700) < 0  /* in the writable layer, removed below */
      || syscall (SYS_pivot_root, s->merged, s->put_old) < 0 || chdir ("/") < 0)
    fail (s);

  step (s, MP_START_STEP_PROC, 0);
  if (mkdir_p ("/proc", 0755) < 0
      || mount ("proc", "/proc", "proc", NOSUID_NODEV_NOEXEC, NULL) < 0)
    fail (s);
  step (s, MP_START_STEP_SYS, 0);
  if (mkdir_p ("/sys", 0755) < 0
      || mount ("sysfs", "/sys", "sysfs", NOSUID_NODEV_NOEXEC | MS_RDONLY, NULL) < 0)
    fail (s);

  step (s, MP_START_STEP_DEV, 0);
  if (mkdir_p ("/dev", 0755) < 0
      || mount ("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME,
                "mode=755,size=65536k") < 0)
    fail (s);
  for (int i = 0; i < s->n_devices; i++)  /* /dev/null... at the same path */
    {
      step (s, MP_START_STEP_DEV_BIND, i);
      if (bind_at (fds[i], s->sources[i], MP_START_BIND_FILE) < 0)
        fail (s);
    }
  for (size_t i = 0; i < sizeof dev_symlinks / sizeof dev_symlinks[0]; i++)
    if (symlink (dev_symlinks[i][0], dev_symlinks[i][1]) < 0)
      fail (s);
  step (s, MP_START_STEP_DEVPTS, 0);
  if (mkdir ("/dev/pts", 0755) < 0
      || mount ("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
                "newinstance,ptmxmode=0666,mode=0620,gid=5") < 0)
    fail (s);
  step (s, MP_START_STEP_SHM, 0);  /* the pod's one /dev/shm */
  if (mkdir ("/dev/shm", 01777) < 0
      || mount (fd_path (fdbuf, fds[s->shm_source]), "/dev/shm", NULL, MS_BIND, NULL) < 0)
    fail (s);
  step (s, MP_START_STEP_MQUEUE, 0);  /* the queues of the pod's ipc namespace */
  if (mkdir ("/dev/mqueue", 01777) < 0
      || mount ("mqueue", "/dev/mqueue", "mqueue", NOSUID_NODEV_NOEXEC, NULL) < 0)
    fail (s);

  for (int i = 0; i < s->n_binds; i++)  /* /etc files and volumes */
    {
      const struct mp_start_bind *b = &s->binds[i];
      step (s, MP_START_STEP_BIND, i);
      if (bind_at (fds[b->source], b->target, b->flags) < 0)
        fail (s);
    }
  for (int i = 0; i < s->n_sources; i++)
    close (fds[i]);
  /* only now: a bind from an O_PATH fd needs the source's mount attached */
  step (s, MP_START_STEP_DETACH, 0);
  if (umount2 (OLD_ROOT, MNT_DETACH) < 0 || rmdir (OLD_ROOT) < 0)
    fail (s);
}

/* fds 0-2 are about to be replaced: keep what we need above them. */
static int
above_stdio (int fd)
{
  return fd > 2 ? fd : fcntl (fd, F_DUPFD_CLOEXEC, 3);
}

static int
child_main (void *arg)
{
  struct mp_start_spec *s = arg;
  sigset_t none;
  int in, out, err, cap;
  gid_t gid;

  step (s, MP_START_STEP_JOIN_NS, 0);
  for (int i = 0; i < s->n_ns; i++)
    if (setns (s->ns_fds[i], s->ns_types[i]) < 0)
      fail (s);
  build_rootfs (s);
  step (s, MP_START_STEP_WORKDIR, 0);  /* k8s creates a missing workingDir */
  if (mkdir_p (s->workdir, 0777) < 0 || chdir (s->workdir) < 0)
    fail (s);

  /* a session of its own: a Ctrl-C of `minipod up` never reaches it */
  step (s, MP_START_STEP_STDIO, 0);
  if (setsid () < 0)
    fail (s);
  in = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  in = in < 0 ? in : above_stdio (in);
  out = above_stdio (s->out_fd);
  err = above_stdio (s->err_fd);
  if (in < 0 || out < 0 || err < 0 || dup2 (in, 0) < 0 || dup2 (out, 1) < 0
      || dup2 (err, 2) < 0
      || syscall (SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
    fail (s);

  step (s, MP_START_STEP_CAPS, 0);
  if (mp_drop_caps (s->keep_caps, &cap) < 0)
    fail (s);
  step (s, MP_START_STEP_IDENTITY, 0);
  if (s->uid >= 0 || s->gid >= 0)
    {
      /* container._set_identity, with raw system calls (see the top) */
      gid = s->gid >= 0 ? (gid_t) s->gid : mp_primary_group ((uid_t) s->uid);
      if (syscall (SYS_setgroups, 1, &gid) < 0
          || syscall (SYS_setresgid, gid, gid, gid) < 0
          || (s->uid >= 0 && syscall (SYS_setresuid, s->uid, s->uid, s->uid) < 0))
        fail (s);
    }

  /* spawn.reset_signals: exec keeps ignored dispositions and the mask */
  mp_default_signals ();  /* all of them, glibc's own two included */
  sigemptyset (&none);
  sigprocmask (SIG_SETMASK, &none, NULL);

  step (s, MP_START_STEP_EXEC, 0);
  errno = mp_exec_search (s->file, s->argv, s->envp, s->path);
  fail (s);
}

int
mp_start (struct mp_start_spec *spec)
{
  /* C's stack, used only while this frame is suspended in clone */
  char stack[CHILD_STACK] __attribute__ ((aligned (16)));
  sigset_t all, old;
  int pid, status, ret = 0;
  int dumpable = prctl (PR_GET_DUMPABLE, 0, 0, 0, 0);

  spec->pid = spec->pidfd = -1;
  spec->failed = spec->step = spec->step_arg = spec->err = 0;
  if (prctl (PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
    return -errno;
  sigfillset (&all);
  sigprocmask (SIG_SETMASK, &all, &old);
  pid = clone (child_main, stack + CHILD_STACK,
               CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, spec, &spec->pidfd);
  if (pid < 0)
    ret = -errno;
  else
    {
      spec->pid = pid;
      if (spec->failed)  /* C exited 127: reap it, as spawn.spawn does */
        {
          while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
            ;
          close (spec->pidfd);
          spec->pidfd = -1;
        }
    }
  sigprocmask (SIG_SETMASK, &old, NULL);
  if (dumpable == 1)  /* the only other value prctl accepts back */
    prctl (PR_SET_DUMPABLE, 1, 0, 0, 0);
  return ret;
}
