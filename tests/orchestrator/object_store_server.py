"""The S3 server of the object-store tests: the one ``.ci/s3.sh`` started, else moto's.

``.ci/run`` starts moto's standalone server with ``.ci/s3.sh start ENVFILE`` and exports
``GRISTMILL_TEST_S3_ENDPOINT`` with the ``AWS_*`` test credentials; on a clean clone without
it, :func:`s3_endpoint` starts ``moto.server.ThreadedMotoServer`` on a free loopback port
in the test process. Either way each test gets a bucket of its own.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterator

import pytest

TEST_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "gristmill-test", "AWS_SECRET_ACCESS_KEY":
                    "gristmill-test-secret", "AWS_DEFAULT_REGION": "us-east-1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """The endpoint URL of an S3 server on 127.0.0.1, with ``AWS_*`` set for it."""
    with pytest.MonkeyPatch.context() as patch:
        endpoint = os.environ.get("GRISTMILL_TEST_S3_ENDPOINT")
        server = None
        if not endpoint:
            from moto.server import ThreadedMotoServer

            logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request

            port = _free_port()
            server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
            server.start()
            endpoint = f"http://127.0.0.1:{port}"
            for name, value in TEST_CREDENTIALS.items():
                patch.setenv(name, value)
        patch.setenv("AWS_ENDPOINT_URL", endpoint)
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        try:
            yield endpoint
        finally:
            if server is not None:
                server.stop()


@pytest.fixture
def bucket(s3_endpoint) -> str:
    """A new, empty bucket on the test server; its name."""
    import boto3

    name = f"gm-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    return name


def s3_client(endpoint: str):
    """A boto3 client of the test server (to inspect and tamper with objects)."""
    import boto3

    return boto3.client("s3", endpoint_url=endpoint)


def object_keys(endpoint: str, bucket: str, prefix: str = "") -> list[str]:
    """Every object key under ``prefix`` in ``bucket``."""
    pages = s3_client(endpoint).get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))
