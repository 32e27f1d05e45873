"""A real headless browser for the tests that must see a page as its reader does, after its JavaScript ran (the
Snakemake report is a React app: its HTML file holds the content as script data, not as elements).

Debian's ``chromium``, installed with apt-get when missing (`apt.apt_install`, as root), run headless with the
network cut (every host name resolves to nothing), so a page that needs the network shows it. `rendered_dom`
returns the DOM after the page's scripts ran; `elements` parses it into the elements a test looks for.

Where no browser can be had the test skips, or fails where one is required (CI: MEMGEN_REQUIRE_BROWSER=1).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest
from apt import Unavailable, apt_install, which

PACKAGES = ("chromium",)
BINARIES = ("chromium",)
# No GPU, no first-run or background traffic (component updates, sync, QUIC), /tmp instead of a small /dev/shm,
# and no host name resolves: the page gets nothing that it does not carry itself.
FLAGS = ("--headless", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--mute-audio",
         "--host-resolver-rules=MAP * ~NOTFOUND")
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


def unavailable(reason: str) -> None:
    """Skip, or fail where the browser is required (CI: MEMGEN_REQUIRE_BROWSER=1)."""
    if os.environ.get("MEMGEN_REQUIRE_BROWSER") == "1":
        pytest.fail(f"MEMGEN_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


def chromium() -> str:
    """The chromium binary, installed first when missing; skips (or fails, see `unavailable`) when it cannot be."""
    try:
        apt_install(PACKAGES, BINARIES)
    except Unavailable as err:
        unavailable(f"no headless browser: {err}")
    return which("chromium")


def rendered_dom(page: Path, budget_ms: int = 10_000, timeout: float = 180) -> str:
    """The DOM of a local HTML file once its scripts ran: chromium ``--dump-dom`` after ``budget_ms`` of virtual
    time (timers and the scripts' queued work run; the clock skips idle waits). A fresh profile each call; as root
    chromium needs ``--no-sandbox``."""
    binary = chromium()
    with tempfile.TemporaryDirectory(prefix="memgen-chromium-") as profile:
        cmd = [binary, *FLAGS, *(["--no-sandbox"] if os.geteuid() == 0 else []), f"--user-data-dir={profile}",
               f"--virtual-time-budget={budget_ms}", "--dump-dom", Path(page).resolve().as_uri()]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"chromium took more than {timeout:.0f} s to render {page}")
    assert proc.returncode == 0 and "</html>" in proc.stdout, f"chromium failed ({proc.returncode}): " + \
        proc.stderr[-2000:]
    return proc.stdout


@dataclass
class Element:
    """An element of a parsed page: its tag, attributes, text (its own and its children's, scripts and styles
    left out) and the classes and ids of the elements around it."""

    tag: str
    attrs: dict[str, str]
    ancestors: list[tuple[str, str]] = field(default_factory=list)  # (id, class) from the root down
    text: str = ""

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def inside(self, *, id: str | None = None, cls: str | None = None) -> bool:
        return any((id is not None and i == id) or (cls is not None and cls in c.split()) for i, c in self.ancestors)


class _Parser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self.open: list[Element] = []

    def handle_starttag(self, tag, attrs):
        element = Element(tag, {k: v or "" for k, v in attrs},
                          [(e.attrs.get("id", ""), e.attrs.get("class", "")) for e in self.open])
        self.elements.append(element)
        if tag not in VOID:
            self.open.append(element)

    def handle_endtag(self, tag):
        for i in range(len(self.open) - 1, -1, -1):  # close up to the matching tag (the serializer nests them)
            if self.open[i].tag == tag:
                del self.open[i:]
                return

    def handle_data(self, data):
        if any(e.tag in ("script", "style") for e in self.open):
            return
        for element in self.open:
            element.text += data


def elements(html: str) -> list[Element]:
    """Every element of an HTML document, in document order."""
    parser = _Parser()
    parser.feed(html)
    parser.close()
    return parser.elements
