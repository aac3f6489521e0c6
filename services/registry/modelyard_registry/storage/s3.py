"""The artifact bucket through boto3, on a bounded thread pool so blocking calls stay off the loop.

Every request has connect and read timeouts and boto3's standard retries; past them the error
becomes BackendUnavailableError (UNAVAILABLE), never a hang. boto3's managed transfers
(upload_fileobj) are not used for uploads: a resumable session needs to add parts to an
existing multipart upload and to know each part's ETag, which the transfer manager hides.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

import boto3
import botocore.config
import botocore.exceptions

from modelyard_common.errors import BackendUnavailableError
from modelyard_registry.metrics import S3_IN_FLIGHT, S3_SECONDS

__all__ = ["S3BlobStore"]

T = TypeVar("T")
_GONE = {"NoSuchUpload", "NoSuchKey", "NoSuchBucket", "404"}


class _Gone(BackendUnavailableError):
    """S3 answered that the key, upload or bucket does not exist (idempotent deletes ignore it)."""


class S3BlobStore:
    def __init__(
        self,
        endpoint: str,
        bucket: str,
        access_key: str,
        secret_key: str,
        region: str,
        prefix: str,
        timeout: float,
        threads: int,
    ) -> None:
        config = botocore.config.Config(
            signature_version="s3v4",
            # The registry hashes every byte itself and each part carries a CRC32; signing the
            # payload too would SHA-256 it a second time over plain http (~0.7 CPU-s per GiB).
            s3={"addressing_style": "path", "payload_signing_enabled": False},
            connect_timeout=timeout,
            read_timeout=timeout,
            retries={"max_attempts": 3, "mode": "standard"},
            max_pool_connections=threads,
            tcp_keepalive=True,
        )
        self._s3: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint or None,
            aws_access_key_id=access_key or None,
            aws_secret_access_key=secret_key or None,
            region_name=region,
            config=config,
        )
        self.bucket, self._prefix = bucket, prefix
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="s3")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _call(self, operation: str, fn: Callable[[], T]) -> T:
        started = time.perf_counter()
        outcome = "error"
        in_flight = S3_IN_FLIGHT.labels(operation)
        in_flight.inc()
        try:
            result = await asyncio.get_running_loop().run_in_executor(self._pool, fn)
            outcome = "ok"
            return result
        except botocore.exceptions.ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _GONE:
                outcome = "gone"
                raise _Gone(f"S3 {operation} failed: {code}") from exc
            raise BackendUnavailableError(f"S3 {operation} failed: {code or exc}") from exc
        except (botocore.exceptions.BotoCoreError, OSError) as exc:
            raise BackendUnavailableError(f"S3 is unavailable ({operation}): {exc}") from exc
        finally:
            in_flight.dec()
            S3_SECONDS.labels(operation, outcome).observe(time.perf_counter() - started)

    async def _idempotent(self, operation: str, fn: Callable[[], object]) -> None:
        """Deleting what is already gone is done."""
        with contextlib.suppress(_Gone):
            await self._call(operation, fn)

    async def ensure_bucket(self) -> None:
        """Creates the bucket when missing (at start, so that the first upload does not fail)."""
        try:
            await self._call("head_bucket", lambda: self._s3.head_bucket(Bucket=self.bucket))
        except _Gone:
            await self._call("create_bucket", self._create_bucket)

    def _create_bucket(self) -> None:
        """Another registry replica starting at the same moment may create it first: done too."""
        try:
            self._s3.create_bucket(Bucket=self.bucket)
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
                raise

    async def start_multipart(self, key: str) -> str:
        response = await self._call(
            "create_multipart_upload", lambda: self._s3.create_multipart_upload(Bucket=self.bucket, Key=key)
        )
        return str(response["UploadId"])

    async def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> str:
        response = await self._call(
            "upload_part",
            lambda: self._s3.upload_part(Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data),
        )
        return str(response["ETag"])

    async def complete_multipart(self, key: str, upload_id: str, etags: Sequence[str]) -> None:
        parts = [{"PartNumber": number, "ETag": etag} for number, etag in enumerate(etags, start=1)]
        await self._call(
            "complete_multipart_upload",
            lambda: self._s3.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            ),
        )

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        await self._idempotent(
            "abort_multipart_upload",
            lambda: self._s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id),
        )

    async def put(self, key: str, data: bytes) -> None:
        await self._call("put_object", lambda: self._s3.put_object(Bucket=self.bucket, Key=key, Body=data))

    async def read(self, key: str, start: int, length: int) -> bytes:
        def get() -> bytes:
            response = self._s3.get_object(Bucket=self.bucket, Key=key, Range=f"bytes={start}-{start + length - 1}")
            return bytes(response["Body"].read())

        data = await self._call("get_object", get)
        if len(data) != length:
            raise BackendUnavailableError(f"S3 returned {len(data)} bytes of {key} instead of {length}")
        return data

    async def delete(self, key: str) -> None:
        await self._idempotent("delete_object", lambda: self._s3.delete_object(Bucket=self.bucket, Key=key))

    def _lister(self, operation: str, params: dict[str, Any]) -> Callable[[], dict[str, Any]]:
        method, frozen = getattr(self._s3, operation), dict(params)
        return lambda: dict(method(**frozen))

    async def multipart_uploads(self) -> AsyncIterator[tuple[str, str, datetime]]:
        params: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self._prefix}
        while True:
            page = await self._call("list_multipart_uploads", self._lister("list_multipart_uploads", params))
            for upload in page.get("Uploads", []):
                yield upload["Key"], upload["UploadId"], upload["Initiated"]
            if not page.get("IsTruncated"):
                return
            params["KeyMarker"], params["UploadIdMarker"] = page["NextKeyMarker"], page["NextUploadIdMarker"]

    async def objects(self) -> AsyncIterator[tuple[str, datetime]]:
        params: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self._prefix}
        while True:
            page = await self._call("list_objects_v2", self._lister("list_objects_v2", params))
            for item in page.get("Contents", []):
                yield item["Key"], item["LastModified"]
            if not page.get("IsTruncated"):
                return
            params["ContinuationToken"] = page["NextContinuationToken"]
