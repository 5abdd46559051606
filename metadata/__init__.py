"""Gristmill metadata: artifact types, records and the metadata store interface.

This package knows nothing of components, Beam or MLflow. Every layer may import the
artifact types and errors from here; only the orchestrator opens a store.
"""

from gristmill.metadata.errors import GristmillError
from gristmill.metadata.types import Artifact, ArtifactState, ExecutionState

__all__ = ["Artifact", "ArtifactState", "ExecutionState", "GristmillError"]
