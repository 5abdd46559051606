"""Built-in tabular models and the model-class registry used by serving bundles.

Every model the engine trains or serves takes two tensors, ``numeric`` (float32,
``[batch, n_numeric]``) and ``categorical`` (int64 vocabulary ids, ``[batch,
n_categorical]``), and returns ``[batch, n_outputs]`` (logits, or the standardized target
for regression). Any user ``nn.Module`` with that ``forward`` works too.
"""

from __future__ import annotations

import contextlib
import importlib
import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn


def embedding_size(cardinality: int) -> int:
    """A rule-of-thumb embedding width for a vocabulary of ``cardinality`` values."""
    return int(max(2, min(32, round(1.6 * max(cardinality, 1) ** 0.56))))


class FeatureInput(nn.Module):
    """Standardizes numeric features and embeds categorical ids.

    Numeric NaNs become 0 after standardization (mean imputation). Categorical ids outside
    ``[0, cardinality)`` (out of vocabulary, -1 for missing) share one extra row.

    Args:
        num_numeric: Number of numeric columns.
        cardinalities: Vocabulary size of each categorical column.
        embedding_dims: Embedding width per categorical column (default: a rule of thumb).
    """

    def __init__(self, num_numeric: int, cardinalities: Sequence[int],
                 embedding_dims: Sequence[int] | None = None):
        super().__init__()
        dims = list(embedding_dims or [embedding_size(c) for c in cardinalities])
        self.num_numeric = num_numeric
        self.cardinalities = [int(c) for c in cardinalities]
        self.register_buffer("numeric_mean", torch.zeros(num_numeric))
        self.register_buffer("numeric_inv_std", torch.ones(num_numeric))
        self.embeddings = nn.ModuleList(nn.Embedding(c + 1, d)
                                        for c, d in zip(self.cardinalities, dims, strict=True))
        self.output_dim = num_numeric + sum(dims)

    def set_normalization(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Store the training data's numeric mean and standard deviation."""
        std = torch.where(std > 1e-12, std, torch.ones_like(std))
        self.numeric_mean.copy_(mean)
        self.numeric_inv_std.copy_(1.0 / std)

    def standardize(self, numeric: torch.Tensor) -> torch.Tensor:
        """``(x - mean) / std`` with NaN mapped to 0."""
        return torch.nan_to_num((numeric - self.numeric_mean) * self.numeric_inv_std, nan=0.0)

    def lookup_ids(self, categorical: torch.Tensor, column: int) -> torch.Tensor:
        """Column ``column``'s ids with out-of-range values sent to the shared OOV row."""
        ids = categorical[:, column]
        size = self.cardinalities[column]
        return torch.where((ids < 0) | (ids >= size), torch.full_like(ids, size), ids)

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        parts = [self.standardize(numeric)] if self.num_numeric else []
        parts += [emb(self.lookup_ids(categorical, i)) for i, emb in enumerate(self.embeddings)]
        return torch.cat(parts, dim=1)


class SeededDropout(nn.Dropout):
    """``nn.Dropout`` that draws its masks from a generator the training loop attaches.

    torch's dropout draws from the process-wide RNG, which every thread shares: a second
    model training at the same time (parallel Tuner trials, parallel pipeline nodes) changed
    this one's masks, so the same data, config and seed gave other weights. With a
    generator attached (:func:`dropout_generator`) the masks depend on the run alone; without
    one it is plain ``nn.Dropout``. It holds no state, so bundles load either way.
    """

    generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0 or self.generator is None:
            return super().forward(x)
        # Drawn where the generator lives (the CPU one when training on MPS), then moved.
        keep = torch.empty(x.shape, dtype=x.dtype, device=self.generator.device)
        keep = keep.bernoulli_(1.0 - self.p, generator=self.generator).to(x.device)
        return x * keep / (1.0 - self.p)


@contextlib.contextmanager
def dropout_generator(model: nn.Module, generator: torch.Generator):
    """Make the model's :class:`SeededDropout` layers draw from ``generator`` in the block."""
    layers = [m for m in model.modules() if isinstance(m, SeededDropout)]
    for layer in layers:
        layer.generator = generator
    try:
        yield
    finally:
        for layer in layers:
            layer.generator = None


def init_parameters(model: nn.Module, seed: int) -> None:
    """Re-draw the built-in layers' initial weights from a private generator seeded ``seed``.

    Same distributions as torch's defaults (``nn.Linear``: Kaiming-uniform weights and a
    uniform bias; ``nn.Embedding``: standard normal), but independent of the process-wide
    RNG, which concurrent threads share. Other modules are left as they are.
    """
    generator = torch.Generator(device="cpu").manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Linear):
                _init_linear(module, generator)
            elif isinstance(module, nn.Embedding):
                weight = torch.empty(module.weight.shape).normal_(generator=generator)
                module.weight.copy_(weight)


def _init_linear(layer: nn.Linear, generator: torch.Generator) -> None:
    weight = torch.empty(layer.weight.shape)
    nn.init.kaiming_uniform_(weight, a=math.sqrt(5), generator=generator)
    layer.weight.copy_(weight)
    if layer.bias is not None:
        bound = 1.0 / math.sqrt(layer.in_features) if layer.in_features > 0 else 0.0
        layer.bias.copy_(torch.empty(layer.bias.shape).uniform_(-bound, bound,
                                                                generator=generator))


def _mlp(in_dim: int, hidden_units: Sequence[int], dropout: float) -> tuple[nn.Sequential, int]:
    layers: list[nn.Module] = []
    for width in hidden_units:
        layers += [nn.Linear(in_dim, width), nn.ReLU()]
        if dropout > 0:
            layers.append(SeededDropout(dropout))
        in_dim = width
    return nn.Sequential(*layers), in_dim


def _constructor_kwargs(num_numeric: int, cardinalities: Sequence[int], num_outputs: int,
                        hidden_units: Sequence[int], dropout: float,
                        embedding_dims: Sequence[int] | None) -> dict:
    """A tabular model's constructor arguments, JSON-ready (saved to rebuild it)."""
    return {"num_numeric": num_numeric, "cardinalities": list(cardinalities),
            "num_outputs": num_outputs, "hidden_units": list(hidden_units), "dropout": dropout,
            "embedding_dims": list(embedding_dims) if embedding_dims else None}


class TabularMLP(nn.Module):
    """An MLP over standardized numerics and categorical embeddings.

    Args:
        num_numeric: Number of numeric input columns.
        cardinalities: Vocabulary size of each categorical column.
        num_outputs: Classes for classification, 1 for regression.
        hidden_units: Widths of the hidden layers.
        dropout: Dropout after each hidden layer.
        embedding_dims: Optional embedding width per categorical column.
    """

    def __init__(self, num_numeric: int, cardinalities: Sequence[int], num_outputs: int,
                 hidden_units: Sequence[int] = (64, 32), dropout: float = 0.0,
                 embedding_dims: Sequence[int] | None = None):
        super().__init__()
        self.kwargs = _constructor_kwargs(num_numeric, cardinalities, num_outputs,
                                          hidden_units, dropout, embedding_dims)
        self.features = FeatureInput(num_numeric, cardinalities, embedding_dims)
        self.body, width = _mlp(self.features.output_dim, hidden_units, dropout)
        self.head = nn.Linear(width, num_outputs)

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(self.features(numeric, categorical)))


class WideDeep(nn.Module):
    """Wide & deep: a linear model on the raw inputs plus an MLP on embeddings.

    The wide part is linear in the standardized numerics plus one learned weight vector per
    categorical value (a one-hot linear model, held as an embedding of width
    ``num_outputs``).

    Args:
        num_numeric: Number of numeric input columns.
        cardinalities: Vocabulary size of each categorical column.
        num_outputs: Classes for classification, 1 for regression.
        hidden_units: Widths of the deep part's hidden layers.
        dropout: Dropout in the deep part.
        embedding_dims: Optional embedding width per categorical column.
    """

    def __init__(self, num_numeric: int, cardinalities: Sequence[int], num_outputs: int,
                 hidden_units: Sequence[int] = (64, 32), dropout: float = 0.0,
                 embedding_dims: Sequence[int] | None = None):
        super().__init__()
        self.kwargs = _constructor_kwargs(num_numeric, cardinalities, num_outputs,
                                          hidden_units, dropout, embedding_dims)
        self.features = FeatureInput(num_numeric, cardinalities, embedding_dims)
        self.deep, width = _mlp(self.features.output_dim, hidden_units, dropout)
        self.deep_head = nn.Linear(width, num_outputs)
        self.wide_numeric = nn.Linear(num_numeric, num_outputs, bias=False) if num_numeric else None
        self.wide_categorical = nn.ModuleList(nn.Embedding(c + 1, num_outputs)
                                              for c in self.features.cardinalities)

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        out = self.deep_head(self.deep(self.features(numeric, categorical)))
        if self.wide_numeric is not None:
            out = out + self.wide_numeric(self.features.standardize(numeric))
        for i, table in enumerate(self.wide_categorical):
            out = out + table(self.features.lookup_ids(categorical, i))
        return out


BUILTIN_MODELS: dict[str, type[nn.Module]] = {"mlp": TabularMLP, "wide_deep": WideDeep}


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Instantiate a built-in model by name (``"mlp"``, ``"wide_deep"``).

    Raises:
        ValueError: ``name`` is not a built-in model.
    """
    if name not in BUILTIN_MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {sorted(BUILTIN_MODELS)} "
                         f"or pass your own nn.Module")
    return BUILTIN_MODELS[name](**kwargs)


def class_path(model: nn.Module) -> str:
    """``"package.module:QualName"`` of ``model``'s class, as stored in ``bundle.json``."""
    cls = type(model)
    return f"{cls.__module__}:{cls.__qualname__}"


def model_kwargs(model: nn.Module) -> dict[str, Any]:
    """The constructor arguments a model recorded in ``.kwargs`` (empty when it has none)."""
    return dict(getattr(model, "kwargs", {}) or {})


def instantiate(path: str, kwargs: dict[str, Any]) -> nn.Module:
    """Build a model from its class path and constructor arguments.

    Raises:
        ValueError: The class cannot be imported.
    """
    module_name, _, qualname = path.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"cannot import model class {path!r} named in bundle.json: {e}; make "
                         f"the module importable (install it or add it to PYTHONPATH)") from e
    # bundle.json is artifact data: only ever call a torch module class named in it.
    if not (isinstance(obj, type) and issubclass(obj, nn.Module)):
        raise ValueError(f"bundle.json names {path!r}, which is not a torch.nn.Module class; "
                         "refusing to call it (expected the Trainer's model class)")
    return obj(**kwargs)
