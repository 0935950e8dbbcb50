"""template.yaml, made ready for the embedded stack: local code folders packaged
to the embedded S3 (as `sam package` does), then the SAM transform applied
offline with aws-sam-translator. Also a small resolver for the intrinsic
functions in the few resources moto's CloudFormation does not create."""

from __future__ import annotations

import copy
import io
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from edgepub.errors import ConfigurationError

# AWS managed policies the SAM transform may reference; the real translator
# looks these up in IAM, which the embedded stack does not need.
_MANAGED_POLICIES = {
    "AWSLambdaBasicExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "AWSXrayWriteOnlyAccess": "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
    "AWSLambdaSQSQueueExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole",
}


class _PolicyLoader:
    def load(self) -> dict[str, str]:
        return dict(_MANAGED_POLICIES)


def load_sam_template(path: Path) -> dict[str, Any]:
    from samtranslator.yaml_helper import yaml_parse

    loaded: dict[str, Any] = yaml_parse(path.read_text(encoding="utf-8"))
    return loaded


def zip_folder(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(folder.rglob("*")):
            if file.is_file() and "__pycache__" not in file.parts:
                archive.write(file, file.relative_to(folder).as_posix())
    return buffer.getvalue()


def package_and_transform(
    sam_template: Mapping[str, Any], root: Path, upload: Callable[[str, bytes], str], region: str = "us-east-1"
) -> dict[str, Any]:
    """Return the CloudFormation template: local CodeUri/ContentUri zipped and
    uploaded with `upload(key, data) -> s3 uri`, then the SAM transform applied."""
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.arn_generator import ArnGenerator
    from samtranslator.translator.translator import Translator
    from samtranslator.utils.py27hash_fix import to_py27_compatible_template, undo_mark_unicode_str_in_template

    # The transform wants a region for the ARNs it builds; give it one rather
    # than let it look in the environment.
    ArnGenerator.BOTO_SESSION_REGION_NAME = region
    template = copy.deepcopy(dict(sam_template))
    for name, resource in template.get("Resources", {}).items():
        props = resource.get("Properties", {})
        for field in ("CodeUri", "ContentUri"):
            value = props.get(field)
            if isinstance(value, str) and not value.startswith("s3://"):
                props[field] = upload(f"{name}.zip", zip_folder(root / value))
    parameters: dict[str, Any] = {}
    to_py27_compatible_template(template, parameters)
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
    policies = _PolicyLoader().load()
    translated = translator.translate(template, parameter_values=parameters, get_managed_policy_map=lambda: policies)
    result: dict[str, Any] = undo_mark_unicode_str_in_template(translated)
    return result


class Resolver:
    """Resolves Ref, Fn::Sub, Fn::GetAtt (Arn), Fn::If, Fn::Join and Fn::Select."""

    def __init__(
        self,
        template: Mapping[str, Any],
        parameters: Mapping[str, str],
        physical_ids: Mapping[str, str],
        pseudo: Mapping[str, str],
    ) -> None:
        self.template = template
        self.values: dict[str, Any] = {}
        for name, spec in template.get("Parameters", {}).items():
            default = spec.get("Default")
            value = parameters.get(name, default)
            if spec.get("Type") == "CommaDelimitedList" and isinstance(value, str):
                value = [v.strip() for v in value.split(",")]
            self.values[name] = value
        self.values.update(pseudo)
        self.physical = dict(physical_ids)
        self.region = pseudo["AWS::Region"]
        self.account = pseudo["AWS::AccountId"]

    def condition(self, name: str) -> bool:
        spec = self.template.get("Conditions", {}).get(name)
        return bool(self.resolve(spec))

    def arn(self, logical: str) -> str:
        resource = self.template["Resources"][logical]
        physical = self.physical.get(logical, "")
        kind = resource["Type"]
        if kind == "AWS::SQS::Queue":
            return f"arn:aws:sqs:{self.region}:{self.account}:{physical.rsplit('/', 1)[-1]}"
        if kind == "AWS::DynamoDB::Table":
            return f"arn:aws:dynamodb:{self.region}:{self.account}:table/{physical}"
        if kind == "AWS::Lambda::Function":
            return f"arn:aws:lambda:{self.region}:{self.account}:function:{physical}"
        if kind == "AWS::S3::Bucket":
            return f"arn:aws:s3:::{physical}"
        if kind == "AWS::SNS::Topic":
            return physical
        if kind == "AWS::Logs::LogGroup":
            return f"arn:aws:logs:{self.region}:{self.account}:log-group:{physical}:*"
        return physical

    def get_att(self, logical: str, attribute: str) -> str:
        if attribute == "Arn":
            return self.arn(logical)
        if attribute == "QueueName":
            return self.physical.get(logical, "").rsplit("/", 1)[-1]
        if attribute == "QueueUrl":
            return self.physical.get(logical, "")
        raise ConfigurationError(f"embedded stack cannot resolve Fn::GetAtt {logical}.{attribute}")

    def ref(self, name: str) -> Any:
        if name in self.values:
            return self.values[name]
        if name in self.physical:
            return self.physical[name]
        raise ConfigurationError(f"embedded stack cannot resolve Ref {name}")

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            resolved = [self.resolve(n) for n in node]
            return [r for r in resolved if r is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return _NO_VALUE if arg == "AWS::NoValue" else self.ref(arg)
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::GetAtt":
                logical, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.get_att(logical, attribute)
            if key == "Fn::If":
                name, yes, no = arg
                return self.resolve(yes if self.condition(name) else no)
            if key == "Fn::Equals":
                left, right = (self.resolve(a) for a in arg)
                return left == right
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::Join":
                sep, parts = arg
                return sep.join(str(p) for p in self.resolve(parts))
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Condition":
                return self.condition(arg)
        return {k: r for k, v in node.items() if (r := self.resolve(v)) is not _NO_VALUE}

    def _sub(self, arg: Any) -> str:
        import re

        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        local = {k: self.resolve(v) for k, v in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in local:
                return str(local[name])
            if "." in name:
                logical, attribute = name.split(".", 1)
                return self.get_att(logical, attribute)
            return str(self.ref(name))

        return re.sub(r"\$\{([^}!]+)\}", replace, text)


class _NoValue:
    pass


_NO_VALUE = _NoValue()
