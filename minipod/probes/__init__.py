"""Probes and lifecycle handlers, with the kubelet's rules and words.

Owns the probe worker (worker.py: periods, thresholds, the startup gate),
the handlers' dispatch (handlers.py), exec in a running container
(execprobe.py), and the network probes (net/: tcpSocket, httpGet and grpc
in Python, and the C engine that runs the plain ones in bulk).

May import: minipod.api, minipod.loop and minipod.kernel. It knows nothing
of pods: it is given a namespace fd, an exec target and a loop.
"""
