/* Cgroups from C: the pause program spawned into its cgroup, and the cgroup
 * v2 device program (minipod/kernel/sys.py wraps them; kernel/cgroups.py
 * and spawn.py use them). How the launchers make a child in its cgroup
 * (mp_clone_vm, mp_cgroup_enter) is in mp_launch.h. Contract as mp_sys.h:
 * 0 or an fd on success, -errno on failure; a failure in a child is
 * reported in its spec. */
#ifndef MP_CGROUP_H
#define MP_CGROUP_H

#include <stdint.h>

/* What mp_clone_vm did with cgroup_fd (its *placed). */
#define MP_PLACED_NONE 0    /* no cgroup_fd, or clone3 / CLONE_INTO_CGROUP
                               missing: the child must place itself */
#define MP_PLACED_CLONE3 1  /* the child was born in cgroup_fd */

/* mp_spawn_spec.step */
#define MP_SPAWN_STEP_CGROUP 1  /* step_arg: index into cgroup_files */
#define MP_SPAWN_STEP_SETSID 2
#define MP_SPAWN_STEP_STDIO 3
#define MP_SPAWN_STEP_KEEP 4
#define MP_SPAWN_STEP_EXEC 5

/* posix_spawn(3) of a program, born in its cgroup: a CLONE_VM | CLONE_VFORK
   child that places itself (unless clone3 did), starts a session, takes
   stdio, keeps keep_fd open across exec, resets every signal and its mask,
   and execs. The pause program is started so (sandbox.py). */
struct mp_spawn_spec
{
  /* in */
  const char *file;                 /* a path, not searched */
  char *const *argv;
  char *const *envp;
  int stdio[3];
  int keep_fd;                      /* inherited by the program; -1: none */
  int cgroup_fd;                    /* cgroup v2 directory, or -1 */
  const char *const *cgroup_files;  /* when not born there: "0" into each */
  int n_cgroup_files;
  /* out */
  int pid;
  int pidfd;    /* CLOEXEC, the caller's; -1 if failed */
  int failed;   /* the child _exited 127 (reaped already) */
  int placed;   /* MP_PLACED_CLONE3: born in cgroup_fd */
  int step;
  int step_arg;
  int err;
};

int mp_spawn (struct mp_spawn_spec *spec);

/* BPF_PROG_LOAD of a BPF_PROG_TYPE_CGROUP_DEVICE program (no GPL-only
   helper is used, so the license string is runc's); the verifier's log
   goes to log (log_size bytes, may be 0). The program's fd, or -errno. */
int mp_bpf_device_program (const uint64_t *insns, int n_insns, char *log, int log_size);

/* BPF_PROG_ATTACH of prog_fd to cgroup_fd as its BPF_CGROUP_DEVICE program
   (BPF_F_ALLOW_MULTI: programs of ancestors keep running too). */
int mp_bpf_attach_device (int prog_fd, int cgroup_fd);

/* BPF_PROG_QUERY: how many device programs are attached to cgroup_fd itself. */
int mp_bpf_device_programs (int cgroup_fd);

#endif
