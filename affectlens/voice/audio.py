"""Audio in: the sound track of a video, or an audio file, as 16 kHz mono float32 in memory.

PyAV (FFmpeg) decodes every container and codec the video path does, and resamples; nothing
is written to disk. A file with no audio stream is not an error (most camera video has none):
``read_audio`` returns None and the caller says so in the summary.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from affectlens.errors import InputError
from affectlens.voice.features import SAMPLE_RATE

AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".mp3", ".m4a", ".ogg", ".opus", ".aac"})


@dataclass(frozen=True)
class Audio:
    """Mono samples in [-1, 1] at ``rate`` Hz, and the time of the first sample: seconds from
    the first video frame in a video (as frames.csv counts), else from the file's start."""

    samples: np.ndarray
    rate: int = SAMPLE_RATE
    start_s: float = 0.0

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.rate


def read_audio(path: Path, max_seconds: float | None = None) -> Audio | None:
    """The first audio stream of ``path``, or None if the file has none.

    Raises InputError, one line, for a file that is missing, is not media, or whose audio
    cannot be decoded at all. Decoding that fails part-way keeps what was decoded.
    """
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as exc:
        raise InputError(f"{path}: not readable audio or video ({_reason(exc)})") from exc
    try:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        # Seconds from the first video frame, the zero of frames.csv's time_s (VideoSource).
        start = _start_s(stream) - (_start_s(container.streams.video[0])
                                    if container.streams.video else 0.0)
        chunks = _decode(container, stream, path, max_seconds)
    finally:
        container.close()
    if not chunks:
        raise InputError(f"{path}: its audio stream holds no decodable sound")
    # A float stream may hold NaN or values past full scale; the VAD takes 16-bit samples.
    samples = np.clip(np.nan_to_num(np.concatenate(chunks)), -1.0, 1.0)
    return Audio(samples, SAMPLE_RATE, start)


def _start_s(stream: av.stream.Stream) -> float:
    return float(stream.start_time * stream.time_base) if stream.start_time else 0.0


# Decoded frames are resampled a second at a time: PyAV's resampler costs about as much per
# call as a short frame's conversion, so frame by frame it outweighed the decoding; FFmpeg's
# resampler carries its state between calls, so the samples are the same however they come.
BLOCK_S = 1.0


def _decode(container: av.container.InputContainer, stream: av.AudioStream, path: Path,
            max_seconds: float | None) -> list[np.ndarray]:
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    fifo = av.AudioFifo()
    chunks: list[np.ndarray] = []
    limit = None if max_seconds is None else int(max_seconds * SAMPLE_RATE)

    def convert(frame: av.AudioFrame | None) -> None:
        for out in resampler.resample(frame):
            chunks.append(out.to_ndarray().reshape(-1).astype(np.float32, copy=False))

    try:
        for frame in container.decode(stream):
            frame.pts = None  # the fifo checks timestamps are contiguous; the samples are kept
            fifo.write(frame)
            if fifo.samples >= BLOCK_S * fifo.sample_rate:
                convert(fifo.read())
                if limit is not None and sum(map(len, chunks)) >= limit:
                    break
    except (av.error.FFmpegError, ValueError) as exc:
        if not chunks and not fifo.samples:
            raise InputError(f"{path}: its audio cannot be decoded ({_reason(exc)})") from exc
    if fifo.samples:
        convert(fifo.read())
    convert(None)
    return chunks


def _reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc).splitlines()[0]
