from __future__ import annotations

import uuid

from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.worker import Worker

from tests.integration.retry_workflow import FlakyInput, FlakyWorkflow, flaky_greet
from vpp import search_attributes
from vpp.config import Settings
from vpp.temporal_client import connect


async def _client(settings: Settings) -> Client:
    return await connect(settings.temporal)


async def test_activity_that_fails_once_succeeds_on_retry(settings: Settings) -> None:
    client = await _client(settings)
    queue = f"test-retry-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client, task_queue=queue, workflows=[FlakyWorkflow], activities=[flaky_greet]
    ):
        result = await client.execute_workflow(
            FlakyWorkflow.run,
            FlakyInput(name="grid"),
            id=f"test-retry-{uuid.uuid4()}",
            task_queue=queue,
        )
    assert result.greeting == "hello grid"
    assert result.attempts == 2


async def test_search_attributes_are_registered(settings: Settings) -> None:
    client = await _client(settings)
    response = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=settings.temporal.namespace)
    )
    for key in search_attributes.ALL:
        assert key.name in response.custom_attributes
