"""The checkpoints a training unit keeps, one per :class:`~downstream_tasks.base.CheckpointRule` of its task.

Each rule watches one split's metric at its own evaluation interval and keeps the best evaluation (s3prl's
`best-states-dev.ckpt`: strictly better only, so the earliest wins ties) or the N best, whose parameters are averaged
when training ends (ESPnet's `keep_nbest_models` and `valid.<metric>.ave_<N>best.pth`). Files are written atomically;
what a rule has kept is part of the resume state, so a killed unit resumes to the same selection.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from benchcore.atomic import write_bytes_atomic
from benchcore.errors import BenchError
from benchcore.integrity import set_aside, warn
from downstream_tasks.base import CheckpointRule, checkpoint_file


def plain(content: Any) -> Any:
    """``content`` with numpy scalars turned into Python numbers and tuples into lists: what ``weights_only`` loading
    accepts beside tensors (metric values may be numpy floats)."""
    return json.loads(json.dumps(content, default=lambda value: value.item() if hasattr(value, "item") else str(value)))


def save_checkpoint(path: Path, content: dict[str, Any]) -> None:
    """``torch.save`` through a temporary file, renamed over ``path`` once complete (serialised first, so a failed write
    names its size)."""
    buffer = io.BytesIO()
    torch.save(content, buffer)
    write_bytes_atomic(path, buffer.getvalue())


def read_checkpoint(path: Path, what: str = "checkpoint") -> dict[str, Any] | None:
    """A checkpoint loaded with ``weights_only=True`` (tensors and plain Python values only: a file placed on a shared
    filesystem cannot run code). One that cannot be read is moved aside to ``<name>.damaged`` with one warning line and
    None is returned: the caller starts again from its last good state."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        return None
    except Exception as error:  # noqa: BLE001 - any unreadable file (unpickling, zip, EOF, weights-only refusal)
        aside = set_aside(path)
        message = str(error).strip()
        reason = (
            "not loadable with weights_only=True"
            if "weights_only" in message
            else (message.splitlines()[0][:100] if message else "no message")
        )
        warn(f"{what} {path} is unreadable ({type(error).__name__}: {reason}); moved aside to {aside.name}")
        return None


def average_state_dicts(states: Sequence[dict[str, Tensor]]) -> dict[str, Tensor]:
    """The element-wise mean of floating-point tensors; integer tensors (BatchNorm's `num_batches_tracked`) are summed,
    not averaged, as ESPnet's `average_nbest_models` does."""
    averaged: dict[str, Tensor] = {}
    for key in states[0]:
        total = sum(state[key] for state in states[1:]) + states[0][key]  # type: ignore[operator]
        averaged[key] = total / len(states) if states[0][key].is_floating_point() else total
    return averaged


class RuleCheckpoints:
    """One rule's kept evaluations, ``(value, step)`` best first, and their files."""

    def __init__(self, rule: CheckpointRule, path: Path) -> None:
        self.rule = rule
        self.path = path  # the rule's checkpoint (for an averaged rule: the average, written by finish())
        self.kept: list[tuple[float, int]] = []

    def _step_path(self, step: int) -> Path:
        return self.path.with_name(f"{self.path.stem}.step{step}.pt")

    def offer(self, metrics: dict[str, float], step: int, model: nn.Module) -> bool:
        """Keep this evaluation if it is among the rule's best so far; return whether it was kept."""
        value = float(metrics[self.rule.metric])
        full = len(self.kept) >= self.rule.average_best
        if full and not self.rule.is_better(value, self.kept[-1][0]):
            return False
        position = len(self.kept)  # after every entry it does not beat: ties keep the earlier evaluation first
        while position > 0 and self.rule.is_better(value, self.kept[position - 1][0]):
            position -= 1
        self.kept.insert(position, (value, step))
        content = {"model": model.state_dict(), "step": step, "metrics": plain(metrics)}
        if self.rule.average_best == 1:
            save_checkpoint(self.path, content)
        else:
            save_checkpoint(self._step_path(step), content)
        for _, dropped in self.kept[self.rule.average_best :]:
            if self.rule.average_best > 1:
                self._step_path(dropped).unlink(missing_ok=True)
        del self.kept[self.rule.average_best :]
        return True

    def finish(self) -> dict[str, Any]:
        """Write the average of the kept checkpoints (averaged rules); return the selection: steps and values."""
        if self.rule.average_best > 1 and self.kept:
            states = []
            for _, step in self.kept:
                state = read_checkpoint(self._step_path(step), f"the {self.rule.name} rule's checkpoint")
                if state is None:
                    raise BenchError(
                        f"the checkpoint of step {step} kept for averaging is unreadable or gone "
                        f"({self._step_path(step)}); rerun with --force to train this unit again"
                    )
                states.append(state["model"])
            save_checkpoint(self.path, {"model": average_state_dicts(states), "steps": [step for _, step in self.kept]})
        return {
            "metric": self.rule.metric,
            "split": self.rule.split,
            "steps": [step for _, step in self.kept],
            "values": [value for value, _ in self.kept],
            "averaged": self.rule.average_best > 1,
        }


class CheckpointKeeper:
    """Every rule of a task: which splits are due at a step, and the checkpoints each rule keeps."""

    def __init__(self, rules: Sequence[CheckpointRule], run_dir: Path, eval_step: int, total_steps: int) -> None:
        if not rules:
            raise ValueError("a trained task needs at least one checkpoint rule")
        self.rules = list(rules)
        self.eval_step, self.total_steps = eval_step, total_steps
        self.kept = {
            rule.name: RuleCheckpoints(rule, run_dir / checkpoint_file(self.rules, rule)) for rule in self.rules
        }

    def splits_due(self, step: int) -> list[str]:
        """The splits some rule scores at ``step``: every ``rule.every`` (default ``eval_step``) updates and at the end.
        Dev first: test scoring can then reuse what dev scoring computed (SD's dev grid)."""
        due = {
            rule.split for rule in self.rules if step % (rule.every or self.eval_step) == 0 or step == self.total_steps
        }
        return [split for split in ("dev", "test") if split in due]

    def offer(self, split: str, metrics: dict[str, float], step: int, model: nn.Module) -> None:
        for rule in self.rules:
            if rule.split == split and (step % (rule.every or self.eval_step) == 0 or step == self.total_steps):
                self.kept[rule.name].offer(metrics, step, model)

    def first_dev_rule(self) -> CheckpointRule | None:
        return next((rule for rule in self.rules if rule.split == "dev"), None)

    def finish(self) -> dict[str, dict[str, Any]]:
        return {name: kept.finish() for name, kept in self.kept.items()}

    def state(self) -> dict[str, list[tuple[float, int]]]:
        return {name: list(kept.kept) for name, kept in self.kept.items()}

    def load_state(self, state: dict[str, list[tuple[float, int]]]) -> None:
        for name, entries in state.items():
            self.kept[name].kept = [(float(value), int(step)) for value, step in entries]
