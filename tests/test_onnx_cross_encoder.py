"""Cross-encoder judges through the onnx / onnx-int8 backends (`ENCODER_BACKEND`): the torch judge's scores (fp32)
or close ones (int8), in the original order for a batch of mixed lengths, exported once into the artifact store,
and chosen by `load_judge` from the setting."""
import numpy as np
import pytest

from retrieval.onnx_cross_encoder import INT8_MAX_SCORE_GAP, OnnxCrossEncoder
from synthesis.judging.judges import CrossEncoderJudge, load_cross_encoder, load_judge

from .synthesis_support import CORPUS, tiny_bert_folder

QUERY_PRODUCTS = [("coffee mug", text + " with lid" * (i % 4)) for i, text in enumerate(CORPUS * 3)]


@pytest.fixture
def trained_judge(tmp_path, settings):
    """A one-label cross-encoder folder with its (randomly initialised, saved) head: what a judge job leaves."""
    settings.ARTIFACT_ROOT = str(tmp_path / "artifacts")
    base = tiny_bert_folder(tmp_path / "bert")
    folder = tmp_path / "judge"
    load_cross_encoder(str(base), device="cpu", num_labels=1).save_pretrained(str(folder))
    return folder


def test_onnx_gives_the_torch_scores_and_int8_close_ones(trained_judge):
    expected = load_cross_encoder(str(trained_judge), device="cpu").predict(QUERY_PRODUCTS, batch_size=64)
    onnx = load_cross_encoder(str(trained_judge), device="cpu", backend="onnx")
    assert isinstance(onnx, OnnxCrossEncoder) and onnx.backend == "onnx"
    assert len(QUERY_PRODUCTS) > 16  # several of the backend's small batches, sorted by length and put back
    assert np.allclose(onnx.predict(QUERY_PRODUCTS, batch_size=64), expected, atol=1e-4)
    int8 = load_cross_encoder(str(trained_judge), device="cpu", backend="onnx-int8")
    scores = int8.predict(QUERY_PRODUCTS, batch_size=64)
    assert np.mean(np.abs(scores - expected)) <= INT8_MAX_SCORE_GAP
    files = {path.name for path in int8.path.parent.iterdir()}
    assert files == {"model.onnx", "model-int8.onnx"} and int8.backend == "onnx-int8"


def test_load_judge_follows_the_encoder_backend_setting(trained_judge, settings):
    torch_judge = load_judge(path=str(trained_judge), device="cpu")
    settings.ENCODER_BACKEND = "onnx"
    onnx_judge = load_judge(path=str(trained_judge), device="cpu")
    assert isinstance(onnx_judge, CrossEncoderJudge) and isinstance(onnx_judge.model, OnnxCrossEncoder)
    products = [text for _, text in QUERY_PRODUCTS]
    assert np.allclose(onnx_judge.score("coffee mug", products), torch_judge.score("coffee mug", products), atol=1e-4)


def test_a_cross_encoder_with_several_labels_is_refused_with_a_clear_message(tmp_path, settings):
    settings.ARTIFACT_ROOT = str(tmp_path / "artifacts")
    folder = tmp_path / "three-labels"
    load_cross_encoder(str(tiny_bert_folder(tmp_path / "bert")), device="cpu", num_labels=3).save_pretrained(
        str(folder))
    with pytest.raises(ValueError, match="one-label cross-encoders.*ENCODER_BACKEND=torch"):
        load_cross_encoder(str(folder), device="cpu", backend="onnx")
