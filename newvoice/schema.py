"""Corrections to the generated OpenAPI schema, so that it describes what the API really sends."""


def plain_times(result, generator, request, public):
    """DRF writes times as "09:00:00" (no UTC offset), which JSON Schema's ``time`` format rejects:
    describe them by their pattern instead."""

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "string" and node.get("format") == "time":
                node.pop("format")
                node["pattern"] = r"^\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?$"
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(result)
    return result
