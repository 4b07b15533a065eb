"""The docs test: every example the README and docs/ show runs or answers as written, on a small demo-like
database (the demo's own accounts, a campaign with items, a retriever version, a job and a synthesis job).

The examples are read from the markdown (tests/docs_examples.py), so a new one is checked without touching this
file: URL paths resolve and answer a signed-in admin (200, after the redirects a page makes by design; `/api/`
ones in the format asked for, JSON by default), `manage.py` commands exist and accept the arguments shown (the
pasteable `api_token` lines run), the token-then-curl example downloads, `make` targets exist, repository paths
exist, bench scripts accept the flags shown (`--help`), `celery -A` lines name the app, subcommand, options and
queues that exist, and the Configuration table names variables that config/settings.py reads, with its defaults.
"""
from __future__ import annotations

import ast
import io
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import import_module
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from django.core.management import call_command, get_commands, load_command_class
from django.core.management.base import BaseCommand, CommandError
from django.urls import Resolver404, URLResolver, get_resolver, resolve, reverse

from . import docs_examples as docs

PLACEHOLDER = re.compile(r"<[^>/]+>|\{[^}/]+\}|\.\.\.")
EXPECTED_API_TYPE = {"json": "application/json", "csv": "text/csv", "jsonl": "application/x-ndjson"}


# ------------------------------------------------------------------------------------------------ the demo world


@dataclass
class World:
    ids: dict  # the collection a placeholder follows ("synthesis/jobs/") -> the id to put in its place
    params: dict  # query parameter -> the value an empty / "..." / numeric-id one gets


@pytest.fixture
def world(db, settings, tmp_path, monkeypatch) -> World:
    from demo.users import demo_users_ensure
    from jobs.models import Job
    from retrieval.models import Product

    from .sbs_factories import install_fake_retrieval, make_campaign, make_item

    settings.VAR_DIR = tmp_path  # the demo's logins file
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    demo_users_ensure()  # admin, analyst, annotator1-3: the accounts the docs' examples may name
    campaign = make_campaign()
    items = [make_item(campaign=campaign) for _ in range(3)]
    version = campaign.system_a
    product_pks = list(Product.objects.filter(dataset=version.dataset).values_list("pk", flat=True))
    install_fake_retrieval(monkeypatch, {(version.name, items[0].query_text): product_pks[:5]})
    job = Job.objects.create(kind="retriever_build", task_name="jobs.retriever_build", queue="ml",
                             status=Job.Status.SUCCEEDED, config={"version_id": version.pk, "version": version.name})
    synthesis = Job.objects.create(kind="synthesis", task_name="jobs.synthesis", queue="ml",
                                   status=Job.Status.RUNNING, config={})
    return World(
        ids={"campaigns/": campaign.pk, "synthesis/jobs/": synthesis.pk, "jobs/": job.pk,
             "retrievers/": version.pk, "items/": items[0].token, "leaderboard/": version.dataset.name},
        params={"campaign": campaign.pk, "job": synthesis.pk, "dataset": version.dataset_id,
                "version": version.name, "q": items[0].query_text},
    )


def concrete_urls(url: str, world: World) -> list[str]:
    """The URL with its placeholders replaced by real ids, once per alternative of an `a|b` query value."""
    parts = urlsplit(url)
    path = parts.path
    for match in reversed(list(PLACEHOLDER.finditer(path))):
        before = path[:match.start()]
        collection = max((c for c in world.ids if before.endswith("/" + c)), key=len, default=None)
        if collection is None:
            raise AssertionError(f"no object for the placeholder {match.group()!r} in {url}: add its collection "
                                 "to the world fixture in tests/test_docs.py")
        path = before + str(world.ids[collection]) + path[match.end():]
    queries: list[list[tuple[str, str]]] = [[]]
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in world.params and (not value or PLACEHOLDER.fullmatch(value) or value.isdigit()):
            value = str(world.params[key])
        queries = [query + [(key, choice)] for query in queries for choice in value.split("|")]
    return [path + (f"?{urlencode(query)}" if query else "") for query in queries]


def is_mount_point(path: str) -> bool:
    """`/api/`: the prefix an include() mounts (the docs say "under `/api/`"), not a page of its own."""
    return any(isinstance(entry, URLResolver) and str(entry.pattern) == path.lstrip("/")
               for entry in get_resolver().url_patterns)


def expected_type(query: str) -> str:
    """The content type an `/api/` answer has for `?format=` (JSON when none is asked)."""
    asked = dict(parse_qsl(query)).get("format", "json")
    return EXPECTED_API_TYPE.get(asked, asked)


def view_class(match):
    return getattr(match.func, "cls", None) or getattr(match.func, "view_class", None)


def serves_the_schema(response, client) -> bool:
    """The schema itself, or an HTML viewer that points at it (in the page or in a script of its own)."""
    body = response.content.decode()
    if body.startswith("openapi:") or '"openapi"' in body[:200]:
        return True
    scripts = re.findall(r'<script src="(/api/[^"]*)"', body)
    return reverse("api-schema") in body + "".join(client.get(src).content.decode() for src in scripts)


def url_problem(example: docs.UrlExample, url: str, client) -> str | None:
    path, _, query = url.partition("?")
    try:
        match = resolve(path)
    except Resolver404:
        return None if is_mount_point(path) and not query else "does not resolve"
    if example.method != "GET":
        actions = getattr(match.func, "actions", None)
        method = example.method.lower()
        allowed = method in actions if actions is not None else hasattr(view_class(match), method)
        return None if allowed else f"{match.view_name} does not take {example.method}"
    response = client.get(url, follow=True)
    final = f"{response.status_code}" + (f" after redirects to {response.redirect_chain[-1][0]}"
                                         if response.redirect_chain else "")
    if response.status_code != 200:
        return f"answers {final}"
    if path.startswith("/api/"):
        content_type = response.headers.get("Content-Type", "")
        cls = view_class(resolve(urlsplit(response.request["PATH_INFO"]).path))
        if cls is not None and cls.__module__.startswith("drf_spectacular"):  # the schema and its two viewers
            return None if serves_the_schema(response, client) else "is neither the OpenAPI schema nor a viewer of it"
        wanted = expected_type(query)
        if not content_type.startswith(wanted):
            return f"answers {content_type!r}, not {wanted}"
    return None


def test_every_url_the_docs_show_answers_a_signed_in_admin(client, world):
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.get(username="admin"))
    examples = docs.url_examples()
    assert len(examples) >= 10, "the docs' URLs were not found: is tests/docs_examples.py still reading them?"
    problems = []
    for example in examples:
        for url in concrete_urls(example.url, world):
            problem = url_problem(example, url, client)
            if problem:
                problems.append(f"{example.where}: {example.method} {example.url} ({url}) {problem}")
    assert not problems, "URLs in the docs that do not answer:\n  " + "\n  ".join(problems)


# ------------------------------------------------------------------------------------------ manage.py commands


def command_parser(name: str):
    app = get_commands()[name]
    command = app if isinstance(app, BaseCommand) else load_command_class(app, name)
    return command.create_parser("manage.py", name)


def test_every_manage_command_exists_and_accepts_the_arguments_shown():
    examples = docs.command_examples()
    assert examples, "no `manage.py` examples found in the docs"
    commands, problems = get_commands(), []
    for example in examples:
        name, *args = example.argv
        if name not in commands:
            problems.append(f"{example.where}: no command {name!r}")
            continue
        if example.kind == "span" and not args:
            continue  # the command named in prose ("### Import (`manage.py import_bundle`)")
        try:
            command_parser(name).parse_args(args)
        except (CommandError, SystemExit) as exc:
            problems.append(f"{example.where}: manage.py {' '.join(example.argv)}: {exc}")
    assert not problems, "manage.py examples that would fail:\n  " + "\n  ".join(problems)


def test_the_pasteable_api_token_commands_run_on_the_demo_accounts(world):
    ran = 0
    for example in docs.command_examples():
        if example.kind == "code" and example.argv[0] == "api_token":
            try:
                call_command(*example.argv, stdout=io.StringIO(), stderr=io.StringIO())
            except CommandError as exc:
                pytest.fail(f"{example.where}: manage.py {' '.join(example.argv)}: {exc}")
            ran += 1
    assert ran, "no pasteable `manage.py api_token` line found in the docs"


def test_the_token_then_curl_examples_download_what_they_say(client, world):
    examples = docs.token_curl_examples()
    assert examples, "no `TOKEN=$(... api_token issue USER)` + curl example found in the docs"
    for example in examples:
        out = io.StringIO()
        call_command("api_token", "issue", example.username, stdout=out, stderr=io.StringIO())
        for url in concrete_urls(example.url, world):
            response = client.get(url, HTTP_AUTHORIZATION=f"Token {out.getvalue().strip()}")
            wanted = expected_type(urlsplit(url).query)
            assert response.status_code == 200, f"{example.where}: {url} as {example.username}: {response.status_code}"
            assert response.headers["Content-Type"].startswith(wanted), f"{example.where}: {url}"


# ------------------------------------------------------------------------------- make, paths, bench, celery


def test_every_make_target_shown_exists_in_the_makefile():
    makefile = (docs.ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([A-Za-z][\w.-]*)\s*:(?!=)", makefile, re.M))
    missing = [f"{where}: make {target}" for where, target in docs.make_targets() if target not in targets]
    assert not missing, f"targets not in the Makefile ({sorted(targets)}):\n  " + "\n  ".join(missing)


def test_every_repository_path_shown_exists():
    paths = docs.repo_paths()
    assert any(path.startswith("bench/") for _, path in paths), "no bench/ path found in the docs"
    missing = [f"{where}: {path}" for where, path in paths if not (docs.ROOT / path).exists()]
    assert not missing, "paths in the docs that are not in the repository:\n  " + "\n  ".join(missing)


def script_help(script: str) -> tuple[int, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "DJANGO_ENV_FILE": ""}
    done = subprocess.run([sys.executable, script, "--help"], cwd=docs.ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    return done.returncode, done.stdout + done.stderr


def test_every_bench_script_shown_runs_help_and_takes_the_flags_shown():
    examples = docs.bench_examples()
    scripts = sorted({example.script for example in examples if (docs.ROOT / example.script).is_file()})
    assert scripts, "no bench script found in the docs"
    with ThreadPoolExecutor(max_workers=4) as pool:
        helps = dict(zip(scripts, pool.map(script_help, scripts)))
    problems = [f"{script} --help exits {code}: {text[-500:]}" for script, (code, text) in helps.items() if code]
    for example in examples:
        text = helps.get(example.script, (0, ""))[1]
        for flag, value in example.flags:
            if not re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text):
                problems.append(f"{example.where}: {example.script} has no {flag}")
                continue
            choices = re.search(rf"(?<![\w-]){re.escape(flag)} \{{([^}}]*)\}}", text)
            if choices and value is not None and value not in choices.group(1).split(","):
                problems.append(f"{example.where}: {example.script} {flag} takes {{{choices.group(1)}}}, not {value}")
    assert not problems, "bench examples that would fail:\n  " + "\n  ".join(problems)


def test_every_celery_line_names_the_app_options_and_queues_that_exist():
    from celery import Celery
    from celery.bin.celery import celery as celery_cli

    from jobs.registry import QUEUES

    lines = docs.celery_lines()
    assert lines, "no `celery -A` line found in the docs"
    problems = []
    for where, argv in lines:
        assert argv[0] == "-A", where
        module, subcommand, *rest = argv[1:]
        if not isinstance(getattr(import_module(module), "app", None), Celery):
            problems.append(f"{where}: {module} has no Celery `app`")
        if subcommand not in celery_cli.commands:
            problems.append(f"{where}: celery has no {subcommand!r} command")
            continue
        options = {opt for param in celery_cli.commands[subcommand].params for opt in param.opts + param.secondary_opts}
        problems += [f"{where}: celery {subcommand} has no {word}" for word in rest
                     if word.startswith("-") and word not in options]
        if "-Q" in rest:
            problems += [f"{where}: no job kind uses the queue {queue!r} (queues: {QUEUES})"
                         for queue in rest[rest.index("-Q") + 1].split(",") if queue not in QUEUES]
    assert not problems, "celery lines that would fail:\n  " + "\n  ".join(problems)


# ------------------------------------------------------------------------------------------------ configuration


def settings_env_reads() -> dict[str, ast.expr | None]:
    """Every variable config/settings.py reads (env.str("X", default=...), env.db("X"), os.environ.get("X", d))
    -> the default expression, or None."""
    tree = ast.parse((docs.ROOT / "config" / "settings.py").read_text())
    reads: dict[str, ast.expr | None] = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)):
            continue
        source = ast.unparse(node.func)
        if source.startswith("env") or source in {"os.environ.get", "os.getenv"}:
            default = next((kw.value for kw in node.keywords if kw.arg == "default"),
                           node.args[1] if len(node.args) > 1 else None)
            reads[node.args[0].value] = default
    return reads


def shown_default(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return str(value)


def literal(node: ast.expr | None):
    """The value of a default made of constants only (`6 * 3600`, a list of strings); `...` when it is not."""
    if node is None or not all(isinstance(n, (ast.Constant, ast.List, ast.Tuple, ast.BinOp, ast.UnaryOp,
                                               ast.operator, ast.unaryop, ast.Load)) for n in ast.walk(node)):
        return ...
    return eval(compile(ast.Expression(node), "<default>", "eval"), {"__builtins__": {}})  # constants only


def test_every_configuration_variable_is_read_by_settings_with_the_default_shown():
    rows = docs.configuration_rows()
    assert len(rows) >= 5, "the README's Configuration table was not found"
    reads, problems = settings_env_reads(), []
    for row in rows:
        problems += [f"{row.where}: config/settings.py does not read {name}" for name in row.names
                     if name not in reads]
        defaults = [part.strip() for part in re.split(r",\s+(?![^()]*\))", row.default)]
        if len(defaults) != len(row.names):
            defaults = [row.default] * len(row.names) if len(row.names) == 1 or row.default == "empty" else []
        for name, written in zip(row.names, defaults):
            token = re.fullmatch(r"(?:`([^`]*)`|(empty)|(\d+)(?: \w+)?)(?: \(.*\))?", written)  # a (note) may follow
            actual = literal(reads.get(name))
            if token and actual is not ... and name in reads:
                shown = token.group(1) if token.group(1) is not None else (token.group(3) or "")
                if shown != shown_default(actual):
                    problems.append(f"{row.where}: {name} defaults to {shown_default(actual)!r}, not {shown!r}")
    assert not problems, "Configuration table rows that are wrong:\n  " + "\n  ".join(problems)


# -------------------------------------------------------------------------------------------- the reader itself


def test_the_reader_finds_each_kind_of_example(tmp_path, monkeypatch):
    page = tmp_path / "docs" / "x.md"
    page.parent.mkdir()
    page.write_text("# T\n\nSee `GET /api/things/{id}/` and `/jobs/`, or http://127.0.0.1:8000/sbs/.\n\n"
                    "## Bench (`bench/b.py --alpha 1`)\n\nThen `--beta\nx` and `make web`; `/usr/bin/chromium`.\n\n"
                    "```bash\nTOKEN=$(.venv/bin/python manage.py api_token issue analyst)\n"
                    "curl -H \"Authorization: Token $TOKEN\" \\\n  \"http://127.0.0.1:8000/api/x?a=1\"   # note\n"
                    ".venv/bin/python manage.py import_bundle DIR [--format esci]\n```\n")
    (tmp_path / "README.md").write_text("")
    (tmp_path / "bench").mkdir()
    monkeypatch.setattr(docs, "ROOT", tmp_path)
    assert {(e.method, e.url) for e in docs.url_examples()} == {
        ("GET", "/api/things/{id}/"), ("GET", "/jobs/"), ("GET", "/sbs/"), ("GET", "/api/x?a=1")}
    assert [(e.script, e.flags) for e in docs.bench_examples()] == [
        ("bench/b.py", (("--alpha", "1"),)), ("bench/b.py", (("--beta", "x"),))]
    assert [e.argv for e in docs.command_examples()] == [
        ("api_token", "issue", "analyst"), ("import_bundle", "DIR", "--format", "esci")]
    assert [target for _, target in docs.make_targets()] == ["web"]
    assert [(e.username, e.url, e.where) for e in docs.token_curl_examples()] == [
        ("analyst", "/api/x?a=1", "docs/x.md:12")]
    assert [path for _, path in docs.repo_paths()] == ["bench/b.py"]
