"""Importing native dataset bundles: every bad row named as file:line, all or nothing, idempotent re-import."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from retrieval.bundles import write_bundle
from retrieval.importers.segments import SegmentRule, assign_segments
from retrieval.importers.services import ImportRejected, import_dataset
from retrieval.models import Dataset, Interaction, Product, Qrel, Query
from jobs.services import job_start
from jobs.models import Job

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent


def good_bundle(folder: Path, *, name: str = "shop") -> Path:
    return write_bundle(
        folder,
        manifest={"name": name, "description": "a small shop", "license": "CC0",
                  "grade_scale": {"3": "exact", "0": "irrelevant"}},
        products=[
            {"product_id": "P1", "title": "Cast iron skillet", "brand": "Lodge", "category": "Home > Kitchen > Pans",
             "price": 29.9, "attributes": {"material": "cast iron"}, "description": "Seasoned."},
            {"product_id": "P2", "title": "Chef knife", "category": ["Home", "Kitchen", "Knives"], "price": "54.5"},
            {"product_id": "P3", "title": "Oven mitt"},
        ],
        queries=[
            {"query_id": "q1", "text": "skillet", "frequency": 900},
            {"query_id": "q2", "text": "knife", "frequency": 90, "query_type": "plain"},
            {"query_id": "q3", "text": "pan that survives a campfire", "query_type": "knowledge"},
            {"query_id": "q4", "text": "mitts", "frequency": 10, "segment": "torso"},
        ],
        interactions=[
            {"query_id": "q1", "product_id": "P1", "impressions": 800, "clicks": 300, "purchases": 40},
            {"query_id": "q2", "product_id": "P2", "impressions": 80, "clicks": 20, "purchases": 2},
        ],
        qrels=[
            {"query_id": "q3", "product_id": "P1", "grade": 3, "split": "test"},
            {"query_id": "q3", "product_id": "P3", "grade": 0, "split": "test"},
            {"query_id": "q1", "product_id": "P1", "grade": 3, "split": "train"},
        ],
    )


def row_counts() -> tuple[int, ...]:
    return tuple(m.objects.count() for m in (Dataset, Product, Query, Interaction, Qrel))


def run_import(path: Path, *args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_bundle", str(path), "--no-progress", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def rejected_lines(path: Path, *args: str) -> list[str]:
    """Run the command on a broken bundle; return the printed bad rows (the command must fail)."""
    err = StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command("import_bundle", str(path), "--no-progress", *args, stdout=StringIO(), stderr=err)
    assert "nothing was written" in str(excinfo.value)
    return err.getvalue().splitlines()


def edit_lines(file: Path, edit) -> None:
    lines = file.read_text(encoding="utf-8").splitlines()
    file.write_text("\n".join(edit(lines)) + "\n", encoding="utf-8")


@pytest.fixture
def existing_data(tmp_path):
    """A data set already in the database, so that "unchanged" means something."""
    run_import(good_bundle(tmp_path / "existing", name="existing"))
    return row_counts()


def test_valid_bundle_imports_every_row_with_its_fields(tmp_path):
    out, _ = run_import(good_bundle(tmp_path / "b"))

    dataset = Dataset.objects.get(name="shop")
    assert (dataset.description, dataset.license, dataset.source_format) == ("a small shop", "CC0", "bundle")
    assert row_counts() == (1, 3, 4, 2, 3)
    skillet = Product.objects.get(dataset=dataset, product_id="P1")
    assert (skillet.title, skillet.brand, skillet.category, skillet.price) == (
        "Cast iron skillet", "Lodge", "Home > Kitchen > Pans", Decimal("29.90"))
    assert skillet.attributes == {"material": "cast iron"}
    assert Product.objects.get(product_id="P2").category == "Home > Kitchen > Knives"
    assert Product.objects.get(product_id="P3").price is None
    log = Interaction.objects.get(query__query_id="q1")
    assert (log.product.product_id, log.impressions, log.clicks, log.purchases) == ("P1", 800, 300, 40)
    assert Qrel.objects.get(query__query_id="q1").split == "train"
    assert Query.objects.get(query_id="q3").query_type == "knowledge"
    assert "products: 3 new, 0 updated" in out


def test_segment_is_derived_from_frequency_unless_given(tmp_path):
    run_import(good_bundle(tmp_path / "b"))
    segments = dict(Query.objects.values_list("query_id", "segment"))
    # traffic 900 + 90 + 10 = 1000: q1 starts at 0 % (head), q2 at 90 % (tail); q3 has no logs (tail);
    # q4 says torso itself.
    assert segments == {"q1": "head", "q2": "tail", "q3": "tail", "q4": "torso"}


def test_segment_thresholds_can_replace_the_traffic_share_rule(tmp_path):
    run_import(good_bundle(tmp_path / "b"), "--head-min-frequency", "500", "--torso-min-frequency", "50")
    assert dict(Query.objects.values_list("query_id", "segment")) == {
        "q1": "head", "q2": "torso", "q3": "tail", "q4": "torso"}


def test_traffic_share_rule_gives_equal_frequencies_the_same_segment():
    frequencies = {"a": 50, "b": 20, "c": 20, "d": 5, "e": 5, "f": None, "g": 0}
    segments = assign_segments(frequencies=frequencies, needed=frequencies, rule=SegmentRule())
    # total 100: a starts at 0 % -> head; b and c start at 50 % -> torso; d and e start at 90 % -> tail.
    assert segments == {"a": "head", "b": "torso", "c": "torso", "d": "tail", "e": "tail", "f": "tail", "g": "tail"}


def test_segment_rule_refuses_inconsistent_settings():
    with pytest.raises(ValueError, match="head_share <= torso_share"):
        SegmentRule(head_share=0.9, torso_share=0.5)
    with pytest.raises(ValueError, match="give both"):
        SegmentRule(head_min_frequency=10)


def test_reimport_updates_changed_rows_and_never_duplicates(tmp_path):
    folder = good_bundle(tmp_path / "b")
    run_import(folder)
    before = row_counts()

    out, _ = run_import(folder)
    assert row_counts() == before
    assert "products: 0 new, 3 updated" in out

    edit_lines(folder / "catalog.jsonl", lambda lines: [
        line.replace("Chef knife", "Chef knife 20 cm") for line in lines
    ] + [json.dumps({"product_id": "P4", "title": "Whetstone"})])
    edit_lines(folder / "qrels.tsv", lambda lines: [line.replace("q3\tP3\t0", "q3\tP3\t2") for line in lines])
    out, _ = run_import(folder)

    assert row_counts() == (before[0], before[1] + 1, *before[2:])
    assert Product.objects.get(product_id="P2").title == "Chef knife 20 cm"
    assert Qrel.objects.get(query__query_id="q3", product__product_id="P3").grade == 2
    assert "products: 1 new, 3 updated" in out


@pytest.mark.parametrize(
    "break_bundle, expected",
    [
        pytest.param(
            lambda d: edit_lines(d / "qrels.tsv", lambda ls: [ls[0].replace("\tsplit", "")] +
                                 [line.rsplit("\t", 1)[0] for line in ls[1:]]),
            ["qrels.tsv:1: missing required column 'split'"], id="missing-column"),
        pytest.param(
            lambda d: edit_lines(d / "catalog.jsonl",
                                 lambda ls: ls + [json.dumps({"product_id": "P1", "title": "x"})]),
            ["catalog.jsonl:4: duplicate product_id 'P1' (first seen on line 1)"], id="duplicate-id"),
        pytest.param(
            lambda d: edit_lines(d / "interactions.tsv", lambda ls: ls + ["q1\tP404\t5\t1\t0"]),
            ["interactions.tsv:4: unknown product_id 'P404' (not in catalog.jsonl)"], id="dangling-product"),
        pytest.param(
            lambda d: edit_lines(d / "qrels.tsv", lambda ls: ls + ["q2\tP2\t7\ttest"]),
            ["qrels.tsv:5: bad grade '7' (expected an integer 0-3)"], id="bad-grade"),
        pytest.param(
            lambda d: (d / "catalog.jsonl").write_bytes(
                (d / "catalog.jsonl").read_bytes() + '{"product_id": "P9", "title": "Caf\xe9 cup"}\n'.encode("cp1252")),
            ["catalog.jsonl:4: not valid UTF-8 (byte 0xe9 at column 35)"], id="wrong-encoding"),
        pytest.param(lambda d: (d / "queries.jsonl").write_bytes(b""), ["queries.jsonl:1: empty file"],
                     id="empty-file"),
        pytest.param(lambda d: (d / "catalog.jsonl").unlink(), ["catalog.jsonl: file not found"],
                     id="missing-file"),
    ],
)
def test_broken_bundle_names_the_bad_row_and_changes_nothing(tmp_path, existing_data, break_bundle, expected):
    folder = good_bundle(tmp_path / "broken")
    break_bundle(folder)

    assert rejected_lines(folder) == expected
    assert row_counts() == existing_data


def test_every_bad_row_is_reported_in_file_order(tmp_path, existing_data):
    folder = good_bundle(tmp_path / "broken")
    edit_lines(folder / "catalog.jsonl", lambda ls: ls + ['{"product_id": "P7", "title": ', '["a list"]',
                                                          json.dumps({"product_id": "P8"}),
                                                          json.dumps({"product_id": "P9", "title": "t", "price": "cheap"})])
    edit_lines(folder / "queries.jsonl", lambda ls: ls + [
        json.dumps({"query_id": "q5", "text": "x", "segment": "middle"}),
        json.dumps({"query_id": "q6", "text": "y", "frequency": -2}),
    ])
    edit_lines(folder / "interactions.tsv", lambda ls: ls + ["q1\tP2\t5\t9\t0", "q1\tP3\tmany\t1\t0",
                                                             "q404\tP1\t1\t0\t0", "q1\tP1\t1\t1\t1"])
    edit_lines(folder / "qrels.tsv", lambda ls: ls + ["q1\tP2\t1\tdev", "q1\tP3\t1", "q5\tP1\t2\ttest"])

    assert rejected_lines(folder) == [
        "catalog.jsonl:4: malformed JSON: Expecting value (column 31)",
        "catalog.jsonl:5: expected a JSON object, got a list",
        "catalog.jsonl:6: missing required field 'title'",
        "catalog.jsonl:7: price must be a non-negative number, got 'cheap'",
        "queries.jsonl:5: bad segment 'middle' (expected head, torso or tail)",
        "queries.jsonl:6: frequency must be a non-negative integer, got '-2'",
        "interactions.tsv:4: clicks (9) > impressions (5)",
        "interactions.tsv:5: impressions must be a non-negative integer, got 'many'",
        "interactions.tsv:6: unknown query_id 'q404' (not in queries.jsonl)",
        "interactions.tsv:7: duplicate (query_id, product_id) ('q1', 'P1') (first seen on line 2)",
        "qrels.tsv:5: bad split 'dev' (expected train or test)",
        "qrels.tsv:6: expected 4 fields, found 3",
        # q5 is in queries.jsonl (with a bad segment): its label is not also reported as dangling.
    ]
    assert row_counts() == existing_data


def test_failed_reimport_keeps_the_previous_import_intact(tmp_path):
    folder = good_bundle(tmp_path / "b")
    run_import(folder)
    before = row_counts()
    edit_lines(folder / "catalog.jsonl", lambda ls: [ls[0].replace("Cast iron skillet", "Renamed")] + ls[1:])
    edit_lines(folder / "qrels.tsv", lambda ls: ls + ["q2\tP2\t9\ttest"])

    assert rejected_lines(folder) == ["qrels.tsv:5: bad grade '9' (expected an integer 0-3)"]
    assert row_counts() == before
    assert Product.objects.get(product_id="P1").title == "Cast iron skillet"


def test_printed_bad_rows_are_capped_with_a_count_of_the_rest(tmp_path):
    folder = good_bundle(tmp_path / "b")
    edit_lines(folder / "qrels.tsv", lambda ls: ls + [f"q2\tP{i}\t1\ttest" for i in range(100, 160)])

    lines = rejected_lines(folder)
    assert len(lines) == 51
    assert lines[0] == "qrels.tsv:5: unknown product_id 'P100' (not in catalog.jsonl)"
    assert lines[-1] == "... and 10 more"
    assert row_counts() == (0, 0, 0, 0, 0)


def test_command_exits_non_zero_and_prints_the_rows(tmp_path):
    folder = good_bundle(tmp_path / "b")
    edit_lines(folder / "qrels.tsv", lambda ls: ls + ["q2\tP2\tx\ttest"])
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}", "DEBUG": "true"}
    result = subprocess.run([sys.executable, "manage.py", "import_bundle", str(folder), "--no-progress"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "qrels.tsv:5: bad grade 'x' (expected an integer 0-3)" in result.stderr
    assert "import rejected: 1 problem; nothing was written" in result.stderr


def test_name_option_and_folder_name_choose_the_dataset(tmp_path):
    folder = good_bundle(tmp_path / "Spring Catalogue")
    (folder / "bundle.json").unlink()
    run_import(folder)
    run_import(folder, "--name", "Second Copy")
    assert sorted(Dataset.objects.values_list("name", flat=True)) == ["second-copy", "spring-catalogue"]
    assert Product.objects.count() == 6  # ids are unique per dataset, not globally


def test_progress_callback_sees_validation_then_writing_up_to_the_total(tmp_path):
    calls = []
    import_dataset(path=good_bundle(tmp_path / "b"), progress=lambda *call: calls.append(call))
    stages = [stage for stage, _, _ in calls]
    assert stages.index("write") > 0 and set(stages[: stages.index("write")]) == {"validate"}
    assert calls[-1] == ("write", 12, 12)  # 3 products + 4 queries + 2 interactions + 3 qrels


def test_rejection_keeps_the_problems_for_callers(tmp_path):
    folder = good_bundle(tmp_path / "b")
    edit_lines(folder / "qrels.tsv", lambda ls: ls + ["q2\tP2\t5\ttest"])
    with pytest.raises(ImportRejected) as excinfo:
        import_dataset(path=folder)
    assert excinfo.value.problem_count == 1
    assert str(excinfo.value.problems[0]) == "qrels.tsv:5: bad grade '5' (expected an integer 0-3)"


def test_import_job_reports_progress_and_counts(tmp_path, admin_user):
    job = job_start(kind="import", config={"path": str(good_bundle(tmp_path / "b"))},
                    user=admin_user)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert (job.done, job.total) == (12, 12)
    assert job.counts == {"products": 3, "queries": 4, "interactions": 2, "qrels": 3}
    assert job.result["dataset"] == "shop"
    assert row_counts() == (1, 3, 4, 2, 3)


def test_rejected_import_job_fails_with_the_bad_rows(tmp_path, admin_user):
    folder = good_bundle(tmp_path / "b")
    edit_lines(folder / "interactions.tsv", lambda ls: ls + ["q1\tP404\t5\t1\t0"])
    job = job_start(kind="import", config={"path": str(folder)}, user=admin_user)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert "interactions.tsv:4: unknown product_id 'P404' (not in catalog.jsonl)" in job.error
    assert row_counts() == (0, 0, 0, 0, 0)


@pytest.mark.django_db(transaction=True)
def test_cancelling_an_import_while_it_writes_rolls_everything_back(tmp_path, monkeypatch):
    """The cancel flag is read at each progress report of the write stage (on PostgreSQL through a connection
    of its own, so the Job row is not locked by the import's transaction); a cancel undoes the whole import."""
    from jobs.services import JobContext, run_job
    from retrieval.importers.services import import_bundle_work

    original_stage = JobContext.stage

    def stage_then_cancel(self, name, total=0):
        original_stage(self, name, total)
        if name == "writing":
            Job.objects.filter(pk=self.job.pk).update(cancel_requested=True)

    monkeypatch.setattr(JobContext, "stage", stage_then_cancel)
    job = Job.objects.create(kind="import", task_name="jobs.import",
                             config={"path": str(good_bundle(tmp_path / "b"))})
    run_job(job.pk, import_bundle_work)

    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED
    assert row_counts() == (0, 0, 0, 0, 0)


def test_terminal_progress_shows_a_bar_per_stage(tmp_path):
    from retrieval.importers.progress import TerminalProgress

    stream = StringIO()
    progress = TerminalProgress(stream=stream, disable=False)
    import_dataset(path=good_bundle(tmp_path / "b"), progress=progress)
    progress.close()
    shown = stream.getvalue()
    assert "validating" in shown and "writing" in shown
    assert "12/12" in shown


def test_entities_are_decoded_once_at_import(tmp_path):
    """Catalogue text is stored as a shopper reads it, so no page decodes at display time; markup in a title stays
    text (pages escape it), a description loses its tags."""
    folder = write_bundle(
        tmp_path / "b", manifest={"name": "entities"},
        products=[{"product_id": "P1", "title": "Kessler &amp; Vane  <b>pan</b>", "brand": "Kessler &amp; Vane",
                   "category": ["Home &amp; Garden", "Pans"], "description": "<p>Pots &amp; pans&nbsp;&ndash; cast</p>",
                   "attributes": {"maker": "Kessler &amp; Vane"}}],
        queries=[{"query_id": "q1", "text": "kessler &amp; vane pan"}],
    )
    run_import(folder)
    product = Product.objects.get()
    assert (product.title, product.brand) == ("Kessler & Vane <b>pan</b>", "Kessler & Vane")
    assert (product.category, product.description) == ("Home & Garden > Pans", "Pots & pans – cast")
    assert product.attributes == {"maker": "Kessler & Vane"}
    assert Query.objects.get().text == "kessler & vane pan"
