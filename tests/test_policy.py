"""The hard lines and the purpose gate (issue 6): configurations that ask for race or
ethnicity, identity or recognition, watchlists, danger or criminality scores, or expression
analysis to monitor staff are refused with a reason; the API and the database have no field
for any of them and no column that could hold a face; parsing never fails other than cleanly."""

from __future__ import annotations

import contextlib
import json
import re

import pytest
import sqlalchemy as sa
from authutil import bearer
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from affectlens.privacy.policy import (
    WHY,
    check_config,
    expression_allowed,
    redact_url,
    refusal,
)
from affectlens.service.api import create_app
from affectlens.service.schemas import CameraIn, check_stream_url
from affectlens.store import Store

HALL = {"name": "hall", "url": "rtsp://127.0.0.1:8554/hall", "purpose": "care_safety"}
FORBIDDEN = re.compile(r"race|ethnic|identit|embedding|danger|criminal|watchlist|face_?crop"
                       r"|recogni|religio|sexual", re.IGNORECASE)


@pytest.mark.parametrize(("asked", "why"), [
    ("race_detection", "sensitive"), ("ethnicity", "sensitive"), ("skinTone", "sensitive"),
    ("religion", "sensitive"), ("face_recognition", "identifying"),
    ("identify_people", "identifying"), ("watchlist", "identifying"),
    ("faceEmbedding", "identifying"), ("reid", "identifying"),
    ("danger_score", "scoring"), ("criminality", "scoring"), ("threat-level", "scoring"),
    ("staff_monitoring", "watching"), ("pupil_attention", "watching"),
    ("worker-productivity", "watching"), ("employee_performance", "watching"),
])
def test_hard_lines_are_refused_with_the_reason(asked: str, why: str) -> None:
    assert refusal(asked) == WHY[why]


@pytest.mark.parametrize("fine", [
    "care_safety", "consented_research", "anonymous_statistics", "fall_risk", "Grace's room",
    "racecourse gate", "staff_room_door", "distress", "age_band", "analysis_fps", "monitoring",
])
def test_ordinary_words_pass(fine: str) -> None:
    assert refusal(fine) is None


def test_a_nested_config_names_every_place_and_why() -> None:
    with pytest.raises(ValueError) as refused:
        check_config({"cameras": [{"name": "hall", "purpose": "staff_monitoring"}],
                      "analysis": {"face_embeddings": True, "threads": 2}})
    message = str(refused.value)
    assert "cameras.0.purpose: " + WHY["watching"] in message
    assert "analysis.face_embeddings: " + WHY["identifying"] in message
    check_config({"cameras": [{"name": "hall", "purpose": "care_safety"}]})  # no error


def test_the_purpose_gate() -> None:
    assert expression_allowed("care_safety") and expression_allowed("consented_research")
    assert not expression_allowed("anonymous_statistics")
    assert not expression_allowed("staff_monitoring")


@pytest.mark.parametrize(("field", "value", "why"), [
    ("race_detection", True, "sensitive"), ("watchlist", ["x"], "identifying"),
    ("danger_score", 0.5, "scoring"), ("purpose", "staff_monitoring", "watching"),
    ("purpose", "face_recognition", "identifying"),
])
def test_the_api_refuses_them_naming_field_and_reason(store: Store, field: str, value: object,
                                                      why: str) -> None:
    client = TestClient(create_app(store), headers=bearer(store, "admin"))
    for answer in (client.post("/api/cameras", json={**HALL, field: value}),
                   client.patch("/api/cameras/1", json={field: value})):
        assert answer.status_code == 422
        (error,) = answer.json()["detail"]
        assert error["loc"][-1] == field and error["msg"] == WHY[why]
        assert error["type"] == "hard_line"
    assert store.cameras() == []


def test_the_openapi_schema_has_no_such_field(store: Store) -> None:
    schema = TestClient(create_app(store), headers=bearer(store, "admin")).get(
        "/openapi.json").json()
    names = set(schema["paths"])
    for component in schema["components"]["schemas"].values():
        names |= set(component.get("properties", {}))
        names.add(component.get("title", ""))
    for operation in (op for path in schema["paths"].values() for op in path.values()):
        names |= {p["name"] for p in operation.get("parameters", [])}
    assert {"camera_id", "purpose", "acknowledged_by"} <= names  # the scan sees fields
    assert sorted(n for n in names if FORBIDDEN.search(n)) == []


def test_the_database_has_no_such_column_and_nothing_that_holds_a_face(store: Store) -> None:
    inspector = sa.inspect(store.engine)
    columns = {(table, c["name"]): c["type"] for table in inspector.get_table_names()
               for c in inspector.get_columns(table)}
    assert ("events", "snapshot") in columns and ("users", "role") in columns
    assert sorted(f"{t}.{c}" for t, c in columns if FORBIDDEN.search(c)) == []
    binary = [f"{t}.{c}" for (t, c), kind in columns.items()
              if isinstance(kind, sa.LargeBinary | sa.BINARY | sa.VARBINARY)]
    assert binary == []  # no image, crop or vector is stored, only paths to blurred JPEGs


# property-based: parsing fails cleanly or not at all --------------------------------------

JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=15), inner,
                                                                 max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["name", "url", "purpose", "analysis_fps", "extra",
                                        "race"]), JSONISH, max_size=5))
def test_camera_config_parses_or_fails_cleanly(data: dict) -> None:
    try:
        camera = CameraIn.model_validate(data)
    except ValidationError:
        return
    assert camera.purpose in ("care_safety", "consented_research", "anonymous_statistics")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_stream_urls_parse_or_fail_cleanly(text: str) -> None:
    with contextlib.suppress(ValueError):
        check_stream_url(text)


@settings(max_examples=300, deadline=None)
@given(JSONISH)
def test_the_policy_reads_anything(data: object) -> None:
    if isinstance(data, dict):
        try:
            check_config(data)
        except ValueError as refused:
            assert "refused" in str(refused)
    assert refusal(str(data)) in (None, *WHY.values())


@settings(max_examples=200, deadline=None)
@given(user=st.from_regex(r"[a-z]{1,8}", fullmatch=True),
       secret=st.from_regex(r"PW[A-Za-z0-9]{4,12}", fullmatch=True),
       port=st.integers(1, 65535))
def test_stream_passwords_are_always_redacted(user: str, secret: str, port: int) -> None:
    shown = redact_url(f"rtsp://{user}:{secret}@cam.local:{port}/stream")
    assert secret not in shown and shown == f"rtsp://{user}:***@cam.local:{port}/stream"
    assert redact_url("rtsp://cam.local/x") == "rtsp://cam.local/x"


@pytest.mark.parametrize(("url", "shown"), [
    ("http://cam/mjpeg?pwd=abc", "http://cam/mjpeg?pwd=***"),
    ("http://cam/video.cgi?user=admin&password=x1&res=hd",
     "http://cam/video.cgi?user=admin&password=***&res=hd"),
    ("https://cam/live?api_key=K9&fps=5", "https://cam/live?api_key=***&fps=5"),
    ("rtsp://u:p@cam/s?transport=udp", "rtsp://u:***@cam/s?transport=udp"),
    ("rtsp://cam/s?transport=udp", "rtsp://cam/s?transport=udp"),
])
def test_passwords_in_query_parameters_are_redacted(url: str, shown: str) -> None:
    """Many HTTP cameras take their password in the query string, not the address."""
    assert redact_url(url) == shown


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=JSONISH)
def test_the_camera_api_answers_any_json_with_a_4xx_never_a_5xx(store: Store,
                                                                body: object) -> None:
    client = TestClient(create_app(store), headers=bearer(store, "admin"),
                        raise_server_exceptions=False)
    raw = json.dumps(body).encode()  # NaN and Infinity included, as Python's reader takes them
    kind = {"content-type": "application/json"}
    for answer in (client.post("/api/cameras", content=raw, headers=kind),
                   client.patch("/api/cameras/1", content=raw, headers=kind),
                   client.post("/api/auth/login", content=raw, headers=kind)):
        assert answer.status_code < 500, answer.text
        json.loads(answer.text, parse_constant=lambda c: pytest.fail(f"{c} in the answer"))
