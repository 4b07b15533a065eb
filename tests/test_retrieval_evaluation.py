"""Offline evaluation: the library-computed metrics match a hand-computed example; only `test` labels count."""
import pytest

from retrieval.evaluation import aggregate, metrics_table, per_query_metrics, qrels_for_test_split


def test_metrics_match_a_hand_computed_example():
    qrels = {
        # q1: two relevant (grade 3 and 2), one grade-1, one grade-0 label
        "q1": {"a": 3, "b": 2, "c": 1, "d": 0},
        # q2: one relevant item (grade 2) that the system finds at rank 3
        "q2": {"x": 2, "y": 0},
        # q3: nothing relevant: left out (recall would be undefined)
        "q3": {"z": 1},
    }
    run = {
        "q1": ["c", "a", "e", "b"] + [f"u{i}" for i in range(10)],  # a at rank 2, b at rank 4
        "q2": ["y", "w", "x"],
        "q3": ["z"],
    }
    per_query = per_query_metrics(qrels=qrels, run=run)
    assert set(per_query) == {"q1", "q2"}
    q1, q2 = per_query["q1"], per_query["q2"]
    assert q1["Recall@10"] == pytest.approx(1.0)
    assert q1["MRR@10"] == pytest.approx(1 / 2)
    assert q1["ItemGoodRate@10"] == pytest.approx(2 / 10)
    assert q1["Judged@10"] == pytest.approx(3 / 10)  # c, a, b are labelled; e and u* are not
    assert q1["QueryGoodRate@10"] == 1.0  # a grade-3 item in the top 10
    # nDCG@10 with gains = grades and log2(rank + 1) discounts:
    # DCG = 1/log2(2) + 3/log2(3) + 2/log2(5); ideal = 3 + 2/log2(3) + 1/log2(4)
    import math
    dcg = 1 / math.log2(2) + 3 / math.log2(3) + 2 / math.log2(5)
    ideal = 3 / math.log2(2) + 2 / math.log2(3) + 1 / math.log2(4)
    assert q1["nDCG@10"] == pytest.approx(dcg / ideal, abs=1e-4)
    assert q2["MRR@10"] == pytest.approx(1 / 3)
    assert q2["ItemGoodRate@10"] == pytest.approx(1 / 10)
    assert q2["QueryGoodRate@10"] == 0.0  # one grade-2 item only
    assert q2["Judged@10"] == pytest.approx(2 / 3)  # of the 3 returned, y and x are labelled
    report = aggregate(per_query, {"segment": {"q1": "head", "q2": "tail"}})
    assert report["all"]["MRR@10"] == pytest.approx((1 / 2 + 1 / 3) / 2, abs=1e-4)
    assert report["all"]["queries"] == 2
    assert report["segment"]["tail"]["QueryGoodRate@10"] == 0.0
    assert report["segment"]["head"]["queries"] == 1


def test_rank_order_is_kept_exactly_and_a_missing_run_scores_zero():
    qrels = {"q1": {"b": 2}, "q2": {"k": 3}}
    per_query = per_query_metrics(qrels=qrels, run={"q1": ["a", "b"]})
    assert per_query["q1"]["MRR@10"] == pytest.approx(0.5)  # not reordered by id
    assert per_query["q2"]["Recall@100"] == 0.0 and per_query["q2"]["nDCG@10"] == 0.0


def test_two_good_items_make_a_good_query():
    per_query = per_query_metrics(qrels={"q": {"a": 2, "b": 2}}, run={"q": ["a", "b"]})
    assert per_query["q"]["QueryGoodRate@10"] == 1.0


@pytest.mark.django_db
def test_train_labels_never_reach_the_evaluation():
    from tests.retrieval_factories import make_dataset

    dataset = make_dataset(train_labels={("q5", "p3"): 3})
    qrels = qrels_for_test_split(dataset=dataset)
    q5 = str(dataset.queries.get(query_id="q5").pk)
    p3 = str(dataset.products.get(product_id="p3").pk)
    assert p3 not in qrels[q5]
    assert sum(len(v) for v in qrels.values()) == 18  # the test labels of the factory


def test_markdown_table_has_a_row_per_system_and_columns_per_segment():
    report = {"all": {"nDCG@10": 0.5, "queries": 4}, "segment": {"head": {"nDCG@10": 0.75, "queries": 2}}}
    table = metrics_table([("bm25", report)], metrics=("nDCG@10",))
    lines = table.splitlines()
    assert lines[0] == "| system | all nDCG@10 | head nDCG@10 | tail nDCG@10 | all n | head n | tail n |"
    assert lines[2] == "| bm25 | 0.500 | 0.750 | - | 4 | 2 | 0 |"
