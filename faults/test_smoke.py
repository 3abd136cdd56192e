from collections.abc import Callable

from faults.client import Client, new_key


def test_stack_serves_the_api(api: Client, tenant_name: Callable[[str], str]) -> None:
    client = api.for_tenant(tenant_name("a"))
    created = client.create(new_key())
    assert created.status == 201, created.describe()
