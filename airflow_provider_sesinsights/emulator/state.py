"""In-memory state of the SES v2 emulator: messages, timelines, call log, rate limiter and faults.

Everything here is pure (no sockets) and thread-safe: :class:`EmulatorState` guards its data with
one lock, so the threaded HTTP server in :mod:`.server` can call it from any request thread.

Timelines. Each message has recipients, and each recipient a timeline of events stamped with
epoch seconds; an event becomes visible to GetMessageInsights once the emulator's wall clock
reaches its timestamp, so a poller sees SEND first and DELIVERY or BOUNCE later, as with SES.

Scripted versus generated timelines. Events a caller scripts with
:meth:`EmulatorState.add_message` are answered verbatim, whatever the number of recipients.
Timelines the emulator generates itself (SendEmail, or a scripted recipient given without
``events``) follow the service's rules, including this one: for a message with more than one
recipient the real service leaves out DELIVERY, BOUNCE, COMPLAINT, OPEN and CLICK, so such
messages only ever get SEND events.

Mailbox simulator. Recipients at ``simulator.amazonses.com`` (``success@``, ``bounce@``,
``complaint@``, ``ooto@``, ``suppressionlist@``, optionally with a ``+label``) get the events
the real mailbox simulator produces, spaced by ``delivery_delay`` seconds. The real service
excludes mailbox-simulator traffic from message insights; the emulator deliberately does not,
so that a DAG can send an email and then track it entirely offline.
"""

from __future__ import annotations

import base64
import binascii
import math
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from email.parser import BytesHeaderParser
from email.policy import default as default_email_policy
from email.utils import getaddresses, parseaddr
from typing import Any

from airflow_provider_sesinsights.insights import EVENT_TYPES, SINGLE_RECIPIENT_ONLY_EVENTS

BOUNCE_TYPES: frozenset[str] = frozenset({"UNDETERMINED", "TRANSIENT", "PERMANENT"})
"""Values of the ``BounceType`` enum in the sesv2 service model."""

FAULT_KINDS: tuple[str, ...] = (
    "throttle",
    "internal_error",
    "unavailable",
    "bad_request",
    "slow",
    "drop",
    "malformed",
)
"""Kinds of fault :meth:`EmulatorState.inject` accepts."""

SIMULATOR_DOMAIN = "simulator.amazonses.com"
SIMULATOR_ISP = "Amazon SES Mailbox Simulator"
OUTGOING_IP = "198.51.100.25"
"""Documentation-range address reported in the ``ses:outgoing-ip`` auto-tag."""
MAX_MESSAGE_ID_LENGTH = 256

_BOUNCE_KEYS = frozenset({"BounceType", "BounceSubType", "DiagnosticCode"})
_COMPLAINT_KEYS = frozenset({"ComplaintSubType", "ComplaintFeedbackType"})
_MESSAGE_KEYS = frozenset({"message_id", "recipients", "from_address", "subject", "tags", "visible_after"})
_RECIPIENT_KEYS = frozenset({"destination", "isp", "events"})
_EVENT_KEYS = frozenset({"type", "after", "at", "bounce", "complaint"})
_ISP_BY_DOMAIN = {
    SIMULATOR_DOMAIN: SIMULATOR_ISP,
    "gmail.com": "Gmail",
    "googlemail.com": "Gmail",
    "outlook.com": "Microsoft",
    "hotmail.com": "Microsoft",
    "live.com": "Microsoft",
    "icloud.com": "Apple",
    "me.com": "Apple",
}
_SUPPRESSED_DIAGNOSTIC = (
    "Amazon SES did not send the message to this address because it is on the suppression list "
    "for your account."
)

Details = dict[str, dict[str, str]]
"""The ``Details`` member of an insights event: ``{"Bounce": {...}}`` or ``{"Complaint": {...}}``."""


class InvalidRequestError(ValueError):
    """A request or a scripted message the emulator refuses; the server answers 400 BadRequest."""


@dataclass(frozen=True)
class CallRecord:
    """One API call as the emulator saw it, for assertions on call pacing and error handling.

    ``at`` and ``monotonic`` are the arrival times (``time.time()`` and ``time.monotonic()``),
    taken as soon as the request was parsed. ``status`` is the HTTP status answered, 0 when the
    connection was dropped on purpose; ``fault`` names the injected fault that shaped the answer.
    """

    at: float
    monotonic: float
    account: str
    operation: str
    message_id: str | None
    status: int
    error_code: str | None
    fault: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the record as a JSON-ready dict (the control API's form)."""
        return asdict(self)


@dataclass(frozen=True)
class Fault:
    """A pending injected fault, consumed by the next matching GetMessageInsights call."""

    kind: str
    message_id: str | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class InsightEvent:
    """One event of a recipient's timeline, visible once the clock reaches ``timestamp``."""

    type: str
    timestamp: float
    details: Details | None = None

    def to_json(self) -> dict[str, Any]:
        """Render the event as the service does; ``Details`` is left out when there are none."""
        body: dict[str, Any] = {"Timestamp": self.timestamp, "Type": self.type}
        if self.details:
            body["Details"] = {key: dict(value) for key, value in self.details.items()}
        return body


@dataclass(frozen=True)
class Recipient:
    """One destination of a message with its ISP and full (not yet filtered) timeline."""

    destination: str
    isp: str
    events: tuple[InsightEvent, ...]


@dataclass(frozen=True)
class StoredMessage:
    """A message the emulator can answer GetMessageInsights for."""

    message_id: str
    from_address: str
    subject: str | None
    tags: tuple[tuple[str, str], ...]
    recipients: tuple[Recipient, ...]
    visible_at: float

    def insights(self, now: float) -> dict[str, Any]:
        """Build the GetMessageInsights body as of ``now``: only events whose time has come."""
        body: dict[str, Any] = {"MessageId": self.message_id, "FromEmailAddress": self.from_address}
        if self.subject is not None:
            body["Subject"] = self.subject
        body["EmailTags"] = [{"Name": name, "Value": value} for name, value in self.tags]
        body["Insights"] = [
            {
                "Destination": recipient.destination,
                "Isp": recipient.isp,
                "Events": [event.to_json() for event in recipient.events if event.timestamp <= now],
            }
            for recipient in self.recipients
        ]
        return body


def new_message_id() -> str:
    """Return a fresh id shaped like the ones SES hands out (``010001…-<uuid>-000000``)."""
    return f"010001{secrets.token_hex(5)}-{uuid.uuid4()}-000000"


def message_id_problem(message_id: str) -> str | None:
    """Say why ``message_id`` cannot name a message, or return None when it can."""
    if not message_id:
        return "MessageId must not be empty."
    if len(message_id) > MAX_MESSAGE_ID_LENGTH:
        return f"MessageId must be at most {MAX_MESSAGE_ID_LENGTH} characters long."
    if any(char.isspace() or not char.isprintable() for char in message_id):
        return "MessageId must not contain whitespace or control characters."
    return None


def bare_address(address: str) -> str:
    """Strip a display name: ``"Jo <jo@example.com>"`` becomes ``jo@example.com``."""
    return parseaddr(address)[1] or address.strip()


def domain_of(address: str) -> str:
    """Return the lower-cased domain of an email address ("" when there is none)."""
    return bare_address(address).rpartition("@")[2].lower()


def isp_for(address: str) -> str:
    """Derive the ``Isp`` value SES reports for a destination from its domain."""
    domain = domain_of(address)
    if domain in _ISP_BY_DOMAIN:
        return _ISP_BY_DOMAIN[domain]
    if domain == "yahoo" or domain.startswith("yahoo."):
        return "Yahoo"
    return "Other"


def simulated_timeline(address: str, delay: float, *, single_recipient: bool = True) -> list[InsightEvent]:
    """Generate the events SES produces for ``address``, relative to a send at time 0.

    Mailbox-simulator addresses get their documented outcome; any other address is delivered.
    With more than one recipient only the SEND event remains, as in the real service.
    """
    local, _, domain = bare_address(address).lower().rpartition("@")
    scenario = local.split("+", 1)[0] if domain == SIMULATOR_DOMAIN else "success"
    events = [InsightEvent("SEND", 0.0)]
    if scenario == "bounce":
        bounce = {
            "BounceType": "PERMANENT",
            "BounceSubType": "General",
            "DiagnosticCode": "smtp; 550 5.1.1 user unknown",
        }
        events.append(InsightEvent("BOUNCE", delay, {"Bounce": bounce}))
    elif scenario == "suppressionlist":
        bounce = {
            "BounceType": "PERMANENT",
            "BounceSubType": "OnAccountSuppressionList",
            "DiagnosticCode": _SUPPRESSED_DIAGNOSTIC,
        }
        events.append(InsightEvent("BOUNCE", delay, {"Bounce": bounce}))
    elif scenario == "complaint":
        events.append(InsightEvent("DELIVERY", delay))
        events.append(InsightEvent("COMPLAINT", 2 * delay, {"Complaint": {"ComplaintFeedbackType": "abuse"}}))
    else:
        events.append(InsightEvent("DELIVERY", delay))
    if not single_recipient:
        events = [event for event in events if event.type not in SINGLE_RECIPIENT_ONLY_EVENTS]
    return events


def _number(value: Any, what: str) -> float:
    """Check that a JSON value is a finite number (not a bool) and return it as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidRequestError(f"{what} must be a finite number, got {value!r}.")
    return float(value)


def _string(value: Any, what: str) -> str:
    """Check that a JSON value is a string and return it."""
    if not isinstance(value, str):
        raise InvalidRequestError(f"{what} must be a string, got {value!r}.")
    return value


def _mapping(value: Any, what: str, allowed: frozenset[str]) -> Mapping[str, Any]:
    """Check that a JSON value is an object with only ``allowed`` keys and return it."""
    if not isinstance(value, Mapping):
        raise InvalidRequestError(f"{what} must be an object, got {value!r}.")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise InvalidRequestError(f"{what} has unknown key(s) {unknown}; allowed: {sorted(allowed)}.")
    return value


def _list(value: Any, what: str) -> list[Any]:
    """Check that a JSON value is a list and return it."""
    if not isinstance(value, list):
        raise InvalidRequestError(f"{what} must be a list, got {value!r}.")
    return value


def _string_fields(value: Any, what: str, allowed: frozenset[str]) -> dict[str, str]:
    """Check an object of string fields (a Bounce or Complaint) and return a copy."""
    fields = _mapping(value, what, allowed)
    return {key: _string(item, f"{what}.{key}") for key, item in fields.items()}


def _scripted_event(spec: Any, created: float, what: str) -> InsightEvent:
    """Turn one scripted event dict into an :class:`InsightEvent` stamped in epoch seconds."""
    fields = _mapping(spec, what, _EVENT_KEYS)
    event_type = _string(fields.get("type"), f"{what}.type")
    if event_type not in EVENT_TYPES:
        raise InvalidRequestError(f"{what}.type {event_type!r} is not one of {sorted(EVENT_TYPES)}.")
    if "after" in fields and "at" in fields:
        raise InvalidRequestError(f"{what} gives both 'after' and 'at'; use one.")
    if "at" in fields:
        timestamp = _number(fields["at"], f"{what}.at")
    else:
        timestamp = created + _number(fields.get("after", 0.0), f"{what}.after")
    details: Details = {}
    if "bounce" in fields:
        bounce = _string_fields(fields["bounce"], f"{what}.bounce", _BOUNCE_KEYS)
        if "BounceType" in bounce and bounce["BounceType"] not in BOUNCE_TYPES:
            raise InvalidRequestError(
                f"{what}.bounce.BounceType {bounce['BounceType']!r} is not one of {sorted(BOUNCE_TYPES)}."
            )
        details["Bounce"] = bounce
    if "complaint" in fields:
        details["Complaint"] = _string_fields(fields["complaint"], f"{what}.complaint", _COMPLAINT_KEYS)
    return InsightEvent(event_type, round(timestamp, 3), details or None)


def _stamp(events: Iterable[InsightEvent], created: float) -> tuple[InsightEvent, ...]:
    """Shift generated events (relative to 0) to epoch seconds after ``created``."""
    return tuple(InsightEvent(e.type, round(created + e.timestamp, 3), e.details) for e in events)


def _scripted_recipient(
    spec: Any, created: float, delay: float, single_recipient: bool, what: str
) -> Recipient:
    """Turn one scripted recipient dict into a :class:`Recipient`.

    Without ``events`` the recipient gets the generated (mailbox-simulator) timeline.
    """
    fields = _mapping(spec, what, _RECIPIENT_KEYS)
    destination = bare_address(_string(fields.get("destination"), f"{what}.destination"))
    isp = _string(fields["isp"], f"{what}.isp") if "isp" in fields else isp_for(destination)
    if "events" in fields:
        specs = _list(fields["events"], f"{what}.events")
        events = sorted(
            (_scripted_event(event, created, f"{what}.events[{i}]") for i, event in enumerate(specs)),
            key=lambda event: event.timestamp,
        )
        return Recipient(destination, isp, tuple(events))
    generated = simulated_timeline(destination, delay, single_recipient=single_recipient)
    return Recipient(destination, isp, _stamp(generated, created))


def build_message(
    message_id: str | None,
    *,
    created: float,
    delivery_delay: float,
    recipients: list[dict[str, Any]] | None = None,
    from_address: str = "sender@example.com",
    subject: str | None = "Hello",
    tags: Mapping[str, str] | None = None,
    visible_after: float = 0.0,
) -> StoredMessage:
    """Validate the arguments of :meth:`EmulatorState.add_message` and build the message.

    Raises :class:`InvalidRequestError` naming the first problem, so a bad seed file or control
    call fails loudly instead of producing a message no test can reach.
    """
    if message_id is None:
        message_id = new_message_id()
    problem = message_id_problem(_string(message_id, "message_id"))
    if problem:
        raise InvalidRequestError(problem)
    _string(from_address, "from_address")
    if subject is not None:
        _string(subject, "subject")
    tag_pairs: list[tuple[str, str]] = []
    if tags is not None:
        if not isinstance(tags, Mapping):
            raise InvalidRequestError(f"tags must be an object of strings, got {tags!r}.")
        tag_pairs = [(_string(k, "tag name"), _string(v, f"tags[{k!r}]")) for k, v in tags.items()]
    visible_at = created + _number(visible_after, "visible_after")
    if recipients is None:
        default = simulated_timeline("recipient@example.com", delivery_delay)
        parsed: tuple[Recipient, ...] = (
            Recipient("recipient@example.com", "Other", _stamp(default, created)),
        )
    else:
        specs = _list(recipients, "recipients")
        single = len(specs) == 1
        parsed = tuple(
            _scripted_recipient(spec, created, delivery_delay, single, f"recipients[{i}]")
            for i, spec in enumerate(specs)
        )
    return StoredMessage(message_id, from_address, subject, tuple(tag_pairs), parsed, visible_at)


@dataclass(frozen=True)
class _OutboundEmail:
    """The parts of a SendEmail request the emulator keeps."""

    from_address: str
    subject: str | None
    recipients: tuple[str, ...]
    tags: tuple[tuple[str, str], ...]
    configuration_set: str | None


def _raw_headers(content: Mapping[str, Any]) -> Any:
    """Decode ``Content.Raw.Data`` (base64 in JSON) and parse only its headers."""
    raw = _mapping(content.get("Raw"), "Content.Raw", frozenset({"Data"}))
    data = _string(raw.get("Data"), "Content.Raw.Data")
    try:
        decoded = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as error:
        raise InvalidRequestError("Content.Raw.Data must be base64-encoded MIME.") from error
    return BytesHeaderParser(policy=default_email_policy).parsebytes(decoded)


def _parse_send_email(request: Mapping[str, Any]) -> _OutboundEmail:
    """Check a SendEmail body as far as the emulator needs and extract what insights report."""
    if not isinstance(request, Mapping):
        raise InvalidRequestError("The request body must be a JSON object.")
    content = request.get("Content")
    if not isinstance(content, Mapping) or not content:
        raise InvalidRequestError("Content is required: give one of Simple, Raw or Template.")
    kinds = [kind for kind in ("Simple", "Raw", "Template") if kind in content]
    if len(kinds) != 1:
        raise InvalidRequestError("Content must contain exactly one of Simple, Raw or Template.")
    from_address = request.get("FromEmailAddress")
    subject: str | None = None
    header_recipients: list[str] = []
    if kinds[0] == "Simple":
        simple = content["Simple"]
        subject_part = simple.get("Subject") if isinstance(simple, Mapping) else None
        if isinstance(subject_part, Mapping) and isinstance(subject_part.get("Data"), str):
            subject = subject_part["Data"]
    elif kinds[0] == "Raw":
        headers = _raw_headers(content)
        subject = str(headers["Subject"]) if headers["Subject"] is not None else None
        if not from_address and headers["From"] is not None:
            from_address = str(headers["From"])
        values = [str(value) for name in ("To", "Cc") for value in headers.get_all(name, [])]
        header_recipients = [address for _, address in getaddresses(values) if address]
    else:
        template = content["Template"]
        inline = template.get("TemplateContent") if isinstance(template, Mapping) else None
        if isinstance(inline, Mapping) and isinstance(inline.get("Subject"), str):
            subject = inline["Subject"]
    if not isinstance(from_address, str) or not from_address.strip():
        raise InvalidRequestError("FromEmailAddress is required.")
    destination = request.get("Destination") or {}
    destination = _mapping(
        destination, "Destination", frozenset({"ToAddresses", "CcAddresses", "BccAddresses"})
    )
    listed: list[str] = []
    for key in ("ToAddresses", "CcAddresses", "BccAddresses"):
        for i, address in enumerate(_list(destination.get(key, []), f"Destination.{key}")):
            listed.append(bare_address(_string(address, f"Destination.{key}[{i}]")))
    unique = list(dict.fromkeys(address for address in listed or header_recipients if address))
    if not unique:
        raise InvalidRequestError(
            "Destination is required: give at least one address in ToAddresses, CcAddresses or BccAddresses."
        )
    tags: list[tuple[str, str]] = []
    for i, tag in enumerate(_list(request.get("EmailTags", []), "EmailTags")):
        fields = _mapping(tag, f"EmailTags[{i}]", frozenset({"Name", "Value"}))
        name = _string(fields.get("Name"), f"EmailTags[{i}].Name")
        tags.append((name, _string(fields.get("Value"), f"EmailTags[{i}].Value")))
    configuration_set = request.get("ConfigurationSetName")
    if configuration_set is not None:
        _string(configuration_set, "ConfigurationSetName")
    return _OutboundEmail(from_address, subject, tuple(unique), tuple(tags), configuration_set)


def _check_rate(rate: float | None) -> float | None:
    """Normalize a rate: None or 0 mean unlimited; otherwise a positive finite number."""
    if rate is None:
        return None
    value = _number(rate, "rate")
    if value < 0:
        raise InvalidRequestError(f"rate must not be negative, got {rate!r}.")
    return value or None


class RateLimiter:
    """Token buckets of capacity one, one per account, refilled at ``rate`` tokens per second.

    This mirrors the real GetMessageInsights quota (one call per second per account). A call
    that finds no token is refused and does not consume anything, so a client hammering the
    endpoint gets through as soon as a token has accrued.
    """

    def __init__(self, rate: float | None = 1.0) -> None:
        """Create the limiter; ``rate`` None or 0 means unlimited."""
        self._lock = threading.Lock()
        self._rate = _check_rate(rate)
        self._buckets: dict[str, tuple[float, float]] = {}

    @property
    def rate(self) -> float | None:
        """Tokens per second per account, or None when unlimited."""
        return self._rate

    def set_rate(self, rate: float | None) -> None:
        """Change the rate; every bucket starts full again so the new rate applies at once."""
        value = _check_rate(rate)
        with self._lock:
            self._rate = value
            self._buckets.clear()

    def reset(self) -> None:
        """Forget all buckets (each account starts with a full bucket)."""
        with self._lock:
            self._buckets.clear()

    def try_acquire(self, account: str, now: float) -> bool:
        """Take a token for ``account`` at monotonic time ``now``; False (nothing taken) if none."""
        with self._lock:
            if self._rate is None:
                return True
            tokens, last = self._buckets.get(account, (1.0, now))
            elapsed = max(0.0, now - last)
            tokens = min(1.0, tokens + elapsed * self._rate)
            last = max(last, now)
            if tokens >= 1.0 - 1e-9:
                self._buckets[account] = (tokens - 1.0, last)
                return True
            self._buckets[account] = (tokens, last)
            return False


class EmulatorState:
    """Everything the emulator knows: messages, pending faults, the call log and the limiter."""

    def __init__(
        self,
        rate: float | None = 1.0,
        delivery_delay: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Create empty state; ``clock`` (epoch seconds) is replaceable for deterministic tests."""
        delay = _number(delivery_delay, "delivery_delay")
        if delay < 0:
            raise InvalidRequestError(f"delivery_delay must not be negative, got {delivery_delay!r}.")
        self._lock = threading.Lock()
        self._clock = clock
        self._delivery_delay = delay
        self._limiter = RateLimiter(rate)
        self._messages: dict[str, StoredMessage] = {}
        self._faults: list[Fault] = []
        self._calls: list[CallRecord] = []

    @property
    def rate(self) -> float | None:
        """GetMessageInsights calls per second per account, or None when unlimited."""
        return self._limiter.rate

    @property
    def delivery_delay(self) -> float:
        """Seconds between the steps of generated (mailbox-simulator) timelines."""
        return self._delivery_delay

    def now(self) -> float:
        """Return the emulator's wall clock (epoch seconds)."""
        return self._clock()

    def add_message(
        self,
        message_id: str | None = None,
        *,
        recipients: list[dict[str, Any]] | None = None,
        from_address: str = "sender@example.com",
        subject: str | None = "Hello",
        tags: Mapping[str, str] | None = None,
        visible_after: float = 0.0,
    ) -> str:
        """Store a scripted message and return its id (a fresh SES-shaped id when not given).

        A message added with an id that already exists replaces the earlier one.
        """
        message = build_message(
            message_id,
            created=self._clock(),
            delivery_delay=self._delivery_delay,
            recipients=recipients,
            from_address=from_address,
            subject=subject,
            tags=tags,
            visible_after=visible_after,
        )
        with self._lock:
            self._messages[message.message_id] = message
        return message.message_id

    def add_messages(self, specs: Iterable[Any]) -> list[str]:
        """Store several messages given as dicts of :meth:`add_message` arguments, all or none."""
        created = self._clock()
        messages: list[StoredMessage] = []
        for i, spec in enumerate(specs):
            fields = dict(_mapping(spec, f"messages[{i}]", _MESSAGE_KEYS))
            message_id = fields.pop("message_id", None)
            messages.append(
                build_message(message_id, created=created, delivery_delay=self._delivery_delay, **fields)
            )
        with self._lock:
            for message in messages:
                self._messages[message.message_id] = message
        return [message.message_id for message in messages]

    def send_email(self, request: Mapping[str, Any], *, account: str, source_ip: str) -> str:
        """Accept a SendEmail request body and return the new message's id.

        Recipients get generated timelines; with a ``ConfigurationSetName`` the ``ses:`` auto-tags
        are added before the caller's tags, as SES does.
        """
        email = _parse_send_email(request)
        created = self._clock()
        tags = list(email.tags)
        if email.configuration_set is not None:
            tags[:0] = [
                ("ses:configuration-set", email.configuration_set),
                ("ses:from-domain", domain_of(email.from_address)),
                ("ses:caller-identity", account),
                ("ses:source-ip", source_ip),
                ("ses:outgoing-ip", OUTGOING_IP),
            ]
        single = len(email.recipients) == 1
        recipients = tuple(
            Recipient(
                address,
                isp_for(address),
                _stamp(simulated_timeline(address, self._delivery_delay, single_recipient=single), created),
            )
            for address in email.recipients
        )
        message = StoredMessage(
            new_message_id(), email.from_address, email.subject, tuple(tags), recipients, created
        )
        with self._lock:
            self._messages[message.message_id] = message
        return message.message_id

    def message_insights(self, message_id: str) -> dict[str, Any] | None:
        """Return the GetMessageInsights body for ``message_id`` now, or None if not (yet) found."""
        now = self._clock()
        with self._lock:
            message = self._messages.get(message_id)
        if message is None or now < message.visible_at:
            return None
        return message.insights(now)

    def message_count(self) -> int:
        """Return how many messages are stored."""
        with self._lock:
            return len(self._messages)

    def acquire(self, account: str, arrival: float) -> bool:
        """Ask the rate limiter for a GetMessageInsights token (``arrival`` is monotonic)."""
        return self._limiter.try_acquire(account, arrival)

    def inject(
        self, kind: str, count: int = 1, *, message_id: str | None = None, seconds: float = 0.0
    ) -> None:
        """Queue ``count`` faults of ``kind`` for the next matching GetMessageInsights calls.

        ``message_id`` None matches any call; ``seconds`` is the delay of a ``slow`` fault.
        """
        if kind not in FAULT_KINDS:
            raise InvalidRequestError(f"Unknown fault kind {kind!r}; known kinds: {list(FAULT_KINDS)}.")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise InvalidRequestError(f"count must be a positive integer, got {count!r}.")
        if message_id is not None:
            _string(message_id, "message_id")
        delay = _number(seconds, "seconds")
        if delay < 0:
            raise InvalidRequestError(f"seconds must not be negative, got {seconds!r}.")
        with self._lock:
            self._faults.extend(Fault(kind, message_id, delay) for _ in range(count))

    def take_fault(self, message_id: str) -> Fault | None:
        """Remove and return the oldest pending fault matching ``message_id``, if any."""
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.message_id is None or fault.message_id == message_id:
                    return self._faults.pop(index)
        return None

    def pending_faults(self) -> list[Fault]:
        """Return the faults not consumed yet, oldest first."""
        with self._lock:
            return list(self._faults)

    def record_call(self, record: CallRecord) -> None:
        """Append a call to the log."""
        with self._lock:
            self._calls.append(record)

    def calls(self) -> list[CallRecord]:
        """Return a copy of the call log in arrival order."""
        with self._lock:
            return sorted(self._calls, key=lambda record: record.monotonic)

    def throttled_count(self) -> int:
        """Return how many logged calls were answered 429 TooManyRequests."""
        with self._lock:
            return sum(1 for record in self._calls if record.status == 429)

    def clear_calls(self) -> None:
        """Empty the call log."""
        with self._lock:
            self._calls.clear()

    def set_rate(self, rate: float | None) -> None:
        """Change the GetMessageInsights rate (None or 0: unlimited); buckets start full."""
        self._limiter.set_rate(rate)

    def reset(self) -> None:
        """Forget messages, pending faults, calls and rate buckets (the rate itself is kept)."""
        with self._lock:
            self._messages.clear()
            self._faults.clear()
            self._calls.clear()
        self._limiter.reset()
