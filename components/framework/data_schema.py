"""The data schema: a human-editable ``schema.yaml`` validated by pydantic.

SchemaGen infers it, ImportSchemaGen brings a curated one, ExampleValidator checks data
against it, Transform and Trainer read feature types and shapes from it::

    schema = load_schema(schema_artifact.uri)
    schema.feature("fare").type        # "FLOAT"
    schema.feature("payment_type").domain

Drift and skew thresholds live here, per feature, like TFDV's ``drift_comparator`` and
``skew_comparator``: ``infinity_norm`` (L-infinity distance of value frequencies, for
categorical features) and ``jensen_shannon_divergence`` (for numeric features).
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
from typing import Literal

import pydantic
import yaml

from gristmill.components.framework.schema_yaml import dump_yaml

_HAS_LIBYAML = hasattr(yaml, "CSafeLoader")  # libyaml's C parser: ~10x faster on wide schemas

SCHEMA_FILE = "schema.yaml"

FeatureType = Literal["INT", "FLOAT", "STRING", "BYTES", "BOOL", "OTHER"]


class _Model(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")


class Presence(_Model):
    """How often a feature must be present.

    Attributes:
        min_fraction: Smallest allowed fraction of rows where it is not null (1.0 = required).
        min_count: Smallest allowed number of rows where it is present.
    """

    min_fraction: float = pydantic.Field(1.0, ge=0.0, le=1.0)
    min_count: int = pydantic.Field(1, ge=0)


class NumericRange(_Model):
    """Allowed value range (inclusive); ``None`` leaves a side open."""

    min: float | None = None
    max: float | None = None


class FeatureComparator(_Model):
    """Thresholds for comparing a feature's distribution between two statistics.

    Attributes:
        infinity_norm: Max allowed L-infinity distance of value frequencies (categorical).
        jensen_shannon_divergence: Max allowed JS divergence, base 2, in [0, 1] (numeric,
            from histograms).
    """

    infinity_norm: float | None = pydantic.Field(None, ge=0.0, le=1.0)
    jensen_shannon_divergence: float | None = pydantic.Field(None, ge=0.0, le=1.0)


class FeatureSchema(_Model):
    """What one feature must look like.

    Attributes:
        name: Column name.
        type: ``INT``, ``FLOAT``, ``STRING``, ``BYTES``, ``BOOL`` or ``OTHER``.
        arrow_type: The Arrow type seen when the schema was inferred (informative).
        presence: Required presence.
        shape: Fixed shape (``[]`` = one value per row, ``[n]`` = n values per row); ``None``
            when values per row vary or the feature may be missing.
        categorical: Values are categories (strings, or integer codes).
        domain: Allowed values of a categorical feature; ``None`` = any.
        min_domain_mass: Smallest allowed fraction of values inside ``domain``.
        range: Allowed numeric range.
        disallow_nan / disallow_inf: Whether NaN / +-Inf values are anomalies.
        drift_comparator: Thresholds versus the previous span's statistics.
        skew_comparator: Thresholds versus serving statistics.
        description: Free text for people.
    """

    name: str
    type: FeatureType
    arrow_type: str | None = None
    presence: Presence = Presence()
    shape: list[int] | None = None
    categorical: bool = False
    domain: list[str] | None = None
    min_domain_mass: float = pydantic.Field(1.0, ge=0.0, le=1.0)
    range: NumericRange | None = None
    disallow_nan: bool = False
    disallow_inf: bool = False
    drift_comparator: FeatureComparator | None = None
    skew_comparator: FeatureComparator | None = None
    description: str = ""

    @property
    def is_dense(self) -> bool:
        """True when every row has the same number of values (``shape`` is known)."""
        return self.shape is not None


class DataSchema(_Model):
    """The schema of a dataset: one :class:`FeatureSchema` per column.

    Attributes:
        version: Format version of this file.
        features: Feature schemas, in column order.
        min_examples: Smallest allowed number of rows per split (0 = no check).
    """

    version: int = 1
    features: list[FeatureSchema] = []
    min_examples: int = pydantic.Field(0, ge=0)

    _index: tuple | None = pydantic.PrivateAttr(default=None)

    @pydantic.model_validator(mode="after")
    def _unique_names(self) -> DataSchema:
        names = [f.name for f in self.features]
        duplicates = sorted(n for n, c in collections.Counter(names).items() if c > 1)
        if duplicates:
            raise ValueError(f"feature names must be unique; repeated: {duplicates}")
        return self

    @property
    def feature_names(self) -> list[str]:
        """Feature names in order."""
        return [f.name for f in self.features]

    def feature(self, name: str) -> FeatureSchema | None:
        """The schema of ``name``, or ``None`` (a dict lookup: wide schemas stay linear)."""
        key = (id(self.features), len(self.features))
        if self._index is None or self._index[0] != key:
            self._index = (key, {f.name: f for f in self.features})
        return self._index[1].get(name)


def schema_path(uri: str) -> str:
    """``<uri>/schema.yaml`` when ``uri`` is a directory, else ``uri`` itself."""
    return os.path.join(uri, SCHEMA_FILE) if os.path.isdir(uri) else uri


def save_schema(schema: DataSchema, uri: str) -> str:
    """Write ``schema`` as YAML to ``<uri>/schema.yaml`` (or to ``uri`` if it is a file path).

    Returns:
        The path written.
    """
    path = schema_path(uri)
    data = schema.model_dump(mode="json", exclude_none=True)
    # PyYAML's text, written directly for plain features (its representer is pure Python
    # even over libyaml's C emitter: 0.9 s per 5,000 features)
    text = "# Gristmill data schema. Edit freely; it is validated when loaded.\n" + dump_yaml(data)
    with open(path, "w") as f:
        f.write(text)
    with open(_parsed_copy(path), "w") as f:
        # dumps, not dump: json.dump streams through the pure-Python encoder (0.3 s here)
        f.write(json.dumps({"yaml_sha256": _digest(text), "schema": data}))
    return path


def _parsed_copy(path: str) -> str:
    """The JSON copy :func:`save_schema` keeps beside the YAML: parsing YAML costs ~1 s
    per 5,000 features even with libyaml, JSON ~50 ms. Used only while the YAML's digest
    matches (an edited YAML is parsed again)."""
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name}.parsed.json")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _from_parsed_copy(path: str, text: str) -> DataSchema | None:
    try:
        with open(_parsed_copy(path)) as f:
            saved = json.load(f)
        if saved.get("yaml_sha256") == _digest(text):
            return DataSchema.model_validate(saved["schema"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass  # no usable copy: parse the YAML
    return None


def parse_schema(text: str, source: str = "<string>") -> DataSchema:
    """Parse YAML or JSON text into a :class:`DataSchema`.

    Raises:
        gristmill.metadata.errors.DataError: The text is not a valid schema; the message
            names the field and the problem.
    """
    from gristmill.metadata.errors import DataError

    try:
        # safe loaders only, spelled out so tests/reliability/security.py's scan can see it
        data = (yaml.load(text, Loader=yaml.CSafeLoader) if _HAS_LIBYAML  # noqa: S506
                else yaml.load(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as e:
        raise DataError(f"schema {source} is not valid YAML/JSON: {e}.", uri=source,
                        fix="fix the syntax at the position shown") from e
    try:
        return DataSchema.model_validate(data or {})
    except pydantic.ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or '<root>'}: {err['msg']} "
                             f"(got {err.get('input')!r})" for err in e.errors()[:5])
        raise DataError(f"schema {source} is invalid: {problems}.", uri=source,
                        fix="correct these fields; see gristmill.components.framework.data_schema "
                            "for the allowed fields") from e


def load_schema(uri: str) -> DataSchema:
    """Read ``<uri>/schema.yaml`` (``uri`` may also be a ``.yaml``/``.json`` file path).

    Raises:
        gristmill.metadata.errors.DataError: The file is missing or invalid.
    """
    from gristmill.metadata.errors import DataError

    path = schema_path(uri)
    if not os.path.isfile(path):
        raise DataError(f"schema file {path} does not exist.", uri=uri,
                        fix="pass the uri of a Schema artifact (SchemaGen/ImportSchemaGen) or "
                            "the path of a schema.yaml file")
    with open(path) as f:
        text = f.read()
    return _from_parsed_copy(path, text) or parse_schema(text, path)
