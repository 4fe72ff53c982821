/* mp_prober: see mp_prober.h.
 *
 * Why in C: a supervisor probing 1000 pods every second paid ~70 us of
 * Python per probe (a tick, a probe object, the dial, two epoll changes, a
 * deadline, a read, a parse, the worker's bookkeeping), with cold caches,
 * for an answer that almost always says the same: 200. Here a probe costs
 * its syscalls; Python runs once per loop turn, and per probe only when a
 * probe says something new.
 *
 * What this judges itself is only the plain case, exactly as
 * minipod/probes/net/http1.py's quick path reads it: a whole answer in the first read,
 * a 2xx status line, well-formed "token: value" fields, no
 * Transfer-Encoding, one Content-Length the body already fills (at most
 * 10 KiB, the kubelet's cap). The answer is read with MSG_PEEK, so when it
 * is anything else (a redirect, a failure status, chunked, half of it,
 * EOF, an error) the socket goes to Python still holding every byte, and
 * netprobe.py goes on from there as if it had dialled itself: one set of
 * rules, and Go's wording, for everything that is not a success.
 *
 * The schedule is the probe worker's (minipod/probes/worker.py): ticks at
 * first + k * period, a tick the loop reached late is not made up for, and a
 * tick that finds the probe in flight (here, or handed to Python) is
 * skipped and counted. One min-heap, one entry per probe: its next tick, or
 * its timeout if that comes first.
 *
 * Each socket stays registered in the engine's epoll between probes with
 * EPOLLONESHOT: one epoll_ctl (MOD) arms it per probe, and the RST that
 * ends a connection wakes nobody. The loop watches one epoll fd that holds
 * that epoll and a timerfd set to the heap's first wake time (on a grid):
 * no deadline of the loop's moves with every probe.
 *
 * Wake-ups are what a probe costs most after its TCP work (a context switch
 * costs more here than our Python does per turn), and each probe would make
 * two: its tick, and its answer ~0.1 ms later. So when the timer goes off
 * within one grain anyway, the sockets' epoll is taken out of the loop's
 * sight and the answers that come meanwhile are read in the timer's
 * wake-up (64 of them a turn, the rest in the next one), and no wake-up is
 * added for it (with nothing due soon, an answer wakes the loop as it
 * comes). An answer that came before its timeout is never judged late:
 * a probe's timeout peeks before it expires it.
 *
 * And the caller's own wait can be ours (mp_prober_wait): a wake-up that
 * only this engine's fd made is turned here and the wait goes on, so a
 * quiet tick costs its context switch and syscalls, and no interpreter. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "mp_probe.h"
#include "mp_prober.h"

#define MAX_BODY (10 * 1024) /* the kubelet's maxRespBodyLength */
#define PEEK_SIZE (16 * 1024)
/* The timer goes off on a grid: every tick due within one grain is started
   in one wake-up, a little late (at most the grain) rather than early. */
#ifndef TIMER_GRAIN
#define TIMER_GRAIN 2000000
#endif

enum state
{
  FREE,
  IDLE,    /* between probes; fd: the kept socket, or -1 */
  WAITING, /* request sent, fd armed in our epoll */
  CALLER,  /* handed out in a report, until mp_prober_give_back */
};

struct probe
{
  enum state state;
  int quiet;
  int fd;
  int registered; /* fd is in our epoll (armed or not) */
  uint32_t gen;   /* tells this connection's epoll events from older ones */
  int netns_fd;
  int family;
  char addr[16];
  int port;
  uint32_t scope_id;
  char *request;
  int len;
  int64_t first, period, timeout;
  int64_t tick;     /* index of the next tick */
  int64_t deadline; /* of the probe in flight */
  int64_t wake;     /* heap key */
  int hpos;         /* index in the heap, -1: not in it */
  int64_t probes, skipped;
  int owed; /* a tick came with the timeout handed out: probe at give_back */
};

struct mp_prober
{
  int epfd;    /* what the caller watches: timerfd and sockets */
  int sockets; /* an epoll of the probes' sockets */
  int sockets_watched; /* sockets is in epfd with EPOLLIN */
  int timerfd;
  int64_t timer;    /* the wake time it is set to; INT64_MAX: none */
  int64_t timer_at; /* when it goes off: timer on the grid */
  int timer_stale;  /* it went off: set it again, even to the same time */
  int home_fd;
  int stuck; /* could not return to home_fd's netns: dial nothing more */
  struct probe *probes;
  int nprobes;
  int *heap;
  int nheap;
  char peek[PEEK_SIZE];
};

/* -- the heap ------------------------------------------------------------ */

static void
heap_set (struct mp_prober *pr, int pos, int id)
{
  pr->heap[pos] = id;
  pr->probes[id].hpos = pos;
}

static void
heap_up (struct mp_prober *pr, int pos)
{
  int id = pr->heap[pos];
  int64_t key = pr->probes[id].wake;
  while (pos > 0)
    {
      int parent = (pos - 1) / 2;
      if (pr->probes[pr->heap[parent]].wake <= key)
        break;
      heap_set (pr, pos, pr->heap[parent]);
      pos = parent;
    }
  heap_set (pr, pos, id);
}

static void
heap_down (struct mp_prober *pr, int pos)
{
  int id = pr->heap[pos];
  int64_t key = pr->probes[id].wake;
  for (;;)
    {
      int child = 2 * pos + 1;
      if (child >= pr->nheap)
        break;
      if (child + 1 < pr->nheap
          && pr->probes[pr->heap[child + 1]].wake < pr->probes[pr->heap[child]].wake)
        child++;
      if (pr->probes[pr->heap[child]].wake >= key)
        break;
      heap_set (pr, pos, pr->heap[child]);
      pos = child;
    }
  heap_set (pr, pos, id);
}

static void
heap_remove (struct mp_prober *pr, struct probe *p)
{
  int pos = p->hpos;
  if (pos < 0)
    return;
  p->hpos = -1;
  pr->nheap--;
  if (pos == pr->nheap)
    return;
  heap_set (pr, pos, pr->heap[pr->nheap]);
  heap_up (pr, pos);
  heap_down (pr, pr->probes[pr->heap[pos]].hpos);
}

static int64_t
tick_time (const struct probe *p, int64_t tick)
{
  if (tick > (INT64_MAX - p->first) / p->period)
    return INT64_MAX;
  return p->first + tick * p->period;
}

/* Put p in the heap at its next tick, or at its timeout if that is sooner. */
static void
reschedule (struct mp_prober *pr, struct probe *p)
{
  int64_t wake = tick_time (p, p->tick);
  if (p->owed && p->state == IDLE)
    wake = INT64_MIN; /* due at once */
  if (p->state == WAITING && p->deadline < wake)
    wake = p->deadline;
  p->wake = wake;
  if (p->hpos < 0)
    {
      pr->heap[pr->nheap] = (int) (p - pr->probes);
      p->hpos = pr->nheap++;
    }
  heap_up (pr, p->hpos);
  heap_down (pr, p->hpos);
}

static int64_t
monotonic_now (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Set the timerfd to the heap's first wake time (a time already past goes
   off at once; none disarms it). Setting it also clears its expiry. */
static void
set_timer (struct mp_prober *pr)
{
  struct itimerspec when;
  int64_t wake = pr->nheap > 0 ? pr->probes[pr->heap[0]].wake : INT64_MAX;
  int64_t at = INT64_MAX;

  if (wake == pr->timer && !pr->timer_stale)
    return;
  memset (&when, 0, sizeof when);
  if (wake != INT64_MAX)
    {
      at = wake;
      if (at < INT64_MAX - TIMER_GRAIN)
        at = (at + TIMER_GRAIN - 1) / TIMER_GRAIN * TIMER_GRAIN;
      if (at <= 0)
        at = 1; /* 0 would disarm it */
      when.it_value.tv_sec = at / 1000000000;
      when.it_value.tv_nsec = at % 1000000000;
    }
  if (timerfd_settime (pr->timerfd, TFD_TIMER_ABSTIME, &when, NULL) == 0)
    {
      pr->timer = wake;
      pr->timer_at = at;
      pr->timer_stale = 0;
    }
}

/* Whether an answer wakes the loop (the sockets' epoll in its sight).
   Events 0 takes it out: an epoll fd's poll says only EPOLLIN (never the
   EPOLLERR or EPOLLHUP the kernel adds to every entry), and the MOD back to
   EPOLLIN looks at it again, so what came meanwhile is not missed. */
static void
watch_sockets (struct mp_prober *pr, int watch)
{
  struct epoll_event ev = { .events = watch ? EPOLLIN : 0, .data.fd = pr->sockets };
  if (watch != pr->sockets_watched
      && epoll_ctl (pr->epfd, EPOLL_CTL_MOD, pr->sockets, &ev) == 0)
    pr->sockets_watched = watch;
}

/* After a turn: answers may wait for the timer if it goes off within a
   grain; else they wake the loop as they come. */
static void
pace_answers (struct mp_prober *pr, int64_t now)
{
  watch_sockets (pr, !(pr->timer_at != INT64_MAX && pr->timer_at - now <= TIMER_GRAIN));
}

/* The timer may have moved outside a turn (a probe added, removed, given
   back). */
static void
reset_timer (struct mp_prober *pr)
{
  set_timer (pr);
  pace_answers (pr, monotonic_now ());
}

/* Stuck outside our netns: nothing more is dialled, and nothing of ours
   keeps the caller's loop awake while it stops. */
static void
stop_all (struct mp_prober *pr)
{
  struct itimerspec off;
  memset (&off, 0, sizeof off);
  pr->stuck = 1;
  timerfd_settime (pr->timerfd, 0, &off, NULL);
  pr->timer = pr->timer_at = INT64_MAX;
  watch_sockets (pr, 0);
}

/* -- the plain answer ------------------------------------------------------ */

static int
is_token (unsigned char c)
{
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
         || (c && strchr ("-!#$%&'*+.^_`|~", c) != NULL);
}

static int
is_digit (unsigned char c)
{
  return c >= '0' && c <= '9';
}

/* The end of a line that starts at pos: the index after its LF (a CR may
   come only right before the LF), or -1. */
static ssize_t
line_end (const char *buf, ssize_t n, ssize_t pos)
{
  while (pos < n && buf[pos] != '\r' && buf[pos] != '\n')
    pos++;
  if (pos < n && buf[pos] == '\r')
    pos++;
  if (pos < n && buf[pos] == '\n')
    return pos + 1;
  return -1;
}

static int
name_is (const char *name, size_t len, const char *lower)
{
  return strlen (lower) == len && strncasecmp (name, lower, len) == 0;
}

/* 1 if buf[0..n) is a whole 2xx answer http1.py's quick path reads as a
   success; 0 for anything else (Python then reads it). */
static int
plain_success (const char *buf, ssize_t n)
{
  const char *length = NULL;
  size_t length_len = 0;
  ssize_t pos, end;
  int status;
  long body;

  if (n < 13 || memcmp (buf, "HTTP/", 5) != 0 || !is_digit (buf[5]) || buf[6] != '.'
      || !is_digit (buf[7]) || buf[8] != ' ' || buf[9] != '2' || !is_digit (buf[10])
      || !is_digit (buf[11]))
    return 0;
  status = 200 + (buf[10] - '0') * 10 + (buf[11] - '0');
  if (buf[12] != ' ' && buf[12] != '\r' && buf[12] != '\n')
    return 0;
  pos = line_end (buf, n, 12);
  for (;;)
    {
      const char *name, *value;
      ssize_t colon, vend;

      if (pos < 0 || pos >= n)
        return 0;
      if (buf[pos] == '\n' || (buf[pos] == '\r' && pos + 1 < n && buf[pos + 1] == '\n'))
        {
          pos += buf[pos] == '\r' ? 2 : 1; /* the empty line: the head is whole */
          break;
        }
      name = buf + pos;
      colon = pos;
      while (colon < n && is_token ((unsigned char) buf[colon]))
        colon++;
      if (colon == pos || colon >= n || buf[colon] != ':')
        return 0;
      end = line_end (buf, n, colon + 1);
      if (end < 0)
        return 0;
      vend = end - 1; /* the LF */
      if (vend > colon + 1 && buf[vend - 1] == '\r')
        vend--;
      value = buf + colon + 1;
      while (value < buf + vend && (*value == ' ' || *value == '\t'))
        value++;
      while (vend > value - buf && (buf[vend - 1] == ' ' || buf[vend - 1] == '\t'))
        vend--;
      if (name_is (name, (size_t) (colon - pos), "transfer-encoding"))
        return 0;
      if (name_is (name, (size_t) (colon - pos), "content-length"))
        {
          size_t len = (size_t) (buf + vend - value);
          if (length != NULL && (len != length_len || memcmp (value, length, len) != 0))
            return 0;
          length = value;
          length_len = len;
        }
      pos = end;
    }
  if (status == 204)
    return 1; /* no body, whatever the fields say */
  if (length == NULL || length_len == 0 || length_len > 5)
    return 0; /* to the close, or more than we judge: Python reads it */
  body = 0;
  for (size_t i = 0; i < length_len; i++)
    {
      if (!is_digit ((unsigned char) length[i]))
        return 0;
      body = body * 10 + (length[i] - '0');
    }
  return body <= MAX_BODY && n - pos >= body;
}

/* -- probes --------------------------------------------------------------- */

static struct probe *
lookup (struct mp_prober *pr, int id)
{
  if (id < 0 || id >= pr->nprobes || pr->probes[id].state == FREE)
    return NULL;
  return &pr->probes[id];
}

static void
unregister (struct mp_prober *pr, struct probe *p)
{
  if (p->registered)
    {
      epoll_ctl (pr->sockets, EPOLL_CTL_DEL, p->fd, NULL);
      p->registered = 0;
    }
}

static void
drop_socket (struct mp_prober *pr, struct probe *p)
{
  if (p->fd < 0)
    return;
  unregister (pr, p);
  close (p->fd); /* SO_LINGER {1, 0}: RST */
  p->fd = -1;
}

/* End the connection and keep the socket for the next probe. */
static void
keep_socket (struct mp_prober *pr, struct probe *p)
{
  if (mp_probe_disconnect (p->fd) < 0)
    drop_socket (pr, p);
  p->state = IDLE;
}

static int
report (struct mp_prober_report *out, struct probe *p, int id, int what)
{
  memset (out, 0, sizeof *out);
  out->id = id;
  out->what = what;
  out->fd = -1;
  out->deadline = p->deadline;
  return 1;
}

/* Hand p, and its socket, to the caller. */
static int
hand_out (struct mp_prober *pr, struct probe *p, struct mp_prober_report *out, int what)
{
  int id = (int) (p - pr->probes);
  unregister (pr, p);
  report (out, p, id, what);
  out->fd = p->fd;
  p->fd = -1;
  p->state = CALLER;
  return 1;
}

static int
arm (struct mp_prober *pr, struct probe *p)
{
  struct epoll_event ev;
  int id = (int) (p - pr->probes);

  p->gen++;
  ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
  ev.data.u64 = (uint64_t) (uint32_t) id | ((uint64_t) p->gen << 32);
  if (epoll_ctl (pr->sockets, p->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, p->fd, &ev) < 0)
    return -errno;
  p->registered = 1;
  return 0;
}

/* Dial p (its tick is due): a report, or 0 while it waits for the answer. */
static int
start (struct mp_prober *pr, struct probe *p, struct mp_prober_report *out)
{
  int64_t now;
  int id = (int) (p - pr->probes);
  int how[2];
  int fd;

  p->owed = 0;
  p->probes++;
  /* its own start, not the turn's: the turn may dial many */
  now = monotonic_now ();
  p->deadline = now > INT64_MAX - p->timeout ? INT64_MAX : now + p->timeout;
  fd = mp_probe_dial (p->netns_fd, pr->home_fd, p->family, p->addr, p->port,
                      p->scope_id, p->request, p->len, p->fd, how);
  if (fd < 0)
    {
      /* mp_probe_dial closed a reused socket, which also left our epoll */
      p->fd = -1;
      p->registered = 0;
      report (out, p, id, MP_PROBER_DIAL_FAILED);
      out->err = -fd;
      out->step = how[0];
      if (how[0] == MP_PROBE_STEP_HOME)
        stop_all (pr); /* every socket made now would be in the pod's netns */
      p->state = CALLER;
      return 1;
    }
  if (fd != p->fd)
    p->registered = 0; /* a new socket */
  p->fd = fd;
  if (how[0] != MP_PROBE_CONNECTED)
    return hand_out (pr, p, out, MP_PROBER_CONNECTING);
  if (p->len == 0)
    {
      keep_socket (pr, p);
      return p->quiet ? 0 : report (out, p, id, MP_PROBER_SUCCESS);
    }
  if (how[1] != p->len)
    {
      hand_out (pr, p, out, MP_PROBER_SENT);
      out->sent = how[1];
      return 1;
    }
  if (arm (pr, p) < 0)
    return hand_out (pr, p, out, MP_PROBER_ANSWERED); /* Python's epoll then */
  p->state = WAITING;
  return 0;
}

/* An answer may have come for p: judge it, or hand it out. expired: p's
   timeout passed, so no answer yet means MP_PROBER_EXPIRED. */
static int
answer (struct mp_prober *pr, struct probe *p, struct mp_prober_report *out, int expired)
{
  int id = (int) (p - pr->probes);
  ssize_t n;

  do
    n = recv (p->fd, pr->peek, sizeof pr->peek, MSG_PEEK | MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
    {
      if (expired)
        {
          hand_out (pr, p, out, MP_PROBER_EXPIRED);
          reschedule (pr, p);
          return 1;
        }
      if (arm (pr, p) == 0)
        return 0; /* woken for nothing: wait on */
    }
  else if (n > 0 && plain_success (pr->peek, n))
    {
      if (expired)
        unregister (pr, p); /* still armed: the RST would make a stale event */
      keep_socket (pr, p);
      reschedule (pr, p); /* its timeout no longer counts */
      return p->quiet ? 0 : report (out, p, id, MP_PROBER_SUCCESS);
    }
  hand_out (pr, p, out, MP_PROBER_ANSWERED);
  reschedule (pr, p);
  return 1;
}

/* p's wake time came: its timeout, its tick, or both. */
static int
fire (struct mp_prober *pr, struct probe *p, int64_t now, struct mp_prober_report *out)
{
  int n = 0;

  if (p->state == WAITING && now >= p->deadline)
    /* an answer epoll has not told of yet (more were ready than one
       epoll_wait takes) came before this turn: it counts */
    n = answer (pr, p, out, 1);
  if (now >= tick_time (p, p->tick))
    {
      /* the first tick still to come: one reached late is not made up for */
      int64_t tick = p->tick + 1;
      if (tick_time (p, tick) <= now)
        tick = (now - p->first) / p->period + 1;
      p->tick = tick;
      if (n > 0)
        p->owed = 1; /* the probe that expired took this call's report: this
                        tick probes once it is back (here, or from Python) */
      else if (p->state != IDLE)
        {
          p->owed = 0;
          p->skipped++;
        }
      else
        n = start (pr, p, out);
    }
  else if (p->owed && p->state == IDLE)
    {
      p->owed = 0;
      n = start (pr, p, out);
    }
  reschedule (pr, p);
  return n;
}

/* -- the API ------------------------------------------------------------- */

struct mp_prober *
mp_prober_new (int home_fd)
{
  struct epoll_event timer = { .events = EPOLLIN, .data.fd = -1 };
  struct epoll_event sockets = { .events = EPOLLIN, .data.fd = -1 };
  struct mp_prober *pr = calloc (1, sizeof *pr);
  int err;

  if (pr == NULL)
    return NULL;
  pr->home_fd = home_fd;
  pr->timer = pr->timer_at = INT64_MAX;
  pr->timerfd = pr->sockets = -1;
  pr->epfd = epoll_create1 (EPOLL_CLOEXEC);
  if (pr->epfd < 0)
    goto fail;
  pr->sockets = epoll_create1 (EPOLL_CLOEXEC);
  pr->timerfd = timerfd_create (CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (pr->sockets < 0 || pr->timerfd < 0
      || epoll_ctl (pr->epfd, EPOLL_CTL_ADD, pr->timerfd, &timer) < 0
      || epoll_ctl (pr->epfd, EPOLL_CTL_ADD, pr->sockets, &sockets) < 0)
    goto fail;
  pr->sockets_watched = 1;
  return pr;

fail:
  err = errno;
  if (pr->timerfd >= 0)
    close (pr->timerfd);
  if (pr->sockets >= 0)
    close (pr->sockets);
  if (pr->epfd >= 0)
    close (pr->epfd);
  free (pr);
  errno = err;
  return NULL;
}

static void forget (struct mp_prober *pr, struct probe *p);

void
mp_prober_free (struct mp_prober *pr)
{
  if (pr == NULL)
    return;
  for (int id = 0; id < pr->nprobes; id++)
    if (pr->probes[id].state != FREE)
      forget (pr, &pr->probes[id]); /* no timer to set: it closes below */
  close (pr->timerfd);
  close (pr->sockets);
  close (pr->epfd);
  free (pr->probes);
  free (pr->heap);
  free (pr);
}

int
mp_prober_fd (struct mp_prober *pr)
{
  return pr->epfd;
}

static int
new_id (struct mp_prober *pr)
{
  int id, size;
  struct probe *probes;
  int *heap;

  for (id = 0; id < pr->nprobes; id++)
    if (pr->probes[id].state == FREE)
      return id;
  size = pr->nprobes ? 2 * pr->nprobes : 64;
  probes = realloc (pr->probes, (size_t) size * sizeof *probes);
  if (probes == NULL)
    return -ENOMEM;
  pr->probes = probes;
  heap = realloc (pr->heap, (size_t) size * sizeof *heap);
  if (heap == NULL)
    return -ENOMEM;
  pr->heap = heap;
  memset (probes + pr->nprobes, 0, (size_t) (size - pr->nprobes) * sizeof *probes);
  id = pr->nprobes;
  pr->nprobes = size;
  return id;
}

int
mp_prober_add (struct mp_prober *pr, int netns_fd, int family, const char *addr,
               int port, uint32_t scope_id, const char *request, int len,
               int64_t first, int64_t period, int64_t timeout, int64_t tick,
               int quiet, int reuse_fd)
{
  struct probe *p;
  int id;

  if (period <= 0 || timeout <= 0 || len < 0 || tick < 0)
    return -EINVAL;
  id = new_id (pr);
  if (id < 0)
    return id;
  p = &pr->probes[id];
  memset (p, 0, sizeof *p);
  if (len > 0)
    {
      p->request = malloc ((size_t) len);
      if (p->request == NULL)
        return -ENOMEM;
      memcpy (p->request, request, (size_t) len);
    }
  p->state = IDLE;
  p->quiet = quiet;
  p->fd = reuse_fd;
  p->netns_fd = netns_fd;
  p->family = family;
  memcpy (p->addr, addr, family == AF_INET6 ? 16 : 4);
  p->port = port;
  p->scope_id = scope_id;
  p->len = len;
  p->first = first;
  p->period = period;
  p->timeout = timeout;
  p->tick = tick;
  p->hpos = -1;
  reschedule (pr, p);
  reset_timer (pr);
  return id;
}

/* p no more: out of the heap, its socket closed (unless the caller has it). */
static void
forget (struct mp_prober *pr, struct probe *p)
{
  heap_remove (pr, p);
  if (p->state != CALLER)
    drop_socket (pr, p);
  free (p->request);
  p->request = NULL;
  p->state = FREE;
}

void
mp_prober_remove (struct mp_prober *pr, int id)
{
  struct probe *p = lookup (pr, id);
  if (p == NULL)
    return;
  forget (pr, p);
  reset_timer (pr);
}

void
mp_prober_quiet (struct mp_prober *pr, int id, int quiet)
{
  struct probe *p = lookup (pr, id);
  if (p != NULL)
    p->quiet = quiet;
}

void
mp_prober_give_back (struct mp_prober *pr, int id, int fd)
{
  struct probe *p = lookup (pr, id);
  if (p == NULL || p->state != CALLER)
    {
      if (fd >= 0)
        close (fd);
      return;
    }
  p->fd = fd;
  p->registered = 0;
  p->state = IDLE;
  if (p->owed)
    {
      reschedule (pr, p); /* due now: fire starts the owed probe */
      reset_timer (pr);
    }
}

/* Judge the answers epoll says came: reports in out, at most cap. */
static int
answers (struct mp_prober *pr, struct mp_prober_report *out, int cap)
{
  struct epoll_event events[64];
  int n = 0, ready;

  ready = epoll_wait (pr->sockets, events, cap < 64 ? cap : 64, 0);
  for (int i = 0; i < ready; i++)
    {
      int id = (int) (uint32_t) events[i].data.u64;
      struct probe *p = lookup (pr, id);

      if (p == NULL || p->state != WAITING || p->gen != (uint32_t) (events[i].data.u64 >> 32))
        continue; /* an event of a connection that is gone */
      n += answer (pr, p, &out[n], 0);
    }
  return n;
}

int
mp_prober_turn (struct mp_prober *pr, struct mp_prober_report *out, int cap)
{
  int64_t now = monotonic_now ();
  int n, started = 0;

  if (pr->stuck)
    return 0; /* the caller stops on the report that said so */
  if (now >= pr->timer_at)
    pr->timer_stale = 1; /* it went off: set it again below */
  /* Answers first: one that came before its timeout counts, however late
     this turn is. */
  n = answers (pr, out, cap);
  while (n < cap && !pr->stuck && pr->nheap > 0 && pr->probes[pr->heap[0]].wake <= now)
    {
      struct probe *p = &pr->probes[pr->heap[0]];
      int64_t probes = p->probes;
      n += fire (pr, p, now, &out[n]);
      started += p->probes != probes;
    }
  /* The server runs beside us: what answered while we dialled the rest
     of this turn's probes is read now, not after one more wake-up. */
  if (started > 1 && n < cap && !pr->stuck)
    n += answers (pr, out + n, cap - n);
  if (!pr->stuck)
    {
      set_timer (pr);
      pace_answers (pr, now);
    }
  return n;
}

/* How many milliseconds epoll_wait may sleep to reach the time until
   (-1: no limit), rounded up as Python's select.epoll rounds its timeout. */
static int
wait_ms (int64_t until)
{
  int64_t left;
  if (until < 0)
    return -1;
  left = until - monotonic_now ();
  if (left <= 0)
    return 0;
  left = (left + 999999) / 1000000;
  return left > INT_MAX ? INT_MAX : (int) left;
}

int
mp_prober_wait (struct mp_prober *pr, int epfd, int64_t timeout_ns,
                int32_t *ready, int max_ready,
                struct mp_prober_report *out, int cap, int32_t *reports)
{
  struct epoll_event events[64];
  int64_t now = monotonic_now (), until = -1;

  if (timeout_ns >= 0)
    until = timeout_ns > INT64_MAX - now ? INT64_MAX : now + timeout_ns;
  if (max_ready > 64)
    max_ready = 64;
  *reports = 0;
  for (;;)
    {
      int timeout = wait_ms (until);
      int n = epoll_wait (epfd, events, max_ready, timeout);

      if (n < 0)
        return errno == EINTR ? 0 : -errno; /* the caller runs its signal handlers */
      if (n == 1 && events[0].data.fd == pr->epfd)
        {
          /* Only our timer or our sockets: most turns are ticks and quiet
             successes, and need nobody else. */
          int count = mp_prober_turn (pr, out, cap);
          if (count > 0 || timeout == 0)
            {
              *reports = count;
              return 0;
            }
          continue;
        }
      for (int i = 0; i < n; i++)
        {
          ready[2 * i] = events[i].data.fd;
          ready[2 * i + 1] = (int32_t) events[i].events;
        }
      return n;
    }
}

void
mp_prober_counts (struct mp_prober *pr, int id, int64_t *counts)
{
  struct probe *p = lookup (pr, id);
  counts[0] = p != NULL ? p->probes : 0;
  counts[1] = p != NULL ? p->skipped : 0;
}
