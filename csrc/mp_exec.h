/* Start a command inside a running container (exec probes, exec hooks,
 * `minipod exec`). See mp_exec.c for the two processes involved and
 * minipod/probes/execprobe.py for the design. Contract as mp_sys.h: 0 on success,
 * -errno when the first clone fails; every later failure is reported in the
 * spec (step, err). */
#ifndef MP_EXEC_H
#define MP_EXEC_H

#include <stdint.h>

/* Where a start failed (mp_exec_spec.step). */
#define MP_EXEC_OK 0
#define MP_EXEC_STEP_POD_NS 1        /* step_arg: index into ns_fds */
#define MP_EXEC_STEP_MNT_NS 2
#define MP_EXEC_STEP_CHDIR 3
#define MP_EXEC_STEP_UNSHARE_PID 4
#define MP_EXEC_STEP_CAPBSET 5       /* step_arg: the capability */
#define MP_EXEC_STEP_CAPS 6
#define MP_EXEC_STEP_SETGROUPS 7
#define MP_EXEC_STEP_SETGID 8
#define MP_EXEC_STEP_SETUID 9
#define MP_EXEC_STEP_CLONE 10
#define MP_EXEC_STEP_DEVNULL 11
#define MP_EXEC_STEP_STDIO 12
#define MP_EXEC_STEP_CLOSE_RANGE 13
#define MP_EXEC_STEP_EXEC 14
#define MP_EXEC_STEP_KILLED 15       /* step_arg: the signal that ended I */
#define MP_EXEC_STEP_SETSID 16
#define MP_EXEC_STEP_CTTY 17
#define MP_EXEC_STEP_PTY 18          /* step_arg: 0 open, 1 unlock, 2 peer,
                                        3 size, 4 owner */
#define MP_EXEC_STEP_CGROUP 19       /* step_arg: index into cgroup_files */
#define MP_EXEC_STEP_KEYRING 20
#define MP_EXEC_STEP_NO_NEW_PRIVS 21
#define MP_EXEC_STEP_SECCOMP 22

/* mp_exec_spec.flags */
#define MP_EXEC_SAME_PID_NS 0x1   /* run in the pid ns for children itself, not
                                     as PID 1 of a new one nested in it */
#define MP_EXEC_NEW_SESSION 0x2   /* setsid: no controlling terminal */
#define MP_EXEC_PTY 0x4           /* a new pty of the container's devpts is
                                     stdin, stdout, stderr and controlling
                                     terminal (in_fd, out_fd, err_fd unused);
                                     its master comes back in pty_master */

#define MP_EXEC_MAX_NS 4

struct mp_exec_spec
{
  /* in */
  int ns_fds[MP_EXEC_MAX_NS];   /* the pod's namespaces, joined in this order */
  int ns_types[MP_EXEC_MAX_NS];
  int n_ns;
  int mnt_fd;                   /* the container's mount namespace */
  const char *cwd;
  int in_fd;                    /* becomes stdin; -1: /dev/null */
  int out_fd;                   /* becomes stdout (and stderr, if err_fd is -1) */
  int err_fd;                   /* becomes stderr; -1: out_fd */
  int flags;                    /* MP_EXEC_SAME_PID_NS | ... */
  uint64_t keep_caps;           /* bounding, effective and permitted set */
  int uid;                      /* -1: keep (with gid -1: keep both) */
  int gid;                      /* -1 with a uid: its group in /etc/passwd */
  int n_groups;                 /* supplementary groups; -1: just the gid */
  const uint32_t *groups;       /* (gid_t is 32 bits on Linux) */
  int no_new_privs;             /* prctl (PR_SET_NO_NEW_PRIVS) */
  const unsigned char *seccomp; /* the container's filter (struct sock_filter[]),
                                   or NULL */
  int seccomp_len;              /* in bytes */
  uint16_t pty_rows;            /* MP_EXEC_PTY: its window size (0 0: none) */
  uint16_t pty_cols;
  const char *file;
  char *const *argv;
  char *const *envp;
  const char *path;             /* searched for file when it has no slash */
  int cgroup_fd;                /* the container's cgroup (v2) to be born in, or -1 */
  const char *const *cgroup_files;  /* else I writes "0" to each first */
  int n_cgroup_files;
  /* out */
  int pidfd;                    /* the command's pidfd (CLOEXEC), or -1 */
  int pty_master;               /* MP_EXEC_PTY: the master (CLOEXEC), or -1 */
  int step;                     /* MP_EXEC_OK or where it failed */
  int step_arg;
  int err;                      /* errno of the failed step */
};

int mp_exec_start (struct mp_exec_spec *spec);

#endif
