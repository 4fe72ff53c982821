"""The control socket and the background supervisor.

Owns the one wire format (protocol.py: a JSON request line, a JSON reply
line, shared with the fast client), the socket a supervisor listens on and
what each request does to it (control.py), the daemon that serves detached
pods (daemon.py), the systemd units supervisors run in (systemd.py), and
the full client (client.py).

May import: minipod.api, loop, kernel, probes and runtime.
"""
