"""Acoustic features of one window of speech, in numpy: the one implementation that training
(training/train_voice.py) and analysis both call, so the model never sees features computed
differently from those it learnt on.

Per 10 ms frame: a log-mel spectrogram (librosa-compatible: Slaney mel scale and area norm,
so training can cross-check it against librosa), MFCCs from it, frame energy, spectral shape
(centroid, flatness, roll-off, flux, the share of energy above 1 kHz) and F0 from YIN. A window
becomes one vector of statistics (functionals) over its frames.

Loudness is heard only relative to the window itself (energy minus its 95th percentile; MFCC
c0 is left out): a microphone's gain or distance must not read as anger. F0 is kept in
semitones, which does carry a speaker's register (and so sex); the per-group figures in the
model card show what that costs.
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16_000
N_FFT = 512
WIN_LENGTH = 400  # 25 ms
HOP_LENGTH = 160  # 10 ms
N_MELS = 64
N_MFCC = 20
F0_MIN, F0_MAX = 60.0, 500.0
YIN_FRAME = 800  # 50 ms: two periods of the lowest F0 plus the integration window
YIN_THRESHOLD = 0.15
VOICED_BELOW = 0.35  # a frame whose YIN dip stays above this is unvoiced
SILENCE_DB = -60.0  # energy floor, relative to the window's 95th percentile
_EPS = 1e-10


def frames(signal: np.ndarray, length: int, hop: int) -> np.ndarray:
    """(n, length) strided view of ``signal``; a signal shorter than one frame is zero-padded."""
    if len(signal) < length:
        signal = np.pad(signal, (0, length - len(signal)))
    count = 1 + (len(signal) - length) // hop
    return np.lib.stride_tricks.sliding_window_view(signal, length)[::hop][:count]


def hann(length: int) -> np.ndarray:
    """Periodic Hann window (scipy's ``get_window('hann', n, fftbins=True)``)."""
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(length) / length)


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above (librosa's htk=False)."""
    hz = np.asarray(hz, np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(hz >= min_log_hz, min_log_mel + np.log(np.maximum(hz, _EPS) / min_log_hz)
                    / logstep, hz / f_sp)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(mel >= min_log_mel, min_log_hz * np.exp(logstep * (mel - min_log_mel)),
                    f_sp * mel)


def mel_filterbank(sr: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS
                   ) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangular filters, area-normalised (librosa's norm='slaney')."""
    fft_hz = np.linspace(0, sr / 2, n_fft // 2 + 1)
    mel_hz = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sr / 2), n_mels + 2))
    widths = np.diff(mel_hz)
    ramps = mel_hz[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_hz[2:] - mel_hz[:-2]))[:, None]
    return weights.astype(np.float32)


_MEL = mel_filterbank()
_WINDOW = np.pad(hann(WIN_LENGTH), ((N_FFT - WIN_LENGTH) // 2,) * 2).astype(np.float32)
_FFT_HZ = np.linspace(0, SAMPLE_RATE / 2, N_FFT // 2 + 1)


def power_spectrogram(signal: np.ndarray) -> np.ndarray:
    """(frames, n_fft // 2 + 1) power of 25 ms Hann frames every 10 ms (librosa center=False)."""
    x = frames(np.asarray(signal, np.float32), N_FFT, HOP_LENGTH) * _WINDOW
    magnitude = np.abs(np.fft.rfft(x, axis=1)).astype(np.float32, copy=False)
    return np.square(magnitude, out=magnitude)


def log_mel(power: np.ndarray) -> np.ndarray:
    """(frames, n_mels) in dB (librosa's power_to_db with ref 1, amin 1e-10, no top_db)."""
    return 10.0 * np.log10(np.maximum(power @ _MEL.T, _EPS))


def dct_matrix(n_in: int = N_MELS, n_out: int = N_MFCC) -> np.ndarray:
    """Orthonormal DCT-II, (n_in, n_out): what librosa.feature.mfcc applies to the dB mels."""
    k = np.arange(n_out)[None, :]
    n = np.arange(n_in)[:, None]
    basis = np.cos(np.pi / n_in * (n + 0.5) * k) * np.sqrt(2.0 / n_in)
    basis[:, 0] /= np.sqrt(2.0)
    return basis.astype(np.float32)


_DCT = dct_matrix()


def mfcc(mel_db: np.ndarray) -> np.ndarray:
    """(frames, n_mfcc) cepstra of a dB log-mel spectrogram."""
    return mel_db @ _DCT


def _half_rate(signal: np.ndarray) -> np.ndarray:
    """8 kHz copy for YIN (F0 is far below 4 kHz): a windowed-sinc low-pass, every 2nd sample.

    ``np.convolve(signal, _HALFBAND, mode="same")[::2]``, computed in two polyphase halves so
    that the odd outputs, thrown away, are never computed (half the multiplications).
    """
    if len(signal) < len(_HALFBAND):  # np.convolve's "same" then follows the taps' length
        return np.convolve(signal, _HALFBAND, mode="same")[::2]
    half = len(_HALFBAND) // 2
    padded = np.pad(signal, half)
    count = (len(signal) + 1) // 2
    even = np.correlate(padded[0::2], _REVERSED[0::2], mode="valid")[:count]
    return even + np.correlate(padded[1::2], _REVERSED[1::2], mode="valid")[:count]


_TAPS = np.arange(-15, 16)
_HALFBAND = (np.sinc(_TAPS * 0.45) * 0.45 * np.hamming(len(_TAPS))).astype(np.float64)
_HALFBAND /= _HALFBAND.sum()
_REVERSED = _HALFBAND[::-1].copy()  # convolution is correlation with the taps reversed


def yin_f0(signal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(F0 in Hz, dip) per 10 ms frame by YIN (de Cheveigné and Kawahara 2002) at 8 kHz, whose
    frames line up with the spectrogram's; F0 is NaN where the frame is unvoiced (dip too high)."""
    rate = SAMPLE_RATE // 2
    lag_min = int(rate / F0_MAX)
    lag_max = int(np.ceil(rate / F0_MIN))
    length = YIN_FRAME // 2
    width = length - lag_max
    x = frames(_half_rate(np.asarray(signal, np.float64)), length, HOP_LENGTH // 2)
    x = x - x.mean(axis=1, keepdims=True)
    # Circular correlation at the frame's own length is the linear one for every lag searched
    # (head index + lag < width + lag_max + 1 = length: nothing wraps), at a cheaper FFT size
    # than padding to twice the frame: YIN is most of the voice path's CPU.
    spectrum = np.fft.rfft(x, axis=1)
    head = np.fft.rfft(x[:, :width], length, axis=1)
    # In place where it changes no result: fewer temporary arrays (x + y is y + x, bit for bit).
    np.conjugate(head, out=head)
    head *= spectrum
    corr = np.fft.irfft(head, length, axis=1)[:, : lag_max + 1]
    energy = np.zeros((len(x), length + 1))
    np.cumsum(x * x, axis=1, out=energy[:, 1:])
    diff = energy[:, width: width + lag_max + 1] - energy[:, : lag_max + 1]
    diff += energy[:, width:width + 1]
    corr *= 2
    diff -= corr
    np.maximum(diff, 0.0, out=diff)
    running = np.cumsum(diff[:, 1:], axis=1)
    running /= np.arange(1, lag_max + 1)
    # The cumulative mean normalised difference, only at the lags searched (lag_min and up).
    search = diff[:, lag_min:] / np.maximum(running[:, lag_min - 1:], _EPS)
    rows = np.arange(len(search))
    below = search < YIN_THRESHOLD
    # The first dip under the threshold, followed to its local minimum; else the deepest dip.
    lags = np.where(below.any(axis=1), below.argmax(axis=1), search.argmin(axis=1))
    for _ in range(8):
        step = np.minimum(lags + 1, search.shape[1] - 1)
        better = search[rows, step] < search[rows, lags]
        if not better.any():
            break
        lags = np.where(better, step, lags)
    dip = search[rows, lags]
    # Parabolic interpolation between the neighbouring lags: 8 kHz steps are coarse at high F0.
    left = search[rows, np.maximum(lags - 1, 0)]
    right = search[rows, np.minimum(lags + 1, search.shape[1] - 1)]
    curve = left - 2 * dip + right
    offset = np.where(curve > _EPS, 0.5 * (left - right) / np.maximum(curve, _EPS), 0.0)
    f0 = rate / (lags + lag_min + np.clip(offset, -0.5, 0.5))
    return np.where(dip < VOICED_BELOW, f0, np.nan), dip


def frame_descriptors(signal: np.ndarray, power: np.ndarray | None = None,
                      pitch: tuple[np.ndarray, np.ndarray] | None = None
                      ) -> dict[str, np.ndarray]:
    """Per-frame low-level descriptors of a 16 kHz mono float signal; ``power`` and ``pitch``
    (power_spectrogram's and yin_f0's results for this very signal) where the caller has them."""
    if power is None:
        power = power_spectrogram(signal)
    mel_db = log_mel(power)
    total = power.sum(axis=1) + _EPS
    energy_db = 10 * np.log10(total)
    cumulative = np.cumsum(power, axis=1)
    rolloff = _FFT_HZ[np.minimum((cumulative < 0.85 * total[:, None]).sum(axis=1),
                                 len(_FFT_HZ) - 1)]
    magnitude = np.sqrt(power)
    flux = np.r_[0.0, np.sqrt((np.diff(magnitude / magnitude.sum(1, keepdims=True).clip(_EPS),
                                       axis=0) ** 2).sum(axis=1))]
    f0, dip = yin_f0(signal) if pitch is None else pitch
    n = min(len(power), len(f0))
    return {
        "mel_db": mel_db[:n],
        "mfcc": mfcc(mel_db)[:n],
        "energy_db": energy_db[:n],
        "centroid": ((power @ _FFT_HZ) / total)[:n] / 1000.0,
        "flatness": (np.exp(np.log(power + _EPS).mean(axis=1)) / (total / power.shape[1]))[:n],
        "rolloff": rolloff[:n] / 1000.0,
        "flux": flux[:n],
        "high_share": (power[:, _FFT_HZ >= 1000].sum(axis=1) / total)[:n],
        "f0_semitones": 12 * np.log2(f0[:n] / 100.0),
        "dip": dip[:n],
    }


def percentiles(ordered: np.ndarray, q: np.ndarray | float) -> np.ndarray:
    """``np.percentile(values, q * 100)`` (method "linear") of ``ordered = np.sort(values)``,
    bit for bit: numpy's own index, interpolation and NaN arithmetic, but one sort serves
    every percentile of a series instead of one partition per ``np.percentile`` call.

    ``q`` in [0, 1]: an array as numpy divides a list of percentiles by 100 (float64 maths),
    or a Python float as it divides a scalar one (arithmetic in the values' own dtype).
    """
    n = len(ordered)
    virtual = (n - 1) * np.asarray(q, np.float64)
    previous = np.floor(np.atleast_1d(virtual))
    following = previous + 1
    top = np.atleast_1d(virtual >= n - 1)
    previous[top] = following[top] = -1
    previous, following = previous.astype(np.intp), following.astype(np.intp)
    gamma = virtual - (previous if np.ndim(q) else previous[0])
    t = gamma if np.ndim(q) else float(gamma)
    low, high = ordered[previous], ordered[following]
    step = high - low
    out = np.add(low, step * t)
    np.subtract(high, step * (1 - t), out=out, where=np.asarray(t) >= 0.5, casting="unsafe",
                dtype=type(out.dtype))
    if np.isnan(ordered[-1]):  # NaN sorts last; numpy's percentiles of it are all NaN
        out[...] = ordered[-1]
    return out if np.ndim(q) else out[0]


_STAT_Q = np.array([10, 50, 90]) / 100  # np.percentile's own q / 100: the same float64 bits
_RANGE_Q = np.array([5, 95]) / 100


def _stats(values: np.ndarray, ordered: np.ndarray | None = None) -> list[float]:
    """mean, std, 10th, 50th and 90th percentile (zeros for an empty series); ``ordered``:
    ``np.sort(values)`` where the caller has it."""
    if values.size == 0:
        return [0.0] * 5
    p10, p50, p90 = percentiles(np.sort(values) if ordered is None else ordered, _STAT_Q)
    return [float(values.mean()), float(values.std()), float(p10), float(p50), float(p90)]


def _slope(values: np.ndarray, times: np.ndarray) -> float:
    """Least-squares slope per second (0 for fewer than three points)."""
    if len(values) < 3:
        return 0.0
    t = times - times.mean()
    return float((t * (values - values.mean())).sum() / max((t * t).sum(), _EPS))


FEATURE_NAMES: tuple[str, ...] = (
    *[f"mfcc{i}_{s}" for i in range(1, N_MFCC) for s in ("mean", "std")],
    *[f"dmfcc{i}_std" for i in range(1, N_MFCC)],
    *[f"{d}_{s}" for d in ("energy", "denergy", "centroid", "flatness", "rolloff", "flux",
                            "high_share", "f0", "df0")
      for s in ("mean", "std", "p10", "p50", "p90")],
    "f0_range", "f0_slope", "energy_slope", "voiced_share", "voiced_runs_per_s",
    "loud_share", "dip_mean",
    *[f"mel{i}_shape" for i in range(0, N_MELS, 4)],
)


def window_features(signal: np.ndarray, power: np.ndarray | None = None,
                    pitch: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """One float32 vector (FEATURE_NAMES order) describing a window of 16 kHz mono speech
    (``power``, ``pitch``: as frame_descriptors takes them)."""
    d = frame_descriptors(signal, power, pitch)
    energy = d["energy_db"] - percentiles(np.sort(d["energy_db"]), 0.95)
    loud = energy > SILENCE_DB + 30  # within 30 dB of the window's loud frames
    keep = loud if loud.sum() >= 3 else np.ones_like(loud)
    times = np.arange(len(energy)) * HOP_LENGTH / SAMPLE_RATE
    cep = d["mfcc"][keep, 1:]
    dcep = np.diff(d["mfcc"][:, 1:], axis=0)
    voiced = ~np.isnan(d["f0_semitones"]) & keep
    f0 = d["f0_semitones"][voiced]
    df0 = np.diff(d["f0_semitones"])
    df0 = df0[~np.isnan(df0)]
    runs = np.count_nonzero(np.diff(voiced.astype(np.int8)) == 1) + int(voiced[:1].any())
    seconds = max(len(signal) / SAMPLE_RATE, _EPS)
    shape = d["mel_db"][keep].mean(axis=0)
    shape = shape - shape.mean()
    # Per coefficient, each a contiguous row: the same sums as column by column, in one call.
    rows = np.ascontiguousarray(cep.T)
    out = np.stack([rows.mean(axis=1), rows.std(axis=1)], axis=1).reshape(-1).tolist()
    out += (dcep.std(axis=0) if len(dcep) else np.zeros(N_MFCC - 1)).tolist()
    for series in (energy[keep], np.diff(energy), d["centroid"][keep], d["flatness"][keep],
                   d["rolloff"][keep], d["flux"][keep], d["high_share"][keep]):
        out += _stats(series)
    f0_sorted = np.sort(f0)
    out += _stats(f0, f0_sorted) + _stats(df0)
    out += [
        float(np.ptp(percentiles(f0_sorted, _RANGE_Q))) if f0.size else 0.0,
        _slope(f0, times[voiced]),
        _slope(energy[keep], times[keep]),
        float(voiced.mean()),
        runs / seconds,
        float(loud.mean()),
        float(d["dip"][keep].mean()),
    ]
    out += shape.reshape(N_MELS // 4, 4).mean(axis=1).tolist()
    vector = np.asarray(out, np.float32)
    assert len(vector) == len(FEATURE_NAMES)
    return np.nan_to_num(vector, nan=0.0, posinf=0.0, neginf=0.0)


# Half-band taps either side of a sample: an F0 frame of a window reads this far past its own
# samples, so the frames this near a window's edges see zeros alone and the signal's samples
# within a longer signal.
_REACH = len(_HALFBAND) // 2


def overlapping_features(signal: np.ndarray, bounds: list[tuple[int, int]]) -> np.ndarray:
    """(len(bounds), features): ``window_features(signal[a:b])`` for each (a, b) in samples,
    bit for bit, with the spectrogram and the F0 track computed once over ``signal`` (the
    windows of one stretch of speech overlap) and each window reading its own frames.

    That holds where a window starts on the signal's 10 ms frame grid (else it is computed
    alone). The F0 frames within the half-band filter's reach of a window's edges, which see
    zeros beyond the window alone and samples within the signal, are recomputed from the
    window's own samples: its first frame, and the last one or two.
    """
    if len(bounds) < 2:
        return np.stack([window_features(signal[a:b]) for a, b in bounds])
    power = power_spectrogram(signal)
    f0, dip = yin_f0(signal)
    hop = HOP_LENGTH
    out = []
    for a, b in bounds:
        window = signal[a:b]
        length = len(window)
        first = a // hop
        n_power = 1 + (length - N_FFT) // hop
        n_pitch = 1 + ((length + 1) // 2 - YIN_FRAME // 2) // (hop // 2)
        # The first F0 frame that reads past the window's end (160 j + 800 + reach > length).
        tail = max(0, (length - YIN_FRAME - _REACH) // hop + 1)
        if (a % hop or tail < 2 or first + n_pitch > len(f0)
                or first + n_power > len(power)):
            out.append(window_features(window))
            continue
        pitch = f0[first:first + n_pitch].copy(), dip[first:first + n_pitch].copy()
        if a > 0:  # frame 0 alone from the window's head
            head = yin_f0(window[:YIN_FRAME + 2 * _REACH])
            pitch[0][0], pitch[1][0] = head[0][0], head[1][0]
        if b < len(signal) and tail < n_pitch:  # from frame tail - 1: tail on, read the end
            start = (tail - 1) * hop
            end = yin_f0(window[start:])
            pitch[0][tail:], pitch[1][tail:] = end[0][1:], end[1][1:]
        out.append(window_features(window, power[first:first + n_power], pitch))
    return np.stack(out)
