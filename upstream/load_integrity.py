"""Load integrity for transformers encoders: nothing left on ``meta``, nothing silently random.

transformers 5 builds a model on the ``meta`` device and then restores what the checkpoint holds. Whatever the
checkpoint does not hold comes out wrong, silently:

* a **plain tensor attribute** built in ``__init__`` (MERaLiON-SpeechEncoder-2's relative-position table, kept as
  ``self.pe``) stays on ``meta``: the first forward that reads it fails to copy out of it;
* a **buffer** missing from the checkpoint, or a non-persistent buffer that the model's ``_init_weights`` does not
  rebuild, is filled by ``torch.empty_like`` (any values, NaN included) and reported as "newly initialized";
* a **learned parameter** missing from the checkpoint is randomly initialised: a benchmark of those weights is
  worthless.

:func:`repair_loaded_model` compares the loaded model with one constructed directly on the CPU from the same
config (the way ``__init__`` builds it, which is what the model's authors ran), copies back every non-learned
tensor that differs, and refuses what cannot be repaired: missing learned parameters the forward uses (checked by
the caller with a real forward, see :func:`parameters_the_forward_reads`), missing normalisation statistics,
missing buffers that construction draws at random, and anything still on ``meta``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from benchcore.errors import BenchError

#: How many names an error or warning line lists before "and N more".
NAMES_SHOWN = 5

# BatchNorm/InstanceNorm running statistics are buffers, but learned from data: a missing one cannot be rebuilt.
_NORM_STATISTICS = ("running_mean", "running_var", "num_batches_tracked")


@dataclass(frozen=True)
class LoadReport:
    """What loading an encoder's checkpoint found; it goes into `bench upstreams --probe` and every result record.

    ``rebuilt``: non-learned tensors (buffers, plain tensor attributes) that loading left on ``meta`` or filled with
    values other than those a fresh construction computes, and that were recomputed. ``missing_unused``: learned
    parameters absent from the checkpoint that the eval forward never reads (e.g. wav2vec 2.0's
    ``masked_spec_embed``, used only for training-time masking). ``unexpected``: checkpoint tensors the model has no
    place for (typically pre-training heads). Missing learned tensors that the forward reads never reach a report:
    the load is refused.
    """

    rebuilt: tuple[str, ...] = ()
    missing_unused: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()
    #: set for a `random_init=true` upstream: no checkpoint was read, the weights are the model's own initialisation
    #: drawn with this seed
    random_init_seed: int | None = None

    def as_dict(self) -> dict:
        content = {key: list(value) for key, value in asdict(self).items() if key != "random_init_seed"}
        if self.random_init_seed is not None:
            content["random_init_seed"] = self.random_init_seed
        return content


def shown(names: Sequence[str]) -> str:
    """``a, b, c`` or ``a, b, c, d, e and 7 more``: names for a one-line message."""
    names = sorted(names)
    head = ", ".join(names[:NAMES_SHOWN])
    return head if len(names) <= NAMES_SHOWN else f"{head} and {len(names) - NAMES_SHOWN} more"


def plain_tensor_attributes(module: nn.Module) -> Iterator[tuple[str, Tensor]]:
    """Tensors a module keeps as ordinary attributes (neither parameters nor buffers): ``state_dict`` misses them."""
    for name, value in vars(module).items():
        if isinstance(value, Tensor) and not isinstance(value, nn.Parameter):
            yield name, value


def tensors_on_meta(model: nn.Module) -> list[str]:
    """Every parameter, buffer, plain tensor attribute, or tensor in a list/tuple/dict attribute left on ``meta``."""
    found = []
    for module_name, module in model.named_modules():
        prefix = f"{module_name}." if module_name else ""
        for name, tensor in [
            *module.named_parameters(recurse=False),
            *module.named_buffers(recurse=False),
            *plain_tensor_attributes(module),
        ]:
            if tensor.is_meta:
                found.append(prefix + name)
        for name, value in vars(module).items():
            if isinstance(value, dict) and not name.startswith("_"):  # _parameters, _buffers, _modules: done above
                items = list(value.values())
            elif isinstance(value, (list, tuple)):
                items = list(value)
            else:
                continue
            if any(isinstance(item, Tensor) and item.is_meta for item in items):
                found.append(prefix + name)
    return found


def _is_norm_statistic(model: nn.Module, key: str) -> bool:
    owner_name, _, leaf = key.rpartition(".")
    owner = model.get_submodule(owner_name) if owner_name else model
    return leaf in _NORM_STATISTICS and isinstance(owner, nn.modules.batchnorm._NormBase)


def _non_learned_tensors(model: nn.Module) -> dict[str, tuple[nn.Module, str, str]]:
    """name -> (owning module, attribute, kind) for non-persistent buffers and plain tensor attributes."""
    found = {}
    for module_name, module in model.named_modules():
        prefix = f"{module_name}." if module_name else ""
        for name in module._non_persistent_buffers_set:
            if module._buffers.get(name) is not None:
                found[prefix + name] = (module, name, "buffer")
        for name, _ in plain_tensor_attributes(module):
            found[prefix + name] = (module, name, "attribute")
    return found


def construct_directly(model: nn.Module, seed: int) -> nn.Module:
    """The model's class built from its config on the CPU, as its ``__init__`` (and ``post_init``) builds it."""
    with torch.random.fork_rng(devices=[]), torch.device("cpu"):
        torch.manual_seed(seed)
        return type(model)(copy.deepcopy(model.config))


def construct_without_weight_init(model: nn.Module, seed: int, owners: Sequence[str]) -> nn.Module:
    """Like :func:`construct_directly`, but the parameters are left uninitialised (40x faster on a 600M model) and
    the model's ``_init_weights`` runs only on ``owners``, the modules whose buffers are being checked.

    Used as the second construction that tells a deterministic buffer from one drawn at random: a buffer computed in
    ``__init__`` or in ``_init_weights`` comes out the same as in the full construction; one drawn by a
    ``torch.nn.init`` function in ``__init__`` comes out uninitialised here, one drawn in ``_init_weights`` comes out
    with another seed's values, and either way it differs.
    """
    from transformers.initialization import no_init_weights

    with torch.random.fork_rng(devices=[]), torch.device("cpu"):
        torch.manual_seed(seed)
        with no_init_weights():
            fresh = type(model)(copy.deepcopy(model.config))
        init_weights = getattr(fresh, "_init_weights", None)
        if init_weights is not None:
            with torch.no_grad():
                for owner in sorted(set(owners)):
                    init_weights(fresh.get_submodule(owner))
    return fresh


def _same(a: Tensor | None, b: Tensor | None) -> bool:
    if a is None or b is None or a.is_meta or b.is_meta or a.shape != b.shape or a.dtype != b.dtype:
        return False
    return torch.equal(a.detach().cpu(), b.detach().cpu())


def _assign(module: nn.Module, name: str, kind: str, value: Tensor) -> None:
    if kind == "buffer":
        module._buffers[name] = value
    else:
        module.__dict__[name] = value


def repair_loaded_model(model: nn.Module, loading_info: dict, source: str) -> tuple[LoadReport, list[str]]:
    """Rebuild what transformers could not restore; refuse what cannot be rebuilt.

    Returns the report and the missing learned parameters, which the caller must prove unused with a real forward
    (:func:`parameters_the_forward_reads`) before trusting the model. Raises :class:`BenchError` with one line for
    shape mismatches, missing normalisation statistics, missing buffers that construction draws at random, and
    anything left on ``meta``.
    """
    missing = set(loading_info.get("missing_keys", ()))
    unexpected = tuple(sorted(loading_info.get("unexpected_keys", ())))
    mismatched = [
        entry[0] if isinstance(entry, (list, tuple)) else str(entry)
        for entry in loading_info.get("mismatched_keys", ())
    ]
    if mismatched:
        raise BenchError(
            f"upstream {source}: {len(mismatched)} checkpoint tensor(s) have the wrong shape for this "
            f"model: {shown(mismatched)}; the config and the weights do not belong together"
        )
    parameter_names = {name for name, _ in model.named_parameters()}
    missing_parameters = sorted(key for key in missing if key in parameter_names)
    missing_buffers = sorted(key for key in missing if key not in parameter_names)
    statistics = [key for key in missing_buffers if _is_norm_statistic(model, key)]
    if statistics:
        raise BenchError(
            f"upstream {source}: the checkpoint lacks {len(statistics)} normalisation statistic(s) learned "
            f"in training: {shown(statistics)}; fresh ones would change every hidden state; use the "
            "complete checkpoint"
        )

    candidates = _non_learned_tensors(model)
    for key in missing_buffers:
        owner_name, _, leaf = key.rpartition(".")
        candidates[key] = (model.get_submodule(owner_name) if owner_name else model, leaf, "buffer")
    rebuilt: list[str] = []
    if candidates:
        fresh = construct_directly(model, 0)
        fresh_tensors = dict(fresh.named_buffers())
        fresh_tensors.update(
            {name: getattr(owner, attr) for name, (owner, attr, _) in _non_learned_tensors(fresh).items()}
        )
        second = (
            construct_without_weight_init(model, 1, [key.rpartition(".")[0] for key in missing_buffers])
            if missing_buffers
            else None
        )
        for key, (owner, attr, kind) in sorted(candidates.items()):
            value = fresh_tensors.get(key)
            if value is None:
                continue  # not built by __init__ (made lazily in forward): left as is; the meta check below decides
            if second is not None and key in missing_buffers and not _same(value, second.get_buffer(key)):
                raise BenchError(
                    f"upstream {source}: buffer {key} is missing from the checkpoint and is drawn at "
                    "random when the model is built, so it cannot be rebuilt; use the complete checkpoint"
                )
            current = getattr(owner, attr)
            if key not in missing_buffers and current is not None and _same(current, value):
                continue  # a missing buffer holds whatever loading put there: always replaced, always reported
            device = torch.device("cpu") if current is None or current.is_meta else current.device
            _assign(owner, attr, kind, value.to(device))
            rebuilt.append(key)
        del fresh, second
    left = tensors_on_meta(model)
    if left:
        raise BenchError(
            f"upstream {source}: {len(left)} tensor(s) are still on the meta device after loading and "
            f"could not be rebuilt from a fresh construction: {shown(left)}"
        )
    return LoadReport(rebuilt=tuple(rebuilt), unexpected=unexpected), missing_parameters


def parameters_the_forward_reads(
    model: nn.Module, names: Sequence[str], run_forward: Callable[[], Sequence[Tensor]]
) -> list[str]:
    """Which of ``names`` (parameters of ``model``) the eval forward reads: those with a gradient from the outputs."""
    if not names:
        return []
    parameters = dict(model.named_parameters())
    chosen = [parameters[name] for name in names]
    flags = [parameter.requires_grad for parameter in chosen]
    try:
        for parameter in chosen:
            parameter.requires_grad_(True)
        with torch.enable_grad():
            outputs = run_forward()
            total = sum(output.float().sum() for output in outputs if output.requires_grad)
            if not isinstance(total, Tensor):
                return []
            gradients = torch.autograd.grad(total, chosen, allow_unused=True)
    finally:
        for parameter, flag in zip(chosen, flags):
            parameter.requires_grad_(flag)
    return [name for name, gradient in zip(names, gradients) if gradient is not None]
