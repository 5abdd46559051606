"""The gauntlet's automatic preprocessing: every column by its inferred type.

Transform loads this file as its ``module_file``; ``custom_config["label_key"]`` names the
target. Rules (docs/gauntlet.md, "Automatic preprocessing"):

* the target passes through unchanged;
* ``int``/``float`` (booleans are ints): missing values filled with the train mean, then
  z-scored -> ``<name>__z``;
* ``string``: vocabulary ids (the 100 most frequent values; missing and unseen values get the
  out-of-vocabulary id) -> ``<name>__id``;
* anything else (dates and times read as timestamps) is not a model input; Transform's plan
  lists it as unused. The harness counts such columns per dataset.
"""

from __future__ import annotations

import gristmill.components.transform_ops as gt

VOCABULARY_SIZE = 100


def preprocessing_fn(inputs, custom_config):
    """Raw columns -> model inputs by inferred type (see the module docstring)."""
    label = custom_config["label_key"]
    outputs = {}
    for name, column in inputs.items():
        if name == label:
            outputs[name] = column
        elif column.dtype in ("float", "int"):
            outputs[f"{name}__z"] = gt.scale_to_z_score(gt.fill_missing(column, gt.mean(column)))
        elif column.dtype == "string":
            outputs[f"{name}__id"] = gt.compute_and_apply_vocabulary(column,
                                                                     top_k=VOCABULARY_SIZE)
    return outputs
