"""The environment variables the kubelet gives a container for each Service
of its namespace (pkg/kubelet/envvars FromServices), when the pod's
enableServiceLinks is true (its default):

    WEB_SERVICE_HOST=10.96.0.12      WEB_SERVICE_PORT=80
    WEB_SERVICE_PORT_HTTP=80         (each named port)
    WEB_PORT=tcp://10.96.0.12:80     (docker links: the first port)
    WEB_PORT_80_TCP=tcp://10.96.0.12:80
    WEB_PORT_80_TCP_PROTO=tcp  WEB_PORT_80_TCP_PORT=80  WEB_PORT_80_TCP_ADDR=10.96.0.12

A headless Service (no cluster IP) gives none. The values are those of the
Services that exist when the container starts; a restart sees new ones.
"""

from __future__ import annotations

from collections.abc import Iterable

from minipod.api.model import ServicePort


def variable_name(name: str) -> str:
    return name.upper().replace("-", "_")


def service_env(services: Iterable[tuple[str, str, tuple[ServicePort, ...]]]) -> dict[str, str]:
    """(name, cluster IP, ports) of each Service, in order -> the variables."""
    env: dict[str, str] = {}
    for name, cluster_ip, ports in services:
        if not cluster_ip or cluster_ip == "None" or not ports:
            continue
        prefix = variable_name(name)
        env[f"{prefix}_SERVICE_HOST"] = cluster_ip
        env[f"{prefix}_SERVICE_PORT"] = str(ports[0].port)
        for port in ports:
            if port.name:
                env[f"{prefix}_SERVICE_PORT_{variable_name(port.name)}"] = str(port.port)
        for index, port in enumerate(ports):
            protocol = port.protocol or "TCP"
            url = f"{protocol.lower()}://{cluster_ip}:{port.port}"
            if index == 0:
                env[f"{prefix}_PORT"] = url
            base = f"{prefix}_PORT_{port.port}_{protocol.upper()}"
            env[base] = url
            env[f"{base}_PROTO"] = protocol.lower()
            env[f"{base}_PORT"] = str(port.port)
            env[f"{base}_ADDR"] = cluster_ip
    return env
