"""The onnx / onnx-int8 encoder backends (`ENCODER_BACKEND`): the same vectors as torch (fp32) or close to them
(int8), exported once per model into the artifact store, refused with a clear message for a model they cannot run,
and used by a dense version's catalogue encoding and search."""
import numpy as np
import pytest

from retrieval.encoders import EncoderUnavailable, clear_encoder_cache, encode_texts, load_encoder
from retrieval.onnx_encoder import onnx_folder
from retrieval.search import clear_searcher_cache, retrieve_many
from retrieval.versions import version_build
from tests.retrieval_factories import QUERIES, all_texts, make_dataset, tiny_encoder_folder

TEXTS = all_texts()


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    return tiny_encoder_folder(tmp_path_factory.mktemp("enc") / "tiny", TEXTS)


@pytest.fixture(autouse=True)
def fresh_caches():
    clear_encoder_cache(), clear_searcher_cache()
    yield
    clear_encoder_cache(), clear_searcher_cache()


def vectors(encoder_folder, backend: str) -> np.ndarray:
    model = load_encoder(str(encoder_folder), backend=backend, cache=False)
    return encode_texts(model, TEXTS, batch_size=8, max_seq_length=32)


def test_onnx_gives_the_torch_vectors_and_int8_close_ones(tiny_encoder):
    torch_vectors = vectors(tiny_encoder, "torch")
    onnx_vectors = vectors(tiny_encoder, "onnx")
    int8_vectors = vectors(tiny_encoder, "onnx-int8")
    assert onnx_vectors.shape == int8_vectors.shape == torch_vectors.shape
    assert np.allclose(onnx_vectors, torch_vectors, atol=1e-4)
    assert np.allclose(np.linalg.norm(int8_vectors, axis=1), 1.0, atol=1e-5)
    assert np.mean(np.sum(int8_vectors * torch_vectors, axis=1)) > 0.98  # per-channel int8 weights
    assert not np.allclose(int8_vectors, torch_vectors, atol=1e-4)  # int8 was made, not refused


def test_a_model_that_quantises_badly_runs_int8_requests_through_fp32(tiny_encoder, monkeypatch, caplog):
    """all-mpnet-base-v2's int8 vectors measured a mean cosine of 0.03 to fp32: such a model is refused for int8
    once (the refusal is kept beside the export) and answers with the fp32 graph's vectors."""
    import retrieval.onnx_encoder as onnx_encoder

    monkeypatch.setattr(onnx_encoder, "INT8_MIN_COSINE", 1.01)  # no int8 graph can reach it
    torch_vectors = vectors(tiny_encoder, "torch")
    with caplog.at_level("WARNING", logger="retrieval.onnx_encoder"):
        model = load_encoder(str(tiny_encoder), backend="onnx-int8", cache=False)
    assert model.backend == "onnx" and "int8 is refused" in caplog.text
    assert np.allclose(encode_texts(model, TEXTS, batch_size=8, max_seq_length=32), torch_vectors, atol=1e-4)
    folder = onnx_folder(str(tiny_encoder))
    assert {path.name for path in folder.iterdir()} == {"model.onnx", "model-int8.refused.json"}
    monkeypatch.setattr(onnx_encoder, "INT8_MIN_COSINE", 0.0)  # the kept refusal answers: not quantised again
    assert load_encoder(str(tiny_encoder), backend="onnx-int8", cache=False).backend == "onnx"


def test_the_export_is_made_once_and_kept_in_the_artifact_store(tiny_encoder, settings):
    load_encoder(str(tiny_encoder), backend="onnx-int8", cache=False)
    folder = onnx_folder(str(tiny_encoder))
    assert str(folder).startswith(str(settings.ARTIFACT_ROOT))
    files = {path.name: path.stat().st_mtime_ns for path in folder.iterdir()}
    assert set(files) == {"model.onnx", "model-int8.onnx"}
    load_encoder(str(tiny_encoder), backend="onnx-int8", cache=False)
    assert {path.name: path.stat().st_mtime_ns for path in folder.iterdir()} == files


def test_a_model_without_mean_pooling_is_refused_with_a_clear_message(tiny_encoder, tmp_path):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(tiny_encoder), device="cpu")
    model[1].pooling_mode = "cls"
    model.save(str(tmp_path / "cls"))
    with pytest.raises(EncoderUnavailable, match="mean pooling.*ENCODER_BACKEND=torch"):
        load_encoder(str(tmp_path / "cls"), backend="onnx", cache=False)


@pytest.mark.django_db
def test_a_dense_version_indexes_and_searches_through_the_onnx_backend(tiny_encoder, settings):
    dataset = make_dataset()
    queries = [text for _, text, *_ in QUERIES]
    built = {}
    for backend in ("torch", "onnx"):
        settings.ENCODER_BACKEND = backend
        clear_encoder_cache(), clear_searcher_cache()
        version = version_build(dataset=dataset, name=f"zs-{backend}", kind="dense", config={"train": False},
                                base_model=str(tiny_encoder), inline=True)
        assert version.status == "ready", version.build_job.error
        built[backend] = [[hit.product_id for hit in hits] for hits in retrieve_many(version, queries, 5)]
    assert built["onnx"] == built["torch"]


def test_a_large_batch_is_run_in_small_length_sorted_batches_and_keeps_the_order(tiny_encoder):
    from retrieval import onnx_encoder

    texts = [text + " extra words" * (i % 5) for i, text in enumerate(TEXTS * 3)]  # mixed lengths, > BATCH_SIZE
    assert len(texts) > 2 * onnx_encoder.BATCH_SIZE
    torch_model = load_encoder(str(tiny_encoder), backend="torch", cache=False)
    onnx_model = load_encoder(str(tiny_encoder), backend="onnx", cache=False)
    expected = encode_texts(torch_model, texts, batch_size=64, max_seq_length=32)
    assert np.allclose(encode_texts(onnx_model, texts, batch_size=64, max_seq_length=32), expected, atol=1e-4)
