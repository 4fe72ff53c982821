"""A pod's /etc/resolv.conf, as the kubelet composes it (pkg/kubelet/network/
dns/dns.go, GetPodDNS) and containerd writes it.

- ClusterFirst (the default) and ClusterFirstWithHostNet: the cluster DNS
  server only; search ``<ns>.svc.<domain> svc.<domain> <domain>`` and then
  the node's search list; ``options ndots:5``. With no cluster DNS (the pod
  network is off) the kubelet falls back to Default, with a MissingClusterDNS
  warning.
- Default: the node's resolv.conf (its nameservers, search list, options).
- None: nothing but spec.dnsConfig.
- Then spec.dnsConfig is merged in: nameservers and searches appended without
  duplicates, options merged by name (the pod's win); and the limits (3
  nameservers, 32 search paths of 2048 characters) cut what is over, with a
  DNSConfigForming warning.
"""

from __future__ import annotations

from minipod.api.frozen import frozen
from minipod.api.model import PodSpec

MAX_NAMESERVERS = 3
MAX_SEARCHES = 32
MAX_SEARCH_CHARS = 2048
DEFAULT_OPTIONS = ("ndots:5",)


@frozen
class ResolvConf:
    nameservers: tuple[str, ...] = ()
    searches: tuple[str, ...] = ()
    options: tuple[str, ...] = ()

    def text(self) -> str:
        """containerd's layout: search, nameserver lines, options."""
        lines = []
        if self.searches:
            lines.append("search " + " ".join(self.searches))
        lines += [f"nameserver {server}" for server in self.nameservers]
        if self.options:
            lines.append("options " + " ".join(self.options))
        return "".join(line + "\n" for line in lines)


def parse_resolv_conf(text: str) -> ResolvConf:
    """parseResolvConf: nameserver lines accumulate; the last search and the
    last options line win; a search path's trailing dot is dropped."""
    nameservers: list[str] = []
    searches: list[str] = []
    options: list[str] = []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split(";", 1)[0].split()
        if not fields:
            continue
        if fields[0] == "nameserver" and len(fields) >= 2:
            nameservers.append(fields[1])
        elif fields[0] == "search":
            searches = [s.removesuffix(".") for s in fields[1:] if s != "."]
        elif fields[0] == "options":
            options = fields[1:]
    return ResolvConf(tuple(nameservers), tuple(searches), tuple(options))


Warning = tuple[str, str]  # (reason, message) of a Warning event


def pod_resolv_conf(spec: PodSpec, namespace: str, cluster_dns: str | None,
                    cluster_domain: str, node: ResolvConf) -> tuple[ResolvConf, list[Warning]]:
    """The pod's resolv.conf and the warnings the kubelet would record."""
    warnings: list[Warning] = []
    policy = spec.dns_policy
    if policy in ("ClusterFirst", "ClusterFirstWithHostNet") and cluster_dns is None:
        warnings.append(("MissingClusterDNS",
                         "minipod has no ClusterDNS IP (the pod network is off) and cannot "
                         f'create Pod using "{policy}" policy. Falling back to "Default" '
                         "policy."))
        policy = "Default"
    if policy == "None":
        conf = ResolvConf()
    elif policy == "Default":
        conf = node
    else:
        assert cluster_dns is not None
        cluster = (f"{namespace}.svc.{cluster_domain}", f"svc.{cluster_domain}",
                   cluster_domain)
        conf = ResolvConf((cluster_dns,), _unique((*cluster, *node.searches)),
                          DEFAULT_OPTIONS)
    extra = spec.dns_config
    if extra is not None:
        conf = ResolvConf(_unique((*conf.nameservers, *extra.nameservers)),
                          _unique((*conf.searches, *extra.searches)),
                          _merge_options(conf.options, extra.options))
    return _fit_limits(conf, warnings), warnings


def _unique(items: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _merge_options(base: tuple[str, ...],
                   extra: tuple[tuple[str, str | None], ...]) -> tuple[str, ...]:
    merged: dict[str, str] = {}
    for option in base:
        name, _, value = option.partition(":")
        merged[name] = value
    for key, given in extra:
        merged[key] = given or ""
    return tuple(f"{n}:{v}" if v else n for n, v in merged.items())


def _fit_limits(conf: ResolvConf, warnings: list[Warning]) -> ResolvConf:
    servers, searches = conf.nameservers, conf.searches
    if len(servers) > MAX_NAMESERVERS:
        servers = servers[:MAX_NAMESERVERS]
        warnings.append(("DNSConfigForming", "Nameserver limits were exceeded, some "
                         "nameservers have been omitted, the applied nameserver line is: "
                         + " ".join(servers)))
    cut = False
    if len(searches) > MAX_SEARCHES:
        searches, cut = searches[:MAX_SEARCHES], True
    while searches and len(" ".join(searches)) > MAX_SEARCH_CHARS:
        searches, cut = searches[:-1], True
    if cut:
        warnings.append(("DNSConfigForming", "Search Line limits were exceeded, some search "
                         "paths have been omitted, the applied search line is: "
                         + " ".join(searches)))
    return ResolvConf(servers, searches, conf.options)
