"""What limits each figure: one sentence or two each, from what was measured
(the fork and exec events split the starts and restarts) and profiled
(py-spy on the supervisor, strace of one restart, `python -X importtime` of
the CLI) on the 2-core development machine. Keys are figure keys, or
prefixes of them; the report prints those that this run measured."""

LIMITS: dict[str, str] = {
    "start.one": (
        "mostly the Python interpreter of the `minipod up -d` client (~10 ms, cli.python): "
        "with the supervisor running, the command is one request on its socket from "
        "minipod/cli/main.py, which imports only _socket and _json. start.one.to_pause is that "
        "plus the supervisor's share: libyaml's parse, validation, the image lookup, the pod "
        "directory, /etc files and FIFOs, and the posix_spawn of pause."),
    "start.one.pause_to_exec": (
        "pause makes the pod's uts, ipc and net namespaces itself (csrc/pause.c --sandbox: "
        "unshare, hostname, lo up by ioctl; the net namespace is most of it) and the "
        "supervisor waits for its report pipe to close; then the pod's namespace fds, the "
        "container's directories, log and FIFOs, and the C launcher (start.one.fork_to_exec)."),
    "start.one.fork_to_exec": (
        "the C launcher (csrc/mp_start.c, a CLONE_VM|CLONE_VFORK child, no Python between "
        "clone and exec): 3 setns, 17 mounts (the overlay, proc, sys, /dev and its binds, "
        "devpts, mqueue, the /etc files), 17 mkdir, pivot_root, 28 capability prctls, 16 "
        "sigactions and an execvpe that tries 5 PATH entries before /bin (strace of one "
        "restart); the kernel baseline, which makes five namespaces, is of the same order."),
    "start.inits": (
        "as start.one, plus two more container starts and the loop turn between each init "
        "container's exit and the next start."),
    "start.two": "as start.one, plus a second container start.",
    "start.cold": (
        "as start.one, but with no supervisor to ask the full CLI runs: argparse, the spec "
        "and yaml (~80 ms of imports) to validate in the client, then it forks the "
        "background supervisor, which imports h2, psutil and cffi before it can serve "
        "the request."),
    "stop": (
        "the client's interpreter (~10 ms) and one request (minipod/cli/main.py); the "
        "supervisor's side is ~5 ms: SIGTERM, the app's exit, pause's SIGTERM and reap, the "
        "unmounts, and one rename of the pod directory into trash/ (the dozen rmdirs that "
        "take milliseconds on a disk come after the answer)."),
    "restart.e2e": (
        "split by the fork event. Before the fork (restart.e2e.to_fork) it is the "
        "supervisor's Python: the pidfd wake-up and waitid, the exit's event written to "
        "daemon.log and events.jsonl, the new run's directories (made ahead, after the last "
        "start, and renamed into place: on this ext4 a mkdir first searches among recently "
        "deleted inodes), log file and FIFO ends, the launch plan (kept while its inputs "
        "are the same); the dead run's unmounts wait until after the exec, as the "
        "supervisor holds its mount namespace. After the fork (restart.e2e.fork_to_exec) "
        "the C launcher as in start.one.fork_to_exec. Both track the host's speed: compare "
        "the kernel baseline of the same run (unshare + exec). The p99 is the loop's other "
        "work and the machine's other load."),
    "restart.inproc": (
        "the same path as restart.e2e, in this benchmark process, which is bigger and also "
        "runs the measuring; it is noisier for that."),
    "probe.exec": (
        "a vfork-style clone from C, the namespace joins and the exec of `true` in the "
        "container; the wall time is close to a plain fork+exec (the kernel baseline). Most "
        "of the CPU is the exec'd command's own (extra.children_cpu_ms_median, nearly all "
        "user time): on this VM busybox `true` started by a plain posix_spawn costs "
        "~0.55 ms of CPU, a static binary that only exits ~0.14 ms (glibc's start-up runs "
        "~26 CPUID instructions, ~4.7 us each here, a trap to the hypervisor; measured "
        "apart from the suite), and that moves with the host's load. The supervisor's part "
        "(extra.self_cpu_ms_median) is the clone and the Python around it: pipe, pidfd, "
        "epoll, waitid, the result; the command's C strings and arrays are made once per "
        "command, not per probe."),
    "capacity": (
        "the kernel's TCP work. Every httpGet and tcpSocket probe runs in "
        "csrc/mp_prober.c: a heap of ticks, a timerfd on a 2 ms grid, the dial, and the "
        "judging of a plain 2xx answer (MSG_PEEK); and the engine waits in the loop's place "
        "(mp_prober_wait), so a wake-up only it made is turned in C and Python hears only "
        "of a result that changes something (capacity.N.cpu was 17% of a core with a probe "
        "object per probe in Python, ~10% with the engine turned from Python's loop). What "
        "is left (perf): ~95% of the supervisor's CPU is the kernel's: ~55% connect() and "
        "the disconnect, where the loopback handshake of both ends and the RST run (a new "
        "connection per probe, without TIME-WAIT, is the kubelet's semantics), ~12% the "
        "request's send, ~13% the wake-ups' epoll_wait and context switches. An answer that "
        "comes while the timer goes off within the grain is read in that wake-up, so 1000 "
        "probes a second make ~550 wake-ups, not ~1100 (extra.wakeups_per_s); a 3 or 4 ms "
        "grid made fewer (~360, ~270) at no CPU saving we could measure, so the grid stays "
        "at 2 ms. Delaying the handshake's last ACK onto the request (TCP_QUICKACK 0) sent "
        "two segments fewer per probe and cost more CPU, and was left out. Lateness: the "
        "grid's 2 ms at most, plus the turn that starts several probes."),
    "idle": (
        "nothing: with no probes and no timers due the supervisor sleeps in epoll_wait "
        "and the pause processes in a signalfd read, so no wake-up at all."),
    "memory.supervisor": (
        "the interpreter and its imports (h2, yaml, psutil, cffi) make the "
        "MBs a supervisor costs with one pod."),
    "memory.marginal": (
        "a pod's Python objects (runner, container runs, FIFO readers, the cached record); "
        "later scale runs grow less, as the heap the first one grew is reused."),
    "memory.pause": "a static musl binary that only waits on a signalfd.",
    "scale.start": (
        "one loop starts the pods one after the other, a few ms each: the pod directory and "
        "/etc files, FIFOs, the pause's posix_spawn and its namespaces, the container's C "
        "launcher, events and pod.json; nothing overlaps, and the client's interpreter is "
        "paid once."),
    "scale.stop": (
        "`minipod down` (the full CLI) sends one delete per pod and waits for each "
        "(SIGTERM, exit, teardown, a few ms); the client's start-up is paid once."),
    "kernel": (
        "the kernel's own cost: creating (and tearing down) five namespaces, mostly the "
        "network namespace, for unshare; a fork and an exec for fork+exec."),
    "cli": "the interpreter start-up, then the imports of the CLI's modules.",
    "network.start": (
        "network.start.on is start.one plus an address claimed (an O_EXCL file under the "
        "network's lock), the resolv.conf composed, and pause's --net work "
        "(network.pause.on); the rest of the gap to network.start.off is noise of a shared "
        "machine: the two take turns, run by run."),
    "network.pause": (
        "pause.on: the kernel's veth creation (register_netdevice of two devices, one moved "
        "into the new namespace) is most of the ~0.8 ms it adds to a quiet pause; the three "
        "rtnetlink requests and an ioctl around it are microseconds. pause.pyroute2: the same "
        "requests from Python, where pyroute2's IPRoute(netns=...) forks a helper to get a "
        "socket of the pod's namespace, and its messages are encoded in Python (~0.4 ms "
        "each)."),
    "network.failover": (
        "the window between the server's death and the supervisor's hearing of it through "
        "the pidfd: the pod then leaves the Service's chain in that same turn, before the "
        "container's restart (one libnftables transaction, ~0.2 ms). Requests that raced "
        "into the dead endpoint before the rule changed are the failures; a loaded machine "
        "delays the supervisor's wake-up."),
    "network.request": (
        "the pod's address: a veth pair and the host's routing; a hostPort or Service adds "
        "the nat hooks' verdict-map lookups and conntrack's DNAT (~0.05 to 0.1 ms); "
        "port-forward adds two loopback connections and a userspace process that relays "
        "each chunk with two splice calls, which is why hostPort is DNAT."),
    "image.pull": (
        "the unpack: skopeo fetches the 12 MB in ~150 ms (the baseline); then each layer, "
        "in a forked child per CPU, is decompressed and checked whole (zlib, ~300 MB/s here), "
        "its headers read by Python's tarfile and its files made one by one (an O_CREAT "
        "open costs ~70 to 200 us on this busy ext4) with their bytes moved by "
        "copy_file_range; plus two interpreter start-ups (the command, ~80 ms with imports) "
        "and skopeo's inspect of the manifest."),
    "image.pull.present": (
        "the command's interpreter and imports, and one `skopeo inspect --raw` (manifest), "
        "or two for the other image (its config too); no layer blob is fetched "
        "(extra.layer_blobs_fetched)."),
    "start.layers5": (
        "as start.one: the overlay's five lowerdirs cost the kernel nothing measurable at "
        "mount time (the baseline is the same pod from the one-layer busybox)."),
}
