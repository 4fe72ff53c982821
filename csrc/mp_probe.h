/* The network probes' dial: a TCP socket made inside a pod's network
 * namespace and connected, in one call (minipod/probes/net/netprobe.py). Contract as
 * mp_sys.h: an fd on success, -errno on failure, and where it failed. */
#ifndef MP_PROBE_H
#define MP_PROBE_H

#include <stdint.h>

/* out[0] on success: how far the non-blocking connect got; a connect that is
   done also sends data (a request, without waiting for a loop turn) */
#define MP_PROBE_IN_PROGRESS 0
#define MP_PROBE_CONNECTED 1

/* out[0] on failure: the step that failed */
#define MP_PROBE_STEP_SETNS 1   /* joining the pod's netns */
#define MP_PROBE_STEP_SOCKET 2
#define MP_PROBE_STEP_HOME 3    /* returning to the caller's netns: stuck */
#define MP_PROBE_STEP_CONNECT 4 /* refused, unreachable, ...: -errno is why */

/* out[1] on success: how much of data went out with the connect (0 unless
   connected), or -errno of that send.
   reuse_fd >= 0: connect that socket (one mp_probe_disconnect left ready)
   instead of making one; it is closed if the connect fails. */
int mp_probe_dial (int netns_fd, int home_fd, int family, const char *addr,
                   int port, uint32_t scope_id, const char *data, int len,
                   int reuse_fd, int *out);

/* End fd's connection with RST (connect to AF_UNSPEC: the ABORT of RFC 793,
   no TIME-WAIT on either end) and leave the socket ready for the next
   mp_probe_dial, in the netns it was made in. 0, or -errno: then close it. */
int mp_probe_disconnect (int fd);

#endif
