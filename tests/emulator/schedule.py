"""MediaLive channel schedules for ottd's AWS emulator (moto 5.2.5 has none).

Serves `/prod/channels/{channelId}/schedule` as MediaLive does: BatchUpdateSchedule (PUT),
DescribeSchedule (GET) and DeleteSchedule (DELETE), with the wire shapes of botocore's
medialive 2017-10-14 model (moto's automated parameter parsing and serialization do the
camelCase <-> PascalCase work; the dicts here use the model's PascalCase member names).

The schedule runs on the *emulator's clock*: the wall clock plus an offset that tests
move forward with `POST /ottd-emulator/clock {"advance_seconds": N}`. Due actions execute
on a RUNNING channel only: an input switch changes DescribeChannel's PipelineDetails
(ActiveInputAttachmentName, ActiveInputSwitchActionName) and puts one "MediaLive Channel
Input Change" event per pipeline on EventBridge; splice inserts, returns, image overlays,
input prepares and pauses are recorded in the channel's runtime state, readable at
`GET /ottd-emulator/schedule/<channel-id>`. Actions are purged an hour (or
`--schedule-purge-seconds`) after their start.

Execution happens on every schedule call, DescribeChannel, the test-only endpoints, and a
background ticker every 0.2 s (so events come by themselves, as on AWS).

Error types, from the model: UnprocessableEntityException (422, "The update schedule
request failed validation") for every rule about the actions (names, times, references,
settings, feature activations, splice ids), with `validationErrors` naming each failing
action; BadRequestException (400, "This request was invalid") for a request that is not of
the model's shape (a missing required member, a value of the wrong JSON type, an unknown
enum value, a bad maxResults or nextToken); NotFoundException (404) for an unknown channel.
tests/emulator/README.md lists the rules and what is simplified.
"""

from __future__ import annotations

import base64
import datetime
import json
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Optional

from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult, EmptyResult
from moto.medialive.models import Channel, MediaLiveBackend
from moto.medialive.responses import MediaLiveResponse

# --- constants (MediaLive user guide and the botocore model) ------------------------------

MIN_LEAD_SECONDS = 15.0  # a fixed start (or a delete) must be at least this far ahead
MAX_LEAD_SECONDS = 14 * 24 * 3600.0  # ... and a fixed start at most this far
STANDARD_IMMEDIATE_SWITCH_DELAY = 10.0  # immediate input switch, two pipelines
TICKS_PER_SECOND = 90_000  # SCTE-35 durations
SPLICE_DURATION_MAX = 8_589_934_591  # __longMin0Max8589934591
SPLICE_EVENT_ID_MAX = 4_294_967_295  # __longMin0Max4294967295
MAX_RESULTS_RANGE = (1, 1000)  # DescribeSchedule maxResults (API reference)
TICK_INTERVAL = 0.2  # the background ticker's period, seconds
INPUT_CHANGE = "MediaLive Channel Input Change"
INPUT_CHANGE_MESSAGE = "Input switch event on pipeline"  # as in events captured from AWS

SWITCH = "InputSwitchSettings"
PREPARE = "InputPrepareSettings"
SPLICE = "Scte35SpliceInsertSettings"
RETURN = "Scte35ReturnToNetworkSettings"
TIME_SIGNAL = "Scte35TimeSignalSettings"
IMAGE_ON = "StaticImageActivateSettings"
IMAGE_OFF = "StaticImageDeactivateSettings"
OUTPUT_IMAGE_ON = "StaticImageOutputActivateSettings"
OUTPUT_IMAGE_OFF = "StaticImageOutputDeactivateSettings"
PAUSE = "PauseStateSettings"
MOTION_ON = "MotionGraphicsImageActivateSettings"
MOTION_OFF = "MotionGraphicsImageDeactivateSettings"

# Every member of ScheduleActionSettings in the model.
ACTION_KINDS = (
    "HlsId3SegmentTaggingSettings", "HlsTimedMetadataSettings", PREPARE, SWITCH, MOTION_ON, MOTION_OFF, PAUSE,
    "Scte35InputSettings", RETURN, SPLICE, TIME_SIGNAL, IMAGE_ON, IMAGE_OFF, OUTPUT_IMAGE_ON, OUTPUT_IMAGE_OFF,
    "Id3SegmentTaggingSettings", "TimedMetadataSettings",
)
START_KINDS = {
    "FixedModeScheduleActionStartSettings": "FIXED",
    "FollowModeScheduleActionStartSettings": "FOLLOW",
    "ImmediateModeScheduleActionStartSettings": "IMMEDIATE",
}
# Only these may follow, and only an input switch may be followed (user guide, "Types of
# timing for actions", note A).
MAY_FOLLOW = {SWITCH, PREPARE, SPLICE, RETURN, TIME_SIGNAL}
# Feature-gated actions: EncoderSettings.FeatureActivations member that must be ENABLED.
FEATURE_GATES = {
    PREPARE: "InputPrepareScheduleActions",
    OUTPUT_IMAGE_ON: "OutputStaticImageOverlayScheduleActions",
    OUTPUT_IMAGE_OFF: "OutputStaticImageOverlayScheduleActions",
}


# --- errors ----------------------------------------------------------------------------------

class NotFoundException(ServiceException):
    code = "NotFoundException"


class BadRequestException(ServiceException):
    code = "BadRequestException"


class UnprocessableEntityException(ServiceException):
    """422 with the model's `validationErrors` ({elementPath, errorMessage} each)."""

    code = "UnprocessableEntityException"

    def __init__(self, message: str, errors: list[tuple[str, str]]) -> None:
        super().__init__(message)
        self.ValidationErrors = [{"ElementPath": p, "ErrorMessage": m} for p, m in errors]


# --- the emulator's clock ------------------------------------------------------------------

class Clock:
    """Wall clock plus an offset that only moves forward (test-only control)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


CLOCK = Clock()
SETTINGS = {"purge_after_seconds": 3600.0}


def rfc3339_ms(t: Optional[float]) -> Optional[str]:
    if t is None:
        return None
    d = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"


_TIME = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d{1,9})?Z$")


def parse_time(text: str) -> Optional[float]:
    """`yyyy-mm-ddThh:mm:ss.nnnZ` (the fraction optional) -> unix seconds, None if malformed."""
    m = _TIME.match(text)
    if m is None:
        return None
    try:
        d = datetime.datetime(*(int(m.group(i)) for i in range(1, 7)), tzinfo=datetime.timezone.utc)
    except ValueError:
        return None
    return d.timestamp() + (float(m.group(7)) if m.group(7) else 0.0)


# --- state ---------------------------------------------------------------------------------

@dataclass
class Action:
    name: str
    wire: dict  # the ScheduleAction as created (PascalCase), answered as is
    kind: str  # its one ScheduleActionSettings member
    settings: dict  # that member's value
    mode: str  # FIXED | IMMEDIATE | FOLLOW
    seq: int  # creation order, to break ties
    created_at: float
    start_at: Optional[float]  # when it is due (None: a follow whose reference has not run)
    reference: Optional[str] = None  # FOLLOW: the input switch it follows
    follow_point: Optional[str] = None  # FOLLOW: START | END
    status: str = "PENDING"  # PENDING | EXECUTED | MISSED (due while the channel was not running)
    executed_at: Optional[float] = None


@dataclass
class Splice:
    splice_event_id: int
    action: str
    started_at: float
    duration_ticks: Optional[int]
    ends_at: Optional[float]  # None: open-ended, until a return to network
    ended_at: Optional[float] = None
    ended_by: Optional[str] = None  # duration | return action name | channel stopped

    @property
    def active(self) -> bool:
        return self.ended_at is None


@dataclass
class ChannelSchedule:
    channel: Channel
    account: str
    region: str
    actions: dict[str, Action] = field(default_factory=dict)
    # Runtime state of a RUNNING channel (cleared when it stops).
    running_since: Optional[float] = None
    pipelines: list[dict] = field(default_factory=list)  # {attachment, switch_action}
    splices: list[Splice] = field(default_factory=list)
    images: dict[str, dict] = field(default_factory=dict)  # "global/<layer>" or "output/<name>/<layer>"
    prepared: Optional[str] = None
    paused: list[str] = field(default_factory=list)
    motion_graphics: Optional[dict] = None
    executed: list[dict] = field(default_factory=list)  # {action, kind, at}, oldest first


_LOCK = threading.RLock()
_SCHEDULES: dict[str, ChannelSchedule] = {}  # by channel id (moto's ids are uuids)
_SEQ = [0]


def _schedule_of(channel: Channel, account: str, region: str) -> ChannelSchedule:
    s = _SCHEDULES.get(channel.id)
    if s is None or s.channel is not channel:
        s = _SCHEDULES[channel.id] = ChannelSchedule(channel, account, region)
    return s


def _origin(channel: Channel, backend: Optional[MediaLiveBackend] = None) -> tuple[str, str]:
    origin = getattr(channel, "_ottd_origin", None)
    if origin is not None:
        return origin
    if backend is not None:
        return backend.account_id, backend.region_name
    return "123456789012", "us-east-1"


def _channel(backend: MediaLiveBackend, channel_id: str) -> Channel:
    channel = backend._channels.get(channel_id)
    if channel is None or channel.state == "DELETED":
        raise NotFoundException(f"Channel {channel_id} not found")
    return channel


def _pipeline_count(channel: Channel) -> int:
    return 1 if channel.channel_class == "SINGLE_PIPELINE" else 2


def _attachment_names(channel: Channel) -> list[str]:
    return [a.get("InputAttachmentName") for a in channel.input_attachments or [] if a.get("InputAttachmentName")]


def _feature_enabled(channel: Channel, feature: str) -> bool:
    activations = (channel.encoder_settings or {}).get("FeatureActivations") or {}
    return activations.get(feature) == "ENABLED"


# --- execution -----------------------------------------------------------------------------

Event = tuple[ChannelSchedule, dict, float]  # (schedule, detail, time)


def _start_running(s: ChannelSchedule, now: float) -> None:
    """The channel has just become RUNNING. As MediaLive does at start ("What happens at
    runtime"), ingest the input of the latest input switch that is due or overdue, else the
    first attachment. Other actions that fell due while the channel was not running are
    missed: nothing received them."""
    s.running_since = now
    overdue = [a for a in s.actions.values() if a.start_at is not None and a.start_at <= now
               and a.status in ("PENDING", "EXECUTED") and a.kind == SWITCH]
    latest = max(overdue, key=lambda a: (a.start_at, a.seq), default=None)
    attachments = _attachment_names(s.channel)
    attachment = latest.settings.get("InputAttachmentNameReference") if latest else (attachments[0] if attachments else None)
    s.pipelines = [{"attachment": attachment, "switch_action": latest.name if latest else None}
                   for _ in range(_pipeline_count(s.channel))]
    for a in [a for a in s.actions.values() if a.status == "PENDING" and a.start_at is not None and a.start_at <= now]:
        a.status = "MISSED"
    if latest is not None and latest.status == "MISSED":
        # The switch it starts on counts as executed then (no event: the channel starts on it).
        latest.status, latest.executed_at = "EXECUTED", now
        s.executed.append({"action": latest.name, "kind": latest.kind, "at": now})
        _release_followers(s, latest, now)


def _stop_running(s: ChannelSchedule, now: float) -> None:
    for sp in s.splices:
        if sp.active:
            sp.ended_at, sp.ended_by = now, "channel stopped"
    s.running_since = None
    s.pipelines, s.images, s.prepared, s.paused, s.motion_graphics = [], {}, None, [], None


def _release_followers(s: ChannelSchedule, switch: Action, at: float) -> None:
    """Follow START actions are due when their reference switch starts. Follow END ones wait
    for the reference's input to end, which never happens here (see the README)."""
    for f in s.actions.values():
        if f.mode == "FOLLOW" and f.reference == switch.name and f.follow_point == "START" and f.start_at is None:
            f.start_at = at


def _execute(s: ChannelSchedule, a: Action, at: float, events: list[Event]) -> None:
    a.status, a.executed_at = "EXECUTED", at
    s.executed.append({"action": a.name, "kind": a.kind, "at": at})
    st = a.settings
    if a.kind == SWITCH:
        target = st.get("InputAttachmentNameReference")
        for i, p in enumerate(s.pipelines):
            p["attachment"], p["switch_action"] = target, a.name
            events.append((s, {
                "pipeline": str(i), "channel_arn": s.channel.arn, "message": INPUT_CHANGE_MESSAGE,
                "active_input_attachment_name": target, "active_input_switch_action_name": a.name,
            }, at))
        _release_followers(s, a, at)
    elif a.kind == PREPARE:
        s.prepared = st.get("InputAttachmentNameReference")  # none: stop preparing
    elif a.kind == SPLICE:
        ticks = st.get("Duration")
        ends = at + ticks / TICKS_PER_SECOND if ticks else None  # 0 or none: open-ended
        s.splices.append(Splice(int(st["SpliceEventId"]), a.name, at, ticks, ends))
    elif a.kind == RETURN:
        for sp in s.splices:
            if sp.active and sp.splice_event_id == int(st["SpliceEventId"]):
                sp.ended_at, sp.ended_by = at, a.name
    elif a.kind == IMAGE_ON:
        layer = st.get("Layer") or 0
        s.images[f"global/{layer}"] = _image(a, at)
    elif a.kind == IMAGE_OFF:
        s.images.pop(f"global/{st.get('Layer') or 0}", None)
    elif a.kind == OUTPUT_IMAGE_ON:
        for name in st.get("OutputNames") or []:
            s.images[f"output/{name}/{st.get('Layer') or 0}"] = _image(a, at)
    elif a.kind == OUTPUT_IMAGE_OFF:
        for name in st.get("OutputNames") or []:
            s.images.pop(f"output/{name}/{st.get('Layer') or 0}", None)
    elif a.kind == PAUSE:
        s.paused = sorted({p.get("PipelineId") for p in st.get("Pipelines") or []})
    elif a.kind == MOTION_ON:
        s.motion_graphics = {"action": a.name, "uri": st.get("Url")}
    elif a.kind == MOTION_OFF:
        s.motion_graphics = None
    # Time signals, ID3 and the rest: recorded in `executed` only.


def _image(a: Action, at: float) -> dict:
    duration_ms = a.settings.get("Duration") or 0  # 0 or none: until deactivated
    return {"action": a.name, "uri": (a.settings.get("Image") or {}).get("Uri"), "since": at,
            "until": at + duration_ms / 1000.0 if duration_ms else None}


def _advance(s: ChannelSchedule, now: float, events: list[Event]) -> None:
    """Bring one channel's schedule up to `now`: notice a start or stop the hooks missed,
    execute what is due (in start order; a switch may release its followers, which then run
    in the same pass), end breaks and images whose duration is over, purge old actions."""
    running = s.channel.state == "RUNNING"
    if running and s.running_since is None:
        _start_running(s, now)
    elif not running and s.running_since is not None:
        _stop_running(s, now)
    if running:
        while True:
            due = sorted((a for a in s.actions.values() if a.status == "PENDING"
                          and a.start_at is not None and a.start_at <= now), key=lambda a: (a.start_at, a.seq))
            if not due:
                break
            for a in due:
                _execute(s, a, a.start_at, events)
        for sp in s.splices:
            if sp.active and sp.ends_at is not None and sp.ends_at <= now:
                sp.ended_at, sp.ended_by = sp.ends_at, "duration"
        for key, image in list(s.images.items()):
            if image["until"] is not None and image["until"] <= now:
                del s.images[key]
    purge_before = now - SETTINGS["purge_after_seconds"]
    for name, a in list(s.actions.items()):
        if a.start_at is not None and a.start_at < purge_before:
            del s.actions[name]
    # The runtime record keeps the same window (it is read by tests, not by any AWS API).
    s.splices = [sp for sp in s.splices if sp.active or sp.ended_at >= purge_before]
    s.executed = [e for e in s.executed if e["at"] >= purge_before]


def _emit(events: list[Event]) -> None:
    """One "MediaLive Channel Input Change" per pipeline, on the default bus of the channel's
    account and region, dated by the emulator's clock. Best effort, as on AWS: a failure is
    logged and never fails the call that caused it."""
    if not events:
        return
    from moto.events.models import events_backends

    for s, detail, at in events:
        entry = {"Source": "aws.medialive", "DetailType": INPUT_CHANGE, "Resources": [s.channel.arn],
                 "Detail": json.dumps(detail), "Time": at}
        try:
            events_backends[s.account][s.region].put_events([entry])
        except Exception as e:  # noqa: BLE001
            print(f"ottd_moto: schedule: input change event for {s.channel.id} not sent: {e!r}",
                  file=sys.stderr, flush=True)


def tick_all() -> None:
    events: list[Event] = []
    with _LOCK:
        now = CLOCK.now()
        for s in list(_SCHEDULES.values()):
            _advance(s, now, events)
    _emit(events)


def _tick_channel(channel: Channel, backend: Optional[MediaLiveBackend] = None) -> None:
    events: list[Event] = []
    with _LOCK:
        s = _schedule_of(channel, *_origin(channel, backend))
        _advance(s, CLOCK.now(), events)
    _emit(events)


def _ticker() -> None:
    while True:
        time.sleep(TICK_INTERVAL)
        try:
            tick_all()
        except Exception as e:  # noqa: BLE001 - the ticker must outlive any one failure
            print(f"ottd_moto: schedule ticker: {e!r}", file=sys.stderr, flush=True)


# --- validation ----------------------------------------------------------------------------

class _Problems:
    """Collects the batch's validation errors: 400 for shape errors, 422 for the rest."""

    def __init__(self) -> None:
        self.shape: list[tuple[str, str]] = []
        self.rules: list[tuple[str, str]] = []

    def bad(self, path: str, message: str) -> None:
        self.shape.append((path, message))

    def refuse(self, path: str, message: str) -> None:
        self.rules.append((path, message))

    def raise_any(self) -> None:
        if self.shape:
            raise BadRequestException("Invalid request: " + "; ".join(f"{p}: {m}" for p, m in self.shape))
        if self.rules:
            raise UnprocessableEntityException(
                "Schedule update failed validation; nothing was changed: " + "; ".join(m for _, m in self.rules),
                self.rules,
            )


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_int(p: _Problems, st: dict, key: str, path: str, who: str, lo: int, hi: Optional[int] = None,
               required: bool = False) -> None:
    v, wire = st.get(key), key[0].lower() + key[1:]  # the model's member, and its wire name
    if v is None:
        if required:
            p.bad(f"{path}.{wire}", f"{who}: {wire} is required")
        return
    if not _is_int(v):
        p.bad(f"{path}.{wire}", f"{who}: {wire} must be an integer")
    elif v < lo or (hi is not None and v > hi):
        p.refuse(f"{path}.{wire}", f"{who}: {wire} {v} is out of range ({lo}..{hi if hi is not None else ''})")


def _check_settings(p: _Problems, channel: Channel, kind: str, st: Any, path: str, who: str) -> None:
    if not isinstance(st, dict):
        p.bad(path, f"{who}: {kind} must be an object")
        return
    if kind in (SWITCH, PREPARE):
        ref = st.get("InputAttachmentNameReference")
        if ref is None:
            if kind == SWITCH:
                p.bad(f"{path}.inputAttachmentNameReference", f"{who}: inputAttachmentNameReference is required")
        elif not isinstance(ref, str):
            p.bad(f"{path}.inputAttachmentNameReference", f"{who}: inputAttachmentNameReference must be a string")
        elif ref not in _attachment_names(channel):
            p.refuse(f"{path}.inputAttachmentNameReference",
                     f"{who}: input attachment '{ref}' is not attached to channel {channel.id}")
    elif kind == SPLICE:
        _check_int(p, st, "SpliceEventId", path, who, 0, SPLICE_EVENT_ID_MAX, required=True)
        _check_int(p, st, "Duration", path, who, 0, SPLICE_DURATION_MAX)
    elif kind == RETURN:
        _check_int(p, st, "SpliceEventId", path, who, 0, SPLICE_EVENT_ID_MAX, required=True)
    elif kind == TIME_SIGNAL:
        if not isinstance(st.get("Scte35Descriptors"), list):
            p.bad(f"{path}.scte35Descriptors", f"{who}: scte35Descriptors is required")
    elif kind in (IMAGE_ON, OUTPUT_IMAGE_ON):
        image = st.get("Image")
        if not isinstance(image, dict) or not isinstance(image.get("Uri"), str):
            p.bad(f"{path}.image.uri", f"{who}: image.uri is required")
        elif len(image["Uri"]) > 2048:
            p.refuse(f"{path}.image.uri", f"{who}: image.uri is longer than 2048 characters")
        for key in ("Duration", "FadeIn", "FadeOut", "ImageX", "ImageY"):
            _check_int(p, st, key, path, who, 0)
        for key in ("Height", "Width"):
            _check_int(p, st, key, path, who, 1)
        _check_int(p, st, "Layer", path, who, 0, 7)
        _check_int(p, st, "Opacity", path, who, 0, 100)
    elif kind in (IMAGE_OFF, OUTPUT_IMAGE_OFF):
        _check_int(p, st, "FadeOut", path, who, 0)
        _check_int(p, st, "Layer", path, who, 0, 7)
    elif kind == PAUSE:
        for i, pipe in enumerate(st.get("Pipelines") or []):
            if not isinstance(pipe, dict) or pipe.get("PipelineId") not in ("PIPELINE_0", "PIPELINE_1"):
                p.bad(f"{path}.pipelines[{i}].pipelineId", f"{who}: pipelineId must be PIPELINE_0 or PIPELINE_1")
    if kind in (OUTPUT_IMAGE_ON, OUTPUT_IMAGE_OFF):
        names = st.get("OutputNames")
        if not isinstance(names, list) or not names:
            p.bad(f"{path}.outputNames", f"{who}: outputNames is required")
    gate = FEATURE_GATES.get(kind)
    if gate is not None and not _feature_enabled(channel, gate):
        p.refuse(path, f"{who}: {kind[0].lower() + kind[1:]} needs the channel's "
                       f"encoderSettings.featureActivations.{gate[0].lower() + gate[1:]} = ENABLED")


def _received(a: Action, now: float) -> bool:
    """Already handed to the (running) channel: executed, immediate, or starting < 15 s from now."""
    if a.status != "PENDING" or a.mode == "IMMEDIATE":
        return True
    return a.start_at is not None and a.start_at - now < MIN_LEAD_SECONDS


def _validate(s: ChannelSchedule, creates: Any, deletes: Any, now: float) -> tuple[list[Action], list[Action]]:
    """The whole batch, checked against the schedule as it will be after the deletes; raises
    before anything changes. Returns (actions to delete, actions to create)."""
    p = _Problems()
    channel = s.channel
    running = channel.state == "RUNNING"

    names: list[str] = []
    if deletes is not None:
        names = deletes.get("ActionNames") if isinstance(deletes, dict) else None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            p.bad("deletes.actionNames", "deletes needs actionNames, a list of strings")
            names = []
    wanted: list[dict] = []
    if creates is not None:
        wanted = creates.get("ScheduleActions") if isinstance(creates, dict) else None
        if not isinstance(wanted, list):
            p.bad("creates.scheduleActions", "creates needs scheduleActions, a list")
            wanted = []

    # Deletes first: each must exist, once, and (on a running channel) not be received yet.
    doomed: list[Action] = []
    for i, name in enumerate(names):
        path = f"deletes.actionNames[{i}]"
        a = s.actions.get(name)
        if a is None:
            p.refuse(path, f"action '{name}' cannot be deleted: it is not in the schedule")
        elif a in doomed:
            p.refuse(path, f"action '{name}' is listed twice in deletes")
        elif running and _received(a, now):
            p.refuse(path, f"action '{name}' cannot be deleted: the running channel has already received it "
                           f"(it starts less than {MIN_LEAD_SECONDS:.0f} s from now, or has started)")
        else:
            doomed.append(a)
    remaining = {n: a for n, a in s.actions.items() if a not in doomed}

    # Creates, in order, against the schedule after the deletes and the earlier creates.
    made: list[Action] = []
    batch_names = {a.get("ActionName") for a in wanted if isinstance(a, dict)}
    for i, raw in enumerate(wanted):
        path = f"creates.scheduleActions[{i}]"
        if not isinstance(raw, dict):
            p.bad(path, "a schedule action must be an object")
            continue
        name = raw.get("ActionName")
        who = f"action '{name}'"
        if not isinstance(name, str) or not name:
            p.bad(f"{path}.actionName", "actionName is required")
            continue
        if name in remaining or any(m.name == name for m in made):
            p.refuse(f"{path}.actionName", f"{who}: an action with this name is already in the schedule")

        start = raw.get("ScheduleActionStartSettings")
        settings = raw.get("ScheduleActionSettings")
        if not isinstance(start, dict):
            p.bad(f"{path}.scheduleActionStartSettings", f"{who}: scheduleActionStartSettings is required")
            continue
        if not isinstance(settings, dict):
            p.bad(f"{path}.scheduleActionSettings", f"{who}: scheduleActionSettings is required")
            continue
        modes = [k for k in START_KINDS if start.get(k) is not None]
        kinds = [k for k in ACTION_KINDS if settings.get(k) is not None]
        if len(modes) != 1:
            p.refuse(f"{path}.scheduleActionStartSettings",
                     f"{who}: exactly one start setting (fixed, follow or immediate) is needed, got {len(modes)}")
        if len(kinds) != 1:
            p.refuse(f"{path}.scheduleActionSettings", f"{who}: exactly one action setting is needed, got {len(kinds)}")
        if len(modes) != 1 or len(kinds) != 1:
            continue
        kind, mode = kinds[0], START_KINDS[modes[0]]
        spath = f"{path}.scheduleActionSettings.{kind[0].lower() + kind[1:]}"
        _check_settings(p, channel, kind, settings[kind], spath, who)

        start_at: Optional[float] = None
        reference = follow_point = None
        mpath = f"{path}.scheduleActionStartSettings.{modes[0][0].lower() + modes[0][1:]}"
        ms = start[modes[0]]
        if not isinstance(ms, dict):
            p.bad(mpath, f"{who}: {modes[0]} must be an object")
            continue
        if mode == "FIXED":
            text = ms.get("Time")
            if not isinstance(text, str):
                p.bad(f"{mpath}.time", f"{who}: time is required")
                continue
            start_at = parse_time(text)
            if start_at is None:
                p.refuse(f"{mpath}.time", f"{who}: time '{text}' is not of the form yyyy-mm-ddThh:mm:ss.nnnZ")
            elif start_at - now < MIN_LEAD_SECONDS:
                p.refuse(f"{mpath}.time", f"{who}: start time {text} is less than {MIN_LEAD_SECONDS:.0f} s "
                                          f"in the future (now {rfc3339_ms(now)})")
            elif start_at - now > MAX_LEAD_SECONDS:
                p.refuse(f"{mpath}.time", f"{who}: start time {text} is more than 14 days in the future")
        elif mode == "IMMEDIATE":
            delay = STANDARD_IMMEDIATE_SWITCH_DELAY if kind == SWITCH and _pipeline_count(channel) == 2 else 0.0
            start_at = now + delay
        else:
            reference, follow_point = ms.get("ReferenceActionName"), ms.get("FollowPoint")
            if not isinstance(reference, str) or not reference:
                p.bad(f"{mpath}.referenceActionName", f"{who}: referenceActionName is required")
                continue
            if follow_point not in ("START", "END"):
                p.bad(f"{mpath}.followPoint", f"{who}: followPoint must be START or END")
                continue
            ref = remaining.get(reference) or next((m for m in made if m.name == reference), None)
            in_batch_later = ref is None and reference in batch_names
            if kind not in MAY_FOLLOW:
                p.refuse(mpath, f"{who}: a {kind[0].lower() + kind[1:]} action cannot use a follow start")
            if ref is None and not in_batch_later:
                p.refuse(f"{mpath}.referenceActionName", f"{who}: reference action '{reference}' is not in the schedule")
            elif ref is not None and ref.kind != SWITCH:
                p.refuse(f"{mpath}.referenceActionName",
                         f"{who}: reference action '{reference}' is not an input switch; only input switches can be followed")
            if kind == PREPARE and any(a.kind == PREPARE and a.reference == reference and a.follow_point == follow_point
                                       for a in list(remaining.values()) + made):
                p.refuse(mpath, f"{who}: another input prepare already follows the {follow_point} of '{reference}'")
            if ref is not None and ref.status != "PENDING" and follow_point == "START":
                p.refuse(f"{mpath}.referenceActionName",
                         f"{who}: reference action '{reference}' has already started; a follow START action "
                         f"must be created before its reference starts")
        made.append(Action(name=name, wire=raw, kind=kind, settings=settings[kind], mode=mode, seq=0,
                           created_at=now, start_at=start_at, reference=reference, follow_point=follow_point))

    # A follow reference created later in the same batch.
    for i, a in enumerate(made):
        if a.mode == "FOLLOW" and a.reference not in remaining:
            ref = next((m for m in made if m.name == a.reference), None)
            if ref is not None and ref.kind != SWITCH:
                p.refuse(f"creates.scheduleActions[{i}]", f"action '{a.name}': reference action '{a.reference}' "
                                                          f"is not an input switch; only input switches can be followed")

    # No orphans: a deleted switch must not be followed by an action that stays.
    gone = {a.name for a in doomed}
    for a in list(remaining.values()) + made:
        if a.mode == "FOLLOW" and a.reference in gone:
            p.refuse("deletes.actionNames", f"action '{a.reference}' cannot be deleted: action '{a.name}' follows it "
                                            f"(delete the follow chain together)")

    # Splice event ids: unique among the channel's scheduled and active splice inserts.
    taken = {int(a.settings["SpliceEventId"]): a.name for a in remaining.values()
             if a.kind == SPLICE and a.status == "PENDING" and _is_int(a.settings.get("SpliceEventId"))}
    taken.update({sp.splice_event_id: sp.action for sp in s.splices if sp.active and running})
    for i, a in enumerate(made):
        if a.kind != SPLICE or not _is_int(a.settings.get("SpliceEventId")):
            continue
        sid = a.settings["SpliceEventId"]
        if sid in taken:
            p.refuse(f"creates.scheduleActions[{i}].scheduleActionSettings.scte35SpliceInsertSettings.spliceEventId",
                     f"action '{a.name}': splice event id {sid} is already used by splice insert '{taken[sid]}' "
                     f"(scheduled or active)")
        else:
            taken[sid] = a.name

    p.raise_any()
    return doomed, made


# --- operations ----------------------------------------------------------------------------

def batch_update_schedule(backend: MediaLiveBackend, channel_id: str, creates: Any, deletes: Any) -> dict:
    channel = _channel(backend, channel_id)
    events: list[Event] = []
    with _LOCK:
        s = _schedule_of(channel, *_origin(channel, backend))
        now = CLOCK.now()
        _advance(s, now, events)
        doomed, made = _validate(s, creates, deletes, now)
        for a in doomed:
            del s.actions[a.name]
        for a in made:
            _SEQ[0] += 1
            a.seq = _SEQ[0]
            s.actions[a.name] = a
        _advance(s, now, events)  # immediate actions run now, on a running channel
    _emit(events)
    return {"Creates": {"ScheduleActions": [a.wire for a in made]},
            "Deletes": {"ScheduleActions": [a.wire for a in doomed]}}


def _ordered(s: ChannelSchedule) -> list[Action]:
    """By start time: fixed at their time, immediate at when they were (or will be) handed
    to the channel, a follow action right after its reference (its chain's anchor time)."""

    def key(a: Action) -> tuple:
        depth, cur, seen = 0, a, set()
        while cur.mode == "FOLLOW" and cur.reference in s.actions and cur.name not in seen:
            seen.add(cur.name)
            cur, depth = s.actions[cur.reference], depth + 1
        anchor = cur.start_at if cur.start_at is not None else cur.created_at
        return (anchor, depth, a.seq)

    return sorted(s.actions.values(), key=key)


def describe_schedule(backend: MediaLiveBackend, channel_id: str, max_results: Any, next_token: Any) -> dict:
    channel = _channel(backend, channel_id)
    if max_results is not None and (not _is_int(max_results) or not MAX_RESULTS_RANGE[0] <= max_results <= MAX_RESULTS_RANGE[1]):
        raise BadRequestException(f"maxResults must be between {MAX_RESULTS_RANGE[0]} and {MAX_RESULTS_RANGE[1]}")
    offset = 0
    if next_token:
        try:
            token = json.loads(base64.urlsafe_b64decode(str(next_token).encode()))
            offset, for_channel = int(token["offset"]), token["channel"]
        except (ValueError, KeyError, TypeError):
            raise BadRequestException("Invalid nextToken") from None
        if for_channel != channel_id or offset < 0:
            raise BadRequestException("Invalid nextToken")
    events: list[Event] = []
    with _LOCK:
        s = _schedule_of(channel, *_origin(channel, backend))
        _advance(s, CLOCK.now(), events)
        ordered = _ordered(s)
    _emit(events)
    end = len(ordered) if max_results is None else offset + max_results
    out: dict = {"ScheduleActions": [a.wire for a in ordered[offset:end]]}
    if end < len(ordered):
        out["NextToken"] = base64.urlsafe_b64encode(json.dumps({"offset": end, "channel": channel_id}).encode()).decode()
    return out


def delete_schedule(backend: MediaLiveBackend, channel_id: str) -> None:
    channel = _channel(backend, channel_id)
    events: list[Event] = []
    with _LOCK:
        s = _schedule_of(channel, *_origin(channel, backend))
        _advance(s, CLOCK.now(), events)
        s.actions.clear()
    _emit(events)


def r_batch_update_schedule(self: MediaLiveResponse) -> ActionResult:
    return ActionResult(batch_update_schedule(
        self.medialive_backend, self._get_param("ChannelId"), self._get_param("Creates"), self._get_param("Deletes")))


def r_describe_schedule(self: MediaLiveResponse) -> ActionResult:
    return ActionResult(describe_schedule(
        self.medialive_backend, self._get_param("ChannelId"), self._get_param("MaxResults"), self._get_param("NextToken")))


def r_delete_schedule(self: MediaLiveResponse) -> ActionResult:
    delete_schedule(self.medialive_backend, self._get_param("ChannelId"))
    return EmptyResult()


# --- DescribeChannel's PipelineDetails -----------------------------------------------------

def _pipeline_details(channel: Channel) -> list[dict]:
    """Runtime details of each pipeline while the channel is RUNNING (empty otherwise)."""
    if channel.state != "RUNNING":
        return []
    with _LOCK:
        s = _SCHEDULES.get(channel.id)
        if s is not None and s.channel is not channel:
            s = None
        pipelines = list(s.pipelines) if s is not None and s.running_since is not None else None
    if pipelines is None:  # running, but not seen starting yet: the first attachment
        names = _attachment_names(channel)
        pipelines = [{"attachment": names[0] if names else None, "switch_action": None}] * _pipeline_count(channel)
    out = []
    for i, p in enumerate(pipelines):
        d = {"PipelineId": str(i)}
        if p["attachment"] is not None:
            d["ActiveInputAttachmentName"] = p["attachment"]
        if p["switch_action"] is not None:
            d["ActiveInputSwitchActionName"] = p["switch_action"]
        if s is not None and s.motion_graphics is not None:
            d["ActiveMotionGraphicsActionName"] = s.motion_graphics["action"]
            d["ActiveMotionGraphicsUri"] = s.motion_graphics["uri"]
        out.append(d)
    return out


def _set_pipeline_details(channel: Channel, value: Any) -> None:
    """moto's Channel.__init__ assigns [] here; the details are computed instead."""


# --- hooks for ottd_moto.py ----------------------------------------------------------------

def on_state_change(channel: Channel, before: Any, after: Any) -> None:
    """Called by ottd_moto.py whenever a channel's state changes in moto."""
    if before == after:
        return
    events: list[Event] = []
    with _LOCK:
        s = _schedule_of(channel, *_origin(channel))
        _advance(s, CLOCK.now(), events)  # notices the start or the stop
    _emit(events)


def after_describe(channel: Channel, backend: MediaLiveBackend) -> None:
    """DescribeChannel runs what is due first, so its PipelineDetails are current."""
    _tick_channel(channel, backend)


def breaks_for(channel_id: str) -> list[tuple[float, Optional[float], Optional[float]]]:
    """The channel's SCTE-35 breaks (splice inserts run while it was running), for the cue
    markers of streams.py: (start, end or None while open, duration seconds or None), in
    wall-clock seconds (the emulator's clock less its offset, as the encoder's time stamps)."""
    with _LOCK:
        s = _SCHEDULES.get(channel_id)
        if s is None:
            return []
        off = CLOCK.offset
        out = []
        for sp in s.splices:
            end = sp.ended_at if sp.ended_at is not None else sp.ends_at
            seconds = sp.duration_ticks / TICKS_PER_SECOND if sp.duration_ticks else None
            out.append((sp.started_at - off, end - off if end is not None else None, seconds))
        return out


def on_reset() -> None:
    """POST /moto-api/reset: every channel is gone, and the clock is the wall clock again."""
    with _LOCK:
        _SCHEDULES.clear()
        CLOCK.offset = 0.0


def configure(purge_after_seconds: float) -> None:
    SETTINGS["purge_after_seconds"] = float(purge_after_seconds)


# --- test-only endpoints (/ottd-emulator/clock, /ottd-emulator/schedule/<channel-id>) -------

def _runtime(s: ChannelSchedule) -> dict:
    return {
        "channel_id": s.channel.id,
        "channel_state": s.channel.state,
        "running_since": rfc3339_ms(s.running_since),
        "pipelines": [{"pipeline_id": str(i), "active_input_attachment_name": p["attachment"],
                       "active_input_switch_action_name": p["switch_action"]} for i, p in enumerate(s.pipelines)],
        "splices": [{"splice_event_id": sp.splice_event_id, "action": sp.action, "active": sp.active,
                     "started_at": rfc3339_ms(sp.started_at), "duration_ticks": sp.duration_ticks,
                     "ends_at": rfc3339_ms(sp.ends_at), "ended_at": rfc3339_ms(sp.ended_at), "ended_by": sp.ended_by}
                    for sp in s.splices],
        "images": [dict(v, key=k, since=rfc3339_ms(v["since"]), until=rfc3339_ms(v["until"]))
                   for k, v in sorted(s.images.items())],
        "prepared_input_attachment": s.prepared,
        "paused_pipelines": s.paused,
        "motion_graphics": s.motion_graphics,
        "executed": [{"action": e["action"], "kind": e["kind"], "at": rfc3339_ms(e["at"])} for e in s.executed],
        "actions": [{"name": a.name, "kind": a.kind, "mode": a.mode, "status": a.status,
                     "start_at": rfc3339_ms(a.start_at), "executed_at": rfc3339_ms(a.executed_at)}
                    for a in _ordered(s)],
    }


def _clock_json() -> dict:
    return {"now": rfc3339_ms(CLOCK.now()), "offset_seconds": CLOCK.offset,
            "purge_after_seconds": SETTINGS["purge_after_seconds"]}


def api(method: str, path: str, body: bytes) -> tuple[int, Any]:
    """/ottd-emulator/clock and /ottd-emulator/schedule...: (status, JSON-able body)."""
    if path == "/ottd-emulator/clock" and method == "GET":
        return 200, _clock_json()
    if path == "/ottd-emulator/clock" and method == "POST":
        try:
            seconds = json.loads(body or b"{}").get("advance_seconds")
        except (ValueError, AttributeError):
            seconds = None
        if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds < 0:
            return 400, {"message": 'the body must be {"advance_seconds": N}, N >= 0 (the clock only moves forward)'}
        with _LOCK:
            CLOCK.advance(float(seconds))
        tick_all()  # what fell due runs before the answer, its events delivered
        return 200, _clock_json()
    if path.startswith("/ottd-emulator/schedule/") and method == "GET":
        channel_id = path[len("/ottd-emulator/schedule/"):]
        tick_all()
        with _LOCK:
            s = _SCHEDULES.get(channel_id)
            if s is not None:
                return 200, _runtime(s)
        return 404, {"message": f"no schedule seen for channel {channel_id}"}
    return 404, {"message": f"no such ottd-emulator endpoint: {method} {path}"}


# --- installation --------------------------------------------------------------------------

def install(url_paths: dict, dispatch: Any) -> None:
    MediaLiveResponse.batch_update_schedule = r_batch_update_schedule
    MediaLiveResponse.describe_schedule = r_describe_schedule
    MediaLiveResponse.delete_schedule = r_delete_schedule
    Channel.pipeline_details = property(_pipeline_details, _set_pipeline_details)
    url_paths["{0}/prod/channels/(?P<channelid>[^/.]+)/schedule$"] = dispatch
    threading.Thread(target=_ticker, name="ottd-schedule-ticker", daemon=True).start()
