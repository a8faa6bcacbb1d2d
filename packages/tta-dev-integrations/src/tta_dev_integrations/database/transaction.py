"""``TransactionPrimitive``: run a composed workflow inside one database transaction."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from tta_dev_integrations.database.sql import SQLDatabasePrimitive
from tta_dev_primitives.core.base import AsyncStep, WorkflowPrimitive, as_primitive
from tta_dev_primitives.core.context import WorkflowContext

__all__ = ["TransactionPrimitive"]

TIn = TypeVar("TIn")
TOut = TypeVar("TOut")


class TransactionPrimitive(WorkflowPrimitive[TIn, TOut], Generic[TIn, TOut]):
    """Runs ``workflow`` inside one transaction of ``db``.

    The transaction is committed if the workflow succeeds, rolled back if it raises
    (or is cancelled).

    Every call the workflow makes on ``db`` (its steps being ``db`` itself, or
    functions calling ``db.query(...)``) goes through the transaction's connection,
    including from parallel branches (one statement at a time). A
    ``TransactionPrimitive`` inside another becomes a savepoint. ``options`` go to
    ``db.transaction(...)``: ``isolation=``/``read_only=`` for PostgreSQL, ``mode=``
    for SQLite.

    ::

        transfer = TransactionPrimitive(db, debit >> credit >> record)
        await transfer.execute({"from": 1, "to": 2, "amount": 10}, ctx)
    """

    def __init__(
        self,
        db: SQLDatabasePrimitive[Any],
        workflow: WorkflowPrimitive[TIn, TOut] | AsyncStep[TIn, TOut],
        *,
        name: str | None = None,
        **options: Any,
    ) -> None:
        if not isinstance(db, SQLDatabasePrimitive):
            raise TypeError(
                f"TransactionPrimitive needs a PostgreSQLPrimitive or SQLitePrimitive, "
                f"got {type(db).__name__}"
            )
        self.db = db
        self.workflow: WorkflowPrimitive[TIn, TOut] = as_primitive(
            workflow, "a TransactionPrimitive"
        )
        self.options = options
        if name:
            self.name = name

    async def _execute_impl(self, input_data: TIn, context: WorkflowContext) -> TOut:
        async with self.db.transaction(**self.options):
            return await self.workflow.execute(input_data, context)
