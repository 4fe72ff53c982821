/* What the launchers (mp_exec.c, mp_start.c, mp_cgroup.c's mp_spawn) share:
 * internal, not read by cffi. Every function here is safe in a CLONE_VM child: no allocation,
 * no stdio, errno as its only state. */
#ifndef MP_LAUNCH_H
#define MP_LAUNCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* CAP_SETGID and CAP_SETUID: what setting an identity needs */
#define SETID_CAPS ((1ULL << 6) | (1ULL << 7))

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

/* Keep only keep_caps in the bounding set, and keep_caps | transient in the
   effective and permitted sets (clear the inheritable one, and with it the
   ambient one): 0, or -1 with errno and *cap the capability whose
   bounding-set drop failed (-1: capget/capset failed). transient is what
   setting the identity needs (CAP_SETUID, CAP_SETGID) when the container
   keeps neither: mp_trim_caps takes it away after (runc's order: bounding
   set, identity, capabilities). */
int mp_drop_caps (uint64_t keep_caps, uint64_t transient, int *cap);

/* Effective and permitted sets cut to keep_caps (after the identity). */
int mp_trim_caps (uint64_t keep_caps);

/* The group of uid in the /etc/passwd of the current root, else 0. */
gid_t mp_primary_group (uid_t uid);

/* clone(fn, stack, flags | SIGCHLD, arg, pidfd) where flags has CLONE_VM
   (and CLONE_VFORK, CLONE_PIDFD, ...). With cgroup_fd >= 0 (a cgroup v2
   directory), clone3 with CLONE_INTO_CGROUP makes the child in that cgroup,
   so it never has to migrate (a migration write-locks every cgroup
   hierarchy's threadgroup rwsem: ~10 ms after a quiet spell); where this
   kernel or architecture has no clone3 or no CLONE_INTO_CGROUP, plain clone
   and *placed = MP_PLACED_NONE. The child pid, or -errno. */
int mp_clone_vm (int (*fn) (void *), void *arg, char *stack, size_t stack_size,
                 int flags, int cgroup_fd, int *pidfd, int *placed);

/* The calling thread into each cgroup file of paths (a v1 hierarchy's
   "tasks", or cgroup.procs): write "0" to each. For a v1 "tasks" file that
   moves the caller alone, without the global lock a pid written to
   cgroup.procs takes. 0, or -errno with *failed the index. */
int mp_cgroup_enter (const char *const *paths, int n, int *failed);

/* path inside root (an O_PATH fd of a directory taken as "/"), resolved with
   openat2 RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS, made first as how says
   (mp_start.h's MP_MAKE_*): an O_PATH fd, or -1 with errno (mp_start.c). */
int mp_open_in_root (int root, const char *path, int how, mode_t mode);

/* A new, empty session keyring, its owner allowed to search it (runc's);
   a kernel without keyrings (ENOSYS) is fine. 0 or -1 with errno. */
int mp_join_session_keyring (void);

/* seccomp (SECCOMP_SET_MODE_FILTER, 0, program of len bytes): 0 or -1 with
   errno. Needs no_new_privs or CAP_SYS_ADMIN. */
int mp_load_seccomp (const unsigned char *program, int len);

#endif
