"""A seeded, realistic day of email traffic for the emulator: demos, report tests, benchmarks.

:func:`realistic_day` draws a few hundred messages over several ISPs and campaigns, each with a
complete timeline at absolute timestamps of that day (epoch seconds, so the emulator shows
them as they happened): delivery after a second or so, delivery delays that end in a late
delivery or a transient bounce, permanent bounces with the diagnostic codes ISPs really send,
complaints, opens and clicks, a few rejected and a few multi-recipient messages (which SES
tracks only up to SEND). The same seed always gives the same day.

The result is the list of dicts that :meth:`SesEmulator.add_messages` and the ``--seed-file``
take, plus the manifest a sending system would drop next to it: one row per message with its
ID, send time and campaign, as CSV or JSON Lines.
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from typing import Any

MANIFEST_COLUMNS = ("message_id", "sent_at", "campaign")
"""Columns of the manifest, in order."""


@dataclass(frozen=True)
class IspProfile:
    """How one mailbox provider behaves: its share of the list and its base rates.

    :param domains: recipient domains of the provider.
    :param share: relative weight among the ISPs of a day.
    :param permanent_bounce: chance that a send bounces without retries (mostly ``PERMANENT``, a
        few ``UNDETERMINED``), before campaign factors.
    :param transient_bounce: chance that delivery is retried and finally given up.
    :param complaint: chance that a delivered message draws a complaint.
    :param delay: chance that delivery is delayed (DELIVERY_DELAY, then a late DELIVERY).
    :param median_delivery_s: median seconds from SEND to DELIVERY when nothing goes wrong.
    :param unknown_user: the provider's diagnostic code for an unknown mailbox; ``{address}``
        is replaced by the recipient, as some providers quote it.
    """

    name: str
    domains: tuple[str, ...]
    share: float
    permanent_bounce: float
    transient_bounce: float
    complaint: float
    delay: float
    median_delivery_s: float
    unknown_user: str


@dataclass(frozen=True)
class CampaignProfile:
    """One kind of mail a sender sends in a day.

    :param window_hours: UTC hours ``(start, end)`` within which its messages go out.
    :param bounce_factor: multiplies the ISPs' bounce chances (a stale list bounces more).
    :param complaint_factor: multiplies the ISPs' complaint chances.
    :param open_rate: chance that a delivered message is opened.
    :param click_rate: chance that an opened message is clicked.
    """

    name: str
    share: float
    window_hours: tuple[float, float]
    configuration_set: str
    from_address: str
    subject: str
    bounce_factor: float
    complaint_factor: float
    open_rate: float
    click_rate: float


DEFAULT_ISPS: tuple[IspProfile, ...] = (
    IspProfile(
        "Gmail",
        ("gmail.com", "googlemail.com"),
        0.38,
        0.012,
        0.004,
        0.004,
        0.02,
        1.2,
        "smtp; 550-5.1.1 The email account that you tried to reach does not exist. 550 5.1.1 "
        "https://support.google.com/mail/?p=NoSuchUser - gsmtp",
    ),
    IspProfile(
        "Microsoft",
        ("outlook.com", "hotmail.com", "live.com"),
        0.22,
        0.018,
        0.012,
        0.006,
        0.08,
        2.5,
        "smtp; 550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302) [{address}]",
    ),
    IspProfile(
        "Yahoo",
        ("yahoo.com", "aol.com"),
        0.14,
        0.015,
        0.010,
        0.008,
        0.06,
        3.0,
        "smtp; 554 delivery error: dd This user doesn't have a yahoo.com account ({address}) [0] "
        "- mta1021.mail.bf1.yahoo.com",
    ),
    IspProfile(
        "Apple",
        ("icloud.com", "me.com"),
        0.10,
        0.010,
        0.006,
        0.003,
        0.03,
        1.8,
        "smtp; 550 5.1.1 <{address}>: user does not exist",
    ),
    IspProfile(
        "Other",
        ("example-corp.com", "mail.example.net", "univ.example.edu"),
        0.16,
        0.025,
        0.015,
        0.002,
        0.05,
        4.0,
        "smtp; 550 5.1.1 <{address}>: Recipient address rejected: User unknown in virtual mailbox table",
    ),
)
"""The ISPs of a default day, with rates of the order seen on a healthy sending account."""

DEFAULT_CAMPAIGNS: tuple[CampaignProfile, ...] = (
    CampaignProfile(
        "password-reset", 0.15, (0.0, 23.5), "transactional", "no-reply@mail.example.com",
        "Reset your password", 0.5, 0.2, 0.70, 0.60,
    ),
    CampaignProfile(
        "order-confirmation", 0.25, (6.0, 23.0), "transactional", "orders@mail.example.com",
        "Your order is confirmed", 0.5, 0.3, 0.55, 0.15,
    ),
    CampaignProfile(
        "weekly-digest", 0.35, (8.0, 9.5), "marketing", "news@mail.example.com",
        "This week at Example", 1.0, 1.5, 0.25, 0.08,
    ),
    CampaignProfile(
        "spring-sale", 0.25, (14.0, 15.0), "marketing", "offers@mail.example.com",
        "Spring sale: 30% off", 3.0, 4.0, 0.18, 0.12,
    ),
)  # fmt: skip
"""The campaigns of a default day: two transactional streams and two marketing sends."""

_FIRST_NAMES = ("ana", "ben", "chloe", "dev", "emma", "farid", "grace", "hugo", "ines", "jun", "kai", "lea")
_LAST_NAMES = ("silva", "martin", "okafor", "nguyen", "schmidt", "rossi", "kowalski", "tanaka", "dubois")
_TRANSIENT_DIAGNOSTICS = (
    ("MailboxFull", "smtp; 552 5.2.2 The recipient's inbox is out of storage space."),
    ("General", "smtp; 421 4.7.0 Temporary deferral: try again later"),
)
_SUPPRESSED_DIAGNOSTIC = (
    "Amazon SES did not send the message to this address because it is on the suppression list "
    "for your account."
)
_REJECT_RATE = 0.003
_MULTI_RECIPIENT_RATE = 0.03
_SUPPRESSED_SHARE = 0.25
_UNDETERMINED_SHARE = 0.1


def _pick(rng: random.Random, options: tuple[Any, ...]) -> Any:
    return rng.choices(options, weights=[option.share for option in options])[0]


def _message_id(rng: random.Random) -> str:
    return f"010001{rng.getrandbits(40):010x}-{uuid.UUID(int=rng.getrandbits(128), version=4)}-000000"


def _address(rng: random.Random, isp: IspProfile) -> str:
    name = f"{rng.choice(_FIRST_NAMES)}.{rng.choice(_LAST_NAMES)}{rng.randrange(1, 1000)}"
    return f"{name}@{rng.choice(isp.domains)}"


def _lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return median * math.exp(rng.gauss(0.0, sigma))


def _event(kind: str, at: float, **details: dict[str, str]) -> dict[str, Any]:
    return {"type": kind, "at": round(at, 3), **details}


def _timeline(
    rng: random.Random, sent: float, isp: IspProfile, campaign: CampaignProfile, address: str
) -> list[dict[str, Any]]:
    """The events of one single-recipient send, drawn from the ISP's and campaign's rates."""
    events = [_event("SEND", sent)]
    draw = rng.random()
    permanent = isp.permanent_bounce * campaign.bounce_factor
    transient = isp.transient_bounce * campaign.bounce_factor
    if draw < _REJECT_RATE:
        events.append(_event("REJECT", sent + rng.uniform(0.2, 1.0)))
        return events
    if draw < _REJECT_RATE + permanent:
        kind = rng.random()
        if kind < _UNDETERMINED_SHARE:
            bounce = {"BounceType": "UNDETERMINED", "BounceSubType": "Undetermined"}
            events.append(_event("BOUNCE", sent + _lognormal(rng, 600.0, 1.0), bounce=bounce))
        elif kind < _UNDETERMINED_SHARE + _SUPPRESSED_SHARE:
            bounce = {"BounceType": "PERMANENT", "BounceSubType": "OnAccountSuppressionList",
                      "DiagnosticCode": _SUPPRESSED_DIAGNOSTIC}  # fmt: skip
            events.append(_event("BOUNCE", sent + rng.uniform(0.05, 0.3), bounce=bounce))
        else:
            diagnostic = isp.unknown_user.format(address=address)
            bounce = {"BounceType": "PERMANENT", "BounceSubType": "General", "DiagnosticCode": diagnostic}
            events.append(_event("BOUNCE", sent + _lognormal(rng, isp.median_delivery_s, 0.5), bounce=bounce))
        return events
    if draw < _REJECT_RATE + permanent + transient:
        subtype, diagnostic = rng.choice(_TRANSIENT_DIAGNOSTICS)
        events.append(_event("DELIVERY_DELAY", sent + rng.uniform(30.0, 300.0)))
        bounce = {"BounceType": "TRANSIENT", "BounceSubType": subtype, "DiagnosticCode": diagnostic}
        events.append(_event("BOUNCE", sent + rng.uniform(4 * 3600.0, 12 * 3600.0), bounce=bounce))
        return events
    if rng.random() < isp.delay:
        events.append(_event("DELIVERY_DELAY", sent + rng.uniform(30.0, 300.0)))
        delivered = sent + _lognormal(rng, 1800.0, 0.8)
    else:
        delivered = sent + _lognormal(rng, isp.median_delivery_s, 0.6)
    events.append(_event("DELIVERY", delivered))
    if rng.random() < campaign.open_rate:
        opened = delivered + _lognormal(rng, 1200.0, 1.2)
        events.append(_event("OPEN", opened))
        if rng.random() < campaign.click_rate:
            events.append(_event("CLICK", opened + _lognormal(rng, 20.0, 0.8)))
    if rng.random() < isp.complaint * campaign.complaint_factor:
        complaint = {"ComplaintFeedbackType": "abuse"}
        events.append(_event("COMPLAINT", delivered + _lognormal(rng, 3600.0, 1.0), complaint=complaint))
    return events


@dataclass(frozen=True)
class ScenarioDay:
    """A generated day: the messages for the emulator and the sender's manifest of them.

    :param messages: dicts of :meth:`SesEmulator.add_message` arguments, ``message_id`` included,
        in send order.
    """

    day: date
    messages: list[dict[str, Any]]

    @property
    def message_ids(self) -> list[str]:
        """Every message ID, in send order."""
        return [message["message_id"] for message in self.messages]

    def manifest_rows(self) -> list[dict[str, str]]:
        """One row per message: ``message_id``, ``sent_at`` (ISO-8601 UTC) and ``campaign``."""
        rows = []
        for message in self.messages:
            sent = min(event["at"] for recipient in message["recipients"] for event in recipient["events"])
            rows.append(
                {
                    "message_id": message["message_id"],
                    "sent_at": datetime.fromtimestamp(sent, timezone.utc).isoformat(timespec="seconds"),
                    "campaign": message["tags"]["campaign"],
                }
            )
        return rows

    def manifest_csv(self) -> str:
        """The manifest as CSV with a header row."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.manifest_rows())
        return buffer.getvalue()

    def manifest_jsonl(self) -> str:
        """The manifest as JSON Lines, one object per message."""
        return "".join(json.dumps(row) + "\n" for row in self.manifest_rows())

    def seed_json(self) -> str:
        """The messages as the emulator's ``--seed-file`` takes them."""
        return json.dumps(self.messages)


def realistic_day(
    day: date,
    *,
    messages: int = 400,
    seed: int = 20260301,
    isps: tuple[IspProfile, ...] = DEFAULT_ISPS,
    campaigns: tuple[CampaignProfile, ...] = DEFAULT_CAMPAIGNS,
) -> ScenarioDay:
    """Draw ``messages`` messages sent on ``day`` (UTC), each with its full timeline.

    Late events (opens, complaints, transient bounces) can fall on the next day, as they do in
    reality; the emulator hides any event whose time has not come yet.

    :param messages: how many messages to send that day.
    :param seed: seed of the generator; the same seed and arguments give the same day.
    """
    if messages < 1:
        raise ValueError(f"messages must be at least 1, got {messages}")
    rng = random.Random(seed)
    midnight = datetime.combine(day, time(), tzinfo=timezone.utc).timestamp()
    drawn: list[tuple[float, dict[str, Any]]] = []
    for _ in range(messages):
        campaign: CampaignProfile = _pick(rng, campaigns)
        start, end = campaign.window_hours
        sent = round(midnight + rng.uniform(start, end) * 3600.0, 3)
        tags = {
            "campaign": campaign.name,
            "ses:configuration-set": campaign.configuration_set,
            "ses:from-domain": campaign.from_address.rpartition("@")[2],
            "ses:caller-identity": "mail-sender",
            "ses:source-ip": "192.0.2.10",
            "ses:outgoing-ip": "198.51.100.25",
        }
        if rng.random() < _MULTI_RECIPIENT_RATE:
            members = [_pick(rng, isps) for _ in range(rng.randint(2, 3))]
            recipients = [
                {"destination": _address(rng, isp), "isp": isp.name, "events": [_event("SEND", sent)]}
                for isp in members
            ]
        else:
            isp = _pick(rng, isps)
            address = _address(rng, isp)
            events = _timeline(rng, sent, isp, campaign, address)
            recipients = [{"destination": address, "isp": isp.name, "events": events}]
        message = {
            "message_id": _message_id(rng),
            "recipients": recipients,
            "from_address": campaign.from_address,
            "subject": campaign.subject,
            "tags": tags,
        }
        drawn.append((sent, message))
    drawn.sort(key=lambda item: item[0])
    return ScenarioDay(day=day, messages=[message for _, message in drawn])
