"""The TLS settings every service shares: which files go together, and the mode they give."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from modelyard_common.settings import ServiceSettings
from modelyard_common.tls import client_tls, tls_mode

CERT, KEY, CA = Path("svc.pem"), Path("svc-key.pem"), Path("ca.pem")


class Settings(ServiceSettings):
    """A service's settings, with a prefix no environment sets."""

    model_config = SettingsConfigDict(env_prefix="MLREG_TLS_TEST_", frozen=True, extra="ignore")


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"tls_cert_file": CERT}, "tls_cert_file and tls_key_file: set both or neither"),
        ({"tls_key_file": KEY}, "tls_cert_file and tls_key_file: set both or neither"),
        ({"tls_client_ca_file": CA}, "tls_client_ca_file: needs tls_cert_file and tls_key_file"),
    ],
)
def test_tls_files_that_do_not_go_together_are_refused(files: dict[str, Path], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(**files)  # type: ignore[arg-type]


def test_the_mode_and_the_client_side_follow_the_files() -> None:
    plain = Settings()
    tls = Settings(tls_cert_file=CERT, tls_key_file=KEY, tls_ca_file=CA)
    mtls = Settings(tls_cert_file=CERT, tls_key_file=KEY, tls_client_ca_file=CA, tls_ca_file=CA)
    assert [tls_mode(s) for s in (plain, tls, mtls)] == ["plaintext", "tls", "mtls"]
    assert client_tls(plain) is None
    assert client_tls(mtls) == client_tls(tls)
    config = client_tls(mtls)
    assert config is not None and (config.ca_file, config.cert_file, config.key_file) == (CA, CERT, KEY)
