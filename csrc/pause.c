/* minipod-pause: the infra process of a pod.
 *
 * It holds the pod's net, ipc and uts namespaces and, when the pod shares one
 * pid namespace, it is PID 1 there and reaps every orphan of every container.
 *
 * With --sandbox HOSTNAME it makes those namespaces itself: unshare(2) of
 * uts, ipc and net, the hostname, loopback up. minipod starts it with
 * posix_spawn (no fork of the Python supervisor) and waits for --report FD
 * to close: empty means the namespaces are ready; otherwise pause wrote one
 * JSON line {"step", "errno", "message"} (the contract of minipod/kernel/spawn.py)
 * and exits 4. Doing this here rather than in a forked child of the
 * supervisor is what makes a pod start in a few milliseconds.
 *
 * Modelled on catatonit rather than on the kubelet's pause.c: signals are read
 * from a signalfd in the main loop, so no work happens in a signal handler.
 * Setup failures exit with a distinct code (as the kubelet's pause does, so a
 * dead pause is diagnosable without logs); once the loop runs, nothing but
 * SIGTERM or SIGINT ends it.
 *
 * Exit codes: 0 on SIGTERM/SIGINT or -v; 1 sigprocmask failed; 2 signalfd
 * failed; 3 reading the signalfd failed for good; 4 the sandbox could not be
 * set up (reported on --report FD); 5 bad arguments.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef VERSION
#define VERSION "minipod"
#endif

/* stdio is left out on purpose: it doubles the resident size of a static
   binary, and this process lives as long as the pod. */
static void
say (const char *a, const char *b)
{
  const char *parts[] = { "minipod-pause: ", a, ": ", b, "\n" };
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
    if (write (STDERR_FILENO, parts[i], strlen (parts[i])) < 0)
      return; /* nobody is listening; nothing better to do */
}

static void
die (int code, const char *what)
{
  say (what, strerror (errno));
  _exit (code);
}

/* Do not pin the directory we were started in, nor any fd we inherited but
   the report pipe (keep, or -1). */
static void
close_range_above (unsigned int first, unsigned int last)
{
  if (first > last)
    return;
#ifdef SYS_close_range
  if (syscall (SYS_close_range, first, last, 0U) == 0)
    return;
#endif
  for (unsigned int fd = first; fd <= last && fd < 1024; fd++)
    close ((int) fd);
}

static void
detach_from_environment (int keep)
{
  if (chdir ("/") < 0)
    say ("chdir /", strerror (errno));
  if (keep < 3)
    {
      close_range_above (3U, ~0U);
      return;
    }
  close_range_above (3U, (unsigned int) keep - 1);
  close_range_above ((unsigned int) keep + 1, ~0U);
}

/* Appends text to line[*len] (cut at the end of line). */
static void
append (char *line, size_t size, size_t *len, const char *text)
{
  size_t n = strlen (text);
  if (n > size - *len)
    n = size - *len;
  memcpy (line + *len, text, n);
  *len += n;
}

/* One JSON line on the report pipe, then exit: the setup step that failed,
   its errno and strerror (no quotes or backslashes occur in either). */
static void
report_and_exit (int report, const char *step)
{
  int err = errno;
  char code[12];
  char *p = code + sizeof code - 1;
  *p = '\0';
  unsigned int n = err > 0 ? (unsigned int) err : 0U;
  do
    *--p = (char) ('0' + n % 10);
  while ((n /= 10) != 0);

  char line[256];
  size_t len = 0;
  const char *parts[] = { "{\"step\": \"", step, "\", \"errno\": ", p,
                          ", \"message\": \"", strerror (err), "\"}\n" };
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
    append (line, sizeof line, &len, parts[i]);
  if (report < 0 || write (report, line, len) < 0)
    say (step, strerror (err));
  _exit (4);
}

/* The kernel gives lo 127.0.0.1 and ::1 once it is up; only the flag is ours. */
static int
loopback_up (void)
{
  int sock = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0)
    return -1;
  struct ifreq ifr;
  memset (&ifr, 0, sizeof ifr);
  strcpy (ifr.ifr_name, "lo");
  int rc = ioctl (sock, SIOCGIFFLAGS, &ifr);
  if (rc == 0)
    {
      ifr.ifr_flags |= IFF_UP;
      rc = ioctl (sock, SIOCSIFFLAGS, &ifr);
    }
  int err = errno;
  close (sock);
  errno = err;
  return rc;
}

/* The pod's own uts, ipc and net namespaces, named and with loopback up. */
static void
make_sandbox (const char *hostname, int report)
{
  if (unshare (CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET) < 0)
    report_and_exit (report, "unshare uts, ipc and net namespaces");
  if (sethostname (hostname, strlen (hostname)) < 0)
    report_and_exit (report, "set hostname");
  if (loopback_up () < 0)
    report_and_exit (report, "bring up loopback");
}

/* Every argument is a FIFO that carries a container's stdout or stderr. pause
   keeps each open for reading and writing, and never reads: while the
   supervisor is gone (killed, restarting), a container's writes then fill
   the pipe and wait instead of dying of SIGPIPE, and the next supervisor
   reads on where the last one stopped. */
static void
hold_fifos (int argc, char **argv)
{
  for (int i = 0; i < argc; i++)
    if (open (argv[i], O_RDWR | O_CLOEXEC) < 0)
      say (argv[i], strerror (errno)); /* logs suffer, the pod does not */
}

/* SIGCHLDs coalesce: reap until nothing is left. */
static void
reap_zombies (void)
{
  for (;;)
    {
      pid_t pid = waitpid (-1, NULL, WNOHANG);
      if (pid > 0)
        continue;
      if (pid < 0 && errno == EINTR)
        continue;
      return; /* 0: children alive but none exited; -1/ECHILD: no children */
    }
}

static int
parse_fd (const char *text)
{
  char *end;
  errno = 0;
  long fd = strtol (text, &end, 10);
  if (errno != 0 || *end != '\0' || end == text || fd < 0 || fd > 1 << 20)
    return -1;
  return (int) fd;
}

int
main (int argc, char **argv)
{
  const char *hostname = NULL;
  int report = -1;
  int i = 1;
  for (; i < argc; i++)
    {
      if (strcasecmp (argv[i], "-v") == 0)
        {
          const char msg[] = "minipod-pause " VERSION "\n";
          return write (STDOUT_FILENO, msg, sizeof msg - 1) < 0;
        }
      if (strcmp (argv[i], "--sandbox") == 0 && i + 1 < argc)
        hostname = argv[++i];
      else if (strcmp (argv[i], "--report") == 0 && i + 1 < argc)
        {
          if ((report = parse_fd (argv[++i])) < 0)
            {
              say ("--report", "not a file descriptor");
              return 5;
            }
        }
      else if (strcmp (argv[i], "--") == 0)
        {
          i++;
          break;
        }
      else
        break;
    }

  detach_from_environment (report);
  if (hostname != NULL)
    make_sandbox (hostname, report);
  hold_fifos (argc - i, argv + i);
  if (report >= 0)
    close (report); /* EOF: the namespaces are ready */

  sigset_t set;
  sigemptyset (&set);
  sigaddset (&set, SIGCHLD);
  sigaddset (&set, SIGTERM);
  sigaddset (&set, SIGINT);
  /* An inherited SIG_IGN for SIGCHLD would make the kernel auto-reap and
     hide exits from the signalfd (bubblewrap resets it for the same reason). */
  signal (SIGCHLD, SIG_DFL);
  if (sigprocmask (SIG_BLOCK, &set, NULL) < 0)
    die (1, "sigprocmask");
  int sfd = signalfd (-1, &set, SFD_CLOEXEC);
  if (sfd < 0)
    die (2, "signalfd");

  /* Orphans of a container may already be waiting for us. */
  reap_zombies ();
  for (int failures = 0;;)
    {
      struct signalfd_siginfo si;
      ssize_t n = read (sfd, &si, sizeof si);
      if (n != (ssize_t) sizeof si)
        {
          if (n < 0 && errno == EINTR)
            continue;
          /* Never exit on a transient error once running; give up only on a
             signalfd that keeps failing. */
          if (++failures > 100)
            die (3, "read signalfd");
          continue;
        }
      failures = 0;
      if (si.ssi_signo == SIGCHLD)
        reap_zombies ();
      else
        return 0; /* SIGTERM or SIGINT: the pod is going away */
    }
}
