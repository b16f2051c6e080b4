"""The expression and age models' int8 forms: loaded where they should be, and reading real
faces as the float forms do (tools/quantize_models.py makes them; docs/accuracy.md has the
figures on whole datasets)."""

from __future__ import annotations

import cv2
import numpy as np
import onnx
import pytest

from affectlens.config import AnalysisConfig
from affectlens.eval.datasets import TrainingManifest, is_held_out, read_expression_folder
from affectlens.eval.faces import FaceMode, load_crops
from affectlens.models.age import AgeEstimator
from affectlens.models.alignment import align_faces
from affectlens.models.expression import ExpressionClassifier
from affectlens.models.runtime import WEIGHTS_DIR, float_path, int8_path, weights_for
from affectlens.pipeline import Models


@pytest.fixture(scope="module")
def float_models() -> Models:
    return Models.load(AnalysisConfig(precision="float"))


@pytest.fixture(scope="module")
def real_faces(models: Models, media, portrait) -> list[np.ndarray]:
    """multi_face.jpg's five people and Grace Hopper's portrait, each with its face boxes."""
    pictures = [cv2.imread(str(media("multi_face.jpg"))), portrait]
    return pictures


def test_the_default_loads_the_int8_forms_on_the_cpu_and_float_asks_for_the_float_ones(
        models: Models, float_models: Models) -> None:
    assert models.expression is not None and float_models.expression is not None
    assert models.expression.model.path.name == "affectlens_expression.int8.onnx"
    assert models.age.model.path.name == "affectlens_age.int8.onnx"
    assert float_models.expression.model.path.name == "affectlens_expression.onnx"
    assert float_models.age.model.path.name == "affectlens_age.onnx"


def test_the_int8_files_hold_integer_weights_and_are_smaller() -> None:
    for stem in ("affectlens_expression", "affectlens_age"):
        float_file = WEIGHTS_DIR / f"{stem}.onnx"
        graph = onnx.load(int8_path(float_file)).graph
        int8_weights = [t for t in graph.initializer if t.data_type == onnx.TensorProto.INT8]
        assert len(int8_weights) >= 20  # every convolution's weights
        assert int8_path(float_file).stat().st_size < float_file.stat().st_size / 3


def test_a_model_without_an_int8_form_runs_its_float_form() -> None:
    assert ExpressionClassifier("fer", precision="int8").model.path.name == (
        "fer_mini_xception.onnx")
    assert AgeEstimator("age_v1", precision="int8").model.path.name == "age-v1.onnx"


def test_a_gpu_is_given_the_float_form(monkeypatch) -> None:
    float_file = WEIGHTS_DIR / "affectlens_expression.onnx"
    assert weights_for(float_file, "cpu", "int8") == int8_path(float_file)
    monkeypatch.setattr("onnxruntime.get_available_providers",
                        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert weights_for(float_file, "cuda", "int8") == float_file
    assert weights_for(float_file, "auto", "int8") == float_file
    assert weights_for(float_file, "cpu", "int8") == int8_path(float_file)


def test_int8_and_float_read_real_faces_alike(models: Models, float_models: Models,
                                              real_faces) -> None:
    assert models.expression is not None and float_models.expression is not None
    for picture in real_faces:
        faces = models.detector.predict([picture])[0]
        assert len(faces) >= 1
        crops = align_faces(picture, faces.keypoints, models.expression.template)
        p_int8, p_float = models.expression.predict(crops), float_models.expression.predict(crops)
        np.testing.assert_array_equal(p_int8.argmax(1), p_float.argmax(1))
        assert np.abs(p_int8 - p_float).max() < 0.1
        crops = align_faces(picture, faces.keypoints, models.age.template)
        assert np.abs(models.age.predict(crops) - float_models.age.predict(crops)).max() < 4.0


def test_int8_gives_the_float_label_on_real_training_validation_faces(
        models: Models, float_models: Models, dataset) -> None:
    """FER2013 train's validation tenth (tools/quantize_models.py's check, on 600 faces)."""
    assert models.expression is not None and float_models.expression is not None
    train = read_expression_folder(dataset("fer2013-train"))
    held = [p for p in train.paths if is_held_out(p, 10)][:600]
    crops, _ = load_crops(held, models.expression.template, FaceMode.crops)
    same = (models.expression.predict(crops).argmax(1)
            == float_models.expression.predict(crops).argmax(1)).mean()
    assert same >= 0.97, same


def test_the_training_manifest_of_an_int8_form_is_its_float_graphs() -> None:
    int8_file = int8_path(WEIGHTS_DIR / "affectlens_age.onnx")
    assert float_path(int8_file) == WEIGHTS_DIR / "affectlens_age.onnx"
    manifest = TrainingManifest.beside(int8_file)
    assert manifest is not None and manifest == TrainingManifest.beside(float_path(int8_file))


def test_a_cluster_node_with_a_gpu_runs_the_float_graph_a_camera_asked_int8_of(
        monkeypatch) -> None:
    """A camera on a CPU node picks the int8 form; the node's batching actor decides again
    where it runs the model (cluster/batching.py)."""
    from affectlens.cluster.batching import graph_here

    float_file = WEIGHTS_DIR / "affectlens_age.onnx"
    assert graph_here(int8_path(float_file), "cpu") == int8_path(float_file)
    assert graph_here(float_file, "cpu") == float_file
    monkeypatch.setattr("onnxruntime.get_available_providers",
                        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert graph_here(int8_path(float_file), "auto") == float_file
    assert graph_here(int8_path(float_file), "cpu") == int8_path(float_file)
