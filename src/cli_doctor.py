"""`anime-studio doctor`: rows without their files and files without rows under the home
(packages/core/doctor.py), as lines or `--json`; exit 1 when anything is wrong."""

from __future__ import annotations

import json

import typer

from packages.core.db import create_pool
from packages.core.doctor import examine
from packages.core.settings import Settings


async def run_doctor(url: str, settings: Settings, *, as_json: bool) -> int:
    pool = await create_pool(url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            report = await examine(conn, settings)
    finally:
        await pool.close()
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
        return 0 if report.ok else 1
    typer.echo(f"home       {report.home}")
    typer.echo(f"checked    {report.rows_checked} rows, {report.files_checked} files")
    for problem in report.problems:
        if problem.kind == "missing":
            typer.secho(f"missing    {problem.category} {problem.row_id} {problem.column}: {problem.path}", fg="red")
        else:
            typer.secho(f"orphan     {problem.path} (no row names it)", fg="yellow")
    if report.ok:
        typer.secho("ok         every row has its file and every file its row", fg="green")
        return 0
    summary = report.as_dict()
    typer.secho(f"problems   {summary['missing']} missing, {summary['orphans']} orphan", fg="red", err=True)
    return 1
