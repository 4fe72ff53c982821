/* Start a container: see mp_start.h.

   supervisor (pid_for_children already set to the pod's pid namespace, or a
   new one)
     --clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD)--> C
       (clone3 with CLONE_INTO_CGROUP on cgroup v2: C is born in the
       container's cgroup and skips its CGROUP op; mp_cgroup.h)
   C   runs the ops of spec->ops in order, one case each in run_op (which
       namespaces to join, what to mount where with which flags, the
       identity: all of it decided in minipod/kernel/rootfs.py and
       launch.py), and the last op execs the container's command.
   The supervisor is suspended until C has exec'd or _exited, so the call
   returns with the outcome known, as spawn.spawn_program does, but without
   copying the interpreter (a fork of it costs milliseconds) and without
   Python in the child. C shares our memory until then, hence mp_exec.c's
   rules: every signal blocked around the call (the exec op resets
   dispositions before it unblocks), raw system calls for credentials,
   nothing allocated (the ops, their strings and the fds' scratch are the
   caller's), C's stack carved from this frame, a failure written into the
   spec as the index of its op and its errno, the memory non-dumpable for
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

#include "mp_cgroup.h"
#include "mp_launch.h"
#include "mp_start.h"
#include "mp_sys.h"


#define CHILD_STACK (64 * 1024)

/* C cannot go on: record errno and exit as a shell does when exec fails
   (spec->op names the op). */
static void __attribute__ ((noreturn))
fail (struct mp_start_spec *s)
{
  s->err = errno;
  s->failed = 1;
  _exit (127);
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

/* The parent directory (as mkdir -p, 0755), then an empty file unless the
   path exists. */
static int
mkfile (const char *path, mode_t mode)
{
  char parent[PATH_MAX];
  const char *slash = strrchr (path, '/');
  size_t len = slash == NULL ? 0 : (size_t) (slash - path);
  struct stat st;
  int fd;

  if (len >= sizeof parent)
    {
      errno = ENAMETOOLONG;
      return -1;
    }
  memcpy (parent, path, len);
  parent[len] = '\0';
  if (len > 0 && mkdir_p (parent, 0755) < 0)
    return -1;
  if (stat (path, &st) == 0)
    return 0;
  fd = open (path, O_WRONLY | O_CREAT | O_CLOEXEC, mode);
  if (fd < 0)
    return -1;
  close (fd);
  return 0;
}

/* A mount's, bind's or chdir's target, made as mp_start.h's MP_MAKE_* say.
   Once C is inside the new root, even an absolute symlink of the image
   resolves inside it: a target never leads out to the host. */
static int
make (const char *path, int how, mode_t mode)
{
  switch (how)
    {
    case MP_MAKE_NONE:
      return 0;
    case MP_MAKE_DIRS:
      return mkdir_p (path, mode);
    case MP_MAKE_DIR:
      return mkdir (path, mode);
    case MP_MAKE_FILE:
      return mkfile (path, mode);
    }
  errno = EINVAL;
  return -1;
}

/* fds 0-2 are about to be replaced: keep what we need above them. */
static int
above_stdio (int fd)
{
  return fd > 2 ? fd : fcntl (fd, F_DUPFD_CLOEXEC, 3);
}

static int
set_stdio (int out_fd, int err_fd)
{
  int in, out, err;

  /* a session of its own: a Ctrl-C of `minipod up` never reaches it */
  if (setsid () < 0)
    return -1;
  in = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  /* every source above 2 first, so no dup2 below overwrites a later one */
  in = in < 0 ? in : above_stdio (in);
  out = above_stdio (out_fd);
  err = above_stdio (err_fd);
  if (in < 0 || out < 0 || err < 0 || dup2 (in, 0) < 0 || dup2 (out, 1) < 0
      || dup2 (err, 2) < 0)
    return -1;
  /* nothing of the supervisor's but stdio survives the exec */
  return syscall (SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) < 0 ? -1 : 0;
}

_Static_assert (sizeof (gid_t) == sizeof (uint32_t), "identity.groups");

/* Raw system calls: they change this task only (glibc's setuid would signal
   the caller's other threads to follow; see the top). */
static int
set_identity (int uid, int gid, int n_groups, const uint32_t *groups)
{
  gid_t group;

  if (uid < 0 && gid < 0)
    return 0;
  group = gid >= 0 ? (gid_t) gid : mp_primary_group ((uid_t) uid);
  if ((n_groups >= 0 ? syscall (SYS_setgroups, n_groups, groups)
                     : syscall (SYS_setgroups, 1, &group)) < 0
      || syscall (SYS_setresgid, group, group, group) < 0
      || (uid >= 0 && syscall (SYS_setresuid, uid, uid, uid) < 0))
    return -1;
  return 0;
}

/* One op: 0, or -1 with errno. */
static int
run_op (struct mp_start_spec *s, const struct mp_start_op *op)
{
  char fdbuf[32];
  int cap;

  switch (op->kind)
    {
    case MP_OP_SETNS:
      return setns (op->setns.fd, op->setns.nstype);
    case MP_OP_UNSHARE:
      return unshare (op->unshare.flags);
    case MP_OP_OPEN:
      s->fds[op->open.slot] = open (op->open.path, O_PATH | O_CLOEXEC);
      return s->fds[op->open.slot] < 0 ? -1 : 0;
    case MP_OP_MOUNT:
      if (make (op->mount.target, op->mount.make, op->mount.mode) < 0)
        return -1;
      return mount (op->mount.source, op->mount.target, op->mount.fstype,
                    op->mount.flags, op->mount.data);
    case MP_OP_BIND:
      /* the source through the O_PATH fd opened while host paths still
         resolved (runc's /proc/self/fd trick) */
      if (make (op->bind.target, op->bind.make, op->bind.mode) < 0
          || mount (fd_path (fdbuf, s->fds[op->bind.slot]), op->bind.target,
                    NULL, op->bind.flags, NULL) < 0)
        return -1;
      if (op->bind.read_only
          && mount (NULL, op->bind.target, NULL,
                    MS_BIND | MS_REMOUNT | MS_RDONLY | (op->bind.flags & MS_REC),
                    NULL) < 0)
        return -1;
      return 0;
    case MP_OP_PIVOT_ROOT:
      /* put_old lands in the new root's writable layer; DETACH removes it */
      if (mkdir (op->pivot_root.put_old, 0700) < 0
          || syscall (SYS_pivot_root, op->pivot_root.new_root,
                      op->pivot_root.put_old) < 0)
        return -1;
      return chdir ("/");
    case MP_OP_SYMLINK:
      return symlink (op->symlink.target, op->symlink.linkpath);
    case MP_OP_CLOSE_SOURCES:
      for (int i = 0; i < s->n_fds; i++)
        if (s->fds[i] >= 0)
          close (s->fds[i]);
      return 0;
    case MP_OP_DETACH:
      if (umount2 (op->detach.target, MNT_DETACH) < 0)
        return -1;
      return rmdir (op->detach.target);
    case MP_OP_CHDIR:
      if (make (op->chdir.path, op->chdir.make, op->chdir.mode) < 0)
        return -1;
      return chdir (op->chdir.path);
    case MP_OP_STDIO:
      return set_stdio (op->stdio.out_fd, op->stdio.err_fd);
    case MP_OP_DROP_CAPS:
      return mp_drop_caps (op->caps.keep, &cap);
    case MP_OP_IDENTITY:
      return set_identity (op->identity.uid, op->identity.gid, op->identity.n_groups,
                           op->identity.groups);
    case MP_OP_CGROUP:
      {
        int failed, ret;

        if (s->placed == MP_PLACED_CLONE3)
          return 0;
        ret = mp_cgroup_enter (op->cgroup.files, op->cgroup.n_files, &failed);
        errno = -ret;
        return ret < 0 ? -1 : 0;
      }
    case MP_OP_EXEC:
      {
        sigset_t none;

        /* exec keeps ignored dispositions and the mask (every signal is
           blocked since mp_start): the command starts as a fresh process */
        mp_default_signals ();  /* all of them, glibc's own two included */
        sigemptyset (&none);
        sigprocmask (SIG_SETMASK, &none, NULL);
        errno = mp_exec_search (op->exec.argv[0], op->exec.argv, op->exec.envp,
                                op->exec.path);
        return -1;
      }
    }
  errno = EINVAL;  /* a kind this launcher does not know */
  return -1;
}

static int
child_main (void *arg)
{
  struct mp_start_spec *s = arg;

  for (int i = 0; i < s->n_fds; i++)
    s->fds[i] = -1;
  for (int i = 0; i < s->n_ops; i++)
    {
      s->op = i;
      if (run_op (s, &s->ops[i]) < 0)
        fail (s);
    }
  /* no op exec'd: a table without an exec at its end */
  errno = ENOEXEC;
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

  spec->pid = spec->pidfd = spec->op = -1;
  spec->failed = spec->err = 0;
  spec->placed = MP_PLACED_NONE;
  if (prctl (PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
    return -errno;
  sigfillset (&all);
  sigprocmask (SIG_SETMASK, &all, &old);
  pid = mp_clone_vm (child_main, spec, stack, CHILD_STACK,
                     CLONE_VM | CLONE_VFORK | CLONE_PIDFD, spec->cgroup_fd, &spec->pidfd,
                     &spec->placed);
  if (pid < 0)
    ret = pid;
  else
    {
      spec->pid = pid;
      if (spec->failed)  /* C exited 127: reap it, as spawn_program does */
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
