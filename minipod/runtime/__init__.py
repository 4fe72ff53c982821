"""The supervisor: pods and workloads brought to life and kept alive.

Owns a pod's lifecycle (pod.py: the kubelet's state machine of sandbox, init
containers, sidecars, restarts, probes and termination), the one process
registry that reaps every child (supervisor.py), the Deployment and
ReplicaSet controllers (controller.py), adoption of pods whose supervisor
died (adopt.py), image resolution for pods (images.py), and the pod
network: addresses and hostPorts (network.py), Services and their endpoints
(services.py), their nftables rules, kube-proxy's way (proxy.py), and
cluster DNS (dns.py).

May import: minipod.api, loop, kernel and probes. It knows no socket and no
command line: the server and the CLI drive it. pod.py and controller.py
state what they need of the supervisor as Protocols (PodHost,
WorkloadHost), so they never import it.
"""
