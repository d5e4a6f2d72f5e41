"""`cir demo`: the main job on the built-in bank (the README's first command)."""

from __future__ import annotations

import click

from cir import defaults
from cir.cli.output import db_option, echo_json, json_option, json_stdout


@click.command()
@click.option("--seed", type=int, help="Pick the loop's presets with this seed (default: clock).")
@click.option("--k", type=click.IntRange(1, defaults.MATCH_MAX_K),
              default=defaults.MATCH_DEFAULT_K, show_default=True, help="Suggestions per family.")
@db_option("Catalogue to use and extend (default: the user's catalogue).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Where to write the loop (default: the user data dir's demo/).")
@click.option("--distractors", type=click.IntRange(0), default=defaults.DEMO_DISTRACTORS,
              show_default=True, help="Extra valid-split presets in the catalogue.")
@click.option("--test-limit", type=click.IntRange(3), hidden=True)
@click.option("--no-build", is_flag=True, help="Use the catalogue as it is.")
@json_option("Print the result as one JSON object.")
def demo(seed, k, db, out_dir, distractors, test_limit, no_build, as_json):
    """Render a loop from three random bank presets and ask the daemon which they are.

    Builds the default catalogue from the built-in bank when it is missing (a few minutes
    the first time), starts a private daemon, sends the loop through the bridge client,
    prints the suggestions per family with the true presets marked, stops the daemon.

    \b
    Example:
        cir demo
        cir demo --seed 7 --k 10
    """
    from cir.app.demo import run_demo
    from cir.cli.match import print_results

    say = (lambda line: click.echo(line, err=True)) if as_json else click.echo
    with json_stdout(as_json):
        result = run_demo(
            seed, db, k, out_dir, not no_build, distractors or None, test_limit,
            progress=not as_json, say=say,
        )
    if as_json:
        echo_json({
            "seed": result.seed, "loop": str(result.loop_path), "truth": result.truth,
            "ranks": result.ranks, "families": result.reply["results"],
            "timing_ms": result.reply.get("timing_ms", {}),
        })
        return
    truth_ids = {t["preset_id"] for t in result.truth.values()}
    print_results(result.reply["results"], "suggestions (✔ = the loop's true preset):",
                  truth=truth_ids,
                  warnings=result.reply.get("warnings", ()))
    for family, info in result.truth.items():
        rank = result.ranks[family]
        where = f"rank {rank}" if rank else f"not in the top {result.k}"
        click.echo(f"true {family:<10} {info['name']:<28} ({info['key']}): {where}")
    total = result.reply["timing_ms"]["total"]
    click.echo(f"daemon time: {total:.1f} ms; loop: {result.loop_path}")
