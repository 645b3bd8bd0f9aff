"""Language detection: py3langid restricted to the configured languages, with the source's hint first."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import py3langid.langid as _langid

# Long texts add little certainty and cost linear time; the head decides.
MAX_CHARS = 600


class LanguageDetector:
    """Restricting the model to the languages a brand expects is both faster and more accurate."""

    def __init__(self, languages: Sequence[str]) -> None:
        self.languages = tuple(languages)
        self._identifier = _langid.LanguageIdentifier.from_model_file(_langid.MODEL_FILE, norm_probs=True)
        known = set(self._identifier.nb_classes)
        usable = [lang for lang in self.languages if lang in known]
        if usable:
            self._identifier.set_languages(usable)
        self._lock = threading.Lock()

    def detect(self, text: str, hint: str | None = None) -> str | None:
        if hint:
            code = hint.strip().lower().replace("_", "-").split("-", 1)[0]
            if code in self.languages:
                return code
        sample = text[:MAX_CHARS].strip()
        if not sample:
            return hint.split("-", 1)[0].lower() if hint else None
        with self._lock:  # the identifier keeps scratch state; cheap insurance for threaded callers
            lang, _prob = self._identifier.classify(sample)
        return str(lang)
