"""minipod: run Kubernetes Pod manifests on one Linux host, on the kernel's own namespaces."""

__version__ = "0.1.0"
