"""Artifact roots on object stores (``s3://``, ``gs://``, ``abfs://``): commit without rename.

Executors keep reading and writing local directories. For a pipeline whose root is an
object-store URL:

* each execution writes its outputs to a local staging directory under
  :func:`local_dir` (``$GRISTMILL_HOME/object_store/<hash of the root>``); after the
  executor returns, :func:`upload` copies them under the execution's own unique prefix
  ``<root>/<node>/<key>/<token>/`` and the artifact becomes LIVE only in the metadata
  publish transaction that follows (the store is the commit point, as in MLMD). A process
  killed before that transaction leaves a PENDING artifact; stale recovery marks it
  ABANDONED and :func:`discard_leftovers` deletes its prefix.
* the artifact's ``fingerprint`` is the usual content hash, computed on the local staging
  copy before the upload; the object listing right after the upload (each object's relative
  path, size and modification time) is hashed into the custom property
  :data:`LISTING_PROPERTY`. Reusing a cached output compares that listing (one LIST request,
  no download); reading an input downloads it once into a local read-only cache
  (:func:`cache_path`, keyed by the artifact id, URI and fingerprint) and checks the content
  hash there, so the files an executor reads are exactly the published ones.
* credentials come from each store's standard environment and configuration (``AWS_*``
  variables and ``~/.aws`` for S3, ``GOOGLE_APPLICATION_CREDENTIALS`` for GCS, ...); a root
  URL with credentials in it is refused, so none reaches the store, a log or MLflow.

Filesystems come from :func:`pyarrow.fs.FileSystem.from_uri` (S3, GCS, Azure, HDFS), with
fsspec as the fallback for any other protocol it serves.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import logging
import os
import re
import shutil
import tempfile
import threading
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence

from gristmill.metadata.confinement import ConfinementError
from gristmill.metadata.errors import ConfigError, IntegrityError
from gristmill.metadata.fingerprint import fingerprint_path
from gristmill.metadata.settings import gristmill_home
from gristmill.metadata.types import Artifact

log = logging.getLogger(__name__)

#: Custom property holding the hash of an output's object listing taken right after upload.
LISTING_PROPERTY = "object_listing"
_CLIENT_ENVIRONMENT = ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_ACCESS_KEY_ID",
                       "AWS_DEFAULT_REGION", "AWS_REGION", "GOOGLE_APPLICATION_CREDENTIALS",
                       "AZURE_STORAGE_ACCOUNT_NAME")
_TOKEN = re.compile(r"^[0-9a-f]{12}$")
_download_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def is_remote(uri: str) -> bool:
    """True for an object-store URL (``scheme://...`` other than ``file://``)."""
    return "://" in uri and not uri.startswith("file://")


def check_root(root: str, pipeline_name: str) -> str:
    """The normalised object-store root (no trailing ``/``) after checking that its store
    is reachable and its bucket exists.

    Raises:
        ConfigError: Credentials in the URL, an unknown scheme, or a bucket that cannot be
            reached, each with the fix.
    """
    parsed = urllib.parse.urlsplit(root)
    shown = f"{parsed.scheme}://{parsed.hostname or ''}{parsed.path}"
    if parsed.username or parsed.password or parsed.query:
        raise ConfigError(
            f"Pipeline {pipeline_name!r}: the artifact root {shown!r} carries credentials or "
            "options in the URL; they would be recorded in the metadata store and MLflow.",
            fix="pass credentials the store's standard way (AWS_ACCESS_KEY_ID/"
                "AWS_SECRET_ACCESS_KEY or ~/.aws for S3, GOOGLE_APPLICATION_CREDENTIALS for "
                "GCS, AZURE_STORAGE_* for Azure) and use the plain URL")
    if not parsed.netloc:
        raise ConfigError(f"Pipeline {pipeline_name!r}: artifact root {root!r} names no bucket.",
                          fix="use scheme://bucket/prefix, e.g. s3://my-bucket/gristmill")
    root = root.rstrip("/")
    fs, path = filesystem(root)
    bucket = path.split("/", 1)[0]
    try:
        found = fs.get_file_info(bucket)
    except OSError as e:
        raise ConfigError(
            f"Pipeline {pipeline_name!r}: artifact root {root!r}: the object store could not be "
            f"reached: {e}", fix="check the endpoint (AWS_ENDPOINT_URL) and the credentials in "
                                 "the environment or ~/.aws") from e
    if found.type.name == "NotFound":
        raise ConfigError(f"Pipeline {pipeline_name!r}: artifact root {root!r}: bucket "
                          f"{bucket!r} does not exist.", fix=f"create the bucket {bucket!r} "
                          "first (e.g. aws s3 mb), or correct the root URL")
    return root


@functools.lru_cache(maxsize=32)
def _filesystem_for(scheme: str, netloc: str, _environment: tuple[str | None, ...]):
    import pyarrow.fs as pafs

    probe = f"{scheme}://{netloc}/"
    try:
        fs, _ = pafs.FileSystem.from_uri(probe)
        return fs, False
    except (ValueError, OSError, ImportError) as pyarrow_error:
        try:
            import fsspec

            handler = pafs.FSSpecHandler(fsspec.filesystem(scheme))
        except (ValueError, ImportError) as e:
            raise ConfigError(
                f"artifact root {probe!r}: no filesystem serves {scheme}:// (pyarrow: "
                f"{pyarrow_error}; fsspec: {e}).",
                fix=f"install the fsspec package for {scheme}:// (e.g. gcsfs, adlfs) or "
                    "use s3://, gs:// or abfs://") from e
        return pafs.PyFileSystem(handler), True


def filesystem(uri: str):
    """``(pyarrow filesystem, path inside it)`` for an object-store URL."""
    parsed = urllib.parse.urlsplit(uri)
    # The environment is part of the key: a changed endpoint or profile gets a new client.
    environment = tuple(os.environ.get(name) for name in _CLIENT_ENVIRONMENT)
    fs, _ = _filesystem_for(parsed.scheme, parsed.netloc, environment)
    path = f"{parsed.netloc}{parsed.path}".rstrip("/")
    return fs, path


def local_dir(root: str) -> str:
    """Where a run works locally: ``root`` itself for a local root; for an object-store root
    ``$GRISTMILL_HOME/object_store/<hash>`` (its ``.staging`` and ``.tmp`` folders)."""
    if not is_remote(root):
        return root
    digest = hashlib.sha256(root.encode()).hexdigest()[:16]
    return str(gristmill_home() / "object_store" / digest)


def cache_path(artifact: Artifact) -> str:
    """The local read-only copy of a remote artifact: keyed by its id, URI and fingerprint,
    so two runs, or two nodes of one run, never download the same artifact twice."""
    digest = hashlib.sha256(f"{artifact.uri}\n{artifact.fingerprint}".encode()).hexdigest()
    return str(gristmill_home() / "object_cache" / f"{artifact.id}-{digest[:24]}")


def listing(uri: str) -> list[tuple[str, int, int]]:
    """(relative path, size, modification time in ns) of every object under ``uri``."""
    import pyarrow.fs as pafs

    fs, path = filesystem(uri)
    infos = fs.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True))
    found = []
    for info in infos:
        if info.type == pafs.FileType.File:
            mtime = info.mtime_ns if info.mtime_ns is not None else -1
            found.append((info.path[len(path) + 1:], info.size or 0, mtime))
    return sorted(found)


def listing_digest(entries: Iterable[tuple[str, int, int]]) -> str:
    """``sha256:<hex>`` over a listing (length-prefixed names, sizes, mtimes)."""
    digest = hashlib.sha256()
    for name, size, mtime in entries:
        digest.update(f"{len(name)}:{name}:{size}:{mtime}\n".encode())
    return f"sha256:{digest.hexdigest()}"


def upload(staging: str, artifact: Artifact) -> None:
    """Copy a staged output under its unique prefix ``artifact.uri``, record the listing
    and keep the staging copy as the artifact's local cached copy (consumers in this run
    read it without downloading). On any error the partial prefix is deleted."""
    import pyarrow.fs as pafs

    fs, path = filesystem(artifact.uri)
    try:
        if any(files for _, _, files in os.walk(staging)):
            pafs.copy_files(staging, path, source_filesystem=pafs.LocalFileSystem(),
                            destination_filesystem=fs, use_threads=True)
        artifact.set_custom_property(LISTING_PROPERTY, listing_digest(listing(artifact.uri)))
    except BaseException:
        _delete_prefix(artifact.uri)
        raise
    target = cache_path(artifact)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)


def exists(uri: str) -> bool:
    """Whether an artifact's files exist (any object under a remote prefix)."""
    if not is_remote(uri):
        return os.path.exists(uri)
    return bool(listing(uri))


def check_confined(uri: str, roots: Sequence[str], what: str) -> None:
    """Refuse a remote ``uri`` that lies under none of the object-store ``roots``."""
    for root in roots:
        if is_remote(root) and uri.startswith(root.rstrip("/") + "/") and ".." not in uri:
            return
    raise ConfinementError(
        f"{what}: the metadata store records {uri!r}, which lies outside the artifact root(s) "
        f"of this run ({', '.join(roots) or '(none)'}); refused, nothing there was read or "
        "deleted.", uri=uri, roots=tuple(roots),
        fix="the row is stale, foreign or tampered with: check who else writes this metadata "
            "database; re-run the producer with --no-cache to make a new artifact")


def verify_remote(artifact: Artifact, consumer: str) -> None:
    """Raise IntegrityError when a remote artifact's objects no longer match the listing
    recorded when it was published (one LIST request; nothing is downloaded)."""
    expected = artifact.custom_properties.get(LISTING_PROPERTY)
    entries = listing(artifact.uri)
    if expected is None:
        raise IntegrityError(f"{consumer}: artifact {artifact.id} ({artifact.type_name}) at "
                             f"{artifact.uri} has no recorded object listing.",
                             artifact_id=artifact.id, uri=artifact.uri,
                             fix="re-run its producer with --no-cache")
    if listing_digest(entries) == expected:
        return
    what = "is missing: its objects were deleted" if not entries else \
        "was modified after it was published (object listing mismatch)"
    raise IntegrityError(f"{consumer}: artifact {artifact.id} ({artifact.type_name}) at "
                         f"{artifact.uri} {what}.", artifact_id=artifact.id, uri=artifact.uri,
                         fix="re-run its producer with --no-cache")


def local_inputs(inputs: Mapping[str, Sequence[Artifact]], trusted: set[int]
                 ) -> dict[str, list[Artifact]]:
    """``inputs`` with every remote artifact replaced by a copy whose ``uri`` is its local
    cached copy (downloaded when absent or damaged). ``trusted``: ids whose local copy was
    made in this process (this run's outputs), not hashed again."""
    if not any(is_remote(a.uri) for v in inputs.values() for a in v):
        return dict(inputs)  # type: ignore[arg-type]
    return {key: [_localized(a, trusted) for a in artifacts]
            for key, artifacts in inputs.items()}


def _localized(artifact: Artifact, trusted: set[int]) -> Artifact:
    if not is_remote(artifact.uri):
        return artifact
    local = copy.copy(artifact)
    local.properties = dict(artifact.properties)
    local.custom_properties = dict(artifact.custom_properties)
    local.uri = materialize(artifact, artifact.id in trusted)
    local.remote_uri = artifact.uri  # what records about the artifact name it by (Pusher)
    return local


def materialize(artifact: Artifact, trusted: bool = False) -> str:
    """The local path of a remote artifact's files: the cached copy when it is intact,
    else a fresh download whose content hash must equal the published fingerprint."""
    target = cache_path(artifact)
    with _lock_for(target):
        if os.path.isdir(target):
            if trusted or fingerprint_path(target) == artifact.fingerprint:
                return target
            log.warning("local copy %s of artifact %s was modified; downloading it again",
                        target, artifact.id)
            shutil.rmtree(target, ignore_errors=True)
        _download(artifact, target)
    return target


def _download(artifact: Artifact, target: str) -> None:
    import pyarrow.fs as pafs

    fs, path = filesystem(artifact.uri)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    scratch = tempfile.mkdtemp(prefix=".download-", dir=os.path.dirname(target))
    try:
        if listing(artifact.uri):
            pafs.copy_files(path, scratch, source_filesystem=fs,
                            destination_filesystem=pafs.LocalFileSystem(), use_threads=True)
        found = fingerprint_path(scratch)
        if artifact.fingerprint and found != artifact.fingerprint:
            raise IntegrityError(
                f"artifact {artifact.id} ({artifact.type_name}) at {artifact.uri}: the "
                "downloaded objects do not match the fingerprint recorded when it was "
                "published; they were modified in the object store.",
                artifact_id=artifact.id, uri=artifact.uri,
                fix="re-run its producer with --no-cache")
        try:
            os.replace(scratch, target)
        except OSError:  # another process placed its (equally checked) copy first
            if not os.path.isdir(target):
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _lock_for(path: str) -> threading.Lock:
    with _locks_guard:
        return _download_locks.setdefault(path, threading.Lock())


def discard_leftovers(uri: str, root: str, what: str) -> None:
    """Delete what a killed execution left for an output planned at ``uri``
    (``<root>/<node>/<key>/<token>``): its objects and its local staging and scratch
    folders. A URI that is not such a path below ``root`` is refused with a warning."""
    prefix = root.rstrip("/") + "/"
    parts = uri[len(prefix):].split("/") if uri.startswith(prefix) else []
    if len(parts) != 3 or not _TOKEN.match(parts[2]) or any(
            p in ("", ".", "..") or p.startswith(".") for p in parts):
        log.warning("stale recovery of %s: stale output %r is not <root>/<node>/<key>/<token> "
                    "below the artifact root %s; refused, nothing was deleted.", what, uri, root)
        return
    _delete_prefix(uri)
    work = local_dir(root)
    for folder in (".staging", ".tmp"):
        shutil.rmtree(os.path.join(work, folder, parts[2]), ignore_errors=True)


def _delete_prefix(uri: str) -> None:
    fs, path = filesystem(uri)
    try:
        fs.delete_dir(path)
    except FileNotFoundError:
        pass
    except OSError as e:
        if listing(uri):
            raise
        log.debug("nothing to delete under %s (%s)", uri, e)
