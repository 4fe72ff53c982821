/* mp_probe_dial: see mp_probe.h.
 *
 * A socket belongs to the network namespace it was created in, for its whole
 * life; setns(CLONE_NEWNET) moves only the calling thread. So: join the
 * pod's netns, socket(), return home, then connect from home. Python did the
 * same in five calls, 1000 times a second; here it is one.
 *
 * On the loopback the handshake runs inside connect() (the SYN, the
 * listener's SYN-ACK and our ACK are all processed in softirq before the
 * syscall returns), so a non-blocking connect is usually done, or refused,
 * by the time it says EINPROGRESS. send() of the request tells which (and
 * sends it: the server, woken by the handshake, then finds it already there
 * instead of going back to sleep for it); without a request, TCP_INFO does.
 * Either way the caller skips a trip through epoll to learn it.
 *
 * A socket need not die with its connection: connect() to AF_UNSPEC aborts
 * the connection (RST, as close() with SO_LINGER {1, 0} would) and leaves
 * the socket unconnected, still in the pod's netns, for the next probe of
 * the same container. That saves the two setns, socket() and the socket's
 * teardown per probe (about a quarter of the kernel's time per probe). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mp_probe.h"

static int
fail (int *out, int step, int err)
{
  out[0] = step;
  return -err;
}

/* Where a connect that said EINPROGRESS got to: MP_PROBE_CONNECTED,
   MP_PROBE_IN_PROGRESS, or -errno of a connect that failed already. */
static int
connect_state (int fd)
{
  struct tcp_info info;
  socklen_t len = sizeof info;
  int err = 0;

  if (getsockopt (fd, IPPROTO_TCP, TCP_INFO, &info, &len) < 0)
    return MP_PROBE_IN_PROGRESS; /* epoll will tell */
  if (info.tcpi_state == TCP_ESTABLISHED)
    return MP_PROBE_CONNECTED;
  if (info.tcpi_state != TCP_CLOSE)
    return MP_PROBE_IN_PROGRESS;
  len = sizeof err;
  if (getsockopt (fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err == 0)
    return MP_PROBE_IN_PROGRESS; /* closed without a reason: let epoll say */
  return -err;
}

static ssize_t
send_data (int fd, const char *data, int len)
{
  ssize_t sent;
  do
    sent = send (fd, data, (size_t) len, MSG_NOSIGNAL | MSG_DONTWAIT);
  while (sent < 0 && errno == EINTR);
  return sent;
}

/* A connect said EINPROGRESS and there is a request: send it at once. On
   the loopback the handshake is done by now, and send() tells where it got
   in the same call: it sends, or (still SYN_SENT) EAGAIN, or it returns the
   connect's failure. One syscall where TCP_INFO and then send() were two. */
static int
send_early (int fd, const char *data, int len, int *out)
{
  ssize_t sent = send_data (fd, data, len);
  int err = errno, state;

  if (sent >= 0)
    {
      out[0] = MP_PROBE_CONNECTED;
      out[1] = (int) sent;
      return fd;
    }
  if (err == EAGAIN || err == EWOULDBLOCK)
    {
      out[0] = MP_PROBE_IN_PROGRESS; /* epoll will tell */
      return fd;
    }
  /* The connect failed (send reports its error and clears it), or,
     seldom, a connected socket could not send: TCP_INFO tells which. */
  state = connect_state (fd);
  if (state == MP_PROBE_CONNECTED)
    {
      out[0] = state;
      out[1] = -err;
      return fd;
    }
  close (fd); /* EPIPE too: a socket still connecting says EAGAIN */
  return fail (out, MP_PROBE_STEP_CONNECT, state < 0 ? -state : err);
}

int
mp_probe_dial (int netns_fd, int home_fd, int family, const char *addr,
               int port, uint32_t scope_id, const char *data, int len,
               int reuse_fd, int *out)
{
  /* close() then sends RST: no TIME-WAIT entry per probe on either end */
  static const struct linger rst = { 1, 0 };
  struct sockaddr_storage sa;
  socklen_t sa_len;
  int fd, err, state;

  memset (&sa, 0, sizeof sa);
  if (family == AF_INET)
    {
      struct sockaddr_in *in4 = (struct sockaddr_in *) &sa;
      in4->sin_family = AF_INET;
      in4->sin_port = htons ((uint16_t) port);
      memcpy (&in4->sin_addr, addr, 4);
      sa_len = sizeof *in4;
    }
  else if (family == AF_INET6)
    {
      struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) &sa;
      in6->sin6_family = AF_INET6;
      in6->sin6_port = htons ((uint16_t) port);
      in6->sin6_scope_id = scope_id;
      memcpy (&in6->sin6_addr, addr, 16);
      sa_len = sizeof *in6;
    }
  else
    return fail (out, MP_PROBE_STEP_SOCKET, EAFNOSUPPORT);

  if (reuse_fd >= 0)
    fd = reuse_fd;
  else
    {
      if (netns_fd >= 0 && setns (netns_fd, CLONE_NEWNET) < 0)
        return fail (out, MP_PROBE_STEP_SETNS, errno);
      fd = socket (family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      err = fd < 0 ? errno : 0;
      if (netns_fd >= 0 && setns (home_fd, CLONE_NEWNET) < 0)
        {
          int home_err = errno;
          if (fd >= 0)
            close (fd);
          return fail (out, MP_PROBE_STEP_HOME, home_err);
        }
      if (fd < 0)
        return fail (out, MP_PROBE_STEP_SOCKET, err);
      /* best effort, as before: a socket without it still probes */
      setsockopt (fd, SOL_SOCKET, SO_LINGER, &rst, sizeof rst);
    }

  out[1] = 0;
  if (connect (fd, (struct sockaddr *) &sa, sa_len) == 0)
    state = MP_PROBE_CONNECTED;
  else if ((errno == EINPROGRESS || errno == EINTR) && len > 0)
    return send_early (fd, data, len, out);
  else if (errno == EINPROGRESS || errno == EINTR)
    state = connect_state (fd);
  else
    state = -errno;
  if (state < 0)
    {
      close (fd);
      return fail (out, MP_PROBE_STEP_CONNECT, -state);
    }
  out[0] = state;
  if (state == MP_PROBE_CONNECTED && len > 0)
    {
      ssize_t sent = send_data (fd, data, len);
      if (sent >= 0)
        out[1] = (int) sent;
      else if (errno != EAGAIN && errno != EWOULDBLOCK)
        out[1] = -errno;
    }
  return fd;
}

int
mp_probe_disconnect (int fd)
{
  struct sockaddr unspec;
  int err = 0;
  socklen_t len = sizeof err;

  memset (&unspec, 0, sizeof unspec);
  unspec.sa_family = AF_UNSPEC;
  if (connect (fd, &unspec, sizeof unspec) < 0)
    return -errno;
  /* The abort leaves ECONNRESET pending on the socket; read it away, or the
     next connection's first send would report it. */
  if (getsockopt (fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
    return -errno;
  return 0;
}
