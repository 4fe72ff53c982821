/* The network probes' engine: runs the schedule of every tcpSocket and
 * httpGet probe of a supervisor, dials them (mp_probe_dial) and judges the
 * common answer itself, so that Python is paid per loop turn and per probe
 * that matters, not per probe (minipod/probes/net/netprobe.py, ProbeEngine).
 *
 * Times are CLOCK_MONOTONIC nanoseconds (Python's time.monotonic()). A
 * probe id is an index the engine hands out and reuses after
 * mp_prober_remove. Contract as mp_sys.h: -errno on failure, never print,
 * never exit. */
#ifndef MP_PROBER_H
#define MP_PROBER_H

#include <stdint.h>

/* What a report says. Every report but MP_PROBER_SUCCESS hands the probe to
   the caller, who finishes it (with the fd, if any, which is then the
   caller's) and calls mp_prober_give_back; until then its ticks are skipped,
   as a probe still in flight skips them. */
#define MP_PROBER_SUCCESS 1     /* a tcpSocket connect, or a plain 2xx answer */
#define MP_PROBER_DIAL_FAILED 2 /* no fd; err and step as mp_probe_dial's */
#define MP_PROBER_CONNECTING 3  /* fd: the connect is in progress, nothing sent */
#define MP_PROBER_SENT 4        /* fd: connected; sent bytes of the request went
                                   out (fewer than all), or -errno of the send */
#define MP_PROBER_ANSWERED 5    /* fd: the request went out and an answer (or
                                   EOF, or an error) waits unread: not one
                                   this engine judges */
#define MP_PROBER_EXPIRED 6     /* fd: the request went out, and the timeout
                                   passed without a whole answer */

struct mp_prober_report
{
  int32_t id;
  int32_t what;
  int32_t fd;
  int32_t err;
  int32_t step;
  int32_t sent;
  int64_t deadline; /* the probe's timeout: when it started plus timeoutSeconds */
};

struct mp_prober;

/* home_fd: the caller's own netns, for the return after a setns. NULL and
   errno on failure. */
struct mp_prober *mp_prober_new (int home_fd);
void mp_prober_free (struct mp_prober *pr);

/* An epoll fd: readable when a tick or a timeout is due, or an answer may
   have come (unless a tick is due within the engine's grain, whose turn
   then reads it): then call mp_prober_turn. */
int mp_prober_fd (struct mp_prober *pr);

/* A probe of family/addr/port from inside netns_fd (-1: the caller's), with
   request (len 0: a tcpSocket probe, done when connected). Ticks at
   first + k * period, k = tick, tick + 1, ...; each probe may take timeout.
   reuse_fd: a socket mp_probe_disconnect left ready, now the engine's (or
   -1). quiet: a success is not reported. The id, or -errno. */
int mp_prober_add (struct mp_prober *pr, int netns_fd, int family,
                   const char *addr, int port, uint32_t scope_id,
                   const char *request, int len, int64_t first,
                   int64_t period, int64_t timeout, int64_t tick, int quiet,
                   int reuse_fd);

/* Forget a probe and close the socket the engine holds for it (a socket
   handed out in a report is the caller's). */
void mp_prober_remove (struct mp_prober *pr, int id);

void mp_prober_quiet (struct mp_prober *pr, int id, int quiet);

/* The caller finished a probe it was handed: fd is a socket
   mp_probe_disconnect left ready for the next probe (the engine's now), or
   -1. */
void mp_prober_give_back (struct mp_prober *pr, int id, int fd);

/* Read the answers that came, start the probes due now, expire the ones
   past their timeout: up to cap reports in out, their count returned. Call
   again while it returns cap. */
int mp_prober_turn (struct mp_prober *pr, struct mp_prober_report *out,
                    int cap);

/* Wait on the caller's epoll fd epfd, which holds mp_prober_fd, for at
   most timeout_ns (-1: no limit), in the caller's place: a wake-up that
   only this engine's fd made is turned here, and the wait goes on unless
   the turn reported something. Returns the number of ready fds (this
   engine's among them when another is ready too: then nothing was turned),
   with (fd, events) pairs in ready (at most max_ready of them); 0 when the
   time is up, a signal came (EINTR), or the turn reported: then *reports
   says how many of out hold reports (call mp_prober_turn again while it is
   cap). Or -errno. The caller's epoll must hold each fd with data.fd set
   to it, as Python's select.epoll does. */
int mp_prober_wait (struct mp_prober *pr, int epfd, int64_t timeout_ns,
                    int32_t *ready, int max_ready,
                    struct mp_prober_report *out, int cap, int32_t *reports);

/* counts[0]: probes started, counts[1]: ticks skipped (one in flight). */
void mp_prober_counts (struct mp_prober *pr, int id, int64_t *counts);

#endif
