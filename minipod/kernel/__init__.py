"""The kernel's mechanisms, and the only code that calls into C.

Owns namespaces (ns.py), the pod sandbox and its pause process
(sandbox.py), the container's setup recipe as data (rootfs.py) and its
launch through the C launcher (launch.py, csrc/mp_start.c), spawning
programs (spawn.py), processes by pid and start time (proc.py), the image
store (image.py), the state directory and its files (state.py; where it and
the image store are: paths.py, light enough for the fast client; the typed
records read back: records.py), the CRI log format, written and read
(logs.py), inotify for the views that wait on files (inotify.py, libc
through ctypes), the pod network's claims and config (podnet.py), netlink
through pyroute2 (net.py, run as a program: no supervisor imports it),
nftables through libnftables (nft.py, ctypes), a splice relay
(relay.py), seccomp profiles made into BPF programs (seccomp.py, compiled
by libseccomp in csrc/mp_seccomp.c, laid out for a cheap load by bpf.py),
and who a container runs as (identity.py). _native is the cffi extension
built from csrc/; sys.py is its typed face, and only this package imports
either.

May import: minipod.api and minipod.loop (LogPipe reads on the loop).
Policy (what to mount, which namespaces to join) is decided by the callers;
this package carries it out and reports which step failed.
"""
