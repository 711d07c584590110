"""``database_errors``: SQLAlchemy's errors leave the store as promptstage errors."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import SQLAlchemyError

from promptstage.errors import NotFoundError, ServiceUnavailableError
from promptstage.store.sql import database_errors
from promptstage.store.sql.engine import make_engine


def test_a_sqlalchemy_error_becomes_service_unavailable_with_its_reason() -> None:
    engine = make_engine("sqlite://")
    try:
        with (
            pytest.raises(ServiceUnavailableError) as info,
            database_errors(lambda reason: f"cannot do it: {reason}"),
            engine.connect() as connection,
        ):
            connection.exec_driver_sql("SELECT * FROM nowhere")
    finally:
        engine.dispose()
    assert info.value.message == "cannot do it: no such table: nowhere"
    assert isinstance(info.value.__cause__, SQLAlchemyError)


def test_promptstage_errors_pass_through() -> None:
    with (
        pytest.raises(NotFoundError, match="gone"),
        database_errors(lambda reason: f"never: {reason}"),
    ):
        raise NotFoundError("gone")
