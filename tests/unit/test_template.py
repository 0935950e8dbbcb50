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
    # publishers commit one at a time (three keep the lease busy); two purgers share the plan's limits
    concurrency = {name: m["Properties"]["ScalingConfig"]["MaximumConcurrency"] for name, m in mappings.items()}
    assert concurrency == {"PublishFunctionSourceChanges": 3, "PurgeFunctionPurgeRequests": 2}


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


# -- least privilege and failure paths ---------------------------------------------------

FUNCTIONS = ("PublishFunction", "PurgeFunction", "SchedulerFunction", "OpsFunction")


def statements(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    return [
        s
        for policy in template["Resources"][role]["Properties"]["Policies"]
        for s in policy["PolicyDocument"]["Statement"]
    ]


def grants(template: dict[str, Any], role: str) -> list[tuple[str, str]]:
    """(action, resource as written) for every Allow of a role."""
    out = []
    for s in statements(template, role):
        actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        resources = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
        out += [(a, str(r)) for a in actions for r in resources if s["Effect"] == "Allow"]
    return out


def test_each_function_runs_with_its_own_role_and_no_managed_policy(template):
    for name in FUNCTIONS:
        role = template["Resources"][name]["Properties"]["Role"]
        assert role == {"Fn::GetAtt": [f"{name}Role", "Arn"]}, name
        props = template["Resources"][f"{name}Role"]["Properties"]
        # SAM's managed policies would grant SQS receive/delete on every queue, CreateLogGroup everywhere
        assert not props.get("ManagedPolicyArns"), name


def test_no_role_grants_on_every_resource_but_x_ray(template):
    for name in FUNCTIONS:
        for action, resource in grants(template, f"{name}Role"):
            assert resource != "*" or action.startswith("xray:"), (name, action)


def test_rejection_reports_are_the_publish_roles_only_writes_to_the_sources_bucket(template):
    writes = [(a, r) for a, r in grants(template, "PublishFunctionRole") if a in ("s3:PutObject", "s3:DeleteObject")]
    sources = [r for _, r in writes if "-sources-" in r]
    assert sources and all(r.endswith("/rejected/*'}") for r in sources), sources
    # deleted when a later upload is accepted (S3SourceStore.delete_report)
    assert any(a == "s3:DeleteObject" and "/rejected/*" in r for a, r in writes)


def test_no_role_writes_sources_under_content(template):
    """A function that could create content/* objects could trigger publishes."""
    whole_bucket = "-sources-${AWS::AccountId}-${AWS::Region}/*'}"
    for name in FUNCTIONS:
        for action, resource in grants(template, f"{name}Role"):
            if action.startswith(("s3:Put", "s3:Delete")):
                assert "/content/" not in resource and not resource.endswith(whole_bucket), (name, action, resource)


def test_the_ops_role_lists_page_versions_for_status_and_rollback(template):
    assert ("s3:ListBucketVersions", "{'Fn::Sub': 'arn:${AWS::Partition}:s3:::${SiteBucket}'}") in grants(
        template, "OpsFunctionRole"
    )


def test_no_role_changes_acls_or_lifecycle_rules(template):
    for name in FUNCTIONS:
        actions = {a for a, _ in grants(template, f"{name}Role")}
        # a lifecycle rule could expire the page versions rollback relies on
        assert not actions & {"s3:PutObjectAcl", "s3:PutLifecycleConfiguration", "s3:PutBucketAcl"}, name


def test_queues_are_received_from_only_by_their_own_function(template):
    expected = {
        "PublishFunctionRole": {"PublishQueue"},
        "PurgeFunctionRole": {"PurgeQueue"},
        "SchedulerFunctionRole": set(),
        "OpsFunctionRole": {"PublishDLQ", "PurgeDLQ"},
    }
    for role, queues in expected.items():
        received = {r for a, r in grants(template, role) if a in ("sqs:ReceiveMessage", "sqs:DeleteMessage")}
        assert received == {str({"Fn::GetAtt": [q, "Arn"]}) for q in queues}, role


def test_only_the_scheduler_queries_the_tables_indexes(template):
    for name in FUNCTIONS:
        indexes = {r for a, r in grants(template, f"{name}Role") if "/index/" in r}
        assert bool(indexes) == (name == "SchedulerFunction"), name


def test_every_function_has_a_log_group_with_retention_and_an_errors_alarm(template):
    for name in FUNCTIONS:
        group = template["Resources"][template["Resources"][name]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]]
        assert group["Type"] == "AWS::Logs::LogGroup"
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        alarms = [
            a["Properties"]
            for a in resources(template, "AWS::CloudWatch::Alarm").values()
            if a["Properties"]["MetricName"] == "Errors"
            and a["Properties"]["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": name}}]
        ]
        assert len(alarms) == 1, name
    for alarm in resources(template, "AWS::CloudWatch::Alarm").values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_a_failed_scheduled_job_lands_in_the_scheduler_dlq(template):
    config = template["Resources"]["SchedulerFunctionEventInvokeConfig"]["Properties"]
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["SchedulerDLQ", "Arn"]}
    # Lambda sends it with the function's role
    dlq = str({"Fn::GetAtt": ["SchedulerDLQ", "Arn"]})
    assert ("sqs:SendMessage", dlq) in grants(template, "SchedulerFunctionRole")


def test_the_table_and_the_token_outlive_the_stack(template):
    for name in ("ArticlesTable", "CloudflareApiToken"):
        resource = template["Resources"][name]
        assert resource["DeletionPolicy"] == "Retain" and resource["UpdateReplacePolicy"] == "Retain", name
