"""One application for several items: the union of their forms (a shared field asked once),
their materials deduplicated (asked once; one produced by an earlier item of the bundle not
asked at all), fees totalled but kept per item, and the total promised time."""

from decimal import Decimal
from typing import Any

from tongban.catalog.item.models import Item


def _material_key(material: dict[str, Any]) -> str:
    return material.get("licence_type_code") or material["name"].strip()


def merge(items: list[Item]) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """The merged bundle of `items` (in the bundle's order), and any form field clashes."""
    properties: dict[str, dict[str, Any]] = {}
    required: list[str] = []
    clashes: list[dict[str, str]] = []
    for index, item in enumerate(items):
        form = item.form_schema or {}
        for key, spec in form.get("properties", {}).items():
            if key not in properties:
                properties[key] = {**spec, "x-items": [item.basic_code]}
            elif properties[key].get("type") != spec.get("type"):
                clashes.append({"field": f"item_codes.{index}",
                                "message": f"form field {key!r} is {spec.get('type')} here but "
                                           f"{properties[key].get('type')} in {properties[key]['x-items'][0]}"})
            else:
                properties[key]["x-items"].append(item.basic_code)
        required += [r for r in form.get("required", []) if r not in required]

    produced: dict[str, str] = {}
    materials: dict[str, dict[str, Any]] = {}
    produced_by_bundle: list[dict[str, str]] = []
    for item in items:
        for m in item.materials:
            key = _material_key(m)
            if key in produced:
                produced_by_bundle.append({"material": m["name"], "produced_by": produced[key],
                                           "for_item": item.basic_code})
                continue
            if key in materials:
                merged = materials[key]
                merged["required"] = merged["required"] or m.get("required", True)
                merged["originals"] = max(merged["originals"], m.get("originals", 0))
                merged["copies"] = max(merged["copies"], m.get("copies", 0))
                merged["accept_with_gaps"] = merged["accept_with_gaps"] and m.get("accept_with_gaps", False)
                merged["for_items"].append(item.basic_code)
            else:
                materials[key] = {**m, "required": m.get("required", True), "originals": m.get("originals", 0),
                                  "copies": m.get("copies", 0), "accept_with_gaps": m.get("accept_with_gaps", False),
                                  "for_items": [item.basic_code]}
        if item.result_licence_type:
            produced[item.result_licence_type] = item.basic_code

    fees = [{"basic_code": i.basic_code, "name": i.name, "fees": i.fees,
             "subtotal": str(sum((Decimal(str(f["amount"])) for f in i.fees), Decimal(0)))} for i in items]
    promised: dict[str, int] = {}
    for i in items:
        if i.promised_limit is not None and i.promised_limit_unit:
            promised[i.promised_limit_unit] = promised.get(i.promised_limit_unit, 0) + i.promised_limit
    merged = {
        "form_schema": {"type": "object", "properties": properties, "required": required},
        "materials": list(materials.values()),
        "materials_produced_in_bundle": produced_by_bundle,
        "materials_before_merge": sum(len(i.materials) for i in items),
        "fees": fees,
        "total_fee": str(sum((Decimal(f["subtotal"]) for f in fees), Decimal(0))),
        "total_promised": promised,
        "items": [{"basic_code": i.basic_code, "name": i.name, "version": i.version} for i in items],
    }
    return merged, clashes
