"""tensorflow_transform names Gristmill does not offer, and what to write instead.

``gristmill.components.transform_ops`` raises these errors for a missing ``tft.*`` name, so
a ported ``preprocessing_fn`` fails with a fix instead of a bare ``AttributeError``.
"""

from __future__ import annotations

from gristmill.metadata.errors import ConfigError, did_you_mean

#: tft name -> what to write instead (docs/tfx_migration.md lists them as "refused"/"not yet").
REFUSED = {
    "scale_to_gaussian": "not yet supported; use scale_to_z_score, or log1p then "
                         "scale_to_z_score for skewed values",
    "ngrams": "token lists are not supported yet; hash_strings or feature_cross whole strings",
    "bag_of_words": "token lists are not supported yet; use compute_and_apply_vocabulary on "
                    "whole strings",
    "tfidf": "token lists are not supported yet; use compute_and_apply_vocabulary on whole "
             "strings",
    "word_count": "token lists are not supported yet; length(x) counts characters",
    "TFTransformOutput": "in run_fn use fn_args.load_transform() (a FittedTransform)",
    "apply_buckets_with_interpolation": "not yet supported; use scale_by_min_max or "
                                        "bucketize",
    "bucketize_per_key": "not yet supported; use bucketize",
    "estimated_probability_density": "not yet supported; use histogram",
    "pca": "not supported; compute components in run_fn",
    "covariance": "not supported; compute it in run_fn",
    "tukey_location": "not supported; use mean",
    "tukey_scale": "not supported; use std",
    "tukey_h_params": "not supported",
    "segment_indices": "ragged/sparse tensors are not supported (columns are dense)",
    "deduplicate_tensor_per_row": "ragged/sparse tensors are not supported",
    "sparse_tensor_to_dense_with_shape": "not needed: columns are dense; use fill_missing",
    "sparse_tensor_left_align": "not needed: columns are dense",
    "apply_pyfunc": "not supported: write the logic with transform ops (they run on Beam, "
                    "Arrow serving and torch alike)",
    "ptransform_analyzer": "not supported; compute the constant outside and pass a number",
    "split": "token lists are not supported yet; use regex_replace/substr on whole strings",
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
