from __future__ import annotations

from pathlib import Path

import pytest

from tsr_lsp.config import Settings, UnknownProfileError, load_settings, to_wire


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_defaults_have_the_default_profiles(home: Path) -> None:
    settings, warnings = load_settings(None)
    assert warnings == []
    assert set(settings.models) == {"general", "coder", "fim"}
    assert "code" in settings.models["coder"].tags
    assert settings.models["coder"].pin is True
    # the 1.5B serves inline completion, and answers where graded outcomes favour it: it
    # carries the coder's tags at three times its cost, so no row's table picks it
    assert settings.models["fim"].tags == ["code", "fim", "general"]
    assert settings.models["fim"].cost > settings.models["coder"].cost
    assert settings.completion.profile == "fim"


def test_layers_apply_in_order_and_accept_camel_case(home: Path, tmp_path: Path) -> None:
    user = write(
        home / "config" / "config.toml",
        "[router]\nmin_confidence = 0.5\n[completion]\nmax_tokens = 10\n",
    )
    project = tmp_path / "proj"
    write(project / ".tsr" / "config.toml", "[completion]\nmax_tokens = 20\n")
    settings, warnings = load_settings(
        project, ("initializationOptions", {"completion": {"debounceMs": 99}}), user_file=user
    )
    assert warnings == []
    assert settings.router.min_confidence == 0.5
    assert settings.completion.max_tokens == 20
    assert settings.completion.debounce_ms == 99


def test_invalid_value_keeps_previous_layer_and_names_the_key(home: Path, tmp_path: Path) -> None:
    user = write(home / "config" / "config.toml", "[completion]\nmax_tokens = 10\n")
    settings, warnings = load_settings(
        None, ("editor", {"completion": {"maxTokens": "lots", "enabled": "yes"}}), user_file=user
    )
    assert settings.completion.max_tokens == 10
    assert settings.completion.enabled is True
    assert any("completion.max_tokens" in w for w in warnings)
    assert any("completion.enabled" in w for w in warnings)


def test_unknown_keys_and_backends_warn(home: Path) -> None:
    user = write(
        home / "config" / "config.toml",
        '[router]\nbogus = 1\n[models.mine]\nbackend = "nope"\npath = "/x.gguf"\n',
    )
    settings, warnings = load_settings(None, user_file=user)
    assert any("router.bogus" in w for w in warnings)
    assert any("models.mine.backend" in w for w in warnings)
    assert settings.models["mine"].path == "/x.gguf"


def test_unreadable_config_is_a_warning_not_a_crash(home: Path) -> None:
    user = write(home / "config" / "config.toml", "[router\nthis is not toml")
    settings, warnings = load_settings(None, user_file=user)
    assert settings.router.min_confidence == Settings().router.min_confidence
    assert len(warnings) == 1 and "cannot read config" in warnings[0]


def test_unknown_profile_error_names_the_fix(home: Path) -> None:
    settings, _ = load_settings(None)
    with pytest.raises(UnknownProfileError) as err:
        settings.profile("gpu-box")
    assert "gpu-box" in str(err.value) and "[models.gpu-box]" in str(err.value)


def test_wire_format_is_camel_case(home: Path) -> None:
    wire = to_wire(Settings())
    assert "maxTokens" in wire["completion"]
    assert "minConfidence" in wire["router"]
    assert "nCtx" in wire["models"]["coder"]


def test_docstring_style_takes_full_and_falls_back_to_summary(home: Path) -> None:
    full, warnings = load_settings(None, ("editor", {"actions": {"docstring": "full"}}))
    assert full.actions.docstring == "full" and warnings == []
    bad, warnings = load_settings(None, ("editor", {"actions": {"docstring": "long"}}))
    assert bad.actions.docstring == "summary"
    assert any("actions.docstring" in w and "summary" in w for w in warnings)


def test_fim_order_takes_spm_and_falls_back_to_psm(home: Path) -> None:
    spm, warnings = load_settings(None, ("editor", {"completion": {"fimOrder": "spm"}}))
    assert spm.completion.fim_order == "spm" and warnings == []
    bad, warnings = load_settings(None, ("editor", {"completion": {"fimOrder": "sideways"}}))
    assert bad.completion.fim_order == "psm"
    assert any("completion.fimOrder" in w for w in warnings)


def test_loading_built_in_backends_does_not_scan_installed_packages(home: Path) -> None:
    """Entry points are read (importlib.metadata imported, ~15 ms of a daemon's cold start)
    only when a profile names a backend that is not built in."""
    import subprocess
    import sys

    code = (
        "import sys; from tsr_lsp.config import load_settings; load_settings(None); "
        "print('importlib.metadata' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_calibration_measures_the_profiles_categories_route_to(home: Path) -> None:
    from tsr_lsp.router.policy import answer_profiles

    settings, _ = load_settings(None)
    assert answer_profiles(settings) == ["coder", "fim", "general"]


def test_a_policy_rows_method_is_checked(home: Path) -> None:
    user = write(
        home / "config" / "config.toml",
        '[router.policy.math]\nmethod = "magic"\n[router.policy.code]\nmethod = "program"\n',
    )
    settings, warnings = load_settings(None, user_file=user)
    assert settings.router.policy["math"].method == "steps"
    assert any("router.policy.math: method 'magic'" in w for w in warnings)
    assert settings.router.policy["code"].method == "program"
    assert Settings().router.policy["math"].method == "program"  # the default
