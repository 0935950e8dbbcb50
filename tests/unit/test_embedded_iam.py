"""The embedded stack's IAM check (edgepub.embedded.iam): what each AWS call needs in
IAM's own terms, how a role is matched, and the reading of a role moto is given."""

from __future__ import annotations

from edgepub.embedded.iam import Call, RolePolicy, Statement, moto_document, required, violations

ACCOUNT = "123456789012"


def call(service: str, operation: str, **params: object) -> Call:
    return Call("Role", service, operation, params, "us-east-1")


def test_s3_calls_need_iams_actions_on_the_object_or_the_bucket():
    assert required(call("s3", "HeadObject", Bucket="b", Key="content/a.md"), ACCOUNT) == [
        ("s3:GetObject", "arn:aws:s3:::b/content/a.md")
    ]
    assert required(call("s3", "GetObject", Bucket="b", Key="k", VersionId="v1"), ACCOUNT) == [
        ("s3:GetObjectVersion", "arn:aws:s3:::b/k")
    ]
    assert required(call("s3", "ListObjectVersions", Bucket="b", Prefix="k"), ACCOUNT) == [
        ("s3:ListBucketVersions", "arn:aws:s3:::b")
    ]
    assert required(call("s3", "ListObjectsV2", Bucket="b"), ACCOUNT) == [("s3:ListBucket", "arn:aws:s3:::b")]
    # a rollback: the copy source's version is read, the destination written
    copy = call("s3", "CopyObject", Bucket="b", Key="k", CopySource={"Bucket": "b", "Key": "k", "VersionId": "v1"})
    assert required(copy, ACCOUNT) == [
        ("s3:PutObject", "arn:aws:s3:::b/k"),
        ("s3:GetObjectVersion", "arn:aws:s3:::b/k"),
    ]
    assert ("s3:PutObjectAcl", "arn:aws:s3:::b/k") in required(
        call("s3", "PutObject", Bucket="b", Key="k", ACL="x"), ACCOUNT
    )


def test_queue_table_secret_and_topic_calls_name_their_resource():
    url = f"http://127.0.0.1:5000/{ACCOUNT}/edgepub-purge"
    assert required(call("sqs", "SendMessageBatch", QueueUrl=url), ACCOUNT) == [
        ("sqs:SendMessage", f"arn:aws:sqs:us-east-1:{ACCOUNT}:edgepub-purge")
    ]
    assert required(call("sqs", "ChangeMessageVisibilityBatch", QueueUrl=url), ACCOUNT)[0][0] == (
        "sqs:ChangeMessageVisibility"
    )
    assert required(call("dynamodb", "Query", TableName="t", IndexName="ByReview"), ACCOUNT) == [
        ("dynamodb:Query", f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/t/index/ByReview")
    ]
    transact = call("dynamodb", "TransactWriteItems", TransactItems=[{"Update": {"TableName": "t"}}])
    assert required(transact, ACCOUNT) == [("dynamodb:UpdateItem", f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/t")]
    assert required(call("dynamodb", "BatchWriteItem", RequestItems={"t": None}), ACCOUNT)[0][0] == (
        "dynamodb:BatchWriteItem"
    )
    arn = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:edgepub/token-AbCdEf"
    assert required(call("secretsmanager", "GetSecretValue", SecretId=arn), ACCOUNT) == [
        ("secretsmanager:GetSecretValue", arn)
    ]
    assert required(call("sns", "Publish", TopicArn="arn:t"), ACCOUNT) == [("sns:Publish", "arn:t")]
    # an operation the check does not know needs a grant on everything: only on purpose
    assert required(call("kms", "Decrypt", KeyId="k"), ACCOUNT) == [("kms:Decrypt", "*")]


def test_a_role_allows_by_wildcard_and_an_explicit_deny_wins():
    role = RolePolicy(
        "Role",
        (
            Statement.parse({"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::b/content/*"}),
            Statement.parse({"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/content/secret"}),
        ),
    )
    assert role.allows("s3:getobject", "arn:aws:s3:::b/content/a.md")  # actions are case-insensitive
    assert not role.allows("s3:GetObject", "arn:aws:s3:::b/content/secret")
    assert not role.allows("s3:GetObject", "arn:aws:s3:::b/rejected/a.json")
    assert not role.allows("s3:PutObject", "arn:aws:s3:::b/content/a.md")
    found = violations([call("s3", "PutObject", Bucket="b", Key="content/a.md")], {"Role": role}, ACCOUNT)
    assert found == [
        "Role may not s3:PutObject on arn:aws:s3:::b/content/a.md (called s3:PutObject "
        "{'Bucket': 'b', 'Key': 'content/a.md'})"
    ]
    # calls by anyone without a role here (the operator) are not checked
    assert (
        violations([Call("operator", "s3", "PutObject", {"Bucket": "b"}, "us-east-1")], {"Role": role}, ACCOUNT) == []
    )


def test_moto_gets_its_own_names_and_wildcards_where_it_cannot_judge_resources():
    role = RolePolicy(
        "Role",
        (
            Statement.parse({"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::b/*"}),
            Statement.parse({"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "arn:aws:sqs:r:a:q"}),
            Statement.parse(
                {"Effect": "Allow", "Action": "dynamodb:Query", "Resource": "arn:aws:dynamodb:r:a:table/t"}
            ),
            Statement.parse({"Effect": "Deny", "Action": "dynamodb:Scan", "Resource": "arn:aws:dynamodb:r:a:table/t"}),
        ),
    )
    statements = moto_document(role)["Statement"]
    assert statements[0] == {
        "Effect": "Allow",
        "Action": ["s3:GetObject", "s3:HeadObject"],
        "Resource": ["arn:aws:s3:::b/*"],
    }
    assert statements[1]["Action"] == ["sqs:SendMessage", "sqs:SendMessageBatch"]
    assert statements[1]["Resource"] == ["arn:aws:sqs:r:a:q"]  # moto judges queues
    assert statements[2] == {"Effect": "Allow", "Action": ["dynamodb:Query"], "Resource": "*"}  # not tables
    assert len(statements) == 3  # a Deny moto would widen is left to the recorded check
