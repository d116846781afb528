"""Settings from the TOML file and the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.lorawan.config import Overrides, load_settings
from adapters.lorawan.devices import ConfigError

CONFIG = """
[mqtt]
broker = "mqtts://broker.example.org"
topics = ["v3/bins@soissons/devices/+/up"]
client_id = "lorawan-soissons"
protocol = "3.1.1"
username = "bins@soissons"
password_env = "TEST_LORAWAN_MQTT_PASSWORD"

[webhook]
listen = "0.0.0.0:9000"
path = "/hooks/tts"
secret_header = "X-Tts-Secret"
secret_env = "TEST_LORAWAN_WEBHOOK_SECRET"

[quarantine]
path = "/var/lib/wastesvc/lorawan-quarantine.sqlite3"

[devices]
"24e124136b502217" = "milesight-em310-udl"

[profiles]
"LDDS75" = "dragino-ldds75"
"""


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TEST_LORAWAN_MQTT_PASSWORD", "mqtt-pass")
    monkeypatch.setenv("TEST_LORAWAN_WEBHOOK_SECRET", "hook-secret")
    path = tmp_path / "lorawan.toml"
    path.write_text(CONFIG)
    return path


def test_file_settings(config: Path) -> None:
    """Every key of the file lands in the settings; secrets come from the environment."""
    settings = load_settings(config, Overrides())
    mqtt, webhook = settings.mqtt, settings.webhook
    assert mqtt is not None
    assert webhook is not None
    assert (mqtt.host, mqtt.port, mqtt.tls, mqtt.protocol) == ("broker.example.org", 8883, True, "3.1.1")
    assert (mqtt.client_id, mqtt.username, mqtt.password) == (
        "lorawan-soissons",
        "bins@soissons",
        "mqtt-pass",
    )
    assert mqtt.topics == ("v3/bins@soissons/devices/+/up",)
    assert (webhook.host, webhook.port, webhook.path) == ("0.0.0.0", 9000, "/hooks/tts")
    assert (webhook.secret_header, webhook.secret) == ("X-Tts-Secret", "hook-secret")
    assert settings.quarantine_path == Path("/var/lib/wastesvc/lorawan-quarantine.sqlite3")
    assert settings.models.by_dev_eui == {"24E124136B502217": "milesight-em310-udl"}
    assert settings.models.by_profile == {"LDDS75": "dragino-ldds75"}


def test_command_line_overrides_the_file(config: Path, tmp_path: Path) -> None:
    """--broker, --topic, --client-id, --webhook and --quarantine replace the file's values."""
    overrides = Overrides(
        broker="127.0.0.1:1884",
        topics=["application/+/device/+/event/up"],
        client_id="other",
        webhook="127.0.0.1:0",
        quarantine=tmp_path / "q.sqlite3",
    )
    settings = load_settings(config, overrides)
    assert settings.mqtt is not None
    assert settings.webhook is not None
    assert (settings.mqtt.host, settings.mqtt.port, settings.mqtt.tls) == ("127.0.0.1", 1884, False)
    assert (settings.mqtt.topics, settings.mqtt.client_id) == (("application/+/device/+/event/up",), "other")
    assert (settings.webhook.host, settings.webhook.port) == ("127.0.0.1", 0)
    assert settings.quarantine_path == tmp_path / "q.sqlite3"


def test_without_file_nothing_is_received() -> None:
    """With neither a file nor options, MQTT and the webhook are both off (the CLI then refuses to run)."""
    settings = load_settings(None, Overrides())
    assert (settings.mqtt, settings.webhook) == (None, None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[mqtt]\nbroker = 'ws://x'\ntopics = ['t']\n", "expected mqtt://host:port"),
        ("[mqtt]\nbroker = 'mqtt://x:99999'\ntopics = ['t']\n", "port is not a number"),
        ("[mqtt]\nbroker = 'mqtt://x'\n", "give at least one topic filter"),
        ("[mqtt]\nbroker = 'mqtt://x'\ntopics = ['t']\nprotocol = '4'\n", "protocol must be"),
        ("[mqtt]\nbroker = 'mqtt://x'\ntopics = ['t']\nkeepalive_s = '60'\n", "keepalive_s must be a int"),
        ("[webhook]\nlisten = '127.0.0.1:9000'\nsecret_env = 'TEST_LORAWAN_UNSET'\n", "is not set"),
        ("[webhook]\nlisten = '127.0.0.1:9000'\n", "secret_env must name"),
        ("[devices]\n'24E124136B502217' = 'em310'\n", "unknown model 'em310'"),
        ("devices = 3\n", r"\[devices\] must be a table"),
        ("[mqtt\n", "cannot read"),
    ],
)
def test_bad_settings_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    """Each bad setting gives a ConfigError naming the key."""
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_settings(path, Overrides())


def test_example_file_of_the_readme_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    """The example settings shipped next to the README are valid and name real decoders."""
    monkeypatch.setenv("WASTESVC_TTS_WEBHOOK_SECRET", "x")
    example = Path(__file__).parents[2] / "adapters" / "lorawan" / "lorawan.example.toml"
    settings = load_settings(example, Overrides())
    assert settings.mqtt is not None
    assert settings.mqtt.topics == ("v3/bins@soissons/devices/+/up", "application/+/device/+/event/up")
    assert settings.webhook is not None
    assert settings.service == "127.0.0.1:50051"
    assert settings.models.by_profile["decentlab/dl-mbx"] == "decentlab-dl-mbx"
