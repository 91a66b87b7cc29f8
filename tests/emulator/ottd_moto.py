#!/usr/bin/env python3
"""AWS emulator launcher for ottd's tests: moto's ThreadedMotoServer plus a small extension.

Written for moto 5.2.5 (pinned in requirements.txt next to this file). The extension
patches moto internals (moto.medialive.urls / responses / models,
moto.mediapackage.models, moto.events.models / utils, moto.s3.models,
moto.moto_server.werkzeug_app);
re-check it when bumping moto.

Why it exists: ottd deploys MediaLive inputs behind MediaLive *input security groups*
and moto 5.2.5 has no input security groups at all (the routes are missing, so the SDK
gets 404s). This file adds them with AWS's documented semantics, and fixes two gaps in
moto's CreateInput that ottd relies on:
  * the input's SecurityGroups were dropped (moto passed them under a wrong kwarg);
  * push inputs (UDP_PUSH / RTP_PUSH / RTMP_PUSH) came back without Destinations[].Url.
    Synthesized URLs use 127.0.1.x addresses: they are data only, nothing listens there.
MediaLive CreateInput and CreateChannel honour their RequestId idempotency token, as AWS
documents ("needed to prevent retries from creating multiple resources"); moto ignores it.
A create repeating a RequestId already used for that operation (same account and region)
creates nothing and answers with the resource the first create made, as it is now.
It also makes unknown MediaLive input/channel ids answer NotFoundException (404) instead
of moto's HTTP 500 (a KeyError), and fills MediaPackage (v1) CmafPackage.HlsManifests[].Url
(<endpoint Url>/<ManifestName>.m3u8), which moto leaves out.

CloudFront, as AWS does it (moto deploys an update at once and deletes anything):
  * UpdateDistribution puts the distribution back to InProgress; it is Deployed again on a
    later read (moto's state manager, "manual" progression), or, while the file given
    with --cloudfront-settle-file exists, not before the file is removed (a test holds a
    disable "in progress" that way, as real CloudFront does for many minutes).
  * DeleteDistribution of an enabled distribution, or of one not yet Deployed, answers
    DistributionNotDisabled (409).

EventBridge and MediaLive events, as AWS does them (moto sends no MediaLive events, drops
`account` from the envelope it delivers, and fails PutEvents with HTTP 500 on an SNS target):
  * MediaLive channel state changes put "MediaLive Channel State Change" events (source
    aws.medialive) on the default event bus of the channel's account and region, at the
    moment the state changes in moto: STARTING / STOPPING at StartChannel / StopChannel,
    CREATED / RUNNING / STOPPED / DELETED when moto settles the transient state, which it
    does on the next DescribeChannel (or UpdateChannel), not on ListChannels.
  * A rule target without an InputTransformer gets the whole event, `account` included.
  * An SNS topic target publishes the event JSON to the topic. A target that cannot be
    delivered to is logged on stderr and skipped; PutEvents itself still succeeds, as on AWS.
  * Tests inject other MediaLive events (alerts) with a plain PutEvents whose Source is
    aws.medialive: moto accepts it (AWS refuses "aws." sources from customers).
MediaLive RestartChannelPipelines: NotFoundException (404) for an unknown channel,
ConflictException (409) unless the channel is RUNNING; on success it answers the channel
description and records the restart, readable at GET /ottd-emulator/restarts (test-only,
cleared by DELETE there and by POST /moto-api/reset).

MediaLive schedules (schedule.py next to this file): BatchUpdateSchedule, DescribeSchedule and
DeleteSchedule on /prod/channels/{channelId}/schedule with MediaLive's validation rules (422
UnprocessableEntityException, 400 BadRequestException for malformed requests), executed on
the emulator's clock on RUNNING channels: input switches show in DescribeChannel's
PipelineDetails and send "MediaLive Channel Input Change" events; breaks, images and the rest
are recorded. Test-only: /ottd-emulator/clock (advance the clock) and
/ottd-emulator/schedule/<channel-id> (the runtime record).

Input security group semantics implemented:
  * Id is a 7-digit numeric string, Arn arn:<partition>:medialive:<region>:<account>:inputSecurityGroup:<id>
  * State IDLE while no input references the group, IN_USE while one does (Inputs lists
    the input ids); CreateInput/UpdateInput/DeleteInput keep this up to date.
  * CreateInputSecurityGroup without WhitelistRules -> BadRequestException (400), as AWS does.
  * Describe/Update/Delete of an unknown id -> NotFoundException (404).
  * Delete of an IN_USE group -> BadRequestException (400). The MediaLive model declares
    no ConflictException for DeleteInputSecurityGroup (its errors are BadRequest, Forbidden,
    NotFound, TooManyRequests and 5xx), so 400 BadRequest is the declared fit.
  * CreateInput naming an unknown security group id -> BadRequestException (400).

DynamoDB TransactWriteItems honours its ClientRequestToken, as AWS documents (moto ignores
it and applies a repeat again): for 10 minutes after a call with a token succeeded, the same
token with the same request is a no-op that succeeds, and the same token with a different
request is IdempotentParameterMismatchException (400). A call that failed records nothing
(it is applied when repeated). Tokens are per account and region.

S3 bucket policies: a statement conditioned on aws:SecureTransport alone applies as it would
to a request over TLS (moto denies every object call under a statement with any Condition, so
a TLS-only policy locked the objects away); the emulator stands in for S3's HTTPS endpoints.

MediaPackage (v1) endpoint Urls end with their manifest, as on AWS: <base>/index.m3u8 (HLS),
<base>/index.mpd (DASH), <base>/index.ism/Manifest (MSS), with <base> =
https://origin-endpoint.mediapackage.<region>.amazonaws.com/<endpoint-id> and `index` the
endpoint's ManifestName when it has one; CMAF endpoints keep <base>.

Live streams (opt-in, streams.py next to this file): with --streams DIR, each RUNNING
MediaLive channel gets an ffmpeg encode served over HTTPS at its MediaPackage endpoints and
CloudFront domains, with test-only controls under /ottd-emulator/streams.

Usage:
  python ottd_moto.py [--host 127.0.0.1] [--port 0] [--port-file PATH] [--schedule-purge-seconds S]
                      [--streams DIR [--stream-segment-seconds N] [--streams-port 0]]
Prints "OTTD_MOTO_READY http://127.0.0.1:<port>" on stdout once listening, then serves until
SIGTERM/SIGINT. With --streams, "OTTD_STREAMS_READY https://127.0.0.1:<port> <DIR>/ca.pem"
comes first.
"""

import argparse
import datetime
import hashlib
import itertools
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from moto.cloudfront.exceptions import CloudFrontException
from moto.cloudfront.models import CloudFrontBackend, Distribution
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult, EmptyResult, PaginatedResult
from moto.core.utils import get_pagination_model, iso_8601_datetime_without_milliseconds, utcfromtimestamp
from moto.dynamodb.exceptions import ERROR_TYPE_PREFIX, DynamodbException
from moto.dynamodb.responses import DynamoHandler
from moto.events.models import Rule
from moto.events.utils import EventTemplateParser
from moto.iam.access_control import IAMPolicy, PermissionResult
from moto.medialive import urls as ml_urls
from moto.medialive.models import Channel, MediaLiveBackend, medialive_backends
from moto.medialive.responses import MediaLiveResponse
from moto.mediapackage.models import MediaPackageBackend
from moto.moto_api._internal import mock_random
from moto.moto_api._internal.managed_state_model import ManagedState
from moto.moto_api._internal.models import MotoAPIBackend
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.s3.models import FakeBucket
from moto.utilities.arns import parse_arn
from moto.utilities.utils import get_partition

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import schedule  # noqa: E402 - this folder's module: MediaLive channel schedules
import streams  # noqa: E402 - this folder's module: live streams for RUNNING channels (--streams)


class NotFoundException(ServiceException):
    code = "NotFoundException"


class BadRequestException(ServiceException):
    code = "BadRequestException"


class ConflictException(ServiceException):
    code = "ConflictException"


class InputSecurityGroup:
    def __init__(self, arn: str, isg_id: str, whitelist_rules: Any, tags: Any):
        self.arn = arn
        self.id = isg_id
        self.whitelist_rules = [{"Cidr": r.get("Cidr")} for r in whitelist_rules or []]
        self.tags = dict(tags or {})
        self.inputs: list[str] = []
        self.channels: list[str] = []

    @property
    def state(self) -> str:
        return "IN_USE" if self.inputs else "IDLE"


# --- backend state -------------------------------------------------------------------

def _isgs(backend: MediaLiveBackend) -> dict:
    if not hasattr(backend, "_ottd_isgs"):
        backend._ottd_isgs = {}  # type: ignore[attr-defined]
    return backend._ottd_isgs  # type: ignore[attr-defined]


def _get_isg(backend: MediaLiveBackend, isg_id: str) -> InputSecurityGroup:
    isg = _isgs(backend).get(isg_id)
    if isg is None:
        raise NotFoundException(f"Input Security Group {isg_id} not found")
    return isg


def create_input_security_group(self: MediaLiveBackend, whitelist_rules: Any, tags: Any) -> InputSecurityGroup:
    if not whitelist_rules:
        raise BadRequestException("Must specify at least one whitelist")
    groups = _isgs(self)
    isg_id = str(mock_random.randint(1000000, 9999999))
    while isg_id in groups:
        isg_id = str(mock_random.randint(1000000, 9999999))
    arn = f"arn:{get_partition(self.region_name)}:medialive:{self.region_name}:{self.account_id}:inputSecurityGroup:{isg_id}"
    groups[isg_id] = InputSecurityGroup(arn, isg_id, whitelist_rules, tags)
    return groups[isg_id]


def update_input_security_group(self: MediaLiveBackend, isg_id: str, whitelist_rules: Any, tags: Any) -> InputSecurityGroup:
    isg = _get_isg(self, isg_id)
    if whitelist_rules is not None:
        isg.whitelist_rules = [{"Cidr": r.get("Cidr")} for r in whitelist_rules]
    if tags is not None:
        isg.tags = dict(tags)
    return isg


def delete_input_security_group(self: MediaLiveBackend, isg_id: str) -> None:
    isg = _get_isg(self, isg_id)
    if isg.inputs:
        raise BadRequestException(
            f"Input Security Group {isg_id} is still being used by inputs: {', '.join(isg.inputs)}"
        )
    del _isgs(self)[isg_id]


def _attach(backend: MediaLiveBackend, input_id: str, isg_ids: list) -> None:
    for isg in _isgs(backend).values():
        if input_id in isg.inputs and isg.id not in isg_ids:
            isg.inputs.remove(input_id)
    for isg_id in isg_ids:
        isg = _isgs(backend)[isg_id]
        if input_id not in isg.inputs:
            isg.inputs.append(input_id)


def _check_isg_ids(backend: MediaLiveBackend, isg_ids: Any) -> list:
    ids = list(isg_ids or [])
    unknown = [i for i in ids if i not in _isgs(backend)]
    if unknown:
        raise BadRequestException(f"Input Security Group(s) not found: {', '.join(unknown)}")
    return ids


_PUSH = {"UDP_PUSH": ("udp", 5000), "RTP_PUSH": ("rtp", 5000), "RTMP_PUSH": ("rtmp", 1935)}


def _push_destinations(input_type: str, requested: Any) -> list:
    scheme, port = _PUSH[input_type]
    requested = list(requested or [])
    count = len(requested) if requested else 2  # STANDARD: one per pipeline
    out = []
    for i in range(count):
        ip = f"127.0.1.{i + 1}"  # data only; never contacted
        url = f"{scheme}://{ip}:{port}"
        if scheme == "rtmp":
            stream = (requested[i].get("StreamName") if i < len(requested) else None) or "live/stream"
            url += "/" + stream.lstrip("/")
        out.append({"Ip": ip, "Port": str(port), "Url": url})
    return out


_orig_create_input = MediaLiveBackend.create_input
_orig_update_input = MediaLiveBackend.update_input
_orig_delete_input = MediaLiveBackend.delete_input


def create_input(self: MediaLiveBackend, **kwargs: Any) -> Any:
    ids = _check_isg_ids(self, kwargs.get("input_security_groups"))
    a_input = _orig_create_input(self, **kwargs)
    a_input.security_groups = ids
    if a_input.type in _PUSH and not any((d or {}).get("Url") for d in a_input.destinations or []):
        a_input.destinations = _push_destinations(a_input.type, kwargs.get("destinations"))
        a_input.input_class = "STANDARD" if len(a_input.destinations) > 1 else "SINGLE_PIPELINE"
    _attach(self, a_input.id, ids)
    return a_input


def update_input(self: MediaLiveBackend, **kwargs: Any) -> Any:
    a_input = self._inputs.get(kwargs.get("input_id"))
    if a_input is None:
        raise NotFoundException(f"Input {kwargs.get('input_id')} not found")
    old_ids = list(a_input.security_groups or [])
    new_ids = kwargs.get("input_security_groups")
    ids = _check_isg_ids(self, new_ids) if new_ids is not None else old_ids
    old_dest = a_input.destinations
    a_input = _orig_update_input(self, **kwargs)
    a_input.security_groups = ids
    if kwargs.get("destinations") is None:
        a_input.destinations = old_dest
    _attach(self, a_input.id, ids)
    return a_input


def _not_found_wrapper(orig: Any, kind: str, key: str, store: str) -> Any:
    """moto raises KeyError (HTTP 500) for unknown ids; AWS answers NotFoundException (404)."""

    def wrapper(self: MediaLiveBackend, *args: Any, **kwargs: Any) -> Any:
        ident = kwargs.get(key, args[0] if args else None)
        if ident not in getattr(self, store):
            raise NotFoundException(f"{kind} {ident} not found")
        return orig(self, *args, **kwargs)

    return wrapper


def _with_manifest_urls(orig: Any) -> Any:
    """moto's MediaPackage (v1) endpoint Url is `https://origin-endpoint.mediapackage.<region>.
    amazonaws.com/<endpoint-id>`, with no manifest, and CmafPackage.HlsManifests[].Url is left
    out. AWS's Urls end with the manifest (`.../out/v1/<hash>/index.m3u8`), so a player resolves
    the manifest's relative URIs under the endpoint: HLS `<base>/<ManifestName>.m3u8`, DASH
    `<base>/<ManifestName>.mpd`, MSS `<base>/<ManifestName>.ism/Manifest` (ManifestName
    defaults to `index`); a CMAF endpoint keeps the base, and each HLS manifest gets
    `<base>/<its ManifestName>.m3u8`."""

    def wrapper(self: MediaPackageBackend, *args: Any, **kwargs: Any) -> Any:
        endpoint = orig(self, *args, **kwargs)
        base = f"https://origin-endpoint.mediapackage.{self.region_name}.amazonaws.com/{endpoint.id}"
        name = endpoint.manifest_name or "index"
        if endpoint.hls_package:
            endpoint.url = f"{base}/{name}.m3u8"
        elif endpoint.dash_package:
            endpoint.url = f"{base}/{name}.mpd"
        elif endpoint.mss_package:
            endpoint.url = f"{base}/{name}.ism/Manifest"
        else:
            endpoint.url = base
        for m in (endpoint.cmaf_package or {}).get("hlsManifests") or []:
            m["url"] = f"{base}/{m.get('manifestName') or 'index'}.m3u8"
        return endpoint

    return wrapper


def delete_input(self: MediaLiveBackend, input_id: str) -> None:
    if input_id not in self._inputs:
        raise NotFoundException(f"Input {input_id} not found")
    _orig_delete_input(self, input_id=input_id)
    _attach(self, input_id, [])


# --- responses (mirroring moto's own MediaLiveResponse methods) -------------------------

def r_create_input_security_group(self: MediaLiveResponse) -> ActionResult:
    isg = self.medialive_backend.create_input_security_group(
        whitelist_rules=self._get_param("WhitelistRules"), tags=self._get_param("Tags")
    )
    return ActionResult({"SecurityGroup": isg})


def r_list_input_security_groups(self: MediaLiveResponse) -> ActionResult:
    groups = list(_isgs(self.medialive_backend).values())
    return PaginatedResult({"InputSecurityGroups": groups})


def r_describe_input_security_group(self: MediaLiveResponse) -> ActionResult:
    return ActionResult(_get_isg(self.medialive_backend, self._get_param("InputSecurityGroupId")))


def r_update_input_security_group(self: MediaLiveResponse) -> ActionResult:
    isg = self.medialive_backend.update_input_security_group(
        isg_id=self._get_param("InputSecurityGroupId"),
        whitelist_rules=self._get_param("WhitelistRules"),
        tags=self._get_param("Tags"),
    )
    return ActionResult({"SecurityGroup": isg})


def r_delete_input_security_group(self: MediaLiveResponse) -> ActionResult:
    self.medialive_backend.delete_input_security_group(isg_id=self._get_param("InputSecurityGroupId"))
    return EmptyResult()


# --- RequestId: MediaLive's idempotency token on CreateInput / CreateChannel -------------

# One lock for every backend: a check-then-create must not interleave with a concurrent
# create carrying the same token (ThreadedMotoServer serves requests on several threads).
_REQUEST_ID_LOCK = threading.Lock()


def _request_ids(backend: MediaLiveBackend) -> dict:
    """(operation, RequestId) -> id of the resource that request created."""
    if not hasattr(backend, "_ottd_request_ids"):
        backend._ottd_request_ids = {}  # type: ignore[attr-defined]
    return backend._ottd_request_ids  # type: ignore[attr-defined]


def _honour_request_id(orig: Any, result_key: str, store: str) -> Any:
    """Wrap a MediaLiveResponse create so a repeated RequestId returns the first resource.

    The request's parameters are not compared with the first one's (AWS documents no
    mismatch error for MediaLive). The first resource is returned in its current state,
    even DELETED: moto keeps deleted inputs and channels, and AWS documents no expiry.
    """

    def wrapper(self: MediaLiveResponse) -> Any:
        request_id = self._get_param("RequestId")
        if not request_id:
            return orig(self)
        backend = self.medialive_backend
        with _REQUEST_ID_LOCK:
            seen = _request_ids(backend)
            first = getattr(backend, store).get(seen.get((result_key, request_id)))
            if first is not None:
                return ActionResult({result_key: first})
            result = orig(self)
            made = result.result.get(result_key) if isinstance(result.result, dict) else None
            if made is not None:
                seen[(result_key, request_id)] = made.id
            return result

    return wrapper


class DistributionNotDisabled(CloudFrontException):
    # The HTTP status (409) comes from botocore's model of the error shape.
    def __init__(self) -> None:
        super().__init__(
            "DistributionNotDisabled",
            "The distribution you are trying to delete has not been disabled.",
        )


SETTLE_FILE: dict = {"path": None}


def _distribution_status(self: Distribution) -> Any:
    if getattr(self, "_ottd_settling", False):
        path = SETTLE_FILE["path"]
        if path and os.path.exists(path):
            return "InProgress"
        self._ottd_settling = False
    return ManagedState.status.fget(self)


def _update_distribution(orig: Any) -> Any:
    def wrapper(self: CloudFrontBackend, *args: Any, **kwargs: Any) -> Any:
        dist, location, etag = orig(self, *args, **kwargs)
        # Back to InProgress until a later read (or until the settle file is removed).
        dist._status = "InProgress"
        dist._tick = 0
        dist._ottd_settling = True
        return dist, location, etag

    return wrapper


def _delete_distribution(orig: Any) -> Any:
    def wrapper(self: CloudFrontBackend, distribution_id: str, if_match: Any) -> None:
        dist = self.distributions.get(distribution_id)
        if dist is not None:
            enabled = str(getattr(dist.distribution_config, "Enabled", False)).lower() == "true"
            if enabled or dist.status != "Deployed":
                raise DistributionNotDisabled()
        return orig(self, distribution_id, if_match)

    return wrapper


# --- EventBridge: the envelope AWS delivers, SNS targets ----------------------------------

_ENVELOPE_KEYS = ("version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail")
_orig_template_parse = EventTemplateParser.parse


def _template_parse(input_template: Any, input_paths_map: Any, event: Any) -> dict:
    """A target without an InputTransformer gets the whole event, as on AWS.

    moto's default template (EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE) leaves
    `account` out. `time` stays a number here: moto's SQS delivery formats it.
    """
    if input_template:
        return _orig_template_parse(input_template=input_template, input_paths_map=input_paths_map, event=event)
    keys = _ENVELOPE_KEYS + (("replay-name",) if "replay-name" in event else ())
    return json.loads(json.dumps({k: event[k] for k in keys if k in event}))


def _rfc3339(event: dict) -> dict:
    if isinstance(event.get("time"), (int, float)):
        event["time"] = iso_8601_datetime_without_milliseconds(utcfromtimestamp(float(event["time"])))
    return event


def _send_to_sns_topic(target: dict, original_event: Any, transform_input: bool) -> None:
    """AWS publishes the event JSON as the message (standard topics; no Subject)."""
    from moto.sns import sns_backends

    transformer = target.get("InputTransformer", {}) if transform_input else {}
    event = _template_parse(transformer.get("InputTemplate"), transformer.get("InputPathsMap", {}), original_event)
    arn = parse_arn(target["Arn"])
    sns_backends[arn.account][arn.region].publish(message=json.dumps(_rfc3339(event)), arn=target["Arn"])


class _OneTarget:
    """A rule seen with one of its targets (copying a moto model would register the copy)."""

    def __init__(self, rule: Rule, target: dict) -> None:
        self._rule = rule
        self.targets = [target]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._rule, name)


_orig_send_to_targets = Rule.send_to_targets


def _send_to_targets(self: Rule, original_event: Any, transform_input: bool = True) -> None:
    """Deliver to each target on its own: an SNS target publishes, and a failing target
    (moto raised NotImplementedError for SNS, so PutEvents answered 500 and boto3's retries
    delivered the event again to the other targets) no longer fails PutEvents. On AWS a
    failed delivery shows in the rule's metrics, never in the PutEvents answer."""
    if not self.event_pattern.matches_event(original_event):
        return
    for target in list(self.targets):
        try:
            if parse_arn(target["Arn"]).service == "sns":
                _send_to_sns_topic(target, original_event, transform_input)
            else:
                _orig_send_to_targets(_OneTarget(self, target), original_event, transform_input)
        except Exception as e:  # noqa: BLE001 - delivery is best effort, as on AWS
            print(f"ottd_moto: rule {self.arn} did not deliver to {target.get('Arn')}: {e!r}", file=sys.stderr, flush=True)


# --- MediaLive "Channel State Change" events ----------------------------------------------

# Serialises each channel state change with the reading of the state before it, so two
# concurrent describes settle (and announce) a transition once. Events go out after release.
_STATE_LOCK = threading.RLock()


def _state_change_details(channel: Channel, before: Any, after: Any) -> list:
    """The detail of each event AWS sends for moto's transition `before` -> `after`.

    AWS documents the envelope and one example (DELETED, "Deleted channel"); the per-pipeline
    events (RUNNING, STOPPING, STOPPED carry `pipeline`) and their wording follow events
    captured from AWS. AWS sends nothing for CREATING, DELETING or UPDATING.
    """
    if before == after:
        return []
    pipelines = 1 if channel.channel_class == "SINGLE_PIPELINE" else 2

    def detail(state: str, message: str, running: int, pipeline: Any = None) -> dict:
        d = {"channel_arn": channel.arn, "state": state, "message": message, "pipelines_running_count": running}
        if pipeline is not None:
            d["pipeline"] = str(pipeline)
        return d

    if before == "CREATING" and after == "IDLE":
        return [detail("CREATED", "Created channel", 0)]
    if after == "STARTING":
        return [detail("STARTING", "Starting channel", 0)]
    if before == "STARTING" and after == "RUNNING":
        return [detail("RUNNING", "Pipeline started for channel", i + 1, i) for i in range(pipelines)]
    if after == "STOPPING":
        return [detail("STOPPING", "Stopping pipeline", pipelines - 1 - i, i) for i in range(pipelines)]
    if before == "STOPPING" and after == "IDLE":
        return [detail("STOPPED", "Stop detected on pipeline", 0, i) for i in range(pipelines)]
    if before == "DELETING" and after == "DELETED":
        return [detail("DELETED", "Deleted channel", 0)]
    return []


def _emit_medialive(channel: Channel, details: list) -> None:
    """Put the events on the default bus of the channel's account and region. Best effort,
    as on AWS: a failure is logged and never fails the MediaLive call."""
    origin = getattr(channel, "_ottd_origin", None)
    if not details or origin is None:
        return
    from moto.events.models import events_backends

    entries = [
        {"Source": "aws.medialive", "DetailType": "MediaLive Channel State Change",
         "Resources": [channel.arn], "Detail": json.dumps(d)}
        for d in details
    ]
    try:
        events_backends[origin[0]][origin[1]].put_events(entries)
    except Exception as e:  # noqa: BLE001
        print(f"ottd_moto: MediaLive event for {channel.id} not sent: {e!r}", file=sys.stderr, flush=True)


_orig_resolve_transient_states = Channel._resolve_transient_states


def _resolve_transient_states(self: Channel) -> None:
    with _STATE_LOCK:
        before = self.state
        _orig_resolve_transient_states(self)
        after = self.state
        details = _state_change_details(self, before, after)
    _emit_medialive(self, details)
    schedule.on_state_change(self, before, after)
    streams.on_state_change(self, before, after)


def _announcing(orig: Any) -> Any:
    """Wrap MediaLiveBackend.start/stop/delete_channel: the transient state they set is a change."""

    def wrapper(self: MediaLiveBackend, *args: Any, **kwargs: Any) -> Any:
        channel_id = kwargs.get("channel_id", args[0] if args else None)
        with _STATE_LOCK:
            channel = self._channels.get(channel_id)
            before = channel.state if channel is not None else None
            channel = orig(self, *args, **kwargs)
            after = channel.state
            details = _state_change_details(channel, before, after)
        _emit_medialive(channel, details)
        schedule.on_state_change(channel, before, after)
        streams.on_state_change(channel, before, after)
        return channel

    return wrapper


_orig_create_channel = MediaLiveBackend.create_channel


def create_channel(self: MediaLiveBackend, **kwargs: Any) -> Channel:
    channel = _orig_create_channel(self, **kwargs)
    channel._ottd_origin = (self.account_id, self.region_name)  # type: ignore[attr-defined]
    return channel


# --- MediaLive RestartChannelPipelines, recorded for tests ---------------------------------

_RESTART_SEQ = itertools.count()


def _restarts(backend: MediaLiveBackend) -> list:
    # Kept on the backend, so POST /moto-api/reset (which re-creates backends) clears it.
    if not hasattr(backend, "_ottd_restarts"):
        backend._ottd_restarts = []  # type: ignore[attr-defined]
    return backend._ottd_restarts  # type: ignore[attr-defined]


def restart_channel_pipelines(self: MediaLiveBackend, channel_id: str, pipeline_ids: Any) -> Channel:
    channel = self._channels.get(channel_id)
    if channel is None:
        raise NotFoundException(f"Channel {channel_id} not found")
    ids = list(pipeline_ids or [])
    unknown = [p for p in ids if p not in ("PIPELINE_0", "PIPELINE_1")]
    if unknown:
        raise BadRequestException(f"Invalid pipeline id(s): {', '.join(map(str, unknown))}")
    with _STATE_LOCK:
        if channel.state != "RUNNING":
            raise ConflictException(f"Channel {channel_id} is {channel.state}; only a RUNNING channel's pipelines can be restarted")
        now = datetime.datetime.now(datetime.timezone.utc)
        _restarts(self).append({
            "seq": next(_RESTART_SEQ),
            "channel_id": channel_id,
            "pipeline_ids": ids,
            "time": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
            "account": self.account_id,
            "region": self.region_name,
        })
    streams.on_restart(channel)  # a fresh encode: the stream's sequence starts again
    return channel


def r_restart_channel_pipelines(self: MediaLiveResponse) -> ActionResult:
    channel = self.medialive_backend.restart_channel_pipelines(
        channel_id=self._get_param("ChannelId"), pipeline_ids=self._get_param("PipelineIds")
    )
    return ActionResult(channel)


def _all_restarts() -> list:
    found = []
    for per_account in list(medialive_backends.values()):
        for backend in list(per_account.values()):
            found.extend(getattr(backend, "_ottd_restarts", []))
    return sorted(found, key=lambda r: r["seq"])


def _running_schedule(orig: Any) -> Any:
    """DescribeChannel first runs the schedule's due actions, so PipelineDetails are current."""

    def wrapper(self: MediaLiveBackend, *args: Any, **kwargs: Any) -> Channel:
        channel = orig(self, *args, **kwargs)
        schedule.after_describe(channel, self)
        return channel

    return wrapper


def _resetting_streams(orig: Any) -> Any:
    """POST /moto-api/reset drops every channel: their streams stop at once."""

    def wrapper(self: MotoAPIBackend) -> None:
        orig(self)
        schedule.on_reset()
        streams.on_reset()

    return wrapper


_STATUS_TEXT = {200: "200 OK", 400: "400 Bad Request", 404: "404 Not Found", 409: "409 Conflict"}


def _ottd_emulator_api(environ: dict, start_response: Any) -> list:
    """Test-only endpoints under /ottd-emulator/ (no AWS API exposes these)."""
    method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "").rstrip("/")
    status, body = "404 Not Found", {"message": f"no such ottd-emulator endpoint: {method} {path}"}
    if path == "/ottd-emulator/streams" or path.startswith("/ottd-emulator/streams/"):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length > 0 else b""
        code, body = streams.api(method, path, raw)
        status = _STATUS_TEXT.get(code, f"{code} Error")
    elif path == "/ottd-emulator/clock" or path.startswith("/ottd-emulator/schedule/"):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length > 0 else b""
        code, body = schedule.api(method, path, raw)
        status = _STATUS_TEXT.get(code, f"{code} Error")
    elif path == "/ottd-emulator/restarts" and method == "GET":
        wanted = parse_qs(environ.get("QUERY_STRING", "")).get("channel_id")
        items = [r for r in _all_restarts() if not wanted or r["channel_id"] in wanted]
        status, body = "200 OK", [{k: v for k, v in r.items() if k != "seq"} for r in items]
    elif path == "/ottd-emulator/restarts" and method == "DELETE":
        for per_account in list(medialive_backends.values()):
            for backend in list(per_account.values()):
                backend._ottd_restarts = []
        status, body = "200 OK", []
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


# --- DynamoDB: TransactWriteItems' ClientRequestToken --------------------------------------

# How long a token is remembered after its call succeeded (AWS: 10 minutes).
_TOKEN_TTL_SECONDS = 600.0
# One lock for every backend: a token's check, the transaction and the token's record must
# not interleave with a concurrent call carrying the same token.
_TOKEN_LOCK = threading.Lock()


class IdempotentParameterMismatchException(DynamodbException):
    def __init__(self, message: str):
        super().__init__(ERROR_TYPE_PREFIX + "IdempotentParameterMismatchException", message=message)


def _transaction_tokens(backend: Any) -> dict:
    if not hasattr(backend, "_ottd_tokens"):
        backend._ottd_tokens = {}  # token -> (request digest, monotonic time it succeeded)
    return backend._ottd_tokens


def _honour_client_request_token(orig: Any) -> Any:
    def wrapper(self: DynamoHandler) -> Any:
        token = self.body.get("ClientRequestToken")
        if not token:
            return orig(self)
        request = {k: v for k, v in self.body.items() if k != "ClientRequestToken"}
        digest = hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()
        with _TOKEN_LOCK:
            tokens = _transaction_tokens(self.dynamodb_backend)
            now = time.monotonic()
            for old, (_, at) in list(tokens.items()):
                if now - at > _TOKEN_TTL_SECONDS:
                    del tokens[old]
            seen = tokens.get(token)
            if seen is not None:
                if seen[0] != digest:
                    raise IdempotentParameterMismatchException(
                        "Request parameters do not match the previous request with the same client token"
                    )
                return ActionResult({"ConsumedCapacity": [], "ItemCollectionMetrics": {}})
            result = orig(self)
            tokens[token] = (digest, time.monotonic())
            return result

    return wrapper


# --- S3: bucket policy conditions on aws:SecureTransport -------------------------------------

# moto 5.2.5 evaluates a bucket's policy for object calls (GetObject, PutObject, HeadObject,
# each key of a DeleteObjects) but no Condition in it: a statement with any Condition counts as DENIED for every request.
# So a TLS-only policy (Deny s3:* when aws:SecureTransport is false, as ottd's buckets have)
# refused every object call. The emulator stands in for S3's HTTPS endpoints (it is plain
# HTTP only because it is local), so requests count as made over TLS: a `Bool` condition on
# aws:SecureTransport alone is evaluated with "true"; a statement it does not hold for does
# not apply, one it holds for applies without its Condition. Other conditions stay moto's.
_TRANSPORT = {"aws:securetransport": "true"}


def _transport_condition_holds(condition: Any) -> Any:
    """True / False for a condition on aws:SecureTransport only, None for anything else."""
    if not isinstance(condition, dict) or set(condition) != {"Bool"} or not isinstance(condition["Bool"], dict):
        return None
    if not condition["Bool"] or any(k.lower() not in _TRANSPORT for k in condition["Bool"]):
        return None
    for key, wanted in condition["Bool"].items():
        values = wanted if isinstance(wanted, list) else [wanted]
        if _TRANSPORT[key.lower()] not in [str(v).lower() for v in values]:
            return False
    return True


def _bucket_permission(self: FakeBucket, action: str, resource: str) -> Any:
    if self.policy is None:
        return PermissionResult.NEUTRAL
    doc = json.loads(self.policy.decode() if isinstance(self.policy, bytes) else self.policy)
    statements = doc.get("Statement")
    kept = []
    for st in statements if isinstance(statements, list) else [statements]:
        holds = _transport_condition_holds(st.get("Condition")) if isinstance(st, dict) else None
        if holds is False:
            continue
        kept.append({k: v for k, v in st.items() if k != "Condition"} if holds else st)
    return IAMPolicy(json.dumps(dict(doc, Statement=kept))).is_action_permitted(action, resource)


_orig_dispatch_call = DomainDispatcherApplication.__call__


def _dispatch_call(self: DomainDispatcherApplication, environ: dict, start_response: Any) -> Any:
    if environ.get("PATH_INFO", "").startswith("/ottd-emulator/"):
        return _ottd_emulator_api(environ, start_response)
    return _orig_dispatch_call(self, environ, start_response)


def install() -> None:
    MediaLiveBackend.create_input_security_group = create_input_security_group
    MediaLiveBackend.update_input_security_group = update_input_security_group
    MediaLiveBackend.delete_input_security_group = delete_input_security_group
    MediaLiveBackend.create_input = create_input
    MediaLiveBackend.update_input = update_input
    MediaLiveBackend.delete_input = delete_input
    MediaLiveBackend.describe_input = _not_found_wrapper(MediaLiveBackend.describe_input, "Input", "input_id", "_inputs")
    MediaLiveBackend.create_channel = create_channel
    MediaLiveBackend.restart_channel_pipelines = restart_channel_pipelines
    Channel._resolve_transient_states = _resolve_transient_states
    for name in ("describe_channel", "delete_channel", "start_channel", "stop_channel", "update_channel"):
        orig = getattr(MediaLiveBackend, name)
        if name in ("delete_channel", "start_channel", "stop_channel"):
            orig = _announcing(orig)
        if name == "describe_channel":
            orig = _running_schedule(orig)
        setattr(MediaLiveBackend, name, _not_found_wrapper(orig, "Channel", "channel_id", "_channels"))
    EventTemplateParser.parse = staticmethod(_template_parse)
    Rule.send_to_targets = _send_to_targets
    DomainDispatcherApplication.__call__ = _dispatch_call
    DynamoHandler.transact_write_items = _honour_client_request_token(DynamoHandler.transact_write_items)
    Distribution.status = property(_distribution_status)
    CloudFrontBackend.update_distribution = _update_distribution(CloudFrontBackend.update_distribution)
    CloudFrontBackend.delete_distribution = _delete_distribution(CloudFrontBackend.delete_distribution)
    MediaPackageBackend.create_origin_endpoint = _with_manifest_urls(MediaPackageBackend.create_origin_endpoint)
    MediaPackageBackend.update_origin_endpoint = _with_manifest_urls(MediaPackageBackend.update_origin_endpoint)
    MotoAPIBackend.reset = _resetting_streams(MotoAPIBackend.reset)
    FakeBucket.get_permission = _bucket_permission
    MediaLiveResponse.create_input = _honour_request_id(MediaLiveResponse.create_input, "Input", "_inputs")
    MediaLiveResponse.create_channel = _honour_request_id(MediaLiveResponse.create_channel, "Channel", "_channels")
    MediaLiveResponse.create_input_security_group = r_create_input_security_group
    MediaLiveResponse.list_input_security_groups = r_list_input_security_groups
    MediaLiveResponse.describe_input_security_group = r_describe_input_security_group
    MediaLiveResponse.update_input_security_group = r_update_input_security_group
    MediaLiveResponse.delete_input_security_group = r_delete_input_security_group
    MediaLiveResponse.restart_channel_pipelines = r_restart_channel_pipelines
    dispatch = ml_urls.response.dispatch
    ml_urls.url_paths["{0}/prod/inputSecurityGroups$"] = dispatch
    ml_urls.url_paths["{0}/prod/inputSecurityGroups/(?P<inputsecuritygroupid>[^/.]+)$"] = dispatch
    ml_urls.url_paths["{0}/prod/channels/(?P<channelid>[^/.]+)/restartChannelPipelines$"] = dispatch
    schedule.install(ml_urls.url_paths, dispatch)  # BatchUpdateSchedule, DescribeSchedule, DeleteSchedule
    streams.BREAKS = schedule.breaks_for  # HLS cue markers while a break is on
    # botocore's paginator entry has no unique attribute; moto's paginator needs one.
    get_pagination_model("medialive")["ListInputSecurityGroups"].setdefault("unique_attribute", "arn")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    ap.add_argument("--port-file", help="also write the URL to this file")
    ap.add_argument("--cloudfront-settle-file", help="while this file exists, updated distributions stay InProgress")
    ap.add_argument("--streams", metavar="DIR",
                    help="serve a live HLS/DASH stream (ffmpeg, output under DIR) for each RUNNING MediaLive channel")
    ap.add_argument("--stream-segment-seconds", type=int, default=1, metavar="N",
                    help="segment length of those streams (default 1)")
    ap.add_argument("--streams-port", type=int, default=0, help="the stream server's HTTPS port (0 = a free port)")
    ap.add_argument("--schedule-purge-seconds", type=float, default=3600.0, metavar="S",
                    help="purge MediaLive schedule actions S seconds after their start (default 3600, as AWS)")
    args = ap.parse_args()
    if args.stream_segment_seconds < 1:
        ap.error("--stream-segment-seconds must be a whole number of seconds, at least 1")

    SETTLE_FILE["path"] = args.cloudfront_settle_file
    schedule.configure(purge_after_seconds=args.schedule_purge_seconds)
    install()
    if args.streams:
        # Printed first: a harness that waits for OTTD_MOTO_READY has both lines then.
        stream_server = streams.start(Path(args.streams), args.stream_segment_seconds, args.host, args.streams_port)
        print(f"OTTD_STREAMS_READY {stream_server.url} {stream_server.ca.pem_path}", flush=True)
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address=args.host, port=args.port, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    if args.port_file:
        with open(args.port_file, "w") as f:
            f.write(url + "\n")
    print(f"OTTD_MOTO_READY {url}", flush=True)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        while not stop.wait(1.0):
            pass
    finally:
        if streams.SERVER is not None:
            streams.SERVER.shutdown()  # kill every ffmpeg (PR_SET_PDEATHSIG covers kill -9)
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
