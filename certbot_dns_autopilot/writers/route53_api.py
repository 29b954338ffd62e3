"""The Route 53 writer's half that talks to AWS (`Route53Api`, its base class): the client
of its session (and of the role it assumes), every call, and what AWS answers read into one
`AutopilotError` naming the IAM statement to add.

Each call is retried by the writer's policy (`Writer.call`: throttling, 5xx, a lost
connection), botocore's own retries being off; the writer's label names every message.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import boto3
import botocore.config
import botocore.exceptions

from .. import links, scrub
from ..codes import Code
from ..errors import AutopilotError
from . import apierrors
from .endpoints import without_userinfo
from .writer import Context, Writer

DOCS = links.page("providers/route53")
ROLE_SESSION_NAME = "certbot-dns-autopilot"
# botocore's own retries off (one attempt per call): `Writer.call` retries under the one
# policy, and reports each retry.
CLIENT_CONFIG = dict(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5,
                     read_timeout=20, user_agent_extra="certbot-dns-autopilot")

_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}
_BAD_KEYS = {"InvalidClientTokenId", "SignatureDoesNotMatch", "InvalidAccessKeyId",
             "UnrecognizedClientException", "AuthFailure", "IncompleteSignature",
             "MissingAuthenticationToken"}
_EXPIRED = {"ExpiredToken", "ExpiredTokenException", "RequestExpired"}
_THROTTLED = {"Throttling", "ThrottlingException", "PriorRequestNotComplete",
              "TooManyRequestsException", "RequestLimitExceeded"}
_FAILING = {"ServiceUnavailable", "InternalFailure", "InternalError", "ServiceFailure"}
#: botocore's failures to get an answer at all (an SSL error is not worth another try).
_FAILURES = ((botocore.exceptions.ConnectTimeoutError, apierrors.TIMEOUT),
             (botocore.exceptions.ReadTimeoutError, apierrors.TIMEOUT),
             (botocore.exceptions.EndpointConnectionError, apierrors.CONNECTION),
             (botocore.exceptions.ProxyConnectionError, apierrors.CONNECTION),
             (botocore.exceptions.ConnectionClosedError, apierrors.CONNECTION),
             (botocore.exceptions.SSLError, "tls"))
#: What each IAM action missing stops the run from doing.
_CANNOT = {
    "GetChange": "the worker can write records but cannot poll the change until Route 53 "
                 "reports it INSYNC",
    "ChangeResourceRecordSets": "it cannot create or delete records in the hosted zone",
    "ListHostedZones": "it cannot find the hosted zone of a name",
    "ListResourceRecordSets": "it cannot read the TXT values already at a name (needed to "
                              "keep them)",
}


def statement(action: str, resource: str) -> str:
    """The IAM policy statement granting ``action`` (route53:…) on ``resource``."""
    return json.dumps({"Effect": "Allow", "Action": action, "Resource": resource})


def _resource(operation: str, zone_id: str | None) -> str:
    if operation == "GetChange":
        return "arn:aws:route53:::change/*"
    if operation in ("ListResourceRecordSets", "ChangeResourceRecordSets") and zone_id:
        return f"arn:aws:route53:::hostedzone/{zone_id}"
    return "*"


class Conflict(Exception):
    """A conditional batch found a record set changed by someone else since it was read."""


def code(exc: botocore.exceptions.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def message(exc: botocore.exceptions.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", ""))


def said(exc: Exception) -> apierrors.Said | None:
    """What AWS said, from a botocore error (None: not an API answer). AWS answers several
    refusals with a 400 and its own code: the code decides (a refused key counts as 401, a
    missing right as 403, throttling as 429)."""
    for kind, failure in _FAILURES:
        if isinstance(exc, kind):
            return apierrors.Said(failure=failure, message=type(exc).__name__)
    if not isinstance(exc, botocore.exceptions.ClientError):
        return None
    found = code(exc)
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 400)
    status = (403 if found in _DENIED else 401 if found in _BAD_KEYS | _EXPIRED
              else 404 if found == "NoSuchHostedZone" else 429 if found in _THROTTLED
              else 503 if found in _FAILING else 400 if status == 404 else status)
    return apierrors.Said(status=status, code=found, message=message(exc))


class Route53Api(Writer):
    """The calls of one AWS credential (and the role it assumes) to Route 53: the client,
    made once (for an assumed role: again before the role's credentials expire)."""

    label: str
    region: str
    endpoint_url: str | None

    def __init__(self, session_factory: Callable[[], Any], role_arn: str | None,
                 sts_endpoint_url: str | None, context: Context | None = None) -> None:
        super().__init__(context)
        self._session_factory, self.role_arn = session_factory, role_arn
        self.sts_endpoint_url = sts_endpoint_url
        self._client_lock = threading.Lock()
        self._client: Any = None
        self._role_expiry = 0.0

    said = staticmethod(said)

    def _route53(self) -> Any:
        """The Route 53 client, made once (for the assumed role: again before it expires)."""
        with self._client_lock:
            if self._client is None or (self.role_arn and time.time() > self._role_expiry):
                config = botocore.config.Config(**CLIENT_CONFIG)
                session = self._session_factory()
                if self.role_arn:
                    session = self._assume_role(session, config)
                self._client = session.client("route53", endpoint_url=self.endpoint_url,
                                              region_name=self.region, config=config)
            return self._client

    def _assume_role(self, session: Any, config: Any) -> Any:
        sts = session.client("sts", endpoint_url=self.sts_endpoint_url,
                             region_name=self.region, config=config)
        try:
            creds = self.call("sts:AssumeRole", lambda: sts.assume_role(
                RoleArn=self.role_arn, RoleSessionName=ROLE_SESSION_NAME))["Credentials"]
        except botocore.exceptions.ClientError as exc:
            if code(exc) in _DENIED:
                raise AutopilotError(
                    Code.PERMISSION_DENIED,
                    f"{self.label}: the credential may not assume the role {self.role_arn}",
                    f"allow it in the credential's policy "
                    f"({statement('sts:AssumeRole', str(self.role_arn))}) and name the "
                    "credential's principal in the role's trust policy",
                    evidence=message(exc)) from None
            raise self._error(exc, "AssumeRole", None) from None
        except botocore.exceptions.BotoCoreError as exc:
            raise self._error(exc, "AssumeRole", None) from None
        self._role_expiry = creds["Expiration"].timestamp() - 300
        scrub.register([creds["SecretAccessKey"], creds["SessionToken"]])  # never logged
        return boto3.Session(aws_access_key_id=creds["AccessKeyId"],
                             aws_secret_access_key=creds["SecretAccessKey"],
                             aws_session_token=creds["SessionToken"], region_name=self.region)

    def _call(self, operation: str, zone_id: str | None = None, ok: tuple[str, ...] = (),
              conflict: bool = False, **params: Any) -> Any:
        """One Route 53 API call; every failure becomes one AutopilotError with its fix
        (error codes in ``ok`` are expected answers: None is returned; with ``conflict``, a
        batch refused because a set changed meanwhile raises `Conflict`)."""
        try:
            method = getattr(self._route53(), re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower())
            return self.call(f"route53:{operation}", lambda: method(**params))
        except botocore.exceptions.ClientError as exc:
            if code(exc) in ok:
                return None
            if conflict and code(exc) == "InvalidChangeBatch" and re.search(
                    r"not match|already exists|not found", message(exc)):
                raise Conflict from None
            raise self._error(exc, operation, zone_id) from None
        except botocore.exceptions.BotoCoreError as exc:
            raise self._error(exc, operation, zone_id) from None

    def _error(self, exc: Exception, operation: str, zone_id: str | None) -> AutopilotError:
        """What AWS said to ``operation`` as one error: for a missing right, the IAM
        statement that grants it."""
        key, label = self.key, self.label
        action = f"route53:{operation}" if operation != "AssumeRole" else "sts:AssumeRole"
        if isinstance(exc, botocore.exceptions.NoCredentialsError):
            return AutopilotError(
                Code.PERMISSION_DENIED, f"{label} found no AWS credentials",
                f"set {key('access_key_id')} and {key('secret_access_key')} (or "
                f"{key('profile')}) in the credentials file, or give the user certbot runs as "
                "(root under cron/systemd) AWS_* variables, ~/.aws/credentials or an instance "
                "role")
        answer = said(exc)
        if answer is None:
            return AutopilotError(
                Code.PERMISSION_DENIED, f"{label}: {action} failed ({type(exc).__name__})",
                f"check the AWS credential settings (see {DOCS})")
        endpoint = self.endpoint_url
        where = without_userinfo(endpoint) if endpoint else "the Route 53 API"
        expired = answer.code in _EXPIRED
        fixes = apierrors.Fixes(
            refused=("refresh the temporary credential (or use a long-lived key or a role), "
                     "and check this host's clock") if expired else (
                f"copy {key('access_key_id')} and {key('secret_access_key')} again from IAM "
                "(the secret is shown only when the key is created), or create a new key; "
                "check that the key is active"),
            denied=(f"add to the credential's IAM policy the statement "
                    f"{statement(f'route53:{operation}', _resource(operation, zone_id))} (the "
                    f"full minimal policy is in {DOCS}#minimal-iam-policy)"),
            zone="run again (the zone list is read afresh), or recreate the hosted zone",
            unreachable=(f"check this host's network, proxy and firewall towards {where}"
                         + (f", and {key('endpoint_url')}" if endpoint else ""))
            if answer.failure else ("run again later; several processes changing the same "
                                    "account's zones at once share Route 53's limit of 5 "
                                    "requests per second"),
            other=f"the message above says why; see {DOCS}")
        if answer.failure:
            problem = f"{label} could not reach {where} for {action}: {answer.message}"
        elif answer.status == 403:
            problem = f"{label} is not allowed route53:{operation}" + (
                f": {_CANNOT[operation]}" if operation in _CANNOT else "")
        elif answer.status == 401:
            problem = (f"{label}: AWS says the credential or request expired ({answer.code})"
                       if expired else f"{label}: AWS rejected the credential ({answer.code})")
        elif answer.status == 404:
            problem = f"{label}: hosted zone {zone_id} no longer exists"
        elif answer.transient:
            problem = f"{label}: Route 53 kept refusing {action} ({answer.code}) after retries"
        else:
            problem = f"{label}: Route 53 refused {action} ({answer.code})"
        return self.api_error(action, answer, fixes, api=where, problem=problem)
