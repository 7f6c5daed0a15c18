"""A record of the file becomes what profiles_import takes: the API's own validation.

Each record is checked by ``import_item``, with the same Pydantic models and the same error
texts as profiles/import and import_batch (``Invalid parameter: data.email must be ...``);
for CSV the text names the column instead (``sms_status``, ``phone``).
"""

from __future__ import annotations

import re

from tally.errors import BadRequest, TallyError
from tally.imports.csv_file import column_names
from tally.imports.formats import Format, Record
from tally.profiles.input import ImportInput, Matching, import_item

_MISSING_KEY = re.compile(r"Missing parameter: (\w+) \(matching by \w+ reads it .*\)")


def validated(record: Record, matching: Matching, fmt: Format) -> ImportInput | TallyError:
    if record.error is not None:
        return BadRequest(record.error)
    try:
        return import_item(matching, record.data)
    except TallyError as error:
        return _for_file(error, matching, fmt, record)


def _for_file(error: TallyError, matching: Matching, fmt: Format, record: Record) -> TallyError:
    """The API's text, said of a file: there is no top level beside ``matching`` here."""
    text = error.text
    missing = _MISSING_KEY.fullmatch(text)
    if missing is not None:
        if fmt == "csv":
            where = {"email": "an email", "phone": "a phone", "profile_id": "a profile_id"}[matching] + " in every row"
        else:
            where = {"email": "email", "phone": "phone or phones", "profile_id": "profile_id"}[matching]
            where += " in every record"
        text = f"Missing parameter: {missing.group(1)} (--matching {matching} needs {where})"
    elif fmt == "csv":
        text = column_names(text, record.channels)
    if text == error.text:
        return error
    renamed = type(error)(text)
    return renamed
