"""`candor explore`: the read-only explorer's web app (docs/explorer.md).

A Starlette app with Jinja2 templates (autoescape on: every string from the ledger, a
category code or a dispute statement alike, is hostile input) and server-rendered SVG
charts; no script is ever sent, and the Content-Security-Policy forbids any. It reads the
verified `Mirror` only; a page is built by a view model of `client.explorer.views` under the
mirror's data lock. When the ledger fails to verify, every page shows that error instead of
data. The regulator desk is for the role regulator only (others get a 403 page).
"""

from __future__ import annotations

import datetime as _dt
import logging
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import uvicorn
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from api.identity import Identity
from api.v1 import rating_pb2
from client.explorer import views
from client.explorer.mirror import Mirror, Snapshot
from client.queries import LoggedQuery, verify_queries
from client.ratings import RatingClient
from core.errors import CandorError, InvalidInput, NotFound
from core.subject import subject_tag

log = logging.getLogger("candor.explorer")

TEMPLATES = Path(__file__).parent / "templates"
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
       "base-uri 'none'; frame-ancestors 'none'")
_TAG = re.compile(r"[0-9a-f]{64}")
View = Callable[[Request, Snapshot], Response]


class QueryReader(RatingClient):
    """The query log as this identity may read it, through the SDK's own verification
    (client/queries.py), by subject tag: the explorer never holds a subject's name."""

    def by_tag(self, tag: bytes) -> list[LoggedQuery]:
        out: list[LoggedQuery] = []
        after = 0
        while True:
            resp = self.conn.call(self.conn.rating.ListQueries, rating_pb2.ListQueriesRequest(subject_tag=tag,
                                                                                               after=after))
            cp = self.verifier.accept(resp.checkpoint.note, self.conn) if resp.checkpoint.note else None
            out.extend(verify_queries(self.verifier.alliance, resp, cp, int(time.time() * 1000)))
            if not resp.next_after:
                return out
            after = resp.next_after


class Explorer:
    """The app and what it reads: one identity, its mirror, its query-log reader."""

    def __init__(self, identity: Identity, mirror: Mirror, state_dir: Path, address: str | None = None) -> None:
        self.identity = identity
        self.role = identity.role
        self.mirror = mirror
        self.env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                               trim_blocks=True, lstrip_blocks=True)
        self.env.filters["iso"] = views.iso
        self._address = address
        self._state_dir = state_dir
        self._reader: QueryReader | None = None
        self._reader_lock = threading.Lock()
        self.app = Starlette(routes=[
            Route("/", self.page(self.health)),
            Route("/entries", self.page(self.entries)),
            Route("/entries/{index:int}", self.page(self.entry)),
            Route("/subject", self.page(self.subject_form), methods=["GET", "POST"]),
            Route("/subject/{tag}", self.page(self.subject)),
            Route("/rules", self.page(self.rules)),
            Route("/desk", self.page(self.desk)),
        ])

    # -- plumbing ----------------------------------------------------------------------------

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("role", self.role)
        context.setdefault("who", self.identity.name)
        context.setdefault("verified", [])
        context.setdefault("nav", template.split(".")[0])
        return HTMLResponse(self.env.get_template(template).render(**context), status_code=status)

    def page(self, view: View) -> Callable[[Request], Awaitable[Response]]:
        """Wrap a view: the error state instead of data when the ledger did not verify, 404
        and 400 pages for bad requests, and headers that forbid scripts and framing."""

        async def endpoint(request: Request) -> Response:
            started = time.perf_counter()
            form: dict[str, str] = {}
            if request.method == "POST":
                body = (await request.body())[:4096].decode("utf-8", errors="replace")
                form = {k: v[0] for k, v in urllib.parse.parse_qs(body).items()}
            request.state.form = form
            response = await run_in_threadpool(self._locked, view, request)
            took = (time.perf_counter() - started) * 1000
            response.headers["Content-Security-Policy"] = CSP
            response.headers["X-Content-Type-Options"] = "nosniff"
            response.headers["Referrer-Policy"] = "no-referrer"
            response.headers["Cache-Control"] = "no-store"
            response.headers["Server-Timing"] = f"render;dur={took:.1f}"
            return response

        return endpoint

    def _locked(self, view: View, request: Request) -> Response:
        """Run `view` on the current snapshot with the mirror's data lock held."""
        with self.mirror.data_lock:
            snap = self.mirror.snapshot
            if self.mirror.error is not None:
                return self.render("error.html", 502, title="The ledger does not verify", message=self.mirror.error)
            if snap is None:
                return self.render("error.html", 503, title="No cosigned checkpoint yet",
                                   message=self.mirror.waiting or "the explorer has not synced yet")
            try:
                return view(request, snap)
            except NotFound as exc:
                return self.render("error.html", 404, title="Not found", message=str(exc))
            except InvalidInput as exc:
                return self.render("error.html", 400, title="Bad request", message=str(exc))

    def common(self, snap: Snapshot) -> dict[str, Any]:
        return {"verified": views.verified_lines(self.mirror, snap), "size": snap.size}

    # -- pages -------------------------------------------------------------------------------

    def health(self, request: Request, snap: Snapshot) -> Response:
        return self.render("health.html", h=views.health(self.mirror, snap), **self.common(snap))

    def entries(self, request: Request, snap: Snapshot) -> Response:
        kind = request.query_params.get("kind", "")
        start_text = request.query_params.get("from", "")
        if start_text and not start_text.isdigit():
            raise InvalidInput(f"from={start_text!r} must be an entry index")
        page = views.entries_page(snap, kind, int(start_text) if start_text else None)
        return self.render("entries.html", page=page, all_kinds=views.KINDS, **self.common(snap))

    def entry(self, request: Request, snap: Snapshot) -> Response:
        detail = views.entry_detail(self.mirror, snap, int(request.path_params["index"]))
        return self.render("entry.html", d=detail, **self.common(snap))

    def subject_form(self, request: Request, snap: Snapshot) -> Response:
        form: dict[str, str] = request.state.form
        can_hash = (self.identity.path / "subject.key").is_file()
        if request.method == "POST":
            name = form.get("name", "").strip()
            tag_text = form.get("tag", "").strip().lower()
            if tag_text:
                if not _TAG.fullmatch(tag_text):
                    raise InvalidInput("a subject tag is 64 hex digits")
                return RedirectResponse(f"/subject/{tag_text}", status_code=303)
            if not name:
                raise InvalidInput("give the subject's identifier or its tag")
            if not can_hash:
                raise InvalidInput(f"this {self.role} identity holds no alliance subject key; look the subject up by "
                                   "its tag")
            # Hashed here, in this process, with the alliance subject key: the name goes nowhere.
            tag = subject_tag(self.identity.hex_file("subject.key"), name)
            return RedirectResponse(f"/subject/{tag.hex()}", status_code=303)
        own = ""
        if self.role == "subject" and (self.identity.path / "subject.tag").is_file():
            own = self.identity.hex_file("subject.tag").hex()
        subjects = sorted(snap.by_subject.items(), key=lambda kv: -kv[1][-1])[:20]
        return self.render("subject_form.html", can_hash=can_hash, own=own,
                           recent=[(t, len(ix)) for t, ix in subjects], **self.common(snap))

    def _queries(self, tag: bytes) -> tuple[list[LoggedQuery] | None, str]:
        """The query log this role may read about `tag`, verified; (None, why not) otherwise."""
        if self.role not in ("regulator", "member", "subject"):
            return None, ("the query log is read by the regulator, a member (its own queries) or the subject; "
                          f"not by a {self.role}")
        if self.role == "subject":
            own = self.identity.hex_file("subject.tag") if (self.identity.path / "subject.tag").is_file() else b""
            if own != tag:
                return None, "a subject reads only the queries about itself"
            tag = b""
        with self._reader_lock:
            if self._reader is None:
                self._reader = QueryReader(self.identity, self._address, self._state_dir / "queries")
            try:
                found = self._reader.by_tag(tag)
            except CandorError as exc:
                return None, f"the query log could not be read or did not verify: {exc}"
        note = "every query about this subject" if self.role != "member" else "your own queries about this subject"
        return found, note + " (each committed record proven in a QueryLogCommitted entry of a cosigned checkpoint)"

    def subject(self, request: Request, snap: Snapshot) -> Response:
        tag_text = str(request.path_params["tag"]).lower()
        if not _TAG.fullmatch(tag_text):
            raise InvalidInput("a subject tag is 64 hex digits")
        view = views.subject_view(self.mirror, snap, bytes.fromhex(tag_text), queries=self._queries)
        return self.render("subject.html", s=view, **self.common(snap))

    def rules(self, request: Request, snap: Snapshot) -> Response:
        lines = views.rules_list(snap)
        a = request.query_params.get("a", "")
        b = request.query_params.get("b", "")
        diff = views.rules_diff(self.mirror, snap, a, b) if a and b else None
        return self.render("rules.html", lines=lines, a=a, b=b, diff=diff, **self.common(snap))

    def desk(self, request: Request, snap: Snapshot) -> Response:
        if self.role != "regulator":
            return self.render("error.html", 403, title="Forbidden: the regulator desk",
                               message=("The regulator desk is for the regulator; this explorer runs as the "
                                        f"{self.role} {self.identity.name}."))
        d = views.desk(self.mirror, snap, _dt.datetime.now(_dt.UTC).date())
        return self.render("desk.html", d=d, **self.common(snap))

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()


def build(identity: Identity, address: str | None = None, state_dir: Path | None = None, *,
          verify_all: bool = False) -> Explorer:
    """An explorer for `identity`, synced once. A ledger that does not verify still gives an
    explorer, whose pages show the error; an operator that cannot be reached raises."""
    folder = state_dir or identity.path / "explorer"
    mirror = Mirror(identity, address, folder, verify_all=verify_all)
    try:
        mirror.sync()
    except CandorError:
        if mirror.error is None:
            mirror.close()
            raise
        # A ledger that does not verify is shown as such: the pages give the error.
    return Explorer(identity, mirror, folder, address)


def parse_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise InvalidInput(f"--listen {listen!r} must be HOST:PORT, e.g. 127.0.0.1:8080")
    return host.strip("[]"), int(port)


class Served:
    """A uvicorn server for an explorer, in a thread; `port` is the bound port."""

    def __init__(self, explorer: Explorer, listen: str = "127.0.0.1:0") -> None:
        host, port = parse_listen(listen)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.port = int(self.sock.getsockname()[1])
        self.host = host
        # No access log: paths carry subject tags, which are never logged.
        self.server = uvicorn.Server(uvicorn.Config(explorer.app, log_level="warning", access_log=False,
                                                    lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True,
                                       name="explorer-http")
        self.explorer = explorer

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)
        self.sock.close()
