"""The keys a profile is found by: its email without regard to case, its phones in E.164.

Both are stored beside the values as given (``profiles.email_key``, ``profile_phones.phone``)
so that matching is an index lookup. Migration 0007 filled them with these functions, so a
change here needs a migration that recomputes the stored keys.
"""

from __future__ import annotations

import re

#: What people put between the digits of a phone number.
_SEPARATORS = re.compile(r"[\s().\-/]")
_E164 = re.compile(r"\+[0-9]{7,15}")


def email_key(email: str | None) -> str | None:
    """Emails match without regard to case (and to surrounding blanks)."""
    if email is None:
        return None
    return email.strip().lower() or None


def phone_key(phone: str) -> str:
    """The E.164 form of a phone when it can be normalised without knowing its country.

    ``+7 (900) 123-45-67`` and ``0079001234567`` are both ``+79001234567``. A number without
    its country code (``8 900 ...``) cannot be normalised: it matches as given, less its
    surrounding blanks. Addresses are never rewritten: this is only the key.
    """
    compact = _SEPARATORS.sub("", phone)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if _E164.fullmatch(compact):
        return compact
    return phone.strip()
