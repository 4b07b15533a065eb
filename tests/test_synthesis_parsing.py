"""Parsing rewriter and judge output: lists in every shape, dedupe, caps, rewrites equal to the query."""
import pytest

from synthesis.judging.judges import parse_grade
from synthesis.mining import parse_type_tags
from synthesis.rewriter.parsing import (
    clean_rewrite,
    dedupe_rewrites,
    model_answer,
    parse_rewrites,
    parse_sampled_rewrites,
)


def test_numbered_list_with_preamble_gives_clean_rewrites():
    answer = "Here are some rewrites:\n1. Sulfate-free shampoo\n2) curl shampoo sulfate free.\n3 - \"co-wash\""
    assert parse_rewrites(answer, query="shampoo") == ["Sulfate-free shampoo", "curl shampoo sulfate free", "co-wash"]


def test_bullets_and_labels_are_stripped():
    answer = "- Rewrite: red trail shoes\n* Query 2: trail running shoes red\n• 'red sneakers'"
    assert parse_rewrites(answer, query="red shoes") == ["red trail shoes", "trail running shoes red", "red sneakers"]


def test_json_array_and_json_object_are_read():
    assert parse_rewrites('Sure! ["usb mug warmer", "heated mug"]', query="q") == ["usb mug warmer", "heated mug"]
    assert parse_rewrites('{"rewrites": ["a b", "c d"]}', query="q") == ["a b", "c d"]


def test_rewrites_equal_to_query_or_each_other_are_dropped_ignoring_case_and_punctuation():
    answer = "Running Shoes!\nrunning-shoes\ntrail runners\nTrail Runners"
    assert parse_rewrites(answer, query="running shoes") == ["trail runners"]


def test_length_caps_cut_long_rewrites_at_word_boundaries():
    long = " ".join(f"word{i}" for i in range(40))
    assert clean_rewrite(long, max_words=5) == "word0 word1 word2 word3 word4"
    capped = clean_rewrite("abcdefghij " * 20, max_chars=30, max_words=100)
    assert len(capped) <= 30 and not capped.endswith(" ")


def test_limit_keeps_the_first_n_and_rejects_nonsense():
    assert parse_rewrites("a1\nb2\nc3\nd4", query="q", limit=2) == ["a1", "b2"]
    with pytest.raises(ValueError):
        parse_rewrites("a", query="q", limit=0)


def test_sampled_answers_contribute_only_their_first_line():
    answers = ["red trail shoes\nI think this is great because", "red trail shoes", "", "trail sneakers red\n2. x"]
    assert parse_sampled_rewrites(answers, query="red shoes", limit=4) == ["red trail shoes", "trail sneakers red"]


SPECIAL = ["<|im_start|>", "<|im_end|>", "<|endoftext|>"]


@pytest.mark.parametrize("decoded, answer", [
    # SmolLM2 seen doing this for 17% of its answers in the demo: it opens a new assistant turn first
    ("<|im_start|>assistant\nwireless coffee machine<|im_end|><|im_end|>", "wireless coffee machine"),
    ("assistant\nwireless coffee machine", "wireless coffee machine"),  # the same with special tokens skipped
    ("manual grinder<|im_end|>\n<|im_start|>assistant\nsomething else", "manual grinder"),
    ("<|im_start|>assistant\n<|im_end|>", ""),
    ("pour over kettle\nassistant", "pour over kettle\nassistant"),  # only a leading header is a header
])
def test_model_answer_drops_a_turn_header_the_model_opened_and_stops_at_special_tokens(decoded, answer):
    assert model_answer(decoded, SPECIAL) == answer


def test_dedupe_keeps_first_spelling():
    assert dedupe_rewrites(["Mug Warmer", "mug warmer", "", "mug"], query="MUG") == ["Mug Warmer"]


@pytest.mark.parametrize("answer, grade", [
    ('{"grade": 2}', 2), ("Grade: 3", 3), ("0 - irrelevant", 0), ('{"score": 1.0}', 1), ("I cannot tell", None),
    ("grade 7", None), ("3.5 stars", None),
])
def test_grades_are_read_from_json_or_a_lone_digit(answer, grade):
    assert parse_grade(answer) == grade


def test_type_tags_keep_known_types_with_the_reason():
    answer = 'Result: {"types": ["Negation", "spam", "qa"], "reason": "excludes sulfates"}'
    assert parse_type_tags(answer, allowed=["negation", "qa"]) == [("negation", "excludes sulfates"),
                                                                   ("qa", "excludes sulfates")]
    assert parse_type_tags("no json here", allowed=["qa"]) == []


def test_numbers_that_belong_to_the_rewrite_are_kept():
    assert parse_rewrites("2-pack aa batteries\n1.5 inch binder", query="q") == ["2-pack aa batteries", "1.5 inch binder"]
