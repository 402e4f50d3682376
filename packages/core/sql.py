"""The one helper that builds SQL text: an UPDATE whose column names come from a whitelist.
Values always travel as parameters."""

from __future__ import annotations


def update_statement(table: str, key: str, fields: dict, allowed: frozenset[str], returning: str = "*",
                     condition: str = "") -> tuple[str, list]:
    """`UPDATE table SET a = $2, b = $3 WHERE key = $1 [AND condition] RETURNING ...` for the given
    fields; `condition` is a constant SQL fragment from the code. Raises KeyError for a column that
    is not in `allowed` (a programming error, not user input)."""
    columns = list(fields)
    for column in columns:
        if column not in allowed:
            raise KeyError(f"{column} is not an updatable column of {table}")
    assignments = ", ".join(f"{column} = ${i}" for i, column in enumerate(columns, start=2))
    where = f"{key} = $1" + (f" AND {condition}" if condition else "")
    return f"UPDATE {table} SET {assignments} WHERE {where} RETURNING {returning}", [fields[c] for c in columns]
