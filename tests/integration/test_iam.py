"""IAM on the embedded stack: each function runs with credentials derived from its role
in the translated template.yaml, and moto enforces them, so a missing permission fails
here as it would in AWS. What moto cannot judge (DynamoDB, Secrets Manager and SNS
resources, IAM's own action names) the stack checks itself: every AWS call a function
makes is recorded and checked against its role (edgepub.embedded.iam; tests/conftest.py
does it after every test that starts a stack)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner
from edgepub.cli import cli
from edgepub.embedded.stack import EmbeddedStack

pytestmark = pytest.mark.embedded

ROOT = Path(__file__).resolve().parents[2]


def role_block(text: str, role: str) -> tuple[int, int]:
    """Where a role's resource is in template.yaml's text: from its name to the next resource."""
    start = text.index(f"\n  {role}:\n")
    end = text.index("\n\n  ", start + 1)
    return start, end


def without(role: str, old: str, new: str) -> Callable[[str], str]:
    """An edit of template.yaml: `old` replaced by `new` inside one role's statements."""

    def edit(text: str) -> str:
        start, end = role_block(text, role)
        block = text[start:end]
        assert block.count(old) == 1, f"{old!r} is not in {role} once"
        return text[:start] + block.replace(old, new) + text[end:]

    return edit


@contextmanager
def stack_from(tmp_path: Path, edit: Callable[[str], str]) -> Iterator[EmbeddedStack]:
    """The embedded stack of an edited copy of template.yaml (the functions' code as it is)."""
    text = (ROOT / "template.yaml").read_text(encoding="utf-8")
    edited = edit(text)
    assert edited != text
    (tmp_path / "template.yaml").write_text(edited, encoding="utf-8")
    for folder in ("functions", "layers"):
        (tmp_path / folder).symlink_to(ROOT / folder, target_is_directory=True)
    with EmbeddedStack.start(template=tmp_path / "template.yaml") as stack:
        stack.run_until_idle()  # the s3:TestEvent of the stack's creation
        yield stack


class Records(logging.Handler):
    """The functions' log records (their Powertools Logger is the `edgepub` logger)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def errors(self) -> list[str]:
        return [r.getMessage() for r in self.records if r.levelno >= logging.ERROR]


def site_keys(stack: EmbeddedStack) -> set[str]:
    return {o["Key"] for o in stack.s3.list_objects_v2(Bucket=stack.site_bucket).get("Contents", [])}


def put(stack: EmbeddedStack, name: str, body: bytes) -> None:
    stack.s3.put_object(Bucket=stack.sources_bucket, Key=f"content/{name}", Body=body)


PAGE_WRITE = (
    "Action: [s3:PutObject, s3:DeleteObject, s3:GetObject]\n"
    '                Resource: !Sub "arn:${AWS::Partition}:s3:::${SiteBucket}/*"'
)


def test_a_call_the_role_does_not_allow_is_refused_and_the_failure_lands_where_operators_look(tmp_path):
    # the publish role without s3:PutObject on the site bucket
    edit = without("PublishFunctionRole", PAGE_WRITE, PAGE_WRITE.replace("s3:PutObject, ", ""))
    with stack_from(tmp_path, edit) as stack:
        logged = Records()
        logging.getLogger("edgepub").addHandler(logged)
        try:
            put(stack, "refused.md", b"---\ntitle: Refused\ndate: 2026-11-01\n---\nNever written.\n")
            stack.run_until_idle()
        finally:
            logging.getLogger("edgepub").removeHandler(logged)
        assert "refused/index.html" not in site_keys(stack)
        # the function's error log: the source, the refusal, and its fate
        failures = [m for m in logged.errors() if m.startswith("publish failed for content/refused.md")]
        assert len(failures) == 5, logged.errors()
        assert all("AccessDenied" in m and "PutObject" in m for m in failures)
        assert "that was the last try (5 of 5)" in failures[-1]
        # the dead-letter queue, as `edgepub dlq list` shows it
        listed = CliRunner().invoke(cli, ["dlq", "list", "--json"], env=stack.settings_env())
        assert listed.exit_code == 0, listed.output
        assert [m["source_keys"] for m in json.loads(listed.output)["messages"]] == [["content/refused.md"]]
        # moto refused it; the recorded calls say the same
        assert any("may not s3:PutObject on arn:aws:s3:::" in v for v in stack.iam_violations())
        stack.recorder.forget()  # seen: the conftest check is for unexpected violations


def test_what_moto_cannot_judge_is_caught_by_the_recorded_calls(tmp_path):
    # the scheduler role without Query on the table's indexes: moto judges DynamoDB by action
    # only, so the job runs, but its query of ByTransition is not allowed by the role
    due = (
        "              - Sid: DueQueries\n"
        "                Effect: Allow\n"
        "                Action: dynamodb:Query\n"
        "                Resource:\n"
        '                  - !Sub "${ArticlesTable.Arn}/index/ByReview"\n'
        '                  - !Sub "${ArticlesTable.Arn}/index/ByTransition"\n'
    )
    with stack_from(tmp_path, without("SchedulerFunctionRole", due, "")) as stack:
        result = stack.run_schedule("SchedulerFunctionTransitions")
        assert result["dry_run"] is False  # moto let it through
        found = stack.iam_violations()
        assert any(
            v.startswith("SchedulerFunctionRole may not dynamodb:Query on ")
            and v.split(" (called")[0].endswith("/index/ByTransition")
            for v in found
        ), found
        stack.recorder.forget()


def test_every_call_of_every_function_is_allowed_by_its_role(stack):
    """Each function's paths that reach AWS, run once: the recorded calls all pass the check."""
    stack.run_until_idle()
    put(stack, "alpha.md", b"---\ntitle: Alpha\ndate: 2026-10-01\ntags: [caching]\n---\nFirst.\n")
    put(stack, "beta.md", b"---\ntitle: Beta\ndate: 2026-10-02\ntags: [caching]\n---\nBeta.\n")
    put(stack, "gamma.md", b"---\ntitle: Gamma\ndate: 2026-10-03\n---\nGamma.\n")
    put(stack, "broken.md", b"---\ntitle: [\n---\nx\n")
    put(stack, "still-broken.md", b"---\ntitle: [\n---\nx\n")
    put(stack, "later.md", b"---\ntitle: Later\ndate: 2026-10-04\npublishDate: 2030-01-01T00:00:00Z\n---\nx\n")
    stack.run_until_idle()
    put(stack, "broken.md", b"---\ntitle: Fixed\ndate: 2026-10-05\n---\nFixed.\n")  # its report is deleted
    put(stack, "alpha.md", b"---\ntitle: Alpha\ndate: 2026-10-01\ntags: [caching]\n---\nSecond.\n")
    stack.s3.delete_object(Bucket=stack.sources_bucket, Key="content/gamma.md")
    stack.run_until_idle()
    keys = site_keys(stack)
    assert {"alpha/index.html", "beta/index.html", "broken/index.html"} <= keys and "gamma/index.html" not in keys
    # a slug handed over: delta asks for beta's slug while beta holds it, and gets it once beta is deleted
    put(stack, "delta.md", b"---\ntitle: Delta\ndate: 2026-10-06\nslug: beta\n---\nWaited.\n")
    stack.run_until_idle()
    stack.s3.delete_object(Bucket=stack.sources_bucket, Key="content/beta.md")
    stack.run_until_idle()
    page = stack.s3.get_object(Bucket=stack.site_bucket, Key="beta/index.html")["Body"].read()
    assert b"Waited." in page

    # scheduled jobs: a scheduled article published (rendered from its source version), the
    # freshness report stored and its notification sent, drift checked and listed
    stack.run_schedule("SchedulerFunctionTransitions", now="2030-01-01T00:01:00+00:00")
    freshness = stack.run_schedule("SchedulerFunctionFreshnessReport")
    assert freshness["notified"] is True
    stack.run_schedule("SchedulerFunctionDriftRepair", batch=1000)
    stack.run_schedule("SchedulerFunctionDriftRepair", batch=1000)
    stack.run_until_idle()
    assert "later/index.html" in site_keys(stack)

    # every operator action, in the ops function
    sqs = stack.client("sqs")
    sqs.send_message(QueueUrl=stack.outputs["PurgeDLQUrl"], MessageBody=json.dumps({"urls": [], "tags": []}))
    for payload in (
        {"action": "status", "slug": "alpha"},
        {"action": "status", "slug": "content/still-broken.md"},
        {"action": "rollback", "slug": "alpha"},
        {"action": "republish", "slugs": ["alpha"]},
        {"action": "purge", "urls": ["https://www.example.com/alpha/"]},
        {"action": "reconcile"},
        {"action": "unpublish", "slug": "beta"},
        {"action": "dlq_list", "queue": "publish"},
        {"action": "dlq_redrive", "queue": "purge"},
    ):
        result = stack.invoke("OpsFunction", payload)
        assert "error" not in result, (payload, result)
    stack.run_until_idle()

    assert stack.iam_violations() == []
    made = stack.recorder.operations
    # the calls the roles' statements are there for were made, and checked
    assert {
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
        "sqs:ReceiveMessage",
        "sqs:SendMessageBatch",
        "dynamodb:DeleteItem",  # the handover: delta stopped waiting for the slug
    } <= made["PublishFunctionRole"]
    assert {"secretsmanager:GetSecretValue", "dynamodb:PutItem", "sqs:ReceiveMessage"} <= made["PurgeFunctionRole"]
    assert {"dynamodb:Query", "sns:Publish", "s3:ListObjectsV2", "s3:HeadObject", "s3:PutObject"} <= made[
        "SchedulerFunctionRole"
    ]
    assert {
        "s3:ListObjectVersions",
        "s3:CopyObject",
        "s3:ListObjectsV2",
        "secretsmanager:GetSecretValue",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessageBatch",
    } <= made["OpsFunctionRole"]


def test_the_operator_keeps_administrator_credentials(stack):
    """The CLI and the tests act as the operator: moto checks them too, and lets them do anything."""
    env = stack.settings_env()
    assert env["AWS_ACCESS_KEY_ID"] == stack.recorder.credentials["operator"][0]
    assert all(env["AWS_ACCESS_KEY_ID"] != key for key, _ in (stack.recorder.credentials[r] for r in stack.policies))
    stack.client("iam").list_users()  # nothing a function role may do
