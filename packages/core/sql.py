"""The one helper that builds SQL text: an UPDATE whose column names come from a whitelist.
Values always travel as parameters."""

from __future__ import annotations


def update_statement(table: str, key: str, fields: dict, allowed: frozenset[str], returning: str = "*") -> tuple[str, list]:
    """`UPDATE table SET a = $2, b = $3 WHERE key = $1 RETURNING ...` for the given fields.
    Raises KeyError for a column that is not in `allowed` (a programming error, not user input)."""
    columns = list(fields)
    for column in columns:
        if column not in allowed:
            raise KeyError(f"{column} is not an updatable column of {table}")
    assignments = ", ".join(f"{column} = ${i}" for i, column in enumerate(columns, start=2))
    return f"UPDATE {table} SET {assignments} WHERE {key} = $1 RETURNING {returning}", [fields[c] for c in columns]
