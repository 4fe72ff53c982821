"""Network probes: netprobe.py dials, reads and words every tcpSocket,
httpGet and grpc probe in Python; engine.py runs the plain ones in C
(csrc/mp_prober.c) and hands anything else back to netprobe.py. The
handlers (minipod/probes/handlers.py) connect the two: netprobe.py never
imports the engine."""
