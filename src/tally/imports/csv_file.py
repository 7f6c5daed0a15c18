"""CSV with a header row: each row becomes the profile data the API takes.

Columns (an empty cell is an absent field):

* ``email``, ``_status`` and every other column: the profile field of that name (system
  fields such as ``_fname`` and custom fields; CSV has no types, so values are text);
* ``phone``: the profile's phone (``phones: [value]``);
* ``<channel>_status`` (``email_status``, ``sms_status``, ``push_status``,
  ``telegram_bot_status``, ...): a subscription to the import's resource on that channel,
  with that status; the row's address for it: ``email`` for email, ``phone`` for sms,
  ``push_provider`` and ``push_subscription_id`` for push, ``<channel>_id`` and
  ``<channel>_phone`` (its ``cc_data``) for telegram_bot, viber, whatsapp and notify;
  ``<channel>_priority`` is its priority. An empty status cell: no subscription there.

Rows are read from the file's bytes, so that each record's physical line and byte offset
are known (a quoted cell may span lines); a resumed import seeks to the byte after the last
committed row.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tally.catalog.channels import CC_DATA_CHANNELS, CHANNEL_CODES
from tally.imports.formats import UTF8_BOM, FileProblem, Position, Record
from tally.profiles.input import FIELD_NAME

#: Per channel: its address columns and the subscription field each one fills. email and
#: sms take theirs from the profile's own ``email`` and ``phone`` columns.
ADDRESS_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "email": (("email", "email"),),
    "sms": (("phone", "phone"),),
    "push": (("push_provider", "provider"), ("push_subscription_id", "subscription_id")),
    **{name: ((f"{name}_id", "cc_data.id"), (f"{name}_phone", "cc_data.phone")) for name in sorted(CC_DATA_CHANNELS)},
}
#: Columns that belong to a channel and mean nothing without its ``<channel>_status``.
CHANNEL_OWNED: dict[str, str] = {
    **{f"{name}_priority": name for name in CHANNEL_CODES},
    **{column: name for name in ("push", *sorted(CC_DATA_CHANNELS)) for column, _ in ADDRESS_COLUMNS[name]},
}
#: Columns the API's profile data would misread.
REFUSED = {"phones": "use a phone column, one number per row", "subscriptions": "use <channel>_status columns"}


@dataclass(frozen=True)
class ChannelColumns:
    channel: str
    status: int
    priority: int | None
    #: (cell index, subscription field): ``cc_data.id`` goes into the ``cc_data`` object.
    address: tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class Layout:
    """What each cell of a row means, from the header."""

    width: int
    #: (cell index, profile field) of plain fields: email, _status, custom fields.
    fields: tuple[tuple[int, str], ...]
    phone: int | None
    channels: tuple[ChannelColumns, ...] = field(default=())

    @property
    def channel_names(self) -> list[str]:
        return [columns.channel for columns in self.channels]


def layout_of(header: list[str]) -> Layout:
    """The header's layout, or FileProblem naming the first column that cannot work."""
    names = [name.strip() for name in header]
    seen: set[str] = set()
    for number, name in enumerate(names, start=1):
        if not name:
            raise FileProblem(f"CSV header: column {number} has no name")
        if name in seen:
            raise FileProblem(f"CSV header: column {name!r} appears twice")
        seen.add(name)
        if name in REFUSED:
            raise FileProblem(f"CSV header: column {name!r} is not supported: {REFUSED[name]}")
    index = {name: number for number, name in enumerate(names)}
    channels = []
    for channel in CHANNEL_CODES:
        status = index.get(f"{channel}_status")
        if status is None:
            continue
        address = tuple((index[column], target) for column, target in ADDRESS_COLUMNS[channel] if column in index)
        channels.append(ChannelColumns(channel, status, index.get(f"{channel}_priority"), address))
    taken = {f"{columns.channel}_status" for columns in channels} | {"phone"}
    fields = []
    for number, name in enumerate(names):
        owner = CHANNEL_OWNED.get(name)
        if owner is not None:
            if f"{owner}_status" not in index:
                raise FileProblem(f"CSV header: column {name!r} needs a {owner}_status column")
            continue
        if name in taken:
            continue
        if not FIELD_NAME.fullmatch(name):
            raise FileProblem(f"CSV header: column {name!r} is not a field name (it must match {FIELD_NAME.pattern})")
        fields.append((number, name))
    return Layout(len(names), tuple(fields), index.get("phone"), tuple(channels))


def read_layout(path: Path) -> Layout:
    with path.open("rb") as file:
        lines = _Lines(file, Position())
        header = next(csv.reader(lines), None)
    if header is None:
        raise FileProblem(f"{path.name} is empty: a CSV file starts with a header row")
    return layout_of(header)


class _Lines:
    """The file's lines, decoded, counting lines and bytes as csv.reader pulls them."""

    def __init__(self, file: IO[bytes], start: Position) -> None:
        self._file = file
        self.line = start.line
        self.offset = start.offset

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        raw = self._file.readline()
        if not raw:
            raise StopIteration
        text = raw[len(UTF8_BOM) :] if self.offset == 0 and raw.startswith(UTF8_BOM) else raw
        self.line += 1
        self.offset += len(raw)
        # Undecodable bytes stay as lone surrogates: validation refuses them, naming the field.
        return text.decode("utf-8", "surrogateescape")


def read_csv(path: Path, start: Position, resource_id: int | None) -> Iterator[Record]:
    """The data rows from ``start`` (the header is always read first, for the layout)."""
    with path.open("rb") as file:
        lines = _Lines(file, Position())
        header = next(csv.reader(lines), None)
        if header is None:
            return
        layout = layout_of(header)
        if start.offset > lines.offset:
            file.seek(start.offset)
            lines = _Lines(file, start)
        reader = csv.reader(lines)
        index = max(start.records, 0)
        while True:
            line, offset = lines.line, lines.offset
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield Record(line + 1, index, offset, lines.offset, lines.line, None, error=f"Malformed CSV: {exc}")
                index += 1
                continue
            if not cells:
                continue  # a blank line is no record
            if len(cells) != layout.width:
                error = f"Malformed CSV: the row has {len(cells)} cells, the header {layout.width}"
                yield Record(line + 1, index, offset, lines.offset, lines.line, None, error=error)
            else:
                data, channels = _row_data(layout, cells, resource_id)
                yield Record(line + 1, index, offset, lines.offset, lines.line, data, channels=channels)
            index += 1


def _row_data(layout: Layout, cells: list[str], resource_id: int | None) -> tuple[dict[str, Any], tuple[str, ...]]:
    data: dict[str, Any] = {name: cells[number] for number, name in layout.fields if cells[number] != ""}
    if layout.phone is not None and cells[layout.phone] != "":
        data["phones"] = [cells[layout.phone]]
    if not layout.channels:
        return data, ()
    subscriptions = []
    channels = []
    for columns in layout.channels:
        status = cells[columns.status]
        if status == "":
            continue
        subscription: dict[str, Any] = {"resource_id": resource_id, "channel": columns.channel, "status": status}
        if columns.priority is not None and cells[columns.priority] != "":
            subscription["priority"] = cells[columns.priority]
        for number, target in columns.address:
            value = cells[number]
            if value == "":
                continue
            if target.startswith("cc_data."):
                subscription.setdefault("cc_data", {})[target.removeprefix("cc_data.")] = value
            else:
                subscription[target] = value
        subscriptions.append(subscription)
        channels.append(columns.channel)
    if subscriptions:
        data["subscriptions"] = subscriptions
    return data, tuple(channels)


_SUBSCRIPTION_FIELD = re.compile(r"\bdata\.subscriptions\[(\d+)\](?:\.([A-Za-z_]+(?:\.[A-Za-z_]+)?))?")
_PROFILE_FIELD = re.compile(r"\bdata\.(phones(?:\[\d+\])?|[A-Za-z_][A-Za-z0-9_.-]*)")


def column_names(text: str, channels: tuple[str, ...]) -> str:
    """An error text of the API (``data.subscriptions[1].status``) naming the CSV column
    (``sms_status``) instead."""

    def subscription_column(match: re.Match[str]) -> str:
        number, name = int(match.group(1)), match.group(2) or "status"
        if number >= len(channels):
            return match.group(0)
        channel = channels[number]
        if name in ("status", "priority"):
            return f"{channel}_{name}"
        for column, target in ADDRESS_COLUMNS[channel]:
            if target == name or (name == "cc_data" and target.startswith("cc_data.")):
                return column
        return match.group(0)

    text = _SUBSCRIPTION_FIELD.sub(subscription_column, text)
    return _PROFILE_FIELD.sub(lambda match: "phone" if match.group(1).startswith("phones") else match.group(1), text)
