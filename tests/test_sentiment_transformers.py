"""The optional transformers backend (extra ``[transformers]``) on tiny BERT models built here, offline.

No hub, no network: each model is a random 2-layer BERT whose classifier head is solved by least squares so
that chosen sentences give chosen logits. Every expected score, label and confidence below is therefore
softmax arithmetic on those logits, not the luck of a training run.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import main
from monitor.config import SentimentSettings, load_config
from monitor.enrich.sentiment import SentimentScorer, TransformersBackend, build_backend
from monitor.errors import ConfigError

OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS_TEXT = """
acme app apps update version store shop filiale kundendienst support service team preis price lieferung
delivery paket package bestellung order rechnung invoice konto account kunde customer mitarbeiter staff
der die das ein eine einen dem den des und oder aber nicht kein keine ist sind war waren wird werden hat
haben hatte mit von zu im in am an auf aus bei nach vor um für über unter heute gestern morgen jetzt immer
nie wieder schon noch sehr wirklich ganz total echt so zu viel wenig neue neuen neu alte alten ab uhr neun
zehn zwei drei version veröffentlicht öffnet schließt stürzt ständig warte warten stunden tage woche
super toll gut gute guter besser beste klasse prima schnell freundlich hilfreich zufrieden danke liebe
schlecht schlechter furchtbar schrecklich katastrophe mies langsam teuer kaputt ärgerlich enttäuscht
fehler problem probleme ausfall störung betrug abzocke okay ok normal
the a an and or but not no is are was were will be been has have had with of to in on at from by for
about after before today yesterday tomorrow now always never again already still very really quite so too
much little new old nine ten two three released opens closes crashes keeps waiting hours days week
great good better best love loved like nice fast friendly helpful happy thanks thank you excellent
bad worse worst awful terrible hate hated slow expensive broken annoying disappointed error issue outage
scam fine late i we they it this that my our your their
"""
WORDS = WORDS_TEXT.split()
CHARS = list("abcdefghijklmnopqrstuvwxyz0123456789")
PUNCT = list(".,!?;:'\"()-/#@&")
VOCAB = list(dict.fromkeys(SPECIALS + PUNCT + CHARS + WORDS + [f"##{c}" for c in CHARS]))   # any word: no [UNK]

NEG3: tuple[float, ...] = (3.0, 0.0, 0.0)
NEU3: tuple[float, ...] = (0.0, 3.0, 0.0)
POS3: tuple[float, ...] = (0.0, 0.0, 3.0)
THREE = {   # negative, neutral, positive
    "Acme ist super.": POS3,
    "Der Kundendienst war wirklich toll": POS3,
    "I love the new Acme app": POS3,
    "The new Acme app is great": POS3,          # 6 word tokens: exactly 8 with [CLS] and [SEP]
    "Acme ist furchtbar.": NEG3,
    "Die App stürzt ständig ab, furchtbar": NEG3,
    "The update is awful": NEG3,
    "I hate waiting for support": NEG3,
    "Die Filiale öffnet um neun Uhr": NEU3,
    "Acme hat heute eine neue Version veröffentlicht": NEU3,
    "The store opens at nine": NEU3,
}
# A winner 3 logits above two losers: P = e^3 / (e^3 + 2); score = P(pos) - P(neg).
P3 = math.exp(3) / (math.exp(3) + 2)
S3 = (math.exp(3) - 1) / (math.exp(3) + 2)

TWO = {     # LABEL_0, LABEL_1 (no names: the "negative, positive" convention)
    "Acme ist super.": (0.0, 2.0),
    "Acme ist furchtbar.": (2.0, 0.0),
    "Acme ist okay": (0.0, 0.2),                # score tanh(0.1) ~ 0.0997: inside a 0.2 band, outside 0.05
}
STARS = {   # "1 star" .. "5 stars", as nlptown/bert-base-multilingual-uncased-sentiment names them
    "Acme ist super.": (0.0, 0.0, 0.0, 1.0, 1.0),
    "Acme ist furchtbar.": (1.0, 1.0, 0.0, 0.0, 0.0),
}


def build_model(folder: Path, examples: Mapping[str, Sequence[float]],
                id2label: dict[int, str] | None = None) -> Path:
    """A random tiny BERT; the head maps each example's pooled output exactly to its target logits."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    folder.mkdir(parents=True)
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    tokenizer = BertTokenizer.from_pretrained(str(folder), do_lower_case=True, model_max_length=512)
    num_labels = len(next(iter(examples.values())))
    config = BertConfig(vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512)
    config.num_labels = num_labels
    if id2label is not None:
        config.id2label, config.label2id = id2label, {v: k for k, v in id2label.items()}
    torch.manual_seed(1234)
    model = BertForSequenceClassification(config).eval()
    with torch.no_grad():
        encoded = [tokenizer(text, return_tensors="pt") for text in examples]
        for enc in encoded:   # every word in the vocabulary: no sentence may collapse to [UNK]s
            assert tokenizer.unk_token_id not in enc["input_ids"][0].tolist()
        pooled = torch.stack([model.bert(**enc).pooler_output[0] for enc in encoded]).double()
        design = torch.cat([pooled, torch.ones(len(encoded), 1, dtype=torch.float64)], dim=1)
        targets = torch.tensor([list(v) for v in examples.values()], dtype=torch.float64)
        solution = torch.linalg.pinv(design) @ targets                     # (hidden + 1, labels)
        model.classifier.weight.copy_(solution[:-1].T.float())
        model.classifier.bias.copy_(solution[-1].float())
        fitted = torch.stack([model(**enc).logits[0] for enc in encoded]).double()
        assert torch.allclose(fitted, targets, atol=1e-3), "least-squares head did not fit the examples"
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


def saved_labels(folder: Path) -> dict[int, str]:
    from transformers import AutoConfig

    return dict(AutoConfig.from_pretrained(str(folder)).id2label)


def config_file(tmp_path: Path, sentiment: str) -> Path:
    """A minimal monitor.yaml with the given ``sentiment:`` section."""
    path = tmp_path / "monitor.yaml"
    path.write_text("brands:\n  - {name: Acme, query: acme}\nsentiment:\n" + sentiment, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """The model folders, built once; offline mode is set before transformers is first imported."""
    root = tmp_path_factory.mktemp("models")
    with pytest.MonkeyPatch.context() as mp:
        for name, value in OFFLINE.items():
            mp.setenv(name, value)
        import huggingface_hub.constants
        import torch

        # In case another test imported huggingface_hub before the variables were set.
        mp.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)     # a tiny model: thread start-up costs more than it saves
        try:
            yield {
                "three": build_model(root / "three", THREE, {0: "negative", 1: "neutral", 2: "positive"}),
                "three_unnamed": build_model(root / "three_unnamed", THREE),
                "two": build_model(root / "two", TWO),
                "stars": build_model(root / "stars", STARS,
                                     {0: "1 star", 1: "2 stars", 2: "3 stars", 3: "4 stars", 4: "5 stars"}),
            }
        finally:
            torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any hub access fails loudly instead of reaching the network."""
    for name, value in OFFLINE.items():
        monkeypatch.setenv(name, value)
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)   # read once, at its import


def test_three_label_model_scores_by_its_label_names(models: dict[str, Path]) -> None:
    backend = TransformersBackend(str(models["three"]))
    assert backend.name == "transformers"
    for text, logits in THREE.items():
        score, label, confidence = backend.analyze(text)
        expected = {NEG3: ("negative", -S3), NEU3: ("neutral", 0.0), POS3: ("positive", S3)}[tuple(logits)]
        assert label == expected[0], text
        assert score == pytest.approx(expected[1], abs=2e-3), text
        assert confidence == pytest.approx(P3, abs=2e-3), text
        assert -1.0 <= score <= 1.0 and 0.0 <= confidence <= 1.0


def test_unnamed_labels_follow_the_negative_neutral_positive_convention(models: dict[str, Path]) -> None:
    assert saved_labels(models["three_unnamed"]) == {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}
    backend = TransformersBackend(str(models["three_unnamed"]))
    score, label, confidence = backend.analyze("Acme ist furchtbar.")
    assert (label, score, confidence) == ("negative", pytest.approx(-S3, abs=2e-3), pytest.approx(P3, abs=2e-3))
    assert backend.analyze("The store opens at nine")[1] == "neutral"
    assert backend.analyze("I love the new Acme app")[1] == "positive"


def test_two_label_model_maps_label_0_and_1_to_negative_and_positive(models: dict[str, Path]) -> None:
    assert saved_labels(models["two"]) == {0: "LABEL_0", 1: "LABEL_1"}
    backend = TransformersBackend(str(models["two"]))
    p = 1 / (1 + math.exp(-2))                                       # softmax of (0, 2)
    score, label, confidence = backend.analyze("Acme ist super.")
    assert (label, score, confidence) == ("positive", pytest.approx(2 * p - 1, abs=2e-3), pytest.approx(p, abs=2e-3))
    score, label, confidence = backend.analyze("Acme ist furchtbar.")
    assert (label, score, confidence) == ("negative", pytest.approx(1 - 2 * p, abs=2e-3), pytest.approx(p, abs=2e-3))


def test_two_label_model_uses_the_neutral_band_on_the_score(models: dict[str, Path]) -> None:
    mild = math.tanh(0.1)                                            # P(pos) - P(neg) for logits (0, 0.2)
    score, label, _ = TransformersBackend(str(models["two"])).analyze("Acme ist okay")
    assert (label, score) == ("neutral", pytest.approx(mild, abs=2e-3))     # default band 0.2
    score, label, _ = TransformersBackend(str(models["two"]), neutral_band=0.05).analyze("Acme ist okay")
    assert (label, score) == ("positive", pytest.approx(mild, abs=2e-3))


def test_star_rating_labels_are_summed_into_negative_and_positive(models: dict[str, Path]) -> None:
    backend = TransformersBackend(str(models["stars"]))
    e = math.e
    pos, neg = 2 * e / (2 * e + 3), 2 / (2 * e + 3)          # two stars at logit 1, three at 0
    assert backend.analyze("Acme ist super.") == (pytest.approx(pos - neg, abs=2e-3), "positive",
                                                  pytest.approx(pos, abs=2e-3))
    assert backend.analyze("Acme ist furchtbar.") == (pytest.approx(neg - pos, abs=2e-3), "negative",
                                                      pytest.approx(pos, abs=2e-3))


def test_scorer_routes_a_language_to_the_model_and_scores_the_brand_sentence(models: dict[str, Path]) -> None:
    scorer = SentimentScorer({"de": SentimentSettings("transformers", model=str(models["three"]))})
    r = scorer.analyze("Acme ist super.", "de")
    assert (r.label, r.backend) == ("positive", "transformers")
    assert r.score == pytest.approx(S3, abs=2e-3) and r.confidence == pytest.approx(P3, abs=2e-3)
    assert scorer.analyze("Acme ist super.", "en").score is None             # no backend for en here
    mixed = scorer.analyze("Acme ist furchtbar. Die Filiale öffnet um neun Uhr", "de", brand_terms=["acme"])
    assert mixed.score is not None and -1.0 <= mixed.score <= 1.0
    assert mixed.target_score == pytest.approx(-S3, abs=2e-3)                # only the sentence naming Acme


def test_long_text_is_truncated_to_max_length(models: dict[str, Path]) -> None:
    """With max_length 8 the long text is cut to exactly the 8 tokens of a known example."""
    text = "The new Acme app is great" + " but the delivery was late" * 400
    short = build_backend("en", SentimentSettings("transformers", model=str(models["three"]), max_length=8))
    assert short is not None
    assert short.analyze(text) == (pytest.approx(S3, abs=2e-3), "positive", pytest.approx(P3, abs=2e-3))
    default = build_backend("en", SentimentSettings("transformers", model=str(models["three"])))
    assert default is not None
    score, _, confidence = default.analyze(text)                    # far beyond 512 tokens: no crash
    assert -1.0 <= score <= 1.0 and 0.0 <= confidence <= 1.0


def test_config_file_names_the_model_folders(models: dict[str, Path], tmp_path: Path) -> None:
    path = config_file(
        tmp_path,
        f"  de: {{backend: transformers, model: {json.dumps(str(models['two']))}, neutral_band: 0.05}}\n"
        f"  en: {{backend: transformers, model: {json.dumps(str(models['two']))}}}\n"
        f"  fr: {{backend: transformers, model: {json.dumps(str(models['three']))}, max_length: 8}}\n")
    cfg = load_config(path, env={})
    assert cfg.sentiment["de"] == SentimentSettings("transformers", model=str(models["two"]), neutral_band=0.05)
    scorer = SentimentScorer(cfg.sentiment)
    assert scorer.analyze("Acme ist okay", "de").label == "positive"          # the file's band: 0.05
    assert scorer.analyze("Acme ist okay", "en").label == "neutral"           # the backend's default: 0.2
    fr = scorer.analyze("The new Acme app is great, mais la livraison était en retard", "fr")
    assert fr.score == pytest.approx(S3, abs=2e-3)                            # the file's max_length: 8


def test_cli_analyze_uses_the_configured_model(models: dict[str, Path], tmp_path: Path) -> None:
    path = config_file(tmp_path, f"  de: {{backend: transformers, model: {json.dumps(str(models['three']))}}}\n")
    result = CliRunner().invoke(main, ["-c", str(path), "analyze", "--lang", "de", "--json", "--brand", "acme",
                                       "Acme ist furchtbar. Die Filiale öffnet um neun Uhr", "Acme ist super."])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["lang"] for r in rows] == ["de", "de"]
    assert rows[0]["target_sentiment"] == pytest.approx(-S3, abs=2e-3)
    assert (rows[1]["label"], rows[1]["sentiment"]) == ("positive", pytest.approx(S3, abs=2e-3))
    assert rows[1]["confidence"] == pytest.approx(P3, abs=2e-3)


@pytest.mark.parametrize("name", ["missing-folder", "no-such-org/no-such-model"])
def test_a_model_that_cannot_be_loaded_is_a_one_line_config_error(name: str, tmp_path: Path) -> None:
    model = str(tmp_path / name) if name == "missing-folder" else name   # a local path, then a hub name
    with pytest.raises(ConfigError) as info:
        TransformersBackend(model)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("sentiment: ") and "sentiment model" in message and repr(model) in message
    assert info.value.key == "sentiment"


def test_a_missing_model_surfaces_when_the_configured_language_is_first_scored(tmp_path: Path) -> None:
    missing = tmp_path / "models" / "german-sentiment"
    path = config_file(tmp_path, f"  de: {{backend: transformers, model: {json.dumps(str(missing))}}}\n")
    scorer = SentimentScorer(load_config(path, env={}).sentiment)
    assert scorer.analyze("Acme is great", "en").label == "positive"          # English keeps VADER
    with pytest.raises(ConfigError, match="sentiment model") as info:
        scorer.analyze("Acme ist super", "de")
    assert str(missing) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("module", ["transformers", "torch"])
def test_without_the_extra_the_error_names_it(module: str, monkeypatch: pytest.MonkeyPatch,
                                              models: dict[str, Path]) -> None:
    monkeypatch.setitem(sys.modules, module, None)        # as if not installed: import raises ImportError
    with pytest.raises(ConfigError) as info:
        SentimentScorer({"de": SentimentSettings("transformers", model=str(models["three"]))}).analyze("gut", "de")
    message = str(info.value)
    assert "pip install 'brand-monitor[transformers]'" in message
    assert f"({module} is missing)" in message and "\n" not in message

