/* Cgroups from C: see mp_cgroup.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mp_cgroup.h"
#include "mp_launch.h"
#include "mp_sys.h"

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef __NR_clone3
#define __NR_clone3 435
#endif

#define CHILD_STACK (64 * 1024)

/* clone_args as of Linux 5.7 (CLONE_ARGS_SIZE_VER2: 88 bytes), spelled out
   so that older headers build it too. */
struct mp_clone_args
{
  uint64_t flags;
  uint64_t pidfd;
  uint64_t child_tid;
  uint64_t parent_tid;
  uint64_t exit_signal;
  uint64_t stack;
  uint64_t stack_size;
  uint64_t tls;
  uint64_t set_tid;
  uint64_t set_tid_size;
  uint64_t cgroup;
};

/* clone3 with a child that runs fn(arg) on the stack the args name, as
   glibc's internal __clone3 does (it has no public wrapper): the raw
   syscall returns twice, and only assembly can move the child onto its
   own stack before any C runs there. The child never returns: it exits
   with fn's value (or execs). Parent: the pid, or -errno. */
long mp_raw_clone3 (struct mp_clone_args *args, size_t size, int (*fn) (void *),
                    void *arg) __attribute__ ((visibility ("hidden")));

#if defined(__x86_64__)
__asm__ (".text\n"
         ".globl mp_raw_clone3\n"
         ".hidden mp_raw_clone3\n"
         ".type mp_raw_clone3, @function\n"
         ".p2align 4\n"
         "mp_raw_clone3:\n"
#ifdef __CET__
         "  endbr64\n"
#endif
         "  movq %rcx, %r8\n"      /* arg and fn: the syscall keeps r8, r9 */
         "  movq %rdx, %r9\n"
         "  movl $435, %eax\n"     /* __NR_clone3 */
         "  syscall\n"
         "  testq %rax, %rax\n"
         "  jz 1f\n"
         "  ret\n"                 /* the parent: pid or -errno */
         "1:\n"                    /* the child, on the new stack */
         "  xorl %ebp, %ebp\n"
         "  andq $-16, %rsp\n"
         "  movq %r8, %rdi\n"
         "  call *%r9\n"
         "  movl %eax, %edi\n"
         "  movl $60, %eax\n"      /* __NR_exit */
         "  syscall\n"
         "  hlt\n"
         ".size mp_raw_clone3, .-mp_raw_clone3\n");
#define HAVE_RAW_CLONE3 1
#elif defined(__aarch64__)
__asm__ (".text\n"
         ".globl mp_raw_clone3\n"
         ".hidden mp_raw_clone3\n"
         ".type mp_raw_clone3, %function\n"
         ".p2align 2\n"
         "mp_raw_clone3:\n"
         "  mov x9, x2\n"          /* fn and arg: svc keeps every register */
         "  mov x10, x3\n"         /* but x0 */
         "  mov x8, #435\n"
         "  svc #0\n"
         "  cbz x0, 1f\n"
         "  ret\n"
         "1:\n"
         "  mov x29, #0\n"
         "  mov x30, #0\n"
         "  mov x0, x10\n"
         "  blr x9\n"
         "  mov x8, #93\n"         /* __NR_exit */
         "  svc #0\n"
         "  brk #0\n"
         ".size mp_raw_clone3, .-mp_raw_clone3\n");
#define HAVE_RAW_CLONE3 1
#else
long
mp_raw_clone3 (struct mp_clone_args *args, size_t size, int (*fn) (void *), void *arg)
{
  (void) args, (void) size, (void) fn, (void) arg;
  return -ENOSYS;
}
#endif

/* Once this kernel refused clone3 or CLONE_INTO_CGROUP, never ask again. */
static int clone3_missing;

int
mp_clone_vm (int (*fn) (void *), void *arg, char *stack, size_t stack_size, int flags,
             int cgroup_fd, int *pidfd, int *placed)
{
  *placed = MP_PLACED_NONE;
  if (cgroup_fd >= 0 && !clone3_missing)
    {
      struct mp_clone_args args;
      long ret;

      memset (&args, 0, sizeof args);
      args.flags = (uint64_t) (unsigned int) flags | CLONE_INTO_CGROUP;
      args.pidfd = (uint64_t) (uintptr_t) pidfd;
      args.exit_signal = SIGCHLD;
      args.stack = (uint64_t) (uintptr_t) stack;
      args.stack_size = stack_size;
      args.cgroup = (uint64_t) cgroup_fd;
      *placed = MP_PLACED_CLONE3;  /* read by the child: set before it runs */
      ret = mp_raw_clone3 (&args, sizeof args, fn, arg);
      if (ret >= 0)
        return (int) ret;
      /* ENOSYS: no clone3 (before 5.3, or a seccomp filter); E2BIG: a
         clone3 without the cgroup field (before 5.7). Anything else is a
         real failure to report. */
      if (ret != -ENOSYS && ret != -E2BIG)
        return (int) ret;
      clone3_missing = 1;
      *placed = MP_PLACED_NONE;
    }
  {
    int pid = clone (fn, stack + stack_size, flags | SIGCHLD, arg, pidfd);
    return pid < 0 ? -errno : pid;
  }
}

int
mp_cgroup_enter (const char *const *paths, int n, int *failed)
{
  for (int i = 0; i < n; i++)
    {
      int fd, err;
      ssize_t written;

      *failed = i;
      fd = open (paths[i], O_WRONLY | O_CLOEXEC);
      if (fd < 0)
        return -errno;
      do
        written = write (fd, "0", 1);
      while (written < 0 && errno == EINTR);
      err = written < 0 ? errno : 0;
      close (fd);
      if (err != 0)
        return -err;
    }
  *failed = -1;
  return 0;
}


static int __attribute__ ((noreturn))
spawn_failed (struct mp_spawn_spec *s, int step, int arg, int err)
{
  s->step = step;
  s->step_arg = arg;
  s->err = err;
  s->failed = 1;
  _exit (127);
}

/* fds 0-2 are about to be replaced: keep what we need above them. */
static int
above_stdio (int fd)
{
  return fd > 2 ? fd : fcntl (fd, F_DUPFD_CLOEXEC, 3);
}

/* The CLONE_VM | CLONE_VFORK child of mp_spawn: the caller is suspended
   until it execs or exits, so it may use the spec; nothing is allocated. */
static int
spawn_main (void *arg)
{
  struct mp_spawn_spec *s = arg;
  int fds[3], failed, ret;
  sigset_t none;

  if (s->placed == MP_PLACED_NONE && s->n_cgroup_files > 0
      && (ret = mp_cgroup_enter (s->cgroup_files, s->n_cgroup_files, &failed)) < 0)
    spawn_failed (s, MP_SPAWN_STEP_CGROUP, failed, -ret);
  if (setsid () < 0)
    spawn_failed (s, MP_SPAWN_STEP_SETSID, 0, errno);
  for (int i = 0; i < 3; i++)
    if ((fds[i] = above_stdio (s->stdio[i])) < 0)
      spawn_failed (s, MP_SPAWN_STEP_STDIO, i, errno);
  for (int i = 0; i < 3; i++)
    if (dup2 (fds[i], i) < 0)
      spawn_failed (s, MP_SPAWN_STEP_STDIO, i, errno);
  if (s->keep_fd >= 0 && (s->keep_fd <= 2 || fcntl (s->keep_fd, F_SETFD, 0) < 0))
    spawn_failed (s, MP_SPAWN_STEP_KEEP, 0, s->keep_fd <= 2 ? EBADF : errno);
  mp_default_signals ();
  sigemptyset (&none);
  sigprocmask (SIG_SETMASK, &none, NULL);
  execve (s->file, s->argv, s->envp);
  spawn_failed (s, MP_SPAWN_STEP_EXEC, 0, errno);
}

int
mp_spawn (struct mp_spawn_spec *spec)
{
  /* the child's stack, used only while this frame is suspended in clone */
  char stack[CHILD_STACK] __attribute__ ((aligned (16)));
  sigset_t all, old;
  int pid, status, ret = 0;
  int dumpable = prctl (PR_GET_DUMPABLE, 0, 0, 0, 0);

  spec->pid = spec->pidfd = -1;
  spec->failed = spec->step = spec->step_arg = spec->err = 0;
  spec->placed = MP_PLACED_NONE;
  if (prctl (PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
    return -errno;
  sigfillset (&all);
  sigprocmask (SIG_SETMASK, &all, &old);
  pid = mp_clone_vm (spawn_main, spec, stack, sizeof stack,
                     CLONE_VM | CLONE_VFORK | CLONE_PIDFD, spec->cgroup_fd, &spec->pidfd,
                     &spec->placed);
  if (pid < 0)
    ret = pid;
  else
    {
      spec->pid = pid;
      if (spec->failed)  /* it exited 127: reap it */
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

/* Retry on EINTR; turn -1/errno into -errno. */
static int
bpf (int cmd, union bpf_attr *attr)
{
  long ret;

  do
    ret = syscall (SYS_bpf, cmd, attr, sizeof *attr);
  while (ret < 0 && errno == EINTR);
  return ret < 0 ? -errno : (int) ret;
}

int
mp_bpf_device_program (const uint64_t *insns, int n_insns, char *log, int log_size)
{
  union bpf_attr attr;

  memset (&attr, 0, sizeof attr);
  attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  attr.insns = (uint64_t) (uintptr_t) insns;
  attr.insn_cnt = (uint32_t) n_insns;
  attr.license = (uint64_t) (uintptr_t) "Apache";
  if (log != NULL && log_size > 0)
    {
      attr.log_buf = (uint64_t) (uintptr_t) log;
      attr.log_size = (uint32_t) log_size;
      attr.log_level = 1;
    }
  return bpf (BPF_PROG_LOAD, &attr);
}

int
mp_bpf_attach_device (int prog_fd, int cgroup_fd)
{
  union bpf_attr attr;

  memset (&attr, 0, sizeof attr);
  attr.target_fd = (uint32_t) cgroup_fd;
  attr.attach_bpf_fd = (uint32_t) prog_fd;
  attr.attach_type = BPF_CGROUP_DEVICE;
  attr.attach_flags = BPF_F_ALLOW_MULTI;
  return bpf (BPF_PROG_ATTACH, &attr);
}

int
mp_bpf_device_programs (int cgroup_fd)
{
  union bpf_attr attr;
  int ret;

  memset (&attr, 0, sizeof attr);
  attr.query.target_fd = (uint32_t) cgroup_fd;
  attr.query.attach_type = BPF_CGROUP_DEVICE;
  ret = bpf (BPF_PROG_QUERY, &attr);
  return ret < 0 ? ret : (int) attr.query.prog_cnt;
}
