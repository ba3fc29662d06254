"""No secret leaves the process: 40 shapes of secrets in arguments, keywords, results, exception
messages and stack traces never reach the exported spans, the trace file or the text views, and
ordinary words that merely look alike are left alone."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from rich.console import Console

import otel_exec
from otel_exec import ExecutionStore
from otel_exec.values import policy, set_policy

JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkFubiJ9."
       "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c")
PEM = ("-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7bq98PEMsecret\n"
       "-----END RSA PRIVATE KEY-----")


@dataclass
class Settings:
    user: str
    password: str


class Client:
    def __repr__(self) -> str:
        return "Client(host='db', auth_token=S3CR3T-repr-token)"


@otel_exec.traced
def call(*args: Any, **kwargs: Any) -> Any:
    """Takes anything, returns its ``result`` keyword, raises its ``error`` keyword."""
    error = kwargs.pop("error", None)
    if error is not None:
        raise error
    return kwargs.pop("result", None)


@otel_exec.traced
def login(user: str, password: str) -> str:
    return f"hello {user}"


@otel_exec.traced
def connect(url: str) -> None:
    raise ConnectionError(f"could not reach {url}")


def pydantic_model() -> Any:
    pydantic = pytest.importorskip("pydantic")
    model = pydantic.create_model("Credentials", user=(str, ...), api_key=(str, ...))
    return model(user="ann", api_key="S3CR3T-pydantic")


def attrs_instance() -> Any:
    attrs = pytest.importorskip("attrs")
    cls = attrs.make_class("Vault", ["name", "secret_value"])
    return cls("main", "S3CR3T-attrs")


CASES: dict[str, tuple[Callable[[], Any], str]] = {
    # arguments and keywords
    "positional parameter named password": (lambda: login("ann", "S3CR3T-positional"),
                                            "S3CR3T-positional"),
    "keyword token": (lambda: call(token="S3CR3T-kw-token"), "S3CR3T-kw-token"),
    "keyword camelCase apiKey": (lambda: call(apiKey="S3CR3T-camel"), "S3CR3T-camel"),
    "dict api_key": (lambda: call({"api_key": "S3CR3T-dict"}), "S3CR3T-dict"),
    "nested under auth": (lambda: call({"auth": {"user": "u", "code": "S3CR3T-nested"}}),
                          "S3CR3T-nested"),
    "bytes keys": (lambda: call({b"password": b"S3CR3T-bytes"}), "S3CR3T-bytes"),
    "privateKey": (lambda: call({"privateKey": "S3CR3T-pk1"}), "S3CR3T-pk1"),
    "private-key": (lambda: call({"private-key": "S3CR3T-pk2"}), "S3CR3T-pk2"),
    "PRIVATE_KEY": (lambda: call({"PRIVATE_KEY": "S3CR3T-pk3"}), "S3CR3T-pk3"),
    "header pairs Authorization": (
        lambda: call([("Accept", "json"), ("Authorization", "Bearer S3CR3Thdr1")]),
        "S3CR3Thdr1"),
    "header pairs X-Api-Key": (lambda: call([("X-Api-Key", "S3CR3T-hdr2")]), "S3CR3T-hdr2"),
    "header dict Cookie": (lambda: call({"Cookie": "sid=S3CR3T-cookie"}), "S3CR3T-cookie"),
    "header text": (lambda: call("Authorization: Bearer S3CR3Thdr3xyz"), "S3CR3Thdr3xyz"),
    "basic credentials": (lambda: call("Basic dXNlcjpTM0NSM1QtYmFzaWM="),
                          "dXNlcjpTM0NSM1QtYmFzaWM="),
    "url userinfo": (lambda: call("https://bob:S3CR3T-url@db.example.com/x"), "S3CR3T-url"),
    "url query token": (lambda: call("https://api.example.com/v1?access_token=S3CR3T-q&n=1"),
                        "S3CR3T-q"),
    "jwt": (lambda: call(JWT), JWT.split(".")[2]),
    "aws access key id": (lambda: call("key AKIAIOSFODNN7S3CR3TQ"), "AKIAIOSFODNN7S3CR3TQ"),
    "aws secret access key": (lambda: call("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"),
                              "wJalrXUtnFEMI/K7MDENG/bPxRfiCY3S3CR3TKEY"),
    "github token": (lambda: call("ghp_S3CR3Tabcdefghijklmnopqrstuvwxyz0123"),
                     "ghp_S3CR3Tabcdefghijklmnopqrstuvwxyz0123"),
    "slack token": (lambda: call("xoxb-123456789012-S3CR3Tslack"), "xoxb-123456789012-S3CR3Tslack"),
    "stripe key": (lambda: call("sk_live_S3CR3Tstripe0123456789"),
                   "sk_live_S3CR3Tstripe0123456789"),
    "google api key": (lambda: call("AIzaSyS3CR3T_abcdefghijklmnopqrstuvwxyz1"),
                       "AIzaSyS3CR3T_abcdefghijklmnopqrstuvwxyz1"),
    "pem block": (lambda: call(PEM), "MIIEpAIBAAKCAQEA7bq98PEMsecret"),
    "dataclass field": (lambda: call(Settings("ann", "S3CR3T-dataclass")), "S3CR3T-dataclass"),
    "pydantic field": (lambda: call(pydantic_model()), "S3CR3T-pydantic"),
    "attrs field": (lambda: call(attrs_instance()), "S3CR3T-attrs"),
    "key=value text": (lambda: call("connecting with password=S3CR3T-assign"), "S3CR3T-assign"),
    "key: value with spaces": (lambda: call("passphrase: open S3CR3T sesame"), "S3CR3T sesame"),
    "quoted value with spaces": (lambda: call("secret='open S3CR3T-quoted now'"),
                                 "S3CR3T-quoted"),
    # results
    "result dict session": (lambda: call(result={"session": "S3CR3T-result"}), "S3CR3T-result"),
    "result nested in a list": (lambda: call(result=[{"password": "S3CR3T-rlist"}]),
                                "S3CR3T-rlist"),
    "result repr with token": (lambda: call(result=Client()), "S3CR3T-repr-token"),
    "result bearer text": (lambda: call(result="Bearer S3CR3T.result.bearer"),
                           "S3CR3T.result.bearer"),
    # exceptions: messages, chained causes and stack traces
    "exception password=": (lambda: call(error=PermissionError(
        "login failed with password=S3CR3T-exc1")), "S3CR3T-exc1"),
    "exception jwt": (lambda: call(error=ValueError(f"bad token {JWT}")), JWT.split(".")[2]),
    "exception url userinfo": (lambda: connect("postgres://admin:S3CR3T-exc3@db:5432/app"),
                               "S3CR3T-exc3"),
    "exception aws key": (lambda: call(error=RuntimeError("denied for AKIAS3CR3TEXAMPLE99X")),
                          "AKIAS3CR3TEXAMPLE99X"),
    "chained cause": (lambda: call(error=_chained()), "S3CR3T-cause"),
    "exception args tuple": (lambda: call(error=KeyError("api_key", "S3CR3T-exc-args")),
                             "S3CR3T-exc-args"),
}


def _chained() -> Exception:
    try:
        raise OSError("token: S3CR3T-cause")
    except OSError as cause:
        try:
            raise RuntimeError("request failed") from cause
        except RuntimeError as exc:
            return exc


def everything_that_leaves(store: ExecutionStore, exporter: InMemorySpanExporter,
                           tmp_path: Path) -> dict[str, str]:
    """The exported spans, the trace file and every text view, as text."""
    stream = io.StringIO()
    console = Console(file=stream, width=400, color_system=None)
    otel_exec.summary(console=console)
    otel_exec.tree(console=console)
    for execution in store.entries():
        otel_exec.summary(result_index=execution.index, console=console)
    path = tmp_path / "trace.jsonl"
    otel_exec.save(path)
    return {"exported spans": "".join(span.to_json() for span in exporter.get_finished_spans()),
            "trace file": path.read_text(), "views": stream.getvalue(),
            "to_dict": repr([e.to_dict() for e in store.executions()])}


@pytest.mark.parametrize("case", list(CASES))
def test_no_secret_leaves_the_process(case: str, store: ExecutionStore,
                                      exported: InMemorySpanExporter, tmp_path: Path) -> None:
    run, secret = CASES[case]
    with contextlib.suppress(Exception):
        run()
    assert len(store) == 1
    for sink, text in everything_that_leaves(store, exported, tmp_path).items():
        assert secret not in text, f"{case}: leaked into the {sink}"
    assert "[REDACTED]" in everything_that_leaves(store, exported, tmp_path)["exported spans"]


def test_names_configured_later_apply_to_functions_decorated_before(
        store: ExecutionStore, exported: InMemorySpanExporter, tmp_path: Path) -> None:
    @otel_exec.traced
    def unlock(door: str, pin: str) -> bool:
        return True

    before = policy()
    otel_exec.configure(sensitive_keys=["pin"])
    try:
        unlock("front", "S3CR3T-4711")
        unlock("back", pin="S3CR3T-4712")
    finally:
        set_policy(before)
    leaving = everything_that_leaves(store, exported, tmp_path)
    for text in leaving.values():
        assert "S3CR3T-4711" not in text and "S3CR3T-4712" not in text
    assert "front" in leaving["exported spans"] and "back" in leaving["exported spans"]


def test_the_policy_can_be_extended_with_patterns_and_a_hook(
        store: ExecutionStore, exported: InMemorySpanExporter, tmp_path: Path) -> None:
    before = policy()
    otel_exec.configure(secret_patterns=[r"ACME-\d{6}"],
                        scrub=lambda text: text.replace("internal.example", "<host>"))
    try:
        call("order ACME-123456 on internal.example")
    finally:
        set_policy(before)
    for text in everything_that_leaves(store, exported, tmp_path).values():
        assert "ACME-123456" not in text and "internal.example" not in text


ORDINARY = {"passage": "keep-passage", "tokenizer": "keep-tokenizer", "author": "keep-author",
            "authority": "keep-authority", "max_tokens": "keep-max-tokens",
            "keyboard": "keep-keyboard", "monkey": "keep-monkey", "bookkeeper": "keep-books"}


def test_ordinary_words_are_not_redacted(store: ExecutionStore, exported: InMemorySpanExporter,
                                         tmp_path: Path) -> None:
    call(ORDINARY, result="Bearer tokens and Basic information are words, not secrets")
    leaving = everything_that_leaves(store, exported, tmp_path)
    for sink in ("exported spans", "trace file"):
        for value in ORDINARY.values():
            assert value in leaving[sink], (sink, value)
        assert "Bearer tokens and Basic information" in leaving[sink]
        assert "[REDACTED]" not in leaving[sink]
