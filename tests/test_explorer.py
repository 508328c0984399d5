"""The read-only explorer (`candor explore`, docs/explorer.md): its view models over a real
alliance, and its pages in a real headless Chromium driven by Selenium.

A small alliance runs the ratings story over real gRPC (operator, three trustees, a
witness): reports, two published ratings, a dispute whose statement is hostile HTML, a
second rule set. The explorer syncs through the client's own verifier; the pages must show
the expected numbers, the chart must render, a hostile statement must show as text, a
member must get the 403 page for the regulator desk, and a tampered ledger must show the
error state instead of data. Screenshots of each view are saved under the test's folder
and checked to be non-blank.
"""

from __future__ import annotations

import datetime as _dt
import shutil
import sqlite3
import struct
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.identity import Identity
from client.explorer import views
from client.explorer.app import Explorer, Served, build
from client.witness import Witness
from core import entries as e
from core.subject import subject_tag
from server.database import open_store
from tests.conftest import TEST_CATEGORIES
from tests.test_ratings import S1, S2, S3, World

HOSTILE = "<script>document.title='pwned'</script><img src=x onerror=alert(1)> & \"quoted\""
CHROMEDRIVER = "/usr/bin/chromedriver"


# -- the alliance -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def story(alliance_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The ratings story of tests/test_ratings.py, once for the module."""
    from server.app import Settings, create_server
    from server.ceremony import bootstrap_entries
    from server.epoch import EpochRunner
    from server.trustee import create_trustee_server

    tmp = tmp_path_factory.mktemp("explorer-world")
    stores = [open_store(str(tmp / "ledger.db"))]
    op = create_server(Settings(identity=Identity.load(alliance_dir / "operator")), stores[0])
    op.ledger.append_now(bootstrap_entries(alliance_dir / "operator"))
    trustees = []
    for i in (1, 2, 3):
        stores.append(open_store(str(tmp / f"trustee-{i}.db")))
        (tmp / f"trustee-{i}").mkdir()
        trustees.append(create_trustee_server(Identity.load(alliance_dir / f"trustee-{i}"), stores[-1], "127.0.0.1:0",
                                              f"127.0.0.1:{op.port}", state_dir=tmp / f"trustee-{i}"))
    op.epochs = EpochRunner(op.ledger, Identity.load(alliance_dir / "operator"),
                            {i + 1: f"127.0.0.1:{t[1]}" for i, t in enumerate(trustees)})
    world = World(alliance_dir, op, trustees, tmp)

    critical = world.report("a", S1, "fake_traffic", "critical")
    world.report("a", S1, "fake_traffic", "minor")
    world.report("b", S1, "contract_default", "minor")
    world.report("c", S1, "false_advertising", "general")
    world.report("a", S2, "false_advertising", "general")  # one reporter: below k
    world.epoch()  # first rating: 34 D
    a = world.member("a")
    try:
        a.retract_report(critical.report_id)
    finally:
        a.close()
    world.epoch()  # the correction: 95 A
    counted = next(b for _i, b in world.entries(e.ReportCommitted) if b.report_id != critical.report_id
                   and b.subject_tag == world.tag(S1))
    world.regulator(e.DisputeFiled(bytes(range(16)), counted.report_id, HOSTILE))
    from tests.test_rules import _text

    later = _dt.date.today() + _dt.timedelta(days=400)
    text = _text(TEST_CATEGORIES, "2099.1", later, k=4)
    import tomllib

    doc = tomllib.loads(text)
    world.regulator(e.RuleSetPublished(doc["version"], doc["effective_from"], text))
    # Two of the three trustees away: the epoch appends its request for S3, which no
    # decryption can answer; the health page must show it unanswered.
    world.three_reporters(S3)
    for server, _port, _trustee in trustees[1:]:
        server.stop(0)
    world.epoch()
    op.ledger.wait_checkpoint(op.ledger.store.size())
    world.cosign()
    yield world
    for server, _port, trustee in trustees:
        server.stop(0)
        trustee.mirror.conn.close()
    op.epochs.close()
    op.stop(grace=0.5)
    for s in stores:
        s.close()


def explorer_for(world: World, who: str, folder: Path, *, verify_all: bool = False) -> Explorer:
    return build(Identity.load(world.alliance / who), f"127.0.0.1:{world.operator.port}", folder,
                 verify_all=verify_all)


@pytest.fixture(scope="module")
def regulator_explorer(story: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Explorer]:
    explorer = explorer_for(story, "regulator", tmp_path_factory.mktemp("explorer-regulator"))
    yield explorer
    explorer.mirror.close()
    explorer.close()


# -- view models, without a browser -----------------------------------------------------------


@pytest.mark.slow
def test_view_models_show_the_verified_ledger(story: World, regulator_explorer: Explorer) -> None:
    mirror = regulator_explorer.mirror
    assert mirror.error is None and mirror.snapshot is not None
    size = story.operator.ledger.store.size()
    with mirror.data_lock:
        snap = mirror.snapshot
        assert snap.size == size
        h = views.health(mirror, snap)
        assert (h.size, h.requested, h.answered) == (size, 3, {"published": 2, "held": 0, "withdrawn": 0})
        assert [r.subject for r in h.unanswered] == [story.tag(S3).hex()]
        assert [r.answer for r in h.recent] == ["", "published", "published"]
        status = {w.name: w.status for w in h.witnesses}
        assert status == {"witness-1": "current", "witness-2": "missing"}  # witness-2 never ran
        assert h.history and h.history[0][1] == size

        page = views.entries_page(snap, "ReportCommitted")
        assert page.total == 8 and [r.kind for r in page.rows] == ["ReportCommitted"] * 8
        assert [r.index for r in page.rows] == sorted((r.index for r in page.rows), reverse=True)
        newest = views.entries_page(snap, per=3)
        assert [r.index for r in newest.rows] == [size - 1, size - 2, size - 3] and newest.older == size - 4
        with pytest.raises(Exception, match="not one of"):
            views.entries_page(snap, "NoSuchKind")

        (index, _body), = story.entries(e.DisputeFiled)
        detail = views.entry_detail(mirror, snap, index)
        assert detail.kind == "DisputeFiled" and detail.author == "regulator" and not detail.proof_error
        assert ("statement", HOSTILE) in detail.fields and detail.proof

        s1 = views.subject_view(mirror, snap, story.tag(S1), queries=regulator_explorer._queries)
        assert s1.state == "disputed" and s1.rating is not None
        assert (s1.rating["score"], s1.rating["grade"]) == (95, "A")
        assert [(p.score, p.grade) for p in s1.chart.points] == [(34, "D"), (95, "A")]  # type: ignore[union-attr]
        assert [d.statement for d, _late in s1.disputes] == [HOSTILE]
        assert sorted(r.status for r in s1.reports) == ["active", "active", "disputed", "retracted"]
        assert all(r.incident_date <= r.notice_date <= r.recorded_on for r in s1.reports)  # the notice duty
        assert s1.queries is not None  # the regulator reads the subject's query log
        s2 = views.subject_view(mirror, snap, story.tag(S2))
        assert (s2.state, s2.reporters, s2.k, s2.chart) == ("below_k", 1, 3, None)

        lines = views.rules_list(snap)
        assert [(r.version, r.in_force) for r in lines][-1] == ("2099.1", False) and lines[0].in_force
        diff = views.rules_diff(mirror, snap, lines[0].version, "2099.1")
        changed = [row for row in diff if row.op != "equal"]
        assert any("k_reporters = 4" in row.right for row in changed)

        d = views.desk(mirror, snap)
        assert [x.statement for x, _late in d.open_disputes] == [HOSTILE] and d.overdue == 0
        assert [m[2:4] for m in d.membership] == [("admitted", "a"), ("admitted", "b"), ("admitted", "c")]


# -- in a real browser ----------------------------------------------------------------------------


def png_colours(data: bytes, limit: int = 4) -> int:
    """How many distinct pixel values (up to `limit`) an 8-bit RGB/RGBA PNG holds."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and colour in (2, 6), "only 8-bit RGB/RGBA screenshots are expected"
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    prev = bytearray(stride)
    seen: set[bytes] = set()
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - channels] if x >= channels else 0
            b = prev[x]
            c = prev[x - channels] if x >= channels else 0
            if f == 1:
                line[x] = (line[x] + a) & 0xFF
            elif f == 2:
                line[x] = (line[x] + b) & 0xFF
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 0xFF
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        prev = line
        if y % 7 == 0:
            for x in range(0, stride, channels * 5):
                seen.add(bytes(line[x:x + channels]))
                if len(seen) >= limit:
                    return len(seen)
    return len(seen)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if not Path(CHROMEDRIVER).exists() or shutil.which("chromium") is None:
        pytest.skip("needs Debian's chromium and chromium-driver (`apt-get install -y chromium chromium-driver`; "
                    ".ci/run installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1280,1400",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def shoot(driver: Any, folder: Path, name: str) -> Path:
    path = folder / f"{name}.png"
    assert driver.save_screenshot(str(path))
    assert png_colours(path.read_bytes()) >= 3, f"screenshot {name} is blank"
    return path


def text_of(driver: Any, element_id: str) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.ID, element_id).text)


@pytest.mark.slow
def test_every_view_in_chromium(story: World, regulator_explorer: Explorer, browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    served = Served(regulator_explorer).start()
    shots = tmp_path / "screenshots"
    shots.mkdir()
    size = story.operator.ledger.store.size()
    try:
        base = served.url
        browser.get(base + "/")
        assert text_of(browser, "size") == str(size) and text_of(browser, "requested") == "3"
        assert browser.find_element(By.CSS_SELECTOR, "tr[data-witness='witness-2'] .status").text == "missing"
        assert "bad" in browser.find_element(By.CSS_SELECTOR, "tr[data-witness='witness-2']").get_attribute("class")
        unanswered = browser.find_elements(By.CSS_SELECTOR, "#unanswered tr.bad")
        assert len(unanswered) == 1 and "UNANSWERED" in unanswered[0].text
        assert browser.find_elements(By.ID, "all-answered") == []
        assert "cosigned by witness-1" in text_of(browser, "verified")
        shoot(browser, shots, "health")

        browser.get(base + "/entries?kind=ReportCommitted")
        rows = browser.find_elements(By.CSS_SELECTOR, "#entries tr")[1:]
        assert len(rows) == 8 and all("ReportCommitted" in r.text for r in rows)
        shoot(browser, shots, "entries")

        (index, _body), = story.entries(e.DisputeFiled)
        browser.get(f"{base}/entries/{index}")
        assert text_of(browser, "entry-kind") == "DisputeFiled"
        statement = browser.find_element(By.CSS_SELECTOR, "pre[data-field='statement']")
        assert statement.text == HOSTILE  # shown as text, never run
        assert f"Inclusion proof of entry {index} in the checkpoint of size {size}: verified" in text_of(browser,
                                                                                                          "verified")
        assert browser.find_elements(By.CSS_SELECTOR, "#proof li")
        shoot(browser, shots, "entry")

        # Subject by name: hashed in the explorer's process, then shown by tag.
        browser.get(base + "/subject")
        browser.find_element(By.CSS_SELECTOR, "#by-name input[name=name]").send_keys(S1)
        browser.find_element(By.CSS_SELECTOR, "#by-name button").click()
        tag = subject_tag(Identity.load(story.alliance / "regulator").hex_file("subject.key"), S1).hex()
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(browser, 30).until(lambda d: d.current_url.endswith(f"/subject/{tag}"))
        assert (text_of(browser, "state"), text_of(browser, "grade"), text_of(browser, "score")) == \
            ("disputed", "A", "95")
        chart = browser.find_element(By.CSS_SELECTOR, "svg#chart")
        assert chart.find_element(By.ID, "score-line").get_attribute("d").startswith("M ")
        assert len(chart.find_elements(By.CSS_SELECTOR, "rect.band")) == 4
        assert len(chart.find_elements(By.TAG_NAME, "circle")) == 2
        cells = browser.find_elements(By.CSS_SELECTOR, "#disputes pre.statement")
        assert [c.text for c in cells] == [HOSTILE]
        assert browser.find_elements(By.TAG_NAME, "script") == [] and browser.title != "pwned"
        assert browser.find_elements(By.CSS_SELECTOR, "#disputes img") == []
        assert browser.find_elements(By.ID, "queries")  # the regulator sees the query log
        shoot(browser, shots, "subject")

        browser.get(base + "/rules")
        versions = [r.text.split()[0] for r in browser.find_elements(By.CSS_SELECTOR, "#rulesets tr")[1:]]
        assert versions[-1] == "2099.1"
        first = versions[0]
        browser.get(f"{base}/rules?a={first}&b=2099.1")
        assert "k_reporters = 4" in text_of(browser, "diff")
        shoot(browser, shots, "rules")

        browser.get(base + "/desk")
        assert text_of(browser, "open-count") == "1" and HOSTILE in text_of(browser, "open-disputes")
        assert len(browser.find_elements(By.CSS_SELECTOR, "#membership tr")) == 4
        shoot(browser, shots, "desk")
        assert status_of(base + "/desk") == 200
    finally:
        served.stop()

    # A member's explorer (re-verifying every ring signature and proof too): the regulator
    # desk is a 403 page, and the member sees only its own queries.
    member = explorer_for(story, "member-b", tmp_path / "member", verify_all=True)
    served = Served(member).start()
    try:
        browser.get(served.url + "/desk")
        assert "Forbidden" in text_of(browser, "error-state")
        assert browser.find_elements(By.ID, "open-disputes") == []
        assert status_of(served.url + "/desk") == 403
        shoot(browser, shots, "desk-403")
        browser.get(f"{served.url}/subject/{story.tag(S1).hex()}")
        assert text_of(browser, "state") == "disputed"
        assert "every ring signature and validity proof re-checked too" in text_of(browser, "verified")
    finally:
        served.stop()
        member.mirror.close()
        member.close()
    assert sorted(p.name for p in shots.iterdir()) == ["desk-403.png", "desk.png", "entries.png", "entry.png",
                                                        "health.png", "rules.png", "subject.png"]


@pytest.mark.slow
def test_tampered_ledger_shows_the_error_state(alliance_dir: Path, operator: Any, browser: Any,
                                               tmp_path: Path) -> None:
    """An entry edited in the operator's database after it was checkpointed: the explorer
    shows the error state on every page, and no data."""
    from selenium.webdriver.common.by import By

    operator.ledger.wait_checkpoint(operator.ledger.store.size())
    witness = Witness.open(Identity.load(alliance_dir / "witness-1"), f"127.0.0.1:{operator.port}", tmp_path)
    try:
        witness.step()
    finally:
        witness.conn.close()
    db = sqlite3.connect(tmp_path / "ledger.db")
    db.execute("DROP TRIGGER entries_no_update")
    (leaf,) = db.execute("SELECT data FROM entries WHERE idx = 2").fetchone()
    forged = bytearray(leaf)
    forged[len(forged) // 2] ^= 0x01
    db.execute("UPDATE entries SET data = ? WHERE idx = 2", (bytes(forged),))
    db.commit()
    db.close()

    explorer = build(Identity.load(alliance_dir / "regulator"), f"127.0.0.1:{operator.port}", tmp_path / "explorer")
    served = Served(explorer).start()
    try:
        assert explorer.mirror.error is not None and explorer.mirror.snapshot is None
        for path in ("/", "/entries", "/entries/1", "/subject", "/rules", "/desk"):
            browser.get(served.url + path)
            assert "The ledger does not verify" in text_of(browser, "error-state"), path
            assert browser.find_elements(By.ID, "entries") == [] and browser.find_elements(By.ID, "size") == []
            assert status_of(served.url + path) == 502
        shoot(browser, tmp_path, "tampered")
    finally:
        served.stop()
        explorer.mirror.close()
        explorer.close()


@pytest.mark.slow
def test_candor_explore_command_serves_pages(alliance_dir: Path, operator: Any, tmp_path: Path) -> None:
    """`candor explore` as an operator runs it: it syncs, prints its address, serves the
    health page, refuses the desk to a member, and stops on SIGTERM."""
    import os
    import re
    import signal
    import subprocess
    import sys

    operator.ledger.wait_checkpoint(operator.ledger.store.size())
    witness = Witness.open(Identity.load(alliance_dir / "witness-1"), f"127.0.0.1:{operator.port}", tmp_path)
    try:
        witness.step()
    finally:
        witness.conn.close()
    for who, desk in (("regulator", 200), ("member-a", 403)):
        proc = subprocess.Popen(
            [sys.executable, "-m", "candor.cli", "explore", "--identity", str(alliance_dir / who), "--server",
             f"127.0.0.1:{operator.port}", "--listen", "127.0.0.1:0", "--state", str(tmp_path / who)],
            stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "200"})
        try:
            assert proc.stderr is not None
            line = proc.stderr.readline()
            found = re.search(r"http://127\.0\.0\.1:(\d+)", line)
            assert found, line
            url = found.group(0)
            assert status_of(url + "/") == 200 and status_of(url + "/desk") == desk
            with urllib.request.urlopen(url + "/", timeout=30) as resp:
                page = resp.read().decode()
                assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
            assert f'id="size">{operator.ledger.store.size()}<' in page
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0
