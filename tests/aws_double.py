"""AWS on 127.0.0.1 for tests: moto's server for S3, IAM, CloudWatch Logs..., and a double of MWAA's control
plane, which moto does not implement ("Not yet implemented" for every call).

The MWAA double speaks boto3's real wire format (rest-json, signing name `airflow`): GetEnvironment,
ListEnvironments, CreateEnvironment and InvokeRestApi, with MWAA's error shapes. Behind InvokeRestApi sits a
REST backend: in the end-to-end tests a real Airflow api-server, reached with a token the way MWAA signs its
callers in.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from mwaa_verify import ownership

ACCOUNT = "123456789012"
REGION = "eu-west-1"
SERVICE_ROLE = "AWSServiceRoleForAmazonMWAA"
# credentials for moto, and no instance-metadata lookups that would wait for a timeout
TEST_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true"}  # fmt: skip
# method, path, query, body -> (HTTP status, JSON body)
RestBackend = Callable[[str, str, dict[str, Any], Any], tuple[int, Any]]


def partition_of(region: str) -> str:
    """The partition a region belongs to: AWS China and GovCloud have ARNs of their own."""
    return "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"


def environment_arn(name: str, region: str = REGION, account: str = ACCOUNT) -> str:
    return f"arn:{partition_of(region)}:airflow:{region}:{account}:environment/{name}"


def describe(
    name: str,
    role: str,
    bucket: str,
    airflow_version: str = "3.3.1",
    region: str = REGION,
    account: str = ACCOUNT,
    **fields: Any,
) -> dict[str, Any]:
    """A description as get_environment returns it, for an AVAILABLE environment (in `region`'s partition)."""
    partition = partition_of(region)
    description = {
        "Name": name,
        "Arn": environment_arn(name, region, account),
        "Status": "AVAILABLE",
        "CreatedAt": datetime(2024, 3, 1, tzinfo=UTC).timestamp(),
        "WebserverUrl": f"{name}.airflow.{region}.on.aws",
        "ExecutionRoleArn": f"arn:{partition}:iam::{account}:role/service-role/{role}",
        "ServiceRoleArn": (
            f"arn:{partition}:iam::{account}:role/aws-service-role/airflow.amazonaws.com/{SERVICE_ROLE}"
        ),
        "AirflowVersion": airflow_version,
        "SourceBucketArn": f"arn:{partition}:s3:::{bucket}",
        "DagS3Path": "dags",
        "EnvironmentClass": "mw1.small",
        "MaxWorkers": 10,
        "MinWorkers": 1,
        "Schedulers": 2,
        "NetworkConfiguration": {"SubnetIds": ["subnet-1", "subnet-2"], "SecurityGroupIds": ["sg-1"]},
        "LoggingConfiguration": {
            module: {
                "Enabled": True,
                "LogLevel": "INFO",
                "CloudWatchLogGroupArn": f"arn:{partition}:logs:{region}:{account}:log-group:airflow-{name}-{suffix}",
            }
            for module, suffix in {
                "DagProcessingLogs": "DAGProcessing",
                "SchedulerLogs": "Scheduler",
                "TaskLogs": "Task",
                "WebserverLogs": "WebServer",
                "WorkerLogs": "Worker",
            }.items()
        },
        "WebserverAccessMode": "PRIVATE_ONLY",
        "WeeklyMaintenanceWindowStart": "SUN:03:30",
        "AirflowConfigurationOptions": {},
        "Tags": {},
    }
    description.update(fields)
    return description


@dataclass
class MwaaDouble:
    environments: dict[str, dict[str, Any]] = field(default_factory=dict)
    rest_backends: dict[str, RestBackend] = field(default_factory=dict)
    # the next N InvokeRestApi calls are throttled, as MWAA does under load
    throttle_next: int = 0
    calls: list[tuple[str, str]] = field(default_factory=list)
    _region: str = REGION  # of the request being answered

    def handle(self, request: Request) -> Response:
        self.calls.append((request.method, request.path))
        self._region = _signing_region(request) or REGION
        match = re.fullmatch(r"/environments/([^/]+)", request.path)
        if request.path == "/environments" and request.method == "GET":
            return _json(200, {"Environments": sorted(self.environments)})
        if match and request.method == "GET":
            name = urllib.parse.unquote(match.group(1))
            if name not in self.environments:
                return _error(404, "ResourceNotFoundException", f"Environment {name} not found")
            return _json(200, {"Environment": self.environments[name]})
        if match and request.method == "PUT":
            return self._create(urllib.parse.unquote(match.group(1)), request.get_json(force=True))
        match = re.fullmatch(r"/restapi/([^/]+)", request.path)
        if match and request.method == "POST":
            return self._invoke(urllib.parse.unquote(match.group(1)), request.get_json(force=True))
        return _error(400, "ValidationException", f"the MWAA double has no {request.method} {request.path}")

    def _create(self, name: str, body: dict[str, Any]) -> Response:
        if name in self.environments:
            return _error(400, "ValidationException", f"Environment {name} already exists")
        bucket = body["SourceBucketArn"].split(":::", 1)[-1]
        role = body["ExecutionRoleArn"].rsplit("/", 1)[-1]
        fields = {key: value for key, value in body.items() if key not in {"Name"}}
        created = {**describe(name, role, bucket, region=self._region), **fields, "Status": "CREATING"}
        self.environments[name] = created
        return _json(200, {"Arn": created["Arn"]})

    def _invoke(self, name: str, body: dict[str, Any]) -> Response:
        invalid = _invalid_invocation(name, body)
        if invalid:
            return _error(400, "ValidationException", invalid)
        if name not in self.environments:
            return _error(404, "ResourceNotFoundException", f"Environment {name} not found")
        if self.throttle_next > 0:
            self.throttle_next -= 1
            return _error(429, "ThrottlingException", "Rate exceeded")
        backend = self.rest_backends.get(name)
        if backend is None:
            status, answer = 502, {"detail": f"the web server of {name} is not reachable"}
        else:
            status, answer = backend(body["Method"], body["Path"], body.get("QueryParameters") or {}, body.get("Body"))
        payload = {"RestApiStatusCode": status, "RestApiResponse": answer}
        if status >= 500:
            return _error(400, "RestApiServerException", None, payload)
        if status >= 400:
            return _error(400, "RestApiClientException", None, payload)
        return _json(200, payload)


# InvokeRestApi's input constraints, from its service model (botocore checks only the minimum lengths
# client-side; the service refuses the rest)
_INVOKE_METHODS = ("GET", "PUT", "POST", "PATCH", "DELETE")
_INVOKE_PATH_MAX = 64
_INVOKE_NAME = re.compile(r"[a-zA-Z][0-9a-zA-Z-_]*")


def _invalid_invocation(name: str, body: dict[str, Any]) -> str | None:
    """MWAA's ValidationException message for an InvokeRestApi request outside its model's constraints."""
    problems = []
    if len(name) > 80 or not _INVOKE_NAME.fullmatch(name):
        problems.append(
            "Value at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: "
            "[a-zA-Z][0-9a-zA-Z-_]* and Member must have length less than or equal to 80"
        )
    path = body.get("Path")
    if not isinstance(path, str) or not 1 <= len(path) <= _INVOKE_PATH_MAX:
        problems.append(
            "Value at 'path' failed to satisfy constraint: Member must have length less than or equal to "
            f"{_INVOKE_PATH_MAX}"
        )
    if body.get("Method") not in _INVOKE_METHODS:
        problems.append(
            f"Value at 'method' failed to satisfy constraint: Member must satisfy enum value set: "
            f"[{', '.join(_INVOKE_METHODS)}]"
        )
    if not problems:
        return None
    count = f"{len(problems)} validation error{'s' if len(problems) > 1 else ''} detected"
    return f"{count}: {'; '.join(problems)}"


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, content_type="application/json")


def _error(status: int, code: str, message: str | None, body: dict[str, Any] | None = None) -> Response:
    payload = dict(body or {})
    if message is not None:
        payload["message"] = message
    return _json(status, payload, {"x-amzn-ErrorType": code})


def _signing_region(request: Request) -> str | None:
    found = re.search(r"Credential=[^/]+/[^/]+/([^/]+)/[^/]+/aws4_request", request.headers.get("Authorization", ""))
    return found.group(1) if found else None


def _signing_service(request: Request) -> str | None:
    found = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request", request.headers.get("Authorization", ""))
    return found.group(1) if found else None


def _simulation_refused(request: Request) -> Response:
    """What IAM answers a caller without iam:SimulatePrincipalPolicy (moto does not implement the action)."""
    role = urllib.parse.parse_qs(request.get_data(as_text=True)).get("PolicySourceArn", ["?"])[0]
    body = (
        '<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>'
        f"<Code>AccessDenied</Code><Message>User: arn:aws:iam::{ACCOUNT}:user/verifier is not authorized to "
        f"perform: iam:SimulatePrincipalPolicy on resource: {role}</Message></Error>"
        "<RequestId>4b7c1a2e-0000-4000-8000-000000000000</RequestId></ErrorResponse>"
    )
    return Response(body, status=403, content_type="text/xml")


def _simulated(request: Request, decisions: dict[str, str]) -> Response:
    """IAM's SimulatePrincipalPolicy answer (query protocol, XML), with the decision the test scripted for
    each action (moto does not implement the action)."""
    query = urllib.parse.parse_qs(request.get_data(as_text=True))
    actions = [value[0] for key, value in sorted(query.items()) if key.startswith("ActionNames.member.")]
    resource = query.get("ResourceArns.member.1", ["*"])[0]
    members = "".join(
        f"<member><EvalActionName>{action}</EvalActionName><EvalResourceName>{resource}</EvalResourceName>"
        f"<EvalDecision>{decisions.get(action, 'implicitDeny')}</EvalDecision><MatchedStatements/>"
        "<MissingContextValues/></member>"
        for action in actions
    )
    body = (
        '<SimulatePrincipalPolicyResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
        f"<SimulatePrincipalPolicyResult><IsTruncated>false</IsTruncated><EvaluationResults>{members}"
        "</EvaluationResults></SimulatePrincipalPolicyResult><ResponseMetadata>"
        "<RequestId>4b7c1a2e-0000-4000-8000-000000000001</RequestId></ResponseMetadata>"
        "</SimulatePrincipalPolicyResponse>"
    )
    return Response(body, status=200, content_type="text/xml")


def _action(request: Request, service: str | None) -> str | None:
    """The IAM action a request performs, for the calls tests refuse: JSON-protocol calls by their target
    header, and S3's public access block and bucket policy reads by their path."""
    target = request.headers.get("X-Amz-Target")
    if target and service:
        return f"{service}:{target.rsplit('.', 1)[-1]}"
    if service == "s3" and request.method == "GET":
        if request.path.startswith("/v20180820/configuration/publicAccessBlock"):
            return "s3:GetAccountPublicAccessBlock"
        if "policy" in request.args:
            return "s3:GetBucketPolicy"
    return None


def _access_denied(action: str, request: Request) -> Response:
    """AWS's answer to a caller whose policies do not allow `action`, in the service's wire format."""
    message = f"User: arn:aws:iam::{ACCOUNT}:user/verifier is not authorized to perform: {action}"
    if request.headers.get("X-Amz-Target"):
        return _json(400, {"__type": "AccessDeniedException", "message": message})
    body = f"<Error><Code>AccessDenied</Code><Message>{message}</Message><RequestId>0</RequestId></Error>"
    return Response(body, status=403, content_type="application/xml")


@dataclass
class AwsDouble:
    url: str
    mwaa: MwaaDouble
    # IAM actions AWS refuses the caller (`logs:GetLogEvents`, `organizations:ListPoliciesForTarget`, ...)
    denied: set[str] = field(default_factory=set)
    # SimulatePrincipalPolicy's decision per action; None: IAM refuses the caller the simulation
    simulation: dict[str, str] | None = None
    put_log_events_calls: list[int] = field(default_factory=list)  # events per PutLogEvents call, in order


# PutLogEvents rules moto 5 does not enforce (it does the 14-day and 2-hour ones and chronological order):
# the batch quotas, and events older than the group's retention, answered as CloudWatch answers them.
_PUT_LOG_EVENTS = "Logs_20140328.PutLogEvents"


def _put_log_events_app(moto_app: Any, calls: list[int]) -> Callable[[dict[str, Any], Any], Any]:
    from moto.logs.models import logs_backends

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        body = json.loads(request.get_data() or b"{}")
        events = body.get("logEvents", [])
        calls.append(len(events))
        refusal = _batch_refusal(events)
        if refusal:
            answer = _json(400, {"__type": "InvalidParameterException", "message": refusal})
            return answer(environ, start_response)
        region = re.search(r"Credential=[^/]+/[^/]+/([^/]+)/", request.headers.get("Authorization", ""))
        group = logs_backends[ACCOUNT][region.group(1) if region else REGION].groups.get(body.get("logGroupName"))
        retention = group.retention_in_days if group is not None else None
        expired_end = -1
        if retention:
            oldest = (datetime.now(UTC).timestamp() - int(retention) * 86400) * 1000
            expired_end = max((i for i, event in enumerate(events) if event["timestamp"] < oldest), default=-1)
        body["logEvents"] = events[expired_end + 1 :]
        data = json.dumps(body).encode()
        environ["wsgi.input"] = io.BytesIO(data)
        environ["CONTENT_LENGTH"] = str(len(data))
        if not body["logEvents"]:  # CloudWatch stores nothing and says which were expired
            return _json(200, {"rejectedLogEventsInfo": {"expiredLogEventEndIndex": expired_end}})(
                environ, start_response
            )
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured.update(status=status, headers=headers)
            return lambda chunk: None

        payload = b"".join(moto_app(environ, capture))
        if expired_end >= 0 and captured["status"].startswith("200"):
            answer = json.loads(payload or b"{}")
            info = answer.setdefault("rejectedLogEventsInfo", {})
            # moto's indexes count the events it saw, after the expired ones
            for name in ("tooOldLogEventEndIndex", "tooNewLogEventStartIndex"):
                if name in info:
                    info[name] += expired_end + 1
            info["expiredLogEventEndIndex"] = expired_end
            payload = json.dumps(answer).encode()
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        start_response(captured["status"], [*headers, ("Content-Length", str(len(payload)))])
        return [payload]

    return app


def _batch_refusal(events: list[dict[str, Any]]) -> str | None:
    """CloudWatch's answer to a PutLogEvents call over its quotas (InvalidParameterException), or None."""
    if len(events) > 10_000:
        return (
            "1 validation error detected: Value at 'logEvents' failed to satisfy constraint: Member must have "
            "length less than or equal to 10000"
        )
    size = sum(len(event["message"].encode("utf-8")) + 26 for event in events)
    if size > 1_048_576:
        return f"Upload too large: {size} bytes exceeds limit of 1048576"
    if any(len(event["message"].encode("utf-8")) + 26 > 262_144 for event in events):
        return "Log event too large: an event may hold at most 262144 bytes with its 26 bytes of overhead"
    if events and events[-1]["timestamp"] - events[0]["timestamp"] > 24 * 3600 * 1000:
        return "The batch of log events in a single PutLogEvents request cannot span more than 24 hours."
    return None


@contextmanager
def aws_double(moto_url: str | None = None) -> Iterator[AwsDouble]:
    """One endpoint for every AWS service: MWAA's calls (signed for `airflow`) to the double, the rest to moto.

    moto keeps its state per process (and `mock_aws` or another double resets it); with `moto_url` the double
    forwards to a moto server in a process of its own instead, whose state nothing in this process touches.
    That one has no PutLogEvents retention rules (they read moto's state in this process)."""
    mwaa = MwaaDouble()
    moto_app: Callable[[dict[str, Any], Any], Any]
    moto_app = DomainDispatcherApplication(create_backend_app) if moto_url is None else _forwarder(moto_url)
    double: AwsDouble | None = None
    put_log_events_calls: list[int] = []
    put_log_events = _put_log_events_app(moto_app, put_log_events_calls) if moto_url is None else None

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        service = _signing_service(request)
        if service == "airflow":
            return mwaa.handle(request)(environ, start_response)
        body = request.get_data()
        environ["wsgi.input"] = io.BytesIO(body)  # moto reads the body again
        action = _action(request, service)
        if double is not None and action in double.denied:
            return _access_denied(action, request)(environ, start_response)
        if service == "iam" and b"Action=SimulatePrincipalPolicy" in body:
            if double is not None and double.simulation is not None:
                return _simulated(request, double.simulation)(environ, start_response)
            return _simulation_refused(request)(environ, start_response)
        if put_log_events and service == "logs" and request.headers.get("X-Amz-Target") == _PUT_LOG_EVENTS:
            return put_log_events(environ, start_response)
        return moto_app(environ, start_response)

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    if moto_url is None:
        # moto keeps its state per process: each double starts from an empty account
        urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=10).close()
    double = AwsDouble(url, mwaa, put_log_events_calls=put_log_events_calls)
    try:
        yield double
    finally:
        server.shutdown()
        thread.join()


# hop-by-hop headers a forwarding proxy does not pass on
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


def _forwarder(base_url: str) -> Callable[[dict[str, Any], Any], Any]:
    """A WSGI app that forwards each request unchanged (signature, Host and body) to the server at base_url."""
    target = urllib.parse.urlsplit(base_url)

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        headers = {key: value for key, value in request.headers.items() if key.lower() not in _HOP_BY_HOP}
        path = environ["RAW_URI"]  # as the client encoded it (werkzeug's server keeps it), query included
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=120)
        try:
            connection.request(request.method, path, body=request.get_data(), headers=headers)
            response = connection.getresponse()
            payload = response.read()
            answer = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP | {"content-length"}]
        finally:
            connection.close()
        start_response(f"{response.status} {response.reason}", [*answer, ("Content-Length", str(len(payload)))])
        return [payload]

    return app


@contextmanager
def moto_process() -> Iterator[str]:
    """moto's server in a process of its own (its own group and owned directory, stopped after): its URL."""
    port = _free_port()
    scratch = ownership.make_owned_dir("moto")
    with (scratch / "moto.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            env={**os.environ, **TEST_ENV},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=scratch,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=5).close()
                break
            except OSError:
                assert process.poll() is None, (scratch / "moto.log").read_text()[-2000:]
                assert time.monotonic() < deadline, "moto's server did not come up in 60 s"
                time.sleep(0.2)
        yield url
    finally:
        ownership.stop(process, scratch)
        ownership.remove_owned_dir(scratch)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def aws_for_tests(isolated: bool = False) -> Iterator[AwsDouble]:
    """The double, with test credentials in the environment (child processes inherit them) while it runs;
    `isolated`: its moto in a process of its own, for a double that outlives other doubles and `mock_aws`."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in TEST_ENV.items():
            patch.setenv(key, value)
        if not isolated:
            with aws_double() as double:
                yield double
            return
        with moto_process() as moto_url, aws_double(moto_url) as double:
            yield double


class AirflowRestApi:
    """A REST backend that forwards to a real Airflow: the 3.x api-server (/api/v2, signed in for a token) or
    the 2.x webserver (/api/v1, basic auth), the way MWAA signs in the IAM principal that calls InvokeRestApi."""

    def __init__(self, base_url: str, api_version: int, username: str, password: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_version = api_version
        self.credentials = {"username": username, "password": password}
        self._authorization: str | None = None

    def authorization(self) -> str:
        if self._authorization is None and self.api_version == 1:
            pair = f"{self.credentials['username']}:{self.credentials['password']}".encode()
            self._authorization = f"Basic {base64.b64encode(pair).decode()}"
        elif self._authorization is None:
            request = urllib.request.Request(
                f"{self.base_url}/auth/token", data=json.dumps(self.credentials).encode(), method="POST"
            )
            request.add_header("Content-Type", "application/json")
            with urllib.request.urlopen(request, timeout=10) as response:
                self._authorization = f"Bearer {json.load(response)['access_token']}"
        return self._authorization

    def __call__(self, method: str, path: str, query: dict[str, Any], body: Any) -> tuple[int, Any]:
        url = f"{self.base_url}/api/v{self.api_version}{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query, doseq=True)
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Authorization", self.authorization())
        if data is not None:  # a DELETE with a JSON content type and no body is a 400 on the 2.x webserver
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, _rest_answer(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, _rest_answer(exc.read())


def _rest_answer(payload: bytes) -> Any:
    """Airflow's answer as InvokeRestApi's RestApiResponse: its JSON, {} for none (204 of a DELETE), and a
    non-JSON page (a proxy's error page) as its text."""
    if not payload.strip():
        return {}
    try:
        return json.loads(payload)
    except ValueError:
        return {"detail": payload.decode(errors="replace")[:2000]}


class ScriptedRestApi:
    """An Airflow REST API with `count` DAGs, for the client's paging and retries (the end-to-end tests put a
    real Airflow behind the double)."""

    def __init__(self, count: int, operator: str = "airflow.operators.empty.EmptyOperator") -> None:
        self.operator = operator
        self.dags = [
            {
                "dag_id": f"dag_{i:03d}",
                "fileloc": f"/usr/local/airflow/dags/dag_{i:03d}.py",
                "schedule_interval": {"__type": "CronExpression", "value": "@daily"},
                "tags": [],
            }
            for i in range(count)
        ]
        self.requests: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, method: str, path: str, query: dict[str, Any], body: Any) -> tuple[int, Any]:
        self.requests.append((path, query))
        if path == "/dags":
            offset, limit = int(query["offset"]), int(query["limit"])
            return 200, {"dags": self.dags[offset : offset + limit], "total_entries": len(self.dags)}
        if path == "/importErrors":
            return 200, {"import_errors": [], "total_entries": 0}
        if path.endswith("/details"):
            return 200, {"catchup": True, "schedule_interval": {"__type": "CronExpression", "value": "@daily"}}
        if path.endswith("/tasks"):
            module, name = self.operator.rsplit(".", 1)
            task = {"task_id": "only", "downstream_task_ids": [], "retries": 1.0,
                    "class_ref": {"module_path": module, "class_name": name}}  # fmt: skip
            return 200, {"tasks": [task], "total_entries": 1}
        return 404, {"detail": "Not Found"}
