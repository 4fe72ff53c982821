"""`minipod image ...`: pull, load, import, ls, inspect, rm, prune, tag, df,
build-busybox. The store itself is minipod/kernel/imagestore.py.

Everything heavy is imported when its verb runs (start-up: `minipod` starts
fast for the verbs that do not touch images).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any


def register(sub: Any) -> None:
    image = sub.add_parser("image", help="the local image store: pull, load, import, ls, "
                           "inspect, rm, prune, tag, df, build-busybox")
    verbs = image.add_subparsers(required=True, metavar="ACTION")

    build = verbs.add_parser("build-busybox", help="build the busybox image from the host")
    build.add_argument("--busybox", default=None, help="path of a static busybox binary")
    build.set_defaults(handler=cmd_build_busybox)

    pull = verbs.add_parser("pull", help="pull an image from a registry")
    pull.add_argument("reference")
    pull.add_argument("--tls-verify", default="true", choices=["true", "false"],
                      help="false: the registry may be plain http or have an unverified "
                           "certificate (as podman's --tls-verify=false)")
    pull.add_argument("--authfile", default=None,
                      help="a docker config.json with credentials (default: skopeo's search: "
                           "$REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json, "
                           "~/.docker/config.json)")
    pull.add_argument("--creds", default=None, metavar="USER:PASSWORD")
    pull.add_argument("--platform", default=None, metavar="OS/ARCH[/VARIANT]",
                      help="another platform than this host's")
    pull.add_argument("-q", "--quiet", action="store_true", help="print only the image id")
    pull.add_argument("--result-json", action="store_true", help=argparse.SUPPRESS)
    pull.set_defaults(handler=cmd_pull)

    load = verbs.add_parser("load", help="load images from a docker-archive, an OCI archive "
                            "or an OCI layout directory")
    load.add_argument("-i", "--input", required=True, metavar="FILE")
    load.set_defaults(handler=cmd_load)

    imp = verbs.add_parser("import", help="make a one-layer image of a root file system tar")
    imp.add_argument("file", metavar="ROOTFS.tar")
    imp.add_argument("name", nargs="?", default=None, metavar="NAME[:TAG]")
    imp.add_argument("-c", "--change", action="append", default=[],
                     help="a Dockerfile instruction: CMD, ENTRYPOINT, ENV, LABEL, WORKDIR, "
                          "USER, STOPSIGNAL")
    imp.set_defaults(handler=cmd_import)

    ls = verbs.add_parser("ls", aliases=["list"], help="list stored images (as crictl images)")
    ls.add_argument("-q", "--quiet", action="store_true", help="only image ids")
    ls.add_argument("--digests", action="store_true", help="show repo digests")
    ls.add_argument("--no-trunc", action="store_true", help="full image ids")
    ls.set_defaults(handler=cmd_ls)

    inspect = verbs.add_parser("inspect", help="an image's record and config, as JSON")
    inspect.add_argument("images", nargs="+", metavar="IMAGE")
    inspect.set_defaults(handler=cmd_inspect)

    rm = verbs.add_parser("rm", aliases=["rmi"], help="remove images (by name or id)")
    rm.add_argument("images", nargs="+", metavar="IMAGE")
    rm.set_defaults(handler=cmd_rm)

    prune = verbs.add_parser("prune", help="remove unused data: images without a name "
                             "(-a: every image no pod uses), then unused layers and blobs")
    prune.add_argument("-a", "--all", action="store_true")
    prune.set_defaults(handler=cmd_prune)

    tag = verbs.add_parser("tag", help="give an image another name")
    tag.add_argument("source", metavar="IMAGE")
    tag.add_argument("targets", nargs="+", metavar="NAME[:TAG]")
    tag.set_defaults(handler=cmd_tag)

    df = verbs.add_parser("df", help="disk use of the image store")
    df.set_defaults(handler=cmd_df)


def human_size(n: float) -> str:
    """docker's units.HumanSize: decimal units, 3 significant digits (4.26MB)."""
    units = ["B", "kB", "MB", "GB", "TB"]
    i = 0
    while n >= 1000 and i < len(units) - 1:
        n /= 1000
        i += 1
    return f"{n:.3g}{units[i]}"


def cmd_build_busybox(args: argparse.Namespace) -> int:
    # start-up: imported with the verb that needs it
    from pathlib import Path

    # start-up: imported with the verb that needs it
    from minipod.kernel.image import build_busybox, images_dir

    version = build_busybox(Path(args.busybox) if args.busybox else None)
    print(f"built busybox:latest and busybox:{version} in {images_dir()}")
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    # start-up: imported with the verb that needs it
    from minipod.api.errors import MinipodError
    from minipod.api.ociimage import Platform
    from minipod.kernel.image import store
    from minipod.kernel.pull import Progress, PullOptions, pull

    opts = PullOptions(tls_verify=args.tls_verify == "true", authfile=args.authfile,
                       creds=args.creds)
    if args.platform:
        parts = args.platform.split("/")
        opts.platform = Platform(parts[0], parts[1] if len(parts) > 1 else "",
                                 parts[2] if len(parts) > 2 else "")
    if args.result_json:  # the supervisor's puller: one JSON line, nothing else
        try:
            result = pull(store(), args.reference, opts)
        except MinipodError as e:
            print(json.dumps({"ok": False, "error": str(e)}), flush=True)
            return 1
        print(json.dumps(result.to_json()), flush=True)
        return 0
    display = None if args.quiet else Progress(sys.stderr)
    if not args.quiet:
        print(f"Pulling {args.reference}", file=sys.stderr)
    result = pull(store(), args.reference, opts, display)
    if args.quiet:
        print(result.record.id)
        return 0
    what = ("already present" if result.present else
            f"{result.fetched} layer(s), {human_size(result.downloaded)} downloaded")
    print(f"Pulled {result.name} ({what}) in {result.seconds:.2f}s")
    print(f"Digest: {result.digest}")
    print(f"Image ID: {result.record.id}")
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    # start-up: imported with the verb that needs it
    from pathlib import Path

    # start-up: imported with the verb that needs it
    from minipod.kernel.archive import load
    from minipod.kernel.image import store

    for record, names in load(store(), Path(args.input)):
        for name in names or [record.id]:
            print(f"Loaded image: {name}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    # start-up: imported with the verb that needs it
    from pathlib import Path

    # start-up: imported with the verb that needs it
    from minipod.kernel.archive import import_rootfs
    from minipod.kernel.image import store

    record = import_rootfs(store(), Path(args.file), args.name, args.change)
    print(record.id)
    return 0


def _rows() -> list[tuple[str, str, str, Any]]:
    """(repository, tag, digest, record) per name, as crictl lists them."""
    # start-up: imported with the verb that needs it
    from minipod.kernel.image import list_images

    rows = []
    for name, record in list_images():
        if name == "<none>":
            rows.append(("<none>", "<none>", "", record))
            continue
        if "@" in name:
            repo, _, digest = name.partition("@")
            rows.append((repo, "<none>", digest, record))
            continue
        repo, _, tag = name.rpartition(":")
        digest = next((d.partition("@")[2] for d in record.repo_digests
                       if d.partition("@")[0] == repo), "")
        rows.append((repo, tag, digest, record))
    return rows


def cmd_ls(args: argparse.Namespace) -> int:
    # start-up: imported with the verb that needs it
    from minipod.kernel.image import images_dir

    rows = _rows()
    if args.quiet:
        for record_id in dict.fromkeys(r[3].id for r in rows):
            print(record_id if args.no_trunc else record_id[7:20])
        return 0
    header = ["REPOSITORY", "TAG", *(["DIGEST"] if args.digests else []), "IMAGE ID", "SIZE"]
    table = [header]
    for repo, tag, digest, record in rows:
        image_id = record.id if args.no_trunc else record.id[7:20]
        table.append([repo, tag, *([digest or "<none>"] if args.digests else []), image_id,
                      human_size(record.size)])
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("   ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    if not rows:
        print(f"(no images in {images_dir()}; run: minipod image build-busybox, or "
              "minipod image pull NAME)", file=sys.stderr)
    return 0


def _find(text: str) -> Any:
    """An image record by name (as a manifest would write it) or by id."""
    # start-up: imported with the verb that needs it
    from minipod.api import imageref
    from minipod.api.errors import ImageError
    from minipod.kernel.image import store

    st = store()
    image_id = st.find_id(text)
    if image_id is None:
        try:
            image_id = st.refs().get(imageref.parse(text).key)
        except imageref.ReferenceError:
            image_id = None
    record = st.image(image_id) if image_id else None
    if record is None:
        raise ImageError(f"image {text!r} not found in {st.root}")
    return record


def cmd_inspect(args: argparse.Namespace) -> int:
    # start-up: imported with the verb that needs it
    from minipod.kernel.image import store

    st = store()
    out = []
    for text in args.images:
        record = _find(text)
        config = json.loads(st.read_blob(record.id))
        body = record.to_json()
        body["repoTags"] = [n for n in st.names_of(record.id) if "@" not in n]
        body["size"] = record.size
        body["layerDirs"] = [str(st.layer_dir(x.diff_id) / "diff") for x in record.layers]
        body["lowerdirs"] = list(st.lowerdirs(record))
        body["config"] = config
        out.append(body)
    print(json.dumps(out, indent=2))
    return 0


def images_in_use() -> dict[str, list[str]]:
    """imageID (as containerStatuses show it) -> the pods (namespace/name)
    whose containers use it, from the pod records of this MINIPOD_ROOT."""
    # start-up: imported with the verb that needs it
    from minipod.kernel.records import read_pod_record
    from minipod.kernel.state import pods_dir

    used: dict[str, list[str]] = {}
    root = pods_dir()
    for directory in sorted(root.iterdir()) if root.is_dir() else []:
        record = read_pod_record(directory)
        if record is None:
            continue
        statuses = record.api_object.get("status", {})
        for status in [*statuses.get("containerStatuses", []),
                       *statuses.get("initContainerStatuses", [])]:
            image_id = status.get("imageID") or ""
            if image_id:
                used.setdefault(image_id, []).append(f"{record.namespace}/{record.name}")
    return used


def pods_using(record: Any, used: dict[str, list[str]]) -> list[str]:
    pods: list[str] = []
    for key in (record.id, *record.repo_digests):
        pods += [p for p in used.get(key, []) if p not in pods]
    return pods


def cmd_rm(args: argparse.Namespace) -> int:
    # start-up: imported with the verb that needs it
    from minipod.api import imageref
    from minipod.api.errors import ImageError
    from minipod.kernel.image import store

    st = store()
    status = 0
    with st.exclusive():
        used = images_in_use()
        for text in args.images:
            try:
                record = _find(text)
            except ImageError as e:
                print(f"error: {e}", file=sys.stderr)
                status = 1
                continue
            names = st.names_of(record.id)
            by_name = st.find_id(text) is None
            if by_name and len(names) > 1:
                # a name of several: only that name goes (docker rmi, crictl rmi)
                key = imageref.parse(text).key
                with st.refs_locked() as refs:
                    refs.pop(key, None)
                print(f"Untagged: {key}")
                continue
            if pods_using(record, used):
                print(f"error: image {text} is in use by pod(s) "
                      f"{', '.join(pods_using(record, used))}", file=sys.stderr)
                status = 1
                continue
            st.remove_image(record.id)
            for name in names:
                print(f"Untagged: {name}")
            print(f"Deleted: {record.id}")
        st.remove_unused()
    return status


def cmd_prune(args: argparse.Namespace) -> int:
    # start-up: imported with the verb that needs it
    from minipod.kernel.image import store

    st = store()
    with st.exclusive():
        used = images_in_use()
        named = set(st.refs().values())
        removed = []
        for record in st.images():
            if pods_using(record, used):
                continue
            if args.all or record.id not in named:
                st.remove_image(record.id)
                removed.append(record.id)
        count, freed = st.remove_unused()
    for image_id in removed:
        print(f"Deleted: {image_id}")
    print(f"Total reclaimed space: {human_size(freed)} ({count} layers, chains and blobs)")
    return 0


def cmd_tag(args: argparse.Namespace) -> int:
    # start-up: imported with the verb that needs it
    from minipod.kernel.archive import normalize_name
    from minipod.kernel.image import store

    record = _find(args.source)
    names = [normalize_name(t) for t in args.targets]
    with store().refs_locked() as refs:
        for name in names:
            refs[name] = record.id
    return 0


def cmd_df(_args: argparse.Namespace) -> int:
    # start-up: imported with the verb that needs it
    from minipod.kernel.image import store

    st = store()
    use = st.disk_use() if st.root.is_dir() else {}
    records = st.images()
    used = images_in_use()
    layers = {x.diff_id for r in records for x in r.layers}
    shared = sum(1 for diff_id in layers
                 if sum(1 for r in records if diff_id in {x.diff_id for x in r.layers}) > 1)
    print(f"store: {st.root}")
    print(f"{'TYPE':<22}{'COUNT':>7}  {'SIZE':>9}")
    in_use = sum(1 for r in records if pods_using(r, used))
    blobs = len(list(st.blobs.glob("*"))) if st.blobs.is_dir() else 0
    print(f"{'images':<22}{len(records):>7}  {'':>9}   ({in_use} in use by pods)")
    print(f"{'blobs (as pulled)':<22}{blobs:>7}  {human_size(use.get('blobs', 0)):>9}")
    print(f"{'layers (unpacked)':<22}{len(layers):>7}  {human_size(use.get('layers', 0)):>9}"
          f"   ({shared} shared by more than one image)")
    print(f"{'merged chains':<22}{'':>7}  {human_size(use.get('chains', 0)):>9}")
    print(f"{'in progress (tmp)':<22}{'':>7}  {human_size(use.get('tmp', 0)):>9}")
    print(f"{'total':<22}{'':>7}  {human_size(sum(use.values())):>9}")
    return 0


def elapsed(start: float) -> float:
    return time.monotonic() - start
