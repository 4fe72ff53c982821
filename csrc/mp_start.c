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
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
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

/* "/proc/self/fd/N" at buf, which has room (no snprintf in the child);
   returns the end of it. */
static char *
put_fd_path (char *buf, int fd)
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
  return buf + 14 + n;
}

/* openat2 (root, path) with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS: an
   absolute symlink resolves inside root, ".." stops at it, and no
   /proc/PID/root or /proc/self/fd link is followed (with a shared pid
   namespace, pause's /proc/1/root is the host's root). */
static int
resolve (int root, const char *path, int flags)
{
  struct open_how how;

  memset (&how, 0, sizeof how);
  how.flags = (uint64_t) (flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  return (int) syscall (SYS_openat2, root, path, &how, sizeof how);
}

/* path without trailing slashes, split into its directory (copied into
   dir, "/" for a top-level name) and its last name (pointing into path,
   length *name_len). -1 with ENAMETOOLONG or EINVAL ("/" itself). */
static int
split (const char *path, char dir[PATH_MAX], const char **name, size_t *name_len)
{
  size_t len = strlen (path);
  size_t slash;

  while (len > 1 && path[len - 1] == '/')
    len--;
  if (len >= PATH_MAX)
    {
      errno = ENAMETOOLONG;
      return -1;
    }
  slash = len;
  while (slash > 0 && path[slash - 1] != '/')
    slash--;
  if (slash == len)
    {
      errno = EINVAL;
      return -1;
    }
  *name = path + slash;
  *name_len = len - slash;
  while (slash > 1 && path[slash - 1] == '/')
    slash--;
  if (slash == 0)
    slash = 1;  /* a relative name: its directory is the root */
  memcpy (dir, path, slash);
  dir[slash] = '\0';
  if (dir[0] != '/')
    strcpy (dir, "/");
  return 0;
}

/* The directory path (in root) as an O_PATH fd, made with its parents (0777
   for those, mode for the last) where missing: each level is made by mkdirat
   in the fd of the one above, then resolved again from root, so nothing
   made is ever outside it. A loop, not a recursion: the child's stack is
   small and carved from the caller's frame. */
static int
open_dirs (int root, const char *path, mode_t mode)
{
  char buf[PATH_MAX];
  size_t len = strlen (path);
  int fd, parent;

  fd = resolve (root, path, O_PATH | O_DIRECTORY);
  if (fd >= 0 || errno != ENOENT)
    return fd;
  while (len > 1 && path[len - 1] == '/')
    len--;
  if (len >= sizeof buf)
    {
      errno = ENAMETOOLONG;
      return -1;
    }
  memcpy (buf, path, len);
  buf[len] = '\0';
  parent = resolve (root, "/", O_PATH | O_DIRECTORY);
  for (size_t start = 0; parent >= 0 && start < len;)
    {
      size_t end;

      while (start < len && buf[start] == '/')
        start++;
      if (start == len)
        break;
      end = start;
      while (end < len && buf[end] != '/')
        end++;
      buf[end] = '\0';  /* buf is now the path up to this level */
      fd = resolve (root, buf, O_PATH | O_DIRECTORY);
      if (fd < 0 && errno == ENOENT)
        {
          if (mkdirat (parent, buf + start, end == len ? mode : 0777) < 0 && errno != EEXIST)
            {
              close (parent);
              return -1;
            }
          fd = resolve (root, buf, O_PATH | O_DIRECTORY);
        }
      close (parent);
      parent = fd;
      if (end < len)
        buf[end] = '/';
      start = end;
    }
  return parent;
}

/* Shared with mp_exec.c (mp_launch.h): path in root as an O_PATH fd, made
   first as how says (MP_MAKE_*), or -1 with errno. */
int
mp_open_in_root (int root, const char *path, int how, mode_t mode)
{
  char dir[PATH_MAX], name[NAME_MAX + 1];
  const char *base;
  size_t len;
  int fd, parent;

  switch (how)
    {
    case MP_MAKE_NONE:
      return resolve (root, path, O_PATH);
    case MP_MAKE_DIRS:
      return open_dirs (root, path, mode);
    case MP_MAKE_DIR:
    case MP_MAKE_FILE:
      break;
    default:
      errno = EINVAL;
      return -1;
    }
  if (how == MP_MAKE_FILE)
    {
      struct stat st;

      fd = resolve (root, path, O_PATH);
      if (fd >= 0 && fstat (fd, &st) == 0 && S_ISDIR (st.st_mode))
        {
          close (fd);  /* a file is bound on a file: say so now, not EINVAL */
          errno = EISDIR;
          return -1;
        }
      if (fd >= 0 || errno != ENOENT)
        return fd;
    }
  if (split (path, dir, &base, &len) < 0)
    return -1;
  if (len > NAME_MAX)
    {
      errno = ENAMETOOLONG;
      return -1;
    }
  memcpy (name, base, len);
  name[len] = '\0';
  parent = open_dirs (root, dir, how == MP_MAKE_FILE ? 0755 : 0777);
  if (parent < 0)
    return -1;
  if (how == MP_MAKE_DIR)
    fd = mkdirat (parent, name, mode);
  else
    {
      /* O_EXCL | O_NOFOLLOW: what this makes is a new file, here */
      fd = openat (parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                   mode);
      if (fd < 0 && errno == EEXIST)
        fd = 0;  /* made meanwhile: resolved below like any other */
      else if (fd >= 0)
        close (fd);
    }
  close (parent);
  if (fd < 0)
    return -1;
  return resolve (root, path, O_PATH);
}

/* A detached mount moved onto target (an fd) */
static int
move_onto (int tree, int target)
{
  return (int) syscall (SYS_move_mount, tree, "", target, "",
                        MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
}

/* fsconfig of each "key=value" or "flag" of options (a copy is cut up) */
static int
configure (int fs, const char *options)
{
  char buf[256];
  char *item, *next, *value;

  if (options == NULL || *options == '\0')
    return 0;
  if (strlen (options) >= sizeof buf)
    {
      errno = E2BIG;
      return -1;
    }
  strcpy (buf, options);
  for (item = buf; item != NULL; item = next)
    {
      next = strchr (item, ',');
      if (next != NULL)
        *next++ = '\0';
      if (*item == '\0')
        continue;
      value = strchr (item, '=');
      if (value != NULL)
        *value++ = '\0';
      if ((value != NULL
           ? syscall (SYS_fsconfig, fs, FSCONFIG_SET_STRING, item, value, 0)
           : syscall (SYS_fsconfig, fs, FSCONFIG_SET_FLAG, item, NULL, 0)) < 0)
        return -1;
    }
  return 0;
}

/* A new mount of fstype (not yet attached): fsopen, fsconfig, fsmount. */
static int
new_fs (const char *fstype, const char *source, const char *options, unsigned int attrs)
{
  int fs, mnt = -1;

  fs = (int) syscall (SYS_fsopen, fstype, FSOPEN_CLOEXEC);
  if (fs < 0)
    return -1;
  if ((source == NULL || syscall (SYS_fsconfig, fs, FSCONFIG_SET_STRING, "source", source, 0) == 0)
      && configure (fs, options) == 0
      && syscall (SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) == 0)
    mnt = (int) syscall (SYS_fsmount, fs, FSMOUNT_CLOEXEC, attrs);
  close (fs);
  return mnt;
}

/* mount_setattr of fd's mount (with AT_RECURSIVE, of its whole tree) */
static int
set_attrs (int fd, unsigned int set, unsigned int clear, int recursive, int private)
{
  struct mount_attr attr;

  memset (&attr, 0, sizeof attr);
  attr.attr_set = set;
  attr.attr_clr = clear;
  attr.propagation = private ? MS_PRIVATE : 0;
  return (int) syscall (SYS_mount_setattr, fd, "",
                        AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr, sizeof attr);
}

static int
run_mount_fs (struct mp_start_spec *s, const struct mp_start_op *op)
{
  int mnt, target, ret = -1;

  mnt = new_fs (op->mount_fs.fstype, op->mount_fs.source, op->mount_fs.options,
                op->mount_fs.attrs);
  if (mnt < 0)
    return -1;
  target = mp_open_in_root (s->root, op->mount_fs.target, op->mount_fs.make,
                            op->mount_fs.mode);
  if (target >= 0)
    {
      ret = move_onto (mnt, target);
      close (target);
    }
  close (mnt);
  return ret;
}

static int
run_move (struct mp_start_spec *s, const struct mp_start_op *op)
{
  struct statfs fs;
  int target, ret = -1;

  target = mp_open_in_root (s->root, op->move.target, op->move.make, op->move.mode);
  if (target < 0)
    return -1;
  if (op->move.not_in_proc && fstatfs (target, &fs) == 0 && fs.f_type == PROC_SUPER_MAGIC)
    errno = EPERM;  /* runc: "cannot be mounted because it is inside /proc" */
  else
    ret = move_onto (s->fds[op->move.slot], target);
  close (target);
  return ret;
}

static int
run_overlay (struct mp_start_spec *s, const struct mp_start_op *op)
{
  char data[4096];
  char *p = data;
  char *end = data + sizeof data;

  /* each piece is at most 9 + 14 + 11 characters: check before writing */
  if (op->overlay.n_lower < 1 || op->overlay.n_lower > MP_START_MAX_LOWER)
    {
      errno = EINVAL;
      return -1;
    }
  memcpy (p, "lowerdir=", 9);
  p += 9;
  for (int i = 0; i < op->overlay.n_lower; i++)
    {
      if (end - p < 40)
        {
          errno = E2BIG;
          return -1;
        }
      if (i > 0)
        *p++ = ':';
      p = put_fd_path (p, s->fds[op->overlay.lower_slots[i]]);
    }
  if (end - p < 80)
    {
      errno = E2BIG;
      return -1;
    }
  memcpy (p, ",upperdir=", 10);
  p = put_fd_path (p + 10, s->fds[op->overlay.upper_slot]);
  memcpy (p, ",workdir=", 9);
  put_fd_path (p + 9, s->fds[op->overlay.work_slot]);
  return mount ("overlay", op->overlay.target, "overlay", op->overlay.flags, data);
}

/* pivot_root (".", ".") (crun's and runc's way): the old root ends up
   mounted on top of the new one, and is detached from there at once. */
static int
run_pivot_root (struct mp_start_spec *s, const char *new_root)
{
  if (chdir (new_root) < 0 || syscall (SYS_pivot_root, ".", ".") < 0
      || umount2 (".", MNT_DETACH) < 0 || chdir ("/") < 0)
    return -1;
  s->root = open ("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  return s->root < 0 ? -1 : 0;
}

/* runc's maskPath (see mp_start.h) */
static int
run_mask (struct mp_start_spec *s, const char *path)
{
  struct stat st;
  int fd, cover = -1, null, ret = -1;

  fd = mp_open_in_root (s->root, path, MP_MAKE_NONE, 0);
  if (fd < 0)
    return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
  if (fstat (fd, &st) == 0)
    {
      if (S_ISDIR (st.st_mode))
        cover = new_fs ("tmpfs", "tmpfs", NULL, MOUNT_ATTR_RDONLY);
      else if ((null = mp_open_in_root (s->root, "/dev/null", MP_MAKE_NONE, 0)) >= 0)
        {
          cover = (int) syscall (SYS_open_tree, null, "",
                                 OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
          close (null);
        }
      if (cover >= 0)
        {
          ret = move_onto (cover, fd);
          close (cover);
        }
    }
  close (fd);
  return ret;
}

/* runc's readonlyPath (see mp_start.h) */
static int
run_readonly (struct mp_start_spec *s, const char *path)
{
  int fd, tree, ret = -1;

  fd = mp_open_in_root (s->root, path, MP_MAKE_NONE, 0);
  if (fd < 0)
    return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
  tree = (int) syscall (SYS_open_tree, fd, "",
                        OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
  if (tree >= 0)
    {
      if (set_attrs (tree, MOUNT_ATTR_RDONLY, 0, 1, 1) == 0)
        ret = move_onto (tree, fd);
      close (tree);
    }
  close (fd);
  return ret;
}

/* Made in the directory of path (resolved in the root) by make_at. */
static int
in_dir_of (struct mp_start_spec *s, const char *path, char name[NAME_MAX + 1])
{
  char dir[PATH_MAX];
  const char *base;
  size_t len;

  if (split (path, dir, &base, &len) < 0)
    return -1;
  if (len > NAME_MAX)
    {
      errno = ENAMETOOLONG;
      return -1;
    }
  memcpy (name, base, len);
  name[len] = '\0';
  return mp_open_in_root (s->root, dir, MP_MAKE_DIRS, 0755);
}

static int
run_symlink (struct mp_start_spec *s, const struct mp_start_op *op)
{
  char name[NAME_MAX + 1];
  int dir = in_dir_of (s, op->symlink.linkpath, name);
  int ret;

  if (dir < 0)
    return -1;
  ret = symlinkat (op->symlink.target, dir, name);
  close (dir);
  return ret;
}

static int
run_mknod (struct mp_start_spec *s, const struct mp_start_op *op)
{
  char name[NAME_MAX + 1];
  int dir = in_dir_of (s, op->mknod.path, name);
  int ret;

  if (dir < 0)
    return -1;
  ret = mknodat (dir, name, op->mknod.mode, (dev_t) op->mknod.rdev);
  if (ret < 0 && errno == EEXIST)
    ret = 0;  /* one of the default set, bound already */
  else if (ret == 0)
    ret = fchownat (dir, name, (uid_t) op->mknod.uid, (gid_t) op->mknod.gid,
                    AT_SYMLINK_NOFOLLOW);
  close (dir);
  return ret;
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
set_identity (int uid, int gid, int n_groups, const uint32_t *groups, uint64_t keep)
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
  /* CAP_SETUID and CAP_SETGID were kept for the calls above (DROP_CAPS'
     transient): gone now, unless the container has them */
  return mp_trim_caps (keep);
}

/* One op: 0, or -1 with errno. */
static int
run_op (struct mp_start_spec *s, const struct mp_start_op *op)
{
  int cap, fd;

  switch (op->kind)
    {
    case MP_OP_SETNS:
      return setns (op->setns.fd, op->setns.nstype);
    case MP_OP_UNSHARE:
      return unshare (op->unshare.flags);
    case MP_OP_OPEN:
      s->fds[op->open.slot] = open (op->open.path, O_PATH | O_CLOEXEC);
      return s->fds[op->open.slot] < 0 ? -1 : 0;
    case MP_OP_CLONE:
      fd = (int) syscall (SYS_open_tree, AT_FDCWD, op->clone.path,
                          OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC
                          | (op->clone.recursive ? AT_RECURSIVE : 0));
      s->fds[op->clone.slot] = fd;
      if (fd < 0)
        return -1;
      return set_attrs (fd, op->clone.attrs, 0, op->clone.recursive, 1);
    case MP_OP_MOUNT:
      return mount (op->mount.source, op->mount.target, op->mount.fstype,
                    op->mount.flags, op->mount.data);
    case MP_OP_OVERLAY:
      return run_overlay (s, op);
    case MP_OP_PIVOT_ROOT:
      return run_pivot_root (s, op->pivot_root.new_root);
    case MP_OP_MOUNT_FS:
      return run_mount_fs (s, op);
    case MP_OP_MOVE:
      return run_move (s, op);
    case MP_OP_SYMLINK:
      return run_symlink (s, op);
    case MP_OP_MKNOD:
      return run_mknod (s, op);
    case MP_OP_CLOSE_SOURCES:
      for (int i = 0; i < s->n_fds; i++)
        if (s->fds[i] >= 0)
          {
            close (s->fds[i]);
            s->fds[i] = -1;
          }
      return 0;
    case MP_OP_MASK:
      return run_mask (s, op->mask.path);
    case MP_OP_READONLY:
      return run_readonly (s, op->mask.path);
    case MP_OP_READONLY_ROOT:
      return set_attrs (s->root, MOUNT_ATTR_RDONLY, 0, 0, 0);
    case MP_OP_CHDIR:
      fd = mp_open_in_root (s->root, op->chdir.path, op->chdir.make, op->chdir.mode);
      if (fd < 0)
        return -1;
      cap = fchdir (fd);  /* (cap: a spare int) */
      close (fd);
      return cap;
    case MP_OP_STDIO:
      return set_stdio (op->stdio.out_fd, op->stdio.err_fd);
    case MP_OP_KEYRING:
      return mp_join_session_keyring ();
    case MP_OP_DROP_CAPS:
      return mp_drop_caps (op->caps.keep, op->caps.transient, &cap);
    case MP_OP_IDENTITY:
      return set_identity (op->identity.uid, op->identity.gid, op->identity.n_groups,
                           op->identity.groups, op->identity.keep);
    case MP_OP_CGROUP:
      {
        int failed, ret;

        if (s->placed == MP_PLACED_CLONE3)
          return 0;
        ret = mp_cgroup_enter (op->cgroup.files, op->cgroup.n_files, &failed);
        errno = -ret;
        return ret < 0 ? -1 : 0;
      }
    case MP_OP_NO_NEW_PRIVS:
      return prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    case MP_OP_SECCOMP:
      return mp_load_seccomp (op->seccomp.program, op->seccomp.len);
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
  s->root = -1;
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
