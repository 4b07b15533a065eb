"""The curation pipeline on hand-made cases: union, judging against the original, threshold, cap, incremental."""
import pytest

from synthesis.pipeline import (
    CurationSettings,
    curate_query,
    select_pairs,
    union_candidates,
)


def fake_retriever(results: dict[str, list[int]]):
    calls = []

    def retrieve_many(texts, k):
        calls.append((list(texts), k))
        return [results.get(text, [])[:k] for text in texts]

    return retrieve_many, calls


def fake_judge(scores: dict[int, float]):
    seen = []

    def judge(query, pks):
        seen.append((query, list(pks)))
        return [scores[pk] for pk in pks]

    return judge, seen


def test_union_records_which_rewrites_found_each_product():
    union = union_candidates(original=[1, 2], by_rewrite={"a": [2, 3, 3], "b": [3]})
    assert sorted(union) == [1, 2, 3]
    assert union[1].found_by_original and union[1].rewrites == []
    assert union[2].found_by_original and union[2].rewrites == ["a"]
    assert not union[3].found_by_original and union[3].rewrites == ["a", "b"]


def test_products_are_judged_against_the_original_query_not_the_rewrite():
    retrieve, calls = fake_retriever({"orig": [1], "rw one": [2], "rw two": [3]})
    judge, seen = fake_judge({1: 0.9, 2: 0.8, 3: 0.1})
    result = curate_query(query_pk=7, query_text="orig", rewrites=["rw one", "rw two"], retrieve_many=retrieve,
                          judge_products=judge, baseline_top=[], logged=[], settings=CurationSettings(retrieve_k=50))
    assert calls == [(["orig", "rw one", "rw two"], 50)]
    assert [query for query, _ in seen] == ["orig"]
    assert [p.product_pk for p in result.pairs] == [1, 2]
    assert result.candidates == 3 and result.judged == 3
    assert result.kept_per_rewrite == {"rw one": 1, "rw two": 0}
    assert result.retrieved_per_rewrite == {"rw one": 1, "rw two": 1}


def test_threshold_keeps_scores_at_or_above_it():
    retrieve, _ = fake_retriever({"q": [1, 2, 3]})
    judge, _ = fake_judge({1: 0.5, 2: 0.49, 3: 1.0})
    result = curate_query(query_pk=1, query_text="q", rewrites=[], retrieve_many=retrieve, judge_products=judge,
                          baseline_top=[], logged=[], settings=CurationSettings(threshold=0.5))
    assert [p.product_pk for p in result.pairs] == [3, 1]


def test_cap_keeps_the_best_scored_products():
    retrieve, _ = fake_retriever({"q": [1, 2, 3, 4]})
    judge, _ = fake_judge({1: 0.6, 2: 0.9, 3: 0.7, 4: 0.95})
    result = curate_query(query_pk=1, query_text="q", rewrites=[], retrieve_many=retrieve, judge_products=judge,
                          baseline_top=[], logged=[], settings=CurationSettings(max_pairs_per_query=2))
    assert [(p.product_pk, p.score) for p in result.pairs] == [(4, 0.95), (2, 0.9)]


def test_incremental_means_missing_from_the_baseline_top_k():
    retrieve, _ = fake_retriever({"q": [1], "rw": [2, 3]})
    judge, _ = fake_judge({1: 0.9, 2: 0.9, 3: 0.9})
    result = curate_query(query_pk=1, query_text="q", rewrites=["rw"], retrieve_many=retrieve, judge_products=judge,
                          baseline_top=[1, 3], logged=[], settings=CurationSettings())
    flags = {p.product_pk: p.incremental for p in result.pairs}
    assert flags == {1: False, 2: True, 3: False}
    assert {p.product_pk: p.found_by_original for p in result.pairs} == {1: True, 2: False, 3: False}


def test_pairs_already_in_the_logs_are_dropped_before_judging_unless_asked_to_keep_them():
    retrieve, _ = fake_retriever({"q": [1, 2]})
    judge, seen = fake_judge({1: 0.9, 2: 0.9})
    result = curate_query(query_pk=1, query_text="q", rewrites=[], retrieve_many=retrieve, judge_products=judge,
                          baseline_top=[], logged=[1], settings=CurationSettings())
    assert [p.product_pk for p in result.pairs] == [2] and seen[-1][1] == [2] and result.dropped_logged == 1
    kept = curate_query(query_pk=1, query_text="q", rewrites=[], retrieve_many=retrieve, judge_products=judge,
                        baseline_top=[], logged=[1], settings=CurationSettings(drop_logged=False))
    assert [p.product_pk for p in kept.pairs] == [1, 2]


def test_ties_prefer_products_found_by_more_rewrites():
    union = union_candidates(original=[5], by_rewrite={"a": [9], "b": [9]})
    pairs = select_pairs(candidates=union, scores={5: 0.8, 9: 0.8}, baseline_top=[], threshold=0.5, cap=1)
    assert [p.product_pk for p in pairs] == [9] and pairs[0].rewrites == ("a", "b")


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        CurationSettings(threshold=1.5)
    with pytest.raises(ValueError):
        CurationSettings(max_pairs_per_query=0)
