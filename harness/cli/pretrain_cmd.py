"""``qabench pretrain``: pretrain a backbone with its own objective, for ``model.pretrained: DIR`` in a run config.

    qabench pretrain --model bert --preset small --tasks sst2 rte conll2003 --steps 2000 --out pt/bert-small
    qabench pretrain --model word2vec --objective cbow --corpus wiki.txt --steps 5 --out pt/w2v
    qabench pretrain --model ulmfit --init pt/ulmfit --tasks sst2 --steps 300 --out pt/ulmfit-sst2   # ULMFiT stage 2
    qabench pretrain --model bert --tasks sst2 --steps 1000 --checkpoint-every 100 --out pt/b --resume
"""

from __future__ import annotations

import click


def _split_names(values: tuple[str, ...]) -> tuple[str, ...]:
    """``--tasks a b`` style values also accept commas: ``--tasks a,b``."""
    return tuple(name for value in values for name in value.split(",") if name)


def _options(values: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    pairs = []
    for value in values:
        key, sep, raw = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r} is not KEY=VALUE (e.g. mask_probability=0.2)", param_hint="--option")
        pairs.append((key.strip(), raw.strip()))
    return tuple(pairs)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--model", "model", required=True, help="Backbone: word2vec, elmo, ulmfit, transformer, gpt, bert, ernie or xlnet.")
@click.option("--preset", default="tiny", show_default=True, help="Size preset of the backbone (tiny, small, base).")
@click.option("--objective", default=None, help="Pretraining objective (default: the backbone's own; listed above).")
@click.option("--option", "-O", "options", multiple=True, metavar="KEY=VALUE", help="An objective option, e.g. -O mask_probability=0.2 (repeatable).")
@click.option("--corpus", "corpus", multiple=True, type=click.Path(), help="A corpus file: plain text (one document a line) or JSONL (repeatable).")
@click.option("--text-field", default="text", show_default=True, help="The text field of JSONL corpus lines.")
@click.option("--tasks", "tasks", multiple=True, help="Tasks whose training contexts and questions are the corpus (repeatable or comma-separated); "
              "NAME:SPLIT names another split, e.g. squad:validation_a.")
@click.option("--per-source", "--limit", "per_source", type=int, default=None, help="At most N lines of each corpus file / examples of each task (--limit: the old name).")
@click.option("--init", type=click.Path(), default=None, help="Continue from a pretrained directory, keeping its vocabulary (ULMFiT stage 2).")
@click.option("--steps", type=int, default=1000, show_default=True, help="Optimizer steps (word2vec: epochs).")
@click.option("--batch-size", type=int, default=32, show_default=True)
@click.option("--seq-len", type=int, default=128, show_default=True, help="Tokens per row, special tokens included.")
@click.option("--lr", type=float, default=None, help="Peak learning rate (default: 5e-4 transformers, 2e-3 LSTMs, 0.025 word2vec).")
@click.option("--warmup", type=float, default=0.06, show_default=True, help="Fraction of the steps spent warming up.")
@click.option("--weight-decay", type=float, default=0.01, show_default=True)
@click.option("--schedule", type=click.Choice(["auto", "linear", "stlr"]), default="auto", show_default=True, help="auto: ULMFiT's slanted triangular for ulmfit, else linear.")
@click.option("--vocab-size", type=int, default=8000, show_default=True, help="Size of the WordPiece vocabulary trained on the corpus.")
@click.option("--pack/--no-pack", default=True, show_default=True, help="Pack short documents into rows of up to --seq-len tokens.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--checkpoint-every", type=int, default=500, show_default=True, help="Write a resumable checkpoint every N steps (0: never).")
@click.option("--resume", is_flag=True, help="Continue the interrupted pretraining in --out from its last checkpoint.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--out", required=True, type=click.Path(), help="Output directory: the pretrained backbone, its objective head, pretrain_record.json.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.pass_context
def pretrain(ctx: click.Context, model: str, preset: str, objective: str | None, options: tuple[str, ...], corpus: tuple[str, ...],
             text_field: str, tasks: tuple[str, ...], per_source: int | None, init: str | None, steps: int, batch_size: int, seq_len: int,
             lr: float | None, warmup: float, weight_decay: float, schedule: str, vocab_size: int, pack: bool, seed: int,
             checkpoint_every: int, resume: bool, device: str, out: str, quiet: bool) -> None:
    """Pretrain a backbone with its own objective on a corpus; the output directory loads as `model.pretrained`.

    Objectives per backbone (the first is the default): word2vec: skipgram,
    cbow; elmo: bilm; ulmfit: awd-lm; transformer: span-denoise,
    shuffle-denoise; gpt: causal-lm; bert: mlm-nsp, mlm, knowledge-mask;
    ernie: knowledge-mask, ernie2-multitask, mlm, mlm-nsp; xlnet: plm.
    """
    from harness.cli import data_dir_option
    from harness.pretrain import PretrainConfig
    from harness.pretrain import pretrain as run_pretrain

    root = ctx.find_root().obj or {}
    if root.get("task_dirs") or root.get("includes"):
        from tasks.registry import load_plugins

        load_plugins(root.get("task_dirs", ()), root.get("includes", ()))
    config = PretrainConfig(
        model=model, out=out, preset=preset, objective=objective, options=_options(options), corpus=tuple(corpus),
        text_field=text_field, tasks=_split_names(tasks), per_source=per_source, data_dir=data_dir_option(ctx), init=init, steps=steps,
        batch_size=batch_size, seq_len=seq_len, lr=lr, warmup=warmup, weight_decay=weight_decay, schedule=schedule,
        vocab_size=vocab_size, pack=pack, seed=seed, checkpoint_every=checkpoint_every, device=device, progress=not quiet,
    )
    run_pretrain(config, resume=resume, echo=click.echo)
