"""The dashboard and the entrance screen in real headless Chromium (Debian's package, driven
by Playwright), against the real app served by uvicorn, a real Store and a real Hub fed with
blurred frames. A full-page screenshot is kept under $AFFECTLENS_ARTIFACTS."""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from authutil import PASSWORD, add_user
from liveserver import LiveServer, blurred_jpeg
from waiting import now_clear_of_the_hour

from affectlens.service.api import create_app
from affectlens.service.clips import ClipFrame, encode_clip
from affectlens.service.hub import CameraLive, Hub
from affectlens.service.schemas import EventOut
from affectlens.store import Store
from affectlens.store.dead_letters import DeadLetters

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
REPO_ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_MS = 10_000


def artifacts_dir() -> Path:
    folder = Path(os.environ.get("AFFECTLENS_ARTIFACTS", REPO_ROOT / "test-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).is_file():
        if os.environ.get("AFFECTLENS_REQUIRE_SERVICES") == "1":
            pytest.fail(f"chromium is required but missing at {CHROMIUM}")
        pytest.skip("no chromium: apt-get install chromium")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def hub() -> Hub:
    return Hub()


@pytest.fixture
def server(store: Store, hub: Hub, tmp_path: Path) -> Iterator[LiveServer]:
    add_user(store, "admin", "ada")  # the dashboard's user in these tests
    app = create_app(store, hub, screen_min_people=5, snapshots_dir=tmp_path / "snapshots")
    with LiveServer(app) as server:
        yield server


@pytest.fixture
def page(browser, server: LiveServer) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, base_url=server.url)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text)
            if "Content Security Policy" in message.text else None)  # no CSP violations
    yield page
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


def live(camera_id: int, online: bool, message: str = "", faces: int = 1) -> CameraLive:
    return CameraLive(camera_id, online, message, 5.0, faces, datetime.now(UTC))


def from_thread(action, *args: object) -> None:
    """Publish into the hub from another thread, as a camera's supervisor does."""
    thread = threading.Thread(target=action, args=args)
    thread.start()
    thread.join()


def log_in(page, username: str, password: str = PASSWORD) -> None:
    """On the login page (where an anonymous visitor is sent), as a person would."""
    expect(page.locator("#login-form")).to_be_visible()
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-form button[type=submit]")


def open_dashboard(page) -> None:
    page.goto("/")
    log_in(page, "ada")
    expect(page.locator("#socket-state")).to_have_text("live")
    expect(page.locator("#who")).to_have_text("ada (admin)")


def test_grid_shows_cameras_previews_and_live_status(page, store: Store, hub: Hub, portrait,
                                                     models) -> None:
    hall = store.add_camera("hall", "rtsp://127.0.0.1:8554/hall", "care_safety")
    lounge = store.add_camera("lounge", "rtsp://127.0.0.1:8554/lounge", "care_safety")
    hub.set_state(live(hall.id, False, "connection refused"))
    open_dashboard(page)
    hall_card = page.locator(f"#camera-{hall.id}")
    lounge_card = page.locator(f"#camera-{lounge.id}")
    expect(hall_card.locator(".name")).to_have_text("hall")
    expect(hall_card.locator(".status")).to_have_text("offline: connection refused")
    expect(lounge_card.locator(".status")).to_have_text("no report yet")
    from_thread(hub.set_state, live(hall.id, True, faces=2))
    from_thread(hub.set_preview, hall.id, blurred_jpeg(portrait, models.detector))
    expect(hall_card.locator(".status")).to_have_text(re.compile(r"^online · 5\.0 fps · 2 faces"))
    expect(hall_card).to_have_attribute("data-status", "online")
    page.wait_for_function(  # a function, not a string: the page's CSP forbids eval
        f"() => document.querySelector('#camera-{hall.id} .preview').naturalWidth > 0")
    width = hall_card.locator(".preview").evaluate("image => image.naturalWidth")
    assert width == portrait.shape[1]  # the hub's blurred JPEG, as it was published
    from_thread(hub.set_state, live(lounge.id, False, "stream stalled"))
    expect(lounge_card.locator(".status")).to_have_text("offline: stream stalled")
    expect(hall_card.locator(".status")).to_have_text(re.compile("^online"))


def test_a_live_event_appears_and_is_acknowledged(page, store: Store, hub: Hub) -> None:
    hall = store.add_camera("hall", "rtsp://127.0.0.1:8554/hall", "care_safety")
    open_dashboard(page)
    expect(page.locator("#no-events")).to_be_visible()
    event = store.record_event(hall.id, "distress", datetime.now(UTC), 0.87, track_id=4)
    from_thread(hub.publish_event, EventOut.model_validate(event).model_dump(mode="json"))
    item = page.locator(f"#event-{event.id}")
    expect(item.locator(".what")).to_have_text("distress · hall (87%)")
    expect(item).to_have_class(re.compile("ongoing"))
    item.locator("input.comment").fill("sat with her, she is fine")
    item.locator("button.acknowledge").click()  # sends the session's CSRF token
    expect(item.locator(".acked")).to_have_text(
        "acknowledged by ada: sat with her, she is fine")
    (stored,) = store.events(camera_id=hall.id)
    assert stored.acknowledged_by == "ada" and stored.comment == "sat with her, she is fine"
    assert stored.acknowledged_at is not None


def test_a_fall_clip_plays_in_the_event_feed(page, store: Store, tmp_path: Path) -> None:
    hall = store.add_camera("hall", "rtsp://127.0.0.1:8554/hall", "care_safety")
    frames = [ClipFrame(i / 10, cv2.imencode(".jpg", np.full((240, 320, 3), 10 * i, np.uint8))
                        [1].tobytes()) for i in range(20)]
    (tmp_path / "snapshots" / str(hall.id)).mkdir(parents=True)
    (tmp_path / "snapshots" / str(hall.id) / "fall.webm").write_bytes(encode_clip(frames))
    now = datetime.now(UTC)
    event = store.record_event(hall.id, "fall", now, 0.9, ended_at=now + timedelta(seconds=9))
    store.set_clip(event.id, f"{hall.id}/fall.webm")
    open_dashboard(page)
    video = page.locator(f"#event-{event.id} video.clip")
    expect(video).to_be_visible()
    assert video.evaluate("video => video.readyState") == 0  # nothing fetched before asked
    video.evaluate("video => { video.muted = true; return video.play(); }")
    page.wait_for_function(f"""() => {{
        const video = document.querySelector('#event-{event.id} video.clip');
        return video.readyState >= 2 && video.currentTime > 0; }}""")
    assert abs(video.evaluate("video => video.duration") - 2.0) < 0.15


def test_camera_form_shows_the_api_validation_errors(page, store: Store,
                                                     tmp_path: Path) -> None:
    from affectlens.samples import write_sample_video

    open_dashboard(page)
    page.fill("#camera-name", "garden")
    page.fill("#camera-url", "ftp://cam.example/stream")
    page.click("#camera-save")
    expect(page.locator("#form-errors li")).to_have_text(
        re.compile(r"^url: scheme must be one of rtsp, .*not 'ftp'"))
    assert store.cameras() == []
    page.click("#camera-test")
    expect(page.locator("#form-errors li")).to_have_text(re.compile("^url: .*scheme"))
    clip = write_sample_video(tmp_path / "garden.mp4", seconds=1.0)
    page.fill("#camera-url", f"file://{clip}")
    page.click("#camera-test")
    expect(page.locator("#form-result")).to_have_text(re.compile(r"^connection ok: \d+x\d+"))
    page.click("#camera-save")
    expect(page.locator("#form-result")).to_have_text("saved camera garden")
    (camera,) = store.cameras()
    expect(page.locator(f"#camera-{camera.id} .name")).to_have_text("garden")
    page.fill("#camera-name", "garden")  # a second camera of the same name is refused
    page.fill("#camera-url", f"file://{clip}")
    page.click("#camera-save")
    expect(page.locator("#form-errors li")).to_have_text(re.compile("^camera not created"))
    page.locator(f"#camera-{camera.id} button.edit").click()
    page.fill("#camera-fps", "0")
    page.click("#camera-save")
    expect(page.locator("#form-errors li")).to_have_text(re.compile("^analysis_fps: "))
    page.fill("#camera-fps", "2")
    page.click("#camera-save")
    expect(page.locator("#form-result")).to_have_text("saved camera garden")
    assert store.camera(camera.id).analysis_fps == 2


def test_screen_shows_nothing_below_k_people(page, store: Store) -> None:
    door = store.add_camera("door", "rtsp://127.0.0.1:8554/door", "anonymous_statistics")
    now = now_clear_of_the_hour()  # the screen counts this hour
    store.add_counts(door.id, now, {"faces": 30, "people": 4, "n_happy": 20, "n_neutral": 10,
                                    "n_age_20_34": 30})
    add_user(store, "screen", "entrance")
    page.goto("/screen?every=1")
    log_in(page, "entrance")  # a screen account: this page only
    expect(page).to_have_url(re.compile(r"/screen\?every=1$"))
    expect(page.locator("body")).to_have_attribute("data-enough", "false")
    expect(page.locator("#waiting")).to_be_visible()
    expect(page.locator("#figures")).to_be_hidden()
    assert page.locator("#people").text_content() == ""
    assert "happy" not in page.locator("body").inner_text()
    store.add_counts(door.id, now, {"faces": 10, "people": 1, "n_sad": 10, "n_age_65_plus": 10})
    expect(page.locator("#people")).to_have_text("5")  # updated live, no reload
    expect(page.locator("#waiting")).to_be_hidden()
    expect(page.locator("#ages [data-name='20-34'] .share")).to_have_text("75%")
    expect(page.locator("#ages [data-name='65+'] .share")).to_have_text("25%")
    expect(page.locator("#expressions [data-name='happy'] .share")).to_have_text("50%")
    expect(page.locator("#min-people")).to_have_text("5")
    page.screenshot(path=artifacts_dir() / "screen.png", full_page=True)


def test_dashboard_screenshot(page, store: Store, hub: Hub, portrait, models) -> None:
    """The whole dashboard with previews, events and charts, kept as a test artifact."""
    jpeg = blurred_jpeg(portrait, models.detector)
    now = datetime.now(UTC)
    ids = []
    for i, name in enumerate(("hall", "lounge", "garden")):
        camera = store.add_camera(name, f"rtsp://127.0.0.1:8554/{name}", "care_safety")
        ids.append(camera.id)
        hub.set_state(live(camera.id, i != 2, "" if i != 2 else "connection refused"))
        if i != 2:
            hub.set_preview(camera.id, jpeg)
        for minute in range(150):
            store.add_counts(camera.id, now - timedelta(minutes=minute),
                             {"faces": 20 + minute % 7, "people": 2 + minute // 40,
                              "n_happy": 8 + minute % 5, "n_neutral": 10, "n_sad": 2})
    store.record_event(ids[0], "camera_offline", now - timedelta(minutes=20), 1.0)
    store.record_event(ids[1], "distress", now - timedelta(minutes=5), 0.81, track_id=2)
    open_dashboard(page)
    expect(page.locator("#chart-counts polyline")).to_have_count(2)
    expect(page.locator("#chart-expressions rect").first).to_be_visible()
    page.wait_for_function("() => [...document.querySelectorAll('.preview')]"
                           ".filter(i => i.naturalWidth > 0).length === 2")
    path = artifacts_dir() / "dashboard.png"
    page.screenshot(path=path, full_page=True)
    assert path.stat().st_size > 20_000


def test_login_logout_and_csrf_in_the_browser(page, store: Store) -> None:
    """A wrong password is shown and refused; the session works only with its CSRF token;
    logging out sends the browser back to the login page."""
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login\?next=/$"))
    log_in(page, "ada", "not the password at all")
    expect(page.locator("#login-error")).to_have_text("wrong user name or password")
    log_in(page, "ada")
    expect(page.locator("#socket-state")).to_have_text("live")
    forged = page.evaluate("""async () => (await fetch('/api/cameras', {method: 'POST',
        headers: {'content-type': 'application/json'},
        body: JSON.stringify({name: 'x', url: 'rtsp://h/x', purpose: 'care_safety'})})).status""")
    assert forged == 403 and store.cameras() == []  # no X-CSRF-Token: refused
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["affectlens_session"]["httpOnly"] is True
    assert cookies["affectlens_session"]["sameSite"] == "Strict"
    page.click("#logout")
    expect(page).to_have_url(re.compile(r"/login"))
    assert page.evaluate("async () => (await fetch('/api/cameras')).status") == 401


def test_a_user_changes_their_own_password_in_the_dashboard(page, store: Store) -> None:
    """Typos and a wrong current password are shown; a change keeps this page logged in
    (new cookies) and only the new password logs in afterwards."""
    new = "a different passphrase entirely"
    open_dashboard(page)
    page.click("#password-open")
    page.fill("#password-current", PASSWORD)
    page.fill("#password-new", new)
    page.fill("#password-again", new + "x")
    page.click("#password-save")
    expect(page.locator("#password-errors li")).to_have_text("the two new passwords differ")
    page.fill("#password-current", "not my password")
    page.fill("#password-again", new)
    page.click("#password-save")
    expect(page.locator("#password-errors li")).to_have_text("the current password is wrong")
    page.fill("#password-current", PASSWORD)
    page.click("#password-save")
    expect(page.locator("#password-result")).to_have_text(re.compile("^password changed"))
    expect(page.locator("#password-errors li")).to_have_count(0)
    assert page.evaluate("async () => (await fetch('/api/cameras')).status") == 200
    page.click("#logout")
    log_in(page, "ada")
    expect(page.locator("#login-error")).to_have_text("wrong user name or password")
    log_in(page, "ada", new)
    expect(page.locator("#who")).to_have_text("ada (admin)")


def test_an_admin_draws_fall_zones_in_frame_pixels_and_staff_see_them(
    page, browser, server: LiveServer, store: Store, hub: Hub, portrait, models
) -> None:
    """The preview is half the analysed frame's size (as from a 1280-wide camera): clicks on
    the displayed picture are saved in the frame's pixels."""
    room = store.add_camera("room 12", "rtsp://127.0.0.1:8554/room12", "care_safety")
    height, width = portrait.shape[:2]
    hub.set_preview(room.id, blurred_jpeg(portrait, models.detector), (2 * width, 2 * height))
    open_dashboard(page)
    page.locator(f"#camera-{room.id} button.zones").click()
    expect(page.locator("#zones-title")).to_have_text("Fall zones · room 12")
    canvas = page.locator("#zones-canvas")
    expect(canvas).to_have_class(re.compile("drawing"))  # the snapshot is in
    expect(page.locator("#zones-source")).to_have_text(re.compile("^No zones yet · falls are off"))
    box = canvas.bounding_box()
    assert box["width"] > width  # shown larger than the picture, which is half the frame
    corners = [(0.1, 0.2), (0.6, 0.25), (0.55, 0.8), (0.15, 0.7)]
    listed = "bed by the window (bed, 4 points)"
    page.click("#zone-close")  # no corners yet: refused in the page
    expect(page.locator("#zone-errors li")).to_have_text(re.compile("at least 3 points"))
    for fx, fy in corners:
        canvas.click(position={"x": fx * box["width"], "y": fy * box["height"]})
    page.fill("#zone-name", "bed by the window")
    page.select_option("#zone-kind", "bed")
    page.click("#zone-close")
    expect(page.locator("#zone-list .zone-label")).to_have_text([listed])
    page.click("#zones-save")
    expect(page.locator("#zones-result")).to_have_text("saved 1 zone")
    expect(page.locator("#zones-source")).to_have_text(re.compile("^Drawn in the dashboard"))
    (saved,) = page.request.get(f"/api/cameras/{room.id}/zones").json()["zones"]
    assert saved["name"] == "bed by the window" and saved["kind"] == "bed"
    for (x, y), (fx, fy) in zip(saved["points"], corners):
        assert abs(x - fx * 2 * width) <= 2 and abs(y - fy * 2 * height) <= 2
    assert saved["inactivity_minutes"] is None
    # The API's refusals are shown as the camera form shows them, and nothing is lost.
    for fx, fy in corners[:3]:
        canvas.click(position={"x": fx * box["width"] / 2, "y": fy * box["height"] / 2})
    page.fill("#zone-name", "bed by the window")
    page.fill("#zone-inactivity", "-5")
    page.click("#zone-close")
    page.click("#zones-save")
    expect(page.locator("#zone-errors li")).to_have_text(
        [re.compile("inactivity_minutes: .*greater than 0")])
    page.locator("#zone-list .zone").nth(1).locator("button.zone-delete").click()
    for fx, fy in corners[:3]:
        canvas.click(position={"x": fx * box["width"] / 2, "y": fy * box["height"] / 2})
    page.fill("#zone-name", "bed by the window")
    page.fill("#zone-inactivity", "90")
    page.click("#zone-close")
    expect(page.locator("#zone-list .zone-label").nth(1)).to_have_text(
        "bed by the window (bed, 3 points, inactivity after 90 min)")
    page.click("#zones-save")
    expect(page.locator("#zone-errors li")).to_have_text(
        "zones: zone names must be unique: bed by the window")
    page.locator("#zone-list .zone").nth(1).locator("button.zone-delete").click()
    expect(page.locator("#zone-list .zone")).to_have_count(1)
    assert len(page.request.get(f"/api/cameras/{room.id}/zones").json()["zones"]) == 1
    page.fill("#zone-name", "armchair")
    page.select_option("#zone-kind", "chair")
    for fx, fy in corners[:3]:
        canvas.click(position={"x": fx * box["width"] / 2, "y": fy * box["height"] / 2})
    page.fill("#zone-inactivity", "90")
    page.click("#zone-close")
    page.click("#zones-save")
    expect(page.locator("#zones-result")).to_have_text("saved 2 zones")
    zones = page.request.get(f"/api/cameras/{room.id}/zones").json()["zones"]
    assert [(z["name"], z["inactivity_minutes"]) for z in zones] == [
        ("bed by the window", None), ("armchair", 90.0)]
    path = artifacts_dir() / "zones.png"
    page.screenshot(path=path, full_page=True)
    assert path.stat().st_size > 20_000
    # Staff see the zones, read-only.
    add_user(store, "staff", "sam")
    context = browser.new_context(viewport={"width": 1400, "height": 900}, base_url=server.url)
    staff = context.new_page()
    staff.set_default_timeout(TIMEOUT_MS)
    staff.goto("/")
    log_in(staff, "sam")
    expect(staff.locator("#who")).to_have_text("sam (staff)")
    staff.locator(f"#camera-{room.id} button.zones").click()
    expect(staff.locator("#zone-list .zone-label")).to_have_text(
        [listed, "armchair (chair, 3 points, inactivity after 90 min)"])
    expect(staff.locator("#zone-tools")).to_be_hidden()
    expect(staff.locator("button.zone-delete")).to_have_count(0)
    expect(staff.locator("#zones-canvas")).not_to_have_class(re.compile("drawing"))
    context.close()


def test_a_failed_load_is_said_and_retried(page) -> None:
    """The server answers 503 to the first /api/auth/me (restarting behind a proxy): the
    dashboard says so and tries again, instead of leaving an admin with a read-only zone
    editor and no word why."""
    calls = []

    def first_fails(route) -> None:
        calls.append(route.request.url)
        if len(calls) == 1:
            route.fulfill(status=503, content_type="application/json",
                          body='{"detail": "restarting"}')
        else:
            route.continue_()

    page.route("**/api/auth/me", first_fails)
    page.goto("/")
    log_in(page, "ada")
    expect(page.locator("#load-state")).to_contain_text("could not load your account")
    expect(page.locator("#who")).to_have_text("ada (admin)", timeout=15_000)
    expect(page.locator("#load-state")).to_have_text("")
    assert len(calls) >= 2


def test_an_admin_sees_undelivered_alerts_and_replays_one(page, browser, server: LiveServer,
                                                          store: Store) -> None:
    """Issue 17: the dead letters panel is the admin's; staff never see it."""
    hall = store.add_camera("hall", "rtsp://127.0.0.1:8554/hall", "care_safety")
    event = store.record_event(hall.id, "fall", datetime.now(UTC), 0.9)
    body = '{"event":{"kind":"fall"},"idempotency_key":"k/started"}'
    letter = store.add_dead_letter("webhook", "https://hook.example/x", event.id, body, 5,
                                   "HTTP 500")
    DeadLetters(store).retry_failed(letter, "HTTP 503", None)  # given up
    open_dashboard(page)
    item = page.locator(f"#dead-letter-{letter.id}")
    expect(item.locator(".what")).to_have_text(
        f"fall · event {event.id} → webhook https://hook.example/x")
    expect(item.locator(".state")).to_have_text(re.compile(r"^failed, .* · 6 attempts · HTTP 503"))
    item.locator("button.replay").click()
    expect(item).to_have_attribute("data-status", "retrying")
    expect(item.locator(".state")).to_have_text(re.compile("^retrying; next try"))
    assert store.dead_letters()[0].replayed_at is not None
    add_user(store, "staff", "sam")
    staff = browser.new_context(base_url=server.url).new_page()
    staff.goto("/")
    log_in(staff, "sam")
    expect(staff.locator("#who")).to_have_text("sam (staff)")
    expect(staff.locator("#dead-letters-section")).to_be_hidden()
    staff.context.close()


# -- issue 19, items 9 and 10 -------------------------------------------------------------------


def snapshot_file(tmp_path: Path, camera_id: int, name: str) -> str:
    """A JPEG where the app serves events' media from; its path as the store keeps it."""
    folder = tmp_path / "snapshots" / str(camera_id)
    folder.mkdir(parents=True, exist_ok=True)
    image = np.full((240, 320, 3), 90, np.uint8)
    cv2.putText(image, name, (20, 120), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2)
    (folder / f"{name}.jpg").write_bytes(cv2.imencode(".jpg", image)[1].tobytes())
    return f"{camera_id}/{name}.jpg"


def test_an_offline_camera_says_so_and_its_picture_is_not_asked_for(
    page, store: Store, hub: Hub, portrait, models
) -> None:
    """The card said nothing where the picture goes, and asked for snapshot.jpg every second
    (a 503 each time)."""
    garden = store.add_camera("garden", "rtsp://127.0.0.1:8554/garden", "care_safety")
    hub.set_state(live(garden.id, False, "connection refused"))
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url)
            if f"/api/cameras/{garden.id}/snapshot.jpg" in request.url else None)
    open_dashboard(page)
    card = page.locator(f"#camera-{garden.id}")
    expect(card.locator(".preview-off")).to_have_text("camera offline: connection refused")
    expect(card.locator(".preview")).to_be_hidden()
    page.wait_for_timeout(2500)  # the previews are refreshed every second
    assert asked == []
    from_thread(hub.set_state, live(garden.id, True))  # back: its picture is asked for again
    from_thread(hub.set_preview, garden.id, blurred_jpeg(portrait, models.detector))
    expect(card.locator(".preview-off")).to_be_hidden()
    page.wait_for_function(  # a function, not a string: the page's CSP forbids eval
        f"() => document.querySelector('#camera-{garden.id} .preview').naturalWidth > 0")
    assert asked


def test_events_show_a_confidence_only_where_it_is_calibrated_and_their_pictures(
    page, store: Store, tmp_path: Path
) -> None:
    """camera offline and fall events said '(100%)'; a fall's clip was a black 0:00 player
    and no event's snapshot was shown."""
    hall = store.add_camera("hall", "rtsp://127.0.0.1:8554/hall", "care_safety")
    now = datetime.now(UTC)
    offline = store.record_event(hall.id, "camera_offline", now - timedelta(minutes=9), 1.0)
    fall = store.record_event(hall.id, "fall", now - timedelta(minutes=8), 0.9999,
                              ended_at=now, snapshot=snapshot_file(tmp_path, hall.id, "fall"))
    frames = [ClipFrame(i / 10, cv2.imencode(".jpg", np.full((240, 320, 3), 10 * i, np.uint8))
                        [1].tobytes()) for i in range(20)]
    (tmp_path / "snapshots" / str(hall.id) / "fall.webm").write_bytes(encode_clip(frames))
    store.set_clip(fall.id, f"{hall.id}/fall.webm")
    long_lie = store.record_event(hall.id, "long_lie", now - timedelta(minutes=7), 0.9999,
                                  ended_at=now,
                                  snapshot=snapshot_file(tmp_path, hall.id, "long-lie"))
    distress = store.record_event(hall.id, "distress", now - timedelta(minutes=6), 0.81,
                                  track_id=2,
                                  snapshot=snapshot_file(tmp_path, hall.id, "distress"))
    open_dashboard(page)
    what = {event.id: page.locator(f"#event-{event.id} .what")
            for event in (offline, fall, long_lie, distress)}
    expect(what[offline.id]).to_have_text("camera offline · hall")
    expect(what[fall.id]).to_have_text("fall · hall")
    expect(what[long_lie.id]).to_have_text("long lie · hall")
    expect(what[distress.id]).to_have_text("distress · hall (81%)")
    video = page.locator(f"#event-{fall.id} video.clip")
    expect(video).to_have_attribute("poster", f"/api/events/{fall.id}/snapshot.jpg")
    page.wait_for_function(f"""async () => (await fetch('/api/events/{fall.id}/snapshot.jpg'))
                               .headers.get('content-type') === 'image/jpeg'""")
    for event in (long_lie, distress):  # the moment that raised it, blurred as stored
        picture = page.locator(f"#event-{event.id} img.snapshot")
        expect(picture).to_have_attribute("src", f"/api/events/{event.id}/snapshot.jpg")
        page.wait_for_function(f"""() => document.querySelector(
            '#event-{event.id} img.snapshot').naturalWidth === 320""")
    expect(page.locator(f"#event-{offline.id} img")).to_have_count(0)  # an outage has none
    expect(page.locator(f"#event-{fall.id} img.snapshot")).to_have_count(0)  # the poster is it


def test_an_open_event_shows_how_long_it_has_been_open(page, store: Store) -> None:
    """Issue 17: a fall nobody has seen to shows how long it has been open; an ended one
    does not."""
    hall = store.add_camera("hall", "rtsp://127.0.0.1:8554/hall", "care_safety")
    now = datetime.now(UTC)
    fall = store.record_event(hall.id, "fall", now - timedelta(minutes=150, seconds=5), 0.99)
    ended = store.record_event(hall.id, "long_lie", now - timedelta(minutes=9), 0.9,
                               ended_at=now - timedelta(minutes=8))
    open_dashboard(page)
    expect(page.locator(f"#event-{fall.id} .when")).to_have_text(
        re.compile(r"ongoing, open 2 h 30 min$"))
    expect(page.locator(f"#event-{ended.id} .when")).to_have_text(re.compile(r"ended$"))


def test_repeats_of_one_ongoing_situation_are_one_row(page, store: Store, hub: Hub) -> None:
    """A looping fall clip raised 57 ongoing falls in 3 minutes, each a row of its own."""
    hall = store.add_camera("hall", "rtsp://127.0.0.1:8554/hall", "care_safety")
    lounge = store.add_camera("lounge", "rtsp://127.0.0.1:8554/lounge", "care_safety")
    now = datetime.now(UTC)
    repeats = [store.record_event(hall.id, "fall", now - timedelta(seconds=10 * i), 0.99)
               for i in range(5, 0, -1)]
    other = store.record_event(lounge.id, "fall", now - timedelta(seconds=25), 0.99)
    ended = store.record_event(hall.id, "fall", now - timedelta(minutes=5), 0.99,
                               ended_at=now - timedelta(minutes=4))
    open_dashboard(page)
    rows = page.locator("#event-feed > li")
    expect(rows).to_have_count(3)
    newest = page.locator(f"#event-{repeats[-1].id}")
    expect(newest).to_have_attribute("data-count", "5")
    expect(newest.locator(".when")).to_have_text(
        re.compile(r"ongoing, open under a minute · 5 times since "))
    for event in (other, ended):
        expect(page.locator(f"#event-{event.id}")).to_have_attribute("data-count", "1")
    later = store.record_event(hall.id, "fall", now, 0.99)  # one more, live: the same row
    from_thread(hub.publish_event, EventOut.model_validate(later).model_dump(mode="json"))
    expect(page.locator(f"#event-{later.id}")).to_have_attribute("data-count", "6")
    expect(rows).to_have_count(3)
    page.locator(f"#event-{later.id} button.acknowledge").click()
    expect(page.locator(f"#event-{later.id} .acked")).to_have_text("acknowledged by ada")
    assert all(e.acknowledged_by == "ada"
               for e in store.events(camera_id=hall.id) if e.ended_at is None)
    assert [e.acknowledged_at for e in store.events(camera_id=lounge.id)] == [None]


@pytest.mark.parametrize(("locale", "time"), [("en-US", r"\d{1,2}:\d{2}\s?[AP]M"),
                                              ("de-DE", r"\d{1,2}:\d{2}")])
def test_charts_fit_a_new_sites_data_with_times_in_the_browsers_locale(
    browser, server: LiveServer, store: Store, locale: str, time: str
) -> None:
    """They showed 3 hours, a new site's 20 minutes a spike at the right edge, and the last
    time label was cut off (its AM/PM missing)."""
    door = store.add_camera("door", "rtsp://127.0.0.1:8554/door", "care_safety")
    now = datetime.now(UTC)
    for minute in range(20):
        store.add_counts(door.id, now - timedelta(minutes=minute),
                         {"faces": 3 + minute % 4, "people": 1, "n_neutral": 3})
    context = browser.new_context(viewport={"width": 1400, "height": 900}, base_url=server.url,
                                  locale=locale)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    open_dashboard(page)
    line = page.locator("#chart-counts polyline").first
    expect(line).to_be_visible()
    minutes = len(line.get_attribute("points").split())
    assert 20 <= minutes <= 22, minutes  # from the first minute with data, not 180
    labels = page.locator("#chart-counts text.tick")
    last = labels.last
    assert re.fullmatch(time, last.text_content().strip()), last.text_content()
    right = last.evaluate("text => text.getBBox().x + text.getBBox().width")
    assert right <= 720  # the chart's width: the label is whole
    page.select_option("#chart-hours", "3")  # the chosen range is as it was
    expect(line).to_have_attribute("points", re.compile(r"^(\S+ ){179,180}\S+$"))
    context.close()
