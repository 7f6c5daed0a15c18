"""The readers alone: records, their physical lines and byte offsets, and resuming at any one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tally.imports import json_file
from tally.imports.csv_file import column_names, layout_of, read_csv
from tally.imports.formats import FileProblem, Position, Record, detect_format, position_after, record_text
from tally.imports.json_file import read_json_array, read_json_lines

CSV = (
    "\ufeffemail,phone,_fname,email_status,sms_status,push_status,push_provider,push_subscription_id,"
    "telegram_bot_status,telegram_bot_id\r\n"
    "ann@example.org,+79001234567,Ann,subscribed,unconfirmed,,,,,\r\n"
    '"bob@example.org",,"Bo\r\nb",1,,subscribed,fcm,tok,,\r\n'
    "\r\n"
    "carl@example.org,,,,,,,,subscribed,1001\r\n"
    "short,row\r\n"
    "dora@example.org,,Dora,,,,,,,\r\n"
)


def _resumed_everywhere(records: list[Record], read: object) -> None:
    """Reading from the position after any record gives exactly the records after it."""
    for number, record in enumerate(records):
        rest = list(read(position_after(record)))  # type: ignore[operator]
        assert rest == records[number + 1 :]


def test_csv_rows_become_profile_data_with_physical_lines(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_bytes(CSV.encode())
    records = list(read_csv(path, Position(), 7))
    assert [(record.line, record.index) for record in records] == [(2, 0), (3, 1), (6, 2), (7, 3), (8, 4)]
    assert records[0].data == {
        "email": "ann@example.org",
        "_fname": "Ann",
        "phones": ["+79001234567"],
        "subscriptions": [
            {"resource_id": 7, "channel": "email", "status": "subscribed", "email": "ann@example.org"},
            {"resource_id": 7, "channel": "sms", "status": "unconfirmed", "phone": "+79001234567"},
        ],
    }
    assert records[0].channels == ("email", "sms")
    assert records[1].data["_fname"] == "Bo\r\nb"
    assert records[1].data["subscriptions"][1] == {
        "resource_id": 7,
        "channel": "push",
        "status": "subscribed",
        "provider": "fcm",
        "subscription_id": "tok",
    }
    assert records[2].data["subscriptions"] == [
        {"resource_id": 7, "channel": "telegram_bot", "status": "subscribed", "cc_data": {"id": "1001"}}
    ]
    assert records[3].error == "Malformed CSV: the row has 2 cells, the header 10"
    assert records[4].data == {"email": "dora@example.org", "_fname": "Dora"}
    with path.open("rb") as file:
        assert record_text(file.fileno(), records[1]) == '"bob@example.org",,"Bo\r\nb",1,,subscribed,fcm,tok,,'
    _resumed_everywhere(records, lambda start: read_csv(path, start, 7))


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        (["email", "email"], "column 'email' appears twice"),
        (["email", ""], "column 2 has no name"),
        (["email", "push_provider"], "column 'push_provider' needs a push_status column"),
        (["email", "sms_priority"], "column 'sms_priority' needs a sms_status column"),
        (["email", "phones"], "use a phone column"),
        (["email", "two words"], "column 'two words' is not a field name"),
    ],
)
def test_csv_header_that_cannot_work_is_refused(header: list[str], problem: str) -> None:
    with pytest.raises(FileProblem, match=problem):
        layout_of(header)


def test_csv_error_texts_name_the_columns() -> None:
    text = "Invalid parameter: data.subscriptions[1].status must be one of ..., got 'x'"
    assert column_names(text, ("email", "sms")) == "Invalid parameter: sms_status must be one of ..., got 'x'"
    assert column_names("Invalid parameter: data.subscriptions[0].cc_data.id ...", ("viber",)) == (
        "Invalid parameter: viber_id ..."
    )
    assert column_names("Invalid parameter: data.phones[0] must be ...", ()) == "Invalid parameter: phone must be ..."
    assert column_names("Invalid parameter: data.city must be ...", ()) == "Invalid parameter: city must be ..."


def test_json_lines_reject_a_malformed_line_alone(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_bytes(b'{"email": "a@example.org"}\n\n{broken\n[1]\n{"email": "b@example.org", "tags": [1, 2]}')
    records = list(read_json_lines(path, Position(), "reject"))
    assert [(record.line, record.index) for record in records] == [(1, 0), (3, 1), (4, 2), (5, 3)]
    assert records[1].error is not None and records[1].error.startswith("Malformed JSON: Expecting property name")
    assert records[2].data == [1]
    assert records[3].data == {"email": "b@example.org", "tags": [1, 2]}
    assert list(read_json_lines(path, Position(), "json"))[3].data["tags"] == "[1,2]"
    _resumed_everywhere(records, lambda start: read_json_lines(path, start, "reject"))


def _export(items: list[object]) -> str:
    """As PostgreSQL's json_agg writes it: items separated by ', ' and a newline."""
    return "[" + ", \n ".join(json.dumps(item, ensure_ascii=False) for item in items) + "]"


@pytest.mark.parametrize("chunk", [7, 64, 1 << 20])
def test_json_array_items_whatever_the_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    monkeypatch.setattr(json_file, "CHUNK_BYTES", chunk)
    items: list[object] = [
        {"email": f"ü{number}@example.org", "phones": ["+79001234567"], "score": number * 1.5, "tags": ["a"]}
        for number in range(20)
    ]
    items[3], items[4] = 12345, "text"
    path = tmp_path / "export.json"
    path.write_bytes(b"\xef\xbb\xbf" + _export(items).encode())
    records = list(read_json_array(path, Position(), "reject"))
    assert [record.data for record in records] == items
    assert [(record.line, record.index) for record in records] == [(number + 1, number) for number in range(20)]
    with path.open("rb") as file:
        assert [json.loads(record_text(file.fileno(), record)) for record in records] == items
    _resumed_everywhere(records, lambda start: read_json_array(path, start, "reject"))


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ('{"email": "a@example.org"}', 1, "must hold one JSON array"),
        ('[{"email": "a@example.org"},\n {"email": ', 2, "Malformed JSON"),
        ('[{"email": "a@example.org"}\n {"email": "b@example.org"}]', 2, "expected ',' or ']' after an item"),
        ('[{"email": "a@example.org"},\n', 2, "the array is not closed"),
    ],
)
def test_json_array_broken_ends_the_reading_there(tmp_path: Path, text: str, line: int, reason: str) -> None:
    path = tmp_path / "broken.json"
    path.write_text(text)
    *_, last = read_json_array(path, Position(), "reject")
    assert last.fatal and last.line == line and last.error is not None and reason in last.error


def test_format_is_told_by_the_extension(tmp_path: Path) -> None:
    assert [detect_format(Path(name)) for name in ("a.CSV", "a.jsonl", "a.ndjson", "a.json")] == [
        "csv",
        "jsonl",
        "jsonl",
        "json",
    ]
    with pytest.raises(FileProblem, match="give --format"):
        detect_format(tmp_path / "a.txt")
