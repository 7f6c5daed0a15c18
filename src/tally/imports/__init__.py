"""Bulk import of profiles from a file (``tally import``): read, validate, write in batches.

formats.py tells the formats apart and where a reader stands; csv_file.py and json_file.py
read records from a file, resumable at a byte offset; validate.py turns a record into what
the profiles service imports (the API's own models, the API's own error texts);
checkpoints.py and queries.py keep how far an import got, in the database, in the same
transaction as each batch; run.py is the pipeline. The click command is cli/imports.py.
"""
