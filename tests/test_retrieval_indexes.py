"""FAISS indexes: the type chosen by catalogue size, approximate indexes find the right neighbours, id map kept."""
import numpy as np
import pytest

from retrieval.indexes import IndexUnavailable, build_faiss_index, chosen_index_type, index_config, load_faiss_index


def unit_vectors(count, dim=32, seed=0):
    vectors = np.random.default_rng(seed).standard_normal((count, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_small_catalogues_get_exact_search_and_large_ones_the_configured_ann():
    config = index_config({"flat_max": 1000})
    assert chosen_index_type(1000, config) == "flat"
    assert chosen_index_type(1001, config) == "hnsw"
    assert chosen_index_type(1001, index_config({"flat_max": 1000, "large": "ivf"})) == "ivf"
    with pytest.raises(ValueError, match="auto, flat, hnsw or ivf"):
        index_config({"type": "lsh"})
    with pytest.raises(ValueError, match="Unknown index option"):
        index_config({"nprobe": 3})


@pytest.mark.parametrize("index_type", ["flat", "hnsw", "ivf"])
def test_each_index_type_finds_each_vector_itself_and_maps_rows_to_product_ids(tmp_path, index_type):
    vectors = unit_vectors(3000)
    pks = np.arange(3000) * 7 + 100  # product primary keys are not row numbers
    meta = build_faiss_index(vectors=vectors, pks=pks, folder=tmp_path, config={"type": index_type})
    assert meta["type"] == index_type and meta["count"] == 3000
    index = load_faiss_index(tmp_path)
    scores, found = index.search(vectors[:200], k=5)
    self_found = np.mean(found[:, 0] == pks[:200])
    assert self_found >= (1.0 if index_type == "flat" else 0.9)
    assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first


def test_an_index_with_a_different_id_map_is_refused(tmp_path):
    build_faiss_index(vectors=unit_vectors(10), pks=range(10), folder=tmp_path)
    np.save(tmp_path / "ids.npy", np.arange(9))
    with pytest.raises(IndexUnavailable, match="ids.npy"):
        load_faiss_index(tmp_path)


def test_an_empty_catalogue_cannot_be_indexed(tmp_path):
    with pytest.raises(ValueError, match="empty catalogue"):
        build_faiss_index(vectors=np.zeros((0, 8), dtype=np.float32), pks=[], folder=tmp_path)
