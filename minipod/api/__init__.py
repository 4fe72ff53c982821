"""The Kubernetes API as minipod speaks it: pure data and rules.

Owns manifests (reading YAML and JSON, strict validation with the API
server's field paths and messages), the typed model of Pods and workloads,
the pure parts of the kubelet and of the controllers (status, phase and
kubectl's columns, CrashLoopBackOff, $(VAR) expansion, the Deployment and
ReplicaSet reconcile), events as values, and the schema of the records a
supervisor writes (record.py).

Manifests: manifest.py reads a file and hands each document, by kind, to its
validator (podspec for a Pod, with probespec, volumespec and securitycontext
for its parts; workloadspec for a Deployment or ReplicaSet), written with the
toolkit in fields.py (meta.py for metadata, quantity.py for sizes), building
the dataclasses of model.py. Every immutable value class in minipod is made
with frozen.py's ``@frozen``: a frozen dataclass to the type checker, a
fifth of one's cost to define (start-up).

May import: the standard library and PyYAML; nothing else of minipod. No
syscalls, no files but the manifest text it is given: every module here is
tested without root and without a kernel.
"""
