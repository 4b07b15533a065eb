"""Mining long-tail queries and tagging their knowledge-intensive types with reasons."""
import pytest

from synthesis.mining import MiningCriteria, mine_queries, tag_query_rules

from .synthesis_support import ChatServer, make_catalogue


def types_of(text):
    return {tag.type: tag.reason for tag in tag_query_rules(text)}


@pytest.mark.parametrize("text, expected", [
    ("shampoo without sulfates", {"negation"}),
    ("gluten-free birthday cake", {"negation", "knowledge"}),
    ("how do i clean suede shoes", {"qa"}),
    ("is this mug dishwasher safe?", {"qa"}),
    ("cheaper alternative to airpods", {"alternative"}),
    ("something instead of plastic wrap", {"alternative"}),
    ("tent and sleeping bag", {"multi_intent"}),
    ("gift for a dad who likes fishing", {"knowledge"}),
    ("shoes for hiking in snow", {"knowledge"}),
])
def test_rules_tag_the_expected_types(text, expected):
    assert expected <= set(types_of(text))


def test_plain_product_queries_get_no_tag_and_demographics_are_not_knowledge():
    assert types_of("red running shoes") == {}
    assert "knowledge" not in types_of("running shoes for men")


def test_every_tag_says_why():
    reasons = types_of("shampoo without sulfates")
    assert "without" in reasons["negation"]


@pytest.mark.django_db
def test_mining_takes_tail_queries_or_those_with_few_clicks():
    dataset, _, queries = make_catalogue()
    tail = mine_queries(dataset=dataset, criteria=MiningCriteria(segments=("tail",)))
    assert {m.query_pk for m in tail} == {queries[q].pk for q in ("q1", "q2", "q3")}
    few_clicks = mine_queries(dataset=dataset, criteria=MiningCriteria(segments=("tail",), max_clicks=5))
    assert {m.query_pk for m in few_clicks} == {queries[q].pk for q in ("q1", "q2", "q3", "q5")}
    assert {m.query_pk: m.clicks for m in few_clicks}[queries["q5"].pk] == 1


@pytest.mark.django_db
def test_type_filter_and_limit_are_applied_deterministically():
    dataset, _, queries = make_catalogue()
    negations = mine_queries(dataset=dataset, criteria=MiningCriteria(types=("negation",)))
    assert [m.query_pk for m in negations] == [queries["q1"].pk]
    first = mine_queries(dataset=dataset, criteria=MiningCriteria(limit=2, seed=3))
    again = mine_queries(dataset=dataset, criteria=MiningCriteria(limit=2, seed=3))
    assert len(first) == 2 and [m.query_pk for m in first] == [m.query_pk for m in again]


def test_unknown_types_and_empty_criteria_are_refused():
    with pytest.raises(ValueError, match="Unknown query types"):
        MiningCriteria(types=("poetry",))
    with pytest.raises(ValueError):
        MiningCriteria(segments=(), max_clicks=None)


@pytest.mark.django_db
def test_llm_tagger_adds_tags_with_the_models_reason():
    from core.llm import ChatClient

    dataset, _, queries = make_catalogue()

    def answer(payload):
        text = payload["messages"][-1]["content"]
        if "coffee" in text:
            return '{"types": ["knowledge", "qa"], "reason": "needs to know mug warmers exist"}'
        return '{"types": [], "reason": "plain"}'

    with ChatServer(answer).running() as server:
        client = ChatClient(base_url=server.base_url, model="tagger", concurrency=2)
        mined = mine_queries(dataset=dataset, criteria=MiningCriteria(), llm_client=client)
    coffee = next(m for m in mined if m.query_pk == queries["q3"].pk)
    llm_tags = {t.type: t.reason for t in coffee.tags if t.source == "llm"}
    assert llm_tags == {"knowledge": "needs to know mug warmers exist", "qa": "needs to know mug warmers exist"}
    assert any(t.source == "rules" and t.type == "qa" for t in coffee.tags)


def test_a_type_found_by_several_taggers_is_shown_once_with_every_reason():
    from synthesis.selectors import tag_types

    tags = [{"type": "qa", "reason": "query_type in the imported data", "source": "import"},
            {"type": "knowledge", "reason": "needs product knowledge", "source": "llm"},
            {"type": "qa", "reason": "starts with the question word 'how'", "source": "rules"}]
    assert tag_types(tags) == [
        {"type": "qa",
         "reasons": "query_type in the imported data (import); starts with the question word 'how' (rules)"},
        {"type": "knowledge", "reasons": "needs product knowledge (llm)"}]
    assert tag_types([]) == []
