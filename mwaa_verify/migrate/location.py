"""Where an export or a snapshot lives: a local directory or an S3 prefix (s3://bucket/prefix).

Either is a tree of files with one manifest at its top (`manifest.json` for an export, `snapshot.json` for a
snapshot), written last so that a reader never sees a manifest before the files it lists."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mwaa_verify import ownership
from mwaa_verify.errors import ConfigError, ExportError

# S3's rules for general purpose bucket names: 3-63 characters, lowercase letters, digits, dots and hyphens,
# starting and ending with a letter or digit, no two adjacent dots, not an IP address
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_ADDRESS = re.compile(r"^\d+\.\d+\.\d+\.\d+$")


def bucket_problem(name: str) -> str | None:
    """Why `name` cannot be an S3 bucket name, or None: checked locally, before any AWS call."""
    if not _BUCKET.match(name) or ".." in name or _IP_ADDRESS.match(name):
        return (
            f"{name!r} is not a valid S3 bucket name (3-63 lowercase letters, digits, dots or hyphens, starting "
            f"and ending with a letter or digit)"
        )
    return None


MANIFEST = "manifest.json"
SNAPSHOT_MANIFEST = "snapshot.json"


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
        problem = bucket_problem(bucket)
        if problem:
            raise ExportError(f"{self.text}: {problem}; write it as s3://bucket/prefix")
        return bucket, prefix.strip("/")

    def __str__(self) -> str:
        return self.text

    def check_reachable(self, for_writing: bool, manifest: str | None = MANIFEST) -> None:
        """Fail fast, before any slow work, when the location cannot be used: for an export, a snapshot
        (`manifest` snapshot.json) or a backup that has no manifest of ours (None)."""
        what, command = {
            SNAPSHOT_MANIFEST: ("a snapshot", "`mwaa-verify snapshot`"),
            None: ("a backup", "the backup tool"),
        }.get(manifest, ("an export", "`mwaa-verify export`"))
        if not self.is_s3 and re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", self.text):
            raise ExportError(
                f"{self.text!r} is neither a directory nor an S3 location; write s3://bucket/prefix (lowercase "
                f"s3, two slashes) or a directory path"
            )
        if self.is_s3:
            bucket, _ = self.bucket_and_prefix()
            _check_bucket(bucket, self.text)
        elif for_writing:
            from mwaa_verify.directories import check_writable_directory

            final = Path(self.text)
            if final.is_dir() and any(final.iterdir()) and not (manifest and (final / manifest).exists()):
                raise ExportError(f"{final} exists and is not {what}; choose an empty or new directory")
            try:
                check_writable_directory(final, f"{what.split()[-1]} destination")
            except ConfigError as exc:
                raise ExportError(str(exc)) from None
        elif not Path(self.text).is_dir():
            raise ExportError(
                f"{what.split()[-1]} {self.text} does not exist or is not a directory; point at a directory written "
                f"by {command}, or an s3://bucket/prefix"
            )
        elif manifest and not (Path(self.text) / manifest).is_file():
            raise ExportError(f"{self.text} holds no {manifest}; point at a directory written by {command}")


def _check_bucket(bucket: str, location: str) -> None:
    """Credentials, region and bucket in one call; a missing or forbidden bucket named with its fix (other AWS
    failures reach the caller, which names their fix)."""
    from botocore.exceptions import ClientError

    try:
        _s3().head_bucket(Bucket=bucket)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in {"404", "NoSuchBucket", "NotFound"}:
            raise ExportError(
                f"{location}: bucket {bucket!r} does not exist (or not in this partition); check the name, or "
                f"create the bucket first"
            ) from None
        if code in {"403", "AccessDenied", "Forbidden"}:
            raise ExportError(
                f"{location}: access to bucket {bucket!r} is denied to these credentials; grant them s3:ListBucket, "
                f"s3:GetObject and s3:PutObject on it, or use credentials that have them"
            ) from None
        raise


def _s3():
    import boto3

    # a session of its own: boto3's default one keeps the credentials it found first for the whole process
    return boto3.session.Session().client("s3")


@contextmanager
def staged_for_writing(
    location: Location, manifest: str = MANIFEST, upload_args: Mapping[str, Any] | None = None
) -> Iterator[Path]:
    """A local directory to write an export into; it appears at `location` only when the block succeeds,
    so a failed or interrupted export never leaves a half-written one behind under the final name.
    `upload_args`: S3 PutObject arguments for every object (server-side encryption with a customer key)."""
    what = "a snapshot" if manifest == SNAPSHOT_MANIFEST else "an export"
    if location.is_s3:
        with ownership.owned_dir("export") as scratch:
            yield Path(scratch)
            bucket, prefix = location.bucket_and_prefix()
            client = _s3()
            files = [path for path in Path(scratch).rglob("*") if path.is_file()]
            # the manifest last: a reader never sees it before the files it lists
            for path in sorted(files, key=lambda path: path.relative_to(scratch).as_posix() == manifest):
                relative = path.relative_to(scratch).as_posix()
                key = f"{prefix}/{relative}" if prefix else relative
                client.upload_file(str(path), bucket, key, ExtraArgs=dict(upload_args or {}))
        return
    final = Path(location.text)
    if final.exists() and any(final.iterdir()) and not (final / manifest).exists():
        raise ExportError(f"{final} exists and is not {what}; choose an empty or new directory")
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
def fetched_for_reading(location: Location, manifest: str | None = MANIFEST) -> Iterator[Path]:
    """A local directory holding the export (or snapshot, or backup without a manifest: None) at `location`."""
    command = "`mwaa-verify snapshot`" if manifest == SNAPSHOT_MANIFEST else "`mwaa-verify export`"
    if not location.is_s3:
        path = Path(location.text)
        if manifest is None and not path.is_dir():
            raise ExportError(f"{path} is not a directory; point at the folder that holds the backup")
        if manifest is not None and not (path / manifest).is_file():
            raise ExportError(f"{path} holds no {manifest}; point at a directory written by {command}")
        yield path
        return
    bucket, prefix = location.bucket_and_prefix()
    client = _s3()
    with ownership.owned_dir("import") as scratch:
        paginator = client.get_paginator("list_objects_v2")
        found = manifest is None
        start = f"{prefix}/" if prefix else ""
        for page in paginator.paginate(Bucket=bucket, Prefix=start):
            for item in page.get("Contents", []):
                relative = item["Key"][len(start) :]
                local = (Path(scratch) / relative).resolve()
                if not relative or item["Key"].endswith("/") or not local.is_relative_to(Path(scratch).resolve()):
                    continue
                local.parent.mkdir(parents=True, exist_ok=True)
                client.download_file(bucket, item["Key"], str(local))
                found = found or relative == manifest
        if not found:
            raise ExportError(f"{location} holds no {manifest}; point at a prefix written by {command}")
        yield Path(scratch)
