"""The web page in a real browser (Debian's chromium driven by Playwright) against the real server.

Every request the page makes is checked to stay on the server: the page and /docs work offline.
"""

import csv
import json
import urllib.request
from pathlib import Path

import pytest

from helpers import REPO, chromium_or_skip, serving, shared_data_or_skip
from instrumentid.labels import NAMES

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parents[1] / "src" / "instrumentid" / "assets" / "example.ogg"
#: a real recording the default model recognises (a piano note; labels.csv says pia)
REAL_PIANO = "tonejs_instruments_via_lofi_player/samples/piano/A2.flac"
WAIT_MS = 120_000  # safety net against a hang; nothing here asserts a duration


@pytest.fixture(scope="module")
def chromium_path() -> str:
    return chromium_or_skip()


@pytest.fixture(scope="module")
def server(chromium_path):
    """``instrumentid serve`` with the default model on a free port; yields its base URL."""
    with serving("--workers", "1", timeout=180) as running:
        yield running.url


@pytest.fixture(scope="module")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server):
    """A page (device pixel ratio 2) on which any request leaving the server is blocked and recorded."""
    context = browser.new_context(device_scale_factor=2, viewport={"width": 1000, "height": 900})
    outside: list[str] = []

    def local_only(route):
        if route.request.url.startswith(server):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", local_only)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    yield page
    context.close()
    assert outside == []


def _upload(page, path: Path) -> dict:
    """Choose ``path`` in the page's file picker; the server's record for it."""
    cards = page.locator(".card").count()
    with page.expect_response(lambda r: "/predict" in r.url) as answer:
        page.set_input_files("#picker", str(path))
    page.locator(".card").nth(cards).wait_for()
    (record,) = answer.value.json()
    return record


def _ticks(card) -> dict[str, float]:
    return card.evaluate("""card => Object.fromEntries([...card.querySelectorAll('.bar')].map(
        bar => [bar.dataset.code, parseFloat(bar.querySelector('.tick').style.left)]))""")


def test_page_names_the_instrument_of_a_real_recording(page, server):
    data = shared_data_or_skip() / "real-train"
    with open(data / "labels.csv", newline="") as handle:
        labels = {row["path"]: row["labels"] for row in csv.DictReader(handle)}
    assert labels[REAL_PIANO] == "pia"
    page.goto(server + "/")
    record = _upload(page, data / REAL_PIANO)
    card = page.locator(".card").first
    assert "pia" in record["present"]
    assert NAMES["pia"] in card.locator(".present .chip").all_inner_texts()
    assert card.locator(".bar.on[data-code=pia]").count() == 1


def test_custom_threshold_moves_the_ticks_and_the_timeline_is_sharp(page, server):
    with urllib.request.urlopen(server + "/labels") as response:
        model_thresholds = {entry["code"]: entry["threshold"] * 100 for entry in json.load(response)}
    page.goto(server + "/")
    _upload(page, EXAMPLE)
    ticks = _ticks(page.locator(".card").first)
    assert ticks == pytest.approx(model_thresholds)

    page.fill("#threshold", "0.3")
    record = _upload(page, EXAMPLE)
    card = page.locator(".card").first
    assert _ticks(card) == pytest.approx({code: 30.0 for code in model_thresholds})
    on = set(card.locator(".bar.on").evaluate_all("bars => bars.map(b => b.dataset.code)"))
    assert on == {code for code, score in record["scores"].items() if score >= 0.3} == set(record["present"])
    assert "threshold 0.3" in card.locator(".meta").inner_text()

    # the timeline's backing store has devicePixelRatio (2) pixels per CSS pixel, and fits its card
    canvas = card.locator("canvas")
    size = canvas.evaluate(
        "c => [c.width, c.height, c.getBoundingClientRect().width, c.getBoundingClientRect().height]"
    )
    assert size[0] == round(2 * size[2]) and size[1] == round(2 * size[3])
    assert size[2] <= card.evaluate("c => c.clientWidth")


def test_docs_render_offline(page, server):
    """Swagger UI comes from the server itself: with every outside request blocked, /predict is listed."""
    page.goto(server + "/docs")
    page.locator(".opblock-summary-path", has_text="/predict").wait_for()
    assert page.locator(".opblock-summary-path", has_text="/health").count() == 1


def test_page_keeps_the_order_of_selection_and_re_marks_on_a_new_threshold(page, server, tmp_path):
    """No 404 (the favicon is inline); several files chosen at once come back in the order chosen;
    typing a threshold afterwards re-marks the shown cards without a new upload."""
    import shutil

    failed = []
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    files = [shutil.copy(EXAMPLE, tmp_path / f"{name}.ogg") for name in ("b-second", "a-first", "c-third")]
    page.goto(server + "/")
    with page.expect_response(lambda r: "/predict" in r.url) as answer:
        page.set_input_files("#picker", [str(f) for f in files])
    page.locator(".card").nth(2).wait_for()
    records = answer.value.json()
    assert page.locator(".card h2").all_inner_texts() == ["b-second.ogg", "a-first.ogg", "c-third.ogg"]
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.fill("#threshold", "0.05")
    for card, record in zip(page.locator(".card").all(), records, strict=True):
        on = set(card.locator(".bar.on").evaluate_all("bars => bars.map(b => b.dataset.code)"))
        assert on == {code for code, score in record["scores"].items() if score >= 0.05}
        assert _ticks(card) == pytest.approx({code: 5.0 for code in record["scores"]})
        assert "threshold 0.05" in card.locator(".meta").inner_text()
    assert requests == [] and failed == []


def test_timeline_draws_a_records_activity(page, server):
    """A record with the optional "activity" field: its ranges are drawn under the label's row."""
    record = {
        "file": "x.wav",
        "duration_s": 10.0,
        "scores": {"sax": 0.9, "pia": 0.1},
        "present": ["sax"],
        "segments": [
            {"start_s": float(s), "end_s": float(s + 1), "scores": {"sax": 0.0, "pia": 0.0}, "present": []}
            for s in range(10)
        ],
        "activity": {"sax": [[0.0, 5.0]]},
    }
    page.route("**/predict*", lambda route: route.fulfill(json=[record]))
    page.goto(server + "/")
    page.set_input_files("#picker", str(EXAMPLE))
    canvas = page.locator(".card canvas")
    canvas.wait_for()
    # the sax row (row 0) at 1/4 and 3/4 of the time axis, on the activity line near the row's bottom
    dark = canvas.evaluate("""c => { const ctx = c.getContext('2d'), r = window.devicePixelRatio, w = c.width / r;
        const at = (t, y) => ctx.getImageData(Math.round((120 + (w - 120) * t) * r), Math.round(y * r), 1, 1).data;
        return [at(0.25, 14)[3], at(0.75, 14)[3], at(0.25, 30)[3]]; }""")
    assert dark[0] == 255 and dark[1] == 0 and dark[2] == 0  # sax active in 0-5 s only; pia never


def test_labels_menu_restricts_the_record_and_long_vocabularies_fold(page, server):
    """The page asks for the IRMAS 11 when told to; a model's other labels fold under 'all N labels'."""
    from instrumentid.labels import LABELS

    with urllib.request.urlopen(server + "/labels") as response:
        n_labels = len(json.load(response))
    example = REPO / "src" / "instrumentid" / "assets" / "example.ogg"
    page.goto(server + "/")
    whole = _upload(page, example)
    card = page.locator(".card").first
    assert card.locator(".bar").count() == n_labels == len(whole["scores"])
    shown = card.locator(":scope > .bar").count()  # the bars outside "all N labels"
    assert shown == max(min(8, n_labels), len(set(whole["present"]) | set(whole["activity"])))
    page.select_option("#labels", "irmas")
    irmas = _upload(page, example)
    assert list(irmas["scores"]) == list(LABELS)
    assert page.locator(".card").first.locator(".bar").count() == len(LABELS)
