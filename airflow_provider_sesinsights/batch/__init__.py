"""Building blocks of a batch of GetMessageInsights calls, free of Airflow so they test directly.

:mod:`.plan` (which IDs to fetch), :mod:`.progress` (when and what to log), :mod:`.spool` (fetched
insights on local disk, written out in input order), :mod:`.destination` (the S3 object and the
keys beside it), :mod:`.checkpoint` (what a failed attempt leaves for the next) and
:mod:`.manifest` (the summary written next to the data).
"""
