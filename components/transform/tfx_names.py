"""tensorflow_transform names Gristmill does not offer, and what to write instead.

``gristmill.components.transform_ops`` raises these errors for a missing ``tft.*`` name, so
a ported ``preprocessing_fn`` fails with a fix instead of a bare ``AttributeError``.
"""

from __future__ import annotations

from gristmill.metadata.errors import ConfigError, did_you_mean

#: tft name -> what to write instead (docs/tfx_migration.md lists them as "refused"/"not yet").
REFUSED = {
    "TFTransformOutput": "in run_fn use fn_args.load_transform() (a FittedTransform)",
    "apply_buckets_with_interpolation": "not yet supported; use scale_by_min_max or "
                                        "bucketize",
    "bucketize_per_key": "not yet supported; use bucketize",
    "estimated_probability_density": "not yet supported; use histogram",
    "pca": "not supported; compute components in run_fn",
    "covariance": "not supported; compute it in run_fn",
    "tukey_location": "not supported; use mean (scale_to_gaussian fits Tukey HH itself)",
    "tukey_scale": "not supported; use std",
    "tukey_h_params": "not supported",
    "segment_indices": "not supported: token lists are list columns; use word_count or ngrams",
    "deduplicate_tensor_per_row": "use bag_of_words (ngrams without duplicates per row)",
    "sparse_tensor_to_dense_with_shape": "not needed: columns are dense; use fill_missing",
    "sparse_tensor_left_align": "not needed: columns are dense",
    "apply_pyfunc": "not supported: write the logic with transform ops (they run on Beam, "
                    "Arrow serving and torch alike)",
    "ptransform_analyzer": "not supported; compute the constant outside and pass a number",
}


def refused_name(name: str, known: list[str]) -> ConfigError:
    """The error for ``transform_ops.<name>`` (an ``AttributeError`` too, for ``hasattr``)."""
    if name.startswith("__"):
        return AttributeError(name)  # type: ignore[return-value]
    if name in REFUSED:
        return _NameError(f"transform_ops.{name} (tft.{name}) is not offered by Gristmill.",
                          fix=REFUSED[name])
    return _NameError(f"transform_ops.{name} is not a transform op.{did_you_mean(name, known)}",
                      fix="see the tft/tf table in docs/tfx_migration.md")


class _NameError(ConfigError, AttributeError):
    """A transform op name that does not exist."""
