"""Pseudonymising recipient addresses, for reports that must not carry personal data.

An address becomes a keyed hash (HMAC-SHA256 with a secret salt): the same recipient gets the
same pseudonym in every output and every report made with the same salt, so rows still join
and counts per recipient still work, but without the salt nobody can test a guessed address
against the hash (a bare SHA-256 of an email address is easily reversed with a list of
addresses).
"""

from __future__ import annotations

import hashlib
import hmac
import re

PSEUDONYM_PREFIX = "anon-"

_ADDRESS = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+"
)


class RecipientHasher:
    """Replace email addresses by stable keyed pseudonyms (``anon-`` and 32 hex digits).

    :param salt: the secret key of the hash; keep it out of the report and reuse it to make
        pseudonyms comparable between reports.
    """

    def __init__(self, salt: str) -> None:
        if not isinstance(salt, str) or not salt:
            raise ValueError("hashing recipients needs a non-empty secret salt")
        self._key = salt.encode("utf-8")

    def pseudonym(self, address: str) -> str:
        """The pseudonym of one address; case and surrounding blanks do not change it."""
        digest = hmac.new(self._key, address.strip().lower().encode("utf-8"), hashlib.sha256)
        return PSEUDONYM_PREFIX + digest.hexdigest()[:32]

    def scrub(self, text: str) -> str:
        """Replace every address inside free text (such as a bounce's diagnostic code)."""
        return _ADDRESS.sub(lambda match: self.pseudonym(match.group(0)), text)
