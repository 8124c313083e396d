"""The HTML report opened in headless Chromium shows its table and its plots.

Chromium loads a copy of the page with a small probe script appended, which measures the
table and every plot after layout and writes the figures into the DOM; `--dump-dom` hands
the DOM back. A screenshot of the page itself is kept in test-artifacts/report.png.
"""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from asrkit.report import ReportOptions, report

from report_fixtures import make_models

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

PROBE = """<script>
(function () {
  const box = el => { const r = el.getBoundingClientRect(); return [Math.round(r.width), Math.round(r.height)]; };
  const table = document.querySelector("#wer-table");
  const out = {
    table: box(table),
    header: [...table.querySelectorAll("thead th")].map(th => th.textContent),
    rows: [...table.querySelectorAll("tbody tr")].map(tr => [...tr.cells].map(td => td.textContent)),
    figures: [...document.querySelectorAll("section.model")].map(s => ({
      model: s.querySelector("h3").textContent,
      plots: [...s.querySelectorAll("figure")].map(f => {
        const svg = f.querySelector("svg");
        return {kind: f.dataset.plot, svg: svg ? box(svg) : null,
                marks: svg ? svg.querySelectorAll("path, use").length : 0,
                text: svg ? svg.textContent.replace(/\\s+/g, " ") : f.textContent};
      }),
    })),
    overflow: document.documentElement.scrollWidth > window.innerWidth,
  };
  const pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"""


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", "--window-size=1200,1600", "--hide-scrollbars", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (scripts/setup.sh installs Debian's chromium package)")
    root = tmp_path_factory.mktemp("html")
    files = report(list(make_models(root / "models")), ReportOptions(root / "out"))
    probe = root / "probe.html"
    probe.write_text(files.html.read_text().replace("</body>", PROBE + "</body>"))
    dom = chromium("--dump-dom", probe.as_uri(), profile=root / "profile").stdout
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, f"the probe did not run; DOM began: {dom[:300]!r}"
    return files, json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&")
                             .replace("&lt;", "<").replace("&gt;", ">"))


def test_page_is_self_contained(page):
    files, _ = page
    html = files.html.read_text()
    assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', html)
    assert "<script" not in html and "<link" not in html


def test_table_is_shown(page):
    _, probe = page
    assert probe["header"] == ["model", "labelled", "LM", "dev-clean", "dev-other", "RTF"]
    assert probe["rows"] == [
        ["base-10min", "10min", "greedy", "12.50 (46.1)", "50.00 (51.5)", "0.015"],
        ["base-10min", "10min", "4gram", "- (8.9)", "25.00 (15.7)", "0.2"],
        ["tiny-synth", "tiny †", "greedy", "40.00", "-", "-"],
    ]
    width, height = probe["table"]
    assert width > 300 and height > 60
    assert not probe["overflow"], "the page is wider than a 1200 px window"


def test_plots_are_shown(page):
    _, probe = page
    base, tiny = probe["figures"]
    assert base["model"] == "base-10min"
    plots = {p["kind"]: p for p in base["plots"]}
    assert list(plots) == ["lm-tuning", "wer-by-length", "training"]
    for p in plots.values():
        w, h = p["svg"]
        assert w > 250 and h > 150, p["kind"]  # laid out at a readable size
        assert p["marks"] > 20, p["kind"]  # axes, ticks and data were drawn
    assert "4gram flashlight tuning on dev-other (6 trials)" in plots["lm-tuning"]["text"]
    assert "best: lm_weight 2, 25.00%" in plots["lm-tuning"]["text"]
    assert "dev-other / 4gram" in plots["wer-by-length"]["text"]
    assert "2.5-5 s" in plots["wer-by-length"]["text"] and "10-15 s" in plots["wer-by-length"]["text"]
    assert all(t in plots["training"]["text"] for t in ("training loss", "learning rate", "dev WER (%)"))
    # The synthesised model has a summary only: each plot says what is missing instead.
    assert [(p["kind"], p["svg"]) for p in tiny["plots"]] == [
        ("lm-tuning", None), ("wer-by-length", None), ("training", None)]
    assert "lm-tuning.json not found" in tiny["plots"][0]["text"]


def test_screenshot(page, tmp_path):
    files, _ = page
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)
    chromium(f"--screenshot={shot}", files.html.as_uri(), profile=tmp_path / "profile")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(data[16:20], "big") == 1200  # PNG header width
    assert len(data) > 50_000  # a blank page compresses to a few kB
