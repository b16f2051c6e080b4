"""Voice analysis settings: their defaults live here and nowhere else (AnalysisConfig.voice)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from affectlens.vocabulary import VOICE_PURPOSES


class VoiceSettings(BaseModel):
    """Tone of voice in recorded sessions: runs only where the job's purpose is one of
    VOICE_PURPOSES (consented_research); for any other purpose nothing here is used."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(
        True, description=f"Analyse the audio of videos and audio files (purposes: "
        f"{', '.join(sorted(VOICE_PURPOSES))} only; the model is research-only).",
    )
    vad_aggressiveness: int = Field(
        1, ge=0, le=3, description="WebRTC VAD mode: 0 hears the most speech (and noise), "
        "3 the least. Above 1 it cuts short utterances below min_window_s (docs/voice.md).",
    )
    min_window_s: float = Field(
        1.0, gt=0, description="Speech segments shorter than this are not classified.",
    )
    max_window_s: float = Field(
        4.0, gt=0, description="A segment up to this long is one window; longer ones are cut.",
    )
    window_s: float = Field(3.0, gt=0, description="Window length within a long segment.")
    hop_s: float = Field(1.5, gt=0, description="At most this far between windows' starts.")
    bridge_s: float = Field(
        0.5, ge=0, description="Pauses shorter than this join two stretches of speech.",
    )
    min_confidence: float | None = Field(
        None, ge=0, le=1, description="Below this calibrated probability a window is "
        "'uncertain'. None: the voice model's fitted threshold.",
    )

    @model_validator(mode="after")
    def _windows_fit(self) -> VoiceSettings:
        if not self.min_window_s <= self.window_s <= self.max_window_s:
            raise ValueError("voice windows need min_window_s <= window_s <= max_window_s")
        if self.hop_s > self.window_s:
            raise ValueError("voice hop_s must not exceed window_s (speech would be skipped)")
        return self
