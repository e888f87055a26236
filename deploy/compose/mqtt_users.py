"""Write the broker's service users from .env, before Mosquitto starts (compose `mqtt-users`).

The MQTT directory (``mqtt-users.json``, ``passwd``, ``acl``; the format of
tani/stack/users.py) is shared with ``tani gateways add GATEWAY --mqtt-dir DIR``, which adds
gateways to it. This one-shot step puts in the users docker-compose itself needs, with the
passwords of .env:

- ``ingest`` and ``alerts`` (role service: may read tani/#), passwords from
  TANI_INGEST_MQTT__PASSWORD and TANI_ALERTS_MQTT__PASSWORD (the same variables the two
  services read);
- the health-check user ``tani-stack-probe`` (may connect only), password from
  TANI_MQTT_PROBE_PASSWORD.

Gateways already in the file are kept. It then rewrites ``passwd`` and ``acl`` from the users
file. Run as root, it gives the directory and files to uid/gid 1883 (the image's ``tani`` user
and the Mosquitto image's ``mosquitto`` user). It refuses any *_PASSWORD or *_TOKEN variable
still holding the ``CHANGE_ME`` placeholder of .env.example.

    python mqtt_users.py DIR
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tani.onboarding import ACL_FILE, PASSWORD_FILE, USERS_FILE
from tani.stack.errors import StackError
from tani.stack.process import locked, write_atomic
from tani.stack.users import (
    PROBE_USER,
    load_users,
    render_acl,
    save_users,
    validate_username,
    write_password_file,
)

OWNER_UID = OWNER_GID = 1883
PLACEHOLDER = "CHANGE_ME"
SERVICE_USERS = {
    "ingest": ("TANI_INGEST_MQTT__PASSWORD", "service"),
    "alerts": ("TANI_ALERTS_MQTT__PASSWORD", "service"),
    PROBE_USER: ("TANI_MQTT_PROBE_PASSWORD", "probe"),
}
# The lock `tani gateways add --mqtt-dir` takes too (tani/onboarding.py), so the two never
# rewrite the directory at the same time.
LOCK_FILE = ".lock"
FILES = (USERS_FILE, PASSWORD_FILE, ACL_FILE, LOCK_FILE)


class SetupError(Exception):
    """A problem the operator must fix in .env or on disk."""


def check_secrets(environ: dict[str, str]) -> None:
    """Refuse secrets that are missing or still the .env.example placeholder."""
    names = {var for var, _ in SERVICE_USERS.values()}
    names |= {k for k in environ if k.endswith(("_PASSWORD", "_TOKEN"))}
    bad = sorted(n for n in names if not environ.get(n) or environ[n].startswith(PLACEHOLDER))
    if bad:
        raise SetupError(
            "set these in deploy/.env (e.g. openssl rand -hex 24), then run "
            f"`docker compose up -d` again: {', '.join(bad)}"
        )
    short = sorted(var for var, _ in SERVICE_USERS.values() if len(environ[var]) < 16)
    if short:
        raise SetupError(f"MQTT passwords need at least 16 characters: {', '.join(short)}")


def sync(directory: Path, environ: dict[str, str]) -> list[str]:
    """Put the service users into ``directory``'s users file; rewrite passwd and acl."""
    check_secrets(environ)
    directory.mkdir(parents=True, exist_ok=True)
    with locked(directory / LOCK_FILE):
        users = load_users(directory / USERS_FILE)
        for name, (var, role) in SERVICE_USERS.items():
            if name != PROBE_USER:
                validate_username(name)
            users[name] = {"password": environ[var], "role": role}
        save_users(directory / USERS_FILE, users)
        write_password_file(users, directory / PASSWORD_FILE)
        write_atomic(directory / ACL_FILE, render_acl(users), mode=0o600)
    if os.geteuid() == 0:
        for path in (directory, *(directory / name for name in FILES)):
            os.chown(path, OWNER_UID, OWNER_GID)
    return sorted(users)


def main(argv: list[str]) -> int:
    """Entry point: ``mqtt_users.py DIR``."""
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        names = sync(Path(argv[1]), dict(os.environ))
    except (SetupError, StackError, OSError) as exc:
        print(f"mqtt-users: {exc}", file=sys.stderr)
        return 1
    gateways = [n for n in names if n not in SERVICE_USERS]
    print(f"mqtt-users: {argv[1]}: services ingest, alerts; {len(gateways)} gateway(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
