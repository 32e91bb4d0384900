"""Training a SUPERB head on a frozen encoder: s3prl's runner loop, on the features a source gives (bench.sources).

The loop follows `s3prl/downstream/runner.py`: `total_steps` counts optimizer updates, the loss is divided by
`gradient_accumulate_steps`, gradients are clipped to `gradient_clipping` and a NaN norm skips the update, there is
no LR schedule. The task's checkpoint rules say which split is scored when and which checkpoints are kept (by default
dev every `eval_step` updates and the best dev checkpoint; :mod:`bench.checkpoints`).
Everything random (head init, sampling order, crops) draws from generators whose state is checkpointed every
`save_step` updates, so a killed run resumes to the same result as an uninterrupted one.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from bench.checkpoints import CheckpointKeeper, plain, read_checkpoint, save_checkpoint
from benchcore.errors import BenchError
from downstream_tasks.base import FeatureSource, SplitScore, Task, TaskData, TrainedTask


@dataclass
class TrainOutcome:
    """What training leaves besides its checkpoint files: the step and dev metrics the first dev rule selected (0 and
    empty without one), every evaluation, and each rule's selection (:meth:`CheckpointKeeper.finish`)."""

    best_step: int
    best_dev: dict[str, float]
    dev_history: list[dict[str, Any]] = field(default_factory=list)
    train_seconds: float = 0.0
    resumed_from_step: int = 0
    selected: dict[str, dict[str, Any]] = field(default_factory=dict)


class SampleOrder:
    """The training sampler: class-balanced draws with replacement (KS), fixed length buckets in a fresh order per
    epoch (ASR, PR, SF: s3prl's bucketing, a DataLoader of batch 1 over buckets), or a fresh shuffle per epoch."""

    def __init__(
        self,
        num_items: int,
        batch_size: int,
        weights: list[float] | None,
        generator: torch.Generator,
        buckets: list[list[int]] | None = None,
    ) -> None:
        if weights is not None and buckets is not None:
            raise ValueError("a task gives either sampling weights or length buckets, not both")
        if buckets is not None and not buckets:
            raise ValueError("length bucketing made no batch: the train split needs at least two utterances")
        self.num_items = num_items
        self.batch_size = batch_size
        self.weights = None if weights is None else torch.tensor(weights, dtype=torch.double)
        self.buckets = buckets
        self.generator = generator
        self.order: list[int] = []
        self.position = 0

    def _new_epoch(self) -> None:
        if self.weights is not None:  # WeightedRandomSampler(weights, len), DataLoader(drop_last=True)
            drawn = torch.multinomial(self.weights, self.num_items, replacement=True, generator=self.generator).tolist()
            usable = len(drawn) - len(drawn) % self.batch_size or len(drawn)
            self.order = drawn[:usable]
        elif self.buckets is not None:  # DataLoader(bucket dataset, batch_size=1, shuffle=True): order of buckets
            self.order = torch.randperm(len(self.buckets), generator=self.generator).tolist()
        else:  # DataLoader(shuffle=True)
            self.order = torch.randperm(self.num_items, generator=self.generator).tolist()
        self.position = 0

    def next_batch(self) -> list[int]:
        if self.position >= len(self.order):
            self._new_epoch()
        if self.buckets is not None:
            self.position += 1
            return self.buckets[self.order[self.position - 1]]
        batch = self.order[self.position : self.position + self.batch_size]
        self.position += len(batch)
        return batch

    def state(self) -> dict:
        return {"order": self.order, "position": self.position, "generator": self.generator.get_state()}

    def load_state(self, state: dict) -> None:
        self.order, self.position = list(state["order"]), int(state["position"])
        self.generator.set_state(state["generator"])


class NonFiniteGuard:
    """Counts consecutive skipped updates (a NaN gradient norm: the loss or a gradient was NaN/Inf). s3prl skips such an
    update and goes on; a head that never recovers would otherwise train nothing and still write a record."""

    def __init__(self, limit: int, task_name: str, lr: float) -> None:
        self.limit, self.task_name, self.lr = limit, task_name, lr
        self.count = 0

    def skipped(self, step: int) -> None:
        self.count += 1
        if self.count >= self.limit:
            raise BenchError(
                f"{self.task_name} lr={self.lr:g}: the loss or its gradient was NaN/Inf for {self.count} "
                f"consecutive updates (steps {step - self.count + 1}-{step}); no record is written. Lower the "
                "learning rate, check the features (--dtype fp32), or allow more with "
                f"max_nonfinite_updates={self.limit * 10}"
            )

    def reset(self) -> None:
        self.count = 0


def evaluate(
    model: nn.Module,
    task: Task,
    data: TaskData,
    source: FeatureSource,
    split: str,
    batch_size: int,
    output_dir: Path | None = None,
) -> SplitScore:
    """The task's metrics on a split (whole utterances): :meth:`Task.score_split`."""
    return task.score_split(model, data, source, split, batch_size, output_dir)


def train(
    task: TrainedTask,
    data: TaskData,
    source: FeatureSource,
    model: nn.Module,
    config: Any,
    lr: float,
    seed: int,
    run_dir: Path,
    progress: bool = True,
    log: logging.Logger | None = None,
) -> TrainOutcome:
    """Train until `total_steps` updates, resuming from `run_dir/checkpoint.pt` if present; keep each checkpoint rule's
    checkpoint (`best.pt` for the recipe's, see :mod:`bench.checkpoints`)."""
    log = log or logging.getLogger("bench.trainer")
    # LSTM gates saturated by unnormalised features (fbank_no_cmvn) produce denormal floats, which made CPU steps about
    # 3x slower (measured); flushing them to zero changes nothing a metric can see
    torch.set_flush_denormal(True)
    # keys beside name and lr (ML-SUPERB's weight_decay) go to the optimizer as they are
    options = {str(key): value for key, value in config.optimizer.items() if key not in ("name", "lr")}
    optimizer = getattr(torch.optim, str(config.optimizer.name))(model.parameters(), lr=lr, **options)
    train_utterances = data.splits["train"]
    generator = torch.Generator().manual_seed(seed)
    sampler = SampleOrder(
        len(train_utterances),
        int(config.batch_size),
        task.train_sample_weights(train_utterances),
        generator,
        task.train_batches(train_utterances, config),
    )
    total_steps, accumulate = int(config.total_steps), int(config.gradient_accumulate_steps)
    eval_step, save_step = int(config.eval_step), int(config.save_step)
    keeper = CheckpointKeeper(task.checkpoint_rules(config), run_dir, eval_step, total_steps)
    step, history = 0, []
    checkpoint_path = run_dir / "checkpoint.pt"
    state = read_checkpoint(checkpoint_path, "the resume checkpoint") if checkpoint_path.exists() else None
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        sampler.load_state(state["sampler"])
        keeper.load_state(state["kept"])
        step, history = state["step"], state["history"]
        log.info("resumed from step %d", step)
    resumed_from = step
    nonfinite = NonFiniteGuard(int(config.get("max_nonfinite_updates", 100)), task.name, lr)
    started = time.perf_counter()
    bar = tqdm(
        total=total_steps,
        initial=step,
        desc=f"train {task.name} lr={lr:g} seed={seed}",
        unit="step",
        disable=not progress,
    )
    model.train()
    while step < total_steps:
        for _ in range(accumulate):
            indices = sampler.next_batch()
            outputs = model(source.batch("train", indices, generator), generator)
            loss = task.loss(outputs, task.collate_labels([train_utterances[i] for i in indices]), data) / accumulate
            loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), float(config.gradient_clipping))
        if math.isnan(float(grad_norm)):  # s3prl skips the update; a NaN that persists stops the unit (NonFiniteGuard)
            log.warning("grad norm is NaN at step %d; update skipped", step + 1)
            nonfinite.skipped(step + 1)
        else:
            nonfinite.reset()
            optimizer.step()
        optimizer.zero_grad()
        step += 1
        bar.update(1)
        due = keeper.splits_due(step)
        if due:
            entry: dict[str, Any] = {"step": step}
            for split in due:
                metrics = evaluate(model, task, data, source, split, int(config.batch_size)).metrics
                if split == "dev":  # dev metrics sit at the top of a history entry, test's under "test"
                    entry.update(metrics)
                else:
                    entry[split] = metrics
                keeper.offer(split, metrics, step, model)
            history.append(entry)
            log.info("step %d %s", step, entry)
        if step % save_step == 0 or step == total_steps:
            save_checkpoint(
                checkpoint_path,
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "sampler": sampler.state(),
                    "step": step,
                    "kept": plain(keeper.state()),
                    "history": plain(history),
                },
            )
    bar.close()
    selected = keeper.finish()
    dev_rule = keeper.first_dev_rule()
    best_step, best_dev = 0, {}
    if dev_rule is not None and selected[dev_rule.name]["steps"]:
        best_step = selected[dev_rule.name]["steps"][0]
        best_dev = next(
            {key: value for key, value in entry.items() if key not in ("step", "test")}
            for entry in history
            if entry["step"] == best_step
        )
    return TrainOutcome(best_step, best_dev, history, time.perf_counter() - started, resumed_from, selected)
