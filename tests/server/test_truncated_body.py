"""A streamed body that fails part-way reaches the client as an incomplete read, not short data.

The route below streams CSV through ``guarded`` as the result routes do, on a real uvicorn
server on loopback, with rows that fail after the first chunk.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import pytest
import uvicorn
from api_helpers import free_port
from flowcore_server.formats import TruncatedBodyError, csv_chunks, guarded
from flowcore_server.logs import TruncatedBodyFilter
from litestar import Litestar, get
from litestar.response import Stream


def _failing_rows() -> Iterator[Sequence[Sequence[Any]]]:
    yield [("R1", 3), ("R2", 5)]
    raise RuntimeError("the cursor's connection was terminated")


@get("/result.csv", sync_to_thread=False)
def _result() -> Stream:
    return Stream(guarded(csv_chunks(["pcod", "value"], _failing_rows()), "a test result"))


@pytest.fixture
def base_url() -> Iterator[str]:
    """Serve the failing route with uvicorn on a free loopback port."""
    port = free_port()
    config = uvicorn.Config(
        Litestar([_result]), host="127.0.0.1", port=port, log_config=None, lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_failed_csv_is_incomplete_read(base_url: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        with (
            httpx.Client(base_url=base_url) as client,
            client.stream("GET", "/result.csv") as response,
        ):
            assert response.status_code == 200
            received = b""
            with pytest.raises(httpx.RemoteProtocolError, match="incomplete chunked read"):
                for chunk in response.iter_bytes():
                    received += chunk
        # The server logs the failure after the client has seen the connection close.
        deadline = time.monotonic() + 5
        while not any(record.name == "uvicorn.error" for record in caplog.records):
            assert time.monotonic() < deadline, "uvicorn logged no error"
            time.sleep(0.02)

    # The rows sent before the failure arrive, but the client knows the body is incomplete.
    assert received == b"pcod,value\r\nR1,3\r\nR2,5\r\n"
    # guarded logs the failure once; the server's own traceback of it is filtered out.
    server_records = [record for record in caplog.records if record.name == "uvicorn.error"]
    assert [TruncatedBodyFilter().filter(record) for record in server_records] == [False]
    assert "streaming a test result failed part-way" in caplog.text


def test_guarded_logs_and_raises(caplog: pytest.LogCaptureFixture) -> None:
    chunks = guarded(csv_chunks(["pcod", "value"], _failing_rows()), "a test result")

    with caplog.at_level(logging.ERROR), pytest.raises(TruncatedBodyError):
        list(chunks)

    assert "streaming a test result failed part-way" in caplog.text


def _record_of(error: BaseException) -> logging.LogRecord:
    return logging.LogRecord(
        "uvicorn.error",
        logging.ERROR,
        __file__,
        1,
        "Exception in ASGI application",
        None,
        (type(error), error, error.__traceback__),
    )


def test_filter_drops_truncated_trace() -> None:
    try:
        try:
            raise TruncatedBodyError("a test result")
        except TruncatedBodyError as cause:
            raise RuntimeError("Exception caught after response started") from cause
    except RuntimeError as wrapped:
        truncated = wrapped

    assert not TruncatedBodyFilter().filter(_record_of(truncated))
    assert TruncatedBodyFilter().filter(_record_of(ValueError("another failure")))
