"""Files of content jobs: downloaded media stored once per job, kind and index."""

import hashlib
import logging
import tempfile

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError

from ai.models import AssetKind, ContentAsset, ContentJob
from ai.providers import media as media_provider
from ai.services.jobs import EXTENSIONS, asset_files_delete
from flowmatik.errors import ApplicationError

logger = logging.getLogger("flowmatik.ai")


def asset_max_bytes(kind: str) -> int:
    limits: dict[str, int] = {
        AssetKind.IMAGE: settings.STUDIO_IMAGE_MAX_BYTES,
        AssetKind.AUDIO: settings.STUDIO_AUDIO_MAX_BYTES,
        AssetKind.VIDEO: settings.STUDIO_VIDEO_MAX_BYTES,
    }
    return limits[kind]


def asset_store(
    job: ContentJob, *, kind: str, index: int, download: media_provider.DownloadedFile
) -> None:
    """Save a downloaded file under studio/<user>/<job>/ (once per job+kind+index)."""
    try:
        if ContentAsset.objects.filter(job=job, kind=kind, index=index).exists():
            return
        extension = EXTENSIONS.get(download.content_type, "bin")
        name = f"studio/{job.user_id}/{job.pk}/{kind}-{index}.{extension}"
        stored = default_storage.save(name, File(download.file, name=name))
        try:
            ContentAsset.objects.create(
                job=job,
                user_id=job.user_id,
                kind=kind,
                index=index,
                file=stored,
                content_type=download.content_type,
                size_bytes=download.size,
                sha256=download.sha256,
            )
        except IntegrityError:  # a concurrent run stored it first
            default_storage.delete(stored)
    finally:
        download.file.close()


def assets_drop(job: ContentJob) -> None:
    """Remove the files of a job canceled while it ran."""
    names = list(
        ContentAsset.objects.filter(job_id=job.pk).values_list("file", flat=True)
    )
    ContentAsset.objects.filter(job_id=job.pk).delete()
    asset_files_delete(names)


def speech_file(
    speech: media_provider.GeneratedSpeech,
) -> media_provider.DownloadedFile:
    content_type = speech.content_type.split(";")[0].strip().lower()
    if not content_type.startswith("audio/"):
        raise ApplicationError(
            "The provider returned audio of an unexpected type.",
            code="asset_invalid_type",
            status_code=502,
        )
    if len(speech.audio) > settings.STUDIO_AUDIO_MAX_BYTES or not speech.audio:
        raise ApplicationError(
            "The generated audio is empty or larger than allowed.",
            code="asset_too_large" if speech.audio else "asset_invalid",
            status_code=502,
        )
    spool = tempfile.SpooledTemporaryFile()  # noqa: SIM115 - closed by _asset_store
    spool.write(speech.audio)
    spool.seek(0)
    return media_provider.DownloadedFile(
        spool, len(speech.audio), hashlib.sha256(speech.audio).hexdigest(), content_type
    )
