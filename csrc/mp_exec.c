/* Start a command inside a running container: see mp_exec.h.

   supervisor (pid_for_children already set to the container's pid ns)
     --clone(CLONE_VM | CLONE_VFORK | CLONE_FILES)--> I
   I   joins the pod's namespaces and the container's mount namespace (setns
       makes root and cwd the container's), chdirs (the working directory
       resolved inside that root, never through a link out of it),
       unshare(CLONE_NEWPID), joins a new session keyring, drops
       capabilities, sets gid/uid, sets no_new_privs, and
     --clone(CLONE_VM | CLONE_VFORK | CLONE_PARENT | CLONE_PIDFD)--> P
   P   a child of the supervisor and PID 1 of the new pid namespace: resets
       signals, sets up stdio in its own fd table, marks every other fd
       close-on-exec, and execs. If anything fails it records why and exits.
   The container's seccomp filter is loaded as runc loads it: with
   no_new_privs, by P right before exec; without, by I before it drops
   CAP_SYS_ADMIN (which loading a filter then needs), so the filter also
   sees I's last steps. Either way the command runs under the same filter,
   no_new_privs, capabilities and identity as the container's own
   processes (and its masked /proc, through the mount namespace).
   I   exits once P has exec'd (or died); the supervisor reaps I before
       returning, so I never outlives this call.

   With MP_EXEC_SAME_PID_NS (`minipod exec`, like runc exec) I skips the
   unshare, so P is a plain member of the container's pid namespace, and the
   caller is whatever process called (the CLI client, not a supervisor).
   MP_EXEC_NEW_SESSION and MP_EXEC_PTY give P a session of its own. With
   MP_EXEC_PTY, I opens a new pty in the container's own devpts (after
   joining its mount namespace, as runc does: a pty of the host's devpts
   would have no name inside, and `tty` would say "not a tty"); its slave
   becomes P's stdio and controlling terminal, its master is the caller's.

   Both children share the supervisor's memory until they exit or exec, as
   posix_spawn's child does: nothing is copied, which is what makes this
   cheap for a large interpreter (a fork of it costs milliseconds). Rules that
   follow from sharing memory:
   - the caller blocks every signal around the call, so no handler of the
     interpreter ever runs in a child; P restores default dispositions before
     it unblocks;
   - credentials change through raw system calls (glibc's setuid would signal
     the caller's other threads to follow), and nothing allocates;
   - each child runs on its own stack, carved from this function's frame
     (the caller is suspended until both children are done with it);
   - failures are written into the spec, which all three processes share;
   - the shared memory is marked non-dumpable for the whole call (runc's
     nsexec does the same): once I has dropped to the container's
     capabilities or uid, a process of the container could otherwise ptrace
     I or P, or open their /proc fd links, and so reach the supervisor's
     memory and fds. A uid change makes the memory non-dumpable anyway, and
     that would stick to the supervisor; the caller's setting is restored.
   I also shares the caller's fd table (CLONE_FILES), so the pidfd clone
   creates for P is the caller's at once, with no fd passing. I opens nothing
   there but, briefly, the container's /etc/passwd, and with MP_EXEC_PTY the
   pty (whose master is meant for the caller, and whose slave the caller
   closes once I is reaped); P works on its own copy. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/keyctl.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mp_cgroup.h"
#include "mp_exec.h"
#include "mp_launch.h"
#include "mp_start.h"
#include "mp_sys.h"

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO ('T', 0x41)
#endif

#define CHILD_STACK (64 * 1024)

_Static_assert (sizeof (gid_t) == sizeof (uint32_t), "mp_exec_spec.groups");

struct exec_ctx
{
  struct mp_exec_spec *spec;
  char *command_stack;  /* top of P's stack */
  int pty_slave;        /* MP_EXEC_PTY: in the caller's fd table, or -1 */
  int placed;           /* MP_PLACED_CLONE3: I was born in the cgroup */
};

static int
fail (struct mp_exec_spec *s, int step, int arg)
{
  s->err = errno;
  s->step = step;
  s->step_arg = arg;
  return 1;
}

/* execvpe(3) with the PATH of the new environment, not of the caller (glibc
   searches getenv("PATH")). Returns the errno to report: EACCES if some
   candidate was not executable, else the last error (ENOENT: not found). */
int
mp_exec_search (const char *file, char *const argv[], char *const envp[],
             const char *path)
{
  char buf[PATH_MAX];
  size_t flen = strlen (file);
  int err = ENOENT, eacces = 0;

  if (flen == 0)
    return ENOENT;
  if (strchr (file, '/') != NULL)
    {
      execve (file, argv, envp);
      return errno;
    }
  for (const char *dir = path;; dir++)
    {
      const char *end = strchrnul (dir, ':');
      size_t dlen = (size_t) (end - dir);

      if (dlen == 0)  /* an empty entry is the working directory */
        {
          dir = ".";
          dlen = 1;
        }
      if (dlen + 1 + flen < sizeof buf)
        {
          memcpy (buf, dir, dlen);
          buf[dlen] = '/';
          memcpy (buf + dlen + 1, file, flen + 1);
          execve (buf, argv, envp);
          err = errno;
          if (err == EACCES)
            eacces = 1;
          else if (err != ENOENT && err != ENOTDIR)
            return err;  /* found, but it cannot run (ENOEXEC, E2BIG...) */
        }
      if (*end == '\0')
        break;
      dir = end;
    }
  return eacces ? EACCES : err;
}

/* P cannot go on: record why and exit as a shell does when exec fails. */
static void __attribute__ ((noreturn))
command_failed (struct mp_exec_spec *s, int step)
{
  fail (s, step, 0);
  _exit (127);
}

/* fds 0-2 are about to be replaced: keep what we need above them. */
static int
above_stdio (int fd)
{
  return fd > 2 ? fd : fcntl (fd, F_DUPFD_CLOEXEC, 3);
}

/* P: PID 1 of the new pid namespace (or, with MP_EXEC_SAME_PID_NS, a member
   of the container's), a child of the caller. */
static int
command_main (void *arg)
{
  struct mp_exec_spec *s = arg;
  sigset_t none;
  int in, out, err;

  mp_default_signals ();  /* all of them, glibc's own two included */
  sigemptyset (&none);
  sigprocmask (SIG_SETMASK, &none, NULL);
  prctl (PR_SET_PDEATHSIG, SIGKILL);  /* the parent is the caller */

  in = s->in_fd;
  if (in < 0)
    {
      in = open ("/dev/null", O_RDONLY | O_CLOEXEC);
      if (in < 0)
        command_failed (s, MP_EXEC_STEP_DEVNULL);
    }
  /* every source above 2 first, so no dup2 below overwrites a later one */
  in = above_stdio (in);
  out = above_stdio (s->out_fd);
  err = s->err_fd < 0 ? out : above_stdio (s->err_fd);
  if (in < 0 || out < 0 || err < 0 || dup2 (in, 0) < 0 || dup2 (out, 1) < 0
      || dup2 (err, 2) < 0)
    command_failed (s, MP_EXEC_STEP_STDIO);
  if (syscall (SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
    command_failed (s, MP_EXEC_STEP_CLOSE_RANGE);
  /* P is no process group leader (its pgid is the caller's), so setsid works */
  if ((s->flags & (MP_EXEC_NEW_SESSION | MP_EXEC_PTY)) && setsid () < 0)
    command_failed (s, MP_EXEC_STEP_SETSID);
  if ((s->flags & MP_EXEC_PTY) && ioctl (0, TIOCSCTTY, 0) < 0)
    command_failed (s, MP_EXEC_STEP_CTTY);
  if (s->no_new_privs && s->seccomp != NULL
      && mp_load_seccomp (s->seccomp, s->seccomp_len) < 0)
    command_failed (s, MP_EXEC_STEP_SECCOMP);

  errno = mp_exec_search (s->file, s->argv, s->envp, s->path);
  command_failed (s, MP_EXEC_STEP_EXEC);
}

/* Also used by mp_start.c: 0, or -1 with errno and *cap the capability whose
   bounding-set drop failed (-1: capget/capset failed). */
static int
set_caps (uint64_t keep_caps)
{
  struct __user_cap_header_struct header;
  struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

  memset (&header, 0, sizeof header);
  header.version = _LINUX_CAPABILITY_VERSION_3;
  if (syscall (SYS_capget, &header, data) < 0)
    return -1;
  for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
    {
      uint32_t keep = (uint32_t) (keep_caps >> (32 * i));
      /* effective must stay within permitted, so both are cut alike */
      data[i].effective &= keep;
      data[i].permitted &= keep;
      data[i].inheritable = 0;  /* which also clears the ambient set */
    }
  return syscall (SYS_capset, &header, data) < 0 ? -1 : 0;
}

/* Also used by mp_start.c (mp_launch.h). */
int
mp_trim_caps (uint64_t keep_caps)
{
  return set_caps (keep_caps);
}

int
mp_drop_caps (uint64_t keep_caps, uint64_t transient, int *cap)
{
  *cap = -1;
  for (int c = 0; c < 64; c++)
    if (!(keep_caps & (1ULL << c)) && prctl (PR_CAPBSET_DROP, c, 0, 0, 0) < 0)
      {
        if (errno == EINVAL)
          break;  /* past the kernel's last capability */
        *cap = c;
        return -1;
      }
  return set_caps (keep_caps | transient);
}

/* Also used by mp_start.c (mp_launch.h). */
int
mp_join_session_keyring (void)
{
  /* the kernel's include/linux/key.h: everything for the possessor; view,
     read, search and link for the owner (the session keyring's default
     plus search, as runc's ModKeyringPerm adds it) */
  const unsigned long perm = 0x3f000000UL | 0x00010000UL | 0x00020000UL | 0x00080000UL
                             | 0x00100000UL;
  long serial = syscall (SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL, 0, 0, 0);

  if (serial < 0)
    return errno == ENOSYS ? 0 : -1;
  return syscall (SYS_keyctl, KEYCTL_SETPERM, serial, perm, 0, 0) < 0 ? -1 : 0;
}

/* Also used by mp_start.c (mp_launch.h). */
int
mp_load_seccomp (const unsigned char *program, int len)
{
  struct sock_fprog prog;

  if (len <= 0 || len % (int) sizeof (struct sock_filter) != 0)
    {
      errno = EINVAL;
      return -1;
    }
  prog.len = (unsigned short) (len / (int) sizeof (struct sock_filter));
  prog.filter = (struct sock_filter *) (uintptr_t) program;
  return (int) syscall (SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

static int
drop_capabilities (struct mp_exec_spec *s)
{
  int cap;

  /* setting the identity needs CAP_SETUID and CAP_SETGID for a moment */
  uint64_t transient = s->uid >= 0 || s->gid >= 0 ? SETID_CAPS : 0;

  if (mp_drop_caps (s->keep_caps, transient, &cap) == 0)
    return 0;
  return cap >= 0 ? fail (s, MP_EXEC_STEP_CAPBSET, cap) : fail (s, MP_EXEC_STEP_CAPS, 0);
}

/* The group of ``uid`` in the container's /etc/passwd, else 0 (containerd's
   rule). Parsed as a stream: no line buffer. */
gid_t
mp_primary_group (uid_t uid)
{
  char buf[4096];
  long long value = 0, fields[4] = { -1, -1, -1, -1 };
  int field = 0, digits = 0, bad = 0;
  gid_t found = 0;
  int done = 0;
  ssize_t n;
  int fd = open ("/etc/passwd", O_RDONLY | O_CLOEXEC);

  if (fd < 0)
    return 0;
  while (!done)
    {
      n = read (fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)  /* end of file: end the last line too */
        {
          buf[0] = '\n';
          n = 1;
          done = 1;
        }
      for (ssize_t i = 0; i < n; i++)
        {
          char c = buf[i];
          if (c == ':' || c == '\n')
            {
              if (field < 4)
                fields[field] = (digits > 0 && !bad) ? value : -1;
              field++;
              value = digits = bad = 0;
              if (c != '\n')
                continue;
              if (field >= 4 && fields[2] == (long long) uid && fields[3] >= 0)
                {
                  found = (gid_t) fields[3];
                  done = 1;
                  break;
                }
              field = 0;
              fields[2] = fields[3] = -1;
            }
          else if (c >= '0' && c <= '9' && value < (1LL << 32))
            {
              value = value * 10 + (c - '0');
              digits++;
            }
          else
            bad = 1;
        }
    }
  close (fd);
  return found;
}

static int
set_identity (struct mp_exec_spec *s)
{
  gid_t gid;

  if (s->uid < 0 && s->gid < 0)
    return 0;
  gid = s->gid >= 0 ? (gid_t) s->gid : mp_primary_group ((uid_t) s->uid);
  /* raw system calls: they change this task only (see the top) */
  if ((s->n_groups >= 0 ? syscall (SYS_setgroups, s->n_groups, s->groups)
                         : syscall (SYS_setgroups, 1, &gid)) < 0)
    return fail (s, MP_EXEC_STEP_SETGROUPS, 0);
  if (syscall (SYS_setresgid, gid, gid, gid) < 0)
    return fail (s, MP_EXEC_STEP_SETGID, 0);
  if (s->uid >= 0 && syscall (SYS_setresuid, s->uid, s->uid, s->uid) < 0)
    return fail (s, MP_EXEC_STEP_SETUID, 0);
  if (mp_trim_caps (s->keep_caps) < 0)
    return fail (s, MP_EXEC_STEP_CAPS, 0);
  return 0;
}

/* I, in the container's mount namespace: a new pty of the container's devpts.
   pts/ptmx, not /dev/ptmx: a process of the container can replace the
   /dev/ptmx symlink on its tmpfs, but not the node inside the devpts mount
   (it lacks CAP_SYS_ADMIN). The slave is the command's user's, as runc
   gives it (the group stays the devpts gid=, tty). */
static int
open_pty (struct exec_ctx *ctx)
{
  struct mp_exec_spec *s = ctx->spec;
  struct winsize size;
  int unlock = 0;

  s->pty_master = open ("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (s->pty_master < 0)
    return fail (s, MP_EXEC_STEP_PTY, 0);
  if (ioctl (s->pty_master, TIOCSPTLCK, &unlock) < 0)
    return fail (s, MP_EXEC_STEP_PTY, 1);
  ctx->pty_slave = ioctl (s->pty_master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (ctx->pty_slave < 0)
    return fail (s, MP_EXEC_STEP_PTY, 2);
  if (s->pty_rows > 0 || s->pty_cols > 0)
    {
      memset (&size, 0, sizeof size);
      size.ws_row = s->pty_rows;
      size.ws_col = s->pty_cols;
      if (ioctl (ctx->pty_slave, TIOCSWINSZ, &size) < 0)
        return fail (s, MP_EXEC_STEP_PTY, 3);
    }
  if (s->uid >= 0 && fchown (ctx->pty_slave, (uid_t) s->uid, (gid_t) -1) < 0)
    return fail (s, MP_EXEC_STEP_PTY, 4);
  s->in_fd = s->out_fd = s->err_fd = ctx->pty_slave;
  return 0;
}

/* I, in the container's mount namespace: the working directory resolved in
   its root (a container's process may have made it a link to
   /proc/1/root/..., pause's root when the pid namespace is shared). The two
   fds are the caller's for a moment (CLONE_FILES). */
static int
enter_cwd (struct mp_exec_spec *s)
{
  int root, dir, ret;

  root = open ("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0)
    return -1;
  dir = mp_open_in_root (root, s->cwd, MP_MAKE_NONE, 0);
  close (root);
  if (dir < 0)
    return -1;
  ret = fchdir (dir);
  close (dir);
  return ret;
}

/* I: a member of the container's pid namespace, so it may create a new one
   below it (the kernel refuses unshare(CLONE_NEWPID) to a process whose
   pid_for_children is not its own pid namespace, as the supervisor's is). */
static int
intermediate_main (void *arg)
{
  struct exec_ctx *ctx = arg;
  struct mp_exec_spec *s = ctx->spec;
  int failed, ret;

  /* into the container's cgroup before anything else; P inherits it */
  if (ctx->placed == MP_PLACED_NONE && s->n_cgroup_files > 0
      && (ret = mp_cgroup_enter (s->cgroup_files, s->n_cgroup_files, &failed)) < 0)
    {
      errno = -ret;
      return fail (s, MP_EXEC_STEP_CGROUP, failed);
    }
  for (int i = 0; i < s->n_ns; i++)
    if (setns (s->ns_fds[i], s->ns_types[i]) < 0)
      return fail (s, MP_EXEC_STEP_POD_NS, i);
  if (setns (s->mnt_fd, CLONE_NEWNS) < 0)
    return fail (s, MP_EXEC_STEP_MNT_NS, 0);
  if (enter_cwd (s) < 0)
    return fail (s, MP_EXEC_STEP_CHDIR, 0);
  if ((s->flags & MP_EXEC_PTY) && open_pty (ctx) != 0)
    return 1;
  if (!(s->flags & MP_EXEC_SAME_PID_NS) && unshare (CLONE_NEWPID) < 0)
    return fail (s, MP_EXEC_STEP_UNSHARE_PID, 0);
  if (mp_join_session_keyring () < 0)
    return fail (s, MP_EXEC_STEP_KEYRING, 0);
  if (!s->no_new_privs && s->seccomp != NULL
      && mp_load_seccomp (s->seccomp, s->seccomp_len) < 0)
    return fail (s, MP_EXEC_STEP_SECCOMP, 0);
  if (drop_capabilities (s) != 0 || set_identity (s) != 0)
    return 1;
  if (s->no_new_privs && prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    return fail (s, MP_EXEC_STEP_NO_NEW_PRIVS, 0);
  /* CLONE_PARENT: P becomes the supervisor's child (allowed: I is no
     namespace init), so P's exit reaches the supervisor's pidfd/waitid path
     and nobody in between has to wait for it. Its exit signal is I's own. */
  if (clone (command_main, ctx->command_stack,
             CLONE_VM | CLONE_VFORK | CLONE_PARENT | CLONE_PIDFD, s,
             &s->pidfd) < 0)
    return fail (s, MP_EXEC_STEP_CLONE, 0);
  return s->step == MP_EXEC_OK ? 0 : 1;
}

int
mp_exec_start (struct mp_exec_spec *spec)
{
  /* Stacks of I and P, used only while this frame is suspended in clone
     (they grow down: each child starts at the top of its own). */
  char stacks[2][CHILD_STACK] __attribute__ ((aligned (16)));
  struct exec_ctx ctx = { spec, stacks[1] + CHILD_STACK, -1, MP_PLACED_NONE };
  sigset_t all, old;
  int pid, status = 0, ret = 0;
  int dumpable = prctl (PR_GET_DUMPABLE, 0, 0, 0, 0);

  spec->pidfd = spec->pty_master = -1;
  spec->step = MP_EXEC_OK;
  spec->step_arg = spec->err = 0;
  if (prctl (PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
    return -errno;
  sigfillset (&all);
  sigprocmask (SIG_SETMASK, &all, &old);
  pid = mp_clone_vm (intermediate_main, &ctx, stacks[0], CHILD_STACK,
                     CLONE_VM | CLONE_VFORK | CLONE_FILES, spec->cgroup_fd, NULL,
                     &ctx.placed);
  if (pid < 0)
    ret = pid;
  else
    {
      /* I is done with our memory; reap it (it exits right after). */
      while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
        ;
      if (WIFSIGNALED (status) && spec->step == MP_EXEC_OK)
        {
          spec->step = MP_EXEC_STEP_KILLED;
          spec->step_arg = WTERMSIG (status);
        }
    }
  /* P has its own copy of the pty slave (or never needs it): the caller's goes */
  if (ctx.pty_slave >= 0)
    close (ctx.pty_slave);
  if (spec->step != MP_EXEC_OK && spec->pty_master >= 0)
    {
      close (spec->pty_master);
      spec->pty_master = -1;
    }
  sigprocmask (SIG_SETMASK, &old, NULL);
  if (dumpable == 1)  /* the only other value prctl accepts back */
    prctl (PR_SET_DUMPABLE, 1, 0, 0, 0);
  return ret;
}
