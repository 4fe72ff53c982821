/* What the two launchers (mp_exec.c, mp_start.c) share: internal, not read
 * by cffi. Every function here is safe in a CLONE_VM child: no allocation,
 * no stdio, errno as its only state. */
#ifndef MP_LAUNCH_H
#define MP_LAUNCH_H

#include <stdint.h>
#include <sys/types.h>

/* Older libc headers lack these. */
#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* execvpe(3) with the PATH of the new environment: the errno to report. */
int mp_exec_search (const char *file, char *const argv[], char *const envp[],
                    const char *path);

/* Keep only keep_caps in the bounding, effective and permitted sets (and
   clear the inheritable one): 0, or -1 with errno and *cap the capability
   whose bounding-set drop failed (-1: capget/capset failed). */
int mp_drop_caps (uint64_t keep_caps, int *cap);

/* The group of uid in the /etc/passwd of the current root, else 0. */
gid_t mp_primary_group (uid_t uid);

#endif
