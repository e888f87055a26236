"""What the admin commands share: one registry transaction, input checks, tables and JSON.

Registry modules are imported inside the functions: ``tani`` on a Raspberry Pi (gateway extra
only) must start without SQLAlchemy. Refused input ends the command with one line on stderr and
exit code 2.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import BaseModel, ValidationError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

DEFAULT_URL = "sqlite:///.tani/registry.sqlite3"
RegistryUrl = Annotated[
    str, typer.Option(envvar="TANI_REGISTRY_URL", help="Registry database (SQLAlchemy URL).")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
VillageOpt = Annotated[str | None, typer.Option("--village", help="Village id.")]


def fail(message: str) -> NoReturn:
    """Say what was refused on stderr and end the command with exit code 2."""
    typer.echo(message, err=True)
    raise typer.Exit(2)


def parse(model: type[M], **values: Any) -> M:
    """Validate command-line values (None: not given, the model's default applies)."""
    try:
        return model.model_validate({k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            key = ".".join(str(part) for part in error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{key}: {message}" if key else message)
        fail("Masukan salah / invalid input: " + "; ".join(problems))


@contextmanager
def registry_session(url: str) -> Iterator[Session]:
    """One transaction on the registry; a refusal rolls it back and exits with code 2."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError
    from sqlalchemy.orm import Session

    from registry.store import Registry, RegistryError

    try:
        parsed = make_url(url)
    except ArgumentError:
        fail(f"URL registry tidak valid / invalid registry URL: {url}")
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        # The default lives under .tani/, which a fresh checkout does not have yet.
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)  # type: ignore[arg-type]
    registry = Registry(url)
    try:
        with Session(registry.engine) as session, session.begin():
            yield session
    except RegistryError as exc:
        fail(str(exc))
    finally:
        registry.close()


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "ya" if value else "tidak"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return ",".join(value) or "-"
    return str(value)


def _table(rows: list[dict[str, Any]], hide: tuple[str, ...]) -> None:
    if not rows:
        typer.echo("(kosong / none)")
        return
    headers = [key for key in rows[0] if key not in hide]
    lines = [headers, *([_cell(row[key]) for key in headers] for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers))]
    for line in lines:
        typer.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        )


def show(rows: list[dict[str, Any]], as_json: bool, hide: tuple[str, ...] = ()) -> None:
    """Rows as a table for people or as JSON for scripts (JSON keeps every key)."""
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
    else:
        _table(rows, hide)


def show_one(row: dict[str, Any], as_json: bool, hide: tuple[str, ...] = ()) -> None:
    """One saved row; callers show it after the commit, so what is shown is what was stored."""
    if as_json:
        typer.echo(json.dumps(row, ensure_ascii=False, indent=2, default=str))
    else:
        _table([row], hide)


def now_ms() -> int:
    """Now, in epoch milliseconds."""
    return int(time.time() * 1000)


def username_of(session: Session, user_id: int | None) -> str | None:
    """The username of a user id (None for none)."""
    from registry.people import User

    user = None if user_id is None else session.get(User, user_id)
    return None if user is None else user.username


def load_or_exit(loader: Callable[[Path], T], path: Path) -> T:
    """Load a config file or stop with a message naming every bad key."""
    try:
        return loader(path)
    except ValidationError as exc:
        typer.echo(f"Konfigurasi salah / invalid configuration in {path}:", err=True)
        for error in exc.errors():
            key = ".".join(str(part) for part in error["loc"])
            typer.echo(f"  {key}: {error['msg']}", err=True)
        raise typer.Exit(2) from None
    except (OSError, ValueError) as exc:
        typer.echo(f"Konfigurasi tidak terbaca / cannot read {path}: {exc}", err=True)
        raise typer.Exit(2) from None


def wait_for_stop(duration_s: float | None = None) -> None:
    """Block until SIGINT/SIGTERM, or for ``duration_s`` seconds."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait(duration_s)
