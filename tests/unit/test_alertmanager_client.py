"""The pager's Alertmanager client: the instance list and the instance label of its metric."""

from __future__ import annotations

import pytest

from streams.alertmanager import AlertmanagerClient, instance_label, parse_urls


def test_one_url_or_several_comma_separated() -> None:
    assert parse_urls("http://127.0.0.1:9093/") == ["http://127.0.0.1:9093"]
    assert parse_urls(" http://am-1:9093, https://am-2:9443/ ,") == ["http://am-1:9093", "https://am-2:9443"]


def test_the_metric_label_never_carries_credentials_or_a_path() -> None:
    assert (
        instance_label("https://pager:s3cret@am-2.example:9443/alertmanager") == "https://am-2.example:9443"
    )
    assert instance_label("http://am-1") == "http://am-1"


def test_a_client_needs_an_instance() -> None:
    with pytest.raises(ValueError, match="no Alertmanager URL"):
        AlertmanagerClient(" , ", timeout_seconds=1)
    assert AlertmanagerClient("http://a:1,http://b:2", timeout_seconds=1).urls == ["http://a:1", "http://b:2"]
