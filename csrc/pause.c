/* minipod-pause: the infra process of a pod.
 *
 * It holds the pod's net, ipc and uts namespaces and, when the pod shares one
 * pid namespace, it is PID 1 there and reaps every orphan of every container.
 *
 * With --sandbox HOSTNAME it makes those namespaces itself: unshare(2) of
 * uts, ipc and net, the hostname, loopback up. With --net BRIDGE VETH
 * ADDRESS GATEWAY it also puts the pod on the node's bridge: a veth pair
 * whose host end VETH joins BRIDGE (hairpin on) and whose other end is the
 * pod's eth0, with ADDRESS/32 and a default route via GATEWAY (see
 * pod_network below for why /32). Then the pod's sysctls (--sysctl
 * PATH=VALUE, PATH below /proc/sys), written from inside the new
 * namespaces, so /proc/sys shows this pod's net and ipc settings, never the
 * host's (minipod/api/security.py allows only sysctls those namespaces own);
 * after the network, so a setting of eth0's finds it. minipod starts it with
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
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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
link_up (const char *name)
{
  int sock = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0)
    return -1;
  struct ifreq ifr;
  memset (&ifr, 0, sizeof ifr);
  strncpy (ifr.ifr_name, name, IFNAMSIZ - 1);
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

/* ---- the pod network: a few rtnetlink requests ------------------------------
 *
 * The kernel's netlink ABI, the part used here, written out rather than taken
 * from <linux/rtnetlink.h>: musl's toolchain has no kernel headers, and musl
 * is what keeps this binary at ~40 kB resident (values: include/uapi/linux/
 * netlink.h, rtnetlink.h, if_link.h, if_addr.h, veth.h, stable ABI). */
#ifndef AF_NETLINK
#define AF_NETLINK 16
#endif
#ifndef AF_BRIDGE
#define AF_BRIDGE 7
#endif
enum
{
  NL_ROUTE = 0,           /* NETLINK_ROUTE */
  NL_NEWLINK = 16,        /* RTM_NEWLINK */
  NL_GETLINK = 18,        /* RTM_GETLINK */
  NL_SETLINK = 19,        /* RTM_SETLINK */
  NL_NEWADDR = 20,        /* RTM_NEWADDR */
  NL_NEWROUTE = 24,       /* RTM_NEWROUTE */
  NL_ERROR = 2,           /* NLMSG_ERROR */
  NL_F_REQUEST = 0x1,
  NL_F_ACK = 0x4,
  NL_F_EXCL = 0x200,
  NL_F_CREATE = 0x400,
  NL_A_NESTED = 0x8000,   /* NLA_F_NESTED */
  IFLA_ADDRESS_ = 1,
  IFLA_IFNAME_ = 3,
  IFLA_MASTER_ = 10,
  IFLA_PROTINFO_ = 12,
  IFLA_LINKINFO_ = 18,
  IFLA_NET_NS_FD_ = 28,
  IFLA_INFO_KIND_ = 1,
  IFLA_INFO_DATA_ = 2,
  VETH_INFO_PEER_ = 1,
  IFLA_BRPORT_MODE_ = 4,  /* hairpin */
  IFA_ADDRESS_ = 1,
  IFA_LOCAL_ = 2,
  RTA_OIF_ = 4,
  RTA_GATEWAY_ = 5,
  RT_TABLE_MAIN_ = 254,
  RTPROT_BOOT_ = 3,
  RTN_UNICAST_ = 1,
  RTNH_F_ONLINK_ = 4,
};

struct nl_header            /* struct nlmsghdr */
{
  unsigned int len;
  unsigned short type, flags;
  unsigned int seq, pid;
};
struct nl_link              /* struct ifinfomsg */
{
  unsigned char family, pad;
  unsigned short type;
  int index;
  unsigned int flags, change;
};
struct nl_addr              /* struct ifaddrmsg */
{
  unsigned char family, prefixlen, flags, scope;
  unsigned int index;
};
struct nl_route             /* struct rtmsg */
{
  unsigned char family, dst_len, src_len, tos, table, protocol, scope, type;
  unsigned int flags;
};
struct nl_attr              /* struct rtattr */
{
  unsigned short len, type;
};

#define NL_ALIGN(n) (((n) + 3U) & ~3U)

struct nl_msg
{
  union
  {
    struct nl_header h;
    char bytes[512];
  } u;
};

static void *
nl_start (struct nl_msg *m, unsigned short type, unsigned short flags,
          const void *body, size_t size)
{
  memset (m, 0, sizeof *m);
  m->u.h.len = (unsigned int) (NL_ALIGN (sizeof m->u.h) + NL_ALIGN (size));
  m->u.h.type = type;
  m->u.h.flags = (unsigned short) (NL_F_REQUEST | NL_F_ACK | flags);
  memcpy (m->u.bytes + NL_ALIGN (sizeof m->u.h), body, size);
  return m->u.bytes + NL_ALIGN (sizeof m->u.h);
}

/* Appends one attribute; returns it, so a nest can be closed (nl_end). The
   buffer is sized for the largest request below, several times over. */
static struct nl_attr *
nl_put (struct nl_msg *m, unsigned short type, const void *data, size_t size)
{
  struct nl_attr *a = (struct nl_attr *) (m->u.bytes + m->u.h.len);
  a->len = (unsigned short) (sizeof *a + size);
  a->type = type;
  if (size)
    memcpy ((char *) a + sizeof *a, data, size);
  m->u.h.len += NL_ALIGN (a->len);
  return a;
}

static void
nl_end (struct nl_msg *m, struct nl_attr *nest)
{
  nest->len = (unsigned short) (m->u.bytes + m->u.h.len - (char *) nest);
}

static int
nl_open (void)
{
  int fd = socket (AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NL_ROUTE);
  if (fd < 0)
    return -1;
  struct sockaddr_storage local;
  memset (&local, 0, sizeof local);
  local.ss_family = AF_NETLINK;
  if (bind (fd, (struct sockaddr *) &local, sizeof local) < 0)
    {
      int err = errno;
      close (fd);
      errno = err;
      return -1;
    }
  return fd;
}

/* Sends one request and reads the answer: 0, or -1 with errno set from the
   kernel's NLMSG_ERROR. With ``index`` (a GETLINK), the link's index. */
static int
nl_talk (int fd, struct nl_msg *m, int *index)
{
  static unsigned int seq;
  m->u.h.seq = ++seq;
  if (send (fd, m->u.bytes, m->u.h.len, 0) < 0)
    return -1;
  char reply[4096] __attribute__ ((aligned (4)));
  for (;;)
    {
      ssize_t n = recv (fd, reply, sizeof reply, 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < (ssize_t) sizeof (struct nl_header))
        {
          if (n >= 0)
            errno = EPROTO;
          return -1;
        }
      for (char *p = reply; p + sizeof (struct nl_header) <= reply + n;)
        {
          struct nl_header *h = (struct nl_header *) p;
          if (h->len < sizeof *h || p + h->len > reply + n)
            break;
          char *body = p + NL_ALIGN (sizeof *h);
          if (h->seq == m->u.h.seq && h->type == NL_ERROR)
            {
              int code = *(int *) body; /* struct nlmsgerr starts with it */
              if (code == 0)
                return 0;
              errno = -code;
              return -1;
            }
          if (h->seq == m->u.h.seq && h->type == NL_NEWLINK && index != NULL)
            {
              *index = ((struct nl_link *) body)->index;
              return 0; /* a GETLINK's answer: no ACK follows a reply */
            }
          p += NL_ALIGN (h->len);
        }
    }
}

/* The pod's MAC, made from its address (0a:58 and the four bytes, as
   OVN-Kubernetes does): a pod whose sandbox is replaced keeps its address,
   and with it its MAC, so the node's ARP entry for it stays right. */
static void
mac_of (struct in_addr address, unsigned char mac[6])
{
  const unsigned char *b = (const unsigned char *) &address.s_addr;
  mac[0] = 0x0a;
  mac[1] = 0x58;
  memcpy (mac + 2, b, 4);
}

struct net_args
{
  const char *bridge, *veth;
  struct in_addr address, gateway;
  int bridge_index;
  int host_nl; /* a netlink socket of the node's namespace, made before unshare */
};

static int
write_text (const char *path, const char *text)
{
  int fd = open (path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  ssize_t n = write (fd, text, strlen (text));
  int err = errno;
  close (fd);
  errno = err;
  return n < 0 ? -1 : 0;
}

/* Called in the pod's new network namespace. The pod's eth0 gets ADDRESS/32
   and a default route via the bridge's address ("onlink": there is no subnet
   route to reach it through). With a /32, a pod reaches every other pod
   through the node, never straight across the bridge, so the node's
   conntrack sees both directions of every connection: a reply from a
   Service's endpoint is un-NATed whether or not br_netfilter is loaded. */
static void
pod_network (struct net_args *net, int report)
{
  int netns = open ("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (netns < 0)
    report_and_exit (report, "open the pod's network namespace");

  struct nl_msg m;
  struct nl_link host_end = { .flags = IFF_UP, .change = IFF_UP };
  nl_start (&m, NL_NEWLINK, NL_F_CREATE | NL_F_EXCL, &host_end, sizeof host_end);
  nl_put (&m, IFLA_IFNAME_, net->veth, strlen (net->veth) + 1);
  nl_put (&m, IFLA_MASTER_, &net->bridge_index, sizeof net->bridge_index);
  struct nl_attr *info = nl_put (&m, IFLA_LINKINFO_ | NL_A_NESTED, NULL, 0);
  nl_put (&m, IFLA_INFO_KIND_, "veth", sizeof "veth");
  struct nl_attr *data = nl_put (&m, IFLA_INFO_DATA_ | NL_A_NESTED, NULL, 0);
  struct nl_attr *peer = nl_put (&m, VETH_INFO_PEER_ | NL_A_NESTED, NULL, 0);
  struct nl_link pod_end = { 0 };
  memcpy (m.u.bytes + m.u.h.len, &pod_end, sizeof pod_end); /* the peer's ifinfomsg */
  m.u.h.len += NL_ALIGN (sizeof pod_end);
  unsigned char mac[6];
  mac_of (net->address, mac);
  nl_put (&m, IFLA_IFNAME_, "eth0", sizeof "eth0");
  nl_put (&m, IFLA_ADDRESS_, mac, sizeof mac);
  nl_put (&m, IFLA_NET_NS_FD_, &netns, sizeof netns);
  nl_end (&m, peer);
  nl_end (&m, data);
  nl_end (&m, info);
  if (nl_talk (net->host_nl, &m, NULL) < 0)
    report_and_exit (report, "create the pod's veth pair");
  close (netns);

  /* Hairpin: with br_netfilter loaded, a Service's traffic that lands on the
     pod it came from is bridged back out of the port it came in on. */
  int veth_index = 0;
  struct nl_link query = { 0 };
  nl_start (&m, NL_GETLINK, 0, &query, sizeof query);
  nl_put (&m, IFLA_IFNAME_, net->veth, strlen (net->veth) + 1);
  if (nl_talk (net->host_nl, &m, &veth_index) < 0)
    report_and_exit (report, "find the pod's veth on the node");
  struct nl_link port = { .family = AF_BRIDGE, .index = veth_index };
  nl_start (&m, NL_SETLINK, 0, &port, sizeof port);
  struct nl_attr *protinfo = nl_put (&m, IFLA_PROTINFO_ | NL_A_NESTED, NULL, 0);
  unsigned char on = 1;
  nl_put (&m, IFLA_BRPORT_MODE_, &on, sizeof on);
  nl_end (&m, protinfo);
  if (nl_talk (net->host_nl, &m, NULL) < 0)
    report_and_exit (report, "set hairpin mode on the pod's veth");
  close (net->host_nl);
  net->host_nl = -1;

  int pod_nl = nl_open ();
  if (pod_nl < 0)
    report_and_exit (report, "open netlink in the pod's namespace");
  int eth0 = (int) if_nametoindex ("eth0");
  if (eth0 == 0)
    report_and_exit (report, "find eth0 in the pod");
  if (link_up ("eth0") < 0)
    report_and_exit (report, "bring up eth0");
  struct nl_addr addr = { .family = AF_INET, .prefixlen = 32, .index = (unsigned int) eth0 };
  nl_start (&m, NL_NEWADDR, NL_F_CREATE | NL_F_EXCL, &addr, sizeof addr);
  nl_put (&m, IFA_LOCAL_, &net->address, sizeof net->address);
  nl_put (&m, IFA_ADDRESS_, &net->address, sizeof net->address);
  if (nl_talk (pod_nl, &m, NULL) < 0)
    report_and_exit (report, "add the pod's address");
  struct nl_route route = { .family = AF_INET, .table = RT_TABLE_MAIN_,
                            .protocol = RTPROT_BOOT_, .type = RTN_UNICAST_,
                            .flags = RTNH_F_ONLINK_ };
  nl_start (&m, NL_NEWROUTE, NL_F_CREATE | NL_F_EXCL, &route, sizeof route);
  nl_put (&m, RTA_GATEWAY_, &net->gateway, sizeof net->gateway);
  nl_put (&m, RTA_OIF_, &eth0, sizeof eth0);
  if (nl_talk (pod_nl, &m, NULL) < 0)
    report_and_exit (report, "add the pod's default route");
  close (pod_nl);
  /* The node forwards pod-to-pod traffic out of the interface it came in on,
     and so sends ICMP redirects; a pod that took one would go around the
     node (and around a Service's NAT). This namespace is the pod's own. */
  if (write_text ("/proc/sys/net/ipv4/conf/all/accept_redirects", "0") < 0)
    report_and_exit (report, "turn off ICMP redirects in the pod");
}

/* Before unshare: what only the node's namespace can give. */
static void
open_node_side (struct net_args *net, int report)
{
  net->bridge_index = (int) if_nametoindex (net->bridge);
  if (net->bridge_index == 0)
    report_and_exit (report, "find the pod network's bridge");
  net->host_nl = nl_open ();
  if (net->host_nl < 0)
    report_and_exit (report, "open netlink on the node");
}

#define MAX_SYSCTLS 64

/* One sysctl, "net/ipv4/ip_unprivileged_port_start=1024", written below
   /proc/sys: -1 with errno (EINVAL for a path that leaves /proc/sys). */
static int
write_sysctl (const char *setting, char path[PATH_MAX])
{
  const char *eq = strchr (setting, '=');
  size_t n = eq == NULL ? 0 : (size_t) (eq - setting);
  int fd, rc;

  if (n == 0 || n + 10 >= PATH_MAX || setting[0] == '/' || strstr (setting, "..") != NULL)
    {
      errno = EINVAL;
      return -1;
    }
  memcpy (path, "/proc/sys/", 10);
  memcpy (path + 10, setting, n);
  path[10 + n] = '\0';
  fd = open (path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return -1;
  rc = write (fd, eq + 1, strlen (eq + 1)) < 0 ? -1 : 0;
  int err = errno;
  close (fd);
  errno = err;
  return rc;
}

/* The pod's own uts, ipc and net namespaces, named, with loopback up, on the
   pod network if asked, and its sysctls set. */
static void
make_sandbox (const char *hostname, struct net_args *net, const char **sysctls,
              int n_sysctls, int report)
{
  char path[PATH_MAX];
  char step[PATH_MAX + 16];

  if (net != NULL)
    open_node_side (net, report);
  if (unshare (CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET) < 0)
    report_and_exit (report, "unshare uts, ipc and net namespaces");
  if (sethostname (hostname, strlen (hostname)) < 0)
    report_and_exit (report, "set hostname");
  if (link_up ("lo") < 0)
    report_and_exit (report, "bring up loopback");
  if (net != NULL)
    pod_network (net, report);
  for (int i = 0; i < n_sysctls; i++)
    if (write_sysctl (sysctls[i], path) < 0)
      {
        int err = errno;
        size_t len = strcspn (sysctls[i], "=");

        memcpy (step, "set sysctl ", 11);
        memcpy (step + 11, sysctls[i], len < PATH_MAX ? len : PATH_MAX - 1);
        step[11 + (len < PATH_MAX ? len : PATH_MAX - 1)] = '\0';
        errno = err;
        report_and_exit (report, step);
      }
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
  struct net_args net = { .host_nl = -1 };
  int with_net = 0;
  const char *sysctls[MAX_SYSCTLS];
  int n_sysctls = 0;
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
      else if (strcmp (argv[i], "--net") == 0 && i + 4 < argc)
        {
          net.bridge = argv[++i];
          net.veth = argv[++i];
          if (strlen (net.bridge) >= IFNAMSIZ || strlen (net.veth) >= IFNAMSIZ
              || inet_pton (AF_INET, argv[i + 1], &net.address) != 1
              || inet_pton (AF_INET, argv[i + 2], &net.gateway) != 1)
            {
              say ("--net", "BRIDGE VETH ADDRESS GATEWAY expected");
              return 5;
            }
          i += 2;
          with_net = 1;
        }
      else if (strcmp (argv[i], "--sysctl") == 0 && i + 1 < argc)
        {
          if (n_sysctls == MAX_SYSCTLS)
            {
              say ("--sysctl", "too many");
              return 5;
            }
          sysctls[n_sysctls++] = argv[++i];
        }
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
    make_sandbox (hostname, with_net ? &net : NULL, sysctls, n_sysctls, report);
  else if (n_sysctls > 0)
    {
      say ("--sysctl", "only with --sandbox (the pod's own namespaces)");
      return 5;
    }
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
