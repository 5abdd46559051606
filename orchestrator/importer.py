"""``Importer``: register an external file or directory as a typed artifact, as in TFX.

``Importer(source_uri="schema/", artifact_type=Schema).with_id("curated_schema")`` makes
``importer.outputs["result"]`` a Schema channel. The files stay where they are (nothing is
copied); their content fingerprint is recorded, so later edits are detected like any other
tampering and change the cache keys of consumers. With ``reimport=False`` (the default) an
earlier LIVE import of the same path with the same content is reused.
"""

from __future__ import annotations

import os
from typing import Any

from gristmill.components.framework.base import BaseComponent, OutputSpec
from gristmill.metadata.errors import ConfigError
from gristmill.metadata.types import Artifact


class Importer(BaseComponent):
    """A node whose output is an existing file or directory outside the pipeline root.

    Args:
        source_uri: The file or directory to register.
        artifact_type: The artifact type to register it as (e.g. ``Schema``, ``Model``).
        reimport: Register a new artifact even when an identical one exists.
        properties: Values for the type's declared properties.
        custom_properties: Free-form values.
    """

    def __init__(self, source_uri: str, artifact_type: type[Artifact], reimport: bool = False,
                 properties: dict[str, Any] | None = None,
                 custom_properties: dict[str, Any] | None = None):
        if not (isinstance(artifact_type, type) and issubclass(artifact_type, Artifact)):
            raise ConfigError(f"Importer(artifact_type=...): expected an artifact type such as "
                              f"Schema, got {artifact_type!r}.",
                              fix="pass a class from gristmill.metadata.standard_artifacts")
        self.OUTPUTS = {"result": OutputSpec(artifact_type)}
        self.source_uri = os.path.abspath(source_uri)
        self.artifact_type = artifact_type
        self.reimport = reimport
        self.properties = dict(properties or {})
        self.custom_properties = dict(custom_properties or {})
        super().__init__()

    def describe_parameters(self) -> dict[str, Any]:
        """What the store records as this node's parameters."""
        return {"source_uri": self.source_uri, "artifact_type": self.artifact_type.TYPE_NAME,
                "reimport": self.reimport, "properties": self.properties}

    def make_artifact(self, fingerprint: str) -> Artifact:
        """The artifact to register for the source, with its properties set."""
        if not os.path.exists(self.source_uri):
            raise ConfigError(f"{self.id}: source_uri {self.source_uri} does not exist.",
                              component_id=self.id, fix="point source_uri at an existing path")
        artifact = self.artifact_type(self.source_uri, properties=self.properties,
                                      custom_properties=self.custom_properties,
                                      fingerprint=fingerprint, producer_component=self.id,
                                      output_key="result")
        return artifact
