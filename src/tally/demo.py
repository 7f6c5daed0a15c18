"""Realistic demo profiles: deterministic for a seed, with the mix a real list has.

About 95 % have an email subscription, 40 % sms and 30 % push; statuses skew the way a
mailing list does (mostly subscribed, some unsubscribed and bounced); about 2 % of addresses
are malformed and 3 % of profiles carry a blocking global status.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from tally.profiles.input import ProfileInput, SubscriptionInput
from tally.profiles.statuses import Status

FIRST_NAMES = [
    "Ann",
    "Boris",
    "Chloe",
    "Dmitri",
    "Elena",
    "Farid",
    "Greta",
    "Hugo",
    "Irina",
    "Jonas",
]
CITIES = ["Riga", "Tallinn", "Vilnius", "Helsinki", "Warsaw", "Berlin"]
STATUS_MIX = [
    (Status.SUBSCRIBED, 70),
    (Status.UNSUBSCRIBED, 10),
    (Status.HARDBOUNCED, 10),
    (Status.UNCONFIRMED, 4),
    (Status.SUSPENDED, 3),
    (Status.COMPLAINED, 2),
    (Status.INVALID, 1),
]
BLOCKING_MIX = [Status.UNSUBSCRIBED, Status.HARDBOUNCED, Status.SUSPENDED]


def demo_profiles(count: int, resource_id: int, *, seed: int = 20240601) -> Iterator[ProfileInput]:
    rng = random.Random(seed)
    statuses = [status for status, _ in STATUS_MIX]
    weights = [weight for _, weight in STATUS_MIX]
    for number in range(1, count + 1):
        name = rng.choice(FIRST_NAMES)
        email = f"{name.lower()}.{number}@example.org"
        if rng.random() < 0.02:
            email = email.replace("@", " at ")  # malformed: counted, never sendable
        phone = f"+7900{number:07d}"
        subscriptions = []
        if rng.random() < 0.95:
            subscriptions.append(
                SubscriptionInput(resource_id, "email", {"email": email}, rng.choices(statuses, weights)[0])
            )
        if rng.random() < 0.40:
            subscriptions.append(
                SubscriptionInput(resource_id, "sms", {"phone": phone}, rng.choices(statuses, weights)[0])
            )
        if rng.random() < 0.30:
            provider = rng.choice(["android-firebase", "ios-apns"])
            subscriptions.append(
                SubscriptionInput(
                    resource_id,
                    "push",
                    {"provider": provider, "subscription_id": f"dev:{number:x}"},
                    rng.choices(statuses, weights)[0],
                )
            )
        global_status = rng.choice(BLOCKING_MIX) if rng.random() < 0.03 else None
        yield ProfileInput(
            email=email,
            phones=[phone],
            global_status=global_status,
            fields={"_fname": name, "city": rng.choice(CITIES)},
            subscriptions=subscriptions,
        )
