"""The embedded stack: template.yaml created in moto on loopback, with a
Cloudflare emulator, and the functions run in-process from their Handler and
CodeUri, polling their SQS queues the way Lambda's event source mapping does.

IAM is enforced (edgepub.embedded.iam): the stack creates its resources before
moto starts checking credentials, then each function runs, and its event source
mapping polls, with credentials derived from its role in the translated template;
the operator (`client`, `settings_env`, the CLI and tests) has an administrator's.
Every call a function makes is recorded and `iam_violations` checks it against its
role, for what moto cannot judge itself.

    with EmbeddedStack.start() as stack:
        stack.s3.put_object(Bucket=stack.outputs["SourcesBucketName"], Key="content/a.md", Body=b"...")
        stack.run_until_idle()
"""

from __future__ import annotations

import base64
import importlib.util
import json
import logging
import os
import secrets
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from edgepub.embedded.cloudflare_emulator import CloudflareEmulator
from edgepub.embedded.iam import CallRecorder, RolePolicy, function_roles, moto_document, role_policies
from edgepub.embedded.template import Resolver, load_sam_template, package_and_transform
from edgepub.errors import ConfigurationError, EdgepubError, TransientError

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[4]
ACCOUNT = "123456789012"
REGION = "us-east-1"
ZONE_ID = "0123456789abcdef0123456789abcdef"
# Until IAM is enforced, moto takes any credentials; then the operator's replace these.
_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
# Identities besides the function roles (edgepub.embedded.iam.CallRecorder.credentials).
OPERATOR = "operator"
EDGE = "edge"
# moto's CloudFormation skips these types; the embedded stack creates them itself.
_FILLED_BY_US = {
    "AWS::SecretsManager::Secret",
    "AWS::S3::BucketPolicy",
    "AWS::SQS::QueuePolicy",
    "AWS::CloudWatch::Alarm",
}
# moto warns once per resource type its CloudFormation skips; those are filled below.
warnings.filterwarnings("ignore", message="Tried to parse", category=UserWarning)


def _patch_moto_delete_marker_events() -> None:
    """moto sends no notification when a delete on a versioned bucket creates a
    delete marker; AWS sends s3:ObjectRemoved:DeleteMarkerCreated. Fill the gap
    so the embedded stack behaves as AWS does (moto runs in this process)."""
    from moto.s3 import notifications
    from moto.s3.models import S3Backend

    if getattr(S3Backend.delete_object, "_edgepub_patched", False):
        return
    original = S3Backend.delete_object

    def delete_object(
        self: Any, bucket_name: str, key_name: str, version_id: str | None = None, bypass: bool = False
    ) -> Any:
        bucket = self.get_bucket(bucket_name)
        existing = bucket.keys.get(key_name) if getattr(bucket, "is_versioned", False) and version_id is None else None
        result = original(self, bucket_name, key_name, version_id, bypass)
        if existing is not None and type(existing).__name__ == "FakeKey":
            notifications.send_event(
                self.account_id,
                notifications.S3NotificationEvent.OBJECT_REMOVED_DELETE_MARKER_CREATED_EVENT,
                bucket,
                existing,
            )
        return result

    delete_object._edgepub_patched = True  # type: ignore[attr-defined]
    S3Backend.delete_object = delete_object  # type: ignore[method-assign]


def _patch_moto_bodyless_signatures() -> None:
    """With IAM enforced, moto recomputes each request's signature; for a request without
    a body it signs its parsed parameters instead, which for Lambda's GETs are the headers,
    so it refuses every valid signature (`edgepub --stack` resolves the ops function's
    configuration so). A GET or HEAD is signed over an empty body: recompute it so."""
    from moto.iam.access_control import IAMRequestBase

    if getattr(IAMRequestBase._create_aws_request, "_edgepub_patched", False):
        return
    original = IAMRequestBase._create_aws_request

    def _create_aws_request(self: Any) -> Any:
        request = original(self)
        if self._method in ("GET", "HEAD") and not self._body:
            request.data = b""
        return request

    _create_aws_request._edgepub_patched = True  # type: ignore[attr-defined]
    IAMRequestBase._create_aws_request = _create_aws_request  # type: ignore[method-assign]


_PARTITION = threading.local()


def _patch_moto_partition_queries() -> None:
    """moto answers a Query of a table (not of an index) by listing and sorting every item of
    the table (`Table.query` calls `Table.all_items`), whatever the partition asked for: each
    call costs O(table), seconds at 100,000 articles, and edgepub's index is read in many small
    queries. Here such a Query lists its own partition (the same answer: the rest is filtered
    out). Thread-safe: the partition is this thread's, for this call only, so the threaded
    server answers other requests meanwhile (moto runs in this process)."""
    from moto.dynamodb.models.table import Table

    if getattr(Table.query, "_edgepub_patched", False):
        return
    original_query, original_all_items = Table.query, Table.all_items

    def all_items(self: Any) -> Any:
        partition = getattr(_PARTITION, "items", None)
        if partition is not None and partition[0] is self:
            return partition[1]
        return original_all_items(self)

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        if index_name or hash_key is None or self.range_key_attr is None:
            return original_query(self, hash_key, *args, **kwargs)
        _PARTITION.items = (self, list(self.items.get(hash_key, {}).values()))
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            _PARTITION.items = None

    query._edgepub_patched = True  # type: ignore[attr-defined]
    Table.query = query  # type: ignore[method-assign]
    Table.all_items = all_items  # type: ignore[method-assign]


# The reads a publish makes many of: their answers are written as JSON directly (see below).
_FAST_READS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan"})
FAST_JSON_CHECK: list[str] | None = None  # a test sets a list: each answer is written both ways and noted


def _wire(value: Any) -> Any:
    """A DynamoDB answer as its JSON protocol writes it: binary base64, times as epoch
    seconds (none of the four reads has one today), absent (None) members left out."""
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_wire(v) for v in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, datetime):  # as moto's serializer: naive is UTC, to the millisecond
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return int(aware.timestamp() * 1000) / 1000
    return value


def _patch_moto_dynamodb_read_json() -> None:
    """moto writes each DynamoDB answer through a serializer that walks botocore's shape
    model member by member: most of the embedded stack's CPU when a re-render of 100,000
    articles reads entries in batches (the moto server is one process, so it bounds every
    worker). The answers of the data-plane reads are plain DynamoDB JSON already: written
    with json.dumps (binary and times as the protocol writes them, absent members left
    out). Errors and every other operation go through moto's serializer."""
    from moto.dynamodb.responses import DynamoResult

    if getattr(DynamoResult.execute_result, "_edgepub_patched", False):
        return
    original = DynamoResult.execute_result

    def execute_result(self: Any, context: Any) -> Any:
        if context.operation_model.name not in _FAST_READS or isinstance(self.result, Exception):
            return original(self, context)
        body = json.dumps(_wire(self.result))
        if FAST_JSON_CHECK is not None:
            expected = original(self, context)[2]
            same = json.loads(expected) == json.loads(body)
            FAST_JSON_CHECK.append(context.operation_model.name if same else f"differs: {expected!r} != {body}")
        return 200, {"Content-Type": "application/x-amz-json-1.0"}, body

    execute_result._edgepub_patched = True  # type: ignore[attr-defined]
    DynamoResult.execute_result = execute_result  # type: ignore[method-assign]


def patch_moto() -> None:
    """What the embedded stack changes in moto (this process's), each once: see each patch.
    The crash-point tests apply them to their in-process moto (`mock_aws`) too."""
    _patch_moto_delete_marker_events()
    _patch_moto_bodyless_signatures()
    _patch_moto_partition_queries()
    _patch_moto_dynamodb_read_json()


class EmbeddedStackError(EdgepubError):
    """The embedded stack could not be created from template.yaml."""


class QueuesNotDrained(TransientError, TimeoutError):
    """The embedded stack's queues did not empty in time."""


@dataclass
class FunctionSpec:
    logical_id: str
    name: str
    handler: str
    code_dir: Path
    environment: dict[str, str]
    timeout: int
    queue_url: str = ""
    batch_size: int = 10
    window: float = 0.0  # MaximumBatchingWindowInSeconds
    window_started: float | None = None
    module: ModuleType | None = None
    role: str = ""  # the logical id of its role
    # Powertools Parameters' providers (their clients and cached values) are process-wide:
    # each function keeps its own, made with its own credentials, as in its own process.
    providers: dict[str, Any] = field(default_factory=dict)

    def load(self) -> Callable[[dict[str, Any], Any], Any]:
        if self.module is None:
            module_file, _, _ = self.handler.rpartition(".")
            path = self.code_dir / f"{module_file}.py"
            unique = f"edgepub_function_{self.logical_id}_{uuid.uuid4().hex[:8]}"
            spec = importlib.util.spec_from_file_location(unique, path)
            if spec is None or spec.loader is None:
                raise ConfigurationError(f"cannot load the handler of {self.logical_id} from {path}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            self.module = module
        handler: Callable[[dict[str, Any], Any], Any] = getattr(self.module, self.handler.rpartition(".")[2])
        return handler


@dataclass
class LambdaContext:
    function_name: str
    memory_limit_in_mb: int = 512
    timeout_seconds: int = 30
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"

    @property
    def function_version(self) -> str:
        return "$LATEST"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000))


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class EmbeddedStack:
    def __init__(
        self,
        *,
        name_prefix: str = "edgepub",
        template: Path | None = None,
        retry_delay: int = 0,
        parameters: Mapping[str, str] | None = None,
        window_scale: float = 1.0,
        cloudflare_plan: str = "enterprise",
        iam: bool = True,
    ) -> None:
        self.name_prefix = name_prefix
        self.iam = iam  # enforce each function's role in moto
        self.window_scale = window_scale
        self.parameter_overrides = dict(parameters or {})
        self.template_path = template or REPO_ROOT / "template.yaml"
        self.retry_delay = retry_delay
        self.token = "cf-emulator-" + secrets.token_hex(16)
        # the emulator enforces this plan's limits; the functions pace for template.yaml's PurgePlan
        self.cloudflare = CloudflareEmulator(self.token, ZONE_ID, plan=cloudflare_plan)
        self.functions: dict[str, FunctionSpec] = {}
        # EventBridge Scheduler schedules: logical id -> (function logical id, Input)
        self.schedules: dict[str, tuple[str, dict[str, Any]]] = {}
        self.outputs: dict[str, str] = {}
        self.invocations = 0
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        self._server: Any = None
        self._saved_env: dict[str, str | None] = {}
        self._clients: dict[str, Any] = {}
        self._role_clients: dict[tuple[str, str], Any] = {}
        self.policies: dict[str, RolePolicy] = {}  # role logical id -> its statements, resolved
        # every AWS call made in this process while the stack is up: who made it, and whether
        # the caller's role allows it
        self.recorder = CallRecorder(account=ACCOUNT)
        self._auth_set = False

    # -- lifecycle ------------------------------------------------------------

    @classmethod
    def start(cls, **kwargs: Any) -> EmbeddedStack:
        stack = cls(**kwargs)
        stack.up()
        return stack

    def up(self) -> None:
        from moto.server import ThreadedMotoServer

        patch_moto()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per moto request otherwise
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        # moto keeps its state in module globals shared by every server in this
        # process: start from nothing (so one embedded stack per process at a time).
        import requests

        requests.post(f"{self.endpoint_url}/moto-api/reset", timeout=10).raise_for_status()
        self._set_moto_auth("inf")  # the stack is created unauthenticated (whatever a stack before left)
        env = {
            **_CREDENTIALS,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": self.endpoint_url,
        }
        self._saved_env = {k: os.environ.get(k) for k in (*env, "AWS_SESSION_TOKEN")}
        os.environ.update(env)
        os.environ.pop("AWS_SESSION_TOKEN", None)  # moto refuses an IAM user's key with a session token
        try:
            self.cloudflare.start()
            self._create_stack()
            if self.iam:
                self._enforce_iam()
            self.recorder.install()
            site_url = self.settings_env().get("EDGEPUB_SITE_URL", "https://www.example.com")
            self.cloudflare.serve_site(
                self.endpoint_url, self.site_bucket, site_url=site_url, credentials=self.recorder.credentials.get(EDGE)
            )
        except BaseException:
            self.down()
            raise

    def down(self) -> None:
        self.stop_polling()
        self.recorder.uninstall()
        self.cloudflare.stop()
        if self._server is not None:
            try:
                if self._auth_set:
                    # moto's setting is process-wide: back to moto's own (mock_aws elsewhere in this process)
                    self._set_moto_auth(os.environ.get("INITIAL_NO_AUTH_ACTION_COUNT", "inf"))
            finally:
                self._server.stop()
                self._server = None
        for k, v in self._saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    def __enter__(self) -> EmbeddedStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    # -- clients --------------------------------------------------------------

    def client(self, service: str) -> Any:
        """A boto3 client for the embedded stack (cached: creating one costs ~0.1 s)."""
        if service not in self._clients:
            import boto3
            from botocore.config import Config

            self._clients[service] = boto3.session.Session().client(
                service,
                endpoint_url=self.endpoint_url,
                region_name=REGION,
                config=Config(s3={"addressing_style": "path"}),
            )
        return self._clients[service]

    @property
    def s3(self) -> Any:
        return self.client("s3")

    @property
    def sources_bucket(self) -> str:
        return self.outputs["SourcesBucketName"]

    @property
    def site_bucket(self) -> str:
        return self.outputs["SiteBucketName"]

    @property
    def edge_base(self) -> str:
        """The local edge: the emulator's zone serving the site bucket, as visitors would reach it."""
        return self.cloudflare.edge_base

    def settings_env(self) -> dict[str, str]:
        """An operator's view of the stack: every function's environment merged (queues, topic, ...),
        as the CLI needs it."""
        merged: dict[str, str] = {}
        for spec in self.functions.values():
            merged.update(spec.environment)
        merged.pop("AWS_LAMBDA_FUNCTION_NAME", None)
        key, secret = self.recorder.credentials.get(OPERATOR, ("testing", "testing"))
        merged.update(AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret)
        return merged

    def iam_violations(self) -> list[str]:
        """Each AWS call a function made that its role does not allow (edgepub.embedded.iam:
        moto refuses what it can judge; this covers the rest, resources included)."""
        return list(self.recorder.violations)

    # -- creation -------------------------------------------------------------

    def _create_stack(self) -> None:
        s3 = self.s3
        artifacts = f"{self.name_prefix}-artifacts"
        s3.create_bucket(Bucket=artifacts)

        def upload(key: str, data: bytes) -> str:
            s3.put_object(Bucket=artifacts, Key=key, Body=data)
            return f"s3://{artifacts}/{key}"

        sam = load_sam_template(self.template_path)
        cfn_template = package_and_transform(sam, self.template_path.parent, upload)
        parameters = {
            "NamePrefix": self.name_prefix,
            "CloudflareApiBase": self.cloudflare.api_base,
            "CloudflareZoneId": ZONE_ID,
            **self.parameter_overrides,
        }
        cfn = self.client("cloudformation")
        stack_name = f"{self.name_prefix}-embedded"
        logging.getLogger("moto").setLevel(logging.ERROR)
        cfn.create_stack(
            StackName=stack_name,
            TemplateBody=json.dumps(cfn_template),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
        stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
        if stack["StackStatus"] != "CREATE_COMPLETE":
            raise EmbeddedStackError(f"embedded stack failed: {stack['StackStatus']} {stack.get('StackStatusReason')}")
        physical = {
            r["LogicalResourceId"]: r.get("PhysicalResourceId", "")
            for r in cfn.describe_stack_resources(StackName=stack_name)["StackResources"]
            if "LogicalResourceId" in r
        }
        pseudo = {
            "AWS::AccountId": ACCOUNT,
            "AWS::Region": REGION,
            "AWS::Partition": "aws",
            "AWS::StackName": stack_name,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": stack["StackId"],
        }
        resolver = Resolver(cfn_template, parameters, physical, pseudo)
        # moto would try to run the functions in Docker when their queues get
        # messages; the embedded stack is their event source mapping instead.
        lambda_client = self.client("lambda")
        for mapping in lambda_client.list_event_source_mappings().get("EventSourceMappings", []):
            # (disabled, not deleted: moto's queues keep a reference to the mapping)
            lambda_client.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
        self._fill_gaps(cfn_template, resolver)
        self.outputs = {
            name: str(resolver.resolve(spec["Value"])) for name, spec in cfn_template.get("Outputs", {}).items()
        }
        self._collect_functions(sam, cfn_template, resolver)
        roles = function_roles(cfn_template)
        for logical, role in roles.items():
            self.functions[logical].role = role
        self.policies = role_policies(cfn_template, sorted(set(roles.values())), resolver.resolve)
        self.recorder.policies = self.policies
        from aws_lambda_powertools.utilities import parameters as powertools_parameters

        powertools_parameters.clear_caches()  # type: ignore[no-untyped-call]

    def _fill_gaps(self, template: Mapping[str, Any], resolver: Resolver) -> None:
        """Create what moto's CloudFormation skips, from the same template."""
        s3 = self.s3
        resources = template["Resources"]
        for logical, resource in resources.items():
            kind = resource["Type"]
            props = resource.get("Properties", {})
            if kind == "AWS::SecretsManager::Secret":
                name = resolver.resolve(props["Name"])
                created = self.client("secretsmanager").create_secret(
                    Name=name, SecretString=self.token, Description=resolver.resolve(props.get("Description", ""))
                )
                resolver.physical[logical] = created["ARN"]
            elif kind == "AWS::S3::Bucket":
                bucket = resolver.physical[logical]
                if "VersioningConfiguration" in props:
                    s3.put_bucket_versioning(
                        Bucket=bucket, VersioningConfiguration={"Status": props["VersioningConfiguration"]["Status"]}
                    )
                if "PublicAccessBlockConfiguration" in props:
                    s3.put_public_access_block(
                        Bucket=bucket, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
                    )
        # Notifications last: the queues they point at now have resolvable ARNs.
        for logical, resource in resources.items():
            props = resource.get("Properties", {})
            if resource["Type"] == "AWS::S3::Bucket" and "NotificationConfiguration" in props:
                config = resolver.resolve(props["NotificationConfiguration"])
                queues = [
                    {
                        "QueueArn": q["Queue"],
                        "Events": [q["Event"]],
                        **(
                            {"Filter": {"Key": {"FilterRules": q["Filter"]["S3Key"]["Rules"]}}} if "Filter" in q else {}
                        ),
                    }
                    for q in config.get("QueueConfigurations", [])
                ]
                s3.put_bucket_notification_configuration(
                    Bucket=resolver.physical[logical], NotificationConfiguration={"QueueConfigurations": queues}
                )

    def _enforce_iam(self) -> None:
        """One IAM user per function role, with moto's reading of the role's policies, and
        an operator and the local edge; then moto checks every request (its setting
        INITIAL_NO_AUTH_ACTION_COUNT, set to 0 through its reset-auth endpoint)."""
        iam = self.client("iam")

        def user(name: str, document: Mapping[str, Any]) -> tuple[str, str]:
            iam.create_user(UserName=name)
            iam.put_user_policy(UserName=name, PolicyName=name, PolicyDocument=json.dumps(document))
            created = iam.create_access_key(UserName=name)["AccessKey"]
            return str(created["AccessKeyId"]), str(created["SecretAccessKey"])

        def allow(action: str, resource: str) -> dict[str, Any]:
            return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource}]}

        credentials = self.recorder.credentials
        for role, policy in self.policies.items():
            credentials[role] = user(f"{self.name_prefix}-{role}", moto_document(policy))
        credentials[OPERATOR] = user(f"{self.name_prefix}-operator", allow("*", "*"))
        # as the site bucket's policy lets Cloudflare's addresses do
        credentials[EDGE] = user(
            f"{self.name_prefix}-edge", allow("s3:GetObject", f"arn:aws:s3:::{self.site_bucket}/*")
        )
        key, secret = credentials[OPERATOR]
        os.environ.update(AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret)
        self._clients.clear()  # made with the setup's credentials
        self._set_moto_auth("0")

    def _set_moto_auth(self, count: str) -> None:
        """moto's INITIAL_NO_AUTH_ACTION_COUNT: requests from now on that skip authentication."""
        import requests

        requests.post(f"{self.endpoint_url}/moto-api/reset-auth", data=count.encode(), timeout=10).raise_for_status()
        self._auth_set = True

    @contextmanager
    def _running_as(self, spec: FunctionSpec) -> Iterator[None]:
        """This thread's new AWS clients sign with the function's role (edgepub.aws.identity)."""
        from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS

        from edgepub.aws import identity

        token = identity.set(spec.role)
        outer = dict(DEFAULT_PROVIDERS)
        DEFAULT_PROVIDERS.clear()
        DEFAULT_PROVIDERS.update(spec.providers)
        try:
            yield
        finally:
            spec.providers = dict(DEFAULT_PROVIDERS)
            DEFAULT_PROVIDERS.clear()
            DEFAULT_PROVIDERS.update(outer)
            identity.reset(token)

    def _role_client(self, role: str, service: str) -> Any:
        """A client with a role's credentials (the event source mapping polls with the function's role)."""
        if role not in self.recorder.credentials:
            return self.client(service)
        if (role, service) not in self._role_clients:
            import boto3

            key, secret = self.recorder.credentials[role]
            self._role_clients[role, service] = boto3.session.Session().client(
                service,
                endpoint_url=self.endpoint_url,
                region_name=REGION,
                aws_access_key_id=key,
                aws_secret_access_key=secret,
            )
        return self._role_clients[role, service]

    def _collect_functions(self, sam: Mapping[str, Any], template: Mapping[str, Any], resolver: Resolver) -> None:
        resources = template["Resources"]
        # no credentials: the function's clients get its role's (_running_as)
        runtime_env = {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_DEV": "false",
        }
        for logical, resource in resources.items():
            if resource["Type"] != "AWS::Lambda::Function":
                continue
            props = resource["Properties"]
            sam_props = sam["Resources"][logical]["Properties"]
            variables = resolver.resolve(props.get("Environment", {}).get("Variables", {}))
            env = {k: str(v) for k, v in variables.items()}
            name = str(resolver.resolve(props.get("FunctionName", logical)))
            env.update(runtime_env, AWS_LAMBDA_FUNCTION_NAME=name)
            self.functions[logical] = FunctionSpec(
                logical_id=logical,
                name=name,
                handler=props["Handler"],
                code_dir=self.template_path.parent / sam_props["CodeUri"],
                environment=env,
                timeout=int(props.get("Timeout", 3)),
            )
        for logical, resource in resources.items():
            if resource["Type"] == "AWS::Scheduler::Schedule":
                target = resource["Properties"]["Target"]
                arn = target["Arn"]
                function_logical = arn["Fn::GetAtt"][0] if isinstance(arn, dict) and "Fn::GetAtt" in arn else ""
                self.schedules[logical] = (function_logical, json.loads(target.get("Input") or "{}"))
        for resource in resources.values():
            if resource["Type"] != "AWS::Lambda::EventSourceMapping":
                continue
            props = resource["Properties"]
            function_logical = props["FunctionName"]["Ref"]
            queue_arn = str(resolver.resolve(props["EventSourceArn"]))
            spec = self.functions[function_logical]
            queue_name = queue_arn.rsplit(":", 1)[-1]
            spec.queue_url = self.client("sqs").get_queue_url(QueueName=queue_name)["QueueUrl"]
            spec.batch_size = int(props.get("BatchSize", 10))
            spec.window = float(props.get("MaximumBatchingWindowInSeconds", 0))

    # -- running functions ----------------------------------------------------

    def invoke(self, logical_id: str, event: Mapping[str, Any]) -> Any:
        """Invoke a function in-process with its own environment, as Lambda would."""
        spec = self.functions[logical_id]
        with self._lock, _environment(spec.environment), self._running_as(spec):
            handler = spec.load()
            self.invocations += 1
            # the event and the result cross a JSON boundary, as they do in Lambda
            payload = json.loads(json.dumps(event))
            result = handler(payload, LambdaContext(function_name=spec.name, timeout_seconds=spec.timeout))
            return json.loads(json.dumps(result, default=str))

    def run_schedule(self, logical_id: str, **overrides: Any) -> Any:
        """Fire a schedule now, as EventBridge Scheduler would: its target with its Input."""
        function, payload = self.schedules[logical_id]
        return self.invoke(function, {**payload, **overrides})

    def poll_once(self, *, flush: bool = False) -> int:
        """One round over the mapped queues; returns the number of messages handled.

        Like Lambda's event source mapping, a mapping with a batching window waits
        until its batch is full or the window has passed since messages arrived;
        `flush` ends every window now (run_until_idle does when nothing else runs),
        except on a queue with delayed messages still to arrive.
        """
        handled = 0
        for logical, spec in self.functions.items():
            if spec.queue_url:
                handled += self._poll_function(logical, spec, flush)
        return handled

    def _poll_function(self, logical: str, spec: FunctionSpec, flush: bool) -> int:
        sqs = self._role_client(spec.role, "sqs")  # as Lambda's mapping: receive, delete, attributes
        if spec.window > 0:
            names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed"]
            attrs = sqs.get_queue_attributes(QueueUrl=spec.queue_url, AttributeNames=names)["Attributes"]
            visible, delayed = (int(attrs.get(name, 0)) for name in names)
            if visible == 0:
                spec.window_started = None
                return 0
            # a delayed message (a purge carry) is still to come: the window runs its course
            flush = flush and delayed == 0
            now = time.monotonic()
            spec.window_started = spec.window_started or now
            if not flush and visible < spec.batch_size and now - spec.window_started < spec.window * self.window_scale:
                return 0
            spec.window_started = None
        messages: list[dict[str, Any]] = []
        while len(messages) < spec.batch_size:
            response = sqs.receive_message(
                QueueUrl=spec.queue_url,
                MaxNumberOfMessages=min(spec.batch_size - len(messages), 10),
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            )
            received = response.get("Messages", [])
            messages += received
            if not received or spec.batch_size <= 10:
                break
        if not messages:
            return 0
        queue_arn = "arn:aws:sqs:{}:{}:{}".format(REGION, ACCOUNT, spec.queue_url.rsplit("/", 1)[-1])
        event = {
            "Records": [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m.get("Attributes", {}),
                    "messageAttributes": m.get("MessageAttributes", {}),
                    "md5OfBody": m.get("MD5OfBody", ""),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": queue_arn,
                    "awsRegion": REGION,
                }
                for m in messages
            ]
        }
        try:
            result = self.invoke(logical, event)
            failed = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
        except Exception:  # the whole batch failed, as when a Lambda invocation errors
            log.exception("function %s failed a batch", spec.name)
            failed = {m["MessageId"] for m in messages}
        for m in messages:
            if m["MessageId"] in failed:
                # Lambda leaves a failed message invisible until its visibility
                # timeout; the embedded stack retries after `retry_delay` seconds.
                self.client("sqs").change_message_visibility(
                    QueueUrl=spec.queue_url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=self.retry_delay
                )
            else:
                sqs.delete_message(QueueUrl=spec.queue_url, ReceiptHandle=m["ReceiptHandle"])
        return len(messages)

    def queue_depth(self) -> int:
        sqs = self.client("sqs")
        total = 0
        for spec in self.functions.values():
            if spec.queue_url:
                # delayed too: a purge invocation's carry waits on the queue for the next window
                names = [f"ApproximateNumberOfMessages{state}" for state in ("", "NotVisible", "Delayed")]
                attrs = sqs.get_queue_attributes(QueueUrl=spec.queue_url, AttributeNames=names)["Attributes"]
                total += sum(int(attrs.get(name, 0)) for name in names)
        return total

    def run_until_idle(self, timeout: float = 60.0) -> int:
        """Poll until every mapped queue is empty; returns messages handled."""
        deadline = time.monotonic() + timeout
        handled = 0
        while time.monotonic() < deadline:
            n = self.poll_once()
            if n == 0:
                n = self.poll_once(flush=True)  # nothing else is running: end the batching windows
            handled += n
            if n == 0 and self.queue_depth() == 0:
                return handled
            if n == 0:
                time.sleep(0.05)
        raise QueuesNotDrained(f"queues not drained after {timeout}s ({self.queue_depth()} messages left)")

    def start_polling(self, interval: float = 0.2) -> None:
        """Poll in a background thread, like Lambda's event source mappings (for the demo and `serve`)."""

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    if self.poll_once() == 0:
                        self._stop.wait(interval)
                except Exception:
                    log.exception("embedded poller failed; retrying")
                    self._stop.wait(1)

        self._stop.clear()
        self._poller = threading.Thread(target=loop, name="embedded-event-source-mapping", daemon=True)
        self._poller.start()

    def stop_polling(self) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=10)
            self._poller = None
