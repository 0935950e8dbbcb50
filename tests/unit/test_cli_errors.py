"""No traceback reaches a user: bad arguments are exit 2 with one line, a missing optional
dependency names the extra to install, anything unexpected is one line and a log file.
No server: each request is refused before anything is reached."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from edgepub import errors
from edgepub.cli import cli
from edgepub.pages import UnsafePath, key_for_path
from edgepub.urls import check_purge_request

# a target whose AWS is unreachable: any request made would fail, so a refusal proves none was
UNREACHABLE = {
    "EDGEPUB_SITE_BUCKET": "site",
    "EDGEPUB_SOURCES_BUCKET": "sources",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "x",
    "AWS_SECRET_ACCESS_KEY": "x",
}


def edgepub(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("EDGEPUB_", "AWS_"))}
    return subprocess.run(
        [sys.executable, "-m", "edgepub", *args],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        cwd=cwd,
        timeout=120,
    )


def assert_one_line(stderr: str) -> None:
    assert "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert stderr.startswith("edgepub: ")


def test_every_exception_edgepub_defines_is_an_edgepub_error():
    assert issubclass(UnsafePath, errors.InvalidRequest) and issubclass(UnsafePath, ValueError)
    assert errors.InvalidRequest.exit_code == 2 and errors.ConfigurationError.exit_code == 78
    assert errors.OperatorError.exit_code == 3
    assert issubclass(errors.MissingDependency, errors.ConfigurationError)
    with pytest.raises(errors.InvalidRequest):
        key_for_path("/a/../b/")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["rollback", "a/../b"], "unsafe segment '..'"),
        (["unpublish", "a/../b"], "unsafe segment '..'"),
        (["status", ""], "a slug is required"),
        (["status", "a b"], "unsafe segment"),
        (["run", "drift", "--now", "garbage"], "not an ISO 8601 time"),
        (["run", "transitions", "--now", "2030-13-01"], "not an ISO 8601 time"),
        (["purge", "--url", "notaurl"], "--url 'notaurl' is not a URL"),
        (["purge", "--url", "https://www.example.com/a/", "--tag", "two words"], "--tag 'two words'"),
        (["purge", "--prefix", "https://www.example.com/a"], "--prefix"),
    ],
)
def test_a_bad_argument_is_one_line_and_exit_2(args, says):
    result = CliRunner().invoke(cli, args, env=UNREACHABLE)
    assert result.exit_code == 2, result.output
    assert says in result.stderr
    assert_one_line(result.stderr)


def test_purge_request_checks_name_every_problem():
    with pytest.raises(errors.InvalidRequest) as raised:
        check_purge_request(["notaurl", "ftp://x/y"], ["", "ok"], ["host/path?q=1"])
    message = str(raised.value)
    assert "'notaurl'" in message and "'ftp://x/y'" in message and "--tag ''" in message and "host/path?q=1" in message
    check_purge_request(["https://www.example.com/a/"], ["listing:home"], ["www.example.com/blog/"])


def test_no_credentials_is_a_configuration_error_not_a_traceback(tmp_path):
    env = {
        "EDGEPUB_SITE_BUCKET": "site",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
    }
    result = edgepub("purges", env=env, cwd=tmp_path)
    assert result.returncode == 78, result.stderr
    assert "Unable to locate credentials" in result.stderr
    assert_one_line(result.stderr)


# moto not installed (`pip install edgepub` without the extra): importing it fails
MISSING_MOTO = "import sys; sys.modules['moto'] = None; from edgepub.cli import main; main()"


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_a_missing_optional_dependency_names_the_extra_to_install(tmp_path, command):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EDGEPUB_", "AWS_"))}
    result = subprocess.run(
        [sys.executable, "-c", MISSING_MOTO, command],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 78, result.stderr
    assert f"edgepub {command} needs the 'moto' package" in result.stderr
    assert "pip install 'edgepub[embedded]'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / ".edgepub" / "serve.json").exists()


def test_a_stale_serve_file_is_removed_and_said_so(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    serve_file = tmp_path / ".edgepub" / "serve.json"
    serve_file.parent.mkdir()
    serve_file.write_text(json.dumps({"pid": int(dead.stdout), "endpoint": "http://127.0.0.1:9", "env": {}}))
    result = edgepub("status", "x", cwd=tmp_path)
    assert result.returncode == 78
    assert f"names edgepub serve process {int(dead.stdout)}, which is no longer running; removed it" in result.stderr
    assert "run `edgepub serve`" in result.stderr
    assert_one_line(result.stderr)
    assert not serve_file.exists()


def test_a_serve_file_of_a_live_process_is_the_target(tmp_path, monkeypatch):
    from edgepub.targets import SERVE_FILE, resolve

    monkeypatch.chdir(tmp_path)
    for name in [k for k in os.environ if k.startswith("EDGEPUB_")]:
        monkeypatch.delenv(name)
    SERVE_FILE.parent.mkdir()
    env = {"EDGEPUB_SITE_BUCKET": "live-site"}
    SERVE_FILE.write_text(json.dumps({"pid": os.getpid(), "endpoint": "http://127.0.0.1:9", "env": env}))
    target = resolve(None)
    assert target.kind == "embedded" and target.env["EDGEPUB_SITE_BUCKET"] == "live-site"
    SERVE_FILE.write_text("{not json")
    with pytest.raises(errors.ConfigurationError, match="unreadable or from an older edgepub; removed it"):
        resolve(None)
    assert not SERVE_FILE.exists()
