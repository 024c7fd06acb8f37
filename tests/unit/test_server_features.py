"""The feature framework (server/feature.py, server/dispatch.py): params classes, fan-out,
isolation, options, cancellation, commands. The LSP tests run the real server over stdio
with two probe features (tests/unit/feature_server.py)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pytest_lsp import ClientServerConfig, LanguageClient
from pytest_lsp.client import register_lsp_features

from tsr_lsp.server.app import FEATURES, EngineHolder, TsrLanguageServer
from tsr_lsp.server.dispatch import FeatureError, merge_options
from tsr_lsp.server.feature import (
    NOT_MINE,
    CancelToken,
    LanguageFeature,
    request,
    structure_arguments,
    structure_params,
)
from tsr_lsp.server.memory import ForgetParams, ProjectParams, SearchParams
from tsr_lsp.server.transport import plain_converter

SERVER = Path(__file__).with_name("feature_server.py")


# ------------------------------------------------------------------ params classes
@dataclass
class Sample:
    positional: ClassVar[tuple[str, ...]] = ("uri", "count")
    uri: str
    count: int = 1
    tags: list[str] | None = None
    max_tokens: int | None = None


def test_params_are_structured_from_camel_case() -> None:
    got = structure_params({"uri": "u", "maxTokens": 5, "tags": ["a"], "extra": 1}, Sample)
    assert got == Sample("u", 1, ["a"], 5)
    assert structure_params([], ProjectParams) == ProjectParams()  # Lua sends {} as []


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({}, "'uri' is required"),
        ({"uri": "u", "count": "3"}, "'count': expected int"),
        ({"uri": "u", "count": True}, "'count': expected int, got a boolean"),
        ({"uri": "u", "tags": "abc"}, "'tags': expected a list"),
        ({"uri": "u", "tags": [1]}, "expected str, got 1"),
        ({"uri": "u", "maxTokens": 1.5}, "'maxTokens': expected int"),
        ([1, 2], "params must be an object"),
    ],
)
def test_bad_params_name_the_field(raw: Any, message: str) -> None:
    with pytest.raises(JsonRpcInvalidParams) as info:
        structure_params(raw, Sample)
    assert message in info.value.message


def test_post_init_rules_become_invalid_params() -> None:
    with pytest.raises(JsonRpcInvalidParams, match="non-empty"):
        structure_params({"query": "  "}, SearchParams)
    with pytest.raises(JsonRpcInvalidParams, match="exactly one of"):
        structure_params({"all": True, "project": "/p"}, ForgetParams)
    assert structure_params({"id": "e1"}, ForgetParams).ids == ["e1"]


def test_command_arguments_positional_or_one_object() -> None:
    assert structure_arguments(["u", 3], Sample) == Sample("u", 3)
    assert structure_arguments([{"uri": "u", "count": 2}], Sample) == Sample("u", 2)
    with pytest.raises(JsonRpcInvalidParams, match="at most 2"):
        structure_arguments(["u", 1, 2], Sample)
    with pytest.raises(JsonRpcInvalidParams, match="'uri' is required"):
        structure_arguments([], Sample)


# ------------------------------------------------------------------ dispatcher
class First(LanguageFeature):
    name = "first"
    options: ClassVar[dict[str, Any]] = {
        types.TEXT_DOCUMENT_COMPLETION: types.CompletionOptions(trigger_characters=["."]),
    }

    def completion(self, params: Any, token: CancelToken) -> Any:
        return NOT_MINE

    def code_action(self, params: Any, token: CancelToken) -> Any:
        return [types.CodeAction(title="first")]

    def hover(self, params: Any, token: CancelToken) -> Any:
        raise ValueError("hover bug")


class Second(LanguageFeature):
    name = "second"
    options: ClassVar[dict[str, Any]] = {
        types.TEXT_DOCUMENT_COMPLETION: types.CompletionOptions(trigger_characters=[".", "("]),
    }

    def completion(self, params: Any, token: CancelToken) -> Any:
        return "second answers"

    async def code_action(self, params: Any, token: CancelToken) -> Any:
        raise RuntimeError("second is broken")


class Third(LanguageFeature):
    name = "third"

    def code_action(self, params: Any, token: CancelToken) -> Any:
        return [types.CodeAction(title="third")]


def make_server(*features: type[LanguageFeature]) -> TsrLanguageServer:
    return TsrLanguageServer(EngineHolder(), features=features)


async def test_requests_go_to_the_first_claim_and_code_actions_merge() -> None:
    server = make_server(First, Second, Third)
    reported: list[Exception] = []
    server.report_server_error = lambda error, source: reported.append(error)  # type: ignore[method-assign]
    dispatch = server.dispatcher
    assert await dispatch.on_standard_request(types.TEXT_DOCUMENT_COMPLETION, None) == (
        "second answers"
    )
    actions = await dispatch.on_standard_request(types.TEXT_DOCUMENT_CODE_ACTION, None)
    assert [a.title for a in actions] == ["first", "third"]  # second's bug skipped...
    assert isinstance(reported[0], FeatureError) and reported[0].feature == "second"  # ...named
    with pytest.raises(FeatureError, match="first failed on textDocument/hover: ValueError"):
        await dispatch.on_standard_request(types.TEXT_DOCUMENT_HOVER, None)


def test_only_served_methods_are_registered_with_merged_options() -> None:
    server = make_server(First, Second)
    fm = server.protocol.fm
    assert types.TEXT_DOCUMENT_INLINE_COMPLETION not in fm.features  # nobody serves it
    assert types.TEXT_DOCUMENT_DID_OPEN not in fm.features
    assert fm.feature_options[types.TEXT_DOCUMENT_COMPLETION].trigger_characters == [".", "("]
    assert First.options[types.TEXT_DOCUMENT_COMPLETION].trigger_characters == ["."]  # a copy


def test_merge_options_joins_lists_and_flags() -> None:
    merged = merge_options(
        [
            types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]),
            types.CodeActionOptions(
                code_action_kinds=[types.CodeActionKind.Refactor], resolve_provider=True
            ),
        ]
    )
    assert merged.code_action_kinds == [
        types.CodeActionKind.QuickFix,
        types.CodeActionKind.Refactor,
    ]
    assert merged.resolve_provider is True


class Claims(LanguageFeature):
    @request("tsr/status")
    def status(self, params: Any, token: CancelToken) -> None:
        """Already served by CustomRequests."""


def test_a_method_is_served_by_one_feature() -> None:
    with pytest.raises(ValueError, match="'tsr/status' is already served"):
        make_server(*FEATURES, Claims)


# ------------------------------------------------------------------ over LSP
def plain_client() -> LanguageClient:
    client = LanguageClient(converter_factory=plain_converter)  # tsr/* results stay dicts
    register_lsp_features(client)
    return client


def config() -> ClientServerConfig:
    return ClientServerConfig(
        server_command=[sys.executable, str(SERVER)], client_factory=plain_client
    )


@pytest_lsp.fixture(config=config())
async def client(lsp_client: LanguageClient, tmp_path: Path) -> AsyncIterator[None]:
    params = types.InitializeParams(
        capabilities=types.ClientCapabilities(), root_uri=tmp_path.as_uri()
    )
    result = await lsp_client.initialize_session(params)
    lsp_client.capabilities = result.capabilities  # type: ignore[attr-defined]
    yield
    await lsp_client.shutdown_session()


async def test_options_and_commands_are_advertised(client: LanguageClient) -> None:
    caps = client.capabilities  # type: ignore[attr-defined]
    assert caps.inline_completion_provider is not None
    assert caps.code_action_provider.resolve_provider is True
    assert set(caps.code_action_provider.code_action_kinds) >= {"quickfix", "refactor.rewrite"}
    assert "probe.echo" in caps.execute_command_provider.commands
    assert "tsr.memory.remember" in caps.execute_command_provider.commands


async def test_a_failing_feature_is_reported_and_the_next_still_runs(
    client: LanguageClient,
) -> None:
    for name in ("a.py", "b.py"):
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                types.TextDocumentItem(
                    uri=f"file:///{name}", language_id="python", version=1, text=""
                )
            )
        )
    state = await client.protocol.send_request_async("probe/state", {})
    assert state["opened"] == ["file:///a.py", "file:///b.py"]
    errors = [m.message for m in client.messages if m.type == types.MessageType.Error]
    assert len(errors) == 1  # the first failure is shown, the rest go to the log
    assert "broken failed on textDocument/didOpen" in errors[0]


async def test_inline_completion_and_resolve_reach_the_feature(client: LanguageClient) -> None:
    items = await client.text_document_inline_completion_async(
        types.InlineCompletionParams(
            context=types.InlineCompletionContext(
                trigger_kind=types.InlineCompletionTriggerKind.Invoked
            ),
            text_document=types.TextDocumentIdentifier(uri="file:///a.py"),
            position=types.Position(line=3, character=0),
        )
    )
    assert [i.insert_text for i in items] == ["line 3"]
    resolved = await client.code_action_resolve_async(
        types.CodeAction(title="probe: rewrite", data={"probe": 1})
    )
    assert resolved.command.command == "probe.echo"


async def test_commands_take_positional_or_object_arguments(client: LanguageClient) -> None:
    run = client.workspace_execute_command_async
    assert await run(types.ExecuteCommandParams("probe.echo", ["ab", 3])) == "ababab"
    assert await run(types.ExecuteCommandParams("probe.echo", [{"text": "x"}])) == "x"
    with pytest.raises(JsonRpcException, match="'times': expected int"):
        await run(types.ExecuteCommandParams("probe.echo", ["ab", "3"]))


async def test_cancel_request_sets_the_token_of_work_in_a_thread(client: LanguageClient) -> None:
    reply = asyncio.ensure_future(
        client.protocol.send_request_async("probe/wait", {"seconds": 30}, msg_id="wait-1")
    )
    await asyncio.sleep(0.5)  # the handler is now blocked in a worker thread
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="wait-1"))
    with pytest.raises(JsonRpcException) as info:
        await asyncio.wait_for(reply, 5)
    assert info.value.code == -32800  # RequestCancelled
    for _ in range(100):
        state = await client.protocol.send_request_async("probe/state", {})
        if state["seenCancel"]:
            break
        await asyncio.sleep(0.05)
    assert state["seenCancel"] and state["seenCancel"][0] < 5


async def test_bad_params_are_invalid_params(client: LanguageClient) -> None:
    with pytest.raises(JsonRpcException) as info:
        await client.protocol.send_request_async("probe/wait", {"seconds": "long"})
    assert info.value.code == -32602 and "'seconds'" in info.value.message
