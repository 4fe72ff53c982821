/* Start a container: the C twin of minipod/kernel/launch.py's container_main with
 * rootfs.py's build_rootfs (minipod/kernel/cstart.py builds the spec). Contract as
 * mp_sys.h: 0 when the child was created, -errno when clone failed; a failure
 * in the child is reported in the spec (failed, step, step_arg, err). */
#ifndef MP_START_H
#define MP_START_H

#include <stdint.h>

/* The step the child is at (mp_start_spec.step): like Python's Steps, it
   stays set until the next one, so a failure names what was being done.
   step_arg indexes sources (OPEN, DEV_BIND) or binds (BIND). */
#define MP_START_STEP_START 0
#define MP_START_STEP_JOIN_NS 1
#define MP_START_STEP_UNSHARE_MNT 2
#define MP_START_STEP_PRIVATE 3
#define MP_START_STEP_OPEN 4
#define MP_START_STEP_OVERLAY 5
#define MP_START_STEP_PIVOT 6
#define MP_START_STEP_PROC 7
#define MP_START_STEP_SYS 8
#define MP_START_STEP_DEV 9
#define MP_START_STEP_DEV_BIND 10
#define MP_START_STEP_DEVPTS 11
#define MP_START_STEP_SHM 12
#define MP_START_STEP_MQUEUE 13
#define MP_START_STEP_BIND 14
#define MP_START_STEP_DETACH 15
#define MP_START_STEP_WORKDIR 16
#define MP_START_STEP_STDIO 17
#define MP_START_STEP_CAPS 18
#define MP_START_STEP_IDENTITY 19
#define MP_START_STEP_EXEC 20

#define MP_START_MAX_NS 4

/* mp_start_bind.flags */
#define MP_START_BIND_RO 0x1    /* remount read-only */
#define MP_START_BIND_FILE 0x2  /* the target is a file, not a directory */

struct mp_start_bind
{
  int source;          /* index into mp_start_spec.sources */
  const char *target;  /* absolute, resolved inside the new root */
  int flags;
};

struct mp_start_spec
{
  /* in */
  int ns_fds[MP_START_MAX_NS];  /* the pod's namespaces, joined in this order */
  int ns_types[MP_START_MAX_NS];
  int n_ns;
  const char *const *sources;   /* host paths opened O_PATH before pivot_root:
                                   first n_devices /dev nodes (bound at the
                                   same path inside), then the rest */
  int n_sources;
  int n_devices;
  int shm_source;               /* index of the pod's shm dir */
  int *source_fds;              /* n_sources ints of scratch for the child */
  const char *merged;           /* the overlay's mount point, the new root */
  const char *put_old;          /* merged + "/.minipod-oldroot" */
  const char *overlay_data;     /* lowerdir=...,upperdir=...,workdir=... */
  const struct mp_start_bind *binds;
  int n_binds;
  const char *workdir;
  int out_fd;                   /* becomes stdout */
  int err_fd;                   /* becomes stderr */
  uint64_t keep_caps;           /* bounding, effective and permitted set */
  int uid;                      /* -1: keep (with gid -1: keep both) */
  int gid;                      /* -1 with a uid: its group in /etc/passwd */
  const char *file;
  char *const *argv;
  char *const *envp;
  const char *path;             /* searched for file when it has no slash */
  /* out */
  int pid;
  int pidfd;                    /* CLOEXEC, the caller's; -1 if failed */
  int failed;                   /* the child _exited 127 (reaped already) */
  int step;
  int step_arg;
  int err;
};

int mp_start (struct mp_start_spec *spec);

#endif
