"""Synthetic speech from espeak-ng, espeak-ng + MBROLA voices, flite and festival.

Tools are system packages (``scripts/debian-packages.txt``); voice data that is not
part of them (MBROLA voices, festival voices and lexicons, the ``mbrola`` binary)
comes from the source cache. Every utterance is written by the tool to a temporary
WAV file and decoded to 16 kHz by ``cola_common.audio_files.load_audio``.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cola_common.audio_files import AudioError, load_audio
from cola_suite import dsp
from cola_suite.sources import SourceCache, SourceError, require_tool

log = logging.getLogger(__name__)

FESTIVAL_PACKAGES = ("festlex-cmu", "festlex-poslex", "festvox-kallpc16k", "festvox-kdlpc16k", "festvox-us-slt-hts")
FESTIVAL_VOICES = {  # voice -> (path under usr/share/festival/voices, default mean f0 or 0 for "no pitch control")
    "kal_diphone": ("english/kal_diphone", 105),
    "ked_diphone": ("english/ked_diphone", 105),
    "cmu_us_slt_arctic_hts": ("us/cmu_us_slt_arctic_hts", 0),
}
FLITE_F0 = {"kal": 105, "kal16": 105, "awb": 110, "rms": 100, "slt": 170}  # approximate mean f0 of each voice


@dataclass(frozen=True)
class Voice:
    """One synthetic voice. ``speaker`` names the underlying recorded speaker (kal in flite and festival
    is one person), which is what splits group by."""

    engine: str  # "espeak", "mbrola", "flite" or "festival"
    name: str  # espeak voice ("en-us+m3", "mb-de1-en"), flite voice ("slt") or festival voice ("kal_diphone")
    speaker: str

    @property
    def id(self) -> str:
        return f"{self.engine}:{self.name}"

    @property
    def packages(self) -> tuple[str, ...]:
        """Cached sources this voice needs."""
        if self.engine == "mbrola":
            return ("mbrola", f"mbrola-{self.mbrola_database}")
        if self.engine == "festival":
            return FESTIVAL_PACKAGES
        return ()

    @property
    def tool(self) -> str:
        return {"espeak": "espeak-ng", "mbrola": "espeak-ng", "flite": "flite", "festival": "festival"}[self.engine]

    @property
    def mbrola_database(self) -> str:
        return self.name.split("-")[1]  # mb-de1-en -> de1


@dataclass(frozen=True)
class Utterance:
    voice: Voice
    text: str
    rate: float = 1.0  # speaking-rate factor (>1 faster)
    pitch: float = 1.0  # factor on the voice's mean pitch


class Synthesizer:
    """Turns utterances into 16 kHz audio; ``None`` for an utterance the tool could not say."""

    def __init__(self, cache: SourceCache, jobs: int = 2) -> None:
        self.cache = cache
        self.jobs = jobs
        self._espeak_home: Path | None = None

    def synthesize(self, utterances: Sequence[Utterance]) -> list[np.ndarray | None]:
        results: list[np.ndarray | None] = [None] * len(utterances)
        festival: dict[Voice, list[int]] = defaultdict(list)
        single: list[int] = []
        for i, u in enumerate(utterances):
            (festival[u.voice].append(i) if u.voice.engine == "festival" else single.append(i))
        if any(utterances[i].voice.engine == "mbrola" for i in single):
            self._prepare_mbrola({utterances[i].voice for i in single if utterances[i].voice.engine == "mbrola"})
        with tempfile.TemporaryDirectory(prefix="cola-tts-") as tmp, ThreadPoolExecutor(self.jobs) as pool:
            jobs = [pool.submit(self._one, utterances[i], Path(tmp) / f"{i}.wav") for i in single]
            jobs += [
                pool.submit(self._festival, [utterances[i] for i in idx], Path(tmp), idx) for idx in festival.values()
            ]
            for i, job in zip(single, jobs[: len(single)], strict=True):
                results[i] = job.result()
            for idx, job in zip(festival.values(), jobs[len(single) :], strict=True):
                for i, audio in zip(idx, job.result(), strict=True):
                    results[i] = audio
        return results

    # ---- engines ----------------------------------------------------------------------------
    def _one(self, u: Utterance, wav: Path) -> np.ndarray | None:
        env = None
        if u.voice.engine in ("espeak", "mbrola"):
            speed = round(175 * u.rate)
            pitch = int(np.clip(round(50 + (u.pitch - 1.0) * 100), 0, 99))
            cmd = [require_tool("espeak-ng"), "-v", u.voice.name, "-s", str(speed), "-p", str(pitch), "-w", str(wav)]
            cmd += ["--", u.text]
            if u.voice.engine == "mbrola":
                mbrola_bin = self.cache.deb("mbrola") / "usr" / "bin"
                env = {
                    **os.environ,
                    "ESPEAK_DATA_PATH": str(self._espeak_home),
                    "PATH": f"{mbrola_bin}:{os.environ['PATH']}",
                }
        elif u.voice.engine == "flite":
            f0 = FLITE_F0[u.voice.name] * u.pitch
            cmd = [require_tool("flite"), "-voice", u.voice.name, "--setf", f"duration_stretch={1.0 / u.rate:.4f}"]
            cmd += ["--setf", f"int_f0_target_mean={f0:.2f}", "-t", u.text, "-o", str(wav)]
        else:
            raise ValueError(f"unknown engine {u.voice.engine}")
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0 or "unknown" in proc.stderr.lower() or not wav.exists():
            log.debug("%s could not say %r: %s", u.voice.id, u.text, proc.stderr.strip()[:200])
            return None
        return _read(wav)

    def _festival(self, utts: list[Utterance], tmp: Path, idx: list[int]) -> list[np.ndarray | None]:
        root = self.cache.bundle("festival", FESTIVAL_PACKAGES) / "usr" / "share" / "festival"
        voice = utts[0].voice
        sub, f0 = FESTIVAL_VOICES[voice.name]
        lines = [
            f'(set! lexdir "{root / "dicts"}/")',
            "(set! pos_model_dir lexdir)",
            f'(load "{_festival_libdir() / "pos.scm"}")',
            f'(voice-location "{voice.name}" "{root / "voices" / sub}/" "cached voice")',
            f"(voice_{voice.name})",
        ]
        wavs = []
        for i, u in zip(idx, utts, strict=True):
            wav = tmp / f"{i}.wav"
            wavs.append(wav)
            lines.append(f"(Parameter.set 'Duration_Stretch {1.0 / u.rate:.4f})")
            if f0:
                lines.append(
                    f"(set! int_lr_params '((target_f0_mean {f0 * u.pitch:.2f}) (target_f0_std 14) "
                    "(model_f0_mean 170) (model_f0_std 34)))"
                )
            text = re.sub(r'["\\]', " ", u.text)
            lines.append(f'(set! utt (SynthText "{text}"))')
            lines.append(f'(utt.save.wave utt "{wav}" \'riff)')
        script = tmp / f"festival-{voice.name}-{idx[0]}.scm"
        script.write_text("\n".join(lines) + "\n")
        proc = subprocess.run([require_tool("festival"), "--batch", str(script)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise SourceError(f"festival failed for {voice.name}: {proc.stderr.strip()[-400:]}")
        return [_read(w) if w.exists() else None for w in wavs]

    def _prepare_mbrola(self, voices: set[Voice]) -> None:
        """A private espeak-ng data folder: the system's data plus ``mbrola/<db>`` links to cached voices."""
        roots = self.cache.debs(["mbrola", *sorted({f"mbrola-{v.mbrola_database}" for v in voices})])
        home = self.cache.root / "unpacked" / "espeak-ng-home"
        data = home / "espeak-ng-data"
        (data / "mbrola").mkdir(parents=True, exist_ok=True)
        system = espeak_data_dir()
        links = [(data / e.name, e) for e in system.iterdir() if e.name != "mbrola"]
        for v in voices:
            db = v.mbrola_database
            target = roots[f"mbrola-{db}"] / "usr" / "share" / "mbrola" / db / db
            if not target.exists():
                raise SourceError(f"mbrola-{db} holds no voice file {target}")
            links.append((data / "mbrola" / db, target))
        for link, target in links:
            if not (link.is_symlink() and link.resolve() == target.resolve()):
                tmp = link.with_name(f".{link.name}.{os.getpid()}")
                tmp.unlink(missing_ok=True)
                tmp.symlink_to(target)
                os.replace(tmp, link)  # atomic: safe when several builds prepare the folder at once
        self._espeak_home = home


def espeak_data_dir() -> Path:
    """Where the installed espeak-ng keeps its data (from ``espeak-ng --version``)."""
    out = subprocess.run([require_tool("espeak-ng"), "--version"], capture_output=True, text=True).stdout
    match = re.search(r"Data at:\s*(\S+)", out)
    if not match:
        raise SourceError(f"cannot find espeak-ng's data folder in {out!r}")
    return Path(match.group(1))


def espeak_variants() -> set[str]:
    """Names of the installed espeak-ng voice variants (``+m3``, ``+Alex``...)."""
    return {p.name for p in (espeak_data_dir() / "voices" / "!v").iterdir()}


def _festival_libdir() -> Path:
    return Path("/usr/share/festival")


def _read(wav: Path) -> np.ndarray | None:
    try:
        audio = load_audio(wav, sample_rate=16000)
    except AudioError:
        return None
    finally:
        wav.unlink(missing_ok=True)
    return audio if dsp.rms(audio) > 1e-4 else None
