"""A real OCI registry for tests: Debian's docker-registry (the CNCF
distribution registry) on 127.0.0.1, with a private storage directory, on a
port of its own, stopped by pid at the end. Optionally with htpasswd basic
auth, or with bearer-token auth backed by a tiny token server (a thread of
the test process, also on 127.0.0.1) that signs ES256 JWTs with a key whose
self-signed certificate the registry trusts."""

from __future__ import annotations

import base64
import datetime
import http.server
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

REGISTRY = "/usr/bin/docker-registry"
SERVICE = "minipod-test-registry"
ISSUER = "minipod-test-issuer"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def registry_missing() -> str | None:
    for tool in (REGISTRY, shutil.which("skopeo")):
        if tool is None or not os.access(tool, os.X_OK):
            return "docker-registry and skopeo are not installed (scripts/setup-host.sh deps)"
    return None


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """GET /token?service=..&scope=repository:NAME:pull,push -> a signed JWT.
    Anonymous callers get pull on repositories not under private/; callers
    with the right basic credentials get what they ask for."""

    def __init__(self, work: Path, user: str, password: str) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self.user, self.password = user, password
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ISSUER)])
        now = datetime.datetime.now(datetime.UTC)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(self.key, hashes.SHA256()))
        self.cert_path = work / "token-cert.pem"
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.cert_der = cert.public_bytes(serialization.Encoding.DER)
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.answer(self)

            def log_message(self, *_args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)

    def answer(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        query = urllib.parse.parse_qs(urllib.parse.urlparse(handler.path).query)
        auth = handler.headers.get("Authorization", "")
        who = None
        if auth.startswith("Basic "):
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            if (user, password) != (self.user, self.password):
                handler.send_response(401)
                handler.end_headers()
                return
            who = user
        access = []
        for scope in query.get("scope", []):
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            wanted = actions.split(",")
            granted = wanted if who else [a for a in wanted if a == "pull"
                                          and not name.startswith("private/")]
            access.append({"type": kind, "name": name, "actions": granted})
        self.requests.append({"who": who, "access": access})
        token = self.sign({"iss": ISSUER, "sub": who or "", "aud": SERVICE,
                           "exp": int(time.time()) + 300, "nbf": int(time.time()) - 10,
                           "iat": int(time.time()), "jti": uuid.uuid4().hex,
                           "access": access})
        body = json.dumps({"token": token, "access_token": token, "expires_in": 300}).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def sign(self, claims: dict[str, Any]) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        header = {"typ": "JWT", "alg": "ES256",
                  "x5c": [base64.b64encode(self.cert_der).decode()]}
        signing_input = (_b64url(json.dumps(header).encode()) + "."
                         + _b64url(json.dumps(claims).encode()))
        der = self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return signing_input + "." + _b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


class Registry:
    """docker-registry serving on 127.0.0.1:<port>; auth None, "basic" or "token"."""

    def __init__(self, work: Path, auth: str | None = None, user: str = "tester",
                 password: str = "s3cret-pw") -> None:
        self.work = work
        self.auth = auth
        self.user, self.password = user, password
        self.port = free_port()
        self.token: TokenServer | None = None
        work.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": "error", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": str(work / "storage")},
                        "delete": {"enabled": True}},
            "http": {"addr": f"127.0.0.1:{self.port}", "secret": uuid.uuid4().hex},
        }
        if auth == "basic":
            import bcrypt

            hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(5)).decode()
            (work / "htpasswd").write_text(f"{user}:{hashed}\n")
            config["auth"] = {"htpasswd": {"realm": "minipod-test",
                                           "path": str(work / "htpasswd")}}
        elif auth == "token":
            self.token = TokenServer(work, user, password)
            config["auth"] = {"token": {"realm": self.token.realm, "service": SERVICE,
                                        "issuer": ISSUER,
                                        "rootcertbundle": str(self.token.cert_path)}}
        (work / "config.json").write_text(json.dumps(config))
        self.start()

    def start(self, wait: bool = True) -> None:
        """(Again, after stop(): the same port, storage and auth.)"""
        self.log = open(self.work / "registry.log", "ab")  # noqa: SIM115 - closed in stop()
        # the registry reads YAML; JSON is YAML
        self.proc = subprocess.Popen([REGISTRY, "serve", str(self.work / "config.json")],
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        if wait:
            self._wait_ready()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited: {(self.work / 'registry.log').read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("docker-registry did not listen within 15 s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def close(self) -> None:
        self.stop()
        if self.token is not None:
            self.token.close()

    def creds(self) -> list[str]:
        return [f"--dest-creds={self.user}:{self.password}"] if self.auth else []

    def push(self, layout: Path, tag: str, repo: str, *, all_platforms: bool = False,
             manifest_format: str | None = None) -> None:
        """skopeo copy oci:LAYOUT:TAG docker://HOST/REPO (plain http);
        ``manifest_format`` v2s2: as a Docker schema2 manifest."""
        argv = ["skopeo", "copy", "--quiet", "--dest-tls-verify=false", *self.creds(),
                *(["--all"] if all_platforms else []),
                *([f"--format={manifest_format}"] if manifest_format else []),
                f"oci:{layout}:{tag}", f"docker://{self.host}/{repo}"]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr

    def authfile(self, path: Path) -> Path:
        """A docker config.json with this registry's credentials."""
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        path.write_text(json.dumps({"auths": {self.host: {"auth": token}}}))
        path.chmod(0o600)
        return path


def registries_conf(path: Path, insecure: list[str], rewrites: dict[str, str] | None = None
                    ) -> Path:
    """A containers-registries.conf: plain-http registries, and prefixes
    served by another location (a mirror of docker.io/library/nginx, say)."""
    lines = ['unqualified-search-registries = []', ""]
    for host in insecure:
        lines += ["[[registry]]", f'location = "{host}"', "insecure = true", ""]
    for prefix, location in (rewrites or {}).items():
        lines += ["[[registry]]", f'prefix = "{prefix}"', f'location = "{location}"',
                  "insecure = true", ""]
    path.write_text("\n".join(lines))
    return path
