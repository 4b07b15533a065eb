"""The OpenAI-compatible backend (the `openai` SDK) against a real local HTTP server: retries with backoff,
timeouts, concurrency, parsing."""
import json
import time

import pytest

from core.llm import ChatClient, ChatEndpointError
from synthesis.judging.judges import LLMJudge
from synthesis.rewriter.backends import OpenAIRewriter, load_rewriter

from .synthesis_support import ChatServer, last_user_message


def test_busy_endpoint_is_retried_with_backoff_until_it_answers():
    with ChatServer(lambda payload: "ok", fail_first=2).running() as server:
        client = ChatClient(base_url=server.base_url, model="m", api_key="secret", retries=3)
        started = time.monotonic()
        assert client.complete([{"role": "user", "content": "hi"}]) == ["ok"]
        assert time.monotonic() - started >= 0.5  # the SDK backed off between tries (0.5 s, then 1 s, with jitter)
    assert len(server.requests) == 3
    assert server.requests[-1]["auth"] == "Bearer secret"
    assert server.requests[-1]["body"]["model"] == "m"


def test_endpoint_that_stays_down_raises_a_clear_error():
    with ChatServer(lambda payload: "ok", fail_first=100).running() as server:
        client = ChatClient(base_url=server.base_url, model="m", retries=1)
        with pytest.raises(ChatEndpointError, match="503"):
            client.complete([{"role": "user", "content": "hi"}])
    assert len(server.requests) == 2


def test_slow_endpoint_times_out():
    with ChatServer(lambda payload: "late", delay=1.0).running() as server:
        client = ChatClient(base_url=server.base_url, model="m", timeout=0.2, retries=0)
        with pytest.raises(ChatEndpointError, match="failed after retries"):
            client.complete([{"role": "user", "content": "hi"}])


def test_concurrency_limit_bounds_requests_in_flight_and_keeps_order():
    with ChatServer(lambda payload: last_user_message(payload).upper(), delay=0.15).running() as server:
        client = ChatClient(base_url=server.base_url, model="m", concurrency=3)
        answers = client.complete_many([[{"role": "user", "content": f"q{i}"}] for i in range(9)])
    assert answers == [[f"Q{i}"] for i in range(9)]
    assert server.in_flight_max == 3


def test_missing_settings_are_explained():
    with pytest.raises(ValueError, match="base URL"):
        ChatClient(base_url="", model="m")


def test_openai_rewriter_asks_for_n_rewrites_and_cleans_them():
    def answer(payload):
        query = last_user_message(payload).split("\n")[0].removeprefix("Query: ")
        return json.dumps([query, f"{query} deluxe", f"{query} deluxe", "budget " + query, "x", "y"])

    with ChatServer(answer).running() as server:
        rewriter = OpenAIRewriter(client=ChatClient(base_url=server.base_url, model="big", concurrency=2))
        result = rewriter.rewrite(["mug warmer", "trail shoes"], 3)
    assert result == [["mug warmer deluxe", "budget mug warmer", "x"], ["trail shoes deluxe", "budget trail shoes", "x"]]
    prompt = server.requests[0]["body"]["messages"]
    assert prompt[0]["role"] == "system" and len(prompt) > 3  # few-shot examples precede the query
    assert "Give 3 rewrites" in prompt[-1]["content"]


def test_load_rewriter_builds_the_openai_backend_from_settings(settings):
    settings.OPENAI_BASE_URL, settings.OPENAI_MODEL = "http://127.0.0.1:9/v1", "served-model"
    rewriter = load_rewriter(backend="openai")
    assert rewriter.describe()["model"] == "served-model"
    with pytest.raises(ValueError, match="Unknown rewriter backend"):
        load_rewriter(backend="carrier-pigeon")


def test_llm_judge_turns_grades_into_scores_and_counts_unreadable_answers():
    grades = {"Sulfate free curl shampoo": '{"grade": 3}', "Shampoo with SLS": "1", "Garden hose": "no idea"}

    def answer(payload):
        product = last_user_message(payload).split("Product: ")[1]
        return grades[product]

    with ChatServer(answer).running() as server:
        judge = LLMJudge(client=ChatClient(base_url=server.base_url, model="judge"))
        scores = judge.score("sulfate free shampoo", list(grades))
    assert scores == [1.0, pytest.approx(1 / 3), 0.0]
    assert judge.unparsed == 1
    assert "Query: sulfate free shampoo" in server.requests[0]["body"]["messages"][-1]["content"]
