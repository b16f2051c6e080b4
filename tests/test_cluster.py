"""Issue 15: camera workers as actors on a real local Ray cluster (three nodes on this one
machine: a head that runs only the service's side, and two or three worker nodes), real
streams (the sample video played live in a loop, a camera whose file is missing), the real
models and the store (PostgreSQL where AFFECTLENS_TEST_POSTGRES_URL is set, SQLite always);
and the offline analysis spread over the cluster as Ray tasks, compared with one machine's.

A node is killed mid-run: its cameras come back on a node still there within 30 s, the events
their dead worker started are ended once for it, and every event a worker handed in is stored
exactly once, also when all the messages are handed in again (a replay).

Ray is an optional extra: without it these tests skip, unless AFFECTLENS_REQUIRE_SERVICES=1
(as in CI, which installs it through the test extra), when they fail.
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from outputs import assert_one_pass, same_outputs_both_ways
from waiting import wait_until

from affectlens.samples import write_sample_video
from affectlens.service.messages import (
    EventEnded,
    EventStarted,
    Message,
    MinuteCounts,
    Preview,
    WorkerReady,
)
from affectlens.service.recorder import Recorder
from affectlens.service.supervisor import Supervisor
from affectlens.service.worker import CameraSpec
from affectlens.store import Store
from affectlens.store.schema import Camera


def _ray():
    try:
        import ray
        from ray.cluster_utils import Cluster
    except ImportError:
        if os.environ.get("AFFECTLENS_REQUIRE_SERVICES") == "1":
            pytest.fail("ray is not installed but services are required: "
                        "pip install -e '.[test]' installs it")
        pytest.skip("no Ray: pip install 'affectlens[cluster]'")
    return ray, Cluster


SMALL_STORE = 80 * 1024**2  # bytes of object store a node: messages and tables are small
# Fast node-death detection for the test (Ray's defaults take about 15 s; docs/cluster.md).
HEALTH = {"health_check_period_ms": 1000, "health_check_failure_threshold": 3,
          "health_check_initial_delay_ms": 0}


@pytest.fixture(scope="module")
def cluster() -> Iterator[object]:
    """A head with no CPU (the service's queue lives there, no camera) and two worker nodes
    of one CPU each (a test that kills one adds one first); this process joins it as the
    driver, as `affectlens serve` would."""
    ray, Cluster = _ray()
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "include_dashboard": False, "object_store_memory": SMALL_STORE,
        "_system_config": HEALTH})
    for _ in range(2):
        cluster.add_node(num_cpus=1, object_store_memory=SMALL_STORE)
    ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
    try:
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


def spec_for(camera: Camera) -> CameraSpec:
    return CameraSpec(camera.id, camera.url, camera.purpose, 2.0, counts_every_s=1.0,
                      backoff_s=(0.3, 0.6), preview_fps=0.5, blur_faces=camera.blur_faces)


def node_id(node: str) -> str:
    """The node id's first characters in a worker's "address id" node name."""
    return node.split()[-1]


def test_the_plan_moves_one_camera_from_the_most_to_the_least_loaded_node() -> None:
    """No Ray needed: balance.py's plan, step by step to a balance, on its own."""
    from affectlens.cluster.balance import Move, plan_move

    room = {"a": 8, "b": 8, "c": 8}
    assert plan_move({1: "a", 2: "a", 3: "a"}, {"a": 8}) is None  # one node
    assert plan_move({1: "a", 2: "a", 3: "b"}, room) == Move(2, "a", "c")
    assert plan_move({1: "a", 2: "b"}, {"a": 8, "b": 8}) is None  # balanced
    assert plan_move({1: "a", 2: "a", 3: "b"}, {"a": 8, "b": 8}) is None  # off by one
    assert plan_move({1: "a", 2: "a", 3: "b"}, {"a": 8, "b": 1}) is None  # b is full
    assert plan_move({1: "a", 2: "a", 3: "a"}, {"a": 8, "b": 1}) == Move(3, "a", "b")
    # A camera starting, or on a node that died: nothing moves until it is placed.
    assert plan_move({1: "a", 2: "a", 3: "not placed yet"}, room) is None
    placed = dict.fromkeys(range(1, 8), "a")  # seven cameras on a; b and c join
    moves = []
    while (move := plan_move(placed, room)) is not None:
        moves.append(move)
        placed[move.camera_id] = move.target
    assert sorted(list(placed.values()).count(n) for n in room) == [2, 2, 3]
    assert len(moves) == 4 and {m.source for m in moves} == {"a"}  # as few as it takes


def test_cameras_run_as_actors_and_come_back_after_their_node_dies(
    cluster, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from affectlens.cluster.launcher import RayLauncher

    cluster.add_node(num_cpus=1, object_store_memory=SMALL_STORE)  # room for the moved one
    clip = write_sample_video(tmp_path / "sample.mp4", seconds=2.0)
    playing = store.add_camera("hall", f"file://{clip}", "anonymous_statistics")
    missing = store.add_camera("door", f"file://{tmp_path / 'not-yet.mp4'}",
                               "anonymous_statistics")
    recorder = Recorder(store)
    handled: list[Message] = []
    monkeypatch.setattr(recorder, "handle", lambda m, handle=recorder.handle: (
        handled.append(m), handle(m)))
    launcher = RayLauncher(cluster.address)
    supervisor = Supervisor(store, recorder, spec_for, poll_s=0.3,
                            restart_backoff_s=(0.5, 1.0), launcher=launcher).start()
    workers = {n.node_id[:12]: n for n in cluster.worker_nodes}
    try:
        ready = wait_until(lambda: len(recorder.ready) == 2 and recorder.ready, 120,
                           "both cameras' actors loaded their models")
        first = {c: node_id(m.node) for c, m in ready.items()}
        assert set(first.values()) <= set(workers)
        assert first[playing.id] != first[missing.id]  # spread over the nodes
        outage = wait_until(lambda: store.open_events(missing.id), 30)[0]
        wait_until(lambda: store.minute_stats(playing.id, *_today()), 30, "counts stored")
        # The live state names the node, as /api/live and the dashboard show it.
        assert recorder._live[missing.id].node == ready[missing.id].node
        cluster.remove_node(workers[first[missing.id]], allow_graceful=False)
        killed = time.monotonic()
        wait_until(lambda: node_id(recorder.ready[missing.id].node) != first[missing.id],
                   30, "the dead node's camera is back on another node")
        assert time.monotonic() - killed < 30
        assert node_id(recorder.ready[missing.id].node) in workers
        again = wait_until(lambda: [e for e in store.open_events(missing.id)
                                    if e.id != outage.id], 30, "its new run's outage")[0]
        assert node_id(recorder.ready[playing.id].node) == first[playing.id]  # ran on
        # A hot setting reaches the running actor through Ray: its previews come under the
        # new generation, from the same worker (issue 14's push, not a restart).
        pid = recorder.ready[playing.id].pid
        store.update_camera(playing.id, blur_faces=False)
        supervisor.request_sync()
        wait_until(lambda: any(isinstance(m, Preview) and m.camera_id == playing.id
                               and m.generation > 1 for m in handled), 30,
                   "a preview made under the pushed settings")
        assert recorder.ready[playing.id].pid == pid
    finally:
        supervisor.stop()
    stored = store.events()
    ended = next(e for e in stored if e.id == outage.id)
    assert ended.ended_at is not None and again.key != outage.key
    keys = {m.key for m in handled if isinstance(m, EventStarted)}
    assert sorted(e.key for e in stored) == sorted(keys)  # every acknowledged event, once
    # A replay of everything (a node's messages handed in again): nothing new, nothing twice.
    before = [(e.key, e.ended_at) for e in store.events()]
    counts = store.totals(*_today(), camera_id=playing.id)
    for message in list(handled):
        if isinstance(message, EventStarted | EventEnded | MinuteCounts):
            recorder.handle(message)
    assert [(e.key, e.ended_at) for e in store.events()] == before
    assert store.totals(*_today(), camera_id=playing.id) == counts
    assert counts["faces"] > 0


def test_a_node_that_joins_takes_a_camera_without_restarting_the_others(
    cluster, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three cameras on the one worker node; a second node joins: within 30 s the supervisor
    moves one camera there (stop, then start on that node: the plan's camera, balance.py),
    the other two run on in the same worker (one hello, one run id each), and every event is
    stored once: the moved camera's outage ended by its stopped worker, a new one by its
    successor."""
    from affectlens.cluster.launcher import RayLauncher

    for node in list(cluster.worker_nodes):  # one worker node, room for all three cameras
        cluster.remove_node(node)
    cluster.add_node(num_cpus=3, object_store_memory=SMALL_STORE)
    clip = write_sample_video(tmp_path / "sample.mp4", seconds=2.0)
    ids = [store.add_camera("hall", f"file://{clip}", "anonymous_statistics").id]
    ids += [store.add_camera(name, f"file://{tmp_path / name}.mp4", "anonymous_statistics").id
            for name in ("door", "yard")]
    recorder = Recorder(store)
    handled: list[Message] = []
    monkeypatch.setattr(recorder, "handle", lambda m, handle=recorder.handle: (
        handled.append(m), handle(m)))
    supervisor = Supervisor(store, recorder, spec_for, poll_s=0.3, restart_backoff_s=(0.5,),
                            launcher=RayLauncher(cluster.address), rebalance_s=1.0).start()
    try:
        ready = wait_until(lambda: len(recorder.ready) == 3 and dict(recorder.ready), 120,
                           "the three cameras' actors loaded their models")
        assert len({m.node for m in ready.values()}) == 1
        outages = {c: wait_until(lambda c=c: store.open_events(c), 30)[0] for c in ids[1:]}
        joined = cluster.add_node(num_cpus=3, object_store_memory=SMALL_STORE)
        added = time.monotonic()
        moved = wait_until(lambda: [c for c, m in recorder.ready.items()
                                    if node_id(m.node) == joined.node_id[:12]], 60,
                           "a camera on the node that joined")
        assert time.monotonic() - added < 30
        assert moved == [ids[-1]]  # the loaded node's last camera, and only one
        assert recorder._live[ids[-1]].node == recorder.ready[ids[-1]].node  # /api/live
        wait_until(lambda: [e for e in store.open_events(ids[-1])
                            if e.id != outages[ids[-1]].id], 30, "its new run's outage")
        time.sleep(3.0)  # three more rebalancing rounds: two and one, nothing more moves
        assert {c: m.pid for c, m in recorder.ready.items() if c != ids[-1]} == {
            c: ready[c].pid for c in ids[:-1]}
    finally:
        supervisor.stop()
    hellos = [m.camera_id for m in handled if isinstance(m, WorkerReady)]
    assert sorted(hellos) == sorted([*ids, ids[-1]])  # only the moved camera started again

    def runs(camera_id: int) -> set[str]:
        return ({m.key.split(":")[0] for m in handled
                 if isinstance(m, EventStarted) and m.camera_id == camera_id}
                | {m.run for m in handled
                   if isinstance(m, MinuteCounts) and m.camera_id == camera_id})

    assert [len(runs(c)) for c in ids] == [1, 1, 2]
    stored = store.events()
    keys = [m.key for m in handled if isinstance(m, EventStarted)]
    assert sorted(e.key for e in stored) == sorted(keys) and len(set(keys)) == len(keys)
    assert all(e.ended_at is not None for e in stored)
    assert len([e for e in stored if e.camera_id == ids[-1]]) == 2


def test_cameras_on_a_node_share_its_batching_actor_and_count_the_same_faces(
    cluster, store: Store, tmp_path: Path
) -> None:
    """cluster.batch_models (issue 15, item 3): three cameras on one node, their face models
    run by the node's one batching actor, named for its node, which joins their calls; the
    cameras count faces; stopping the service ends the batcher. What each camera gets is
    what it gets alone (tests/test_batching.py, in one process). On CPU: the GPU path is
    the same code with the CUDA provider, not run here (no GPU)."""
    ray = _ray()[0]
    from affectlens.cluster.batching import ACTOR_PREFIX, NAMESPACE, BatchSettings, batcher_names
    from affectlens.cluster.launcher import RayLauncher

    for node in list(cluster.worker_nodes):  # one worker node: the three cameras share it
        cluster.remove_node(node)
    cluster.add_node(num_cpus=3, object_store_memory=SMALL_STORE)
    clip = write_sample_video(tmp_path / "sample.mp4", seconds=2.0)
    ids = [store.add_camera(name, f"file://{clip}", "anonymous_statistics").id
           for name in ("hall", "lounge", "dining")]
    recorder = Recorder(store)
    # A deadline long enough that three cameras at 2 fps meet in it now and then.
    launcher = RayLauncher(cluster.address, batching=BatchSettings(64, 0.1))
    supervisor = Supervisor(store, recorder, spec_for, poll_s=0.3, restart_backoff_s=(0.5,),
                            launcher=launcher).start()
    try:
        ready = wait_until(lambda: len(recorder.ready) == 3 and dict(recorder.ready), 120,
                           "the three cameras' actors started")
        for c in ids:
            wait_until(lambda c=c: store.totals(*_today(), camera_id=c)["faces"] > 0, 60,
                       "faces counted")
        nodes = {node_id(m.node) for m in ready.values()}
        names = batcher_names()
        assert len(nodes) == 1 and len(names) == 1  # one node's cameras, one batcher
        assert names[0].removeprefix(ACTOR_PREFIX)[:12] in nodes
        stats = [ray.get(ray.get_actor(n, namespace=NAMESPACE).stats.remote()) for n in names]
        assert all("blazeface_short_range.onnx" in s for s in stats), stats
        # anonymous_statistics: the purpose gate holds in the batcher too, no expression model
        assert not any("xception" in m or "expression" in m for s in stats for m in s)
        detector = [s["blazeface_short_range.onnx"] for s in stats]
        assert detector[0]["calls"] < detector[0]["requests"], stats  # cameras' calls joined
    finally:
        supervisor.stop()
    assert batcher_names() == []


def _today() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now - timedelta(hours=1), now + timedelta(hours=1)


def test_a_folder_analysed_on_the_cluster_gives_one_machines_files(
    cluster, tmp_path: Path
) -> None:
    """The same folder with and without --cluster: the same files, the same tables, the same
    annotated videos (drawn by render tasks after the analysis: tests/test_cluster_annotated.py)."""
    same_outputs_both_ways(tmp_path, "--cluster", cluster.address)


def test_an_offline_job_outlives_a_dead_node_and_resumes_without_redoing_inputs(
    cluster, tmp_path: Path
) -> None:
    """A node dies while the job runs: the job still ends with one machine's tables. Run
    again after losing one finished part (an interruption), only that input is analysed."""
    import affectlens
    from affectlens.cluster.offline import analyze_on_cluster
    from affectlens.config import AnalysisConfig

    doomed = cluster.add_node(num_cpus=1, object_store_memory=SMALL_STORE)
    folder = tmp_path / "in"
    for n in range(4):
        write_sample_video(folder / f"clip{n}.mp4", seconds=1.0)
    config = AnalysisConfig(fps=4, threads=1, pose=False)
    parts = tmp_path / "parts"
    progress: list[tuple[int, int]] = []

    def finished(done: int, total: int) -> None:
        progress.append((done, total))
        if done == 1:
            cluster.remove_node(doomed, allow_graceful=False)  # mid-job

    result = analyze_on_cluster([folder], config, cluster.address, finished, parts)
    assert progress[0] == (0, 4) and progress[-1] == (4, 4)
    assert doomed not in cluster.worker_nodes
    here = affectlens.analyze(folder, config)
    _same_tables(result, here, tmp_path)
    kept = sorted(parts.iterdir())
    assert len(kept) == 4
    kept[2].unlink()
    progress.clear()
    again = analyze_on_cluster([folder], config, cluster.address,
                               lambda done, total: progress.append((done, total)), parts)
    assert progress == [(3, 4), (4, 4)]  # three parts kept: one input analysed again
    _same_tables(again, here, tmp_path)


REAL_VIDEO = Path(__file__).parents[2] / "shared/data/media/WolfgangLanger_Pexels.mp4"


def test_a_long_video_split_into_segments_gives_one_pass(cluster) -> None:
    """A real 20 s video (one woman crying, then calm, then laughing: one track, a distress
    event) in five 4 s segments, each a task with its warm-up (10 s with these settings):
    stitched, it is one pass over the file: the same frames, boxes and raw expression
    probabilities, the same labels, track numbers, sources row and events."""
    if not REAL_VIDEO.is_file():
        pytest.skip(f"{REAL_VIDEO} is not here (../shared/data)")
    import affectlens
    from affectlens.cluster.offline import analyze_on_cluster
    from affectlens.cluster.segments import memory_s
    from affectlens.config import AnalysisConfig

    config = AnalysisConfig(fps=4, threads=1, pose=False, distress={"hold_s": 2.0})
    assert memory_s(config) == 2.0 + 2.0 + 1.0 + 5 * 1.0  # hold + gap, tracker, smoothing
    progress: list[tuple[int, int]] = []
    there = analyze_on_cluster([REAL_VIDEO], config, cluster.address,
                               lambda done, total: progress.append((done, total)),
                               segment_s=4.0)
    assert progress[-1] == (5, 5)
    here = affectlens.analyze(REAL_VIDEO, config)
    assert_one_pass(there, here)
    when = ["kind", "track_id", "started_s", "detected_s", "ended_s", "confidence"]
    assert len(here.events) > 0
    # One event spans segments: its times are one pass's, and its confidence (a mean over
    # its frames, taken again over the stitched frames: tests/test_segments_distress.py).
    pd.testing.assert_frame_equal(there.events[when], here.events[when], atol=1e-4)


def _same_tables(there, here, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    written = [p.name for p in there.to_csv(a)]
    assert written == [p.name for p in here.to_csv(b)]
    for name in written:
        pd.testing.assert_frame_equal(pd.read_csv(a / name), pd.read_csv(b / name))
    assert len(there.frames) > 0


def test_a_cluster_address_is_checked_before_anything_starts(tmp_path: Path) -> None:
    """No Ray needed: a wrong address or engine ray without one is refused with its field;
    a right one passes `serve --check`."""
    from typer.testing import CliRunner

    from affectlens.cli import app
    from affectlens.service.site import SiteConfigError, load_site

    site = tmp_path / "site.yaml"
    site.write_text("cameras:\n  - {name: a, url: rtsp://h/a, purpose: care_safety}\n")
    env = {"AFFECTLENS_PORT": "9201"}
    result = CliRunner().invoke(app, ["serve", "--config", str(site), "--check", "--cluster",
                                      "ray://head:10001"], env=env)
    assert result.exit_code == 2 and "--cluster: 'ray://head:10001' is not a Ray cluster " \
        "address" in result.output
    result = CliRunner().invoke(app, ["serve", "--config", str(site), "--check", "--cluster",
                                      "10.0.0.5:6379"], env=env)
    if importlib.util.find_spec("ray") is None:  # said before the service starts
        assert result.exit_code == 2 and "ray is not installed" in result.output
    else:
        assert result.exit_code == 0, result.output
    site.write_text("cluster: {engine: ray}\n")
    with pytest.raises(SiteConfigError, match="cluster: engine ray needs the cluster's address"):
        load_site(site, {})
    result = CliRunner().invoke(app, ["analyze", str(tmp_path), "--cluster", "head"])
    assert result.exit_code == 2 and "--cluster: 'head' is not a Ray cluster" in result.output
