/* Start a container: run a table of setup ops in one CLONE_VM | CLONE_VFORK
 * child, the last of which execs the container's command (bubblewrap's
 * SetupOp list and setup_newroot). The table is policy and comes from
 * Python (minipod/kernel/rootfs.py and launch.py build it); this is the
 * mechanism. Contract as mp_sys.h: 0 when the child was created, -errno
 * when clone failed; a failure in the child is reported in the spec
 * (failed, op, err). */
#ifndef MP_START_H
#define MP_START_H

#include <stdint.h>

/* What an op does (mp_start_op.kind): one case each in mp_start.c's loop.
   "In the root": the path is resolved inside the container's root with
   openat2 RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS (after PIVOT_ROOT) and
   acted on through the resulting fd. */
#define MP_OP_SETNS 1          /* setns (fd, nstype) */
#define MP_OP_UNSHARE 2        /* unshare (flags) */
#define MP_OP_OPEN 3           /* fds[slot] = open (path, O_PATH | O_CLOEXEC) */
#define MP_OP_CLONE 4          /* fds[slot] = open_tree (path, OPEN_TREE_CLONE
                                  [| AT_RECURSIVE]), made private and given
                                  attrs by mount_setattr */
#define MP_OP_MOUNT 5          /* mount (...) on a host path */
#define MP_OP_OVERLAY 6        /* mount overlay on target, its directories the
                                  /proc/self/fd links of OPEN slots */
#define MP_OP_PIVOT_ROOT 7     /* chdir new_root, pivot_root (".", "."),
                                  umount2 (".", MNT_DETACH), chdir / */
#define MP_OP_MOUNT_FS 8       /* fsopen, fsconfig, fsmount (attrs), moved onto
                                  target (in the root, made first) */
#define MP_OP_MOVE 9           /* fds[slot] moved onto target (in the root,
                                  made first) */
#define MP_OP_SYMLINK 10       /* symlink (target, linkpath in the root) */
#define MP_OP_MKNOD 11         /* mknod (path in the root), chown */
#define MP_OP_CLOSE_SOURCES 12 /* close every fd the OPEN and CLONE ops made */
#define MP_OP_MASK 13          /* a file: /dev/null bound on it; a directory:
                                  a read-only tmpfs; missing: nothing */
#define MP_OP_READONLY 14      /* bound on itself, recursively read-only;
                                  missing: nothing */
#define MP_OP_READONLY_ROOT 15 /* mount_setattr ("/", MOUNT_ATTR_RDONLY) */
#define MP_OP_CHDIR 16         /* make the directory (in the root), fchdir */
#define MP_OP_STDIO 17         /* setsid; stdin /dev/null, stdout, stderr;
                                  every other fd close-on-exec */
#define MP_OP_KEYRING 18       /* a new session keyring */
#define MP_OP_DROP_CAPS 19     /* keep only the capabilities in keep */
#define MP_OP_IDENTITY 20      /* setgroups, setresgid, setresuid */
#define MP_OP_NO_NEW_PRIVS 21  /* prctl (PR_SET_NO_NEW_PRIVS) */
#define MP_OP_SECCOMP 22       /* seccomp (SECCOMP_SET_MODE_FILTER, program) */
#define MP_OP_EXEC 23          /* default signals, empty mask, exec */
#define MP_OP_CGROUP 24        /* enter the cgroup: "0" into each of files
                                  (skipped when clone3 made C there) */

/* How MOUNT_FS, MOVE and CHDIR make their target first (make) */
#define MP_MAKE_NONE 0
#define MP_MAKE_DIRS 1  /* mkdir -p: parents 0777, the leaf mode; an existing
                           directory is fine, anything else EEXIST */
#define MP_MAKE_DIR 2   /* mkdir (path, mode): it must not exist yet */
#define MP_MAKE_FILE 3  /* its directory as MP_MAKE_DIRS with 0755, then an
                           empty file of mode unless the path exists */

#define MP_START_MAX_LOWER 128  /* overlay lower directories */

struct mp_start_op
{
  int kind;  /* MP_OP_* */
  union
  {
    struct
    {
      int fd;
      int nstype;
    } setns;
    struct
    {
      int flags;
    } unshare;
    struct
    {
      const char *path;  /* a host path: opened before pivot_root */
      int slot;          /* index into mp_start_spec.fds */
    } open;
    struct
    {
      const char *path;  /* a host path: cloned before pivot_root */
      int slot;
      unsigned int attrs;  /* MOUNT_ATTR_* to set */
      int recursive;
    } clone;
    struct
    {
      const char *source;
      const char *target;
      const char *fstype;
      unsigned long flags;
      const char *data;
    } mount;
    struct
    {
      const char *target;
      unsigned long flags;
      const int *lower_slots;  /* top first */
      int n_lower;
      int upper_slot;
      int work_slot;
    } overlay;
    struct
    {
      const char *new_root;
    } pivot_root;
    struct
    {
      const char *fstype;
      const char *source;   /* fsconfig's "source", or NULL */
      const char *options;  /* "key=value,flag,..." */
      unsigned int attrs;   /* fsmount's MOUNT_ATTR_* */
      const char *target;
      int make;             /* MP_MAKE_* */
      unsigned int mode;
    } mount_fs;
    struct
    {
      int slot;             /* a CLONE op's tree */
      const char *target;
      int make;
      unsigned int mode;
      int not_in_proc;      /* EPERM when the target is on a procfs */
    } move;
    struct
    {
      const char *target;
      const char *linkpath;
    } symlink;
    struct
    {
      const char *path;
      unsigned int mode;    /* st_mode: type and permissions */
      uint64_t rdev;
      int uid;
      int gid;
    } mknod;
    struct
    {
      const char *path;
    } mask;  /* MASK and READONLY */
    struct
    {
      const char *path;
      int make;
      unsigned int mode;
    } chdir;
    struct
    {
      int out_fd;  /* becomes stdout */
      int err_fd;  /* becomes stderr */
    } stdio;
    struct
    {
      uint64_t keep;       /* bounding, effective and permitted set */
      uint64_t transient;  /* effective and permitted until IDENTITY */
    } caps;
    struct
    {
      int uid;  /* -1: keep */
      int gid;  /* -1: uid's group in the new root's /etc/passwd */
      int n_groups;             /* supplementary groups; -1: just the gid */
      const uint32_t *groups;   /* (gid_t is 32 bits on Linux) */
      uint64_t keep;            /* the effective and permitted sets then cut to it */
    } identity;
    struct
    {
      const unsigned char *program;  /* struct sock_filter[] */
      int len;                       /* in bytes */
    } seccomp;
    struct
    {
      char *const *argv;  /* argv[0] is the file, searched in path */
      char *const *envp;
      const char *path;   /* the PATH searched when argv[0] has no slash */
    } exec;
    struct
    {
      const char *const *files;  /* each v1 hierarchy's "tasks", or v2's
                                    cgroup.procs (mp_cgroup.h) */
      int n_files;
    } cgroup;
  };
};

struct mp_start_spec
{
  /* in */
  const struct mp_start_op *ops;  /* run in order; the last one execs */
  int n_ops;
  int *fds;                       /* n_fds ints of scratch for OPEN, CLONE */
  int n_fds;
  int cgroup_fd;                  /* a cgroup v2 directory C is born in
                                     (clone3), or -1 */
  int root;                       /* scratch: the new root, O_PATH */
  /* out */
  int pid;
  int pidfd;   /* CLOEXEC, the caller's; -1 if failed */
  int failed;  /* the child _exited 127 (reaped already) */
  int placed;  /* MP_PLACED_CLONE3 (mp_cgroup.h): C was born in cgroup_fd,
                  and skipped its CGROUP op */
  int op;      /* the index of the op that failed (-1: before the first) */
  int err;     /* its errno */
};

int mp_start (struct mp_start_spec *spec);

#endif
