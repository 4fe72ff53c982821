/* escape: escape attempts made from inside a container, for
 * tests/kernel/test_isolation.py. Built static (musl-gcc) and copied into
 * the test's image.
 *
 *   escape HOST_PIDNS_INODE CHECK [ARG...] [-- CHECK [ARG...]]...
 *
 * It refuses to run where its pid namespace is the host's (the test passes
 * the inode of its own): these are attempts to change the host, and on the
 * host some would succeed. Nothing here writes a new value anywhere a
 * container must not write: a sysctl is written back with the value just
 * read, /proc/sysrq-trigger is only opened, a device only opened.
 *
 * Each check prints one line, "CHECK ARG: refused (WHY)" when the container
 * was stopped, "CHECK ARG: ESCAPED (WHAT)" when it was not, or "CHECK ARG:
 * error (WHAT)" when the attempt could not even be made. Exit status: 0 all
 * refused, 1 something escaped or failed, 2 usage, 99 on the host.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif
/* linux/keyctl.h (musl-gcc has no kernel headers) */
#define KEYCTL_GET_KEYRING_ID 0
#define KEY_SPEC_SESSION_KEYRING -3

/* the name of an errno (musl has no strerrorname_np) */
static const char *
errno_name (int err)
{
  static const struct
  {
    int err;
    const char *name;
  } names[] = {
    { EPERM, "EPERM" }, { ENOENT, "ENOENT" }, { ESRCH, "ESRCH" }, { EACCES, "EACCES" },
    { EROFS, "EROFS" }, { ENOSYS, "ENOSYS" }, { EINVAL, "EINVAL" }, { ELOOP, "ELOOP" },
    { EBUSY, "EBUSY" }, { ENXIO, "ENXIO" }, { EOPNOTSUPP, "EOPNOTSUPP" },
    { ENOTDIR, "ENOTDIR" }, { EEXIST, "EEXIST" }, { EFAULT, "EFAULT" }, { EIO, "EIO" },
  };
  static char other[16];

  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (names[i].err == err)
      return names[i].name;
  snprintf (other, sizeof other, "errno %d", err);
  return other;
}

static int failures;

static void
refused (const char *check, const char *arg, const char *why)
{
  printf ("%s %s: refused (%s)\n", check, arg, why);
}

static void
escaped (const char *check, const char *arg, const char *what)
{
  printf ("%s %s: ESCAPED (%s)\n", check, arg, what);
  failures++;
}

static void
error (const char *check, const char *arg, const char *what)
{
  printf ("%s %s: error (%s: %s)\n", check, arg, what, errno_name (errno));
  failures++;
}

/* errno's name ("EPERM") as the reason a call was refused */
static void
refused_errno (const char *check, const char *arg)
{
  refused (check, arg, errno_name (errno));
}

/* A sysctl written back with its own value: EROFS (or EACCES) is a refusal;
   a write that goes through changed nothing, and is an escape. */
static void
sysctl_write (const char *path)
{
  char value[4096];
  ssize_t n;
  int fd = open (path, O_RDONLY | O_CLOEXEC);

  if (fd < 0)
    {
      if (errno == ENOENT)
        refused ("sysctl-write", path, "absent");
      else
        error ("sysctl-write", path, "read it");
      return;
    }
  n = read (fd, value, sizeof value);
  close (fd);
  if (n < 0)
    {
      error ("sysctl-write", path, "read it");
      return;
    }
  fd = open (path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    {
      refused_errno ("sysctl-write", path);
      return;
    }
  if (write (fd, value, (size_t) n) < 0)
    refused_errno ("sysctl-write", path);
  else
    escaped ("sysctl-write", path, "the current value was written back");
  close (fd);
}

/* Only opened for writing, never written (sysrq-trigger) */
static void
open_write (const char *path)
{
  int fd = open (path, O_WRONLY | O_CLOEXEC);

  if (fd < 0)
    {
      refused_errno ("open-write", path);
      return;
    }
  close (fd);
  escaped ("open-write", path, "opened for writing");
}

static void
read_only (const char *path)
{
  struct statvfs st;

  if (statvfs (path, &st) < 0)
    {
      if (errno == ENOENT)
        refused ("read-only", path, "absent");
      else
        error ("read-only", path, "statvfs");
      return;
    }
  if (st.f_flag & ST_RDONLY)
    refused ("read-only", path, "ST_RDONLY");
  else
    escaped ("read-only", path, "mounted read-write");
}

/* A masked path shows nothing: /dev/null on a file, an empty tmpfs on a
   directory */
static void
masked (const char *path)
{
  struct stat st;
  char buf[256];

  if (stat (path, &st) < 0)
    {
      if (errno == ENOENT)
        refused ("masked", path, "absent");
      else
        error ("masked", path, "stat");
      return;
    }
  if (S_ISDIR (st.st_mode))
    {
      DIR *dir = opendir (path);
      struct dirent *entry;
      int entries = 0;

      if (dir == NULL)
        {
          refused_errno ("masked", path);
          return;
        }
      while ((entry = readdir (dir)) != NULL)
        if (strcmp (entry->d_name, ".") != 0 && strcmp (entry->d_name, "..") != 0)
          entries++;
      closedir (dir);
      if (entries == 0)
        refused ("masked", path, "empty");
      else
        escaped ("masked", path, "entries listed");
      return;
    }
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    {
      refused_errno ("masked", path);
      return;
    }
  ssize_t n = read (fd, buf, sizeof buf);
  close (fd);
  if (n <= 0)
    refused ("masked", path, "empty");
  else
    escaped ("masked", path, "read data");
}

/* mknod of a character device (1:3, null) in /tmp: no CAP_MKNOD */
static void
make_node (const char *path)
{
  if (mknod (path, S_IFCHR | 0600, makedev (1, 3)) < 0)
    {
      refused_errno ("mknod", path);
      return;
    }
  unlink (path);
  escaped ("mknod", path, "made a device node");
}

/* A device node (one an image shipped): opening it must fail (nodev) */
static void
open_device (const char *path)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

  if (fd < 0)
    {
      refused_errno ("open-device", path);
      return;
    }
  close (fd);
  escaped ("open-device", path, "opened");
}

/* A file written through a path that should not lead out (/proc/PID/root) */
static void
create (const char *path)
{
  int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

  if (fd < 0)
    {
      refused_errno ("create", path);
      return;
    }
  close (fd);
  unlink (path);
  escaped ("create", path, "created");
}

static void
read_file (const char *path)
{
  char buf[64];
  int fd = open (path, O_RDONLY | O_CLOEXEC);

  if (fd < 0)
    {
      refused_errno ("read", path);
      return;
    }
  ssize_t n = read (fd, buf, sizeof buf);
  close (fd);
  if (n < 0)
    refused_errno ("read", path);
  else
    escaped ("read", path, "read");
}

static void
try_mount (const char *target)
{
  if (mount ("none", target, "tmpfs", 0, NULL) < 0)
    {
      refused_errno ("mount", target);
      return;
    }
  umount2 (target, MNT_DETACH);
  escaped ("mount", target, "mounted a tmpfs");
}

static void
remount_rw (const char *target)
{
  if (mount (NULL, target, NULL, MS_REMOUNT | MS_BIND, NULL) < 0)
    {
      refused_errno ("remount-rw", target);
      return;
    }
  escaped ("remount-rw", target, "remounted read-write");
}

/* The system calls the RuntimeDefault profile refuses: each must fail
   with EPERM (ENOSYS for one this libseccomp does not know) */
static void
syscall_check (const char *name)
{
  long rc;

  errno = 0;
  if (strcmp (name, "keyctl") == 0)
    rc = syscall (SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0);
  else if (strcmp (name, "add_key") == 0)
    rc = syscall (SYS_add_key, "user", "minipod-escape", "x", 1, KEY_SPEC_SESSION_KEYRING);
  else if (strcmp (name, "bpf") == 0)
    rc = syscall (SYS_bpf, 0 /* BPF_MAP_CREATE */, NULL, 0);
  else if (strcmp (name, "perf_event_open") == 0)
    rc = syscall (SYS_perf_event_open, NULL, 0, -1, -1, 0);
  else if (strcmp (name, "io_uring_setup") == 0)
    rc = syscall (SYS_io_uring_setup, 1, NULL);
  else if (strcmp (name, "unshare-user") == 0)
    rc = unshare (CLONE_NEWUSER | CLONE_NEWNS);
  else if (strcmp (name, "clone-user") == 0)
    {
      rc = syscall (SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, 0);
      if (rc == 0)
        _exit (0);
    }
  else if (strcmp (name, "open_by_handle_at") == 0)
    {
      struct
      {
        struct file_handle handle;
        unsigned char bytes[128];
      } h;
      int mount_id;

      h.handle.handle_bytes = sizeof h.bytes;
      if (name_to_handle_at (AT_FDCWD, "/etc/hostname", &h.handle, &mount_id, 0) < 0)
        {
          refused_errno ("syscall", name);  /* even the handle is refused */
          return;
        }
      rc = open_by_handle_at (AT_FDCWD, &h.handle, O_RDONLY);
      if (rc >= 0)
        close ((int) rc);
    }
  else
    {
      errno = EINVAL;
      error ("syscall", name, "unknown check");
      return;
    }
  if (rc < 0)
    refused_errno ("syscall", name);
  else
    escaped ("syscall", name, "the call succeeded");
}

/* A process outside this pod: ptrace, kill and process_vm_readv by its pid
   (of the host's pid namespace; in ours it must not be found) */
static void
other_process (const char *pid_text)
{
  pid_t pid = (pid_t) atoi (pid_text);
  char byte;
  struct iovec local = { &byte, 1 }, remote = { (void *) 0x400000, 1 };

  if (ptrace (PTRACE_ATTACH, pid, NULL, NULL) == 0)
    {
      ptrace (PTRACE_DETACH, pid, NULL, NULL);
      escaped ("ptrace", pid_text, "attached");
    }
  else
    refused_errno ("ptrace", pid_text);
  if (kill (pid, 0) == 0)
    escaped ("kill", pid_text, "may signal it");
  else
    refused_errno ("kill", pid_text);
  if (process_vm_readv (pid, &local, 1, &remote, 1, 0) >= 0)
    escaped ("process_vm_readv", pid_text, "read its memory");
  else
    refused_errno ("process_vm_readv", pid_text);
}

/* Another session's keyring: this process's session keyring must be a new
   one (the serial the host's session keyring has is given) */
static void
keyring (const char *host_serial)
{
  long serial = syscall (SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0);
  char text[32];

  if (serial < 0)
    {
      refused_errno ("keyring", host_serial);
      return;
    }
  snprintf (text, sizeof text, "%ld", serial);
  if (strcmp (text, host_serial) == 0)
    escaped ("keyring", host_serial, "the host's session keyring");
  else
    refused ("keyring", host_serial, "a new session keyring");
}

static void
shm (const char *max_bytes)
{
  struct statfs st;
  unsigned long long size, max = strtoull (max_bytes, NULL, 10);

  if (statfs ("/dev/shm", &st) < 0)
    {
      error ("shm", max_bytes, "statfs");
      return;
    }
  size = (unsigned long long) st.f_blocks * (unsigned long long) st.f_bsize;
  if ((unsigned long) st.f_type != TMPFS_MAGIC)
    escaped ("shm", max_bytes, "not a tmpfs");
  else if (size > max)
    escaped ("shm", max_bytes, "larger");
  else
    refused ("shm", max_bytes, "a tmpfs of its own size");
}

/* /proc/self/mountinfo shows none of the given host paths */
static void
mountinfo (const char *text)
{
  char line[4096];
  FILE *f = fopen ("/proc/self/mountinfo", "re");
  int found = 0;

  if (f == NULL)
    {
      error ("mountinfo", text, "open");
      return;
    }
  while (fgets (line, sizeof line, f) != NULL)
    if (strstr (line, text) != NULL)
      found++;
  fclose (f);
  if (found)
    escaped ("mountinfo", text, "shown");
  else
    refused ("mountinfo", text, "not shown");
}

/* The effective uid after exec of this very file: run setuid-root, under
   no_new_privs it must stay the caller's */
static void
euid (const char *expected)
{
  char text[16];

  snprintf (text, sizeof text, "%u", (unsigned) geteuid ());
  if (strcmp (text, expected) == 0)
    refused ("euid", expected, "kept");
  else
    escaped ("euid", expected, text);
}

static unsigned long long
pidns_inode (void)
{
  struct stat st;

  if (stat ("/proc/self/ns/pid", &st) < 0)
    return 0;
  return (unsigned long long) st.st_ino;
}

int
main (int argc, char **argv)
{
  static const struct
  {
    const char *name;
    void (*run) (const char *);
  } checks[] = {
    { "sysctl-write", sysctl_write }, { "open-write", open_write },
    { "read-only", read_only }, { "masked", masked }, { "mknod", make_node },
    { "open-device", open_device }, { "create", create }, { "read", read_file },
    { "mount", try_mount }, { "remount-rw", remount_rw }, { "syscall", syscall_check },
    { "other-process", other_process }, { "keyring", keyring }, { "shm", shm },
    { "mountinfo", mountinfo }, { "euid", euid },
  };

  if (argc < 3)
    {
      fprintf (stderr, "usage: escape HOST_PIDNS_INODE CHECK [ARG...] [-- CHECK ...]\n");
      return 2;
    }
  if (pidns_inode () == strtoull (argv[1], NULL, 10))
    {
      fprintf (stderr, "escape: this is the host's pid namespace: refusing to run\n");
      return 99;
    }
  setvbuf (stdout, NULL, _IOLBF, 0);
  for (int i = 2; i < argc;)
    {
      const char *name = argv[i++];
      size_t k = 0;

      while (k < sizeof checks / sizeof checks[0] && strcmp (checks[k].name, name) != 0)
        k++;
      if (k == sizeof checks / sizeof checks[0])
        {
          fprintf (stderr, "escape: no check %s\n", name);
          return 2;
        }
      for (; i < argc && strcmp (argv[i], "--") != 0; i++)
        checks[k].run (argv[i]);
      if (i < argc)
        i++;  /* the -- */
    }
  return failures ? 1 : 0;
}
