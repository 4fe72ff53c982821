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

/* What an op does (mp_start_op.kind): one case each in mp_start.c's loop. */
#define MP_OP_SETNS 1          /* setns (fd, nstype) */
#define MP_OP_UNSHARE 2        /* unshare (flags) */
#define MP_OP_OPEN 3           /* fds[slot] = open (path, O_PATH | O_CLOEXEC) */
#define MP_OP_MOUNT 4          /* make the target, mount (...) */
#define MP_OP_BIND 5           /* make the target, bind fds[slot] on it */
#define MP_OP_PIVOT_ROOT 6     /* mkdir put_old 0700, pivot_root, chdir / */
#define MP_OP_SYMLINK 7        /* symlink (target, linkpath) */
#define MP_OP_CLOSE_SOURCES 8  /* close every fd the OPEN ops made */
#define MP_OP_DETACH 9         /* umount2 (target, MNT_DETACH), rmdir */
#define MP_OP_CHDIR 10         /* make the directory, chdir */
#define MP_OP_STDIO 11         /* setsid; stdin /dev/null, stdout, stderr;
                                  every other fd close-on-exec */
#define MP_OP_DROP_CAPS 12     /* keep only the capabilities in keep */
#define MP_OP_IDENTITY 13      /* setgroups, setresgid, setresuid */
#define MP_OP_EXEC 14          /* default signals, empty mask, exec */
#define MP_OP_CGROUP 15        /* enter the cgroup: "0" into each of files
                                  (skipped when clone3 made C there) */

/* How MOUNT, BIND and CHDIR make their target first (make) */
#define MP_MAKE_NONE 0
#define MP_MAKE_DIRS 1  /* mkdir -p: parents 0777, the leaf mode; an existing
                           directory is fine, anything else EEXIST */
#define MP_MAKE_DIR 2   /* mkdir (path, mode): it must not exist yet */
#define MP_MAKE_FILE 3  /* its directory as MP_MAKE_DIRS with 0755, then an
                           empty file of mode unless the path exists */

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
      const char *source;
      const char *target;
      const char *fstype;
      unsigned long flags;
      const char *data;
      int make;           /* MP_MAKE_* */
      unsigned int mode;
    } mount;
    struct
    {
      int slot;           /* the source: an OPEN op's fd, through its
                             /proc/self/fd link */
      const char *target;
      unsigned long flags;
      int read_only;      /* then remounted read-only (recursively if
                             flags has MS_REC) */
      int make;
      unsigned int mode;
    } bind;
    struct
    {
      const char *new_root;
      const char *put_old;
    } pivot_root;
    struct
    {
      const char *target;
      const char *linkpath;
    } symlink;
    struct
    {
      const char *target;
    } detach;
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
      uint64_t keep;  /* bounding, effective and permitted set */
    } caps;
    struct
    {
      int uid;  /* -1: keep */
      int gid;  /* -1: uid's group in the new root's /etc/passwd */
      int n_groups;             /* supplementary groups; -1: just the gid */
      const uint32_t *groups;   /* (gid_t is 32 bits on Linux) */
    } identity;
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
  int *fds;                       /* n_fds ints of scratch for OPEN */
  int n_fds;
  int cgroup_fd;                  /* a cgroup v2 directory C is born in
                                     (clone3), or -1 */
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
