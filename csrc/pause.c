/* minipod-pause: the infra process of a pod.
 *
 * It holds the pod's net, ipc and uts namespaces (minipod creates them before
 * exec'ing this program) and, when the pod shares one pid namespace, it is
 * PID 1 there and reaps every orphan of every container.
 *
 * Modelled on catatonit rather than on the kubelet's pause.c: signals are read
 * from a signalfd in the main loop, so no work happens in a signal handler.
 * Setup failures exit with a distinct code (as the kubelet's pause does, so a
 * dead pause is diagnosable without logs); once the loop runs, nothing but
 * SIGTERM or SIGINT ends it.
 *
 * Exit codes: 0 on SIGTERM/SIGINT or -v; 1 sigprocmask failed; 2 signalfd
 * failed; 3 reading the signalfd failed for good.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/signalfd.h>
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

/* Do not pin the directory we were started in, nor any fd we inherited. */
static void
detach_from_environment (void)
{
  if (chdir ("/") < 0)
    say ("chdir /", strerror (errno));
#ifdef SYS_close_range
  if (syscall (SYS_close_range, 3U, ~0U, 0U) == 0)
    return;
#endif
  for (int fd = 3; fd < 1024; fd++)
    close (fd);
}

/* Every argument is a FIFO that carries a container's stdout or stderr. pause
   keeps each open for reading and writing, and never reads: while the
   supervisor is gone (killed, restarting), a container's writes then fill
   the pipe and wait instead of dying of SIGPIPE, and the next supervisor
   reads on where the last one stopped. */
static void
hold_fifos (int argc, char **argv)
{
  for (int i = 1; i < argc; i++)
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

int
main (int argc, char **argv)
{
  for (int i = 1; i < argc; i++)
    if (strcasecmp (argv[i], "-v") == 0)
      {
        const char msg[] = "minipod-pause " VERSION "\n";
        return write (STDOUT_FILENO, msg, sizeof msg - 1) < 0;
      }

  detach_from_environment ();
  hold_fifos (argc, argv);

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
