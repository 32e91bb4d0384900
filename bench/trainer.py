"""Training a SUPERB head on a frozen encoder: s3prl's runner loop, on the features a source gives (bench.sources).

The loop follows `s3prl/downstream/runner.py`: `total_steps` counts optimizer updates, the loss is divided by
`gradient_accumulate_steps`, gradients are clipped to `gradient_clipping` and a NaN norm skips the update, there is
no LR schedule. The task's checkpoint rules say which split is scored when and which checkpoints are kept (by default
dev every `eval_step` updates and the best dev checkpoint; :mod:`bench.checkpoints`).
Everything random (head init, sampling order, crops, SpecAugment, dropout) draws from generators whose state is
checkpointed every `save_step` updates, so a killed run resumes to the same result as an uninterrupted one.

:func:`train_sweep` trains the heads of a learning-rate sweep side by side: one batch read per step (one encoder forward
when the encoder runs in the loop) feeds every head, and each draws from its own generators, so each trains exactly as
:func:`train` would train it alone.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Iterator, Sequence
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

    @classmethod
    def for_task(cls, task: TrainedTask, data: TaskData, config: Any, generator: torch.Generator) -> SampleOrder:
        """The task's training sampler over ``data``'s train split (its weights or length buckets)."""
        utterances = data.splits["train"]
        return cls(
            len(utterances),
            int(config.batch_size),
            task.train_sample_weights(utterances),
            generator,
            task.train_batches(utterances, config),
        )

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
    checkpoint (`best.pt` for the recipe's, see :mod:`bench.checkpoints`). A sweep of one head (:func:`train_sweep`)."""
    (outcome,) = train_sweep(task, data, source, [SweepHead(model, lr, seed, run_dir, log)], config, progress)
    if isinstance(outcome, BenchError):
        raise outcome
    return outcome


class GlobalRandomState:
    """A head's own stream of torch's global generators (CPU, and CUDA once initialised): what dropout draws from.

    Each head's work runs inside :meth:`active`, so heads trained side by side draw exactly what each would draw alone;
    the state is part of the resume checkpoint, so a resumed head draws what an uninterrupted one does."""

    def __init__(self) -> None:
        self.cpu = torch.get_rng_state()
        self.cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        outside = GlobalRandomState()
        self._install()
        try:
            yield
        finally:
            self.cpu = torch.get_rng_state()
            self.cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
            outside._install()

    def _install(self) -> None:
        torch.set_rng_state(self.cpu)
        if self.cuda is not None and torch.cuda.is_initialized():
            torch.cuda.set_rng_state_all(self.cuda)

    def state(self) -> dict[str, Any]:
        return {"cpu": self.cpu, "cuda": self.cuda}

    def load_state(self, state: dict[str, Any]) -> None:
        self.cpu = state["cpu"]
        if state.get("cuda") is not None and torch.cuda.is_initialized():
            self.cuda = state["cuda"]


@dataclass
class SweepHead:
    """One head of a (shared-forward) sweep: its model, built under ``torch.manual_seed(seed)``, its learning rate and
    seed, and the unit directory its checkpoints go to. Create it right after building the model: ``random`` is then
    the global generators' state that head's dropout would draw from alone."""

    model: nn.Module
    lr: float
    seed: int
    run_dir: Path
    log: logging.Logger | None = None
    random: GlobalRandomState = field(default_factory=lambda: GlobalRandomState())


class _HeadTraining:
    """Everything one head's training changes: optimiser, sampler and its generator, kept checkpoints, history."""

    def __init__(self, head: SweepHead, task: TrainedTask, data: TaskData, config: Any) -> None:
        self.head, self.model = head, head.model
        self.log = head.log or logging.getLogger("bench.trainer")
        self.random = head.random
        # keys beside name and lr (ML-SUPERB's weight_decay) go to the optimizer as they are
        options = {str(key): value for key, value in config.optimizer.items() if key not in ("name", "lr")}
        optimizer_class = getattr(torch.optim, str(config.optimizer.name))
        self.optimizer = optimizer_class(head.model.parameters(), lr=head.lr, **options)
        self.generator = torch.Generator().manual_seed(head.seed)
        self.sampler = SampleOrder.for_task(task, data, config, self.generator)
        self.keeper = CheckpointKeeper(
            task.checkpoint_rules(config), head.run_dir, int(config.eval_step), int(config.total_steps)
        )
        self.nonfinite = NonFiniteGuard(int(config.get("max_nonfinite_updates", 100)), task.name, head.lr)
        self.step, self.history = 0, []
        self.checkpoint_path = head.run_dir / "checkpoint.pt"
        self.error: BenchError | None = None
        self.seconds = 0.0
        state = None
        if self.checkpoint_path.exists():
            state = read_checkpoint(self.checkpoint_path, "the resume checkpoint")
        if state is not None:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.sampler.load_state(state["sampler"])
            self.keeper.load_state(state["kept"])
            if "global_random" in state:  # checkpoints written before it existed resume with the state after building
                self.random.load_state(state["global_random"])
            self.step, self.history = state["step"], state["history"]
            self.log.info("resumed from step %d", self.step)
        self.resumed_from = self.step

    def save(self) -> None:
        save_checkpoint(
            self.checkpoint_path,
            {
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "sampler": self.sampler.state(),
                "global_random": self.random.state(),
                "step": self.step,
                "kept": plain(self.keeper.state()),
                "history": plain(self.history),
            },
        )

    def outcome(self) -> TrainOutcome:
        selected = self.keeper.finish()
        dev_rule = self.keeper.first_dev_rule()
        best_step, best_dev = 0, {}
        if dev_rule is not None and selected[dev_rule.name]["steps"]:
            best_step = selected[dev_rule.name]["steps"][0]
            best_dev = next(
                {key: value for key, value in entry.items() if key not in ("step", "test")}
                for entry in self.history
                if entry["step"] == best_step
            )
        return TrainOutcome(best_step, best_dev, self.history, self.seconds, self.resumed_from, selected)


def train_sweep(
    task: TrainedTask,
    data: TaskData,
    source: FeatureSource,
    heads: Sequence[SweepHead],
    config: Any,
    progress: bool = True,
) -> list[TrainOutcome | BenchError]:
    """Train heads that differ only in learning rate side by side: each step reads one batch from ``source`` (one
    encoder forward when the encoder runs in the loop) and updates every head from it.

    Heads seeded alike draw the same batches and crops: the batch is drawn with the first head's generator, whose state
    the others take (they would have drawn the same values), and each head's SpecAugment, frame crops and dropout then
    draw from its own generators (:class:`GlobalRandomState`), so every head trains exactly as it would alone. Heads
    resumed from different steps advance separately until they meet. A head whose loss stays NaN stops with its
    :class:`BenchError` in its place of the result; the others go on."""
    torch.set_flush_denormal(True)  # denormals from saturated LSTM gates made CPU steps ~3x slower (measured)
    states = [_HeadTraining(head, task, data, config) for head in heads]
    total_steps = int(config.total_steps)
    rates = ",".join(f"{head.lr:g}" for head in heads)
    bar = tqdm(
        total=total_steps * len(states),
        initial=sum(state.step for state in states),
        desc=f"train {task.name} lr={rates} seed={heads[0].seed}" + (" (shared forward)" if len(heads) > 1 else ""),
        unit="step",
        disable=not progress,
    )
    for state in states:
        state.model.train()
    while True:
        active = [state for state in states if state.error is None and state.step < total_steps]
        if not active:
            break
        step = min(state.step for state in active)
        _update(task, data, source, [state for state in active if state.step == step], config, bar)
    bar.close()
    return [state.error if state.error is not None else state.outcome() for state in states]


def _update(
    task: TrainedTask,
    data: TaskData,
    source: FeatureSource,
    group: list[_HeadTraining],
    config: Any,
    bar: tqdm,
) -> None:
    """One optimiser update of every head in ``group`` (all at the same step), from one batch read per micro-batch."""
    accumulate, total_steps = int(config.gradient_accumulate_steps), int(config.total_steps)
    leader, train_utterances = group[0], data.splits["train"]
    started = time.perf_counter()
    for _ in range(accumulate):
        indices = leader.sampler.next_batch()
        for other in group[1:]:
            if other.sampler.next_batch() != indices or not torch.equal(
                other.generator.get_state(), leader.generator.get_state()
            ):
                raise BenchError(
                    f"{task.name}: the heads of a learning-rate sweep drew different batches at step "
                    f"{leader.step + 1}, so they cannot share the encoder's forward; run the sweep one rate at a "
                    "time with sweep.shared=false"
                )
        features = source.batch("train", indices, leader.generator)
        drawn = leader.generator.get_state()
        labels = task.collate_labels([train_utterances[i] for i in indices])
        for state in group:
            state.generator.set_state(drawn)  # what its own draws of this batch's crops would have left
            with state.random.active():
                outputs = state.model(features, state.generator)
                loss = task.loss(outputs, labels, data) / accumulate
                loss.backward()
    shared_seconds = (time.perf_counter() - started) / len(group)
    for state in group:
        head_started = time.perf_counter()
        with state.random.active():
            _finish_update(task, data, source, state, config, total_steps)
        state.seconds += shared_seconds + time.perf_counter() - head_started
        bar.update(1)


def _finish_update(
    task: TrainedTask, data: TaskData, source: FeatureSource, state: _HeadTraining, config: Any, total_steps: int
) -> None:
    """Clip, step (or skip a NaN update), evaluate when due, and save the resume checkpoint when due."""
    model = state.model
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), float(config.gradient_clipping))
    if math.isnan(float(grad_norm)):  # s3prl skips the update; a NaN that persists stops the unit (NonFiniteGuard)
        state.log.warning("grad norm is NaN at step %d; update skipped", state.step + 1)
        try:
            state.nonfinite.skipped(state.step + 1)
        except BenchError as error:
            state.error = error
            return
    else:
        state.nonfinite.reset()
        state.optimizer.step()
    state.optimizer.zero_grad()
    state.step += 1
    step = state.step
    due = state.keeper.splits_due(step)
    if due:
        entry: dict[str, Any] = {"step": step}
        for split in due:
            metrics = evaluate(model, task, data, source, split, int(config.batch_size)).metrics
            if split == "dev":  # dev metrics sit at the top of a history entry, test's under "test"
                entry.update(metrics)
            else:
                entry[split] = metrics
            state.keeper.offer(split, metrics, step, model)
        state.history.append(entry)
        state.log.info("step %d %s", step, entry)
    if step % int(config.save_step) == 0 or step == total_steps:
        state.save()
