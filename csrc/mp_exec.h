/* Start a command inside a running container (exec probes, exec hooks).
 * See mp_exec.c for the two processes involved and minipod/execprobe.py for
 * the design. Contract as mp_sys.h: 0 on success, -errno when the first
 * clone fails; every later failure is reported in the spec (step, err). */
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

#define MP_EXEC_MAX_NS 4

struct mp_exec_spec
{
  /* in */
  int ns_fds[MP_EXEC_MAX_NS];   /* the pod's namespaces, joined in this order */
  int ns_types[MP_EXEC_MAX_NS];
  int n_ns;
  int mnt_fd;                   /* the container's mount namespace */
  const char *cwd;
  int out_fd;                   /* becomes stdout and stderr */
  uint64_t keep_caps;           /* bounding, effective and permitted set */
  int uid;                      /* -1: keep (with gid -1: keep both) */
  int gid;                      /* -1 with a uid: its group in /etc/passwd */
  const char *file;
  char *const *argv;
  char *const *envp;
  const char *path;             /* searched for file when it has no slash */
  /* out */
  int pidfd;                    /* the command's pidfd (CLOEXEC), or -1 */
  int step;                     /* MP_EXEC_OK or where it failed */
  int step_arg;
  int err;                      /* errno of the failed step */
};

int mp_exec_start (struct mp_exec_spec *spec);

#endif
