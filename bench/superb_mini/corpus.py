"""``generate_corpus``: build (or resume, or reuse) the whole superb-mini corpus.

Order of work per dataset: plan -> render audio (pool, journal) -> write label files -> done
marker. MANIFEST.json is written last, then the state folder is removed. A finished corpus with
the same generator version, seed and size is reused as is; a different corpus in the way is an
error rather than something to overwrite silently.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import ModuleType

from . import fleurs, fluent_commands, iemocap, librimix, librispeech, quesst14, snips, speech_commands, voxceleb1
from .atomic import remove_stale_temps, write_text
from .errors import MiniCorpusError
from .manifest import MANIFEST_NAME, STATE_DIR, build_manifest, dumps, files_present, manifest_matches, read_manifest
from .plan import BuildContext
from .runner import make_pool, run_jobs
from .sizes import get_size
from .synth import espeak_version

GENERATOR_VERSION = "1.1.0"

# Libri2Mix after LibriSpeech only for readability; no dataset reads another's files.
DATASETS: tuple[ModuleType, ...] = (
    librispeech,
    speech_commands,
    quesst14,
    voxceleb1,
    librimix,
    iemocap,
    fluent_commands,
    snips,
    fleurs,
)
TOP_FOLDERS: tuple[str, ...] = tuple(root for module in DATASETS for root in module.ROOTS)


def generate_corpus(
    out_dir: Path, seed: int = 0, size: str = "small", progress: bool = True, *, workers: int = 2, force: bool = False
) -> Path:
    """Generate superb-mini under ``out_dir`` and return ``out_dir``.

    Same ``seed`` and ``size`` give byte-identical files (on the same toolchain, recorded in the
    manifest). A killed run resumes where it stopped. A superb-mini corpus of the same seed and size
    from an older generator version is rebuilt; ``force`` replaces one of another seed or size in
    ``out_dir``. It never deletes folders superb-mini did not create.
    """
    out_dir = Path(out_dir)
    spec = get_size(size)
    if not isinstance(seed, int) or seed < 0:
        raise MiniCorpusError(f"seed must be a non-negative integer, got {seed!r}")
    if shutil.which("espeak-ng") is None:
        raise MiniCorpusError("espeak-ng is not installed; run: apt-get install -y espeak-ng sox")
    out_dir.mkdir(parents=True, exist_ok=True)
    state = out_dir / STATE_DIR
    params = {"generator_version": GENERATOR_VERSION, "seed": seed, "size": size}

    manifest = read_manifest(out_dir)
    if manifest_matches(manifest, **params) and files_present(out_dir, manifest):
        shutil.rmtree(state, ignore_errors=True)
        return out_dir
    _claim(out_dir, state, manifest, params, force)

    ctx = BuildContext(seed=seed, size=spec)
    summaries: dict[str, dict] = {}
    pool = None
    try:
        for module in DATASETS:
            done_marker = state / f"{module.NAME}.done"
            if done_marker.exists():
                summaries[module.NAME] = json.loads(done_marker.read_text(encoding="utf-8"))
                continue
            for root in module.ROOTS:
                remove_stale_temps(out_dir / root)
            dataset_plan = module.plan(ctx)
            if pool is None and workers > 1:
                pool = make_pool(workers)
            results = run_jobs(
                dataset_plan.jobs,
                out_dir,
                state / f"{module.NAME}.jsonl",
                pool,
                progress,
                desc=f"superb-mini {module.NAME}",
            )
            labels = dataset_plan.write_labels(results)
            for rel, text in sorted(labels.files.items()):
                write_text(out_dir / rel, text)
            summary = {
                "roots": list(module.ROOTS),
                "audio_files": len(dataset_plan.jobs),
                "audio_seconds": round(sum(r.duration for r in results.values()), 2),
                "counts": labels.counts,
                **({"notes": dataset_plan.notes} if dataset_plan.notes else {}),
            }
            write_text(done_marker, json.dumps(summary, sort_keys=True), durable=True)
            summaries[module.NAME] = summary
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)

    manifest = build_manifest(
        out_dir,
        generator_version=GENERATOR_VERSION,
        seed=seed,
        size=size,
        espeak_version=espeak_version(),
        datasets=summaries,
        top_folders=TOP_FOLDERS,
    )
    write_text(out_dir / MANIFEST_NAME, dumps(manifest), durable=True)
    shutil.rmtree(state, ignore_errors=True)
    return out_dir


def _claim(out_dir: Path, state: Path, manifest: dict | None, params: dict, force: bool) -> None:
    """Make sure ``out_dir`` is ours to write for ``params``; wipe a stale corpus only if forced."""
    params_file = state / "params.json"
    ours_before = manifest is not None or params_file.exists()
    previous = (
        manifest
        if manifest is not None
        else (json.loads(params_file.read_text(encoding="utf-8")) if params_file.exists() else None)
    )
    if previous is not None and manifest_matches(previous, **params):
        if manifest is not None:  # complete but damaged: regenerate the missing pieces
            (out_dir / MANIFEST_NAME).unlink()
        if not params_file.exists():
            write_text(params_file, json.dumps(params, sort_keys=True), durable=True)
        return
    # the same seed and size from an older generator (a corpus from before FLEURS was added) is ours, and what the
    # caller asks for is its current version: rebuilt without force
    upgrade = previous is not None and all(previous.get(key) == params[key] for key in ("seed", "size"))
    if ours_before:
        if not force and not upgrade:
            found = {k: previous.get(k) for k in params} if previous else {}
            raise MiniCorpusError(
                f"{out_dir} holds a superb-mini corpus {found}, not {params}; pick another directory "
                "or pass force=True to replace it"
            )
        for folder in TOP_FOLDERS:
            shutil.rmtree(out_dir / folder, ignore_errors=True)
        (out_dir / MANIFEST_NAME).unlink(missing_ok=True)
        shutil.rmtree(state, ignore_errors=True)
    else:
        foreign = [folder for folder in TOP_FOLDERS if (out_dir / folder).exists()]
        if foreign:
            raise MiniCorpusError(
                f"{out_dir} already contains {', '.join(foreign)} not made by superb-mini (no {MANIFEST_NAME}); "
                "refusing to write a synthetic corpus over it"
            )
    write_text(params_file, json.dumps(params, sort_keys=True), durable=True)
