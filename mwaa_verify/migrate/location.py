"""Where an export lives: a local directory or an S3 prefix (s3://bucket/prefix)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from mwaa_verify import ownership
from mwaa_verify.errors import ExportError


@dataclass(frozen=True)
class Location:
    text: str

    @property
    def is_s3(self) -> bool:
        return self.text.startswith("s3://")

    def bucket_and_prefix(self) -> tuple[str, str]:
        bucket, _, prefix = self.text.removeprefix("s3://").partition("/")
        if not bucket:
            raise ExportError(f"{self.text!r} names no bucket; write it as s3://bucket/prefix")
        return bucket, prefix.strip("/")

    def __str__(self) -> str:
        return self.text

    def check_reachable(self, for_writing: bool) -> None:
        """Fail fast, before any slow work, when the location cannot be used."""
        if self.is_s3:
            bucket, _ = self.bucket_and_prefix()
            _s3().head_bucket(Bucket=bucket)  # credentials, region and bucket, in one call
        elif not for_writing and not (Path(self.text) / "manifest.json").is_file():
            raise ExportError(
                f"{self.text} holds no manifest.json; point at a directory written by `mwaa-verify export`"
            )


def _s3():
    import boto3

    return boto3.client("s3")


@contextmanager
def staged_for_writing(location: Location) -> Iterator[Path]:
    """A local directory to write an export into; it appears at `location` only when the block succeeds,
    so a failed or interrupted export never leaves a half-written one behind under the final name."""
    if location.is_s3:
        with ownership.owned_dir("export") as scratch:
            yield Path(scratch)
            bucket, prefix = location.bucket_and_prefix()
            client = _s3()
            files = sorted(Path(scratch).iterdir(), key=lambda path: path.name == "manifest.json")
            for path in files:  # the manifest last: a reader never sees it before the files it lists
                client.upload_file(str(path), bucket, f"{prefix}/{path.name}" if prefix else path.name)
        return
    final = Path(location.text)
    if final.exists() and any(final.iterdir()) and not (final / "manifest.json").exists():
        raise ExportError(f"{final} exists and is not an export; choose an empty or new directory")
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.with_name(final.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    try:
        yield partial
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)


@contextmanager
def fetched_for_reading(location: Location) -> Iterator[Path]:
    """A local directory holding the export at `location`."""
    if not location.is_s3:
        path = Path(location.text)
        if not (path / "manifest.json").is_file():
            raise ExportError(f"{path} holds no manifest.json; point at a directory written by `mwaa-verify export`")
        yield path
        return
    bucket, prefix = location.bucket_and_prefix()
    client = _s3()
    with ownership.owned_dir("import") as scratch:
        paginator = client.get_paginator("list_objects_v2")
        found = False
        for page in paginator.paginate(Bucket=bucket, Prefix=f"{prefix}/" if prefix else ""):
            for item in page.get("Contents", []):
                name = item["Key"].rsplit("/", 1)[-1]
                client.download_file(bucket, item["Key"], str(Path(scratch) / name))
                found = found or name == "manifest.json"
        if not found:
            raise ExportError(f"{location} holds no manifest.json; point at a prefix written by `mwaa-verify export`")
        yield Path(scratch)
