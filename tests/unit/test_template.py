"""template.yaml is the one description of the deployed system: check the
promises it makes (secure buckets, least privilege, retries and DLQ) on the
template as SAM transforms it. No AWS and no server needed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from edgepub.embedded.template import load_sam_template, package_and_transform

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    sam = load_sam_template(ROOT / "template.yaml")
    return package_and_transform(sam, ROOT, lambda key, data: f"s3://artifacts/{key}")


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def test_every_bucket_blocks_public_access_and_is_encrypted(template):
    buckets = resources(template, "AWS::S3::Bucket")
    assert set(buckets) >= {"SourcesBucket", "SiteBucket"}
    for name, bucket in buckets.items():
        props = bucket["Properties"]
        assert all(props["PublicAccessBlockConfiguration"].values()), name
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"], name
        assert props["OwnershipControls"]["Rules"][0]["ObjectOwnership"] == "BucketOwnerEnforced", name


def test_site_bucket_is_versioned_for_rollback(template):
    assert template["Resources"]["SiteBucket"]["Properties"]["VersioningConfiguration"]["Status"] == "Enabled"


def test_every_bucket_policy_denies_plain_http(template):
    policies = resources(template, "AWS::S3::BucketPolicy")
    assert len(policies) == len(resources(template, "AWS::S3::Bucket"))
    for policy in policies.values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s.get("Effect") == "Deny" and s["Condition"]["Bool"]["aws:SecureTransport"] == "false"
            for s in statements
            if isinstance(s, dict) and "Condition" in s
        )


def test_function_roles_grant_no_wildcard_actions(template):
    roles = resources(template, "AWS::IAM::Role")
    assert roles
    for name, role in roles.items():
        for policy in role["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                if statement.get("Effect") != "Allow":
                    continue
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                assert not any(a == "*" or a.endswith(":*") for a in actions), (name, actions)


def test_publish_queue_has_dlq_and_visibility_six_times_the_timeout(template):
    queue = template["Resources"]["PublishQueue"]["Properties"]
    function = template["Resources"]["PublishFunction"]["Properties"]
    assert queue["RedrivePolicy"]["maxReceiveCount"] >= 3
    assert queue["VisibilityTimeout"] >= 6 * function["Timeout"]


def test_every_queue_mapping_reports_partial_batch_failures_and_limits_concurrency(template):
    mappings = resources(template, "AWS::Lambda::EventSourceMapping")
    assert len(mappings) == 2
    for mapping in mappings.values():
        assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert mapping["Properties"]["ScalingConfig"]["MaximumConcurrency"] == 2


def test_purge_queue_batches_a_burst_and_has_a_dlq_alarm(template):
    mapping = template["Resources"]["PurgeFunctionPurgeRequests"]["Properties"]
    assert mapping["BatchSize"] >= 100 and mapping["MaximumBatchingWindowInSeconds"] > 0
    queue = template["Resources"]["PurgeQueue"]["Properties"]
    assert queue["VisibilityTimeout"] >= 6 * template["Resources"]["PurgeFunction"]["Properties"]["Timeout"]
    alarm = template["Resources"]["PurgeDLQAlarm"]["Properties"]
    assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["PurgeDLQ", "QueueName"]}


def test_the_purge_function_can_carry_a_remainder_to_its_own_queue(template):
    env = template["Resources"]["PurgeFunction"]["Properties"]["Environment"]["Variables"]
    assert env["EDGEPUB_PURGE_QUEUE_URL"] == {"Ref": "PurgeQueue"}
    assert env["EDGEPUB_PURGE_MAX_HOLD_SECONDS"] == {"Ref": "PurgeMaxHoldSeconds"}
    # the carry is delayed a little less than the window, so it joins the next batch
    window = template["Resources"]["PurgeFunctionPurgeRequests"]["Properties"]["MaximumBatchingWindowInSeconds"]
    assert 0 < int(env["EDGEPUB_PURGE_CARRY_DELAY_SECONDS"]) < window
    statements = [
        statement
        for policy in template["Resources"]["PurgeFunctionRole"]["Properties"]["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
    ]
    assert any("sqs:SendMessage" in str(s["Action"]) and "PurgeQueue" in str(s["Resource"]) for s in statements)


def test_only_the_purge_function_can_read_the_cloudflare_token(template):
    readers = [
        name
        for name, role in resources(template, "AWS::IAM::Role").items()
        if "secretsmanager:GetSecretValue" in str(role["Properties"].get("Policies", []))
    ]
    # the purge function, and the ops function for an operator's explicit purge
    assert sorted(readers) == ["OpsFunctionRole", "PurgeFunctionRole"]


def test_functions_run_python_313_on_arm64_with_the_layer(template):
    for name, function in resources(template, "AWS::Lambda::Function").items():
        props = function["Properties"]
        assert props["Runtime"] == "python3.13", name
        assert props["Architectures"] == ["arm64"], name
        assert props["Layers"], name
        assert props["TracingConfig"]["Mode"] == "Active", name


def test_no_secret_value_in_the_template():
    import re

    text = (ROOT / "template.yaml").read_text()
    assert not re.search(r"^\s+SecretString:", text, re.M)
    assert "GenerateSecretString" in text  # a random placeholder until the operator sets the token


@pytest.mark.parametrize(("queue", "function"), [("PublishQueue", "PublishFunction"), ("PurgeQueue", "PurgeFunction")])
def test_each_function_knows_its_queues_receive_limit_to_say_when_a_failure_was_the_last_try(template, queue, function):
    limit = template["Resources"][queue]["Properties"]["RedrivePolicy"]["maxReceiveCount"]
    env = template["Resources"][function]["Properties"]["Environment"]["Variables"]
    name = f"EDGEPUB_{queue.removesuffix('Queue').upper()}_MAX_RECEIVE_COUNT"
    assert int(env[name]) == limit


def test_the_ops_function_may_read_and_delete_only_the_two_dead_letter_queues(template):
    env = template["Resources"]["OpsFunction"]["Properties"]["Environment"]["Variables"]
    assert env["EDGEPUB_PUBLISH_DLQ_URL"] == {"Ref": "PublishDLQ"}
    assert env["EDGEPUB_PURGE_DLQ_URL"] == {"Ref": "PurgeDLQ"}
    statements = [
        statement
        for policy in template["Resources"]["OpsFunctionRole"]["Properties"]["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
    ]
    dlq = [s for s in statements if "DLQ" in str(s["Resource"])]
    assert len(dlq) == 1
    assert sorted(dlq[0]["Action"]) == ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:ReceiveMessage"]
    assert dlq[0]["Resource"] == [{"Fn::GetAtt": ["PublishDLQ", "Arn"]}, {"Fn::GetAtt": ["PurgeDLQ", "Arn"]}]
    # sending back: SendMessage on the two source queues and on nothing else
    senders = [s for s in statements if "sqs:SendMessage" in str(s["Action"])]
    assert senders and all("PublishQueue" in str(s["Resource"]) or "PurgeQueue" in str(s["Resource"]) for s in senders)
    assert not any("DLQ" in str(s["Resource"]) for s in senders)
