"""A Mosquitto for benchmarks with the production broker's listeners, TLS included.

The stack's broker (``tani stack``) listens on loopback without TLS; gateways in the field reach
theirs over TLS (deploy/mosquitto/mosquitto.conf), and a prepaid SIM pays for every byte of it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tani.stack.config import find_binary
from tani.stack.mosquitto import MAX_INFLIGHT_MESSAGES, MAX_QUEUED_MESSAGES, connack_code


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A chain shaped like a Let's Encrypt one, made with the openssl command.

    An RSA-4096 root (as ISRG Root X1), an RSA-2048 intermediate and an RSA-2048 leaf for
    127.0.0.1; the broker serves leaf and intermediate (a "fullchain"), the gateway trusts the
    root. Returns (root CA file, chain file, leaf key file). A real Let's Encrypt leaf is about
    250 bytes longer: its certificate transparency timestamps, which only a CT log can make.
    """
    directory.mkdir(parents=True, exist_ok=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    # The extensions Let's Encrypt's certificates carry, with URLs of the same length.
    (directory / "ca.ext").write_text(
        "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n"
        "extendedKeyUsage=serverAuth,clientAuth\nsubjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid\ncertificatePolicies=2.23.140.1.2.1\n"
        "authorityInfoAccess=caIssuers;URI:http://x1.i.lencr.org/\n"
        "crlDistributionPoints=URI:http://x1.c.lencr.org/\n"
    )
    (directory / "leaf.ext").write_text(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth,clientAuth\nsubjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid\ncertificatePolicies=2.23.140.1.2.1\n"
        "authorityInfoAccess=OCSP;URI:http://r11.o.lencr.org,caIssuers;URI:http://r11.i.lencr.org/\n"
        "subjectAltName=IP:127.0.0.1\n"
    )
    openssl(
        "req", "-x509", "-newkey", "rsa:4096", "-nodes", "-keyout", "root.key", "-out",
        "root.pem", "-days", "7", "-subj", "/O=Tani Bench/CN=Tani Bench Root X1",
    )  # fmt: skip
    for name, issuer, ext, subject in (
        ("int", "root", "ca.ext", "/O=Tani Bench/CN=R11"),
        ("leaf", "int", "leaf.ext", "/CN=127.0.0.1"),
    ):
        openssl(
            "req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
            f"{name}.csr", "-subj", subject,
        )  # fmt: skip
        openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", f"{issuer}.pem", "-CAkey",
            f"{issuer}.key", "-CAcreateserial", "-out", f"{name}.pem", "-days", "7",
            "-sha256", "-extfile", ext,
        )  # fmt: skip
    chain = directory / "fullchain.pem"
    chain.write_text((directory / "leaf.pem").read_text() + (directory / "int.pem").read_text())
    return directory / "root.pem", chain, directory / "leaf.key"


@dataclasses.dataclass(frozen=True, slots=True)
class TlsBroker:
    """A running bench Mosquitto: services use the plain port, gateways the TLS one."""

    host: str
    plain_port: int
    tls_port: int
    ca_file: Path


@contextlib.contextmanager
def tls_broker(
    workdir: Path,
    password_file: Path,
    acl_file: Path,
    ports: tuple[int, int],
    check_login: tuple[str, str],
) -> Iterator[TlsBroker]:
    """A Mosquitto with the listeners of deploy/mosquitto/mosquitto.conf on loopback.

    The stack's broker has no TLS listener; this one has the production broker's: plain MQTT
    for the services, TLS with a certificate chain for gateways (``tls_version tlsv1.2`` is
    Mosquitto 2's lowest version: paho and Mosquitto agree on TLS 1.3), one set of passwords
    and ACL (the stack's files: add users before starting it), the stack's queue sizing. No
    persistence: a bench needs none.
    """
    ca_file, chain, key = make_certificates(workdir / "certs")
    plain, tls = ports
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        "\n".join(
            [
                *(["user root"] if os.geteuid() == 0 else []),
                "per_listener_settings false",
                "allow_anonymous false",
                f"password_file {password_file}",
                f"acl_file {acl_file}",
                f"max_queued_messages {MAX_QUEUED_MESSAGES}",
                "max_queued_bytes 0",
                "set_tcp_nodelay true",
                f"max_inflight_messages {MAX_INFLIGHT_MESSAGES}",
                f"listener {plain} 127.0.0.1",
                f"listener {tls} 127.0.0.1",
                f"certfile {chain}",
                f"keyfile {key}",
                "tls_version tlsv1.2",
                f"log_dest file {workdir / 'mosquitto.log'}",
                "log_type error",
                "log_type warning",
                "",
            ]
        )
    )
    process = subprocess.Popen(
        [find_binary(None, "mosquitto", "mosquitto"), "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=(workdir / "mosquitto.out").open("wb"),
    )
    try:
        deadline = time.monotonic() + 15
        while connack_code("127.0.0.1", plain, *check_login) != 0:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "the bench's TLS broker did not start: "
                    + (workdir / "mosquitto.out").read_text()[-500:]
                )
            time.sleep(0.1)
        yield TlsBroker("127.0.0.1", plain, tls, ca_file)
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
