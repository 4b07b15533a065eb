"""Test data for the retrieval tests: factory_boy factories of the catalogue models, a tiny random-weight BERT
encoder and a small catalogue with logs and labels.

`tiny_encoder_folder(path, texts)` trains a WordPiece tokenizer on `texts`, builds a 2-layer BERT with random
weights and saves both as a plain Hugging Face folder that `retrieval.encoders.load_encoder` loads (with mean
pooling), so that tests exercise the real code paths in a second or two.
"""
from __future__ import annotations

from pathlib import Path

import factory
from factory.django import DjangoModelFactory

from retrieval.models import Dataset, Interaction, Product, Qrel, Query, RetrieverVersion


class DatasetFactory(DjangoModelFactory):
    class Meta:
        model = Dataset

    name = factory.Sequence(lambda n: f"ds-{n}")


class ProductFactory(DjangoModelFactory):
    class Meta:
        model = Product

    dataset = factory.SubFactory(DatasetFactory)
    product_id = factory.Sequence(lambda n: f"p{n}")
    title = factory.LazyAttribute(lambda product: f"Product {product.product_id}")


class QueryFactory(DjangoModelFactory):
    class Meta:
        model = Query

    dataset = factory.SubFactory(DatasetFactory)
    query_id = factory.Sequence(lambda n: f"q{n}")
    text = factory.Sequence(lambda n: f"query number {n}")


class InteractionFactory(DjangoModelFactory):
    class Meta:
        model = Interaction

    query = factory.SubFactory(QueryFactory)
    product = factory.SubFactory(ProductFactory, dataset=factory.SelfAttribute("..query.dataset"))


class QrelFactory(DjangoModelFactory):
    class Meta:
        model = Qrel

    query = factory.SubFactory(QueryFactory)
    product = factory.SubFactory(ProductFactory, dataset=factory.SelfAttribute("..query.dataset"))
    grade = 3
    split = Qrel.Split.TEST


class RetrieverVersionFactory(DjangoModelFactory):
    class Meta:
        model = RetrieverVersion

    dataset = factory.SubFactory(DatasetFactory)
    name = factory.Sequence(lambda n: f"v-{n}")
    kind = RetrieverVersion.Kind.BM25
    status = RetrieverVersion.Status.READY


CATALOGUE = [
    ("p1", "Cast iron frying pan 28 cm", "Lodge", "Home > Kitchen > Pans", {"material": "cast iron"}),
    ("p2", "Non-stick frying pan 24 cm", "Tefal", "Home > Kitchen > Pans", {"material": "aluminium"}),
    ("p3", "Stainless steel saucepan with lid", "WMF", "Home > Kitchen > Pots", {"material": "steel"}),
    ("p4", "Red running shoes for men", "Nike", "Sport > Shoes > Running", {"colour": "red", "size": "42"}),
    ("p5", "Trail running shoes waterproof", "Salomon", "Sport > Shoes > Running", {"colour": "blue"}),
    ("p6", "Yoga mat extra thick", "Manduka", "Sport > Fitness > Yoga", {"thickness": "6 mm"}),
    ("p7", "Wireless noise cancelling headphones", "Sony", "Electronics > Audio > Headphones", {"battery": "30 h"}),
    ("p8", "Bluetooth speaker waterproof", "JBL", "Electronics > Audio > Speakers", {"battery": "12 h"}),
    ("p9", "USB-C charging cable 2 m", "Anker", "Electronics > Accessories > Cables", {"length": "2 m"}),
    ("p10", "Espresso coffee machine", "DeLonghi", "Home > Kitchen > Coffee", {"pressure": "15 bar"}),
    ("p11", "Coffee grinder burr", "Baratza", "Home > Kitchen > Coffee", {"grind settings": "40"}),
    ("p12", "Wool hiking socks", "Smartwool", "Sport > Clothing > Socks", {"material": "merino wool"}),
]
QUERIES = [
    # query_id, text, segment, query_type, clicked products (clicks, purchases), test labels {pid: grade}
    ("q1", "frying pan", "head", "plain", {"p1": (8, 2), "p2": (5, 1)}, {"p1": 3, "p2": 3, "p3": 1}),
    ("q2", "running shoes", "head", "plain", {"p4": (6, 1), "p5": (4, 0)}, {"p4": 3, "p5": 2, "p12": 0}),
    ("q3", "headphones", "head", "plain", {"p7": (9, 3)}, {"p7": 3, "p8": 1}),
    ("q4", "coffee", "torso", "plain", {"p10": (3, 1), "p11": (2, 0)}, {"p10": 3, "p11": 2}),
    ("q5", "something to make espresso at home", "tail", "knowledge", {}, {"p10": 3, "p11": 2, "p1": 0}),
    ("q6", "shoes for a muddy trail run", "tail", "knowledge", {}, {"p5": 3, "p4": 1, "p12": 1}),
    ("q7", "cable", "torso", "plain", {"p9": (2, 0)}, {"p9": 3}),
    ("q8", "mat", "tail", "plain", {"p6": (1, 0)}, {"p6": 2}),
]


def all_texts() -> list[str]:
    from retrieval.product_text import product_text

    texts = [q[1] for q in QUERIES]
    for pid, title, brand, category, attributes in CATALOGUE:
        texts.append(product_text({"title": title, "brand": brand, "category": category, "attributes": attributes}))
    return texts


def make_dataset(name: str = "shop", *, test_labels: bool = True, train_labels: dict | None = None) -> Dataset:
    """The catalogue, queries, logs and (test) labels above as database rows."""
    dataset = DatasetFactory(name=name)
    products = {
        pid: ProductFactory(dataset=dataset, product_id=pid, title=title, brand=brand, category=category,
                            attributes=attributes)
        for pid, title, brand, category, attributes in CATALOGUE
    }
    for qid, text, segment, query_type, logs, labels in QUERIES:
        query = QueryFactory(dataset=dataset, query_id=qid, text=text, segment=segment, query_type=query_type,
                             frequency=sum(c for c, _ in logs.values()) * 10)
        for pid, (clicks, purchases) in logs.items():
            InteractionFactory(query=query, product=products[pid], impressions=clicks * 5, clicks=clicks,
                               purchases=purchases)
        if test_labels:
            for pid, grade in labels.items():
                QrelFactory(query=query, product=products[pid], grade=grade, split=Qrel.Split.TEST)
    for (qid, pid), grade in (train_labels or {}).items():
        QrelFactory(query=Query.objects.get(dataset=dataset, query_id=qid), product=products[pid], grade=grade,
                    split=Qrel.Split.TRAIN)
    return dataset


def tiny_encoder_folder(folder: Path, texts: list[str], *, seed: int = 0, hidden: int = 32) -> Path:
    """Save a random-weight 2-layer BERT and a WordPiece tokenizer trained on `texts` to `folder`."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=400, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tokenizer.train_from_iterator(texts, trainer=trainer)
    vocab_path = folder / "vocab.txt"
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
    vocab_path.write_text("\n".join(token for token, _ in vocab) + "\n", encoding="utf-8")
    BertTokenizerFast(vocab_file=str(vocab_path), do_lower_case=True).save_pretrained(str(folder))
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=hidden * 2, max_position_embeddings=128)
    BertModel(config).save_pretrained(str(folder))
    return folder
