"""drf-spectacular post-processing: links between operations, which no single view declares.

Each operation's own headers and problems are declared beside its view
(orders/api/schema.py); who may call them, by tenancy.openapi.
"""

from typing import Any

# OpenAPI links: what a client can do next with the order a response names.
_ORDER_ID = {"id": "$response.body#/id"}
_LINKS = {
    ("orders_create", "201"): ["orders_retrieve", "orders_confirm", "orders_close"],
    ("orders_confirm", "200"): ["orders_retrieve", "orders_close"],
    ("orders_close", "200"): ["orders_retrieve"],
}


def postprocess_links(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Link each order-returning write to the operations on that order."""
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            for code, response in operation.get("responses", {}).items():
                targets = _LINKS.get((operation.get("operationId", ""), str(code)), [])
                if targets:
                    response["links"] = {
                        target: {"operationId": target, "parameters": _ORDER_ID}
                        for target in targets
                    }
    return result
