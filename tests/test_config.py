"""monitor.yaml loading: defaults < file < MONITOR_* env < CLI, and one-line located errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.config import ENV_OVERRIDES, STORE_TYPES, TOP_KEYS, load_config
from monitor.errors import ConfigError
from monitor.sources import SOURCES

GOOD = """\
brands:
  - name: Acme
    query: '(acme OR "acme corp" OR #acme) NOT (acme-klo OR "wile e coyote")'
    languages: [de, en]
sources:
  - {type: rss, name: google-news, urls: ["https://news.example.com/rss?q=acme"], interval: 10m}
  - type: rss
    urls: https://blog.example.com/feed
store: {type: sqlite, path: data/monitor.db}
notify:
  managers: ["mailtos://cm:${SMTP_PASSWORD}@smtp.example.com?to=cm@acme.example"]
  oncall: ["ntfys://ntfy.example.com/acme-crisis"]
rules: rules/
web: {listen: 127.0.0.1:8081}
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "monitor.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_good_config_loads_with_env_expansion(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD), env={"SMTP_PASSWORD": "s3cret"})
    assert [b.name for b in cfg.brands] == ["Acme"]
    assert cfg.brands[0].languages == ("de", "en")
    assert [s.name for s in cfg.sources] == ["google-news", "rss"]
    assert cfg.sources[0].interval == 600
    assert cfg.sources[1].options == {"urls": "https://blog.example.com/feed"}
    assert cfg.store.path == tmp_path / "data" / "monitor.db"
    assert cfg.notify["managers"] == ("mailtos://cm:s3cret@smtp.example.com?to=cm@acme.example",)
    assert cfg.rules == (tmp_path / "rules/",)
    assert (cfg.web.host, cfg.web.port) == ("127.0.0.1", 8081)


def test_env_and_cli_overrides_in_order(tmp_path: Path) -> None:
    p = write(tmp_path, GOOD)
    env = {"SMTP_PASSWORD": "x", "MONITOR_STORE_PATH": "/tmp/env.db", "MONITOR_WEB_LISTEN": "0.0.0.0:9000"}
    cfg = load_config(p, env=env)
    assert cfg.store.path == Path("/tmp/env.db")
    assert cfg.web.port == 9000
    cfg = load_config(p, env=env, overrides={"store.path": "/tmp/cli.db"})
    assert cfg.store.path == Path("/tmp/cli.db")


def expect_error(tmp_path: Path, text: str, line: int, key: str, words: str, env: dict[str, str] | None = None) -> str:
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(p, env=env if env is not None else {"SMTP_PASSWORD": "x"})
    msg = info.value.one_line()
    assert "\n" not in msg
    assert msg.startswith(f"{p}:{line}: {key}: "), msg
    assert words in msg, msg
    return msg


def test_missing_env_var_names_line_and_key(tmp_path: Path) -> None:
    expect_error(tmp_path, GOOD, 11, "notify.managers[0]", "SMTP_PASSWORD is not set", env={})


def test_env_default_syntax(tmp_path: Path) -> None:
    text = GOOD.replace("${SMTP_PASSWORD}", "${SMTP_PASSWORD:-fallback}")
    cfg = load_config(write(tmp_path, text), env={})
    assert "cm:fallback@" in cfg.notify["managers"][0]


@pytest.mark.parametrize(("old", "new", "line", "key", "words"), [
    ("rules: rules/", "rulez: rules/", 13, "rulez", "did you mean 'rules'"),
    ("type: rss\n    urls", "type: rsss\n    urls", 7, "sources[1].type", "did you mean 'rss'"),
    ("interval: 10m", "interval: soon", 6, "sources[0].interval", "expected a duration"),
    ("NOT (acme-klo", "NOT ((acme-klo", 3, "brands[0].query", "parenthes"),
    ("languages: [de, en]", "languages: [deutsch]", 4, "brands[0].languages", "two-letter"),
    ("listen: 127.0.0.1:8081", "listen: localhost", 14, "web.listen", "host:port"),
    ("type: sqlite,", "type: mongodb,", 9, "store.type", "unknown store type"),
    ("ntfys://ntfy", "nosuchscheme://ntfy", 12, "notify.oncall", "apprise"),
    ("match", "match", 1, "", ""),
])
def test_errors_are_one_located_line(tmp_path: Path, old: str, new: str, line: int, key: str, words: str) -> None:
    if old == "match":  # the match: key check
        text = GOOD.replace("interval: 10m}", "interval: 10m, match: everything}")
        expect_error(tmp_path, text, 6, "sources[0].match", "must be 'query'")
        return
    assert old in GOOD
    expect_error(tmp_path, GOOD.replace(old, new, 1), line, key, words)


def test_duplicate_source_names_and_brands(tmp_path: Path) -> None:
    text = GOOD.replace("  - type: rss\n", "  - type: rss\n    name: google-news\n")
    expect_error(tmp_path, text, 8, "sources[1].name", "duplicate source name")


def test_yaml_syntax_error_has_line(tmp_path: Path) -> None:
    p = write(tmp_path, "brands:\n  - name: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        load_config(p, env={})
    assert info.value.one_line().startswith(f"{p}:3: invalid YAML")


def test_missing_brands(tmp_path: Path) -> None:
    p = write(tmp_path, "sources: []\n")
    with pytest.raises(ConfigError, match="brands: at least one brand"):
        load_config(p, env={})


def test_yaml_is_loaded_safely(tmp_path: Path) -> None:
    p = write(tmp_path, "brands: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(p, env={})


def test_json_schema_ships_and_covers_the_loader() -> None:
    import monitor

    schema_path = Path(monitor.__file__).with_name("config.schema.json")
    schema = json.loads(schema_path.read_text())
    assert set(schema["properties"]) == set(TOP_KEYS)
    assert schema["properties"]["sources"]["items"]["properties"]["type"]["enum"] == sorted(SOURCES)
    assert schema["properties"]["store"]["properties"]["type"]["enum"] == list(STORE_TYPES)
    conditional = {c["if"]["properties"]["type"]["const"] for c in schema["properties"]["sources"]["items"]["allOf"]}
    assert conditional == set(SOURCES), "every source type needs its keys in the JSON Schema"
    for dotted in ENV_OVERRIDES.values():
        head, _, tail = dotted.partition(".")
        assert head in schema["properties"]
        if tail:
            assert tail in schema["properties"][head]["properties"]
