"""IAM in the embedded stack: each function runs with its role's permissions.

moto enforces IAM once its setting INITIAL_NO_AUTH_ACTION_COUNT is reached (the
stack sets it to 0 after creating its resources unauthenticated). Its policy
evaluation is basic: it judges S3 and SQS requests by action and resource (bucket,
key, queue ARN) and everything else by action alone; it names each action after
its API operation where IAM has names of its own (HeadObject for s3:GetObject,
SendMessageBatch for sqs:SendMessage); it evaluates no conditions. So the stack
gives moto its own reading of each role (`moto_document`): one IAM user per
function role, whose policy is the role's statements with the resources moto
cannot judge widened to "*" and moto's names for the operations each action
authorizes added (`MOTO_NAMES`). The function runs with that user's access key;
the operator (the CLI, the tests) with an administrator's.

What moto cannot judge, `CallRecorder` and `violations` can: every AWS call made
with a role's credentials is recorded (botocore `provide-client-params` and
`before-call` hooks on every client created while the stack runs) and checked
against the role's statements as the translated template states them, with IAM's
own action names and resource ARNs (`required`) and simple IAM wildcard matching.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import unquote, urlsplit

from edgepub.errors import ConfigurationError

# What the AWS managed policies SAM may attach grant (the translator only names them).
MANAGED_EQUIVALENTS: dict[str, list[dict[str, Any]]] = {
    "AWSLambdaBasicExecutionRole": [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": "*",
        },
    ],
    "AWSXrayWriteOnlyAccess": [
        {
            "Effect": "Allow",
            "Action": [
                "xray:PutTraceSegments",
                "xray:PutTelemetryRecords",
                "xray:GetSamplingRules",
                "xray:GetSamplingTargets",
                "xray:GetSamplingStatisticSummaries",
            ],
            "Resource": "*",
        }
    ],
    "AWSLambdaSQSQueueExecutionRole": [
        {
            "Effect": "Allow",
            "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
            "Resource": "*",
        },
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": "*",
        },
    ],
}

# Services whose requests moto authorizes by resource as well as action.
MOTO_JUDGES_RESOURCES = frozenset({"s3", "sqs"})

# moto authorizes a request under its API operation's name (HeadObject, ListObjectsV2,
# SendMessageBatch), where IAM uses its own (s3:GetObject, s3:ListBucket, sqs:SendMessage):
# the operations each IAM action authorizes, by moto's names.
MOTO_NAMES: dict[str, tuple[str, ...]] = {
    "s3:GetObject": ("s3:GetObject", "s3:HeadObject"),
    "s3:GetObjectVersion": ("s3:GetObject", "s3:HeadObject"),
    "s3:PutObject": (
        "s3:PutObject",
        "s3:CopyObject",
        "s3:CreateMultipartUpload",
        "s3:UploadPart",
        "s3:CompleteMultipartUpload",
    ),
    "s3:AbortMultipartUpload": ("s3:AbortMultipartUpload",),
    "s3:DeleteObject": ("s3:DeleteObject", "s3:DeleteObjects"),
    "s3:DeleteObjectVersion": ("s3:DeleteObject", "s3:DeleteObjects"),
    "s3:ListBucket": ("s3:ListObjects", "s3:ListObjectsV2", "s3:HeadBucket"),
    "s3:ListBucketVersions": ("s3:ListObjectVersions",),
    "sqs:SendMessage": ("sqs:SendMessage", "sqs:SendMessageBatch"),
    "sqs:DeleteMessage": ("sqs:DeleteMessage", "sqs:DeleteMessageBatch"),
    "sqs:ChangeMessageVisibility": ("sqs:ChangeMessageVisibility", "sqs:ChangeMessageVisibilityBatch"),
    "dynamodb:PutItem": ("dynamodb:PutItem", "dynamodb:TransactWriteItems"),
    "dynamodb:UpdateItem": ("dynamodb:UpdateItem", "dynamodb:TransactWriteItems"),
    "dynamodb:DeleteItem": ("dynamodb:DeleteItem", "dynamodb:TransactWriteItems"),
    "dynamodb:ConditionCheckItem": ("dynamodb:ConditionCheckItem", "dynamodb:TransactWriteItems"),
    "dynamodb:GetItem": ("dynamodb:GetItem", "dynamodb:TransactGetItems"),
}


def moto_names(actions: Iterable[str]) -> list[str]:
    """The actions as granted, and moto's names for the operations they authorize."""
    names = list(actions)
    for iam_action, operations in MOTO_NAMES.items():
        if matches(actions, iam_action, ignore_case=True):
            names += operations
    return list(dict.fromkeys(names))


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


@lru_cache(maxsize=1024)
def _wildcard(pattern: str, *, ignore_case: bool) -> re.Pattern[str]:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{regex}$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def matches(patterns: Iterable[str], value: str, *, ignore_case: bool = False) -> bool:
    """IAM's wildcard matching: `*` any run of characters, `?` one character."""
    return any(_wildcard(p, ignore_case=ignore_case).match(value) for p in patterns)


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    not_resources: tuple[str, ...] = ()
    sid: str = ""
    conditional: bool = False  # has a Condition: the check cannot evaluate it and treats it as met

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Statement:
        return cls(
            effect=str(raw.get("Effect", "Allow")),
            actions=_strings(raw.get("Action")),
            resources=_strings(raw.get("Resource")),
            not_actions=_strings(raw.get("NotAction")),
            not_resources=_strings(raw.get("NotResource")),
            sid=str(raw.get("Sid", "")),
            conditional="Condition" in raw,
        )

    def applies(self, action: str, resource: str) -> bool:
        if self.actions and not matches(self.actions, action, ignore_case=True):
            return False
        if self.not_actions and matches(self.not_actions, action, ignore_case=True):
            return False
        if self.resources and not matches(self.resources, resource):
            return False
        return not (self.not_resources and matches(self.not_resources, resource))

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"Effect": self.effect}
        if self.sid:
            out["Sid"] = self.sid
        for name, values in (
            ("Action", self.actions),
            ("NotAction", self.not_actions),
            ("Resource", self.resources),
            ("NotResource", self.not_resources),
        ):
            if values:
                out[name] = list(values)
        return out


@dataclass(frozen=True)
class RolePolicy:
    """What one role grants: its inline statements and its managed policies' equivalents."""

    role: str  # the role's logical id
    statements: tuple[Statement, ...]

    def allows(self, action: str, resource: str) -> bool:
        relevant = [s for s in self.statements if s.applies(action, resource)]
        return any(s.effect == "Allow" for s in relevant) and not any(s.effect == "Deny" for s in relevant)


def function_roles(template: Mapping[str, Any]) -> dict[str, str]:
    """Function logical id -> the logical id of its role (Role: !GetAtt X.Arn)."""
    roles: dict[str, str] = {}
    for logical, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Lambda::Function":
            continue
        role = resource.get("Properties", {}).get("Role")
        if isinstance(role, dict) and "Fn::GetAtt" in role:
            target = role["Fn::GetAtt"]
            roles[logical] = str(target[0] if isinstance(target, list) else str(target).split(".", 1)[0])
        else:
            raise ConfigurationError(
                f"the embedded stack cannot tell which role {logical} runs with: its Role is {role!r}, "
                "not a role of the template (!GetAtt <Role>.Arn)"
            )
    return roles


def role_policies(
    template: Mapping[str, Any], roles: Iterable[str], resolve: Callable[[Any], Any]
) -> dict[str, RolePolicy]:
    """The statements of each role, with intrinsic functions resolved (`resolve`)."""
    out: dict[str, RolePolicy] = {}
    for role in roles:
        props = template["Resources"][role].get("Properties", {})
        statements: list[Statement] = []
        for policy in props.get("Policies", []):
            document = resolve(policy["PolicyDocument"])
            raw = document.get("Statement", [])
            statements += [Statement.parse(s) for s in ([raw] if isinstance(raw, dict) else raw)]
        for arn in resolve(props.get("ManagedPolicyArns", [])):
            name = str(arn).rsplit("/", 1)[-1]
            if name not in MANAGED_EQUIVALENTS:
                raise ConfigurationError(f"the embedded stack does not know what managed policy {arn} ({role}) grants")
            statements += [Statement.parse(s) for s in MANAGED_EQUIVALENTS[name]]
        out[role] = RolePolicy(role, tuple(statements))
    return out


def moto_document(policy: RolePolicy) -> dict[str, Any]:
    """The role as moto can enforce it: see the module's docstring. Deny statements are kept
    only where moto judges resources (widened, a Deny would refuse what the role allows)."""
    statements: list[dict[str, Any]] = []
    for statement in policy.statements:
        if statement.not_actions or statement.not_resources:
            statements.append({**statement.as_json(), "Effect": statement.effect})
            continue
        by_service: dict[str, list[str]] = {}
        for action in statement.actions:
            by_service.setdefault(action.split(":", 1)[0].lower(), []).append(action)
        for service, actions in by_service.items():
            names = moto_names(actions)
            judged = service in MOTO_JUDGES_RESOURCES or service == "*"
            if statement.effect != "Allow" and not judged:
                continue
            statements.append(
                {"Effect": statement.effect, "Action": names, "Resource": list(statement.resources) if judged else "*"}
            )
    return {"Version": "2012-10-17", "Statement": statements}


# -- what a call needs ----------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One AWS API call made by the code running as `identity`."""

    identity: str
    service: str  # IAM's service prefix (the signing name): s3, sqs, dynamodb, ...
    operation: str
    params: Mapping[str, Any]
    region: str

    def describe(self) -> str:
        shown = {k: v for k, v in self.params.items() if k in _SHOWN}
        return f"{self.service}:{self.operation} {shown}"


_SHOWN = ("Bucket", "Key", "VersionId", "QueueUrl", "TableName", "IndexName", "SecretId", "TopicArn")
_KEPT = (*_SHOWN, "CopySource", "QueueName", "TargetArn", "RequestItems", "TransactItems", "Delete", "ACL", "Tagging")


def _summary(params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters that name resources (not bodies or items)."""
    out: dict[str, Any] = {}
    for key in _KEPT:
        if key not in params:
            continue
        value = params[key]
        if key == "RequestItems" and isinstance(value, Mapping):
            out[key] = dict.fromkeys(value)
        elif key == "TransactItems":
            out[key] = [{kind: {"TableName": body.get("TableName")} for kind, body in item.items()} for item in value]
        elif key == "Delete" and isinstance(value, Mapping):
            out[key] = {
                "Objects": [{"Key": o.get("Key"), "VersionId": o.get("VersionId")} for o in value.get("Objects", [])]
            }
        else:
            out[key] = value
    return out


def required(call: Call, account: str) -> list[tuple[str, str]]:
    """The IAM actions a call needs, each with the resource ARN it needs it on. An operation
    not described here needs `<service>:<Operation>` on "*", which a role grants only on purpose."""
    service, op, p, region = call.service, call.operation, call.params, call.region
    if service == "s3":
        return _s3(op, p)
    if service == "sqs":
        queue = _queue_arn(str(p.get("QueueUrl") or p.get("QueueName") or ""), region, account)
        action = op.removesuffix("Batch") if op in ("SendMessageBatch", "DeleteMessageBatch") else op
        if op == "ChangeMessageVisibilityBatch":
            action = "ChangeMessageVisibility"
        return [(f"sqs:{action}", queue)]
    if service == "dynamodb":
        return _dynamodb(op, p, region, account)
    if service == "secretsmanager":
        secret = str(p.get("SecretId", ""))
        arn = secret if secret.startswith("arn:") else f"arn:aws:secretsmanager:{region}:{account}:secret:{secret}"
        return [(f"secretsmanager:{op}", arn)]
    if service == "sns" and op == "Publish":
        return [("sns:Publish", str(p.get("TopicArn") or p.get("TargetArn") or ""))]
    if service == "sts" and op == "GetCallerIdentity":
        return []  # needs no permission
    return [(f"{service}:{op}", "*")]


def _s3_object(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


def _s3(op: str, p: Mapping[str, Any]) -> list[tuple[str, str]]:
    bucket = str(p.get("Bucket", ""))
    obj = _s3_object(bucket, str(p.get("Key", "")))
    versioned = bool(p.get("VersionId"))
    if op in ("GetObject", "HeadObject"):
        return [("s3:GetObjectVersion" if versioned else "s3:GetObject", obj)]
    if op == "PutObject":
        needs = [("s3:PutObject", obj)]
        if p.get("ACL"):
            needs.append(("s3:PutObjectAcl", obj))
        if p.get("Tagging"):
            needs.append(("s3:PutObjectTagging", obj))
        return needs
    if op == "DeleteObject":
        return [("s3:DeleteObjectVersion" if versioned else "s3:DeleteObject", obj)]
    if op == "DeleteObjects":
        return [
            ("s3:DeleteObjectVersion" if o.get("VersionId") else "s3:DeleteObject", _s3_object(bucket, str(o["Key"])))
            for o in p.get("Delete", {}).get("Objects", [])
        ]
    if op == "CopyObject":
        source = p.get("CopySource")
        if isinstance(source, Mapping):
            src_bucket, src_key, src_version = str(source["Bucket"]), str(source["Key"]), source.get("VersionId")
        else:
            path, _, query = str(source).lstrip("/").partition("?versionId=")
            src_bucket, _, src_key = unquote(path).partition("/")
            src_version = query or None
        read = "s3:GetObjectVersion" if src_version else "s3:GetObject"
        return [("s3:PutObject", obj), (read, _s3_object(src_bucket, src_key))]
    if op in ("ListObjects", "ListObjectsV2", "HeadBucket"):
        return [("s3:ListBucket", f"arn:aws:s3:::{bucket}")]
    if op == "ListObjectVersions":
        return [("s3:ListBucketVersions", f"arn:aws:s3:::{bucket}")]
    return [(f"s3:{op}", f"arn:aws:s3:::{bucket}")]


def _queue_arn(url_or_name: str, region: str, account: str) -> str:
    path = urlsplit(url_or_name).path if "://" in url_or_name else url_or_name
    parts = [p for p in path.split("/") if p]
    name = parts[-1] if parts else ""
    owner = parts[-2] if len(parts) >= 2 else account
    return f"arn:aws:sqs:{region}:{owner}:{name}"


def _table_arn(table: str, region: str, account: str, index: str = "") -> str:
    arn = table if table.startswith("arn:") else f"arn:aws:dynamodb:{region}:{account}:table/{table}"
    return f"{arn}/index/{index}" if index else arn


_TRANSACT = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}


def _dynamodb(op: str, p: Mapping[str, Any], region: str, account: str) -> list[tuple[str, str]]:
    if op in ("BatchWriteItem", "BatchGetItem"):
        return [(f"dynamodb:{op}", _table_arn(t, region, account)) for t in p.get("RequestItems", {})]
    if op == "TransactWriteItems":
        return [
            (f"dynamodb:{_TRANSACT[kind]}", _table_arn(str(body["TableName"]), region, account))
            for item in p.get("TransactItems", [])
            for kind, body in item.items()
        ]
    if op == "TransactGetItems":
        return [
            ("dynamodb:GetItem", _table_arn(str(item["Get"]["TableName"]), region, account))
            for item in p.get("TransactItems", [])
        ]
    return [(f"dynamodb:{op}", _table_arn(str(p.get("TableName", "")), region, account, str(p.get("IndexName", ""))))]


def violations(calls: Iterable[Call], policies: Mapping[str, RolePolicy], account: str) -> list[str]:
    """Each distinct call a role made that its statements do not allow, in words."""
    found: dict[str, None] = {}
    for call in calls:
        found.update(dict.fromkeys(refusals(call, policies, account)))
    return list(found)


def refusals(call: Call, policies: Mapping[str, RolePolicy], account: str) -> list[str]:
    """What a call needed that its role does not allow, in words (nothing for the operator)."""
    policy = policies.get(call.identity)
    if policy is None:
        return []  # the operator or the local edge: not a function
    return [
        f"{call.identity} may not {action} on {resource} (called {call.describe()})"
        for action, resource in required(call, account)
        if not policy.allows(action, resource)
    ]


# -- recording the calls, and giving each thread its identity's credentials ----------


@dataclass
class CallRecorder:
    """While installed, every boto3/botocore client created in this process records its
    calls, and a client created while a function runs (`edgepub.aws.identity` set to its
    role, in that thread) signs with that role's credentials.

    Each call made with a role's credentials is checked against the role (`policies`) as it
    is made; the recorder keeps what was refused and which operations each identity called,
    not every call (an `edgepub serve` runs for days)."""

    credentials: dict[str, tuple[str, str]] = field(default_factory=dict)  # identity -> (key id, secret)
    policies: Mapping[str, RolePolicy] = field(default_factory=dict)
    account: str = ""
    violations: dict[str, None] = field(default_factory=dict)  # in the order found
    operations: dict[str, set[str]] = field(default_factory=dict)  # identity -> {"s3:PutObject", ...}
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _original: Any = None

    def identity_of_key(self, key_id: str) -> str:
        return next((who for who, (key, _) in self.credentials.items() if key == key_id), "")

    def install(self) -> None:
        import botocore.session

        if self._original is not None:
            return
        original = botocore.session.Session.create_client
        recorder = self

        def create_client(session: Any, service_name: str, *args: Any, **kwargs: Any) -> Any:
            from edgepub.aws import identity

            who = identity.get()
            if who in recorder.credentials and kwargs.get("aws_access_key_id") is None:
                key, secret = recorder.credentials[who]
                kwargs.update(aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=None)
            client = original(session, service_name, *args, **kwargs)
            key_id = kwargs.get("aws_access_key_id")
            if key_id is None:
                resolved = session.get_credentials()
                key_id = resolved.access_key if resolved is not None else ""
            recorder.watch(client, recorder.identity_of_key(str(key_id)))
            return client

        self._original = original
        botocore.session.Session.create_client = create_client

    def uninstall(self) -> None:
        import botocore.session

        if self._original is not None:
            botocore.session.Session.create_client = self._original
            self._original = None

    def watch(self, client: Any, who: str) -> None:
        service = str(client.meta.service_model.signing_name)
        region = str(client.meta.region_name)

        def keep_params(params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
            context["edgepub_params"] = _summary(params)

        def record(model: Any, context: Mapping[str, Any], **_: Any) -> None:
            self.record(Call(who, service, str(model.name), context.get("edgepub_params", {}), region))

        client.meta.events.register("provide-client-params", keep_params)
        client.meta.events.register("before-call", record)

    def record(self, call: Call) -> None:
        refused = refusals(call, self.policies, self.account)
        with self._lock:
            self.operations.setdefault(call.identity, set()).add(f"{call.service}:{call.operation}")
            self.violations.update(dict.fromkeys(refused))

    def forget(self) -> None:
        """Start again: no violations, no operations seen."""
        with self._lock:
            self.violations.clear()
            self.operations.clear()
